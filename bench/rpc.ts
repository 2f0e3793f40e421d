/**
 * RPC benchmark: throughput, p50/p99 latency and server CPU per request of `add({ a, b })` over
 * (a) the chapter's format (4-byte length + JSON) and (b) JSON-RPC 2.0 over NDJSON, at 1, 10 and
 * 100 connections with 1 and 16 requests in flight per connection, served by
 * - effect-wire's `RpcServer`,
 * - the same protocol hand-written on `node:net`,
 * - `@effect/rpc` 0.76 over its socket protocol (`NodeSocketServer`),
 * all in one run, printed as ratios. Loopback only; the load comes from a separate process
 * (`bench/rpc/loadgen.ts`) and each server runs in its own (`bench/rpc/server.ts`), pinned to
 * separate cores when `taskset` is available. Server CPU per request is
 * `process.cpuUsage()` of the server child over the measured window divided by the requests it
 * answered in that window.
 *
 *   npx tsx bench/rpc.ts            # 1 s warmup + 2 s measured per cell
 *   npx tsx bench/rpc.ts --quick    # 0.3 s + 0.7 s per cell
 *
 * Goal (issue 4): effect-wire ≤ 1.5x the hand-written server's CPU per request, and ≥ 3x
 * `@effect/rpc`'s throughput.
 */
import * as Os from "node:os"
import { probeEnvironment, Proc } from "./echo/procs.js"
import type { Mark, RunResult, ServerKind, WireProtocol } from "./rpc/wire.js"

const quick = process.argv.includes("--quick")
const warmupMs = quick ? 300 : 1_000
const measureMs = quick ? 700 : 2_000
const PROTOCOLS: ReadonlyArray<WireProtocol> = ["chapter", "jsonrpc"]
const KINDS: ReadonlyArray<ServerKind> = ["effect-wire", "effect-wire-gen", "handwritten", "effect-rpc"]
const CONNECTIONS = [1, 10, 100]
const PIPELINES = [1, 16]
const GLOBAL_DEADLINE_MS = 10 * 60_000

interface Cell {
  readonly protocol: WireProtocol
  readonly kind: ServerKind
  readonly connections: number
  readonly pipeline: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly cpuPerReq: number
  readonly serverCpu: number
  readonly errors: number
  readonly mismatched: number
  readonly failure: string | undefined
}

const env = probeEnvironment(Os.availableParallelism())
const serverCore = env.taskset ? 0 : undefined
const loadCore = env.taskset ? 1 : undefined
const wantNofile = 4_096

const main = async (): Promise<void> => {
  const deadline = setTimeout(() => {
    process.stderr.write("bench/rpc: global deadline reached, exiting\n")
    process.exit(2)
  }, GLOBAL_DEADLINE_MS)
  deadline.unref()
  const loadgen = new Proc("loadgen", { file: "bench/rpc/loadgen.ts", core: loadCore, wantNofile })
  const children: Array<Proc> = [loadgen]
  const cleanup = () => {
    for (const c of children) c.kill()
  }
  process.on("exit", cleanup)
  process.on("SIGINT", () => process.exit(130))
  await loadgen.waitFor((m) => m?.type === "ready", 30_000, "loadgen ready")
  const cells: Array<Cell> = []
  let tag = 0
  for (const protocol of PROTOCOLS) {
    for (const kind of KINDS) {
      const server = new Proc(`${kind}/${protocol}`, {
        file: "bench/rpc/server.ts",
        core: serverCore,
        wantNofile,
        env: { BENCH_KIND: kind, BENCH_PROTOCOL: protocol }
      })
      children.push(server)
      const { port } = await server.waitFor<{ port: number }>((m) => m?.type === "ready", 30_000, "server ready")
      for (const connections of CONNECTIONS) {
        for (const pipeline of PIPELINES) {
          const t = ++tag
          const result = loadgen.request<RunResult>(
            { type: "run", tag: t, port, protocol, connections, pipeline, warmupMs, measureMs },
            warmupMs + measureMs + 30_000
          )
          const window = (phase: string) =>
            loadgen.waitFor((m) => m?.type === "window" && m.tag === t && m.phase === phase, warmupMs + measureMs + 20_000, `window ${phase}`)
          const mark = () => server.request<Mark>({ type: "mark" }, 10_000)
          let cpuPerReq = NaN
          let serverCpu = NaN
          try {
            await window("start")
            const m0 = await mark()
            await window("end")
            const m1 = await mark()
            cpuPerReq = (m1.cpuMicros - m0.cpuMicros) / Math.max(1, m1.requests - m0.requests)
            serverCpu = (m1.cpuMicros - m0.cpuMicros) / 1000 / (m1.wallMs - m0.wallMs)
          } catch (e) {
            process.stderr.write(`${kind}/${protocol} c=${connections} p=${pipeline}: ${String(e)}\n`)
          }
          const r = await result.catch((e): RunResult => ({
            type: "run",
            id: 0,
            completed: 0,
            errors: 0,
            mismatched: 0,
            seconds: 1,
            p50: NaN,
            p99: NaN,
            loadgenCpuMs: 0,
            failure: String(e)
          }))
          const cell: Cell = {
            protocol,
            kind,
            connections,
            pipeline,
            rps: r.completed / r.seconds,
            p50: r.p50,
            p99: r.p99,
            cpuPerReq,
            serverCpu,
            errors: r.errors,
            mismatched: r.mismatched,
            failure: r.failure
          }
          cells.push(cell)
          process.stderr.write(
            `  ${protocol.padEnd(7)} ${kind.padEnd(11)} c=${String(connections).padStart(3)} p=${String(pipeline).padStart(2)}  ` +
              `${fmt(cell.rps, 0).padStart(7)} req/s  cpu ${fmt(cpuPerReq, 1)} µs/req  p50 ${fmt(r.p50, 0)} µs  p99 ${fmt(r.p99, 0)} µs` +
              `${r.errors + r.mismatched > 0 ? `  errors ${r.errors} mismatched ${r.mismatched}` : ""}${r.failure ? `  FAILURE ${r.failure}` : ""}\n`
          )
        }
      }
      server.send({ type: "stop" })
      server.kill()
      await server.waitExit(2_000)
    }
  }
  loadgen.kill()
  report(cells)
  clearTimeout(deadline)
  process.exit(0)
}

