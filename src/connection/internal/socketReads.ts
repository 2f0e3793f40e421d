/**
 * The inbound side of a driven socket: its data (queued, or handed to the inline reader), flow
 * control, the read deadlines, the reads of servers (`pull`, `poll`, `waitInline`) and those of
 * `Connection` (`read`…`readAll`, `framed`). Plain functions of the `SocketState`, which the
 * driver's methods and socket listener call: every connection shares them (no closure per
 * connection). Waiting (`waitThen`) and firing the deadlines (`checkTimers`) are the state's.
 */
import { Chunk, Effect, Option, Stream } from "effect"
import { EMPTY } from "../../internal/bytes.js"
import * as Codec from "../../protocol/Codec.js"
import type { Framed, FramedOptions } from "../Connection.js"
import { type ConnectionError, IncompleteRead, LimitExceeded } from "../ConnectionError.js"
import type { InlineReader } from "../Transport.js"
import { Crash } from "./crash.js"
import { ReadQueue } from "./readQueue.js"
import type { SocketState } from "./socketState.js"
import { toBytes, write } from "./socketWrites.js"

const NEWLINE = new Uint8Array([0x0a])
const NO_CHUNKS: ReadonlyArray<Uint8Array> = []

/** Whether a `poll` result is chunks (else the end or an error). */
export const isChunks = (input: ReadonlyArray<Uint8Array> | ConnectionError): input is ReadonlyArray<Uint8Array> =>
  Array.isArray(input)

/** A read step's failure (a class, so a successful value can never be mistaken for it). */
class Fail {
  constructor(readonly error: ConnectionError) {}
}

// ---- input and its deadlines -------------------------------------------------------------------

/** The socket's data event. */
export const onData = (d: SocketState, chunk: Buffer): void => {
  d.bytesIn += chunk.length
  if (d.closing) return
  const inline = d.inline
  if (inline !== undefined && d.waiter !== undefined && d.queue.length === 0 && !d.isDraining) {
    if (inline.push(chunk)) inlineHandled(d, inline)
    else {
      d.attention = true
      d.wake()
    }
    return
  }
  if (d.queue === ReadQueue.empty) d.queue = new ReadQueue()
  d.queue.push(chunk)
  if (!d.paused && d.queue.length >= d.config.readHighWaterMark) {
    d.paused = true
    d.socket.pause()
  }
  d.wake()
}

/** After bytes were taken from the queue: resumes a paused socket once below the mark. */
const consumed = (d: SocketState): void => {
  if (d.paused && d.queue.length < d.config.readHighWaterMark) {
    d.paused = false
    if (!d.socket.destroyed) d.socket.resume()
  }
}

/** Moves the parked reader's deadline after input handled inline. */
const inlineHandled = (d: SocketState, reader: InlineReader): void =>
  armRead(d, reader.partial(), reader.progress, reader.busy !== undefined && reader.busy(), reader)

/**
 * Sets the read deadline of `pull` and the inline reader: the frame-read timeout from the first
 * byte of a half-received frame (a completed frame, i.e. moved `progress`, starts a new
 * window), else the idle timeout unless `busy`.
 */
const armRead = (
  d: SocketState,
  partial: boolean,
  progress: (() => number) | undefined,
  busy: boolean,
  self?: unknown
): void => {
  const now = d.clock.unsafeCurrentTimeMillis()
  if (!partial) {
    d.frameSince = undefined
    d.readDeadline = busy ? Infinity : now + d.config.idleMillis
    d.readDeadlineKind = "idle"
    return
  }
  const mark = progress === undefined ? -1 : progress.call(self)
  if (d.frameSince === undefined || mark !== d.frameMark) {
    d.frameSince = now
    d.frameMark = mark
  }
  d.readDeadline = d.frameSince + d.config.frameReadMillis
  d.readDeadlineKind = "frame-read"
}

// ---- the reads of servers: `pull`, `poll`, `waitInline` ----------------------------------------

