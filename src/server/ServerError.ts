/**
 * Errors of starting a server.
 *
 * @since 0.1.0
 */
import { Data } from "effect"

/** The server could not listen (address in use, permission denied, bad host…). */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly host: string
  readonly port: number
  readonly code: string | undefined
  readonly detail: string
}> {
  override get message(): string {
    // A Unix socket's path is its whole address (port 0).
    const where = this.port === 0 && this.host.includes("/") ? this.host : `${this.host}:${this.port}`
    return `cannot listen on ${where}${this.code === undefined ? "" : ` (${this.code})`}: ${this.detail}`
  }
}

/** Every error of starting a server. */
export type ServerError = ListenError
