/**
 * The RPC bench's load generator: a separate Node process on plain `node:net`, driven over IPC
 * by `bench/rpc.ts`. Closed loop: each connection keeps `pipeline` requests of `add` in flight,
 * sending one for each reply. Replies are matched by id (a reply to an id not in flight on its
 * connection is counted as mismatched); latency is from the request's write to its reply.
 *
 * Bounded: every run ends by its own timers (warmup + measure + at most 3 s of drain), and the
 * process exits when the driver goes away or after a maximum lifetime.
 */
import { Buffer } from "node:buffer"
import * as Net from "node:net"
import { Histogram } from "../echo/histogram.js"
import { request, type RunCommand, type RunResult, type WindowEvent } from "./wire.js"

const MAX_LIFETIME_MS = 15 * 60_000
const ID_SPACE = 65_535
const nowNs = (): number => Number(process.hrtime.bigint())

const send = (m: RunResult | WindowEvent): void => {
  process.send?.(m)
}

/** Pulls complete replies out of a connection's buffer, giving each reply's text to `onReply`. */
type Splitter = (chunk: Buffer, onReply: (text: string) => void) => void

const ndjsonSplitter = (): Splitter => {
  let rest = ""
  return (chunk, onReply) => {
    const text = rest + chunk.toString("latin1")
    let from = 0
    let nl = text.indexOf("\n")
    while (nl !== -1) {
      onReply(text.slice(from, nl))
      from = nl + 1
      nl = text.indexOf("\n", from)
    }
    rest = text.slice(from)
  }
}

const lengthSplitter = (): Splitter => {
  let buf: Buffer = Buffer.alloc(0)
  return (chunk, onReply) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    let at = 0
    while (buf.length - at >= 4) {
      const n = buf.readUInt32BE(at)
      if (buf.length - at - 4 < n) break
      onReply(buf.toString("latin1", at + 4, at + 4 + n))
      at += 4 + n
    }
    buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
  }
}

const ID = /"id":(\d+)/

const run = (cmd: RunCommand): Promise<RunResult> =>
  new Promise((resolve) => {
    const hist = new Histogram()
    let measuring = false
    let stopping = false
    let completed = 0
    let errors = 0
    let mismatched = 0
    let failure: string | undefined = undefined
    let windowStart = 0
    let windowEnd = 0
    let cpu0 = process.cpuUsage()
    const sockets: Array<Net.Socket> = []
    let inFlightTotal = 0
    let finished = false

    const finish = () => {
      if (finished) return
      finished = true
      clearTimeout(hardStop)
      for (const s of sockets) s.destroy()
      const cpu = process.cpuUsage(cpu0)
      resolve({
        type: "run",
        id: 0,
        completed,
        errors,
        mismatched,
        seconds: (windowEnd - windowStart) / 1e9,
        p50: hist.quantile(0.5) / 1000,
        p99: hist.quantile(0.99) / 1000,
        max: hist.max / 1000,
        loadgenCpuMs: (cpu.user + cpu.system) / 1000,
        failure
      })
    }
    // Bound on the whole run, whatever happens.
    const hardStop = setTimeout(() => {
      failure ??= "run did not finish in time"
      finish()
    }, cmd.warmupMs + cmd.measureMs + 15_000)

    let connected = 0
    for (let c = 0; c < cmd.connections; c++) {
      const sentAt = new Float64Array(ID_SPACE + 1)
      const live = new Uint8Array(ID_SPACE + 1)
      let next = 0
      let inFlight = 0
      const split = cmd.protocol === "jsonrpc" ? ndjsonSplitter() : lengthSplitter()
      const socket = Net.connect({ host: "127.0.0.1", port: cmd.port, noDelay: true })
      sockets.push(socket)
      const batch = (k: number): void => {
        if (k === 0) return
        const parts: Array<Buffer> = []
        const t = nowNs()
        for (let i = 0; i < k; i++) {
          const id = (next++ % ID_SPACE) + 1
          sentAt[id] = t
          live[id] = 1
          parts.push(request(cmd.protocol, id, id, 1))
        }
        inFlight += k
        inFlightTotal += k
        socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts))
      }
      const onReply = (text: string) => {
        const m = ID.exec(text)
        const id = m === null ? -1 : Number(m[1])
        if (id < 1 || id > ID_SPACE || live[id] !== 1) {
          mismatched++
          return
        }
        live[id] = 0
        inFlight--
        inFlightTotal--
        if (text.includes("\"error\"")) errors++
        if (measuring) {
          completed++
          hist.record(nowNs() - sentAt[id]!)
        }
      }
      socket.on("connect", () => {
        connected++
        if (connected === cmd.connections) startAll()
      })
      socket.on("data", (chunk: Buffer) => {
        const before = inFlight
        split(chunk, onReply)
        if (!stopping) batch(before - inFlight)
        else if (inFlightTotal === 0) finish()
      })
      socket.on("error", (e) => {
        failure ??= `connection ${c}: ${e.message}`
      })
      socket.on("close", () => {
        if (!stopping) failure ??= `connection ${c} closed by the server`
      })
      ;(socket as Net.Socket & { start?: () => void }).start = () => batch(cmd.pipeline)
    }

    const startAll = () => {
      for (const s of sockets) (s as Net.Socket & { start?: () => void }).start?.()
      setTimeout(() => {
        cpu0 = process.cpuUsage()
        windowStart = nowNs()
        measuring = true
        send({ type: "window", tag: cmd.tag, phase: "start" })
        setTimeout(() => {
          measuring = false
          windowEnd = nowNs()
          stopping = true
          send({ type: "window", tag: cmd.tag, phase: "end" })
          if (inFlightTotal === 0) finish()
          // Replies still in flight get at most 3 s.
          setTimeout(finish, 3_000)
        }, cmd.measureMs)
      }, cmd.warmupMs)
    }
  })

process.on("message", (m: RunCommand & { readonly id: number }) => {
  if (m?.type !== "run") return
  void run(m).then((r) => send({ ...r, id: m.id }))
})
process.on("disconnect", () => process.exit(0))
setTimeout(() => process.exit(1), MAX_LIFETIME_MS).unref()
process.send?.({ type: "ready" })
