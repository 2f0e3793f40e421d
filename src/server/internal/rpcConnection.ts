/**
 * One connection of `RpcServer.handler`: frames in, replies out, with no Stream and no fiber per
 * request.
 *
 * While the connection's fiber is parked waiting for input, input is decoded and dispatched
 * inside the socket's data event (an `InlineReader`): replies of handlers that complete at once
 * go out with one write per read. Handlers that suspend run in their own fibers (see `Session`);
 * their replies are gathered and written once per scheduler turn. The fiber takes over when
 * reading must stop: `maxInFlight` reached (backpressure), the peer not reading our replies, a
 * framing error, EOF, or the server's drain.
 */
import { Cause, Effect, Exit, type Option } from "effect"
import { Buffer } from "node:buffer"
import { type ConnectionError, isConnectionError } from "../../connection/ConnectionError.js"
import type { InlineReader, Transport } from "../../connection/Transport.js"
import { asBuffer, EMPTY } from "../../internal/bytes.js"
import { type Codec, type Decoder, type Encoder, joinParts } from "../../protocol/Codec.js"
import { isFramingError } from "../../protocol/FramingError.js"
import * as JsonRpc from "../../protocol/JsonRpc.js"
import type { Id, RpcFormat } from "../../protocol/RpcFormat.js"
import { decodeInto, decodeRead } from "./decoding.js"
import type { Registry } from "./registry.js"
import { Session, type Settings } from "./rpcSession.js"

const tagOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && typeof (e as { readonly _tag?: unknown })._tag === "string"
    ? (e as { readonly _tag: string })._tag
    : undefined

/** The id of a reply (on the rare path where a reply cannot be encoded). */
const idOf = (reply: Uint8Array): Id => {
  try {
    const id: unknown = JSON.parse(asBuffer(reply).toString("utf8"))?.id
    return typeof id === "string" || typeof id === "number" ? id : null
  } catch {
    return null
  }
}

/**
 * What to answer a framing error with before closing: nothing for connection errors, for input
 * that ended inside a frame, or for an error without a `_tag`. (A custom codec's own tagged
 * errors are answered as framing errors too.)
 */
const framingReply = (format: RpcFormat, e: unknown): string | undefined => {
  if (tagOf(e) === undefined || isConnectionError(e) || (isFramingError(e) && e._tag === "UnexpectedEof")) {
    return undefined
  }
  const message = typeof (e as { readonly message?: unknown }).message === "string"
    ? (e as { readonly message: string }).message
    : undefined
  return format.failure(
    null,
    JsonRpc.error(
      isFramingError(e) && e._tag === "FrameTooLarge" ? JsonRpc.FRAME_TOO_LARGE : JsonRpc.FRAMING_ERROR,
      message
    )
  )
}

const dispatchFrames = (rpc: RpcConnection<any, any>): void => rpc.dispatch()
const decodeChunks = (rpc: RpcConnection<any, any>, chunks: ReadonlyArray<Uint8Array> | undefined): void =>
  rpc.decodeChunks(chunks)
const flushGathered = (rpc: RpcConnection<any, any>): void => {
  rpc.flushQueued = false
  rpc.flush()
}

class RpcConnection<R, FE> implements InlineReader {
  // `frames`, `decoded`, `inputFailure` and `decoder` are the `Decoding` state (see `decodeInto`).
  readonly decoder: Decoder<Uint8Array, FE>
  private readonly encoder: Encoder<Uint8Array, FE>
  /** Decoded frames; `frames[next..]` wait for a free slot (`maxInFlight`). */
  readonly frames: Array<Uint8Array> = []
  private next = 0
  decoded = 0
  private handled = 0
  /** Replies not yet written. */
  private readonly texts: Array<string> = []
  /** The length of `texts` (characters: about their bytes), to write them before they pile up. */
  private pendingChars = 0
  private readonly parts: Array<Uint8Array> = []
  /** Set while frames are dispatched: their replies are written together afterwards. */
  private batching = false
  flushQueued = false
  /** A decoding error: answered and raised once the frames decoded before it are answered. */
  inputFailure: FE | undefined = undefined
  /** A write failed: the connection is gone. */
  private failure: ConnectionError | undefined = undefined
  private ended = false
  private settleWake: (() => void) | undefined = undefined

