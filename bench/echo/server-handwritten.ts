/**
 * (b) The same line echo protocol hand-written on plain `node:net` (the line handling is in
 * `lineEcho.ts`): one `socket.write` per batch of replies (one per read). Half-close after the
 * peer's EOF; reads pause while a write is backed up.
 */
import * as Net from "node:net"
import { serveControl } from "./control.js"
import { LineEcho } from "./lineEcho.js"

let active = 0

const server = Net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
  active++
  const echo = new LineEcho()
  socket.on("data", (chunk: Buffer) => {
    const out = echo.push(chunk)
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
        server.close(() => resolve())
      })
  })
})
