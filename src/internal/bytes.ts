/**
 * Byte helpers shared by the codecs. Node's `Buffer` is used for its native `indexOf`, `concat`
 * and `toString`; every frame handed to users is a plain `Uint8Array` view.
 */
import { Buffer } from "node:buffer"

/** An empty chunk, shared. */
export const EMPTY: Uint8Array = new Uint8Array(0)

/** Views a `Uint8Array` as a `Buffer` without copying. */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const typedIndexOf = Uint8Array.prototype.indexOf
/**
 * `typedSet.call(target, source, at)` copies as `target.set(source, at)` does, and costs less for
 * small arrays in the copy loops of `concat` and the encoders' `pushAll` (Node 20: about a third
 * less per 16-byte frame); for 1 KiB frames `set` measured faster in `pushAll`, so the encoders
 * use it past 64 bytes. Each module holds its own constant: with the constant imported from here
 * instead, `pushAll` of 16-byte lines measured slower than with `set`.
 */
const typedSet = Uint8Array.prototype.set
/**
 * Arrays up to this long are searched by V8's `TypedArray#indexOf`, which costs less to call;
 * longer ones by `Buffer#indexOf` (native memchr, faster per byte).
 */
const SHORT_SEARCH = 128

/** The first index of `byte` in `bytes`, or -1. */
export const indexOfByte = (bytes: Uint8Array, byte: number): number =>
  bytes.length <= SHORT_SEARCH ? typedIndexOf.call(bytes, byte) : asBuffer(bytes).indexOf(byte)

const PREVIEW_BYTES = 16
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

/**
 * A hex + ASCII preview of at most 16 bytes from `start`, e.g. `47 45 54 20 |GET |`. Non-printable
 * bytes show as `.` in the ASCII part; a longer range ends with `…`.
 */
export const preview = (bytes: Uint8Array, start = 0, end = bytes.length): string => {
  const stop = Math.min(end, start + PREVIEW_BYTES)
  if (stop <= start) return ""
  let hex = ""
  let ascii = ""
  for (let i = start; i < stop; i++) {
    const b = bytes[i]!
    hex += (i === start ? "" : " ") + HEX[b]!
    ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "."
  }
  return `${hex} |${ascii}|${end > stop ? "…" : ""}`
}

/** Concatenates parts into one array (returns the part itself when there is one). */
export const concat = (parts: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  if (parts.length === 0) return EMPTY
  const out = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    const n = part.length
    // Replies are many small parts (a frame, its delimiter): copying a delimiter here costs less
    // than a call; past 4 bytes the call through a module constant is cheaper than the loop
    // (16-byte frames with their `\n`: about 40 ns a frame instead of 60, Node 20).
    if (n <= 4) {
      for (let j = 0; j < n; j++) out[at + j] = part[j]!
    } else {
      typedSet.call(out, part, at)
    }
    at += n
  }
  return out
}

/**
 * Bytes of an unfinished frame, kept as the list of chunk slices that carried them so that a
 * frame spread over many chunks is copied once, when it completes (linear in its size, whatever
 * the chunking).
 */
export class Pending {
  parts: Array<Uint8Array> = []
  length = 0

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.parts.push(bytes)
    this.length += bytes.length
  }

  /** Keeps `bytes[start..]`; the whole chunk is kept without making a view when `start` is 0. */
  pushFrom(bytes: Uint8Array, start: number): void {
    this.push(start === 0 ? bytes : bytes.subarray(start))
  }

  /** The pending bytes followed by `tail`, as one array; empties the buffer. */
  take(tail: Uint8Array = EMPTY): Uint8Array {
    if (this.length === 0) return tail
    if (tail.length > 0) this.push(tail)
    const out = concat(this.parts, this.length)
    this.parts = []
    this.length = 0
    return out
  }

  /** The byte at `index` of the pending bytes (0 ≤ index < length). */
  at(index: number): number {
    let i = index
    for (const part of this.parts) {
      if (i < part.length) return part[i]!
      i -= part.length
    }
    return -1
  }

  /** The first `n` pending bytes (for error previews). */
  head(n: number): Uint8Array {
    const out = new Uint8Array(Math.min(n, this.length))
    let filled = 0
    for (const part of this.parts) {
      if (filled >= out.length) break
      const take = Math.min(part.length, out.length - filled)
      out.set(take === part.length ? part : part.subarray(0, take), filled)
      filled += take
    }
    return out
  }

  clear(): void {
    this.parts = []
    this.length = 0
  }
}
