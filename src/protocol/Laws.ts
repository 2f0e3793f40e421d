/**
 * The laws every codec obeys, as checks and FastCheck properties that users can run against
 * their own codecs (effect-wire runs them against every built-in one):
 *
 * 1. Round trip under re-chunking: decoding the encoded frames, split at any offsets (every
 *    single offset, all 1-byte chunks, random cuts), gives back the frames.
 * 2. Error invariance: for any input, the frames before the first error, and that error's tag and
 *    offset, do not depend on how the input is split.
 * 3. Poisoning: after a fatal error, every later `push` and `end` returns the same error.
 * 4. Texts (byte codecs whose encoder has the `pushTexts` fast path): `pushTexts` appends exactly
 *    the bytes `push` appends for each text's UTF-8, or, when one text cannot be encoded, returns
 *    the error `push` returns for it, appends nothing and leaves the encoder as it was.
 * 5. Batches (encoders with the `pushAll` fast path): `pushAll` appends the bytes one `push` per
 *    frame appends, up to and excluding the first frame that cannot be encoded, returns that
 *    frame's error (every field alike) and leaves the encoder in the same state.
 *
 * Each check throws a `LawViolation` describing the input; `properties` wraps them for
 * `FastCheck.assert` or `@effect/vitest`'s `it.prop`.
 *
 * @example
 * ```ts
 * import { FastCheck } from "effect"
 * import { Framing, Laws } from "effect-wire"
 *
 * // your own codec and an arbitrary of the frames it can encode
 * const codec = Framing.lengthPrefixed({ maxFrameBytes: 64 })
 * const frames = FastCheck.array(FastCheck.uint8Array({ maxLength: 64 }))
 *
 * const props = Laws.properties(codec, { frames })
 * FastCheck.assert(props.roundTrip)
 * FastCheck.assert(props.errorInvariance)
 * FastCheck.assert(props.poisoning)
 * console.log("all laws hold")
 * // Output: all laws hold
 * ```
 *
 * @since 0.1.0
 */
import { Data, Either, FastCheck as fc, Predicate } from "effect"
import { Buffer } from "node:buffer"
import { isDeepStrictEqual } from "node:util"
import { EMPTY } from "../internal/bytes.js"
import { type Codec, decodeAll, encodeAll } from "./Codec.js"

/**
 * The mark of a `LawViolation` (see `isLawViolation`).
 *
 * @since 0.1.0
 * @category type ids
 */
export const LawViolationTypeId: unique symbol = Symbol.for("effect-wire/LawViolation")

/**
 * @since 0.1.0
 * @category type ids
 */
export type LawViolationTypeId = typeof LawViolationTypeId

/**
 * A codec broke one of its laws; `message` says which and on what input.
 *
 * @since 0.1.0
 * @category errors
 */
export class LawViolation extends Data.TaggedError("LawViolation")<{
  readonly law: "roundTrip" | "errorInvariance" | "poisoning" | "texts" | "batches"
  readonly details: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [LawViolationTypeId]: LawViolationTypeId = LawViolationTypeId

  override get message(): string {
    return `${this.law} law violated: ${this.details}`
  }
}

/**
 * Whether `u` is a `LawViolation`, by its `TypeId`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isLawViolation = (u: unknown): u is LawViolation => Predicate.hasProperty(u, LawViolationTypeId)

/**
 * Frame equality used by the laws: byte-wise for byte arrays, deep equality otherwise.
 *
 * @since 0.1.0
 * @category utils
 */
export const defaultEquals = (a: unknown, b: unknown): boolean =>
  a instanceof Uint8Array && b instanceof Uint8Array ? Buffer.compare(a, b) === 0 : isDeepStrictEqual(a, b)

/**
 * Splits `bytes` at the given offsets (sorted, deduplicated, out-of-range ones ignored).
 *
 * @since 0.1.0
 * @category utils
 */
export const split = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let from = 0
  for (const cut of points) {
    chunks.push(bytes.subarray(from, cut))
    from = cut
  }
  chunks.push(bytes.subarray(from))
  return chunks
}

/**
 * Every chunking the laws try deterministically: whole, 1-byte chunks, and one cut at each offset
 * (for inputs over 1 KiB: at each of the first and last 256 offsets, and every 31st in between,
 * which keeps the cost linear).
 *
 * @since 0.1.0
 * @category utils
 */
export const standardChunkings = function*(bytes: Uint8Array): Generator<Array<Uint8Array>> {
  yield [bytes]
  yield Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))
  const n = bytes.length
  for (let cut = 1; cut < n; cut++) {
    if (n <= 1024 || cut <= 256 || cut >= n - 256 || cut % 31 === 0) yield split(bytes, [cut])
  }
}

/**
 * Random cut offsets for a byte array of the given length.
 *
 * @since 0.1.0
 * @category utils
 */
