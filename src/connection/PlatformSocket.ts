/**
 * Adapters between effect-wire connections and `@effect/platform`'s `Socket`, both ways.
 *
 * `fromSocket` / `serve`: any `@effect/platform` `Socket` as an effect-wire `Connection` (a full
 * `Transport`), so every codec, `Server.respond` handler and `RpcServer.handler` session runs over
 * it unchanged: WebSocket clients through `NodeSocketServer.makeWebSocket`, TCP through
 * `NodeSocketServer.make`, and, as a client, `Socket.makeWebSocket` (the browser's `WebSocket`)
 * with `RpcClient.make`. The connection's limits apply (idle, frame-read and write-stall
 * timeouts, outbound limit, linger).
 *
 * A WebSocket carries messages, not a byte stream: with `messages: framing`, each message
 * received is one frame of `framing` (the handler's own framing: `Framing.lines()` for
 * `RpcServer.handler`'s default), and each frame the handler writes goes out as one message,
 * binary or text (`messageType`). A message the framing cannot carry (a newline inside a
 * `lines` message, one over its limit) fails the connection. Without `messages`, chunks are
 * bytes of one stream (TCP through `NodeSocket`, or WebSockets used as byte pipes).
 *
 * What a platform `Socket` cannot do: it has no half-close of its input (its `run` ends when the
 * peer closes, and then nothing can be written), so a peer's close ends the connection, writes
 * included; and its input cannot be paused unless it is a `ws` WebSocket of
 * `NodeSocketServer.makeWebSocket` (found in the context as `Socket.WebSocket`): otherwise up to
 * `maxInboundBytes` received and not yet read are held, and more fails the connection.
 *
 * `toSocket`: the other way, a `Socket.Socket` view of an effect-wire `Connection`, so code
 * written for `@effect/platform` sockets (`Socket.toChannel`, `@effect/rpc`'s socket protocol:
 * see `PlatformSocketServer`) runs inside an effect-wire `Server.make` handler, under its limits
 * and graceful shutdown.
 *
 * @example
 * ```ts
 * import { Socket } from "@effect/platform"
 * import { NodeSocket, NodeSocketServer } from "@effect/platform-node"
 * import { Effect, Schema } from "effect"
 * import { Framing, Protocol, RpcClient, RpcServer } from "effect-wire"
 * import { PlatformSocket } from "effect-wire/platform"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 *
 * const program = Effect.gen(function*() {
 *   // an RPC server for WebSocket clients: one JSON-RPC message per WebSocket message
 *   const ws = yield* NodeSocketServer.makeWebSocket({ host: "127.0.0.1", port: 0 })
 *   const handler = RpcServer.handler(Calc, { add: ({ a, b }) => Effect.succeed(a + b) })
 *   yield* Effect.forkScoped(ws.run((socket) => PlatformSocket.serve(socket, handler, { messages: Framing.lines() })))
 *
 *   // a WebSocket client (in a browser: Socket.layerWebSocketConstructorGlobal)
 *   const url = `ws://127.0.0.1:${(ws.address as { port: number }).port}`
 *   const socket = yield* Socket.makeWebSocket(url).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))
 *   const client = yield* RpcClient.make(Calc, yield* PlatformSocket.fromSocket(socket, { messages: Framing.lines() }))
 *   console.log(yield* client.add({ a: 2, b: 3 }))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: 5
 * ```
 *
 * @since 0.1.0
 */
import { Socket } from "@effect/platform"
import {
  Cause,
  Deferred,
  Effect,
  ExecutionStrategy,
  Exit,
  type Fiber,
  FiberId,
  FiberSet,
  Option,
  Runtime,
  Scope
} from "effect"
import type * as Net from "node:net"
import { intOption } from "../internal/options.js"
import type * as Codec from "../protocol/Codec.js"
import * as Connection from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import { codedError, PlatformDuplex, type Sink } from "./internal/platformDuplex.js"

/**
 * Options of `fromSocket` and `serve`: the connection's limits, and how the platform socket's
 * chunks map to the connection's bytes.
 *
 * @since 0.1.0
 * @category models
 */
