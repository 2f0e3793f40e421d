/**
 * Concatenated JSON values: a stream of JSON texts written back to back, with or without
 * whitespace between them (jayson's TCP server, `JSON.stringify` written in a loop, JSON text
 * sequences without their RS byte, `jq -c` output).
 *
 * ```text
 *   ┌──────────────────────┐┌─────────┐┌───┬──────────┬────┬─────┬────┬──────┐
 *   │ {"id":1,"result":2}  ││ [1,{}]  ││ ␠ │ "a\"b"   │ \n │ 42  │ \t │ true │ ...
 *   └──────────────────────┘└─────────┘└───┴──────────┴────┴─────┴────┴──────┘
 *    frame 1                 frame 2    ws   frame 3     ws   frame 4   frame 5
 * ```
 *
 * The decoder is a boundary scanner, not a parser: it finds where each value ends and hands on
 * its bytes exactly (no surrounding whitespace), for `JSON.parse` or a Schema to parse.
 * - Between values only JSON whitespace (space, `\t`, `\n`, `\r`) may appear; it is skipped
 *   without being buffered. Any other byte that cannot start a JSON value (`{ [ " - 0-9 t f n`)
 *   is `MalformedFrame` at its offset.
 * - Objects and arrays end when their brackets balance, counted outside strings (string and
 *   backslash-escape state are tracked, so `"}"` and `"\""` inside strings do not count). A
 *   closing bracket that does not match the open one (`{]`) is `MalformedFrame` at its offset.
 *   Nothing else inside a container is checked: `{"a" 1}` is a frame that `JSON.parse` rejects
 *   (the RPC layer then answers that one message with a parse error and goes on).
 * - Top-level scalars are frames too: strings end at their closing quote, `true` / `false` /
 *   `null` after their last letter (a wrong letter is `MalformedFrame`), and numbers at the first
 *   byte that cannot be part of a number, so a number at the end of the input is only complete at
 *   EOF. A number's bytes must match JSON's number grammar (`01`, `1-2`, `1.` are
 *   `MalformedFrame` at the number's offset).
 * - The limit (`maxFrameBytes`, default 1 MiB) counts one value's bytes, from its first byte to
 *   its last. A value passing it is `FrameTooLarge` (offset where the value starts) as soon as
 *   its `maxFrameBytes + 1`-th byte arrives, so at most `maxFrameBytes` bytes are ever buffered.
 * - State (depth, string, escape, literal position) is carried across chunks and each byte is
 *   scanned once, so any chunking, a 1-byte trickle included, costs linear time.
 * - End of input between values (or after a number) is a clean end; inside a value it is
 *   `UnexpectedEof` (offset of the value, bytes received; `expected` for a literal).
 * - Every error poisons the decoder.
 * - The encoder writes each frame as is, followed by `separator` (default `"\n"`; JSON
 *   whitespace only, possibly empty), after checking that the decoder would read it back the
 *   same: exactly one complete value, without surrounding whitespace, within the limit. With an
 *   empty separator a top-level number is rejected (the next value could extend it).
 *
 * @since 0.1.0
 */
import { Buffer } from "node:buffer"
import { asBuffer, Pending, preview } from "../internal/bytes.js"
import { intOption, require } from "../internal/options.js"
import type { Codec, Decoder, Encoder } from "./Codec.js"
import { FrameTooLarge, type FramingError, MalformedFrame, UnexpectedEof } from "./FramingError.js"

const TAB = 0x09
const LF = 0x0a
const CR = 0x0d
const SP = 0x20
const QUOTE = 0x22
const BACKSLASH = 0x5c
const LBRACKET = 0x5b
const RBRACKET = 0x5d
const LBRACE = 0x7b
const RBRACE = 0x7d
const MINUS = 0x2d

/**
 * Options of `Framing.jsonValues`.
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonValuesOptions {
  /** Largest value in bytes. Default 1,048,576. */
  readonly maxFrameBytes?: number
  /** What the encoder writes after each value: JSON whitespace only, possibly empty. Default `"\n"`. */
  readonly separator?: string
}

