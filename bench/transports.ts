/**
 * Transport bench (issue 12): the line echo (`msg\n` → `ECHO: msg\n`) over TLS and over a Unix
 * domain socket, effect-wire (`Server.make({ tls } | { path })` + `Server.respond(Framing.lines(),
 * …)`, bench/echo/server-ew-transport.ts) against the same protocol hand-written on `node:tls` /
 * `node:net` on a path (bench/echo/server-hw-transport.ts), each server in its own process pinned
 * to core 0, the load generator (bench/echo/loadgen.ts, speaking TLS with the bench's throw-away
 * CA, or connecting by path) on core 1. Certificates: `makeCerts()` of test/connection/certs.ts
 * (openssl CLI; ECDSA P-256, TLS 1.3 negotiated), removed at the end.
 *
 *   npx tsx bench/transports.ts            full run (about 3 min on 2 cores)   = npm run bench:transports
 *   npx tsx bench/transports.ts --quick    one repetition, shorter cells (< 1 min)
 *   --reps N            repetitions of every cell (default 5, quick 1)
 *   --cell-ms W,D       warm-up and measured window of a load cell (default 500,1500; quick 250,750)
 *   --handshakes N,C    the handshake cell: N fresh connections, C at a time (default 2000,50; quick 500,50)
 *   --hs-chunks K       the N connections of each server in K parts, ABBA order (default 4)
 *   --only load,hs      run some parts only (load = 100 conns x depth 1 and 16; hs = handshake rate)
 *   --transports tls,unix[,tcp]   tcp: plain TCP on 127.0.0.1 too, as a reference (not in the default run)
 *   --hw-variant ewopts diagnostic: the hand-written TLS server with effect-wire's TLS listener set-up
 *                       (see bench/echo/server-hw-transport.ts)
 *   --json FILE         also write every raw number as JSON
 *   --profile           instead: CPU profiles of both TLS servers (effect-wire from a tsc build of
 *                       src/) over a 100 x 16 window and the handshake cell (.bench-out/prof-tls);
 *                       with --transports unix: of the Unix socket servers (.bench-out/prof-unix)
 *
 * Cells: 100 connections x 1 and x 16 requests in flight (closed loop; every connection is
 * connected, handshaken and answered once before the warm-up), per transport; the handshake
 * cell (TLS; the same run over the Unix socket gives its connection rate): N connections, C at a
 * time, each connecting (full TLS handshake, certificate verified, no session reuse), sending one
 * request, reading its reply and closing; run in 4 parts per server, alternating ABBA (ew hw hw
 * ew ew hw hw ew, or the reverse), summed. Server CPU is the server's own `process.cpuUsage()`
 * between two marks; per request: over the measured window / requests it answered; per
 * handshake: from before the first connect until the server has closed the last connection /
 * connections. Both servers of a cell run back to back (the order alternates), and "paired" is
 * the median over the repetitions of those back-to-back ratios, which the goals are judged on.
 * Goals (issue 12): CPU per request <= 1.2x the hand-written TLS server's, CPU per handshake
 * <= 1.1x, Unix socket CPU per request <= 1.2x the hand-written node:net one.
 */
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { makeCerts, removeCerts } from "../test/connection/certs.js"
import { type Environment, probeEnvironment, Proc, ROOT } from "./echo/procs.js"
import { buildForProfile, summarizeProfile } from "./echo/profile.js"
import type { HandshakesResult, LoadResult, Mark, Target } from "./echo/protocol.js"

// ---- options -----------------------------------------------------------------------------------

