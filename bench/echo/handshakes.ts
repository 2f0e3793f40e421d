/**
 * The load generator's handshake-rate run: `count` fresh connections, at most `concurrency` at
 * once; each connects (TLS: the full handshake, certificate verified), sends one request, reads
 * the reply and closes (`destroy`, as the connect storm does). Bounded by `timeoutMs`.
 */
import { Buffer } from "node:buffer"
import type * as Net from "node:net"
import { dial } from "./dial.js"
import { Histogram } from "./histogram.js"
import type { HandshakesCommand, HandshakesResult, Latency } from "./protocol.js"

const LF = 10
const nowNs = (): number => Number(process.hrtime.bigint())
const summary = (h: Histogram): Latency => ({
  p50: h.quantile(0.5) / 1000,
  p99: h.quantile(0.99) / 1000,
  max: h.max / 1000,
  samples: h.count
})

export const runHandshakes = (cmd: HandshakesCommand, emit: (e: HandshakesResult) => void): Promise<void> =>
  new Promise((resolve) => {
    const request = Buffer.from(cmd.payload + "\n")
    const handshake = new Histogram()
    const reply = new Histogram()
    const open = new Set<Net.Socket>()
    let started = 0
    let ok = 0
    let failed = 0
    let done = false
    const t0 = nowNs()
    const cpu0 = process.cpuUsage()
    const end = (timedOut: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      const totalMs = (nowNs() - t0) / 1e6
      const cpu = process.cpuUsage(cpu0)
      for (const s of open) s.destroy()
      emit({
        event: "handshakes-result",
        id: cmd.id,
        count: cmd.count,
        ok,
        failed: timedOut ? cmd.count - ok : failed,
        totalMs,
        handshake: summary(handshake),
        reply: summary(reply),
        timedOut,
        loadgenCpuPct: totalMs > 0 ? ((cpu.user + cpu.system) / 1000 / totalMs) * 100 : 0
      })
      resolve()
    }
    const timer = setTimeout(() => end(true), cmd.timeoutMs)
    const next = (): void => {
      if (done || started >= cmd.count) return
      started++
      const at = nowNs()
      let finished = false
      const { ready, socket } = dial(cmd.port, cmd.target)
      open.add(socket)
      const settle = (success: boolean): void => {
        if (finished || done) return
        finished = true
        if (success) {
          ok++
          reply.record(nowNs() - at)
        } else failed++
        socket.destroy()
        open.delete(socket)
        if (ok + failed === cmd.count) end(false)
        else next()
      }
      socket.once(ready, () => {
        handshake.record(nowNs() - at)
        socket.write(request)
      })
      socket.on("data", (chunk: Buffer) => {
        if (chunk.indexOf(LF) !== -1) settle(true)
      })
      socket.on("error", () => settle(false))
      socket.on("close", () => settle(false))
    }
    for (let i = 0; i < Math.min(cmd.concurrency, cmd.count); i++) next()
  })
