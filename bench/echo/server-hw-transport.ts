/**
 * The hand-written line echo of `server-handwritten.ts` over TLS (`node:tls`
 * `createServer`, the same key and certificate as effect-wire's) or over a Unix domain socket
 * (`node:net` listening on a path): the same data handler (`lineEcho.ts`), one write per read,
 * half-close after the peer's EOF, reads paused while a write is backed up. Node's defaults
 * otherwise (TLS 1.2 minimum, session tickets on, 120 s handshake timeout).
 *
 * Diagnostic, `BENCH_HW_VARIANT=ewopts`: the listener and per-socket set-up effect-wire adds for
 * TLS (src/server/internal/listener.ts `secure`, SocketDriver's constructor): its TLS options (10 s
 * handshake timeout, requestCert / rejectUnauthorized, minVersion), the set of raw sockets in
 * their handshake (one 'close' listener each), `tlsClientError` handling, `maxConnections`, and
 * `setNoDelay` + `remotePort` on each TLS socket; with the same echo. If effect-wire's extra CPU
 * per handshake over this variant is what it is over plain TCP, TLS adds nothing of its own.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as NodeTls from "node:tls"
import { serveControl } from "./control.js"
import { LineEcho } from "./lineEcho.js"
import { servedTransport } from "./transportEnv.js"

const transport = servedTransport()
const EWOPTS = process.env["BENCH_HW_VARIANT"] === "ewopts"
let active = 0

const serve = (socket: Net.Socket): void => {
  active++
  if (EWOPTS) {
    socket.setNoDelay(true)
    void socket.remotePort
  }
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
  ? NodeTls.createServer({
    key: transport.key,
    cert: transport.cert,
    allowHalfOpen: true,
    noDelay: true,
    ...(EWOPTS
      ? {
        pauseOnConnect: false,
        requestCert: false,
        rejectUnauthorized: true,
        handshakeTimeout: 10_000,
        minVersion: "TLSv1.2" as const
      }
      : {})
  }, serve)
  : Net.createServer({ allowHalfOpen: true, noDelay: true }, serve)
if (EWOPTS && transport.kind === "tls") {
  const raw = new Set<Net.Socket>()
  server.on("connection", (s: Net.Socket) => {
    raw.add(s)
    s.once("close", () => raw.delete(s))
  })
  server.on("tlsClientError", (_e: Error, s: Net.Socket) => s.destroy())
  server.maxConnections = 20_000
  server.on("drop", () => {})
} else server.on("tlsClientError", () => {})

if (transport.kind === "unix") Fs.rmSync(transport.path, { force: true })
const where = transport.kind !== "unix"
  ? { host: "127.0.0.1", port: 0, backlog: 4096 }
  : { path: transport.path, backlog: 4096 }
server.listen(where, () => {
  const address = server.address()
  serveControl({
    name: `hand-written ${transport.kind}`,
    port: typeof address === "object" && address !== null ? address.port : 0,
    active: () => active,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()))
  })
})
