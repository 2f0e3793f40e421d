/**
 * Interop over TLS with peers we did not write, run as child processes: the `openssl` command
 * line (`s_client` against our server, `s_server` against our client) and Python asyncio with
 * the standard library's `ssl.create_default_context()` (client and server, lines and the
 * chapter's RPC format). Certificates are made at test time (see `../connection/certs.ts`).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Buffer } from "node:buffer"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Client from "../../src/client/Client.js"
import * as RpcClient from "../../src/client/RpcClient.js"
import type * as Connection from "../../src/connection/Connection.js"
import * as Tls from "../../src/connection/Tls.js"
import * as ChapterRpc from "../../src/protocol/ChapterRpc.js"
import * as Framing from "../../src/protocol/Framing.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { type Certs, makeCerts, removeCerts } from "../connection/certs.js"
import { Calc, calcHandlers, Gates } from "../rpc/fixtures.js"

let certs: Certs
beforeAll(() => {
  certs = makeCerts()
})
afterAll(() => removeCerts(certs))

/** A file of the certificate directory (`ca.crt`, `server.key`…). */
const file = (name: string) => Path.join(certs.dir, name)
/** openssl's `-cert` / `-key` arguments for one of the certificates made in `beforeAll`. */
const identity = (name: string) => ["-cert", file(`${name}.crt`), "-key", file(`${name}.key`)]
const peerScript = Path.join(import.meta.dirname, "python", "tls_peer.py")

/** A child process whose output is watched line by line. */
interface Peer {
  readonly child: ChildProcess.ChildProcess
  /** stdout and stderr so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** The first stdout line matching `pattern` (already printed or to come); fails if the process exits first. */
  readonly line: (pattern: RegExp) => Effect.Effect<RegExpMatchArray, Error>
  /** Waits for the process to exit; its exit code (null when killed by a signal). */
  readonly exit: Effect.Effect<number | null>
}

/**
 * Spawns `command`, killed (SIGKILL) when the scope closes unless it has exited by then; the
 * finalizer waits for its exit.
 */
const spawn = (command: string, args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Peer => {
      const child = ChildProcess.spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] })
      let out = ""
      let err = ""
      let exited: { code: number | null } | undefined
      const waiters = new Set<() => void>()
      const wake = () => {
        for (const w of [...waiters]) w()
      }
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString("utf8")
        wake()
      })
      child.stderr!.on("data", (d: Buffer) => {
        err += d.toString("utf8")
      })
      // stdin of a process that exited: writes fail with EPIPE, which the exit already tells.
      child.stdin!.on("error", () => {})
      child.once("error", (e) => {
        err += `\nspawn error: ${e.message}`
        exited = { code: -1 }
        wake()
      })
      // "close": exited and its stdout / stderr fully read.
      child.once("close", (code) => {
        exited = { code }
        wake()
      })
      const line = (pattern: RegExp) =>
        Effect.async<RegExpMatchArray, Error>((resume) => {
          const check = () => {
            const complete = out.slice(0, out.lastIndexOf("\n") + 1).split("\n")
            for (const l of complete) {
              const m = l.match(pattern)
              if (m !== null) {
                waiters.delete(check)
                return resume(Effect.succeed(m))
              }
            }
            if (exited !== undefined) {
              waiters.delete(check)
              resume(Effect.fail(
                new Error(
                  `${command} exited (${exited.code}) before printing ${pattern}\nstdout:\n${out}\nstderr:\n${err}`
                )
              ))
            }
          }
          waiters.add(check)
          check()
          return Effect.sync(() => waiters.delete(check))
        })
      const exit = Effect.async<number | null>((resume) => {
        const check = () => {
          if (exited !== undefined) {
            waiters.delete(check)
            resume(Effect.succeed(exited.code))
          }
        }
        waiters.add(check)
        check()
        return Effect.sync(() => waiters.delete(check))
      })
      return { child, stdout: () => out, stderr: () => err, line, exit }
    }),
    (peer) =>
      Effect.suspend(() => {
        if (peer.child.exitCode === null && peer.child.signalCode === null) peer.child.kill("SIGKILL")
        return Effect.asVoid(peer.exit)
      })
  )