export interface FromSocketOptions<FE = unknown> extends Connection.ConnectionOptions {
  /**
   * Each message is one frame of this framing (use the handler's own): a message received is
   * encoded with it into the connection's input, and the bytes the handler writes are decoded
   * with it into one message per frame. Default: none (chunks are bytes of one stream).
   */
  readonly messages?: Codec.Codec<Uint8Array, FE>
  /** With `messages`: send each frame as a binary message (default) or as a text one (UTF-8). */
  readonly messageType?: "binary" | "text"
  /**
   * How the connection's half-close (and graceful close) is told to the peer: a WebSocket close
   * frame (`"close-event"`, code 1000; the default with `messages`), or releasing the socket's
   * writer, which ends a `NodeSocket`'s TCP side (`"end"`, the default without `messages`).
   */
  readonly closeWith?: "close-event" | "end"
  /** The peer's address, as `connection.remoteAddress` reports it. Default: empty. */
  readonly remoteAddress?: Connection.Address
  /** Our address, as `connection.localAddress` reports it. Default: empty. */
  readonly localAddress?: Connection.Address
  /**
   * Bytes received and not read that are held when the socket's input cannot be paused; more
   * fails the connection (`SocketError` with code `ERR_INBOUND_LIMIT`). Default 1 MiB.
   */
  readonly maxInboundBytes?: number
}

const NO_ADDRESS: Connection.Address = { host: "", port: 0, family: "" }

/** A `ws` WebSocket (what `NodeSocketServer.makeWebSocket` provides as `Socket.WebSocket`) can pause. */
interface Pausable {
  readonly pause: () => void
  readonly resume: () => void
}
const pausable = (ws: unknown): Pausable | undefined =>
  typeof ws === "object" && ws !== null && typeof (ws as Partial<Pausable>).pause === "function" &&
    typeof (ws as Partial<Pausable>).resume === "function"
    ? ws as Pausable
    : undefined

const failureOf = (exit: Exit.Exit<unknown, unknown>, code: string): Error => {
  const cause = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
  return codedError(code, cause instanceof Error ? cause.message : String(cause))
}