const argv = process.argv.slice(2)
const flag = (name: string): boolean => argv.includes(name)
const value = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
if (flag("--help") || flag("-h")) {
  console.log(
    "usage: npx tsx bench/transports.ts [--quick] [--reps N] [--cell-ms W,D] [--handshakes N,C] [--only load,hs] [--transports tls,unix] [--json FILE] [--profile]"
  )
  process.exit(0)
}
const QUICK = flag("--quick")
const PROFILE = flag("--profile")
const JSON_FILE = value("--json")
const REPS = Math.max(1, Number(value("--reps") ?? (QUICK ? 1 : 5)))
const [WARMUP_MS, DURATION_MS] = (value("--cell-ms") ?? (QUICK ? "250,750" : "500,1500")).split(",").map(Number) as [
  number,
  number
]
const [HS_COUNT, HS_CONCURRENCY] = (value("--handshakes") ?? (QUICK ? "500,50" : "2000,50")).split(",").map(Number) as [
  number,
  number
]
/** The handshake cell's connections go in this many alternating parts per server (ABBA order). */
const HS_CHUNKS = Math.max(1, Number(value("--hs-chunks") ?? 4))
const ONLY = new Set((value("--only") ?? "load,hs").split(",").map((s) => s.trim()))
type Transport = "tls" | "unix" | "tcp"
const TRANSPORTS = (value("--transports") ?? "tls,unix").split(",").map((s) => s.trim()) as ReadonlyArray<Transport>
for (const t of TRANSPORTS) {
  if (t !== "tls" && t !== "unix" && t !== "tcp") throw new Error(`--transports: unknown ${t}`)
}
const LABEL: Record<Transport, string> = { tls: "TLS", unix: "Unix", tcp: "TCP" }
const CONNS = 100
const DEPTHS = [1, 16] as const
const PAYLOAD = "msg"
const SERVER_CORE = 0
const LOADGEN_CORE = 1
const WANT_NOFILE = 65_536
const GOALS = { cpuPerRequest: 1.2, cpuPerHandshake: 1.1 }
const BUDGET_MS = (QUICK ? 2 : 6) * 60_000 + (PROFILE ? 2 * 60_000 : 0)

type Kind = "effect-wire" | "hand-written"
const KINDS: ReadonlyArray<Kind> = ["effect-wire", "hand-written"]
const FILES: Record<Kind, string> = {
  "effect-wire": "bench/echo/server-ew-transport.ts",
  "hand-written": "bench/echo/server-hw-transport.ts"
}

// ---- processes ---------------------------------------------------------------------------------

const started = Date.now()
const env: Environment = probeEnvironment(Os.availableParallelism())
const children = new Set<Proc>()
const certs = makeCerts()
const sockDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ew-bench-"))
const lifetime = String(BUDGET_MS + 60_000)

const cleanup = (): void => {
  for (const c of children) c.kill()
  children.clear()
  removeCerts(certs)
  Fs.rmSync(sockDir, { recursive: true, force: true })
}
process.on("exit", cleanup)
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    cleanup()
    process.exit(130)
  })
}
const watchdog = setTimeout(() => {
  console.error(`bench: over its time budget (${BUDGET_MS / 1000} s + 30 s); stopping`)
  cleanup()
  process.exit(3)
}, BUDGET_MS + 30_000)
watchdog.unref()

interface ServerChild {
  readonly kind: Kind
  readonly transport: Transport
  readonly proc: Proc
  readonly port: number
  readonly target: Target
}

const startServer = async (
  kind: Kind,
  transport: Transport,
  extraEnv: Record<string, string> = {}
): Promise<ServerChild> => {
  const path = Path.join(sockDir, `${kind}.sock`)
  const proc = new Proc(`${kind} ${transport}`, {
    file: FILES[kind],
    core: env.taskset ? SERVER_CORE : undefined,
    wantNofile: WANT_NOFILE,
    env: {
      BENCH_MAX_LIFETIME_MS: lifetime,
      BENCH_TRANSPORT: transport,
      BENCH_TLS_KEY_FILE: Path.join(certs.dir, "server.key"),
      BENCH_TLS_CERT_FILE: Path.join(certs.dir, "server.crt"),
      BENCH_UNIX_PATH: path,
      ...(kind === "hand-written" && value("--hw-variant") !== undefined
        ? { BENCH_HW_VARIANT: value("--hw-variant")! }
        : {}),
      ...extraEnv
    }
  })
  children.add(proc)
  const ready = await proc.waitFor<{ port: number }>((m) => m?.type === "ready", 30_000, "ready")
  const target: Target = transport === "tls"
    ? { caFile: Path.join(certs.dir, "ca.crt") }
    : transport === "unix"
    ? { path }
    : {}
  return { kind, transport, proc, port: ready.port, target }
}

const stopServer = async (s: ServerChild): Promise<void> => {
  await s.proc.request({ type: "stop" }, 10_000, "stopped").catch(() => undefined)
  await s.proc.waitExit(5_000)
  children.delete(s.proc)
}

const startLoadgen = async (): Promise<Proc> => {
  const proc = new Proc("loadgen", {
    file: "bench/echo/loadgen.ts",
    core: env.taskset ? LOADGEN_CORE : undefined,
    wantNofile: WANT_NOFILE,
    env: { BENCH_MAX_LIFETIME_MS: lifetime }
  })
  children.add(proc)
  await proc.waitFor((m) => m?.event === "ready", 30_000, "ready")
  return proc
}

