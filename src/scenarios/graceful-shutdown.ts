/**
 * Scenario `graceful-shutdown`: five clients each send three requests; once every client's
 * first request is being worked on, the server starts shutting down. The listener closes at
 * once (a new connect is refused), every request already received is still answered, then the
 * server's stats are printed (accepted, active, requests, errors).
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Fiber } from "effect"
import * as Framing from "../protocol/Framing.js"
import * as Message from "../protocol/Message.js"
import * as Server from "../server/Server.js"
import { hostPort } from "./internal/peer.js"
import { rawRequest } from "./internal/rawClient.js"
import { Wire } from "./internal/wire.js"
import * as Output from "./Output.js"
import * as Scenario from "./Scenario.js"

export const CLIENTS = 5
export const REQUESTS_PER_CLIENT = 3
/** Simulated work per request. */
export const WORK_MILLIS = 50

export interface GracefulShutdownResult {
  readonly sent: number
  readonly answered: number
  /** Every client's answers, in order. */
  readonly answers: ReadonlyArray<ReadonlyArray<string>>
  /** What a connect attempted after shutdown began got. */
  readonly laterConnect: "refused" | "accepted" | "other"
  readonly stats: Server.ServerStats
}

const connectOutcome = (port: number) =>
  Effect.flatMap(Wire, (wire) =>
    Effect.async<"refused" | "accepted" | "other">((resume) => {
      const { ready, socket } = wire.connect(port)
      socket.once(ready, () => {
        socket.destroy()
        resume(Effect.succeed("accepted"))
      })
      socket.once("error", (e: NodeJS.ErrnoException) =>
        resume(Effect.succeed(e.code === "ECONNREFUSED" ? "refused" : "other")))
      return Effect.sync(() =>
        socket.destroy()
      )
    }))

/** Runs the scenario. */
export const run = Effect.scoped(
  Effect.gen(function*() {
    yield* Output.heading("graceful-shutdown: shut down with requests in flight")
    const allBusy = yield* Deferred.make<void>()
    let started = 0
    const server = yield* Server.make(
      { ...(yield* Wire).server, port: 0, shutdownDeadline: "10 seconds" },
      Server.respond(Message.text(Framing.lines()), (message: string) =>
        Effect.gen(function*() {
          if (++started === CLIENTS) yield* Deferred.succeed(allBusy, undefined)
          yield* Effect.sleep(WORK_MILLIS)
          return `processed: ${message}`
        }))
    )
    const port = server.address.port
    yield* Output.line(`server listening on ${hostPort(server.address)}`)
    // Each client sends its three requests in one write and reads until the server closes.
    const clients = yield* Effect.forEach(Array.from({ length: CLIENTS }, (_, c) => c), (c) =>
      rawRequest(
        port,
        Array.from({ length: REQUESTS_PER_CLIENT }, (_, i) => `client-${c} msg-${i}\n`).join(""),
        (answer) => answer.split("\n").length > REQUESTS_PER_CLIENT,
        15_000
      ).pipe(
        Effect.map((answer) => answer.split("\n").filter((l) => l.length > 0)),
        Effect.catchAll(() => Effect.succeed<Array<string>>([])),
        Effect.fork
      ))
    yield* Deferred.await(allBusy)
    const before = yield* server.stats
    yield* Output.line(
      `${before.active} clients connected, ${CLIENTS} requests being worked on: shutdown starts`,
      "warn"
    )
    const shutdown = yield* Effect.fork(server.shutdown)
    yield* server.draining
    const laterConnect = yield* connectOutcome(port)
    yield* Output.line(`  a new connect now: ${laterConnect}`, laterConnect === "refused" ? "ok" : "error")
    const answers = yield* Effect.forEach(clients, Fiber.join)
    yield* Fiber.join(shutdown)
    const stats = yield* server.stats
    for (const [c, a] of answers.entries()) {
      yield* Output.line(`  [client-${c}] ${a.length} answers: ${a.join(" | ")}`, "dim")
    }
    yield* Output.table(
      ["accepted", "active", "requests", "errors", "rejected", "interrupted at deadline"],
      [[stats.accepted, stats.active, stats.frames, stats.errors, stats.rejected, stats.interruptedAtDeadline]]
    )
    const answered = answers.reduce((n, a) => n + a.length, 0)
    const sent = CLIENTS * REQUESTS_PER_CLIENT
    yield* Output.line(
      `${answered}/${sent} requests in flight were answered; later connects ${laterConnect}`,
      answered === sent && laterConnect === "refused" ? "ok" : "error"
    )
    return { sent, answered, answers, laterConnect, stats } satisfies GracefulShutdownResult
  })
)

export const scenario = Scenario.make({
  name: "graceful-shutdown",
  title: "Graceful shutdown",
  description: "shutdown with clients in flight: every request answered, stats printed, later connects refused",
  run: () => run,
  verdict: (r: GracefulShutdownResult) => ({
    ok: r.answered === r.sent && r.laterConnect === "refused" && r.stats.active === 0 && r.stats.errors === 0,
    summary:
      `${r.answered}/${r.sent} in-flight requests answered, later connect ${r.laterConnect}, ${r.stats.active} active after`
  })
})