/** Runs a `tls_peer.py` client mode to completion; the JSON it prints. */
const python = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const peer = yield* spawn("python3", [peerScript, ...args])
    peer.child.stdin!.end()
    const code = yield* peer.exit
    if (code !== 0) return yield* Effect.fail(new Error(`tls_peer.py ${args[0]} exited ${code}\n${peer.stderr()}`))
    return JSON.parse(peer.stdout()) as Record<string, unknown>
  }).pipe(Effect.scoped)

/** Starts a `tls_peer.py` server mode; its port. Killed with the scope. */
const pythonServer = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const peer = yield* spawn("python3", [peerScript, ...args])
    const [, port] = yield* peer.line(/^(\d+)$/)
    return Number(port)
  })

/** `openssl s_server` on a port of its choosing (`ACCEPT 127.0.0.1:PORT`), killed with the scope. */
const sServer = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const peer = yield* spawn("openssl", ["s_server", "-accept", "127.0.0.1:0", ...args])
    const [, port] = yield* peer.line(/^ACCEPT 127\.0\.0\.1:(\d+)$/)
    return { peer, port: Number(port) }
  })

/**
 * `openssl s_client` to our server at `port`, verifying it against the test CA as `name`
 * (`localhost` unless told), which it also asks for by SNI.
 */
const sClient = (port: number, args: ReadonlyArray<string> = [], name = "localhost") =>
  spawn("openssl", [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-CAfile",
    file("ca.crt"),
    "-servername",
    name,
    "-verify_hostname",
    name,
    "-verify_return_error",
    ...args
  ])

/**
 * Writes `text` to a peer's stdin, then waits for the stdout line matching `reply`. s_client
 * writes what it receives straight to fd 1 while its session report goes through a stdio buffer,
 * so a reply may land in the middle of a report line: match the reply at the line's end only.
 */
const say = (peer: Peer, text: string, reply: RegExp) =>
  Effect.zipRight(Effect.sync(() => peer.child.stdin!.write(text)), peer.line(reply))

const echo = Server.respond(Framing.lines(), (line) => Effect.succeed(Buffer.concat([Buffer.from("ECHO: "), line])))

/** Answers each line with the client certificate's CN (mutual TLS), e.g. `test client says hi`. */
const whoAmI = Server.respond(
  Framing.lines(),
  (line, conn: Connection.Connection) =>
    Effect.succeed(
      Buffer.from(`${conn.tls?.peerCertificate?.subject.CN ?? "anonymous"} says ${Buffer.from(line).toString("utf8")}`)
    )
)

const lineOf = (conn: Connection.Connection, text: string) =>
  Effect.zipRight(
    conn.write(`${text}\n`),
    Effect.map(conn.readLine(), (b) => Buffer.from(b).toString("utf8").trimEnd())
  )

const Chapter = Protocol.make(
  Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number }),
  Protocol.method("greet", { params: { name: Schema.String }, success: Schema.String }),
  Protocol.method("echo", { params: Schema.Unknown, success: Schema.Unknown })
)

