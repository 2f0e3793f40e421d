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
                new Error(`${command} exited (${exited.code}) before printing ${pattern}\nstdout:\n${out}\nstderr:\n${err}`)
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

/** `openssl s_client` to our server at `port`, verifying it against the test CA as `localhost`. */
const sClient = (port: number, args: ReadonlyArray<string> = []) =>
  spawn("openssl", [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-CAfile",
    file("ca.crt"),
    "-servername",
    "localhost",
    "-verify_hostname",
    "localhost",
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
const whoAmI = Server.respond(Framing.lines(), (line, conn: Connection.Connection) =>
  Effect.succeed(Buffer.from(`${conn.tls?.peerCertificate?.subject.CN ?? "anonymous"} says ${Buffer.from(line).toString("utf8")}`)))

const lineOf = (conn: Connection.Connection, text: string) =>
  Effect.zipRight(conn.write(`${text}\n`), Effect.map(conn.readLine(), (b) => Buffer.from(b).toString("utf8").trimEnd()))

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
      const server = yield* Server.make({ port: 0, tls: { ...certs.server, alpnProtocols: ["wire/2", "wire/1"] } }, handler)
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
      const client = yield* sClient(server.address.port, ["-cert", file("client.crt"), "-key", file("client.key")])
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
})

describe("TLS interop: our client against openssl s_server", () => {
  it.live("Client.connect verifies s_server's certificate and reads what -rev sends back", () =>
    Effect.gen(function*() {
      const { peer, port } = yield* sServer(["-cert", file("server.crt"), "-key", file("server.key"), "-rev", "-naccept", "1"])
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

  it.live("ALPN and mutual TLS with s_server: the protocol agreed, and s_server sees our client certificate", () =>
    Effect.gen(function*() {
      const { peer, port } = yield* sServer([
        "-cert",
        file("server.crt"),
        "-key",
        file("server.key"),
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

  it.live("s_server presenting an expired certificate: Client.connect fails with TlsError CERT_HAS_EXPIRED", () =>
    Effect.gen(function*() {
      const { port } = yield* sServer(["-cert", file("expired.crt"), "-key", file("expired.key"), "-rev"])
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

  it.live("Client.connect talks to a Python asyncio TLS server, and presents its certificate to one that requires it", () =>
    Effect.gen(function*() {
      const port = yield* pythonServer(["line-server", file("server.crt"), file("server.key")])
      const conn = yield* Client.connect({ port, tls: { ca: certs.ca, servername: "localhost" } })
      expect(yield* lineOf(conn, "hi")).toBe("PY - hi")
      expect(conn.tls).toMatchObject({ authorized: true, version: "TLSv1.3" })
      expect(conn.tls?.peerCertificate?.subject.CN).toBe("localhost")

      const mutual = yield* pythonServer(["line-server", file("server.crt"), file("server.key"), file("ca.crt")])
      const withCert = yield* Client.connect({ port: mutual, tls: { ca: certs.ca, servername: "localhost", ...certs.client } })
      expect(yield* lineOf(withCert, "hi")).toBe("PY test client hi")
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
