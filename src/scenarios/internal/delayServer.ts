/**
 * A stand-in for remote APIs, shared by `concurrent-requests` and `timeouts`: a line server
 * that answers `<endpoint> <millis>` after `millis` of simulated work with a JSON line
 * `{"endpoint":…,"status":"ok","workMillis":…}`. Work still pending when the server shuts down
 * is abandoned at once, so no scenario waits for a call nobody awaits any more.
 */
import { Clock, Data, Effect, type Scope } from "effect"
import * as Client from "../../client/Client.js"
import * as Framing from "../../protocol/Framing.js"
import * as Message from "../../protocol/Message.js"
import * as Server from "../../server/Server.js"
import type * as ServerError from "../../server/ServerError.js"
import { framedPeer } from "./peer.js"
import { Wire } from "./wire.js"

/** A simulated remote API call's answer, as the client measured it. */
export interface CallResult {
  readonly endpoint: string
  readonly status: string
  /** Time from connecting to the reply, on the client. */
  readonly latencyMillis: number
}

/** The delay server answered something unexpected. */
export class BadReply extends Data.TaggedError("BadReply")<{ readonly reply: string }> {
  override get message(): string {
    return `unexpected reply from the simulated API: ${this.reply}`
  }
}

/** Starts the delay server in the current scope (on the scenarios' `Wire`). */
export const delayServer: Effect.Effect<Server.Server, ServerError.ListenError, Scope.Scope> = Effect.flatMap(
  Wire,
  (wire) =>
    Server.make(
      { ...wire.server, port: 0, shutdownDeadline: "2 seconds" },
      Server.respond(Message.text(Framing.lines()), (request: string, conn) => {
        const space = request.lastIndexOf(" ")
        const endpoint = space === -1 ? request : request.slice(0, space)
        const millis = space === -1 ? "0" : request.slice(space + 1)
        const work = Math.max(0, Math.min(60_000, Number(millis) || 0))
        return Effect.raceFirst(
          Effect.as(Effect.sleep(work), JSON.stringify({ endpoint, status: "ok", workMillis: work })),
          Effect.as(conn.draining, JSON.stringify({ endpoint, status: "abandoned" }))
        )
      }, { concurrency: 16 })
    )
)

/** Calls `endpoint` on the delay server at `port`, asking for `millis` of work. */
export const call = (port: number, endpoint: string, millis: number) =>
  Effect.scoped(
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const conn = yield* Client.connect({ ...(yield* Wire).client, port })
      const peer = yield* framedPeer(conn, Message.text(Framing.lines()))
      // An abandoned call resets its connection: a graceful close would wait (up to the linger
      // time) for a server that is still working on the answer.
      const reply = yield* Effect.onInterrupt(
        Effect.zipRight(peer.send(`${endpoint} ${Math.round(millis)}`), peer.next),
        () => conn.abort
      )
      const end = yield* Clock.currentTimeMillis
      const parsed = yield* Effect.try({
        try: () => JSON.parse(reply) as { endpoint?: unknown; status?: unknown },
        catch: () => new BadReply({ reply })
      })
      return {
        endpoint: String(parsed.endpoint),
        status: String(parsed.status),
        latencyMillis: end - start
      } satisfies CallResult
    })
  )
