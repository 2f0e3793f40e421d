/**
 * (b) The same line echo protocol hand-written on plain `node:net` (the line handling is in
 * `lineEcho.ts`): one `socket.write` per batch of replies (one per read). Half-close after the
 * peer's EOF; reads pause while a write is backed up.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import { serveControl } from "./control.js"
import { LineEcho } from "./lineEcho.js"

let active = 0
// Diagnostic (BENCH_TRACE_FILE set): when each connection was accepted and its first line answered.
const traceFile = process.env["BENCH_TRACE_FILE"]
const trace: Array<{ accept: number; start: number; first: number }> = []

const server = Net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
  active++
  const echo = new LineEcho()
  const rec = traceFile === undefined ? undefined : { accept: performance.now(), start: NaN, first: NaN }
  if (rec !== undefined) trace.push(rec)
  socket.on("data", (chunk: Buffer) => {
    const out = echo.push(chunk)
    if (rec !== undefined && Number.isNaN(rec.first) && out !== undefined) rec.first = performance.now()
    if (out === undefined) return
    if (out === "too-long") return void socket.destroy()
    if (!socket.write(out)) {
      socket.pause()
      socket.once("drain", () => socket.resume())
    }
  })
  socket.on("end", () => socket.end())
  socket.on("error", () => {})
  socket.on("close", () => {
    active--
  })
})

server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => {
  const address = server.address() as Net.AddressInfo
  serveControl({
    name: "hand-written",
    port: address.port,
    active: () => active,
    stop: () =>
      new Promise<void>((resolve) => {
        if (traceFile !== undefined && trace.length > 0) {
          Fs.writeFileSync(
            traceFile,
            trace.map((r) => JSON.stringify(r)).join("\n") + "\n"
          )
        }
        server.close(() => resolve())
      })
  })
})