const fmt = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : "—")

const report = (cells: ReadonlyArray<Cell>): void => {
  const find = (protocol: WireProtocol, kind: ServerKind, c: number, p: number) =>
    cells.find((x) => x.protocol === protocol && x.kind === kind && x.connections === c && x.pipeline === p)
  const lines: Array<string> = []
  lines.push(
    `node ${env.node}, ${env.cpus} CPUs, ${env.taskset ? "server on core 0, load on core 1" : "no taskset"}, ` +
      `${quick ? "quick: 0.3 s warmup + 0.7 s" : "1 s warmup + 2 s"} measured per cell`
  )
  lines.push("")
  lines.push(
    "| protocol | conns | in flight | effect-wire req/s | p50 / p99 µs | CPU µs/req | hand-written req/s | CPU µs/req | @effect/rpc req/s | CPU µs/req | CPU/req vs hand | req/s vs @effect/rpc | Effect.gen handler CPU µs/req | vs hand |"
  )
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  const ratios: Array<{ cpu: number; rps: number }> = []
  for (const protocol of PROTOCOLS) {
    for (const c of CONNECTIONS) {
      for (const p of PIPELINES) {
        const ew = find(protocol, "effect-wire", c, p)
        const hw = find(protocol, "handwritten", c, p)
        const er = find(protocol, "effect-rpc", c, p)
        const gen = find(protocol, "effect-wire-gen", c, p)
        if (ew === undefined || hw === undefined || er === undefined) continue
        const cpu = ew.cpuPerReq / hw.cpuPerReq
        const rps = ew.rps / er.rps
        ratios.push({ cpu, rps })
        const flag = (x: Cell) => (x.errors + x.mismatched > 0 || x.failure !== undefined ? " (!)" : "")
        lines.push(
          `| ${protocol} | ${c} | ${p} | ${fmt(ew.rps, 0)}${flag(ew)} | ${fmt(ew.p50, 0)} / ${fmt(ew.p99, 0)} | ${fmt(ew.cpuPerReq, 1)} | ` +
            `${fmt(hw.rps, 0)}${flag(hw)} | ${fmt(hw.cpuPerReq, 1)} | ${fmt(er.rps, 0)}${flag(er)} | ${fmt(er.cpuPerReq, 1)} | ` +
            `${fmt(cpu, 2)}x ${cpu <= 1.5 ? "✓" : "✗"} | ${fmt(rps, 2)}x ${rps >= 3 ? "✓" : "✗"} | ` +
            `${fmt(gen?.cpuPerReq ?? NaN, 1)} | ${fmt((gen?.cpuPerReq ?? NaN) / hw.cpuPerReq, 2)}x |`
        )
      }
    }
  }
  const geo = (xs: ReadonlyArray<number>) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length)
  lines.push("")
  lines.push(
    `geometric mean: CPU/req vs hand-written ${fmt(geo(ratios.map((r) => r.cpu)), 2)}x (goal ≤ 1.5x), ` +
      `req/s vs @effect/rpc ${fmt(geo(ratios.map((r) => r.rps)), 2)}x (goal ≥ 3x)`
  )
  const bad = cells.filter((x) => x.errors + x.mismatched > 0 || x.failure !== undefined)
  lines.push(bad.length === 0 ? "no errors, no mismatched ids" : `${bad.length} cells with errors (!)`)
  process.stdout.write(lines.join("\n") + "\n")
}

void main().catch((e) => {
  process.stderr.write(`bench/rpc failed: ${String(e)}\n`)
  process.exit(1)
})
