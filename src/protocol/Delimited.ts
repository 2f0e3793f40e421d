/**
 * Frames ended by an arbitrary byte sequence: `;`, `\0`, `\r\n\r\n` header blocks, a
 * multi-byte record separator.
 *
 * ```text
 *   ┌──────────────┬───────────┐┌──────────────┬───────────┐
 *   │ frame 1      │ delimiter ││ frame 2      │ delimiter │ ...
 *   └──────────────┴───────────┘└──────────────┴───────────┘
 *    e.g. "a"        "\r\n\r\n"   ""  (an empty frame)
 * ```
 *
 * - A frame ends at the first occurrence of the delimiter, scanning left to right from the frame's
 *   start; the next frame starts right after it. Self-overlapping delimiters are matched exactly
 *   (delimiter `aab` in `xaaab` ends frame `xa`, after a false start at index 1), also when the
 *   delimiter is split across chunks,
 *   at any offset: the decoder carries how many bytes at the end of the unfinished frame could
 *   begin the delimiter (at most `delimiter.length - 1`), so it never rescans the buffered frame.
 * - The limit (`maxFrameBytes`, default 64 KiB) counts a frame's content without its delimiter,
 *   per frame (never per chunk). At most `maxFrameBytes + delimiter.length - 1` bytes are
 *   buffered: the content plus a possible delimiter start.
 * - End of input inside a frame is `UnexpectedEof` (offset of the frame, bytes received); with
 *   `atEof: "emit"` the unterminated frame is emitted instead, bytes that began a delimiter
 *   included. An empty frame is a frame.
 * - A frame over the limit is `FrameTooLarge` (offset where the frame starts), raised as soon as
 *   the bytes received prove that its content passes the limit. By default that poisons the
 *   decoder; with `onOversize: "skip"` the error is reported once, the rest of that frame is
 *   discarded up to the next delimiter and decoding resumes with the following frame.
 * - The encoder appends the delimiter and rejects a frame the decoder would read back
 *   differently: one containing the delimiter, or one whose last bytes together with the appended
 *   delimiter form an earlier occurrence of it (delimiter `00 00`, frame ending in `00`). With
 *   `stripDelimiter: false` the frames it is given must end with the delimiter.
 *
 * @since 0.1.0
 */
import { Buffer } from "node:buffer"
import { asBuffer, indexOfByte, preview } from "../internal/bytes.js"
import { intOption, oneOf, require } from "../internal/options.js"
import type { Codec, Encoder } from "./Codec.js"
import { FrameTooLarge, type FramingError, MalformedFrame } from "./FramingError.js"
import { TerminatedDecoder } from "./internal/terminatedDecoder.js"

/**
 * Options of `Framing.delimited`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DelimitedOptions {
  /** The byte sequence that ends every frame: non-empty bytes, or a non-empty string (UTF-8). */
  readonly delimiter: Uint8Array | string
  /** Largest frame content in bytes, delimiter excluded. Default 65,536. */
  readonly maxFrameBytes?: number
  /** Strip the delimiter from decoded frames (default `true`); when `false` frames keep it. */
  readonly stripDelimiter?: boolean
  /** What a frame over the limit does: `"fail"` (default, fatal) or `"skip"` (report once, resume). */
  readonly onOversize?: "fail" | "skip"
  /** An unterminated last frame at end of input: `"fail"` (default, `UnexpectedEof`) or `"emit"`. */
  readonly atEof?: "fail" | "emit"
}

/**
 * The resolved settings of a delimited codec.
 *
 * @since 0.1.0
 * @category models
 */
export interface DelimitedConfig {
  /** The delimiter's bytes (a copy of the option, UTF-8 encoded when it was a string). */
  readonly delimiter: Uint8Array
  readonly maxFrameBytes: number
  readonly stripDelimiter: boolean
  readonly onOversize: "fail" | "skip"
  readonly atEof: "fail" | "emit"
}

/**
 * A codec of frames ended by a delimiter.
 *
 * @since 0.1.0
 * @category models
 */
