/**
 * Scenario `concurrent-requests`: five calls to a simulated API (a local server that answers
 * after a set delay), first one after another, then all at once with `Effect.all` and
 * `concurrency`. Sequential time is the sum of the delays, concurrent time the longest one.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { call, type CallResult, delayServer } from "./internal/delayServer.js"
import { timed } from "./internal/peer.js"
import * as Output from "./Output.js"
import * as Scenario from "./Scenario.js"

/** The endpoints and their simulated latency in milliseconds. */
export const ENDPOINTS: ReadonlyArray<readonly [string, number]> = [
  ["/api/users", 300],
  ["/api/products", 500],
  ["/api/orders", 200],
  ["/api/inventory", 400],
  ["/api/analytics", 600]
]

/** What the scenario returns. */
export interface ConcurrentResult {
  readonly sequential: ReadonlyArray<CallResult>
  readonly concurrent: ReadonlyArray<CallResult>
  readonly sequentialMillis: number
  readonly concurrentMillis: number
  readonly speedup: number
  /** What the delays alone predict: their sum over their maximum. */
  readonly idealSpeedup: number
}

const showCalls = (calls: ReadonlyArray<CallResult>, total: number) =>
  Output.table(
    ["endpoint", "status", "latency"],
    [...calls.map((c) => [c.endpoint, c.status, `${c.latencyMillis} ms`]), ["total", "", `${total} ms`]]
  )

/** Runs the scenario (`endpoints` defaults to the chapter's five). */
export const run = (endpoints: ReadonlyArray<readonly [string, number]> = ENDPOINTS) =>
  Effect.scoped(
    Effect.gen(function*() {
      yield* Output.heading("concurrent-requests: five API calls, sequential vs Effect.all")
      const server = yield* delayServer
      const port = server.address.port

      yield* Output.line("one after another:")
      const [sequentialMillis, sequential] = yield* timed(
        Effect.forEach(endpoints, ([endpoint, millis]) => call(port, endpoint, millis))
      )
      yield* showCalls(sequential, sequentialMillis)

      yield* Output.line(`all at once (Effect.all, concurrency ${endpoints.length}):`)
      const [concurrentMillis, concurrent] = yield* timed(
        Effect.all(endpoints.map(([endpoint, millis]) => call(port, endpoint, millis)), {
          concurrency: endpoints.length
        })
      )
      yield* showCalls(concurrent, concurrentMillis)

      const speedup = sequentialMillis / Math.max(1, concurrentMillis)
      const delays = endpoints.map(([, m]) => m)
      const idealSpeedup = delays.reduce((a, b) => a + b, 0) / Math.max(1, ...delays)
      yield* Output.line(
        `speedup ${speedup.toFixed(1)}x (the delays alone predict ${idealSpeedup.toFixed(1)}x)`,
        speedup > 2 ? "ok" : "warn"
      )
      yield* server.shutdown
      return {
        sequential,
        concurrent,
        sequentialMillis,
        concurrentMillis,
        speedup,
        idealSpeedup
      } satisfies ConcurrentResult
    })
  )

export const scenario = Scenario.make({
  name: "concurrent-requests",
  title: "Concurrent requests",
  description: "five simulated API calls, sequential vs Effect.all with concurrency, and the speedup",
  run: () => run(),
  verdict: (r: ConcurrentResult) => ({
    ok: r.speedup > 2 && r.concurrent.every((c) => c.status === "ok"),
    summary: `sequential ${r.sequentialMillis} ms, concurrent ${r.concurrentMillis} ms: ${r.speedup.toFixed(1)}x faster`
  })
})
