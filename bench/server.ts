/**
 * Server benchmark: the chapter's line echo protocol (`msg\n` → `ECHO: msg\n`) served by
 * (a) effect-wire (`Server.make` + `Server.respond(Framing.lines(), …)`) and (b) the same
 * protocol hand-written on `node:net`, each in its own process, loaded by a third process
 * (`bench/echo/loadgen.ts`), all on 127.0.0.1. Prints one table per section with the ratios and
 * the goals of the issue beside them.
 *
 *   npx tsx bench/server.ts             full run (< 8 min; about 6 min on 2 cores, matrix up to 7x)
 *   npx tsx bench/server.ts --quick     reduced matrix (< 60 s)
 *   npx tsx bench/server.ts --json FILE also write every raw number as JSON
 *   npx tsx bench/server.ts --profile   CPU-profile both servers under load instead (.bench-out/prof)
 *   --prof-windows storm2000 --prof-storms 10
 *                                       with --profile: only these windows (100x1,100x16,storm2000),
 *                                       and this many storms in the storm window (default 3)
 *   --prof-tag before                   with --profile: prefix of the profiles' file names; with
 *                                       BENCH_EW_DIST=<tsc build> in the environment, that build of
 *                                       effect-wire is profiled (to compare two versions)
 *   npx tsx bench/server.ts --matrix [--quick] [--rows gen,cli] [--cells 1000x1] [--reps N]
 *                                       the handler matrix instead (bench/echo/matrix.ts): every
 *                                       handler shape and the CLI's `serve echo`, each against
 *                                       the hand-written server of the same run (< 8 min; quick < 2 min)
 *   --cell-ms 500,2000  with --matrix: warm-up and measured window of each cell
 *   --no-warm           with --matrix: diagnostic, no short load on each server before the matrix
 *   --trace             with --matrix: servers write when they accepted each connection (.scratch/trace-*.jsonl)
 *   --no-prime          with --matrix: diagnostic, connections send at once, setup counted in latency
 *   --only 1,3          run some sections only
 *   --cells 100x16      run some cells of the matrix only (conns x in flight, comma-separated)
 *   --reps N            run the matrix N times (default 3, quick 1)
 *   --ew-handler loop   diagnostic: effect-wire with another handler (loop = respond without Stream;
 *                       readline = conn.readLine loop; raw = read/write loop, storm and idle only;
 *                       inline-hw = the hand-written data handler as an inline reader of
 *                       effect-wire's driver: the driver's cost alone)
 *
 * Sections: 1. throughput and latency (1/10/100/1000 connections, 1 or 16 requests in flight per
 * connection); 2. server CPU per request (from the server's own `process.cpuUsage()`); 3. connect
 * storms; 4. server memory per idle connection.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type Environment, probeEnvironment, Proc, ROOT } from "./echo/procs.js"
import { buildForProfile, summarizeProfile } from "./echo/profile.js"
import type { HoldResult, LoadResult, Mark, Mem, StormResult } from "./echo/protocol.js"

// ---- options -----------------------------------------------------------------------------------

const argv = process.argv.slice(2)
const flag = (name: string): boolean => argv.includes(name)
const value = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
if (flag("--help") || flag("-h")) {
  console.log(
    "usage: npx tsx bench/server.ts [--quick] [--json FILE] [--only 1,2,3,4] [--profile] [--cells 100x16,…] [--reps N] [--ew-handler respond|text|gen|map|json|readline|loop|raw|inline-hw]"
  )
  console.log(
    "       npx tsx bench/server.ts --matrix [--quick] [--json FILE] [--rows respond,text,gen,map,json,readline,cli] [--cells 1000x1,…] [--reps N] [--cell-ms W,D] [--no-prime] [--no-warm] [--trace]"
  )
  process.exit(0)
}
const QUICK = flag("--quick")
const MATRIX = flag("--matrix")
const PROFILE = flag("--profile")
const JSON_FILE = value("--json")
/** `--profile` only: which windows to profile (default all three), and how many storms in `storm2000`. */
const PROFILE_WINDOWS = (value("--prof-windows") ?? "100x1,100x16,storm2000").split(",")
  .map((w) => w.trim()) as ReadonlyArray<"100x1" | "100x16" | "storm2000">
const PROFILE_STORMS = Math.max(1, Number(value("--prof-storms") ?? 3))
/** `--profile` only: a prefix for the profiles' file names. */
const PROFILE_TAG = value("--prof-tag") === undefined ? "" : `${value("--prof-tag")}-`
/** Diagnostic: run the effect-wire server with another handler (see bench/echo/server-effect-wire.ts). */
const EW_HANDLER = value("--ew-handler") ?? "respond"
/** `--only 1,3,4`: run only these sections (1 and 2 share their runs). */
const ONLY = new Set((value("--only") ?? "1,2,3,4").split(",").map((x) => x.trim()))
const RUN_LOAD = ONLY.has("1") || ONLY.has("2")
const RUN_STORM = ONLY.has("3")
const RUN_IDLE = ONLY.has("4")
/** `--cells 100x16,1x1`: only these cells of the matrix (to study one row). */
const CELLS = value("--cells")?.split(",").map((c) => c.trim().split("x").map(Number) as [number, number])
const REPS = value("--reps") === undefined ? undefined : Math.max(1, Number(value("--reps")))

