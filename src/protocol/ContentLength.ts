/**
 * Content-Length framed messages: the base protocol of LSP, the Debug Adapter Protocol and
 * JSON-RPC over stdio. Each message is a block of header lines, an empty line, then a body of
 * exactly the announced number of bytes.
 *
 * ```text
 *   ┌──────────────────────────┬───────────────────────────────────┬──────┬──────────────┐
 *   │ Content-Length: 43 \r \n │ Content-Type: application/… \r \n │ \r \n│ 43 body bytes│ ...
 *   └──────────────────────────┴───────────────────────────────────┴──────┴──────────────┘
 *    header block (at most maxHeaderBytes, the empty line included)          frame (the body)
 * ```
 *
 * - Every header line is `Name: value` ended by `\r\n`. Names are HTTP tokens, compared without
 *   regard to case; spaces and tabs around a value are ignored. `Content-Length` is required and
 *   other headers (`Content-Type`…) are accepted and ignored.
 * - Strict parsing, each a `MalformedFrame`: a line ended by a bare `\n` (raised at that `\n`, so
 *   it never hangs), a control byte or stray `\r` in a line, a line without a colon, an empty or
 *   invalid name (which also catches folded continuation lines), a Content-Length that is not
 *   only ASCII digits (`43xyz`, `-5`, `+43`, `NaN`, empty), a second Content-Length header even
 *   with the same value (a peer announcing two lengths is broken or smuggling), and a header
 *   block with no Content-Length.
 * - The length counts UTF-8 bytes of the body. A peer that counts characters announces too few:
 *   the decoder hands on a truncated body and reads the rest as the next header block, which
 *   then fails (its first line has a bad name or it lacks a Content-Length), so messages are
 *   never silently glued together.
 * - Two limits. `maxFrameBytes` (default 1 MiB) counts the body; a larger Content-Length is
 *   `FrameTooLarge` (with `announced: true`) as soon as its header line is complete, before any
 *   body byte is buffered. `maxHeaderBytes` (default 8 KiB) counts the header block from its
 *   first byte through the empty line; a block that reaches `maxHeaderBytes + 1` bytes without
 *   ending is `FrameTooLarge` (`announced: false`, `limit` = `maxHeaderBytes`,
 *   `size` = `maxHeaderBytes + 1`), so at most that many header bytes are ever held.
 * - Order of checks: header lines are checked one at a time as each `\n` arrives, first against
 *   the header limit, then for their syntax; the first failing check wins. Every check depends
 *   only on the bytes before it, so the error and its offset do not depend on chunking. The
 *   header is scanned incrementally: each byte is searched and parsed once, whatever the
 *   chunking (linear on a 1-byte trickle).
 * - Every error carries the stream offset where its message starts; a header error's reason
 *   also names the offset of the offending line, and its preview shows that line.
 * - End of input between messages is a clean end. Inside a header block or a body it is
 *   `UnexpectedEof`: `buffered` counts the message's bytes received (header included) and
 *   `expected` the header plus the body, once the header block is complete.
 * - Every error poisons the decoder.
 * - The encoder writes `Content-Length: N\r\n`, then `Content-Type: …\r\n` when `contentType` is
 *   set, then `\r\n` and the body, and rejects a body over `maxFrameBytes`.
 *
 * @since 0.1.0
 */
import { Buffer } from "node:buffer"
import { asBuffer, EMPTY, Pending, preview } from "../internal/bytes.js"
import { intOption, require } from "../internal/options.js"
import type { Codec, Decoder, Encoder } from "./Codec.js"
import { FrameTooLarge, type FramingError, MalformedFrame, UnexpectedEof } from "./FramingError.js"

const LF = 0x0a
const CR = 0x0d
const HTAB = 0x09
const SP = 0x20
const COLON = 0x3a

/**
 * Options of `contentLength`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContentLengthOptions {
  /** Largest body in bytes. Default 1,048,576. */
  readonly maxFrameBytes?: number
  /** Largest header block in bytes, its final empty line included. Default 8,192. */
  readonly maxHeaderBytes?: number
  /** A `Content-Type` value the encoder adds to every message; none by default. */
  readonly contentType?: string
}

