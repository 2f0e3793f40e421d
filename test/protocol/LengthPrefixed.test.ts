import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, FastCheck as fc, Stream } from "effect"
import { Codec, Laws } from "../../src/index.js"
import { lengthPrefixed, type LengthPrefixedCodec } from "../../src/protocol/LengthPrefixed.js"
import { bytes, hex, hexes, texts } from "./helpers.js"

const join = (...parts: Array<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const decode = (codec: LengthPrefixedCodec, ...chunks: Array<Uint8Array>) => Codec.decodeAll(codec, chunks)

/** Every byte as its own chunk. */
const oneByOne = (input: Uint8Array): Array<Uint8Array> => Array.from(input, (b) => Uint8Array.of(b))

const encoded = (codec: LengthPrefixedCodec, ...frames: Array<Uint8Array>): string =>
  Buffer.from(Either.getOrThrow(Codec.encodeAll(codec, frames))).toString("hex")

describe("Framing.lengthPrefixed", () => {
  describe("decoding", () => {
    it("decodes the chapter's format, a 4-byte big-endian length and the payload", () => {
      const r = decode(lengthPrefixed(), hex("00 00 00 05"), bytes("hello"))
      expect(texts(r.frames)).toEqual(["hello"])
      expect(r.error).toBeUndefined()
    })

    it("joins a header split across chunks", () => {
      const r = decode(lengthPrefixed(), hex("00 00"), hex("00 05 68 65 6c 6c 6f"))
      expect(texts(r.frames)).toEqual(["hello"])
    })

    it("decodes many frames of one chunk as views of that chunk", () => {
      const chunk = hex("00 00 00 01 61 00 00 00 02 62 63 00 00 00 00 00 00 00 01 64")
      const r = decode(lengthPrefixed(), chunk)
      expect(texts(r.frames)).toEqual(["a", "bc", "", "d"])
      expect(r.frames.every((f) => f.buffer === chunk.buffer)).toBe(true)
    })

    it("decodes one frame spread over three chunks", () => {
      const r = decode(lengthPrefixed(), hex("00 00 00 0b 68 65"), bytes("llo w"), bytes("orld"))
      expect(texts(r.frames)).toEqual(["hello world"])
    })

    it("decodes a frame ending exactly at a chunk end, and a header ending at one", () => {
      const r = decode(lengthPrefixed(), hex("00 00 00 01 61"), hex("00 00 00 01"), hex("62"))
      expect(texts(r.frames)).toEqual(["a", "b"])
    })

    it("emits a zero-length frame", () => {
      const r = decode(lengthPrefixed(), hex("00 00 00 00"))
      expect(r.error).toBeUndefined()
      expect(hexes(r.frames)).toEqual([""])
      expect(hexes(decode(lengthPrefixed(), hex("00 00"), hex("00 00 00 00 00 01 ff")).frames)).toEqual(["", "ff"])
    })

    it("decodes the same frames fed one byte at a time", () => {
      const input = hex("00 00 00 03 61 62 63 00 00 00 00 00 00 00 01 7a")
      expect(texts(decode(lengthPrefixed(), ...oneByOne(input)).frames)).toEqual(["abc", "", "z"])
    })

    it("gives the same frames with little-endian length fields", () => {
      const payloads = [bytes("hello"), new Uint8Array(0), bytes("x".repeat(300))]
      for (const lengthFieldBytes of [2, 3, 4, 8] as const) {
        const big = lengthPrefixed({ lengthFieldBytes })
        const little = lengthPrefixed({ lengthFieldBytes, byteOrder: "little" })
        const bigBytes = Either.getOrThrow(Codec.encodeAll(big, payloads))
        const littleBytes = Either.getOrThrow(Codec.encodeAll(little, payloads))
        expect(texts(decode(little, ...oneByOne(littleBytes)).frames)).toEqual(texts(payloads))
        expect(texts(decode(big, ...oneByOne(bigBytes)).frames)).toEqual(texts(payloads))
      }
      expect(texts(decode(lengthPrefixed({ byteOrder: "little" }), hex("05 00"), hex("00 00"), bytes("hello")).frames))
        .toEqual(["hello"])
      const u16le = lengthPrefixed({ lengthFieldBytes: 2, byteOrder: "little" })
      expect(texts(decode(u16le, hex("2c 01"), bytes("y".repeat(300))).frames)).toEqual(["y".repeat(300)])
    })
  })

  describe("end of input", () => {
    it("ends cleanly on empty input and at a frame boundary", () => {
      expect(decode(lengthPrefixed())).toEqual({ frames: [], error: undefined })
      expect(texts(decode(lengthPrefixed(), hex("00 00 00 01 61")).frames)).toEqual(["a"])
      expect(decode(lengthPrefixed(), hex("00 00 00 01 61")).error).toBeUndefined()
    })

    it("fails inside the header, the frame size still unknown", () => {
      const r = decode(lengthPrefixed(), hex("00 00 00 01 61"), hex("00 00"))
      expect(texts(r.frames)).toEqual(["a"])
      expect(r.error).toMatchObject({ _tag: "UnexpectedEof", offset: 5, buffered: 2, expected: undefined })
    })

    it("fails right after a header (tokio-util and it-length-prefixed accept this silently)", () => {
      const r = decode(lengthPrefixed(), hex("00 00 00 09"))
      expect(r.error).toMatchObject({ _tag: "UnexpectedEof", offset: 0, buffered: 4, expected: 13 })
      expect(r.error?.message).toContain("4 of 13 bytes")
    })

    it("fails inside the payload, counting the header and the payload bytes received", () => {
      const r = decode(lengthPrefixed(), hex("00 00 00 09 61 62"), hex("63 64"))
      expect(r.error).toMatchObject({
        _tag: "UnexpectedEof",
        codec: "lengthPrefixed(u32be)",
        offset: 0,
        buffered: 8,
        expected: 13,
        preview: "00 00 00 09 61 62 63 64 |....abcd|"
      })
    })

    it("stays failed after end of input", () => {
      const decoder = lengthPrefixed().decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(hex("00 00 00 02 61"), out)).toBeUndefined()
      const error = decoder.end(out)
      expect(error).toMatchObject({ _tag: "UnexpectedEof" })
      expect(decoder.poisoned).toBe(error)
      expect(decoder.push(hex("62"), out)).toBe(error)
      expect(out).toEqual([])
    })
  })

  describe("limits", () => {
    it("accepts a payload of exactly the limit, holding only what arrived", () => {
      const codec = lengthPrefixed({ maxFrameBytes: 8 })
      expect(texts(decode(codec, hex("00 00 00 08"), bytes("12345678")).frames)).toEqual(["12345678"])
      const decoder = lengthPrefixed().decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(hex("00 10 00 00"), out)).toBeUndefined()
      expect(decoder.buffered).toBe(4)
      expect(decoder.push(new Uint8Array(1000), out)).toBeUndefined()
      expect(decoder.buffered).toBe(1004)
    })

    it("rejects limit + 1 from the header alone, allocating nothing", () => {
      const decoder = lengthPrefixed().decoder()
      const out: Array<Uint8Array> = []
      const error = decoder.push(hex("00 10 00 01"), out)
      expect(error).toMatchObject({
        _tag: "FrameTooLarge",
        direction: "decode",
        size: 1_048_577,
        limit: 1_048_576,
        announced: true,
        offset: 0
      })
      expect(decoder.buffered).toBe(0)
      expect(decoder.poisoned).toBe(error)
    })

    it("rejects an announced 2 GiB frame under an 8 MiB limit at once", () => {
      const decoder = lengthPrefixed({ maxFrameBytes: 8 * 1024 * 1024 }).decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(hex("7f ff"), out)).toBeUndefined()
      expect(decoder.push(hex("ff ff 00"), out)).toMatchObject({ _tag: "FrameTooLarge", size: 2 ** 31 - 1 })
      expect(decoder.buffered).toBe(0)
    })

    it("reports a peer speaking HTTP: GET / HTTP announces 1195725856 bytes", () => {
      const r = decode(lengthPrefixed(), bytes("GET / HTTP/1.1\r\n"))
      expect(r.error).toMatchObject({
        _tag: "FrameTooLarge",
        codec: "lengthPrefixed(u32be)",
        size: 1_195_725_856,
        announced: true,
        offset: 0,
        preview: "47 45 54 20 |GET |"
      })
      expect(r.error?.message).toBe(
        "lengthPrefixed(u32be) frame at offset 0 announces 1195725856 bytes, limit 1048576 (bytes: 47 45 54 20 |GET |)"
      )
    })

    it("counts the limit on the payload after adjustment, not on the header", () => {
      const codec = lengthPrefixed({ lengthFieldBytes: 2, lengthIncludesHeader: true, stripBytes: 0, maxFrameBytes: 3 })
      expect(hexes(decode(codec, hex("00 05 61 62 63")).frames)).toEqual(["0005616263"])
      expect(decode(codec, hex("00 06 61 62 63 64")).error).toMatchObject({ _tag: "FrameTooLarge", size: 4, limit: 3 })
    })

    it("decodes the largest 1-byte length, 255", () => {
      const payload = new Uint8Array(255).fill(7)
      const r = decode(lengthPrefixed({ lengthFieldBytes: 1 }), hex("ff"), payload)
      expect(hexes(r.frames)).toEqual(hexes([payload]))
    })

    it("reports the frame's offset after earlier frames", () => {
      const r = decode(lengthPrefixed({ maxFrameBytes: 2 }), hex("00 00 00 01 61 00 00"), hex("00 03 61 62 63"))
      expect(texts(r.frames)).toEqual(["a"])
      expect(r.error).toMatchObject({ _tag: "FrameTooLarge", offset: 5, size: 3 })
    })
  })

  describe("malformed lengths", () => {
    it("rejects an adjusted length below zero, never a negative length", () => {
      const codec = lengthPrefixed({ lengthFieldBytes: 2, lengthIncludesHeader: true })
      const r = decode(codec, hex("00 02"), hex("00 01 ff"))
      expect(hexes(r.frames)).toEqual([""])
      expect(r.error).toMatchObject({ _tag: "MalformedFrame", direction: "decode", offset: 2 })
      expect(r.error?.message).toContain("negative payload length (-1)")
      const negative = lengthPrefixed({ lengthFieldBytes: 1, lengthAdjustment: -10 })
      expect(decode(negative, hex("09")).error).toMatchObject({ _tag: "MalformedFrame", offset: 0 })
      expect(hexes(decode(negative, hex("0a")).frames)).toEqual([""])
    })

    it("rejects an 8-byte length above 2^53 - 1, naming it exactly, without wrapping", () => {
      const r = decode(lengthPrefixed({ lengthFieldBytes: 8 }), hex("80 00 00 00 00 00 00 01"))
      expect(r.error).toMatchObject({ _tag: "MalformedFrame", codec: "lengthPrefixed(u64be)", offset: 0 })
      expect(r.error?.message).toContain("0x8000000000000001 (9223372036854775809) is above 2^53 - 1")
      const le = decode(lengthPrefixed({ lengthFieldBytes: 8, byteOrder: "little" }), hex("01 00 00 00 00 00 00 80"))
      expect(le.error?.message).toContain("0x8000000000000001 (9223372036854775809)")
      const justOver = decode(lengthPrefixed({ lengthFieldBytes: 8 }), hex("00 20 00 00 00 00 00 00"))
      expect(justOver.error?.message).toContain("0x0020000000000000 (9007199254740992) is above 2^53 - 1")
    })

    it("reports 2^53 - 1 exactly as too large", () => {
      const r = decode(lengthPrefixed({ lengthFieldBytes: 8 }), hex("00 1f ff ff ff ff ff ff"))
      expect(r.error).toMatchObject({ _tag: "FrameTooLarge", size: Number.MAX_SAFE_INTEGER, announced: true })
    })

    it("rejects an adjustment that overflows a safe length instead of rounding it", () => {
      const codec = lengthPrefixed({ lengthFieldBytes: 8, lengthAdjustment: 2 })
      const r = decode(codec, hex("00 1f ff ff ff ff ff ff"))
      expect(r.error).toMatchObject({ _tag: "MalformedFrame" })
      expect(r.error?.message).toContain("0x001fffffffffffff (9007199254740991) with adjustment 2 is above 2^53 - 1")
    })

    it("is poisoned after a bad header, even by later good frames", () => {
      const decoder = lengthPrefixed({ maxFrameBytes: 4 }).decoder()
      const out: Array<Uint8Array> = []
      const error = decoder.push(hex("00 00 00 05"), out)
      expect(decoder.push(hex("00 00 00 01 61"), out)).toBe(error)
      expect(decoder.end(out)).toBe(error)
      expect(out).toEqual([])
    })
  })

  describe("tokio-util length_delimited layouts", () => {
    const hello = bytes("Hello world")
    // The seven layouts of tokio-util's documentation, with the options it gives; each input is
    // followed by a second frame, so a codec that reads the wrong length corrupts it.
    const cases: Array<{
      readonly name: string
      readonly codec: LengthPrefixedCodec
      readonly input: Uint8Array
      readonly decoded: Uint8Array
      readonly reencoded?: Uint8Array
    }> = [
      {
        name: "1: u16 length, header kept",
        codec: lengthPrefixed({ lengthFieldBytes: 2, stripBytes: 0 }),
        input: join(hex("00 0b"), hello),
        decoded: join(hex("00 0b"), hello)
      },
      {
        name: "2: u16 length, header stripped",
        codec: lengthPrefixed({ lengthFieldBytes: 2 }),
        input: join(hex("00 0b"), hello),
        decoded: hello
      },
      {
        name: "3: u16 length counting the header, header kept",
        codec: lengthPrefixed({ lengthFieldBytes: 2, lengthAdjustment: -2, stripBytes: 0 }),
        input: join(hex("00 0d"), hello),
        decoded: join(hex("00 0d"), hello)
      },
      {
        name: "4: u24 length then 2 more header bytes, all kept",
        codec: lengthPrefixed({ lengthFieldBytes: 3, lengthAdjustment: 2, stripBytes: 0 }),
        input: join(hex("00 00 0b ca fe"), hello),
        decoded: join(hex("00 00 0b ca fe"), hello)
      },
      {
        name: "5: hdr1, u16 length, hdr2; hdr2 kept",
        codec: lengthPrefixed({ lengthFieldOffset: 1, lengthFieldBytes: 2, lengthAdjustment: 1, stripBytes: 3 }),
        input: join(hex("ca 00 0b fe"), hello),
        decoded: join(hex("fe"), hello),
        reencoded: join(hex("00 00 0b fe"), hello)
      },
      {
        name: "6: as 5, the length counting the whole frame",
        codec: lengthPrefixed({ lengthFieldOffset: 1, lengthFieldBytes: 2, lengthAdjustment: -3, stripBytes: 3 }),
        input: join(hex("ca 00 0f fe"), hello),
        decoded: join(hex("fe"), hello),
        reencoded: join(hex("00 00 0f fe"), hello)
      },
      {
        name: "7: u24 length and a padding byte, both stripped",
        codec: lengthPrefixed({ lengthFieldBytes: 3, stripBytes: 4 }),
        input: join(hex("00 00 0b ff"), hello),
        decoded: hello,
        reencoded: join(hex("00 00 0b 00"), hello)
      }
    ]
    for (const c of cases) {
      it(`example ${c.name}`, () => {
        const input = join(c.input, c.input)
        for (const chunks of [[input], oneByOne(input), Laws.split(input, [1, 5, c.input.length + 2])]) {
          const r = decode(c.codec, ...chunks)
          expect(r.error).toBeUndefined()
          expect(hexes(r.frames)).toEqual(hexes([c.decoded, c.decoded]))
        }
        expect(encoded(c.codec, c.decoded)).toBe(Buffer.from(c.reencoded ?? c.input).toString("hex"))
      })
    }

    it("lengthIncludesHeader gives examples 3 and 6 without counting the header by hand", () => {
      const three = lengthPrefixed({ lengthFieldBytes: 2, lengthIncludesHeader: true, stripBytes: 0 })
      expect(hexes(decode(three, join(hex("00 0d"), hello)).frames)).toEqual(hexes([join(hex("00 0d"), hello)]))
      const six = lengthPrefixed({ lengthFieldOffset: 1, lengthFieldBytes: 2, lengthIncludesHeader: true })
      expect(six.config.stripBytes).toBe(3)
      expect(hexes(decode(six, join(hex("ca 00 0f fe"), hello)).frames)).toEqual(hexes([join(hex("fe"), hello)]))
    })
  })

  describe("encoding", () => {
    it("writes a small frame next to its header in one part", () => {
      const parts: Array<Uint8Array> = []
      expect(lengthPrefixed().encoder().push(bytes("hello"), parts)).toBeUndefined()
      expect(hexes(parts)).toEqual(["0000000568656c6c6f"])
    })

    it("writes the header then a large frame itself, uncopied", () => {
      const frame = new Uint8Array(8192).fill(1)
      const parts: Array<Uint8Array> = []
      expect(lengthPrefixed().encoder().push(frame, parts)).toBeUndefined()
      expect(hexes(parts.slice(0, 1))).toEqual(["00002000"])
      expect(parts[1]).toBe(frame)
    })

    it("writes the header layouts byte for byte", () => {
      expect(encoded(lengthPrefixed({ lengthFieldBytes: 2, byteOrder: "little" }), bytes("hi"), new Uint8Array(0)))
        .toBe("020068690000")
      expect(encoded(lengthPrefixed({ lengthFieldBytes: 8 }), bytes("a"))).toBe("000000000000000161")
      const u64le = lengthPrefixed({ lengthFieldBytes: 8, byteOrder: "little" })
      expect(encoded(u64le, bytes("a"))).toBe("010000000000000061")
    })

    it("encodes 255 bytes with a 1-byte field and fails on 256, writing nothing", () => {
      const codec = lengthPrefixed({ lengthFieldBytes: 1 })
      expect(encoded(codec, new Uint8Array(255)).slice(0, 2)).toBe("ff")
      const parts: Array<Uint8Array> = []
      const error = codec.encoder().push(new Uint8Array(256), parts)
      expect(error).toMatchObject({
        _tag: "FrameTooLarge",
        codec: "lengthPrefixed(u8)",
        direction: "encode",
        limit: 255,
        size: 256
      })
      expect(parts).toEqual([])
    })

    it("rejects a payload the adjustment pushes out of the field", () => {
      const codec = lengthPrefixed({ lengthFieldBytes: 1, lengthIncludesHeader: true })
      expect(encoded(codec, new Uint8Array(254)).slice(0, 2)).toBe("ff")
      expect(Codec.encodeAll(codec, [new Uint8Array(255)])).toMatchObject({
        left: { _tag: "FrameTooLarge", limit: 254, size: 255 }
      })
    })

    it("rejects a frame over the limit with its stream offset", () => {
      const r = Codec.encodeAll(lengthPrefixed({ maxFrameBytes: 2 }), [bytes("ab"), bytes("abc")])
      expect(r).toMatchObject({ left: { _tag: "FrameTooLarge", direction: "encode", limit: 2, size: 3, offset: 6 } })
    })

    it("rejects a payload shorter than a positive adjustment", () => {
      const codec = lengthPrefixed({ lengthFieldBytes: 2, lengthAdjustment: 2 })
      expect(encoded(codec, bytes("ab"))).toBe("00006162")
      const r = Codec.encodeAll(codec, [bytes("a")])
      expect(r).toMatchObject({ left: { _tag: "MalformedFrame", direction: "encode" } })
      expect(Either.flip(r).pipe(Either.getOrThrow).message).toContain("cannot be negative")
    })

    it("checks a kept length field instead of silently rewriting it", () => {
      const codec = lengthPrefixed({ lengthFieldBytes: 2, stripBytes: 0 })
      expect(encoded(codec, hex("00 01 61"))).toBe("000161")
      const wrong = Codec.encodeAll(codec, [hex("00 05 61")])
      expect(wrong).toMatchObject({ left: { _tag: "MalformedFrame", offset: 0 } })
      expect(Either.flip(wrong).pipe(Either.getOrThrow).message).toContain("holds 5, but a payload of 1 bytes needs 1")
      const short = Codec.encodeAll(codec, [hex("00")])
      expect(Either.flip(short).pipe(Either.getOrThrow).message).toContain("shorter than the 2 header bytes")
    })

    it("writes zeros for stripped header bytes other than the length", () => {
      const codec = lengthPrefixed({ lengthFieldOffset: 2, lengthFieldBytes: 1, stripBytes: 5 })
      expect(encoded(codec, bytes("a"))).toBe("00000100" + "0061")
    })
  })

  describe("options", () => {
    it("default to a 4-byte big-endian length and a 1 MiB payload limit", () => {
      const codec = lengthPrefixed()
      expect(codec.name).toBe("lengthPrefixed(u32be)")
      expect(codec.config).toEqual({
        lengthFieldBytes: 4,
        byteOrder: "big",
        lengthFieldOffset: 0,
        lengthAdjustment: 0,
        lengthIncludesHeader: false,
        stripBytes: 4,
        maxFrameBytes: 1_048_576,
        headerBytes: 4
      })
      expect(lengthPrefixed({ lengthFieldBytes: 1, byteOrder: "little" }).name).toBe("lengthPrefixed(u8)")
      expect(lengthPrefixed({ lengthFieldBytes: 2, byteOrder: "little" }).name).toBe("lengthPrefixed(u16le)")
      expect(lengthPrefixed({ lengthFieldBytes: 8 }).name).toBe("lengthPrefixed(u64be)")
    })

    it("are validated when the codec is built", () => {
      expect(() => lengthPrefixed({ lengthFieldBytes: 5 as 4 })).toThrow(/lengthFieldBytes/)
      expect(() => lengthPrefixed({ byteOrder: "middle" as "big" })).toThrow(/byteOrder/)
      expect(() => lengthPrefixed({ lengthFieldOffset: -1 })).toThrow(/lengthFieldOffset/)
      expect(() => lengthPrefixed({ lengthFieldOffset: 1.5 })).toThrow(/lengthFieldOffset/)
      expect(() => lengthPrefixed({ lengthAdjustment: 0.5 })).toThrow(/lengthAdjustment/)
      expect(() => lengthPrefixed({ maxFrameBytes: -1 })).toThrow(/maxFrameBytes/)
      expect(() => lengthPrefixed({ maxFrameBytes: 2 ** 31 })).toThrow(/maxFrameBytes/)
      expect(() => lengthPrefixed({ stripBytes: -1 })).toThrow(/stripBytes/)
      const yes = "yes" as unknown as boolean
      expect(() => lengthPrefixed({ lengthIncludesHeader: yes })).toThrow(/lengthIncludesHeader/)
      expect(() => lengthPrefixed({ maxFrameBytes: 2 ** 31 - 1 })).not.toThrow()
    })

    it("refuse a strip that ends inside the length field", () => {
      expect(() => lengthPrefixed({ lengthFieldOffset: 1, lengthFieldBytes: 2, stripBytes: 2 })).toThrow(
        /stripBytes 2 ends inside the length field/
      )
      expect(() => lengthPrefixed({ stripBytes: 3 })).toThrow(/stripBytes/)
      expect(() => lengthPrefixed({ lengthFieldOffset: 1, lengthFieldBytes: 2, stripBytes: 1 })).not.toThrow()
    })

    it("refuse layouts where no frame can exist", () => {
      expect(() => lengthPrefixed({ lengthFieldBytes: 1, lengthAdjustment: -256 })).toThrow(/no frame/)
      expect(() => lengthPrefixed({ lengthFieldBytes: 1, lengthFieldOffset: 300, lengthIncludesHeader: true })).toThrow(
        /no frame/
      )
      expect(() => lengthPrefixed({ lengthAdjustment: 10, maxFrameBytes: 9 })).toThrow(/maxFrameBytes/)
      expect(() => lengthPrefixed({ lengthFieldBytes: 1, lengthAdjustment: -255 })).not.toThrow()
    })
  })

  describe("streams", () => {
    it.effect("decode and encode over Streams round-trip", () =>
      Effect.gen(function*() {
        const codec = lengthPrefixed({ lengthFieldBytes: 2 })
        const frames = yield* Stream.make(bytes("one"), bytes(""), bytes("three")).pipe(
          Codec.encode(codec),
          Stream.mapConcat((chunk) => oneByOne(chunk)),
          Codec.decode(codec),
          Stream.runCollect
        )
        expect(texts(Chunk.toArray(frames))).toEqual(["one", "", "three"])
      }))
  })

  describe("laws", () => {
    /** Frames a codec can encode: its kept header bytes (the length set right) and a payload. */
    const framesOf = (codec: LengthPrefixedCodec) => {
      const c = codec.config
      const adjustment = c.lengthAdjustment - (c.lengthIncludesHeader ? c.headerBytes : 0)
      const kept = c.headerBytes - c.stripBytes
      const fieldMax = c.lengthFieldBytes === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * c.lengthFieldBytes) - 1
      const min = Math.max(0, adjustment)
      const max = Math.min(c.maxFrameBytes, fieldMax + adjustment, min + 20)
      const frame = fc.tuple(
        fc.uint8Array({ minLength: kept, maxLength: kept }),
        fc.integer({ min, max }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }))
      ).map(([head, payload]) => {
        const out = join(head, payload)
        if (c.stripBytes <= c.lengthFieldOffset) {
          let value = payload.length - adjustment
          for (let i = 0; i < c.lengthFieldBytes; i++) {
            const at = c.lengthFieldOffset - c.stripBytes
            out[c.byteOrder === "little" ? at + i : at + c.lengthFieldBytes - 1 - i] = value % 256
            value = Math.floor(value / 256)
          }
        }
        return out
      })
      return fc.array(frame, { maxLength: 5 })
    }

    const codecs = [
      lengthPrefixed({ lengthFieldBytes: 1, maxFrameBytes: 16 }),
      lengthPrefixed({ lengthFieldBytes: 2, byteOrder: "little", maxFrameBytes: 16 }),
      lengthPrefixed(),
      lengthPrefixed({ lengthFieldBytes: 8, maxFrameBytes: 16 }),
      lengthPrefixed({ lengthFieldBytes: 8, byteOrder: "little", maxFrameBytes: 16 }),
      lengthPrefixed({
        lengthFieldOffset: 1,
        lengthFieldBytes: 2,
        lengthAdjustment: 1,
        stripBytes: 3,
        maxFrameBytes: 16
      }),
      lengthPrefixed({ lengthFieldBytes: 3, lengthAdjustment: 2, stripBytes: 0, maxFrameBytes: 16 }),
      lengthPrefixed({ lengthFieldBytes: 2, lengthIncludesHeader: true, stripBytes: 0, maxFrameBytes: 16 }),
      lengthPrefixed({ lengthFieldOffset: 2, lengthFieldBytes: 1, lengthIncludesHeader: true, stripBytes: 1 }),
      lengthPrefixed({ lengthFieldBytes: 3, stripBytes: 5, byteOrder: "little", maxFrameBytes: 16 })
    ]
    for (const codec of codecs) {
      const props = Laws.properties(codec, { frames: framesOf(codec) })
      const label = `${codec.name} ${JSON.stringify(codec.config)}`
      it(`round trip under any chunking (${label})`, () => {
        fc.assert(props.roundTrip, { numRuns: 40 })
      })
      it(`first error and offset do not depend on chunking (${label})`, () => {
        fc.assert(props.errorInvariance, { numRuns: 60 })
      })
      it(`stays poisoned after a fatal error (${label})`, () => {
        fc.assert(props.poisoning, { numRuns: 100 })
      })
      it(`encodes texts at once exactly as one by one, all or nothing (${label})`, () => {
        const text = fc.string({ unit: fc.constantFrom("a", "é", "😀", "\u0000"), maxLength: 10 })
        fc.assert(Laws.textsProperty(codec, text), { numRuns: 150 })
      })
    }
  })

  describe("encoding texts (pushTexts)", () => {
    it("writes every frame into one part", () => {
      const parts: Array<Uint8Array> = []
      expect(lengthPrefixed().encoder().pushTexts!(["hi", "é"], parts)).toBeUndefined()
      expect(hexes(parts)).toEqual(["00000002686900000002c3a9"])
    })
    it("fails on a text over the limit with the offset it would start at, and appends nothing", () => {
      const parts: Array<Uint8Array> = []
      const error = lengthPrefixed({ maxFrameBytes: 4 }).encoder().pushTexts!(["abcd", "abcde"], parts)
      expect(error?._tag).toBe("FrameTooLarge")
      expect(error).toMatchObject({ offset: 8, limit: 4 })
      expect(parts).toEqual([])
    })
  })
})