export const pull = (
  d: SocketState,
  partial: () => boolean,
  progress?: () => number,
  busy?: () => boolean
): Effect.Effect<ReadonlyArray<Uint8Array> | undefined, ConnectionError> => {
  const retry: Effect.Effect<ReadonlyArray<Uint8Array> | undefined, ConnectionError> = Effect.suspend(() => {
    const isPartial = partial()
    const isBusy = busy !== undefined && busy()
    const input = poll(d, isPartial, isBusy)
    if (input === undefined) {
      armRead(d, isPartial, progress, isBusy)
      return d.waitThen(d.epoch, retry)
    }
    if (input === null) return Effect.succeed(undefined)
    if (input instanceof Crash) return Effect.die(input.defect)
    return isChunks(input) ? Effect.succeed(input) : Effect.fail(input)
  })
  return retry
}

/**
 * `pull` without waiting: the queued chunks (an empty array when an inline reader asked for the
 * fiber), `null` at the end (see `pull`), the socket's error, the connection's `Crash` (a throw
 * caught at its boundary: the consumer dies with it), or `undefined` for "wait".
 */
export const poll = (
  d: SocketState,
  partial: boolean,
  busy: boolean
): ReadonlyArray<Uint8Array> | null | ConnectionError | Crash | undefined => {
  if (d.crashed !== undefined) return d.crashed
  if (d.attention) {
    d.attention = false
    return NO_CHUNKS
  }
  if (d.queue.length > 0) {
    const chunks = d.queue.takeChunks()
    consumed(d)
    return chunks
  }
  if (!d.atEnd(partial || (d.isDraining && busy))) return undefined
  return d.failure ?? null
}

/**
 * For the consumer of the installed inline reader, after `poll` found nothing: waits (the read
 * deadline from the reader's state) until an event, then goes on with `next`. As the wait has no
 * canceler, the consumer removes its inline reader when it stops.
 */
export const waitInline = <A, E, R>(
  d: SocketState,
  next: Effect.Effect<A, E, R>
): Effect.Effect<A, E | ConnectionError, R> => {
  const reader = d.inline
  if (reader !== undefined) inlineHandled(d, reader)
  return d.waitThen(d.epoch, next)
}

// ---- the reads of `Connection` --------------------------------------------------------------

/**
 * Waits for the next socket event, then goes on with `next`. `since` is when the current
 * partial read began (it bounds the wait by the frame-read timeout; otherwise the idle timeout
 * applies). Timeouts are fired by `checkTimers`, called by a `Watchdog`, so a wait costs no
 * timer of its own.
 */
const waitForData = <A>(
  d: SocketState,
  seen: number,
  since: number | undefined,
  holdIdle: (() => boolean) | undefined,
  next: Effect.Effect<A, ConnectionError>
): Effect.Effect<A, ConnectionError> => {
  if (since === undefined) {
    d.readDeadline = holdIdle !== undefined && holdIdle()
      ? Infinity
      : d.clock.unsafeCurrentTimeMillis() + d.config.idleMillis
    d.readDeadlineKind = "idle"
  } else {
    d.readDeadline = since + d.config.frameReadMillis
    d.readDeadlineKind = "frame-read"
  }
  return d.waitThen(seen, next)
}

/** Runs `step` until it returns a value (or a `Fail`), waiting for input in between. */
const readLoop = <A>(
  d: SocketState,
  step: (end: boolean) => A | undefined | Fail,
  partial: () => boolean,
  hold?: () => boolean,
  progress?: () => number,
  holdIdle?: () => boolean
): Effect.Effect<A, ConnectionError> => {
  // `since`: when the half-received read (frame) began; `mark`: the consumer's progress then.
  // A completed frame (progress moved) starts a new frame-read window.
  let since: number | undefined = undefined
  let mark = -1
  const loop: Effect.Effect<A, ConnectionError> = Effect.suspend(() => {
    if (d.crashed !== undefined) return Effect.die(d.crashed.defect)
    const seen = d.epoch
    const isPartial = partial()
    const r = step(d.atEnd(isPartial || (hold !== undefined && d.isDraining && hold())))
    if (r !== undefined) return r instanceof Fail ? Effect.fail(r.error) : Effect.succeed(r)
    if (!isPartial) since = undefined
    else {
      const now = progress === undefined ? -1 : progress()
      if (since === undefined || now !== mark) {
        since = d.clock.unsafeCurrentTimeMillis()
        mark = now
      }
    }
    return waitForData(d, seen, since, holdIdle, loop)
  })
  return loop
}

