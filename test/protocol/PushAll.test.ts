/**
 * `Encoder.pushAll`, the batch fast path of every framing codec, against one `push` per frame:
 * the same bytes once joined, the same error (every field), the same encoder state after
 * (`Laws.checkPushAll`), on random batches that mix frames the codec accepts and frames it refuses,
 * with sizes on both sides of the thresholds the encoders switch at (16, 128 and 256 bytes).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, FastCheck as fc, Stream } from "effect"
import { Buffer } from "node:buffer"
import { Codec, Framing, Laws } from "../../src/index.js"
import { bytes } from "./helpers.js"

/** Bytes from `alphabet`, up to `max` long, with the lengths around each threshold well covered. */
const bytesOf = (alphabet: ReadonlyArray<number>, max: number): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.integer({ min: 0, max: 20 }),
    fc.integer({ min: 120, max: 135 }),
    fc.integer({ min: 250, max: 262 }),
    fc.integer({ min: 0, max })
  ).chain((n) => fc.array(fc.constantFrom(...alphabet), { minLength: n, maxLength: n }).map((b) => Uint8Array.from(b)))

/** Frames of exactly `n` plain bytes. */
const exactly = (n: number): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength: n, maxLength: n }).map((b) => b.map((x) => 0x20 + (x % 90)))

/**
 * Mostly frames the codec accepts (`clean`), some drawn from `dirty` or from the `edges` given
 * as text (the cases a codec's checks tell apart); as `Uint8Array` or `Buffer`.
 */
const batches = (clean: fc.Arbitrary<Uint8Array>, dirty: fc.Arbitrary<Uint8Array>, ...edges: Array<string>) =>
  fc.array(
    fc.tuple(
      fc.oneof(
        { weight: 5, arbitrary: clean },
        { weight: 1, arbitrary: dirty },
        { weight: edges.length === 0 ? 0 : 1, arbitrary: fc.constantFrom("", ...edges).map(bytes) }
      ),
      fc.boolean()
    )
      .map(([frame, asBuffer]) => (asBuffer ? Buffer.from(frame) : frame)),
    { maxLength: 8 }
  )

const A = 0x61
/**
 * Pushed after each batch to compare the twin encoders' offsets: over every limit below, so it
 * fails with an error carrying the offset (and holds no `a`, which keeps the search for `aab` short).
 */
const PROBE = Buffer.alloc(4096, 0x62)
const PLAIN = [A, 0x62, 0x20, 0x7e]

interface Target {
  readonly codec: Codec.Codec<Uint8Array, unknown>
  readonly frames: fc.Arbitrary<ReadonlyArray<Uint8Array>>
}

/** A frame holding its own u16be length field at offset 0 (lengthPrefixed with `stripBytes: 0`). */
const withField = (payload: Uint8Array): Uint8Array =>
  Uint8Array.from([payload.length >> 8, payload.length & 255, ...payload])

