/**
 * Interop with vscode-jsonrpc 8.2 (the LSP base protocol: `Content-Length` framing), both ways,
 * over real TCP sockets: its client calls our `RpcServer`, our `RpcClient` calls its server.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, FiberId } from "effect"
import * as Net from "node:net"
import {
  CancellationTokenSource,
  createMessageConnection,
  type MessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter
} from "vscode-jsonrpc/node.js"
import * as Client from "../../src/client/Client.js"
import * as RpcClient from "../../src/client/RpcClient.js"
import { Framing } from "../../src/index.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { Calc, calcHandlers, DivideByZero, Gates } from "../rpc/fixtures.js"

const N = 1_000

/** A vscode-jsonrpc connection over a TCP socket to `port`, disposed with the scope. */
const vscodeClient = (port: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: Net.Socket; readonly connection: MessageConnection }, Error>((resume) => {
      const socket = Net.connect({ host: "127.0.0.1", port })
      socket.once("error", (e) => resume(Effect.fail(e)))
      socket.once("connect", () => {
        const connection = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket))
        connection.listen()
        resume(Effect.succeed({ socket, connection }))
      })
    }),
    ({ connection, socket }) =>
      Effect.sync(() => {
        connection.dispose()
        socket.destroy()
      })
  )

const promise = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (e) => e })

/** What the vscode-jsonrpc server saw. */
class Observed {
  readonly logs: Array<string> = []
  readonly started = Deferred.unsafeMake<string>(FiberId.none)
  readonly cancelled = Deferred.unsafeMake<string>(FiberId.none)
}

/** A `net.Server` whose connections are served by vscode-jsonrpc, closed with the scope. */
const vscodeServer = (observed: Observed) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly server: Net.Server; readonly sockets: Set<Net.Socket> }>(
      (resume) => {
        const sockets = new Set<Net.Socket>()
        const server = Net.createServer((socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.on("error", () => {})
          const connection = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket))
          connection.onRequest("add", (p: { a: number; b: number }) => p.a + p.b)
          connection.onRequest("greet", async (p: { name: string }) => {
            await new Promise((r) => setImmediate(r)) // answered out of order
            return `Hello, ${p.name}!`
          })
          // Positional params are spread over the handler's arguments.
          connection.onRequest("div", (a: number, b: number) => {
            if (b === 0) throw new ResponseError(42, "DivideByZero", { _tag: "DivideByZero", dividend: a })
            return a / b
          })
          connection.onRequest("wait", (p: { key: string }, token) =>
            new Promise<string>((_resolve, reject) => {
              Deferred.unsafeDone(observed.started, Effect.succeed(p.key))
              token.onCancellationRequested(() => {
                Deferred.unsafeDone(observed.cancelled, Effect.succeed(p.key))
                reject(new ResponseError(JsonRpc.REQUEST_CANCELLED, "cancelled"))
              })
            }))
          connection.onNotification("log", (p: { line: string }) => void observed.logs.push(p.line))
          connection.onClose(() => connection.dispose())
          connection.listen()
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

describe("interop with vscode-jsonrpc", () => {
  it.live("its client makes 1,000 requests, a notification and a cancellation to our server", () =>
    Effect.gen(function*() {
      const gates = new Gates()
      const server = yield* Server.make(
        { port: 0 },
        RpcServer.handler(Calc, calcHandlers(gates), { framing: Framing.contentLength() })
      )
      const { connection } = yield* vscodeClient(server.address.port)

      const results = yield* Effect.forEach(
        Array.from({ length: N }, (_, i) => i),
        (i) => promise(() => connection.sendRequest<number>("add", { a: i, b: 1 })),
        { concurrency: 64 }
      )
      expect(results).toEqual(Array.from({ length: N }, (_, i) => i + 1))
      expect(yield* promise(() => connection.sendRequest<string>("greet", { name: "Ada" }))).toBe("Hello, Ada!")

      // A notification: no reply; it has run by the time a later request is answered.
      yield* promise(() => connection.sendNotification("log", { line: "from vscode" }))
      yield* promise(() => connection.sendRequest("add", { a: 0, b: 0 }))
      expect(gates.logs).toEqual(["from vscode"])

      // Positional params (vscode spreads extra arguments into an array); typed errors and unknown
      // methods arrive as ResponseErrors with our codes.
      expect(yield* promise(() => connection.sendRequest<number>("div", 6, 3))).toBe(2)
      const typed = yield* Effect.flip(promise(() => connection.sendRequest("div", 1, 0)))
      expect(typed).toBeInstanceOf(ResponseError)
      expect(typed).toMatchObject({ code: 42, data: { _tag: "DivideByZero", dividend: 1 } })
      const missing = yield* Effect.flip(promise(() => connection.sendRequest("nope", {})))
      expect(missing).toMatchObject({ code: JsonRpc.METHOD_NOT_FOUND })

      // Cancellation: their CancellationTokenSource sends $/cancelRequest, which interrupts our handler.
      const source = new CancellationTokenSource()
      const pending = yield* Effect.fork(
        Effect.flip(promise(() => connection.sendRequest<string>("wait", { key: "k" }, source.token)))
      )
      yield* gates.awaitStarted("k")
      source.cancel()
      yield* Deferred.await(gates.interruption("k"))
      expect(yield* Fiber.join(pending)).toMatchObject({ code: JsonRpc.REQUEST_CANCELLED })

      // The connection keeps serving after all of this.
      expect(yield* promise(() => connection.sendRequest<number>("add", { a: 2, b: 3 }))).toBe(5)
    }).pipe(Effect.scoped))

  it.live("our client makes 1,000 requests, a notification and a cancellation to its server", () =>
    Effect.gen(function*() {
      const observed = new Observed()
      const { port } = yield* vscodeServer(observed)
      const conn = yield* Client.connect({ port })
      const client = yield* RpcClient.make(Calc, conn, { framing: Framing.contentLength() })

      const results = yield* Effect.forEach(
        Array.from({ length: N }, (_, i) => i),
        (i) =>
          i % 10 === 0 ? Effect.map(client.greet({ name: String(i) }), (s) => s.length) : client.add({ a: i, b: 1 }),
        { concurrency: 64 }
      )
      expect(results).toEqual(
        Array.from({ length: N }, (_, i) => (i % 10 === 0 ? `Hello, ${i}!`.length : i + 1))
      )

      yield* client.log({ line: "from effect-wire" })
      expect(yield* client.add({ a: 1, b: 1 })).toBe(2)
      expect(observed.logs).toEqual(["from effect-wire"])

      const typed = yield* Effect.flip(client.div([7, 0]))
      expect(typed).toBeInstanceOf(DivideByZero)
      expect(typed).toMatchObject({ dividend: 7 })
      expect(yield* client.div([6, 3])).toBe(2)

      // Interrupting a call sends $/cancelRequest: their CancellationToken fires.
      const call = yield* Effect.fork(client.wait({ key: "w" }))
      expect(yield* Deferred.await(observed.started)).toBe("w")
      yield* Fiber.interrupt(call)
      expect(yield* Deferred.await(observed.cancelled)).toBe("w")

      // Their late RequestCancelled reply is dropped; the client goes on.
      expect(yield* client.add({ a: 20, b: 22 })).toBe(42)
    }).pipe(Effect.scoped))
})
