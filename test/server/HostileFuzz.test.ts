/**
 * Hostile peers against every server kind: structured attacks (deep nesting, huge and non-finite
 * numbers, `__proto__` keys, invalid UTF-8, lone surrogates, oversize headers and lengths, huge
 * batches) and random bytes, each framed the server's way or not at all, cut into random chunks,
 * sent on many connections at once that end with a FIN, a close or a reset. Bounded in count and
 * time, loopback only. Afterwards the server is alive and answers a good client: in this process
 * (an uncaught exception would fail the run) and as the `effect-wire serve` child process.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Schema } from "effect"
import { Buffer } from "node:buffer"
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import * as ChapterRpc from "../../src/protocol/ChapterRpc.js"
import * as Framing from "../../src/protocol/Framing.js"
import * as Message from "../../src/protocol/Message.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"

// ---- hostile payloads ---------------------------------------------------------------------------

const utf8 = (s: string) => Buffer.from(s, "utf8")
const request = (id: string, method: string, params: string) =>
  `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)},"params":${params}}`
const arrays = (n: number) => "[".repeat(n) + "]".repeat(n)
const objects = (n: number) => "{\"a\":".repeat(n) + "1" + "}".repeat(n)

/** The structured attacks, as payloads (each is framed by `frame` or sent raw). */
const structured: ReadonlyArray<Buffer> = [
  ...[129, 1_000, 10_000, 100_000].flatMap((n) => [
    utf8(arrays(n)),
    utf8(objects(n)),
    utf8("[".repeat(n)),
    utf8(request("1", "echo", arrays(n))),
    utf8(request("2", "add", `{"a":${arrays(n)},"b":2}`)),
    utf8(`{"id":3,"method":"echo","params":${objects(n)}}`),
    utf8(JSON.stringify({ a: 1 }).replace("1", arrays(n)))
  ]),
  ...["1e400", "-1e400", "1e-400", "123456789012345678901234567890", "-0", "\"\\ud800\"", "{}", "[1]", "true"].map((
    id
  ) => utf8(request(id, "add", `{"a":1,"b":2}`))),
  utf8(request("1", "add", `{"a":1e400,"b":-1e400}`)),
  utf8(`{"id":1e400,"method":"add","params":{"a":1,"b":2}}`),
  utf8(
    `{"__proto__":{"method":"echo"},"jsonrpc":"2.0","id":1,"method":"add","params":{"__proto__":{"a":1},"a":1,"b":2}}`
  ),
  utf8(request("1", "echo", `{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}`)),
  utf8(request("1", "__proto__", "{}")),
  utf8(request("1", "constructor", "{}")),
  utf8(request("1", "toString", "{}")),
  utf8(request("\"\\ud800\"", "echo", `["\\udfff","\\u0000"]`)),
  Buffer.concat([
    utf8(request("1", "echo", "[\"")),
    Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xe2, 0x82]),
    utf8("\"]}")
  ]),
  Buffer.from([0xff, 0xfe, 0xfd]),
  Buffer.from([0xe2, 0x82]),
  utf8(`[${Array.from({ length: 5_000 }, () => request("1", "add", `{"a":1,"b":2}`)).join(",")}]`),
  utf8(`[${Array.from({ length: 500 }, (_, i) => request(String(i), "echo", arrays(100))).join(",")}]`),
  utf8(""),
  utf8(" "),
  utf8("null"),
  utf8("[]"),
  utf8("\"just a string\""),
  utf8(`{"a":"${"x".repeat(200_000)}"}`)
]

/** Byte streams that break the framing itself. */
const rawAttacks: ReadonlyArray<Buffer> = [
  utf8("Content-Length: 99999999999999999999\r\n\r\n{}"),
  utf8("Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello"),
  utf8(`X-Junk: ${"y".repeat(20_000)}\r\n\r\n`),
  utf8("Content-Length: -5\r\n\r\n"),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7b, 0x7d]),
  Buffer.from([0x7f, 0xff, 0xff, 0xff]),
  Buffer.from([0x00, 0x00, 0x00, 0x05, 0x7b]),
  utf8("x".repeat(70_000) + "\n"),
  Buffer.alloc(3_000_000, 0x5b)
]

type FramingName = "lines" | "contentLength" | "lengthPrefixed"

const frame = (framing: FramingName, payload: Buffer): Buffer => {
  switch (framing) {
    case "lines":
      return Buffer.concat([payload, utf8("\n")])
    case "contentLength":
      return Buffer.concat([utf8(`Content-Length: ${payload.length}\r\n\r\n`), payload])
    case "lengthPrefixed": {
      const header = Buffer.alloc(4)
      header.writeUInt32BE(payload.length)
      return Buffer.concat([header, payload])
    }
  }
}

