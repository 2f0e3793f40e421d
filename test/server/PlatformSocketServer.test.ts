/**
 * `PlatformSocketServer`: effect-wire's `Server` as an `@effect/platform` `SocketServer`, so that
 * `@effect/rpc`'s socket protocol runs over it (with effect-wire's limits and shutdown), called by
 * `@effect/rpc`'s own client over `NodeSocket.layerNet`. Real sockets on 127.0.0.1, port 0.
 */
import { NodeSocket } from "@effect/platform-node"
import { Rpc, RpcClient, RpcGroup, RpcSerialization, RpcServer } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Schema } from "effect"
import * as PlatformSocketServer from "../../src/server/PlatformSocketServer.js"
import * as Server from "../../src/server/Server.js"
import { rawConnect, readToEnd } from "./helpers.js"

class Add extends Rpc.make("add", { payload: { a: Schema.Number, b: Schema.Number }, success: Schema.Number }) {}
class Hold extends Rpc.make("hold", { payload: { key: Schema.String }, success: Schema.String }) {}
const Group = RpcGroup.make(Add, Hold)

/** An `@effect/rpc` server (NDJSON) on effect-wire's server; `hold` waits for `release`. */
const serve = (options: Server.ServerOptions, release: Deferred.Deferred<void>, started: Deferred.Deferred<void>) =>
  Layer.build(
    RpcServer.layer(Group).pipe(
      Layer.provide(Group.toLayer({
        add: ({ a, b }) => Effect.succeed(a + b),
        hold: ({ key }) =>
          Effect.zipRight(Deferred.succeed(started, undefined), Effect.as(Deferred.await(release), key))
      })),
      Layer.provide(RpcServer.layerProtocolSocketServer),
      Layer.provide(RpcSerialization.layerNdjson),
      Layer.provideMerge(PlatformSocketServer.layer(options))
    )
  )

/** `@effect/rpc`'s client over `NodeSocket.layerNet`, in the current scope. */
const client = (port: number) =>
  Effect.gen(function*() {
    const protocol = yield* Layer.build(
      RpcClient.layerProtocolSocket().pipe(
        Layer.provide([NodeSocket.layerNet({ host: "127.0.0.1", port }), RpcSerialization.layerNdjson])
      )
    )
    return yield* RpcClient.make(Group).pipe(Effect.provide(protocol))
  })

describe("PlatformSocketServer", () => {
  it.live("@effect/rpc's client calls an @effect/rpc server that runs on effect-wire's Server", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const context = yield* serve({ port: 0 }, release, started)
      const server = Context.get(context, Server.CurrentServer)
      const rpc = yield* client(server.address.port)
      expect(yield* rpc.add({ a: 1, b: 2 })).toBe(3)
      const held = yield* Effect.fork(rpc.hold({ key: "k" }))
      yield* Deferred.await(started)
      expect(yield* rpc.add({ a: 40, b: 2 })).toBe(42)
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.join(held)).toBe("k")
      expect(yield* server.stats).toMatchObject({ accepted: 1, active: 1 })
    }).pipe(Effect.scoped))

  it.live("effect-wire's maxConnections applies: a second connection is closed at once and counted", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const context = yield* serve({ port: 0, maxConnections: 1 }, release, started)
      const server = Context.get(context, Server.CurrentServer)
      const rpc = yield* client(server.address.port)
      expect(yield* rpc.add({ a: 1, b: 1 })).toBe(2)
      const extra = yield* rawConnect(server.address.port)
      expect((yield* readToEnd(extra)).text).toBe("")
      expect(yield* server.stats).toMatchObject({ accepted: 1, rejected: 1 })
    }).pipe(Effect.scoped))

  it.live("shutdown: the listener closes, idle @effect/rpc connections close, shutdown returns", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const context = yield* serve({ port: 0 }, release, started)
      const server = Context.get(context, Server.CurrentServer)
      const rpc = yield* client(server.address.port)
      expect(yield* rpc.add({ a: 2, b: 2 })).toBe(4)
      const idle = yield* rawConnect(server.address.port)
      const ended = yield* Effect.fork(readToEnd(idle))
      yield* server.shutdown
      expect((yield* Fiber.join(ended)).ended).toBe("fin")
      expect(yield* server.stats).toMatchObject({ active: 0, draining: true, interruptedAtDeadline: 0 })
    }).pipe(Effect.scoped))

  it.live("the SocketServer's address is effect-wire's bound address", () =>
    Effect.gen(function*() {
      const socketServer = yield* PlatformSocketServer.make({ port: 0 })
      expect(socketServer.address).toEqual({
        _tag: "TcpAddress",
        hostname: "127.0.0.1",
        port: socketServer.server.address.port
      })
    }).pipe(Effect.scoped))
})
