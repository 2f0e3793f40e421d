/**
 * Scenario `all`: every scenario in the chapter's order, each with a one-line verdict; a
 * scenario that fails is reported (one line) and the others still run.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Effect } from "effect"
import * as chat from "./chat.js"
import * as concurrentRequests from "./concurrent-requests.js"
import * as echo from "./echo.js"
import * as gracefulShutdown from "./graceful-shutdown.js"
import * as jsonRpc from "./json-rpc.js"
import * as Output from "./Output.js"
import * as scalability from "./scalability.js"
import type { RunOptions, Scenario, Verdict } from "./Scenario.js"
import * as streamApi from "./stream-api.js"
import * as threadsVsFibers from "./threads-vs-fibers.js"
import * as timeouts from "./timeouts.js"

/** A scenario with its result type hidden: what the registry and the CLI need. */
export interface AnyScenario {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly run: (options: RunOptions) => Effect.Effect<Verdict, unknown, Output.Output>
}

const erase = <A, E>(s: Scenario<A, E>): AnyScenario => ({
  name: s.name,
  title: s.title,
  description: s.description,
  run: (options) => Effect.map(s.run(options), s.verdict)
})

/** Every scenario, in the chapter's order. */
export const SCENARIOS: ReadonlyArray<AnyScenario> = [
  erase(echo.scenario),
  erase(streamApi.scenario),
  erase(chat.scenario),
  erase(concurrentRequests.scenario),
  erase(timeouts.scenario),
  erase(jsonRpc.scenario),
  erase(scalability.scenario),
  erase(threadsVsFibers.scenario),
  erase(gracefulShutdown.scenario)
]

/** The names `scenario <name>` accepts. */
export const NAMES: ReadonlyArray<string> = [...SCENARIOS.map((s) => s.name), "all"]

/** One scenario's line in the summary. */
export interface Summary extends Verdict {
  readonly name: string
  readonly millis: number
}

/** Runs one scenario: its verdict, or a failed verdict naming the error (never a defect). */
export const runOne = (scenario: AnyScenario, options: RunOptions = {}): Effect.Effect<Summary, never, Output.Output> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const verdict = yield* scenario.run(options).pipe(
      Effect.catchAllCause((cause) => Effect.succeed<Verdict>({ ok: false, summary: `failed: ${oneLine(cause)}` }))
    )
    const millis = (yield* Clock.currentTimeMillis) - start
    return { name: scenario.name, millis, ...verdict }
  })

/** A cause as one line: the error's message, never a stack trace. */
export const oneLine = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  const error: unknown = failure._tag === "Some" ? failure.value : Cause.squash(cause)
  if (error instanceof Error) return error.message.split("\n")[0] ?? String(error)
  return String(error)
}

/** Prints the verdict lines. */
export const printSummary = (summaries: ReadonlyArray<Summary>): Effect.Effect<void, never, Output.Output> =>
  Effect.gen(function*() {
    yield* Output.heading("verdicts")
    const width = Math.max(...summaries.map((s) => s.name.length))
    for (const s of summaries) {
      yield* Output.line(
        `${s.ok ? "✔" : "✘"} ${s.name.padEnd(width)}  ${s.summary}  (${(s.millis / 1000).toFixed(1)} s)`,
        s.ok ? "ok" : "error"
      )
    }
    const failed = summaries.filter((s) => !s.ok).length
    yield* Output.line(
      failed === 0 ? `all ${summaries.length} scenarios passed` : `${failed} of ${summaries.length} scenarios failed`,
      failed === 0 ? "ok" : "error"
    )
  })

/** Runs every scenario in order and prints a verdict for each. */
export const run = (options: RunOptions = {}): Effect.Effect<ReadonlyArray<Summary>, never, Output.Output> =>
  Effect.gen(function*() {
    const summaries: Array<Summary> = []
    for (const scenario of SCENARIOS) summaries.push(yield* runOne(scenario, options))
    yield* printSummary(summaries)
    return summaries
  })
