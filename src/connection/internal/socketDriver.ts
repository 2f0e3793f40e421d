/**
 * The driver of one `node:net` socket: the `Transport` (and so the `Connection`) effect-wire
 * makes, reached through `Connection.make` (scoped) and `Transport.make` (a server's).
 *
 * Split by concept: `SocketState` holds the state and what changes it outside a read or a write
 * (the socket's events, the parked reader, the boundary, the timeouts, the drain); `SocketReads`
 * the inbound side (data events, flow control, `pull` / `poll`, the reads and `framed`);
 * `SocketWrites` the outbound side and the close. This class is the face of the three: its state
 * is under a symbol only this module has, so a `Transport` shows its interface and nothing else. Imports run one way:
 * driver → reads / writes → state.
 */
import type { Clock, Effect, Fiber } from "effect"
import type * as Net from "node:net"
import type * as Codec from "../../protocol/Codec.js"
import type { Address, ConnectionConfig, ConnectionStats, Framed, FramedOptions } from "../Connection.js"
import type { ConnectionError } from "../ConnectionError.js"
import type { Info as TlsInfo } from "../Tls.js"
import type { InlineReader, Transport } from "../Transport.js"
import type { Crash } from "./crash.js"
import * as Reads from "./socketReads.js"
import { SocketState } from "./socketState.js"
import * as Writes from "./socketWrites.js"
import { tlsInfo } from "./tlsInfo.js"
import { ConnectionTypeId, TransportTypeId } from "./typeId.js"

let nextId = 1

/**
 * Where a driver and its socket keep their `SocketState`: a symbol no other module has, so the
 * state is private to this one (and still found through a prototype, for connections that users
 * decorate with `Object.create`). On the socket, it lets the listeners be shared functions.
 */
const STATE: unique symbol = Symbol("effect-wire/SocketState")
interface Driven extends Net.Socket {
  [STATE]: SocketState
}

// Socket listeners shared by every driver (`this` is the socket): a connection costs no closures.
// Each runs its work through `guard`: a consumer's code (an inline reader's codec, handler,
// formatter or encoder) runs inside these events, where a throw would end the process.
function onData(this: Driven, chunk: Buffer): void {
  const s = this[STATE]
  s.guard(s, Reads.onData, chunk)
}
function onEnd(this: Driven): void {
  const s = this[STATE]
  s.guard(s, peerEnded, undefined)
}
function onError(this: Driven, cause: NodeJS.ErrnoException): void {
  const s = this[STATE]
  s.guard(s, socketFailed, cause)
}
function onClose(this: Driven): void {
  const s = this[STATE]
  s.guard(s, socketClosed, undefined)
}
const peerEnded = (s: SocketState): void => s.peerEnded()
const socketFailed = (s: SocketState, cause: NodeJS.ErrnoException): void => s.socketFailed(cause)
const socketClosed = (s: SocketState): void => s.socketClosed()

const address = (host: string | undefined, port: number | undefined, family: string | undefined): Address => ({
  host: host ?? "",
  port: port ?? 0,
  family: family ?? ""
})

export class SocketDriver implements Transport {
  readonly [ConnectionTypeId]: ConnectionTypeId = ConnectionTypeId
  readonly [TransportTypeId]: TransportTypeId = TransportTypeId
  readonly id = nextId++
  readonly [STATE]: SocketState
  private readonly sockname: Partial<Net.AddressInfo>

  /**
   * `local`: the socket's own address when its owner knows it without asking the socket (a
   * server listening on one address: every connection it accepts has that address), shared by
   * its connections; else it is read here.
   */
  constructor(
    readonly socket: Net.Socket,
    readonly config: ConnectionConfig,
    clock: Clock.Clock,
    local?: Partial<Net.AddressInfo>
  ) {
    const s = this[STATE] = new SocketState(socket, config, clock)
    socket.setNoDelay(true)
    // The socket keeps its peer's address once read (even once closed), and this its own.
    void socket.remotePort
    this.sockname = local ?? socket.address() as Partial<Net.AddressInfo>
    ;(socket as Driven)[STATE] = s
    socket.on("data", onData)
    socket.on("end", onEnd)
    socket.on("error", onError)
    socket.on("close", onClose)
    // "drain" is listened to once a write first waits (see `SocketState.waitForDrain`).
  }

