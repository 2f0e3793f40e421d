import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, FastCheck as fc, Fiber, Metric, Option, Schema, TestClock } from "effect"
import { Buffer } from "node:buffer"
import type * as Net from "node:net"
import { Framing } from "../../src/index.js"
import * as ChapterRpc from "../../src/protocol/ChapterRpc.js"
import type { FramingError } from "../../src/protocol/FramingError.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import type * as RpcFormat from "../../src/protocol/RpcFormat.js"
import { serveConnection } from "../../src/server/internal/rpcConnection.js"
import { decodeParams, settingsOf } from "../../src/server/internal/rpcSession.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { Calc, calcHandlers, Gates } from "../rpc/fixtures.js"
import { rawConnect, readLines, readToEnd, scriptedConnection } from "./helpers.js"

const req = (id: RpcFormat.Id, method: string, params?: unknown) =>
  JSON.stringify(params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params }) + "\n"

const serve = (gates: Gates, options: RpcServer.RpcServerOptions<"add", never> & Server.ServerOptions = {}) =>
  Server.make(
    options,
    RpcServer.handler(Calc, calcHandlers(gates), options as RpcServer.RpcServerOptions<"add", never>)
  )

const lines = (socket: Net.Socket, n: number) => Effect.map(readLines(socket, n), (ls) => ls.map((l) => JSON.parse(l)))

/** Reads `n` frames of `Content-Length` framing from a raw socket. */
const readContentLength = (socket: Net.Socket, n: number) =>
  Effect.async<Array<unknown>>((resume) => {
    let buf = Buffer.alloc(0)
    const out: Array<unknown> = []
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      for (;;) {
        const end = buf.indexOf("\r\n\r\n")
        if (end < 0) break
        const length = Number(/Content-Length: (\d+)/i.exec(buf.subarray(0, end).toString())![1])
        if (buf.length < end + 4 + length) break
        out.push(JSON.parse(buf.subarray(end + 4, end + 4 + length).toString()))
        buf = buf.subarray(end + 4 + length)
      }
      if (out.length >= n) {
        socket.off("data", onData)
        resume(Effect.succeed(out))
      }
    }
    socket.on("data", onData)
  })

const lengthPrefixed = (text: string) => {
  const payload = Buffer.from(text)
  const header = Buffer.alloc(4)
  header.writeUInt32BE(payload.length)
  return Buffer.concat([header, payload])
}

