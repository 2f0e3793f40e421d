/**
 * `npx tsx bench/server.ts --matrix [--quick]` (`npm run bench:matrix`): the line echo served by
 * every handler shape users write, each against the hand-written `node:net` server of the same
 * run, in one invocation:
 *
 * - `hand-written`: `bench/echo/server-handwritten.ts` (the baseline);
 * - `respond`:  `Server.respond(Framing.lines(), b => Effect.succeed(…))` (the tuned row);
 * - `text`:     `Server.respond(Message.text(Framing.lines()), s => Effect.succeed(…))`;
 * - `gen`:      the same with an `Effect.gen` handler;
 * - `map`:      the same with `Effect.map(Effect.void, …)`;
 * - `json`:     `Server.respond(Message.json(Framing.lines(), Schema.Struct(…)), …)`;
 * - `readline`: `Server.make` + a `conn.readLine()` / `conn.write()` loop;
 * - `cli`:      `effect-wire serve echo --port 0 --quiet` (`src/scenarios/cli.ts` run by tsx), a
 *               child process without a control channel: its CPU is read from
 *               `/proc/<pid>/task/*\/schedstat` (every thread's time on CPU, ns) and its requests
 *               from the load generator.
 *
 * Every server runs in its own process on core 0, the load generator on core 1. Every row's cell
 * runs between two runs of the hand-written server (hw, row 1, hw, row 2, …, hw; the rows'
 * order is reversed every repetition), and its ratio is to the geometric mean of those two hw
 * runs; the tables give the median of those paired ratios over the repetitions.
 *
 * The load is `{"line":"msg"}\n` on every row (the `json` row needs JSON; the other servers echo
 * any line): `ECHO: {"line":"msg"}\n` back, `{"line":"ECHO: msg"}\n` from `json`. Before the
 * matrix, each server is asked `hello\n` (or `{"line":"hello"}\n`) once and its answer checked.
 *
 * Latency is the load generator's, per request, over the measured window only: every connection
 * first connects and has one request answered (connection setup and the first request are
 * reported apart, in the last table), then the warm-up, then the window.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { type Environment, Proc, ROOT } from "./procs.js"
import type { LoadResult, Mark } from "./protocol.js"

export type Row = "hand-written" | "respond" | "text" | "gen" | "map" | "json" | "readline" | "cli" | "cli-shape"
export const ROWS: ReadonlyArray<Exclude<Row, "hand-written">> = [
  "respond",
  "text",
  "gen",
  "map",
  "json",
  "readline",
  "cli"
]
/** Diagnostic rows, only with `--rows`: `cli-shape` = the CLI's handler shape in a bench server, traced per connection (BENCH_TRACE_FILE). */
export const EXTRA_ROWS: ReadonlyArray<Exclude<Row, "hand-written">> = ["cli-shape"]

export interface MatrixOptions {
  readonly quick: boolean
  readonly env: Environment
  readonly rows: ReadonlyArray<Exclude<Row, "hand-written">>
  readonly cells: ReadonlyArray<readonly [number, number]> | undefined
  readonly reps: number | undefined
  readonly jsonFile: string | undefined
  /** Run without priming (diagnostic: what a load generator that counts connection setup sees). */
  readonly noPrime: boolean
  /** Skip the short load every server gets before the matrix (diagnostic: fresh processes, JIT cold). */
  readonly noWarm: boolean
  /** Every controlled server writes when it accepted each connection to .scratch/trace-<pid>-<row>.jsonl. */
  readonly trace: boolean
  readonly budgetMs: number
  /** Warm-up and measured window per cell, ms (default 300 + 1000, quick 200 + 500). */
  readonly timing: { readonly warmupMs: number; readonly durationMs: number } | undefined
}

const SERVER_CORE = 0
const LOADGEN_CORE = 1
const WANT_NOFILE = 65_536
const PAYLOAD = `{"line":"msg"}`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6

// ---- CPU of any process, from /proc ---------------------------------------------------------------

