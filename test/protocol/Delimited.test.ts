import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Either, FastCheck as fc, Stream } from "effect"
import { Buffer } from "node:buffer"
import { Codec, Laws } from "../../src/index.js"
import { delimited, type DelimitedCodec } from "../../src/protocol/Delimited.js"
import { bytes, decodeTexts, hex, hexes, texts } from "./helpers.js"

/** Whole, 1-byte chunks, one cut at every offset and (for short inputs) two cuts at every pair of offsets. */
const everyChunking = function*(input: Uint8Array): Generator<Array<Uint8Array>> {
  yield [input]
  yield Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1))
  for (let a = 1; a < input.length; a++) {
    yield Laws.split(input, [a])
    if (input.length <= 24) {
      for (let b = a + 1; b < input.length; b++) yield Laws.split(input, [a, b])
    }
  }
}

/** Decodes `input` under every chunking and checks each gives the same frames (as strings) and error. */
const decodeEveryWay = (codec: DelimitedCodec, input: Uint8Array) => {
  const whole = Codec.decodeAll(codec, [input])
  // `size` and `preview` of an early FrameTooLarge show what had arrived: compare the rest.
  const summary = (error: typeof whole.error) =>
    error === undefined
      ? undefined
      : { _tag: error._tag, offset: error.offset, message: error._tag === "FrameTooLarge" ? "" : error.message }
  const expected = { frames: texts(whole.frames), error: summary(whole.error) }
  for (const chunks of everyChunking(input)) {
    const got = Codec.decodeAll(codec, chunks)
    expect({ frames: texts(got.frames), error: summary(got.error) }, hexes(chunks).join(" | ")).toEqual(expected)
  }
  return { frames: expected.frames, error: whole.error }
}

/** Runs a decoder like `Codec.decodeEither` (resuming after recoverable errors), as strings. */
const decodeResuming = (codec: DelimitedCodec, chunks: ReadonlyArray<Uint8Array>): Array<string> => {
  const decoder = codec.decoder()
  const results: Array<string> = []
  const frames: Array<Uint8Array> = []
  const drain = (first: ReturnType<typeof decoder.push>, resume: () => ReturnType<typeof decoder.push>) => {
    let error = first
    for (;;) {
      for (const text of texts(frames)) results.push(text)
      frames.length = 0
      if (error === undefined) return true
      results.push(`error ${error._tag} @${error.offset}`)
      if (decoder.poisoned !== undefined) return false
      error = resume()
    }
  }
  for (const chunk of chunks) {
    if (!drain(decoder.push(chunk, frames), () => decoder.push(new Uint8Array(0), frames))) return results
  }
  drain(decoder.end(frames), () => decoder.end(frames))
  return results
}

/** The reference: frames end at the first occurrence of the delimiter found by a plain left-to-right search. */
const naiveSplit = (delimiter: Uint8Array, input: Uint8Array): { frames: Array<string>; tail: string } => {
  const buf = Buffer.from(input)
  const frames: Array<string> = []
  let pos = 0
  for (;;) {
    const at = buf.indexOf(delimiter, pos)
    if (at === -1) return { frames, tail: buf.subarray(pos).toString("latin1") }
    frames.push(buf.subarray(pos, at).toString("latin1"))
    pos = at + delimiter.length
  }
}

/** Is `frame` read back as itself: is the first occurrence of the delimiter in frame + delimiter at its end? */
const naiveFirstMatch = (delimiter: string, frame: string): number => (frame + delimiter).indexOf(delimiter)

const latin1 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"))