export interface DelimitedCodec extends Codec<Uint8Array, FramingError> {
  readonly config: DelimitedConfig
}

const NAME = "delimited"

/**
 * Builds a codec of frames ended by `delimiter`.
 *
 * @example
 * ```ts
 * import { Codec, Framing } from "effect-wire"
 *
 * const codec = Framing.delimited({ delimiter: "\r\n\r\n", maxFrameBytes: 8192 })
 * const { frames } = Codec.decodeAll(codec, [Buffer.from("Host: a\r\n"), Buffer.from("\r\n")])
 * console.log(frames.map((frame) => Buffer.from(frame).toString()))
 * // Output: [ 'Host: a' ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const delimited = (options: DelimitedOptions): DelimitedCodec => {
  const delimiter = delimiterOption(options?.delimiter)
  const config: DelimitedConfig = {
    delimiter: new Uint8Array(delimiter),
    maxFrameBytes: intOption(NAME, "maxFrameBytes", options.maxFrameBytes, 65_536, 0),
    stripDelimiter: oneOf(NAME, "stripDelimiter", options.stripDelimiter, true, [true, false]),
    onOversize: oneOf(NAME, "onOversize", options.onOversize, "fail", ["fail", "skip"]),
    atEof: oneOf(NAME, "atEof", options.atEof, "fail", ["fail", "emit"])
  }
  const pattern = new Pattern(delimiter)
  const shown = Buffer.from(delimiter.subarray(0, 8)).toString("hex")
  const name = `${NAME}(${shown}${delimiter.length > 8 ? "…" : ""})`
  return {
    name,
    config,
    decoder: () => new DelimitedDecoder(name, config, pattern),
    encoder: () => new DelimitedEncoder(name, config, pattern)
  }
}

const delimiterOption = (value: Uint8Array | string | undefined): Buffer => {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value
  require(
    NAME,
    bytes instanceof Uint8Array && bytes.length > 0,
    `option delimiter must be a non-empty Uint8Array or string, got ${describe(value)}`
  )
  return Buffer.from(bytes as Uint8Array) // a private copy: later changes to the option do not matter
}

const describe = (value: unknown): string =>
  value instanceof Uint8Array
    ? `${value.length} bytes`
    : typeof value === "string"
    ? JSON.stringify(value)
    : String(value)

/**
 * The delimiter with its Knuth–Morris–Pratt failure table. A matcher state `s` (0 ≤ s < length)
 * is the length of the longest suffix of the bytes seen that is a proper prefix of the delimiter.
 */
class Pattern {
  readonly length: number
  /** `fail[s]`: the longest proper border of the delimiter's first `s` bytes. */
  private readonly fail: Int32Array
  /**
   * The lengths `k` (largest first) of delimiter prefixes that, written at the end of a frame,
   * join the appended delimiter into an occurrence starting inside the frame: those with
   * `delimiter[k..] == delimiter[..length - k]`.
   */
  readonly overlaps: ReadonlyArray<number>

  constructor(readonly bytes: Buffer) {
    const d = bytes.length
    this.length = d
    this.fail = new Int32Array(d + 1)
    for (let i = 1, k = 0; i < d; i++) {
      while (k > 0 && bytes[i] !== bytes[k]) k = this.fail[k]!
      if (bytes[i] === bytes[k]) k++
      this.fail[i + 1] = k
    }
    const overlaps: Array<number> = []
    for (let k = d - 1; k >= 1; k--) {
      if (bytes.compare(bytes, 0, d - k, k, d) === 0) overlaps.push(k)
    }
    this.overlaps = overlaps
  }

  /**
   * Runs the matcher from `state` over `bytes[from, to)`. Returns the state at `to` (below
   * `length`) when no occurrence ends there, else `length + i` where `i` is the index just past
   * the first occurrence.
   */
  run(state: number, bytes: Uint8Array, from: number, to: number): number {
    const p = this.bytes
    const d = this.length
    let s = state
    for (let i = from; i < to; i++) {
      const b = bytes[i]!
      while (s > 0 && p[s] !== b) s = this.fail[s]!
      if (p[s] === b) s++
      if (s === d) return d + i + 1
    }
    return s
  }

