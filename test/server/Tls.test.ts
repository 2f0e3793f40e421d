/**
 * Servers over TLS: the same handlers, a handshake timeout, plaintext peers closed and counted,
 * certificates reloaded without a restart, the session visible to handlers. Peers are plain
 * `node:tls` / `node:net` sockets; certificates are made at test time.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { Buffer } from "node:buffer"
import * as Net from "node:net"
import * as NodeTls from "node:tls"
import type * as Connection from "../../src/connection/Connection.js"
import * as Tls from "../../src/connection/Tls.js"
import * as Framing from "../../src/protocol/Framing.js"
import * as Server from "../../src/server/Server.js"
import { type Certs, makeCerts, removeCerts } from "../connection/certs.js"
import { readLines, readToEnd } from "./helpers.js"

let certs: Certs
beforeAll(() => {
  certs = makeCerts()
})
afterAll(() => removeCerts(certs))

const echo = Server.respond(Framing.lines(), (line) => Effect.succeed(Buffer.concat([Buffer.from("ECHO: "), line])))

/** A `node:tls` client, connected (handshake done) or failed with the handshake's error. */
const tlsConnect = (port: number, options: NodeTls.ConnectionOptions = {}) =>
  Effect.acquireRelease(
    Effect.async<NodeTls.TLSSocket, NodeJS.ErrnoException>((resume) => {
      const socket = NodeTls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: certs.ca, ...options })
      socket.once("secureConnect", () => resume(Effect.succeed(socket)))
      socket.once("error", (e) => resume(Effect.fail(e)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/**
 * A line server that replies with each line (after `prefix`) and records the TLS session its
 * handler saw, read back with `seen()`.
 */
const recordingTls = (prefix = "") => {
  let info: Tls.Info | undefined
  const handler = Server.respond(Framing.lines(), (line, conn: Connection.Connection) =>
    Effect.sync(() => {
      info = conn.tls
      return Buffer.concat([Buffer.from(prefix), line])
    }))
  return { handler, seen: () => info }
}

const closed = (socket: Net.Socket) =>
  Effect.async<void>((resume) => {
    if (socket.destroyed) return resume(Effect.void)
    socket.once("close", () => resume(Effect.void))
  })

describe("Server over TLS", () => {
  it.live("serves the same handler over TLS, and handlers see the session", () =>
    Effect.gen(function*() {
      const { handler, seen } = recordingTls("ECHO: ")
      const server = yield* Server.make({ port: 0, tls: certs.server }, handler)
      const socket = yield* tlsConnect(server.address.port)
      socket.write("a\nb\n")
      expect(yield* readLines(socket, 2)).toEqual(["ECHO: a", "ECHO: b"])
      expect(seen()).toMatchObject({ version: "TLSv1.3", peerCertificate: undefined, servername: "localhost" })
      expect(seen()?.cipher).toMatch(/^TLS_/)
    }).pipe(Effect.scoped))

  it.live("mutual TLS: a client's certificate reaches the handler; a client without one is refused and counted", () =>
    Effect.gen(function*() {
      const { handler, seen } = recordingTls()
      const server = yield* Server.make({ port: 0, tls: { ...certs.server, ca: certs.ca, requestCert: true } }, handler)
      const socket = yield* tlsConnect(server.address.port, certs.client)
      socket.write("hi\n")
      expect(yield* readLines(socket, 1)).toEqual(["hi"])
      expect(seen()).toMatchObject({ authorized: true, authorizationError: undefined })
      expect(seen()?.peerCertificate?.subject.CN).toBe("test client")
      expect(seen()?.peerCertificate?.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
      // Without a certificate: TLS 1.3 finishes the client's side first, then the server's alert
      // closes the connection before any byte is served.
      const anonymous = yield* tlsConnect(server.address.port)
      anonymous.write("let me in\n")
      const outcome = yield* readToEnd(anonymous)
      expect(outcome.text).toBe("")
      expect(yield* server.stats).toMatchObject({ accepted: 1, tlsFailures: 1 })
    }).pipe(Effect.scoped))

  it.live("mutual TLS with rejectUnauthorized false lets an unverified client in and says so", () =>
    Effect.gen(function*() {
      const { handler, seen } = recordingTls()
      const server = yield* Server.make({
        port: 0,
        tls: { ...certs.server, ca: certs.ca, requestCert: true, rejectUnauthorized: false }
      }, handler)
      const socket = yield* tlsConnect(server.address.port, certs.selfSigned)
      socket.write("hi\n")
      expect(yield* readLines(socket, 1)).toEqual(["hi"])
      expect(seen()?.authorized).toBe(false)
      expect(seen()?.authorizationError).toBeDefined()
    }).pipe(Effect.scoped))

  it.live("SNI: a client asking for another host name gets that host's certificate", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({
        port: 0,
        tls: { ...certs.server, hosts: { "elsewhere.test": certs.wrongHost } }
      }, echo)
      const other = yield* tlsConnect(server.address.port, { servername: "elsewhere.test" })
      expect(other.getPeerCertificate().subject.CN).toBe("elsewhere.test")
      const local = yield* tlsConnect(server.address.port)
      expect(local.getPeerCertificate().subject.CN).toBe("localhost")
    }).pipe(Effect.scoped))

  it.live("ALPN: the protocol agreed is in connection.tls", () =>
    Effect.gen(function*() {
      const { handler, seen } = recordingTls()
      const server = yield* Server.make(
        { port: 0, tls: { ...certs.server, alpnProtocols: ["wire/2", "wire/1"] } },
        handler
      )
      const socket = yield* tlsConnect(server.address.port, { ALPNProtocols: ["wire/1"] })
      expect(socket.alpnProtocol).toBe("wire/1")
      socket.write("x\n")
      yield* readLines(socket, 1)
      expect(seen()?.alpnProtocol).toBe("wire/1")
    }).pipe(Effect.scoped))

  it.live("graceful shutdown over TLS: replies in flight are delivered before the session ends", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const handler = Server.respond(Framing.lines(), (line) =>
        Effect.zipRight(
          Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(gate)),
          Effect.succeed(Buffer.concat([Buffer.from("late "), line]))
        ))
      const server = yield* Server.make({ port: 0, tls: certs.server }, handler)
      const socket = yield* tlsConnect(server.address.port)
      socket.write("answer\n")
      yield* Deferred.await(started)
      const ending = yield* Effect.fork(server.shutdown)
      yield* server.draining
      yield* Deferred.succeed(gate, undefined)
      const outcome = yield* readToEnd(socket)
      expect(outcome).toEqual({ text: "late answer\n", ended: "fin" })
      yield* Fiber.join(ending)
    }).pipe(Effect.scoped))

  it.live("closes and counts a plaintext client, and goes on serving TLS ones", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      const plain = Net.connect({ host: "127.0.0.1", port: server.address.port })
      plain.on("error", () => {})
      plain.write("hello\n")
      const outcome = yield* readToEnd(plain)
      expect(outcome.text).not.toContain("ECHO")
      expect((yield* server.stats).tlsFailures).toBe(1)
      const socket = yield* tlsConnect(server.address.port)
      socket.write("still here\n")
      expect(yield* readLines(socket, 1)).toEqual(["ECHO: still here"])
      expect(yield* server.stats).toMatchObject({ accepted: 1, errors: 0, tlsFailures: 1 })
    }).pipe(Effect.scoped))

  it.live("closes and counts a peer that never finishes its handshake", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: { ...certs.server, handshakeTimeout: "50 millis" } }, echo)
      const silent = Net.connect({ host: "127.0.0.1", port: server.address.port })
      silent.on("error", () => {})
      yield* closed(silent)
      expect(yield* server.stats).toMatchObject({ accepted: 0, tlsFailures: 1 })
    }).pipe(Effect.scoped))

  it.live("shutdown closes a peer stuck in its handshake, without waiting for the handshake timeout", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: { ...certs.server, handshakeTimeout: "1 hour" } }, echo)
      const silent = Net.connect({ host: "127.0.0.1", port: server.address.port })
      silent.on("error", () => {})
      yield* Effect.async<void>((resume) => {
        silent.once("connect", () => resume(Effect.void))
      })
      // The server has seen the connection once a TLS client connecting after it is served.
      const socket = yield* tlsConnect(server.address.port)
      socket.write("x\n")
      expect(yield* readLines(socket, 1)).toEqual(["ECHO: x"])
      yield* server.shutdown
      yield* closed(silent)
      expect((yield* server.stats).openSockets).toBe(0)
    }).pipe(Effect.scoped))

  it.live("reloads its certificate: new connections get the new one, open ones keep their session", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      const before = yield* tlsConnect(server.address.port)
      yield* server.setSecureContext(certs.server2)
      const after = yield* tlsConnect(server.address.port, { ca: certs.ca2 })
      after.write("new\n")
      expect(yield* readLines(after, 1)).toEqual(["ECHO: new"])
      before.write("old\n")
      expect(yield* readLines(before, 1)).toEqual(["ECHO: old"])
      // The first CA no longer verifies new connections.
      const refused = yield* Effect.flip(tlsConnect(server.address.port))
      expect(refused.code).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE")
    }).pipe(Effect.scoped))

  it.live("a reload with a broken key fails with TlsError and keeps the certificate in use", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      const error = yield* Effect.flip(server.setSecureContext({ key: "not a key", cert: certs.server.cert }))
      expect(Tls.isTlsError(error)).toBe(true)
      expect(error.message).toContain("certificate not replaced")
      const socket = yield* tlsConnect(server.address.port)
      socket.write("x\n")
      expect(yield* readLines(socket, 1)).toEqual(["ECHO: x"])
    }).pipe(Effect.scoped))

  it.live("setSecureContext on a plain TCP server fails with TlsError", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0 }, echo)
      const error = yield* Effect.flip(server.setSecureContext(certs.server))
      expect(error._tag).toBe("TlsError")
    }).pipe(Effect.scoped))
})
