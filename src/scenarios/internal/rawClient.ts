/**
 * A bare `node:net` request, for load-generating clients: connect, write `payload`, collect the
 * answer until `complete(answer)` holds, half-close. As cheap as a client gets, so that the
 * server is what a scenario measures. Interruption destroys the socket. Over TLS when the
 * scenarios' `Wire` is (a `node:tls` socket, written once its handshake is done).
 */
import { Data, Effect } from "effect"
import { Wire } from "./wire.js"

/** A load client's request failed (refused, reset, closed early) or took too long. */
export class RequestFailed extends Data.TaggedError("RequestFailed")<{ readonly detail: string }> {
  override get message(): string {
    return `request failed: ${this.detail}`
  }
}

export const rawRequest = (
  port: number,
  payload: string,
  complete: (answer: string) => boolean,
  timeoutMillis = 20_000
): Effect.Effect<string, RequestFailed> =>
  Effect.flatMap(Wire, (wire) =>
    Effect.async<string, RequestFailed>((resume) => {
      const { ready, socket } = wire.connect(port)
      let answer = ""
      let settled = false
      const settle = (effect: Effect.Effect<string, RequestFailed>) => {
        if (settled) return
        settled = true
        resume(effect)
      }
      socket.setEncoding("utf8")
      socket.once(ready, () => socket.write(payload))
      socket.on("data", (d: string) => {
        answer += d
        if (complete(answer)) {
          socket.end()
          settle(Effect.succeed(answer))
        }
      })
      socket.once("error", (e: NodeJS.ErrnoException) => {
        socket.destroy()
        settle(Effect.fail(new RequestFailed({ detail: e.code ?? e.message })))
      })
      socket.once("close", () =>
        settle(Effect.fail(new RequestFailed({ detail: `closed after ${JSON.stringify(answer)}` }))))
      return Effect.sync(() =>
        socket.destroy()
      )
    })).pipe(
      Effect.timeoutFail({
        duration: timeoutMillis,
        onTimeout: () => new RequestFailed({ detail: `no answer within ${timeoutMillis} ms` })
      })
    )