  constructor(
    readonly settings: Settings,
    framing: Codec<Uint8Array, FE>,
    readonly connection: Transport,
    readonly session: Session<R>,
    readonly registry: Option.Option<Registry>
  ) {
    this.decoder = framing.decoder()
    this.encoder = framing.encoder()
    session.onSettle = () => {
      this.settleWake?.()
      // The last request settled: a drain may end the reads, and the idle timeout starts.
      if (session.inFlight === 0) connection.recheck()
    }
  }

  // ---- replies ----------------------------------------------------------------------------

  /** Takes a reply of the session: encoded now, written at the end of the batch (or soon). */
  readonly sink = (reply: string | undefined): void => {
    if (reply === undefined) return
    this.texts.push(reply)
    this.pendingChars += reply.length
    if (!this.batching && !this.flushQueued) {
      // A handler fiber completed: gather the replies of this scheduler turn into one write.
      this.flushQueued = true
      queueMicrotask(this.flushLater)
    }
  }

  /** Encodes the replies gathered so far: all at once, or one by one when one cannot be. */
  private encode(): void {
    const texts = this.texts
    if (this.encoder.pushTexts === undefined || this.encoder.pushTexts(texts, this.parts) !== undefined) {
      for (const text of texts) this.encodeOne(text)
    }
    texts.length = 0
    this.pendingChars = 0
  }

  private encodeOne(reply: string): void {
    const bytes = Buffer.from(reply, "utf8")
    if (this.encoder.push(bytes, this.parts) === undefined) return
    // The framing refuses the reply (over its limit): answer INTERNAL_ERROR to its id instead.
    const error = this.settings.format.failure(
      idOf(bytes),
      JsonRpc.error(JsonRpc.INTERNAL_ERROR, "reply too large for the framing")
    )
    this.encoder.push(Buffer.from(error, "utf8"), this.parts)
  }

  // A microtask: outside any fiber and any socket event, so through the connection's guard.
  private readonly flushLater = (): void => this.connection.guard(this, flushGathered, undefined)

  /** Writes the replies gathered so far (one write) and counts the frames handled. */
  flush(): void {
    if (this.handled > 0) {
      if (this.registry._tag === "Some") this.registry.value.framesHandled(this.handled)
      this.handled = 0
    }
    if (this.texts.length > 0) this.encode()
    if (this.parts.length === 0 || this.failure !== undefined) return
    const bytes = joinParts(this.parts)
    this.parts.length = 0
    // A failed write destroys the socket, which wakes the fiber: it sees `failure` then.
    this.failure = this.connection.writeNow(bytes)
  }

  // ---- requests ---------------------------------------------------------------------------

  /** Input read by the fiber (`undefined`: the end of input). */
  decodeChunks(chunks: ReadonlyArray<Uint8Array> | undefined): void {
    if (decodeRead(this, chunks)) this.ended = true
  }

  /** Dispatches the decoded frames while slots are free, then writes their ready replies. */
  dispatch(): void {
    const { frames, session, settings } = this
    this.batching = true
    session.beginBatch()
    const highWater = this.connection.config.writeHighWaterMark
    const open = frames.length === 0 || !this.connection.writeBlocked()
    while (open && this.next < frames.length) {
      if (this.pendingChars > highWater) {
        // Replies pile up: hand them to the socket, and stop while the peer does not take them
        // (the frames left wait, as unread input would).
        this.flush()
        if (this.failure !== undefined || this.connection.writeBlocked()) break
      }
      if (!settings.reject && session.inFlight >= settings.maxInFlight) break
      session.frame(frames[this.next++]!, this.sink)
      this.handled++
    }
    if (this.next === frames.length) {
      frames.length = 0
      this.next = 0
    }
    session.endBatch()
    this.batching = false
    this.flush()
  }

