/**
 * RPC benchmark: throughput, p50/p99 latency and server CPU per request of `add({ a, b })` over
 * (a) the chapter's format (4-byte length + JSON) and (b) JSON-RPC 2.0 over NDJSON, at 1, 10 and
 * 100 connections with 1 and 16 requests in flight per connection, served by
 * - effect-wire's `RpcServer`,
 * - the same protocol hand-written on `node:net`,
 * - `@effect/rpc` 0.76 over its socket protocol (`NodeSocketServer`),
 * - `RpcServer` with `Effect.gen` handlers (`effect-wire-gen`),
 * - the CLI, `effect-wire serve json-rpc --port 0 --quiet` (`--framing lines` for NDJSON), run by
 *   tsx as a child process without a control channel: its CPU is read from /proc (every thread's
 *   schedstat) and its requests counted by the load generator,
 * all in one run, printed as ratios. For each protocol every server is started once; each cell
 * runs them back to back (order reversed every other cell), so a cell's ratios are paired in time. Loopback only; the load comes from a separate process
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
import { type CliServer, killCli, procCpuUs, spawnCli, stopCli } from "./echo/matrix.js"
import { probeEnvironment, Proc } from "./echo/procs.js"
import type { Mark, RunResult, ServerKind, WireProtocol } from "./rpc/wire.js"

const quick = process.argv.includes("--quick")
const warmupMs = quick ? 300 : 1_000
const measureMs = quick ? 700 : 2_000
const PROTOCOLS: ReadonlyArray<WireProtocol> = ["chapter", "jsonrpc"]
const KINDS: ReadonlyArray<ServerKind> = ["handwritten", "effect-wire", "effect-wire-gen", "cli", "effect-rpc"]
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
  readonly max: number
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
  const clis: Array<CliServer> = []
  process.on("exit", () => clis.forEach(killCli))
  let tag = 0
  let flip = false
  for (const protocol of PROTOCOLS) {
    // Every server of this protocol, started one after the other.
    const servers: Array<
      {
        readonly kind: ServerKind
        readonly port: number
        readonly mark: () => Promise<
          Mark | { readonly cpuMicros: number; readonly requests: undefined; readonly wallMs: number }
        >
        readonly stop: () => Promise<void>
      }
    > = []
    for (const kind of KINDS) {
      if (kind === "cli") {
        const cli = await spawnCli(
          ["serve", "json-rpc", "--port", "0", "--quiet", ...(protocol === "jsonrpc" ? ["--framing", "lines"] : [])],
          serverCore,
          GLOBAL_DEADLINE_MS + 60_000
        )
        clis.push(cli)
        servers.push({
          kind,
          port: cli.port,
          mark: () =>
            Promise.resolve({ cpuMicros: procCpuUs(cli.pid), requests: undefined, wallMs: performance.now() }),
          stop: async () => {
            await stopCli(cli)
            const stats = cli.output.filter((l) => l.startsWith("stopped"))
            if (stats.length > 0) process.stderr.write(`  cli/${protocol} on exit: ${stats.join(" ")}\n`)
          }
        })
        continue
      }
      const server = new Proc(`${kind}/${protocol}`, {
        file: "bench/rpc/server.ts",
        core: serverCore,
        wantNofile,
        env: { BENCH_KIND: kind, BENCH_PROTOCOL: protocol }
      })
      children.push(server)
      const { port } = await server.waitFor<{ port: number }>((m) => m?.type === "ready", 30_000, "server ready")
      servers.push({
        kind,
        port,
        mark: () => server.request<Mark>({ type: "mark" }, 10_000),
        stop: async () => {
          server.send({ type: "stop" })
          server.kill()
          await server.waitExit(2_000)
        }
      })
    }
    for (const connections of CONNECTIONS) {
      for (const pipeline of PIPELINES) {
        const order = flip ? [...servers].reverse() : servers
        flip = !flip
        for (const { kind, port, mark } of order) {
          const t = ++tag
          const result = loadgen.request<RunResult>(
            { type: "run", tag: t, port, protocol, connections, pipeline, warmupMs, measureMs },
            warmupMs + measureMs + 30_000
          )
          const window = (phase: string) =>
            loadgen.waitFor(
              (m) => m?.type === "window" && m.tag === t && m.phase === phase,
              warmupMs + measureMs + 20_000,
              `window ${phase}`
            )
          let cpu = NaN
          let wallMs = NaN
          let served: number | undefined = undefined
          try {
            await window("start")
            const m0 = await mark()
            await window("end")
            const m1 = await mark()
            cpu = m1.cpuMicros - m0.cpuMicros
            wallMs = m1.wallMs - m0.wallMs
            served = m1.requests === undefined || m0.requests === undefined ? undefined : m1.requests - m0.requests
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
            max: NaN,
            loadgenCpuMs: 0,
            failure: String(e)
          }))
          const rps = r.completed / r.seconds
          // Controlled servers count their requests; the CLI's are the load generator's replies (same window, its own clock).
          const cpuPerReq = served !== undefined
            ? cpu / Math.max(1, served)
            : rps > 0
            ? (cpu / wallMs) * 1000 / rps
            : NaN
          const cell: Cell = {
            protocol,
            kind,
            connections,
            pipeline,
            rps,
            p50: r.p50,
            p99: r.p99,
            max: r.max,
            cpuPerReq,
            serverCpu: cpu / 1000 / wallMs,
            errors: r.errors,
            mismatched: r.mismatched,
            failure: r.failure
          }
          cells.push(cell)
          process.stderr.write(
            `  ${protocol.padEnd(7)} ${kind.padEnd(15)} c=${String(connections).padStart(3)} p=${
              String(pipeline).padStart(2)
            }  ` +
              `${fmt(cell.rps, 0).padStart(7)} req/s  cpu ${fmt(cpuPerReq, 1)} µs/req  p50 ${fmt(r.p50, 0)} µs  p99 ${
                fmt(r.p99, 0)
              } µs  max ${fmt(r.max, 0)} µs` +
              `${r.errors + r.mismatched > 0 ? `  errors ${r.errors} mismatched ${r.mismatched}` : ""}${
                r.failure ? `  FAILURE ${r.failure}` : ""
              }\n`
          )
        }
      }
    }
    for (const s of servers) await s.stop()
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
    "| protocol | conns | in flight | effect-wire req/s | p50 / p99 µs | CPU µs/req | hand-written req/s | CPU µs/req | @effect/rpc req/s | CPU µs/req | CPU/req vs hand | req/s vs @effect/rpc | Effect.gen handler CPU µs/req | vs hand | CLI serve json-rpc CPU µs/req | vs hand |"
  )
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  const ratios: Array<{ cpu: number; rps: number }> = []
  for (const protocol of PROTOCOLS) {
    for (const c of CONNECTIONS) {
      for (const p of PIPELINES) {
        const ew = find(protocol, "effect-wire", c, p)
        const hw = find(protocol, "handwritten", c, p)
        const er = find(protocol, "effect-rpc", c, p)
        const gen = find(protocol, "effect-wire-gen", c, p)
        const cli = find(protocol, "cli", c, p)
        if (ew === undefined || hw === undefined || er === undefined) continue
        const cpu = ew.cpuPerReq / hw.cpuPerReq
        const rps = ew.rps / er.rps
        ratios.push({ cpu, rps })
        const flag = (x: Cell) => (x.errors + x.mismatched > 0 || x.failure !== undefined ? " (!)" : "")
        lines.push(
          `| ${protocol} | ${c} | ${p} | ${fmt(ew.rps, 0)}${flag(ew)} | ${fmt(ew.p50, 0)} / ${fmt(ew.p99, 0)} | ${
            fmt(ew.cpuPerReq, 1)
          } | ` +
            `${fmt(hw.rps, 0)}${flag(hw)} | ${fmt(hw.cpuPerReq, 1)} | ${fmt(er.rps, 0)}${flag(er)} | ${
              fmt(er.cpuPerReq, 1)
            } | ` +
            `${fmt(cpu, 2)}x ${cpu <= 1.5 ? "✓" : "✗"} | ${fmt(rps, 2)}x ${rps >= 3 ? "✓" : "✗"} | ` +
            `${fmt(gen?.cpuPerReq ?? NaN, 1)}${gen === undefined ? "" : flag(gen)} | ${
              fmt((gen?.cpuPerReq ?? NaN) / hw.cpuPerReq, 2)
            }x | ` +
            `${fmt(cli?.cpuPerReq ?? NaN, 1)}${cli === undefined ? "" : flag(cli)} | ${
              fmt((cli?.cpuPerReq ?? NaN) / hw.cpuPerReq, 2)
            }x |`
        )
      }
    }
  }
  // Latency of every server, p99 / max (µs).
  lines.push("")
  lines.push(`| protocol | conns | in flight | ${KINDS.map((k) => `${k} p99 / max µs`).join(" | ")} |`)
  lines.push(`|---|---:|---:|${KINDS.map(() => "---:").join("|")}|`)
  for (const protocol of PROTOCOLS) {
    for (const c of CONNECTIONS) {
      for (const p of PIPELINES) {
        const row = KINDS.map((k) => {
          const x = find(protocol, k, c, p)
          return x === undefined ? "—" : `${fmt(x.p99, 0)} / ${fmt(x.max, 0)}`
        })
        lines.push(`| ${protocol} | ${c} | ${p} | ${row.join(" | ")} |`)
      }
    }
  }
  const geo = (xs: ReadonlyArray<number>) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length)
  lines.push("")
  lines.push(
    `geometric mean: CPU/req vs hand-written ${fmt(geo(ratios.map((r) => r.cpu)), 2)}x (goal ≤ 1.5x), ` +
      `req/s vs @effect/rpc ${fmt(geo(ratios.map((r) => r.rps)), 2)}x (goal ≥ 3x)`
  )
  for (const k of ["effect-wire-gen", "cli"] as const) {
    const rs = cells.filter((x) => x.kind === k).flatMap((x) => {
      const hw = find(x.protocol, "handwritten", x.connections, x.pipeline)
      return hw === undefined ? [] : [x.cpuPerReq / hw.cpuPerReq]
    })
    if (rs.length > 0) {
      lines.push(
        `${k}: CPU/req vs hand-written, geometric mean ${fmt(geo(rs), 2)}x (range ${fmt(Math.min(...rs), 2)}-${
          fmt(Math.max(...rs), 2)
        }x)`
      )
    }
  }
  const bad = cells.filter((x) => x.errors + x.mismatched > 0 || x.failure !== undefined)
  lines.push(bad.length === 0 ? "no errors, no mismatched ids" : `${bad.length} cells with errors (!)`)
  process.stdout.write(lines.join("\n") + "\n")
}

void main().catch((e) => {
  process.stderr.write(`bench/rpc failed: ${String(e)}\n`)
  process.exit(1)
})