describe("TLS interop: openssl s_client against our server", () => {
  it.live("s_client verifies our certificate, negotiates TLS 1.3 and gets the echo", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      const client = yield* sClient(server.address.port)
      yield* say(client, "hello over openssl\n", /ECHO: hello over openssl$/)
      // Without -quiet, stdin's EOF ends s_client (close_notify); its report is complete then.
      client.child.stdin!.end()
      expect(yield* client.exit).toBe(0)
      const out = client.stdout()
      expect(out).toContain("Verify return code: 0 (ok)")
      expect(out).toMatch(/^New, TLSv1\.3, Cipher is TLS_/m)
      expect(out).toMatch(/subject=CN ?= ?localhost/)
      expect(yield* server.stats).toMatchObject({ accepted: 1, tlsFailures: 0 })
    }).pipe(Effect.scoped))

  it.live("ALPN: s_client -alpn agrees on the server's protocol", () =>
    Effect.gen(function*() {
      let seen: string | undefined
      const handler = Server.respond(Framing.lines(), (line, conn: Connection.Connection) =>
        Effect.sync(() => {
          seen = conn.tls?.alpnProtocol
          return line
        }))
      const server = yield* Server.make(
        { port: 0, tls: { ...certs.server, alpnProtocols: ["wire/2", "wire/1"] } },
        handler
      )
      const client = yield* sClient(server.address.port, ["-alpn", "wire/1,other/9"])
      yield* say(client, "alpn check\n", /alpn check$/)
      client.child.stdin!.end()
      expect(yield* client.exit).toBe(0)
      expect(client.stdout()).toContain("ALPN protocol: wire/1")
      expect(seen).toBe("wire/1")
    }).pipe(Effect.scoped))

  it.live("mutual TLS: s_client's -cert reaches the handler; s_client without one is refused and counted", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: { ...certs.server, ca: certs.ca, requestCert: true } }, whoAmI)
      const client = yield* sClient(server.address.port, identity("client"))
      yield* say(client, "hi\n", /test client says hi$/)
      client.child.stdin!.end()
      expect(yield* client.exit).toBe(0)
      expect(client.stdout()).toContain("Verify return code: 0 (ok)")

      // TLS 1.3: s_client's side of the handshake completes, then the server's alert ends it.
      const anonymous = yield* sClient(server.address.port)
      anonymous.child.stdin!.write("let me in\n")
      const code = yield* anonymous.exit
      expect(code).not.toBe(0)
      expect(anonymous.stderr()).toMatch(/alert certificate required|alert handshake failure/)
      expect(anonymous.stdout()).not.toContain("says")
      expect(yield* server.stats).toMatchObject({ accepted: 1, tlsFailures: 1 })
    }).pipe(Effect.scoped))
  it.live("close_notify: s_client waiting on our server ends cleanly at graceful shutdown and when a handler ends", () =>
    Effect.gen(function*() {
      // s_client tells a close_notify ("closed", exit 0) from a bare TCP EOF ("unexpected eof
      // while reading", exit 1).
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      const waiting = yield* sClient(server.address.port)
      yield* say(waiting, "before shutdown\n", /ECHO: before shutdown$/)
      yield* server.shutdown
      expect(yield* waiting.exit).toBe(0)
      expect(waiting.stderr()).not.toMatch(/unexpected eof/)
      expect(waiting.stdout()).toMatch(/^closed$/m)

      const once = yield* Server.make({ port: 0, tls: certs.server }, (conn) =>
        Effect.gen(function*() {
          const line = yield* conn.readLine()
          yield* conn.write(Buffer.concat([Buffer.from("LAST: "), line]))
        }))
      const client = yield* sClient(once.address.port)
      yield* say(client, "one\n", /LAST: one$/)
      expect(yield* client.exit).toBe(0)
      expect(client.stderr()).not.toMatch(/unexpected eof/)
      expect(client.stdout()).toMatch(/^closed$/m)
    }).pipe(Effect.scoped))

  it.live("SNI: s_client asking for another host name gets (and verifies) that host's certificate", () =>
    Effect.gen(function*() {
      let seen: string | undefined
      const handler = Server.respond(Framing.lines(), (line, conn: Connection.Connection) =>
        Effect.sync(() => {
          seen = conn.tls?.servername
          return line
        }))
      const server = yield* Server.make({
        port: 0,
        tls: { ...certs.server, hosts: { "elsewhere.test": certs.wrongHost } }
      }, handler)
      const client = yield* sClient(server.address.port, [], "elsewhere.test")
      yield* say(client, "sni check\n", /sni check$/)
      client.child.stdin!.end()
      expect(yield* client.exit).toBe(0)
      expect(client.stdout()).toMatch(/subject=CN ?= ?elsewhere\.test/)
      expect(client.stdout()).toContain("Verify return code: 0 (ok)")
      expect(seen).toBe("elsewhere.test")
    }).pipe(Effect.scoped))

  it.live("TLS 1.2: s_client -tls1_2 is served and the handler sees TLSv1.2; a minVersion TLSv1.3 server refuses it", () =>
    Effect.gen(function*() {
      let seen: string | undefined
      const handler = Server.respond(Framing.lines(), (line, conn: Connection.Connection) =>
        Effect.sync(() => {
          seen = conn.tls?.version
          return line
        }))
      const server = yield* Server.make({ port: 0, tls: certs.server }, handler)
      const client = yield* sClient(server.address.port, ["-tls1_2"])
      yield* say(client, "old but fine\n", /old but fine$/)
      client.child.stdin!.end()
      expect(yield* client.exit).toBe(0)
      expect(client.stdout()).toMatch(/^New, TLSv1\.2, Cipher is ECDHE-/m)
      expect(seen).toBe("TLSv1.2")

      const strict = yield* Server.make({ port: 0, tls: { ...certs.server, minVersion: "TLSv1.3" } }, handler)
      const old = yield* sClient(strict.address.port, ["-tls1_2"])
      old.child.stdin!.end()
      expect(yield* old.exit).not.toBe(0)
      expect(old.stderr()).toMatch(/alert protocol version/)
      expect(yield* strict.stats).toMatchObject({ accepted: 0, tlsFailures: 1 })
    }).pipe(Effect.scoped))

  it.live("session resumption: s_client -sess_in resumes, and under mutual TLS the handler still sees the client's CN", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: { ...certs.server, ca: certs.ca, requestCert: true } }, whoAmI)
      const session = file("session.pem")
      const mtls = identity("client")
      const first = yield* sClient(server.address.port, [...mtls, "-sess_out", session])
      yield* say(first, "first\n", /test client says first$/)
      first.child.stdin!.end()
      expect(yield* first.exit).toBe(0)
      expect(first.stdout()).toMatch(/^New, TLSv1\.3/m)

      const second = yield* sClient(server.address.port, [...mtls, "-sess_in", session])
      yield* say(second, "again\n", /test client says again$/)
      second.child.stdin!.end()
      expect(yield* second.exit).toBe(0)
      expect(second.stdout()).toMatch(/^Reused, TLSv1\.3/m)
      expect(yield* server.stats).toMatchObject({ accepted: 2, tlsFailures: 0 })
    }).pipe(Effect.scoped))

  it.live("mutual TLS with rejectUnauthorized false: s_client's self-signed certificate gets in, flagged unverified", () =>
    Effect.gen(function*() {
      const handler = Server.respond(Framing.lines(), (_line, conn: Connection.Connection) =>
        Effect.succeed(
          Buffer.from(
            `authorized=${conn.tls?.authorized} error=${conn.tls?.authorizationError} cn=${conn.tls?.peerCertificate?.subject.CN}`
          )
        ))
      const server = yield* Server.make({
        port: 0,
        tls: { ...certs.server, ca: certs.ca, requestCert: true, rejectUnauthorized: false }
      }, handler)
      const client = yield* sClient(server.address.port, identity("self"))
      const [reply] = yield* say(client, "who\n", /authorized=.*$/)
      expect(reply).toBe("authorized=false error=DEPTH_ZERO_SELF_SIGNED_CERT cn=localhost")
    }).pipe(Effect.scoped))
})