/** Time on CPU of every live thread of `pid`, in µs (schedstat, ns resolution); NaN if unreadable. */
export const procCpuUs = (pid: number): number => {
  try {
    let ns = 0
    for (const t of Fs.readdirSync(`/proc/${pid}/task`)) {
      ns += Number(Fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0])
    }
    return ns / 1000
  } catch {
    try {
      // utime + stime in clock ticks (USER_HZ = 100): 10 ms resolution.
      const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return (Number(f[11]) + Number(f[12])) * 10_000
    } catch {
      return NaN
    }
  }
}

/** Server-side sockets of `port` still open (not listening, not TIME_WAIT), from /proc/net/tcp. */
const openSockets = (port: number): number => {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`
  let n = 0
  try {
    const lines = Fs.readFileSync("/proc/net/tcp", "utf8").split("\n")
    for (let i = 1; i < lines.length; i++) {
      const f = lines[i]!.trim().split(/\s+/)
      if (f.length < 4 || !f[1]!.endsWith(hex)) continue
      if (f[3] !== "0A" && f[3] !== "06") n++
    }
  } catch {
    return 0
  }
  return n
}

/** The kernel's TCP counters (ListenOverflows, ListenDrops, SYN cookies, retransmitted SYN-ACKs…). */
export const tcpExt = (): Record<string, number> => {
  const out: Record<string, number> = {}
  try {
    const lines = Fs.readFileSync("/proc/net/netstat", "utf8").split("\n")
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(/\s+/)
      const values = lines[i + 1]!.split(/\s+/)
      const prefix = names[0]!.replace(/:$/, "")
      for (let j = 1; j < names.length; j++) out[`${prefix}.${names[j]}`] = Number(values[j])
    }
  } catch {
    // not Linux
  }
  return out
}
/** Busy time of the whole machine (all CPUs, /proc/stat), µs; NaN if unreadable. */
const machineBusyUs = (): number => {
  try {
    const f = Fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal, in USER_HZ (100) ticks
    return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) * 10_000
  } catch {
    return NaN
  }
}

/**
 * Samples the listening socket's accept queue (`ss -ltn`: Recv-Q = connections the kernel has
 * completed and the server has not accepted yet) until `stop()`: its peak and when it was last
 * non-empty (ms after the start).
 */
const acceptQueueSampler = (port: number) => {
  let peak = 0
  let lastBusyMs = 0
  let samples = 0
  let stopped = false
  const t0 = nowMs()
  const loop = (): void => {
    if (stopped) return
    execFile("ss", ["-Hltn", `sport = :${port}`], { timeout: 2_000 }, (err, stdout) => {
      if (!err) {
        const q = Number(stdout.trim().split(/\s+/)[1])
        if (Number.isFinite(q)) {
          samples++
          if (q > peak) peak = q
          if (q > 0) lastBusyMs = nowMs() - t0
        }
      }
      if (!stopped) setTimeout(loop, 5)
    })
  }
  loop()
  return {
    stop: () => {
      stopped = true
      return { peak, lastBusyMs, samples }
    }
  }
}

const TCP_KEYS = [
  "TcpExt.ListenOverflows",
  "TcpExt.ListenDrops",
  "TcpExt.SyncookiesSent",
  "TcpExt.TCPReqQFullDrop",
  "TcpExt.TCPSynRetrans",
  "TcpExt.TCPTimeouts"
]

// ---- servers -------------------------------------------------------------------------------------

interface MServer {
  readonly row: Row
  readonly port: number
  readonly pid: number
  /** The control channel (effect-wire variants and the hand-written server); none for the CLI. */
  readonly proc: Proc | undefined
  readonly child: ChildProcess | undefined
  readonly output: Array<string>
}

const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`)

