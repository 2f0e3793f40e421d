/**
 * Length-prefixed frames: a binary header holding the length of what follows (the default is the
 * common 4-byte big-endian length + payload), with the header layouts of tokio-util's
 * `length_delimited` and Netty's `LengthFieldBasedFrameDecoder`.
 *
 * ```text
 *   default (u32be):
 *   ┌─────────────┬───────────────┐┌─────────────┬┐
 *   │ 00 00 00 05 │ h e l l o     ││ 00 00 00 00 ││ ...
 *   └─────────────┴───────────────┘└─────────────┴┘
 *    length 5      frame "hello"    length 0      frame ""
 *
 *   general layout (offset, padding and stripBytes default to 0, 0 and the header):
 *   ┌──────────────┬──────────────┬─────────┬───────────────────────────────┐
 *   │ offset bytes │ length field │ padding │ payload (length + adjustment) │
 *   └──────────────┴──────────────┴─────────┴───────────────────────────────┘
 *    ◀────────────── header ───────────────▶ ◀───── limit counts this ─────▶
 *    ◀─── stripped (stripBytes) by default ▶ ◀─────── decoded frame ───────▶
 * ```
 *
 * - The header ends after the length field, or at `stripBytes` when that is later (tokio-util's
 *   `num_skip`). The field value plus `lengthAdjustment` (minus the header size when
 *   `lengthIncludesHeader`) is the number of payload bytes after the header. A decoded frame is
 *   the whole frame with its first `stripBytes` bytes removed: the payload by default, header
 *   bytes included when `stripBytes` is smaller. A `stripBytes` ending inside the length field is
 *   refused when the codec is built, as is a layout in which no frame can exist. The length always
 *   counts from the end of the header, whatever `stripBytes` says; tokio-util's code counts it
 *   from the strip point instead, so with a smaller `num_skip` it misreads the layouts of its own
 *   documentation (examples 1, 3 and 4), which this codec decodes as drawn, with the options given.
 *   Headers are at most 64 KiB.
 * - The limit (`maxFrameBytes`, default 1 MiB) counts the payload, after adjustment, never the
 *   header. It is checked as soon as the header is complete, before any byte of the payload is
 *   kept, so a hostile length costs nothing. A length above 2^53 - 1 (8-byte fields) is
 *   `MalformedFrame` naming the exact value in hex, never a rounded number; an adjusted length
 *   below 0 is `MalformedFrame`, never a negative length.
 * - End of input at a frame boundary ends cleanly; anywhere inside a frame (inside the header,
 *   right after it, or inside the payload) it is `UnexpectedEof` with the frame's offset, the
 *   bytes of it received and, once the header is known, the frame's whole size. A zero-length
 *   payload is a frame.
 * - Every error poisons the decoder: a framer that lost the length cannot find the next frame.
 * - The encoder takes what the decoder yields. It writes the stripped header bytes itself: the
 *   length field (when stripped) and zeros for any other stripped byte (a version byte before the
 *   field, padding after it), which the decoder ignores. Header bytes kept in the frame are
 *   written as given; a kept length field must already hold the right value (`MalformedFrame`
 *   otherwise, naming it), so encoding never changes a frame's bytes. A payload over the limit,
 *   or too long for the field (more than 255 bytes with a 1-byte field), is `FrameTooLarge` and
 *   writes nothing.
 *
 * @since 0.1.0
 */
import { Buffer } from "node:buffer"
import { Pending, preview } from "../internal/bytes.js"
import { intOption, MAX_LIMIT, oneOf, require } from "../internal/options.js"
import type { Codec, Decoder, Encoder } from "./Codec.js"
import { FrameTooLarge, type FramingError, MalformedFrame, UnexpectedEof } from "./FramingError.js"

