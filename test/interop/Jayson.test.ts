/**
 * Interop with jayson 4.2 (JSON-RPC 2.0 over TCP), both ways. Jayson's TCP client writes each
 * request followed by a newline; its TCP server reads any concatenation of JSON values and writes
 * its replies back to back without a separator, which `Framing.jsonValues()` reads.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, FiberId } from "effect"
import jayson from "jayson"
import * as Net from "node:net"
import * as RpcClient from "../../src/client/RpcClient.js"
import { Codec, Framing } from "../../src/index.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { Calc, calcHandlers, DivideByZero, Gates } from "../rpc/fixtures.js"

/** What the jayson server saw. */
class Observed {
  readonly logs: Array<string> = []
  readonly waiting = Deferred.unsafeMake<string>(FiberId.none)
  readonly release: Array<() => void> = []
}

/** A jayson TCP server with Calc's methods, closed with the scope. */
const jaysonServer = (observed: Observed) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly server: Net.Server; readonly sockets: Set<Net.Socket> }>(
      (resume) => {
        type Callback = (error: unknown, result?: unknown) => void
        const methods = {
          add: (p: { a: number; b: number }, cb: Callback) => cb(null, p.a + p.b),
          greet: (p: { name: string }, cb: Callback) => setImmediate(() => cb(null, `Hello, ${p.name}!`)),
          div: (p: [number, number], cb: Callback) =>
            p[1] === 0
              ? cb({ code: 42, message: "DivideByZero", data: { _tag: "DivideByZero", dividend: p[0] } })
              : cb(null, p[0] / p[1]),
          wait: (p: { key: string }, cb: Callback) => {
            observed.release.push(() => cb(null, p.key))
            Deferred.unsafeDone(observed.waiting, Effect.succeed(p.key))
          },
          log: (p: { line: string }, cb: Callback) => {
            observed.logs.push(p.line)
            cb(null)
          }
        }
        const server = new jayson.Server(methods as unknown as jayson.MethodLike as never).tcp()
        const sockets = new Set<Net.Socket>()
        server.on("connection", (socket: Net.Socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
        })
        server.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed({ port: (server.address() as Net.AddressInfo).port, server, sockets })))
      }
    ),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const s of sockets) {
          s.destroy()
        }
        server.close(() =>
          resume(Effect.void)
        )
      })
  )

interface JaysonReply {
  readonly id: unknown
  readonly result?: unknown
  readonly error?: { readonly code: number; readonly message: string }
}

const call = (client: jayson.TcpClient, method: string, params: object) =>
  Effect.async<JaysonReply, Error>((resume) => {
    const callback: jayson.JSONRPCCallbackTypePlain = (err, response) =>
      resume(err ? Effect.fail(new Error(String(err.message))) : Effect.succeed(response as unknown as JaysonReply))
    client.request(method, params, callback)
  })

describe("interop with jayson", () => {
  it.live("jayson's TCP client makes 1,000 requests to our server", () =>
    Effect.gen(function*() {
      const server = yield* Server.make(
        { port: 0, maxConnections: 4096 },
        RpcServer.handler(Calc, calcHandlers(new Gates()))
      )
      const client = jayson.Client.tcp({ host: "127.0.0.1", port: server.address.port })
      const replies = yield* Effect.forEach(
        Array.from({ length: 1_000 }, (_, i) => i),
        (i) => call(client, "add", { a: i, b: 1 }),
        { concurrency: 32 }
      )
      expect(replies.filter((r) => r.error !== undefined)).toEqual([])
      expect(replies.map((r) => r.result)).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1))
      const missing = yield* call(client, "nope", {})
      expect(missing.error).toMatchObject({ code: -32601 })
      const typed = yield* call(client, "div", [1, 0])
      expect(typed.error).toMatchObject({ code: 42 })
    }).pipe(Effect.scoped))

  it.live("jayson's TCP client makes 1,000 requests to our server reading concatenated JSON values", () =>
    Effect.gen(function*() {
      const server = yield* Server.make(
        { port: 0, maxConnections: 4096 },
        RpcServer.handler(Calc, calcHandlers(new Gates()), { framing: Framing.jsonValues() })
      )
      const client = jayson.Client.tcp({ host: "127.0.0.1", port: server.address.port })
      const replies = yield* Effect.forEach(
        Array.from({ length: 1_000 }, (_, i) => i),
        (i) => call(client, "add", { a: i, b: 2 }),
        { concurrency: 32 }
      )
      expect(replies.filter((r) => r.error !== undefined)).toEqual([])
      expect(replies.map((r) => r.result)).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 2))
    }).pipe(Effect.scoped))

  it.live("jayson's TCP server writes replies back to back, without a separator", () =>
    Effect.gen(function*() {
      const { port } = yield* jaysonServer(new Observed())
      const text = yield* Effect.async<string>((resume) => {
        const socket = Net.connect({ host: "127.0.0.1", port }, () => {
          socket.write(JsonRpc.request(1, "add", { a: 1, b: 2 }) + JsonRpc.request(2, "add", { a: 3, b: 4 }))
        })
        let got = ""
        socket.on("data", (d) => {
          got += d.toString("utf8")
          if ((got.match(/"result"/g) ?? []).length === 2) {
            socket.destroy()
            resume(Effect.succeed(got))
          }
        })
      })
      expect(text).toContain("}{")
      const decoded = Codec.decodeAll(Framing.jsonValues(), [new TextEncoder().encode(text)])
      expect(decoded.frames.map((f) => JSON.parse(new TextDecoder().decode(f)).result).sort()).toEqual([3, 7])
    }).pipe(Effect.scoped))

  it.live("our client makes 1,000 pipelined requests to jayson's TCP server (replies back to back)", () =>
    Effect.gen(function*() {
      const observed = new Observed()
      const { port } = yield* jaysonServer(observed)
      const client = yield* RpcClient.connect(Calc, { port, framing: Framing.jsonValues() })
      const results = yield* Effect.forEach(
        Array.from({ length: 1_000 }, (_, i) => i),
        (i) =>
          i % 10 === 0 ? Effect.map(client.greet({ name: String(i) }), (s) => s.length) : client.add({ a: i, b: 1 }),
        { concurrency: 64 }
      )
      expect(results).toEqual(Array.from({ length: 1_000 }, (_, i) => (i % 10 === 0 ? `Hello, ${i}!`.length : i + 1)))

      // A notification gets no reply; it has run by the time a later reply comes.
      yield* client.log({ line: "from effect-wire" })
      expect(yield* client.add({ a: 1, b: 1 })).toBe(2)
      expect(observed.logs).toEqual(["from effect-wire"])

      const typed = yield* Effect.flip(client.div([7, 0]))
      expect(typed).toBeInstanceOf(DivideByZero)
      expect(typed).toMatchObject({ dividend: 7 })

      // Jayson has no cancellation: a call that times out is abandoned and its late reply dropped
      // (the $/cancelRequest notification we send is an unknown notification to jayson).
      const late = yield* Effect.fork(Effect.flip(client.wait({ key: "w" }, { timeout: "50 millis" })))
      expect(yield* Deferred.await(observed.waiting)).toBe("w")
      expect(yield* Fiber.join(late)).toMatchObject({ _tag: "RpcTimeout" })
      for (const release of observed.release) release()
      expect(yield* client.add({ a: 20, b: 22 })).toBe(42)
    }).pipe(Effect.scoped))
})
