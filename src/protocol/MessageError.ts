/**
 * The errors of message codecs (`Message.text`, `Message.json`, `Message.msgpack`), on top of the
 * framing errors of the framing they are built on.
 *
 * Every error names the codec, the frame's index in the stream (counting from 0), the stream
 * offset where the frame starts (see `Message` for how it is found) and why it failed:
 *
 * ```text
 * MessageDecodeError: json(lines) frame #2 at offset 14 (bytes: 6e 6f 74 20 6a 73 6f 6e |not json|) is not valid
 *   JSON: Unexpected token 'o', "not json" is not valid JSON
 * ```
 *
 * A decode error concerns one whole frame, so the framing stays in sync: it is recoverable (the
 * next frame decodes). An encode error writes nothing.
 *
 * @since 0.1.0
 */
import { Data, Predicate } from "effect"

/**
 * The mark of every message error (see `isMessageError`).
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-wire/MessageError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What a message could not be read or written as.
 *
 * @since 0.1.0
 * @category models
 */
export type MessageFailure = "json" | "msgpack" | "schema" | "text"

/**
 * A frame's bytes are not a valid message: not JSON or MessagePack (`reason` names the format,
 * `detail` is the parser's message), or a well-formed value the schema rejects (`reason:
 * "schema"`, `detail` is the schema's formatted error and `path` where the first issue is).
 *
 * @since 0.1.0
 * @category errors
 */
export class MessageDecodeError extends Data.TaggedError("MessageDecodeError")<{
  readonly codec: string
  readonly reason: "json" | "msgpack" | "schema"
  /** Index of the frame in the stream, counting from 0. */
  readonly frame: number
  /** Stream offset where the frame starts. */
  readonly offset: number
  readonly detail: string
  /** Where in the value the (first) schema issue is; empty for a parse error. */
  readonly path: ReadonlyArray<PropertyKey>
  readonly preview: string
  readonly cause: unknown
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    const what = this.reason === "schema"
      ? `does not match the schema${pathSuffix(this.path)}`
      : `is not valid ${this.reason === "json" ? "JSON" : "MessagePack"}`
    const bytes = this.preview.length === 0 ? "" : ` (bytes: ${this.preview})`
    return `${this.codec} frame #${this.frame} at offset ${this.offset}${bytes} ${what}: ${this.detail}`
  }
}

/**
 * A value could not be written: the schema's encoding failed (`reason: "schema"`), or the
 * encoded value cannot be serialized (`"json"`: BigInt, cycles, `undefined`…; `"msgpack"`;
 * `"text"`: a string with a lone surrogate, which UTF-8 cannot carry). Nothing was written.
 * `offset` is where the frame would have started in the output stream.
 *
 * @since 0.1.0
 * @category errors
 */
export class MessageEncodeError extends Data.TaggedError("MessageEncodeError")<{
  readonly codec: string
  readonly reason: MessageFailure
  /** Index the frame would have had in the output stream (frames written before it), from 0. */
  readonly frame: number
  readonly offset: number
  readonly detail: string
  readonly path: ReadonlyArray<PropertyKey>
  readonly cause: unknown
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    const what = this.reason === "schema"
      ? `does not match the schema${pathSuffix(this.path)}`
      : `cannot be written as ${this.reason === "json" ? "JSON" : this.reason === "msgpack" ? "MessagePack" : "UTF-8"}`
    return `${this.codec} frame #${this.frame} (output offset ${this.offset}) ${what}: ${this.detail}`
  }
}

/**
 * Every error a message codec adds to its framing's errors.
 *
 * @since 0.1.0
 * @category errors
 */
export type MessageError = MessageDecodeError | MessageEncodeError

/**
 * Whether `u` is a message error (`MessageDecodeError` or `MessageEncodeError`), by its `TypeId`.
 * A message codec also fails with its framing's errors: see `FramingError.isFramingError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isMessageError = (u: unknown): u is MessageError => Predicate.hasProperty(u, TypeId)

const pathSuffix = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0 ?
    "" :
    ` at ${path.map((k) => `[${typeof k === "string" ? JSON.stringify(k) : String(k)}]`).join("")}`