/**
 * Options of `Framing.lengthPrefixed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LengthPrefixedOptions {
  /** Size of the length field in bytes: 1, 2, 3, 4 or 8 (default 4). */
  readonly lengthFieldBytes?: 1 | 2 | 3 | 4 | 8
  /** Byte order of the length field: `"big"` (default, network order) or `"little"`. */
  readonly byteOrder?: "big" | "little"
  /** Header bytes before the length field (default 0). */
  readonly lengthFieldOffset?: number
  /** Added to the field value to get the payload length (default 0; may be negative). */
  readonly lengthAdjustment?: number
  /** The field counts the header as well as the payload (default `false`). */
  readonly lengthIncludesHeader?: boolean
  /**
   * Bytes removed from the start of each decoded frame (tokio-util's `num_skip`). Default: the
   * whole header, so frames are the payload. `0` keeps the header; a value past the length field
   * makes the header that long. It may not end inside the length field.
   */
  readonly stripBytes?: number
  /** Largest payload in bytes, after adjustment, header excluded. Default 1,048,576. */
  readonly maxFrameBytes?: number
}

/**
 * The resolved settings of a length-prefixed codec.
 *
 * @since 0.1.0
 * @category models
 */
export interface LengthPrefixedConfig {
  readonly lengthFieldBytes: 1 | 2 | 3 | 4 | 8
  readonly byteOrder: "big" | "little"
  readonly lengthFieldOffset: number
  readonly lengthAdjustment: number
  readonly lengthIncludesHeader: boolean
  readonly stripBytes: number
  readonly maxFrameBytes: number
  /** Derived: the header size, `max(lengthFieldOffset + lengthFieldBytes, stripBytes)`. */
  readonly headerBytes: number
}

/**
 * A codec of length-prefixed frames.
 *
 * @since 0.1.0
 * @category models
 */
export interface LengthPrefixedCodec extends Codec<Uint8Array, FramingError> {
  readonly config: LengthPrefixedConfig
}

const BASE = "lengthPrefixed"
/** The largest header (offset, field and padding) a codec accepts: 64 KiB. */
const MAX_HEADER = 65_536

/** Internal settings shared by the decoder and encoder. */
interface Layout {
  readonly name: string
  readonly config: LengthPrefixedConfig
  /** Header size. */
  readonly header: number
  /** Bytes stripped from decoded frames. */
  readonly strip: number
  /** Where the length field starts in the header, and its size. */
  readonly at: number
  readonly size: number
  readonly little: boolean
  /** The adjustment actually applied: `lengthAdjustment`, minus the header when it is included. */
  readonly adjustment: number
  /** The largest value the field holds (2^53 - 1 for 8-byte fields). */
  readonly fieldMax: number
}