/**
 * The resolved settings of a content-length codec.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContentLengthConfig {
  readonly maxFrameBytes: number
  readonly maxHeaderBytes: number
  readonly contentType: string | undefined
}

/**
 * A codec of Content-Length framed messages (LSP / JSON-RPC base protocol).
 *
 * @since 0.1.0
 * @category models
 */
export interface ContentLengthCodec extends Codec<Uint8Array, FramingError> {
  readonly config: ContentLengthConfig
}

const NAME = "contentLength"

/** Bytes allowed in a header name (RFC 9110 `tchar`). */
const TOKEN = (() => {
  const table = new Uint8Array(256)
  for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
    table[c.charCodeAt(0)] = 1
  }
  return table
})()

const CONTENT_LENGTH = Array.from("content-length", (c) => c.charCodeAt(0))

/** Whether `line[0, end)` is the name `Content-Length`, in any case. */
const isContentLength = (line: Uint8Array, end: number): boolean => {
  if (end !== CONTENT_LENGTH.length) return false
  for (let i = 0; i < end; i++) {
    const b = line[i]!
    if ((b >= 0x41 && b <= 0x5a ? b | 0x20 : b) !== CONTENT_LENGTH[i]) return false
  }
  return true
}

/** `bytes[start, end)` as a quoted string for error reasons (Latin-1, at most 32 characters). */
const quote = (bytes: Uint8Array, start: number, end: number): string => {
  const text = asBuffer(bytes).toString("latin1", start, Math.min(end, start + 32))
  return JSON.stringify(end - start > 32 ? `${text}…` : text)
}

const headerPrefix = (contentType: string | undefined): string =>
  contentType === undefined ? "" : `Content-Type: ${contentType}\r\n`

/** The size of the header block the encoder writes for a body of `length` bytes. */
const encodedHeaderBytes = (length: number, contentType: string | undefined): number =>
  `Content-Length: ${length}\r\n${headerPrefix(contentType)}\r\n`.length