describe("TLS interop: our client against openssl s_server", () => {
  it.live("Client.connect verifies s_server's certificate and reads what -rev sends back", () =>
    Effect.gen(function*() {
      const { peer, port } = yield* sServer([
        ...identity("server"),
        "-rev",
        "-naccept",
        "1"
      ])
      yield* Effect.scoped(Effect.gen(function*() {
        const conn = yield* Client.connect({ port, tls: { ca: certs.ca, servername: "localhost" } })
        expect(yield* lineOf(conn, "effect-wire")).toBe("eriw-tceffe")
        expect(conn.tls).toMatchObject({ authorized: true, authorizationError: undefined, version: "TLSv1.3" })
        expect(conn.tls?.peerCertificate?.subject.CN).toBe("localhost")
        expect(conn.tls?.peerCertificate?.issuer.CN).toBe("ca test CA")
      }))
      // Our close ends s_server's one connection (-naccept 1): it exits, its report (on stderr
      // in -rev mode) flushed.
      expect(yield* peer.exit).toBe(0)
      expect(peer.stderr()).toMatch(/^Protocol version: TLSv1\.3$/m)
      expect(peer.stderr()).toMatch(/^No peer certificate$/m)
      expect(peer.stderr()).toContain("CONNECTION CLOSED")
    }).pipe(Effect.scoped))

  it.live("Client.connect({ tls: { ca } }) to 127.0.0.1 with no servername checks s_server's certificate against its IP address", () =>
    Effect.gen(function*() {
      const { port } = yield* sServer([
        ...identity("server"),
        "-rev",
        "-naccept",
        "1"
      ])
      const conn = yield* Client.connect({ port, tls: { ca: certs.ca } })
      expect(yield* lineOf(conn, "by address")).toBe("sserdda yb")
      expect(conn.tls?.authorized).toBe(true)
      expect(conn.tls?.peerCertificate?.subjectAltName).toContain("IP Address:127.0.0.1")
    }).pipe(Effect.scoped))

  it.live("the connect timeout covers the handshake: s_server busy with another client never answers ours", () =>
    Effect.gen(function*() {
      const { port } = yield* sServer([...identity("server"), "-rev"])
      // s_server serves one connection at a time: while this one is open, the next one's TCP
      // connect succeeds (the backlog) but its handshake is never answered.
      const first = yield* Client.connect({ port, tls: { ca: certs.ca, servername: "localhost" } })
      expect(yield* lineOf(first, "busy")).toBe("ysub")
      const error = yield* Effect.flip(
        Client.connect({ port, connectTimeout: "300 millis", tls: { ca: certs.ca, servername: "localhost" } })
      )
      expect(error).toMatchObject({ _tag: "ConnectError", code: "ETIMEDOUT" })
      expect(error.message).toContain("TLS handshake included")
    }).pipe(Effect.scoped))

  it.live("s_server in its interactive mode: our client reads what it sends, and closes with close_notify", () =>
    Effect.gen(function*() {
      // Without -rev, s_server prints what it receives and sends what its stdin gets; at the
      // end it prints DONE for a close_notify, ERROR ("unexpected eof while reading") for a bare EOF.
      const { peer, port } = yield* sServer([...identity("server"), "-naccept", "1"])
      yield* Effect.scoped(Effect.gen(function*() {
        const conn = yield* Client.connect({ port, tls: { ca: certs.ca, servername: "localhost" } })
        yield* conn.write("from effect-wire\n")
        yield* peer.line(/from effect-wire$/)
        peer.child.stdin!.write("from s_server\n")
        expect(Buffer.from(yield* conn.readLine()).toString("utf8")).toBe("from s_server\n")
      }))
      expect(yield* peer.exit).toBe(0)
      expect(peer.stdout()).toMatch(/^DONE$/m)
      expect(peer.stderr()).not.toMatch(/unexpected eof/)
    }).pipe(Effect.scoped))

  it.live("ALPN and mutual TLS with s_server: the protocol agreed, and s_server sees our client certificate", () =>
    Effect.gen(function*() {
      const { peer, port } = yield* sServer([
        ...identity("server"),
        "-alpn",
        "wire/1",
        "-Verify",
        "1",
        "-verifyCAfile",
        file("ca.crt"),
        "-verify_return_error",
        "-rev",
        "-naccept",
        "1"
      ])
      yield* Effect.scoped(Effect.gen(function*() {
        const conn = yield* Client.connect({
          port,
          tls: { ca: certs.ca, servername: "localhost", alpnProtocols: ["other/9", "wire/1"], ...certs.client }
        })
        expect(yield* lineOf(conn, "abc")).toBe("cba")
        expect(conn.tls?.alpnProtocol).toBe("wire/1")
      }))
      expect(yield* peer.exit).toBe(0)
      expect(peer.stderr()).toMatch(/^Peer certificate: CN ?= ?test client$/m)
      expect(peer.stderr()).toMatch(/^Verification: OK$/m)
      expect(peer.stdout()).toMatch(/^ALPN protocols selected: wire\/1$/m)
    }).pipe(Effect.scoped))

  it.live("s_server limited to TLS 1.2: Client.connect negotiates it; with minVersion TLSv1.3 it fails with a TlsError", () =>
    Effect.gen(function*() {
      const { port } = yield* sServer([...identity("server"), "-rev", "-tls1_2"])
      // s_server serves one connection at a time: the first is closed before the second.
      yield* Effect.scoped(Effect.gen(function*() {
        const conn = yield* Client.connect({ port, tls: { ca: certs.ca, servername: "localhost" } })
        expect(yield* lineOf(conn, "tls12")).toBe("21slt")
        expect(conn.tls?.version).toBe("TLSv1.2")
      }))
      const error = yield* Effect.flip(
        Client.connect({ port, tls: { ca: certs.ca, servername: "localhost", minVersion: "TLSv1.3" } })
      )
      expect(Tls.isTlsError(error)).toBe(true)
      expect(error).toMatchObject({ _tag: "TlsError", side: "client" })
      expect(error.message).toContain("no TLS version in common")
    }).pipe(Effect.scoped))

  it.live("s_server requiring a client certificate (-Verify): without one, connect succeeds (TLS 1.3) and the first read fails with the server's alert", () =>
    Effect.gen(function*() {
      const { peer, port } = yield* sServer([
        ...identity("server"),
        "-Verify",
        "1",
        "-verifyCAfile",
        file("ca.crt"),
        "-verify_return_error",
        "-rev"
      ])
      const conn = yield* Client.connect({ port, tls: { ca: certs.ca, servername: "localhost" } })
      // Nothing written: s_server closes with its alert and a FIN (not a reset for unread data).
      const read = yield* Effect.either(conn.readLine())
      expect(read._tag).toBe("Left")
      if (read._tag === "Left") {
        expect(read.left).toMatchObject({ _tag: "ConnectionFailed", code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" })
        // OpenSSL's reason without its source location, and what to do about it.
        expect(read.left.message).toBe(
          "connection failed ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: tlsv13 alert certificate required" +
            " (the server wants a client certificate (`cert` / `key`))"
        )
      }
      yield* peer.line(/^ACCEPT/)
    }).pipe(Effect.scoped))

  it.live("s_server presenting an expired certificate: Client.connect fails with TlsError CERT_HAS_EXPIRED", () =>
    Effect.gen(function*() {
      const { port } = yield* sServer([...identity("expired"), "-rev"])
      const error = yield* Effect.flip(Client.connect({ port, tls: { ca: certs.ca, servername: "localhost" } }))
      expect(Tls.isTlsError(error)).toBe(true)
      expect(error).toMatchObject({ _tag: "TlsError", side: "client", code: "CERT_HAS_EXPIRED" })
      expect(error.message).toContain("expired")
    }).pipe(Effect.scoped))
})

describe("TLS interop: Python asyncio with ssl.create_default_context()", () => {
  it.live("a Python client verifies our server and gets its echo over TLS 1.3", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      const out = yield* python(["client", String(server.address.port), file("ca.crt"), "--", "one", "two", "three"])
      expect(out).toMatchObject({
        replies: ["ECHO: one", "ECHO: two", "ECHO: three"],
        version: "TLSv1.3",
        peer_cn: "localhost"
      })
      expect(out.error).toBeUndefined()
    }).pipe(Effect.scoped))

  it.live("mutual TLS: a Python client's certificate reaches the handler; without one it is refused", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: { ...certs.server, ca: certs.ca, requestCert: true } }, whoAmI)
      const withCert = yield* python([
        "client",
        String(server.address.port),
        file("ca.crt"),
        file("client.crt"),
        file("client.key"),
        "--",
        "hello"
      ])
      expect(withCert).toMatchObject({ replies: ["test client says hello"] })
      const without = yield* python(["client", String(server.address.port), file("ca.crt"), "--", "hello"])
      expect(without.replies).toEqual([])
      expect(String(without.detail ?? without.ended)).toMatch(/CERTIFICATE_REQUIRED|eof/)
      expect(yield* server.stats).toMatchObject({ accepted: 1, tlsFailures: 1 })
    }).pipe(Effect.scoped))

  it.live("graceful shutdown: a Python client waiting on our TLS server has its reply, then a clean EOF", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      const peer = yield* spawn("python3", [
        peerScript,
        "hold",
        String(server.address.port),
        file("ca.crt"),
        "before shutdown"
      ])
      const [reply] = yield* peer.line(/^\{"reply".*$/)
      expect(JSON.parse(reply)).toEqual({ reply: "ECHO: before shutdown" })
      yield* server.shutdown
      const [ended] = yield* peer.line(/^\{"ended".*$/)
      expect(JSON.parse(ended)).toEqual({ ended: "eof", extra: "" })
      expect(yield* peer.exit).toBe(0)
    }).pipe(Effect.scoped))

  it.live("a handler that ends: a Python client gets its last write, then a clean EOF", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, (conn) =>
        Effect.gen(function*() {
          const line = yield* conn.readLine()
          yield* conn.write(Buffer.concat([Buffer.from("LAST: "), line, Buffer.from("bye\n")]))
        }))
      const peer = yield* spawn("python3", [peerScript, "hold", String(server.address.port), file("ca.crt"), "one"])
      const [reply] = yield* peer.line(/^\{"reply".*$/)
      expect(JSON.parse(reply)).toEqual({ reply: "LAST: one" })
      const [ended] = yield* peer.line(/^\{"ended".*$/)
      expect(JSON.parse(ended)).toEqual({ ended: "eof", extra: "bye\n" })
      expect(yield* peer.exit).toBe(0)
    }).pipe(Effect.scoped))

  it.live("a Python client makes 500 pipelined chapter-format calls to our RpcServer over TLS", () =>
    Effect.gen(function*() {
      const server = yield* Server.make(
        { port: 0, tls: certs.server },
        RpcServer.handler(Calc, calcHandlers(new Gates()), { format: ChapterRpc.format, framing: ChapterRpc.framing() })
      )
      const out = yield* python(["rpc-client", String(server.address.port), file("ca.crt"), "500"])
      expect(out).toEqual({
        missing: 0,
        mismatched: 0,
        errors: 0,
        extra: { 501: "Hello, Python!", 502: { error: "Unknown method: no_such_method" } },
        version: "TLSv1.3"
      })
    }).pipe(Effect.scoped))

  it.live("Client.connect talks to a Python asyncio TLS server, presents its certificate to one that requires it, and gets no reply without one", () =>
    Effect.gen(function*() {
      const port = yield* pythonServer(["line-server", file("server.crt"), file("server.key")])
      const conn = yield* Client.connect({ port, tls: { ca: certs.ca, servername: "localhost" } })
      expect(yield* lineOf(conn, "hi")).toBe("PY - hi")
      expect(conn.tls).toMatchObject({ authorized: true, version: "TLSv1.3" })
      expect(conn.tls?.peerCertificate?.subject.CN).toBe("localhost")

      const mutual = yield* pythonServer(["line-server", file("server.crt"), file("server.key"), file("ca.crt")])
      const withCert = yield* Client.connect({
        port: mutual,
        tls: { ca: certs.ca, servername: "localhost", ...certs.client }
      })
      expect(yield* lineOf(withCert, "hi")).toBe("PY test client hi")
      // Without one, TLS 1.3 completes our side of the handshake; the server then drops us, so
      // the first read ends the connection (EOF, or the alert as a ConnectionFailed): no reply.
      const anonymous = yield* Client.connect({ port: mutual, tls: { ca: certs.ca, servername: "localhost" } })
      const read = yield* Effect.either(anonymous.readLine())
      if (read._tag === "Right") expect(read.right).toEqual(new Uint8Array(0))
      else expect(read.left).toMatchObject({ _tag: "ConnectionFailed" })
    }).pipe(Effect.scoped))

  it.live("RpcClient makes 500 calls to a Python asyncio chapter-format server over TLS", () =>
    Effect.gen(function*() {
      const port = yield* pythonServer(["rpc-server", file("server.crt"), file("server.key")])
      const client = yield* RpcClient.connect(Chapter, {
        port,
        tls: { ca: certs.ca, servername: "localhost" },
        format: ChapterRpc.format,
        framing: ChapterRpc.framing()
      })
      const sums = yield* Effect.forEach(
        Array.from({ length: 500 }, (_, i) => i),
        (i) => client.add({ a: i, b: 2 * i }),
        { concurrency: 32 }
      )
      expect(sums).toEqual(Array.from({ length: 500 }, (_, i) => 3 * i))
      expect(yield* client.greet({ name: "TLS" })).toBe("Hello, TLS!")
      expect(yield* client.echo({ nested: [1, "two"] })).toEqual({ nested: [1, "two"] })
    }).pipe(Effect.scoped))
})

