/** Small helpers that let tests script exact chunkings. */
import { Buffer } from "node:buffer"
import { Codec } from "../../src/index.js"

/** UTF-8 bytes of a string. */
export const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "utf8"))

/** Bytes from hex, spaces allowed: `hex("00 00 00 05")`. */
export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"))

/** Frames as UTF-8 strings. */
export const texts = (frames: ReadonlyArray<Uint8Array>): Array<string> =>
  frames.map((f) => Buffer.from(f).toString("utf8"))

/** Frames as hex strings. */
export const hexes = (frames: ReadonlyArray<Uint8Array>): Array<string> =>
  frames.map((f) => Buffer.from(f).toString("hex"))

/** Decodes chunks given as strings, returning frames as strings and the error. */
export const decodeTexts = <E>(codec: Codec.Codec<Uint8Array, E>, ...chunks: Array<string | Uint8Array>) => {
  const { error, frames } = Codec.decodeAll(codec, chunks.map((c) => (typeof c === "string" ? bytes(c) : c)))
  return { frames: texts(frames), error }
}
