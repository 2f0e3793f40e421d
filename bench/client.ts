/**
 * Client bench (issue 11): client CPU per call of `add({ a, b })` at 1 and 16 calls in flight, for
 * - a hand-written `node:net` client (the baseline),
 * - effect-wire's `RpcClient.connect` and `RpcClient.pool` (4 connections), called from
 *   `Effect.gen` loops as users write them,
 * - `vscode-jsonrpc` 8.2 (`sendRequest` in `async` loops),
 * - `@effect/rpc` 0.76's `RpcClient` over `layerProtocolSocket` with `layerNdJsonRpc`,
 * all talking to ONE server: a hand-written `node:net` JSON-RPC 2.0 server in its own process
 * (`bench/client/server.ts`), newline-delimited JSON for every client except `vscode-jsonrpc`,
 * which it serves with `Content-Length` framing (sniffed per connection). Each client runs in
 * its own process (`bench/client/caller.ts`), a fresh one per cell, pinned to another core than
 * the server when `taskset` is available; CPU per call is that process's `process.cpuUsage()`
 * (user + system) over the measured window divided by the calls completed in it. Loopback only.
 * Cells are run round-robin `--rounds` times and the median is kept; ratios come from the same run.
 *
 *   npm run bench:client                    # 3 rounds of 1 s warmup + 2 s measured per cell
 *   npm run bench:client -- --quick         # 1 round of 0.5 s + 1 s
 *   npm run bench:client -- --only effect-wire,handwritten --rounds 5
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as Os from "node:os"
import * as Path from "node:path"
import type { ClientKind, RunResult } from "./client/caller.js"

const ROOT = Path.resolve(import.meta.dirname, "..")
const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
const quick = argv.includes("--quick")
const warmupMs = quick ? 500 : 1_000
const measureMs = quick ? 1_000 : 2_000
const rounds = Math.max(1, Number(flag("--rounds") ?? (quick ? 1 : 3)))
const ALL: ReadonlyArray<ClientKind> = [
  "handwritten",
  "effect-wire",
  "effect-wire-pool",
  "vscode-jsonrpc",
  "effect-rpc"
]
const only = flag("--only")?.split(",")
const KINDS = ALL.filter((k) => only === undefined || only.includes(k) || k === "handwritten")
const IN_FLIGHT = [1, 16]
const GLOBAL_DEADLINE_MS = 15 * 60_000

const taskset = spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" }).status === 0 &&
  Os.availableParallelism() >= 2

/** A child on `--import tsx`, talking over IPC, pinned to `core` when taskset is available. */
class Child {
  readonly proc: ChildProcess
  private readonly inbox: Array<any> = []
  private waiters: Array<{ match: (m: any) => boolean; resolve: (m: any) => void }> = []
  constructor(readonly label: string, file: string, core: number, env: Record<string, string>) {
    const node = [process.execPath, "--import", "tsx", Path.join(ROOT, file)]
    const [cmd, ...args] = taskset ? ["taskset", "-c", String(core), ...node] : node
    this.proc = spawn(cmd!, args, {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, ...env }
    })
    this.proc.on("message", (m) => {
      const i = this.waiters.findIndex((w) => w.match(m))
      if (i === -1) return void this.inbox.push(m)
      this.waiters.splice(i, 1)[0]!.resolve(m)
    })
  }
  waitFor<T>(match: (m: any) => boolean, timeoutMs: number, what: string): Promise<T> {
    const i = this.inbox.findIndex(match)
    if (i !== -1) return Promise.resolve(this.inbox.splice(i, 1)[0])
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms`)), timeoutMs)
      const onExit = (code: number | null) => reject(new Error(`${this.label} exited (${code}) waiting for ${what}`))
      this.proc.once("exit", onExit)
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer)
          this.proc.off("exit", onExit)
          resolve(m)
        }
      })
    })
  }
  send(m: object): void {
    if (this.proc.connected) this.proc.send(m)
  }
  kill(): void {
    if (this.proc.exitCode === null && this.proc.pid !== undefined) {
      try {
        process.kill(this.proc.pid, "SIGKILL")
      } catch {
        // gone already
      }
    }
  }
}

interface Sample {
  readonly kind: ClientKind
  readonly inFlight: number
  readonly cpuPerCall: number
  readonly callsPerSecond: number
  readonly errors: number
  readonly failure: string | undefined
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const fmt = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : "—")

const main = async (): Promise<void> => {
  const deadline = setTimeout(() => {
    process.stderr.write("bench/client: global deadline reached, exiting\n")
    process.exit(2)
  }, GLOBAL_DEADLINE_MS)
  deadline.unref()
  const children = new Set<Child>()
  process.on("exit", () => {
    for (const c of children) c.kill()
  })
  process.on("SIGINT", () => process.exit(130))

  const server = new Child("server", "bench/client/server.ts", 0, {})
  children.add(server)
  const { port } = await server.waitFor<{ port: number }>((m) => m?.type === "ready", 30_000, "server ready")
  const samples: Array<Sample> = []
  for (let round = 1; round <= rounds; round++) {
    for (const kind of KINDS) {
      for (const inFlight of IN_FLIGHT) {
        const client = new Child(kind, "bench/client/caller.ts", 1, { BENCH_CLIENT: kind, BENCH_PORT: String(port) })
        children.add(client)
        let sample: Sample
        try {
          await client.waitFor((m) => m?.type === "ready", 30_000, "client ready")
          client.send({ type: "run", id: 1, inFlight, warmupMs, measureMs })
          const r = await client.waitFor<RunResult>(
            (m) => m?.type === "result",
            warmupMs + measureMs + 15_000,
            "result"
          )
          sample = {
            kind,
            inFlight,
            cpuPerCall: r.cpuMicros / Math.max(1, r.calls),
            callsPerSecond: r.calls / r.seconds,
            errors: r.errors,
            failure: r.failure
          }
        } catch (e) {
          sample = { kind, inFlight, cpuPerCall: NaN, callsPerSecond: NaN, errors: 0, failure: String(e) }
        }
        client.kill()
        children.delete(client)
        samples.push(sample)
        process.stderr.write(
          `  round ${round} ${kind.padEnd(16)} in flight ${String(inFlight).padStart(2)}  ` +
            `${fmt(sample.cpuPerCall, 2).padStart(7)} µs CPU/call  ${
              fmt(sample.callsPerSecond, 0).padStart(7)
            } calls/s` +
            `${sample.errors > 0 ? `  errors ${sample.errors}` : ""}${
              sample.failure ? `  FAILURE ${sample.failure}` : ""
            }\n`
        )
      }
    }
  }
  server.kill()
  report(samples)
  clearTimeout(deadline)
  process.exit(0)
}

const report = (samples: ReadonlyArray<Sample>): void => {
  const cell = (kind: ClientKind, inFlight: number) => {
    const xs = samples.filter((s) => s.kind === kind && s.inFlight === inFlight)
    return {
      cpu: median(xs.map((s) => s.cpuPerCall)),
      rate: median(xs.map((s) => s.callsPerSecond)),
      bad: xs.some((s) => s.errors > 0 || s.failure !== undefined)
    }
  }
  const lines: Array<string> = []
  lines.push(
    `node ${process.version}, ${Os.availableParallelism()} CPUs, ${
      taskset ? "server on core 0, client on core 1" : "no taskset"
    }, ` +
      `${warmupMs / 1000} s warmup + ${measureMs / 1000} s measured per cell, median of ${rounds} round${
        rounds > 1 ? "s" : ""
      }`
  )
  lines.push(
    "every client talks to the same hand-written node:net JSON-RPC 2.0 server (NDJSON; Content-Length for vscode-jsonrpc)"
  )
  lines.push("")
  lines.push("| client | in flight | client CPU µs/call | vs hand-written | calls/s |")
  lines.push("|---|---:|---:|---:|---:|")
  for (const inFlight of IN_FLIGHT) {
    const base = cell("handwritten", inFlight).cpu
    for (const kind of KINDS) {
      const c = cell(kind, inFlight)
      lines.push(
        `| ${kind}${c.bad ? " (!)" : ""} | ${inFlight} | ${fmt(c.cpu, 2)} | ${fmt(c.cpu / base, 2)}x | ${
          fmt(c.rate, 0)
        } |`
      )
    }
  }
  const bad = samples.filter((s) => s.errors > 0 || s.failure !== undefined)
  lines.push("")
  lines.push(bad.length === 0 ? "no errors" : `${bad.length} samples with errors or failures (!)`)
  process.stdout.write(lines.join("\n") + "\n")
}

void main().catch((e) => {
  process.stderr.write(`bench/client failed: ${String(e)}\n`)
  process.exit(1)
})