const startControlled = async (row: Row, opts: MatrixOptions, lifetimeMs: number): Promise<MServer> => {
  const proc = new Proc(row, {
    file: row === "hand-written" ? "bench/echo/server-handwritten.ts" : "bench/echo/server-effect-wire.ts",
    core: opts.env.taskset ? SERVER_CORE : undefined,
    wantNofile: WANT_NOFILE,
    env: {
      BENCH_MAX_LIFETIME_MS: String(lifetimeMs),
      BENCH_EW_HANDLER: row,
      ...(row === "cli-shape" || opts.trace
        ? { BENCH_TRACE_FILE: Path.join(ROOT, ".scratch", `trace-${process.pid}-${row}.jsonl`) }
        : {})
    }
  })
  const ready = await proc.waitFor<{ port: number; pid: number }>((m) => m?.type === "ready", 60_000, "ready")
  return { row, port: ready.port, pid: ready.pid, proc, child: undefined, output: [] }
}

/** A server run by the `effect-wire` CLI as a child process (no control channel). */
export interface CliServer {
  readonly port: number
  /** The node process serving (for /proc). */
  readonly pid: number
  readonly child: ChildProcess
  /** What it printed (stdout and stderr lines). */
  readonly output: Array<string>
}

/**
 * `effect-wire <args>` (`src/scenarios/cli.ts` run by tsx, as from a checkout), pinned to `core`,
 * killed by `timeout` after `lifetimeMs` whatever happens to the bench. The args must make it
 * print `listening on host:port` (e.g. `serve echo --port 0 --quiet`).
 */
export const spawnCli = async (
  args: ReadonlyArray<string>,
  core: number | undefined,
  lifetimeMs: number
): Promise<CliServer> => {
  const cmd = [
    "timeout",
    "-s",
    "KILL",
    String(Math.ceil(lifetimeMs / 1000)),
    ...(core === undefined ? [] : ["taskset", "-c", String(core)]),
    process.execPath,
    "--import",
    "tsx",
    Path.join(ROOT, "src/scenarios/cli.ts"),
    ...args
  ].map(quote).join(" ")
  const script = `ulimit -n ${WANT_NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${cmd}`
  const child = spawn("bash", ["-c", script], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" }
  })
  const output: Array<string> = []
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`cli: no "listening on" within 60 s: ${output.join(" | ")}`)),
      60_000
    )
    let buf = ""
    const onData = (d: Buffer) => {
      buf += d.toString()
      const lines = buf.split("\n")
      buf = lines.pop()!
      for (const l of lines) {
        output.push(l)
        const m = /listening on [^\s]*:(\d+)/.exec(l)
        if (m !== null) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", (d: Buffer) => {
      for (const line of d.toString().split("\n")) if (line.length > 0) output.push(line)
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`cli exited (${code}): ${output.join(" | ")}`))
    })
  })
  // bash exec'd `timeout`, which forked the server: its pid is timeout's child.
  let pid = NaN
  for (let i = 0; i < 50 && !Number.isFinite(pid); i++) {
    try {
      const kids = Fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/).map(
        Number
      )
      if (kids.length > 0 && kids[0]! > 0) pid = kids[0]!
    } catch {
      // not yet
    }
    if (!Number.isFinite(pid)) await sleep(20)
  }
  if (!Number.isFinite(pid)) {
    killCli({ port, pid, child, output })
    throw new Error("cli: server pid not found")
  }
  return { port, pid, child, output }
}

export const killCli = (s: CliServer): void => {
  for (const pid of [s.pid, s.child.pid]) {
    try {
      if (pid !== undefined && Number.isFinite(pid)) process.kill(pid, "SIGKILL")
    } catch {
      // gone
    }
  }
}

/** SIGTERM (graceful shutdown: the CLI prints its stats), SIGKILL after `ms`. */
export const stopCli = async (s: CliServer, ms = 5_000): Promise<void> => {
  const exited = new Promise<void>((r) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null) r()
    else s.child.once("exit", () => r())
  })
  try {
    process.kill(s.pid, "SIGTERM")
  } catch {
    // gone
  }
  await Promise.race([exited, sleep(ms)])
  killCli(s)
}

