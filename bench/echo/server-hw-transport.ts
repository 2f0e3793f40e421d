/**
 * The hand-written line echo of `server-handwritten.ts` over TLS (`node:tls`
 * `createServer`, the same key and certificate as effect-wire's) or over a Unix domain socket
 * (`node:net` listening on a path): the same data handler (`lineEcho.ts`), one write per read,
 * half-close after the peer's EOF, reads paused while a write is backed up. Node's defaults
 * otherwise (TLS 1.2 minimum, session tickets on, 120 s handshake timeout).
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as NodeTls from "node:tls"
import { serveControl } from "./control.js"
import { LineEcho } from "./lineEcho.js"
import { servedTransport } from "./transportEnv.js"

const transport = servedTransport()
let active = 0

const serve = (socket: Net.Socket): void => {
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
}

const server: Net.Server = transport.kind === "tls"
  ? NodeTls.createServer({ key: transport.key, cert: transport.cert, allowHalfOpen: true, noDelay: true }, serve)
  : Net.createServer({ allowHalfOpen: true }, serve)
server.on("tlsClientError", () => {})

if (transport.kind === "unix") Fs.rmSync(transport.path, { force: true })
const where = transport.kind === "tls" ? { host: "127.0.0.1", port: 0, backlog: 4096 } : { path: transport.path, backlog: 4096 }
server.listen(where, () => {
  const address = server.address()
  serveControl({
    name: `hand-written ${transport.kind}`,
    port: typeof address === "object" && address !== null ? address.port : 0,
    active: () => active,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()))
  })
})
