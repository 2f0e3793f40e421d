/**
 * The errors of a connection's reads and writes, one tagged union.
 *
 * @since 0.1.0
 */
import { Data } from "effect"
import { preview } from "../protocol/internal/bytes.js"

/** The connection is closed (by us, by the peer, or by a server shutting down) for this operation. */
export class ConnectionClosed extends Data.TaggedError("ConnectionClosed")<{
  readonly reason: "closed" | "reset" | "shutdown" | "write-ended"
  readonly detail: string
}> {
  override get message(): string {
    return `connection closed (${this.reason}): ${this.detail}`
  }
}

/** The socket reported an error (`ECONNRESET`, `EPIPE`, …). */
export class SocketError extends Data.TaggedError("SocketError")<{
  readonly code: string | undefined
  readonly detail: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `socket error${this.code === undefined ? "" : ` ${this.code}`}: ${this.detail}`
  }
}

/** `readExactly(n)` or `readUntil` met end of input first; `partial` holds what did arrive. */
export class IncompleteRead extends Data.TaggedError("IncompleteRead")<{
  readonly partial: Uint8Array
  readonly expected: number | undefined
}> {
  override get message(): string {
    const need = this.expected === undefined ? "the separator" : `${this.expected} bytes`
    return `input ended after ${this.partial.length} bytes while waiting for ${need}`
  }
}

/** `readUntil` / `readLine` buffered `limit` bytes without finding the separator. */
export class LimitExceeded extends Data.TaggedError("LimitExceeded")<{
  readonly limit: number
  readonly buffered: number
  readonly preview: string
}> {
  override get message(): string {
    return `separator not found within ${this.limit} bytes (${this.buffered} buffered, bytes: ${this.preview})`
  }
  static of(limit: number, bytes: Uint8Array): LimitExceeded {
    return new LimitExceeded({ limit, buffered: bytes.length, preview: preview(bytes) })
  }
}

/** A time limit of the connection ran out: which one, and after how many milliseconds. */
export class ConnectionTimeout extends Data.TaggedError("ConnectionTimeout")<{
  readonly timeout: "idle" | "frame-read" | "write-stall" | "connect"
  readonly millis: number
}> {
  override get message(): string {
    return `${this.timeout} timeout after ${this.millis} ms`
  }
}

/** Bytes queued for the peer passed the connection's outbound limit (a peer that does not read). */
export class OutboundLimitExceeded extends Data.TaggedError("OutboundLimitExceeded")<{
  readonly limit: number
  readonly queued: number
}> {
  override get message(): string {
    return `${this.queued} bytes queued for a peer that is not reading, limit ${this.limit}`
  }
}

/** Every error a connection operation can fail with. */
export type ConnectionError =
  | ConnectionClosed
  | SocketError
  | IncompleteRead
  | LimitExceeded
  | ConnectionTimeout
  | OutboundLimitExceeded

const TAGS: ReadonlySet<string> = new Set([
  "ConnectionClosed",
  "SocketError",
  "IncompleteRead",
  "LimitExceeded",
  "ConnectionTimeout",
  "OutboundLimitExceeded"
])

/** Whether `u` is one of the connection errors (by its tag). */
export const isConnectionError = (u: unknown): u is ConnectionError =>
  typeof u === "object" && u !== null && TAGS.has(String((u as { readonly _tag?: unknown })._tag))
