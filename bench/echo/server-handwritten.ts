/**
 * (b) The same line echo protocol hand-written on plain `node:net`: `indexOf(10)` over each read
 * with the unterminated rest carried over, `\r\n` accepted like the lines codec, lines capped at
 * 64 KiB, and one `socket.write` per batch of replies (one per read). Half-close after the
 * peer's EOF; reads pause while a write is backed up.
 */
import { Buffer } from "node:buffer"
import * as Net from "node:net"
import { counters, serveControl } from "./control.js"

const PREFIX = Buffer.from("ECHO: ")
const MAX_LINE = 65_536
let active = 0

// Line boundaries of the current read, reused across reads (the server is single-threaded).
const starts: Array<number> = []
const ends: Array<number> = []

const server = Net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
  active++
  let carry: Buffer | undefined = undefined
  socket.on("data", (chunk: Buffer) => {
    const buf: Buffer = carry === undefined ? chunk : Buffer.concat([carry, chunk], carry.length + chunk.length)
    carry = undefined
    let pos = 0
    let size = 0
    let n = 0
    let nl = buf.indexOf(10)
    while (nl !== -1) {
      const end = nl > pos && buf[nl - 1] === 13 ? nl - 1 : nl
      starts[n] = pos
      ends[n] = end
      n++
      size += PREFIX.length + (end - pos) + 1
      pos = nl + 1
      nl = buf.indexOf(10, pos)
    }
    if (pos < buf.length) {
      if (buf.length - pos > MAX_LINE + 1) {
        socket.destroy()
        return
      }
      carry = buf.subarray(pos)
    }
    if (n === 0) return
    counters.frames += n
    const out = Buffer.allocUnsafe(size)
    let at = 0
    for (let i = 0; i < n; i++) {
      at += PREFIX.copy(out, at)
      at += buf.copy(out, at, starts[i]!, ends[i]!)
      out[at++] = 10
    }
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
        server.close(() => resolve())
      })
  })
})