/**
 * Builds a codec of length-prefixed frames.
 *
 * @example
 * ```ts
 * import { Codec, Framing } from "effect-wire"
 *
 * const codec = Framing.lengthPrefixed({ lengthFieldBytes: 2, byteOrder: "little" })
 * const chunks = [Buffer.from("05006865", "hex"), Buffer.from("6c6c6f", "hex")]
 * const { frames } = Codec.decodeAll(codec, chunks)
 * console.log(frames.map((frame) => Buffer.from(frame).toString()))
 * // Output: [ 'hello' ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const lengthPrefixed = (options: LengthPrefixedOptions = {}): LengthPrefixedCodec => {
  const size = oneOf(BASE, "lengthFieldBytes", options.lengthFieldBytes, 4, [1, 2, 3, 4, 8])
  const byteOrder = oneOf(BASE, "byteOrder", options.byteOrder, "big", ["big", "little"])
  const name = `${BASE}(u${size * 8}${size === 1 ? "" : byteOrder === "big" ? "be" : "le"})`
  const at = intOption(name, "lengthFieldOffset", options.lengthFieldOffset, 0, 0, MAX_HEADER - size)
  const fieldEnd = at + size
  const strip = intOption(name, "stripBytes", options.stripBytes, fieldEnd, 0, MAX_HEADER)
  require(
    name,
    strip <= at || strip >= fieldEnd,
    `option stripBytes ${strip} ends inside the length field (bytes ${at} to ${fieldEnd - 1}); ` +
      `use at most ${at} to keep the field or at least ${fieldEnd} to strip it`
  )
  const header = Math.max(fieldEnd, strip)
  const config: LengthPrefixedConfig = {
    lengthFieldBytes: size,
    byteOrder,
    lengthFieldOffset: at,
    lengthAdjustment: intOption(name, "lengthAdjustment", options.lengthAdjustment, 0, -MAX_LIMIT, MAX_LIMIT),
    lengthIncludesHeader: oneOf(name, "lengthIncludesHeader", options.lengthIncludesHeader, false, [true, false]),
    stripBytes: strip,
    maxFrameBytes: intOption(name, "maxFrameBytes", options.maxFrameBytes, 1_048_576, 0),
    headerBytes: header
  }
  const adjustment = config.lengthAdjustment - (config.lengthIncludesHeader ? header : 0)
  const fieldMax = size === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (size * 8) - 1
  // The smallest payload is max(0, adjustment); its field value is max(0, -adjustment).
  require(
    name,
    -adjustment <= fieldMax,
    `an adjustment of ${adjustment} needs field values above ${fieldMax}: no frame can be encoded or decoded`
  )
  require(
    name,
    adjustment <= config.maxFrameBytes,
    `an adjustment of ${adjustment} makes every payload larger than maxFrameBytes ${config.maxFrameBytes}`
  )
  const layout: Layout = { name, config, header, strip, at, size, little: byteOrder === "little", adjustment, fieldMax }
  return {
    name,
    config,
    decoder: () => new LengthPrefixedDecoder(layout),
    encoder: () => new LengthPrefixedEncoder(layout)
  }
}

/**
 * Reads the unsigned length field at `at`; returns -1 when it is above 2^53 - 1 (only possible
 * with 8 bytes), so that no value is ever rounded.
 */
const readField = (bytes: Uint8Array, at: number, size: number, little: boolean): number => {
  if (size === 8) {
    const top = little ? bytes[at + 7]! : bytes[at]!
    const next = little ? bytes[at + 6]! : bytes[at + 1]!
    if (top !== 0 || next > 0x1f) return -1
  }
  let value = 0
  if (little) { for (let i = size - 1; i >= 0; i--) value = value * 256 + bytes[at + i]! }
  else for (let i = 0; i < size; i++) value = value * 256 + bytes[at + i]!
  return value
}

/** Writes `value` (0 ≤ value ≤ 2^53 - 1) as an unsigned field of `size` bytes at `at`. */
const writeField = (bytes: Uint8Array, at: number, size: number, little: boolean, value: number): void => {
  let v = value
  for (let i = 0; i < size; i++) {
    bytes[little ? at + i : at + size - 1 - i] = v % 256
    v = Math.floor(v / 256)
  }
}

/** The exact field as `0x…` hex (most significant byte first) and decimal, for error messages. */
const showField = (bytes: Uint8Array, at: number, size: number, little: boolean): string => {
  let hex = ""
  for (let i = 0; i < size; i++) hex += bytes[little ? at + size - 1 - i : at + i]!.toString(16).padStart(2, "0")
  return `0x${hex} (${BigInt(`0x${hex}`).toString()})`
}

class LengthPrefixedDecoder implements Decoder<Uint8Array, FramingError> {
  poisoned: FramingError | undefined = undefined
  private readonly pending = new Pending()
  /** Stream offset of the first byte of the next chunk. */
  private consumed = 0
  /** Stream offset where the unfinished frame (if any) starts. */
  private frameStart = 0
  /** Payload size of the unfinished frame once its header is read, -1 before. */
  private payload = -1
  /** Whether the layout is the plain default: u32be length of the payload, header stripped. */
  private readonly plainU32: boolean

  constructor(private readonly layout: Layout) {
    this.plainU32 = layout.at === 0 && layout.size === 4 && !layout.little && layout.adjustment === 0 &&
      layout.header === 4 && layout.strip === 4
  }

  get buffered(): number {
    return this.pending.length
  }