/**
 * The resolved settings of a JSON values codec.
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonValuesConfig {
  readonly maxFrameBytes: number
  readonly separator: string
}

/**
 * A codec of concatenated JSON values.
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonValuesCodec extends Codec<Uint8Array, FramingError> {
  readonly config: JsonValuesConfig
}

const NAME = "jsonValues"

/**
 * Builds a codec of concatenated (or whitespace-separated) JSON values.
 *
 * @example
 * ```ts
 * import { Codec, Framing } from "effect-wire"
 *
 * const codec = Framing.jsonValues({ maxFrameBytes: 64 * 1024 })
 * const { frames } = Codec.decodeAll(codec, [Buffer.from('{"a":1}[2,'), Buffer.from('3] "x"')])
 * console.log(frames.map((frame) => Buffer.from(frame).toString()))
 * // Output: [ '{"a":1}', '[2,3]', '"x"' ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const jsonValues = (options: JsonValuesOptions = {}): JsonValuesCodec => {
  const separator = options.separator ?? "\n"
  require(
    NAME,
    typeof separator === "string" && /^[ \t\r\n]*$/.test(separator),
    `option separator must be JSON whitespace (space, \\t, \\r, \\n) only, got ${JSON.stringify(separator)}`
  )
  const config: JsonValuesConfig = {
    maxFrameBytes: intOption(NAME, "maxFrameBytes", options.maxFrameBytes, 1_048_576, 1),
    separator
  }
  return {
    name: NAME,
    config,
    decoder: () => new JsonValuesDecoder(config),
    encoder: () => new JsonValuesEncoder(config)
  }
}

const isWhitespace = (b: number): boolean => b === SP || b === LF || b === CR || b === TAB

/** Bytes that can be part of a number token (checked against the grammar when it ends). */
const isNumberByte = (b: number): boolean =>
  (b >= 0x30 && b <= 0x39) || b === MINUS || b === 0x2b || b === 0x2e || b === 0x45 || b === 0x65

const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/

const LITERALS: Readonly<Record<number, Uint8Array>> = {
  0x74: new Uint8Array(Buffer.from("true", "latin1")),
  0x66: new Uint8Array(Buffer.from("false", "latin1")),
  0x6e: new Uint8Array(Buffer.from("null", "latin1"))
}

/** What the decoder is in the middle of. */
const enum Mode {
  Between,
  Container,
  String,
  Number,
  Literal
}

const showByte = (b: number): string =>
  b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `0x${b.toString(16).padStart(2, "0")}`

class JsonValuesDecoder implements Decoder<Uint8Array, FramingError> {
  poisoned: FramingError | undefined = undefined
  private readonly pending = new Pending()
  private mode = Mode.Between
  /** The closers of the open containers, innermost last. */
  private readonly closers: Array<number> = []
  private inString = false
  private escaped = false
  private literal: Uint8Array = LITERALS[0x74]!
  private literalAt = 0
  /** Stream offset of the first byte of the value in progress. */
  private valueStart = 0
  /** Stream offset of the next chunk's first byte. */
  private consumed = 0

  constructor(private readonly config: JsonValuesConfig) {}

  get buffered(): number {
    return this.pending.length
  }

  push(chunk: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    const base = this.consumed
    const n = chunk.length
    const max = this.config.maxFrameBytes
    let pos = 0
    while (pos < n) {
      let from = pos
      if (this.mode === Mode.Between) {
        while (pos < n && isWhitespace(chunk[pos]!)) pos++
        if (pos === n) break
        const error = this.begin(chunk[pos]!, base + pos)
        if (error !== undefined) return this.poison(error)
        from = pos
        pos++
      }
      // Scan at most up to the byte that would pass the limit.
      const room = max - this.pending.length - (pos - from)
      const end = Math.min(n, pos + room)
      let stop = this.scan(chunk, pos, end, base)
      if (stop === -2) return this.poisoned
      if (stop === -1 && end < n) {
        // The limit is reached inside the chunk: a number may still end right there.
        if (this.mode === Mode.Number && !isNumberByte(chunk[end]!)) stop = end
        else return this.poison(this.tooLarge(this.pending.length + end - from + 1, chunk, from))
      }
      if (stop === -1) {
        this.pending.pushFrom(chunk, from)
        break
      }
      const frame = this.pending.take(chunk.subarray(from, stop))
      if (this.mode === Mode.Number && !NUMBER.test(asBuffer(frame).toString("latin1"))) {
        return this.poison(this.malformed(this.valueStart, "not a valid JSON number", frame))
      }
      out.push(frame)
      this.mode = Mode.Between
      pos = stop
    }
    this.consumed = base + n
    return undefined
  }