/** Random payloads: JSON values (sometimes mangled) and random bytes. */
const randomPayloads = (seed: number, count: number): ReadonlyArray<Buffer> =>
  fc.sample(
    fc.oneof(
      fc.json({ depthSize: "large" }).map(utf8),
      fc.tuple(fc.json(), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([json, at, junk]) => {
        const bytes = utf8(json)
        const cut = at % (bytes.length + 1)
        return Buffer.concat([bytes.subarray(0, cut), junk, bytes.subarray(cut)])
      }),
      fc.uint8Array({ maxLength: 2_048 }).map((b) => Buffer.from(b))
    ),
    { seed, numRuns: count }
  )

// ---- sending ------------------------------------------------------------------------------------

type Ending = "fin" | "close" | "reset"

/**
 * One hostile connection: `bytes` written in random chunks, then ended. With a FIN, everything
 * the server sends is read until it closes (bounded by `boundMillis`: a peer does not wait
 * forever); a close or a reset goes away at once.
 */
const attack = (port: number, bytes: Buffer, cuts: ReadonlyArray<number>, ending: Ending, boundMillis = 10_000) =>
  Effect.async<void>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port, allowHalfOpen: true })
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      clearTimeout(bound)
      socket.destroy()
      resume(Effect.void)
    }
    const bound = setTimeout(finish, boundMillis)
    socket.on("error", finish)
    socket.on("close", finish)
    socket.on("data", () => {})
    socket.once("connect", () => {
      let at = 0
      for (const cut of cuts) {
        const end = Math.min(bytes.length, at + cut)
        if (end > at) socket.write(bytes.subarray(at, end))
        at = end
      }
      if (at < bytes.length) socket.write(bytes.subarray(at))
      if (ending === "fin") socket.end()
      else if (ending === "reset") socket.resetAndDestroy()
      else socket.end(() => socket.destroy())
    })
  })

/** A good request's exchange: `bytes` out, then what comes back until `done` says it is complete. */
const exchange = (port: number, bytes: Buffer, done: (received: Buffer) => boolean) =>
  Effect.async<Buffer, Error>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    const parts: Array<Buffer> = []
    socket.on("data", (d: Buffer) => {
      parts.push(d)
      const all = Buffer.concat(parts)
      if (done(all)) {
        socket.destroy()
        resume(Effect.succeed(all))
      }
    })
    socket.once("error", (e) => resume(Effect.fail(e)))
    socket.once("close", () => resume(Effect.fail(new Error(`closed after ${Buffer.concat(parts).toString()}`))))
    socket.once("connect", () => socket.write(bytes))
  })

/** Every attack against `port`, framed with `framing`, in random chunks and endings, 16 connections at a time. */
const storm = (port: number, framing: FramingName, seed: number) => {
  const payloads = [...structured, ...randomPayloads(seed, 150)]
  const streams = [...payloads.map((p) => frame(framing, p)), ...payloads.slice(0, 20), ...rawAttacks]
  const plans = fc.sample(
    fc.record({
      cuts: fc.array(fc.integer({ min: 1, max: 4_096 }), { maxLength: 6 }),
      ending: fc.constantFrom<Ending>("fin", "fin", "close", "reset")
    }),
    { seed: seed + 1, numRuns: streams.length }
  )
  return Effect.forEach(streams, (bytes, i) => attack(port, bytes, plans[i]!.cuts, plans[i]!.ending), {
    concurrency: 16,
    discard: true
  })
}

// ---- the servers --------------------------------------------------------------------------------

const Calc = Protocol.make(
  Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number }),
  Protocol.method("echo", { params: Schema.Unknown, success: Schema.Unknown })
)
const calc = RpcServer.handler
const handlers = {
  add: ({ a, b }: { a: number; b: number }) => Effect.succeed(a + b),
  echo: (p: unknown) => Effect.succeed(p)
}
const Pair = Schema.Struct({ a: Schema.Number, b: Schema.Number })

const lineReply = (received: Buffer) => received.includes(0x0a)

interface Kind {
  readonly name: string
  readonly framing: FramingName
  readonly handler: Server.Handler<unknown, never>
  readonly good: Buffer
  readonly expected: string
}