const BASE_CONFIG = QUICK
  ? {
    conns: [1, 100, 1000],
    pipelines: [1, 16],
    warmupMs: 250,
    durationMs: 1000,
    reps: 1,
    storms: [200, 2000],
    stormReps: 1,
    idleConns: 10_000,
    budgetMs: 60_000
  }
  : {
    conns: [1, 10, 100, 1000],
    pipelines: [1, 16],
    // Shorter cells, more repetitions: this machine's speed drifts over seconds, and the two
    // servers of a cell run closer in time (and each gets more chances at a quiet window).
    warmupMs: 500,
    durationMs: 2000,
    reps: 7,
    storms: [200, 2000],
    stormReps: 3,
    idleConns: 10_000,
    budgetMs: 8 * 60_000
  }
const CONFIG = {
  ...BASE_CONFIG,
  budgetMs: MATRIX ? (QUICK ? 150_000 : 8 * 60_000) : BASE_CONFIG.budgetMs,
  conns: CELLS === undefined ? BASE_CONFIG.conns : [...new Set(CELLS.map((c) => c[0]))],
  pipelines: CELLS === undefined ? BASE_CONFIG.pipelines : [...new Set(CELLS.map((c) => c[1]))],
  reps: REPS ?? BASE_CONFIG.reps
}
const inMatrix = (conns: number, pipeline: number): boolean =>
  CELLS === undefined || CELLS.some((c) => c[0] === conns && c[1] === pipeline)
// The `json` handler reads JSON messages; the hand-written server echoes any line.
const PAYLOAD = EW_HANDLER === "json" ? `{"line":"msg"}` : "msg"
const SERVER_CORE = 0
const LOADGEN_CORE = 1
const GOALS = { cpuRatioMax: 1.25, throughputRatioMin: 0.8, memRatioMax: 1.5 }

type Kind = "effect-wire" | "hand-written"
const KINDS: ReadonlyArray<Kind> = ["effect-wire", "hand-written"]
const FILES: Record<Kind, string> = {
  "effect-wire": "bench/echo/server-effect-wire.ts",
  "hand-written": "bench/echo/server-handwritten.ts"
}

// ---- processes ---------------------------------------------------------------------------------

const started = Date.now()
const children = new Set<Proc>()
const env: Environment = probeEnvironment(Os.availableParallelism())
const WANT_NOFILE = 65_536
const lifetime = String(CONFIG.budgetMs + 60_000)

const cleanup = (): void => {
  for (const c of children) c.kill()
}
process.on("exit", cleanup)
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    cleanup()
    process.exit(130)
  })
}
// The whole run is bounded: past the budget (plus slack) everything is killed.
const watchdog = setTimeout(() => {
  console.error(`bench: over its time budget (${CONFIG.budgetMs / 1000} s + 30 s); stopping`)
  cleanup()
  process.exit(3)
}, CONFIG.budgetMs + 30_000)
watchdog.unref()

interface ServerChild {
  readonly kind: Kind
  readonly proc: Proc
  readonly port: number
  readonly nofile: string | undefined
}

const startServer = async (kind: Kind, extraEnv: Record<string, string> = {}): Promise<ServerChild> => {
  const proc = new Proc(kind, {
    file: FILES[kind],
    core: env.taskset ? SERVER_CORE : undefined,
    wantNofile: WANT_NOFILE,
    env: { BENCH_MAX_LIFETIME_MS: lifetime, BENCH_EW_HANDLER: EW_HANDLER, ...extraEnv }
  })
  children.add(proc)
  const ready = await proc.waitFor<{ port: number; nofile: string | undefined }>(
    (m) => m?.type === "ready",
    30_000,
    "ready"
  )
  return { kind, proc, port: ready.port, nofile: ready.nofile }
}

const stopServer = async (s: ServerChild): Promise<void> => {
  await s.proc.request({ type: "stop" }, 10_000, "stopped").catch(() => undefined)
  await s.proc.waitExit(5_000)
  children.delete(s.proc)
}

const startLoadgen = async (): Promise<{ proc: Proc; nofile: string | undefined }> => {
  const proc = new Proc("loadgen", {
    file: "bench/echo/loadgen.ts",
    core: env.taskset ? LOADGEN_CORE : undefined,
    wantNofile: WANT_NOFILE,
    env: { BENCH_MAX_LIFETIME_MS: lifetime }
  })
  children.add(proc)
  const ready = await proc.waitFor<{ nofile: string | undefined }>((m) => m?.event === "ready", 30_000, "ready")
  return { proc, nofile: ready.nofile }
}

