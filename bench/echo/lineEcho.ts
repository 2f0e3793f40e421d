/**
 * The line echo of the hand-written baseline, as one function per read: `indexOf(10)` over the
 * read with the unterminated rest carried over, `\r\n` accepted like the lines codec, lines capped
 * at 64 KiB, and the replies of the read (`ECHO: ` + line + `\n`) written into one buffer. Used by
 * the hand-written server and by effect-wire's `inline-hw` diagnostic handler, so both run the
 * same code.
 */
import { Buffer } from "node:buffer"
import { counters } from "./control.js"

const PREFIX = Buffer.from("ECHO: ")
const MAX_LINE = 65_536

// Line boundaries of the current read, reused across reads (the server is single-threaded).
const starts: Array<number> = []
const ends: Array<number> = []

/** The state of one connection: the unterminated rest of the last read. */
export class LineEcho {
  carry: Buffer | undefined = undefined
  /** Lines answered so far. */
  lines = 0

  /** The replies to `chunk`'s complete lines as one buffer (undefined: none), or "too-long". */
  push(chunk: Buffer): Buffer | undefined | "too-long" {
    const carry = this.carry
    const buf: Buffer = carry === undefined ? chunk : Buffer.concat([carry, chunk], carry.length + chunk.length)
    this.carry = undefined
    let pos = 0
    let size = 0
    let n = 0
    let nl = buf.indexOf(10)
    while (nl !== -1) {
      const end = nl > pos && buf[nl - 1] === 13 ? nl - 1 : nl
      starts[n] = pos
      ends[n] = end
      n++
      size += PREFIX.length + (end - pos) + 1
      pos = nl + 1
      nl = buf.indexOf(10, pos)
    }
    if (pos < buf.length) {
      if (buf.length - pos > MAX_LINE + 1) return "too-long"
      this.carry = buf.subarray(pos)
    }
    if (n === 0) return undefined
    counters.frames += n
    this.lines += n
    const out = Buffer.allocUnsafe(size)
    let at = 0
    for (let i = 0; i < n; i++) {
      at += PREFIX.copy(out, at)
      at += buf.copy(out, at, starts[i]!, ends[i]!)
      out[at++] = 10
    }
    return out
  }
}
