/**
 * A throw caught at a connection's boundary (see `SocketState.guard`): kept boxed, since
 * anything can be thrown (`undefined` included), and ending the connection's fiber as a defect.
 */
export class Crash {
  constructor(readonly defect: unknown) {}
}