const mark = (s: ServerChild, timeoutMs = 10_000): Promise<Mark> => s.proc.request<Mark>({ type: "mark" }, timeoutMs)
const mem = (s: ServerChild): Promise<Mem> => s.proc.request<Mem>({ type: "mem" }, 20_000)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Waits (bounded) until the server has no connection open, so its closing work is not billed to the next cell. */
const waitIdle = async (s: ServerChild, maxMs = 5_000): Promise<number> => {
  const until = Date.now() + maxMs
  for (;;) {
    // A server busy closing thousands of connections may answer late: wait up to the deadline.
    const m = await mark(s, Math.max(10_000, until - Date.now() + 1_000))
    if (m.active === 0 || Date.now() >= until) return m.active
    await sleep(50)
  }
}

let loadId = 1_000

/** Busy and softirq time of the whole machine (all CPUs, /proc/stat), in microseconds; NaN if unreadable. */
const machineStat = (): { readonly busy: number; readonly softirq: number } => {
  try {
    const line = Fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal; USER_HZ is 100 on Linux
    const us = (ticks: number) => (ticks * 1e6) / 100
    return { busy: us(f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!), softirq: us(f[6]!) }
  } catch {
    return { busy: NaN, softirq: NaN }
  }
}

// ---- section 1 + 2: closed-loop load -----------------------------------------------------------

interface Cell {
  readonly kind: Kind
  readonly conns: number
  readonly pipeline: number
  readonly load: LoadResult
  readonly reqPerSec: number
  readonly serverFrames: number
  readonly serverCpuUs: number
  readonly serverWindowMs: number
  readonly cpuUsPerReq: number
  readonly serverCpuPct: number
  /**
   * Machine busy time outside the server and the load generator, in % of one core: softirq
   * (loopback TCP delivery, charged to no process) and everything else (other processes).
   */
  readonly softirqPct: number
  readonly otherCpuPct: number
  readonly rep: number
}

const runCell = async (
  lg: Proc,
  s: ServerChild,
  conns: number,
  pipeline: number,
  rep = 0,
  timing: { readonly warmupMs: number; readonly durationMs: number } = CONFIG
): Promise<Cell> => {
  const id = loadId++
  const total = timing.warmupMs + timing.durationMs + 40_000
  lg.send({
    type: "load",
    id,
    port: s.port,
    conns,
    pipeline,
    warmupMs: timing.warmupMs,
    durationMs: timing.durationMs,
    payload: PAYLOAD,
    connectTimeoutMs: 20_000
  })
  await lg.waitFor((m) => m?.event === "measure-start" && m.id === id, total, "measure-start")
  const m0 = await mark(s)
  const busy0 = machineStat()
  await lg.waitFor((m) => m?.event === "measure-end" && m.id === id, total, "measure-end")
  const busy1 = machineStat()
  const m1 = await mark(s)
  const load = await lg.waitFor<LoadResult>((m) => m?.event === "load-result" && m.id === id, 10_000, "load-result")
  await waitIdle(s)
  const frames = m1.frames - m0.frames
  const cpu = m1.user + m1.system - m0.user - m0.system
  const windowMs = m1.atMs - m0.atMs
  return {
    kind: s.kind,
    conns,
    pipeline,
    load,
    reqPerSec: load.windowMs > 0 ? (load.completed / load.windowMs) * 1000 : 0,
    serverFrames: frames,
    serverCpuUs: cpu,
    serverWindowMs: windowMs,
    cpuUsPerReq: frames > 0 ? cpu / frames : NaN,
    serverCpuPct: windowMs > 0 ? (cpu / 1000 / windowMs) * 100 : NaN,
    softirqPct: ((busy1.softirq - busy0.softirq) / 1000 / load.windowMs) * 100,
    otherCpuPct: Math.max(
      0,
      ((busy1.busy - busy0.busy - (busy1.softirq - busy0.softirq)) / 1000 / load.windowMs) * 100 -
        (cpu / 1000 / windowMs) * 100 - load.loadgenCpuPct
    ),
    rep
  }
}

// ---- section 3: connect storms -----------------------------------------------------------------

interface Storm {
  readonly kind: Kind
  readonly clients: number
  readonly runs: ReadonlyArray<StormResult>
  readonly cpuUsPerConn: ReadonlyArray<number>
}

const runStorm = async (lg: Proc, s: ServerChild, clients: number): Promise<{ r: StormResult; cpu: number }> => {
  const id = loadId++
  const m0 = await mark(s)
  lg.send({ type: "storm", id, port: s.port, clients, timeoutMs: 20_000, payload: PAYLOAD })
  const r = await lg.waitFor<StormResult>((m) => m?.event === "storm-result" && m.id === id, 30_000, "storm-result")
  await waitIdle(s)
  const m1 = await mark(s)
  return { r, cpu: (m1.user + m1.system - m0.user - m0.system) / clients }
}

