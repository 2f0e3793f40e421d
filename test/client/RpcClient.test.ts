import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, Fiber, Schema, TestClock } from "effect"
import * as Net from "node:net"
import * as Client from "../../src/client/Client.js"
import * as RpcClient from "../../src/client/RpcClient.js"
import { type Codec, type Connection, Framing } from "../../src/index.js"
import * as ChapterRpc from "../../src/protocol/ChapterRpc.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { Calc, calcHandlers, DivideByZero, Gates } from "../rpc/fixtures.js"

/** Calc as a client sees it, with a method the server does not have. */
const CalcPlus = Protocol.make(
  ...Calc.definitions.values(),
  Protocol.method("mul", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
)

const setup = (
  gates: Gates,
  options: { readonly format?: typeof JsonRpc.format; readonly framing?: Framing.LinesCodec } = {}
) =>
  Effect.gen(function*() {
    const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, calcHandlers(gates), options))
    const client = yield* RpcClient.connect(CalcPlus, { port: server.address.port, ...options })
    return { server, client }
  })

/** A raw TCP server that accepts one connection, reads `lines` newline-terminated requests, then closes it. */
const dropAfter = (lines: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly server: Net.Server }>((resume) => {
      const server = Net.createServer((socket) => {
        let seen = 0
        socket.on("data", (d) => {
          seen += d.toString().split("\n").length - 1
          if (seen >= lines) socket.destroy()
        })
        socket.on("error", () => {})
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ port: (server.address() as Net.AddressInfo).port, server })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) =>
        void server.close(() => resume(Effect.void))
      )
  )