const endOfInput = (d: SocketState, value: Uint8Array): Uint8Array | Fail =>
  d.failure !== undefined ? new Fail(d.failure) : value

// Each read builds its loop state (`since`, `scanned`, `parts`) per run, inside
// `Effect.suspend`: a read effect may be run again (`Effect.repeat`, `Effect.retry`).
export const read = (d: SocketState, n = 65_536): Effect.Effect<Uint8Array, ConnectionError> =>
  Effect.suspend(() =>
    takeBuffered(d, d.queue.length > 0 ? Math.min(n, d.queue.length) : 0) ?? readLoop(d, (end) => {
      if (d.queue.length > 0) {
        const out = d.queue.take(n)
        consumed(d)
        return out
      }
      return end ? endOfInput(d, EMPTY) : undefined
    }, () => false)
  )

export const readExactly = (d: SocketState, n: number): Effect.Effect<Uint8Array, ConnectionError> =>
  Effect.suspend(() =>
    takeBuffered(d, d.queue.length >= n ? n : 0) ?? readLoop(d, (end) => {
      if (d.queue.length >= n) {
        const out = d.queue.take(n)
        consumed(d)
        return out
      }
      if (!end) return undefined
      const partial = d.queue.take(d.queue.length)
      consumed(d)
      return new Fail(d.failure ?? new IncompleteRead({ partial, expected: n }))
    }, () => d.queue.length > 0)
  )

export const readUntil = (
  d: SocketState,
  separator: Uint8Array | string,
  limit = 65_536
): Effect.Effect<Uint8Array, ConnectionError> => {
  const sep = toBytes(separator)
  return Effect.suspend(() => buffered(d, sep, limit) ?? readUntilOnce(d, sep, limit))
}

/** The fast path of `read` / `readExactly`: `n` (> 0) bytes taken from the buffer at once. */
const takeBuffered = (d: SocketState, n: number): Effect.Effect<Uint8Array> | undefined => {
  if (n === 0 || d.crashed !== undefined) return undefined
  const out = d.queue.take(n)
  consumed(d)
  return Effect.succeed(out)
}

/**
 * The fast path of `readUntil` / `readLine`: the separator is already in the buffer, so the read
 * completes here, with no loop, wait or scheduler hop (a peer that pipelines requests fills the
 * buffer with many).
 */
const buffered = (d: SocketState, sep: Uint8Array, limit: number): Effect.Effect<Uint8Array> | undefined => {
  if (d.crashed !== undefined || d.queue.length === 0) return undefined
  const at = d.queue.indexAfter(sep, 0)
  if (at === -1 || at > limit + sep.length) return undefined
  const out = d.queue.take(at)
  consumed(d)
  return Effect.succeed(out)
}

const readUntilOnce = (d: SocketState, sep: Uint8Array, limit: number): Effect.Effect<Uint8Array, ConnectionError> => {
  let scanned = 0
  return readLoop(d, (end) => {
    const at = d.queue.indexAfter(sep, Math.max(0, scanned - sep.length + 1))
    if (at !== -1 && at <= limit + sep.length) {
      const out = d.queue.take(at)
      consumed(d)
      return out
    }
    scanned = d.queue.length
    if (at !== -1 || d.queue.length > limit + sep.length - 1) {
      const dropped = d.queue.take(Math.min(d.queue.length, limit))
      consumed(d)
      return new Fail(LimitExceeded.of(limit, dropped))
    }
    if (!end) return undefined
    const partial = d.queue.take(d.queue.length)
    consumed(d)
    return new Fail(d.failure ?? new IncompleteRead({ partial, expected: undefined }))
  }, () => d.queue.length > 0)
}

