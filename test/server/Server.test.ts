import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, FiberRef, Logger, LogLevel, Metric, Ref, TestClock } from "effect"
import { Buffer } from "node:buffer"
import type * as Connection from "../../src/connection/Connection.js"
import { Framing } from "../../src/index.js"
import * as Server from "../../src/server/Server.js"
import { connectOutcome, rawConnect, readLines, readToEnd, scriptedConnection } from "./helpers.js"

const echo = Server.respond(Framing.lines(), (line) => Effect.succeed(Buffer.concat([Buffer.from("ECHO: "), line])))

describe("Server", () => {
  describe("serving", () => {
    it.live("binds port 0 and answers pipelined lines in order", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, echo)
        expect(server.address.port).toBeGreaterThan(0)
        const socket = yield* rawConnect(server.address.port)
        socket.write("a\nb\r\nc\n")
        expect(yield* readLines(socket, 3)).toEqual(["ECHO: a", "ECHO: b", "ECHO: c"])
        const stats = yield* server.stats
        expect(stats).toMatchObject({ accepted: 1, active: 1, frames: 3 })
      }).pipe(Effect.scoped))

    it.effect("mirrors the frames handled into the effect_wire_frames_handled metric at each watchdog tick", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0, timerResolution: "100 millis" }, echo)
        const frames = Server.metrics.frames.pipe(
          Metric.tagged("server", `${server.address.host}:${server.address.port}`)
        )
        const socket = yield* rawConnect(server.address.port)
        socket.write("a\nb\nc\n")
        expect(yield* readLines(socket, 3)).toHaveLength(3)
        yield* TestClock.adjust("100 millis")
        expect((yield* Metric.value(frames)).count).toBe(3)
        socket.write("d\n")
        expect(yield* readLines(socket, 1)).toEqual(["ECHO: d"])
        // Reading the stats mirrors at once, between ticks.
        expect((yield* server.stats).frames).toBe(4)
        expect((yield* Metric.value(frames)).count).toBe(4)
      }).pipe(Effect.scoped))

    it.live("answers a request followed by the client's half-close, then sends FIN", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, echo)
        const socket = yield* rawConnect(server.address.port)
        socket.end("last words\n")
        expect(yield* readToEnd(socket)).toEqual({ text: "ECHO: last words\n", ended: "fin" })
      }).pipe(Effect.scoped))

    it.live("handlers see the FiberRef values (log level, custom refs) of where the server was started", () =>
      Effect.gen(function*() {
        const tenant = FiberRef.unsafeMake("none")
        const tagged = Server.respond(Framing.lines(), (line) =>
          Effect.gen(function*() {
            const level = yield* FiberRef.get(FiberRef.currentMinimumLogLevel)
            return Buffer.from(`${yield* FiberRef.get(tenant)} ${level.label} ${line}`)
          }))
        const server = yield* Server.make({ port: 0 }, tagged).pipe(
          Effect.locally(tenant, "acme"),
          Logger.withMinimumLogLevel(LogLevel.Error)
        )
        const socket = yield* rawConnect(server.address.port)
        socket.write("a\n")
        expect(yield* readLines(socket, 1)).toEqual(["acme ERROR a"])
      }).pipe(Effect.scoped))

    it.live("serves every connection in its own fiber", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, echo)
        const replies = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            const socket = yield* rawConnect(server.address.port)
            socket.write(`client ${i}\n`)
            return yield* readLines(socket, 1)
          }), { concurrency: "unbounded" })
        expect(replies.flat()).toEqual(Array.from({ length: 20 }, (_, i) => `ECHO: client ${i}`))
      }).pipe(Effect.scoped))

    it.live("closes a connection that sends bad bytes and keeps serving the others", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0 },
          Server.respond(Framing.lines({ maxLineBytes: 8 }), Effect.succeed)
        )
        const good = yield* rawConnect(server.address.port)
        const bad = yield* rawConnect(server.address.port)
        bad.write("this line is far too long\n")
        expect((yield* readToEnd(bad)).text).toBe("")
        good.write("fine\n")
        expect(yield* readLines(good, 1)).toEqual(["fine"])
        expect((yield* server.stats).errors).toBe(1)
      }).pipe(Effect.scoped))

    it.live("treats a handler that throws as a defect of its own connection: replies before it go out", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0 },
          Server.respond(Framing.lines(), (line): Effect.Effect<Uint8Array> => {
            if (Buffer.from(line).toString() === "throw") throw new Error("handler bug")
            return Effect.succeed(line)
          })
        )
        const good = yield* rawConnect(server.address.port)
        const bad = yield* rawConnect(server.address.port)
        bad.write("before\nthrow\nafter\n")
        expect(yield* readToEnd(bad)).toMatchObject({ text: "before\n" })
        good.write("fine\n")
        expect(yield* readLines(good, 1)).toEqual(["fine"])
        expect(yield* server.stats).toMatchObject({ errors: 1, frames: 2 })
      }).pipe(Effect.scoped))

    it.live("closes connections beyond maxConnections at once and counts them", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0, maxConnections: 2 }, echo)
        const a = yield* rawConnect(server.address.port)
        const b = yield* rawConnect(server.address.port)
        a.write("1\n")
        b.write("2\n")
        yield* readLines(a, 1)
        yield* readLines(b, 1)
        const c = yield* rawConnect(server.address.port)
        const outcome = yield* readToEnd(c)
        expect(outcome.text).toBe("")
        expect(yield* server.stats).toMatchObject({ accepted: 2, rejected: 1, active: 2 })
      }).pipe(Effect.scoped))

    it.live("reports a port in use as a typed ListenError", () =>
      Effect.gen(function*() {
        const first = yield* Server.make({ port: 0 }, echo)
        const exit = yield* Effect.exit(Server.make({ port: first.address.port }, echo))
        expect(exit).toMatchObject({ _tag: "Failure" })
        const error = Exit.isFailure(exit) ? exit.cause : undefined
        expect(JSON.stringify(error)).toContain("EADDRINUSE")
      }).pipe(Effect.scoped))
  })

  describe("respond", () => {
    it.live("answers in order when some handlers suspend and others complete at once", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0 },
          Server.respond(Framing.lines(), (line) => {
            const text = Buffer.from(line).toString()
            return text.startsWith("slow") ? Effect.yieldNow().pipe(Effect.as(line)) : Effect.succeed(line)
          })
        )
        const socket = yield* rawConnect(server.address.port)
        const lines = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? `slow ${i}` : `fast ${i}`))
        socket.write(lines.map((l) => `${l}\n`).join(""))
        expect(yield* readLines(socket, 60)).toEqual(lines)
        expect((yield* server.stats).frames).toBe(60)
      }).pipe(Effect.scoped))

    it.live("answers the frames received before a bad one, then closes that connection", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0 },
          Server.respond(Framing.lines({ maxLineBytes: 8 }), Effect.succeed)
        )
        const socket = yield* rawConnect(server.address.port)
        const ended = yield* Effect.fork(readToEnd(socket))
        socket.write("a\nb\nthis line is too long\nc\n")
        expect(yield* Fiber.join(ended)).toEqual({ text: "a\nb\n", ended: "fin" })
        expect(yield* server.stats).toMatchObject({ frames: 2, errors: 1 })
      }).pipe(Effect.scoped))

    it.live("stops reading while a peer does not read its replies, and loses none", () =>
      Effect.gen(function*() {
        const big = "x".repeat(1000)
        const server = yield* Server.make(
          { port: 0, writeHighWaterMark: 16 * 1024 },
          Server.respond(Framing.lines({ maxLineBytes: 4096 }), (line) => Effect.succeed(line))
        )
        const socket = yield* rawConnect(server.address.port)
        const count = 4000
        socket.pause()
        socket.write(`${big}\n`.repeat(count))
        socket.resume()
        const lines = yield* readLines(socket, count)
        expect(lines.every((l) => l === big)).toBe(true)
      }).pipe(Effect.scoped))

    it.effect("closes a connection whose frame stays incomplete for frameReadTimeout, not one that is idle", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0, frameReadTimeout: "5 seconds", idleTimeout: "1 hour" },
          Server.respond(Framing.lines(), Effect.succeed)
        )
        const idle = yield* rawConnect(server.address.port)
        const slow = yield* rawConnect(server.address.port)
        const slowEnded = yield* Effect.fork(readToEnd(slow))
        idle.write("x\n")
        expect(yield* readLines(idle, 1)).toEqual(["x"])
        // One write: once "y" is answered, the half line after it has been read too.
        slow.write("y\nhalf a li")
        expect(yield* readLines(slow, 1)).toEqual(["y"])
        yield* TestClock.adjust("6 seconds")
        expect((yield* Fiber.join(slowEnded)).text).toBe("y\n")
        idle.write("still here\n")
        expect(yield* readLines(idle, 1)).toEqual(["still here"])
      }).pipe(Effect.scoped))
  })

  describe("timeouts", () => {
    it.effect("closes a connection idle for longer than idleTimeout", () =>
      Effect.gen(function*() {
        const failed = yield* Deferred.make<string>()
        const reading = yield* Deferred.make<void>()
        const server = yield* Server.make({ port: 0, idleTimeout: "10 seconds" }, (conn) =>
          Deferred.succeed(reading, undefined).pipe(
            Effect.zipRight(conn.read()),
            Effect.tapError((e) =>
              Deferred.succeed(failed, e._tag === "ConnectionTimeout" ? e.timeout : e._tag)
            )
          ))
        const socket = yield* rawConnect(server.address.port)
        const ended = yield* Effect.fork(readToEnd(socket))
        yield* Deferred.await(reading)
        yield* TestClock.adjust("9 seconds")
        expect(yield* Deferred.isDone(failed)).toBe(false)
        yield* TestClock.adjust("2 seconds")
        expect(yield* Deferred.await(failed)).toBe("idle")
        expect((yield* Fiber.join(ended)).ended).toBe("fin")
      }).pipe(Effect.scoped))

    it.effect("closes a connection whose frame does not complete within frameReadTimeout (slowloris)", () =>
      Effect.gen(function*() {
        const failed = yield* Deferred.make<string>()
        const firstByte = yield* Deferred.make<void>()
        const server = yield* Server.make(
          { port: 0, frameReadTimeout: "5 seconds", idleTimeout: "1 hour" },
          (conn) =>
            conn.readExactly(1).pipe(
              Effect.zipRight(Deferred.succeed(firstByte, undefined)),
              Effect.zipRight(conn.readLine()),
              Effect.tapError((e) => Deferred.succeed(failed, e._tag === "ConnectionTimeout" ? e.timeout : e._tag))
            )
        )
        const socket = yield* rawConnect(server.address.port)
        const ended = yield* Effect.fork(readToEnd(socket))
        socket.write("GET / HTTP/1.1")
        yield* Deferred.await(firstByte)
        yield* TestClock.adjust("6 seconds")
        expect(yield* Deferred.await(failed)).toBe("frame-read")
        expect((yield* Fiber.join(ended)).ended).toBe("fin")
      }).pipe(Effect.scoped))

    it.effect("fails a write to a peer that never reads after writeStallTimeout", () =>
      Effect.gen(function*() {
        const failed = yield* Deferred.make<string>()
        const writing = yield* Deferred.make<void>()
        const big = new Uint8Array(32 * 1024 * 1024)
        const server = yield* Server.make({
          port: 0,
          writeStallTimeout: "3 seconds",
          maxOutboundBytes: 64 * 1024 * 1024
        }, (conn) =>
          Deferred.succeed(writing, undefined).pipe(
            Effect.zipRight(conn.write(big)),
            Effect.tapError((e) => Deferred.succeed(failed, e._tag === "ConnectionTimeout" ? e.timeout : e._tag))
          ))
        const socket = yield* rawConnect(server.address.port)
        socket.pause()
        yield* Deferred.await(writing)
        yield* TestClock.adjust("4 seconds")
        expect(yield* Deferred.await(failed)).toBe("write-stall")
      }).pipe(Effect.scoped))
  })

  describe("backpressure", () => {
    it.live("keeps what it buffers bounded while a fast client outruns a slow handler", () =>
      Effect.gen(function*() {
        const total = 16 * 1024 * 1024
        const highWater = 64 * 1024
        const seen = yield* Ref.make({ consumed: 0, maxBuffered: 0 })
        const done = yield* Deferred.make<void>()
        const server = yield* Server.make({ port: 0, readHighWaterMark: highWater }, (conn) =>
          Effect.gen(function*() {
            for (;;) {
              const chunk = yield* conn.read(16 * 1024)
              if (chunk.length === 0) break
              const { bytesIn } = yield* conn.stats
              yield* Ref.update(seen, (s) => {
                const consumed = s.consumed + chunk.length
                return { consumed, maxBuffered: Math.max(s.maxBuffered, bytesIn - consumed) }
              })
              yield* Effect.sleep("1 millis") // a slow consumer
            }
            yield* Deferred.succeed(done, undefined)
          }))
        const socket = yield* rawConnect(server.address.port)
        socket.end(Buffer.alloc(total, 7))
        yield* Deferred.await(done)
        const result = yield* Ref.get(seen)
        expect(result.consumed).toBe(total)
        // The paused socket keeps the unread bytes in the kernel, not in our memory.
        expect(result.maxBuffered).toBeLessThan(highWater + 256 * 1024)
      }).pipe(Effect.scoped))
  })

  describe("respond on a scripted connection", () => {
    it.effect("stops handling the frames of a read while the peer does not take the replies, and goes on once it does", () =>
      Effect.gen(function*() {
        let handled = 0
        const big = Buffer.alloc(600, 0x78)
        const handler = Server.respond(Framing.lines(), () => {
          handled++
          return Effect.succeed(big)
        })
        const { connection, state, unblock } = scriptedConnection(1000)
        const fiber = yield* Effect.fork(handler(connection))
        while (state.wake === undefined) yield* Effect.yieldNow()
        state.blockOnWrite = true
        expect(state.reader!.push(Buffer.from("a\n".repeat(10)))).toBe(false)
        // Two replies of 601 bytes pass the 1000-byte high-water mark: written, then handling stops.
        expect(handled).toBe(2)
        expect(state.writes).toEqual([1202])
        state.wake!()
        while (state.drained === undefined) yield* Effect.yieldNow()
        unblock()
        while (handled < 10) yield* Effect.yieldNow()
        expect(state.writes.reduce((a, b) => a + b, 0)).toBe(6010)
        yield* Fiber.interrupt(fiber)
      }))
  })

  describe("graceful shutdown", () => {
    it.live("answers all 1,000 requests in flight on 50 connections when shutdown starts", () =>
      Effect.gen(function*() {
        const perConnection = 20
        const connections = 50
        const latch = yield* Deferred.make<void>()
        const allStarted = yield* Deferred.make<void>()
        let started = 0
        const server = yield* Server.make(
          { port: 0 },
          Server.respond(Framing.lines(), (line) =>
            Effect.gen(function*() {
              if (++started === perConnection * connections) yield* Deferred.succeed(allStarted, undefined)
              yield* Deferred.await(latch)
              return line
            }), { concurrency: 64 })
        )
        const sockets = yield* Effect.forEach(
          Array.from({ length: connections }),
          () => rawConnect(server.address.port)
        )
        const replies = yield* Effect.forEach(sockets, (socket, c) => {
          socket.write(Array.from({ length: perConnection }, (_, i) => `${c}:${i}\n`).join(""))
          return Effect.fork(readToEnd(socket))
        })
        yield* Deferred.await(allStarted)
        const shutdown = yield* Effect.fork(server.shutdown)
        yield* server.draining
        expect(yield* connectOutcome(server.address.port)).toBe("refused")
        yield* Deferred.succeed(latch, undefined)
        const results = yield* Effect.forEach(replies, Fiber.join)
        yield* Fiber.join(shutdown)
        const lines = results.flatMap((r) => r.text.split("\n").filter((l) => l.length > 0))
        expect(lines.length).toBe(perConnection * connections)
        results.forEach((r, c) =>
          expect(r.text).toBe(Array.from({ length: perConnection }, (_, i) => `${c}:${i}\n`).join(""))
        )
        expect(yield* server.stats).toMatchObject({ frames: 1000, active: 0, errors: 0, openSockets: 0, fibers: 0 })
      }).pipe(Effect.scoped))

    it.live("refuses all 100 connects made after shutdown started", () =>
      Effect.gen(function*() {
        const latch = yield* Deferred.make<void>()
        const busy = yield* Deferred.make<void>()
        const server = yield* Server.make({ port: 0 }, (conn) =>
          conn.readLine().pipe(
            Effect.zipRight(Deferred.succeed(busy, undefined)),
            Effect.zipRight(Deferred.await(latch)),
            Effect.zipRight(conn.write("done\n"))
          ))
        const socket = yield* rawConnect(server.address.port)
        socket.write("work\n")
        yield* Deferred.await(busy)
        const shutdown = yield* Effect.fork(server.shutdown)
        yield* server.draining
        const outcomes = yield* Effect.forEach(Array.from({ length: 100 }), () => connectOutcome(server.address.port), {
          concurrency: 20
        })
        expect(outcomes.filter((o) => o === "refused").length).toBe(100)
        yield* Deferred.succeed(latch, undefined)
        expect((yield* readToEnd(socket)).text).toBe("done\n")
        yield* Fiber.join(shutdown)
        expect((yield* server.stats).accepted).toBe(1)
      }).pipe(Effect.scoped))

    it.live("closes 200 idle connections at once while a busy one finishes", () =>
      Effect.gen(function*() {
        const latch = yield* Deferred.make<void>()
        const busyStarted = yield* Deferred.make<void>()
        const server = yield* Server.make(
          { port: 0 },
          Server.respond(Framing.lines(), (line) =>
            Buffer.from(line).toString() === "slow"
              ? Deferred.succeed(busyStarted, undefined).pipe(Effect.zipRight(Deferred.await(latch)), Effect.as(line))
              : Effect.succeed(line))
        )
        const idle = yield* Effect.forEach(Array.from({ length: 200 }), () =>
          Effect.gen(function*() {
            const socket = yield* rawConnect(server.address.port)
            socket.write("hi\n")
            yield* readLines(socket, 1)
            return socket
          }), { concurrency: 50 })
        const busy = yield* rawConnect(server.address.port)
        busy.write("slow\n")
        yield* Deferred.await(busyStarted)
        const shutdown = yield* Effect.fork(server.shutdown)
        const idleEnds = yield* Effect.forEach(idle, readToEnd, { concurrency: "unbounded" })
        expect(idleEnds.every((e) => e.ended === "fin")).toBe(true)
        expect(yield* server.stats).toMatchObject({ active: 1 })
        yield* Deferred.succeed(latch, undefined)
        expect((yield* readToEnd(busy)).text).toBe("slow\n")
        yield* Fiber.join(shutdown)
        expect(yield* server.stats).toMatchObject({ active: 0, accepted: 201, frames: 201, openSockets: 0, fibers: 0 })
      }).pipe(Effect.scoped))

    it.effect("interrupts never-finishing handlers at the deadline, running their finalizers", () =>
      Effect.gen(function*() {
        const handlers = 5
        const finalized = yield* Ref.make(0)
        const running = yield* Ref.make(0)
        const allRunning = yield* Deferred.make<void>()
        const server = yield* Server.make(
          { port: 0, shutdownDeadline: "2 seconds", flushTimeout: "1 second", linger: "500 millis" },
          (conn) =>
            conn.readLine().pipe(
              Effect.zipRight(Ref.updateAndGet(running, (n) => n + 1)),
              Effect.tap((n) => (n === handlers ? Deferred.succeed(allRunning, undefined) : Effect.void)),
              Effect.zipRight(Effect.never),
              Effect.onInterrupt(() => Ref.update(finalized, (n) => n + 1))
            )
        )
        const sockets = yield* Effect.forEach(Array.from({ length: handlers }), () => rawConnect(server.address.port))
        sockets.forEach((s) => s.write("go\n"))
        yield* Deferred.await(allRunning)
        const shutdown = yield* Effect.fork(server.shutdown)
        yield* server.draining
        yield* TestClock.adjust("1 second")
        expect(shutdown.unsafePoll()).toBeNull()
        expect(yield* Ref.get(finalized)).toBe(0)
        yield* TestClock.adjust("1500 millis")
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(shutdown)
        expect(yield* Ref.get(finalized)).toBe(handlers)
        expect(yield* server.stats).toMatchObject({
          interruptedAtDeadline: handlers,
          active: 0,
          openSockets: 0,
          fibers: 0
        })
      }).pipe(Effect.scoped))

    it.effect("does not let a peer that never reads hold shutdown past deadline + flush timeout", () =>
      Effect.gen(function*() {
        const writing = yield* Deferred.make<void>()
        const server = yield* Server.make(
          { port: 0, shutdownDeadline: "2 seconds", flushTimeout: "1 second", maxOutboundBytes: 256 * 1024 * 1024 },
          (conn) =>
            Deferred.succeed(writing, undefined).pipe(
              Effect.zipRight(conn.write(new Uint8Array(64 * 1024 * 1024))),
              Effect.zipRight(conn.write(new Uint8Array(64 * 1024 * 1024)))
            )
        )
        const socket = yield* rawConnect(server.address.port)
        socket.pause()
        yield* Deferred.await(writing)
        const shutdown = yield* Effect.fork(server.shutdown)
        yield* server.draining
        yield* TestClock.adjust("2 seconds")
        yield* TestClock.adjust("1 second")
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(shutdown)
        expect(yield* server.stats).toMatchObject({ active: 0, interruptedAtDeadline: 1, openSockets: 0, fibers: 0 })
      }).pipe(Effect.scoped))

    it.live("is idempotent: concurrent and repeated shutdown calls share one result", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, echo)
        const socket = yield* rawConnect(server.address.port)
        socket.write("x\n")
        yield* readLines(socket, 1)
        const ended = yield* Effect.fork(readToEnd(socket))
        yield* Effect.all([server.shutdown, server.shutdown, server.shutdown], { concurrency: "unbounded" })
        yield* server.shutdown
        expect(yield* server.stats).toMatchObject({ active: 0, closed: 1, draining: true })
        expect((yield* Fiber.join(ended)).ended).toBe("fin")
      }).pipe(Effect.scoped))

    it.live("closing the server's scope is a graceful shutdown", () =>
      Effect.gen(function*() {
        const latch = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        let port = 0
        const fiber = yield* Effect.fork(
          Effect.scoped(
            Effect.gen(function*() {
              const server = yield* Server.make(
                { port: 0 },
                Server.respond(
                  Framing.lines(),
                  (line) =>
                    Deferred.succeed(started, undefined).pipe(Effect.zipRight(Deferred.await(latch)), Effect.as(line))
                )
              )
              port = server.address.port
              return yield* Effect.never
            })
          )
        )
        yield* Effect.yieldNow()
        const socket = yield* Effect.suspend(() => rawConnect(port)).pipe(
          Effect.retry({ times: 50 })
        )
        socket.write("in flight\n")
        yield* Deferred.await(started)
        const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
        yield* Deferred.succeed(latch, undefined)
        expect((yield* readToEnd(socket)).text).toBe("in flight\n")
        yield* Fiber.join(interrupting)
      }).pipe(Effect.scoped))
  })
})

// Keep the Connection module referenced for its types in this spec.
export type _ = Connection.Connection
