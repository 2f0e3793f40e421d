/**
 * effect-wire's `Server` as an `@effect/platform` `SocketServer`: code written for platform
 * socket servers, such as `@effect/rpc`'s `RpcServer.layerProtocolSocketServer`, runs on
 * effect-wire's listener and connections, with their limits (`maxConnections`, idle, write-stall
 * and outbound limits, TLS, Unix sockets) and graceful shutdown (listener closed first, idle
 * connections closed at once, sockets gone within the deadline). Each connection is handed to
 * `run`'s handler as `PlatformSocket.toSocket(connection)`.
 *
 * Connections accepted before `run` is called wait for it (as `NodeSocketServer`'s do); when
 * `run` is interrupted, the handlers it started are interrupted and their connections closed.
 *
 * With `@effect/rpc`, a drain ends a connection's input at a chunk boundary, which
 * `@effect/rpc`'s server treats as the client's disconnect: idle clients are closed at once, and
 * the requests of a busy one are interrupted (`@effect/rpc` tracks them, not effect-wire).
 *
 * @example
 * ```ts
 * import { NodeSocket } from "@effect/platform-node"
 * import { Rpc, RpcClient, RpcGroup, RpcSerialization, RpcServer } from "@effect/rpc"
 * import { Effect, Layer, Schema } from "effect"
 * import { Server } from "effect-wire"
 * import { PlatformSocketServer } from "effect-wire/platform"
 *
 * const Group = RpcGroup.make(Rpc.make("add", { payload: { a: Schema.Number, b: Schema.Number }, success: Schema.Number }))
 *
 * // @effect/rpc's server on effect-wire's listener
 * const RpcOnEffectWire = RpcServer.layer(Group).pipe(
 *   Layer.provide(Group.toLayer({ add: ({ a, b }) => Effect.succeed(a + b) })),
 *   Layer.provide(RpcServer.layerProtocolSocketServer),
 *   Layer.provide(RpcSerialization.layerNdjson),
 *   Layer.provideMerge(PlatformSocketServer.layer({ port: 0, maxConnections: 10_000 }))
 * )
 *
 * const program = Effect.gen(function*() {
 *   const { address } = yield* Server.CurrentServer
 *   const ClientProtocol = RpcClient.layerProtocolSocket().pipe(
 *     Layer.provide([NodeSocket.layerNet({ host: "127.0.0.1", port: address.port }), RpcSerialization.layerNdjson])
 *   )
 *   // built in the program's scope, so that the client's connection stays open after `make`
 *   const client = yield* RpcClient.make(Group).pipe(Effect.provide(yield* Layer.build(ClientProtocol)))
 *   console.log(yield* client.add({ a: 40, b: 2 }))
 * })
 *
 * Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(RpcOnEffectWire)))
 * // Output: 42
 * ```
 *
 * @since 0.1.0
 */
import type { Socket } from "@effect/platform"
import { SocketServer } from "@effect/platform"
import { Context, Deferred, Effect, FiberId, Layer, type Scope } from "effect"
import * as PlatformSocket from "../connection/PlatformSocket.js"
import * as Server from "./Server.js"

/**
 * A `SocketServer` served by an effect-wire `Server`, which it also exposes (its stats, shutdown).
 *
 * @since 0.1.0
 * @category models
 */
export interface PlatformSocketServer extends Context.Tag.Service<SocketServer.SocketServer> {
  readonly server: Server.Server
}

type Serve = (socket: Socket.Socket) => Effect.Effect<void, unknown>

