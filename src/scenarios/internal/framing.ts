/** The framings the CLI and the `serve` servers offer, by name, and what to say when a peer speaks another. */
import { Effect } from "effect"
import type { Codec } from "../../protocol/Codec.js"
import * as Framing from "../../protocol/Framing.js"
import * as FramingError from "../../protocol/FramingError.js"
import * as Output from "../Output.js"

export const FRAMINGS = ["lines", "length-prefixed", "varint", "content-length"] as const
export type FramingName = (typeof FRAMINGS)[number]

/** Limits of a framing: its frame (line) size and, for content-length, its header block size. */
export interface FramingLimits {
  readonly maxFrameBytes?: number
  readonly maxHeaderBytes?: number
}

/**
 * A fresh codec for a framing name; `maxFrameBytes` is a line's limit for lines, `maxHeaderBytes`
 * applies to content-length only. Bad limits throw `IllegalArgumentException` (as the codecs do).
 */
export const framingCodec = (
  name: FramingName,
  limits: FramingLimits = {}
): Codec<Uint8Array, FramingError.FramingError> => {
  const frame = limits.maxFrameBytes === undefined ? {} : { maxFrameBytes: limits.maxFrameBytes }
  switch (name) {
    case "lines":
      return Framing.lines(limits.maxFrameBytes === undefined ? {} : { maxLineBytes: limits.maxFrameBytes })
    case "length-prefixed":
      return Framing.lengthPrefixed(frame)
    case "varint":
      return Framing.varint(frame)
    case "content-length":
      return Framing.contentLength({
        ...frame,
        ...(limits.maxHeaderBytes === undefined ? {} : { maxHeaderBytes: limits.maxHeaderBytes })
      })
  }
}

/** The default limits of the framings, from the codecs themselves (for help texts). */
export const FRAMING_DEFAULTS = {
  maxLineBytes: Framing.lines().config.maxLineBytes,
  maxFrameBytes: Framing.lengthPrefixed().config.maxFrameBytes,
  maxHeaderBytes: Framing.contentLength().config.maxHeaderBytes
} as const

/** What each framing looks like on the wire, for help texts. */
export const FRAMING_HELP: Record<FramingName, string> = {
  lines: "text lines ending in \\n (netcat, telnet)",
  "length-prefixed": "4-byte big-endian length, then the payload (the chapter's JSON protocol)",
  varint: "unsigned LEB128 length, then the payload (protobuf style)",
  "content-length": "Content-Length: N header block, then the payload (LSP style)"
}

/**
 * The framing used when `--framing` is not given, so that `serve X` and `call` / `send
 * --format Y` agree out of the box: text (`serve echo`, `serve chat`, `--format text`) is lines,
 * JSON (`serve json-rpc`, `--format json`, `--format jsonrpc`) is the chapter's length prefix.
 */
export const defaultFraming = (what: "echo" | "chat" | "json-rpc" | "text" | "json" | "jsonrpc"): FramingName =>
  what === "json-rpc" || what === "json" || what === "jsonrpc" ? "length-prefixed" : "lines"

/** The CLI name of a framing codec (`Framing.lengthPrefixed()` → `length-prefixed`), else its own name. */
export const framingNameOf = (codec: { readonly name: string }): string =>
  FRAMINGS.find((name) => framingCodec(name).name === codec.name) ?? codec.name

/**
 * `error` when it is a framing error in the first frame received (stream offset 0): then the
 * peer most likely speaks another framing. A frame we failed to encode is not one.
 */
export const firstFrameError = (error: unknown): FramingError.FramingError | undefined => {
  if (!FramingError.isFramingError(error) || error.offset !== 0) return undefined
  return "direction" in error && error.direction === "encode" ? undefined : error
}

/** The bytes of a framing error's preview (`00 00 00 0b 45 43 |....EC|`). */
const previewBytes = (preview: string): Array<number> => {
  const bar = preview.indexOf("|")
  return (bar === -1 ? preview : preview.slice(0, bar)).split(" ").filter((h) => /^[0-9a-f]{2}$/.test(h)).map((h) =>
    parseInt(h, 16)
  )
}

const isText = (b: number) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d

/** The framing the first bytes of a stream look like, when they tell (a guess, for a hint). */
const looksLike = (bytes: ReadonlyArray<number>): FramingName | undefined => {
  if (bytes.length === 0) return undefined
  const ascii = String.fromCharCode(...bytes).toLowerCase()
  if (ascii.length >= 4 && "content-length:".startsWith(ascii.slice(0, 15))) return "content-length"
  // A 4-byte big-endian length of a frame under 16 MiB starts with a zero byte; text never does.
  if (bytes.length >= 4 && bytes[0] === 0) return "length-prefixed"
  if (bytes.every(isText)) return "lines"
  // A one-byte LEB128 length (a frame under 128 bytes), then text.
  if (bytes[0]! < 0x80 && !isText(bytes[0]!) && bytes.slice(1).every(isText)) return "varint"
  return undefined
}

/** `try --framing lines`, or the other framings when the bytes do not tell. */
const suggestion = (error: FramingError.FramingError, expected: string, flag: string): string => {
  const guess = looksLike(previewBytes(error.preview))
  if (guess !== undefined && guess !== expected) return `try ${flag} ${guess}`
  return `try another ${flag} (${FRAMINGS.filter((f) => f !== expected).join(", ")})`
}

/**
 * One line for a framing error in the first frame: which framing was expected, the error, and
 * the `--framing` the bytes suggest. `what` is what was read ("the reply", "the first request"),
 * `peer` who sent it ("server", "client"), `flag` the option to change (`--framing`, `serve
 * --framing`).
 */
export const framingMismatch = (
  options: { readonly what: string; readonly expected: string; readonly peer: string; readonly flag: string },
  error: FramingError.FramingError
): string =>
  `${options.what} is not ${options.expected} framing (${error.message}); is the ${options.peer} using another framing? ${
    suggestion(error, options.expected, options.flag)
  }`

/**
 * For the servers `serve` runs: when a connection fails on its first frame with a framing error,
 * one line saying which framing this server expects (the client most likely speaks another).
 */
export const reportFirstFrameError = (
  who: string,
  codec: { readonly name: string },
  error: unknown
): Effect.Effect<void, never, Output.Output> => {
  const first = firstFrameError(error)
  if (first === undefined) return Effect.void
  const line = framingMismatch(
    { what: `${who}: the first request`, expected: framingNameOf(codec), peer: "client", flag: "--framing" },
    first
  )
  return Output.line(`  [server] ${line}`, "warn")
}