describe("RpcServer", () => {
  describe("serving", () => {
    it.live("answers pipelined NDJSON requests and counts their frames", () =>
      Effect.gen(function*() {
        const server = yield* serve(new Gates())
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "add", { a: 1, b: 2 }) + req("two", "greet", { name: "Ada" }) + req(null, "echo", [1]))
        const replies = yield* lines(socket, 3)
        expect(replies).toEqual([
          { jsonrpc: "2.0", id: 1, result: 3 },
          { jsonrpc: "2.0", id: "two", result: "Hello, Ada!" },
          { jsonrpc: "2.0", id: null, result: [1] }
        ])
        expect((yield* server.stats).frames).toBe(3)
      }).pipe(Effect.scoped))

    it.live("answers out of order: a slow request does not hold back a fast one", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const server = yield* serve(gates)
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "wait", { key: "slow" }))
        yield* gates.awaitStarted("slow")
        socket.write(req(2, "add", { a: 2, b: 2 }))
        expect(yield* lines(socket, 1)).toEqual([{ jsonrpc: "2.0", id: 2, result: 4 }])
        yield* gates.release("slow")
        expect(yield* lines(socket, 1)).toEqual([{ jsonrpc: "2.0", id: 1, result: "slow" }])
      }).pipe(Effect.scoped))

    it.live("serves over Content-Length framing (the LSP base protocol)", () =>
      Effect.gen(function*() {
        const server = yield* serve(new Gates(), { framing: Framing.contentLength() } as never)
        const socket = yield* rawConnect(server.address.port)
        const body = Buffer.from(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "greet", params: { name: "é" } }))
        socket.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]))
        expect(yield* readContentLength(socket, 1)).toEqual([{ jsonrpc: "2.0", id: 1, result: "Hello, é!" }])
      }).pipe(Effect.scoped))

    it.live("serves the chapter's format over 4-byte length-prefixed frames", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0 },
          RpcServer.handler(Calc, calcHandlers(new Gates()), {
            format: ChapterRpc.format,
            framing: ChapterRpc.framing()
          })
        )
        const socket = yield* rawConnect(server.address.port)
        socket.end(Buffer.concat([
          lengthPrefixed(`{"id": 1, "method": "add", "params": {"a": 10, "b": 32}}`),
          lengthPrefixed(`{"id": 4, "method": "unknown_method", "params": {}}`)
        ]))
        const { text } = yield* readToEnd(socket)
        const bytes = Buffer.from(text)
        const frames: Array<unknown> = []
        for (let at = 0; at < bytes.length;) {
          const n = bytes.readUInt32BE(at)
          frames.push(JSON.parse(bytes.subarray(at + 4, at + 4 + n).toString()))
          at += 4 + n
        }
        expect(frames).toEqual([{ id: 1, result: 42 }, { id: 4, result: { error: "Unknown method: unknown_method" } }])
      }).pipe(Effect.scoped))

    it.live("answers malformed input with an error and keeps serving", () =>
      Effect.gen(function*() {
        const server = yield* serve(new Gates())
        const socket = yield* rawConnect(server.address.port)
        socket.write(
          "this is not json\n" + req(1, "add", { a: 1, b: "x" }) + req(2, "nope") + req(3, "add", { a: 1, b: 1 })
        )
        const replies = yield* lines(socket, 4)
        expect(replies.map((r) => r.error?.code ?? r.result)).toEqual([-32700, -32602, -32601, 2])
      }).pipe(Effect.scoped))

    it.live("answers a frame over the framing's limit with FRAME_TOO_LARGE, then closes", () =>
      Effect.gen(function*() {
        const server = yield* serve(new Gates(), { framing: Framing.lines({ maxLineBytes: 256 }) } as never)
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "add", { a: 1, b: 2 }) + req(2, "echo", "x".repeat(300)))
        const { text } = yield* readToEnd(socket)
        const replies = text.trim().split("\n").map((l) => JSON.parse(l))
        expect(replies[0]).toEqual({ jsonrpc: "2.0", id: 1, result: 3 })
        expect(replies[1]).toMatchObject({ id: null, error: { code: JsonRpc.FRAME_TOO_LARGE } })
      }).pipe(Effect.scoped))

    it.live("updates the per-method metrics", () =>
      Effect.gen(function*() {
        const requests = RpcServer.metrics.requests.pipe(Metric.tagged("method", "greet"))
        const errors = RpcServer.metrics.errors.pipe(Metric.tagged("method", "greet"))
        const before = (yield* Metric.value(requests)).count
        const errorsBefore = (yield* Metric.value(errors)).count
        const server = yield* serve(new Gates())
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "greet", { name: "a" }) + req(2, "greet", {}))
        yield* lines(socket, 2)
        expect((yield* Metric.value(requests)).count - before).toBe(2)
        expect((yield* Metric.value(errors)).count - errorsBefore).toBe(1)
        const latency = yield* Metric.value(RpcServer.metrics.latency.pipe(Metric.tagged("method", "greet")))
        expect(latency.count).toBeGreaterThanOrEqual(2)
      }).pipe(Effect.scoped))

    it.live("answers a reply over the framing's limit with INTERNAL_ERROR and keeps serving", () =>
      Effect.gen(function*() {
        const server = yield* serve(new Gates(), { framing: Framing.lines({ maxLineBytes: 256 }) } as never)
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "repeat", { text: "x", times: 300 }) + req(2, "add", { a: 1, b: 1 }))
        const replies = yield* lines(socket, 2)
        expect(replies).toMatchObject([{ id: 1, error: { code: -32603 } }, { id: 2, result: 2 }])
      }).pipe(Effect.scoped))
  })

  describe("cancellation and limits", () => {
    it.live("$/cancelRequest interrupts the handler and answers REQUEST_CANCELLED", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const server = yield* serve(gates)
        const socket = yield* rawConnect(server.address.port)
        socket.write(req("w", "wait", { key: "k" }))
        yield* gates.awaitStarted("k")
        socket.write(JSON.stringify({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: "w" } }) + "\n")
        yield* Deferred.await(gates.interruption("k"))
        expect(yield* lines(socket, 1)).toEqual([
          { jsonrpc: "2.0", id: "w", error: { code: JsonRpc.REQUEST_CANCELLED, message: "Request cancelled" } }
        ])
      }).pipe(Effect.scoped))

    it.live("the connection's reset interrupts its handlers", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const server = yield* serve(gates)
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "wait", { key: "a" }) + req(2, "wait", { key: "b" }))
        yield* gates.awaitStarted("a")
        yield* gates.awaitStarted("b")
        socket.resetAndDestroy()
        yield* Deferred.await(gates.interruption("a"))
        yield* Deferred.await(gates.interruption("b"))
      }).pipe(Effect.scoped))

    it.live("a half-close cancels nothing: received requests are answered", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const server = yield* serve(gates)
        const socket = yield* rawConnect(server.address.port)
        socket.end(req(1, "wait", { key: "a" }))
        yield* gates.awaitStarted("a")
        yield* gates.release("a")
        expect(yield* readToEnd(socket)).toEqual({ text: `{"jsonrpc":"2.0","id":1,"result":"a"}\n`, ended: "fin" })
      }).pipe(Effect.scoped))

    it.live("stops reading at maxInFlight and resumes when a request completes", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const server = yield* serve(gates, { maxInFlight: 2 } as never)
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "wait", { key: "a" }) + req(2, "wait", { key: "b" }) + req(3, "wait", { key: "c" }))
        yield* gates.awaitStarted("a")
        yield* gates.awaitStarted("b")
        expect(yield* Deferred.isDone(gates.start("c"))).toBe(false)
        yield* gates.release("a")
        yield* gates.awaitStarted("c")
        yield* gates.release("b")
        yield* gates.release("c")
        expect((yield* lines(socket, 3)).map((r) => r.id).sort()).toEqual([1, 2, 3])
      }).pipe(Effect.scoped))

    it.live("stops reading while a peer does not read its replies, and loses none", () =>
      Effect.gen(function*() {
        const big = "x".repeat(1000)
        const server = yield* serve(new Gates(), { writeHighWaterMark: 16 * 1024 } as never)
        const socket = yield* rawConnect(server.address.port)
        const count = 4000
        socket.pause()
        socket.write(Array.from({ length: count }, (_, i) => req(i, "echo", [big])).join(""))
        socket.resume()
        const replies = yield* lines(socket, count)
        // 4 MB of replies went through a 1 MiB maxOutboundBytes: reading stopped while they waited.
        expect(replies.map((r) => r.id)).toEqual(Array.from({ length: count }, (_, i) => i))
        expect(replies.every((r) => r.result?.[0] === big)).toBe(true)
      }).pipe(Effect.scoped))

    it.live("with onOverload: reject, answers OVERLOADED beyond maxInFlight", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const server = yield* serve(gates, { maxInFlight: 1, onOverload: "reject" } as never)
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "wait", { key: "a" }))
        yield* gates.awaitStarted("a")
        socket.write(req(2, "add", { a: 1, b: 1 }))
        expect(yield* lines(socket, 1)).toMatchObject([{ id: 2, error: { code: JsonRpc.OVERLOADED } }])
        yield* gates.release("a")
        expect(yield* lines(socket, 1)).toMatchObject([{ id: 1, result: "a" }])
      }).pipe(Effect.scoped))

    it.effect("a method's timeout interrupts its handler and answers REQUEST_TIMEOUT", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const server = yield* serve(gates, { timeout: { wait: "5 seconds" } } as never)
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "wait", { key: "a" }))
        yield* gates.awaitStarted("a")
        const reply = yield* Effect.fork(lines(socket, 1))
        yield* TestClock.adjust("5 seconds")
        yield* Deferred.await(gates.interruption("a"))
        expect(yield* Fiber.join(reply)).toMatchObject([{ id: 1, error: { code: JsonRpc.REQUEST_TIMEOUT } }])
      }).pipe(Effect.scoped))

    it.effect("does not close a connection as idle while its requests are in flight; does once they are answered", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const server = yield* serve(gates, { idleTimeout: "10 seconds" })
        const socket = yield* rawConnect(server.address.port)
        const ended = yield* Effect.fork(readToEnd(socket))
        socket.write(req(1, "wait", { key: "long" }))
        yield* gates.awaitStarted("long")
        yield* TestClock.adjust("30 seconds")
        expect(ended.unsafePoll()).toBeNull()
        yield* gates.release("long")
        const reply = yield* lines(socket, 1)
        expect(reply).toMatchObject([{ id: 1, result: "long" }])
        yield* TestClock.adjust("11 seconds")
        expect((yield* Fiber.join(ended)).ended).toBe("fin")
      }).pipe(Effect.scoped))

    it("rejects bad options when the handler is built", () => {
      const gates = new Gates()
      expect(() => RpcServer.handler(Calc, calcHandlers(gates), { maxInFlight: 0 })).toThrow(/maxInFlight/)
      expect(() => RpcServer.handler(Calc, calcHandlers(gates), { timeout: { add: "0 millis" } })).toThrow(/timeout/)
      expect(() => RpcServer.handler(Calc, { ...calcHandlers(gates), add: undefined } as never)).toThrow(
        /no handler for add/
      )
    })
  })

  describe("shutdown", () => {
    it.live("answers requests arriving during the drain SHUTTING_DOWN without running them; in-flight ones complete", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const server = yield* serve(gates)
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "wait", { key: "a" }))
        yield* gates.awaitStarted("a")
        const shutdown = yield* Effect.fork(server.shutdown)
        yield* server.draining
        socket.write(
          req(2, "wait", { key: "late" }) +
            JSON.stringify({ jsonrpc: "2.0", method: "log", params: { line: "dropped" } }) + "\n"
        )
        expect(yield* lines(socket, 1)).toEqual([
          {
            jsonrpc: "2.0",
            id: 2,
            error: {
              code: JsonRpc.SHUTTING_DOWN,
              message: "Server shutting down: request not processed, safe to retry"
            }
          }
        ])
        yield* gates.release("a")
        const rest = yield* readToEnd(socket)
        expect(rest).toEqual({ text: `{"jsonrpc":"2.0","id":1,"result":"a"}\n`, ended: "fin" })
        yield* Fiber.join(shutdown)
        expect(yield* Deferred.isDone(gates.start("late"))).toBe(false)
        expect(gates.logs).toEqual([])
        expect(yield* server.stats).toMatchObject({ openSockets: 0, fibers: 0 })
      }).pipe(Effect.scoped))

    it.live("an idle connection closes at once when the drain starts", () =>
      Effect.gen(function*() {
        const server = yield* serve(new Gates())
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "add", { a: 1, b: 1 }))
        yield* lines(socket, 1)
        const end = yield* Effect.fork(readToEnd(socket))
        yield* server.shutdown
        expect(yield* Fiber.join(end)).toEqual({ text: "", ended: "fin" })
      }).pipe(Effect.scoped))

    it.effect("answers DEADLINE_EXCEEDED to requests still running at the shutdown deadline", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const server = yield* serve(gates, { shutdownDeadline: "2 seconds" } as never)
        const socket = yield* rawConnect(server.address.port)
        socket.write(req(1, "wait", { key: "a" }))
        yield* gates.awaitStarted("a")
        const reply = yield* Effect.fork(readToEnd(socket))
        const shutdown = yield* Effect.fork(server.shutdown)
        yield* server.draining
        yield* TestClock.adjust("2 seconds")
        yield* Deferred.await(gates.interruption("a"))
        const { text } = yield* Fiber.join(reply)
        expect(JSON.parse(text)).toMatchObject({ id: 1, error: { code: JsonRpc.DEADLINE_EXCEEDED } })
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(shutdown)
      }).pipe(Effect.scoped))
  })
})