const targets: ReadonlyArray<Target> = [
  {
    codec: Framing.lines({ maxLineBytes: 270 }),
    frames: batches(bytesOf(PLAIN, 300), bytesOf([A, 0x0a, 0x0d], 300), "\r", "a\r", "\ra", "\n", "a\n", "\na")
  },
  {
    codec: Framing.lines({ maxLineBytes: 270, newline: "\r\n" }),
    frames: batches(bytesOf([...PLAIN, 0x0d], 300), bytesOf([A, 0x0a, 0x0d], 300), "\r", "a\r", "\n", "a\r\n")
  },
  {
    codec: Framing.lines({ maxLineBytes: 270, stripDelimiter: false }),
    frames: batches(
      bytesOf(PLAIN, 300).map((l) => Uint8Array.from([...l, 0x0a])),
      bytesOf([A, 0x0a, 0x0d], 300),
      "a",
      "\n",
      "\r\n",
      "a\r\n",
      "a\nb\n",
      "a\r"
    )
  },
  {
    codec: Framing.delimited({ delimiter: Uint8Array.of(0), maxFrameBytes: 270 }),
    frames: batches(bytesOf(PLAIN, 300), bytesOf([A, 0], 300), "\0", "a\0", "\0a", "a\0a")
  },
  {
    codec: Framing.delimited({ delimiter: "aab", maxFrameBytes: 270 }),
    frames: batches(bytesOf([0x62, 0x63], 300), bytesOf([A, 0x62], 300), "a", "aa", "aab", "xaab", "aabx", "aaab")
  },
  {
    codec: Framing.delimited({ delimiter: "\r\n\r\n", maxFrameBytes: 270, stripDelimiter: false }),
    frames: batches(
      bytesOf(PLAIN, 300).map((f) => Uint8Array.from([...f, 13, 10, 13, 10])),
      bytesOf([A, 13, 10], 300),
      "\r\n\r\n",
      "a\r\n",
      "\r\n\r\n\r\n",
      "\r\n\r\n\r\n\r\n",
      "a\r\n\r\nb\r\n\r\n"
    )
  },
  { codec: Framing.lengthPrefixed({ maxFrameBytes: 270 }), frames: batches(bytesOf(PLAIN, 300), bytesOf(PLAIN, 300)) },
  { codec: Framing.lengthPrefixed({ lengthFieldBytes: 1 }), frames: batches(bytesOf(PLAIN, 300), bytesOf(PLAIN, 300)) },
  {
    codec: Framing.lengthPrefixed({
      lengthFieldBytes: 2,
      byteOrder: "little",
      lengthFieldOffset: 1,
      lengthIncludesHeader: true,
      stripBytes: 5,
      maxFrameBytes: 270
    }),
    frames: batches(bytesOf(PLAIN, 300), bytesOf(PLAIN, 300))
  },
  {
    codec: Framing.lengthPrefixed({ lengthFieldBytes: 8, lengthAdjustment: 3, maxFrameBytes: 270 }),
    frames: batches(bytesOf(PLAIN, 300), bytesOf(PLAIN, 2))
  },
  {
    codec: Framing.lengthPrefixed({ lengthFieldBytes: 2, stripBytes: 0, maxFrameBytes: 270 }),
    frames: batches(bytesOf(PLAIN, 300).map(withField), bytesOf([0, 1, A], 300))
  },
  { codec: Framing.varint({ maxFrameBytes: 270 }), frames: batches(bytesOf(PLAIN, 300), bytesOf(PLAIN, 300)) },
  { codec: Framing.contentLength({ maxFrameBytes: 270 }), frames: batches(bytesOf(PLAIN, 300), bytesOf(PLAIN, 300)) },
  {
    codec: Framing.contentLength({ maxFrameBytes: 1000, contentType: "application/json; charset=utf-8" }),
    frames: batches(bytesOf(PLAIN, 300), bytesOf(PLAIN, 300))
  },
  { codec: Framing.fixed(16), frames: batches(exactly(16), bytesOf(PLAIN, 20)) },
  { codec: Framing.fixed(130), frames: batches(exactly(130), bytesOf(PLAIN, 140)) },
  {
    codec: Framing.jsonValues({ maxFrameBytes: 270 }),
    frames: batches(
      bytesOf([0x31, 0x32], 300).filter((f) => f.length > 0),
      bytesOf([0x31, 0x20, 0x7b, 0x7d], 300),
      "1 ",
      " 1",
      "[1",
      "1 2",
      "{}{}",
      "-1"
    )
  },
  {
    codec: Framing.jsonValues({ maxFrameBytes: 270, separator: "" }),
    frames: batches(
      fc.constantFrom(bytes("{}"), bytes("[1,2]"), bytes("\"x\"")),
      bytesOf([0x31, 0x7b, 0x7d], 8),
      "1",
      "-1"
    )
  }
]

