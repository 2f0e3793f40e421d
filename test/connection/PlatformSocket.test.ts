/**
 * `PlatformSocket`: effect-wire handlers over `@effect/platform` sockets (WebSocket through
 * `NodeSocketServer.makeWebSocket` / `Socket.makeWebSocket`, TCP through `NodeSocketServer.make`),
 * and a `Socket.Socket` view of an effect-wire `Connection`. Real sockets on 127.0.0.1, port 0.
 */
import { Socket, type SocketServer } from "@effect/platform"
import { NodeSocket, NodeSocketServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Queue, type Scope } from "effect"
import { Buffer } from "node:buffer"
import * as RpcClient from "../../src/client/RpcClient.js"
import * as PlatformSocket from "../../src/connection/PlatformSocket.js"
import * as Transport from "../../src/connection/Transport.js"
import { Framing } from "../../src/index.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { Calc, calcHandlers, Gates } from "../rpc/fixtures.js"
import { rawConnect, readLines, readToEnd } from "../server/helpers.js"

const text = (b: Uint8Array) => Buffer.from(b).toString("utf8")
const echo = Server.respond(Framing.lines(), (line) => Effect.succeed(Buffer.concat([Buffer.from("ECHO: "), line])))

/** A WebSocket server of `@effect/platform-node` on 127.0.0.1, port 0, serving each socket with `onSocket`. */
const wsServer = <E, R>(onSocket: (socket: Socket.Socket) => Effect.Effect<unknown, E, R>) =>
  Effect.gen(function*() {
    const server = yield* NodeSocketServer.makeWebSocket({ port: 0, host: "127.0.0.1" })
    yield* Effect.forkScoped(server.run(onSocket))
    return `ws://127.0.0.1:${(server.address as SocketServer.TcpAddress).port}`
  })

/** A platform WebSocket client (the same `Socket.makeWebSocket` a browser uses, with `ws` as constructor). */
const wsClient = (url: string) => Socket.makeWebSocket(url).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))

/** Runs a platform socket, queueing every message it receives; returns the queue and its writer. */
const messagesOf = (socket: Socket.Socket) =>
  Effect.gen(function*() {
    const received = yield* Queue.unbounded<string>()
    const run = yield* Effect.forkScoped(
      socket.runRaw((m) => Queue.offer(received, typeof m === "string" ? m : text(m)))
    )
    const write = yield* socket.writer
    return { received, write, run }
  })