describe("RpcClient", () => {
  it.live("calls typed methods and gets typed results and errors", () =>
    Effect.gen(function*() {
      const { client } = yield* setup(new Gates())
      expect(yield* client.add({ a: 1, b: 2 })).toBe(3)
      expect(yield* client.greet({ name: "Ada" })).toBe("Hello, Ada!")
      const typed = yield* Effect.flip(client.div([1, 0]))
      expect(typed).toBeInstanceOf(DivideByZero)
      expect(typed).toMatchObject({ _tag: "DivideByZero", dividend: 1 })
      const missing = yield* Effect.flip(client.mul({ a: 1, b: 2 }))
      expect(missing).toMatchObject({ _tag: "RpcRemoteError", code: JsonRpc.METHOD_NOT_FOUND, method: "mul" })
      const died = yield* Effect.flip(client.boom())
      expect(died).toMatchObject({ _tag: "RpcRemoteError", code: JsonRpc.INTERNAL_ERROR })
      yield* client.log({ line: "hello" })
    }).pipe(Effect.scoped))

  it.live("pipelines many calls on one connection, matched by id", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup(new Gates())
      const results = yield* Effect.forEach(
        Array.from({ length: 500 }, (_, i) => i),
        (i) => client.add({ a: i, b: 1_000 }),
        { concurrency: "unbounded" }
      )
      expect(results).toEqual(Array.from({ length: 500 }, (_, i) => i + 1_000))
      expect((yield* server.stats).accepted).toBe(1)
    }).pipe(Effect.scoped))

  it.live("gets replies out of order", () =>
    Effect.gen(function*() {
      const gates = new Gates()
      const { client } = yield* setup(gates)
      const slow = yield* Effect.fork(client.wait({ key: "slow" }))
      const fast = yield* Effect.fork(client.wait({ key: "fast" }))
      yield* gates.awaitStarted("slow")
      yield* gates.awaitStarted("fast")
      yield* gates.release("fast")
      expect(yield* Fiber.join(fast)).toBe("fast")
      expect(yield* Deferred.isDone(gates.gate("slow"))).toBe(false)
      yield* gates.release("slow")
      expect(yield* Fiber.join(slow)).toBe("slow")
    }).pipe(Effect.scoped))

  it.effect("times out a call, cancels it on the server ($/cancelRequest) and goes on", () =>
    Effect.gen(function*() {
      const gates = new Gates()
      const { client } = yield* setup(gates)
      const call = yield* Effect.fork(Effect.flip(client.wait({ key: "k" }, { timeout: "2 seconds" })))
      yield* gates.awaitStarted("k")
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(call)).toMatchObject({ _tag: "RpcTimeout", millis: 2_000 })
      yield* Deferred.await(gates.interruption("k"))
      expect(yield* client.add({ a: 1, b: 1 })).toBe(2)
    }).pipe(Effect.scoped))

  it.effect("calls with different timeouts each time out at their own deadline, a shorter one made after a longer one included", () =>
    Effect.gen(function*() {
      const gates = new Gates()
      const { client } = yield* setup(gates)
      const long = yield* Effect.fork(Effect.flip(client.wait({ key: "long" }, { timeout: "10 seconds" })))
      yield* gates.awaitStarted("long")
      const short = yield* Effect.fork(Effect.flip(client.wait({ key: "short" }, { timeout: "1 second" })))
      const other = yield* Effect.fork(Effect.flip(client.wait({ key: "other" }, { timeout: "10 seconds" })))
      yield* gates.awaitStarted("short")
      yield* gates.awaitStarted("other")
      yield* TestClock.adjust("999 millis")
      expect(short.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(short)).toMatchObject({ _tag: "RpcTimeout", millis: 1_000 })
      yield* Deferred.await(gates.interruption("short"))
      expect(long.unsafePoll()).toBeNull()
      yield* TestClock.adjust("9 seconds")
      expect(yield* Fiber.join(long)).toMatchObject({ _tag: "RpcTimeout", millis: 10_000 })
      expect(yield* Fiber.join(other)).toMatchObject({ _tag: "RpcTimeout", millis: 10_000 })
      expect(yield* client.add({ a: 1, b: 1 })).toBe(2)
    }).pipe(Effect.scoped))

  it.effect("drops a late reply (a format without cancellation)", () =>
    Effect.gen(function*() {
      const gates = new Gates()
      const { client } = yield* setup(gates, { format: ChapterRpc.format, framing: ChapterRpc.framing() as never })
      const call = yield* Effect.fork(Effect.flip(client.wait({ key: "k" }, { timeout: "1 second" })))
      yield* gates.awaitStarted("k")
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(call)).toMatchObject({ _tag: "RpcTimeout" })
      yield* gates.release("k") // the late reply comes, matches nothing, and is dropped
      expect(yield* client.wait({ key: "k" })).toBe("k")
      expect(yield* client.add({ a: 2, b: 3 })).toBe(5)
    }).pipe(Effect.scoped))

  it.live("interrupting a call cancels it on the server", () =>
    Effect.gen(function*() {
      const gates = new Gates()
      const { client } = yield* setup(gates)
      const call = yield* Effect.fork(client.wait({ key: "k" }))
      yield* gates.awaitStarted("k")
      yield* Fiber.interrupt(call)
      yield* Deferred.await(gates.interruption("k"))
    }).pipe(Effect.scoped))

  it.live("settles every pending call exactly once with ConnectionClosed when the connection drops", () =>
    Effect.gen(function*() {
      const { port } = yield* dropAfter(3)
      const client = yield* RpcClient.connect(Calc, { port })
      const exits = yield* Effect.forEach([1, 2, 3], (i) => Effect.exit(client.add({ a: i, b: i })), {
        concurrency: "unbounded"
      })
      for (const exit of exits) {
        expect(Exit.isFailure(exit)).toBe(true)
        expect(JSON.stringify(exit)).toContain("ConnectionClosed")
      }
      const later = yield* Effect.flip(client.greet({ name: "x" }))
      expect(later._tag).toBe("ConnectionClosed")
    }).pipe(Effect.scoped))

  it.live("speaks JSON-RPC over Content-Length framing", () =>
    Effect.gen(function*() {
      const server = yield* Server.make(
        { port: 0 },
        RpcServer.handler(Calc, calcHandlers(new Gates()), { framing: Framing.contentLength() })
      )
      const conn = yield* Client.connect({ port: server.address.port })
      const client = yield* RpcClient.make(Calc, conn, { framing: Framing.contentLength() })
      expect(yield* client.echo({ text: "line\nbreak" })).toEqual({ text: "line\nbreak" })
    }).pipe(Effect.scoped))

  it.live("gets SHUTTING_DOWN as a retryable RpcRemoteError during a drain", () =>
    Effect.gen(function*() {
      const gates = new Gates()
      const { client, server } = yield* setup(gates)
      const first = yield* Effect.fork(client.wait({ key: "a" }))
      yield* gates.awaitStarted("a")
      const shutdown = yield* Effect.fork(server.shutdown)
      yield* server.draining
      const refused = yield* Effect.flip(client.add({ a: 1, b: 1 }))
      expect(refused).toMatchObject({ _tag: "RpcRemoteError", code: JsonRpc.SHUTTING_DOWN })
      expect(refused instanceof RpcClient.RpcRemoteError && refused.retryable).toBe(true)
      yield* gates.release("a")
      expect(yield* Fiber.join(first)).toBe("a")
      yield* Fiber.join(shutdown)
    }).pipe(Effect.scoped))

  it.effect("calls in flight when the server shuts down all get their replies, and the client's FIN ends the shutdown at once", () =>
    Effect.gen(function*() {
      const gates = new Gates()
      // The server lingers an hour and the test clock never moves: the shutdown ends only if the
      // client answers the server's FIN (else the test times out).
      const server = yield* Server.make({ port: 0, linger: "1 hour" }, RpcServer.handler(Calc, calcHandlers(gates)))
      const client = yield* RpcClient.connect(Calc, { port: server.address.port })
      const keys = Array.from({ length: 50 }, (_, i) => `k${i}`)
      const calls = yield* Effect.fork(
        Effect.forEach(keys, (key) => client.wait({ key }), { concurrency: "unbounded" })
      )
      yield* Effect.forEach(keys, (key) => gates.awaitStarted(key), { discard: true })
      const shutdown = yield* Effect.fork(server.shutdown)
      yield* server.draining
      // Released together: their replies go out just before the server's FIN.
      yield* Effect.forEach(keys, (key) => gates.release(key), { discard: true })
      expect(yield* Fiber.join(calls)).toEqual(keys)
      yield* Fiber.join(shutdown)
      expect((yield* server.stats).openSockets).toBe(0)
    }).pipe(Effect.scoped))

  it.live("fails with RpcEncodeError when params do not match, sending nothing", () =>
    Effect.gen(function*() {
      const { client } = yield* setup(new Gates())
      const error = yield* Effect.flip(client.repeat({ text: "x", times: 1.5 }))
      expect(error._tag).toBe("RpcEncodeError")
    }).pipe(Effect.scoped))

  it.live("coalesces calls made in the same tick into one write", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, calcHandlers(new Gates())))
      const conn = yield* Client.connect({ port: server.address.port })
      let writes = 0
      let frames = 0
      const counting: typeof conn = Object.assign(Object.create(conn) as typeof conn, {
        framed: (<A, E>(codec: Codec.Codec<A, E>, options?: Connection.FramedOptions) => {
          const framed = conn.framed(codec, options)
          return {
            ...framed,
            send: (frame: A) => {
              writes++
              frames++
              return framed.send(frame)
            },
            sendAll: (all: Iterable<A>) => {
              const list = Array.from(all)
              writes++
              frames += list.length
              return framed.sendAll(list)
            }
          }
        }) as typeof conn.framed
      })
      const client = yield* RpcClient.make(Calc, counting)
      const results = yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) => client.add({ a: i, b: 1 }),
        { concurrency: "unbounded" }
      )
      expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
      expect(frames).toBe(100)
      expect(writes).toBeLessThanOrEqual(4)
      // A lone call still goes out (in its own write).
      expect(yield* client.add({ a: 1, b: 1 })).toBe(2)
      expect(writes).toBeLessThanOrEqual(5)
    }).pipe(Effect.scoped))

  it.live("a frame the framing refuses fails only its own call, not the others written with it", () =>
    Effect.gen(function*() {
      const server = yield* Server.make(
        { port: 0 },
        RpcServer.handler(Calc, calcHandlers(new Gates()), { framing: Framing.lines({ maxLineBytes: 4_096 }) })
      )
      const client = yield* RpcClient.connect(Calc, {
        port: server.address.port,
        framing: Framing.lines({ maxLineBytes: 200 })
      })
      const [small, big, other] = yield* Effect.all([
        Effect.either(client.add({ a: 1, b: 2 })),
        Effect.either(client.echo("x".repeat(500))),
        Effect.either(client.add({ a: 3, b: 4 }))
      ], { concurrency: "unbounded" })
      expect(small).toEqual(Either.right(3))
      expect(other).toEqual(Either.right(7))
      expect(big._tag).toBe("Left")
    }).pipe(Effect.scoped))
})
