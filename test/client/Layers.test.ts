/**
 * `Client.layer` / `Client.layerPool`, `RpcClient.layer` / `RpcClient.pool` /
 * `RpcClient.layerPool`: round trips against a real `RpcServer` on port 0, connections closed
 * with the layer's scope, calls spread over a pool's connections, and a connection the server
 * closes replaced.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, FiberId, Pool, Queue, Scope } from "effect"
import { Buffer } from "node:buffer"
import * as Client from "../../src/client/Client.js"
import * as RpcClient from "../../src/client/RpcClient.js"
import type * as Connection from "../../src/connection/Connection.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { Calc, calcHandlers, Gates } from "../rpc/fixtures.js"

class CalcClient extends Context.Tag("test/CalcClient")<CalcClient, RpcClient.RpcClient<typeof Calc>>() {}
class PooledCalc
  extends Context.Tag("test/PooledCalc")<PooledCalc, RpcClient.RpcClient<typeof Calc, Client.ConnectFailure>>()
{}
class Conn extends Context.Tag("test/Conn")<Conn, Connection.Connection>() {}
class Conns extends Context.Tag("test/Conns")<Conns, Pool.Pool<Connection.Connection, Client.ConnectFailure>>() {}

/**
 * An RpcServer of `Calc` whose `wait` handler records which connection ran it, that reports
 * each connection's end on `ended`, and that closes connection `id` when `kill(id)` is called:
 * it half-closes, then waits for the client's FIN (which an RpcClient sends once it has seen
 * ours), then reports it on `killed`.
 */
const calcServer = Effect.gen(function*() {
  const gates = new Gates()
  const ended = yield* Queue.unbounded<number>()
  const killed = yield* Queue.unbounded<number>()
  const ranOn = new Map<string, number>()
  const kills = new Map<number, Deferred.Deferred<void>>()
  const killOf = (id: number) => {
    let d = kills.get(id)
    if (d === undefined) {
      d = Deferred.unsafeMake<void>(FiberId.none)
      kills.set(id, d)
    }
    return d
  }
  const server = yield* Server.make({ port: 0 }, (conn) => {
    const base = calcHandlers(gates)
    const rpc = RpcServer.handler(Calc, {
      ...base,
      wait: (params) =>
        Effect.suspend(() => {
          ranOn.set(params.key, conn.id)
          return base.wait(params)
        })
    })
    return Effect.raceFirst(
      rpc(conn),
      Deferred.await(killOf(conn.id)).pipe(
        Effect.zipRight(conn.endWrite),
        Effect.zipRight(conn.readAll()),
        Effect.zipRight(Queue.offer(killed, conn.id))
      )
    ).pipe(Effect.ensuring(Queue.offer(ended, conn.id)))
  })
  const kill = (id: number) => Deferred.succeed(killOf(id), undefined)
  return { server, gates, ended, killed, ranOn, kill }
})

