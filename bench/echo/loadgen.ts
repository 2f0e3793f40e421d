/**
 * The load generator: a separate Node process on plain `node:net`, driven over IPC by
 * `bench/server.ts`, reporting JSON lines on stdout. Written for speed: request buffers are
 * built once, replies are counted by their `\n`, and every connection keeps one send timestamp
 * per in-flight request in a fixed ring (FIFO), so a reply's latency is `now - oldest`.
 *
 * Every command ends by itself (its own timers); the process exits when the driver goes away
 * or after a maximum lifetime.
 */
import { Buffer } from "node:buffer"
import * as Net from "node:net"
import { dial } from "./dial.js"
import { runHandshakes } from "./handshakes.js"
import { Histogram } from "./histogram.js"
import type { HoldCommand, Latency, LoadCommand, LoadgenCommand, LoadgenEvent, StormCommand } from "./protocol.js"

const HOST = "127.0.0.1"
const LF = 10
const MAX_LIFETIME_MS = Number(process.env["BENCH_MAX_LIFETIME_MS"] ?? 15 * 60_000)

const emit = (e: LoadgenEvent): void => {
  process.stdout.write(JSON.stringify(e) + "\n")
}

const nowNs = (): number => Number(process.hrtime.bigint())

const summary = (h: Histogram): Latency => ({
  p50: h.quantile(0.5) / 1000,
  p99: h.quantile(0.99) / 1000,
  max: h.max / 1000,
  samples: h.count
})

const countLf = (chunk: Buffer): number => {
  let n = 0
  let at = chunk.indexOf(LF)
  while (at !== -1) {
    n++
    at = chunk.indexOf(LF, at + 1)
  }
  return n
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g !== undefined) g()
}

// ---- closed-loop load --------------------------------------------------------------------------

/**
 * Connecting: every connection connects and sends one request (priming), so the server has
 * accepted and answered each one before the load starts (connection setup is measured by the
 * storm and idle runs, not here). Warmup / Measure: closed loop, `pipeline` in flight on each.
 */
const Phase = { Priming: 0, Warmup: 1, Measure: 2, Done: 3 } as const
type Phase = (typeof Phase)[keyof typeof Phase]