// ---- section 4: idle connections ---------------------------------------------------------------

interface Idle {
  readonly kind: Kind
  readonly target: number
  readonly held: HoldResult
  readonly before: Mem
  readonly after: Mem
  /** After the peers closed (full runs only). */
  readonly released: Mem | undefined
  /** How long until the server had closed every connection after the peers closed theirs (full runs only). */
  readonly closeMs: number
  readonly closeLeft: number
  readonly rssPerConn: number
  readonly heapPerConn: number
  readonly externalPerConn: number
}

const runIdle = async (lg: Proc, s: ServerChild, target: number): Promise<Idle> => {
  const kind = s.kind
  try {
    // A short load first, so code compiled and pools filled on first use are not billed per connection.
    await runCell(lg, s, 100, 1, 0, { warmupMs: 200, durationMs: 500 }).catch(() => undefined)
    await waitIdle(s)
    const before = await mem(s)
    const id = loadId++
    lg.send({
      type: "hold",
      id,
      port: s.port,
      conns: target,
      concurrency: 1000,
      timeoutMs: 60_000,
      holdMaxMs: 60_000,
      payload: PAYLOAD
    })
    const held = await lg.waitFor<HoldResult>((m) => m?.event === "held" && m.id === id, 70_000, "held")
    await sleep(500)
    const after = await mem(s)
    let released: Mem | undefined = undefined
    let closeMs = NaN
    let closeLeft = 0
    if (QUICK) {
      // Quick runs skip watching the server close every connection: the server is killed first.
      s.proc.kill()
      lg.send({ type: "release", id })
      await lg.waitFor((m) => m?.event === "released" && m.id === id, 10_000, "released")
    } else {
      const t0 = Date.now()
      lg.send({ type: "release", id })
      await lg.waitFor((m) => m?.event === "released" && m.id === id, 10_000, "released")
      const left = await waitIdle(s, 45_000)
      closeMs = Date.now() - t0
      closeLeft = left
      released = await mem(s).catch(() => undefined)
    }
    const n = Math.max(1, after.active)
    return {
      kind,
      target,
      held,
      before,
      after,
      released,
      closeMs,
      closeLeft,
      rssPerConn: (after.rss - before.rss) / n,
      heapPerConn: (after.heapUsed - before.heapUsed) / n,
      externalPerConn: (after.external - before.external) / n
    }
  } finally {
    if (s.proc.exited || QUICK) {
      s.proc.kill()
      children.delete(s.proc)
    } else await stopServer(s)
  }
}

// ---- tables ------------------------------------------------------------------------------------

const table = (title: string, header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()
  const rule = widths.map((w) => "-".repeat(w)).join("  ")
  return [title, line(header), rule, ...rows.map(line)].join("\n")
}

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "n/a"
const ratio = (a: number, b: number): number => (b > 0 ? a / b : NaN)
const check = (ok: boolean): string => (ok ? "ok" : "MISS")
const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0
    ? NaN
    : s.length % 2 === 1
    ? s[(s.length - 1) / 2]!
    : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

// ---- main --------------------------------------------------------------------------------------

const header = (lgNofile: string | undefined, serverNofile: string | undefined): string => {
  const lines = [
    `effect-wire server bench (${
      QUICK ? "quick" : "full"
    }): line echo "${PAYLOAD}\\n" -> "ECHO: ${PAYLOAD}\\n" on 127.0.0.1`,
    `node ${env.node}, ${env.cpus} CPUs (${Os.cpus()[0]?.model ?? "?"}), ` +
    (env.taskset
      ? `server pinned to core ${SERVER_CORE}, load generator to core ${LOADGEN_CORE} (taskset)`
      : "NOT pinned (taskset missing or fewer than 2 CPUs): server and load generator share cores"),
    `ulimit -n: bench ${env.nofileSoft} (hard ${env.nofileHard}); children got server ${serverNofile}, load generator ${lgNofile}` +
    (env.nofileHard < WANT_NOFILE ? ` (asked ${WANT_NOFILE}: capped by the hard limit)` : ""),
    (EW_HANDLER === "respond"
      ? ""
      : `DIAGNOSTIC RUN: effect-wire serves with the "${EW_HANDLER}" handler, not Server.respond\n`) +
    `cells: ${CONFIG.warmupMs} ms warm-up + ${CONFIG.durationMs} ms measured, matrix run up to ${CONFIG.reps}x (best kept); ratios are effect-wire / hand-written`
  ]
  return lines.join("\n")
}

/**
 * `--profile`: CPU profiles (V8 sampling, via the inspector in the server child, main thread
 * only) of each server over three windows: 100 connections x 1 in flight, 100 x 16, and a 2,000
 * client connect storm. effect-wire runs from a tsc build of `src/` (in .bench-out/dist) so the
 * profile names real functions and lines.
 */