const startCli = async (opts: MatrixOptions, lifetimeMs: number): Promise<MServer> => {
  const cli = await spawnCli(
    ["serve", "echo", "--port", "0", "--quiet"],
    opts.env.taskset ? SERVER_CORE : undefined,
    lifetimeMs
  )
  return { row: "cli", port: cli.port, pid: cli.pid, proc: undefined, child: cli.child, output: cli.output }
}

const stop = async (s: MServer): Promise<void> => {
  if (s.proc !== undefined) {
    await s.proc.request({ type: "stop" }, 10_000, "stopped").catch(() => undefined)
    await s.proc.waitExit(5_000)
    return
  }
  await stopCli({ port: s.port, pid: s.pid, child: s.child!, output: s.output })
}

const kill = (s: MServer): void => {
  if (s.proc !== undefined) return s.proc.kill()
  killCli({ port: s.port, pid: s.pid, child: s.child!, output: s.output })
}

/** One request, its reply checked: does the server speak the protocol the load assumes? */
const probe = (s: MServer): Promise<string | undefined> =>
  new Promise((resolve) => {
    const request = s.row === "json" ? `{"line":"hello"}` : "hello"
    const expected = s.row === "json" ? `{"line":"ECHO: hello"}\n` : "ECHO: hello\n"
    const socket = Net.connect({ host: "127.0.0.1", port: s.port })
    let got = ""
    const done = (r: string | undefined) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(r)
    }
    const timer = setTimeout(() => done(`no complete reply within 5 s (got ${JSON.stringify(got)})`), 5_000)
    socket.on("connect", () => socket.write(request + "\n"))
    socket.on("data", (d) => {
      got += d.toString()
      if (got.includes("\n")) {
        done(
          got === expected
            ? undefined
            : `sent ${JSON.stringify(request + "\n")}, expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`
        )
      }
    })
    socket.on("error", (e) => done(String(e)))
  })

// ---- one run -------------------------------------------------------------------------------------

export interface Run {
  readonly row: Row
  readonly conns: number
  readonly pipeline: number
  readonly rep: number
  readonly load: LoadResult
  readonly reqPerSec: number
  /** Server CPU per request: `process.cpuUsage()` / the server's counter (controlled servers), or /proc / the load's replies (CLI). */
  readonly cpuUsPerReq: number
  /** The same from /proc and the load generator's count, for every server (the CLI's mechanism). */
  readonly procCpuUsPerReq: number
  readonly serverCpuPct: number
  /** The rest of the machine during the window (other processes, softirq), % of one core. */
  readonly otherCpuPct: number
  readonly tcp: Record<string, number>
  /** The accept queue from the load's start to the window's: peak, and when it was last non-empty (ms). */
  readonly acceptQueue: { readonly peak: number; readonly lastBusyMs: number; readonly samples: number }
}

let loadId = 50_000

