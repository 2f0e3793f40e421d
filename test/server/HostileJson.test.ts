/**
 * Hostile JSON on real sockets, at every JSON entry point: a frame nested 10,000 levels deep
 * (20 KB that `JSON.parse` accepts, but that overflows the stack of whatever recurses over the
 * value: `JSON.stringify`, Schema's error formatter) gets its error and the server keeps serving;
 * a frame nested exactly at the limit (128) is handled as any other.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Buffer } from "node:buffer"
import type * as Net from "node:net"
import * as ChapterRpc from "../../src/protocol/ChapterRpc.js"
import type { Codec } from "../../src/protocol/Codec.js"
import * as Framing from "../../src/protocol/Framing.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import * as Message from "../../src/protocol/Message.js"
import type * as RpcFormat from "../../src/protocol/RpcFormat.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { Calc, calcHandlers, Gates } from "../rpc/fixtures.js"
import { rawConnect, readToEnd } from "./helpers.js"

const LIMIT = 128
const DEEP = 10_000

/** An array nested `depth` levels deep: `[[…[0]…]]`. */
const nested = (depth: number): string => "[".repeat(depth) + "0" + "]".repeat(depth)

/** A frame of `framing` on a raw socket, and the frames the server sends back, parsed. */
const framedPeer = (socket: Net.Socket, framing: Codec<Uint8Array, unknown>) => {
  const decoder = framing.decoder()
  const encoder = framing.encoder()
  const frames: Array<Uint8Array> = []
  let closed = false
  let wake: (() => void) | undefined
  socket.on("data", (chunk: Buffer) => {
    decoder.push(chunk, frames)
    wake?.()
  })
  socket.once("close", () => {
    closed = true
    wake?.()
  })
  const frame = (text: string): Buffer => {
    const parts: Array<Uint8Array> = []
    encoder.push(Buffer.from(text), parts)
    return Buffer.concat(parts)
  }
  return {
    send: (...texts: Array<string>) => void socket.write(Buffer.concat(texts.map(frame))),
    /** The next reply, parsed. */
    next: Effect.async<any, Error>((resume) => {
      const check = () => {
        if (frames.length > 0) {
          wake = undefined
          resume(Effect.succeed(JSON.parse(Buffer.from(frames.shift()!).toString("utf8"))))
        } else if (closed) {
          wake = undefined
          resume(Effect.fail(new Error("closed before the reply")))
        }
      }
      wake = check
      check()
    })
  }
}

interface RpcCase {
  readonly name: string
  readonly framing: Codec<Uint8Array, unknown>
  readonly format: RpcFormat.RpcFormat
  readonly request: (id: number, method: string, params: string) => string
}

const jsonRpcRequest = (id: number, method: string, params: string) =>
  `{"jsonrpc":"2.0","id":${id},"method":"${method}","params":${params}}`
const chapterRequest = (id: number, method: string, params: string) =>
  `{"id":${id},"method":"${method}","params":${params}}`

const rpcCases: ReadonlyArray<RpcCase> = [
  { name: "JSON-RPC over lines", framing: Framing.lines(), format: JsonRpc.format, request: jsonRpcRequest },
  {
    name: "JSON-RPC over Content-Length",
    framing: Framing.contentLength(),
    format: JsonRpc.format,
    request: jsonRpcRequest
  },
  {
    name: "JSON-RPC over length prefixes",
    framing: Framing.lengthPrefixed(),
    format: JsonRpc.format,
    request: jsonRpcRequest
  },
  {
    name: "JSON-RPC over bare JSON values",
    framing: Framing.jsonValues(),
    format: JsonRpc.format,
    request: jsonRpcRequest
  },
  { name: "the chapter's format", framing: ChapterRpc.framing(), format: ChapterRpc.format, request: chapterRequest }
]

