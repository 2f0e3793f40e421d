/**
 * The driver of one `node:net` socket: the implementation of `Connection` (see that module for
 * the behaviour), plus what servers use (`startDrain`, `checkTimers`, `pendingBytes`).
 */
import { Chunk, type Clock, Deferred, Effect, type Fiber, FiberId, Option, Stream } from "effect"
import { Buffer } from "node:buffer"
import type * as Net from "node:net"
import * as Codec from "../../protocol/Codec.js"
import { EMPTY } from "../../protocol/internal/bytes.js"
import type {
  Address,
  Connection,
  ConnectionConfig,
  ConnectionStats,
  Framed,
  FramedOptions,
  InlineReader
} from "../Connection.js"
import {
  ConnectionClosed,
  type ConnectionError,
  ConnectionTimeout,
  IncompleteRead,
  LimitExceeded,
  OutboundLimitExceeded,
  SocketError
} from "../ConnectionError.js"
import { ReadQueue } from "./ReadQueue.js"

let nextId = 1

/** Resumes a fiber parked in a read or write (a stale one, of an interrupted fiber, does nothing). */
type Resume = (effect: Effect.Effect<void, ConnectionError>) => void

/** The driver of a socket, kept on the socket so its listeners are shared functions, not closures. */
const DRIVER = Symbol.for("effect-wire/SocketDriver")
interface Driven extends Net.Socket {
  [DRIVER]: SocketDriver
}

// Socket listeners shared by every driver (`this` is the socket): a connection costs no closures.
function onData(this: Driven, chunk: Buffer): void {
  this[DRIVER].onData(chunk)
}
function onEnd(this: Driven): void {
  const d = this[DRIVER]
  d.ended = true
  d.wake()
}
function onError(this: Driven, cause: NodeJS.ErrnoException): void {
  this[DRIVER].onError(cause)
}
function onClose(this: Driven): void {
  const d = this[DRIVER]
  d.closed = true
  d.wake()
}
function onDrain(this: Driven): void {
  this[DRIVER].wakeWriters()
}

const address = (host: string | undefined, port: number | undefined, family: string | undefined): Address => ({
  host: host ?? "",
  port: port ?? 0,
  family: family ?? ""
})

const toBytes = (data: Uint8Array | string): Uint8Array => (typeof data === "string" ? Buffer.from(data, "utf8") : data)

/**
 * The driver of one `node:net` socket. Internal: use `Connection.make` (scoped) to get a
 * `Connection`; servers use `startDrain` and `hasWork`.
 */
export class SocketDriver implements Connection {
  readonly id = nextId++
  private readonly sockname: Partial<Net.AddressInfo>
  /** The shared empty queue until bytes must wait (the inline path never queues). */
  private queue: ReadQueue = ReadQueue.empty
  private paused = false
  /** @internal set by the socket's listeners */
  ended = false
  /** @internal */
  closed = false
  private writeEnded = false
  private failure: ConnectionError | undefined = undefined
  /** Set by a server's drain (see `startDrain`). */
  isDraining = false
  private closing = false
  /** Made when someone waits for the drain (most connections never do). */
  private drainSignal: Deferred.Deferred<void> | undefined = undefined
  /** Bumped on every socket event, so a waiter registered after an event it missed resumes at once. */
  private epoch = 0
  /**
   * The resume of the parked reader. Waits register no canceler (an interrupted fiber ignores
   * its resume), so a stale one may stay here until the next wait or event; an inline reader is
   * only used by its consumer, which removes it when it stops.
   */
  private waiter: Resume | undefined = undefined
  /** What the parked reader continues with when an event wakes it. */
  private waiterNext: Effect.Effect<unknown, unknown, unknown> = Effect.void
  /** Made when a write first waits. */
  private writeWaiters: Array<Resume> | undefined = undefined
  /** When the parked reader times out (clock millis), and which timeout that is. */
  private readDeadline = Infinity
  private readDeadlineKind: "idle" | "frame-read" = "idle"
  private writeDeadline = Infinity
  /** When a graceful close gives up waiting for the peer's FIN. */
  private closeDeadline = Infinity
  private inline: InlineReader | undefined = undefined
  /** Set when the inline reader hands work to the fiber: its `pull` returns early. */
  private attention = false
  /** When the half-received frame of `pull` / the inline reader began, and their progress then. */
  private frameSince: number | undefined = undefined
  private frameMark = -1
  bytesIn = 0
  bytesOut = 0
  /** Frames decoded and not yet answered, maintained by servers (for `hasWork`). */
  inFlight = 0
  /** The fiber serving this connection, set by a server (to interrupt it at the deadline). */
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined

  constructor(readonly socket: Net.Socket, readonly config: ConnectionConfig, private readonly clock: Clock.Clock) {
    socket.setNoDelay(true)
    // The socket keeps its peer's address once read (even once closed), and this its own.
    void socket.remotePort
    this.sockname = socket.address() as Partial<Net.AddressInfo>
    ;(socket as Driven)[DRIVER] = this
    socket.on("data", onData)
    socket.on("end", onEnd)
    socket.on("error", onError)
    socket.on("close", onClose)
    socket.on("drain", onDrain)
  }

  // Built on each use from what was read at connect (see the constructor).
  get remoteAddress(): Address {
    return address(this.socket.remoteAddress, this.socket.remotePort, this.socket.remoteFamily)
  }

  get localAddress(): Address {
    const local = this.sockname
    return address(local.address, local.port, local.family)
  }

  // ---- reading ----------------------------------------------------------------------------

  /** @internal the socket's data event */
  onData(chunk: Buffer): void {
    this.bytesIn += chunk.length
    if (this.closing) return
    const inline = this.inline
    if (inline !== undefined && this.waiter !== undefined && this.queue.length === 0 && !this.isDraining) {
      if (inline.push(chunk)) this.inlineHandled(inline)
      else {
        this.attention = true
        this.wake()
      }
      return
    }
    if (this.queue === ReadQueue.empty) this.queue = new ReadQueue()
    this.queue.push(chunk)
    if (!this.paused && this.queue.length >= this.config.readHighWaterMark) {
      this.paused = true
      this.socket.pause()
    }
    this.wake()
  }

  /** @internal the socket's error event */
  onError(cause: NodeJS.ErrnoException): void {
    this.failure ??= new SocketError({ code: cause.code, detail: cause.message, cause })
    this.wake()
  }

  /** @internal */
  wake(): void {
    this.epoch++
    const w = this.waiter
    if (w !== undefined) {
      this.waiter = undefined
      w(this.waiterNext as Effect.Effect<void>)
    }
    if (this.closed || this.failure !== undefined) this.wakeWriters()
  }

  private consumed(): void {
    if (this.paused && this.queue.length < this.config.readHighWaterMark) {
      this.paused = false
      if (!this.socket.destroyed) this.socket.resume()
    }
  }

  /** True when no more bytes will come: EOF, a socket error, or closed. */
  private get exhausted(): boolean {
    return this.ended || this.closed || this.failure !== undefined
  }

  /**
   * Waits for the next socket event, then goes on with `next`. `since` is when the current
   * partial read began (it bounds the wait by the frame-read timeout; otherwise the idle timeout
   * applies). Timeouts are fired by `checkTimers`, called by a `Watchdog`, so a wait costs no
   * timer of its own.
   */
  private waitForData<A>(
    seen: number,
    since: number | undefined,
    holdIdle: (() => boolean) | undefined,
    next: Effect.Effect<A, ConnectionError>
  ): Effect.Effect<A, ConnectionError> {
    if (since === undefined) {
      this.readDeadline = holdIdle !== undefined && holdIdle()
        ? Infinity
        : this.clock.unsafeCurrentTimeMillis() + this.config.idleMillis
      this.readDeadlineKind = "idle"
    } else {
      this.readDeadline = since + this.config.frameReadMillis
      this.readDeadlineKind = "frame-read"
    }
    return this.waitThen(seen, next)
  }

