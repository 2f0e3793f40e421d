/**
 * Throughput benchmark of the framing codecs.
 *
 * Run:
 *
 *   node --expose-gc --import tsx bench/codecs.ts [--json FILE]   (preferred: GC between cells)
 *   npx tsx bench/codecs.ts [--json FILE]                         (no GC between cells)
 *
 * `--only encode` (or any of decode, encode, linearity, goal, comma-separated) runs those
 * sections alone, e.g. `npm run bench:codecs -- --only encode`.
 *
 * What it measures (all in one process, so ratios compare numbers taken in the same run):
 *
 * 1. Decode throughput of every codec for frame payloads of 16 B, 1 KiB and 64 KiB fed in input
 *    chunks of 1 B, 1460 B (a TCP segment) and 64 KiB (a socket read), against
 *    - a plain hand-written `Buffer` decoder of the same wire format, written below (`×hand`);
 *    - `split2` for lines and `it-length-prefixed` for varint (`×lib`), each driven the way it
 *      is meant to be driven (see `runSplit2` / `runItLp`).
 * 2. Encode throughput (encode N frames, join into one buffer) against a hand-written encoder,
 *    through `Codec.pushAll` (the codec's row: what `Codec.encodeAll` and `Codec.encode` do) and
 *    with one `push` per frame (the "push per frame" row: what a server does with its replies).
 * 3. Linearity under a 1-byte trickle: the per-byte cost of one large frame (1 MiB payload) fed
 *    in 1 B chunks divided by the same in 64 KiB chunks, next to the hand-written decoder's ratio,
 *    plus the growth of the 1 B per-byte cost from a 64 KiB frame to a 1 MiB frame (about 1 when
 *    linear, about 16 when quadratic).
 * 4. The goal line: lengthPrefixed and lines at 1 KiB frames in 64 KiB chunks against their
 *    hand-written decoders, measured again in 5 fresh interleaved rounds (median ratio, with the
 *    range of the rounds to show the noise).
 *
 * Method. Each cell pre-builds its wire bytes and its chunk list before timing (1 B chunks are
 * references into a table of 256 one-byte Buffers, so millions of them cost one pointer each;
 * larger chunks are `subarray` views of one Buffer, as a socket hands out). The implementations
 * compared in a cell (codec, hand-written, third-party) get one warm-up pass each (which also
 * checks the frame count and payload byte sum), then timed passes, each with a fresh decoder,
 * interleaved round-robin so that load from elsewhere on the machine hits them alike, until each
 * has spent ~150 ms or has fed its byte cap (4 MB for 1 B chunks, 64 MB otherwise); one that
 * reaches the cap in under 50 ms goes on to 50 ms so that the timer stays meaningful (decoders
 * that only slice views touch a few bytes per 64 KiB frame). The throughput is wire bytes
 * (headers and delimiters included; MB = 10^6 bytes) over the fastest pass time: on this kind of
 * VM, passes that allocate (frames copied out of several chunks, encoded output) come out
 * bimodal, some 10-30x slower at random when the allocator has to fault fresh pages in, whatever
 * the implementation, so the median swings and the minimum is the stable estimate of the CPU
 * cost (the JSON also has the median). All synchronous
 * decoders, codecs and hand-written ones alike, are driven by the same loop (`runSync`) and
 * pre-warmed together, so they pay the same call-site cost. Every decoder's output array is
 * emptied after each push. `process.hrtime.bigint()` times everything; with `--expose-gc` the
 * collector runs before every cell. The load average is printed at the start and the end: on a
 * busy machine absolute numbers drop, ratios much less.
 *
 * Every decode pass must yield exactly the frames the input holds (the hand-written decoders
 * included); every codec's encoder output must equal the hand-written encoder's bytes. Any
 * mismatch is printed and the process exits with code 1.
 *
 * Codec settings: `lines({ maxLineBytes: 4 MiB })` (its default, 64 KiB, is exactly the largest
 * frame here, the linearity frame is 1 MiB), `lengthPrefixed({ maxFrameBytes: 4 MiB })` with the
 * default u32be header, `varint({ maxFrameBytes: 4 MiB })`, `delimited({ delimiter: "\0" })`
 * (one byte, so it has a hand-written `indexOf` twin; `delimited("\r\n\r\n")` is in the linearity
 * table for its multi-byte carry path), `contentLength({ maxFrameBytes: 4 MiB })` (no hand-written
 * decoder), `fixed(n)` with n the payload size.
 */
