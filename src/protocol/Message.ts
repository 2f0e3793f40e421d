/**
 * Message codecs: typed values on top of a framing codec.
 *
 * ```text
 *   bytes ──framing──▶ frame (Uint8Array) ──UTF-8 / JSON / MessagePack──▶ value ──Schema──▶ A
 *   A ──Schema encode──▶ value ──JSON.stringify / pack──▶ frame ──framing──▶ bytes
 * ```
 *
 * - Each frame is decoded whole, after the framing has gathered it, so a UTF-8 character split
 *   across chunks is never corrupted. Text must be valid UTF-8 (`InvalidUtf8` otherwise, for
 *   `text` and `json`).
 * - Schemas are compiled once per codec; `Packr` / `Unpackr` are created once per codec.
 * - A frame that is not valid UTF-8, JSON, MessagePack or that the schema rejects is one bad
 *   message in an intact stream: the error is recoverable (reported once, the decoder is not
 *   poisoned, the next frame decodes), which lets a server answer a bad request and keep
 *   serving. `Codec.decodeEither` yields the error, then the following frames. Framing errors
 *   are passed through, fatal or recoverable as the framing decided.
 * - A JSON frame nesting arrays and objects deeper than `maxDepth` (default 128) is such an
 *   error, found before the frame is parsed: deeper values overflow the stack of whatever
 *   recurses over them (`JSON.stringify`, Schema's error formatter, the handler). Error details
 *   that embed the frame's value are cut at 1,000 characters.
 * - Encoding fails with `MessageEncodeError` and writes nothing when the schema's encoding
 *   fails or the value cannot be serialized; the framing's limits then apply to the frame.
 *
 * Errors name the frame's index in the stream (`frame`, always exact) and the stream offset
 * where the frame starts (`offset`). The framing decoder reports frames, not their offsets, so
 * the offset is derived: the first frame completed by a framing call starts where the framing's
 * unfinished bytes began (bytes fed − `buffered`); a later frame of the same call adds the sizes
 * its predecessors have when written by the framing's own encoder (computed only when an error
 * needs it). That is exact when the peer wrote frames the way the framing's encoder does (for
 * lines: the same newline); a line ending in `\r\n` read by a `\n` codec makes the offsets of
 * later lines of the same chunk one byte short.
 *
 * @since 0.1.0
 */
import { ParseResult, Schema } from "effect"
import { Packr, Unpackr } from "msgpackr"
import { Buffer, isUtf8 } from "node:buffer"
import { asBuffer, preview } from "../internal/bytes.js"
import { oneOf } from "../internal/options.js"
import { capText } from "../internal/text.js"
import type { Codec, Decoder, Encoder } from "./Codec.js"
import { InvalidUtf8 } from "./FramingError.js"
import { DEFAULT_MAX_DEPTH, depthBeyond, depthMessage, maxDepthOption } from "./internal/jsonLimits.js"
import { MessageDecodeError, MessageEncodeError, type MessageError, type MessageFailure } from "./MessageError.js"

/**
 * A codec of typed messages over a framing whose errors are `E`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessageCodec<A, E> extends Codec<A, E | InvalidUtf8 | MessageError> {
  /** The framing the messages travel in. */
  readonly framing: Codec<Uint8Array, E>
}

/**
 * Options of `Message.json`.
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonOptions {
  /**
   * How deeply a frame may nest arrays and objects (`[]` is 1): default 128, from 1 to 1024. A
   * deeper frame is a recoverable `MessageDecodeError` (reason `"json"`), found before it is parsed.
   */
  readonly maxDepth?: number
}

/**
 * Options of `Message.msgpack`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MsgpackOptions {
  /**
   * How 64-bit MessagePack integers decode: `"auto"` (default: a number when within ±2^53, a
   * bigint beyond), `"bigint"` (always), `"number"` (may lose precision) or `"string"`.
   */
  readonly int64AsType?: "auto" | "bigint" | "number" | "string"
}

