/**
 * Clients over TLS and Unix domain sockets: `Client.connect` and `RpcClient.connect` with `tls`
 * or `path` against effect-wire servers, and the typed errors of failed handshakes (expired,
 * self-signed, another host's certificate, a server speaking plain TCP), which are not retried.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { Buffer } from "node:buffer"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Client from "../../src/client/Client.js"
import * as RpcClient from "../../src/client/RpcClient.js"
import type * as Connection from "../../src/connection/Connection.js"
import * as Tls from "../../src/connection/Tls.js"
import * as Framing from "../../src/protocol/Framing.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { type Certs, makeCerts, removeCerts } from "../connection/certs.js"
import { Calc, calcHandlers, Gates } from "../rpc/fixtures.js"

let certs: Certs
beforeAll(() => {
  certs = makeCerts()
})
afterAll(() => removeCerts(certs))

const echo = Server.respond(Framing.lines(), (line) => Effect.succeed(Buffer.concat([Buffer.from("ECHO: "), line])))

const line = (conn: Connection.Connection, text: string) =>
  Effect.zipRight(
    conn.write(`${text}\n`),
    Effect.map(conn.readLine(), (b) => Buffer.from(b).toString("utf8").trimEnd())
  )

/** A plain TCP server that greets in plaintext and counts its connections. */
const plainGreeter = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly server: Net.Server; readonly count: () => number }>((resume) => {
    let count = 0
    const server = Net.createServer((socket) => {
      count++
      socket.on("error", () => {})
      // Reads (and drops) what comes, so that the client's FIN is seen and the socket closes.
      socket.resume()
      socket.end("hello, this is not TLS\n")
    })
    server.listen(0, "127.0.0.1", () => {
      resume(Effect.succeed({ port: (server.address() as Net.AddressInfo).port, server, count: () => count }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

describe("Client over TLS", () => {
  it.live("connects with the test CA and sees the server's certificate", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      const conn = yield* Client.connect({ port: server.address.port, tls: { ca: certs.ca } })
      expect(yield* line(conn, "hi")).toBe("ECHO: hi")
      expect(conn.tls).toMatchObject({ authorized: true, version: "TLSv1.3" })
      expect(conn.tls?.peerCertificate?.subject.CN).toBe("localhost")
      expect(conn.tls?.peerCertificate?.subjectAltName).toContain("IP Address:127.0.0.1")
    }).pipe(Effect.scoped))

  it.live("mutual TLS: the client's certificate reaches the server", () =>
    Effect.gen(function*() {
      const handler = Server.respond(Framing.lines(), (_line, conn: Connection.Connection) =>
        Effect.succeed(Buffer.from(conn.tls?.peerCertificate?.subject.CN ?? "anonymous")))
      const server = yield* Server.make({ port: 0, tls: { ...certs.server, ca: certs.ca, requestCert: true } }, handler)
      const conn = yield* Client.connect({ port: server.address.port, tls: { ca: certs.ca, ...certs.client } })
      expect(yield* line(conn, "who")).toBe("test client")
    }).pipe(Effect.scoped))

  const refused = (
    name: string,
    tls: (certs: Certs) => Tls.ServerOptions,
    client: (certs: Certs) => Tls.ClientOptions,
    code: string,
    hint: string
  ) =>
    it.live(name, () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0, tls: tls(certs) }, echo)
        const error = yield* Effect.flip(Client.connect({ port: server.address.port, tls: client(certs) }))
        expect(Tls.isTlsError(error)).toBe(true)
        expect(error).toMatchObject({ _tag: "TlsError", side: "client", code })
        expect(error.message).toContain(hint)
      }).pipe(Effect.scoped))

  refused(
    "an expired certificate fails with TlsError CERT_HAS_EXPIRED",
    (c) => c.expired,
    (c) => ({ ca: c.ca }),
    "CERT_HAS_EXPIRED",
    "expired"
  )
  refused(
    "a self-signed certificate fails with DEPTH_ZERO_SELF_SIGNED_CERT and a hint to trust it",
    (c) => c.selfSigned,
    () => ({}),
    "DEPTH_ZERO_SELF_SIGNED_CERT",
    "--tls-ca"
  )
  refused(
    "another host's certificate fails with ERR_TLS_CERT_ALTNAME_INVALID",
    (c) => c.wrongHost,
    (c) => ({ ca: c.ca }),
    "ERR_TLS_CERT_ALTNAME_INVALID",
    "another host name"
  )

  it.live("rejectUnauthorized false connects to a self-signed server, and says it is not verified", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.selfSigned }, echo)
      const conn = yield* Client.connect({ port: server.address.port, tls: { rejectUnauthorized: false } })
      expect(yield* line(conn, "x")).toBe("ECHO: x")
      expect(conn.tls?.authorized).toBe(false)
    }).pipe(Effect.scoped))

  it.live("a server speaking plain TCP fails with a hint, and a TLS failure is not retried", () =>
    Effect.gen(function*() {
      const plain = yield* plainGreeter
      const error = yield* Effect.flip(
        Client.connect({ port: plain.port, tls: { ca: certs.ca }, retry: Schedule.recurs(3) })
      )
      expect(error).toMatchObject({ _tag: "TlsError", code: "ERR_SSL_WRONG_VERSION_NUMBER" })
      expect(error.message).toContain("is the server speaking plain TCP?")
      expect(plain.count()).toBe(1)
    }).pipe(Effect.scoped))

  it.live("a refused connection is still a ConnectError, and is retried", () =>
    Effect.gen(function*() {
      const port = yield* Effect.scoped(Effect.map(Server.make({ port: 0 }, echo), (s) => s.address.port))
      // Nothing listens there any more.
      const error = yield* Effect.flip(
        Client.connect({ port, tls: { ca: certs.ca }, retry: Schedule.recurs(1) })
      )
      expect(error).toMatchObject({ _tag: "ConnectError", code: "ECONNREFUSED" })
    }).pipe(Effect.scoped))

  it.live("abort over TLS ends the connection at once (Node cannot reset a TLS socket)", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      const conn = yield* Client.connect({ port: server.address.port, tls: { ca: certs.ca } })
      expect(yield* line(conn, "before")).toBe("ECHO: before")
      yield* conn.abort
      const error = yield* Effect.flip(conn.write("after\n"))
      expect(error._tag).toBe("ConnectionClosed")
    }).pipe(Effect.scoped))

  it.live("RpcClient and RpcServer over TLS", () =>
    Effect.gen(function*() {
      const server = yield* Server.make(
        { port: 0, tls: certs.server },
        RpcServer.handler(Calc, calcHandlers(new Gates()))
      )
      const client = yield* RpcClient.connect(Calc, { port: server.address.port, tls: { ca: certs.ca } })
      expect(yield* client.add({ a: 2, b: 3 })).toBe(5)
    }).pipe(Effect.scoped))
})