const profileRun = async (): Promise<void> => {
  const outDir = Path.join(ROOT, ".bench-out")
  const dir = Path.join(outDir, "prof")
  Fs.mkdirSync(dir, { recursive: true })
  // BENCH_EW_DIST: profile that build of effect-wire (e.g. an older one, to compare) instead.
  const given = process.env["BENCH_EW_DIST"]
  const distDir = given ?? Path.join(outDir, "dist")
  const tsc = given !== undefined ? undefined : buildForProfile(distDir)
  const built = Fs.existsSync(Path.join(distDir, "src/server/Server.js"))
  if (!built) console.log(`tsc build of src/ failed; profiling the tsx-run sources instead\n${tsc ?? distDir}`)
  const lg = await startLoadgen()
  console.log(header(lg.nofile, "?"))
  const out: Record<string, unknown> = {}
  for (const kind of KINDS) {
    const s = await startServer(kind, kind === "effect-wire" && built ? { BENCH_EW_DIST: distDir } : {})
    // Warm up (JIT) before the first window.
    await runCell(lg.proc, s, 100, 1)
    const windows: Record<string, unknown> = {}
    for (const w of PROFILE_WINDOWS) {
      const file = Path.join(dir, `${PROFILE_TAG}${kind}-${w}.cpuprofile`)
      await s.proc.request({ type: "prof-start" }, 10_000)
      let label: string
      if (w === "storm2000") {
        const reps: Array<StormResult> = []
        const cpu: Array<number> = []
        for (let i = 0; i < PROFILE_STORMS; i++) {
          const r = await runStorm(lg.proc, s, 2000)
          reps.push(r.r)
          cpu.push(r.cpu)
        }
        label = `${kind} connect storm 2000 x${PROFILE_STORMS}: ok ${reps.map((r) => r.ok).join("/")}, ` +
          `${reps.map((r) => fmt(r.totalMs)).join("/")} ms, ${cpu.map((c) => fmt(c, 1)).join("/")} µs CPU/conn`
      } else {
        const c = await runCell(lg.proc, s, 100, w === "100x1" ? 1 : 16)
        label = `${kind} ${w}: ${fmt(c.reqPerSec)} req/s, ${fmt(c.cpuUsPerReq, 2)} µs CPU/request, server CPU ${
          fmt(c.serverCpuPct)
        }%`
      }
      const stopped = await s.proc.request<{ error?: string }>({ type: "prof-stop", file }, 60_000)
      console.log(`\n${label}`)
      if (stopped.error !== undefined) {
        console.log(`  profile failed: ${stopped.error}`)
        continue
      }
      const summary = summarizeProfile(JSON.parse(Fs.readFileSync(file, "utf8")), ROOT, distDir, 25)
      windows[w] = { label, byOrigin: summary.byOrigin, rows: summary.rows.slice(0, 100) }
      console.log(`profile ${Path.relative(ROOT, file)} (load included; idle excluded)`)
      console.log(summary.text)
    }
    out[kind] = windows
    await stopServer(s)
  }
  lg.proc.send({ type: "exit" })
  await lg.proc.waitExit(5_000)
  if (JSON_FILE !== undefined) {
    Fs.mkdirSync(Path.dirname(Path.resolve(JSON_FILE)), { recursive: true })
    Fs.writeFileSync(JSON_FILE, JSON.stringify(out, null, 2))
  }
}

