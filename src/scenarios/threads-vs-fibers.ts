/**
 * Scenario `threads-vs-fibers`: the chapter's sync-vs-async comparison, the Node way. The same
 * N clients connect at once and each request costs 50 ms of work:
 *
 * - threads: a `worker_threads` thread per connection, whose work is a *blocking* 50 ms sleep
 *   (`Atomics.wait`), like the chapter's `time.sleep` in a thread per client;
 * - fibers: an effect-wire server, a fiber per connection, whose work is `Effect.sleep` (the
 *   fiber yields; one thread serves everyone).
 *
 * Times, the ratio and peak memory, at 50 connections (the chapter's) and at 500, where a
 * thread per connection hurts: every thread is a whole V8 isolate to start and keep.
 *
 * @since 0.1.0
 */
import { Effect, Ref, Schedule } from "effect"
import type * as Net from "node:net"
import { Worker } from "node:worker_threads"
import * as Server from "../server/Server.js"
import { megabytes, timed } from "./internal/peer.js"
import { rawRequest, type RequestFailed } from "./internal/rawClient.js"
import { Wire } from "./internal/wire.js"
import * as Output from "./Output.js"
import * as Scenario from "./Scenario.js"

export const WORK_MILLIS = 50
export const CONNECTIONS: ReadonlyArray<number> = [50, 500]

/** The worker: waits for one message, blocks its thread for `millis`, answers. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads")
const cell = new Int32Array(new SharedArrayBuffer(4))
parentPort.once("message", () => {
  Atomics.wait(cell, 0, 0, workerData.millis)
  parentPort.postMessage("done")
})
`

/** A thread-per-connection server: each connection gets a worker thread that does its work. */
const threadServer = (millis: number) =>
  Effect.acquireRelease(
    Effect.flatMap(Wire, (wire) =>
      Effect.async<
        {
          readonly server: Net.Server
          readonly port: number
          readonly peakThreads: () => number
          readonly workers: Set<Worker>
          readonly stop: () => void
        }
      >(
        (resume) => {
          const workers = new Set<Worker>()
          let peak = 0
          let stopped = false
          const server = wire.createServer((socket) => {
            if (stopped) {
              socket.destroy()
              return
            }
            const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { millis } })
            workers.add(worker)
            peak = Math.max(peak, workers.size)
            const finish = () => {
              workers.delete(worker)
              void worker.terminate()
            }
            worker.once("message", () => {
              socket.end("OK")
              finish()
            })
            worker.once("error", () => {
              socket.destroy()
              finish()
            })
            socket.once("data", () => worker.postMessage("go"))
            socket.on("error", () => finish())
          })
          server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => {
            const port = (server.address() as Net.AddressInfo).port
            resume(
              Effect.succeed({ server, port, peakThreads: () => peak, workers, stop: () => void (stopped = true) })
            )
          })
        }
      )),
    ({ server, stop, workers }) =>
      Effect.sync(stop).pipe(
        Effect.zipRight(Effect.promise(() => Promise.all([...workers].map((w) => w.terminate())))),
        Effect.zipRight(Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
        }))
      )
  )

/** A fiber-per-connection server doing the same work without blocking. */
const fiberServer = (millis: number) =>
  Effect.flatMap(
    Wire,
    (wire) =>
      Server.make({ ...wire.server, port: 0, backlog: 4096, maxConnections: 10_000 }, (conn) =>
        Effect.gen(function*() {
          const data = yield* conn.read()
          if (data.length === 0) return
          yield* Effect.sleep(millis)
          yield* conn.write("OK")
        }))
  )

/** One measured run. */
export interface Run {
  readonly model: "threads" | "fibers"
  readonly connections: number
  readonly succeeded: number
  readonly millis: number
  /** Peak resident memory above the level before the run. */
  readonly peakExtraBytes: number
  /** Threads alive at once (threads), or 1 (fibers: one thread). */
  readonly peakThreads: number
}

export interface ThreadsVsFibersResult {
  readonly runs: ReadonlyArray<Run>
  /** threads time / fibers time, per connection count. */
  readonly ratios: ReadonlyArray<{ readonly connections: number; readonly ratio: number }>
}

