/**
 * Scenario `scalability`: N clients connect at once and make one request each (a line, answered
 * `OK`), for N = 10, 50, 100, 200 (where the chapter stops) and on to 1,000, 2,000, 5,000 and
 * 10,000. Prints successes, time, requests per second and memory; shows a progress bar on a
 * terminal; `--chart FILE.svg` plots req/s and memory against N.
 *
 * Clients and server share this process, so every connection costs two file descriptors here:
 * when `ulimit -n` cannot hold 2 × N of them, the clients are started in waves of what fits, and
 * the output says so.
 *
 * @since 0.1.0
 */
import { Data, Effect, Ref } from "effect"
import { execFileSync } from "node:child_process"
import { writeFile } from "node:fs/promises"
import * as Server from "../server/Server.js"
import { renderChart } from "./internal/chart.js"
import { count, megabytes, timed } from "./internal/peer.js"
import { rawRequest } from "./internal/rawClient.js"
import { Wire } from "./internal/wire.js"
import * as Output from "./Output.js"
import type { RunOptions } from "./Scenario.js"
import * as Scenario from "./Scenario.js"

export const SIZES: ReadonlyArray<number> = [10, 50, 100, 200, 1_000, 2_000, 5_000, 10_000]

/**
 * Seconds the rounds may take in all unless `--budget` says otherwise. A round is skipped when the
 * previous round's rate says it would end past the budget, so a run stays bounded on a slow or
 * loaded machine; at ~1,000 req/s or more every size up to 10,000 fits (about 20 s of rounds).
 */
export const DEFAULT_BUDGET_SECONDS = 40

/** One round. */
export interface Round {
  readonly clients: number
  readonly succeeded: number
  readonly failed: number
  readonly millis: number
  readonly requestsPerSecond: number
  /** At most this many clients were connected at once (less than `clients` when fds are short). */
  readonly concurrency: number
  /** Resident memory of this process after the round (server and clients both live here). */
  readonly rssBytes: number
  readonly heapBytes: number
  /** The first failure's message, if any. */
  readonly firstError: string | undefined
}

export interface ScalabilityResult {
  readonly rounds: ReadonlyArray<Round>
  /** `ulimit -n` (open files), or undefined when it could not be read. */
  /** Sizes not run because they would not fit in the time budget. */
  readonly skipped: ReadonlyArray<number>
  readonly openFileLimit: number | undefined
  readonly chart: string | undefined
}

/** Writing the chart failed. */
export class ChartWriteError
  extends Data.TaggedError("ChartWriteError")<{ readonly path: string; readonly detail: string }>
{
  override get message(): string {
    return `cannot write the chart to ${this.path}: ${this.detail}`
  }
}

/** `ulimit -n` of this process (a child inherits it). */
export const openFileLimit = (): number | undefined => {
  try {
    const out = execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8", timeout: 2000 }).trim()
    return out === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(out) || undefined
  } catch {
    return undefined
  }
}

/** File descriptors kept free for everything else the process has open. */
const RESERVED_FDS = 256

const oneRequest = (port: number, i: number) =>
  Effect.map(rawRequest(port, `req-${i}\n`, (answer) => answer.includes("\n")), (answer) => answer === "OK\n")