/**
 * UTF-8 text messages, one string per frame.
 *
 * @example
 * ```ts
 * import { Codec, Framing, Message } from "effect-wire"
 *
 * const codec = Message.text(Framing.lines())
 * // "é" is c3 a9 in UTF-8: split across two chunks, it still decodes
 * const { frames } = Codec.decodeAll(codec, [Buffer.from("68c3", "hex"), Buffer.from("a90a", "hex")])
 * console.log(frames)
 * // Output: [ 'hé' ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const text = <E>(framing: Codec<Uint8Array, E>): MessageCodec<string, E> =>
  make(`text(${framing.name})`, framing, textFormat)

/**
 * JSON messages, one value per frame, decoded and encoded with `schema`. Without a schema the
 * values are `unknown` (whatever `JSON.parse` returns). Frames nest at most `maxDepth` levels
 * (default 128), checked when the codec is built (`IllegalArgumentException`).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Codec, Framing, Message } from "effect-wire"
 *
 * const Request = Schema.Struct({ id: Schema.Number, method: Schema.String })
 * const codec = Message.json(Framing.lines(), Request, { maxDepth: 8 })
 *
 * const { frames } = Codec.decodeAll(codec, [Buffer.from('{"id":1,"method":"ping"}\n')])
 * console.log(frames)
 * // Output: [ { id: 1, method: 'ping' } ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const json: {
  <E>(framing: Codec<Uint8Array, E>, schema?: undefined, options?: JsonOptions): MessageCodec<unknown, E>
  <A, I, E>(
    framing: Codec<Uint8Array, E>,
    schema: Schema.Schema<A, I, never>,
    options?: JsonOptions
  ): MessageCodec<A, E>
} = <A, I, E>(
  framing: Codec<Uint8Array, E>,
  schema?: Schema.Schema<A, I, never>,
  options: JsonOptions = {}
): MessageCodec<A, E> => {
  const maxDepth = maxDepthOption("json", options.maxDepth)
  const format = maxDepth === DEFAULT_MAX_DEPTH ? jsonFormat : makeJsonFormat(maxDepth)
  return make(`json(${framing.name})`, framing, schema === undefined ? format as Format<A> : withSchema(format, schema))
}

/**
 * MessagePack messages, one value per frame, decoded and encoded with `schema`. The output is
 * plain MessagePack any peer can read: objects are maps (no msgpackr records), `undefined`
 * properties are left out (as in JSON) and other `undefined`s are written as nil; byte arrays
 * are `bin` and decode as `Uint8Array`s (Node `Buffer` views of the frame, not copies).
 *
 * @example
 * ```ts
 * import { Either, Schema } from "effect"
 * import { Codec, Framing, Message } from "effect-wire"
 *
 * const Blob = Schema.Struct({ name: Schema.String, data: Schema.Uint8ArrayFromSelf })
 * const codec = Message.msgpack(Framing.lengthPrefixed(), Blob)
 *
 * const bytes = Either.getOrThrow(Codec.encodeAll(codec, [{ name: "a", data: Uint8Array.of(1, 2) }]))
 * console.log(Codec.decodeAll(codec, [bytes]).frames)
 * // Output: [ { name: 'a', data: <Buffer 01 02> } ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const msgpack = <A, I, E>(
  framing: Codec<Uint8Array, E>,
  schema: Schema.Schema<A, I, never>,
  options: MsgpackOptions = {}
): MessageCodec<A, E> => {
  const int64AsType = oneOf("msgpack", "int64AsType", options.int64AsType, "auto", [
    "auto",
    "bigint",
    "number",
    "string"
  ])
  return make(`msgpack(${framing.name})`, framing, withSchema(msgpackFormat(int64AsType), schema))
}

// ---------------------------------------------------------------------------------------------
// Formats: one frame's bytes to a value and back, failing with a `Failure` (allocated only then).

class Failure {
  constructor(
    readonly reason: MessageFailure | "utf8",
    readonly detail: string,
    readonly cause: unknown,
    readonly path: ReadonlyArray<PropertyKey> = []
  ) {}
}

interface Format<A> {
  readonly decode: (frame: Uint8Array) => A | Failure
  readonly encode: (value: A) => Uint8Array | Failure
}

// Parsers' messages may quote the frame (V8 cuts its JSON quotes, msgpackr need not).
const errorMessage = (e: unknown): string => capText(e instanceof Error ? e.message : String(e))

const INVALID_UTF8 = new Failure("utf8", "invalid UTF-8", undefined)

const decodeUtf8 = (frame: Uint8Array): string | Failure =>
  isUtf8(frame) ? asBuffer(frame).toString("utf8") : INVALID_UTF8

const isWellFormed: ((this: string) => boolean) | undefined =
  (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed
const LONE_SURROGATE = /\p{Surrogate}/u

const wellFormed = (s: string): boolean => isWellFormed !== undefined ? isWellFormed.call(s) : !LONE_SURROGATE.test(s)

const textFormat: Format<string> = {
  decode: decodeUtf8,
  encode: (value) => {
    if (typeof value !== "string") return new Failure("text", `expected a string, got ${typeof value}`, value)
    if (!wellFormed(value)) {
      const at = LONE_SURROGATE.exec(value)?.index ?? -1
      return new Failure("text", `lone surrogate at index ${at}`, value)
    }
    return Buffer.from(value, "utf8")
  }
}

const encodeJson = (value: unknown): Uint8Array | Failure => {
  let s: string | undefined
  try {
    s = JSON.stringify(value)
  } catch (e) {
    return new Failure("json", errorMessage(e), e)
  }
  // JSON.stringify escapes lone surrogates, so `s` is always well-formed UTF-16.
  return s === undefined ? new Failure("json", `${typeof value} has no JSON representation`, value) : Buffer.from(s)
}

const makeJsonFormat = (maxDepth: number): Format<unknown> => ({
  decode: (frame) => {
    const s = decodeUtf8(frame)
    if (s instanceof Failure) return s
    const depth = depthBeyond(s, maxDepth)
    if (depth > 0) return new Failure("json", depthMessage(depth, maxDepth), undefined)
    try {
      return JSON.parse(s)
    } catch (e) {
      return new Failure("json", errorMessage(e), e)
    }
  },
  encode: encodeJson
})

const jsonFormat = makeJsonFormat(DEFAULT_MAX_DEPTH)

const msgpackFormat = (int64AsType: "auto" | "bigint" | "number" | "string"): Format<unknown> => {
  // `skipValues` and `int64AsType: "auto"` are msgpackr options missing from its typings.
  const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, skipValues: [undefined] } as {})
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType } as {})
  return {
    decode: (frame) => {
      try {
        return unpackr.unpack(frame)
      } catch (e) {
        return new Failure("msgpack", errorMessage(e), e)
      }
    },
    encode: (value) => {
      try {
        return packr.pack(value)
      } catch (e) {
        return new Failure("msgpack", errorMessage(e), e)
      }
    }
  }
}

const schemaFailure = (error: ParseResult.ParseError): Failure =>
  new Failure(
    "schema",
    // The formatted error quotes the value: a 1 MB frame would make a 1 MB detail.
    capText(ParseResult.TreeFormatter.formatErrorSync(error)),
    error,
    ParseResult.ArrayFormatter.formatErrorSync(error)[0]?.path ?? []
  )

const withSchema = <A, I>(format: Format<unknown>, schema: Schema.Schema<A, I, never>): Format<A> => {
  const decodeSchema = Schema.decodeUnknownEither(schema)
  const encodeSchema = Schema.encodeEither(schema)
  return {
    decode: (frame) => {
      const raw = format.decode(frame)
      if (raw instanceof Failure) return raw
      const result = decodeSchema(raw)
      return result._tag === "Right" ? result.right : schemaFailure(result.left)
    },
    encode: (value) => {
      const result = encodeSchema(value)
      return result._tag === "Right" ? format.encode(result.right) : schemaFailure(result.left)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoder and encoder

const make = <A, E>(name: string, framing: Codec<Uint8Array, E>, format: Format<A>): MessageCodec<A, E> => ({
  name,
  framing,
  decoder: () => new MessageDecoder(name, framing, format),
  encoder: () => new MessageEncoder(name, framing.encoder(), format)
})

type DecodeError<E> = E | InvalidUtf8 | MessageDecodeError

/**
 * Feeds the framing decoder and decodes its frames one by one. The frames of one framing call
 * (a batch) are queued, so that after a message error the rest of the batch is delivered on the
 * next call; a framing error the batch ended with is held until the frames before it are out.
 */
