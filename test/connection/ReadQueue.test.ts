import { describe, expect, it } from "@effect/vitest"
import { Buffer } from "node:buffer"
import { ReadQueue } from "../../src/connection/internal/readQueue.js"

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"))
const text = (b: Uint8Array): string => Buffer.from(b).toString("latin1")

const queueOf = (...chunks: Array<string>): ReadQueue => {
  const queue = new ReadQueue()
  for (const chunk of chunks) queue.push(bytes(chunk))
  return queue
}

describe("ReadQueue", () => {
  it("counts the bytes pushed and ignores empty chunks", () => {
    const queue = queueOf("ab", "", "cde")
    expect(queue.length).toBe(5)
    expect(queue.takeChunks().map(text)).toEqual(["ab", "cde"])
  })

  it("take within the first chunk returns a view of it, without copying", () => {
    const chunk = bytes("hello world")
    const queue = new ReadQueue()
    queue.push(chunk)
    const out = queue.take(5)
    expect(text(out)).toBe("hello")
    expect(out.buffer).toBe(chunk.buffer)
    expect(queue.length).toBe(6)
  })

  it("take collects bytes across chunk boundaries, continuing from where the last take stopped", () => {
    const queue = queueOf("ab", "cde", "f", "gh")
    expect(text(queue.take(1))).toBe("a")
    expect(text(queue.take(4))).toBe("bcde")
    expect(text(queue.take(2))).toBe("fg")
    expect(queue.length).toBe(1)
  })

  it("take returns what there is when asked for more, and an empty array when empty", () => {
    const queue = queueOf("ab", "c")
    expect(text(queue.take(10))).toBe("abc")
    expect(queue.length).toBe(0)
    expect(queue.take(1).length).toBe(0)
  })

  it("takeChunks after a partial take returns the rest of the first chunk, then the others, and empties the queue", () => {
    const queue = queueOf("abcd", "ef", "g")
    expect(text(queue.take(3))).toBe("abc")
    expect(queue.takeChunks().map(text)).toEqual(["d", "ef", "g"])
    expect(queue.length).toBe(0)
    expect(queue.takeChunks()).toEqual([])
    queue.push(bytes("next"))
    expect(text(queue.take(4))).toBe("next")
  })

  it("indexAfter finds a separator split across chunks and returns the index just past it", () => {
    const queue = queueOf("HEAD\r", "\n\r", "\nBODY")
    const at = queue.indexAfter(bytes("\r\n\r\n"), 0)
    expect(at).toBe(8)
    expect(text(queue.take(at))).toBe("HEAD\r\n\r\n")
    expect(text(queue.take(queue.length))).toBe("BODY")
  })

  it("indexAfter counts from the read position and searches from `from`", () => {
    const queue = queueOf("a\nb", "\nc")
    expect(text(queue.take(2))).toBe("a\n")
    expect(queue.indexAfter(bytes("\n"), 0)).toBe(2)
    expect(queue.indexAfter(bytes("\n"), 2)).toBe(-1)
    expect(queue.length).toBe(3)
    expect(text(queue.take(2))).toBe("b\n")
  })

  it("indexAfter returns -1 when the separator is absent or the queue is empty", () => {
    expect(queueOf("abc", "def").indexAfter(bytes("\n"), 0)).toBe(-1)
    expect(new ReadQueue().indexAfter(bytes("\n"), 0)).toBe(-1)
    // A separator cut off at the end of what has arrived is not found yet.
    expect(queueOf("abc\r").indexAfter(bytes("\r\n"), 0)).toBe(-1)
  })
})