  push(chunk: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    const { header, strip } = this.layout
    const pending = this.pending
    const base = this.consumed
    const n = chunk.length
    this.consumed = base + n
    let pos = 0
    if (pending.length > 0) {
      // Finish the frame that earlier chunks started; it is copied once, when complete.
      if (this.payload < 0) {
        const missing = header - pending.length
        if (n < missing) {
          pending.push(chunk)
          return undefined
        }
        pending.push(missing === n ? chunk : chunk.subarray(0, missing))
        pos = missing
        const error = this.plainU32 ? this.readPendingU32() : this.readHeader(pending.head(header), 0)
        if (error !== undefined) return error
      }
      const missing = header + this.payload - pending.length
      if (n - pos < missing) {
        pending.pushFrom(chunk, pos)
        return undefined
      }
      // A chunk that is exactly the frame's tail (a peer sending byte by byte) needs no view.
      const frame = pending.take(pos === 0 && missing === n ? chunk : chunk.subarray(pos, pos + missing))
      out.push(strip === 0 ? frame : frame.subarray(strip))
      pos += missing
      this.payload = -1
      this.frameStart = base + pos
    }
    // Every frame lying inside this chunk is a view of it.
    if (this.plainU32) {
      // The default layout (u32be + payload), read inline: the common case, per frame.
      const max = this.layout.config.maxFrameBytes
      while (n - pos >= 4) {
        const payload = chunk[pos]! * 0x1000000 + ((chunk[pos + 1]! << 16) | (chunk[pos + 2]! << 8) | chunk[pos + 3]!)
        if (payload > max) {
          this.frameStart = base + pos
          return this.readHeader(chunk, pos)
        }
        const end = pos + 4 + payload
        if (end > n) {
          this.payload = payload
          break
        }
        out.push(chunk.subarray(pos + 4, end))
        pos = end
      }
      this.frameStart = base + pos
      if (pos < n) pending.pushFrom(chunk, pos)
      return undefined
    }
    while (n - pos >= header) {
      const error = this.readHeader(chunk, pos)
      if (error !== undefined) return error
      const end = pos + header + this.payload
      if (end > n) break
      out.push(chunk.subarray(pos + strip, end))
      pos = end
      this.payload = -1
      this.frameStart = base + pos
    }
    if (pos < n) pending.pushFrom(chunk, pos)
    return undefined
  }

  end(_out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    const received = this.pending.length
    if (received === 0) return undefined
    const error = new UnexpectedEof({
      codec: this.layout.name,
      offset: this.frameStart,
      buffered: received,
      expected: this.payload < 0 ? undefined : this.layout.header + this.payload,
      preview: preview(this.pending.head(16), 0, received)
    })
    return this.poison(error)
  }

  /** Reads the header at `bytes[at]` into `this.payload`, or returns (and poisons with) its error. */
  /**
   * The default layout's header, read where earlier chunks left it (split across parts) without
   * copying it out: a header sent a byte at a time costs no allocation. The error path reads it
   * the general way, for its preview.
   */
  private readPendingU32(): FramingError | undefined {
    const p = this.pending
    const payload = p.at(0) * 0x1000000 + ((p.at(1) << 16) | (p.at(2) << 8) | p.at(3))
    if (payload > this.layout.config.maxFrameBytes) return this.readHeader(p.head(4), 0)
    this.payload = payload
    return undefined
  }

  private readHeader(bytes: Uint8Array, at: number): FramingError | undefined {
    const { adjustment, config, header, little, name, size } = this.layout
    const field = at + this.layout.at
    const value = readField(bytes, field, size, little)
    const payload = value + adjustment
    if (value >= 0 && payload >= 0 && payload <= config.maxFrameBytes) {
      this.payload = payload
      return undefined
    }
    const shown = preview(bytes, at, at + header)
    if (value >= 0 && payload > config.maxFrameBytes && Number.isSafeInteger(payload)) {
      return this.poison(
        new FrameTooLarge({
          codec: name,
          direction: "decode",
          limit: config.maxFrameBytes,
          size: payload,
          announced: true,
          offset: this.frameStart,
          preview: shown
        })
      )
    }
    const exact = showField(bytes, field, size, little)
    const reason = value < 0
      ? `length field ${exact} is above 2^53 - 1`
      : payload < 0
      ? `length field ${value} with adjustment ${adjustment} gives a negative payload length (${payload})`
      : `length field ${exact} with adjustment ${adjustment} is above 2^53 - 1`
    return this.poison(
      new MalformedFrame({ codec: name, direction: "decode", reason, offset: this.frameStart, preview: shown })
    )
  }