const runLoad = (cmd: LoadCommand): Promise<void> =>
  new Promise((resolve) => {
    const depth = cmd.pipeline
    const one = Buffer.from(cmd.payload + "\n")
    // requests[k - 1] holds k requests back to back: one write per batch of replies received.
    const requests: Array<Buffer> = []
    for (let k = 1; k <= depth; k++) requests.push(Buffer.concat(Array.from({ length: k }, () => one)))
    const hist = new Histogram()
    const connectHist = new Histogram()
    const firstHist = new Histogram()
    const prime = cmd.prime !== false
    let maxAt = 0
    let over100ms = 0
    let over1s = 0
    let phase: Phase = Phase.Priming
    let completed = 0
    let reads = 0
    let errors = 0
    let connected = 0
    let primed = 0
    let settled = 0 // primed or failed
    let windowStart = 0
    let cpuStart = process.cpuUsage()
    const t0 = nowNs()
    let primeMs = NaN
    const sockets: Array<Net.Socket> = []
    const starters: Array<(at: number) => void> = []

    const openConn = (): void => {
      const ring = new Float64Array(depth)
      let head = 0
      let inFlight = 0
      let done = false // primed or failed
      let answered = false // the first request's reply arrived
      const connectAt = nowNs()
      const { ready, socket } = dial(cmd.port, cmd.target)
      sockets.push(socket)
      const send = (k: number, at: number): void => {
        let tail = (head + inFlight) % depth
        for (let i = 0; i < k; i++) {
          ring[tail] = at
          tail = tail + 1 === depth ? 0 : tail + 1
        }
        inFlight += k
        socket.write(requests[k - 1]!)
      }
      const settle = (): void => {
        if (done) return
        done = true
        settled++
        if (settled === cmd.conns) start()
      }
      socket.once(ready, () => {
        connected++
        const at = nowNs()
        connectHist.record(at - connectAt)
        if (!prime) {
          // Naive: the whole depth at once, whatever the phase.
          if (phase !== Phase.Done) send(depth, at)
          settle()
        } else if (phase === Phase.Priming) send(1, at)
        else if (phase !== Phase.Done) send(depth, nowNs()) // late: joins the running load
      })
      socket.on("data", (chunk: Buffer) => {
        let n = countLf(chunk)
        if (n === 0) return
        const now = nowNs()
        if (n > inFlight) {
          errors++ // more replies than requests: count it, never underflow the ring
          n = inFlight
        }
        const measuring = phase === Phase.Measure
        if (!answered) {
          answered = true
          firstHist.record(now - ring[head]!)
        }
        for (let i = 0; i < n; i++) {
          if (measuring) {
            const l = now - ring[head]!
            if (l > hist.max) maxAt = now
            if (l > 100e6) {
              over100ms++
              if (l > 1e9) over1s++
            }
            hist.record(l)
          }
          head = head + 1 === depth ? 0 : head + 1
        }
        inFlight -= n
        if (measuring) {
          completed += n
          reads++
        }
        if (phase === Phase.Priming) {
          if (!done) {
            primed++
            starters.push((at) => send(depth, at))
            settle()
          }
        } else if (phase === Phase.Warmup || phase === Phase.Measure) {
          send(n, now)
        }
      })
      socket.on("error", () => {
        errors++
        settle()
      })
    }

    const timers: Array<NodeJS.Timeout> = []

    const finish = (): void => {
      if (phase === Phase.Done) return
      const wasMeasuring = phase === Phase.Measure
      phase = Phase.Done
      const windowMs = wasMeasuring ? (nowNs() - windowStart) / 1e6 : 0
      const cpu = process.cpuUsage(cpuStart)
      emit({ event: "measure-end", id: cmd.id })
      for (const t of timers) clearTimeout(t)
      for (const s of sockets) s.destroy()
      emit({
        event: "load-result",
        id: cmd.id,
        conns: cmd.conns,
        connected,
        pipeline: depth,
        completed,
        reads,
        primed,
        primeMs,
        windowMs,
        latency: summary(hist),
        maxAtMs: hist.count > 0 ? (maxAt - windowStart) / 1e6 : NaN,
        over100ms,
        over1s,
        connect: summary(connectHist),
        first: summary(firstHist),
        errors,
        loadgenCpuPct: windowMs > 0 ? ((cpu.user + cpu.system) / 1000 / windowMs) * 100 : 0
      })
      resolve()
    }

    const start = (): void => {
      if (phase !== Phase.Priming) return
      phase = Phase.Warmup
      const at = nowNs()
      primeMs = (at - t0) / 1e6
      for (const go of starters) go(at)
      timers.push(setTimeout(() => {
        phase = Phase.Measure
        completed = 0
        reads = 0
        over100ms = 0
        over1s = 0
        hist.reset()
        windowStart = nowNs()
        cpuStart = process.cpuUsage()
        emit({ event: "measure-start", id: cmd.id })
        timers.push(setTimeout(finish, cmd.durationMs))
      }, cmd.warmupMs))
    }

    // Connections not answered in time are left out of the load (reported as `primed`).
    if (prime) timers.push(setTimeout(start, cmd.connectTimeoutMs))
    for (let i = 0; i < cmd.conns; i++) openConn()
    // Not primed: the clock starts with the first connect call.
    if (!prime) start()
  })

// ---- connect storm -----------------------------------------------------------------------------

