/**
 * Limits that keep a peer's JSON from taking the process down. `JSON.parse` accepts any nesting
 * (it is iterative), but `JSON.stringify`, Schema's formatters and most user code recurse once
 * per level: 10,000 levels of `[` (20 KB) overflow the stack far from the socket that sent them.
 * So a frame's nesting is checked before its value is used, and the strings that embed a bad
 * value (error details) are capped.
 */
import { intOption } from "../../internal/options.js"

/** The default nesting limit: gRPC's and Go protobuf's JSON limit, near Python's recursion guard. */
export const DEFAULT_MAX_DEPTH = 128

/**
 * The largest `maxDepth` accepted. On Node's default stack Schema's `TreeFormatter` overflows near
 * 2,000 levels and `JSON.stringify` near 4,000 (less inside a deep call chain): a limit must
 * leave room for them.
 */
export const MAX_MAX_DEPTH = 1024

/** `maxDepth` checked when a codec or format is built (`IllegalArgumentException` otherwise). */
export const maxDepthOption = (codec: string, value: number | undefined): number =>
  intOption(codec, "maxDepth", value, DEFAULT_MAX_DEPTH, 1, MAX_MAX_DEPTH)

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d

/**
 * How deeply `text` nests arrays and objects when that is more than `limit`, else 0 (a scalar
 * is depth 0, `[]` 1, `[[1]]` 2). Brackets inside strings do not count. Runs on every frame, so
 * it allocates nothing, and a text too short to hold `limit + 1` opening and closing brackets is
 * not scanned: any JSON that deep is longer. (A shorter text that is deeper is not JSON, which
 * `JSON.parse` reports.) The whole text is scanned otherwise, so that the error names the depth.
 */
export const depthBeyond = (text: string, limit: number): number => {
  const n = text.length
  if (n <= 2 * limit) return 0
  let depth = 0
  let max = 0
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      i = stringEnd(text, i)
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) max = depth
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--
    }
  }
  return max > limit ? max : 0
}

/**
 * The index of the quote closing the string opened at `open` (`text.length` when it is not
 * closed). `indexOf` jumps over the string's content (a native scan: long strings are most of a
 * large frame's bytes); a quote preceded by an odd number of backslashes is escaped.
 */
const stringEnd = (text: string, open: number): number => {
  let from = open
  for (;;) {
    const quote = text.indexOf("\"", from + 1)
    if (quote === -1) return text.length
    let b = quote - 1
    while (b > from && text.charCodeAt(b) === BACKSLASH) b--
    if ((quote - 1 - b) % 2 === 0) return quote
    from = quote
  }
}

/** Why a frame was refused: `JSON nested 10001 levels deep, limit 128`. */
export const depthMessage = (depth: number, limit: number): string => `JSON nested ${depth} levels deep, limit ${limit}`