class MessageDecoder<A, E> implements Decoder<A, DecodeError<E>> {
  poisoned: DecodeError<E> | undefined = undefined
  private readonly inner: Decoder<Uint8Array, E>
  /** The current batch; frames before `next` are delivered. */
  private readonly batch: Array<Uint8Array> = []
  private next = 0
  /** The framing error the current batch ended with, not reported yet. */
  private held: E | undefined = undefined
  /** Chunks pushed while a batch was still being delivered (off the usual path). */
  private readonly stash: Array<Uint8Array> = []
  private ended = false
  /** Bytes given to the framing decoder. */
  private fed = 0
  /** Stream index and offset of the batch's first frame. */
  private batchIndex = 0
  private batchOffset = 0
  /** Offset of `batch[sized]`, advanced on demand when an error needs an offset. */
  private sized = 0
  private sizedOffset = 0
  private sizer: Encoder<Uint8Array, E> | undefined = undefined
  private readonly parts: Array<Uint8Array> = []

  constructor(
    private readonly name: string,
    private readonly framing: Codec<Uint8Array, E>,
    private readonly format: Format<A>
  ) {
    this.inner = framing.decoder()
  }

  get buffered(): number {
    let n = this.inner.buffered
    for (let i = this.next; i < this.batch.length; i++) n += this.batch[i]!.length
    for (const chunk of this.stash) n += chunk.length
    return n
  }

