/**
 * Failures are logged where a user sees them (Warning, a defect at Error, through Effect's
 * Logger), one line naming what failed, and at most 10 lines a second whatever a peer does.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Logger, LogLevel, Schema, TestClock } from "effect"
import { Buffer } from "node:buffer"
import type * as Net from "node:net"
import { ConnectionFailed } from "../../src/connection/ConnectionError.js"
import * as Framing from "../../src/protocol/Framing.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import { FailureLog } from "../../src/server/internal/failureLog.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { makeCerts, removeCerts } from "../connection/certs.js"
import { rawConnect, readLines } from "./helpers.js"

interface Line {
  readonly level: string
  readonly message: string
  readonly hasCause: boolean
}

/** A logger that keeps every line, and the layer installing it in place of the default one. */
const capture = () => {
  const lines: Array<Line> = []
  const logger = Logger.make<unknown, void>(({ cause, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push({ level: logLevel.label, message: text, hasCause: !Cause.isEmpty(cause) })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** Runs what `log` does for one failure, keeping its lines in `lines`. */
const run = (log: FailureLog, subject: string, cause: Cause.Cause<unknown>, lines: Array<Line>) => {
  const logger = Logger.make<unknown, void>(({ cause: c, logLevel, message }) => {
    lines.push({
      level: logLevel.label,
      message: String(Array.isArray(message) ? message[0] : message),
      hasCause: !Cause.isEmpty(c)
    })
  })
  Effect.runSync(
    log.failed(subject, cause).pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
  )
}

class Refused extends Error {}

/** Waits until the server has closed `socket` (its FIN, or a reset). */
const closedBy = (socket: Net.Socket) =>
  Effect.async<void>((resume) => {
    socket.on("error", () => {})
    if (socket.destroyed || socket.readableEnded) return resume(Effect.void)
    socket.resume()
    socket.once("end", () => resume(Effect.void))
    socket.once("close", () => resume(Effect.void))
  })

describe("FailureLog", () => {
  it("logs a failure at Warning in one line, a defect at Error with its cause, nothing for an interruption", () => {
    const lines: Array<Line> = []
    const log = new FailureLog(true, () => 0)
    run(log, "connection 1.2.3.4:5", Cause.fail(new Refused("bad frame\nwith a second line")), lines)
    run(log, "the handler of add", Cause.die(new Error("bug")), lines)
    run(log, "connection 1.2.3.4:6", Cause.interrupt(0 as never), lines)
    expect(lines).toEqual([
      { level: "WARN", message: "effect-wire: connection 1.2.3.4:5 failed: bad frame", hasCause: false },
      { level: "ERROR", message: "effect-wire: the handler of add failed: defect: bug", hasCause: true }
    ])
  })

  it("logs at most 10 lines a second, then says how many it dropped", () => {
    const lines: Array<Line> = []
    let now = 1_000
    const log = new FailureLog(true, () => now)
    for (let i = 0; i < 35; i++) run(log, `connection #${i}`, Cause.fail(new Refused("bad")), lines)
    expect(lines).toHaveLength(10)
    now += 999
    run(log, "connection late", Cause.fail(new Refused("bad")), lines)
    expect(lines).toHaveLength(10)
    now += 1
    run(log, "connection next", Cause.fail(new Refused("bad")), lines)
    expect(lines).toHaveLength(11)
    expect(lines[10]!.message).toBe(
      "effect-wire: connection next failed: bad (26 more failures not logged: at most 10 lines a second)"
    )
  })

  it("logs a peer that went away (reset, broken pipe) at Debug, apart from the Warning budget", () => {
    const lines: Array<Line> = []
    const log = new FailureLog(true, () => 0)
    const gone = (code: string) =>
      Cause.fail(new ConnectionFailed({ code, detail: `read ${code}`, cause: new Error(code) }))
    for (let i = 0; i < 12; i++) run(log, `connection #${i}`, gone(i % 2 === 0 ? "ECONNRESET" : "EPIPE"), lines)
    run(log, "connection bad", Cause.fail(new Refused("bad frame")), lines)
    run(
      log,
      "connection other",
      Cause.fail(new ConnectionFailed({ code: "EHOSTUNREACH", detail: "x", cause: 0 })),
      lines
    )
    expect(lines.filter((l) => l.level === "DEBUG")).toHaveLength(10)
    expect(lines[0]).toEqual({
      level: "DEBUG",
      message: "effect-wire: connection #0 failed: ConnectionFailed: connection failed ECONNRESET: read ECONNRESET",
      hasCause: false
    })
    // The resets used none of the Warning lines: bad input and other OS errors are still logged.
    expect(lines.filter((l) => l.level === "WARN").map((l) => l.message)).toEqual([
      "effect-wire: connection bad failed: bad frame",
      "effect-wire: connection other failed: ConnectionFailed: connection failed EHOSTUNREACH: x"
    ])
  })

  it("logs nothing when turned off", () => {
    const lines: Array<Line> = []
    run(new FailureLog(false, () => 0), "connection", Cause.die("x"), lines)
    expect(lines).toEqual([])
  })
})

const Buggy = Protocol.make(
  Protocol.method("boom", { success: Schema.Number }),
  Protocol.method("ok", { success: Schema.Number })
)

describe("RpcServer failure logs", () => {
  it.live("a handler's defect is logged at Error, naming the method, at most 10 lines a second", () =>
    Effect.gen(function*() {
      const { layer, lines } = capture()
      const server = yield* Server.make(
        { port: 0 },
        RpcServer.handler(Buggy, {
          boom: () => Effect.die(new Error("handler bug")),
          ok: () => Effect.succeed(1)
        }, { format: JsonRpc.make() })
      ).pipe(Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.All))
      const socket = yield* rawConnect(server.address.port)
      const requests = Array.from(
        { length: 30 },
        (_, i) => JSON.stringify({ jsonrpc: "2.0", id: i, method: "boom" }) + "\n"
      )
      socket.write(Buffer.from(requests.join("") + JSON.stringify({ jsonrpc: "2.0", id: 99, method: "ok" }) + "\n"))
      const replies = yield* readLines(socket, 31)
      expect(replies.filter((r) => r.includes(`"code":${JsonRpc.INTERNAL_ERROR}`))).toHaveLength(30)
      const errors = lines.filter((l) => l.message.includes("the handler of boom failed"))
      expect(errors).toHaveLength(10)
      expect(errors[0]).toMatchObject({
        level: "ERROR",
        message: "effect-wire: the handler of boom failed: defect: handler bug"
      })
    }).pipe(Effect.scoped))

  it.live("logFailures: false logs nothing", () =>
    Effect.gen(function*() {
      const { layer, lines } = capture()
      const server = yield* Server.make(
        { port: 0 },
        RpcServer.handler(Buggy, { boom: () => Effect.die(new Error("handler bug")), ok: () => Effect.succeed(1) }, {
          format: JsonRpc.make(),
          logFailures: false
        })
      ).pipe(Effect.provide(layer))
      const socket = yield* rawConnect(server.address.port)
      socket.write(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "boom" }) + "\n")
      yield* readLines(socket, 1)
      expect(lines.filter((l) => l.message.includes("boom"))).toEqual([])
    }).pipe(Effect.scoped))
})

describe("Server failure logs", () => {
  const lines = Server.respond(Framing.lines({ maxLineBytes: 8 }), (line) => Effect.succeed(line))

  it.effect("a peer's bad input is one Warning line naming the peer; 30 bad peers in a second give 10 lines, then a count", () =>
    Effect.gen(function*() {
      const { layer, lines: logged } = capture()
      const server = yield* Server.make({ port: 0 }, lines).pipe(Effect.provide(layer))
      const failures = () => logged.filter((l) => l.message.includes("failed"))
      for (let i = 0; i < 30; i++) {
        const socket = yield* rawConnect(server.address.port)
        socket.write("a line far too long for eight bytes\n")
        yield* closedBy(socket)
      }
      expect((yield* server.stats).errors).toBe(30)
      expect(failures()).toHaveLength(10)
      expect(failures()[0]!.level).toBe("WARN")
      expect(failures()[0]!.message).toMatch(
        /^effect-wire: the connection from 127\.0\.0\.1:\d+ failed: FrameTooLarge: lines frame at offset 0 /
      )
      yield* TestClock.adjust("1 second")
      const late = yield* rawConnect(server.address.port)
      late.write("another line too long\n")
      yield* closedBy(late)
      expect(failures()).toHaveLength(11)
      expect(failures()[10]!.message).toContain("(20 more failures not logged: at most 10 lines a second)")
    }).pipe(Effect.scoped))

  it.live("logFailures: false logs nothing; the failure is still counted", () =>
    Effect.gen(function*() {
      const { layer, lines: logged } = capture()
      const server = yield* Server.make({ port: 0, logFailures: false }, lines).pipe(Effect.provide(layer))
      const socket = yield* rawConnect(server.address.port)
      socket.write("a line far too long for eight bytes\n")
      yield* closedBy(socket)
      expect((yield* server.stats).errors).toBe(1)
      expect(logged.filter((l) => l.message.includes("failed"))).toEqual([])
    }).pipe(Effect.scoped))
})

describe("TLS failure logs", () => {
  it.live("a failed TLS handshake is one Warning line naming the peer's address", () =>
    Effect.gen(function*() {
      const certs = yield* Effect.acquireRelease(Effect.sync(makeCerts), (c) => Effect.sync(() => removeCerts(c)))
      const { layer, lines: logged } = capture()
      const server = yield* Server.make({ port: 0, tls: certs.server }, Server.respond(Framing.lines(), Effect.succeed))
        .pipe(Effect.provide(layer))
      const plain = yield* rawConnect(server.address.port)
      plain.write("not a TLS hello\n")
      yield* closedBy(plain)
      const line = logged.find((l) => l.message.includes("TLS handshake"))
      expect(line?.level).toBe("WARN")
      expect(line?.message).toMatch(
        new RegExp(
          `^effect-wire: a TLS handshake failed: TlsError: TLS handshake with 127\\.0\\.0\\.1:${plain.localPort} failed`
        )
      )
    }).pipe(Effect.scoped))
})