/**
 * Builds a codec of Content-Length framed messages, as spoken by language servers and other
 * JSON-RPC peers over stdio or sockets. Frames are the message bodies.
 *
 * @example
 * ```ts
 * import { Codec, Framing } from "effect-wire"
 *
 * const codec = Framing.contentLength({ contentType: "application/vscode-jsonrpc; charset=utf-8" })
 * const { frames } = Codec.decodeAll(codec, [Buffer.from("Content-Length: 2\r\n\r\n{}")])
 * console.log(frames.map((frame) => Buffer.from(frame).toString()))
 * // Output: [ '{}' ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const contentLength = (options: ContentLengthOptions = {}): ContentLengthCodec => {
  const contentType = options.contentType
  require(
    NAME,
    contentType === undefined ||
      (typeof contentType === "string" && /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(contentType)),
    `option contentType must be printable ASCII without leading or trailing spaces, got ${JSON.stringify(contentType)}`
  )
  const config: ContentLengthConfig = {
    maxFrameBytes: intOption(NAME, "maxFrameBytes", options.maxFrameBytes, 1_048_576, 0),
    maxHeaderBytes: intOption(NAME, "maxHeaderBytes", options.maxHeaderBytes, 8192, 0),
    contentType
  }
  const needed = encodedHeaderBytes(config.maxFrameBytes, contentType)
  require(
    NAME,
    needed <= config.maxHeaderBytes,
    `option maxHeaderBytes (${config.maxHeaderBytes}) is smaller than the ${needed}-byte header the encoder writes ` +
      `for a body of maxFrameBytes`
  )
  return {
    name: NAME,
    config,
    decoder: () => new ContentLengthDecoder(config),
    encoder: () => new ContentLengthEncoder(config)
  }
}

class ContentLengthDecoder implements Decoder<Uint8Array, FramingError> {
  poisoned: FramingError | undefined = undefined
  /** The unfinished header line, or the body bytes received in earlier chunks. */
  private readonly pending = new Pending()
  /** Stream offset of the first byte of the next chunk. */
  private consumed = 0
  private messageStart = 0
  /** Header bytes of the current message seen so far (0: between messages). */
  private headerBytes = 0
  /** The Content-Length read from the current header block, or -1. */
  private length = -1
  /** Body length of the current message, or -1 while its header block is being read. */
  private need = -1

  constructor(private readonly config: ContentLengthConfig) {}

  get buffered(): number {
    return this.pending.length
  }

  push(chunk: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    const n = chunk.length
    const buf = asBuffer(chunk)
    const base = this.consumed
    const pending = this.pending
    let pos = 0
    while (pos < n) {
      if (this.need < 0) {
        if (this.headerBytes === 0) this.messageStart = base + pos
        const nl = buf.indexOf(LF, pos)
        const stop = nl === -1 ? n : nl + 1
        const seen = this.headerBytes + stop - pos
        if (seen > this.config.maxHeaderBytes) return this.poison(this.headerTooLarge(chunk, pos))
        if (nl === -1) {
          pending.pushFrom(chunk, pos)
          this.headerBytes = seen
          break
        }
        const lineOffset = base + pos - pending.length
        const line = pending.length === 0 ? chunk.subarray(pos, stop) : pending.take(chunk.subarray(pos, stop))
        this.headerBytes = seen
        pos = stop
        const error = this.headerLine(line, lineOffset)
        if (error !== undefined) return this.poison(error)
        if (this.need === 0) this.done(EMPTY, out)
        continue
      }
      const want = this.need - pending.length
      if (n - pos < want) {
        pending.pushFrom(chunk, pos)
        break
      }
      const end = pos + want
      this.done(pending.length === 0 ? chunk.subarray(pos, end) : pending.take(chunk.subarray(pos, end)), out)
      pos = end
    }
    this.consumed = base + n
    return undefined
  }

  end(_out: Array<Uint8Array>): FramingError | undefined {
    if (this.poisoned !== undefined) return this.poisoned
    if (this.need < 0 && this.headerBytes === 0) return undefined
    const inBody = this.need >= 0
    return this.poison(
      new UnexpectedEof({
        codec: NAME,
        offset: this.messageStart,
        buffered: inBody ? this.headerBytes + this.pending.length : this.headerBytes,
        expected: inBody ? this.headerBytes + this.need : undefined,
        preview: preview(this.pending.head(16))
      })
    )
  }

  private done(body: Uint8Array, out: Array<Uint8Array>): void {
    out.push(body)
    this.need = -1
    this.length = -1
    this.headerBytes = 0
  }

  /** Checks one header line (ending in `\n`); on the empty line, starts the body. */
  private headerLine(line: Uint8Array, lineOffset: number): FramingError | undefined {
    const lf = line.length - 1
    if (lf === 0 || line[lf - 1] !== CR) {
      return this.malformed(line, `header line at offset ${lineOffset} ends with a bare \\n instead of \\r\\n`)
    }
    const end = lf - 1
    if (end === 0) {
      if (this.length < 0) return this.malformed(line, "the header block has no Content-Length header")
      this.need = this.length
      return undefined
    }
    let colon = -1
    for (let i = 0; i < end; i++) {
      const b = line[i]!
      if ((b < SP && b !== HTAB) || b === 0x7f) {
        const what = b === CR ? "a stray \\r" : `the control byte 0x${b.toString(16).padStart(2, "0")}`
        return this.malformed(line, `header line at offset ${lineOffset} contains ${what}`)
      }
      if (b === COLON && colon === -1) colon = i
    }
    if (colon === -1) return this.malformed(line, `header line at offset ${lineOffset} has no colon`)
    if (colon === 0) return this.malformed(line, `header line at offset ${lineOffset} has an empty name`)
    for (let i = 0; i < colon; i++) {
      if (TOKEN[line[i]!] === 0) {
        return this.malformed(line, `header name ${quote(line, 0, colon)} at offset ${lineOffset} is not a valid token`)
      }
    }
    if (!isContentLength(line, colon)) return undefined
    if (this.length >= 0) return this.malformed(line, `duplicate Content-Length header at offset ${lineOffset}`)
    let from = colon + 1
    let to = end
    while (from < to && (line[from] === SP || line[from] === HTAB)) from++
    while (to > from && (line[to - 1] === SP || line[to - 1] === HTAB)) to--
    if (from === to) return this.malformed(line, `Content-Length at offset ${lineOffset} is empty`)
    let value = 0
    for (let i = from; i < to; i++) {
      const d = line[i]! - 0x30
      if (d < 0 || d > 9) {
        return this.malformed(line, `Content-Length ${quote(line, from, to)} is not a decimal number of bytes`)
      }
      value = value * 10 + d
    }
    if (value > this.config.maxFrameBytes) {
      return new FrameTooLarge({
        codec: NAME,
        direction: "decode",
        limit: this.config.maxFrameBytes,
        // Exact up to 2^53 - 1, approximate above (Infinity past 308 digits); never used as a length.
        size: value,
        announced: true,
        offset: this.messageStart,
        preview: preview(line)
      })
    }
    this.length = value
    return undefined
  }

  private headerTooLarge(chunk: Uint8Array, pos: number): FrameTooLarge {
    const head = this.pending.length > 0 ? this.pending.head(16) : chunk.subarray(pos, pos + 16)
    return new FrameTooLarge({
      codec: NAME,
      direction: "decode",
      limit: this.config.maxHeaderBytes,
      size: this.config.maxHeaderBytes + 1,
      announced: false,
      offset: this.messageStart,
      preview: preview(head)
    })
  }

  private malformed(line: Uint8Array, reason: string): MalformedFrame {
    return new MalformedFrame({
      codec: NAME,
      direction: "decode",
      reason,
      offset: this.messageStart,
      preview: preview(line)
    })
  }

  private poison(error: FramingError): FramingError {
    this.pending.clear()
    this.poisoned = error
    return error
  }
}