const mark = (s: ServerChild, timeoutMs = 10_000): Promise<Mark> => s.proc.request<Mark>({ type: "mark" }, timeoutMs)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Waits (bounded) until the server has no connection open; the mark of that moment. */
const waitIdle = async (s: ServerChild, maxMs = 5_000): Promise<Mark> => {
  const until = Date.now() + maxMs
  for (;;) {
    const m = await mark(s)
    if (m.active === 0 || Date.now() >= until) return m
    await sleep(20)
  }
}

/** Busy time of the whole machine (all CPUs, /proc/stat), µs; NaN if unreadable. */
const machineBusyUs = (): number => {
  try {
    const f = Fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
    return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) * 10_000
  } catch {
    return NaN
  }
}

let nextId = 5_000

// ---- load cells --------------------------------------------------------------------------------

interface Cell {
  readonly kind: Kind
  readonly transport: Transport
  readonly depth: number
  readonly rep: number
  readonly load: LoadResult
  readonly reqPerSec: number
  readonly cpuUsPerReq: number
  readonly serverCpuPct: number
  /** Machine busy time outside the server and the load generator (softirq included), % of one core. */
  readonly otherCpuPct: number
}

const runCell = async (
  lg: Proc,
  s: ServerChild,
  depth: number,
  rep: number,
  timing = { warmupMs: WARMUP_MS, durationMs: DURATION_MS }
): Promise<Cell> => {
  const id = nextId++
  const total = timing.warmupMs + timing.durationMs + 40_000
  lg.send({
    type: "load",
    id,
    port: s.port,
    target: s.target,
    conns: CONNS,
    pipeline: depth,
    warmupMs: timing.warmupMs,
    durationMs: timing.durationMs,
    payload: PAYLOAD,
    connectTimeoutMs: 20_000
  })
  await lg.waitFor((m) => m?.event === "measure-start" && m.id === id, total, "measure-start")
  const m0 = await mark(s)
  const busy0 = machineBusyUs()
  await lg.waitFor((m) => m?.event === "measure-end" && m.id === id, total, "measure-end")
  const busy1 = machineBusyUs()
  const m1 = await mark(s)
  const load = await lg.waitFor<LoadResult>((m) => m?.event === "load-result" && m.id === id, 10_000, "load-result")
  await waitIdle(s)
  const frames = m1.frames - m0.frames
  const cpu = m1.user + m1.system - m0.user - m0.system
  const windowMs = m1.atMs - m0.atMs
  const serverCpuPct = windowMs > 0 ? (cpu / 1000 / windowMs) * 100 : NaN
  return {
    kind: s.kind,
    transport: s.transport,
    depth,
    rep,
    load,
    reqPerSec: load.windowMs > 0 ? (load.completed / load.windowMs) * 1000 : 0,
    cpuUsPerReq: frames > 0 ? cpu / frames : NaN,
    serverCpuPct,
    otherCpuPct: Math.max(0, ((busy1 - busy0) / 1000 / load.windowMs) * 100 - serverCpuPct - load.loadgenCpuPct)
  }
}

// ---- handshake cell ----------------------------------------------------------------------------

interface Hs {
  readonly kind: Kind
  readonly transport: Transport
  readonly rep: number
  readonly r: HandshakesResult
  readonly perSec: number
  readonly cpuUsPerConn: number
  readonly serverCpuPct: number
}

/** The parts of one server's handshake cell as one: sums of connections, time and CPU. */
const combine = (parts: ReadonlyArray<Hs>): Hs => {
  const ok = parts.reduce((n, p) => n + p.r.ok, 0)
  const totalMs = parts.reduce((n, p) => n + p.r.totalMs, 0)
  const cpu = parts.reduce((n, p) => n + p.cpuUsPerConn * p.r.ok, 0)
  const med = (f: (p: Hs) => number) => median(parts.map(f))
  const first = parts[0]!
  return {
    ...first,
    r: {
      ...first.r,
      count: parts.reduce((n, p) => n + p.r.count, 0),
      ok,
      failed: parts.reduce((n, p) => n + p.r.failed, 0),
      totalMs,
      timedOut: parts.some((p) => p.r.timedOut),
      handshake: { ...first.r.handshake, p50: med((p) => p.r.handshake.p50), p99: med((p) => p.r.handshake.p99) },
      reply: { ...first.r.reply, p50: med((p) => p.r.reply.p50), p99: med((p) => p.r.reply.p99) },
      loadgenCpuPct: med((p) => p.r.loadgenCpuPct)
    },
    perSec: totalMs > 0 ? (ok / totalMs) * 1000 : 0,
    cpuUsPerConn: ok > 0 ? cpu / ok : NaN,
    serverCpuPct: med((p) => p.serverCpuPct)
  }
}