/** N concurrent clients, peak memory sampled while they run. */
const load = (port: number, connections: number, budgetMillis: number) =>
  Effect.gen(function*() {
    const base = process.memoryUsage().rss
    const peak = yield* Ref.make(base)
    const sampler = yield* Effect.sync(() => process.memoryUsage().rss).pipe(
      Effect.flatMap((rss) => Ref.update(peak, (p) => Math.max(p, rss))),
      Effect.repeat(Schedule.spaced("5 millis")),
      Effect.fork
    )
    const [millis, results] = yield* timed(
      Effect.forEach(
        Array.from({ length: connections }),
        () =>
          rawRequest(port, "hello", (a) => a === "OK", budgetMillis).pipe(
            Effect.as(true),
            Effect.catchAll((_: RequestFailed) => Effect.succeed(false))
          ),
        { concurrency: "unbounded" }
      )
    )
    yield* Ref.update(peak, (p) => Math.max(p, process.memoryUsage().rss))
    yield* sampler.pipe((f) => Effect.asVoid(Effect.fork(Effect.interruptWith(f.id()))))
    const peakRss = yield* Ref.get(peak)
    return { millis, succeeded: results.filter(Boolean).length, peakExtraBytes: Math.max(0, peakRss - base) }
  })

/** Runs the scenario. */
export const run = (connectionCounts: ReadonlyArray<number> = CONNECTIONS, budgetMillis = 8_000) =>
  Effect.gen(function*() {
    yield* Output.heading(`threads-vs-fibers: ${WORK_MILLIS} ms of work per request, thread vs fiber per connection`)
    const runs: Array<Run> = []
    for (const connections of connectionCounts) {
      // Fibers first, so the threads' teardown cannot slow them down.
      const fibers = yield* Effect.scoped(
        Effect.gen(function*() {
          const server = yield* fiberServer(WORK_MILLIS)
          const r = yield* load(server.address.port, connections, budgetMillis)
          return { model: "fibers" as const, connections, ...r, peakThreads: 1 }
        })
      )
      const threads = yield* Effect.scoped(
        Effect.gen(function*() {
          const server = yield* threadServer(WORK_MILLIS)
          const r = yield* load(server.port, connections, budgetMillis)
          return { model: "threads" as const, connections, ...r, peakThreads: server.peakThreads() }
        })
      )
      runs.push(threads, fibers)
      yield* Output.line(
        `  ${connections} connections: threads ${threads.millis} ms, fibers ${fibers.millis} ms`,
        "dim"
      )
    }
    const ratios = connectionCounts.map((connections) => {
      const t = runs.find((r) => r.model === "threads" && r.connections === connections)!
      const f = runs.find((r) => r.model === "fibers" && r.connections === connections)!
      return { connections, ratio: t.millis / Math.max(1, f.millis) }
    })
    yield* Output.table(
      ["connections", "model", "succeeded", "time", "threads at once", "peak extra memory"],
      runs.map((
        r
      ) => [
        r.connections,
        r.model,
        `${r.succeeded}/${r.connections}`,
        `${r.millis} ms`,
        r.peakThreads,
        megabytes(r.peakExtraBytes)
      ])
    )
    for (const r of runs.filter((r) => r.succeeded < r.connections)) {
      yield* Output.line(
        `${r.connections - r.succeeded} of ${r.connections} requests to the ${r.model} server got no answer within ` +
          `${budgetMillis / 1000} s (starting a thread per connection is that slow here)`,
        "warn"
      )
    }
    for (const { connections, ratio } of ratios) {
      yield* Output.line(
        `${connections} connections: fibers were ${ratio.toFixed(1)}x faster than a thread per connection`,
        ratio > 1 ? "ok" : "warn"
      )
    }
    return { runs, ratios } satisfies ThreadsVsFibersResult
  })

export const scenario = Scenario.make({
  name: "threads-vs-fibers",
  title: "Threads vs fibers",
  description: "a worker thread per connection (blocking 50 ms) vs a fiber per connection, at 50 and 500 connections",
  run: (options) => run(options.connections),
  verdict: (r: ThreadsVsFibersResult) => ({
    // Threads may run out of time at 500 connections (that is the point); fibers may not.
    ok: r.runs.every((x) => x.model === "threads" || x.succeeded === x.connections) &&
      r.ratios.every((x) => x.ratio > 1),
    summary: r.ratios.map((x) => `${x.connections} conns: fibers ${x.ratio.toFixed(1)}x faster`).join("; ")
  })
})