/**
 * An effect-wire `Connection` over an `@effect/platform` `Socket`, closed (gracefully) when the
 * scope closes. It is a `Transport` too, so `Server.respond` and `RpcServer.handler` serve it as
 * they serve a TCP connection. The socket is run (`socket.run`) in the scope.
 *
 * @example
 * ```ts
 * import { NodeSocket } from "@effect/platform-node"
 * import { Effect, Schema } from "effect"
 * import { Protocol, RpcClient, RpcServer, Server } from "effect-wire"
 * import { PlatformSocket } from "effect-wire/platform"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, { add: ({ a, b }) => Effect.succeed(a + b) }))
 *   // any @effect/platform Socket: here a TCP one (for a WebSocket, add `messages: Framing.lines()`)
 *   const socket = yield* NodeSocket.makeNet({ host: "127.0.0.1", port: server.address.port })
 *   const connection = yield* PlatformSocket.fromSocket(socket)
 *   const client = yield* RpcClient.make(Calc, connection)
 *   console.log(yield* client.add({ a: 1, b: 2 }))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: 3
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSocket = <FE = unknown>(
  socket: Socket.Socket,
  options: FromSocketOptions<FE> = {}
): Effect.Effect<Connection.Connection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const config = Connection.config(options)
    const maxInbound = intOption("PlatformSocket", "maxInboundBytes", options.maxInboundBytes, 1_048_576, 1)
    const messages = options.messages
    const text = options.messageType === "text"
    const closeWith = options.closeWith ?? (messages === undefined ? "end" : "close-event")
    const scope = yield* Effect.scope
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const source = pausable(Option.getOrUndefined(yield* Effect.serviceOption(Socket.WebSocket)))

    const writeScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const send = yield* Scope.extend(socket.writer, writeScope)
    const utf8 = new TextDecoder()
    const decoder = messages?.decoder()
    const encoder = messages?.encoder()

    /** Set once the socket's `run` has ended: a platform socket cannot write after that. */
    let ended = false
    let running: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
    let writing: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
    const settle = (effect: Effect.Effect<unknown, unknown>, code: string, done: (error?: Error | null) => void) => {
      const fiber = runFork(effect)
      writing = fiber
      fiber.addObserver((exit) => {
        writing = undefined
        done(Exit.isSuccess(exit) ? null : failureOf(exit, code))
      })
    }
    const sink: Sink = {
      write: (bytes, done) => {
        if (ended) return done(codedError("ERR_SOCKET_CLOSED", "the platform socket has closed"))
        if (decoder === undefined) return settle(send(bytes), "ERR_SOCKET_WRITE", done)
        const frames: Array<Uint8Array> = []
        const error = decoder.push(bytes, frames)
        if (error !== undefined) {
          return done(
            codedError("ERR_MESSAGE_FRAMING", `written bytes are not ${messages!.name} frames: ${String(error)}`)
          )
        }
        if (frames.length === 0) return done(null)
        settle(
          Effect.forEach(frames, (frame) => send(text ? utf8.decode(frame) : frame), { discard: true }),
          "ERR_SOCKET_WRITE",
          done
        )
      },
      final: (done) => {
        if (ended) return done(null)
        if (closeWith === "close-event") settle(send(new Socket.CloseEvent(1000)), "ERR_SOCKET_WRITE", done)
        else settle(Scope.close(writeScope, Exit.void), "ERR_SOCKET_WRITE", done)
      },
      destroy: () => {
        ended = true
        running?.unsafeInterruptAsFork(FiberId.none)
        writing?.unsafeInterruptAsFork(FiberId.none)
        runFork(Scope.close(writeScope, Exit.void))
      },
      pause: source?.pause.bind(source),
      resume: source?.resume.bind(source)
    }
    const duplex = new PlatformDuplex(
      sink,
      options.remoteAddress ?? NO_ADDRESS,
      options.localAddress ?? NO_ADDRESS,
      config.readHighWaterMark,
      config.writeHighWaterMark,
      maxInbound
    )
    // The peer is gone once its input has ended and been read: nothing more can be written.
    duplex.once("end", () => duplex.destroy())

    const receive = (message: Uint8Array): void => {
      if (encoder === undefined) return duplex.feed(message)
      const parts: Array<Uint8Array> = []
      const error = encoder.push(message, parts)
      if (error !== undefined) {
        return void duplex.destroy(
          codedError(
            "ERR_MESSAGE_FRAMING",
            `a message cannot be carried as a ${messages!.name} frame: ${String(error)}`
          )
        )
      }
      for (const part of parts) duplex.feed(part)
    }
    // The run is stopped after the connection's graceful close (its scope is closed after the
    // connection's release), and started once the connection listens to the stream.
    const runScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const connection = yield* Connection.make(duplex as unknown as Net.Socket, config)
    const opened = yield* Deferred.make<void>()
    const run = yield* socket.run(receive, { onOpen: Deferred.succeed(opened, undefined) }).pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          ended = true
          const error = Exit.isFailure(exit) && !Exit.isInterrupted(exit) ? Cause.squash(exit.cause) : undefined
          if (
            error === undefined || (Socket.SocketCloseError.is(error) && !Socket.defaultCloseCodeIsError(error.code))
          ) {
            duplex.inputEnded()
          } else {
            const reason = Socket.isSocketError(error) ? error.reason.toUpperCase() : "FAILED"
            duplex.destroy(codedError(`ERR_SOCKET_${reason}`, error instanceof Error ? error.message : String(error)))
          }
        })
      ),
      Effect.interruptible,
      Effect.forkIn(runScope)
    )
    running = run
    // Returns once the socket is open, or its run has ended (a failed open: the connection's
    // reads then fail with it).
    yield* Effect.raceFirst(Deferred.await(opened), Effect.asVoid(Effect.exit(run.await)))
    return connection
  })