export const cuts = (maxLength: number): fc.Arbitrary<Array<number>> =>
  fc.array(fc.integer({ min: 0, max: Math.max(0, maxLength) }), { maxLength: 24 })

const show = (bytes: Uint8Array): string => {
  const hex = Buffer.from(bytes.subarray(0, 64)).toString("hex")
  return bytes.length > 64 ? `${hex}… (${bytes.length} bytes)` : hex || "(empty)"
}

const describeError = (e: unknown): string => {
  if (e === undefined) return "no error"
  const { _tag, offset } = e as { _tag?: string; offset?: number }
  return `${_tag ?? "error"} at offset ${offset ?? "?"}`
}

const sameError = (a: unknown, b: unknown): boolean => describeError(a) === describeError(b)

/**
 * Law 1 for one list of frames: encodes them, then decodes the bytes whole, in 1-byte chunks,
 * cut at every single offset, and cut at `extraCuts`. Throws `LawViolation` on any difference.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkRoundTrip = <A, E>(
  codec: Codec<A, E>,
  frames: ReadonlyArray<A>,
  extraCuts: ReadonlyArray<number> = [],
  equals: (a: A, b: A) => boolean = defaultEquals
): void => {
  const encoded = encodeAll(codec, frames)
  if (Either.isLeft(encoded)) {
    throw new LawViolation({
      law: "roundTrip",
      details: `${codec.name} could not encode: ${describeError(encoded.left)}`
    })
  }
  const bytes = encoded.right
  const attempt = (chunks: Array<Uint8Array>, how: string) => {
    const { error, frames: got } = decodeAll(codec, chunks)
    const same = error === undefined && got.length === frames.length && got.every((f, i) => equals(f, frames[i]!))
    if (!same) {
      throw new LawViolation({
        law: "roundTrip",
        details: `${codec.name} decoded ${got.length} of ${frames.length} frames (${describeError(error)}) ` +
          `from ${show(bytes)} ${how}`
      })
    }
  }
  let n = 0
  for (const chunks of standardChunkings(bytes)) attempt(chunks, `chunking #${n++}`)
  if (extraCuts.length > 0) attempt(split(bytes, extraCuts), `cut at ${extraCuts.join(",")}`)
}

/**
 * Law 2 for one input: the frames before the first error and that error's tag and offset are the
 * same for every chunking tried (1-byte chunks, a cut at each offset, `extraCuts`).
 *
 * @since 0.1.0
 * @category checks
 */
export const checkErrorInvariance = <A, E>(
  codec: Codec<A, E>,
  bytes: Uint8Array,
  extraCuts: ReadonlyArray<number> = [],
  equals: (a: A, b: A) => boolean = defaultEquals
): void => {
  const expected = decodeAll(codec, [bytes])
  const attempt = (chunks: Array<Uint8Array>, how: string) => {
    const got = decodeAll(codec, chunks)
    const same = sameError(got.error, expected.error) && got.frames.length === expected.frames.length &&
      got.frames.every((f, i) => equals(f, expected.frames[i]!))
    if (!same) {
      throw new LawViolation({
        law: "errorInvariance",
        details: `${codec.name} on ${show(bytes)}: whole input gives ${expected.frames.length} frames and ` +
          `${describeError(expected.error)}, ${how} gives ${got.frames.length} frames and ${describeError(got.error)}`
      })
    }
  }
  let n = 0
  for (const chunks of standardChunkings(bytes)) attempt(chunks, `chunking #${n++}`)
  if (extraCuts.length > 0) attempt(split(bytes, extraCuts), `cut at ${extraCuts.join(",")}`)
}

/**
 * Law 3 for one input: if decoding it (then ending it) meets a fatal error, every later `push`
 * of more bytes and every `end` returns that same error and no frame.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkPoisoning = <A, E>(codec: Codec<A, E>, bytes: Uint8Array, more: Uint8Array = bytes): void => {
  const decoder = codec.decoder()
  const frames: Array<A> = []
  let error = decoder.push(bytes, frames)
  while (error !== undefined && decoder.poisoned === undefined) error = decoder.push(EMPTY, frames)
  if (error === undefined) {
    error = decoder.end(frames)
    while (error !== undefined && decoder.poisoned === undefined) error = decoder.end(frames)
  }
  if (error === undefined) return
  const fail = (details: string) => {
    throw new LawViolation({ law: "poisoning", details: `${codec.name} on ${show(bytes)}: ${details}` })
  }
  if (decoder.poisoned !== error) fail(`poisoned is ${describeError(decoder.poisoned)}, not the error returned`)
  const later: Array<A> = []
  if (decoder.push(more, later) !== error) fail("a push after the error returned another result")
  if (decoder.push(EMPTY, later) !== error) fail("an empty push after the error returned another result")
  if (decoder.end(later) !== error) fail("end after the error returned another result")
  if (later.length > 0) fail(`${later.length} frames were emitted after the error`)
}

/** A frame over most limits (16 MiB), whose error carries the encoder's offset. */
let bigFrame: Buffer | undefined

