/**
 * The hot path of `Server.respond` with concurrency 1: frames handled one after another, replies
 * in order, with no Stream and no fiber per frame.
 *
 * While handlers complete without suspending (an `Exit` such as `Effect.succeed`, or any effect
 * that runs to its end at once: `Effect.gen`, `map` chains…), input is decoded, handled and
 * answered inside the socket's data event (an `InlineReader`), one write per read, and the
 * connection's fiber stays parked. A handler that suspends, an error or a peer that does not read
 * hands the work to the fiber, which awaits it, answers, and parks again.
 *
 * The state is one object with methods, not closures, and is itself the fiber's loop (an
 * `Effectable`): a parked connection holds it, the socket driver's wait, and little else (idle
 * connections are what a server holds most of).
 */
import { Effect, Effectable, Exit, Fiber, Runtime } from "effect"
import type { Connection } from "../../connection/Connection.js"
import type { ConnectionError } from "../../connection/ConnectionError.js"
import { Crash, type InlineReader, isChunks, type Transport } from "../../connection/Transport.js"
import { EMPTY } from "../../internal/bytes.js"
import { type Codec, type Decoder, type Encoder, joinParts } from "../../protocol/Codec.js"
import { decodeInto, decodeRead } from "./decoding.js"
import type { Registry } from "./registry.js"

type Reply<O> = O | ReadonlyArray<O> | undefined

type Codecs<I, O, EI, EO> = { readonly input: Codec<I, EI>; readonly output: Codec<O, EO> }

/** The handler effect of a connection (it may be run again: each run has its own state). */
export const respondInOrder = <I, O, EI, EO, EH, R>(
  connection: Transport,
  codecs: Codecs<I, O, EI, EO>,
  handle: (frame: I, connection: Connection) => Effect.Effect<Reply<O>, EH, R>,
  registry: Registry | undefined
): Effect.Effect<void, EI | EO | EH | ConnectionError, R> =>
  Effect.suspend(() =>
    Effect.ensuring(
      new InOrder(connection, codecs, handle, registry),
      Effect.sync(() => connection.setInlineReader(undefined))
    )
  )

/**
 * The handler effect of a server's own connection, run once: the server removes the inline
 * reader when the fiber ends, which saves a finalizer per connection.
 */
export const serveInOrder = <I, O, EI, EO, EH, R>(
  connection: Transport,
  codecs: Codecs<I, O, EI, EO>,
  handle: (frame: I, connection: Connection) => Effect.Effect<Reply<O>, EH, R>,
  registry: Registry | undefined,
  run?: (effect: Effect.Effect<void, EH, R>) => Fiber.RuntimeFiber<void, EH>
): Effect.Effect<void, EI | EO | EH | ConnectionError, R> => new InOrder(connection, codecs, handle, registry, run)

