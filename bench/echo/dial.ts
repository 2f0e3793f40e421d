/**
 * How the load generator opens a connection: plain TCP to 127.0.0.1:port (the default), a Unix
 * domain socket (`target.path`), or TLS to 127.0.0.1:port verifying the server's certificate
 * against the CA in `target.caFile` (the bench's throw-away CA, see test/connection/certs.ts).
 * `ready` is the event after which the connection carries requests: `connect`, or
 * `secureConnect` once the TLS handshake is done.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as NodeTls from "node:tls"
import type { Target } from "./protocol.js"

const HOST = "127.0.0.1"

const cas = new Map<string, string>()
const caOf = (file: string): string => {
  let ca = cas.get(file)
  if (ca === undefined) {
    ca = Fs.readFileSync(file, "utf8")
    cas.set(file, ca)
  }
  return ca
}

/** One secure context per CA file, shared by every connection (as a real client pool would). */
const contexts = new Map<string, NodeTls.SecureContext>()
const contextOf = (file: string): NodeTls.SecureContext => {
  let c = contexts.get(file)
  if (c === undefined) {
    c = NodeTls.createSecureContext({ ca: caOf(file) })
    contexts.set(file, c)
  }
  return c
}

export interface Dialed {
  readonly socket: Net.Socket
  readonly ready: "connect" | "secureConnect"
}

export const dial = (port: number, target: Target | undefined): Dialed => {
  if (target?.path !== undefined) return { socket: Net.connect({ path: target.path }), ready: "connect" }
  if (target?.caFile !== undefined) {
    // No session reuse: every connection does a full handshake.
    const socket = NodeTls.connect({
      host: HOST,
      port,
      secureContext: contextOf(target.caFile),
      rejectUnauthorized: true
    })
    // (tls.connect has no noDelay option: set once connected, before the first request.)
    socket.once("secureConnect", () => socket.setNoDelay(true))
    return { socket, ready: "secureConnect" }
  }
  return { socket: Net.connect({ host: HOST, port, noDelay: true }), ready: "connect" }
}
