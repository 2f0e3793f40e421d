/**
 * Fixed-size frames: every frame is exactly `n` bytes, with no header and no delimiter (records
 * of a fixed layout, sensor samples, cells of a fixed-size protocol).
 *
 * ```text
 *   ┌─────────────┐┌─────────────┐┌─────────────┐
 *   │ n bytes     ││ n bytes     ││ n bytes     │ ...
 *   └─────────────┘└─────────────┘└─────────────┘
 *    frame 1        frame 2        frame 3
 * ```
 *
 * - `n` (from 1 to 2^31 - 1) is both the frame size and the limit: at most `n - 1` bytes of an
 *   unfinished frame are buffered. A frame lying inside one chunk is a view of it; a frame spread
 *   over chunks is copied once.
 * - End of input at a frame boundary ends cleanly; inside a frame it is `UnexpectedEof` (offset
 *   of the frame, bytes received, `n` expected), which poisons the decoder. No other input is
 *   malformed, so nothing else can fail.
 * - The encoder writes a frame as is and rejects one of any other size with `MalformedFrame`,
 *   naming both sizes, writing nothing.
 *
 * @since 0.1.0
 */
import { Buffer } from "node:buffer"
import { Pending, preview } from "../internal/bytes.js"
import { intOption } from "../internal/options.js"
import type { Codec, Decoder, Encoder } from "./Codec.js"
import { type FramingError, MalformedFrame, UnexpectedEof } from "./FramingError.js"

/**
 * The resolved settings of a fixed-size codec.
 *
 * @since 0.1.0
 * @category models
 */
export interface FixedConfig {
  /** The size of every frame in bytes. */
  readonly frameBytes: number
}

/**
 * A codec of fixed-size frames.
 *
 * @since 0.1.0
 * @category models
 */
export interface FixedCodec extends Codec<Uint8Array, FramingError> {
  readonly config: FixedConfig
}

/**
 * Builds a codec whose frames are all exactly `n` bytes.
 *
 * @example
 * ```ts
 * import { Codec, Framing } from "effect-wire"
 *
 * const codec = Framing.fixed(4)
 * const { frames } = Codec.decodeAll(codec, [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6, 7, 8)])
 * console.log(frames.map((frame) => Buffer.from(frame).toString("hex")))
 * // Output: [ '01020304', '05060708' ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fixed = (n: number): FixedCodec => {
  const config: FixedConfig = { frameBytes: intOption("fixed", "n", n, n, 1) }
  const name = `fixed(${config.frameBytes})`
  return { name, config, decoder: () => new FixedDecoder(name, config), encoder: () => new FixedEncoder(name, config) }
}

class FixedDecoder implements Decoder<Uint8Array, FramingError> {
  poisoned: FramingError | undefined = undefined
  private readonly pending = new Pending()
  /** Stream offset of the first byte of the next chunk. */
  private consumed = 0

  constructor(private readonly name: string, private readonly config: FixedConfig) {}

  get buffered(): number {
    return this.pending.length
  }

  push(chunk: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    const size = this.config.frameBytes
    const pending = this.pending
    const n = chunk.length
    this.consumed += n
    let pos = 0
    if (pending.length > 0) {
      const missing = size - pending.length
      if (n < missing) {
        pending.push(chunk)
        return undefined
      }
      out.push(pending.take(chunk.subarray(0, missing)))
      pos = missing
    }
    while (n - pos >= size) {
      out.push(chunk.subarray(pos, pos + size))
      pos += size
    }
    if (pos < n) pending.pushFrom(chunk, pos)
    return undefined
  }

  end(_out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    const received = this.pending.length
    if (received === 0) return undefined
    const error = new UnexpectedEof({
      codec: this.name,
      offset: this.consumed - received,
      buffered: received,
      expected: this.config.frameBytes,
      preview: preview(this.pending.head(16), 0, received)
    })
    this.pending.clear()
    this.poisoned = error
    return error
  }
}

class FixedEncoder implements Encoder<Uint8Array, FramingError> {
  private offset = 0

  constructor(private readonly name: string, private readonly config: FixedConfig) {}

  push(frame: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    const error = this.check(frame, this.offset)
    if (error !== undefined) return error
    out.push(frame)
    this.offset += frame.length
    return undefined
  }

  pushAll(frames: ReadonlyArray<Uint8Array>, out: Array<Uint8Array>): FramingError | undefined {
    if (frames.length === 1) return this.push(frames[0]!, out)
    const size = this.config.frameBytes
    // Every frame is checked before anything is written; a refused one ends the batch there,
    // after the frames before it, as one `push` per frame would.
    let count = 0
    let error: FramingError | undefined = undefined
    for (; count < frames.length; count++) {
      if (frames[count]!.length !== size) {
        error = this.check(frames[count]!, this.offset + count * size)
        break
      }
    }
    const total = count * size
    if (total > 0) {
      // Node's own loop, whose native copy costs less than `set` on small frames.
      out.push(Buffer.concat(count === frames.length ? frames : frames.slice(0, count), total))
      this.offset += total
    }
    return error
  }

  /** Why `frame` cannot be encoded at stream offset `offset`, or `undefined`. */
  private check(frame: Uint8Array, offset: number): FramingError | undefined {
    const size = this.config.frameBytes
    if (frame.length === size) return undefined
    return new MalformedFrame({
      codec: this.name,
      direction: "encode",
      reason: `frame is ${frame.length} bytes, but every frame must be exactly ${size} bytes`,
      offset,
      preview: preview(frame)
    })
  }
}
