/**
 * Decoder fuzzing: many random and mutated inputs, cut at random offsets, through every codec.
 * A decoder may only return frames or a typed error: never throw, never return an error that is
 * not part of its union, never buffer more than its limits allow.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc, Schema } from "effect"
import type { Codec } from "../../src/index.js"
import { Framing, Laws, Message } from "../../src/index.js"

const FRAMING_TAGS = new Set(["FrameTooLarge", "MalformedFrame", "InvalidVarint", "UnexpectedEof", "InvalidUtf8"])
const MESSAGE_TAGS = new Set([...FRAMING_TAGS, "MessageDecodeError"])

const Request = Schema.Struct({ id: Schema.Number, method: Schema.String, params: Schema.optional(Schema.Unknown) })

interface Target {
  readonly name: string
  readonly codec: Codec.Codec<unknown, unknown>
  readonly tags: ReadonlySet<string>
  /** The most a decoder may hold between pushes. */
  readonly maxBuffered: number
  readonly seeds: fc.Arbitrary<ReadonlyArray<unknown>>
}

/** Erases a codec's frame type: the fuzzer only looks at errors and buffer sizes. */
const target = <A, E>(t: {
  readonly name: string
  readonly codec: Codec.Codec<A, E>
  readonly tags: ReadonlySet<string>
  readonly maxBuffered: number
  readonly seeds: fc.Arbitrary<ReadonlyArray<A>>
}): Target => t as unknown as Target

const bytesFrames = (max: number) => fc.array(fc.uint8Array({ maxLength: max }), { maxLength: 5 })
const textFrames = (max: number) =>
  fc.array(fc.string({ unit: fc.constantFrom("a", "{", "}", "\"", ":", "é", " "), maxLength: max }), { maxLength: 5 })
    .map((ss) => ss.map((s) => new TextEncoder().encode(s)))

const targets: ReadonlyArray<Target> = [
  target({
    name: "lines",
    codec: Framing.lines({ maxLineBytes: 32 }),
    tags: FRAMING_TAGS,
    maxBuffered: 33,
    seeds: textFrames(20)
  }),
  target({
    name: "lines (skip)",
    codec: Framing.lines({ maxLineBytes: 32, onOversize: "skip" }),
    tags: FRAMING_TAGS,
    maxBuffered: 33 + 256,
    seeds: textFrames(20)
  }),
  target({
    name: "delimited(aab)",
    codec: Framing.delimited({ delimiter: "aab", maxFrameBytes: 32 }),
    tags: FRAMING_TAGS,
    maxBuffered: 34 + 256,
    seeds: textFrames(20)
  }),
  target({
    name: "lengthPrefixed(u32be)",
    codec: Framing.lengthPrefixed({ maxFrameBytes: 64 }),
    tags: FRAMING_TAGS,
    maxBuffered: 68,
    seeds: bytesFrames(64)
  }),
  target({
    name: "lengthPrefixed(u16le, offset 1, adjustment -2)",
    codec: Framing.lengthPrefixed({
      lengthFieldBytes: 2,
      byteOrder: "little",
      lengthFieldOffset: 1,
      lengthIncludesHeader: true,
      maxFrameBytes: 64
    }),
    tags: FRAMING_TAGS,
    maxBuffered: 67,
    seeds: bytesFrames(64)
  }),
  target({
    name: "lengthPrefixed(u64be)",
    codec: Framing.lengthPrefixed({ lengthFieldBytes: 8, maxFrameBytes: 64 }),
    tags: FRAMING_TAGS,
    maxBuffered: 72,
    seeds: bytesFrames(64)
  }),
  target({
    name: "varint",
    codec: Framing.varint({ maxFrameBytes: 64 }),
    tags: FRAMING_TAGS,
    maxBuffered: 74,
    seeds: bytesFrames(64)
  }),
  target({
    name: "contentLength",
    codec: Framing.contentLength({ maxFrameBytes: 64, maxHeaderBytes: 128 }),
    tags: FRAMING_TAGS,
    maxBuffered: 192,
    seeds: bytesFrames(64)
  }),
  target({
    name: "fixed(3)",
    codec: Framing.fixed(3),
    tags: FRAMING_TAGS,
    maxBuffered: 3,
    seeds: fc.array(fc.uint8Array({ minLength: 3, maxLength: 3 }))
  }),
  target({
    name: "json(lines, schema)",
    codec: Message.json(Framing.lines({ maxLineBytes: 128 }), Request),
    tags: MESSAGE_TAGS,
    maxBuffered: 129 + 512,
    seeds: fc.array(fc.record({ id: fc.integer(), method: fc.string({ maxLength: 8 }) }), { maxLength: 4 })
  }),
  target({
    name: "msgpack(lengthPrefixed, schema)",
    codec: Message.msgpack(Framing.lengthPrefixed({ maxFrameBytes: 128 }), Request),
    tags: MESSAGE_TAGS,
    maxBuffered: 132 + 512,
    seeds: fc.array(fc.record({ id: fc.integer(), method: fc.string({ maxLength: 8 }) }), { maxLength: 4 })
  }),
  target({
    name: "jsonValues",
    codec: Framing.jsonValues({ maxFrameBytes: 64 }),
    tags: FRAMING_TAGS,
    maxBuffered: 64,
    seeds: fc.array(fc.jsonValue({ maxDepth: 2 }).map((v) => new TextEncoder().encode(JSON.stringify(v))), {
      maxLength: 5
    })
      .map((fs) => fs.filter((f) => f.length <= 64))
  })
]

describe("decoder fuzzing", () => {
  for (const target of targets) {
    it(`${target.name}: only frames or typed errors, buffers bounded, on random and mutated input`, () => {
      const inputs = Laws.mutatedEncodings(target.codec, target.seeds)
      fc.assert(
        fc.property(inputs, Laws.cuts(512), (input, cuts) => {
          const decoder = target.codec.decoder()
          const out: Array<unknown> = []
          let error: unknown = undefined
          for (const chunk of Laws.split(input, cuts)) {
            error = decoder.push(chunk, out)
            // Resume after recoverable errors, as a server reading on would.
            while (error !== undefined && decoder.poisoned === undefined) {
              expect(target.tags).toContain((error as { _tag: string })._tag)
              error = decoder.push(new Uint8Array(0), out)
            }
            expect(decoder.buffered).toBeLessThanOrEqual(
              Math.max(target.maxBuffered, chunk.length + target.maxBuffered)
            )
            if (error !== undefined) break
          }
          if (error === undefined) {
            error = decoder.end(out)
            while (error !== undefined && decoder.poisoned === undefined) error = decoder.end(out)
          }
          if (error !== undefined) {
            expect(target.tags).toContain((error as { _tag: string })._tag)
            expect(typeof (error as { message: unknown }).message).toBe("string")
          }
        }),
        { numRuns: 400 }
      )
    })
  }
})
