/**
 * Half-closed peers: a peer that sends a request, half-closes and then goes away (a reset, or a
 * close without one) while its handler never ends must not hold a connection slot. Node reads
 * nothing after EOF, so the server probes such connections at each timer tick (a reset peer is
 * seen then) and bounds them by `halfClosedTimeout` (a peer gone without a reset cannot be told
 * from one still waiting). A half-closed peer that is still there keeps getting its replies.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema, TestClock } from "effect"
import * as Fs from "node:fs"
import type * as Net from "node:net"
import * as Framing from "../../src/protocol/Framing.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { rawConnect, readLines, readToEnd } from "./helpers.js"

const openFds = () => Fs.readdirSync("/proc/self/fd").length

/**
 * Re-reads `stats` until `done` holds: the server reacts to socket events on the real event loop,
 * which the test cannot await one by one. Bounded (the test's own timeout ends a loop that never
 * holds); each round yields to the event loop.
 */
const until = (server: Server.Server, done: (s: Server.ServerStats) => boolean) =>
  Effect.gen(function*() {
    for (let round = 0; round < 100_000; round++) {
      const stats = yield* server.stats
      if (done(stats)) return stats
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
    return yield* Effect.die(new Error(`condition not reached: ${JSON.stringify(yield* server.stats)}`))
  })

const Hang = Protocol.make(
  Protocol.method("hang", { params: Schema.Unknown, success: Schema.Unknown }),
  Protocol.method("slow", { params: Schema.Unknown, success: Schema.Unknown })
)
const rpcHandler = RpcServer.handler(Hang, {
  hang: () => Effect.never,
  slow: (params) => Effect.as(Effect.sleep("10 seconds"), params)
})
const request = (method: string) => JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: ["x"] }) + "\n"

const kinds = [
  { name: "RpcServer", handler: rpcHandler, hang: request("hang") },
  {
    name: "Server.respond",
    handler: Server.respond(
      Framing.lines(),
      (line) => new TextDecoder().decode(line) === "hang" ? Effect.never : Effect.succeed(line)
    ),
    hang: "hang\n"
  }
] as const

const CONNECTIONS = 50

describe("half-closed peers", () => {
  for (const kind of kinds) {
    it.effect(`${kind.name}: 50 peers that half-close then reset or close release their slots (reset: within one tick; close: within halfClosedTimeout)`, () =>
      Effect.gen(function*() {
        const baseline = openFds()
        const server = yield* Server.make({ port: 0, maxConnections: CONNECTIONS, idleTimeout: "1 hour" }, kind.handler)
        const peers: Array<Net.Socket> = []
        for (let i = 0; i < CONNECTIONS; i++) {
          const socket = yield* rawConnect(server.address.port)
          socket.on("error", () => {})
          socket.write(kind.hang)
          socket.end()
          peers.push(socket)
        }
        // Every peer's FIN has been read while its handler runs: the slots are all taken.
        yield* until(server, (s) => s.halfClosed === CONNECTIONS)
        expect((yield* server.stats).active).toBe(CONNECTIONS)
        // Half reset, half close without a reset (their FIN was sent already: nothing more goes out).
        peers.forEach((socket, i) => i % 2 === 0 ? socket.resetAndDestroy() : socket.destroy())
        // One tick probes the half-closed connections: the reset ones are gone.
        yield* TestClock.adjust("250 millis")
        yield* until(server, (s) => s.active === CONNECTIONS / 2)
        // The others are closed once halfClosedTimeout (30 s) has passed since their FIN.
        yield* TestClock.adjust("29 seconds")
        expect((yield* server.stats).active).toBe(CONNECTIONS / 2)
        yield* TestClock.adjust("1 second")
        const stats = yield* until(server, (s) => s.active === 0 && s.openSockets === 0)
        expect(stats).toMatchObject({ halfClosed: 0, errors: CONNECTIONS, closed: CONNECTIONS })
        // A new client is served, and no file descriptor is left behind.
        const fresh = yield* rawConnect(server.address.port)
        if (kind.name === "Server.respond") {
          fresh.write("ok\n")
          expect(yield* readLines(fresh, 1)).toEqual(["ok"])
        } else {
          fresh.write(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "nope" }) + "\n")
          expect((yield* readLines(fresh, 1))[0]).toContain("-32601")
        }
        fresh.destroy()
        yield* until(server, (s) => s.openSockets === 0)
        for (let round = 0; round < 100_000 && openFds() > baseline + 1; round++) {
          yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
        }
        // The server's listening socket is the one descriptor more than before it started.
        expect(openFds()).toBeLessThanOrEqual(baseline + 1)
      }).pipe(Effect.scoped))
  }

  it.effect("a half-closed peer that is still there gets the reply of a handler that takes 10 s (probes send nothing)", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0 }, rpcHandler)
      const peer = yield* rawConnect(server.address.port)
      const received = yield* Effect.fork(readToEnd(peer))
      peer.write(request("slow"))
      peer.end()
      yield* until(server, (s) => s.halfClosed === 1)
      // 40 ticks of probes while the handler runs.
      for (let i = 0; i < 40; i++) yield* TestClock.adjust("250 millis")
      const { ended, text } = yield* received.await.pipe(Effect.flatten)
      expect(text).toBe(`{"jsonrpc":"2.0","id":1,"result":["x"]}\n`)
      expect(ended).toBe("fin")
      expect((yield* server.stats).errors).toBe(0)
    }).pipe(Effect.scoped))
})