/**
 * Serves one `@effect/platform` `Socket` with an effect-wire connection handler (`Server.respond`,
 * `RpcServer.handler`, or any `(connection) => Effect`): completes when the handler does, the
 * connection closed.
 *
 * @example
 * ```ts
 * import { NodeSocketServer } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Client, Framing, Message, Server } from "effect-wire"
 * import { PlatformSocket } from "effect-wire/platform"
 *
 * const echo = Server.respond(Message.text(Framing.lines()), (line) => Effect.succeed(`ECHO: ${line}`))
 *
 * const program = Effect.gen(function*() {
 *   // @effect/platform's TCP server, each socket served by an effect-wire handler
 *   const tcp = yield* NodeSocketServer.make({ host: "127.0.0.1", port: 0 })
 *   yield* Effect.forkScoped(tcp.run((socket) => PlatformSocket.serve(socket, echo)))
 *   const conn = yield* Client.connect({ port: (tcp.address as { port: number }).port })
 *   yield* conn.write("hello\n")
 *   console.log(Buffer.from(yield* conn.readLine()).toString().trimEnd())
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: ECHO: hello
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = <A, E, R, FE = unknown>(
  socket: Socket.Socket,
  handler: (connection: Connection.Connection) => Effect.Effect<A, E, R>,
  options: FromSocketOptions<FE> = {}
): Effect.Effect<A, E, R> => Effect.scoped(Effect.flatMap(fromSocket(socket, options), handler))

// ---- toSocket ------------------------------------------------------------------------------------

const readError = (error: ConnectionError): Socket.SocketError =>
  error._tag === "ConnectionClosed"
    ? new Socket.SocketCloseError({
      reason: "Close",
      code: error.reason === "reset" ? 1006 : 1000,
      closeReason: error.detail
    })
    : new Socket.SocketGenericError({ reason: "Read", cause: error })

const writeError = (error: ConnectionError): Socket.SocketError =>
  new Socket.SocketGenericError({ reason: "Write", cause: error })

/**
 * A `Socket.Socket` view of an effect-wire connection, for code written for `@effect/platform`
 * sockets:
 * - `run` / `runRaw` read the connection and call the handler with each chunk (as `NodeSocket`
 *   does, effects it returns run concurrently and the first failure fails `run`); `run` ends at
 *   the peer's EOF, or when the server drains with nothing half-read (an idle connection closes at
 *   once at shutdown); a closed connection ends it as a clean close;
 * - `writer` writes bytes (strings as UTF-8) with the connection's write backpressure and
 *   limits; a `CloseEvent` with code 1000 half-closes, another code resets the connection;
 *   releasing the writer half-closes (as `NodeSocket`'s does).
 * Errors are `SocketError`s whose `cause` is the `ConnectionError`.
 *
 * @example
 * ```ts
 * import type { Socket } from "@effect/platform"
 * import { Effect } from "effect"
 * import { Client, Server } from "effect-wire"
 * import { PlatformSocket } from "effect-wire/platform"
 *
 * // code written for @effect/platform sockets: sends every chunk back
 * const echo = (socket: Socket.Socket) =>
 *   Effect.scoped(Effect.flatMap(socket.writer, (write) => socket.run((chunk) => write(chunk))))
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, (connection) => echo(PlatformSocket.toSocket(connection)))
 *   const conn = yield* Client.connect({ port: server.address.port })
 *   yield* conn.write("hello\n")
 *   console.log(Buffer.from(yield* conn.readLine()).toString().trimEnd())
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: hello
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const toSocket = (connection: Connection.Connection): Socket.Socket => {
  const run = <_, E = never, R = never>(
    handler: (_: Uint8Array) => Effect.Effect<_, E, R> | void,
    options?: { readonly onOpen?: Effect.Effect<void> | undefined }
  ): Effect.Effect<void, Socket.SocketError | E, R> =>
    Effect.scopedWith((scope) =>
      Effect.gen(function*() {
        const fibers = yield* Scope.extend(FiberSet.make<unknown, E | Socket.SocketError>(), scope)
        const fork = yield* FiberSet.runtime(fibers)<R>()
        const reads: Effect.Effect<void, Socket.SocketError> = Effect.gen(function*() {
          while (true) {
            const bytes = yield* Effect.mapError(connection.read(), readError)
            if (bytes.length === 0) return
            const result = handler(bytes)
            if (Effect.isEffect(result)) fork(result)
          }
        })
        yield* FiberSet.run(
          fibers,
          Effect.zipRight(reads, Deferred.done(fibers.deferred, Exit.void))
        )
        if (options?.onOpen !== undefined) yield* options.onOpen
        return yield* FiberSet.join(fibers).pipe(
          Effect.catchIf(
            (e): e is Socket.SocketCloseError =>
              Socket.SocketCloseError.is(e) && !Socket.defaultCloseCodeIsError(e.code),
            () => Effect.void
          )
        )
      })
    ).pipe(Effect.interruptible)

  const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
    Socket.isCloseEvent(chunk)
      ? chunk.code === 1000 ? connection.endWrite : connection.abort
      : Effect.mapError(connection.write(chunk), writeError)

  return Socket.Socket.of({
    [Socket.TypeId]: Socket.TypeId,
    run,
    runRaw: run,
    writer: Effect.acquireRelease(Effect.succeed(write), () => connection.endWrite)
  })
}
