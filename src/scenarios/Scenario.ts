/**
 * What a scenario is: a named Effect program printing through `Output` and returning its
 * results as data, with a verdict (did it show what it should?) computed from that data.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { Output } from "./Output.js"

/** The outcome of a scenario in one line. */
export interface Verdict {
  readonly ok: boolean
  readonly summary: string
}

/** Options the CLI can pass to any scenario (each uses what applies to it). */
export interface RunOptions {
  /** `scalability`: write an SVG chart of req/s and memory against N here. */
  readonly chart?: string
  /** `scalability`: the client counts to run (default 10, 50, 100, 200, 1,000 … 10,000). */
  readonly sizes?: ReadonlyArray<number>
  /** `scalability`: seconds the rounds may take in all (default 40, `DEFAULT_BUDGET_SECONDS`); larger N are skipped past it. */
  readonly budgetSeconds?: number
  /** `threads-vs-fibers`: the connection counts to run (default 50 and 500). */
  readonly connections?: ReadonlyArray<number>
}

/** A runnable scenario. */
export interface Scenario<A = unknown, E = unknown> {
  readonly name: string
  readonly title: string
  /** One sentence for `--help` and listings. */
  readonly description: string
  readonly run: (options: RunOptions) => Effect.Effect<A, E, Output>
  readonly verdict: (result: A) => Verdict
}

/** Defines a scenario (keeps its result type for direct use). */
export const make = <A, E>(scenario: Scenario<A, E>): Scenario<A, E> => scenario

/** A scenario's result and its verdict. */
export interface Outcome<A> {
  readonly result: A
  readonly verdict: Verdict
}

/** Runs a scenario and computes its verdict. */
export const runWithVerdict = <A, E>(
  scenario: Scenario<A, E>,
  options: RunOptions = {}
): Effect.Effect<Outcome<A>, E, Output> =>
  Effect.map(scenario.run(options), (result) => ({ result, verdict: scenario.verdict(result) }))