  /** Index just past the first occurrence in `buf` at or after `from`, or -1. */
  find(buf: Buffer, from: number): number {
    const at = this.length === 1 ? buf.indexOf(this.bytes[0]!, from) : buf.indexOf(this.bytes, from)
    return at === -1 ? -1 : at + this.length
  }
}

class DelimitedDecoder extends TerminatedDecoder {
  /** Matcher state at the end of the current frame's bytes seen so far (see `Pattern`). */
  private matched = 0

  constructor(
    name: string,
    private readonly config: DelimitedConfig,
    private readonly pattern: Pattern
  ) {
    super(name, config)
  }

  protected override beforeEmitAtEof(): void {
    this.matched = 0
  }

  protected scan(chunk: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    const buf = asBuffer(chunk)
    const base = this.consumed
    const max = this.config.maxFrameBytes
    const pattern = this.pattern
    const d = pattern.length
    const len = chunk.length
    const pending = this.pending
    let pos = 0
    while (pos < len) {
      // `end`: index just past the delimiter that ends the current frame, -1 while none is seen.
      let end = -1
      // Matcher state after `chunk[pos, len)` when the carried-over match covered all of it.
      let carried = -1
      if (pos === 0 && this.matched > 0) {
        // The delimiter may have begun in an earlier chunk: follow it over at most d - 1 bytes;
        // any later occurrence lies wholly inside this chunk and `indexOf` finds it.
        const stop = Math.min(len, d - 1)
        const state = pattern.run(this.matched, chunk, 0, stop)
        if (state >= d) end = state - d
        else if (stop === len) carried = state
      }
      if (end === -1) end = pattern.find(buf, pos)
      if (end === -1) {
        const state = carried !== -1
          ? carried
          : len - pos >= d - 1
          ? pattern.run(0, chunk, len - (d - 1), len)
          : pattern.run(0, chunk, pos, len)
        this.matched = state
        this.consumed = base + len
        if (this.discarding) return undefined
        const size = pending.length + len - pos
        if (size - state > max) {
          // The delimiter cannot start before `size - state`: the content is already too large.
          const head = pending.length > 0 ? pending.head(16) : chunk.subarray(pos, pos + 16)
          return this.oversize(size - state, head, base, chunk)
        }
        pending.pushFrom(chunk, pos)
        return undefined
      }
      this.matched = 0
      if (this.discarding) {
        this.discarding = false
        pos = end
        this.frameStart = base + pos
        continue
      }
      const content = pending.length + end - pos - d
      if (content > max) {
        const head = pending.length > 0 ? pending.head(16) : chunk.subarray(pos, pos + 16)
        return this.oversize(content, head, base, chunk, end)
      }
      if (!this.config.stripDelimiter) {
        out.push(pending.take(chunk.subarray(pos, end)))
      } else if (end - d >= pos) {
        out.push(pending.take(chunk.subarray(pos, end - d)))
      } else {
        // The delimiter began in an earlier chunk: drop its first bytes from the buffered ones.
        out.push(pending.take(chunk.subarray(pos, end)).subarray(0, content))
      }
      pos = end
      this.frameStart = base + pos
    }
    this.consumed = base + len
    return undefined
  }
}

/** For `typedSet.call(target, source, at)`: see `typedSet` in internal/bytes.ts for why. */
const typedSet = Uint8Array.prototype.set

/** Whether the `n` bytes of `frame` hold no `byte` (see `hasNoLf` in Lines.ts for why it is here). */
const hasNoByte = (frame: Uint8Array, n: number, byte: number): boolean => {
  if (n > 16) return indexOfByte(frame, byte) === -1
  for (let i = 0; i < n; i++) if (frame[i] === byte) return false
  return true
}

class DelimitedEncoder implements Encoder<Uint8Array, FramingError> {
  private offset = 0

