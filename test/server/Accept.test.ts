/**
 * What a server does per accepted connection (issue 11): each connection still sees its own and
 * its peer's address, while a server listening on one address does not ask each socket for its
 * own (the listener's address is every connection's).
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { Buffer } from "node:buffer"
import * as Net from "node:net"
import type * as Connection from "../../src/connection/Connection.js"
import type * as Transport from "../../src/connection/Transport.js"
import * as Server from "../../src/server/Server.js"
import { rawConnect, readToEnd } from "./helpers.js"

/** A server whose handler hands over its connection's addresses, and the peer's view of them. */
const addresses = (host: string) =>
  Effect.gen(function*() {
    const seen = yield* Deferred.make<{ local: Connection.Address; remote: Connection.Address }>()
    const server = yield* Server.make({ host, port: 0 }, (conn) =>
      Effect.zipRight(
        Deferred.succeed(seen, { local: conn.localAddress, remote: conn.remoteAddress }),
        conn.read() // ends at the peer's close or the server's drain
      ))
    const socket = yield* rawConnect(server.address.port)
    const got = yield* Deferred.await(seen)
    return { server, socket, ...got }
  })

describe("Server accept", () => {
  it.live("a connection's local address is the listener's when the server listens on one address", () =>
    Effect.gen(function*() {
      const { local, remote, server, socket } = yield* addresses("127.0.0.1")
      expect(local).toEqual({ host: "127.0.0.1", port: server.address.port, family: "IPv4" })
      expect(local).toEqual({ host: socket.remoteAddress, port: socket.remotePort, family: socket.remoteFamily })
      expect(remote).toEqual({ host: socket.localAddress, port: socket.localPort, family: socket.localFamily })
    }).pipe(Effect.scoped))

  it.live("listening on every address (0.0.0.0), a connection's local address is the one it came in on", () =>
    Effect.gen(function*() {
      const { local, remote, server, socket } = yield* addresses("0.0.0.0")
      expect(server.address.host).toBe("0.0.0.0")
      expect(local).toEqual({ host: "127.0.0.1", port: server.address.port, family: "IPv4" })
      expect(remote).toEqual({ host: socket.localAddress, port: socket.localPort, family: socket.localFamily })
    }).pipe(Effect.scoped))

  it.live("listening on one address, accepting a connection does not ask its socket for its own address", () =>
    Effect.gen(function*() {
      const proto = Net.Socket.prototype as { address: (this: Net.Socket) => unknown }
      const original = proto.address
      let asked = 0
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          proto.address = function(this: Net.Socket) {
            asked++
            return original.call(this)
          }
        }),
        () =>
          Effect.sync(() => {
            proto.address = original
          })
      )
      const { local, server } = yield* addresses("127.0.0.1")
      expect(asked).toBe(0)
      expect(local.port).toBe(server.address.port)
    }).pipe(Effect.scoped))

  it.live("a connection listens for its socket's drain only once a write has had to wait for it", () =>
    Effect.gen(function*() {
      const drainListeners = yield* Deferred.make<{ before: number; after: number }>()
      // 8 MiB: more than the kernel takes at once, so the write waits for the socket to drain.
      const big = Buffer.alloc(8 * 1024 * 1024, 0x61)
      const server = yield* Server.make({ port: 0 }, (conn) =>
        Effect.gen(function*() {
          const socket = (conn as Transport.Transport).socket
          const before = socket.listenerCount("drain")
          yield* conn.write(big)
          yield* Deferred.succeed(drainListeners, { before, after: socket.listenerCount("drain") })
        }))
      const socket = yield* rawConnect(server.address.port)
      const received = yield* readToEnd(socket)
      expect(received.text.length).toBe(big.length)
      expect(yield* Deferred.await(drainListeners)).toEqual({ before: 0, after: 1 })
    }).pipe(Effect.scoped))
})