describe("Framing.delimited", () => {
  describe("decoding", () => {
    it("splits on a one-byte delimiter and keeps empty frames", () => {
      const codec = delimited({ delimiter: ";" })
      expect(decodeEveryWay(codec, bytes("a;;bc;;"))).toEqual({ frames: ["a", "", "bc", ""], error: undefined })
      expect(decodeEveryWay(codec, bytes(";;"))).toEqual({ frames: ["", ""], error: undefined })
    })

    it("ends a frame at the first occurrence of a self-overlapping delimiter, at every split", () => {
      const codec = delimited({ delimiter: "aab" })
      // The first `aab` in `xaaab` starts at index 2, after a false start at index 1.
      expect(decodeEveryWay(codec, bytes("xaaab"))).toEqual({ frames: ["xa"], error: undefined })
      expect(decodeEveryWay(codec, bytes("aaaabaabxaab"))).toEqual({ frames: ["aa", "", "x"], error: undefined })
    })

    it("matches a delimiter with a border after a partial match falls back (aba in ababa)", () => {
      const codec = delimited({ delimiter: "aba" })
      expect(decodeEveryWay(codec, bytes("ababaxaba"))).toEqual({ frames: ["", "bax"], error: undefined })
    })

    it("splits 00 00 correctly when the delimiter straddles chunks", () => {
      const codec = delimited({ delimiter: hex("00 00") })
      const r = Codec.decodeAll(codec, [hex("41 00"), hex("00 42 00 00")])
      expect(hexes(r.frames)).toEqual(["41", "42"])
      for (const chunks of everyChunking(hex("41 00 00 00 42 00 00"))) {
        const got = Codec.decodeAll(codec, chunks)
        expect(hexes(got.frames), hexes(chunks).join(" | ")).toEqual(["41", "0042"])
        expect(got.error).toBeUndefined()
      }
    })

    it("splits \\r\\n\\r\\n header blocks, whatever the chunking", () => {
      const codec = delimited({ delimiter: "\r\n\r\n" })
      const input = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\nX: 1\r\n\r\n\r\n\r\n")
      expect(decodeEveryWay(codec, input)).toEqual({
        frames: ["GET / HTTP/1.1\r\nHost: a", "X: 1", ""],
        error: undefined
      })
    })

    it("keeps the delimiter when stripDelimiter is false", () => {
      const codec = delimited({ delimiter: "\r\n\r\n", stripDelimiter: false })
      expect(decodeEveryWay(codec, bytes("a\r\n\r\n\r\n\r\n"))).toEqual({
        frames: ["a\r\n\r\n", "\r\n\r\n"],
        error: undefined
      })
    })

    it("hands out a frame that lies inside one chunk without copying it", () => {
      const chunk = bytes("abc;def;")
      const out: Array<Uint8Array> = []
      expect(delimited({ delimiter: ";" }).decoder().push(chunk, out)).toBeUndefined()
      expect(out.map((f) => [f.buffer === chunk.buffer, f.byteOffset])).toEqual([[true, 0], [true, 4]])
    })

    it("decodes a large frame fed in 1-byte chunks", () => {
      const codec = delimited({ delimiter: "\r\n\r\n", maxFrameBytes: 100_000 })
      const content = Buffer.alloc(100_000, "\r\n\r")
      const input = Buffer.concat([content, Buffer.from("\r\n\r\n")])
      const decoder = codec.decoder()
      const out: Array<Uint8Array> = []
      for (let i = 0; i < input.length; i++) {
        expect(decoder.push(input.subarray(i, i + 1), out)).toBeUndefined()
      }
      expect(out.length).toBe(1)
      expect(Buffer.compare(out[0]!, content)).toBe(0)
      expect(decoder.buffered).toBe(0)
    })

    it("matches a plain left-to-right search for any input and chunking", () => {
      const delimiters = ["aab", "aba", "aa", ";", "abab"].map(latin1)
      fc.assert(
        fc.property(
          fc.constantFrom(...delimiters),
          fc.string({ unit: fc.constantFrom("a", "b", "x"), maxLength: 40 }),
          Laws.cuts(40),
          (delimiter, text, cuts) => {
            const input = latin1(text)
            const codec = delimited({ delimiter, atEof: "emit" })
            const got = Codec.decodeAll(codec, Laws.split(input, cuts))
            const { frames, tail } = naiveSplit(delimiter, input)
            expect(got.error).toBeUndefined()
            expect(got.frames.map((f) => Buffer.from(f).toString("latin1"))).toEqual(
              tail.length > 0 ? [...frames, tail] : frames
            )
          }
        ),
        { numRuns: 300 }
      )
    })
  })

  describe("limits", () => {
    it("applies the limit per frame, not per chunk", () => {
      expect(decodeTexts(delimited({ delimiter: ";", maxFrameBytes: 2 }), "a;b;cd;").frames).toEqual(["a", "b", "cd"])
    })

    it("accepts a frame of exactly the limit, the delimiter not counted", () => {
      const codec = delimited({ delimiter: "\r\n\r\n", maxFrameBytes: 3 })
      expect(decodeEveryWay(codec, bytes("abc\r\n\r\n\r\n\r\n"))).toEqual({ frames: ["abc", ""], error: undefined })
    })

    it("rejects a frame one byte over the limit with its offset, whatever the chunking, and poisons", () => {
      const codec = delimited({ delimiter: "\r\n\r\n", maxFrameBytes: 3 })
      const r = decodeEveryWay(codec, bytes("ok\r\n\r\nabcd\r\n\r\nok\r\n\r\n"))
      expect(r.frames).toEqual(["ok"])
      expect(r.error).toMatchObject({ _tag: "FrameTooLarge", limit: 3, offset: 6, direction: "decode" })
      expect(r.error?.message).toContain("offset 6")
      const decoder = codec.decoder()
      const error = decoder.push(bytes("abcd"), [])
      expect(error).toMatchObject({ _tag: "FrameTooLarge", offset: 0 })
      expect(decoder.poisoned).toBe(error)
      expect(decoder.push(bytes("\r\n\r\n"), [])).toBe(error)
      expect(decoder.end([])).toBe(error)
    })

    it("fails as soon as the content passes the limit, buffering at most the limit plus a delimiter start", () => {
      const decoder = delimited({ delimiter: "\r\n\r\n", maxFrameBytes: 3 }).decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(bytes("abc\r\n\r"), out)).toBeUndefined()
      expect(decoder.buffered).toBe(6)
      expect(decoder.push(bytes("x"), out)).toMatchObject({ _tag: "FrameTooLarge", offset: 0, size: 7 })
      expect(decoder.buffered).toBe(0)
    })
  })

  describe("end of input", () => {
    const codec = delimited({ delimiter: "\r\n\r\n" })

    it("fails with UnexpectedEof on an unterminated last frame, a partial delimiter included", () => {
      const r = decodeEveryWay(codec, bytes("a\r\n\r\nb\r\n"))
      expect(r.frames).toEqual(["a"])
      expect(r.error).toMatchObject({ _tag: "UnexpectedEof", offset: 5, buffered: 3, expected: undefined })
    })

    it("emits an unterminated last frame with atEof: emit, bytes of a started delimiter included", () => {
      const emit = delimited({ delimiter: "\r\n\r\n", atEof: "emit" })
      expect(decodeEveryWay(emit, bytes("a\r\n\r\nb\r\n\r"))).toEqual({ frames: ["a", "b\r\n\r"], error: undefined })
    })

    it("rejects an emitted last frame over the limit", () => {
      const emit = delimited({ delimiter: "\r\n\r\n", atEof: "emit", maxFrameBytes: 2 })
      const r = decodeEveryWay(emit, bytes("ab\r\n"))
      expect(r.error).toMatchObject({ _tag: "FrameTooLarge", offset: 0, limit: 2 })
    })

    it("ends cleanly right after a delimiter or on empty input", () => {
      expect(decodeTexts(codec, "a\r\n\r\n")).toEqual({ frames: ["a"], error: undefined })
      expect(decodeTexts(codec)).toEqual({ frames: [], error: undefined })
    })

    it("stays poisoned after UnexpectedEof", () => {
      const decoder = codec.decoder()
      expect(decoder.push(bytes("abc"), [])).toBeUndefined()
      const error = decoder.end([])
      expect(error).toMatchObject({ _tag: "UnexpectedEof", offset: 0, buffered: 3 })
      expect(decoder.push(bytes("\r\n\r\n"), [])).toBe(error)
      expect(decoder.end([])).toBe(error)
    })
  })

  describe("skipping oversize frames", () => {
    it("reports a long frame once, then decodes the next frame", () => {
      const skip = delimited({ delimiter: ";", maxFrameBytes: 4, onOversize: "skip" })
      expect(decodeResuming(skip, [bytes("too long;next;")])).toEqual(["error FrameTooLarge @0", "next"])
    })

    it("reports it once and never emits its tail, for every chunking, the delimiter split included", () => {
      const skip = delimited({ delimiter: "\r\n\r\n", maxFrameBytes: 4, onOversize: "skip" })
      const input = bytes("ok\r\n\r\nway too long\r\n\r\nnext\r\n\r\n")
      for (const chunks of everyChunking(input)) {
        expect(decodeResuming(skip, chunks), hexes(chunks).join(" | ")).toEqual([
          "ok",
          "error FrameTooLarge @6",
          "next"
        ])
      }
    })

    it("discards up to the first occurrence of a self-overlapping delimiter", () => {
      const skip = delimited({ delimiter: "aab", maxFrameBytes: 2, onOversize: "skip" })
      for (const chunks of everyChunking(bytes("xxxaaabokaab"))) {
        expect(decodeResuming(skip, chunks), hexes(chunks).join(" | ")).toEqual(["error FrameTooLarge @0", "ok"])
      }
    })

    it("is not poisoned by a skipped frame", () => {
      const decoder = delimited({ delimiter: ";", maxFrameBytes: 4, onOversize: "skip" }).decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(bytes("way too long;ok;"), out)).toMatchObject({ _tag: "FrameTooLarge", offset: 0 })
      expect(decoder.poisoned).toBeUndefined()
      expect(decoder.push(new Uint8Array(0), out)).toBeUndefined()
      expect(texts(out)).toEqual(["ok"])
    })

    it("ends cleanly when the input stops inside a skipped frame", () => {
      const skip = delimited({ delimiter: ";", maxFrameBytes: 2, onOversize: "skip" })
      expect(decodeResuming(skip, [bytes("a;toolong")])).toEqual(["a", "error FrameTooLarge @2"])
    })

    it.effect("works with Codec.decodeEither", () =>
      Effect.gen(function*() {
        const skip = delimited({ delimiter: "\r\n\r\n", maxFrameBytes: 4, onOversize: "skip" })
        const out = yield* Stream.make(bytes("0123456789\r\n"), bytes("tail\r"), bytes("\n\r\nnext\r\n\r\n")).pipe(
          Codec.decodeEither(skip),
          Stream.map(Either.match({ onLeft: (e) => `error ${e._tag} @${e.offset}`, onRight: (f) => texts([f])[0]! })),
          Stream.runCollect
        )
        expect(Chunk.toArray(out)).toEqual(["error FrameTooLarge @0", "next"])
      }))
  })

  describe("encoding", () => {
    it("appends the delimiter, an empty frame included", () => {
      const r = Codec.encodeAll(delimited({ delimiter: "\r\n\r\n" }), [bytes("a"), bytes("")])
      expect(texts([Either.getOrThrow(r)])).toEqual(["a\r\n\r\n\r\n\r\n"])
    })

    it("rejects a frame containing the delimiter, naming its index and the stream offset", () => {
      const r = Codec.encodeAll(delimited({ delimiter: "aab" }), [bytes("ok"), bytes("xaaab")])
      expect(r).toMatchObject({ left: { _tag: "MalformedFrame", direction: "encode", offset: 5 } })
      expect(Either.flip(r).pipe(Either.getOrThrow).message).toContain("index 2")
    })

    it("rejects a frame whose tail joins the delimiter into an earlier match", () => {
      const zeros = Codec.encodeAll(delimited({ delimiter: hex("00 00") }), [hex("41 00")])
      expect(zeros).toMatchObject({ left: { _tag: "MalformedFrame", direction: "encode" } })
      expect(Either.flip(zeros).pipe(Either.getOrThrow).message).toContain("index 1")
      const crlf = Codec.encodeAll(delimited({ delimiter: "\r\n\r\n" }), [bytes("a\r\n")])
      expect(Either.flip(crlf).pipe(Either.getOrThrow).message).toContain("index 1")
    })

    it("accepts a frame ending in a delimiter prefix that cannot join it (aab after a)", () => {
      const codec = delimited({ delimiter: "aab" })
      const frames = [bytes("xa"), bytes("aa"), bytes("a")]
      const encoded = Either.getOrThrow(Codec.encodeAll(codec, frames))
      expect(texts([encoded])).toEqual(["xaaabaaaabaaab"])
      expect(decodeEveryWay(codec, encoded).frames).toEqual(["xa", "aa", "a"])
      const crlf = delimited({ delimiter: "\r\n\r\n" })
      expect(decodeTexts(crlf, Either.getOrThrow(Codec.encodeAll(crlf, [bytes("a\r")]))).frames).toEqual(["a\r"])
    })

    it("rejects exactly the frames its decoder would read back differently", () => {
      for (const delimiter of ["aab", "aba", "aa", "abab", "ab", "a"]) {
        const codec = delimited({ delimiter })
        const frames: Array<string> = [""]
        for (let i = 0; i < frames.length && frames.length < 255; i++) {
          if (frames[i]!.length < 7) frames.push(frames[i] + "a", frames[i] + "b")
        }
        for (const frame of frames) {
          const first = naiveFirstMatch(delimiter, frame)
          const r = Codec.encodeAll(codec, [bytes(frame)])
          if (first === frame.length) {
            expect(Either.isRight(r), `${delimiter} / ${frame}`).toBe(true)
            expect(decodeTexts(codec, Either.getOrThrow(r)).frames).toEqual([frame])
          } else {
            expect(Either.flip(r).pipe(Either.getOrThrow).message, `${delimiter} / ${frame}`).toContain(
              `index ${first}`
            )
          }
        }
      }
    })

    it("rejects a frame over the limit that its decoder would refuse", () => {
      const r = Codec.encodeAll(delimited({ delimiter: ";", maxFrameBytes: 2 }), [bytes("ab"), bytes("abc")])
      expect(r).toMatchObject({ left: { _tag: "FrameTooLarge", limit: 2, size: 3, direction: "encode", offset: 3 } })
    })

    it("with stripDelimiter false, takes frames that end with the delimiter and checks their content", () => {
      const codec = delimited({ delimiter: "\r\n\r\n", stripDelimiter: false, maxFrameBytes: 2 })
      expect(texts([Either.getOrThrow(Codec.encodeAll(codec, [bytes("ab\r\n\r\n")]))])).toEqual(["ab\r\n\r\n"])
      expect(Codec.encodeAll(codec, [bytes("ab")])).toMatchObject({ left: { _tag: "MalformedFrame" } })
      expect(Codec.encodeAll(codec, [bytes("a\r\n\r\n\r\n")])).toMatchObject({ left: { _tag: "MalformedFrame" } })
      expect(Codec.encodeAll(codec, [bytes("abc\r\n\r\n")])).toMatchObject({ left: { _tag: "FrameTooLarge", size: 3 } })
    })
  })

  describe("options", () => {
    it("are validated when the codec is built", () => {
      const bad = (options: unknown) => () => delimited(options as Parameters<typeof delimited>[0])
      expect(bad(undefined)).toThrow(/delimiter/)
      expect(bad({})).toThrow(/delimiter/)
      expect(bad({ delimiter: "" })).toThrow(/delimiter/)
      expect(bad({ delimiter: new Uint8Array(0) })).toThrow(/delimiter/)
      expect(bad({ delimiter: 10 })).toThrow(/delimiter/)
      expect(bad({ delimiter: ";", maxFrameBytes: -1 })).toThrow(/maxFrameBytes/)
      expect(bad({ delimiter: ";", maxFrameBytes: 1.5 })).toThrow(/maxFrameBytes/)
      expect(bad({ delimiter: ";", onOversize: "drop" })).toThrow(/onOversize/)
      expect(bad({ delimiter: ";", atEof: "ignore" })).toThrow(/atEof/)
      expect(bad({ delimiter: ";", stripDelimiter: "yes" })).toThrow(/stripDelimiter/)
      expect(bad({ delimiter: "" })).toThrow(Cause.IllegalArgumentException)
      expect(bad({ delimiter: ";" })).not.toThrow()
    })

    it("resolve defaults and encode a string delimiter as UTF-8", () => {
      const codec = delimited({ delimiter: "é" })
      expect(codec.config).toEqual({
        delimiter: bytes("é"),
        maxFrameBytes: 65_536,
        stripDelimiter: true,
        onOversize: "fail",
        atEof: "fail"
      })
      expect(codec.name).toBe("delimited(c3a9)")
      expect(decodeTexts(codec, bytes("aé").subarray(0, 2), bytes("aé").subarray(2), "b").error).toMatchObject({
        _tag: "UnexpectedEof",
        offset: 3
      })
    })

    it("copy the delimiter, so changing the given bytes later changes nothing", () => {
      const delimiter = bytes(";")
      const codec = delimited({ delimiter })
      delimiter[0] = 0x2c
      expect(decodeTexts(codec, "a,b;").frames).toEqual(["a,b"])
    })
  })

  describe("streams", () => {
    it.effect("decode over a Stream finds a delimiter split across chunks and fails at EOF", () =>
      Effect.gen(function*() {
        const codec = delimited({ delimiter: hex("00 00") })
        const frames = yield* Stream.make(hex("41 00"), hex("00 42 00"), hex("00")).pipe(
          Codec.decode(codec),
          Stream.runCollect
        )
        expect(hexes(Chunk.toArray(frames))).toEqual(["41", "42"])
        const exit = yield* Stream.make(hex("41 00 00 42")).pipe(Codec.decode(codec), Stream.runCollect, Effect.exit)
        expect(exit._tag).toBe("Failure")
        if (exit._tag === "Failure") {
          expect(Cause.failureOption(exit.cause)).toMatchObject({ value: { _tag: "UnexpectedEof", offset: 3 } })
        }
      }))
  })

  describe("laws", () => {
    const configs = [
      { delimiter: ";", maxFrameBytes: 8 },
      { delimiter: "aab", maxFrameBytes: 8 },
      { delimiter: "aba", maxFrameBytes: 8, stripDelimiter: false },
      { delimiter: hex("00 00"), maxFrameBytes: 8, atEof: "emit" as const },
      { delimiter: "\r\n\r\n", maxFrameBytes: 6, onOversize: "skip" as const },
      { delimiter: "aab", maxFrameBytes: 3, onOversize: "skip" as const, atEof: "emit" as const }
    ]
    for (const options of configs) {
      const codec = delimited(options)
      const alphabet = [...new Set([...codec.config.delimiter, 0x78])]
      const content = fc.array(fc.constantFrom(...alphabet), { maxLength: 10 }).map((bs) => Uint8Array.from(bs))
      const withDelimiter = (f: Uint8Array) =>
        codec.config.stripDelimiter ? f : Uint8Array.from([...f, ...codec.config.delimiter])
      const frame = content.map(withDelimiter).filter((f) => Either.isRight(Codec.encodeAll(codec, [f])))
      const frames = fc.array(frame, { maxLength: 6 })
      const nearby = fc.array(fc.constantFrom(...alphabet), { maxLength: 48 }).map((bs) => Uint8Array.from(bs))
      const props = Laws.properties(codec, { frames, bytes: fc.oneof(Laws.mutatedEncodings(codec, frames), nearby) })
      it(`round trip under any chunking (${codec.name} ${JSON.stringify(options)})`, () => {
        fc.assert(props.roundTrip, { numRuns: 60 })
      })
      it(`first error and offset do not depend on chunking (${codec.name} ${JSON.stringify(options)})`, () => {
        fc.assert(props.errorInvariance, { numRuns: 80 })
      })
      it(`stays poisoned after a fatal error (${codec.name} ${JSON.stringify(options)})`, () => {
        fc.assert(props.poisoning, { numRuns: 100 })
      })
    }
  })
})