const kinds: ReadonlyArray<Kind> = [
  {
    name: "Server.respond(Message.text(lines))",
    framing: "lines",
    handler: Server.respond(Message.text(Framing.lines()), (s) => Effect.succeed(`ECHO: ${s}`)),
    good: utf8("hello\n"),
    expected: "ECHO: hello\n"
  },
  {
    name: "Server.respond(Message.json(lines, schema))",
    framing: "lines",
    handler: Server.respond(Message.json(Framing.lines(), Pair), ({ a, b }) => Effect.succeed({ a: a + b, b: 0 })),
    good: utf8(`{"a":1,"b":2}\n`),
    expected: `{"a":3,"b":0}\n`
  },
  ...(["lines", "contentLength", "lengthPrefixed"] as const).map((framing): Kind => ({
    name: `RpcServer(JSON-RPC over ${framing})`,
    framing,
    handler: calc(Calc, handlers, {
      framing: framing === "lines"
        ? Framing.lines()
        : framing === "contentLength"
        ? Framing.contentLength()
        : Framing.lengthPrefixed()
    }),
    good: frame(framing, utf8(request("7", "add", `{"a":1,"b":2}`))),
    expected: `{"jsonrpc":"2.0","id":7,"result":3}`
  })),
  {
    name: "RpcServer(chapter format)",
    framing: "lengthPrefixed",
    handler: calc(Calc, handlers, { format: ChapterRpc.format, framing: ChapterRpc.framing() }),
    good: frame("lengthPrefixed", utf8(`{"id":7,"method":"add","params":{"a":1,"b":2}}`)),
    expected: `{"id":7,"result":3}`
  }
]

const SEED = Date.now()

describe(`hostile peers (fuzz seed ${SEED})`, () => {
  for (const kind of kinds) {
    it.live(`${kind.name} survives every attack and then answers a good client`, () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, kind.handler)
        // An exception escaping into the event loop would end a real process; the test runner
        // only reports it, so it is caught here to fail this test by name.
        const escaped: Array<unknown> = []
        const onEscape = (e: unknown) => escaped.push(e)
        process.on("uncaughtException", onEscape)
        yield* storm(server.address.port, kind.framing, SEED).pipe(
          Effect.ensuring(Effect.sync(() => process.off("uncaughtException", onEscape)))
        )
        expect(escaped.map(String)).toEqual([])
        const reply = yield* exchange(server.address.port, kind.good, (r) =>
          kind.framing === "lines" ? lineReply(r) : r.toString("latin1").includes(kind.expected))
        expect(reply.toString("utf8")).toContain(kind.expected)
        const stats = yield* server.stats
        expect(stats.errors).toBeGreaterThan(0)
        expect(stats.accepted).toBeGreaterThan(structured.length)
      }).pipe(Effect.scoped), 120_000)
  }

  // ---- the CLI servers, as child processes --------------------------------------------------------

  const root = fileURLToPath(new URL("../..", import.meta.url))

  /** `effect-wire serve <kind>` on a free port, killed when the scope closes. */
  const serve = (kind: string) =>
    Effect.acquireRelease(
      Effect.async<{ readonly child: ChildProcess; readonly port: number; readonly stderr: () => string }, Error>(
        (resume) => {
          const child = spawn(process.execPath, [
            "--import",
            "tsx",
            "src/scenarios/cli.ts",
            "serve",
            kind,
            "--port",
            "0",
            "--quiet"
          ], {
            cwd: root,
            env: { ...process.env, NO_COLOR: "1" }
          })
          let stdout = ""
          let stderr = ""
          child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
          child.stdout.on("data", (d: Buffer) => {
            stdout += d.toString()
            const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout)
            if (m !== null) resume(Effect.succeed({ child, port: Number(m[1]), stderr: () => stderr }))
          })
          child.once("exit", (code) => resume(Effect.fail(new Error(`serve exited (${code}): ${stderr}`))))
        }
      ),
      ({ child }) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
    )

  const cli = [
    {
      kind: "json-rpc",
      framing: "lengthPrefixed",
      good: frame("lengthPrefixed", utf8(`{"id":7,"method":"add","params":{"a":1,"b":2}}`)),
      expected: `{"id":7,"result":3}`
    },
    { kind: "echo", framing: "lines", good: utf8("hello\n"), expected: "ECHO: hello\n" }
  ] as const

  for (const c of cli) {
    it.live(
      `effect-wire serve ${c.kind} (its default setup) survives every attack and then answers a good client`,
      () =>
        Effect.gen(function*() {
          const served = yield* serve(c.kind)
          yield* storm(served.port, c.framing, SEED)
          expect(served.child.exitCode).toBeNull()
          const reply = yield* exchange(served.port, c.good, (r) => r.toString("latin1").includes(c.expected))
          expect(reply.toString("utf8")).toContain(c.expected)
          expect(served.stderr()).not.toMatch(/RangeError|Maximum call stack/)
        }).pipe(Effect.scoped),
      120_000
    )
  }
})
