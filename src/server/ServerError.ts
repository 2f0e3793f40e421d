/**
 * Errors of starting a server.
 *
 * @since 0.1.0
 */
import { Data, Predicate } from "effect"

/**
 * The mark of every server error (see `isServerError`).
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-wire/ServerError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The server could not listen (address in use, permission denied, bad host…).
 *
 * @since 0.1.0
 * @category errors
 */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly host: string
  readonly port: number
  readonly code: string | undefined
  readonly detail: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  override get message(): string {
    // A Unix socket's path is its whole address (port 0).
    const where = this.port === 0 && this.host.includes("/") ? this.host : `${this.host}:${this.port}`
    return `cannot listen on ${where}${this.code === undefined ? "" : ` (${this.code})`}: ${this.detail}`
  }
}

/**
 * Every error of starting a server.
 *
 * @since 0.1.0
 * @category errors
 */
export type ServerError = ListenError

/**
 * Whether `u` is a server error (`ListenError`), by its `TypeId`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isServerError = (u: unknown): u is ServerError => Predicate.hasProperty(u, TypeId)