/** Runs the scenario. */
export const run = (options: RunOptions = {}) =>
  Effect.scoped(
    Effect.gen(function*() {
      yield* Output.heading("scalability: N clients at once, one request each")
      const sizes = options.sizes ?? SIZES
      const limit = openFileLimit()
      const fdBudget = limit === undefined ? 1024 : Math.max(16, Math.floor((limit - RESERVED_FDS) / 2))
      yield* Output.line(
        `open file limit (ulimit -n): ${limit === undefined ? "unknown" : count(limit)}; ` +
          `each connection costs 2 descriptors here (client and server share this process), ` +
          `so at most ${count(fdBudget)} connections at once`,
        "dim"
      )
      let handled = 0
      const server = yield* Server.make(
        {
          ...(yield* Wire).server,
          port: 0,
          maxConnections: Math.max(...sizes, 1) + 64,
          backlog: 4096,
          shutdownDeadline: "5 seconds"
        },
        (conn) =>
          Effect.gen(function*() {
            const line = yield* conn.readLine()
            if (line.length === 0) return
            handled++
            yield* conn.write("OK\n")
          })
      )
      const port = server.address.port
      const rounds: Array<Round> = []
      const skipped: Array<number> = []
      const budgetMillis = (options.budgetSeconds ?? DEFAULT_BUDGET_SECONDS) * 1000
      let spent = 0
      let firstSkip: {
        readonly clients: number
        readonly estimate: number
        readonly rate: number
        readonly left: number
      } | undefined = undefined
      for (const clients of sizes) {
        // Bounded in time: skip a round the last one's rate says would not fit in the budget.
        const last = rounds[rounds.length - 1]
        const estimate = last === undefined ? 0 : (clients / Math.max(1, last.requestsPerSecond)) * 1000
        if (spent + estimate > budgetMillis) {
          firstSkip ??= {
            clients,
            estimate,
            rate: last?.requestsPerSecond ?? 0,
            left: Math.max(0, budgetMillis - spent)
          }
          skipped.push(clients)
          continue
        }
        const concurrency = Math.min(clients, fdBudget)
        if (concurrency < clients) {
          yield* Output.line(
            `N = ${count(clients)} needs ${count(2 * clients)} descriptors but ulimit -n is ${count(limit ?? 0)}: ` +
              `running them in waves of ${count(concurrency)} (raise it with \`ulimit -n ${
                2 * clients + RESERVED_FDS
              }\`)`,
            "warn"
          )
        }
        const done = yield* Ref.make(0)
        const step = Math.max(1, Math.floor(clients / 50))
        let firstError: string | undefined = undefined
        const [millis, results] = yield* timed(
          Effect.forEach(
            Array.from({ length: clients }, (_, i) => i),
            (i) =>
              oneRequest(port, i).pipe(
                Effect.catchAll((e) => {
                  firstError ??= e.message
                  return Effect.succeed(false)
                }),
                Effect.tap(() =>
                  Effect.flatMap(
                    Ref.updateAndGet(done, (n) => n + 1),
                    (n) =>
                      n % step === 0 || n === clients
                        ? Output.progress(`N = ${count(clients)}`, n, clients)
                        : Effect.void
                  )
                )
              ),
            { concurrency }
          )
        )
        const succeeded = results.filter(Boolean).length
        const memory = process.memoryUsage()
        rounds.push({
          clients,
          succeeded,
          failed: clients - succeeded,
          millis,
          requestsPerSecond: clients / Math.max(0.001, millis / 1000),
          concurrency,
          rssBytes: memory.rss,
          heapBytes: memory.heapUsed,
          firstError
        })
        spent += millis
        if (firstError !== undefined) yield* Output.line(`  first failure at N = ${clients}: ${firstError}`, "warn")
      }
      yield* Output.table(
        ["clients", "succeeded", "time", "req/s", "at once", "memory (rss)", "heap"],
        rounds.map((r) => [
          count(r.clients),
          `${count(r.succeeded)}/${count(r.clients)}`,
          `${(r.millis / 1000).toFixed(3)} s`,
          count(r.requestsPerSecond),
          count(r.concurrency),
          megabytes(r.rssBytes),
          megabytes(r.heapBytes)
        ])
      )
      if (firstSkip !== undefined) {
        yield* Output.line(
          `stopped early, skipped N = ${skipped.map(count).join(", ")}: at the last measured ${
            count(firstSkip.rate)
          } req/s, ` +
            `N = ${count(firstSkip.clients)} would take ~${(firstSkip.estimate / 1000).toFixed(1)} s but only ` +
            `${(firstSkip.left / 1000).toFixed(1)} s of the ${
              budgetMillis / 1000
            } s budget remained (a slow or loaded machine?); ` +
            `pass --budget SECONDS to allow more`,
          "warn"
        )
      }
      const failed = rounds.reduce((n, r) => n + r.failed, 0)
      yield* Output.line(
        failed === 0
          ? `every request answered (${count(handled)} handled by one server fiber each)`
          : `${count(failed)} requests failed`,
        failed === 0 ? "ok" : "error"
      )
      let chart: string | undefined = undefined
      if (options.chart !== undefined) {
        const path = options.chart
        const svg = renderChart({
          title: "effect-wire: N concurrent clients, one request each",
          xLabel: "concurrent clients (N, log scale)",
          xs: rounds.map((r) => r.clients),
          left: {
            label: "throughput",
            unit: "req/s",
            color: "#1f77b4",
            values: rounds.map((r) => r.requestsPerSecond)
          },
          right: {
            label: "memory (rss)",
            unit: "MB",
            color: "#d62728",
            values: rounds.map((r) => r.rssBytes / 1_048_576)
          }
        })
        yield* Effect.tryPromise({
          try: () => writeFile(path, svg),
          catch: (e) => new ChartWriteError({ path, detail: e instanceof Error ? e.message : String(e) })
        })
        chart = path
        yield* Output.line(`chart written to ${path}`, "ok")
      }
      yield* server.shutdown
      return { rounds, skipped, openFileLimit: limit, chart } satisfies ScalabilityResult
    })
  )

export const scenario = Scenario.make({
  name: "scalability",
  title: "Scalability",
  description: "N clients at once (10 … 10,000), one request each: successes, time, req/s, memory; --chart FILE.svg",
  run: (options) => run(options),
  verdict: (r: ScalabilityResult) => {
    const failed = r.rounds.reduce((n, x) => n + x.failed, 0)
    const last = r.rounds[r.rounds.length - 1]
    const best = Math.max(...r.rounds.map((x) => x.requestsPerSecond))
    return {
      ok: failed === 0,
      summary: `${failed} failures up to N = ${count(last?.clients ?? 0)}; best ${count(best)} req/s`
    }
  }
})
