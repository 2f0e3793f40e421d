import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Pool, Queue, Schedule, Scope, TestClock } from "effect"
import { Buffer } from "node:buffer"
import * as Net from "node:net"
import { Worker } from "node:worker_threads"
import * as Client from "../../src/client/Client.js"
import * as RpcClient from "../../src/client/RpcClient.js"
import type * as Connection from "../../src/connection/Connection.js"
import * as Timers from "../../src/connection/Timers.js"
import * as Transport from "../../src/connection/Transport.js"
import { Framing } from "../../src/index.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { Calc, calcHandlers, Gates } from "../rpc/fixtures.js"

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8")

/** Answers every line with itself. */
const echo = Server.respond(Framing.lines(), (line) => Effect.succeed(line))

const roundTrip = (conn: Connection.Connection, message: string) =>
  conn.write(`${message}\n`).pipe(Effect.zipRight(conn.readLine()), Effect.map(text))

/** A port nothing listens on: bound, read, released. */
const closedPort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen({ host: "127.0.0.1", port: 0 }, () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/**
 * A port where a connect can never complete: a listener in a worker thread whose event loop is
 * blocked (so it never accepts), with its accept queue filled. Linux then drops further SYNs and
 * the connect hangs in SYN-SENT (until the kernel gives up, minutes later). A listener of this
 * thread cannot do it: libuv accepts every connection at once.
 */
const unansweredPort = Effect.gen(function*() {
  const backlog = 1
  const blocker = new Int32Array(new SharedArrayBuffer(4))
  const worker = yield* Effect.acquireRelease(
    Effect.sync(() =>
      new Worker(
        `const { parentPort, workerData } = require("node:worker_threads")
         const server = require("node:net").createServer()
         server.listen({ host: "127.0.0.1", port: 0, backlog: ${backlog} }, () => {
           parentPort.postMessage(server.address().port)
           Atomics.wait(workerData, 0, 0) // never returns to the event loop: nothing is accepted
         })`,
        { eval: true, workerData: blocker }
      )
    ),
    (worker) =>
      Effect.promise(() => {
        Atomics.store(blocker, 0, 1)
        Atomics.notify(blocker, 0)
        return worker.terminate()
      })
  )
  const port = yield* Effect.async<number>((resume) => {
    worker.once("message", (port: number) => resume(Effect.succeed(port)))
  })
  // Linux queues backlog + 1 handshaken connections for a listener that does not accept.
  yield* Effect.forEach(Array.from({ length: backlog + 1 }), () =>
    Effect.acquireRelease(
      Effect.async<Net.Socket>((resume) => {
        const socket = Net.connect({ host: "127.0.0.1", port })
        socket.on("error", () => {})
        socket.once("connect", () => resume(Effect.succeed(socket)))
      }),
      (socket) => Effect.sync(() => socket.destroy())
    ), { discard: true })
  return port
})

describe("Client", () => {
  describe("connect", () => {
    it.live("connects to a running server and talks to it", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, echo)
        const conn = yield* Client.connect({ port: server.address.port })
        expect(conn.remoteAddress).toMatchObject({ host: "127.0.0.1", port: server.address.port })
        expect(yield* roundTrip(conn, "hello")).toBe("hello\n")
      }).pipe(Effect.scoped))

    it.live("closes the connection when its scope closes: the server sees EOF", () =>
      Effect.gen(function*() {
        const received = yield* Deferred.make<string>()
        const server = yield* Server.make({ port: 0 }, (conn) =>
          conn.readAll().pipe(Effect.flatMap((bytes) => Deferred.succeed(received, text(bytes)))))
        const conn = yield* Effect.scoped(
          Effect.gen(function*() {
            const conn = yield* Client.connect({ port: server.address.port })
            yield* conn.write("last words")
            return conn
          })
        )
        expect(yield* Deferred.await(received)).toBe("last words")
        expect(Transport.isTransport(conn) && conn.socket.destroyed).toBe(true)
      }).pipe(Effect.scoped))

    it.live("fails with ConnectError ECONNREFUSED naming host:port, with a hint, when nothing listens", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const error = yield* Effect.flip(Client.connect({ port }))
        expect(error).toMatchObject({ _tag: "ConnectError", host: "127.0.0.1", port, code: "ECONNREFUSED" })
        expect(error.message).toContain(`cannot connect to 127.0.0.1:${port}`)
        expect(error.message).toContain("nothing is listening there")
      }).pipe(Effect.scoped))

    it.live("retries on the schedule given and succeeds once the server is up", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const scope = yield* Effect.scope
        let failures = 0
        // The server starts when the second attempt has failed: no sleeping, no guessing.
        const startServerAfterTwoFailures = Schedule.recurs(5).pipe(
          Schedule.tapInput((error: Client.ConnectError) =>
            Effect.suspend(() => {
              expect(error.code).toBe("ECONNREFUSED")
              return ++failures === 2
                ? Server.make({ port }, echo).pipe(Scope.extend(scope), Effect.orDie)
                : Effect.void
            })
          )
        )
        const conn = yield* Client.connect({ port, retry: startServerAfterTwoFailures })
        expect(failures).toBe(2)
        expect(yield* roundTrip(conn, "finally")).toBe("finally\n")
      }).pipe(Effect.scoped))

    it.live("gives up with the last ConnectError when the schedule ends", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        let failures = 0
        const threeAttempts = Schedule.recurs(2).pipe(Schedule.tapInput(() => Effect.sync(() => failures++)))
        const error = yield* Effect.flip(Client.connect({ port, retry: threeAttempts }))
        expect(error).toMatchObject({ _tag: "ConnectError", code: "ECONNREFUSED" })
        expect(failures).toBe(3)
      }).pipe(Effect.scoped))

    it.effect("fails with ConnectError ETIMEDOUT when the connect gets no answer within connectTimeout", () =>
      Effect.gen(function*() {
        const port = yield* unansweredPort
        const connecting = yield* Effect.fork(Effect.flip(Client.connect({ port, connectTimeout: "2 seconds" })))
        yield* TestClock.adjust("1999 millis")
        expect(connecting.unsafePoll()).toBeNull()
        yield* TestClock.adjust("1 millis")
        const error = yield* Fiber.join(connecting)
        expect(error).toMatchObject({ _tag: "ConnectError", host: "127.0.0.1", port, code: "ETIMEDOUT" })
        expect(error.message).toBe(
          `cannot connect to 127.0.0.1:${port}: no connection after 2000 ms` +
            " (no answer in time: check the host, the port and any firewall)"
        )
      }).pipe(Effect.scoped))

    it.effect("a connect that gets no answer can be interrupted by its caller", () =>
      Effect.gen(function*() {
        const port = yield* unansweredPort
        const connecting = yield* Effect.fork(Client.connect({ port }))
        // Waits until the forked connect is suspended (in flight); the clock does not move.
        yield* TestClock.adjust("0 millis")
        const exit = yield* Fiber.interrupt(connecting)
        expect(Exit.isInterrupted(exit)).toBe(true)
      }).pipe(Effect.scoped))
  })

  // A server's close half-closes and waits up to its linger for the peer's FIN. These servers
  // linger for an hour under the test clock, which never moves: a close that waited for the
  // linger would never end (the test would time out), so each one ending shows the FIN answered.
  describe("the server's FIN", () => {
    /** Resolves once the socket under `conn` is closed: both FINs exchanged and ours flushed. */
    const socketClosed = (conn: Connection.Connection) =>
      Effect.async<void>((resume) => {
        const socket = (conn as Transport.Transport).socket
        if (socket.closed) return resume(Effect.void)
        socket.once("close", () => resume(Effect.void))
      })

    it.effect("a server shuts down at once with an idle Client.connect and an idle RpcClient connected: they answer its FIN", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0, linger: "1 hour" },
          RpcServer.handler(Calc, calcHandlers(new Gates()))
        )
        const port = server.address.port
        const conn = yield* Client.connect({ port })
        const rpc = yield* RpcClient.connect(Calc, { port })
        // One exchange each, so that the server holds both connections; then both sit idle.
        yield* conn.write(`${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "add", params: { a: 1, b: 1 } })}\n`)
        expect(JSON.parse(text(yield* conn.readLine()))).toMatchObject({ id: 1, result: 2 })
        expect(yield* rpc.add({ a: 2, b: 2 })).toBe(4)
        expect((yield* server.stats).active).toBe(2)
        yield* server.shutdown
        expect((yield* server.stats).active).toBe(0)
        // The client still reads to the server's EOF, and the RpcClient knows it is closed.
        expect(yield* conn.read()).toEqual(new Uint8Array())
        expect(yield* Effect.flip(rpc.add({ a: 3, b: 3 }))).toMatchObject({ _tag: "ConnectionClosed" })
      }).pipe(Effect.scoped))

    it.effect("replies written just before the server's FIN are all read after it, then EOF", () =>
      Effect.gen(function*() {
        const replies = Array.from({ length: 200 }, (_, i) => `reply ${i}\n`)
        // The handler answers "go" with 200 replies in 200 writes and ends: the server closes.
        const server = yield* Server.make(
          { port: 0, linger: "1 hour" },
          (conn) => Effect.zipRight(conn.readLine(), Effect.forEach(replies, (r) => conn.write(r), { discard: true }))
        )
        const conn = yield* Client.connect({ port: server.address.port })
        yield* conn.write("go\n")
        // Reads start only once both ends are closed: everything must have been kept.
        yield* socketClosed(conn)
        const got: Array<string> = []
        for (;;) {
          const line = text(yield* conn.readLine())
          if (line === "") break
          got.push(line)
        }
        expect(got).toEqual(replies)
        expect(yield* conn.read()).toEqual(new Uint8Array())
        expect((yield* server.stats).active).toBe(0)
      }).pipe(Effect.scoped))

    it.effect("allowHalfOpen: true keeps the client's side open after the server's FIN; by default it answers at once", () =>
      Effect.gen(function*() {
        // The server says bye, half-closes, and reports everything the client sends after that.
        const after = yield* Queue.unbounded<string>()
        const server = yield* Server.make({ port: 0, linger: "1 hour" }, (conn) =>
          Effect.gen(function*() {
            yield* conn.write("bye\n")
            yield* conn.endWrite
            yield* Queue.offer(after, text(yield* conn.readAll()))
          }))
        const port = server.address.port
        const byDefault = yield* Client.connect({ port })
        expect(text(yield* byDefault.readLine())).toBe("bye\n")
        expect(yield* byDefault.read()).toEqual(new Uint8Array())
        // Its scope is still open: the server saw our FIN because we answered its own.
        expect(yield* Queue.take(after)).toBe("")

        const halfOpen = yield* Client.connect({ port, allowHalfOpen: true })
        expect(text(yield* halfOpen.readLine())).toBe("bye\n")
        expect(yield* halfOpen.read()).toEqual(new Uint8Array())
        yield* halfOpen.write("still here")
        yield* halfOpen.endWrite
        expect(yield* Queue.take(after)).toBe("still here")
      }).pipe(Effect.scoped))

    it.effect("an RpcClient answers the server's FIN even on a connection made with allowHalfOpen: true", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0, linger: "1 hour" },
          RpcServer.handler(Calc, calcHandlers(new Gates()))
        )
        const conn = yield* Client.connect({ port: server.address.port, allowHalfOpen: true })
        const rpc = yield* RpcClient.make(Calc, conn)
        expect(yield* rpc.add({ a: 1, b: 2 })).toBe(3)
        yield* server.shutdown
        yield* socketClosed(conn)
      }).pipe(Effect.scoped))

    it.effect("a server with linger 0 closes a connection whose peer never sends its FIN, with no timer tick", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0, linger: 0 }, (conn) => conn.write("bye\n"))
        // A half-open client does not answer the server's FIN while its scope is open.
        const conn = yield* Client.connect({ port: server.address.port, allowHalfOpen: true })
        expect(text(yield* conn.readAll())).toBe("bye\n")
        // Shutdown waits for every socket to be gone; the test clock never moves, so no
        // watchdog tick (and no linger) can have destroyed it.
        yield* server.shutdown
        expect((yield* server.stats).openSockets).toBe(0)
        expect((conn as Transport.Transport).socket.writableEnded).toBe(false)
      }).pipe(Effect.scoped))
  })

  describe("pool", () => {
    it.live("hands out at most `size` connections and reuses them", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, echo)
        const pool = yield* Client.pool({ port: server.address.port, size: 2 })
        const borrow = (i: number) =>
          Effect.scoped(
            Effect.gen(function*() {
              const conn = yield* Pool.get(pool)
              // While borrowed, a connection is this borrower's alone: replies never interleave.
              expect(yield* roundTrip(conn, `request ${i}`)).toBe(`request ${i}\n`)
              return conn.id
            })
          )
        const ids = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), borrow, { concurrency: 8 })
        expect(new Set(ids).size).toBeLessThanOrEqual(2)
        expect((yield* server.stats).accepted).toBeLessThanOrEqual(2)
      }).pipe(Effect.scoped))

    it.live("makes a borrower wait while every connection is out, then gives it a returned one", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, echo)
        const pool = yield* Client.pool({ port: server.address.port, size: 2 })
        const scopeA = yield* Scope.make()
        const scopeB = yield* Scope.make()
        const a = yield* Pool.get(pool).pipe(Scope.extend(scopeA))
        const b = yield* Pool.get(pool).pipe(Scope.extend(scopeB))
        expect(a.id).not.toBe(b.id)
        const third = yield* Effect.fork(Effect.scoped(Effect.map(Pool.get(pool), (conn) => conn.id)))
        expect(yield* roundTrip(a, "a")).toBe("a\n")
        expect(yield* roundTrip(b, "b")).toBe("b\n")
        yield* Scope.close(scopeA, Exit.void)
        expect(yield* Fiber.join(third)).toBe(a.id)
        yield* Scope.close(scopeB, Exit.void)
        expect((yield* server.stats).accepted).toBe(2)
      }).pipe(Effect.scoped))
  })
  describe("timers", () => {
    it.effect("connections made under Client.timersLayer share one timer that still fires their timeouts", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0, idleTimeout: "1 hour" }, echo)
        const [a, b] = yield* Effect.all([
          Client.connect({ port: server.address.port, idleTimeout: "10 seconds" }),
          Client.connect({ port: server.address.port, idleTimeout: "20 seconds" })
        ])
        const timers = yield* Timers.Timers
        expect(timers.size).toBe(2)
        const readA = yield* Effect.fork(Effect.either(a.read()))
        const readB = yield* Effect.fork(Effect.either(b.read()))
        yield* TestClock.adjust("11 seconds")
        expect(yield* Fiber.join(readA)).toMatchObject({
          _tag: "Left",
          left: { _tag: "ConnectionTimeout", timeout: "idle" }
        })
        expect(readB.unsafePoll()).toBeNull()
        yield* TestClock.adjust("10 seconds")
        expect(yield* Fiber.join(readB)).toMatchObject({
          _tag: "Left",
          left: { _tag: "ConnectionTimeout", timeout: "idle" }
        })
      }).pipe(Effect.scoped, Effect.provide(Client.timersLayer())))
  })
})
