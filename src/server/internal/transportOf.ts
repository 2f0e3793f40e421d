/**
 * The `Transport` behind a handler's `Connection`: `Server.respond` and `RpcServer` drive the
 * connection directly (inline reads, writes that never wait), which only effect-wire's own
 * connections offer.
 */
import { Cause, Effect } from "effect"
import type { Connection } from "../../connection/Connection.js"
import * as Transport from "../../connection/Transport.js"

export const transportOf = (who: string, connection: Connection): Effect.Effect<Transport.Transport> =>
  Transport.isTransport(connection)
    ? Effect.succeed(connection)
    : Effect.die(new Cause.IllegalArgumentException(`${who}: the connection was not made by effect-wire`))