const runOne = async (
  lg: Proc,
  s: MServer,
  conns: number,
  pipeline: number,
  rep: number,
  timing: { readonly warmupMs: number; readonly durationMs: number },
  noPrime: boolean
): Promise<Run> => {
  const id = loadId++
  const total = timing.warmupMs + timing.durationMs + 40_000
  const tcp0 = tcpExt()
  const sampler = acceptQueueSampler(s.port)
  lg.send({
    type: "load",
    id,
    port: s.port,
    conns,
    pipeline,
    warmupMs: timing.warmupMs,
    durationMs: timing.durationMs,
    payload: PAYLOAD,
    connectTimeoutMs: 20_000,
    prime: !noPrime
  })
  await lg.waitFor((m) => m?.event === "measure-start" && m.id === id, total, "measure-start").finally(() => undefined)
  const acceptQueue = sampler.stop()
  const m0 = s.proc === undefined ? undefined : await s.proc.request<Mark>({ type: "mark" }, 10_000)
  const p0 = procCpuUs(s.pid)
  const b0 = machineBusyUs()
  const t0 = nowMs()
  await lg.waitFor((m) => m?.event === "measure-end" && m.id === id, total, "measure-end")
  const m1 = s.proc === undefined ? undefined : await s.proc.request<Mark>({ type: "mark" }, 10_000)
  const p1 = procCpuUs(s.pid)
  const b1 = machineBusyUs()
  const t1 = nowMs()
  const load = await lg.waitFor<LoadResult>((m) => m?.event === "load-result" && m.id === id, 10_000, "load-result")
  const tcp1 = tcpExt()
  // Bounded wait until the server has closed every connection of this run.
  const until = Date.now() + 5_000
  while (openSockets(s.port) > 0 && Date.now() < until) await sleep(25)
  const reqPerSec = load.windowMs > 0 ? (load.completed / load.windowMs) * 1000 : 0
  const procRate = (p1 - p0) / (t1 - t0) // µs of CPU per ms
  const procCpuUsPerReq = reqPerSec > 0 ? (procRate * 1000) / reqPerSec : NaN
  const cpuUsPerReq = m0 !== undefined && m1 !== undefined
    ? (m1.user + m1.system - m0.user - m0.system) / Math.max(1, m1.frames - m0.frames)
    : procCpuUsPerReq
  const tcp: Record<string, number> = {}
  for (const k of TCP_KEYS) tcp[k] = (tcp1[k] ?? 0) - (tcp0[k] ?? 0)
  return {
    row: s.row,
    conns,
    pipeline,
    rep,
    load,
    reqPerSec,
    cpuUsPerReq,
    procCpuUsPerReq,
    serverCpuPct: procRate / 10,
    otherCpuPct: Math.max(0, ((b1 - b0) / (t1 - t0)) / 10 - procRate / 10 - load.loadgenCpuPct),
    tcp,
    acceptQueue
  }
}

// ---- report helpers ----------------------------------------------------------------------------

const table = (title: string, header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()
  return [title, line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n")
}
const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "n/a"
const median = (xs: ReadonlyArray<number>): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  return s.length === 0
    ? NaN
    : s.length % 2 === 1
    ? s[(s.length - 1) / 2]!
    : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const maxOf = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => (b > a ? b : a), -Infinity)
/** Latency in µs, shown in ms above 10 ms. */
const lat = (
  us: number
): string => (!Number.isFinite(us) ? "n/a" : us >= 10_000 ? `${fmt(us / 1000, 0)} ms` : `${fmt(us / 1000, 2)} ms`)

// ---- the matrix ------------------------------------------------------------------------------------

const BUSY = 30

