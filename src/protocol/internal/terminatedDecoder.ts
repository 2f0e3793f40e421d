/**
 * What decoders of terminated frames (lines, delimited) share: the unfinished frame's bytes,
 * poisoning, end of input, and the recoverable skip of an oversize frame (the input after it is
 * kept as `rest` and scanned on the next call, so the error comes out in order).
 */
import { concat, EMPTY, Pending, preview } from "../../internal/bytes.js"
import type { Decoder } from "../Codec.js"
import { FrameTooLarge, type FramingError, UnexpectedEof } from "../FramingError.js"

/** The settings the shared part needs. */
export interface TerminatedConfig {
  readonly maxFrameBytes: number
  readonly onOversize: "fail" | "skip"
  readonly atEof: "fail" | "emit"
}

export abstract class TerminatedDecoder implements Decoder<Uint8Array, FramingError> {
  poisoned: FramingError | undefined = undefined
  protected readonly pending = new Pending()
  /** Stream offset of the first byte not yet scanned. */
  protected consumed = 0
  /** Stream offset where the current frame starts. */
  protected frameStart = 0
  /** Skipping the rest of an oversize frame, up to its terminator. */
  protected discarding = false
  /** Input left over after a recoverable error, scanned on the next call. */
  protected rest: Uint8Array = EMPTY

  constructor(protected readonly name: string, private readonly limits: TerminatedConfig) {}

  get buffered(): number {
    return this.pending.length + this.rest.length
  }

  /** Decodes every frame of `chunk` (never empty), as `push` does. */
  protected abstract scan(chunk: Uint8Array, out: Array<Uint8Array>): FramingError | undefined

  /** Called before the unterminated frame is emitted at end of input (resets matcher state). */
  protected beforeEmitAtEof(): void {}

  push(chunk: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    let input = chunk
    if (this.rest.length > 0) {
      input = chunk.length === 0 ? this.rest : concat([this.rest, chunk], this.rest.length + chunk.length)
      this.rest = EMPTY
    }
    return input.length === 0 ? undefined : this.scan(input, out)
  }

  end(out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    if (this.rest.length > 0) {
      const error = this.push(EMPTY, out)
      if (error !== undefined) return error
    }
    // An oversize frame being skipped was reported already.
    if (this.discarding || this.pending.length === 0) return undefined
    const size = this.pending.length
    if (this.limits.atEof === "emit" && size <= this.limits.maxFrameBytes) {
      this.beforeEmitAtEof()
      out.push(this.pending.take())
      return undefined
    }
    const error = this.limits.atEof === "emit"
      ? this.tooLarge(size, this.pending.head(16))
      : new UnexpectedEof({
        codec: this.name,
        offset: this.frameStart,
        buffered: size,
        expected: undefined,
        preview: preview(this.pending.head(16))
      })
    this.pending.clear()
    return this.poison(error)
  }

  /**
   * Reports a frame over the limit found while scanning `chunk`: poisons in fail mode; in skip
   * mode keeps `chunk[resumeAt..]` for the next call (or, when `resumeAt` is undefined, skips up
   * to the next terminator) and returns the error once.
   */
  protected oversize(size: number, head: Uint8Array, base: number, chunk: Uint8Array, resumeAt?: number): FramingError {
    const error = this.tooLarge(size, head)
    this.pending.clear()
    if (this.limits.onOversize === "fail") return this.poison(error)
    if (resumeAt === undefined) {
      this.discarding = true
      this.consumed = base + chunk.length
    } else {
      this.frameStart = base + resumeAt
      this.consumed = base + resumeAt
      this.rest = chunk.subarray(resumeAt)
    }
    return error
  }

  protected tooLarge(size: number, head: Uint8Array): FrameTooLarge {
    return new FrameTooLarge({
      codec: this.name,
      direction: "decode",
      limit: this.limits.maxFrameBytes,
      size,
      announced: false,
      offset: this.frameStart,
      preview: preview(head)
    })
  }

  protected poison(error: FramingError): FramingError {
    this.poisoned = error
    return error
  }
}