describe("PlatformSocket", () => {
  describe("fromSocket / serve: effect-wire handlers over @effect/platform sockets", () => {
    it.live("WebSocket round trip: Server.respond over NodeSocketServer.makeWebSocket, one frame per message", () =>
      Effect.gen(function*() {
        const transports = yield* Queue.unbounded<boolean>()
        const url = yield* wsServer((socket) =>
          PlatformSocket.serve(
            socket,
            (connection) =>
              Effect.zipRight(Queue.offer(transports, Transport.isTransport(connection)), echo(connection)),
            {
              messages: Framing.lines()
            }
          )
        )
        const client = yield* messagesOf(yield* wsClient(url))
        yield* client.write("a")
        yield* client.write(new TextEncoder().encode("b"))
        // Each reply is one message, without the line framing's newline.
        expect(yield* Queue.take(client.received)).toBe("ECHO: a")
        expect(yield* Queue.take(client.received)).toBe("ECHO: b")
        expect(yield* Queue.take(transports)).toBe(true)
      }).pipe(Effect.scoped))

    it.live("serves RpcServer.handler to WebSocket clients; RpcClient calls it over Socket.makeWebSocket", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const url = yield* wsServer((socket) =>
          PlatformSocket.serve(socket, RpcServer.handler(Calc, calcHandlers(gates)), { messages: Framing.lines() })
        )
        const connection = yield* PlatformSocket.fromSocket(yield* wsClient(url), { messages: Framing.lines() })
        const client = yield* RpcClient.make(Calc, connection)
        expect(yield* client.add({ a: 1, b: 2 })).toBe(3)
        // Out of order completion, concurrent calls on one WebSocket.
        const slow = yield* Effect.fork(client.wait({ key: "k" }))
        yield* gates.awaitStarted("k")
        expect(yield* client.greet({ name: "ws" })).toBe("Hello, ws!")
        yield* gates.release("k")
        expect(yield* Fiber.join(slow)).toBe("k")
      }).pipe(Effect.scoped))

    it.live("a browser-style client sends JSON-RPC text messages and gets text replies (messageType: text)", () =>
      Effect.gen(function*() {
        const gates = new Gates()
        const url = yield* wsServer((socket) =>
          PlatformSocket.serve(socket, RpcServer.handler(Calc, calcHandlers(gates)), {
            messages: Framing.lines(),
            messageType: "text"
          })
        )
        const socket = yield* wsClient(url)
        const received = yield* Queue.unbounded<string | Uint8Array>()
        yield* Effect.forkScoped(socket.runRaw((m) => Queue.offer(received, m)))
        const write = yield* socket.writer
        yield* write(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "add", params: { a: 20, b: 22 } }))
        const reply = yield* Queue.take(received)
        expect(typeof reply).toBe("string")
        expect(JSON.parse(reply as string)).toEqual({ jsonrpc: "2.0", id: 1, result: 42 })
      }).pipe(Effect.scoped))

    it.live("the WebSocket client's close ends the handler's frames: serve completes", () =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<Exit.Exit<void, unknown>>()
        const url = yield* wsServer((socket) =>
          PlatformSocket.serve(socket, echo, { messages: Framing.lines() }).pipe(
            Effect.exit,
            Effect.flatMap((exit) => Deferred.succeed(done, Exit.asVoid(exit)))
          )
        )
        yield* Effect.scoped(Effect.gen(function*() {
          const client = yield* messagesOf(yield* wsClient(url))
          yield* client.write("hi")
          expect(yield* Queue.take(client.received)).toBe("ECHO: hi")
        }))
        expect(Exit.isSuccess(yield* Deferred.await(done))).toBe(true)
      }).pipe(Effect.scoped))

    it.live("a message the framing cannot carry (a newline inside a lines message) fails the connection", () =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<Exit.Exit<unknown, unknown>>()
        const url = yield* wsServer((socket) =>
          PlatformSocket.serve(socket, echo, { messages: Framing.lines() }).pipe(
            Effect.exit,
            Effect.flatMap((exit) => Deferred.succeed(done, exit))
          )
        )
        const client = yield* messagesOf(yield* wsClient(url))
        yield* client.write("two\nlines")
        const exit = yield* Deferred.await(done)
        expect(Exit.isFailure(exit)).toBe(true)
        expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("lines")
      }).pipe(Effect.scoped))

    it.live("byte streams: Server.respond over a NodeSocketServer TCP socket (no message framing)", () =>
      Effect.gen(function*() {
        const server = yield* NodeSocketServer.make({ port: 0, host: "127.0.0.1" })
        yield* Effect.forkScoped(server.run((socket) => PlatformSocket.serve(socket, echo)))
        const socket = yield* rawConnect((server.address as SocketServer.TcpAddress).port)
        socket.write("a\nb")
        socket.write("\nc\n")
        expect(yield* readLines(socket, 3)).toEqual(["ECHO: a", "ECHO: b", "ECHO: c"])
      }).pipe(Effect.scoped))

    it.live("the connection's idle timeout closes a silent WebSocket peer", () =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<Exit.Exit<unknown, unknown>>()
        const url = yield* wsServer((socket) =>
          PlatformSocket.serve(socket, echo, { messages: Framing.lines(), idleTimeout: "100 millis" }).pipe(
            Effect.exit,
            Effect.flatMap((exit) => Deferred.succeed(done, exit))
          )
        )
        const client = yield* messagesOf(yield* wsClient(url))
        const exit = yield* Deferred.await(done)
        expect(Exit.isFailure(exit) ? String(exit.cause) : "").toContain("ConnectionTimeout")
        // The server closed the WebSocket: the client's run ends.
        expect(Exit.isExit(yield* Fiber.await(client.run))).toBe(true)
      }).pipe(Effect.scoped))

    it.live("input that cannot be paused (TCP through NodeSocketServer) is bounded by maxInboundBytes", () =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const result = yield* Deferred.make<Exit.Exit<void, unknown>>()
        const server = yield* NodeSocketServer.make({ port: 0, host: "127.0.0.1" })
        yield* Effect.forkScoped(server.run((socket) =>
          PlatformSocket.serve(socket, (connection) => {
            const drain: Effect.Effect<void, unknown> = Effect.flatMap(
              connection.read(),
              (bytes) => bytes.length === 0 ? Effect.void : drain
            )
            return Effect.zipRight(Deferred.await(gate), drain).pipe(
              Effect.exit,
              Effect.flatMap((exit) => Deferred.succeed(result, exit))
            )
          }, { readHighWaterMark: 1024, maxInboundBytes: 4096 })
        ))
        const socket = yield* rawConnect((server.address as SocketServer.TcpAddress).port)
        const closed = yield* Effect.fork(readToEnd(socket))
        // More than one read's chunk: what the driver has not taken waits in the adapter.
        for (let i = 0; i < 16; i++) socket.write(Buffer.alloc(64 * 1024, 120))
        // The adapter gives up on the flood and closes the socket while the handler is not reading.
        yield* Fiber.join(closed)
        yield* Deferred.succeed(gate, undefined)
        const exit = yield* Deferred.await(result)
        expect(Exit.isFailure(exit) ? String(exit.cause) : "").toContain("ERR_INBOUND_LIMIT")
      }).pipe(Effect.scoped))

    it.live("the connection reports the addresses it is given", () =>
      Effect.gen(function*() {
        const seen = yield* Deferred.make<string>()
        const url = yield* wsServer((socket) =>
          PlatformSocket.serve(
            socket,
            (connection) => Deferred.succeed(seen, `${connection.remoteAddress.host}:${connection.remoteAddress.port}`),
            { messages: Framing.lines(), remoteAddress: { host: "10.0.0.1", port: 1234, family: "IPv4" } }
          )
        )
        yield* messagesOf(yield* wsClient(url))
        expect(yield* Deferred.await(seen)).toBe("10.0.0.1:1234")
      }).pipe(Effect.scoped))
  })

  describe("toSocket: a Socket.Socket view of an effect-wire connection", () => {
    const platformEcho = (connection: Parameters<Server.Handler<never, never>>[0]) =>
      Effect.gen(function*() {
        const socket = PlatformSocket.toSocket(connection)
        expect(Socket.isSocket(socket)).toBe(true)
        const write = yield* socket.writer
        yield* socket.run((chunk) => write(chunk))
      }).pipe(Effect.scoped)

    it.live("runs a platform Socket echo inside Server.make; the peer's FIN ends run and the server closes", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, platformEcho)
        const socket = yield* rawConnect(server.address.port)
        socket.end("hello over effect-wire\n")
        expect(yield* readToEnd(socket)).toEqual({ text: "hello over effect-wire\n", ended: "fin" })
      }).pipe(Effect.scoped))

    it.live("Socket.toChannel works over the view (strings written as UTF-8)", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, (connection) =>
          Effect.gen(function*() {
            const socket = PlatformSocket.toSocket(connection)
            const write = yield* socket.writer
            yield* write("greetings\n")
            yield* socket.run((chunk) => write(`got ${text(chunk).trim()}\n`))
          }).pipe(Effect.scoped))
        const socket = yield* rawConnect(server.address.port)
        expect(yield* readLines(socket, 1)).toEqual(["greetings"])
        socket.write("x\n")
        expect(yield* readLines(socket, 1)).toEqual(["got x"])
      }).pipe(Effect.scoped))

    it.live("a CloseEvent with an error code resets the connection; code 1000 half-closes", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, (connection) =>
          Effect.gen(function*() {
            const socket = PlatformSocket.toSocket(connection)
            const write = yield* socket.writer
            yield* socket.run((chunk) =>
              text(chunk).startsWith("bye") ? write(new Socket.CloseEvent(1000)) : write(new Socket.CloseEvent(1011))
            )
          }).pipe(Effect.scoped))
        const polite = yield* rawConnect(server.address.port)
        polite.write("bye\n")
        expect((yield* readToEnd(polite)).ended).toBe("fin")
        const rude = yield* rawConnect(server.address.port)
        rude.write("oops\n")
        expect((yield* readToEnd(rude)).ended).toBe("reset")
      }).pipe(Effect.scoped))

    it.live("server shutdown ends an idle run at once (the drain reads as EOF)", () =>
      Effect.gen(function*() {
        const running = yield* Deferred.make<void>()
        const server = yield* Server.make({ port: 0 }, (connection) =>
          Effect.gen(function*() {
            const socket = PlatformSocket.toSocket(connection)
            yield* socket.run(() => Effect.void, { onOpen: Deferred.succeed(running, undefined) })
          }).pipe(Effect.scoped))
        const socket = yield* rawConnect(server.address.port)
        yield* Deferred.await(running)
        const ended = yield* Effect.fork(readToEnd(socket))
        yield* server.shutdown
        expect((yield* Fiber.join(ended)).ended).toBe("fin")
        expect(yield* server.stats).toMatchObject({ errors: 0 })
      }).pipe(Effect.scoped))
  })
})

// Keep the type-only import of Scope used (helpers above are scoped).
export type _Scoped = Scope.Scope