class InOrder<I, O, EI, EO, EH, R> extends Effectable.Class<void, EI | EO | EH | ConnectionError, R>
  implements InlineReader
{
  // `frames`, `decoded`, `inputFailure` and `decoder` are the `Decoding` state (see `decodeInto`).
  /** Decoded frames; `frames[next..]` are not handled yet. */
  readonly frames: Array<I> = []
  private next = 0
  decoded = 0
  private handled = 0
  /**
   * Frames not answered at once: the fiber of a batch that suspended (the connection's fiber
   * awaits it), or a handler's failure (the connection fails with it). See `runSync`.
   */
  private waiting: Fiber.RuntimeFiber<void, EH> | Exit.Failure<unknown, EH> | undefined = undefined
  /** Runs a batch on the connection's runtime, synchronously until it completes or suspends. */
  private run: ((effect: Effect.Effect<void, EH, R>) => Fiber.RuntimeFiber<void, EH>) | undefined = undefined
  /** A reply that cannot be encoded or written: fail at once. */
  private failure: EO | ConnectionError | undefined = undefined
  /** A decoding error: fail once the frames decoded before it are answered. */
  inputFailure: EI | undefined = undefined
  private ended = false
  private started = false
  private readonly parts: Array<Uint8Array> = []
  /** Bytes in `parts`, to write them before they pile up. */
  private pendingBytes = 0
  readonly decoder: Decoder<I, EI>
  private readonly encoder: Encoder<O, EO>
  constructor(
    private readonly connection: Transport,
    codecs: Codecs<I, O, EI, EO>,
    private readonly handle: (frame: I, connection: Connection) => Effect.Effect<Reply<O>, EH, R>,
    private readonly registry: Registry | undefined,
    run?: (effect: Effect.Effect<void, EH, R>) => Fiber.RuntimeFiber<void, EH>
  ) {
    super()
    this.run = run
    this.decoder = codecs.input.decoder()
    this.encoder = codecs.output.encoder()
  }

  /** Runs the loop: the first time, and each time the driver's wait goes on with it. */
  commit(): Effect.Effect<void, EI | EO | EH | ConnectionError, R> {
    if (!this.started) {
      this.started = true
      if (this.run !== undefined) {
        this.connection.setInlineReader(this)
        return this.step()
      }
      return Effect.flatMap(Effect.runtime<R>(), (runtime) => {
        this.run = Runtime.runFork(runtime)
        this.connection.setInlineReader(this)
        return this.step()
      })
    }
    return this.step()
  }

  // ---- the inline reader (the socket's data event) ------------------------------------------

  push(chunk: Uint8Array): boolean {
    if (this.waiting !== undefined || this.failure !== undefined || this.inputFailure !== undefined) return false
    decodeInto(this, chunk)
    this.runSync()
    this.flush()
    return this.waiting === undefined && this.failure === undefined && this.inputFailure === undefined &&
      this.frames.length === 0 && !this.connection.writeBlocked()
  }

  partial(): boolean {
    return this.decoder.buffered > 0
  }

  progress(): number {
    return this.decoded
  }

  // ---- shared by both paths -----------------------------------------------------------------

  private encode(reply: Reply<O>): void {
    if (reply === undefined || this.failure !== undefined) return
    const before = this.parts.length
    this.encodeParts(reply)
    for (let i = before; i < this.parts.length; i++) this.pendingBytes += this.parts[i]!.length
  }

  private encodeParts(reply: O | ReadonlyArray<O>): void {
    if (Array.isArray(reply)) {
      for (const r of reply as ReadonlyArray<O>) {
        const error = this.encoder.push(r, this.parts)
        if (error !== undefined) return void (this.failure = error)
      }
    } else {
      const error = this.encoder.push(reply as O, this.parts)
      if (error !== undefined) this.failure = error
    }
  }

  /**
   * Handles the frames decoded so far. While handlers return an `Exit` (`Effect.succeed`,
   * `Effect.fail`) no runtime is needed. At the first other effect, that frame and the ones after
   * it are handled in one fiber on the connection's runtime: most such effects (`Effect.gen`,
   * `map` / `flatMap` chains, Schema decoding, service lookups…) complete without suspending, so
   * the fiber is done when `runFork` returns and the read is answered at once, with one fiber
   * per read, not per frame. A fiber that suspends is `waiting`: the connection's fiber awaits it.
   */
  runSync(): void {
    const effect = this.handleExits()
    if (effect === undefined) return
    const fiber = this.run!(this.continueWith(effect))
    const exit = fiber.unsafePoll()
    this.waiting = exit === null ? fiber : exit._tag === "Failure" ? exit : undefined
  }

  /**
   * Handles frames while their handlers' effects are `Exit`s, and returns the first effect that
   * is not (its frame is `frames[next]`). A failure is `waiting`; replies piling up on a peer that
   * does not read stop the loop (the frames left wait, as unread input would).
   */
  private handleExits(): Effect.Effect<Reply<O>, EH, R> | undefined {
    const frames = this.frames
    const highWater = this.connection.config.writeHighWaterMark
    if (this.next < frames.length && this.connection.writeBlocked()) return undefined
    while (this.next < frames.length && this.failure === undefined) {
      if (this.pendingBytes > highWater) {
        this.flush()
        if (this.failure !== undefined || this.connection.writeBlocked()) return undefined
      }
      // A throw here (a handler that throws instead of returning an effect, an encoder) is a
      // defect of this connection: inside the socket's event the driver's guard catches it,
      // inside a fiber the fiber does.
      const effect = this.handle(frames[this.next]!, this.connection)
      if (!Exit.isExit(effect)) return effect
      const exit = effect as Exit.Exit<Reply<O>, EH>
      if (exit._tag === "Failure") {
        this.waiting = exit
        return undefined
      }
      this.encode(exit.value)
      this.next++
      this.handled++
    }
    frames.length = 0
    this.next = 0
    return undefined
  }

  /** In the batch's fiber: `effect`'s reply, then the frames after it (see `runSync`). */
  private continueWith(effect: Effect.Effect<Reply<O>, EH, R>): Effect.Effect<void, EH, R> {
    return Effect.flatMap(effect, (reply) => {
      this.encode(reply)
      this.next++
      this.handled++
      const more = this.handleExits()
      const failed = this.waiting
      if (failed !== undefined) {
        this.waiting = undefined
        return failed as Exit.Failure<Reply<O>, EH>
      }
      return more === undefined ? Effect.void : this.continueWith(more)
    })
  }

  /** Writes the replies gathered so far (one write) and counts the frames answered. */
  private flush(): void {
    if (this.handled > 0) {
      if (this.registry !== undefined) this.registry.framesHandled(this.handled)
      this.handled = 0
    }
    if (this.parts.length === 0) return
    const bytes = joinParts(this.parts)
    this.parts.length = 0
    this.pendingBytes = 0
    const error = this.connection.writeNow(bytes)
    if (error !== undefined && this.failure === undefined) this.failure = error
  }

  // ---- the fiber ----------------------------------------------------------------------------

  /** What the fiber does next: run a suspended handler, wait for the peer, or read. */
  step(): Effect.Effect<void, EI | EO | EH | ConnectionError, R> {
    const crashed = this.connection.crashed
    if (crashed !== undefined) {
      // Something threw at the connection's boundary: the replies made before it go out, and
      // nothing of the loop's state (possibly half-updated) is used again.
      this.flush()
      return Effect.die(crashed.defect)
    }
    const waiting = this.waiting
    if (waiting !== undefined) {
      this.waiting = undefined
      if (Exit.isExit(waiting)) {
        // A handler failed: the replies before it go out, then the connection fails with it.
        this.flush()
        return waiting as Exit.Failure<never, EH>
      }
      // A batch suspended: await it (interrupting it if this fiber is interrupted); it answers
      // its frames itself.
      return Effect.flatMap(
        Effect.onInterrupt(waiting.await, () => Fiber.interrupt(waiting)),
        (exit): Effect.Effect<void, EI | EO | EH | ConnectionError, R> => {
          if (exit._tag === "Failure") {
            this.flush()
            return exit
          }
          return this.step()
        }
      )
    }
    // Frames left by a peer that did not take the replies (see `runSync`).
    if (this.next < this.frames.length) {
      this.connection.guard(this, handleFrames, undefined)
      if (this.waiting !== undefined || this.connection.crashed !== undefined) return this.step()
    }
    this.flush()
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.inputFailure !== undefined) return Effect.fail(this.inputFailure)
    if (this.connection.writeBlocked()) return Effect.zipRight(this.connection.write(EMPTY), this)
    if (this.ended) return Effect.void
    // Waits with no continuation of its own: the driver goes on with this loop itself.
    const input = this.connection.poll(this.decoder.buffered > 0, false)
    if (input === undefined) return this.connection.waitInline(this)
    if (input === null) return this.pulled(undefined)
    if (input instanceof Crash) return this.step()
    return isChunks(input) ? this.pulled(input) : Effect.fail(input)
  }

  private pulled(
    chunks: ReadonlyArray<Uint8Array> | undefined
  ): Effect.Effect<void, EI | EO | EH | ConnectionError, R> {
    this.connection.guard(this, decodeAndHandle, chunks)
    return this.step()
  }

  /** Input read by the fiber (`undefined`: the end of input), then its frames. */
  decodeAndHandle(chunks: ReadonlyArray<Uint8Array> | undefined): void {
    if (decodeRead(this, chunks)) this.ended = true
    if (this.waiting === undefined) this.runSync()
  }
}

type Loop = InOrder<any, any, any, any, any, any>
const handleFrames = (loop: Loop): void => loop.runSync()
const decodeAndHandle = (loop: Loop, chunks: ReadonlyArray<Uint8Array> | undefined): void =>
  loop.decodeAndHandle(chunks)
