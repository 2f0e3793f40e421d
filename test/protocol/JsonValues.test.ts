import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, FastCheck as fc, Stream } from "effect"
import { Codec, Framing, Laws } from "../../src/index.js"
import { bytes, decodeTexts, texts } from "./helpers.js"

/** Any JSON value, as compact text (strings with escapes, quotes, brackets and non-ASCII). */
const jsonText = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v))
  .filter((s): s is string => typeof s === "string")
const awkwardStrings = fc.string({
  unit: fc.constantFrom("a", "\"", "\\", "{", "}", "[", "]", "é", "😀", "\n"),
  maxLength: 8
})
  .map((s) => JSON.stringify({ s, a: [s] }))

describe("Framing.jsonValues", () => {
  describe("decoding", () => {
    it("splits values written back to back, as jayson's TCP server writes replies", () => {
      const r = decodeTexts(Framing.jsonValues(), "{\"id\":1,\"result\":2}{\"id\":2,\"result\":[3]}[4,5]")
      expect(r).toEqual({ frames: ["{\"id\":1,\"result\":2}", "{\"id\":2,\"result\":[3]}", "[4,5]"], error: undefined })
    })

    it("skips JSON whitespace between values and hands on each value without it", () => {
      const r = decodeTexts(Framing.jsonValues(), " \n{\"a\": 1}\r\n\t[ ]  {}\n")
      expect(r.frames).toEqual(["{\"a\": 1}", "[ ]", "{}"])
      expect(r.error).toBeUndefined()
    })

    it("ignores brackets and quotes inside strings, escapes included", () => {
      const text = String.raw`{"a":"}]","b":"\"}","c":"\\","d":["[{\\\"x"]}`
      expect(JSON.parse(text)).toBeDefined()
      expect(decodeTexts(Framing.jsonValues(), text + text).frames).toEqual([text, text])
    })

    it("frames top-level scalars: strings, literals and numbers", () => {
      const r = decodeTexts(Framing.jsonValues(), "\"a\\\"b\"true false\nnull 42 -1.5e+3\"x\"7")
      expect(r).toEqual({
        frames: ["\"a\\\"b\"", "true", "false", "null", "42", "-1.5e+3", "\"x\"", "7"],
        error: undefined
      })
    })

    it("ends a number at the next value's first byte", () => {
      expect(decodeTexts(Framing.jsonValues(), "1{}2[]3\"s\"4true").frames).toEqual(
        ["1", "{}", "2", "[]", "3", "\"s\"", "4", "true"]
      )
    })

    it("completes a number only when a byte after it or EOF arrives", () => {
      const decoder = Framing.jsonValues().decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(bytes("12"), out)).toBeUndefined()
      expect(out).toEqual([])
      expect(decoder.push(bytes("3"), out)).toBeUndefined()
      expect(decoder.buffered).toBe(3)
      expect(decoder.push(bytes(" "), out)).toBeUndefined()
      expect(texts(out)).toEqual(["123"])
      expect(decoder.push(bytes("-0.5"), out)).toBeUndefined()
      expect(decoder.end(out)).toBeUndefined()
      expect(texts(out)).toEqual(["123", "-0.5"])
    })

    it("rejects a byte that cannot start a value, with its offset, and poisons the decoder", () => {
      const codec = Framing.jsonValues()
      const r = decodeTexts(codec, "{} \n ,{}")
      expect(r.frames).toEqual(["{}"])
      expect(r.error).toMatchObject({ _tag: "MalformedFrame", offset: 5, direction: "decode" })
      expect(r.error?.message).toContain("',' cannot start a JSON value")
      expect(decodeTexts(codec, "\u00ef\u00bb\u00bf{}").error).toMatchObject({ _tag: "MalformedFrame", offset: 0 })
      expect(decodeTexts(codec, "{}}").error).toMatchObject({ _tag: "MalformedFrame", offset: 2 })
    })

    it("rejects a closing bracket that does not match, at its offset", () => {
      const r = decodeTexts(Framing.jsonValues(), "[1]{\"a\":[1}]")
      expect(r.frames).toEqual(["[1]"])
      expect(r.error).toMatchObject({ _tag: "MalformedFrame", offset: 10 })
      expect(r.error?.message).toContain("'}' closes the '['")
    })

    it("rejects misspelt literals and numbers outside JSON's grammar", () => {
      expect(decodeTexts(Framing.jsonValues(), "nul", "x").error).toMatchObject({ _tag: "MalformedFrame", offset: 3 })
      expect(decodeTexts(Framing.jsonValues(), "truex").error).toMatchObject({ _tag: "MalformedFrame", offset: 4 })
      for (const bad of ["01 ", "1-2 ", "1. ", "-", "1e", "+1"]) {
        expect(decodeTexts(Framing.jsonValues(), "[] " + bad).error).toMatchObject({
          _tag: "MalformedFrame",
          offset: 3
        })
      }
    })

    it("accepts a value of exactly the limit and rejects one byte more as soon as it arrives", () => {
      const codec = Framing.jsonValues({ maxFrameBytes: 7 })
      expect(decodeTexts(codec, "{\"a\":1}{\"b\":2}").frames).toEqual(["{\"a\":1}", "{\"b\":2}"])
      expect(decodeTexts(codec, "1234567 ").frames).toEqual(["1234567"])
      expect(decodeTexts(codec, "1234567").frames).toEqual(["1234567"])
      const r = decodeTexts(codec, "{} {\"a\":12}")
      expect(r.frames).toEqual(["{}"])
      expect(r.error).toMatchObject({ _tag: "FrameTooLarge", offset: 3, limit: 7, size: 8, announced: false })
      const decoder = codec.decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(bytes("[\"abcd\""), out)).toBeUndefined()
      expect(decoder.buffered).toBe(7)
      expect(decoder.push(bytes(","), out)).toMatchObject({ _tag: "FrameTooLarge", offset: 0 })
      expect(decoder.buffered).toBe(0)
      expect(decodeTexts(codec, "12345678").error).toMatchObject({ _tag: "FrameTooLarge", offset: 0 })
    })

    it("fails with UnexpectedEof inside a value, and ends cleanly between values", () => {
      expect(decodeTexts(Framing.jsonValues(), "{}  {\"a\":[")).toMatchObject({
        frames: ["{}"],
        error: { _tag: "UnexpectedEof", offset: 4, buffered: 6, expected: undefined }
      })
      expect(decodeTexts(Framing.jsonValues(), "\"open").error).toMatchObject({ _tag: "UnexpectedEof", offset: 0 })
      expect(decodeTexts(Framing.jsonValues(), "fal").error).toMatchObject({ _tag: "UnexpectedEof", expected: 5 })
      expect(decodeTexts(Framing.jsonValues(), "{} \n")).toEqual({ frames: ["{}"], error: undefined })
      expect(decodeTexts(Framing.jsonValues())).toEqual({ frames: [], error: undefined })
    })

    it("never corrupts UTF-8 split inside a character", () => {
      const input = bytes("{\"a\":\"é😀\"}")
      for (let cut = 1; cut < input.length; cut++) {
        expect(decodeTexts(Framing.jsonValues(), input.subarray(0, cut), input.subarray(cut)).frames).toEqual([
          "{\"a\":\"é😀\"}"
        ])
      }
    })

    it("is linear on a 1-byte trickle", () => {
      const value = JSON.stringify({ items: Array.from({ length: 20_000 }, (_, i) => ({ i, s: "x\"}" })) })
      const input = bytes(value)
      const decoder = Framing.jsonValues({ maxFrameBytes: 4 * 1_048_576 }).decoder()
      const out: Array<Uint8Array> = []
      const started = performance.now()
      let errors = 0
      for (let i = 0; i < input.length; i++) if (decoder.push(input.subarray(i, i + 1), out) !== undefined) errors++
      const elapsed = performance.now() - started
      expect(errors).toBe(0)
      expect(texts(out)).toEqual([value])
      // ~500 KB one byte at a time: a quadratic scan would take minutes.
      expect(elapsed).toBeLessThan(5_000)
    })
  })

  describe("encoding", () => {
    it("writes each value followed by the separator", () => {
      const r = Codec.encodeAll(Framing.jsonValues(), [bytes("{\"a\":1}"), bytes("[]"), bytes("3")])
      expect(texts([Either.getOrThrow(r)])).toEqual(["{\"a\":1}\n[]\n3\n"])
      const none = Codec.encodeAll(Framing.jsonValues({ separator: "" }), [bytes("{}"), bytes("\"x\""), bytes("true")])
      expect(texts([Either.getOrThrow(none)])).toEqual(["{}\"x\"true"])
    })

    it("rejects a frame that would not read back as itself", () => {
      const codec = Framing.jsonValues()
      for (const bad of ["", " {}", "{} ", "{}{}", "{", "{]", "x", "01", "tru"]) {
        expect(Codec.encodeAll(codec, [bytes(bad)])).toMatchObject({
          left: { _tag: "MalformedFrame", direction: "encode" }
        })
      }
      const r = Codec.encodeAll(codec, [bytes("{}"), bytes("[1")])
      expect(r).toMatchObject({ left: { _tag: "MalformedFrame", offset: 3 } })
    })

    it("rejects a top-level number when the separator is empty", () => {
      const r = Codec.encodeAll(Framing.jsonValues({ separator: "" }), [bytes("1")])
      expect(r).toMatchObject({ left: { _tag: "MalformedFrame" } })
      expect(Either.flip(r).pipe(Either.getOrThrow).message).toContain("separator")
    })

    it("rejects a frame over the limit", () => {
      const r = Codec.encodeAll(Framing.jsonValues({ maxFrameBytes: 2 }), [bytes("[1]")])
      expect(r).toMatchObject({ left: { _tag: "FrameTooLarge", limit: 2, size: 3, direction: "encode" } })
    })
  })

  describe("options", () => {
    it("are validated when the codec is built", () => {
      expect(() => Framing.jsonValues({ maxFrameBytes: 0 })).toThrow(/maxFrameBytes/)
      expect(() => Framing.jsonValues({ maxFrameBytes: 1.5 })).toThrow(/maxFrameBytes/)
      expect(() => Framing.jsonValues({ separator: "," })).toThrow(/separator/)
      expect(Framing.jsonValues({ separator: " \r\n" }).config).toEqual({
        maxFrameBytes: 1_048_576,
        separator: " \r\n"
      })
    })
  })

  describe("streams", () => {
    it.effect("decode over a Stream", () =>
      Effect.gen(function*() {
        const frames = yield* Stream.make(bytes("{\"a\""), bytes(":1}[2"), bytes(",3] 4")).pipe(
          Codec.decode(Framing.jsonValues()),
          Stream.runCollect
        )
        expect(texts(Chunk.toArray(frames))).toEqual(["{\"a\":1}", "[2,3]", "4"])
      }))
  })

  describe("laws", () => {
    const codecs = [
      Framing.jsonValues({ maxFrameBytes: 64 }),
      Framing.jsonValues({ maxFrameBytes: 64, separator: " \r\n\t" }),
      Framing.jsonValues({ maxFrameBytes: 24, separator: "" })
    ]
    for (const codec of codecs) {
      const value = fc.oneof(jsonText, awkwardStrings)
        .filter((s) => bytes(s).length <= codec.config.maxFrameBytes)
        .filter((s) => codec.config.separator !== "" || !/^[-0-9]/.test(s))
      const props = Laws.properties(codec, { frames: fc.array(value.map(bytes), { maxLength: 5 }) })
      it(`round trip under any chunking (${JSON.stringify(codec.config)})`, () => {
        fc.assert(props.roundTrip, { numRuns: 60 })
      })
      it(`first error and offset do not depend on chunking (${JSON.stringify(codec.config)})`, () => {
        fc.assert(props.errorInvariance, { numRuns: 100 })
      })
      it(`stays poisoned after a fatal error (${JSON.stringify(codec.config)})`, () => {
        fc.assert(props.poisoning, { numRuns: 100 })
      })
    }
  })
})