const runStorm = (cmd: StormCommand): Promise<void> =>
  new Promise((resolve) => {
    const request = Buffer.from(cmd.payload + "\n")
    const hist = new Histogram()
    let ok = 0
    let failed = 0
    let done = false
    const sockets: Array<Net.Socket> = []
    const t0 = nowNs()
    const end = (timedOut: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      const totalMs = (nowNs() - t0) / 1e6
      for (const s of sockets) s.destroy()
      emit({
        event: "storm-result",
        id: cmd.id,
        clients: cmd.clients,
        ok,
        failed: timedOut ? cmd.clients - ok : failed,
        totalMs,
        latency: summary(hist),
        timedOut
      })
      resolve()
    }
    const timer = setTimeout(() => end(true), cmd.timeoutMs)
    for (let i = 0; i < cmd.clients; i++) {
      const started = nowNs()
      let finished = false
      const settle = (success: boolean): void => {
        if (finished || done) return
        finished = true
        if (success) {
          ok++
          hist.record(nowNs() - started)
        } else failed++
        if (ok + failed === cmd.clients) end(false)
      }
      const socket = Net.connect({ host: HOST, port: cmd.port, noDelay: true })
      sockets.push(socket)
      socket.once("connect", () => socket.write(request))
      socket.on("data", (chunk: Buffer) => {
        if (chunk.indexOf(LF) !== -1) {
          settle(true)
          socket.destroy()
        }
      })
      socket.on("error", () => settle(false))
      socket.on("close", () => settle(false))
    }
  })

// ---- idle connections --------------------------------------------------------------------------

let held: { readonly id: number; readonly sockets: Array<Net.Socket>; readonly timer: NodeJS.Timeout } | undefined

const release = (id: number): void => {
  if (held === undefined) return
  const h = held
  held = undefined
  clearTimeout(h.timer)
  for (const s of h.sockets) s.destroy()
  emit({ event: "released", id, closed: h.sockets.length })
}

const runHold = (cmd: HoldCommand): Promise<void> =>
  new Promise((resolve) => {
    const request = Buffer.from(cmd.payload + "\n")
    const sockets: Array<Net.Socket> = []
    let ok = 0
    let failed = 0
    let started = 0
    let done = false
    const t0 = nowNs()
    const end = (timedOut: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      held = { id: cmd.id, sockets, timer: setTimeout(() => release(cmd.id), cmd.holdMaxMs) }
      emit({ event: "held", id: cmd.id, conns: cmd.conns, ok, failed, ms: (nowNs() - t0) / 1e6, timedOut })
      resolve()
    }
    const timer = setTimeout(() => end(true), cmd.timeoutMs)
    const next = (): void => {
      if (done || started >= cmd.conns) return
      started++
      let finished = false
      const settle = (success: boolean): void => {
        if (finished || done) return
        finished = true
        if (success) ok++
        else failed++
        if (ok + failed === cmd.conns) end(false)
        else next()
      }
      const socket = Net.connect({ host: HOST, port: cmd.port, noDelay: true })
      sockets.push(socket)
      socket.once("connect", () => socket.write(request))
      socket.on("data", (chunk: Buffer) => {
        if (chunk.indexOf(LF) !== -1) settle(true)
      })
      socket.on("error", () => settle(false))
      socket.on("close", () => settle(false))
    }
    for (let i = 0; i < Math.min(cmd.concurrency, cmd.conns); i++) next()
  })

// ---- driver ------------------------------------------------------------------------------------

let queue: Promise<void> = Promise.resolve()

process.on("message", (raw: unknown) => {
  const cmd = raw as LoadgenCommand
  if (cmd.type === "exit") {
    release(-1)
    process.exit(0)
  }
  if (cmd.type === "release") {
    release(cmd.id)
    return
  }
  queue = queue.then(async () => {
    gc()
    try {
      if (cmd.type === "load") await runLoad(cmd)
      else if (cmd.type === "storm") await runStorm(cmd)
      else if (cmd.type === "handshakes") await runHandshakes(cmd, emit)
      else await runHold(cmd)
    } catch (e) {
      emit({ event: "error", id: cmd.id, detail: String(e) })
    }
  })
})

process.on("disconnect", () => process.exit(0))
setTimeout(() => process.exit(2), MAX_LIFETIME_MS).unref()
emit({ event: "ready", pid: process.pid, nofile: process.env["BENCH_NOFILE"] })