const main = async (): Promise<void> => {
  if (PROFILE) return profileRun()
  if (MATRIX) {
    const { EXTRA_ROWS, ROWS, runMatrix } = await import("./echo/matrix.js")
    const rows = value("--rows")?.split(",").map((r) => r.trim()) ?? ROWS
    const unknown = rows.filter((r) => ![...ROWS, ...EXTRA_ROWS].includes(r as typeof ROWS[number]))
    if (unknown.length > 0) throw new Error(`--rows: unknown ${unknown.join(", ")} (rows: ${ROWS.join(", ")})`)
    return runMatrix({
      quick: QUICK,
      env,
      rows: rows as typeof ROWS,
      cells: CELLS,
      reps: REPS,
      jsonFile: JSON_FILE,
      noPrime: flag("--no-prime"),
      noWarm: flag("--no-warm"),
      trace: flag("--trace"),
      budgetMs: CONFIG.budgetMs,
      timing: value("--cell-ms") === undefined
        ? undefined
        : { warmupMs: Number(value("--cell-ms")!.split(",")[0]), durationMs: Number(value("--cell-ms")!.split(",")[1]) }
    })
  }
  const [lg, ew, hw] = await Promise.all([startLoadgen(), startServer("effect-wire"), startServer("hand-written")])
  const servers: Record<Kind, ServerChild> = { "effect-wire": ew, "hand-written": hw }
  console.log(header(lg.nofile, servers["effect-wire"].nofile))
  const limit = Math.min(Number(lg.nofile ?? env.nofileSoft), Number(servers["effect-wire"].nofile ?? env.nofileSoft))
  const progress = (s: string) => process.stderr.write(`  … ${s} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`)

  // 1 + 2: every cell runs both servers back to back, alternating which goes first; the matrix
  // runs `reps` times (a later repetition only if the time budget allows it).
  const cells: Array<Cell> = []
  let flip = false
  let repsDone = 0
  for (let rep = 0; rep < (RUN_LOAD ? CONFIG.reps : 0); rep++) {
    const t0 = Date.now()
    for (const pipeline of CONFIG.pipelines) {
      for (const conns of CONFIG.conns) {
        if (!inMatrix(conns, pipeline)) continue
        const order = flip ? [...KINDS].reverse() : KINDS
        flip = !flip
        const pair: Partial<Record<Kind, Cell>> = {}
        for (const kind of order) {
          const c = await runCell(lg.proc, servers[kind], conns, pipeline, rep)
          cells.push(c)
          pair[kind] = c
        }
        const [a, b] = [pair["effect-wire"]!, pair["hand-written"]!]
        progress(
          `rep ${rep + 1}: ${conns} conns x ${pipeline} in flight: req/s ratio ${
            fmt(ratio(a.reqPerSec, b.reqPerSec), 2)
          }, ` +
            `CPU µs/req ${fmt(a.cpuUsPerReq, 2)}/${fmt(b.cpuUsPerReq, 2)} = ${
              fmt(ratio(a.cpuUsPerReq, b.cpuUsPerReq), 2)
            }`
        )
      }
    }
    repsDone++
    // The storms and idle sections need about a third of the budget.
    const left = CONFIG.budgetMs * 0.7 - (Date.now() - started)
    if (left < (Date.now() - t0) * 1.1) break
  }
  // Of the repetitions, each table keeps the best (highest req/s, lowest CPU per request).
  const best = (kind: Kind, conns: number, pipeline: number, by: (c: Cell) => number) =>
    cells
      .filter((c) => c.kind === kind && c.conns === conns && c.pipeline === pipeline)
      .reduce((a, b) => (by(b) > by(a) ? b : a))
  const cell = (kind: Kind, conns: number, pipeline: number) => best(kind, conns, pipeline, (c) => c.reqPerSec)
  const cellCpu = (kind: Kind, conns: number, pipeline: number) => best(kind, conns, pipeline, (c) => -c.cpuUsPerReq)

  // 3: connect storms.
  const storms: Array<Storm> = []
  for (const clients of RUN_STORM ? CONFIG.storms : []) {
    const acc: Record<Kind, { runs: Array<StormResult>; cpu: Array<number> }> = {
      "effect-wire": { runs: [], cpu: [] },
      "hand-written": { runs: [], cpu: [] }
    }
    for (let rep = 0; rep < CONFIG.stormReps; rep++) {
      const order = rep % 2 === 1 ? [...KINDS].reverse() : KINDS
      for (const kind of order) {
        const { r, cpu } = await runStorm(lg.proc, servers[kind], clients)
        acc[kind].runs.push(r)
        acc[kind].cpu.push(cpu)
      }
    }
    for (const kind of KINDS) storms.push({ kind, clients, runs: acc[kind].runs, cpuUsPerConn: acc[kind].cpu })
    progress(`connect storm ${clients}`)
  }
  for (const kind of KINDS) await stopServer(servers[kind])

  // 4: idle connections, on fresh server processes.
  const idleTarget = Math.min(CONFIG.idleConns, Math.max(0, limit - 200))
  const idle: Array<Idle> = []
  // Fresh server processes (started together; measured one after the other).
  const fresh = RUN_IDLE ? await Promise.all(KINDS.map((k) => startServer(k))) : []
  for (const s of fresh) {
    idle.push(await runIdle(lg.proc, s, idleTarget))
    progress(`${idleTarget} idle connections on ${s.kind}`)
  }
  lg.proc.send({ type: "exit" })
  await lg.proc.waitExit(5_000)

  // ---- report ----
  const BUSY = 30
  const notes = (a: Cell, b: Cell, conns: number): string => {
    const n: Array<string> = []
    if (a.load.errors + b.load.errors > 0) n.push(`errors ${a.load.errors}/${b.load.errors}`)
    if (a.load.connected < conns || b.load.connected < conns) {
      n.push(`connected ${a.load.connected}/${b.load.connected}`)
    }
    if (a.load.primed < conns || b.load.primed < conns) {
      n.push(`answered before the load ${a.load.primed}/${b.load.primed}`)
    }
    if (Math.max(a.load.primeMs, b.load.primeMs) > 500) n.push(`setup ${fmt(a.load.primeMs)}/${fmt(b.load.primeMs)} ms`)
    if (Math.max(a.otherCpuPct, b.otherCpuPct) > BUSY) {
      n.push(`busy machine: other ${fmt(a.otherCpuPct)}/${fmt(b.otherCpuPct)}%`)
    }
    return n.join("; ")
  }
  const out: Array<string> = []
  const t1: Array<Array<string>> = []
  const t2: Array<Array<string>> = []
  for (const pipeline of RUN_LOAD ? CONFIG.pipelines : []) {
    for (const conns of CONFIG.conns) {
      if (!inMatrix(conns, pipeline)) continue
      const a = cell("effect-wire", conns, pipeline)
      const b = cell("hand-written", conns, pipeline)
      const r = ratio(a.reqPerSec, b.reqPerSec)
      // The runs of one repetition ran back to back: the median of their ratios shows the spread.
      const paired = (by: (c: Cell) => number) => {
        const mine = cells.filter((c) => c.conns === conns && c.pipeline === pipeline)
        return median(
          mine.filter((c) => c.kind === "effect-wire").flatMap((x) => {
            const y = mine.find((c) => c.kind === "hand-written" && c.rep === x.rep)
            return y === undefined ? [] : [ratio(by(x), by(y))]
          })
        )
      }
      t1.push([
        String(conns),
        String(pipeline),
        fmt(a.reqPerSec),
        fmt(b.reqPerSec),
        fmt(r, 2),
        check(r >= GOALS.throughputRatioMin),
        fmt(paired((c) => c.reqPerSec), 2),
        fmt(a.load.latency.p50),
        fmt(b.load.latency.p50),
        fmt(a.load.latency.p99),
        fmt(b.load.latency.p99),
        fmt(ratio(a.load.latency.p99, b.load.latency.p99), 2),
        notes(a, b, conns)
      ])
      const ac = cellCpu("effect-wire", conns, pipeline)
      const bc = cellCpu("hand-written", conns, pipeline)
      const c = ratio(ac.cpuUsPerReq, bc.cpuUsPerReq)
      t2.push([
        String(conns),
        String(pipeline),
        fmt(ac.cpuUsPerReq, 2),
        fmt(bc.cpuUsPerReq, 2),
        fmt(c, 2),
        check(c <= GOALS.cpuRatioMax),
        fmt(paired((c) => c.cpuUsPerReq), 2),
        `${fmt(ac.serverCpuPct)}/${fmt(bc.serverCpuPct)}`,
        `${fmt(ac.load.loadgenCpuPct)}/${fmt(bc.load.loadgenCpuPct)}`,
        `${fmt(ac.softirqPct)}/${fmt(bc.softirqPct)}`,
        `${fmt(ac.otherCpuPct)}/${fmt(bc.otherCpuPct)}`,
        `${fmt(ratio(ac.load.completed, ac.load.reads), 1)}/${fmt(ratio(bc.load.completed, bc.load.reads), 1)}`,
        Math.max(ac.otherCpuPct, bc.otherCpuPct) > BUSY ? "busy machine" : ""
      ])
    }
  }
  if (RUN_LOAD) {
    out.push(
      `\nmatrix ran ${repsDone}x; each row shows the best run of each server (req/s for 1, CPU/request for 2); ` +
        `"paired" is the median ratio of the two servers' runs of one repetition (run back to back). ` +
        `Each cell first connects every client and has one request answered on each, then warms up, then measures.\n` +
        `"busy machine": other processes used more than ${BUSY}% of a core during that run, so its req/s and latency are disturbed.`
    )
    out.push(table(
      `\n1. Throughput and latency (goal: throughput ratio >= ${GOALS.throughputRatioMin} in every row; latency in µs, from the load generator)`,
      [
        "conns",
        "in flight",
        "ew req/s",
        "hw req/s",
        "ratio",
        "goal",
        "paired",
        "ew p50",
        "hw p50",
        "ew p99",
        "hw p99",
        "p99 ratio",
        "notes"
      ],
      t1
    ))
    out.push(table(
      `\n2. Server CPU per request (user+system of the server process over the window / requests it answered; goal: ratio <= ${GOALS.cpuRatioMax})\n` +
        "   CPU% columns are ew/hw in % of one core during the window: softirq = loopback delivery charged to no process, other = the\n" +
        "   rest of the machine (other processes); replies/read = replies per client read (the server's write batching)",
      [
        "conns",
        "in flight",
        "ew µs/req",
        "hw µs/req",
        "ratio",
        "goal",
        "paired",
        "server CPU%",
        "loadgen CPU%",
        "softirq%",
        "other%",
        "replies/read",
        "notes"
      ],
      t2
    ))
  }
  const t3: Array<Array<string>> = []
  for (const clients of RUN_STORM ? CONFIG.storms : []) {
    const a = storms.find((s) => s.kind === "effect-wire" && s.clients === clients)!
    const b = storms.find((s) => s.kind === "hand-written" && s.clients === clients)!
    const okA = a.runs.map((r) => r.ok).reduce((x, y) => x + y, 0)
    const okB = b.runs.map((r) => r.ok).reduce((x, y) => x + y, 0)
    const msA = median(a.runs.map((r) => r.totalMs))
    const msB = median(b.runs.map((r) => r.totalMs))
    const cA = median(a.cpuUsPerConn)
    const cB = median(b.cpuUsPerConn)
    t3.push([
      String(clients),
      String(a.runs.length),
      `${okA}/${clients * a.runs.length}`,
      `${okB}/${clients * b.runs.length}`,
      fmt(msA, 1),
      fmt(msB, 1),
      fmt(ratio(msA, msB), 2),
      fmt(median(a.runs.map((r) => r.latency.p99 / 1000)), 1),
      fmt(median(b.runs.map((r) => r.latency.p99 / 1000)), 1),
      fmt(cA, 1),
      fmt(cB, 1),
      fmt(ratio(cA, cB), 2)
    ])
  }
  if (RUN_STORM) {
    out.push(table(
      "\n3. Connect storm (all clients connect at once, one request each; times are medians over runs, in ms; CPU = server µs per client)",
      [
        "clients",
        "runs",
        "ew ok",
        "hw ok",
        "ew total",
        "hw total",
        "ratio",
        "ew p99",
        "hw p99",
        "ew CPU/conn",
        "hw CPU/conn",
        "ratio"
      ],
      t3
    ))
  }
  const ia = idle.find((i) => i.kind === "effect-wire")
  const ib = idle.find((i) => i.kind === "hand-written")
  if (ia !== undefined && ib !== undefined) {
    const mr = ratio(ia.rssPerConn, ib.rssPerConn)
    const kib = (b: number) => fmt(b / 1024, 2)
    out.push(table(
      `\n4. Idle connections (server memory growth per held connection, KiB, after GC; goal: RSS ratio <= ${GOALS.memRatioMax})`,
      ["held", "metric", "effect-wire", "hand-written", "ratio", "goal"],
      [
        [
          `${ia.after.active}/${ib.after.active}`,
          "RSS / conn",
          kib(ia.rssPerConn),
          kib(ib.rssPerConn),
          fmt(mr, 2),
          check(mr <= GOALS.memRatioMax)
        ],
        [
          "",
          "JS heap / conn",
          kib(ia.heapPerConn),
          kib(ib.heapPerConn),
          fmt(ratio(ia.heapPerConn, ib.heapPerConn), 2),
          ""
        ],
        ["", "external / conn", kib(ia.externalPerConn), kib(ib.externalPerConn), "", ""],
        ["", "RSS before (MiB)", fmt(ia.before.rss / 2 ** 20, 1), fmt(ib.before.rss / 2 ** 20, 1), "", ""],
        ["", "RSS held (MiB)", fmt(ia.after.rss / 2 ** 20, 1), fmt(ib.after.rss / 2 ** 20, 1), "", ""],
        [
          "",
          "RSS released (MiB)",
          fmt((ia.released?.rss ?? NaN) / 2 ** 20, 1),
          fmt((ib.released?.rss ?? NaN) / 2 ** 20, 1),
          "",
          ""
        ],
        ["", "connect+reply (ms)", fmt(ia.held.ms), fmt(ib.held.ms), fmt(ratio(ia.held.ms, ib.held.ms), 2), ""],
        [
          "",
          "all closed after (ms)",
          fmt(ia.closeMs) + (ia.closeLeft > 0 ? ` (${ia.closeLeft} left)` : ""),
          fmt(ib.closeMs) + (ib.closeLeft > 0 ? ` (${ib.closeLeft} left)` : ""),
          fmt(ratio(ia.closeMs, ib.closeMs), 2),
          ""
        ]
      ]
    ))
    if (idleTarget < CONFIG.idleConns) {
      out.push(`   note: asked ${CONFIG.idleConns} idle connections, ulimit -n (${limit}) allows only ${idleTarget}`)
    }
    if (ia.held.failed + ib.held.failed > 0 || ia.held.timedOut || ib.held.timedOut) {
      out.push(
        `   note: idle connects failed ${ia.held.failed}/${ib.held.failed}, timed out ${ia.held.timedOut}/${ib.held.timedOut}`
      )
    }
  }
  const elapsed = (Date.now() - started) / 1000
  out.push(`\ntotal run time ${elapsed.toFixed(1)} s`)
  console.log(out.join("\n"))

  if (JSON_FILE !== undefined) {
    Fs.mkdirSync(Path.dirname(Path.resolve(JSON_FILE)), { recursive: true })
    Fs.writeFileSync(
      JSON_FILE,
      JSON.stringify(
        { env, config: CONFIG, goals: GOALS, elapsedSeconds: elapsed, repsDone, cells, storms, idle },
        null,
        2
      )
    )
    console.log(`raw results written to ${JSON_FILE}`)
  }
}

main().then(
  () => {
    cleanup()
    process.exit(0)
  },
  (e) => {
    console.error("bench failed:", e)
    cleanup()
    process.exit(1)
  }
)