describe("TLS interop: plaintext peers", () => {
  it.live("a plaintext Python client is closed without a reply, and TLS peers are still served", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      const plain = yield* python(["plain", String(server.address.port)])
      // At most a TLS alert record (content type 0x15), never an echo.
      expect(String(plain.received)).toMatch(/^(15[0-9a-f]*)?$/)
      expect(["eof", "reset"]).toContain(plain.ended)
      expect(yield* server.stats).toMatchObject({ accepted: 0, tlsFailures: 1 })

      const tls = yield* python(["client", String(server.address.port), file("ca.crt"), "--", "still here"])
      expect(tls).toMatchObject({ replies: ["ECHO: still here"] })
      expect(yield* server.stats).toMatchObject({ accepted: 1, tlsFailures: 1 })
    }).pipe(Effect.scoped))

  it.live("a peer that connects and never starts its handshake is closed at handshakeTimeout and counted", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: { ...certs.server, handshakeTimeout: "300 millis" } }, echo)
      const silent = yield* python(["silent", String(server.address.port)])
      expect(silent).toEqual({ received: "", ended: expect.stringMatching(/^(eof|reset)$/) })
      expect(yield* server.stats).toMatchObject({ accepted: 0, tlsFailures: 1 })
    }).pipe(Effect.scoped))

  it.live("nc sending plaintext is closed by the server, and s_client is still served", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, tls: certs.server }, echo)
      // -N: shut down the write side at stdin's EOF; nc then exits when the server closes.
      const nc = yield* spawn("nc", ["-N", "127.0.0.1", String(server.address.port)])
      nc.child.stdin!.end("GET / HTTP/1.0\r\n\r\n")
      yield* nc.exit
      expect(nc.stdout()).not.toContain("ECHO")
      expect(yield* server.stats).toMatchObject({ accepted: 0, tlsFailures: 1 })

      const client = yield* sClient(server.address.port)
      yield* say(client, "after nc\n", /ECHO: after nc$/)
      client.child.stdin!.end()
      expect(yield* client.exit).toBe(0)
    }).pipe(Effect.scoped))
})