  // Built on each use from what was read at connect (see the constructor).
  get remoteAddress(): Address {
    return address(this.socket.remoteAddress, this.socket.remotePort, this.socket.remoteFamily)
  }

  get localAddress(): Address {
    const local = this.sockname
    return address(local.address, local.port, local.family)
  }

  get tls(): TlsInfo | undefined {
    return tlsInfo(this.socket)
  }

  // ---- state a server reads or sets ------------------------------------------------------

  get fiber(): Fiber.RuntimeFiber<unknown, unknown> | undefined {
    return this[STATE].fiber
  }
  set fiber(fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined) {
    this[STATE].fiber = fiber
  }
  get crashed(): Crash | undefined {
    return this[STATE].crashed
  }
  get abandoned(): boolean {
    return this[STATE].abandoned
  }
  get isDraining(): boolean {
    return this[STATE].isDraining
  }
  get bytesIn(): number {
    return this[STATE].bytesIn
  }
  get bytesOut(): number {
    return this[STATE].bytesOut
  }
  /** Whether the peer has half-closed while this server's connection still runs its handler. */
  get isHalfClosed(): boolean {
    const s = this[STATE]
    return s.ended && s.fiber !== undefined && !s.isClosed
  }
  get isClosed(): boolean {
    return this[STATE].isClosed
  }

  // ---- the boundary, waits, timers and drain (see SocketState) ----------------------------

  guard<T, A>(self: T, f: (self: T, a: A) => void, a: A): void {
    this[STATE].guard(self, f, a)
  }

  checkTimers(now: number): boolean {
    return this[STATE].checkTimers(now)
  }

  setInlineReader(reader: InlineReader | undefined): void {
    this[STATE].setInlineReader(reader)
  }

  recheck(): void {
    this[STATE].recheck()
  }

  startDrain(): void {
    this[STATE].startDrain()
  }

  get draining(): Effect.Effect<void> {
    return this[STATE].draining
  }

  // ---- reads (see SocketReads) -----------------------------------------------------------

  pull(
    partial: () => boolean,
    progress?: () => number,
    busy?: () => boolean
  ): Effect.Effect<ReadonlyArray<Uint8Array> | undefined, ConnectionError> {
    return Reads.pull(this[STATE], partial, progress, busy)
  }

  poll(partial: boolean, busy: boolean): ReadonlyArray<Uint8Array> | null | ConnectionError | Crash | undefined {
    return Reads.poll(this[STATE], partial, busy)
  }

  waitInline<A, E, R>(next: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConnectionError, R> {
    return Reads.waitInline(this[STATE], next)
  }

  read(n?: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Reads.read(this[STATE], n)
  }

  readExactly(n: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Reads.readExactly(this[STATE], n)
  }

  readUntil(separator: Uint8Array | string, limit?: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Reads.readUntil(this[STATE], separator, limit)
  }

  readLine(limit?: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Reads.readLine(this[STATE], limit)
  }

  readAll(limit?: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Reads.readAll(this[STATE], limit)
  }

  framed<A, E>(codec: Codec.Codec<A, E>, options?: FramedOptions): Framed<A, E> {
    return Reads.framed(this[STATE], codec, options)
  }

  get eof(): Effect.Effect<boolean> {
    return this[STATE].eof
  }

  // ---- writes and close (see SocketWrites) -----------------------------------------------

  writeBlocked(): boolean {
    return Writes.writeBlocked(this[STATE])
  }

  writeNow(bytes: Uint8Array): ConnectionError | undefined {
    return Writes.writeNow(this[STATE], bytes)
  }

  write(data: Uint8Array | string): Effect.Effect<void, ConnectionError> {
    return Writes.write(this[STATE], data)
  }

  writeAll(data: Iterable<Uint8Array | string>): Effect.Effect<void, ConnectionError> {
    return Writes.writeAll(this[STATE], data)
  }

  get flush(): Effect.Effect<void, ConnectionError> {
    return Writes.flush(this[STATE])
  }

  get endWrite(): Effect.Effect<void> {
    return Writes.endWrite(this[STATE])
  }

  get abort(): Effect.Effect<void> {
    return Writes.abort(this[STATE])
  }

  get close(): Effect.Effect<void> {
    return Writes.close(this[STATE])
  }

  closeThen(done: () => void): boolean {
    return Writes.closeThen(this[STATE], done)
  }

  get stats(): Effect.Effect<ConnectionStats> {
    return this[STATE].stats
  }
}
