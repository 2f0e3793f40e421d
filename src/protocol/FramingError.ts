/**
 * The errors a framing codec can report, one tagged union for every codec.
 *
 * Every error names the codec, the stream offset it concerns (bytes since the start of the
 * stream, counting from 0) and a short hex + ASCII preview of the bytes involved, so that a
 * peer speaking the wrong protocol is obvious from the message alone:
 *
 * ```text
 * FrameTooLarge: lengthPrefixed frame at offset 0 announces 1195725856 bytes, limit 1048576
 *   (bytes: 47 45 54 20 |GET |)
 * ```
 *
 * @since 0.1.0
 */
import { Data, Predicate } from "effect"
import { preview } from "../internal/bytes.js"

/**
 * The mark of every framing error (see `isFramingError`).
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-wire/FramingError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Whether the error was found while decoding bytes from a peer or while encoding a frame
 * to send.
 *
 * @since 0.1.0
 * @category models
 */
export type Direction = "decode" | "encode"

/**
 * A frame is larger than the codec's limit. When decoding, raised as soon as the size is known
 * (from a length header, before any allocation) or as soon as the buffered content passes the
 * limit (delimiter-based codecs). `size` is the announced length when a header gave it, or the
 * number of bytes seen so far otherwise.
 *
 * @since 0.1.0
 * @category errors
 */
export class FrameTooLarge extends Data.TaggedError("FrameTooLarge")<{
  readonly codec: string
  readonly direction: Direction
  readonly limit: number
  readonly size: number
  readonly announced: boolean
  readonly offset: number
  readonly preview: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A frame the encoder refuses because it is over `limit` (nothing is written).
   *
   * @since 0.1.0
   */
  static toEncode(codec: string, limit: number, size: number, offset: number, frame: Uint8Array): FrameTooLarge {
    return new FrameTooLarge({
      codec,
      direction: "encode",
      limit,
      size,
      announced: false,
      offset,
      preview: preview(frame)
    })
  }

  override get message(): string {
    const what = this.announced ? `announces ${this.size} bytes` : `exceeds the limit after ${this.size} bytes`
    return `${this.codec} frame at offset ${this.offset} ${what}, limit ${this.limit}${bytesSuffix(this.preview)}`
  }
}

/**
 * The bytes do not follow the codec's format (bad header, negative length, stray delimiter…).
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedFrame extends Data.TaggedError("MalformedFrame")<{
  readonly codec: string
  readonly direction: Direction
  readonly reason: string
  readonly offset: number
  readonly preview: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    return `${this.codec} frame at offset ${this.offset} is malformed: ${this.reason}${bytesSuffix(this.preview)}`
  }
}

/**
 * An unsigned LEB128 length prefix is over-long (non-canonical), longer than 10 bytes or above
 * 2^53 - 1.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidVarint extends Data.TaggedError("InvalidVarint")<{
  readonly reason: "non-canonical" | "too-long" | "unsafe-integer"
  readonly offset: number
  readonly preview: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    return `varint at offset ${this.offset} is invalid (${this.reason})${bytesSuffix(this.preview)}`
  }
}

/**
 * The input ended inside a frame. `offset` is where the unfinished frame starts, `buffered`
 * how many of its bytes arrived and `expected` how many the frame needs in all, when known.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnexpectedEof extends Data.TaggedError("UnexpectedEof")<{
  readonly codec: string
  readonly offset: number
  readonly buffered: number
  readonly expected: number | undefined
  readonly preview: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    const need = this.expected === undefined ? "" : ` of ${this.expected}`
    return `${this.codec} input ended inside the frame at offset ${this.offset} (${this.buffered}${need} bytes received)${
      bytesSuffix(this.preview)
    }`
  }
}

/**
 * A frame that must be UTF-8 text is not valid UTF-8. `offset` is where the frame starts.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidUtf8 extends Data.TaggedError("InvalidUtf8")<{
  readonly offset: number
  readonly preview: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    return `frame at offset ${this.offset} is not valid UTF-8${bytesSuffix(this.preview)}`
  }
}

/**
 * Every error a framing codec reports.
 *
 * @since 0.1.0
 * @category errors
 */
export type FramingError = FrameTooLarge | MalformedFrame | InvalidVarint | UnexpectedEof | InvalidUtf8

/**
 * Whether `u` is a framing error (any member of `FramingError`), by its `TypeId`: a plain object
 * with a framing error's `_tag` is not one.
 *
 * @since 0.1.0
 * @category guards
 */
export const isFramingError = (u: unknown): u is FramingError => Predicate.hasProperty(u, TypeId)

const bytesSuffix = (p: string): string => (p.length === 0 ? "" : ` (bytes: ${p})`)
