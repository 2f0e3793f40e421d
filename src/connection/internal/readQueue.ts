/**
 * The bytes read from a socket and not yet consumed: a queue of chunks with a read position in
 * the first one, so taking bytes never copies more than it returns.
 */
import { asBuffer, concat, EMPTY } from "../../internal/bytes.js"

export class ReadQueue {
  /** An empty queue to share until bytes are queued (never pushed to; reading it changes nothing). */
  static readonly empty: ReadQueue = new ReadQueue()

  private chunks: Array<Uint8Array> = []
  /** Read position inside `chunks[0]`. */
  private head = 0
  length = 0

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.length += chunk.length
  }

  /** Removes and returns every queued chunk (zero-copy). */
  takeChunks(): Array<Uint8Array> {
    if (this.length === 0) return []
    const out = this.chunks
    if (this.head > 0 && out.length > 0) out[0] = out[0]!.subarray(this.head)
    this.chunks = []
    this.head = 0
    this.length = 0
    return out
  }

  /** Removes and returns up to `n` bytes. */
  take(n: number): Uint8Array {
    const want = Math.min(n, this.length)
    if (want === 0) return EMPTY
    const first = this.chunks[0]!
    if (first.length - this.head >= want) {
      const out = first.subarray(this.head, this.head + want)
      this.advance(want)
      return out
    }
    const out = new Uint8Array(want)
    let filled = 0
    while (filled < want) {
      const chunk = this.chunks[0]!
      const take = Math.min(chunk.length - this.head, want - filled)
      out.set(chunk.subarray(this.head, this.head + take), filled)
      filled += take
      this.advance(take)
    }
    return out
  }

  /**
   * The index just past the first occurrence of `separator`, searching from `from`, or -1.
   * Merges the queued chunks into one first, so a separator split across chunks is found.
   */
  indexAfter(separator: Uint8Array, from: number): number {
    this.coalesce()
    if (this.chunks.length === 0) return -1
    const view = asBuffer(this.chunks[0]!)
    const at = view.indexOf(separator, this.head + Math.max(0, from))
    return at === -1 ? -1 : at - this.head + separator.length
  }

  private coalesce(): void {
    if (this.chunks.length <= 1) return
    const parts = this.takeChunks()
    let total = 0
    for (const p of parts) total += p.length
    this.chunks = [concat(parts, total)]
    this.length = total
  }

  private advance(n: number): void {
    this.head += n
    this.length -= n
    while (this.chunks.length > 0 && this.head >= this.chunks[0]!.length) {
      this.head -= this.chunks[0]!.length
      this.chunks.shift()
    }
  }
}