/**
 * Starts an effect-wire `Server` in the current scope and returns it as a `SocketServer`.
 * Closing the scope shuts the server down gracefully. A listen failure is a
 * `SocketServerError` ("Open") whose `cause` is the `ListenError`.
 *
 * @example
 * ```ts
 * import type { Socket } from "@effect/platform"
 * import { Effect } from "effect"
 * import { Client } from "effect-wire"
 * import { PlatformSocketServer } from "effect-wire/platform"
 *
 * // code written for @effect/platform sockets: sends every chunk back
 * const echo = (socket: Socket.Socket) =>
 *   Effect.scoped(Effect.flatMap(socket.writer, (write) => socket.run((chunk) => write(chunk))))
 *
 * const program = Effect.gen(function*() {
 *   const socketServer = yield* PlatformSocketServer.make({ port: 0, maxConnections: 100 })
 *   yield* Effect.forkScoped(socketServer.run(echo))
 *   const conn = yield* Client.connect({ port: socketServer.server.address.port })
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
export const make = (
  options: Server.ServerOptions
): Effect.Effect<PlatformSocketServer, SocketServer.SocketServerError, Scope.Scope> =>
  Effect.gen(function*() {
    /** Completed by `run` with what serves a socket; replaced when that `run` ends. */
    let current = Deferred.unsafeMake<Serve>(FiberId.none)
    const server = yield* Server.make(options, (connection) =>
      Effect.flatMap(Deferred.await(current), (serve) => serve(PlatformSocket.toSocket(connection)))).pipe(
        Effect.mapError((cause) =>
          new SocketServer.SocketServerError({ reason: "Open", cause })
        )
      )

    const run = <R, E, _>(
      handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>
    ): Effect.Effect<never, SocketServer.SocketServerError, R> =>
      Effect.gen(function*() {
        const context = yield* Effect.context<R>()
        const stopped = yield* Deferred.make<void>()
        // A handler runs in its connection's fiber, with `run`'s context, until `run` ends.
        const serve: Serve = (socket) =>
          Effect.raceFirst(Effect.asVoid(Effect.provide(handler(socket), context)), Deferred.await(stopped))
        if (!(yield* Deferred.succeed(current, serve))) {
          return yield* Effect.dieMessage("PlatformSocketServer: run is already running")
        }
        return yield* Effect.never.pipe(
          Effect.ensuring(Effect.suspend(() => {
            current = Deferred.unsafeMake<Serve>(FiberId.none)
            return Deferred.succeed(stopped, undefined)
          }))
        )
      })

    const address: SocketServer.Address = options.path !== undefined
      ? { _tag: "UnixAddress", path: options.path }
      : { _tag: "TcpAddress", hostname: server.address.host, port: server.address.port }
    return { address, run, server }
  })

/**
 * A layer running `make` for as long as it lives, providing it as `SocketServer` (for
 * `@effect/rpc`'s `layerProtocolSocketServer`) and the effect-wire server as `Server.CurrentServer`.
 *
 * @example
 * ```ts
 * import { SocketServer } from "@effect/platform"
 * import { Effect } from "effect"
 * import { Client, Server } from "effect-wire"
 * import { PlatformSocketServer } from "effect-wire/platform"
 *
 * // code written for @effect/platform's SocketServer: greets every socket
 * const greeter = Effect.flatMap(SocketServer.SocketServer, (socketServer) =>
 *   socketServer.run((socket) => Effect.scoped(Effect.flatMap(socket.writer, (write) => write("hello\n")))))
 *
 * const program = Effect.gen(function*() {
 *   yield* Effect.forkScoped(greeter)
 *   const server = yield* Server.CurrentServer // the effect-wire server behind it: address, stats, shutdown
 *   const conn = yield* Client.connect({ port: server.address.port })
 *   console.log(Buffer.from(yield* conn.readLine()).toString().trimEnd())
 * })
 *
 * Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(PlatformSocketServer.layer({ port: 0 }))))
 * // Output: hello
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Server.ServerOptions
): Layer.Layer<SocketServer.SocketServer | Server.CurrentServer, SocketServer.SocketServerError> =>
  Layer.scopedContext(
    Effect.map(make(options), (socketServer) =>
      Context.make(SocketServer.SocketServer, socketServer).pipe(
        Context.add(Server.CurrentServer, socketServer.server)
      ))
  )