  push(chunk: Uint8Array, out: Array<A>): DecodeError<E> | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    if (this.next === this.batch.length && this.held === undefined && this.stash.length === 0) {
      this.call(chunk)
    } else if (chunk.length > 0) {
      this.stash.push(chunk)
    }
    return this.run(out, false)
  }

  end(out: Array<A>): DecodeError<E> | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    return this.run(out, true)
  }

  /** Starts a new batch with one framing call: `push(chunk)`, or `end` when `chunk` is undefined. */
  private call(chunk: Uint8Array | undefined): void {
    this.batchIndex += this.batch.length
    this.batch.length = 0
    this.next = 0
    this.batchOffset = this.fed - this.inner.buffered
    this.sized = 0
    this.sizedOffset = this.batchOffset
    if (chunk === undefined) {
      this.held = this.inner.end(this.batch)
      if (this.held === undefined) this.ended = true
    } else {
      this.fed += chunk.length
      this.held = this.inner.push(chunk, this.batch)
    }
  }

  private run(out: Array<A>, ending: boolean): DecodeError<E> | undefined {
    const batch = this.batch
    const decode = this.format.decode
    for (;;) {
      let i = this.next
      while (i < batch.length) {
        const value = decode(batch[i]!)
        if (value instanceof Failure) {
          this.next = i + 1
          return this.failure(value, i)
        }
        out.push(value)
        i++
      }
      this.next = i
      if (this.held !== undefined) {
        const error = this.held
        this.held = undefined
        if (this.inner.poisoned !== undefined) this.poisoned = error
        return error
      }
      if (this.stash.length > 0) this.call(this.stash.shift()!)
      else if (ending && !this.ended) this.call(undefined)
      else return undefined
    }
  }

  private failure(failure: Failure, at: number): InvalidUtf8 | MessageDecodeError {
    const frame = this.batch[at]!
    const offset = this.offsetOf(at)
    if (failure.reason === "utf8") return new InvalidUtf8({ offset, preview: preview(frame) })
    return new MessageDecodeError({
      codec: this.name,
      reason: failure.reason as MessageDecodeError["reason"],
      frame: this.batchIndex + at,
      offset,
      detail: failure.detail,
      path: failure.path,
      preview: preview(frame),
      cause: failure.cause
    })
  }

  /** Stream offset of `batch[at]` (see the module doc); linear over a batch however many errors it has. */
  private offsetOf(at: number): number {
    const sizer = this.sizer ??= this.framing.encoder()
    const parts = this.parts
    while (this.sized < at) {
      const frame = this.batch[this.sized++]!
      parts.length = 0
      if (sizer.push(frame, parts) !== undefined) {
        this.sizedOffset += frame.length
      } else {
        for (const part of parts) this.sizedOffset += part.length
      }
    }
    parts.length = 0
    return this.sizedOffset
  }
}

class MessageEncoder<A, E> implements Encoder<A, E | MessageEncodeError> {
  private index = 0
  private offset = 0

  constructor(
    private readonly name: string,
    private readonly inner: Encoder<Uint8Array, E>,
    private readonly format: Format<A>
  ) {}

  push(value: A, out: Array<Uint8Array>): E | MessageEncodeError | undefined {
    const bytes = this.format.encode(value)
    if (bytes instanceof Failure) {
      return new MessageEncodeError({
        codec: this.name,
        reason: bytes.reason as MessageFailure,
        frame: this.index,
        offset: this.offset,
        detail: bytes.detail,
        path: bytes.path,
        cause: bytes.cause
      })
    }
    const before = out.length
    const error = this.inner.push(bytes, out)
    if (error !== undefined) return error
    for (let i = before; i < out.length; i++) this.offset += out[i]!.length
    this.index++
    return undefined
  }
}
