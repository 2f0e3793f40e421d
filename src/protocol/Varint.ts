/**
 * Varint length-prefixed frames: an unsigned LEB128 length, then that many payload bytes, as in
 * protobuf's length-delimited streams and libp2p's length-prefixed messages.
 *
 * ```text
 *   ┌───────┬───────────────────┐┌────┐┌────┬───────────────┐
 *   │ ac 02 │ 300 payload bytes ││ 00 ││ 05 │ 68 65 6c 6c 6f │ ...
 *   └───────┴───────────────────┘└────┘└────┴───────────────┘
 *    varint   frame (300 bytes)   empty  varint frame "hello"
 *    300                          frame  5
 * ```
 *
 * - The length is unsigned LEB128: seven bits per byte, lowest group first, the high bit set on
 *   every byte but the last. Only the shortest (canonical) encoding is accepted, and only values
 *   up to `Number.MAX_SAFE_INTEGER`, so a length is never rounded and every length has one
 *   encoding (a peer cannot smuggle bytes such as `81 00` past a check on the canonical form).
 * - The limit (`maxFrameBytes`, default 1 MiB) counts the payload, not the varint. It is checked as
 *   soon as the varint is complete, before any payload is buffered; nothing of the announced size
 *   is ever allocated up front. A zero-length frame is a frame.
 * - Order of checks: every varint byte is checked as it arrives, in this order: `unsafe-integer`
 *   (its bits put the value at 2^53 or above), `too-long` (it is the 10th byte and still has its
 *   continuation bit: raised at once, without waiting for an 11th byte), `non-canonical` (a last
 *   byte of `00` after the first byte). Only a complete, valid varint is compared with the limit
 *   (`FrameTooLarge`). Each check depends only on the bytes before it, so the error, its tag and
 *   its offset do not depend on chunking.
 * - Every error carries the stream offset where the frame's varint starts.
 * - End of input between frames is a clean end. Inside a varint or a payload it is
 *   `UnexpectedEof`: `buffered` counts the frame's bytes received (varint included) and `expected`
 *   the varint plus the payload, once the varint is complete.
 * - Every error poisons the decoder.
 * - The encoder writes the canonical varint and the frame, and rejects a frame over the limit.
 *
 * @since 0.1.0
 */
import { Cause } from "effect"
import { Buffer } from "node:buffer"
import { concat, EMPTY, Pending, preview } from "../internal/bytes.js"
import { intOption } from "../internal/options.js"
import type { Codec, Decoder, Encoder } from "./Codec.js"
import { FrameTooLarge, type FramingError, InvalidVarint, UnexpectedEof } from "./FramingError.js"

/**
 * Options of `varint`.
 *
 * @since 0.1.0
 * @category models
 */
export interface VarintOptions {
  /** Largest payload in bytes, the varint excluded. Default 1,048,576. */
  readonly maxFrameBytes?: number
}

/**
 * The resolved settings of a varint codec.
 *
 * @since 0.1.0
 * @category models
 */
export interface VarintConfig {
  readonly maxFrameBytes: number
}

/**
 * A codec of unsigned-LEB128 length-prefixed frames.
 *
 * @since 0.1.0
 * @category models
 */
export interface VarintCodec extends Codec<Uint8Array, FramingError> {
  readonly config: VarintConfig
}

const NAME = "varint"

/** The most bytes a varint may take before it is `too-long`. */
const MAX_VARINT_BYTES = 10

/** 2^(7i): the weight of the i-th seven-bit group. */
const WEIGHT = Array.from({ length: MAX_VARINT_BYTES }, (_, i) => 2 ** (7 * i))

/**
 * Checks the `index`-th byte (from 0) of a varint, given that the bytes before it passed. Returns
 * why the varint is invalid, or `undefined`.
 */
const check = (index: number, byte: number): InvalidVarint["reason"] | undefined => {
  const group = byte & 0x7f
  // Groups 0..6 carry bits 0..48; group 7 may carry bits 49..52 only (2^53 - 1 has 53 bits).
  if (index >= 7 && group > (index === 7 ? 0x0f : 0)) return "unsafe-integer"
  if ((byte & 0x80) !== 0) return index === MAX_VARINT_BYTES - 1 ? "too-long" : undefined
  return group === 0 && index > 0 ? "non-canonical" : undefined
}