describe("RpcServer's connection loop (scripted connection)", () => {
  const Big = Protocol.make(
    Protocol.method("repeat", { params: { n: Schema.Number }, success: Schema.String })
  )

  const request = (id: number) => `{"jsonrpc":"2.0","id":${id},"method":"repeat","params":{"n":600}}\n`

  it.effect("stops handling the frames of a read while the peer does not take the replies, and goes on once it does", () =>
    Effect.gen(function*() {
      let handled = 0
      const settings = settingsOf(Big, {
        repeat: ({ n }: { readonly n: number }) => {
          handled++
          return Effect.succeed("x".repeat(n))
        }
      }, {})
      const { connection, state, unblock } = scriptedConnection(1000)
      const fiber = yield* Effect.fork(
        serveConnection<never, FramingError>(settings, Framing.lines(), connection, Option.none())
      )
      while (state.wake === undefined) yield* Effect.yieldNow()
      // The socket stops taking bytes after the first write: the reader hands over to the fiber.
      state.blockOnWrite = true
      expect(state.reader!.push(Buffer.from(Array.from({ length: 10 }, (_, i) => request(i)).join("")))).toBe(false)
      // Two replies of 600 bytes pass the 1000-byte high-water mark: written, then handling stops.
      expect(handled).toBe(2)
      expect(state.writes).toHaveLength(1)
      state.wake!()
      // The fiber waits for the socket; once it drains, the rest is handled.
      while (state.drained === undefined) yield* Effect.yieldNow()
      unblock()
      while (handled < 10) yield* Effect.yieldNow()
      expect(handled).toBe(10)
      yield* Fiber.interrupt(fiber)
    }))
})

describe("RpcServer's params decoding", () => {
  const schemas = [
    Schema.Struct({ a: Schema.Number, b: Schema.Number }),
    Schema.Struct({ name: Schema.String, on: Schema.Boolean, n: Schema.Number }),
    Schema.Struct({ n: Schema.Number.pipe(Schema.positive()) }),
    Schema.Struct({ n: Schema.optional(Schema.Number) })
  ]
  const value = fc.oneof(fc.double(), fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined))
  const input = fc.oneof(
    fc.jsonValue(),
    fc.anything(),
    fc.record({ a: value, b: value, name: value, on: value, n: value }, { requiredKeys: [] })
  )
  for (const schema of schemas) {
    it(`decodes exactly as Schema.decodeUnknownEither does (${String(schema.ast)})`, () => {
      const fast = decodeParams(schema as Schema.Schema<unknown, unknown, never>)
      const slow = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown, never>)
      fc.assert(
        fc.property(input, (u) => {
          expect(fast(u)).toStrictEqual(slow(u))
        }),
        { numRuns: 500 }
      )
    })
  }
})