  end(out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    if (this.mode === Mode.Between) return undefined
    if (this.mode === Mode.Number) {
      const frame = this.pending.take()
      if (!NUMBER.test(asBuffer(frame).toString("latin1"))) {
        return this.poison(this.malformed(this.valueStart, "not a valid JSON number", frame))
      }
      this.mode = Mode.Between
      out.push(frame)
      return undefined
    }
    return this.poison(
      new UnexpectedEof({
        codec: NAME,
        offset: this.valueStart,
        buffered: this.pending.length,
        expected: this.mode === Mode.Literal ? this.literal.length : undefined,
        preview: preview(this.pending.head(16))
      })
    )
  }

  /** Starts a value at byte `b` (stream offset `offset`), or says why it cannot start one. */
  private begin(b: number, offset: number): FramingError | undefined {
    this.valueStart = offset
    switch (b) {
      case LBRACE:
      case LBRACKET:
        this.mode = Mode.Container
        this.closers.length = 0
        this.closers.push(b === LBRACE ? RBRACE : RBRACKET)
        this.inString = false
        this.escaped = false
        return undefined
      case QUOTE:
        this.mode = Mode.String
        this.escaped = false
        return undefined
      case 0x74:
      case 0x66:
      case 0x6e:
        this.mode = Mode.Literal
        this.literal = LITERALS[b]!
        this.literalAt = 1
        return undefined
      default:
        if (b === MINUS || (b >= 0x30 && b <= 0x39)) {
          this.mode = Mode.Number
          return undefined
        }
        return this.malformed(offset, `byte ${showByte(b)} cannot start a JSON value`, Uint8Array.of(b))
    }
  }

  /**
   * Scans `chunk[pos, end)` inside the current value. Returns the index just past the value's
   * last byte, -1 if the value goes on past `end`, or -2 after poisoning the decoder.
   */
  private scan(chunk: Uint8Array, pos: number, end: number, base: number): number {
    switch (this.mode) {
      case Mode.Container: {
        const closers = this.closers
        let inString = this.inString
        let escaped = this.escaped
        for (let i = pos; i < end; i++) {
          const b = chunk[i]!
          if (inString) {
            if (escaped) escaped = false
            else if (b === BACKSLASH) escaped = true
            else if (b === QUOTE) inString = false
            continue
          }
          if (b === QUOTE) inString = true
          else if (b === LBRACE) closers.push(RBRACE)
          else if (b === LBRACKET) closers.push(RBRACKET)
          else if (b === RBRACE || b === RBRACKET) {
            const expected = closers.pop()
            if (expected !== b) {
              this.poison(this.malformed(
                base + i,
                `${showByte(b)} closes the ${showByte(expected === RBRACE ? LBRACE : LBRACKET)} opened before it`,
                chunk.subarray(i)
              ))
              return -2
            }
            if (closers.length === 0) return i + 1
          }
        }
        this.inString = inString
        this.escaped = escaped
        return -1
      }
      case Mode.String: {
        let escaped = this.escaped
        for (let i = pos; i < end; i++) {
          const b = chunk[i]!
          if (escaped) escaped = false
          else if (b === BACKSLASH) escaped = true
          else if (b === QUOTE) return i + 1
        }
        this.escaped = escaped
        return -1
      }
      case Mode.Number: {
        for (let i = pos; i < end; i++) if (!isNumberByte(chunk[i]!)) return i
        return -1
      }
      case Mode.Literal: {
        const literal = this.literal
        for (let i = pos; i < end; i++) {
          if (chunk[i] !== literal[this.literalAt]) {
            const word = Buffer.from(literal).toString("latin1")
            this.poison(
              this.malformed(
                base + i,
                `expected ${JSON.stringify(word)}, got ${showByte(chunk[i]!)}`,
                chunk.subarray(i)
              )
            )
            return -2
          }
          if (++this.literalAt === literal.length) return i + 1
        }
        return -1
      }
      case Mode.Between:
        return pos
    }
  }

