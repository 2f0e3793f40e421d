/** The framings the CLI and the `serve` servers offer, by name. */
import * as Framing from "../../protocol/Framing.js"
import type { Codec } from "../../protocol/Codec.js"
import type { FramingError } from "../../protocol/FramingError.js"

export const FRAMINGS = ["lines", "length-prefixed", "varint", "content-length"] as const
export type FramingName = (typeof FRAMINGS)[number]

/** A fresh codec for a framing name. */
export const framingCodec = (name: FramingName): Codec<Uint8Array, FramingError> => {
  switch (name) {
    case "lines":
      return Framing.lines()
    case "length-prefixed":
      return Framing.lengthPrefixed()
    case "varint":
      return Framing.varint()
    case "content-length":
      return Framing.contentLength()
  }
}

/** What each framing looks like on the wire, for help texts. */
export const FRAMING_HELP: Record<FramingName, string> = {
  lines: "text lines ending in \\n (netcat, telnet)",
  "length-prefixed": "4-byte big-endian length, then the payload (the chapter's JSON protocol)",
  varint: "unsigned LEB128 length, then the payload (protobuf style)",
  "content-length": "Content-Length: N header block, then the payload (LSP style)"
}