export const runMatrix = async (opts: MatrixOptions): Promise<void> => {
  const started = Date.now()
  const timing = opts.timing ?? (opts.quick ? { warmupMs: 200, durationMs: 500 } : { warmupMs: 300, durationMs: 1000 })
  const reps = opts.reps ?? (opts.quick ? 1 : 2)
  const allCells: ReadonlyArray<readonly [number, number]> = [[1, 1], [100, 1], [1000, 1], [1, 16], [100, 16], [
    1000,
    16
  ]]
  const cells = opts.cells ?? allCells
  const rows = opts.rows
  const lifetimeMs = opts.budgetMs + 60_000
  const servers: Array<MServer> = []
  const lgProc = new Proc("loadgen", {
    file: "bench/echo/loadgen.ts",
    core: opts.env.taskset ? LOADGEN_CORE : undefined,
    wantNofile: WANT_NOFILE,
    env: { BENCH_MAX_LIFETIME_MS: String(lifetimeMs) }
  })
  const cleanup = () => {
    lgProc.kill()
    for (const s of servers) kill(s)
  }
  process.on("exit", cleanup)
  const progress = (s: string) => process.stderr.write(`  … ${s} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`)

  await lgProc.waitFor((m) => m?.event === "ready", 60_000, "loadgen ready")
  // Started one after the other (each loads its modules on the server core).
  for (const row of ["hand-written", ...rows] as const) {
    servers.push(row === "cli" ? await startCli(opts, lifetimeMs) : await startControlled(row, opts, lifetimeMs))
  }
  const byRow = (row: Row) => servers.find((s) => s.row === row)!
  const hw = byRow("hand-written")
  const mismatches: Array<string> = []
  for (const s of servers) {
    const bad = await probe(s)
    if (bad !== undefined) mismatches.push(`${s.row}: ${bad}`)
  }
  progress(`servers up: ${servers.map((s) => `${s.row} :${s.port} pid ${s.pid}`).join(", ")}`)
  if (mismatches.length > 0) process.stderr.write(`PROTOCOL MISMATCH\n${mismatches.join("\n")}\n`)

  // Warm every server up once (JIT) with a short load, so the first cell measured is not its first load.
  if (!opts.noWarm) {
    for (const s of servers) await runOne(lgProc, s, 100, 16, -1, { warmupMs: 200, durationMs: 300 }, false)
    progress("warm-up done")
  }

  const runs: Array<Run> = []
  let repsDone = 0
  for (let rep = 0; rep < reps; rep++) {
    const t0 = Date.now()
    const order = rep % 2 === 0 ? rows : [...rows].reverse()
    for (const [conns, pipeline] of cells) {
      let before = await runOne(lgProc, hw, conns, pipeline, rep, timing, opts.noPrime)
      runs.push(before)
      const line: Array<string> = []
      for (const row of order) {
        const r = await runOne(lgProc, byRow(row), conns, pipeline, rep, timing, opts.noPrime)
        const after = await runOne(lgProc, hw, conns, pipeline, rep, timing, opts.noPrime)
        runs.push(r, after)
        line.push(`${row} ${fmt(r.cpuUsPerReq / Math.sqrt(before.cpuUsPerReq * after.cpuUsPerReq), 2)}`)
        before = after
      }
      progress(`rep ${rep + 1}: ${conns} x ${pipeline}: CPU ratio ${line.join(", ")}`)
    }
    repsDone++
    const left = opts.budgetMs - (Date.now() - started)
    if (rep + 1 < reps && left < (Date.now() - t0) * 1.15) {
      progress(`stopping after ${repsDone} repetition(s): another would pass the time budget`)
      break
    }
  }
  const tcpTotal: Record<string, number> = {}
  for (const r of runs) for (const k of TCP_KEYS) tcpTotal[k] = (tcpTotal[k] ?? 0) + (r.tcp[k] ?? 0)

  for (const s of servers) await stop(s)
  lgProc.send({ type: "exit" })
  await lgProc.waitExit(5_000)
  const cliStats = byRow("cli" as Row)?.output.filter((l) => l.startsWith("stopped")) ?? []

  // ---- report ----
  // Each row's run sits between two hand-written runs (the runs list is in time order).
  const paired: Array<{ run: Run; hwBefore: Run; hwAfter: Run }> = []
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i]!
    if (r.row === "hand-written") continue
    paired.push({ run: r, hwBefore: runs[i - 1]!, hwAfter: runs[i + 1]! })
  }
  const pairsOf = (row: Row, conns: number, pipeline: number) =>
    paired.filter((p) => p.run.row === row && p.run.conns === conns && p.run.pipeline === pipeline)
  const hwRuns = (conns: number, pipeline: number) =>
    runs.filter((r) => r.row === "hand-written" && r.conns === conns && r.pipeline === pipeline)
  const cellName = (c: readonly [number, number]) => `${c[0]}x${c[1]}`
  const gm = (a: number, b: number) => Math.sqrt(a * b)

  const out: Array<string> = []
  out.push(
    `effect-wire handler matrix (${opts.quick ? "quick" : "full"}${
      opts.noPrime ? ", NOT PRIMED: connection setup counted in latency" : ""
    }): ` +
      `line echo ${JSON.stringify(PAYLOAD + "\n")} on 127.0.0.1, ${Os.cpus().length} CPUs, node ${process.version}, ` +
      (opts.env.taskset ? "servers on core 0, load generator on core 1" : "NOT pinned") + "\n" +
      `cells: ${timing.warmupMs} ms warm-up + ${timing.durationMs} ms measured, after every connection has connected and had one request answered; ` +
      `${repsDone} repetition(s); each row's run between two hand-written runs (ratio to their geometric mean), median over repetitions`
  )
  if (mismatches.length > 0) out.push(`PROTOCOL MISMATCH: ${mismatches.join("; ")}`)
  else out.push(`protocol check: every server answered hello as expected`)

  // 1. CPU ratio per row per cell.
  const t1: Array<Array<string>> = []
  for (const row of rows) {
    const cellsOut = cells.map((c) => {
      const ps = pairsOf(row, c[0], c[1])
      const ratios = ps.map((p) => p.run.cpuUsPerReq / gm(p.hwBefore.cpuUsPerReq, p.hwAfter.cpuUsPerReq))
      const spread = ratios.length > 1 ? ` (${fmt(Math.min(...ratios), 2)}-${fmt(Math.max(...ratios), 2)})` : ""
      return `${fmt(median(ratios), 2)}x${spread}`
    })
    t1.push([row, ...cellsOut])
  }
  out.push(table(
    "\n1. Server CPU per request ÷ the hand-written server's (paired; median, range over repetitions in brackets)",
    ["row", ...cells.map(cellName)],
    t1
  ))
  // 1b. absolute µs/request.
  const t1b: Array<Array<string>> = []
  t1b.push(["hand-written", ...cells.map((c) => fmt(median(hwRuns(c[0], c[1]).map((r) => r.cpuUsPerReq)), 2))])
  for (const row of rows) {
    t1b.push([
      row,
      ...cells.map((c) => fmt(median(pairsOf(row, c[0], c[1]).map((p) => p.run.cpuUsPerReq)), 2))
    ])
  }
  out.push(table("\n   CPU µs per request (median of the runs)", ["row", ...cells.map(cellName)], t1b))
  // 1c. throughput ratio.
  const t1c: Array<Array<string>> = []
  for (const row of rows) {
    t1c.push([
      row,
      ...cells.map((c) =>
        fmt(
          median(pairsOf(row, c[0], c[1]).map((p) => p.run.reqPerSec / gm(p.hwBefore.reqPerSec, p.hwAfter.reqPerSec))),
          2
        )
      )
    ])
  }
  out.push(table(
    "\n   req/s ÷ hand-written (paired median); hand-written req/s: " +
      cells.map((c) => `${cellName(c)} ${fmt(median(hwRuns(c[0], c[1]).map((r) => r.reqPerSec)))}`).join(", "),
    ["row", ...cells.map(cellName)],
    t1c
  ))

  // 2. latency: p99 (median over runs) and max (worst run), per row.
  const t2: Array<Array<string>> = []
  const latRow = (row: Row, rs: (c: readonly [number, number]) => ReadonlyArray<Run>) => [
    row,
    ...cells.map((c) => {
      const xs = rs(c)
      return `${lat(median(xs.map((r) => r.load.latency.p99)))} / ${lat(maxOf(xs.map((r) => r.load.latency.max)))}`
    })
  ]
  t2.push(latRow("hand-written", (c) => hwRuns(c[0], c[1])))
  for (const row of rows) t2.push(latRow(row, (c) => pairsOf(row, c[0], c[1]).map((p) => p.run)))
  out.push(table(
    "\n2. Request latency over the measured window, p99 (median of the runs) / max (worst run)",
    ["row", ...cells.map(cellName)],
    t2
  ))

  // 3. Connection setup apart: connect() → connected, and the first request of each connection.
  const big = cells.filter((c) => c[0] >= 100)
  const t3: Array<Array<string>> = []
  const setupRow = (row: Row, rs: (c: readonly [number, number]) => ReadonlyArray<Run>) => [
    row,
    ...big.map((c) => {
      const xs = rs(c)
      return `${lat(maxOf(xs.map((r) => r.load.connect.max)))} / ${lat(maxOf(xs.map((r) => r.load.first.max)))} / ${
        fmt(maxOf(xs.map((r) => r.load.primeMs)))
      } ms / ` +
        `${fmt(maxOf(xs.map((r) => r.acceptQueue.peak)))} @ ${fmt(maxOf(xs.map((r) => r.acceptQueue.lastBusyMs)))} ms`
    })
  ]
  t3.push(setupRow("hand-written", (c) => hwRuns(c[0], c[1])))
  for (const row of rows) t3.push(setupRow(row, (c) => pairsOf(row, c[0], c[1]).map((p) => p.run)))
  out.push(table(
    "\n3. Connection setup, not in table 2 (worst run): connect() to connected, max / first request of a connection, max / all connected and answered once /\n" +
      "   accept queue (ss Recv-Q, sampled every ~5-10 ms until the window) peak @ last time non-empty, ms after the load started",
    ["row", ...big.map(cellName)],
    t3
  ))
  const slow = runs.filter((r) => r.load.over1s > 0 || r.load.over100ms > 0)
  out.push(
    `\nkernel TCP counters over all runs: ${
      TCP_KEYS.map((k) => `${k.replace("TcpExt.", "")} ${tcpTotal[k] ?? 0}`).join(", ")
    }`
  )
  out.push(
    slow.length === 0
      ? "no measured request took more than 100 ms"
      : `runs with requests over 100 ms: ${
        slow.map((r) =>
          `${r.row} ${r.conns}x${r.pipeline} rep ${r.rep + 1}: ${r.load.over100ms} (>1 s: ${r.load.over1s}), max ${
            lat(r.load.latency.max)
          } at ${fmt(r.load.maxAtMs)} ms into the window`
        ).join("; ")
      }`
  )
  const hwAll = runs.filter((r) => r.row === "hand-written" && r.rep >= 0)
  out.push(
    `CPU mechanisms agree? hand-written runs, /proc schedstat ÷ process.cpuUsage(): median ${
      fmt(median(hwAll.map((r) => r.procCpuUsPerReq / r.cpuUsPerReq)), 3)
    } ` +
      `(range ${fmt(Math.min(...hwAll.map((r) => r.procCpuUsPerReq / r.cpuUsPerReq)), 2)}-${
        fmt(Math.max(...hwAll.map((r) => r.procCpuUsPerReq / r.cpuUsPerReq)), 2)
      })`
  )
  const busyRuns = runs.filter((r) => r.rep >= 0 && r.otherCpuPct > BUSY)
  out.push(
    `machine: the rest of the machine (other processes, softirq) used a median ${
      fmt(median(runs.map((r) => r.otherCpuPct)))
    }% of a core during the windows; ` +
      `${busyRuns.length} of ${
        runs.filter((r) => r.rep >= 0).length
      } runs above ${BUSY}% (disturbed: their ratios and latencies are noisy); ` +
      `server CPU median ${fmt(median(runs.map((r) => r.serverCpuPct)))}%, load generator ${
        fmt(median(runs.map((r) => r.load.loadgenCpuPct)))
      }%`
  )
  const errs = runs.filter((r) => r.load.errors > 0 || r.load.connected < r.conns)
  if (errs.length > 0) {
    out.push(
      `runs with errors or missing connections: ${
        errs.map((r) => `${r.row} ${r.conns}x${r.pipeline}: errors ${r.load.errors}, connected ${r.load.connected}`)
          .join(
            "; "
          )
      }`
    )
  }
  if (cliStats.length > 0) out.push(`cli server on exit: ${cliStats.join(" ")}`)
  out.push(`\ntotal run time ${((Date.now() - started) / 1000).toFixed(1)} s`)
  console.log(out.join("\n"))
  if (opts.jsonFile !== undefined) {
    Fs.mkdirSync(Path.dirname(Path.resolve(opts.jsonFile)), { recursive: true })
    Fs.writeFileSync(opts.jsonFile, JSON.stringify({ env: opts.env, timing, repsDone, runs }, null, 2))
    console.log(`raw results written to ${opts.jsonFile}`)
  }
}