  private tooLarge(size: number, chunk: Uint8Array, from: number): FrameTooLarge {
    const head = this.pending.length > 0 ? this.pending.head(16) : chunk.subarray(from, from + 16)
    this.pending.clear()
    return new FrameTooLarge({
      codec: NAME,
      direction: "decode",
      limit: this.config.maxFrameBytes,
      size,
      announced: false,
      offset: this.valueStart,
      preview: preview(head)
    })
  }

  private malformed(offset: number, reason: string, bytes: Uint8Array): MalformedFrame {
    this.pending.clear()
    return new MalformedFrame({ codec: NAME, direction: "decode", reason, offset, preview: preview(bytes) })
  }

  private poison(error: FramingError): FramingError {
    this.poisoned = error
    return error
  }
}

/** For `typedSet.call(target, source, at)`: see `typedSet` in internal/bytes.ts for why. */
const typedSet = Uint8Array.prototype.set

class JsonValuesEncoder implements Encoder<Uint8Array, FramingError> {
  private offset = 0
  private readonly separator: Uint8Array

  constructor(private readonly config: JsonValuesConfig) {
    this.separator = new Uint8Array(Buffer.from(config.separator, "latin1"))
  }

  push(frame: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    const error = this.check(frame, this.offset)
    if (error !== undefined) return error
    out.push(frame)
    if (this.separator.length > 0) out.push(this.separator)
    this.offset += frame.length + this.separator.length
    return undefined
  }

  pushAll(frames: ReadonlyArray<Uint8Array>, out: Array<Uint8Array>): FramingError | undefined {
    if (frames.length === 1) return this.push(frames[0]!, out)
    const separator = this.separator
    // Every frame is checked before anything is written; a refused one ends the batch there,
    // after the frames before it, as one `push` per frame would.
    let total = 0
    let count = 0
    let error: FramingError | undefined = undefined
    for (; count < frames.length; count++) {
      const frame = frames[count]!
      error = this.check(frame, this.offset + total)
      if (error !== undefined) break
      total += frame.length + separator.length
    }
    if (total > 0) {
      const bytes = Buffer.allocUnsafe(total)
      let pos = 0
      for (let i = 0; i < count; i++) {
        const frame = frames[i]!
        if (frame.length <= 64) typedSet.call(bytes, frame, pos)
        else bytes.set(frame, pos)
        pos += frame.length
        for (let j = 0; j < separator.length; j++) bytes[pos++] = separator[j]!
      }
      out.push(bytes)
      this.offset += total
    }
    return error
  }

  /**
   * Why `frame` cannot be encoded at stream offset `offset`, or `undefined`: it must read back as
   * itself, one whole value, no surrounding whitespace, in the limit.
   */
  private check(frame: Uint8Array, offset: number): FramingError | undefined {
    if (frame.length > this.config.maxFrameBytes) {
      return FrameTooLarge.toEncode(NAME, this.config.maxFrameBytes, frame.length, offset, frame)
    }
    if (frame.length === 0) return this.malformed(frame, "an empty frame is not a JSON value", offset)
    if (isWhitespace(frame[0]!) || isWhitespace(frame[frame.length - 1]!)) {
      return this.malformed(
        frame,
        "a frame must not start or end with whitespace (it would be read back without it)",
        offset
      )
    }
    const decoder = new JsonValuesDecoder(this.config)
    const got: Array<Uint8Array> = []
    const error = decoder.push(frame, got) ?? decoder.end(got)
    if (error !== undefined) return this.malformed(frame, `not one JSON value: ${error.message}`, offset)
    if (got.length !== 1 || got[0]!.length !== frame.length) {
      return this.malformed(frame, `holds ${got.length} JSON values, not one`, offset)
    }
    if (this.separator.length === 0 && (frame[0] === MINUS || (frame[0]! >= 0x30 && frame[0]! <= 0x39))) {
      return this.malformed(frame, "a top-level number needs a non-empty separator to end it", offset)
    }
    return undefined
  }

  private malformed(frame: Uint8Array, reason: string, offset: number): MalformedFrame {
    return new MalformedFrame({ codec: NAME, direction: "encode", reason, offset, preview: preview(frame) })
  }
}
