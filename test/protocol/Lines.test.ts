import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Either, FastCheck as fc, Stream } from "effect"
import { Buffer } from "node:buffer"
import { Codec, Framing, Laws } from "../../src/index.js"
import { bytes, decodeTexts, texts } from "./helpers.js"

const line = fc.string({ unit: fc.constantFrom("a", "b", "\r", " ", "é", "😀"), maxLength: 12 })
  .filter((s) => !s.endsWith("\r"))
  .map(bytes)

describe("Framing.lines", () => {
  describe("decoding", () => {
    it("splits on \\n and \\r\\n and keeps an empty line", () => {
      const r = decodeTexts(Framing.lines(), "line 1\nline 2\r\nline 3\n\r\n")
      expect(r).toEqual({ frames: ["line 1", "line 2", "line 3", ""], error: undefined })
    })

    it("recognises a CRLF split across chunks", () => {
      const r = decodeTexts(Framing.lines(), "huu", "haa\r", "\nhuuhaa\r\n")
      expect(r.frames).toEqual(["huuhaa", "huuhaa"])
    })

    it("treats a lone \\r as content", () => {
      expect(decodeTexts(Framing.lines(), "a\rb\n", "\r", "c\n").frames).toEqual(["a\rb", "\rc"])
    })

    it("keeps the delimiter when stripDelimiter is false", () => {
      const r = decodeTexts(Framing.lines({ stripDelimiter: false }), "a\r", "\nb\n")
      expect(r.frames).toEqual(["a\r\n", "b\n"])
    })

    it("applies the limit per line, not per chunk", () => {
      expect(decodeTexts(Framing.lines({ maxLineBytes: 2 }), "a\nb\n").frames).toEqual(["a", "b"])
    })

    it("accepts a line of exactly the limit, the \\r\\n not counted", () => {
      const codec = Framing.lines({ maxLineBytes: 6 })
      expect(decodeTexts(codec, "123456\r", "\n").frames).toEqual(["123456"])
      expect(decodeTexts(codec, "123456\n").frames).toEqual(["123456"])
    })

    it("rejects a line one byte over the limit with its offset and poisons the decoder", () => {
      const codec = Framing.lines({ maxLineBytes: 6 })
      const r = decodeTexts(codec, "ok\nline 1 is too long\nline 2\n")
      expect(r.frames).toEqual(["ok"])
      expect(r.error).toMatchObject({ _tag: "FrameTooLarge", limit: 6, offset: 3, direction: "decode" })
      expect(r.error?.message).toContain("offset 3")
      expect(decodeTexts(codec, "1234567").error).toMatchObject({ _tag: "FrameTooLarge", offset: 0 })
    })

    it("buffers at most the limit plus one byte of an oversize line", () => {
      const decoder = Framing.lines({ maxLineBytes: 8 }).decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(bytes("12345678\r"), out)).toBeUndefined()
      expect(decoder.buffered).toBe(9)
      expect(decoder.push(bytes("x"), out)).toMatchObject({ _tag: "FrameTooLarge" })
      expect(decoder.buffered).toBe(0)
    })

    it("fails with UnexpectedEof on an unterminated last line", () => {
      const r = decodeTexts(Framing.lines(), "a\npartial")
      expect(r.frames).toEqual(["a"])
      expect(r.error).toMatchObject({ _tag: "UnexpectedEof", offset: 2, buffered: 7, expected: undefined })
    })

    it("emits an unterminated last line with atEof: emit", () => {
      expect(decodeTexts(Framing.lines({ atEof: "emit" }), "a\npartial\r").frames).toEqual(["a", "partial\r"])
    })

    it("ends cleanly at EOF right after a delimiter or on empty input", () => {
      expect(decodeTexts(Framing.lines(), "a\n")).toEqual({ frames: ["a"], error: undefined })
      expect(decodeTexts(Framing.lines())).toEqual({ frames: [], error: undefined })
    })

    it("never corrupts UTF-8 split inside a character", () => {
      const json = bytes("{\"a\":\"é\"}\n")
      const emoji = bytes("😀\n")
      for (const input of [json, emoji]) {
        for (let cut = 1; cut < input.length; cut++) {
          const r = decodeTexts(Framing.lines(), input.subarray(0, cut), input.subarray(cut))
          expect(r.frames).toEqual([texts([input.subarray(0, input.length - 1)])[0]])
        }
      }
    })
  })

  describe("skipping oversize lines", () => {
    const skip = Framing.lines({ maxLineBytes: 6, onOversize: "skip" })

    const decodeSkipping = (...chunks: Array<string>) =>
      Effect.runSync(
        Stream.fromIterable(chunks.map(bytes)).pipe(
          Codec.decodeEither(skip),
          Stream.map(Either.match({ onLeft: (e) => `error ${e._tag} @${e.offset}`, onRight: (f) => texts([f])[0]! })),
          Stream.runCollect,
          Effect.map(Chunk.toArray)
        )
      )

    it("reports a long line once, then decodes the next line", () => {
      expect(decodeSkipping("line 1 is too long\nline 2\n")).toEqual(["error FrameTooLarge @0", "line 2"])
    })

    it("reports a long line spread over chunks once, never repeated", () => {
      expect(decodeSkipping("line ", "too l", "ong\n", "line 2", "\n")).toEqual(["error FrameTooLarge @0", "line 2"])
    })

    it("never emits the tail of a skipped line (asyncio's readline desync)", () => {
      const codec = Framing.lines({ maxLineBytes: 8, onOversize: "skip" })
      const out = Effect.runSync(
        Stream.make(bytes("0123456789ABCDEF"), bytes("tail\nnext\n")).pipe(
          Codec.decodeEither(codec),
          Stream.runCollect,
          Effect.map(Chunk.toArray)
        )
      )
      expect(out.map(Either.isLeft)).toEqual([true, false])
      expect(texts(out.filter(Either.isRight).map((e) => e.right))).toEqual(["next"])
    })

    it("is not poisoned by a skipped line", () => {
      const decoder = skip.decoder()
      const out: Array<Uint8Array> = []
      const error = decoder.push(bytes("way too long\nok\n"), out)
      expect(error).toMatchObject({ _tag: "FrameTooLarge" })
      expect(decoder.poisoned).toBeUndefined()
      expect(decoder.push(new Uint8Array(0), out)).toBeUndefined()
      expect(texts(out)).toEqual(["ok"])
    })
  })

  describe("encoding", () => {
    it("appends the newline", () => {
      const r = Codec.encodeAll(Framing.lines({ newline: "\r\n" }), [bytes("a"), bytes("")])
      expect(texts([Either.getOrThrow(r)])).toEqual(["a\r\n\r\n"])
    })

    it("rejects a frame containing a line feed, naming its index", () => {
      const r = Codec.encodeAll(Framing.lines(), [bytes("ok"), bytes("a\nb")])
      expect(r).toMatchObject({ left: { _tag: "MalformedFrame", direction: "encode", offset: 3 } })
      expect(Either.flip(r).pipe(Either.getOrThrow).message).toContain("index 1")
    })

    it("finds a line feed in short and long frames alike, at any index", () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 100 }), fc.nat(), (size, at) => {
          const frame = new Uint8Array(size).fill(0x61)
          frame[at % size] = 0x0a
          const r = Codec.encodeAll(Framing.lines({ maxLineBytes: 200 }), [frame])
          expect(Either.flip(r).pipe(Either.getOrThrow).message).toContain(`index ${at % size}`)
        }),
        { numRuns: 200 }
      )
    })

    it("rejects a frame ending in \\r that would read back as CRLF", () => {
      expect(Codec.encodeAll(Framing.lines(), [bytes("a\r")])).toMatchObject({ left: { _tag: "MalformedFrame" } })
    })

    it("rejects a frame over the limit that its decoder would refuse", () => {
      const r = Codec.encodeAll(Framing.lines({ maxLineBytes: 2 }), [bytes("abc")])
      expect(r).toMatchObject({ left: { _tag: "FrameTooLarge", limit: 2, size: 3, direction: "encode" } })
    })
  })

  describe("options", () => {
    it("are validated when the codec is built", () => {
      expect(() => Framing.lines({ maxLineBytes: -1 })).toThrow(/maxLineBytes/)
      expect(() => Framing.lines({ maxLineBytes: 1.5 })).toThrow(/maxLineBytes/)
    })
  })

  describe("streams", () => {
    it.effect("decode over a Stream fails after emitting the frames before the error", () =>
      Effect.gen(function*() {
        const exit = yield* Stream.make(bytes("a\nb"), bytes("\nc")).pipe(
          Codec.decode(Framing.lines()),
          Stream.map((f) => texts([f])[0]),
          Stream.runCollect,
          Effect.exit
        )
        expect(exit._tag).toBe("Failure")
        if (exit._tag === "Failure") {
          expect(Cause.failureOption(exit.cause)).toMatchObject({ value: { _tag: "UnexpectedEof", offset: 4 } })
        }
        const frames = yield* Stream.make(bytes("a\nb"), bytes("\n")).pipe(
          Codec.decode(Framing.lines()),
          Stream.runCollect
        )
        expect(texts(Chunk.toArray(frames))).toEqual(["a", "b"])
      }))

    it.effect("encode writes one chunk per batch of frames", () =>
      Effect.gen(function*() {
        const chunks = yield* Stream.fromChunk(Chunk.make(bytes("a"), bytes("b"))).pipe(
          Codec.encode(Framing.lines()),
          Stream.runCollect
        )
        expect(texts(Chunk.toArray(chunks))).toEqual(["a\nb\n"])
      }))
  })

  describe("laws", () => {
    const codecs = [
      Framing.lines({ maxLineBytes: 16 }),
      Framing.lines({ maxLineBytes: 16, newline: "\r\n" }),
      Framing.lines({ maxLineBytes: 16, stripDelimiter: false }),
      Framing.lines({ maxLineBytes: 4, onOversize: "skip" })
    ]
    for (const codec of codecs) {
      const frames = fc.array(line.filter((l) => l.length <= codec.config.maxLineBytes), { maxLength: 6 })
        .map((ls) => codec.config.stripDelimiter ? ls : ls.map((l) => new Uint8Array([...l, 0x0d, 0x0a])))
      const props = Laws.properties(codec, { frames })
      it(`round trip under any chunking (${JSON.stringify(codec.config)})`, () => {
        fc.assert(props.roundTrip, { numRuns: 60 })
      })
      it(`first error and offset do not depend on chunking (${JSON.stringify(codec.config)})`, () => {
        fc.assert(props.errorInvariance, { numRuns: 60 })
      })
      it(`stays poisoned after a fatal error (${JSON.stringify(codec.config)})`, () => {
        fc.assert(props.poisoning, { numRuns: 100 })
      })
      it(`encodes texts at once exactly as one by one, all or nothing (${JSON.stringify(codec.config)})`, () => {
        const text = fc.string({ unit: fc.constantFrom("a", "\n", "\r", "é", "😀", "\ud800"), maxLength: 12 })
          .map((t) => codec.config.stripDelimiter ? t : `${t}${codec.config.newline}`)
        fc.assert(Laws.textsProperty(codec, text), { numRuns: 200 })
      })
    }
  })

  describe("laws, short and long lines mixed", () => {
    // Short lines are scanned by a loop, long ones by `indexOf`; the decoder switches as it goes.
    const anyLine = fc.integer({ min: 0, max: 90 }).chain((n) =>
      fc.uint8Array({ minLength: n, maxLength: n }).map((a) => {
        const l = a.map((b) => (b === 0x0a ? 0x61 : b))
        if (l[l.length - 1] === 0x0d) l[l.length - 1] = 0x61
        return l
      })
    )
    for (
      const codec of [Framing.lines({ maxLineBytes: 200 }), Framing.lines({ maxLineBytes: 64, onOversize: "skip" })]
    ) {
      const frames = fc.array(anyLine.filter((l) => l.length <= codec.config.maxLineBytes), { maxLength: 8 })
      const props = Laws.properties(codec, { frames })
      it(`round trip under any chunking (${codec.config.onOversize})`, () => {
        fc.assert(props.roundTrip, { numRuns: 100 })
      })
      it(`first error and offset do not depend on chunking (${codec.config.onOversize})`, () => {
        fc.assert(props.errorInvariance, { numRuns: 100 })
      })
    }
  })

  describe("encoding texts (pushTexts)", () => {
    it("writes every text and its newline as one part", () => {
      const parts: Array<Uint8Array> = []
      expect(Framing.lines().encoder().pushTexts!(["a", "é"], parts)).toBeUndefined()
      expect(parts.map((p) => Buffer.from(p).toString())).toEqual(["a\né\n"])
    })
    it("fails on a text with a line feed and appends nothing, not even the texts before it", () => {
      const parts: Array<Uint8Array> = []
      const error = Framing.lines().encoder().pushTexts!(["ok", "x\ny"], parts)
      expect(error?._tag).toBe("MalformedFrame")
      expect(parts).toEqual([])
    })
    it("measures the limit in UTF-8 bytes, not characters", () => {
      const encoder = Framing.lines({ maxLineBytes: 4 }).encoder()
      expect(encoder.pushTexts!(["éé"], [])).toBeUndefined()
      expect(encoder.pushTexts!(["ééa"], [])?._tag).toBe("FrameTooLarge")
    })
  })
})