describe("Client over a Unix domain socket", () => {
  it.live("connects by path to a server listening on it", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-wire-unix-"))),
        (d) => Effect.sync(() => Fs.rmSync(d, { recursive: true, force: true }))
      )
      const path = Path.join(dir, "calc.sock")
      yield* Server.make({ path }, RpcServer.handler(Calc, calcHandlers(new Gates())))
      const client = yield* RpcClient.connect(Calc, { path })
      expect(yield* client.add({ a: 1, b: 1 })).toBe(2)
      const conn = yield* Client.connect({ path })
      yield* conn.write("not json\n")
      expect(Buffer.from(yield* conn.readLine()).toString()).toContain("error")
    }).pipe(Effect.scoped))

  it.live("a path where nothing listens is a ConnectError naming the path", () =>
    Effect.gen(function*() {
      const path = Path.join(Os.tmpdir(), `effect-wire-missing-${process.pid}.sock`)
      const error = yield* Effect.flip(Client.connect({ path }))
      expect(error).toMatchObject({ _tag: "ConnectError", code: "ENOENT" })
      expect(error.message).toContain(path)
    }).pipe(Effect.scoped))

  it("refuses both port and path, and neither", () => {
    expect(() => Client.layer(class X {} as never, { port: 1, path: "/tmp/x.sock" })).toThrow(/either port or path/)
    expect(() => Client.layer(class X {} as never, {})).toThrow(/port \(or path\) is required/)
  })
})