describe("TLS interop: peers stuck in their handshake at shutdown", () => {
  /**
   * A peer that connects and never starts its handshake (`stall`), then s_client completing its
   * handshake, then shutdown: the stalled peer must be closed by the shutdown, not left open
   * until its handshake timeout (an hour here). `stall` / `connect`: how each peer reaches the
   * server.
   */
  const stuckAtShutdown = (
    listen: { readonly port: number } | { readonly path: string },
    stall: (server: Server.Server) => string,
    connect: (server: Server.Server) => ReadonlyArray<string>
  ) =>
    Effect.gen(function*() {
      const server = yield* Server.make({ ...listen, tls: { ...certs.server, handshakeTimeout: "1 hour" } }, echo)
      const stalled = yield* spawn("python3", [peerScript, "stall", stall(server)])
      yield* stalled.line(/^\{"connected": true\}$/)
      const client = yield* spawn("openssl", [
        "s_client",
        ...connect(server),
        "-CAfile",
        file("ca.crt"),
        "-servername",
        "localhost",
        "-verify_return_error"
      ])
      yield* say(client, "handshake done\n", /ECHO: handshake done$/)
      yield* server.shutdown
      // Hangs (and fails by the test's timeout) if the shutdown left the stalled peer open.
      yield* stalled.line(/^\{"ended": "(eof|reset)"\}$/)
      expect(yield* client.exit).toBe(0)
      expect(yield* server.stats).toMatchObject({ accepted: 1 })
    }).pipe(Effect.scoped)

  it.live(
    "over TCP: shutdown closes a peer stuck in its handshake after another peer's handshake completed",
    () =>
      stuckAtShutdown(
        { port: 0 },
        (server) => String(server.address.port),
        (server) => ["-connect", `127.0.0.1:${server.address.port}`]
      ),
    20_000
  )

  // Fails as of a06ff92: src/server/internal/listener.ts keys the handshakes in progress by
  // `${remoteAddress}|${remotePort}`, which is "undefined|undefined" for every Unix socket peer,
  // so the completed handshake of s_client removes the stalled peer's entry and the shutdown
  // never destroys it (it stays open until its handshake timeout).
  it.live(
    "over a Unix socket: shutdown closes a peer stuck in its handshake after another peer's handshake completed",
    () =>
      Effect.acquireUseRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-wire-tls-unix-"))),
        (dir) => {
          const path = Path.join(dir, "tls.sock")
          return stuckAtShutdown({ path }, () => `unix:${path}`, () => ["-unix", path])
        },
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      ),
    20_000
  )
})