describe("Encoder.pushAll", () => {
  describe("same bytes, same error and same state as one push per frame (Laws.checkPushAll)", () => {
    for (const { codec, frames } of targets) {
      it(codec.name + ` ${JSON.stringify((codec as { config?: unknown }).config)}`, () => {
        expect(codec.encoder().pushAll).toBeDefined()
        fc.assert(Laws.pushAllProperty(codec, frames, PROBE), { numRuns: 150 })
      })
    }
  })

  describe("one part for the whole batch", () => {
    for (const { codec, frames } of targets) {
      it(codec.name, () => {
        fc.assert(
          fc.property(frames, (batch) => {
            const parts: Array<Uint8Array> = []
            const error = codec.encoder().pushAll!(batch, parts)
            // A batch of one frame goes to `push`, which may write the frame as it is next to its header.
            if (error === undefined && batch.length > 1) expect(parts.length).toBeLessThanOrEqual(1)
          }),
          { numRuns: 60 }
        )
      })
    }
  })

  it("stops at the first frame refused, after writing the ones before it, with that frame's offset", () => {
    const encoder = Framing.lines({ maxLineBytes: 4 }).encoder()
    expect(encoder.push(bytes("xy"), [])).toBeUndefined()
    const parts: Array<Uint8Array> = []
    const error = encoder.pushAll!([bytes("a"), bytes("bc"), bytes("toolong"), bytes("d")], parts)
    expect(error).toMatchObject({ _tag: "FrameTooLarge", direction: "encode", offset: 3 + 2 + 3, size: 7 })
    expect(Buffer.concat(parts).toString()).toBe("a\nbc\n")
    // The encoder went on from there: the next frame starts after "a\nbc\n".
    expect(encoder.push(bytes("x\ny"), [])).toMatchObject({ _tag: "MalformedFrame", offset: 8 })
  })

  it("appends nothing for a batch whose first frame is refused", () => {
    const parts: Array<Uint8Array> = []
    const error = Framing.lengthPrefixed({ maxFrameBytes: 2 }).encoder().pushAll!([bytes("abc"), bytes("a")], parts)
    expect(error).toMatchObject({ _tag: "FrameTooLarge", offset: 0 })
    expect(parts).toEqual([])
  })

  it("writes the default lengthPrefixed layout as push does", () => {
    const parts: Array<Uint8Array> = []
    const frames = [bytes("hi"), new Uint8Array(0), new Uint8Array(300).fill(A)]
    expect(Framing.lengthPrefixed().encoder().pushAll!(frames, parts)).toBeUndefined()
    expect(parts).toHaveLength(1)
    expect(Buffer.from(parts[0]!.subarray(0, 14)).toString("hex")).toBe("00000002" + "6869" + "00000000" + "0000012c")
  })
})

describe("Codec.pushAll", () => {
  /** An encoder without `pushAll`: one part per frame, refusing "bad". */
  const custom = (): Codec.Encoder<string, string> => ({
    push: (frame, out) => {
      if (frame === "bad") return "refused"
      out.push(bytes(`<${frame}>`))
      return undefined
    }
  })

  it("falls back to one push per frame for an encoder without pushAll", () => {
    const parts: Array<Uint8Array> = []
    expect(Codec.pushAll(custom(), ["a", "b"], parts)).toBeUndefined()
    expect(parts.map((p) => Buffer.from(p).toString())).toEqual(["<a>", "<b>"])
    const more: Array<Uint8Array> = []
    expect(Codec.pushAll(custom(), ["a", "bad", "c"], more)).toBe("refused")
    expect(more.map((p) => Buffer.from(p).toString())).toEqual(["<a>"])
  })

  it("uses the encoder's pushAll when it has one", () => {
    const parts: Array<Uint8Array> = []
    expect(Codec.pushAll(Framing.lines().encoder(), [bytes("a"), bytes("b")], parts)).toBeUndefined()
    expect(parts.map((p) => Buffer.from(p).toString())).toEqual(["a\nb\n"])
  })

  it("lets encodeAll and encode work with encoders without pushAll", () =>
    Effect.gen(function*() {
      const codec: Codec.Codec<string, string> = {
        name: "custom",
        decoder: () => Framing.lines().decoder() as never,
        encoder: custom
      }
      const all = Codec.encodeAll(codec, new Set(["a", "b"]))
      expect(Either.map(all, (b) => Buffer.from(b).toString())).toEqual(Either.right("<a><b>"))
      expect(Codec.encodeAll(codec, ["a", "bad"])).toEqual(Either.left("refused"))
      const out = yield* Stream.make("a", "b", "bad", "c").pipe(
        Stream.rechunk(3),
        Codec.encode(codec),
        Stream.either,
        Stream.runCollect
      )
      expect(Chunk.toReadonlyArray(out).map((e) => Either.map(e, (b) => Buffer.from(b).toString()))).toEqual([
        Either.right("<a><b>"),
        Either.left("refused")
      ])
    }).pipe(Effect.runPromise))
})
