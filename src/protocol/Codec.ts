/**
 * A codec turns a byte stream into values and values back into bytes.
 *
 * Its core is two small synchronous state machines with no I/O, so every edge case can be
 * scripted chunk by chunk in a test:
 *
 * ```text
 *   bytes ──push(chunk, out)──▶ Decoder ──▶ frames appended to `out`, or an error
 *   EOF   ──end(out)──────────▶ Decoder ──▶ the last frames, or UnexpectedEof
 *   frame ──push(frame, out)──▶ Encoder ──▶ byte parts appended to `out`, or an error
 *   frames ─pushAll(frames, out)─▶ Encoder ──▶ the same bytes as one part (optional fast path)
 * ```
 *
 * `decode` / `encode` lift them onto Effect `Stream`s of byte chunks (any byte stream, not only
 * sockets), handling every frame of a chunk in one step.
 *
 * After a fatal error a decoder is poisoned: every later `push` or `end` returns the same error.
 * Codecs that can skip a bad frame (for example `Framing.lines({ onOversize: "skip" })`) return
 * that error once without poisoning; to go on with the input already given, call the same method
 * again (`push` with an empty chunk, or `end`).
 *
 * @since 0.1.0
 */
import type { Cause } from "effect"
import { Channel, Chunk, Either, Stream } from "effect"
import { dual } from "effect/Function"
import { concat, EMPTY } from "../internal/bytes.js"

/**
 * The stateful decoding half of a codec. Get a fresh one per stream from `Codec.decoder()`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decoder<A, E> {
  /**
   * Feeds one chunk. Every frame it completes is appended to `out`. Returns `undefined`, or the
   * error that stopped decoding (see the module doc for fatal and recoverable errors).
   */
  readonly push: (chunk: Uint8Array, out: Array<A>) => E | undefined
  /** Signals the end of input: appends any last frame to `out`, or returns why the input was cut short. */
  readonly end: (out: Array<A>) => E | undefined
  /** The fatal error this decoder met, if any. */
  readonly poisoned: E | undefined
  /** How many bytes of unfinished frames are held. */
  readonly buffered: number
}

/**
 * The stateful encoding half of a codec. Get one per stream from `Codec.encoder()`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Encoder<A, E> {
  /**
   * Encodes one frame, appending its bytes (one or more parts, to be written in order) to `out`.
   * On error nothing is appended: an encoder never emits a frame its own decoder would reject.
   */
  readonly push: (frame: A, out: Array<Uint8Array>) => E | undefined
  /**
   * Optional fast path of byte codecs (`A` is `Uint8Array`): encodes each text, as UTF-8, as one
   * frame, all into one part appended to `out`, as `push(Buffer.from(text))` for each would but
   * with one allocation. All or nothing: on the first text that cannot be encoded it returns that
   * error, appends nothing and leaves the encoder as it was (encode one by one to learn which).
   */
  readonly pushTexts?: (texts: ReadonlyArray<string>, out: Array<Uint8Array>) => E | undefined
  /**
   * Optional fast path: encodes `frames` in order exactly as one `push` per frame would (same
   * bytes once joined, same checks, same error, same state after), but appends them as one part,
   * sized first and allocated once, instead of one or two parts per frame. At the first frame
   * that cannot be encoded it returns that frame's error, having appended the bytes of the frames
   * before it, as the loop of `push` would have. Call it through `Codec.pushAll`, which falls
   * back to `push` for encoders without it.
   *
   * @since 0.1.0
   */
  readonly pushAll?: (frames: ReadonlyArray<A>, out: Array<Uint8Array>) => E | undefined
}

/**
 * A value that both decodes and encodes frames of type `A`, failing with `E`, with one set of
 * limits that both directions enforce.
 *
 * @since 0.1.0
 * @category models
 */
export interface Codec<A, E> {
  /** A short name used in error messages, e.g. `lines` or `lengthPrefixed(u32be)`. */
  readonly name: string
  readonly decoder: () => Decoder<A, E>
  readonly encoder: () => Encoder<A, E>
}