  private poison(error: FramingError): FramingError {
    this.pending.clear()
    this.poisoned = error
    return error
  }
}

/** Payloads up to this size are copied next to their header; larger ones are written as they are. */
const SMALL_FRAME = 256

/** `pushTexts` by `push`: all or nothing. */
const pushEach = (
  encoder: Encoder<Uint8Array, FramingError>,
  texts: ReadonlyArray<string>,
  out: Array<Uint8Array>
): FramingError | undefined => {
  const parts: Array<Uint8Array> = []
  for (const text of texts) {
    const error = encoder.push(Buffer.from(text, "utf8"), parts)
    if (error !== undefined) return error
  }
  for (const part of parts) out.push(part)
  return undefined
}

/** For `typedSet.call(target, source, at)`: see `typedSet` in internal/bytes.ts for why. */
const typedSet = Uint8Array.prototype.set

class LengthPrefixedEncoder implements Encoder<Uint8Array, FramingError> {
  private offset = 0
  /** Header bytes that decoded frames keep, at their start. */
  private readonly kept: number
  /** The largest payload both the limit and the field allow. */
  private readonly limit: number
  /** Whether the length field is among the stripped bytes the encoder writes. */
  private readonly writesField: boolean
  /** Whether the layout is the plain default: u32be length of the payload, header stripped. */
  private readonly plainU32: boolean

  constructor(private readonly layout: Layout) {
    this.kept = layout.header - layout.strip
    this.limit = Math.min(layout.config.maxFrameBytes, layout.fieldMax + layout.adjustment)
    this.writesField = layout.strip > layout.at
    this.plainU32 = layout.at === 0 && layout.size === 4 && !layout.little && layout.adjustment === 0 &&
      layout.header === 4 && layout.strip === 4
  }

  /**
   * Why `frame` cannot be encoded at stream offset `offset`, or `undefined`: the checks of `push`,
   * in its order, so that every path reports the same error.
   */
  private check(frame: Uint8Array, offset: number): FramingError | undefined {
    const { adjustment, at, little, size, strip } = this.layout
    if (frame.length < this.kept) {
      const reason = `frame is ${frame.length} bytes, shorter than the ${this.kept} header bytes it keeps`
      return this.malformed(frame, reason, offset)
    }
    const payload = frame.length - this.kept
    if (payload > this.limit) {
      return FrameTooLarge.toEncode(this.layout.name, this.limit, payload, offset, frame)
    }
    const value = payload - adjustment
    if (value < 0) {
      return this.malformed(
        frame,
        `payload of ${payload} bytes is shorter than the length adjustment ${adjustment}; ` +
          "the length field cannot be negative",
        offset
      )
    }
    if (!this.writesField) {
      const found = readField(frame, at - strip, size, little)
      if (found !== value) {
        const shown = found < 0 ? showField(frame, at - strip, size, little) : String(found)
        return this.malformed(
          frame,
          `its length field holds ${shown}, but a payload of ${payload} bytes needs ${value}`,
          offset
        )
      }
    }
    return undefined
  }

  /**
   * Writes the stripped header of a frame with `payload` bytes at `bytes[pos]`: zeros, and the
   * length field when it is stripped (a kept one comes with the frame).
   */
  private writeHeader(bytes: Uint8Array, pos: number, payload: number): void {
    const { adjustment, at, little, size, strip } = this.layout
    // Only stripped bytes that are not the field need zeros: the buffer may be unzeroed.
    if (!this.writesField || strip !== size) bytes.fill(0, pos, pos + strip)
    if (this.writesField) writeField(bytes, pos + at, size, little, payload - adjustment)
  }

