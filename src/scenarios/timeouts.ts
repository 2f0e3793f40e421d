/**
 * Scenario `timeouts`: a timeout on each call, then one on a whole batch. A call that runs out
 * of time is interrupted (its finalizer runs: the connection is closed, the call abandoned) and
 * fails with a typed error (`CallTimedOut`, `BatchTimedOut`) that says which call, how long it
 * was given and how long it needed.
 *
 * @since 0.1.0
 */
import { Data, Effect, Either } from "effect"
import { call, type CallResult, delayServer } from "./internal/delayServer.js"
import * as Output from "./Output.js"
import * as Scenario from "./Scenario.js"

/** A call did not finish within its timeout. */
export class CallTimedOut extends Data.TaggedError("CallTimedOut")<{
  readonly call: string
  readonly timeoutMillis: number
  readonly neededMillis: number
}> {
  override get message(): string {
    return `${this.call} timed out after ${this.timeoutMillis} ms (it needed ${this.neededMillis} ms)`
  }
}

/** A batch of calls did not finish within its timeout. */
export class BatchTimedOut extends Data.TaggedError("BatchTimedOut")<{
  readonly timeoutMillis: number
  readonly finished: ReadonlyArray<string>
  readonly unfinished: ReadonlyArray<string>
}> {
  override get message(): string {
    return `the batch timed out after ${this.timeoutMillis} ms: ${this.unfinished.join(", ")} still running`
  }
}

/** One call of the per-call part. */
export interface TimedCall {
  readonly name: string
  readonly workMillis: number
  readonly timeoutMillis: number
  readonly outcome: Either.Either<CallResult, CallTimedOut>
  /** Whether the call was interrupted (its finalizer ran). */
  readonly interrupted: boolean
}

/** What the scenario returns. */
export interface TimeoutsResult {
  readonly calls: ReadonlyArray<TimedCall>
  readonly batch: Either.Either<ReadonlyArray<CallResult>, BatchTimedOut>
  /** Calls of the batch that finished, and those interrupted by the batch timeout. */
  readonly batchFinished: ReadonlyArray<string>
  readonly batchInterrupted: ReadonlyArray<string>
}

export const CALLS: ReadonlyArray<readonly [name: string, workMillis: number, timeoutMillis: number]> = [
  ["Fast API", 100, 1000],
  ["Medium API", 500, 1000],
  ["Slow API", 2000, 500],
  ["Dead API", 10_000, 300]
]

export const BATCH: ReadonlyArray<readonly [name: string, workMillis: number]> = [["A", 100], ["B", 200], ["C", 5000]]
export const BATCH_TIMEOUT = 500

/** Runs the scenario. */
export const run = Effect.scoped(
  Effect.gen(function*() {
    yield* Output.heading("timeouts: per-call and whole-batch timeouts")
    const server = yield* delayServer
    const port = server.address.port
    const interrupted = new Set<string>()
    const finished = new Set<string>()
    // A call that reports being interrupted from its finalizer.
    const watched = (name: string, millis: number) =>
      call(port, name, millis).pipe(
        Effect.tap(() => Effect.sync(() => finished.add(name))),
        Effect.onInterrupt(() =>
          Effect.sync(() => interrupted.add(name)).pipe(
            Effect.zipRight(Output.line(`  [${name}] interrupted: finalizer ran, connection closed`, "warn"))
          )
        )
      )

    yield* Output.line("each call with its own timeout (all four at once):")
    const calls = yield* Effect.all(
      CALLS.map(([name, workMillis, timeoutMillis]) =>
        watched(name, workMillis).pipe(
          Effect.timeoutFail({
            duration: timeoutMillis,
            onTimeout: () => new CallTimedOut({ call: name, timeoutMillis, neededMillis: workMillis })
          }),
          Effect.map((r): Either.Either<CallResult, CallTimedOut> => Either.right(r)),
          Effect.catchTag("CallTimedOut", (e) => Effect.succeed(Either.left(e))),
          Effect.map((outcome): TimedCall => ({
            name,
            workMillis,
            timeoutMillis,
            outcome,
            interrupted: interrupted.has(name)
          }))
        )
      ),
      { concurrency: "unbounded" }
    )
    yield* Output.table(
      ["call", "needs", "timeout", "outcome"],
      calls.map((c) => [
        c.name,
        `${c.workMillis} ms`,
        `${c.timeoutMillis} ms`,
        Either.match(c.outcome, {
          onLeft: (e) => `${e._tag}: ${e.message}`,
          onRight: (r) => `ok in ${r.latencyMillis} ms`
        })
      ])
    )

    yield* Output.line(`\na batch of three calls with one ${BATCH_TIMEOUT} ms timeout:`)
    const batch = yield* Effect.all(BATCH.map(([name, millis]) => watched(name, millis)), { concurrency: "unbounded" })
      .pipe(
        Effect.timeoutFail({
          duration: BATCH_TIMEOUT,
          onTimeout: () =>
            new BatchTimedOut({
              timeoutMillis: BATCH_TIMEOUT,
              finished: BATCH.map(([n]) => n).filter((n) => finished.has(n)),
              unfinished: BATCH.map(([n]) => n).filter((n) => !finished.has(n))
            })
        }),
        Effect.map((rs): Either.Either<ReadonlyArray<CallResult>, BatchTimedOut> => Either.right(rs)),
        Effect.catchTag("BatchTimedOut", (e) => Effect.succeed(Either.left(e)))
      )
    const batchFinished = BATCH.map(([n]) => n).filter((n) => finished.has(n))
    const batchInterrupted = BATCH.map(([n]) => n).filter((n) => interrupted.has(n))
    yield* Either.match(batch, {
      onLeft: (e) =>
        Output.line(`  ${e._tag}: ${e.message} (finished before: ${e.finished.join(", ") || "none"})`, "warn"),
      onRight: (rs) => Output.line(`  all finished: ${rs.map((r) => r.endpoint).join(", ")}`, "ok")
    })
    yield* server.shutdown
    return { calls, batch, batchFinished, batchInterrupted } satisfies TimeoutsResult
  })
)

export const scenario = Scenario.make({
  name: "timeouts",
  title: "Timeouts",
  description: "per-call and whole-batch timeouts: slow calls are interrupted (finalizers run), typed timeout errors",
  run: () => run,
  verdict: (r: TimeoutsResult) => {
    const timedOut = r.calls.filter((c) => Either.isLeft(c.outcome))
    const ok = timedOut.map((c) => c.name).join() === "Slow API,Dead API" && timedOut.every((c) => c.interrupted) &&
      Either.isLeft(r.batch) && r.batchInterrupted.join() === "C"
    return {
      ok,
      summary: `${timedOut.length} of ${r.calls.length} calls timed out and were interrupted; batch: ${
        Either.isLeft(r.batch) ? `timed out, ${r.batchInterrupted.join(", ")} interrupted` : "finished"
      }`
    }
  }
})