/**
 * The canonical unsigned LEB128 encoding of `n`, an integer from 0 to `Number.MAX_SAFE_INTEGER`
 * (anything else throws `IllegalArgumentException`).
 *
 * @example
 * ```ts
 * import { Framing } from "effect-wire"
 *
 * console.log(Framing.encodeVarint(300))
 * // Output: Uint8Array(2) [ 172, 2 ]
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const encodeVarint = (n: number): Uint8Array => {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Cause.IllegalArgumentException(`${NAME}: cannot encode ${String(n)}, not an integer from 0 to 2^53 - 1`)
  }
  const out = new Uint8Array(varintLength(n))
  writeVarint(out, 0, n)
  return out
}

/** The number of bytes of `n`'s canonical encoding (`n` a safe integer ≥ 0). */
const varintLength = (n: number): number => {
  let length = 1
  while (length < 8 && n >= WEIGHT[length]!) length++
  return length
}

/** Writes `n`'s canonical encoding at `out[at]`, which must have room; returns the index after it. */
const writeVarint = (out: Uint8Array, at: number, n: number): number => {
  let pos = at
  let rest = n
  while (rest >= 128) {
    out[pos++] = (rest % 128) | 0x80
    rest = Math.floor(rest / 128)
  }
  out[pos++] = rest
  return pos
}

/** Payloads up to this size are copied next to their varint; larger ones are written as they are. */
const SMALL_FRAME = 256

/**
 * A varint read by `decodeVarint`: its value and how many bytes it took.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodedVarint {
  readonly value: number
  readonly length: number
}

/**
 * Reads one varint from `bytes` at `offset`, with the checks of the decoder. Returns the value and
 * its length, `InvalidVarint` (its `offset` is the one given), or `undefined` when the bytes end
 * before the varint does.
 *
 * @example
 * ```ts
 * import { Framing } from "effect-wire"
 *
 * console.log(Framing.decodeVarint(Uint8Array.of(0xac, 0x02)))
 * // Output: { value: 300, length: 2 }
 *
 * const invalid = Framing.decodeVarint(Uint8Array.of(0x81, 0x00))
 * console.log(invalid !== undefined && "reason" in invalid ? invalid.reason : invalid)
 * // Output: non-canonical
 *
 * console.log(Framing.decodeVarint(Uint8Array.of(0x80)))
 * // Output: undefined
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeVarint = (bytes: Uint8Array, offset = 0): DecodedVarint | InvalidVarint | undefined => {
  let value = 0
  for (let i = 0; offset + i < bytes.length; i++) {
    const byte = bytes[offset + i]!
    const reason = check(i, byte)
    if (reason !== undefined) {
      return new InvalidVarint({ reason, offset, preview: preview(bytes, offset, offset + i + 1) })
    }
    value += (byte & 0x7f) * WEIGHT[i]!
    if ((byte & 0x80) === 0) return { value, length: i + 1 }
  }
  return undefined
}

/**
 * Builds a codec of frames prefixed by their length as an unsigned LEB128 varint.
 *
 * @example
 * ```ts
 * import { Codec, Framing } from "effect-wire"
 *
 * const codec = Framing.varint({ maxFrameBytes: 4096 })
 * const { frames } = Codec.decodeAll(codec, [Buffer.from("056865", "hex"), Buffer.from("6c6c6f00", "hex")])
 * console.log(frames.map((frame) => Buffer.from(frame).toString()))
 * // Output: [ 'hello', '' ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const varint = (options: VarintOptions = {}): VarintCodec => {
  const config: VarintConfig = {
    maxFrameBytes: intOption(NAME, "maxFrameBytes", options.maxFrameBytes, 1_048_576, 0)
  }
  return { name: NAME, config, decoder: () => new VarintDecoder(config), encoder: () => new VarintEncoder(config) }
}

class VarintDecoder implements Decoder<Uint8Array, FramingError> {
  poisoned: FramingError | undefined = undefined
  /** Payload bytes of the current frame received in earlier chunks. */
  private readonly pending = new Pending()
  /** The current frame's varint bytes, for previews and `UnexpectedEof`. */
  private readonly header = new Uint8Array(MAX_VARINT_BYTES)
  private headerLength = 0
  private value = 0
  /** Payload length of the current frame, or -1 while its varint is being read. */
  private need = -1
  /** Stream offset of the first byte of the next chunk. */
  private consumed = 0
  private frameStart = 0

  constructor(private readonly config: VarintConfig) {}

  get buffered(): number {
    return this.headerLength + this.pending.length
  }

  push(chunk: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    const n = chunk.length
    const base = this.consumed
    const pending = this.pending
    let pos = 0
    while (pos < n) {
      if (this.need < 0) {
        const index = this.headerLength
        const byte = chunk[pos]!
        if (index === 0) this.frameStart = base + pos
        this.header[index] = byte
        this.headerLength = index + 1
        pos++
        const reason = check(index, byte)
        if (reason !== undefined) {
          return this.poison(
            new InvalidVarint({ reason, offset: this.frameStart, preview: preview(this.header, 0, index + 1) })
          )
        }
        this.value += (byte & 0x7f) * WEIGHT[index]!
        if ((byte & 0x80) !== 0) continue
        const length = this.value
        this.value = 0
        if (length > this.config.maxFrameBytes) {
          return this.poison(
            new FrameTooLarge({
              codec: NAME,
              direction: "decode",
              limit: this.config.maxFrameBytes,
              size: length,
              announced: true,
              offset: this.frameStart,
              preview: preview(this.header, 0, index + 1)
            })
          )
        }
        if (length === 0) {
          out.push(EMPTY)
          this.headerLength = 0
        } else {
          this.need = length
        }
        continue
      }
      const want = this.need - pending.length
      if (n - pos < want) {
        pending.pushFrom(chunk, pos)
        break
      }
      const end = pos + want
      out.push(pending.length === 0 ? chunk.subarray(pos, end) : pending.take(chunk.subarray(pos, end)))
      pos = end
      this.need = -1
      this.headerLength = 0
    }
    this.consumed = base + n
    return undefined
  }

  end(_out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    if (this.need < 0 && this.headerLength === 0) return undefined
    const head = this.header.subarray(0, this.headerLength)
    const error = new UnexpectedEof({
      codec: NAME,
      offset: this.frameStart,
      buffered: this.headerLength + this.pending.length,
      expected: this.need < 0 ? undefined : this.headerLength + this.need,
      preview: preview(concat([head, this.pending.head(16)], head.length + Math.min(16, this.pending.length)))
    })
    return this.poison(error)
  }

  private poison(error: FramingError): FramingError {
    this.pending.clear()
    this.headerLength = 0
    this.poisoned = error
    return error
  }
}