import { decode as lpDecode } from "it-length-prefixed"
import { Buffer } from "node:buffer"
import { once } from "node:events"
import { writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import process from "node:process"
import split2 from "split2"
import { type Codec, joinParts, pushAll } from "../src/protocol/Codec.js"
import { contentLength } from "../src/protocol/ContentLength.js"
import { delimited } from "../src/protocol/Delimited.js"
import { fixed } from "../src/protocol/Fixed.js"
import { lengthPrefixed } from "../src/protocol/LengthPrefixed.js"
import { lines } from "../src/protocol/Lines.js"
import { varint } from "../src/protocol/Varint.js"

// ---------------------------------------------------------------------------------------------
// Settings

const KiB = 1024
const MiB = 1024 * KiB
const FRAME_SIZES = [16, KiB, 64 * KiB] as const
const CHUNK_SIZES = [1, 1460, 64 * KiB] as const
/** Wire bytes pre-built per decode cell (at least MIN_FRAMES frames). */
const WIRE_BYTES_1B = 256 * KiB
const WIRE_BYTES = 4 * MiB
const MIN_FRAMES = 4
/** Bytes fed per cell at most (unless the cell is still under MIN_NS). */
const CAP_1B = 4_000_000
const CAP = 64_000_000
const TARGET_NS = 150_000_000n
const MIN_NS = 50_000_000n
/** A single pass running longer than this is abandoned and the cell reported as too slow. */
const PASS_DEADLINE_NS = 5_000_000_000n
/** Payload bytes encoded per encode pass. */
const ENCODE_BYTES = 4 * MiB
const LIMIT = 4 * MiB
const LINEAR_FRAME = MiB
/** Fresh interleaved measurements of the goal cell (lengthPrefixed and lines, 1 KiB / 64 KiB). */
const GOAL_ROUNDS = 5

const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc
const now = (): bigint => process.hrtime.bigint()

// ---------------------------------------------------------------------------------------------
// Wire formats and hand-written encoders (also used to build every input)

type Format = "lines" | "u32be" | "varint" | "nul" | "crlfcrlf" | "contentLength" | "fixed"

const LF = 0x0a

const varintLength = (n: number): number => {
  let length = 1
  while (n >= 128 ** length) length++
  return length
}

const writeVarint = (out: Buffer, at: number, n: number): number => {
  let v = n
  let pos = at
  while (v >= 128) {
    out[pos++] = (v % 128) | 0x80
    v = Math.floor(v / 128)
  }
  out[pos++] = v
  return pos
}

const CRLFCRLF = Buffer.from("\r\n\r\n")
const contentLengthHeader = (n: number): string => `Content-Length: ${n}\r\n\r\n`

/**
 * Hand-written encoders: one pass to size, one allocation, one copy per frame. The delimiter
 * encoders check that a frame does not contain its delimiter, as a correct encoder must (the
 * codecs check that, and a bit more: lines also refuses a trailing `\r`).
 */
const handEncoders: Record<Format, ((frames: ReadonlyArray<Buffer>) => Buffer) | undefined> = {
  lines: (frames) => delimiterEncode(frames, LF),
  nul: (frames) => delimiterEncode(frames, 0),
  u32be: (frames) => {
    let total = 0
    for (const f of frames) total += 4 + f.length
    const out = Buffer.allocUnsafe(total)
    let pos = 0
    for (const f of frames) {
      out.writeUInt32BE(f.length, pos)
      out.set(f, pos + 4)
      pos += 4 + f.length
    }
    return out
  },
  varint: (frames) => {
    let total = 0
    for (const f of frames) total += varintLength(f.length) + f.length
    const out = Buffer.allocUnsafe(total)
    let pos = 0
    for (const f of frames) {
      pos = writeVarint(out, pos, f.length)
      out.set(f, pos)
      pos += f.length
    }
    return out
  },
  contentLength: (frames) => {
    let total = 0
    for (const f of frames) total += contentLengthHeader(f.length).length + f.length
    const out = Buffer.allocUnsafe(total)
    let pos = 0
    for (const f of frames) {
      pos += out.write(contentLengthHeader(f.length), pos, "latin1")
      out.set(f, pos)
      pos += f.length
    }
    return out
  },
  fixed: (frames) => Buffer.concat(frames as Array<Buffer>),
  crlfcrlf: undefined
}

function delimiterEncode(frames: ReadonlyArray<Buffer>, byte: number): Buffer {
  let total = 0
  for (const f of frames) {
    if (f.indexOf(byte) !== -1) throw new Error("frame contains the delimiter")
    total += f.length + 1
  }
  const out = Buffer.allocUnsafe(total)
  let pos = 0
  for (const f of frames) {
    out.set(f, pos)
    pos += f.length
    out[pos++] = byte
  }
  return out
}

/** Builds a wire (any format, the multi-byte delimiter included) without the timing concerns. */
const buildWire = (format: Format, frames: ReadonlyArray<Buffer>): Buffer => {
  if (format === "crlfcrlf") {
    const parts: Array<Buffer> = []
    for (const f of frames) parts.push(f, CRLFCRLF)
    return Buffer.concat(parts)
  }
  return handEncoders[format]!(frames)
}

// ---------------------------------------------------------------------------------------------
// Hand-written decoders: straightforward `Buffer` code, linear on any chunking (unfinished
// frames are kept as a list of slices and copied once, when complete).

interface PushDecoder {
  push(chunk: Buffer, out: Array<Uint8Array>): unknown
  end(out: Array<Uint8Array>): unknown
}

/** Frames ended by one byte (`\n` for lines, `\0`): `indexOf` with carry-over. */
class HandByteDelimited implements PushDecoder {
  private parts: Array<Buffer> = []
  private pending = 0
  constructor(private readonly byte: number) {}

  push(chunk: Buffer, out: Array<Uint8Array>): unknown {
    const byte = this.byte
    let pos = 0
    let nl = chunk.indexOf(byte)
    if (nl !== -1 && this.pending > 0) {
      this.parts.push(chunk.subarray(0, nl))
      out.push(Buffer.concat(this.parts, this.pending + nl))
      this.parts = []
      this.pending = 0
      pos = nl + 1
      nl = chunk.indexOf(byte, pos)
    }
    while (nl !== -1) {
      out.push(chunk.subarray(pos, nl))
      pos = nl + 1
      nl = chunk.indexOf(byte, pos)
    }
    if (pos < chunk.length) {
      this.parts.push(pos === 0 ? chunk : chunk.subarray(pos))
      this.pending += chunk.length - pos
    }
    return undefined
  }

  end(): unknown {
    return this.pending > 0 ? "unexpected eof" : undefined
  }
}

/** Payload assembly shared by the length-prefixed hand decoders. */
abstract class HandPayload implements PushDecoder {
  protected need = -1
  private parts: Array<Buffer> = []
  private got = 0

  /** Reads a header at `pos`; returns the new position, with `this.need` set when complete. */
  protected abstract header(chunk: Buffer, pos: number): number
  protected abstract get inHeader(): boolean

  push(chunk: Buffer, out: Array<Uint8Array>): unknown {
    const n = chunk.length
    let pos = 0
    for (;;) {
      if (this.need < 0) {
        pos = this.header(chunk, pos)
        if (this.need < 0) return undefined
      }
      const need = this.need
      if (this.got === 0 && n - pos >= need) {
        out.push(chunk.subarray(pos, pos + need))
        pos += need
        this.need = -1
        continue
      }
      const take = Math.min(need - this.got, n - pos)
      if (take > 0) this.parts.push(take === n ? chunk : chunk.subarray(pos, pos + take))
      this.got += take
      pos += take
      if (this.got < need) return undefined
      out.push(Buffer.concat(this.parts, need))
      this.parts = []
      this.got = 0
      this.need = -1
    }
  }

  end(): unknown {
    return this.need >= 0 || this.inHeader ? "unexpected eof" : undefined
  }
}

/** u32be length + payload: header then payload, `readUInt32BE`, subarray frames. */
class HandU32 extends HandPayload {
  private readonly head = Buffer.alloc(4)
  private headLength = 0

  protected get inHeader(): boolean {
    return this.headLength > 0
  }

  protected header(chunk: Buffer, at: number): number {
    let pos = at
    if (this.headLength === 0 && chunk.length - pos >= 4) {
      this.need = chunk.readUInt32BE(pos)
      return pos + 4
    }
    while (this.headLength < 4 && pos < chunk.length) this.head[this.headLength++] = chunk[pos++]!
    if (this.headLength === 4) {
      this.need = this.head.readUInt32BE(0)
      this.headLength = 0
    }
    return pos
  }
}

/** Unsigned LEB128 length + payload. */
class HandVarint extends HandPayload {
  private value = 0
  private weight = 1
  private headLength = 0

  protected get inHeader(): boolean {
    return this.headLength > 0
  }

  protected header(chunk: Buffer, at: number): number {
    let pos = at
    while (pos < chunk.length) {
      const b = chunk[pos++]!
      this.value += (b & 0x7f) * this.weight
      if (b < 0x80) {
        this.need = this.value
        this.value = 0
        this.weight = 1
        this.headLength = 0
        return pos
      }
      this.weight *= 128
      if (++this.headLength > 8) throw new Error("varint too long")
    }
    return pos
  }
}

/** Frames of exactly `size` bytes. */
class HandFixed implements PushDecoder {
  private parts: Array<Buffer> = []
  private pending = 0
  constructor(private readonly size: number) {}

  push(chunk: Buffer, out: Array<Uint8Array>): unknown {
    const size = this.size
    const n = chunk.length
    let pos = 0
    if (this.pending > 0) {
      const missing = size - this.pending
      if (n < missing) {
        this.parts.push(chunk)
        this.pending += n
        return undefined
      }
      this.parts.push(chunk.subarray(0, missing))
      out.push(Buffer.concat(this.parts, size))
      this.parts = []
      this.pending = 0
      pos = missing
    }
    while (n - pos >= size) {
      out.push(chunk.subarray(pos, pos + size))
      pos += size
    }
    if (pos < n) {
      this.parts.push(chunk.subarray(pos))
      this.pending = n - pos
    }
    return undefined
  }

  end(): unknown {
    return this.pending > 0 ? "unexpected eof" : undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Implementations under test

type AnyCodec = Codec<Uint8Array, unknown>

interface CodecSpec {
  readonly name: string
  readonly format: Format
  readonly codec: (payload: number) => AnyCodec
  /** The hand-written decoder of the same wire format, if any. */
  readonly hand: ((payload: number) => PushDecoder) | undefined
  readonly handName: string
  /** The third-party decoder of the same wire format compared in `×lib`, if any. */
  readonly lib: string | undefined
}

const CODECS: ReadonlyArray<CodecSpec> = [
  {
    name: "lines",
    format: "lines",
    codec: () => lines({ maxLineBytes: LIMIT }),
    hand: () => new HandByteDelimited(LF),
    handName: "hand indexOf(10)",
    lib: "split2"
  },
  {
    name: "lengthPrefixed(u32be)",
    format: "u32be",
    codec: () => lengthPrefixed({ maxFrameBytes: LIMIT }),
    hand: () => new HandU32(),
    handName: "hand readUInt32BE",
    lib: undefined
  },
  {
    name: "varint",
    format: "varint",
    codec: () => varint({ maxFrameBytes: LIMIT }),
    hand: () => new HandVarint(),
    handName: "hand LEB128",
    lib: "it-length-prefixed (async)"
  },
  {
    name: "delimited(00)",
    format: "nul",
    codec: () => delimited({ delimiter: Uint8Array.of(0), maxFrameBytes: LIMIT }),
    hand: () => new HandByteDelimited(0),
    handName: "hand indexOf(0)",
    lib: undefined
  },
  {
    name: "contentLength",
    format: "contentLength",
    codec: () => contentLength({ maxFrameBytes: LIMIT }),
    hand: undefined,
    handName: "",
    lib: undefined
  },
  {
    name: "fixed(n)",
    format: "fixed",
    codec: (payload) => fixed(payload),
    hand: (payload) => new HandFixed(payload),
    handName: "hand fixed slicer",
    lib: undefined
  }
]

/** Only in the linearity table: a multi-byte delimiter exercises the carried KMP state. */
const DELIMITED_CRLFCRLF: CodecSpec = {
  name: "delimited(0d0a0d0a)",
  format: "crlfcrlf",
  codec: () => delimited({ delimiter: "\r\n\r\n", maxFrameBytes: LIMIT }),
  hand: undefined,
  handName: "",
  lib: undefined
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** Printable ASCII payload bytes: no `\n`, `\r` or `\0`, so every format can carry them. */
const payloads = (size: number, count: number): Array<Buffer> => {
  const distinct = Math.min(count, 64)
  const made: Array<Buffer> = []
  for (let k = 0; k < distinct; k++) {
    const b = Buffer.allocUnsafe(size)
    for (let i = 0; i < size; i++) b[i] = 0x21 + ((i * 7 + k) % 90)
    made.push(b)
  }
  const out: Array<Buffer> = []
  for (let i = 0; i < count; i++) out.push(made[i % distinct]!)
  return out
}

const BYTE_CHUNKS: ReadonlyArray<Buffer> = Array.from({ length: 256 }, (_, i) => Buffer.from([i]))

const chunksOf = (wire: Buffer, size: number): Array<Buffer> => {
  const out: Array<Buffer> = []
  if (size === 1) {
    for (let i = 0; i < wire.length; i++) out.push(BYTE_CHUNKS[wire[i]!]!)
  } else {
    for (let i = 0; i < wire.length; i += size) out.push(wire.subarray(i, Math.min(wire.length, i + size)))
  }
  return out
}

interface Input {
  readonly chunks: ReadonlyArray<Buffer>
  readonly wireBytes: number
  readonly frames: number
  readonly payloadBytes: number
}

const makeInput = (format: Format, payload: number, frameCount: number, chunkSize: number): Input => {
  const wire = buildWire(format, payloads(payload, frameCount))
  return {
    chunks: chunksOf(wire, chunkSize),
    wireBytes: wire.length,
    frames: frameCount,
    payloadBytes: payload * frameCount
  }
}

const framesFor = (format: Format, payload: number, targetBytes: number): number => {
  const one = buildWire(format, payloads(payload, 1)).length
  return Math.max(MIN_FRAMES, Math.ceil(targetBytes / one))
}

// ---------------------------------------------------------------------------------------------
// Drivers

class TooSlow extends Error {}

interface PassResult {
  readonly frames: number
  readonly bytes: number
}

type Runner = (input: Input, check: boolean, deadline: bigint) => PassResult | Promise<PassResult>

/** The one loop that drives every synchronous decoder, codecs and hand-written ones alike. */
const runSync = (make: () => PushDecoder, input: Input, check: boolean, deadline: bigint): PassResult => {
  const decoder = make()
  const chunks = input.chunks
  const out: Array<Uint8Array> = []
  let frames = 0
  let bytes = 0
  for (let i = 0; i < chunks.length; i++) {
    const error = decoder.push(chunks[i]!, out)
    if (error !== undefined) throw new Error(`decode error: ${String(error)}`)
    if (out.length > 0) {
      frames += out.length
      if (check) { for (const f of out) bytes += f.length }
      out.length = 0
    }
    if ((i & 0xffff) === 0xffff && now() > deadline) throw new TooSlow()
  }
  const error = decoder.end(out)
  if (error !== undefined) throw new Error(`decode error at end: ${String(error)}`)
  frames += out.length
  if (check) { for (const f of out) bytes += f.length }
  return { frames, bytes }
}

const codecRunner = (codec: AnyCodec): Runner => (input, check, deadline) =>
  runSync(() => codec.decoder() as unknown as PushDecoder, input, check, deadline)

const handRunner = (make: () => PushDecoder): Runner => (input, check, deadline) =>
  runSync(make, input, check, deadline)

/**
 * split2 is a Node Transform stream: write the chunks (waiting for 'drain' when `write` says so)
 * and count 'data' events. Its per-line cost includes UTF-8 decoding to strings and a regex
 * split, which is its design. It appends each chunk to the unfinished line's string and splits
 * the whole string again, so small chunks inside long lines are quadratic in the line length.
 */
const runSplit2: Runner = async (input, check, deadline) => {
  const stream = split2()
  let frames = 0
  let bytes = 0
  stream.on("data", (line: string) => {
    frames++
    if (check) bytes += line.length
  })
  const ended = new Promise<void>((resolve, reject) => {
    stream.on("end", () => resolve())
    stream.on("error", reject)
  })
  const chunks = input.chunks
  for (let i = 0; i < chunks.length; i++) {
    if (!stream.write(chunks[i]!)) await once(stream, "drain")
    if ((i & 0xfff) === 0xfff && now() > deadline) {
      stream.destroy()
      throw new TooSlow()
    }
  }
  stream.end()
  await ended
  return { frames, bytes }
}

/**
 * it-length-prefixed `decode` over an async iterable of chunks, as it is used in libp2p streams
 * (the frames are `Uint8ArrayList` views, not copies). The cost of async iteration (a promise
 * and a microtask per chunk and per frame) is part of that library's design, so it is part of
 * the measurement. Since v10 it also takes a sync iterable and returns a sync generator:
 * that row is `it-length-prefixed (sync)`.
 */
const runItLp = (mode: "async" | "sync"): Runner => async (input, check, deadline) => {
  const chunks = input.chunks
  let frames = 0
  let bytes = 0
  if (mode === "sync") {
    let i = 0
    for (const frame of lpDecode(chunks)) {
      frames++
      if (check) bytes += frame.byteLength
      if ((++i & 0xfff) === 0 && now() > deadline) throw new TooSlow()
    }
    return { frames, bytes }
  }
  async function* source(): AsyncGenerator<Buffer> {
    for (let i = 0; i < chunks.length; i++) {
      if ((i & 0xfff) === 0xfff && now() > deadline) throw new TooSlow()
      yield chunks[i]!
    }
  }
  for await (const frame of lpDecode(source())) {
    frames++
    if (check) bytes += frame.byteLength
  }
  return { frames, bytes }
}

// ---------------------------------------------------------------------------------------------
// Measurement

interface Measured {
  readonly status: "ok" | "slow" | "skipped" | "error"
  readonly note?: string
  /** Time of the fastest pass, ns: the one the numbers are computed from. */
  readonly passNs: number
  /** Median time of a pass, ns (in the JSON only). */
  readonly medianPassNs: number
  readonly passes: number
  readonly wireBytes: number
  readonly frames: number
  readonly mbPerS: number
  readonly framesPerS: number
  readonly nsPerByte: number
}

const failures: Array<string> = []

const median = (xs: Array<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const unmeasured = (status: Measured["status"], note: string, input: Input): Measured => ({
  status,
  note,
  passNs: NaN,
  medianPassNs: NaN,
  passes: 0,
  wireBytes: input.wireBytes,
  frames: input.frames,
  mbPerS: NaN,
  framesPerS: NaN,
  nsPerByte: NaN
})

/** One implementation in a measured group. */
interface Contender {
  readonly label: string
  readonly run: Runner
}

const okResult = (input: Input, times: Array<number>): Measured => {
  const passNs = Math.min(...times)
  return {
    status: "ok",
    passNs,
    medianPassNs: median(times),
    passes: times.length,
    wireBytes: input.wireBytes,
    frames: input.frames,
    mbPerS: (input.wireBytes / passNs) * 1e3,
    framesPerS: (input.frames / passNs) * 1e9,
    nsPerByte: passNs / input.wireBytes
  }
}

/**
 * Measures the contenders of one cell on the same input, interleaved: after one checked warm-up
 * pass each (frame count and payload bytes), timed passes go round-robin (the order rotating
 * every round) so that a burst of load from elsewhere on the machine hits all of them alike. A
 * contender stops once it has spent TARGET_NS in timed passes, or once the next pass would feed
 * more than `cap` bytes and it has spent MIN_NS. Each pass must yield the expected frame count.
 */
const measureGroup = async (
  contenders: ReadonlyArray<Contender>,
  input: Input,
  cap: number
): Promise<Array<Measured>> => {
  gc?.()
  const results: Array<Measured | undefined> = contenders.map(() => undefined)
  const fail = (k: number, e: unknown): void => {
    if (e instanceof TooSlow) {
      results[k] = unmeasured("slow", `a pass took over ${Number(PASS_DEADLINE_NS) / 1e9} s`, input)
      return
    }
    const msg = `${contenders[k]!.label}: ${e instanceof Error ? e.message : String(e)}`
    failures.push(msg)
    results[k] = unmeasured("error", msg, input)
  }
  const pass = async (k: number, check: boolean): Promise<{ r: PassResult; ns: number }> => {
    const t0 = now()
    const p = contenders[k]!.run(input, check, t0 + PASS_DEADLINE_NS)
    const r = p instanceof Promise ? await p : p
    const ns = Number(now() - t0)
    const bad = r.frames !== input.frames || (check && r.bytes !== input.payloadBytes)
    if (bad) {
      throw new Error(
        `decoded ${r.frames} frames${check ? ` / ${r.bytes} payload bytes` : ""}, expected ${input.frames}` +
          `${check ? ` / ${input.payloadBytes}` : ""}`
      )
    }
    return { r, ns }
  }
  for (let k = 0; k < contenders.length; k++) {
    try {
      await pass(k, true)
    } catch (e) {
      fail(k, e)
    }
  }
  const times: Array<Array<number>> = contenders.map(() => [])
  const spent = contenders.map(() => 0)
  const fed = contenders.map(() => 0)
  const active = (k: number): boolean => {
    if (results[k] !== undefined) return false
    if (spent[k]! >= Number(TARGET_NS)) return false
    return !(fed[k]! + input.wireBytes > cap && spent[k]! >= Number(MIN_NS))
  }
  for (let round = 0; contenders.some((_, k) => active(k)); round++) {
    for (let j = 0; j < contenders.length; j++) {
      const k = (j + round) % contenders.length
      if (!active(k)) continue
      try {
        const { ns } = await pass(k, false)
        times[k]!.push(ns)
        spent[k]! += ns
        fed[k]! += input.wireBytes
      } catch (e) {
        fail(k, e)
      }
    }
  }
  return results.map((r, k) => r ?? okResult(input, times[k]!))
}

// ---------------------------------------------------------------------------------------------
// Formatting

const fmtNum = (x: number): string => {
  if (!Number.isFinite(x)) return "—"
  if (x >= 1000) return Math.round(x).toString()
  if (x >= 100) return x.toFixed(0)
  if (x >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

const fmtSi = (x: number): string => {
  if (!Number.isFinite(x)) return "—"
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)}G`
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}K`
  return x.toFixed(0)
}

const fmtRatio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "—")

const fmtSize = (n: number): string =>
  n >= MiB && n % MiB === 0 ? `${n / MiB} MiB` : n >= KiB && n % KiB === 0 ? `${n / KiB} KiB` : `${n} B`

const cellValue = (m: Measured | undefined, pick: (m: Measured) => string): string => {
  if (m === undefined) return ""
  if (m.status === "ok") return pick(m)
  return m.status === "skipped" ? "skip" : m.status === "slow" ? "slow" : "ERR"
}

/**
 * Prints an aligned table: `groups` label spans of columns above the header row; the first
 * column is left-aligned, the others right-aligned.
 */
const printTable = (
  groups: ReadonlyArray<{ label: string; span: number }>,
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>
): void => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const sep = "  "
  const groupGap = " │ "
  // Columns 1.. are split into groups; a group starts after `groupGap`.
  const starts = new Set<number>()
  let col = 1
  for (const g of groups) {
    starts.add(col)
    col += g.span
  }
  const line = (cells: ReadonlyArray<string>): string =>
    cells
      .map((c, i) => {
        const w = widths[i]!
        const text = i === 0 ? c.padEnd(w) : c.padStart(w)
        return i === 0 ? text : (starts.has(i) ? groupGap : sep) + text
      })
      .join("")
      .trimEnd()
  if (groups.length > 0) {
    let top = " ".repeat(widths[0]!)
    let c = 1
    for (const g of groups) {
      let w = 0
      for (let i = c; i < c + g.span; i++) w += widths[i]! + (i === c ? 0 : sep.length)
      top += groupGap + g.label.padStart(Math.floor((w + g.label.length) / 2)).padEnd(w)
      c += g.span
    }
    console.log(top.trimEnd())
  }
  console.log(line(header))
  console.log("─".repeat(line(header).length))
  for (const r of rows) console.log(line(r))
}

// ---------------------------------------------------------------------------------------------
// The runs

interface DecodeRow {
  readonly impl: string
  readonly kind: "codec" | "hand" | "lib"
  readonly codec: string
  readonly payload: number
  readonly chunk: number
  readonly result: Measured
}

/** The encode table's row of one `push` per frame (the codec's row is `Codec.pushAll`). */
const PUSH_ROW = "push per frame"

interface EncodeRow {
  readonly impl: string
  /** `codec`: `Codec.pushAll`; `push`: one `push` per frame; `hand`: the hand-written encoder. */
  readonly kind: "codec" | "push" | "hand"
  readonly codec: string
  readonly payload: number
  readonly result: Measured
  /** The hand-written encoder timed in the same group (the hand row shows the codec row's). */
  readonly baseline?: Measured | undefined
}

interface LinearRow {
  readonly impl: string
  readonly kind: "codec" | "hand"
  readonly codec: string
  readonly nsPerByte1BSmall: number
  readonly nsPerByte1B: number
  readonly nsPerByte64K: number
}

const libRunners: Record<string, Runner> = {
  "split2": runSplit2,
  "it-length-prefixed (async)": runItLp("async"),
  "it-length-prefixed (sync)": runItLp("sync")
}

const libsFor = (spec: CodecSpec): Array<string> =>
  spec.name === "lines"
    ? ["split2"]
    : spec.name === "varint"
    ? ["it-length-prefixed (async)", "it-length-prefixed (sync)"]
    : []

/** Runs every synchronous decoder over a small input once, so the shared call site is warm. */
const prewarm = (): void => {
  for (const spec of [...CODECS, DELIMITED_CRLFCRLF]) {
    for (const payload of [16, KiB]) {
      for (const chunk of [1, 1460]) {
        const input = makeInput(spec.format, payload, 64, chunk)
        const far = now() + PASS_DEADLINE_NS
        for (let k = 0; k < 3; k++) {
          runSync(() => spec.codec(payload).decoder() as unknown as PushDecoder, input, false, far)
          if (spec.hand !== undefined) runSync(() => spec.hand!(payload), input, false, far)
        }
      }
    }
  }
}

const runDecode = async (): Promise<Array<DecodeRow>> => {
  const rows: Array<DecodeRow> = []
  for (const payload of FRAME_SIZES) {
    for (const spec of CODECS) {
      for (const chunk of CHUNK_SIZES) {
        const frameCount = framesFor(spec.format, payload, chunk === 1 ? WIRE_BYTES_1B : WIRE_BYTES)
        const input = makeInput(spec.format, payload, frameCount, chunk)
        const cap = chunk === 1 ? CAP_1B : CAP
        const cell = `${spec.name} payload ${fmtSize(payload)} chunks ${fmtSize(chunk)}`
        const group: Array<[string, DecodeRow["kind"], Runner]> = [[
          spec.name,
          "codec",
          codecRunner(spec.codec(payload))
        ]]
        if (spec.hand !== undefined) {
          const make = spec.hand
          group.push([spec.handName, "hand", handRunner(() => make(payload))])
        }
        const skipped: Array<string> = []
        for (const lib of libsFor(spec)) {
          // split2 keeps the unfinished line as a string and splits all of it again per chunk.
          if (lib === "split2" && chunk === 1 && payload >= 64 * KiB) skipped.push(lib)
          else group.push([lib, "lib", libRunners[lib]!])
        }
        const results = await measureGroup(
          group.map(([impl, , run]) => ({ label: `${cell} (${impl})`, run })),
          input,
          cap
        )
        group.forEach(([impl, kind], k) =>
          rows.push({ impl, kind, codec: spec.name, payload, chunk, result: results[k]! })
        )
        for (const lib of skipped) {
          const note = "quadratic by design (re-splits the whole unfinished line on every chunk)"
          rows.push({
            impl: lib,
            kind: "lib",
            codec: spec.name,
            payload,
            chunk,
            result: unmeasured("skipped", note, input)
          })
        }
      }
      process.stderr.write(".")
    }
  }
  process.stderr.write("\n")
  return rows
}

const runEncode = async (): Promise<Array<EncodeRow>> => {
  const rows: Array<EncodeRow> = []
  for (const payload of FRAME_SIZES) {
    const count = Math.max(MIN_FRAMES, Math.ceil(ENCODE_BYTES / payload))
    const frames = payloads(payload, count)
    for (const spec of CODECS) {
      const expected = buildWire(spec.format, frames)
      const input: Input = { chunks: [], wireBytes: expected.length, frames: count, payloadBytes: payload * count }
      const codec = spec.codec(payload)
      const label = `encode ${spec.name} payload ${fmtSize(payload)}`
      // The codec's batch path (`Codec.pushAll`, as `encodeAll` and `encode` use it).
      const codecEncode = (): Uint8Array => {
        const parts: Array<Uint8Array> = []
        const error = pushAll(codec.encoder(), frames, parts)
        if (error !== undefined) throw new Error(`encode error: ${String(error)}`)
        return joinParts(parts)
      }
      // One `push` per frame, joined once (a server's replies to one read, one by one).
      const pushEncode = (): Uint8Array => {
        const encoder = codec.encoder()
        const parts: Array<Uint8Array> = []
        for (let i = 0; i < frames.length; i++) {
          const error = encoder.push(frames[i]!, parts)
          if (error !== undefined) throw new Error(`encode error: ${String(error)}`)
        }
        return joinParts(parts)
      }
      const hand = handEncoders[spec.format]
      const handName = `hand ${spec.format}`
      // An encode pass yields the whole wire; the warm-up pass checks it against the expected bytes.
      const runnerOf = (encode: () => Uint8Array): Runner => (_input, check) => {
        const wire = encode()
        if (check && Buffer.compare(wire, expected) !== 0) {
          throw new Error(`encoded ${wire.length} bytes that differ from the expected ${expected.length}`)
        }
        return { frames: count, bytes: check ? payload * count : 0 }
      }
      // Each row is timed against the hand-written encoder in a group of its own: the garbage of
      // one push per frame (a part or two per frame) slowed whatever ran next to it by up to 10%.
      let handResult: Measured | undefined
      for (const [impl, kind, encode] of [[spec.name, "codec", codecEncode], [PUSH_ROW, "push", pushEncode]] as const) {
        const group: Array<Contender> = [{ label: `${label} (${impl})`, run: runnerOf(encode) }]
        if (hand !== undefined) group.push({ label: `${label} (${handName})`, run: runnerOf(() => hand(frames)) })
        const [result, baseline] = await measureGroup(group, input, CAP)
        rows.push({ impl, kind, codec: spec.name, payload, result: result!, baseline })
        handResult ??= baseline
      }
      if (handResult !== undefined) {
        rows.push({ impl: handName, kind: "hand", codec: spec.name, payload, result: handResult })
      }
    }
  }
  return rows
}

const runLinearity = async (): Promise<Array<LinearRow>> => {
  const rows: Array<LinearRow> = []
  const small = 64 * KiB
  for (const spec of [...CODECS, DELIMITED_CRLFCRLF]) {
    const names: Array<[string, "codec" | "hand"]> = [[spec.name, "codec"]]
    const runners = (payload: number): Array<Contender> => {
      const out: Array<Contender> = [{ label: `linearity ${spec.name}`, run: codecRunner(spec.codec(payload)) }]
      if (spec.hand !== undefined) {
        const make = spec.hand
        out.push({ label: `linearity ${spec.handName}`, run: handRunner(() => make(payload)) })
      }
      return out
    }
    if (spec.hand !== undefined) names.push([spec.handName, "hand"])
    const a = await measureGroup(runners(small), makeInput(spec.format, small, 16, 1), CAP_1B)
    const b = await measureGroup(runners(LINEAR_FRAME), makeInput(spec.format, LINEAR_FRAME, 1, 1), CAP_1B)
    const c = await measureGroup(runners(LINEAR_FRAME), makeInput(spec.format, LINEAR_FRAME, 1, 64 * KiB), CAP)
    names.forEach(([impl, kind], k) =>
      rows.push({
        impl,
        kind,
        codec: spec.name,
        nsPerByte1BSmall: a[k]!.nsPerByte,
        nsPerByte1B: b[k]!.nsPerByte,
        nsPerByte64K: c[k]!.nsPerByte
      })
    )
  }
  return rows
}

// ---------------------------------------------------------------------------------------------
// Report

const printDecode = (rows: ReadonlyArray<DecodeRow>): void => {
  const find = (impl: string, codec: string, payload: number, chunk: number) =>
    rows.find((r) => r.impl === impl && r.codec === codec && r.payload === payload && r.chunk === chunk)?.result
  console.log(
    "\nDECODE  best of interleaved passes · MB/s = 10^6 wire bytes/s (headers and delimiters included) · ×hand = ÷ hand-written decoder of the " +
      "same wire format · ×lib = ÷ split2 (lines) / it-length-prefixed async (varint)"
  )
  for (const payload of FRAME_SIZES) {
    console.log(`\npayload ${fmtSize(payload)}`)
    const groups = CHUNK_SIZES.map((c) => ({ label: `${fmtSize(c)} chunks`, span: 4 }))
    const header = ["impl", ...CHUNK_SIZES.flatMap(() => ["MB/s", "frames/s", "×hand", "×lib"])]
    const table: Array<Array<string>> = []
    for (const spec of CODECS) {
      const impls: Array<[string, string]> = [[spec.name, spec.name]]
      if (spec.hand !== undefined) impls.push([spec.handName, `  ${spec.handName}`])
      for (const lib of libsFor(spec)) impls.push([lib, `  ${lib}`])
      for (const [impl, label] of impls) {
        const row = [label]
        for (const chunk of CHUNK_SIZES) {
          const m = find(impl, spec.name, payload, chunk)
          const hand = spec.hand !== undefined ? find(spec.handName, spec.name, payload, chunk) : undefined
          const lib = spec.lib !== undefined ? find(spec.lib, spec.name, payload, chunk) : undefined
          const isHand = impl === spec.handName
          const isCodec = impl === spec.name
          row.push(
            cellValue(m, (x) => fmtNum(x.mbPerS)),
            cellValue(m, (x) => fmtSi(x.framesPerS)),
            isHand ? "" : cellValue(m, (x) => (hand?.status === "ok" ? fmtRatio(x.mbPerS / hand.mbPerS) : "—")),
            !isCodec ? "" : cellValue(m, (x) => (lib?.status === "ok" ? fmtRatio(x.mbPerS / lib.mbPerS) : "—"))
          )
        }
        table.push(row)
      }
    }
    printTable(groups, header, table)
  }
  const notes = rows.filter((r) => r.result.status !== "ok")
  if (notes.length > 0) {
    console.log("")
    for (const r of notes) {
      console.log(
        `  ${r.result.status}: ${r.impl}, payload ${fmtSize(r.payload)}, ${fmtSize(r.chunk)} chunks: ${
          r.result.note ?? ""
        }`
      )
    }
  }
}

const printEncode = (rows: ReadonlyArray<EncodeRow>): void => {
  console.log(
    "\nENCODE  best of interleaved passes · encode N frames into parts, then join into one buffer: the codec's row " +
      `with Codec.pushAll (one call for the N frames), "${PUSH_ROW}" with one push per frame · ×hand = ÷ ` +
      "hand-written encoder (one allocation), timed in the same group as the row (the hand row: the codec row's group)"
  )
  const groups = FRAME_SIZES.map((p) => ({ label: `payload ${fmtSize(p)}`, span: 3 }))
  const header = ["impl", ...FRAME_SIZES.flatMap(() => ["MB/s", "frames/s", "×hand"])]
  const table: Array<Array<string>> = []
  for (const spec of CODECS) {
    const impls = [...new Set(rows.filter((r) => r.codec === spec.name).map((r) => r.impl))]
    for (const impl of impls) {
      const isHand = rows.find((r) => r.impl === impl && r.codec === spec.name)?.kind === "hand"
      const row = [impl === spec.name ? impl : `  ${impl}`]
      for (const payload of FRAME_SIZES) {
        const found = rows.find((r) => r.impl === impl && r.codec === spec.name && r.payload === payload)
        const m = found?.result
        const hand = found?.baseline
        row.push(
          cellValue(m, (x) => fmtNum(x.mbPerS)),
          cellValue(m, (x) => fmtSi(x.framesPerS)),
          isHand ? "" : cellValue(m, (x) => (hand?.status === "ok" ? fmtRatio(x.mbPerS / hand.mbPerS) : "—"))
        )
      }
      table.push(row)
    }
  }
  printTable(groups, header, table)
}

/** Growth of the 1 B per-byte cost from a 64 KiB to a 1 MiB frame: 16 when quadratic. */
const growthOf = (r: LinearRow): number => r.nsPerByte1B / r.nsPerByte1BSmall

const linearVerdict = (r: LinearRow): string => {
  const growth = growthOf(r)
  if (!Number.isFinite(growth)) return "too slow: QUADRATIC?"
  // Quadratic work grows 16x from a 64 KiB to a 1 MiB frame. Linear code grows too, up to ~3x on
  // this machine (hand-written decoders included): a million-entry part list misses the caches.
  return growth > 6 ? "QUADRATIC?" : growth > 4 ? "check" : "linear"
}

const printLinearity = (rows: ReadonlyArray<LinearRow>): void => {
  console.log(
    "\nLINEARITY  one 1 MiB frame fed in 1 B vs 64 KiB chunks · ratio = ns/B at 1 B ÷ ns/B at 64 KiB (per-push " +
      "overhead alone makes it hundreds; compare with the hand-written decoder's) · growth = ns/B at 1 B chunks, " +
      "1 MiB frame ÷ 64 KiB frame (≈1 linear, ≈16 quadratic)"
  )
  const header = [
    "impl",
    "ns/B 1B (64K fr)",
    "ns/B 1B (1M fr)",
    "ns/B 64K (1M fr)",
    "ratio 1B/64K",
    "hand's ratio",
    "growth",
    "verdict"
  ]
  const table: Array<Array<string>> = []
  for (const r of rows) {
    const ratio = r.nsPerByte1B / r.nsPerByte64K
    const hand = rows.find((h) => h.kind === "hand" && h.codec === r.codec)
    const handRatio = hand !== undefined ? hand.nsPerByte1B / hand.nsPerByte64K : NaN
    table.push([
      r.kind === "hand" ? `  ${r.impl}` : r.impl,
      fmtNum(r.nsPerByte1BSmall),
      fmtNum(r.nsPerByte1B),
      r.nsPerByte64K < 0.01 ? r.nsPerByte64K.toFixed(4) : fmtNum(r.nsPerByte64K),
      Number.isFinite(ratio) ? Math.round(ratio).toString() : "—",
      r.kind === "hand" || !Number.isFinite(handRatio) ? "" : Math.round(handRatio).toString(),
      Number.isFinite(growthOf(r)) ? growthOf(r).toFixed(2) : "—",
      linearVerdict(r)
    ])
  }
  printTable([], header, table)
}

// ---------------------------------------------------------------------------------------------
// Main

const SECTIONS = ["decode", "encode", "linearity", "goal"] as const
type Section = (typeof SECTIONS)[number]
const USAGE = `usage: bench/codecs.ts [--json FILE] [--only ${SECTIONS.join("|")}[,...]]`

const parseArgs = (argv: ReadonlyArray<string>): { json: string | undefined; only: ReadonlySet<Section> } => {
  let json: string | undefined
  let only: ReadonlySet<Section> = new Set(SECTIONS)
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === "--json") {
      json = argv[++i]
      if (json === undefined) throw new Error("--json needs a file name")
    } else if (a.startsWith("--json=")) {
      json = a.slice("--json=".length)
    } else if (a === "--only" || a.startsWith("--only=")) {
      const list = a === "--only" ? argv[++i] : a.slice("--only=".length)
      const names = (list ?? "").split(",")
      const bad = names.filter((n) => !(SECTIONS as ReadonlyArray<string>).includes(n))
      if (bad.length > 0) throw new Error(`unknown section ${bad.join(",")} (${USAGE})`)
      only = new Set(names as Array<Section>)
    } else {
      throw new Error(`unknown argument ${a} (${USAGE})`)
    }
  }
  return { json, only }
}

type GoalRange = { median: number; min: number; max: number }

/** Prints the goal line: the worse of lengthPrefixed and lines, with each one's rounds. */
const runGoal = async (goal: (spec: CodecSpec) => Promise<GoalRange>) => {
  const lp = await goal(CODECS[1]!)
  const ln = await goal(CODECS[0]!)
  const worst = Math.min(lp.median, ln.median)
  const met = worst >= 0.9
  const range = (r: GoalRange) => `${r.min.toFixed(2)}-${r.max.toFixed(2)}`
  console.log(
    `\nlengthPrefixed and lines at 1 KiB frames in 64 KiB chunks: ${worst.toFixed(2)}x of the hand-written decoder ` +
      `(goal ≥ 0.9x) — ${met ? "met" : "NOT met"} [median of ${GOAL_ROUNDS} interleaved rounds: lengthPrefixed ` +
      `${lp.median.toFixed(2)}x (${range(lp)}), lines ${ln.median.toFixed(2)}x (${range(ln)})]`
  )
  return { lengthPrefixed: lp, lines: ln, worst, met }
}

const main = async (): Promise<void> => {
  const args = parseArgs(process.argv.slice(2))
  const t0 = now()
  console.log(
    `effect-wire codec bench · node ${process.version} · ${process.platform}/${process.arch} · ` +
      `gc between cells: ${gc !== undefined ? "yes" : "no (run with node --expose-gc --import tsx)"} · ` +
      `load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`
  )
  const only = args.only
  if (only.has("decode") || only.has("linearity") || only.has("goal")) prewarm()
  const decodeRows = only.has("decode") ? await runDecode() : []
  if (only.has("decode")) printDecode(decodeRows)
  const encodeRows = only.has("encode") ? await runEncode() : []
  if (only.has("encode")) printEncode(encodeRows)
  const linearRows = only.has("linearity") ? await runLinearity() : []
  if (only.has("linearity")) printLinearity(linearRows)

  // The goal cell, measured again in GOAL_ROUNDS fresh interleaved groups: the ratio is the
  // median of the rounds (the range shows the noise of this machine).
  const goal = async (spec: CodecSpec): Promise<GoalRange> => {
    const input = makeInput(spec.format, KiB, framesFor(spec.format, KiB, WIRE_BYTES), 64 * KiB)
    const make = spec.hand!
    const ratios: Array<number> = []
    for (let round = 0; round < GOAL_ROUNDS; round++) {
      const [c, h] = await measureGroup(
        [
          { label: `goal ${spec.name}`, run: codecRunner(spec.codec(KiB)) },
          { label: `goal ${spec.handName}`, run: handRunner(() => make(KiB)) }
        ],
        input,
        CAP
      )
      if (c?.status === "ok" && h?.status === "ok") ratios.push(c.mbPerS / h.mbPerS)
    }
    return ratios.length === 0
      ? { median: NaN, min: NaN, max: NaN }
      : { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) }
  }
  const goalResult = only.has("goal") ? await runGoal(goal) : undefined
  const seconds = Number(now() - t0) / 1e9
  console.log(`total ${seconds.toFixed(1)} s · load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`)

  if (args.json !== undefined) {
    writeFileSync(
      args.json,
      JSON.stringify(
        {
          node: process.version,
          gc: gc !== undefined,
          seconds,
          decode: decodeRows,
          encode: encodeRows,
          linearity: linearRows,
          goal: goalResult,
          failures
        },
        (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
        2
      ) + "\n"
    )
    console.log(`results written to ${args.json}`)
  }
  if (failures.length > 0) {
    console.error(`\n${failures.length} sanity check(s) FAILED:`)
    for (const f of failures) console.error(`  ${f}`)
    process.exitCode = 1
  }
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