describe("Client layers", () => {
  it.live("Client.layer provides a connection under the user's tag and closes it with the layer", () =>
    Effect.gen(function*() {
      const { server, ended } = yield* calcServer
      const reply = yield* Effect.gen(function*() {
        const conn = yield* Conn
        yield* conn.write(`${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "add", params: { a: 2, b: 3 } })}\n`)
        return JSON.parse(Buffer.from(yield* conn.readLine()).toString("utf8"))
      }).pipe(Effect.provide(Client.layer(Conn, { port: server.address.port })))
      expect(reply).toMatchObject({ id: 1, result: 5 })
      // The layer's scope has closed: the server sees the connection end.
      yield* Queue.take(ended)
      expect((yield* server.stats).accepted).toBe(1)
    }).pipe(Effect.scoped))

  it.live("Client.layerPool provides a Pool of connections under the user's tag", () =>
    Effect.gen(function*() {
      const { server, ended } = yield* calcServer
      const ids = yield* Effect.gen(function*() {
        const pool = yield* Conns
        const a = yield* Pool.get(pool)
        const b = yield* Pool.get(pool)
        return [a.id, b.id]
      }).pipe(Effect.scoped, Effect.provide(Client.layerPool(Conns, { port: server.address.port, size: 2 })))
      expect(new Set(ids).size).toBe(2)
      yield* Queue.take(ended)
      yield* Queue.take(ended)
      expect((yield* server.stats).accepted).toBe(2)
    }).pipe(Effect.scoped))

  it.live("RpcClient.layer: a typed client under the user's tag, its connection closed with the layer's scope", () =>
    Effect.gen(function*() {
      const { server, ended } = yield* calcServer
      const layer = RpcClient.layer(CalcClient, Calc, { port: server.address.port, timeout: "5 seconds" })
      const sum = yield* Effect.gen(function*() {
        const client = yield* CalcClient
        return yield* client.add({ a: 1, b: 2 })
      }).pipe(Effect.provide(layer))
      expect(sum).toBe(3)
      yield* Queue.take(ended)
      const stats = yield* server.stats
      expect(stats.accepted).toBe(1)
    }).pipe(Effect.scoped))

  it.live("RpcClient.layer fails to build with ConnectError when nothing listens", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { server } = yield* calcServer.pipe(Scope.extend(scope))
      const port = server.address.port
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(Effect.provide(CalcClient, RpcClient.layer(CalcClient, Calc, { port })))
      expect(error).toMatchObject({ _tag: "ConnectError", code: "ECONNREFUSED" })
    }))

  it.live("RpcClient.pool spreads concurrent calls over its connections (concurrency 1: one call per connection)", () =>
    Effect.gen(function*() {
      const { server, gates, ranOn } = yield* calcServer
      const client = yield* RpcClient.pool(Calc, { port: server.address.port, size: 4, concurrency: 1 })
      const keys = ["a", "b", "c", "d"]
      const calls = yield* Effect.fork(
        Effect.forEach(keys, (key) => client.wait({ key }), { concurrency: "unbounded" })
      )
      yield* Effect.forEach(keys, (key) => gates.awaitStarted(key), { discard: true })
      // Four calls in flight at once, one per connection.
      expect(new Set(keys.map((k) => ranOn.get(k))).size).toBe(4)
      // A fifth waits for a free connection.
      const fifth = yield* Effect.fork(client.wait({ key: "e" }))
      yield* gates.release("a")
      yield* gates.awaitStarted("e")
      expect(ranOn.get("e")).toBe(ranOn.get("a"))
      yield* Effect.forEach(["b", "c", "d", "e"], (key) => gates.release(key), { discard: true })
      expect(yield* Fiber.join(calls)).toEqual(keys)
      expect(yield* Fiber.join(fifth)).toBe("e")
      expect((yield* server.stats).accepted).toBe(4)
    }).pipe(Effect.scoped))

  it.live("RpcClient.pool with the default concurrency multiplexes calls and round-robins them over its connections", () =>
    Effect.gen(function*() {
      const { server, gates, ranOn } = yield* calcServer
      const client = yield* RpcClient.pool(Calc, { port: server.address.port, size: 2 })
      // Both connections up (each carried one call), then eight calls at once.
      const warm = yield* Effect.fork(
        Effect.forEach(["w1", "w2"], (key) => client.wait({ key }), { concurrency: "unbounded" })
      )
      yield* gates.awaitStarted("w1")
      yield* gates.awaitStarted("w2")
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`)
      const calls = yield* Effect.fork(
        Effect.forEach(keys, (key) => client.wait({ key }), { concurrency: "unbounded" })
      )
      yield* Effect.forEach(keys, (key) => gates.awaitStarted(key), { discard: true })
      const perConnection = new Map<number, number>()
      for (const k of keys) perConnection.set(ranOn.get(k)!, (perConnection.get(ranOn.get(k)!) ?? 0) + 1)
      expect([...perConnection.values()]).toEqual([4, 4])
      yield* Effect.forEach([...keys, "w1", "w2"], (key) => gates.release(key), { discard: true })
      expect(yield* Fiber.join(calls)).toEqual(keys)
      yield* Fiber.join(warm)
      expect((yield* server.stats).accepted).toBe(2)
    }).pipe(Effect.scoped))

  it.live("RpcClient.pool replaces a connection the server closes; later calls succeed", () =>
    Effect.gen(function*() {
      const { server, gates, ranOn, kill, killed } = yield* calcServer
      const client = yield* RpcClient.pool(Calc, { port: server.address.port, size: 2, concurrency: 1 })
      const both = yield* Effect.fork(
        Effect.forEach(["a", "b"], (key) => client.wait({ key }), { concurrency: "unbounded" })
      )
      yield* gates.awaitStarted("a")
      yield* gates.awaitStarted("b")
      yield* gates.release("a")
      yield* gates.release("b")
      yield* Fiber.join(both)
      const victim = ranOn.get("a")!
      yield* kill(victim)
      // The client has seen the server's FIN (it answered with its own).
      expect(yield* Queue.take(killed)).toBe(victim)
      // Every later call succeeds; two at once need two live connections: one is new.
      const results = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) => client.add({ a: i, b: 1 }),
        {
          concurrency: 1
        }
      )
      expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
      const again = yield* Effect.fork(
        Effect.forEach(["c", "d"], (key) => client.wait({ key }), { concurrency: "unbounded" })
      )
      yield* gates.awaitStarted("c")
      yield* gates.awaitStarted("d")
      expect(ranOn.get("c")).not.toBe(victim)
      expect(ranOn.get("d")).not.toBe(victim)
      yield* gates.release("c")
      yield* gates.release("d")
      expect(yield* Fiber.join(again)).toEqual(["c", "d"])
      expect((yield* server.stats).accepted).toBe(3)
    }).pipe(Effect.scoped))

  it.live("RpcClient.layerPool provides a pool-backed client; its connections close with the layer", () =>
    Effect.gen(function*() {
      const { server, ended } = yield* calcServer
      const layer = RpcClient.layerPool(PooledCalc, Calc, { port: server.address.port, size: 2 })
      const results = yield* Effect.gen(function*() {
        const client = yield* PooledCalc
        return yield* Effect.forEach([1, 2, 3, 4], (i) => client.add({ a: i, b: i }), { concurrency: "unbounded" })
      }).pipe(Effect.provide(layer))
      expect(results).toEqual([2, 4, 6, 8])
      const accepted = (yield* server.stats).accepted
      for (let i = 0; i < accepted; i++) yield* Queue.take(ended)
      expect((yield* server.stats).active).toBe(0)
    }).pipe(Effect.scoped))

  it("validates pool options when built", () => {
    expect(() => RpcClient.layerPool(PooledCalc, Calc, { port: 1, size: 0 })).toThrow(/size/)
    expect(() => RpcClient.layerPool(PooledCalc, Calc, { port: 1, concurrency: 1.5 })).toThrow(/concurrency/)
    expect(() => Client.layerPool(Conns, { port: 1, size: -1 })).toThrow(/size/)
    expect(() => RpcClient.layer(CalcClient, Calc, { port: 70_000 })).toThrow(/port/)
  })
})