/**
 * Law 4 for one list of texts, given the texts already pushed before (`before`, each with
 * `push`): compares `pushTexts` with one `push` per text on twin encoders, then pushes one more
 * frame on both to check that a failed `pushTexts` left the encoder as it was. Does nothing for
 * an encoder without `pushTexts`.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkTexts = <E>(
  codec: Codec<Uint8Array, E>,
  texts: ReadonlyArray<string>,
  before: ReadonlyArray<string> = []
): void => {
  const fast = codec.encoder()
  const slow = codec.encoder()
  if (fast.pushTexts === undefined) return
  const fail = (details: string) => {
    throw new LawViolation({ law: "texts", details: `${codec.name} on ${JSON.stringify(texts)}: ${details}` })
  }
  for (const text of before) {
    fast.push(Buffer.from(text, "utf8"), [])
    slow.push(Buffer.from(text, "utf8"), [])
  }
  const got: Array<Uint8Array> = []
  const error = fast.pushTexts(texts, got)
  const want: Array<Uint8Array> = []
  let expected: E | undefined = undefined
  for (const text of texts) {
    expected = slow.push(Buffer.from(text, "utf8"), want)
    if (expected !== undefined) break
  }
  if (!sameError(error, expected)) {
    fail(`pushTexts gives ${describeError(error)}, push gives ${describeError(expected)}`)
  }
  if (error !== undefined) {
    if (got.length > 0) fail(`pushTexts appended ${got.length} parts and failed`)
    // Both encoders must now be where they were before `texts`: compare them on one more frame.
    const again = codec.encoder()
    for (const text of before) again.push(Buffer.from(text, "utf8"), [])
    const probe = (bigFrame ??= Buffer.alloc(1 << 24, 0x61))
    if (!sameError(fast.push(probe, []), again.push(probe, []))) fail("a failed pushTexts changed the encoder")
    return
  }
  const a = Buffer.concat(got)
  const b = Buffer.concat(want)
  if (!a.equals(b)) fail(`pushTexts wrote ${show(a)}, push wrote ${show(b)}`)
}

/**
 * Law 4 as a FastCheck property: up to 5 texts drawn from `text`, after up to 2 pushed before.
 *
 * @example
 * ```ts
 * import { FastCheck } from "effect"
 * import { Framing, Laws } from "effect-wire"
 *
 * // throws a LawViolation, with the failing texts, if pushTexts and push disagree
 * FastCheck.assert(Laws.textsProperty(Framing.lines(), FastCheck.string()))
 * console.log("texts law holds")
 * // Output: texts law holds
 * ```
 *
 * @since 0.1.0
 * @category properties
 */
export const textsProperty = <E>(
  codec: Codec<Uint8Array, E>,
  text: fc.Arbitrary<string>
): fc.IProperty<[Array<string>, Array<string>]> =>
  fc.property(fc.array(text, { maxLength: 5 }), fc.array(text, { maxLength: 2 }), (texts, before) => {
    checkTexts(codec, texts, before)
  })