  /**
   * Waits for the next socket event since `seen` (the read deadline is already set), then goes
   * on with `next`: one `Effect.async` with no canceler and no continuation of its own.
   */
  private waitThen<A, E, R>(seen: number, next: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConnectionError, R> {
    return Effect.async<A, E | ConnectionError, R>((resume) => {
      if (this.epoch !== seen) return resume(next)
      this.waiter = resume as unknown as Resume
      this.waiterNext = next
    })
  }

  /** Fires the read and write timeouts that are due; called periodically by a `Watchdog`. */
  checkTimers(now: number): void {
    if (now >= this.closeDeadline && !this.socket.destroyed) this.socket.destroy()
    if (this.waiter !== undefined && now >= this.readDeadline) {
      const w = this.waiter
      this.waiter = undefined
      const millis = this.readDeadlineKind === "idle" ? this.config.idleMillis : this.config.frameReadMillis
      w(Effect.fail(new ConnectionTimeout({ timeout: this.readDeadlineKind, millis })))
    }
    const ws = this.writeWaiters
    if (ws !== undefined && ws.length > 0 && now >= this.writeDeadline) {
      this.writeWaiters = undefined
      const error = Effect.fail(new ConnectionTimeout({ timeout: "write-stall", millis: this.config.writeStallMillis }))
      this.socket.destroy()
      for (const w of ws) w(error)
    }
  }

  /** Moves the parked reader's deadline after input handled inline. */
  private inlineHandled(reader: InlineReader): void {
    this.armRead(reader.partial(), reader.progress, reader.busy !== undefined && reader.busy(), reader)
  }

  /**
   * Sets the read deadline of `pull` and the inline reader: the frame-read timeout from the first
   * byte of a half-received frame (a completed frame, i.e. moved `progress`, starts a new
   * window), else the idle timeout unless `busy`.
   */
  private armRead(partial: boolean, progress: (() => number) | undefined, busy: boolean, self?: unknown): void {
    const now = this.clock.unsafeCurrentTimeMillis()
    if (!partial) {
      this.frameSince = undefined
      this.readDeadline = busy ? Infinity : now + this.config.idleMillis
      this.readDeadlineKind = "idle"
      return
    }
    const mark = progress === undefined ? -1 : progress.call(self)
    if (this.frameSince === undefined || mark !== this.frameMark) {
      this.frameSince = now
      this.frameMark = mark
    }
    this.readDeadline = this.frameSince + this.config.frameReadMillis
    this.readDeadlineKind = "frame-read"
  }

  setInlineReader(reader: InlineReader | undefined): void {
    this.inline = reader
    this.frameSince = undefined
    // Installed or removed by its consumer's fiber, which is not waiting: a waiter is stale.
    this.waiter = undefined
  }

  /**
   * A parked read's `busy` (or `holdOnDrain` / `holdIdle`) condition may have turned false: a
   * drain may now end the read, and an idle wait gets its idle deadline.
   */
  recheck(): void {
    if (this.waiter === undefined) return
    if (this.isDraining || this.exhausted) return this.wake()
    if (this.readDeadlineKind === "idle" && this.readDeadline === Infinity) {
      this.readDeadline = this.clock.unsafeCurrentTimeMillis() + this.config.idleMillis
    }
  }

  pull(
    partial: () => boolean,
    progress?: () => number,
    busy?: () => boolean
  ): Effect.Effect<ReadonlyArray<Uint8Array> | undefined, ConnectionError> {
    const retry: Effect.Effect<ReadonlyArray<Uint8Array> | undefined, ConnectionError> = Effect.suspend(() => {
      const isPartial = partial()
      const isBusy = busy !== undefined && busy()
      const input = this.poll(isPartial, isBusy)
      if (input === undefined) {
        this.armRead(isPartial, progress, isBusy)
        return this.waitThen(this.epoch, retry)
      }
      if (input === null) return Effect.succeed(undefined)
      return isChunks(input) ? Effect.succeed(input) : Effect.fail(input)
    })
    return retry
  }

  /**
   * `pull` without waiting: the queued chunks (an empty array when an inline reader asked for the
   * fiber), `null` at the end (see `pull`), the socket's error, or `undefined` for "wait".
   */
  poll(partial: boolean, busy: boolean): ReadonlyArray<Uint8Array> | null | ConnectionError | undefined {
    if (this.attention) {
      this.attention = false
      return NO_CHUNKS
    }
    if (this.queue.length > 0) {
      const chunks = this.queue.takeChunks()
      this.consumed()
      return chunks
    }
    if (!this.atEnd(partial || (this.isDraining && busy))) return undefined
    return this.failure ?? null
  }

  /**
   * For the consumer of the installed inline reader, after `poll` found nothing: waits (the read
   * deadline from the reader's state) until an event, then goes on with `next`. As the wait has no
   * canceler, the consumer removes its inline reader when it stops.
   */
  waitInline<A, E, R>(next: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConnectionError, R> {
    const reader = this.inline
    if (reader !== undefined) this.inlineHandled(reader)
    return this.waitThen(this.epoch, next)
  }

  writeBlocked(): boolean {
    return this.socket.writableLength > this.config.writeHighWaterMark
  }

  /**
   * Whether a read that needs more bytes should stop as at EOF: the peer is done, or a server
   * is draining and nothing is half-read.
   */
  private atEnd(partial: boolean): boolean {
    return this.exhausted || (this.isDraining && !partial)
  }

  /** Runs `step` until it returns a value (or a `Fail`), waiting for input in between. */
  private readLoop<A>(
    step: (end: boolean) => A | undefined | Fail,
    partial: () => boolean,
    hold?: () => boolean,
    progress?: () => number,
    holdIdle?: () => boolean
  ): Effect.Effect<A, ConnectionError> {
    // `since`: when the half-received read (frame) began; `mark`: the consumer's progress then.
    // A completed frame (progress moved) starts a new frame-read window.
    let since: number | undefined = undefined
    let mark = -1
    const loop: Effect.Effect<A, ConnectionError> = Effect.suspend(() => {
      const seen = this.epoch
      const isPartial = partial()
      const r = step(this.atEnd(isPartial || (hold !== undefined && this.isDraining && hold())))
      if (r !== undefined) return r instanceof Fail ? Effect.fail(r.error) : Effect.succeed(r)
      if (!isPartial) since = undefined
      else {
        const now = progress === undefined ? -1 : progress()
        if (since === undefined || now !== mark) {
          since = this.clock.unsafeCurrentTimeMillis()
          mark = now
        }
      }
      return this.waitForData(seen, since, holdIdle, loop)
    })
    return loop
  }

  // Each read method builds its loop state (`since`, `scanned`, `parts`) per run, inside
  // `Effect.suspend`: a read effect may be run again (`Effect.repeat`, `Effect.retry`).
  read(n = 65_536): Effect.Effect<Uint8Array, ConnectionError> {
    return Effect.suspend(() =>
      this.readLoop((end) => {
        if (this.queue.length > 0) {
          const out = this.queue.take(n)
          this.consumed()
          return out
        }
        return end ? this.endOfInput(EMPTY) : undefined
      }, () => false)
    )
  }

  readExactly(n: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Effect.suspend(() =>
      this.readLoop((end) => {
        if (this.queue.length >= n) {
          const out = this.queue.take(n)
          this.consumed()
          return out
        }
        if (!end) return undefined
        const partial = this.queue.take(this.queue.length)
        this.consumed()
        return new Fail(this.failure ?? new IncompleteRead({ partial, expected: n }))
      }, () => this.queue.length > 0)
    )
  }

  readUntil(separator: Uint8Array | string, limit = 65_536): Effect.Effect<Uint8Array, ConnectionError> {
    return Effect.suspend(() => this.readUntilOnce(toBytes(separator), limit))
  }

  private readUntilOnce(sep: Uint8Array, limit: number): Effect.Effect<Uint8Array, ConnectionError> {
    let scanned = 0
    return this.readLoop((end) => {
      const at = this.queue.indexAfter(sep, Math.max(0, scanned - sep.length + 1))
      if (at !== -1 && at <= limit + sep.length) {
        const out = this.queue.take(at)
        this.consumed()
        return out
      }
      scanned = this.queue.length
      if (at !== -1 || this.queue.length > limit + sep.length - 1) {
        const dropped = this.queue.take(Math.min(this.queue.length, limit))
        this.consumed()
        return new Fail(LimitExceeded.of(limit, dropped))
      }
      if (!end) return undefined
      const partial = this.queue.take(this.queue.length)
      this.consumed()
      return new Fail(this.failure ?? new IncompleteRead({ partial, expected: undefined }))
    }, () => this.queue.length > 0)
  }

  readLine(limit = 65_536): Effect.Effect<Uint8Array, ConnectionError> {
    return this.readUntil(NEWLINE, limit).pipe(
      Effect.catchTag("IncompleteRead", (e) => Effect.succeed(e.partial))
    )
  }

  readAll(limit = 16 * 1_048_576): Effect.Effect<Uint8Array, ConnectionError> {
    return Effect.suspend(() => this.readAllOnce(limit))
  }

  private readAllOnce(limit: number): Effect.Effect<Uint8Array, ConnectionError> {
    // Move chunks out of the queue as they come, so flow control keeps reading until EOF.
    const parts: Array<Uint8Array> = []
    let total = 0
    return this.readLoop((end) => {
      for (const chunk of this.queue.takeChunks()) {
        parts.push(chunk)
        total += chunk.length
      }
      this.consumed()
      if (total > limit) return new Fail(LimitExceeded.of(limit, Codec.joinParts(parts).subarray(0, limit)))
      if (!end) return undefined
      return this.failure !== undefined ? new Fail(this.failure) : Codec.joinParts(parts)
    }, () => true)
  }

  private endOfInput(value: Uint8Array): Uint8Array | Fail {
    return this.failure !== undefined ? new Fail(this.failure) : value
  }

  /**
   * The raw chunks read from the socket, as they come (each pull takes all that is queued).
   * `partial` tells whether the consumer holds a half-received frame (see `atEnd`); while `hold`
   * returns true a drain does not end the stream either (see `FramedOptions.holdOnDrain`).
   */
  chunks(
    partial: () => boolean,
    hold?: () => boolean,
    progress?: () => number,
    holdIdle?: () => boolean
  ): Stream.Stream<Uint8Array, ConnectionError> {
    const pull = this.readLoop<Chunk.Chunk<Uint8Array>>((end) => {
      if (this.queue.length > 0) {
        const chunks = this.queue.takeChunks()
        this.consumed()
        return Chunk.unsafeFromArray(chunks)
      }
      if (!end) return undefined
      return this.failure !== undefined ? new Fail(this.failure) : Chunk.empty<Uint8Array>()
    }, partial, hold, progress, holdIdle)
    return Stream.repeatEffectChunkOption(
      Effect.flatMap(
        Effect.mapError(pull, Option.some),
        (chunk) => Chunk.isEmpty(chunk) ? Effect.fail(Option.none()) : Effect.succeed(chunk)
      )
    )
  }

  // ---- writing ----------------------------------------------------------------------------

  /** @internal */
  wakeWriters(): void {
    const ws = this.writeWaiters
    if (ws === undefined || ws.length === 0) return
    this.writeWaiters = undefined
    for (const w of ws) w(Effect.void)
  }

  private writeClosed(): ConnectionError | undefined {
    if (this.failure !== undefined) return this.failure
    if (this.writeEnded) return new ConnectionClosed({ reason: "write-ended", detail: "write after endWrite" })
    if (this.closed || this.socket.destroyed) return new ConnectionClosed({ reason: "closed", detail: "socket closed" })
    return undefined
  }

  /** Waits until the queued outbound bytes fall to the high-water mark (or the write stalls). */
  private get waitWritable(): Effect.Effect<void, ConnectionError> {
    return Effect.suspend(() => {
    // A destroyed socket has dropped its queue: a short queue then means lost bytes, not sent ones.
    if (this.failure !== undefined || this.socket.errored !== null || this.socket.destroyed) {
      return Effect.fail(this.lost())
    }
    if (this.socket.writableLength <= this.config.writeHighWaterMark) return Effect.void
    const closed = this.writeClosed()
    if (closed !== undefined) return Effect.fail(closed)
    return Effect.zipRight(
      Effect.async<void, ConnectionError>((resume) => {
        const ws = this.writeWaiters ??= []
        if (ws.length === 0) {
          this.writeDeadline = this.clock.unsafeCurrentTimeMillis() + this.config.writeStallMillis
        }
        ws.push(resume)
        return Effect.sync(() => {
          if (this.writeWaiters !== undefined) this.writeWaiters = this.writeWaiters.filter((x) => x !== resume)
        })
      }),
      this.waitWritable
    )
  })
  }

  /** Writes without waiting; returns the error that prevents the write, if any. */
  writeNow(bytes: Uint8Array): ConnectionError | undefined {
    const closed = this.writeClosed()
    if (closed !== undefined) return closed
    const queued = this.socket.writableLength
    if (queued > this.config.maxOutboundBytes) {
      this.socket.destroy()
      return new OutboundLimitExceeded({ limit: this.config.maxOutboundBytes, queued })
    }
    if (bytes.length === 0) return undefined
    this.bytesOut += bytes.length
    this.socket.write(bytes)
    // A write the OS refuses at once (the peer has reset) errors the socket synchronously and
    // empties its queue; the 'error' event only comes later. Report it now, not success.
    return this.socket.errored !== null || this.socket.destroyed ? this.lost() : undefined
  }

  /** Why a destroyed socket lost its writes: its socket error, else `ConnectionClosed`. */
  private lost(): ConnectionError {
    const cause = this.socket.errored as NodeJS.ErrnoException | null
    if (cause !== null) this.failure ??= new SocketError({ code: cause.code, detail: cause.message, cause })
    return this.failure ?? new ConnectionClosed({ reason: "closed", detail: "socket closed" })
  }

  write(data: Uint8Array | string): Effect.Effect<void, ConnectionError> {
    return Effect.suspend(() => {
      const error = this.writeNow(toBytes(data))
      if (error !== undefined) return Effect.fail(error)
      return this.socket.writableLength > this.config.writeHighWaterMark ? this.waitWritable : Effect.void
    })
  }

  writeAll(data: Iterable<Uint8Array | string>): Effect.Effect<void, ConnectionError> {
    return Effect.suspend(() => this.write(Codec.joinParts(Array.from(data, toBytes))))
  }

  get flush(): Effect.Effect<void, ConnectionError> {
    return Effect.suspend(() => {
    if (this.socket.writableLength === 0) return Effect.void
    const closed = this.writeClosed()
    if (closed !== undefined) return Effect.fail(closed)
    return Effect.async<void, ConnectionError>((resume) => {
      this.socket.write(EMPTY, (err) =>
        resume(err ? Effect.fail(this.failure ?? new ConnectionClosed({ reason: "closed", detail: err.message })) : Effect.void)
      )
    })
  })
  }

  get endWrite(): Effect.Effect<void> {
    return Effect.sync(() => {
    if (this.writeEnded || this.socket.destroyed) return
    this.writeEnded = true
    this.socket.end()
  })
  }

  get abort(): Effect.Effect<void> {
    return Effect.sync(() => {
    if (!this.socket.destroyed) this.socket.resetAndDestroy()
  })
  }

  get close(): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (this.closeThen(() => resume(Effect.void))) return
      // Interrupted (a caller's timeout): the socket goes at once.
      return Effect.sync(() => this.socket.destroy())
    })
  }

  /**
   * `close` without a fiber (a server's, once the connection's fiber has ended): half-closes and
   * calls `done` once the socket is gone; true when it already is (`done` was called).
   * The watchdog destroys the socket once `linger` has passed (see `checkTimers`), so the wait is
   * bounded without a timer (or a racing fiber) per close.
   */
  closeThen(done: () => void): boolean {
    if (this.closed || this.socket.destroyed) {
      done()
      return true
    }
    this.closing = true
    if (!this.writeEnded) {
      this.writeEnded = true
      this.socket.end()
    }
    this.closeDeadline = this.clock.unsafeCurrentTimeMillis() + this.config.lingerMillis
    this.socket.once("close", done)
    // Our half-close is done; keep reading (and dropping) so the peer's FIN can arrive.
    if (this.paused) {
      this.paused = false
      this.socket.resume()
    }
    return false
  }

  // ---- framing and state ------------------------------------------------------------------

  framed<A, E>(codec: Codec.Codec<A, E>, options: FramedOptions = {}): Framed<A, E> {
    const hold = options.holdOnDrain
    const encoder = codec.encoder()
    const sendAll = (frames: Iterable<A>): Effect.Effect<void, E | ConnectionError> =>
      Effect.suspend((): Effect.Effect<void, E | ConnectionError> => {
        const parts: Array<Uint8Array> = []
        for (const frame of frames) {
          const error = encoder.push(frame, parts)
          if (error !== undefined) return Effect.fail(error)
        }
        return parts.length === 0 ? Effect.void : this.write(Codec.joinParts(parts))
      })
    return {
      frames: Stream.suspend(() => {
        const inner = codec.decoder()
        // Counts decoded frames, so that each frame gets its own frame-read window.
        let decoded = 0
        const decoder: Codec.Decoder<A, E> = {
          push: (chunk, out) => {
            const before = out.length
            const error = inner.push(chunk, out)
            decoded += out.length - before
            return error
          },
          end: (out) => inner.end(out),
          get poisoned() {
            return inner.poisoned
          },
          get buffered() {
            return inner.buffered
          }
        }
        return Stream.pipeThroughChannel(
          this.chunks(() => inner.buffered > 0, hold, () => decoded, options.holdIdle),
          Codec.decoderChannel<A, E, ConnectionError>(decoder)
        )
      }),
      send: (frame) => sendAll([frame]),
      sendAll,
      recheck: Effect.sync(() => this.recheck())
    }
  }

  get draining(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.isDraining) return Effect.void
      this.drainSignal ??= Deferred.unsafeMake<void>(FiberId.none)
      return Deferred.await(this.drainSignal)
    })
  }

  get eof(): Effect.Effect<boolean> {
    return Effect.sync(() => this.ended)
  }

  get stats(): Effect.Effect<ConnectionStats> {
    return Effect.sync(() => ({
    bytesIn: this.bytesIn,
    bytesOut: this.bytesOut
  }))
  }

  /** Starts draining: idle reads end at once (see the module doc). */
  startDrain(): void {
    if (this.isDraining) return
    this.isDraining = true
    if (this.drainSignal !== undefined) Deferred.unsafeDone(this.drainSignal, Effect.void)
    this.wake()
  }

  /** Whether the socket is gone. */
  get isClosed(): boolean {
    return this.closed || this.socket.destroyed
  }

  /** Bytes waiting to be read or written (a connection with none and nothing in flight is idle). */
  get pendingBytes(): number {
    return this.queue.length + this.socket.writableLength
  }
}

/** Whether a `poll` result is chunks (else the end or an error). */
export const isChunks = (input: ReadonlyArray<Uint8Array> | ConnectionError): input is ReadonlyArray<Uint8Array> =>
  Array.isArray(input)

const NEWLINE = new Uint8Array([0x0a])
const NO_CHUNKS: ReadonlyArray<Uint8Array> = []

/** A read step's failure (a class, so a successful value can never be mistaken for it). */
class Fail {
  constructor(readonly error: ConnectionError) {}
}
