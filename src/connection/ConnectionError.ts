/**
 * The errors of a connection's reads and writes, one tagged union.
 *
 * @since 0.1.0
 */
import { Data, Predicate } from "effect"
import { preview } from "../internal/bytes.js"

/**
 * The mark of every connection error (see `isConnectionError`).
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-wire/ConnectionError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The connection is closed (by us, by the peer, or by a server shutting down) for this operation.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionClosed extends Data.TaggedError("ConnectionClosed")<{
  readonly reason: "closed" | "reset" | "shutdown" | "write-ended"
  readonly detail: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    return `connection closed (${this.reason}): ${this.detail}`
  }
}

/**
 * The operating system reported an error on an established connection (`ECONNRESET`, `EPIPE`,
 * `ETIMEDOUT`…): `code` is its code, `cause` the Node.js error. (Named apart from
 * `@effect/platform`'s `Socket.SocketError`.)
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionFailed extends Data.TaggedError("ConnectionFailed")<{
  readonly code: string | undefined
  readonly detail: string
  readonly cause: unknown
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    return `connection failed${this.code === undefined ? "" : ` ${this.code}`}: ${this.detail}`
  }
}

/**
 * `readExactly(n)` or `readUntil` met end of input first; `partial` holds what did arrive.
 *
 * @since 0.1.0
 * @category errors
 */
export class IncompleteRead extends Data.TaggedError("IncompleteRead")<{
  readonly partial: Uint8Array
  readonly expected: number | undefined
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    const need = this.expected === undefined ? "the separator" : `${this.expected} bytes`
    return `input ended after ${this.partial.length} bytes while waiting for ${need}`
  }
}

/**
 * `readUntil` / `readLine` buffered `limit` bytes without finding the separator.
 *
 * @since 0.1.0
 * @category errors
 */
export class LimitExceeded extends Data.TaggedError("LimitExceeded")<{
  readonly limit: number
  readonly buffered: number
  readonly preview: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    return `separator not found within ${this.limit} bytes (${this.buffered} buffered, bytes: ${this.preview})`
  }
  /**
   * The error for `bytes` buffered without finding the separator within `limit`.
   *
   * @since 0.1.0
   */
  static of(limit: number, bytes: Uint8Array): LimitExceeded {
    return new LimitExceeded({ limit, buffered: bytes.length, preview: preview(bytes) })
  }
}

/**
 * A time limit of the connection ran out: which one, and after how many milliseconds.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionTimeout extends Data.TaggedError("ConnectionTimeout")<{
  readonly timeout: "idle" | "frame-read" | "write-stall" | "connect"
  readonly millis: number
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    return `${this.timeout} timeout after ${this.millis} ms`
  }
}

/**
 * Bytes queued for the peer passed the connection's outbound limit (a peer that does not read).
 *
 * @since 0.1.0
 * @category errors
 */
export class OutboundLimitExceeded extends Data.TaggedError("OutboundLimitExceeded")<{
  readonly limit: number
  readonly queued: number
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    return `${this.queued} bytes queued for a peer that is not reading, limit ${this.limit}`
  }
}

/**
 * Every error a connection operation can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type ConnectionError =
  | ConnectionClosed
  | ConnectionFailed
  | IncompleteRead
  | LimitExceeded
  | ConnectionTimeout
  | OutboundLimitExceeded

/**
 * Whether `u` is one of the connection errors, by its `TypeId`: a plain object with a connection
 * error's `_tag` is not one.
 *
 * @since 0.1.0
 * @category guards
 */
export const isConnectionError = (u: unknown): u is ConnectionError => Predicate.hasProperty(u, TypeId)