const runHandshakes = async (lg: Proc, s: ServerChild, rep: number, count = HS_COUNT): Promise<Hs> => {
  const id = nextId++
  const m0 = await mark(s)
  lg.send({
    type: "handshakes",
    id,
    port: s.port,
    target: s.target,
    count,
    concurrency: HS_CONCURRENCY,
    timeoutMs: 60_000,
    payload: PAYLOAD
  })
  const r = await lg.waitFor<HandshakesResult>(
    (m) => m?.event === "handshakes-result" && m.id === id,
    70_000,
    "handshakes-result"
  )
  const m1 = await waitIdle(s)
  const cpu = m1.user + m1.system - m0.user - m0.system
  const windowMs = m1.atMs - m0.atMs
  return {
    kind: s.kind,
    transport: s.transport,
    rep,
    r,
    perSec: r.totalMs > 0 ? (r.ok / r.totalMs) * 1000 : 0,
    cpuUsPerConn: r.ok > 0 ? cpu / r.ok : NaN,
    serverCpuPct: windowMs > 0 ? (cpu / 1000 / windowMs) * 100 : NaN
  }
}

// ---- formatting --------------------------------------------------------------------------------

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "n/a"
const ratio = (a: number, b: number): number => (b > 0 ? a / b : NaN)
const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b)
  return s.length === 0
    ? NaN
    : s.length % 2 === 1
    ? s[(s.length - 1) / 2]!
    : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const table = (title: string, header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()
  return [title, line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n")
}
/** The back-to-back differences of a measure (effect-wire - hand-written, same repetition). */
const diffs = <T extends { kind: Kind; rep: number }>(xs: ReadonlyArray<T>, by: (x: T) => number): Array<number> =>
  xs.filter((x) => x.kind === "effect-wire").flatMap((a) => {
    const b = xs.find((x) => x.kind === "hand-written" && x.rep === a.rep)
    return b === undefined ? [] : [by(a) - by(b)]
  })
/** The back-to-back ratios of one measure (effect-wire / hand-written, same repetition). */
const pairs = <T extends { kind: Kind; rep: number }>(xs: ReadonlyArray<T>, by: (x: T) => number): Array<number> =>
  xs.filter((x) => x.kind === "effect-wire").flatMap((a) => {
    const b = xs.find((x) => x.kind === "hand-written" && x.rep === a.rep)
    return b === undefined ? [] : [ratio(by(a), by(b))]
  })
const spread = (rs: ReadonlyArray<number>): string =>
  rs.length < 2 ? "" : `${fmt(Math.min(...rs), 2)}-${fmt(Math.max(...rs), 2)}`
const loadAvg = (): string => Os.loadavg().map((x) => x.toFixed(2)).join(", ")
const uptime = (): string => spawnSync("uptime", { encoding: "utf8" }).stdout?.trim() ?? `load average ${loadAvg()}`
const progress = (s: string) =>
  process.stderr.write(`  … ${s} (${((Date.now() - started) / 1000).toFixed(0)} s, load ${loadAvg()})\n`)

const header = (): string =>
  [
    `effect-wire transport bench (${
      QUICK ? "quick" : "full"
    }): line echo "${PAYLOAD}\\n" -> "ECHO: ${PAYLOAD}\\n" over TLS (127.0.0.1) and a Unix socket`,
    `node ${env.node}, ${env.cpus} CPUs (${Os.cpus()[0]?.model ?? "?"}), ` +
    (env.taskset
      ? `servers pinned to core ${SERVER_CORE}, load generator to core ${LOADGEN_CORE} (taskset)`
      : "NOT pinned (taskset missing or fewer than 2 CPUs)"),
    `at start: ${uptime()}`,
    `load cells: ${CONNS} connections, ${WARMUP_MS} ms warm-up + ${DURATION_MS} ms measured; handshake cell: ${HS_COUNT} connections, ${HS_CONCURRENCY} at a time; ` +
    `${REPS} repetition(s), both servers back to back per cell (order alternating); ratios are effect-wire / hand-written`
  ].join("\n")

// ---- profile mode ------------------------------------------------------------------------------

const profileRun = async (): Promise<void> => {
  const outDir = Path.join(ROOT, ".bench-out")
  const transport = TRANSPORTS[0] ?? "tls"
  const dir = Path.join(outDir, `prof-${transport}`)
  Fs.mkdirSync(dir, { recursive: true })
  const distDir = Path.join(outDir, "dist")
  buildForProfile(distDir)
  const built = Fs.existsSync(Path.join(distDir, "src/server/Server.js"))
  if (!built) console.log("tsc build of src/ failed; profiling the tsx-run sources instead")
  const lg = await startLoadgen()
  console.log(header())
  for (const kind of KINDS) {
    const s = await startServer(kind, transport, kind === "effect-wire" && built ? { BENCH_EW_DIST: distDir } : {})
    await runCell(lg, s, 16, 0, { warmupMs: 200, durationMs: 800 })
    await runHandshakes(lg, s, 0, 300)
    for (const w of ["100x16", "handshakes"] as const) {
      const file = Path.join(dir, `${kind}-${transport}-${w}.cpuprofile`)
      await s.proc.request({ type: "prof-start" }, 10_000)
      let label: string
      if (w === "handshakes") {
        const h = await runHandshakes(lg, s, 0)
        label = `${kind} ${transport} new connections ${HS_COUNT} x ${HS_CONCURRENCY}: ${fmt(h.perSec)}/s, ${
          fmt(h.cpuUsPerConn, 1)
        } µs CPU/handshake, ok ${h.r.ok}`
      } else {
        const c = await runCell(lg, s, 16, 0)
        label = `${kind} ${transport} 100x16: ${fmt(c.reqPerSec)} req/s, ${fmt(c.cpuUsPerReq, 2)} µs CPU/request`
      }
      const stopped = await s.proc.request<{ error?: string }>({ type: "prof-stop", file }, 60_000)
      console.log(`\n${label}`)
      if (stopped.error !== undefined) {
        console.log(`  profile failed: ${stopped.error}`)
        continue
      }
      console.log(
        `profile ${
          Path.relative(ROOT, file)
        } (profiler overhead included: compare the two servers, not the absolute numbers)`
      )
      console.log(summarizeProfile(JSON.parse(Fs.readFileSync(file, "utf8")), ROOT, distDir, 25).text)
    }
    await stopServer(s)
  }
  lg.send({ type: "exit" })
  await lg.waitExit(5_000)
}

// ---- main --------------------------------------------------------------------------------------

const main = async (): Promise<void> => {
  if (PROFILE) return profileRun()
  const lg = await startLoadgen()
  const servers = new Map<string, ServerChild>()
  for (const t of TRANSPORTS) {
    for (const k of KINDS) servers.set(`${k} ${t}`, await startServer(k, t))
  }
  const server = (k: Kind, t: Transport) => servers.get(`${k} ${t}`)!
  console.log(header())
  // Each server answers once over its transport, then gets a short load (JIT) before any cell.
  for (const s of servers.values()) {
    await runCell(lg, s, 16, -1, { warmupMs: 200, durationMs: QUICK ? 300 : 600 })
    if (s.transport === "tls" && ONLY.has("hs")) await runHandshakes(lg, s, -1, Math.min(300, HS_COUNT))
  }
  progress("warmed up")

  const cells: Array<Cell> = []
  const hss: Array<Hs> = []
  let flip = false
  for (let rep = 0; rep < REPS; rep++) {
    for (const t of TRANSPORTS) {
      for (const depth of ONLY.has("load") ? DEPTHS : []) {
        const order = flip ? [...KINDS].reverse() : KINDS
        flip = !flip
        const pair: Array<Cell> = []
        for (const k of order) pair.push(await runCell(lg, server(k, t), depth, rep))
        for (const cell of pair) cells.push(cell)
        const [a, b] = [pair.find((c) => c.kind === "effect-wire")!, pair.find((c) => c.kind === "hand-written")!]
        progress(
          `rep ${rep + 1} ${t} ${CONNS}x${depth}: CPU µs/req ${fmt(a.cpuUsPerReq, 2)}/${fmt(b.cpuUsPerReq, 2)} = ${
            fmt(ratio(a.cpuUsPerReq, b.cpuUsPerReq), 2)
          }, req/s ${fmt(a.reqPerSec)}/${fmt(b.reqPerSec)}`
        )
      }
      if (ONLY.has("hs")) {
        // The N connections of each server go in CHUNKS parts, in ABBA order (ew hw hw ew …, or
        // the reverse), so that a machine getting slower or faster over the cell bills both alike.
        const order = flip ? [...KINDS].reverse() : KINDS
        flip = !flip
        const parts: Record<Kind, Array<Hs>> = { "effect-wire": [], "hand-written": [] }
        const size = Math.max(1, Math.round(HS_COUNT / HS_CHUNKS))
        for (let i = 0; i < HS_CHUNKS; i++) {
          for (const k of i % 2 === 0 ? order : [...order].reverse()) {
            parts[k].push(await runHandshakes(lg, server(k, t), rep, size))
          }
        }
        const pair = KINDS.map((k) => combine(parts[k]))
        for (const cell of pair) hss.push(cell)
        const [a, b] = [pair.find((c) => c.kind === "effect-wire")!, pair.find((c) => c.kind === "hand-written")!]
        progress(
          `rep ${rep + 1} ${t} ${t === "tls" ? "handshakes" : "connections"}: ${fmt(a.perSec)}/${
            fmt(b.perSec)
          } per s, CPU µs/conn ${fmt(a.cpuUsPerConn, 1)}/${fmt(b.cpuUsPerConn, 1)} = ${
            fmt(ratio(a.cpuUsPerConn, b.cpuUsPerConn), 2)
          }`
        )
      }
    }
    if (Date.now() - started > BUDGET_MS * 0.8) {
      progress(`stopping after ${rep + 1} repetition(s): time budget`)
      break
    }
  }
  for (const s of servers.values()) await stopServer(s)
  lg.send({ type: "exit" })
  await lg.waitExit(5_000)

  // ---- report ----
  const out: Array<string> = []
  const t1: Array<Array<string>> = []
  for (const t of TRANSPORTS) {
    for (const depth of ONLY.has("load") ? DEPTHS : []) {
      const mine = cells.filter((c) => c.transport === t && c.depth === depth)
      if (mine.length === 0) continue
      const of = (k: Kind) => mine.filter((c) => c.kind === k)
      const cpuPairs = pairs(mine, (c) => c.cpuUsPerReq)
      const rpsPairs = pairs(mine, (c) => c.reqPerSec)
      const paired = median(cpuPairs)
      const errors = mine.reduce((n, c) => n + c.load.errors, 0)
      const short = mine.filter((c) => c.load.primed < CONNS).length
      const notes = [
        errors > 0 ? `errors ${errors}` : "",
        short > 0 ? `${short} run(s) with < ${CONNS} connections answered` : "",
        median(mine.map((c) => c.otherCpuPct)) > 30
          ? `busy machine (other ${fmt(median(mine.map((c) => c.otherCpuPct)))}%)`
          : ""
      ].filter((n) => n !== "").join("; ")
      t1.push([
        LABEL[t],
        `${CONNS}x${depth}`,
        fmt(median(of("effect-wire").map((c) => c.cpuUsPerReq)), 2),
        fmt(median(of("hand-written").map((c) => c.cpuUsPerReq)), 2),
        fmt(paired, 2),
        spread(cpuPairs),
        fmt(median(diffs(mine, (c) => c.cpuUsPerReq)), 2),
        t === "tcp" ? "" : paired <= GOALS.cpuPerRequest ? "ok" : "MISS",
        fmt(median(of("effect-wire").map((c) => c.reqPerSec))),
        fmt(median(of("hand-written").map((c) => c.reqPerSec))),
        fmt(median(rpsPairs), 2),
        `${fmt(median(of("effect-wire").map((c) => c.load.latency.p99)))}/${
          fmt(median(of("hand-written").map((c) => c.load.latency.p99)))
        }`,
        `${fmt(median(of("effect-wire").map((c) => c.serverCpuPct)))}/${
          fmt(median(of("hand-written").map((c) => c.serverCpuPct)))
        }`,
        `${fmt(median(mine.map((c) => c.load.loadgenCpuPct)))}`,
        `${fmt(median(mine.map((c) => c.otherCpuPct)))}`,
        notes
      ])
    }
  }
  if (t1.length > 0) {
    out.push(table(
      `\n1. Server CPU per request (server user+system over the window / requests it answered; medians over ${REPS} run(s); goal: paired ratio <= ${GOALS.cpuPerRequest})\n` +
        "   paired = median of the back-to-back ratios (range = their min-max), ew-hw µs = median of the back-to-back differences; p99 latency µs ew/hw; server CPU% ew/hw and loadgen / other CPU% in % of one core",
      [
        "transport",
        "cell",
        "ew µs/req",
        "hw µs/req",
        "paired",
        "range",
        "ew-hw µs",
        "goal",
        "ew req/s",
        "hw req/s",
        "req/s ratio",
        "p99 ew/hw",
        "server CPU%",
        "loadgen%",
        "other%",
        "notes"
      ],
      t1
    ))
  }
  const t2: Array<Array<string>> = []
  for (const t of TRANSPORTS) {
    const mine = hss.filter((h) => h.transport === t)
    if (mine.length === 0) continue
    const of = (k: Kind) => mine.filter((h) => h.kind === k)
    const cpuPairs = pairs(mine, (h) => h.cpuUsPerConn)
    const paired = median(cpuPairs)
    const ok = (k: Kind) => `${of(k).reduce((n, h) => n + h.r.ok, 0)}/${of(k).reduce((n, h) => n + h.r.count, 0)}`
    t2.push([
      t === "tls" ? "TLS handshakes" : `${LABEL[t]} connections`,
      `${HS_COUNT}/${HS_CONCURRENCY}`,
      fmt(median(of("effect-wire").map((h) => h.perSec))),
      fmt(median(of("hand-written").map((h) => h.perSec))),
      fmt(median(pairs(mine, (h) => h.perSec)), 2),
      fmt(median(of("effect-wire").map((h) => h.cpuUsPerConn)), 1),
      fmt(median(of("hand-written").map((h) => h.cpuUsPerConn)), 1),
      fmt(paired, 2),
      spread(cpuPairs),
      fmt(median(diffs(mine, (h) => h.cpuUsPerConn)), 1),
      t === "tls" ? (paired <= GOALS.cpuPerHandshake ? "ok" : "MISS") : "",
      `${fmt(median(of("effect-wire").map((h) => h.r.handshake.p50 / 1000)), 1)}/${
        fmt(median(of("hand-written").map((h) => h.r.handshake.p50 / 1000)), 1)
      }`,
      `${fmt(median(of("effect-wire").map((h) => h.r.reply.p99 / 1000)), 1)}/${
        fmt(median(of("hand-written").map((h) => h.r.reply.p99 / 1000)), 1)
      }`,
      `${fmt(median(of("effect-wire").map((h) => h.serverCpuPct)))}/${
        fmt(median(of("hand-written").map((h) => h.serverCpuPct)))
      }`,
      fmt(median(mine.map((h) => h.r.loadgenCpuPct))),
      `${ok("effect-wire")} ${ok("hand-written")}`
    ])
  }
  if (t2.length > 0) {
    out.push(table(
      `\n2. New connections: N fresh connections, C at a time, each connecting (TLS: full handshake, certificate verified), one request, close\n` +
        `   per s = connections completed per second (load generator); CPU = server µs per connection, until it closed the last one\n` +
        `   (ew-hw µs = median of the back-to-back differences: effect-wire's extra CPU per connection);\n` +
        `   goal (TLS): paired CPU ratio <= ${GOALS.cpuPerHandshake}; connect ms = median of the per-connection p50 ready time, reply p99 ms = connect start to reply`,
      [
        "cell",
        "N/C",
        "ew per s",
        "hw per s",
        "ratio",
        "ew µs/conn",
        "hw µs/conn",
        "paired",
        "range",
        "ew-hw µs",
        "goal",
        "connect p50 ms",
        "reply p99 ms",
        "server CPU%",
        "loadgen%",
        "ok ew hw"
      ],
      t2
    ))
  }
  out.push(`\nat end: ${uptime()}`)
  out.push(`total run time ${((Date.now() - started) / 1000).toFixed(1)} s`)
  console.log(out.join("\n"))
  if (JSON_FILE !== undefined) {
    Fs.mkdirSync(Path.dirname(Path.resolve(JSON_FILE)), { recursive: true })
    Fs.writeFileSync(JSON_FILE, JSON.stringify({ env, reps: REPS, cells, handshakes: hss }, null, 2))
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