// The slow path is built only when the line is not buffered: a loop calls `readLine` per line.
export const readLine = (d: SocketState, limit = 65_536): Effect.Effect<Uint8Array, ConnectionError> =>
  Effect.suspend(() =>
    buffered(d, NEWLINE, limit) ??
      Effect.catchTag(readUntilOnce(d, NEWLINE, limit), "IncompleteRead", (e) => Effect.succeed(e.partial))
  )

export const readAll = (d: SocketState, limit = 16 * 1_048_576): Effect.Effect<Uint8Array, ConnectionError> =>
  Effect.suspend(() => readAllOnce(d, limit))

const readAllOnce = (d: SocketState, limit: number): Effect.Effect<Uint8Array, ConnectionError> => {
  // Move chunks out of the queue as they come, so flow control keeps reading until EOF.
  const parts: Array<Uint8Array> = []
  let total = 0
  return readLoop(d, (end) => {
    for (const chunk of d.queue.takeChunks()) {
      parts.push(chunk)
      total += chunk.length
    }
    consumed(d)
    if (total > limit) return new Fail(LimitExceeded.of(limit, Codec.joinParts(parts).subarray(0, limit)))
    if (!end) return undefined
    return d.failure !== undefined ? new Fail(d.failure) : Codec.joinParts(parts)
  }, () => true)
}

/**
 * The raw chunks read from the socket, as they come (each pull takes all that is queued).
 * `partial` tells whether the consumer holds a half-received frame (see `atEnd`); while `hold`
 * returns true a drain does not end the stream either (see `FramedOptions.holdOnDrain`).
 */
const chunks = (
  d: SocketState,
  partial: () => boolean,
  hold?: () => boolean,
  progress?: () => number,
  holdIdle?: () => boolean
): Stream.Stream<Uint8Array, ConnectionError> => {
  const pull = readLoop<Chunk.Chunk<Uint8Array>>(
    d,
    (end) => {
      if (d.queue.length > 0) {
        const chunks = d.queue.takeChunks()
        consumed(d)
        return Chunk.unsafeFromArray(chunks)
      }
      if (!end) return undefined
      return d.failure !== undefined ? new Fail(d.failure) : Chunk.empty<Uint8Array>()
    },
    partial,
    hold,
    progress,
    holdIdle
  )
  return Stream.repeatEffectChunkOption(
    Effect.flatMap(
      Effect.mapError(pull, Option.some),
      (chunk) => Chunk.isEmpty(chunk) ? Effect.fail(Option.none()) : Effect.succeed(chunk)
    )
  )
}

export const framed = <A, E>(
  d: SocketState,
  codec: Codec.Codec<A, E>,
  options: FramedOptions = {}
): Framed<A, E> => {
  const hold = options.holdOnDrain
  const encoder = codec.encoder()
  const sendAll = (frames: Iterable<A>): Effect.Effect<void, E | ConnectionError> =>
    Effect.suspend((): Effect.Effect<void, E | ConnectionError> => {
      const parts: Array<Uint8Array> = []
      const error = Codec.pushAll(encoder, Array.isArray(frames) ? frames : Array.from(frames), parts)
      if (error !== undefined) return Effect.fail(error)
      return parts.length === 0 ? Effect.void : write(d, Codec.joinParts(parts))
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
        chunks(d, () => inner.buffered > 0, hold, () => decoded, options.holdIdle),
        Codec.decoderChannel<A, E, ConnectionError>(decoder)
      )
    }),
    send: (frame) => sendAll([frame]),
    sendAll,
    recheck: Effect.sync(() => d.recheck())
  }
}