describe("hostile JSON", () => {
  for (const c of rpcCases) {
    describe(`RpcServer.handler, ${c.name}`, () => {
      const serve = Server.make(
        { port: 0 },
        RpcServer.handler(Calc, calcHandlers(new Gates()), { framing: c.framing as never, format: c.format })
      )

      it.live(`refuses a frame nested ${DEEP} levels deep, then serves the same and another connection`, () =>
        Effect.gen(function*() {
          const server = yield* serve
          const peer = framedPeer(yield* rawConnect(server.address.port), c.framing)
          // The frame itself is one level deeper than its params.
          peer.send(c.request(1, "echo", nested(DEEP - 1)), c.request(2, "add", nested(DEEP - 1)))
          const refused = {
            id: null,
            error: {
              code: JsonRpc.INVALID_REQUEST,
              message: "Invalid Request",
              data: `JSON nested ${DEEP} levels deep, limit ${LIMIT}`
            }
          }
          expect(yield* peer.next).toMatchObject(refused)
          expect(yield* peer.next).toMatchObject(refused)
          peer.send(c.request(3, "add", `{"a":1,"b":2}`))
          expect(yield* peer.next).toMatchObject({ id: 3, result: 3 })
          const other = framedPeer(yield* rawConnect(server.address.port), c.framing)
          other.send(c.request(4, "add", `{"a":2,"b":2}`))
          expect(yield* other.next).toMatchObject({ id: 4, result: 4 })
          expect((yield* server.stats).errors).toBe(0)
        }).pipe(Effect.scoped))

      it.live(`handles a frame nested exactly ${LIMIT} levels deep and refuses one a level deeper`, () =>
        Effect.gen(function*() {
          const server = yield* serve
          const peer = framedPeer(yield* rawConnect(server.address.port), c.framing)
          const params = nested(LIMIT - 1)
          peer.send(
            c.request(1, "echo", params),
            c.request(2, "add", params),
            c.request(3, "add", `{"a":1,"b":2}`),
            c.request(4, "echo", nested(LIMIT))
          )
          const echoed = yield* peer.next
          expect(echoed).toMatchObject({ id: 1 })
          expect(JSON.stringify(echoed.result)).toBe(params)
          const invalid = yield* peer.next
          expect(invalid).toMatchObject({ id: 2, error: { code: JsonRpc.INVALID_PARAMS } })
          expect(invalid.error.data.length).toBeLessThanOrEqual(1000)
          expect(yield* peer.next).toMatchObject({ id: 3, result: 3 })
          expect(yield* peer.next).toMatchObject({
            id: null,
            error: { code: JsonRpc.INVALID_REQUEST, data: `JSON nested ${LIMIT + 1} levels deep, limit ${LIMIT}` }
          })
        }).pipe(Effect.scoped))
    })
  }

  describe("Server.respond(Message.json(Framing.lines(), schema))", () => {
    /** A server echoing any JSON value, counting the values its handler was given. */
    const echoServer = (seen: Array<unknown>) =>
      Server.make(
        { port: 0 },
        Server.respond(Message.json(Framing.lines(), Schema.Unknown), (value) => {
          seen.push(value)
          // One reply: an array returned by itself would be a list of replies.
          return Effect.succeed([value])
        })
      )
    const Add = Schema.Struct({ a: Schema.Number, b: Schema.Number })
    const addServer = Server.make(
      { port: 0 },
      Server.respondWith(
        { input: Message.json(Framing.lines(), Add), output: Message.json(Framing.lines(), Schema.Number) },
        ({ a, b }) => Effect.succeed(a + b)
      )
    )

    it.live(`closes a connection sending a frame nested ${DEEP} levels deep (a decode error) and serves another`, () =>
      Effect.gen(function*() {
        const seen: Array<unknown> = []
        const echo = yield* echoServer(seen)
        const add = yield* addServer
        for (const server of [echo, add]) {
          const socket = yield* rawConnect(server.address.port)
          socket.write(`{"a":1,"b":2}\n${nested(DEEP)}\n{"a":2,"b":2}\n`)
          // The frame before the bad one is answered, then the connection closes.
          expect(yield* readToEnd(socket)).toEqual({ text: server === echo ? `{"a":1,"b":2}\n` : "3\n", ended: "fin" })
          expect((yield* server.stats).errors).toBe(1)
          const other = framedPeer(yield* rawConnect(server.address.port), Framing.lines())
          other.send(`{"a":3,"b":4}`)
          expect(yield* other.next).toEqual(server === echo ? { a: 3, b: 4 } : 7)
        }
        // The handler never saw the deep value.
        expect(seen).toEqual([{ a: 1, b: 2 }, { a: 3, b: 4 }])
      }).pipe(Effect.scoped))

    it.live(`handles a frame nested exactly ${LIMIT} levels deep and refuses one a level deeper`, () =>
      Effect.gen(function*() {
        const seen: Array<unknown> = []
        const echo = yield* rawConnect((yield* echoServer(seen)).address.port)
        echo.write(`${nested(LIMIT)}
{"a":1}
${nested(LIMIT + 1)}
{"a":2}
`)
        expect(yield* readToEnd(echo)).toEqual({
          text: `${nested(LIMIT)}
{"a":1}
`,
          ended: "fin"
        })
        expect(seen).toHaveLength(2)
        // For the struct, the frame is a value the schema rejects: the connection closes, as for any.
        const server = yield* addServer
        const socket = yield* rawConnect(server.address.port)
        socket.write(`{"a":1,"b":2}\n${nested(LIMIT)}\n`)
        expect(yield* readToEnd(socket)).toEqual({ text: "3\n", ended: "fin" })
        const other = framedPeer(yield* rawConnect(server.address.port), Framing.lines())
        other.send(`{"a":3,"b":4}`)
        expect(yield* other.next).toBe(7)
      }).pipe(Effect.scoped))
  })
})
