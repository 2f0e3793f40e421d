import { describe, expect, it, vi } from "@effect/vitest"
import { Cause, Chunk, Deferred, Effect, Exit, Fiber, Option, Stream, TestClock } from "effect"
import { Buffer } from "node:buffer"
import * as Net from "node:net"
import * as Connection from "../../src/connection/Connection.js"
import * as Watchdog from "../../src/connection/internal/watchdog.js"
import * as Timers from "../../src/connection/Timers.js"
import * as Transport from "../../src/connection/Transport.js"
import { Framing } from "../../src/index.js"

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8")
const texts = (frames: Chunk.Chunk<Uint8Array>): Array<string> => Chunk.toArray(frames).map(text)

/** How the peer's receiving side ended: with our FIN, or with a reset. */
type PeerEnd = { readonly text: string; readonly ended: "fin" | "reset" }

/**
 * A `Connection` under test (`conn`, wrapping the connecting socket) and the plain `node:net`
 * socket at the other end (`peer`), both on 127.0.0.1 and half-open capable. The peer records
 * what it receives; `send` writes chunks from the peer one by one, each delivered to our socket
 * before the next is written, so the reader really sees many small chunks.
 */
const pair = (options: Connection.ConnectionOptions = {}) =>
  Effect.gen(function*() {
    const watchdog = yield* Watchdog.make()
    const listener = yield* Effect.acquireRelease(
      Effect.async<Net.Server>((resume) => {
        const server = Net.createServer({ allowHalfOpen: true })
        server.listen({ host: "127.0.0.1", port: 0 }, () => resume(Effect.succeed(server)))
      }),
      (server) => Effect.sync(() => server.close())
    )
    const accepted = yield* Deferred.make<Net.Socket>()
    listener.once("connection", (socket: Net.Socket) => Deferred.unsafeDone(accepted, Exit.succeed(socket)))
    const socket = yield* Effect.async<Net.Socket, Error>((resume) => {
      const port = (listener.address() as Net.AddressInfo).port
      const s = Net.connect({ host: "127.0.0.1", port, allowHalfOpen: true })
      const onError = (e: Error) => resume(Effect.fail(e))
      s.once("error", onError)
      s.once("connect", () => {
        s.off("error", onError)
        resume(Effect.succeed(s))
      })
    })
    const conn = (yield* Connection.make(socket, options).pipe(
      Effect.provideService(Timers.Timers, watchdog)
    )) as Transport.Transport
    const peer = yield* Deferred.await(accepted)
    // Registered after `Connection.make`, so it runs first: the peer goes away and our graceful
    // close does not wait for the linger time.
    yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))

    const inbox: Array<Buffer> = []
    let inboxBytes = 0
    const peerEnd = yield* Deferred.make<PeerEnd>()
    const finish = (ended: "fin" | "reset") =>
      Deferred.unsafeDone(peerEnd, Exit.succeed({ text: Buffer.concat(inbox).toString("utf8"), ended }))
    peer.on("data", (d: Buffer) => {
      inbox.push(d)
      inboxBytes += d.length
    })
    peer.once("end", () => finish("fin"))
    peer.on("error", () => finish("reset"))

    /** Resolves when the peer has received at least `n` bytes, with all it has received. */
    const peerReceived = (n: number) =>
      Effect.async<string>((resume) => {
        const check = () => {
          if (inboxBytes < n) return
          peer.off("data", check)
          resume(Effect.succeed(Buffer.concat(inbox).toString("utf8")))
        }
        peer.on("data", check)
        check()
        return Effect.sync(() => peer.off("data", check))
      })

    /** Resolves once our socket has received `total` bytes in all. */
    const delivered = (total: number) =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (conn.bytesIn < total) return
          conn.socket.off("data", check)
          resume(Effect.void)
        }
        conn.socket.on("data", check)
        check()
        return Effect.sync(() => conn.socket.off("data", check))
      })

    const send = (...chunks: Array<string | Uint8Array>) =>
      Effect.forEach(chunks, (chunk) =>
        Effect.suspend(() => {
          const total = conn.bytesIn + Buffer.byteLength(chunk)
          peer.write(chunk)
          return delivered(total)
        }), { discard: true })

    /** Resolves once our socket is closed (after a FIN both ways, a reset or a destroy). */
    const ourSocketClosed = Effect.async<void>((resume) => {
      if (conn.socket.closed) return resume(Effect.void)
      conn.socket.once("close", () => resume(Effect.void))
    })

    return { conn, peer, send, peerReceived, peerEnd: Deferred.await(peerEnd), ourSocketClosed }
  })