/**
 * The frame type of a codec.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Frame<C> = C extends Codec<infer A, infer _E> ? A : never
/**
 * The error type of a codec.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ErrorOf<C> = C extends Codec<infer _A, infer E> ? E : never

/**
 * What `decodeAll` returns: the frames decoded before the first error, and that error.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decoded<A, E> {
  readonly frames: Array<A>
  readonly error: E | undefined
}

/**
 * Decodes a whole input given as chunks, synchronously, stopping at the first error (a
 * recoverable one included), then signals end of input.
 *
 * @example
 * ```ts
 * import { Codec, Framing } from "effect-wire"
 *
 * const ok = Codec.decodeAll(Framing.lines(), [Buffer.from("a\nb"), Buffer.from("\n")])
 * console.log(ok.frames.map((frame) => Buffer.from(frame).toString()), ok.error)
 * // Output: [ 'a', 'b' ] undefined
 *
 * const cut = Codec.decodeAll(Framing.lines(), [Buffer.from("a\nb")])
 * console.log(cut.frames.map((frame) => Buffer.from(frame).toString()), cut.error?._tag)
 * // Output: [ 'a' ] UnexpectedEof
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeAll = <A, E>(codec: Codec<A, E>, chunks: Iterable<Uint8Array>): Decoded<A, E> => {
  const decoder = codec.decoder()
  const frames: Array<A> = []
  for (const chunk of chunks) {
    const error = decoder.push(chunk, frames)
    if (error !== undefined) return { frames, error }
  }
  return { frames, error: decoder.end(frames) }
}

/**
 * Encodes `frames` in order with `encoder`, appending their bytes to `out`: through the
 * encoder's `pushAll` when it has one (one part for the batch), else one `push` per frame. Stops
 * at the first frame that cannot be encoded and returns its error; the bytes of the frames before
 * it are in `out`.
 *
 * @example
 * ```ts
 * import { Codec, Framing } from "effect-wire"
 *
 * const parts: Array<Uint8Array> = []
 * const error = Codec.pushAll(Framing.lines().encoder(), [Buffer.from("a"), Buffer.from("b")], parts)
 * console.log(error, JSON.stringify(Buffer.from(Codec.joinParts(parts)).toString()))
 * // Output: undefined "a\nb\n"
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const pushAll = <A, E>(
  encoder: Encoder<A, E>,
  frames: ReadonlyArray<A>,
  out: Array<Uint8Array>
): E | undefined => {
  if (encoder.pushAll !== undefined) return encoder.pushAll(frames, out)
  for (let i = 0; i < frames.length; i++) {
    const error = encoder.push(frames[i]!, out)
    if (error !== undefined) return error
  }
  return undefined
}

/**
 * Encodes frames into one byte array, or fails with the first frame that cannot be encoded.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeAll = <A, E>(codec: Codec<A, E>, frames: Iterable<A>): Either.Either<Uint8Array, E> => {
  const parts: Array<Uint8Array> = []
  const error = pushAll(codec.encoder(), Array.isArray(frames) ? frames : Array.from(frames), parts)
  return error !== undefined ? Either.left(error) : Either.right(joinParts(parts))
}

/**
 * A `Channel` from byte chunks to frames: fails with the first error, emitting the frames
 * decoded before it.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeChannel = <A, E, IE = never>(
  codec: Codec<A, E>
): Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<Uint8Array>, E | IE, IE, void, unknown> =>
  Channel.suspend(() => decoderChannel<A, E, IE>(codec.decoder()))

/**
 * Like `decodeChannel`, driving a decoder the caller holds (for example to look at
 * `decoder.buffered` while the channel runs). A decoder must drive one channel only.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decoderChannel = <A, E, IE = never>(
  decoder: Decoder<A, E>
): Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<Uint8Array>, E | IE, IE, void, unknown> =>
  Channel.suspend(() => {
    const finish = (out: Array<A>, error: E | undefined) => {
      const written = out.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(out))
      return error === undefined ? written : Channel.zipRight(written, Channel.fail(error))
    }
    const loop: Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<Uint8Array>, E | IE, IE, void, unknown> = Channel
      .readWithCause({
        onInput: (input: Chunk.Chunk<Uint8Array>) => {
          const out: Array<A> = []
          for (const chunk of input) {
            const error = decoder.push(chunk, out)
            if (error !== undefined) return finish(out, error)
          }
          return out.length === 0 ? loop : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), loop)
        },
        onFailure: (cause: Cause.Cause<IE>) => Channel.failCause(cause),
        onDone: () => {
          const out: Array<A> = []
          return finish(out, decoder.end(out))
        }
      })
    return loop
  })

/**
 * Decodes a stream of byte chunks into a stream of frames; the stream fails with the first
 * codec error, after emitting every frame decoded before it.
 *
 * @example
 * ```ts
 * import { Chunk, Effect, Stream } from "effect"
 * import { Codec, Framing } from "effect-wire"
 *
 * const program = Stream.make(Buffer.from("hello\nwor"), Buffer.from("ld\n")).pipe(
 *   Codec.decode(Framing.lines()),
 *   Stream.map((frame) => Buffer.from(frame).toString()),
 *   Stream.runCollect
 * )
 *
 * Effect.runPromise(program).then((lines) => console.log(Chunk.toArray(lines)))
 * // Output: [ 'hello', 'world' ]
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode: {
  <A, E2>(codec: Codec<A, E2>): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<A, E | E2, R>
  <E, R, A, E2>(self: Stream.Stream<Uint8Array, E, R>, codec: Codec<A, E2>): Stream.Stream<A, E | E2, R>
} = dual(
  2,
  <E, R, A, E2>(self: Stream.Stream<Uint8Array, E, R>, codec: Codec<A, E2>): Stream.Stream<A, E | E2, R> =>
    Stream.pipeThroughChannel(self, decodeChannel<A, E2, E>(codec))
)

/**
 * Like `decode`, but codec errors become `Either.left` elements instead of failing the stream.
 * After a recoverable error (a skipped frame) decoding goes on; after a fatal one the stream
 * emits it and ends at once, without reading more input.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeEither: {
  <A, E2>(
    codec: Codec<A, E2>
  ): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Either.Either<A, E2>, E, R>
  <E, R, A, E2>(self: Stream.Stream<Uint8Array, E, R>, codec: Codec<A, E2>): Stream.Stream<Either.Either<A, E2>, E, R>
} = dual(
  2,
  <E, R, A, E2>(
    self: Stream.Stream<Uint8Array, E, R>,
    codec: Codec<A, E2>
  ): Stream.Stream<Either.Either<A, E2>, E, R> => Stream.pipeThroughChannel(self, decodeEitherChannel<A, E2, E>(codec))
)

/**
 * A `Channel` from byte chunks to `Either`s of frames and codec errors (see `decodeEither`).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeEitherChannel = <A, E, IE = never>(
  codec: Codec<A, E>
): Channel.Channel<Chunk.Chunk<Either.Either<A, E>>, Chunk.Chunk<Uint8Array>, IE, IE, void, unknown> =>
  Channel.suspend(() => {
    const decoder = codec.decoder()
    const frames: Array<A> = []
    const resumePush = () => decoder.push(EMPTY, frames)
    const resumeEnd = () => decoder.end(frames)
    // Moves decoded frames and errors to `out`, resuming after recoverable errors; returns false
    // once the decoder is poisoned.
    const collect = (first: E | undefined, resume: () => E | undefined, out: Array<Either.Either<A, E>>): boolean => {
      let error = first
      for (;;) {
        for (const frame of frames) out.push(Either.right(frame))
        frames.length = 0
        if (error === undefined) return true
        out.push(Either.left(error))
        if (decoder.poisoned !== undefined) return false
        error = resume()
      }
    }
    const emit = (out: Array<Either.Either<A, E>>) =>
      out.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(out))
    const loop: Channel.Channel<Chunk.Chunk<Either.Either<A, E>>, Chunk.Chunk<Uint8Array>, IE, IE, void, unknown> =
      Channel.readWithCause({
        onInput: (input: Chunk.Chunk<Uint8Array>) => {
          const out: Array<Either.Either<A, E>> = []
          for (const chunk of input) {
            if (!collect(decoder.push(chunk, frames), resumePush, out)) return emit(out)
          }
          return Channel.zipRight(emit(out), loop)
        },
        onFailure: (cause: Cause.Cause<IE>) => Channel.failCause(cause),
        onDone: () => {
          const out: Array<Either.Either<A, E>> = []
          collect(decoder.end(frames), resumeEnd, out)
          return emit(out)
        }
      })
    return loop
  })

/**
 * Encodes a stream of frames into a stream of byte chunks, one chunk per input chunk (so a
 * batch of frames becomes a single write). Fails with the first frame that cannot be encoded,
 * after emitting the bytes of the frames before it.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode: {
  <A, E2>(codec: Codec<A, E2>): <E, R>(self: Stream.Stream<A, E, R>) => Stream.Stream<Uint8Array, E | E2, R>
  <E, R, A, E2>(self: Stream.Stream<A, E, R>, codec: Codec<A, E2>): Stream.Stream<Uint8Array, E | E2, R>
} = dual(
  2,
  <E, R, A, E2>(self: Stream.Stream<A, E, R>, codec: Codec<A, E2>): Stream.Stream<Uint8Array, E | E2, R> =>
    Stream.pipeThroughChannel(self, encodeChannel<A, E2, E>(codec))
)

/**
 * A `Channel` from frames to byte chunks (one output chunk per input chunk).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeChannel = <A, E, IE = never>(
  codec: Codec<A, E>
): Channel.Channel<Chunk.Chunk<Uint8Array>, Chunk.Chunk<A>, E | IE, IE, void, unknown> =>
  Channel.suspend(() => {
    const encoder = codec.encoder()
    const loop: Channel.Channel<Chunk.Chunk<Uint8Array>, Chunk.Chunk<A>, E | IE, IE, void, unknown> = Channel
      .readWithCause({
        onInput: (input: Chunk.Chunk<A>) => {
          const parts: Array<Uint8Array> = []
          const error = pushAll(encoder, Chunk.toReadonlyArray(input), parts)
          if (error !== undefined) {
            const written = parts.length === 0 ? Channel.void : Channel.write(Chunk.of(joinParts(parts)))
            return Channel.zipRight(written, Channel.fail(error))
          }
          return parts.length === 0 ? loop : Channel.zipRight(Channel.write(Chunk.of(joinParts(parts))), loop)
        },
        onFailure: (cause: Cause.Cause<IE>) => Channel.failCause(cause),
        onDone: () => Channel.void
      })
    return loop
  })

/**
 * Joins encoded parts into one array, copying only when there is more than one.
 *
 * @since 0.1.0
 * @category utils
 */
export const joinParts = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  let total = 0
  for (const part of parts) total += part.length
  return concat(parts, total)
}