const utf8 = new TextEncoder()
/** What every header block the encoder writes starts with. */
const LENGTH_NAME = utf8.encode("Content-Length: ")

/** The number of decimal digits of `n`, an integer ≥ 0. */
const digitCount = (n: number): number => {
  let count = 1
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) count++
  return count
}

/** Bodies up to this size are copied next to their header; larger ones are written as they are. */
const SMALL_FRAME = 256

/** For `typedSet.call(target, source, at)`: see `typedSet` in internal/bytes.ts for why. */
const typedSet = Uint8Array.prototype.set

class ContentLengthEncoder implements Encoder<Uint8Array, FramingError> {
  private offset = 0
  /** What follows the length's digits: `\r\n`, the Content-Type line if any, `\r\n`. */
  private readonly suffix: Uint8Array

  constructor(private readonly config: ContentLengthConfig) {
    this.suffix = utf8.encode(`\r\n${headerPrefix(config.contentType)}\r\n`)
  }

  push(frame: Uint8Array, out: Array<Uint8Array>): FramingError | undefined {
    if (frame.length > this.config.maxFrameBytes) {
      return FrameTooLarge.toEncode(NAME, this.config.maxFrameBytes, frame.length, this.offset, frame)
    }
    const n = frame.length
    const header = this.headerBytes(n)
    if (n <= SMALL_FRAME) {
      // One part for header and body: cheaper than two parts joined later.
      const whole = Buffer.allocUnsafe(header + n)
      whole.set(frame, this.writeHeader(whole, 0, n))
      out.push(whole)
    } else {
      const bytes = new Uint8Array(header)
      this.writeHeader(bytes, 0, n)
      out.push(bytes, frame)
    }
    this.offset += header + n
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
      total += this.headerBytes(n) + n
    }
    if (total > 0) {
      const bytes = Buffer.allocUnsafe(total)
      let pos = 0
      for (let i = 0; i < count; i++) {
        const frame = frames[i]!
        pos = this.writeHeader(bytes, pos, frame.length)
        if (frame.length <= 64) typedSet.call(bytes, frame, pos)
        else bytes.set(frame, pos)
        pos += frame.length
      }
      out.push(bytes)
      this.offset += total
    }
    return error
  }

  /** The size of the header block for a body of `n` bytes. */
  private headerBytes(n: number): number {
    return LENGTH_NAME.length + digitCount(n) + this.suffix.length
  }

  /** Writes the header block for a body of `n` bytes at `bytes[at]`; returns the index after it. */
  private writeHeader(bytes: Uint8Array, at: number, n: number): number {
    bytes.set(LENGTH_NAME, at)
    let pos = at + LENGTH_NAME.length + digitCount(n)
    const end = pos
    let rest = n
    do {
      bytes[--pos] = 0x30 + (rest % 10)
      rest = Math.floor(rest / 10)
    } while (rest > 0)
    const suffix = this.suffix
    for (let i = 0; i < suffix.length; i++) bytes[end + i] = suffix[i]!
    return end + suffix.length
  }
}