/** For `typedSet.call(target, source, at)`: see `typedSet` in internal/bytes.ts for why. */
const typedSet = Uint8Array.prototype.set

class VarintEncoder implements Encoder<Uint8Array, FramingError> {
  private offset = 0

  constructor(private readonly config: VarintConfig) {}

  push(frame: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    if (frame.length > this.config.maxFrameBytes) {
      return FrameTooLarge.toEncode(NAME, this.config.maxFrameBytes, frame.length, this.offset, frame)
    }
    const headerLength = varintLength(frame.length)
    if (frame.length <= SMALL_FRAME) {
      // One part for varint and payload: cheaper than two parts joined later. `allocUnsafe`
      // carves small buffers out of a shared pool, where a `Uint8Array` is a fresh allocation.
      const whole = Buffer.allocUnsafe(headerLength + frame.length)
      whole.set(frame, writeVarint(whole, 0, frame.length))
      out.push(whole)
    } else {
      out.push(encodeVarint(frame.length), frame)
    }
    this.offset += headerLength + frame.length
    return undefined
  }

  pushAll(frames: ReadonlyArray<Uint8Array>, out: Array<Uint8Array>): FramingError | undefined {
    if (frames.length === 1) return this.push(frames[0]!, out)
    const max = this.config.maxFrameBytes
    // Every frame is checked before anything is written; a refused one ends the batch there,
    // after the frames before it, as one `push` per frame would.
    let total = 0
    let count = 0
    let error: FramingError | undefined = undefined
    for (; count < frames.length; count++) {
      const n = frames[count]!.length
      if (n > max) {
        error = FrameTooLarge.toEncode(NAME, max, n, this.offset + total, frames[count]!)
        break
      }
      total += (n < 128 ? 1 : varintLength(n)) + n
    }
    if (total > 0) {
      const bytes = Buffer.allocUnsafe(total)
      let pos = 0
      for (let i = 0; i < count; i++) {
        const frame = frames[i]!
        const n = frame.length
        if (n < 128) bytes[pos++] = n
        else pos = writeVarint(bytes, pos, n)
        if (frame.length <= 64) typedSet.call(bytes, frame, pos)
        else bytes.set(frame, pos)
        pos += n
      }
      out.push(bytes)
      this.offset += total
    }
    return error
  }
}