  constructor(
    private readonly name: string,
    private readonly config: DelimitedConfig,
    private readonly pattern: Pattern
  ) {}

  push(frame: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    const error = this.check(frame, this.offset)
    if (error !== undefined) return error
    if (this.config.stripDelimiter) {
      out.push(frame, this.pattern.bytes)
      this.offset += frame.length + this.pattern.length
    } else {
      out.push(frame)
      this.offset += frame.length
    }
    return undefined
  }

  pushAll(frames: ReadonlyArray<Uint8Array>, out: Array<Uint8Array>): FramingError | undefined {
    if (frames.length === 1) return this.push(frames[0]!, out)
    const delimiter = this.pattern.bytes
    const d = this.config.stripDelimiter ? delimiter.length : 0
    // A one-byte delimiter appended cannot overlap the frame's end: its check is a search and
    // the limit, done inline here; any other case, and any doubt, takes `check`.
    const single = d === 1 ? delimiter[0]! : -1
    const max = this.config.maxFrameBytes
    // Every frame is checked before anything is written; a refused one ends the batch there,
    // after the frames before it, as one `push` per frame would.
    let total = 0
    let count = 0
    let error: FramingError | undefined = undefined
    for (; count < frames.length; count++) {
      const frame = frames[count]!
      const n = frame.length
      if (single === -1 || n > max || !hasNoByte(frame, n, single)) {
        error = this.check(frame, this.offset + total)
        if (error !== undefined) break
      }
      total += n + d
    }
    if (total === 0) return error
    const bytes = Buffer.allocUnsafe(total)
    let pos = 0
    if (single !== -1) {
      for (let i = 0; i < count; i++) {
        const frame = frames[i]!
        if (frame.length <= 64) typedSet.call(bytes, frame, pos)
        else bytes.set(frame, pos)
        pos += frame.length
        bytes[pos++] = single
      }
    } else {
      for (let i = 0; i < count; i++) {
        const frame = frames[i]!
        if (frame.length <= 64) typedSet.call(bytes, frame, pos)
        else bytes.set(frame, pos)
        pos += frame.length
        for (let j = 0; j < d; j++) bytes[pos++] = delimiter[j]!
      }
    }
    out.push(bytes)
    this.offset += total
    return error
  }

  /** Why `frame` cannot be encoded at stream offset `offset`, or `undefined`. */
  private check(frame: Uint8Array, offset: number): FramingError | undefined {
    const delimiter = this.pattern.bytes
    const d = delimiter.length
    let content = frame.length
    if (!this.config.stripDelimiter) {
      if (content < d || asBuffer(frame).compare(delimiter, 0, d, content - d, content) !== 0) {
        return this.malformed(frame, "a frame must end with its delimiter", offset)
      }
      content -= d
    }
    // The decoder ends the frame at the first occurrence of the delimiter in content + delimiter:
    // it must be the appended one, at index `content`. The first occurrence in the whole frame
    // lies inside the content exactly when some occurrence does.
    const first = d === 1 ? indexOfByte(frame, delimiter[0]!) : asBuffer(frame).indexOf(delimiter)
    if (first !== -1 && first + d <= content) {
      return this.malformed(frame, `frame contains the delimiter at index ${first}`, offset)
    }
    for (const k of this.pattern.overlaps) {
      if (k <= content && asBuffer(frame).compare(delimiter, 0, k, content - k, content) === 0) {
        return this.malformed(
          frame,
          `frame ends with the first ${k} byte(s) of the delimiter, so it would be read back as ending at index ${
            content - k
          }`,
          offset
        )
      }
    }
    if (content > this.config.maxFrameBytes) {
      return FrameTooLarge.toEncode(this.name, this.config.maxFrameBytes, content, offset, frame)
    }
    return undefined
  }

  private malformed(frame: Uint8Array, reason: string, offset: number): MalformedFrame {
    return new MalformedFrame({
      codec: this.name,
      direction: "encode",
      reason,
      offset,
      preview: preview(frame)
    })
  }
}
