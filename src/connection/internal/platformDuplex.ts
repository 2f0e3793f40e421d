/**
 * The `node:net`-like stream `PlatformSocket.fromSocket` hands to the connection driver: a
 * `Duplex` fed with the chunks of an `@effect/platform` `Socket` and writing through a `Sink`,
 * plus the few `net.Socket` members the driver uses (addresses, `setNoDelay`, `destroySoon`,
 * `resetAndDestroy`). Everything else (flow control with `pause` / `resume`, `writableLength`,
 * `cork`, the `data` / `end` / `error` / `close` / `drain` events) is the `Duplex`'s own, so the
 * driver runs over it exactly as over a TCP socket.
 */
import { Buffer } from "node:buffer"
import { Duplex } from "node:stream"
import type { Address } from "../Connection.js"

/** Where a `PlatformDuplex` sends what the connection writes, and how it reaches its source. */
export interface Sink {
  /** Sends bytes the connection wrote; `done` once the socket took them (or with why not). */
  readonly write: (bytes: Uint8Array, done: (error?: Error | null) => void) => void
  /** Our side is done writing (the connection's half-close). */
  readonly final: (done: (error?: Error | null) => void) => void
  /** The stream is gone: stop the socket. */
  readonly destroy: () => void
  /** Input flow control of the source, when it has one (a `ws` WebSocket's `pause` / `resume`). */
  readonly pause: (() => void) | undefined
  readonly resume: (() => void) | undefined
}

/** An `Error` with a Node-style `code`, as the driver reports socket errors. */
export const codedError = (code: string, message: string): NodeJS.ErrnoException =>
  Object.assign(new Error(message), { code })

export class PlatformDuplex extends Duplex {
  private sourcePaused = false

  constructor(
    private readonly sink: Sink,
    private readonly remote: Address,
    private readonly local: Address,
    readHighWaterMark: number,
    writeHighWaterMark: number,
    /** Bytes this stream may hold while the connection does not read and the source cannot pause. */
    private readonly maxInbound: number
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: readHighWaterMark, writableHighWaterMark: writeHighWaterMark })
  }

  // ---- the members of net.Socket the driver uses ---------------------------------------------

  setNoDelay(): this {
    return this
  }
  address(): { address: string; port: number; family: string } {
    return { address: this.local.host, port: this.local.port, family: this.local.family }
  }
  get remoteAddress(): string {
    return this.remote.host
  }
  get remotePort(): number {
    return this.remote.port
  }
  get remoteFamily(): string {
    return this.remote.family
  }
  /** Ends our side, then destroys once everything written was taken (as `net.Socket` does). */
  destroySoon(): void {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once("finish", () => this.destroy())
  }
  /** A platform socket has no TCP reset: it is stopped at once. */
  resetAndDestroy(): this {
    return this.destroy()
  }

  // ---- input from the platform socket ----------------------------------------------------------

  /** One chunk the platform socket received. */
  feed(chunk: Uint8Array): void {
    if (this.destroyed || this.readableEnded) return
    if (this.push(chunk)) return
    // The connection is not reading (its driver paused this stream): hold the source, or bound
    // what waits when it cannot be held.
    if (this.sink.pause !== undefined) {
      if (!this.sourcePaused) {
        this.sourcePaused = true
        this.sink.pause()
      }
    } else if (this.readableLength > this.maxInbound) {
      this.destroy(codedError("ERR_INBOUND_LIMIT", `more than ${this.maxInbound} bytes received and not read`))
    }
  }

  /** The platform socket's input ended. */
  inputEnded(): void {
    if (!this.destroyed && !this.readableEnded) this.push(null)
  }

  override _read(): void {
    if (!this.sourcePaused) return
    this.sourcePaused = false
    this.sink.resume?.()
  }

  // ---- output to the platform socket -----------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.sink.write(chunk, done)
  }

  /** A corked turn's writes go out as one platform write. */
  override _writev(chunks: Array<{ chunk: Buffer }>, done: (error?: Error | null) => void): void {
    this.sink.write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), done)
  }

  override _final(done: (error?: Error | null) => void): void {
    this.sink.final(done)
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.sink.destroy()
    done(error)
  }
}