describe("Connection", () => {
  it.effect("is marked: isConnection and isTransport hold for what Connection.make gives, not for look-alikes", () =>
    Effect.gen(function*() {
      const { conn } = yield* pair()
      expect(Connection.isConnection(conn)).toBe(true)
      expect(Transport.isTransport(conn)).toBe(true)
      const lookalike = { read: conn.read, write: conn.write }
      expect(Connection.isConnection(lookalike)).toBe(false)
      expect(Transport.isTransport(lookalike)).toBe(false)
      expect(Connection.isConnection(null)).toBe(false)
    }).pipe(Effect.scoped))

  describe("reading", () => {
    it.live("read(n) returns at most n bytes of what has arrived, then the rest", () =>
      Effect.gen(function*() {
        const { conn, send } = yield* pair()
        yield* send("hello world")
        expect(text(yield* conn.read(5))).toBe("hello")
        expect(text(yield* conn.read())).toBe(" world")
      }).pipe(Effect.scoped))

    it.live("read waits for bytes when none have arrived yet", () =>
      Effect.gen(function*() {
        const { conn, send } = yield* pair()
        const reading = yield* Effect.fork(conn.read())
        yield* send("late")
        expect(text(yield* Fiber.join(reading))).toBe("late")
      }).pipe(Effect.scoped))

    it.live("read returns an empty array at EOF, and again on every later read", () =>
      Effect.gen(function*() {
        const { conn, peer, send } = yield* pair()
        yield* send("x")
        peer.end()
        expect(text(yield* conn.read())).toBe("x")
        expect((yield* conn.read()).length).toBe(0)
        expect((yield* conn.read()).length).toBe(0)
        expect(yield* conn.eof).toBe(true)
      }).pipe(Effect.scoped))

    it.live("readExactly(n) collects exactly n bytes from many one-byte chunks and leaves the rest", () =>
      Effect.gen(function*() {
        const { conn, send } = yield* pair()
        const reading = yield* Effect.fork(conn.readExactly(10))
        yield* send(..."0123456789ab".split(""))
        expect(text(yield* Fiber.join(reading))).toBe("0123456789")
        expect(text(yield* conn.read())).toBe("ab")
      }).pipe(Effect.scoped))

    it.live("readExactly at EOF fails with IncompleteRead carrying the partial bytes and the size expected", () =>
      Effect.gen(function*() {
        const { conn, peer, send } = yield* pair()
        yield* send("ab", "c")
        peer.end()
        const error = yield* Effect.flip(conn.readExactly(5))
        expect(error._tag).toBe("IncompleteRead")
        if (error._tag !== "IncompleteRead") return
        expect(text(error.partial)).toBe("abc")
        expect(error.expected).toBe(5)
        expect(error.message).toBe("input ended after 3 bytes while waiting for 5 bytes")
      }).pipe(Effect.scoped))

    it.live("readLine returns each line with its \\n, the unterminated rest at EOF, then empty arrays", () =>
      Effect.gen(function*() {
        const { conn, peer, send } = yield* pair()
        yield* send("one\ntw", "o\r\nthr")
        peer.end()
        expect(text(yield* conn.readLine())).toBe("one\n")
        expect(text(yield* conn.readLine())).toBe("two\r\n")
        expect(text(yield* conn.readLine())).toBe("thr")
        expect((yield* conn.readLine()).length).toBe(0)
        expect((yield* conn.readLine()).length).toBe(0)
      }).pipe(Effect.scoped))

    it.live("readUntil finds a multi-byte separator split across chunks", () =>
      Effect.gen(function*() {
        const { conn, send } = yield* pair()
        const reading = yield* Effect.fork(conn.readUntil("\r\n\r\n"))
        yield* send("HEAD\r", "\n\r", "\nBODY")
        expect(text(yield* Fiber.join(reading))).toBe("HEAD\r\n\r\n")
        expect(text(yield* conn.read())).toBe("BODY")
      }).pipe(Effect.scoped))

    it.live("readUntil accepts exactly `limit` bytes before the separator and fails with LimitExceeded past that", () =>
      Effect.gen(function*() {
        const { conn, send } = yield* pair()
        yield* send("12345678\n")
        expect(text(yield* conn.readUntil("\n", 8))).toBe("12345678\n")
        // Nine bytes and no separator: the line is already too long, no need to wait for more.
        yield* send("123456789")
        const error = yield* Effect.flip(conn.readUntil("\n", 8))
        expect(error).toMatchObject({ _tag: "LimitExceeded", limit: 8 })
      }).pipe(Effect.scoped))

    it.live("reading goes on after LimitExceeded: the overlong bytes are dropped and the paused socket resumes", () =>
      Effect.gen(function*() {
        const { conn, send } = yield* pair({ readHighWaterMark: 16 })
        yield* send("x".repeat(30))
        expect(conn.socket.isPaused()).toBe(true) // 30 unread bytes >= the high-water mark
        expect(yield* Effect.flip(conn.readUntil("\n", 20))).toMatchObject({ _tag: "LimitExceeded", limit: 20 })
        expect(conn.socket.isPaused()).toBe(false) // 10 unread bytes left
        yield* send("\n")
        expect(text(yield* conn.readLine())).toBe("x".repeat(10) + "\n")
      }).pipe(Effect.scoped))

    it.live("readUntil at EOF fails with IncompleteRead carrying the bytes received", () =>
      Effect.gen(function*() {
        const { conn, peer, send } = yield* pair()
        yield* send("no separator")
        peer.end()
        const error = yield* Effect.flip(conn.readUntil("\r\n"))
        expect(error._tag).toBe("IncompleteRead")
        if (error._tag !== "IncompleteRead") return
        expect(text(error.partial)).toBe("no separator")
        expect(error.expected).toBeUndefined()
      }).pipe(Effect.scoped))

    it.live("readAll returns everything until EOF, then an empty array", () =>
      Effect.gen(function*() {
        const { conn, peer, send } = yield* pair()
        const reading = yield* Effect.fork(conn.readAll())
        yield* send("a", "bc", "def")
        peer.end()
        expect(text(yield* Fiber.join(reading))).toBe("abcdef")
        expect((yield* conn.readAll()).length).toBe(0)
      }).pipe(Effect.scoped))

    it.live("readAll fails with LimitExceeded as soon as more than `limit` bytes arrive, without waiting for EOF", () =>
      Effect.gen(function*() {
        const { conn, send } = yield* pair()
        yield* send("0123456789")
        const error = yield* Effect.flip(conn.readAll(4))
        expect(error).toMatchObject({ _tag: "LimitExceeded", limit: 4 })
      }).pipe(Effect.scoped))

    it.live("a read effect can be run again: each run is a fresh read", () =>
      Effect.gen(function*() {
        const { conn, peer, send } = yield* pair()
        // Retrying a readUntil that hit its limit skips the overlong line piece by piece.
        const line = conn.readUntil("\n", 4)
        yield* send("abcdefgh\nxy\n")
        expect(yield* Effect.flip(line)).toMatchObject({ _tag: "LimitExceeded" })
        expect(text(yield* line)).toBe("efgh\n")
        expect(text(yield* line)).toBe("xy\n")
        const all = conn.readAll()
        yield* send("rest")
        peer.end()
        expect(text(yield* all)).toBe("rest")
        expect((yield* all).length).toBe(0)
      }).pipe(Effect.scoped))

    it.effect("the frame-read timeout of a read effect run again counts from that run, not the first", () =>
      Effect.gen(function*() {
        const { conn, send } = yield* pair({ frameReadTimeout: "30 seconds" })
        const frame = conn.readExactly(4)
        yield* send("ab")
        const first = yield* Effect.fork(frame)
        yield* TestClock.adjust("20 seconds")
        yield* send("cdef")
        expect(text(yield* Fiber.join(first))).toBe("abcd")
        yield* TestClock.adjust("20 seconds")
        // 40 s after the first run began, but only just after this one did.
        const second = yield* Effect.fork(frame)
        yield* TestClock.adjust("1 second")
        yield* send("gh")
        expect(text(yield* Fiber.join(second))).toBe("efgh")
      }).pipe(Effect.scoped))

    it.effect("a half-received read fails with ConnectionTimeout(frame-read) once frameReadTimeout passes", () =>
      Effect.gen(function*() {
        const { conn, send } = yield* pair({ frameReadTimeout: "30 seconds" })
        yield* send("ab")
        const reading = yield* Effect.fork(Effect.flip(conn.readExactly(4)))
        yield* TestClock.adjust("29 seconds")
        yield* send("c")
        yield* TestClock.adjust("2 seconds")
        expect(yield* Fiber.join(reading)).toMatchObject({ _tag: "ConnectionTimeout", timeout: "frame-read" })
      }).pipe(Effect.scoped))
  })

  describe("writing", () => {
    it.live("write sends bytes, and strings as UTF-8", () =>
      Effect.gen(function*() {
        const { conn, peerReceived } = yield* pair()
        yield* conn.write("héllo ")
        yield* conn.write(new Uint8Array([0x77, 0x6f, 0x72, 0x6c, 0x64]))
        expect(yield* peerReceived(12)).toBe("héllo world")
      }).pipe(Effect.scoped))

    it.live("writeAll sends several buffers as one write", () =>
      Effect.gen(function*() {
        const { conn, peerReceived } = yield* pair()
        const writes = vi.spyOn(conn.socket, "write")
        yield* conn.writeAll(["GET / HTTP/1.1\r\n", Buffer.from("Host: x\r\n"), "\r\n"])
        expect(writes).toHaveBeenCalledTimes(1)
        writes.mockRestore()
        expect(yield* peerReceived(27)).toBe("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
      }).pipe(Effect.scoped))

    it.live("flush returns once everything written has been handed to the kernel", () =>
      Effect.gen(function*() {
        const { conn, peerReceived } = yield* pair()
        const size = 4 * 1024 * 1024
        yield* conn.write(Buffer.alloc(size, 1))
        yield* conn.flush
        expect(conn.socket.writableLength).toBe(0)
        expect((yield* peerReceived(size)).length).toBe(size)
      }).pipe(Effect.scoped))

    it.live("endWrite sends FIN after the queued bytes; the peer can still send and we can still read", () =>
      Effect.gen(function*() {
        const { conn, peer, peerEnd } = yield* pair()
        yield* conn.write("request")
        yield* conn.endWrite
        expect(yield* peerEnd).toEqual({ text: "request", ended: "fin" })
        peer.end("reply")
        expect(text(yield* conn.readAll())).toBe("reply")
      }).pipe(Effect.scoped))

    it.live("the peer's half-close ends our reads while our writes still reach it", () =>
      Effect.gen(function*() {
        const { conn, peer, peerEnd } = yield* pair()
        peer.end("question")
        expect(text(yield* conn.readAll())).toBe("question")
        expect(yield* conn.eof).toBe(true)
        yield* conn.write("answer")
        yield* conn.endWrite
        expect(yield* peerEnd).toEqual({ text: "answer", ended: "fin" })
      }).pipe(Effect.scoped))

    it.live("a write after endWrite fails with ConnectionClosed(write-ended)", () =>
      Effect.gen(function*() {
        const { conn } = yield* pair()
        yield* conn.endWrite
        const error = yield* Effect.flip(conn.write("too late"))
        expect(error).toMatchObject({ _tag: "ConnectionClosed", reason: "write-ended" })
      }).pipe(Effect.scoped))

    it.live("a write to a peer that reset the connection fails with a typed ConnectionFailed, not a defect", () =>
      Effect.gen(function*() {
        const { conn, ourSocketClosed, peer } = yield* pair()
        peer.resetAndDestroy()
        yield* ourSocketClosed
        const exit = yield* Effect.exit(conn.write("anyone there?"))
        expect(Exit.isFailure(exit) && !Cause.isDie(exit.cause)).toBe(true)
        const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        expect(error).toMatchObject(Option.some({ _tag: "ConnectionFailed", code: "ECONNRESET" }))
      }).pipe(Effect.scoped))

    it.live("a write issued right after the peer reset fails with a typed error, whenever the reset is noticed", () =>
      Effect.gen(function*() {
        const { conn, peer } = yield* pair({ maxOutboundBytes: 64 * 1024 * 1024 })
        peer.pause()
        peer.resetAndDestroy()
        // Either the OS refuses the write at once, or (more than loopback buffers hold) it waits
        // for the peer and the reset wakes it: a typed failure both ways, never success.
        const exit = yield* Effect.exit(conn.write(Buffer.alloc(32 * 1024 * 1024)))
        expect(Exit.isFailure(exit) && !Cause.isDie(exit.cause)).toBe(true)
        const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        expect(Option.map(error, (e) => e._tag)).toEqual(Option.some("ConnectionFailed"))
      }).pipe(Effect.scoped))

    // `TestClock.adjust` first waits until every forked fiber is suspended: here, until the write
    // is parked waiting for the peer to read. The clock itself does not move.
    const parked = TestClock.adjust("0 millis")

    it.effect("a write waiting on a peer that does not read fails with ConnectionFailed when the peer resets", () =>
      Effect.gen(function*() {
        const { conn, peer } = yield* pair({ maxOutboundBytes: 64 * 1024 * 1024 })
        peer.pause()
        const writing = yield* Effect.fork(Effect.flip(conn.write(Buffer.alloc(32 * 1024 * 1024))))
        yield* parked
        peer.resetAndDestroy()
        expect(yield* Fiber.join(writing)).toMatchObject({ _tag: "ConnectionFailed", code: "ECONNRESET" })
      }).pipe(Effect.scoped))

    it.effect("a write waiting on a peer that does not read fails with ConnectionClosed when we abort", () =>
      Effect.gen(function*() {
        const { conn, peer } = yield* pair({ maxOutboundBytes: 64 * 1024 * 1024 })
        peer.pause()
        const writing = yield* Effect.fork(Effect.flip(conn.write(Buffer.alloc(32 * 1024 * 1024))))
        yield* parked
        yield* conn.abort
        // The aborted socket dropped the queued bytes: the write must not report success.
        expect(yield* Fiber.join(writing)).toMatchObject({ _tag: "ConnectionClosed", reason: "closed" })
      }).pipe(Effect.scoped))

    it.live("stats counts the bytes received and sent", () =>
      Effect.gen(function*() {
        const { conn, peerReceived, send } = yield* pair()
        yield* send("hello", "!")
        yield* conn.write("abc")
        yield* peerReceived(3)
        expect(yield* conn.stats).toEqual({ bytesIn: 6, bytesOut: 3 })
      }).pipe(Effect.scoped))
  })

  describe("closing", () => {
    it.live("close sends what was written, then FIN, and returns once the peer has closed too", () =>
      Effect.gen(function*() {
        const { conn, peer, peerEnd } = yield* pair()
        peer.once("end", () => peer.end())
        yield* conn.write("bye\n")
        yield* conn.close
        expect(yield* peerEnd).toEqual({ text: "bye\n", ended: "fin" })
        expect(conn.socket.destroyed).toBe(true)
      }).pipe(Effect.scoped))

    it.effect("close waits at most `linger` for a peer that never closes, then destroys the socket", () =>
      Effect.gen(function*() {
        const { conn, peerEnd } = yield* pair({ linger: "5 seconds" })
        const closing = yield* Effect.fork(conn.close)
        expect((yield* peerEnd).ended).toBe("fin")
        yield* TestClock.adjust("4 seconds")
        expect(conn.socket.destroyed).toBe(false)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(closing)
        expect(conn.socket.destroyed).toBe(true)
      }).pipe(Effect.scoped))

    it.effect("linger 0: close sends what was written, then FIN, and destroys the socket once flushed, not waiting for the peer's FIN", () =>
      Effect.gen(function*() {
        // 8 MiB: more than the kernel takes at once, so the socket goes only after a flush.
        const big = "x".repeat(8 * 1_048_576)
        const { conn, peerEnd } = yield* pair({ linger: 0, writeHighWaterMark: 16 * 1_048_576 })
        yield* conn.write(big)
        // The peer never sends its FIN and the test clock never moves (no watchdog tick).
        yield* conn.close
        expect(conn.socket.destroyed).toBe(true)
        const end = yield* peerEnd
        expect(end.ended).toBe("fin")
        expect(end.text.length).toBe(big.length)
      }).pipe(Effect.scoped))

    it("linger 0 is a valid option (close at once); the default stays 1 s", () => {
      expect(Connection.config({ linger: 0 }).lingerMillis).toBe(0)
      expect(Connection.config({ linger: "0 millis" }).lingerMillis).toBe(0)
      expect(Connection.config().lingerMillis).toBe(1_000)
    })

    it.live("abort resets the connection: the peer sees ECONNRESET, not FIN", () =>
      Effect.gen(function*() {
        const { conn, peerEnd } = yield* pair()
        yield* conn.abort
        expect((yield* peerEnd).ended).toBe("reset")
        expect(conn.socket.destroyed).toBe(true)
      }).pipe(Effect.scoped))
  })

  describe("addresses", () => {
    it.live("remoteAddress and localAddress match what the peer's socket reports", () =>
      Effect.gen(function*() {
        const { conn, peer } = yield* pair()
        expect(conn.remoteAddress).toEqual({ host: peer.localAddress, port: peer.localPort, family: peer.localFamily })
        expect(conn.localAddress).toEqual({
          host: peer.remoteAddress,
          port: peer.remotePort,
          family: peer.remoteFamily
        })
        expect(conn.remoteAddress).toMatchObject({ host: "127.0.0.1", family: "IPv4" })
      }).pipe(Effect.scoped))
  })

  describe("framed", () => {
    it.live("frames decodes lines split across chunks and ends at the peer's EOF", () =>
      Effect.gen(function*() {
        const { conn, peer, send } = yield* pair()
        const collecting = yield* Effect.fork(Stream.runCollect(conn.framed(Framing.lines()).frames))
        yield* send("hel", "lo\nwor", "ld\r", "\n", "!\n")
        peer.end()
        expect(texts(yield* Fiber.join(collecting))).toEqual(["hello", "world", "!"])
      }).pipe(Effect.scoped))

    it.live("send and sendAll encode frames with the codec; sendAll makes one write", () =>
      Effect.gen(function*() {
        const { conn, peerReceived } = yield* pair()
        const framed = conn.framed(Framing.lines())
        yield* framed.send(Buffer.from("one"))
        const writes = vi.spyOn(conn.socket, "write")
        yield* framed.sendAll([Buffer.from("two"), Buffer.from("three")])
        expect(writes).toHaveBeenCalledTimes(1)
        writes.mockRestore()
        expect(yield* peerReceived(14)).toBe("one\ntwo\nthree\n")
      }).pipe(Effect.scoped))

    it.live("lengthPrefixed frames round-trip: headers and payloads split anywhere", () =>
      Effect.gen(function*() {
        const { conn, peer, peerReceived, send } = yield* pair()
        const framed = conn.framed(Framing.lengthPrefixed())
        const collecting = yield* Effect.fork(Stream.runCollect(framed.frames))
        yield* send(
          new Uint8Array([0, 0]),
          new Uint8Array([0, 2, 0x68]),
          new Uint8Array([0x69, 0, 0, 0, 0, 0, 0, 0]),
          new Uint8Array([3, 0x61, 0x62, 0x63])
        )
        peer.end()
        expect(texts(yield* Fiber.join(collecting))).toEqual(["hi", "", "abc"])
        yield* framed.sendAll([Buffer.from("ok"), Buffer.from("")])
        expect(yield* peerReceived(10)).toBe("\x00\x00\x00\x02ok\x00\x00\x00\x00")
      }).pipe(Effect.scoped))

    it.live("a codec error fails the frames stream after emitting the frames before it", () =>
      Effect.gen(function*() {
        const { conn, send } = yield* pair()
        const seen: Array<string> = []
        const running = yield* Effect.fork(Effect.exit(
          Stream.runForEach(conn.framed(Framing.lines({ maxLineBytes: 4 })).frames, (frame) =>
            Effect.sync(() => seen.push(text(frame))))
        ))
        yield* send("ok\n", "this line is too long\n")
        const exit = yield* Fiber.join(running)
        expect(seen).toEqual(["ok"])
        const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        expect(error).toMatchObject(Option.some({ _tag: "FrameTooLarge", limit: 4 }))
      }).pipe(Effect.scoped))

    it.live("a lengthPrefixed frame cut short by EOF fails the stream with UnexpectedEof", () =>
      Effect.gen(function*() {
        const { conn, peer, send } = yield* pair()
        const collecting = yield* Effect.fork(
          Effect.flip(Stream.runCollect(conn.framed(Framing.lengthPrefixed()).frames))
        )
        yield* send(new Uint8Array([0, 0, 0, 5, 0x68]))
        peer.end()
        expect(yield* Fiber.join(collecting)).toMatchObject({ _tag: "UnexpectedEof" })
      }).pipe(Effect.scoped))

    it.effect("frames: the frame-read timeout counts from each frame's first byte, even when no pull ends between frames", () =>
      Effect.gen(function*() {
        const { conn, peer, send } = yield* pair({ frameReadTimeout: "30 seconds" })
        const collecting = yield* Effect.fork(Stream.runCollect(conn.framed(Framing.lengthPrefixed()).frames))
        yield* send(new Uint8Array([0, 0, 0, 2, 0x61])) // frame 1 begins at 0 s
        yield* TestClock.adjust("20 seconds")
        yield* send(new Uint8Array([0x62, 0, 0, 0, 2, 0x63])) // frame 1 ends, frame 2 begins at 20 s
        yield* TestClock.adjust("20 seconds") // frame 2 is 20 s old
        yield* send(new Uint8Array([0x64]))
        peer.end()
        expect(texts(yield* Fiber.join(collecting))).toEqual(["ab", "cd"])
      }).pipe(Effect.scoped))

    it.effect("frames: a frame trickled byte by byte still times out frameReadTimeout after its first byte", () =>
      Effect.gen(function*() {
        const { peer, conn, send } = yield* pair({ frameReadTimeout: "30 seconds" })
        const collecting = yield* Effect.fork(
          Effect.either(Stream.runCollect(conn.framed(Framing.lengthPrefixed()).frames))
        )
        yield* send(new Uint8Array([0, 0, 0, 5, 0x61])) // the frame begins at 0 s
        yield* TestClock.adjust("20 seconds")
        yield* send(new Uint8Array([0x62])) // progress within the same frame does not restart its window
        yield* TestClock.adjust("11 seconds")
        const result = yield* Fiber.join(collecting)
        expect(result).toMatchObject({ _tag: "Left", left: { _tag: "ConnectionTimeout", timeout: "frame-read" } })
        peer.end()
      }).pipe(Effect.scoped))

    it.live("sendAll writes nothing when one of its frames cannot be encoded", () =>
      Effect.gen(function*() {
        const { conn, peerEnd } = yield* pair()
        const framed = conn.framed(Framing.lines())
        const error = yield* Effect.flip(framed.sendAll([Buffer.from("fine"), Buffer.from("two\nlines")]))
        expect(error._tag).toBe("MalformedFrame")
        yield* conn.endWrite
        expect(yield* peerEnd).toEqual({ text: "", ended: "fin" })
      }).pipe(Effect.scoped))
  })
})