  // ---- InlineReader: the data event's hot path --------------------------------------------

  push(chunk: Uint8Array): boolean {
    decodeInto(this, chunk)
    this.dispatch()
    return this.frames.length === 0 && this.inputFailure === undefined && this.failure === undefined &&
      !this.connection.writeBlocked()
  }

  readonly partial = (): boolean => this.decoder.buffered > 0
  readonly progress = (): number => this.decoded
  readonly busy = (): boolean => this.session.inFlight > 0

  // ---- the fiber --------------------------------------------------------------------------

  /** Waits until fewer than `limit` requests are in flight (0: until none is). */
  private waitInFlight(limit: number): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const session = this.session
      const check = (): boolean => {
        if (limit === 0 ? session.inFlight === 0 : session.inFlight < limit) {
          this.settleWake = undefined
          resume(Effect.void)
          return true
        }
        return false
      }
      if (check()) return
      this.settleWake = check
      return Effect.sync(() => {
        this.settleWake = undefined
      })
    })
  }

  readonly loop: Effect.Effect<void, FE | ConnectionError> = Effect.suspend(() => {
    // Input read by the fiber may arrive during a drain (never inline): answer SHUTTING_DOWN.
    this.session.draining = this.connection.isDraining
    // The fiber's own synchronous work goes through the same guard as the data event's.
    this.connection.guard(this, dispatchFrames, undefined)
    // Something threw at the connection's boundary (see `close`).
    const crashed = this.connection.crashed
    if (crashed !== undefined) return Effect.die(crashed.defect)
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.frames.length > 0) {
      const wait = this.connection.writeBlocked()
        ? this.connection.write(EMPTY)
        : this.waitInFlight(this.settings.maxInFlight)
      return Effect.zipRight(wait, this.loop)
    }
    if (this.inputFailure !== undefined || this.ended) {
      // EOF, drain or a framing error: answer everything received, then close.
      if (this.session.inFlight > 0) return Effect.zipRight(this.waitInFlight(0), this.loop)
      const error = this.inputFailure
      if (error === undefined) return Effect.void
      const reply = framingReply(this.settings.format, error)
      if (reply !== undefined) this.texts.push(reply)
      this.flush()
      return Effect.fail(error)
    }
    if (this.connection.writeBlocked()) return Effect.zipRight(this.connection.write(EMPTY), this.loop)
    return Effect.flatMap(this.connection.pull(this.partial, this.progress, this.busy), (chunks) => {
      this.connection.guard(this, decodeChunks, chunks)
      return this.loop
    })
  })

  /** At the end: handlers still running get DEADLINE_EXCEEDED (when interrupted) and are interrupted. */
  close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    this.connection.setInlineReader(undefined)
    // A throw at the connection's boundary: the replies made before it still go out.
    if (this.connection.crashed !== undefined) this.connection.guard(this, flushGathered, undefined)
    const session = this.session
    if (session.fibers.size === 0) {
      session.closed = true
      return Effect.void
    }
    if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) {
      for (const id of session.running.keys()) {
        this.texts.push(this.settings.format.failure(id, JsonRpc.error(JsonRpc.DEADLINE_EXCEEDED)))
      }
      this.flush()
    }
    return session.interruptAll()
  }
}

const run = (f: () => void): void => f()

/** Serves one connection (see the module doc). */
export const serveConnection = <R, FE>(
  settings: Settings,
  framing: Codec<Uint8Array, FE>,
  connection: Transport,
  registry: Option.Option<Registry>
): Effect.Effect<void, FE | ConnectionError, R> =>
  Effect.flatMap(Effect.runtime<R>(), (runtime) =>
    Effect.flatMap(Effect.tracer, (tracer) => {
      const session = new Session<R>(settings, runtime, tracer, (settle) => connection.guard(settle, run, undefined))
      const rpc = new RpcConnection<R, FE>(settings, framing, connection, session, registry)
      connection.setInlineReader(rpc)
      return Effect.onExit(rpc.loop, (exit) => rpc.close(exit))
    }))
