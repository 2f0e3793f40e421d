import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, FastCheck as fc, Stream } from "effect"
import { Codec, Laws } from "../../src/index.js"
import { decodeVarint, encodeVarint, varint } from "../../src/protocol/Varint.js"
import { bytes, hex, hexes, texts } from "./helpers.js"

const filled = (n: number, start = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff)
const join = (...parts: Array<Uint8Array>): Uint8Array => Uint8Array.from(parts.flatMap((p) => Array.from(p)))

describe("Framing.varint", () => {
  describe("varints", () => {
    const golden: Array<[number, string]> = [
      [0, "00"],
      [1, "01"],
      [127, "7f"],
      [128, "8001"],
      [300, "ac02"],
      [16_383, "ff7f"],
      [16_384, "808001"],
      [2 ** 31 - 1, "ffffffff07"],
      [Number.MAX_SAFE_INTEGER, "ffffffffffffff0f"]
    ]

    it("encodes the golden vectors canonically", () => {
      for (const [n, encoded] of golden) expect(hexes([encodeVarint(n)])).toEqual([encoded])
    })

    it("decodes the golden vectors, at an offset too", () => {
      for (const [n, encoded] of golden) {
        expect(decodeVarint(hex(encoded))).toEqual({ value: n, length: encoded.length / 2 })
        expect(decodeVarint(hex(`aa ${encoded} bb`), 1)).toEqual({ value: n, length: encoded.length / 2 })
      }
    })

    it("reports a truncated varint as incomplete, not as a value", () => {
      expect(decodeVarint(hex("ac"))).toBeUndefined()
      expect(decodeVarint(hex(""))).toBeUndefined()
      expect(decodeVarint(hex("01 ac"), 1)).toBeUndefined()
    })

    it("rejects over-long, too long and unsafe encodings with the offset given", () => {
      expect(decodeVarint(hex("41 81 00"), 1)).toMatchObject({
        _tag: "InvalidVarint",
        reason: "non-canonical",
        offset: 1
      })
      expect(decodeVarint(hex("80 80 80 80 80 80 80 80 80 80 80 01"))).toMatchObject({ reason: "too-long" })
      expect(decodeVarint(hex("80 80 80 80 80 80 80 10"))).toMatchObject({ reason: "unsafe-integer" })
    })

    it("refuses to encode what it could not decode", () => {
      for (const n of [-1, 1.5, Number.NaN, 2 ** 53, Infinity]) expect(() => encodeVarint(n)).toThrow(/cannot encode/)
    })
  })

  describe("decoding", () => {
    it("decodes ac 02 + 300 bytes fed one byte at a time into one frame, only at its last byte", () => {
      const payload = filled(300)
      const input = join(hex("ac 02"), payload)
      const decoder = varint().decoder()
      const out: Array<Uint8Array> = []
      for (let i = 0; i < input.length; i++) {
        expect(decoder.push(input.subarray(i, i + 1), out)).toBeUndefined()
        expect(out.length).toBe(i === input.length - 1 ? 1 : 0)
      }
      expect(decoder.end(out)).toBeUndefined()
      expect(hexes(out)).toEqual(hexes([payload]))
    })

    it("decodes every frame of a chunk in one push, as views of that chunk", () => {
      const chunk = hex("05 68 65 6c 6c 6f 00 02 68 69")
      const out: Array<Uint8Array> = []
      expect(varint().decoder().push(chunk, out)).toBeUndefined()
      expect(texts(out)).toEqual(["hello", "", "hi"])
      expect(out[0]!.buffer).toBe(chunk.buffer)
      expect(out[2]!.buffer).toBe(chunk.buffer)
    })

    it("decodes a varint split across chunks and a boundary exactly at a chunk end", () => {
      const r = Codec.decodeAll(varint(), [hex("ac"), join(hex("02"), filled(100)), filled(200, 100), hex("01 41")])
      expect(r.error).toBeUndefined()
      expect(hexes(r.frames)).toEqual(hexes([filled(300), bytes("A")]))
    })

    it("emits zero-length frames", () => {
      const r = Codec.decodeAll(varint(), [hex("00 00 01 41 00")])
      expect(r).toEqual({
        frames: [new Uint8Array(0), new Uint8Array(0), bytes("A"), new Uint8Array(0)],
        error: undefined
      })
    })

    it("rejects the non-canonical 81 00 41 instead of reading frame [41] (it-length-prefixed's desync)", () => {
      const r = Codec.decodeAll(varint(), [hex("01 7a 81 00 41")])
      expect(texts(r.frames)).toEqual(["z"])
      expect(r.error).toMatchObject({ _tag: "InvalidVarint", reason: "non-canonical", offset: 2 })
      expect(r.error?.message).toContain("offset 2")
      expect(r.error?.message).toContain("81 00")
    })

    it("rejects a nine-byte zero-padded varint as non-canonical", () => {
      const r = Codec.decodeAll(varint(), [hex("80 80 80 80 80 80 80 80 00")])
      expect(r.error).toMatchObject({ _tag: "InvalidVarint", reason: "non-canonical", offset: 0 })
    })

    it("rejects a varint of 11 continuation bytes at its 10th byte, without waiting for more input", () => {
      const decoder = varint().decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(hex("80 80 80 80 80 80 80 80 80 80 80"), out)).toMatchObject({
        _tag: "InvalidVarint",
        reason: "too-long",
        offset: 0
      })

      const trickle = varint().decoder()
      for (let i = 0; i < 9; i++) expect(trickle.push(hex("80"), out)).toBeUndefined()
      expect(trickle.push(hex("80"), out)).toMatchObject({ _tag: "InvalidVarint", reason: "too-long" })
      expect(out).toEqual([])
    })

    it("rejects a length above MAX_SAFE_INTEGER as soon as its bits arrive, never rounding it", () => {
      const decoder = varint().decoder()
      const out: Array<Uint8Array> = []
      // 2^53 = 80 80 80 80 80 80 80 10: the eighth byte carries bit 53.
      expect(decoder.push(hex("80 80 80 80 80 80 80"), out)).toBeUndefined()
      expect(decoder.push(hex("10"), out)).toMatchObject({ _tag: "InvalidVarint", reason: "unsafe-integer", offset: 0 })
      // All bits set: the error comes at the eighth byte even though more bytes follow.
      const r = Codec.decodeAll(varint(), [hex("ff ff ff ff ff ff ff ff ff ff ff")])
      expect(r.error).toMatchObject({
        _tag: "InvalidVarint",
        reason: "unsafe-integer",
        preview: expect.stringMatching(/^(ff ){7}ff \|/)
      })
    })

    it("reports MAX_SAFE_INTEGER exactly as an announced size over the limit", () => {
      const r = Codec.decodeAll(varint(), [hex("ff ff ff ff ff ff ff 0f")])
      expect(r.error).toMatchObject({ _tag: "FrameTooLarge", size: Number.MAX_SAFE_INTEGER, announced: true })
    })

    it("accepts a payload of exactly the limit and rejects limit + 1 from the varint alone", () => {
      const codec = varint({ maxFrameBytes: 300 })
      expect(hexes(Codec.decodeAll(codec, [hex("ac 02"), filled(300)]).frames)).toEqual(hexes([filled(300)]))

      const decoder = codec.decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(hex("01 41 ad 02"), out)).toMatchObject({
        _tag: "FrameTooLarge",
        direction: "decode",
        limit: 300,
        size: 301,
        announced: true,
        offset: 2
      })
      expect(texts(out)).toEqual(["A"])
      expect(decoder.buffered).toBe(0)
    })

    it("never buffers toward a 2 GiB announcement under an 8 MiB limit", () => {
      const decoder = varint({ maxFrameBytes: 8 * 1024 * 1024 }).decoder()
      const error = decoder.push(hex("80 80 80 80 08 00 00"), [])
      expect(error).toMatchObject({ _tag: "FrameTooLarge", size: 2 ** 31 })
      expect(decoder.buffered).toBe(0)
    })

    it("checks the varint before the limit, so a bad header is InvalidVarint whatever its value", () => {
      const r = Codec.decodeAll(varint({ maxFrameBytes: 0 }), [hex("ff 00")])
      expect(r.error).toMatchObject({ _tag: "InvalidVarint", reason: "non-canonical" })
    })

    it("fails on 05 EOF with the frame's offset and size", () => {
      const r = Codec.decodeAll(varint(), [hex("01 41"), hex("05")])
      expect(texts(r.frames)).toEqual(["A"])
      expect(r.error).toMatchObject({ _tag: "UnexpectedEof", codec: "varint", offset: 2, buffered: 1, expected: 6 })
    })

    it("fails on EOF inside a payload and inside a varint", () => {
      expect(Codec.decodeAll(varint(), [hex("05 68"), hex("65")]).error).toMatchObject({
        _tag: "UnexpectedEof",
        offset: 0,
        buffered: 3,
        expected: 6,
        preview: "05 68 65 |.he|"
      })
      expect(Codec.decodeAll(varint(), [hex("00 ac")]).error).toMatchObject({
        _tag: "UnexpectedEof",
        offset: 1,
        buffered: 1,
        expected: undefined
      })
    })

    it("ends cleanly on empty input and right after a frame", () => {
      expect(Codec.decodeAll(varint(), [])).toEqual({ frames: [], error: undefined })
      expect(Codec.decodeAll(varint(), [hex("01 41"), new Uint8Array(0)]).error).toBeUndefined()
    })

    it("stays poisoned after an error", () => {
      const decoder = varint().decoder()
      const out: Array<Uint8Array> = []
      const error = decoder.push(hex("81 00"), out)
      expect(error).toMatchObject({ _tag: "InvalidVarint" })
      expect(decoder.poisoned).toBe(error)
      expect(decoder.push(hex("01 41"), out)).toBe(error)
      expect(decoder.end(out)).toBe(error)
      expect(out).toEqual([])
    })
  })

  describe("encoding", () => {
    it("writes the canonical varint then the payload", () => {
      const r = Codec.encodeAll(varint(), [bytes("hello"), new Uint8Array(0), filled(300)])
      expect(hexes([Either.getOrThrow(r)])).toEqual([
        hexes([join(hex("05"), bytes("hello"), hex("00 ac 02"), filled(300))])[0]
      ])
    })

    it("rejects a frame over the limit, with its offset, writing nothing", () => {
      const encoder = varint({ maxFrameBytes: 4 }).encoder()
      const out: Array<Uint8Array> = []
      expect(encoder.push(bytes("abcd"), out)).toBeUndefined()
      const before = out.length
      expect(encoder.push(bytes("abcde"), out)).toMatchObject({
        _tag: "FrameTooLarge",
        direction: "encode",
        limit: 4,
        size: 5,
        offset: 5
      })
      expect(out.length).toBe(before)
    })
  })

  describe("options", () => {
    it("default to a 1 MiB payload limit", () => {
      expect(varint().config).toEqual({ maxFrameBytes: 1_048_576 })
    })

    it("are validated when the codec is built", () => {
      expect(() => varint({ maxFrameBytes: -1 })).toThrow(/maxFrameBytes/)
      expect(() => varint({ maxFrameBytes: 0.5 })).toThrow(/maxFrameBytes/)
      expect(() => varint({ maxFrameBytes: 2 ** 31 })).toThrow(/maxFrameBytes/)
    })
  })

  describe("streams", () => {
    it.effect("decode and encode over Streams", () =>
      Effect.gen(function*() {
        const frames = yield* Stream.make(hex("05 68 65"), hex("6c 6c 6f 00 01"), hex("21")).pipe(
          Codec.decode(varint()),
          Stream.runCollect
        )
        expect(texts(Chunk.toArray(frames))).toEqual(["hello", "", "!"])
        const encoded = yield* Stream.make(bytes("a"), bytes("bc")).pipe(Codec.encode(varint()), Stream.runCollect)
        // One input chunk of two frames becomes one write.
        expect(hexes(Chunk.toArray(encoded))).toEqual(["0161026263"])
      }))
  })

  describe("laws", () => {
    // Raw inputs that stress the header: random continuation runs, 00 / 80 padding, then bytes.
    const headers = fc.tuple(
      fc.array(fc.oneof(fc.constant(0x80), fc.integer({ min: 0x80, max: 0xff })), { maxLength: 12 }),
      fc.integer({ min: 0, max: 0x7f }),
      fc.uint8Array({ maxLength: 40 })
    ).map(([more, last, rest]) => Uint8Array.from([...more, last, ...rest]))

    for (const maxFrameBytes of [300, 8]) {
      const codec = varint({ maxFrameBytes })
      const frames = fc.array(fc.uint8Array({ maxLength: maxFrameBytes }), { maxLength: 5 })
      const props = Laws.properties(codec, { frames })
      const raw = Laws.properties(codec, { frames, bytes: headers })
      it(`round trip under any chunking (max ${maxFrameBytes})`, () => {
        fc.assert(props.roundTrip, { numRuns: 40 })
      })
      it(`first error and offset do not depend on chunking (max ${maxFrameBytes})`, () => {
        fc.assert(props.errorInvariance, { numRuns: 60 })
        fc.assert(raw.errorInvariance, { numRuns: 100 })
      })
      it(`stays poisoned after a fatal error (max ${maxFrameBytes})`, () => {
        fc.assert(props.poisoning, { numRuns: 100 })
        fc.assert(raw.poisoning, { numRuns: 100 })
      })
    }

    it("decodeVarint agrees with encodeVarint on every safe integer tried", () => {
      fc.assert(
        fc.property(fc.maxSafeNat(), (n) => {
          const encoded = encodeVarint(n)
          expect(decodeVarint(encoded)).toEqual({ value: n, length: encoded.length })
        }),
        { numRuns: 500 }
      )
    })
  })
})
