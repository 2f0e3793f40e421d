import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, FastCheck as fc, Stream } from "effect"
import { Buffer } from "node:buffer"
import { Codec, Laws } from "../../src/index.js"
import { contentLength } from "../../src/protocol/ContentLength.js"
import { bytes, decodeTexts, texts } from "./helpers.js"

/** 43 UTF-8 bytes (42 characters: the é takes two bytes). */
const BODY = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"héllo!\"}"
const MESSAGE = `Content-Length: 43\r\n\r\n${BODY}`

const join = (...parts: Array<Uint8Array>): Uint8Array => Uint8Array.from(parts.flatMap((p) => Array.from(p)))

describe("Framing.contentLength", () => {
  describe("decoding", () => {
    it("reads Content-Length: 43 and exactly 43 body bytes", () => {
      expect(bytes(BODY).length).toBe(43)
      expect(decodeTexts(contentLength(), MESSAGE + MESSAGE)).toEqual({ frames: [BODY, BODY], error: undefined })
    })

    it("accepts extra headers, any header order, any case, and spaces or tabs around the value", () => {
      const variants = [
        `Content-Length: 43\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n`,
        `Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: 43\r\n\r\n`,
        `content-length: 43\r\n\r\n`,
        `CONTENT-LENGTH:43\r\nX-Trace: a:b:c\r\n\r\n`,
        `Content-Length: \t43 \t\r\n\r\n`,
        `Content-Length: 0043\r\n\r\n`
      ]
      for (const header of variants) {
        expect(decodeTexts(contentLength(), header + BODY)).toEqual({ frames: [BODY], error: undefined })
      }
    })

    it("decodes a message fed one byte at a time, emitting it at its last byte", () => {
      const input = bytes(MESSAGE)
      const decoder = contentLength().decoder()
      const out: Array<Uint8Array> = []
      for (let i = 0; i < input.length; i++) {
        expect(decoder.push(input.subarray(i, i + 1), out)).toBeUndefined()
        expect(out.length).toBe(i === input.length - 1 ? 1 : 0)
      }
      expect(decoder.end(out)).toBeUndefined()
      expect(texts(out)).toEqual([BODY])
    })

    it("decodes two messages cut at every offset, and at random offsets", () => {
      const input = bytes(`${MESSAGE}Content-Type: x\r\nContent-Length: 2\r\n\r\n{}`)
      for (let cut = 1; cut < input.length; cut++) {
        const r = decodeTexts(contentLength(), input.subarray(0, cut), input.subarray(cut))
        expect(r).toEqual({ frames: [BODY, "{}"], error: undefined })
      }
      fc.assert(
        fc.property(Laws.cuts(input.length), (cs) => {
          expect(decodeTexts(contentLength(), ...Laws.split(input, cs))).toEqual({
            frames: [BODY, "{}"],
            error: undefined
          })
        }),
        { numRuns: 200 }
      )
    })

    it("decodes every message of a chunk in one push, bodies as views of that chunk", () => {
      const chunk = bytes(`${MESSAGE}Content-Length: 2\r\n\r\n{}`)
      const out: Array<Uint8Array> = []
      expect(contentLength().decoder().push(chunk, out)).toBeUndefined()
      expect(texts(out)).toEqual([BODY, "{}"])
      expect(out.every((f) => f.buffer === chunk.buffer)).toBe(true)
    })

    it("hands on an empty body for Content-Length: 0, then reads the next message", () => {
      const r = decodeTexts(contentLength(), "Content-Length: 0\r\n\r\nContent-Length: 2\r\n\r\n{}")
      expect(r).toEqual({ frames: ["", "{}"], error: undefined })
    })

    describe("rejects a Content-Length that is not only digits", () => {
      for (const value of ["43xyz", "-5", "+43", "NaN", "4 3", "0x2b", "4.3", "٤٣"]) {
        it(JSON.stringify(value), () => {
          const r = decodeTexts(contentLength(), `Content-Length: ${value}\r\n\r\n${BODY}`)
          expect(r.frames).toEqual([])
          expect(r.error).toMatchObject({ _tag: "MalformedFrame", direction: "decode", offset: 0 })
          expect(r.error?.message).toMatch(/is not a decimal number of bytes/)
        })
      }
      it("an empty value", () => {
        const r = decodeTexts(contentLength(), "Content-Length: \r\n\r\n")
        expect(r.error).toMatchObject({ _tag: "MalformedFrame", reason: "Content-Length at offset 0 is empty" })
      })
    })

    it("rejects two Content-Length headers, even with the same value", () => {
      for (const second of ["43", "44"]) {
        const r = decodeTexts(
          contentLength(),
          `${MESSAGE}Content-Length: 43\r\ncontent-length: ${second}\r\n\r\n${BODY}`
        )
        expect(r.frames).toEqual([BODY])
        expect(r.error).toMatchObject({
          _tag: "MalformedFrame",
          offset: 65,
          reason: "duplicate Content-Length header at offset 85"
        })
      }
    })

    it("rejects a header line without a colon, naming the line's offset", () => {
      const r = decodeTexts(contentLength(), "Content-Length: 2\r\nhello\r\n\r\n{}")
      expect(r.error).toMatchObject({
        _tag: "MalformedFrame",
        offset: 0,
        reason: "header line at offset 19 has no colon"
      })
      expect(r.error?.message).toContain("68 65 6c 6c 6f 0d 0a |hello..|")
    })

    it("rejects a header block with no Content-Length", () => {
      for (const header of ["Content-Type: x\r\n\r\n", "\r\n"]) {
        const r = decodeTexts(contentLength(), header + "{}")
        expect(r.error).toMatchObject({
          _tag: "MalformedFrame",
          reason: "the header block has no Content-Length header"
        })
      }
    })

    it("rejects bad names, folded lines and control bytes", () => {
      const cases: Array<[string, RegExp]> = [
        [": 2\r\n", /empty name/],
        ["Content Length: 2\r\n", /header name "Content Length" at offset 0 is not a valid token/],
        ["Content-Length : 2\r\n", /is not a valid token/],
        ["X: a\r\n folded: b\r\n", /" folded" at offset 6 is not a valid token/],
        ["Content-Length: 2\rX: 1\r\n", /contains a stray \\r/],
        ["X: a\u0000b\r\n", /contains the control byte 0x00/]
      ]
      for (const [header, reason] of cases) {
        const r = decodeTexts(contentLength(), `${header}Content-Length: 2\r\n\r\n{}`)
        expect(r.error).toMatchObject({ _tag: "MalformedFrame", reason: expect.stringMatching(reason) })
      }
    })

    it("rejects bare-LF header lines at the \\n itself instead of waiting for more input", () => {
      const decoder = contentLength().decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(bytes("Content-Length: 2"), out)).toBeUndefined()
      expect(decoder.push(bytes("\n"), out)).toMatchObject({
        _tag: "MalformedFrame",
        reason: "header line at offset 0 ends with a bare \\n instead of \\r\\n"
      })
      // A CRLF header line ended by a bare-LF empty line fails on that empty line.
      const r = decodeTexts(contentLength(), "Content-Length: 2\r\n\n{}")
      expect(r.error).toMatchObject({
        _tag: "MalformedFrame",
        reason: expect.stringMatching(/offset 19 ends with a bare/)
      })
    })

    it("rejects a header block that reaches maxHeaderBytes + 1 bytes, at that byte", () => {
      const codec = contentLength({ maxHeaderBytes: 64, maxFrameBytes: 100 })
      const decoder = codec.decoder()
      const out: Array<Uint8Array> = []
      const junk = bytes("X-Padding: " + "a".repeat(200))
      for (let i = 0; i < 64; i++) expect(decoder.push(junk.subarray(i, i + 1), out)).toBeUndefined()
      expect(decoder.buffered).toBe(64)
      expect(decoder.push(junk.subarray(64, 65), out)).toMatchObject({
        _tag: "FrameTooLarge",
        limit: 64,
        size: 65,
        announced: false,
        offset: 0
      })
      expect(decoder.buffered).toBe(0)
      // Many short lines add up the same way.
      const lines = "X: 1\r\n".repeat(11) + "Content-Length: 2\r\n\r\n{}"
      expect(decodeTexts(codec, lines).error).toMatchObject({ _tag: "FrameTooLarge", limit: 64 })
    })

    it("accepts a header block of exactly maxHeaderBytes, its empty line included", () => {
      const header = "Content-Length: 2\r\nX: " + "a".repeat(38) + "\r\n\r\n"
      expect(header.length).toBe(64)
      const codec = contentLength({ maxHeaderBytes: 64, maxFrameBytes: 2 })
      expect(decodeTexts(codec, header + "{}")).toEqual({ frames: ["{}"], error: undefined })
      expect(decodeTexts(codec, header.replace("X: ", "X:  ") + "{}").error).toMatchObject({ _tag: "FrameTooLarge" })
    })

    it("rejects Content-Length: 99999999999 on its header line, before any body byte is held", () => {
      const decoder = contentLength().decoder()
      const out: Array<Uint8Array> = []
      expect(decoder.push(bytes(`${MESSAGE}Content-Length: 99999999999\r`), out)).toBeUndefined()
      expect(decoder.push(bytes("\n"), out)).toMatchObject({
        _tag: "FrameTooLarge",
        direction: "decode",
        limit: 1_048_576,
        size: 99_999_999_999,
        announced: true,
        offset: 65
      })
      expect(texts(out)).toEqual([BODY])
      expect(decoder.buffered).toBe(0)
    })

    it("accepts a body of exactly maxFrameBytes and rejects one byte more", () => {
      const codec = contentLength({ maxFrameBytes: 43 })
      expect(decodeTexts(codec, MESSAGE).frames).toEqual([BODY])
      expect(decodeTexts(codec, "Content-Length: 44\r\n\r\n").error).toMatchObject({ _tag: "FrameTooLarge", size: 44 })
    })

    it("fails, and never glues messages, when a peer counts characters instead of UTF-8 bytes", () => {
      // `"é"` is 3 characters but 4 bytes (22 c3 a9 22). Announced as 3, the decoder takes
      // `"é` as the body; the closing `"` is read as the first byte of the next header block.
      const miscounted = "Content-Length: 3\r\n\r\n\"é\""
      const next = "Content-Length: 2\r\n\r\n{}"

      // Followed by another message: the truncated body is handed on (the framer cannot know,
      // the JSON parser above it will reject it), then the next header line reads
      // `"Content-Length: 2`, whose name is not a token: MalformedFrame at offset 24, where the
      // decoder believed the next message began. The `{}` message is never delivered, and never
      // merged into the first body.
      const r = decodeTexts(contentLength(), miscounted + next)
      expect(r.frames).toEqual(["\"é"])
      expect(r.error).toMatchObject({
        _tag: "MalformedFrame",
        offset: 24,
        reason: "header name \"\\\"Content-Length\" at offset 24 is not a valid token"
      })

      // At the end of input: the stray byte is an unfinished header block.
      const eof = decodeTexts(contentLength(), miscounted)
      expect(eof.frames).toEqual(["\"é"])
      expect(eof.error).toMatchObject({ _tag: "UnexpectedEof", offset: 24, buffered: 1, expected: undefined })
    })

    it("fails with UnexpectedEof inside a header block, right after it and inside a body", () => {
      expect(decodeTexts(contentLength(), "Content-Length: 2\r\n", "Cont").error).toMatchObject({
        _tag: "UnexpectedEof",
        offset: 0,
        buffered: 23,
        expected: undefined
      })
      expect(decodeTexts(contentLength(), "Content-Length: 2\r\n\r\n").error).toMatchObject({
        _tag: "UnexpectedEof",
        buffered: 21,
        expected: 23
      })
      expect(decodeTexts(contentLength(), MESSAGE, "Content-Length: 2\r\n\r\n{").error).toMatchObject({
        _tag: "UnexpectedEof",
        offset: 65,
        buffered: 22,
        expected: 23,
        preview: "7b |{|"
      })
    })

    it("ends cleanly on empty input and right after a body", () => {
      expect(decodeTexts(contentLength())).toEqual({ frames: [], error: undefined })
      expect(decodeTexts(contentLength(), MESSAGE, "")).toEqual({ frames: [BODY], error: undefined })
    })

    it("stays poisoned after an error", () => {
      const decoder = contentLength().decoder()
      const out: Array<Uint8Array> = []
      const error = decoder.push(bytes("Content-Length: 43xyz\r\n"), out)
      expect(error).toMatchObject({ _tag: "MalformedFrame" })
      expect(decoder.poisoned).toBe(error)
      expect(decoder.push(bytes(MESSAGE), out)).toBe(error)
      expect(decoder.end(out)).toBe(error)
      expect(out).toEqual([])
    })
  })

  describe("encoding", () => {
    it("writes Content-Length in UTF-8 bytes, then the body", () => {
      const r = Codec.encodeAll(contentLength(), [bytes("\"é\""), new Uint8Array(0)])
      expect(texts([Either.getOrThrow(r)])).toEqual(["Content-Length: 4\r\n\r\n\"é\"Content-Length: 0\r\n\r\n"])
    })

    it("adds a Content-Type header when asked", () => {
      const codec = contentLength({ contentType: "application/vscode-jsonrpc; charset=utf-8" })
      const r = Codec.encodeAll(codec, [bytes("{}")])
      expect(texts([Either.getOrThrow(r)])).toEqual([
        "Content-Length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}"
      ])
      expect(decodeTexts(codec, Either.getOrThrow(r)).frames).toEqual(["{}"])
    })

    it("writes the length in plain decimal after one space, whatever its number of digits", () => {
      // The digits are written by hand, from the last: lengths at each power of ten are the edges.
      const lengths = [0, 1, 9, 10, 11, 99, 100, 101, 255, 256, 999, 1000, 1001, 9999, 10000, 65536, 1_048_576]
      const codec = contentLength({ contentType: "x" })
      const expected = lengths.map((n) => `Content-Length: ${n}\r\nContent-Type: x\r\n\r\n${"a".repeat(n)}`).join("")
      const frames = lengths.map((n) => bytes("a".repeat(n)))
      expect(Buffer.from(Either.getOrThrow(Codec.encodeAll(codec, frames))).toString()).toBe(expected)
      const one: Array<Uint8Array> = []
      const encoder = codec.encoder()
      for (const frame of frames) encoder.push(frame, one)
      expect(Buffer.concat(one).toString()).toBe(expected)
    })

    it("rejects a body over the limit, with its offset, writing nothing", () => {
      const encoder = contentLength({ maxFrameBytes: 2 }).encoder()
      const out: Array<Uint8Array> = []
      expect(encoder.push(bytes("{}"), out)).toBeUndefined()
      const before = out.length
      expect(encoder.push(bytes("[1]"), out)).toMatchObject({
        _tag: "FrameTooLarge",
        direction: "encode",
        limit: 2,
        size: 3,
        offset: 23
      })
      expect(out.length).toBe(before)
    })
  })

  describe("options", () => {
    it("default to a 1 MiB body, an 8 KiB header block and no Content-Type", () => {
      expect(contentLength().config).toEqual({ maxFrameBytes: 1_048_576, maxHeaderBytes: 8192, contentType: undefined })
    })

    it("are validated when the codec is built", () => {
      expect(() => contentLength({ maxFrameBytes: -1 })).toThrow(/maxFrameBytes/)
      expect(() => contentLength({ maxHeaderBytes: 1.5 })).toThrow(/maxHeaderBytes/)
      expect(() => contentLength({ contentType: "text/plain\r\nX-Evil: 1" })).toThrow(/contentType/)
      expect(() => contentLength({ contentType: "" })).toThrow(/contentType/)
      expect(() => contentLength({ contentType: " x" })).toThrow(/contentType/)
    })

    it("refuse a header limit too small for the header the encoder writes", () => {
      // "Content-Length: 1048576\r\n\r\n" is 27 bytes.
      expect(() => contentLength({ maxHeaderBytes: 26 })).toThrow(/maxHeaderBytes \(26\) is smaller than the 27-byte/)
      expect(contentLength({ maxHeaderBytes: 27 }).config.maxHeaderBytes).toBe(27)
      expect(() => contentLength({ maxHeaderBytes: 27, contentType: "x" })).toThrow(/maxHeaderBytes/)
    })
  })

  describe("streams", () => {
    it.effect("decode and encode over Streams", () =>
      Effect.gen(function*() {
        const frames = yield* Stream.make(bytes("Content-Len"), bytes("gth: 2\r\n\r\n{}Content-Length: 0\r\n\r\n"))
          .pipe(
            Codec.decode(contentLength()),
            Stream.runCollect
          )
        expect(texts(Chunk.toArray(frames))).toEqual(["{}", ""])
        const encoded = yield* Stream.make(bytes("{}")).pipe(Codec.encode(contentLength()), Stream.runCollect)
        expect(texts(Chunk.toArray(encoded))).toEqual(["Content-Length: 2\r\n\r\n{}"])
      }))
  })

  describe("laws", () => {
    // Header-like raw inputs: valid, malformed and oversize lines in any order, with bodies.
    const fragment = fc.constantFrom(
      "Content-Length: 2",
      "content-length:0",
      "Content-Length: 43xyz",
      "Content-Length: 99999",
      "Content-Type: x",
      "X: a:b",
      "no colon",
      " folded",
      "X: " + "p".repeat(40),
      "\r\n",
      "\n",
      "\r",
      "{}",
      "é"
    )
    const headerish = fc.array(fragment, { maxLength: 8 }).map((parts) => bytes(parts.join("\r\n")))

    const codecs = [
      contentLength({ maxFrameBytes: 64, maxHeaderBytes: 64 }),
      contentLength({ maxFrameBytes: 300, contentType: "application/json" })
    ]
    for (const codec of codecs) {
      const frames = fc.array(
        fc.oneof(fc.uint8Array({ maxLength: codec.config.maxFrameBytes }), fc.string({ maxLength: 20 }).map(bytes)),
        { maxLength: 4 }
      ).map((fs) => fs.filter((f) => f.length <= codec.config.maxFrameBytes))
      const props = Laws.properties(codec, { frames })
      const raw = Laws.properties(codec, { frames, bytes: headerish })
      const label = JSON.stringify(codec.config)
      it(`round trip under any chunking (${label})`, () => {
        fc.assert(props.roundTrip, { numRuns: 40 })
      })
      it(`first error and offset do not depend on chunking (${label})`, () => {
        fc.assert(props.errorInvariance, { numRuns: 50 })
        fc.assert(raw.errorInvariance, { numRuns: 150 })
      })
      it(`stays poisoned after a fatal error (${label})`, () => {
        fc.assert(props.poisoning, { numRuns: 100 })
        fc.assert(raw.poisoning, { numRuns: 100 })
      })
    }

    it("errors on malformed headers right after a good message keep their offset under any chunking", () => {
      const input = join(bytes(MESSAGE), bytes("Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"))
      Laws.checkErrorInvariance(contentLength(), input)
      expect(Codec.decodeAll(contentLength(), [input]).error).toMatchObject({ _tag: "MalformedFrame", offset: 65 })
    })
  })
})