  push(frame: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    const error = this.check(frame, this.offset)
    if (error !== undefined) return error
    const { strip } = this.layout
    if (strip > 0 && frame.length <= SMALL_FRAME) {
      // One part for header and payload: cheaper than two parts joined later. `allocUnsafe`
      // carves small buffers out of a shared pool, where a `Uint8Array` is a fresh allocation.
      const whole = Buffer.allocUnsafe(strip + frame.length)
      this.writeHeader(whole, 0, frame.length - this.kept)
      whole.set(frame, strip)
      out.push(whole)
    } else {
      if (strip > 0) {
        const prefix = new Uint8Array(strip)
        this.writeHeader(prefix, 0, frame.length - this.kept)
        out.push(prefix)
      }
      if (frame.length > 0) out.push(frame)
    }
    this.offset += strip + frame.length
    return undefined
  }

  pushAll(frames: ReadonlyArray<Uint8Array>, out: Array<Uint8Array>): FramingError | undefined {
    if (frames.length === 1) return this.push(frames[0]!, out)
    const { strip } = this.layout
    // Every frame is checked before anything is written; a refused one ends the batch there,
    // after the frames before it, as one `push` per frame would.
    let total = 0
    let count = 0
    let error: FramingError | undefined = undefined
    for (; count < frames.length; count++) {
      const frame = frames[count]!
      error = this.check(frame, this.offset + total)
      if (error !== undefined) break
      total += strip + frame.length
    }
    if (total > 0) {
      const bytes = Buffer.allocUnsafe(total)
      let pos = 0
      if (this.plainU32) {
        // The default layout, written inline: the common case, per frame.
        for (let i = 0; i < count; i++) {
          const frame = frames[i]!
          const n = frame.length
          bytes[pos] = n >>> 24
          bytes[pos + 1] = n >>> 16
          bytes[pos + 2] = n >>> 8
          bytes[pos + 3] = n
          if (frame.length <= 64) typedSet.call(bytes, frame, pos + 4)
          else bytes.set(frame, pos + 4)
          pos += 4 + n
        }
      } else {
        for (let i = 0; i < count; i++) {
          const frame = frames[i]!
          this.writeHeader(bytes, pos, frame.length - this.kept)
          if (frame.length <= 64) typedSet.call(bytes, frame, pos + strip)
          else bytes.set(frame, pos + strip)
          pos += strip + frame.length
        }
      }
      out.push(bytes)
      this.offset += total
    }
    return error
  }

  pushTexts(texts: ReadonlyArray<string>, out: Array<Uint8Array>): FramingError | undefined {
    const { adjustment, at, little, size, strip } = this.layout
    if (this.kept > 0 || !this.writesField) {
      const offset = this.offset
      const error = pushEach(this, texts, out)
      if (error !== undefined) this.offset = offset
      return error
    }
    const lengths: Array<number> = new Array(texts.length)
    let total = 0
    for (let i = 0; i < texts.length; i++) {
      const n = Buffer.byteLength(texts[i]!, "utf8")
      if (n > this.limit || n < adjustment) {
        // `push` says why, with the offset this frame would start at.
        const offset = this.offset
        this.offset += total
        const error = this.push(Buffer.from(texts[i]!, "utf8"), [])
        this.offset = offset
        return error
      }
      lengths[i] = n
      total += strip + n
    }
    const bytes = Buffer.allocUnsafe(total)
    let offset = 0
    for (let i = 0; i < texts.length; i++) {
      if (strip !== size) bytes.fill(0, offset, offset + strip)
      writeField(bytes, offset + at, size, little, lengths[i]! - adjustment)
      offset += strip
      offset += bytes.write(texts[i]!, offset, "utf8")
    }
    out.push(bytes)
    this.offset += total
    return undefined
  }

  private malformed(frame: Uint8Array, reason: string, offset: number): MalformedFrame {
    return new MalformedFrame({
      codec: this.layout.name,
      direction: "encode",
      reason,
      offset,
      preview: preview(frame)
    })
  }
}
