import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { Codec, Laws } from "../../src/index.js"
import { fixed } from "../../src/protocol/Fixed.js"
import { bytes, hex, hexes, texts } from "./helpers.js"

describe("Framing.fixed", () => {
  describe("decoding", () => {
    it("cuts one chunk into frames of exactly n bytes, as views of it", () => {
      const chunk = bytes("abcdefgh")
      const { error, frames } = Codec.decodeAll(fixed(4), [chunk])
      expect(error).toBeUndefined()
      expect(texts(frames)).toEqual(["abcd", "efgh"])
      expect(frames.every((f) => f.buffer === chunk.buffer)).toBe(true)
    })

    it("joins one frame spread over three chunks", () => {
      const r = Codec.decodeAll(fixed(5), [bytes("he"), bytes("l"), bytes("lo wo")])
      expect(texts(r.frames)).toEqual(["hello"])
      expect(r.error).toMatchObject({ _tag: "UnexpectedEof", offset: 5, buffered: 3, expected: 5 })
    })

    it("handles a frame boundary exactly at a chunk end", () => {
      const r = Codec.decodeAll(fixed(2), [bytes("ab"), bytes("cd"), bytes("e"), bytes("f")])
      expect(r).toMatchObject({ error: undefined })
      expect(texts(r.frames)).toEqual(["ab", "cd", "ef"])
    })

    it("decodes 1-byte frames and 1-byte chunks", () => {
      expect(hexes(Codec.decodeAll(fixed(1), [hex("00 ff"), hex("7f")]).frames)).toEqual(["00", "ff", "7f"])
      const input = bytes("0123456789ab")
      const chunks = Array.from(input, (b) => Uint8Array.of(b))
      expect(texts(Codec.decodeAll(fixed(3), chunks).frames)).toEqual(["012", "345", "678", "9ab"])
    })

    it("buffers only the unfinished frame", () => {
      const decoder = fixed(4).decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(bytes("abcdef"), out)).toBeUndefined()
      expect(decoder.buffered).toBe(2)
      expect(decoder.push(bytes("gh"), out)).toBeUndefined()
      expect(decoder.buffered).toBe(0)
      expect(texts(out)).toEqual(["abcd", "efgh"])
    })
  })

  describe("end of input", () => {
    it("ends cleanly on empty input and at a frame boundary", () => {
      expect(Codec.decodeAll(fixed(3), [])).toEqual({ frames: [], error: undefined })
      expect(Codec.decodeAll(fixed(3), [bytes("abc")]).error).toBeUndefined()
    })

    it("fails inside a frame with its offset, the bytes received and n expected", () => {
      const r = Codec.decodeAll(fixed(4), [bytes("abcdef")])
      expect(texts(r.frames)).toEqual(["abcd"])
      expect(r.error).toMatchObject({
        _tag: "UnexpectedEof",
        codec: "fixed(4)",
        offset: 4,
        buffered: 2,
        expected: 4,
        preview: "65 66 |ef|"
      })
      expect(r.error?.message).toContain("2 of 4 bytes")
    })

    it("stays failed after end of input", () => {
      const decoder = fixed(2).decoder()
      const out: Array<Uint8Array> = []
      decoder.push(bytes("a"), out)
      const error = decoder.end(out)
      expect(decoder.poisoned).toBe(error)
      expect(decoder.push(bytes("b"), out)).toBe(error)
      expect(decoder.end(out)).toBe(error)
      expect(out).toEqual([])
    })
  })

  describe("encoding", () => {
    it("writes a frame of n bytes as is", () => {
      const frame = bytes("abcd")
      const parts: Array<Uint8Array> = []
      expect(fixed(4).encoder().push(frame, parts)).toBeUndefined()
      expect(parts).toEqual([frame])
      expect(parts[0]).toBe(frame)
    })

    it("rejects a frame of another size, naming both sizes, writing nothing", () => {
      const encoder = fixed(4).encoder()
      const parts: Array<Uint8Array> = []
      expect(encoder.push(bytes("abcd"), parts)).toBeUndefined()
      const error = encoder.push(bytes("abcde"), parts)
      expect(error).toMatchObject({ _tag: "MalformedFrame", codec: "fixed(4)", direction: "encode", offset: 4 })
      expect(error?._tag === "MalformedFrame" && error.reason).toBe(
        "frame is 5 bytes, but every frame must be exactly 4 bytes"
      )
      expect(parts).toHaveLength(1)
      const short = Codec.encodeAll(fixed(4), [bytes("abc")])
      expect(Either.flip(short).pipe(Either.getOrThrow).message).toContain("frame is 3 bytes")
      expect(Codec.encodeAll(fixed(4), [new Uint8Array(0)])).toMatchObject({ left: { _tag: "MalformedFrame" } })
    })
  })

  describe("options", () => {
    it("are validated when the codec is built", () => {
      for (const bad of [0, -1, 1.5, 2 ** 31, Number.NaN]) {
        expect(() => fixed(bad)).toThrow(/fixed: option n must be an integer from 1 to 2147483647/)
      }
      expect(fixed(2 ** 31 - 1).config).toEqual({ frameBytes: 2 ** 31 - 1 })
      expect(fixed(8).name).toBe("fixed(8)")
    })
  })

  describe("laws", () => {
    for (const n of [1, 3, 16]) {
      const codec = fixed(n)
      const frames = fc.array(fc.uint8Array({ minLength: n, maxLength: n }), { maxLength: 6 })
      const props = Laws.properties(codec, { frames })
      it(`round trip under any chunking (${codec.name})`, () => {
        fc.assert(props.roundTrip, { numRuns: 40 })
      })
      it(`first error and offset do not depend on chunking (${codec.name})`, () => {
        fc.assert(props.errorInvariance, { numRuns: 60 })
      })
      it(`stays poisoned after a fatal error (${codec.name})`, () => {
        fc.assert(props.poisoning, { numRuns: 100 })
      })
    }
  })
})