/**
 * Law 5 for one batch of frames, after the frames `before` (each given to `push`): compares
 * `pushAll` with one `push` per frame on twin encoders (the bytes, joined; the error, every field
 * alike), then pushes `probe` on both to check that they are in the same state: use a frame that
 * fails with an error carrying the encoder's offset (the default, a 16 MiB byte frame, is over
 * most limits; pass one for codecs of other frames). Does nothing for an encoder without
 * `pushAll`.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkPushAll = <A, E>(
  codec: Codec<A, E>,
  frames: ReadonlyArray<A>,
  before: ReadonlyArray<A> = [],
  probe: A = (bigFrame ??= Buffer.alloc(1 << 24, 0x61)) as A
): void => {
  const fast = codec.encoder()
  const slow = codec.encoder()
  if (fast.pushAll === undefined) return
  const fail = (details: string) => {
    throw new LawViolation({ law: "batches", details: `${codec.name} on ${frames.length} frames: ${details}` })
  }
  for (const frame of before) {
    fast.push(frame, [])
    slow.push(frame, [])
  }
  const got: Array<Uint8Array> = []
  const error = fast.pushAll(frames, got)
  const want: Array<Uint8Array> = []
  let expected: E | undefined = undefined
  for (const frame of frames) {
    expected = slow.push(frame, want)
    if (expected !== undefined) break
  }
  if (!isDeepStrictEqual(error, expected)) {
    const say = (e: E | undefined) => `${describeError(e)}${e === undefined ? "" : ` (${String(e)})`}`
    fail(`pushAll gives ${say(error)}, push gives ${say(expected)}`)
  }
  const a = Buffer.concat(got)
  const b = Buffer.concat(want)
  if (!a.equals(b)) fail(`pushAll wrote ${show(a)}, push wrote ${show(b)}`)
  const probeFast: Array<Uint8Array> = []
  const probeSlow: Array<Uint8Array> = []
  const afterFast = fast.push(probe, probeFast)
  const afterSlow = slow.push(probe, probeSlow)
  if (!isDeepStrictEqual(afterFast, afterSlow) || !Buffer.concat(probeFast).equals(Buffer.concat(probeSlow))) {
    fail(`a frame pushed after pushAll gives ${describeError(afterFast)}, after push ${describeError(afterSlow)}`)
  }
}

/**
 * Law 5 as a FastCheck property: a batch drawn from `frames`, after up to 2 frames drawn from it
 * pushed one by one. Give frames that sometimes cannot be encoded, so that errors are compared too.
 *
 * @example
 * ```ts
 * import { FastCheck } from "effect"
 * import { Framing, Laws } from "effect-wire"
 *
 * // random frames: some hold a newline or pass the limit of 8 bytes, so errors are compared too
 * const frames = FastCheck.array(FastCheck.uint8Array({ maxLength: 16 }))
 * FastCheck.assert(Laws.pushAllProperty(Framing.lines({ maxLineBytes: 8 }), frames))
 * console.log("pushAll law holds")
 * // Output: pushAll law holds
 * ```
 *
 * @since 0.1.0
 * @category properties
 */
export const pushAllProperty = <A, E>(
  codec: Codec<A, E>,
  frames: fc.Arbitrary<ReadonlyArray<A>>,
  probe?: A
): fc.IProperty<[ReadonlyArray<A>, ReadonlyArray<A>]> =>
  fc.property(frames, frames, (batch, before) => {
    checkPushAll(codec, batch, before.slice(0, 2), probe)
  })

/**
 * What `properties` needs: frames the codec can encode, and optionally raw inputs to try.
 *
 * @since 0.1.0
 * @category models
 */
export interface LawInputs<A> {
  readonly frames: fc.Arbitrary<ReadonlyArray<A>>
  /** Arbitrary (often malformed) inputs; by default random bytes and mutated encodings. */
  readonly bytes?: fc.Arbitrary<Uint8Array>
  readonly equals?: (a: A, b: A) => boolean
}

/**
 * The three laws as FastCheck properties, ready for `FastCheck.assert`.
 *
 * @since 0.1.0
 * @category properties
 */
export const properties = <A, E>(codec: Codec<A, E>, inputs: LawInputs<A>): {
  readonly roundTrip: fc.IProperty<[ReadonlyArray<A>, Array<number>]>
  readonly errorInvariance: fc.IProperty<[Uint8Array, Array<number>]>
  readonly poisoning: fc.IProperty<[Uint8Array, Uint8Array]>
} => {
  const equals = inputs.equals ?? defaultEquals
  const bytes = inputs.bytes ?? mutatedEncodings(codec, inputs.frames)
  return {
    roundTrip: fc.property(inputs.frames, cuts(4096), (frames, cs) => {
      checkRoundTrip(codec, frames, cs, equals)
    }),
    errorInvariance: fc.property(bytes, cuts(4096), (input, cs) => {
      checkErrorInvariance(codec, input, cs, equals)
    }),
    poisoning: fc.property(bytes, fc.uint8Array({ maxLength: 64 }), (input, more) => {
      checkPoisoning(codec, input, more)
    })
  }
}

/**
 * Inputs near the codec's format: random bytes, encodings of valid frames, and those encodings
 * with bytes flipped, inserted, removed or the end cut off.
 *
 * @since 0.1.0
 * @category utils
 */
export const mutatedEncodings = <A, E>(
  codec: Codec<A, E>,
  frames: fc.Arbitrary<ReadonlyArray<A>>
): fc.Arbitrary<Uint8Array> => {
  const encoded = frames.map((fs) => {
    const bytes = encodeAll(codec, fs)
    return Either.isRight(bytes) ? bytes.right : EMPTY
  })
  const mutated = fc.tuple(
    encoded,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(3)), {
      minLength: 1,
      maxLength: 4
    })
  ).map(([bytes, edits]) => {
    const out = Array.from(bytes)
    for (const [at, value, kind] of edits) {
      const i = out.length === 0 ? 0 : at % out.length
      if (kind === 0) out[i] = value
      else if (kind === 1) out.splice(i, 0, value)
      else if (kind === 2) out.splice(i, 1)
      else out.length = i
    }
    return Uint8Array.from(out)
  })
  return fc.oneof(fc.uint8Array({ maxLength: 256 }), encoded, mutated)
}
