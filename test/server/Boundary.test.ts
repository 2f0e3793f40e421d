/**
 * The connection boundary: code that runs inside a socket event, a fiber's observer or a
 * microtask (codecs, handlers, formatters, encoders) is behind the driver's guard. A throw ends
 * that one connection (replies made before it go out, `errors` counts it); the process and every
 * other connection go on. Without the guard each of these throws escapes as an uncaught exception
 * and ends the test process.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Buffer } from "node:buffer"
import type { Codec } from "../../src/protocol/Codec.js"
import * as Framing from "../../src/protocol/Framing.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import type { RpcFormat } from "../../src/protocol/RpcFormat.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { rawConnect, readLines, readToEnd } from "./helpers.js"

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

/** `Framing.lines()` whose decoder throws on a chunk holding `decode`, and encoder on a frame equal to `encode`. */
const throwing = (when: { readonly decode?: string; readonly encode?: string }): Codec<Uint8Array, unknown> => {
  const lines = Framing.lines()
  return {
    name: "throwing(lines)",
    decoder: () => {
      const inner = lines.decoder()
      return {
        push: (chunk, out) => {
          if (when.decode !== undefined && text(chunk).includes(when.decode)) throw new Error("decoder bug")
          return inner.push(chunk, out)
        },
        end: (out) => inner.end(out),
        get poisoned() {
          return inner.poisoned
        },
        get buffered() {
          return inner.buffered
        }
      }
    },
    encoder: () => {
      const inner = lines.encoder()
      return {
        push: (frame, out) => {
          if (when.encode !== undefined && text(frame) === when.encode) throw new Error("encoder bug")
          return inner.push(frame, out)
        }
      }
    }
  }
}

/** Sends `good` on a second connection and expects its echo: the server still serves. */
const stillServes = (port: number) =>
  Effect.gen(function*() {
    const other = yield* rawConnect(port)
    other.write("still there\n")
    expect(yield* readLines(other, 1)).toEqual(["still there"])
  })

describe("the connection boundary", () => {
  describe("Server.respond", () => {
    it.live("a decoder that throws inside the data event ends its connection only", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, Server.respond(throwing({ decode: "boom" }), Effect.succeed))
        const bad = yield* rawConnect(server.address.port)
        bad.write("before\n")
        expect(yield* readLines(bad, 1)).toEqual(["before"])
        bad.write("boom\n")
        expect(yield* readToEnd(bad)).toMatchObject({ text: "" })
        yield* stillServes(server.address.port)
        expect(yield* server.stats).toMatchObject({ errors: 1, frames: 2 })
      }).pipe(Effect.scoped))

    it.live("an encoder that throws ends its connection after the replies made before it", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, Server.respond(throwing({ encode: "boom" }), Effect.succeed))
        const bad = yield* rawConnect(server.address.port)
        bad.write("before\nboom\nafter\n")
        expect(yield* readToEnd(bad)).toMatchObject({ text: "before\n" })
        yield* stillServes(server.address.port)
        expect((yield* server.stats).errors).toBe(1)
      }).pipe(Effect.scoped))

    it.live("a handler that throws after a suspended one (on the fiber's path) ends its connection only", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0 },
          Server.respond(Framing.lines(), (line): Effect.Effect<Uint8Array> => {
            if (text(line) === "boom") throw new Error("handler bug")
            return text(line) === "slow" ? Effect.as(Effect.yieldNow(), line) : Effect.succeed(line)
          })
        )
        const bad = yield* rawConnect(server.address.port)
        bad.write("slow\nboom\n")
        expect(yield* readToEnd(bad)).toMatchObject({ text: "slow\n" })
        yield* stillServes(server.address.port)
        expect((yield* server.stats).errors).toBe(1)
      }).pipe(Effect.scoped))
  })

  describe("RpcServer", () => {
    const Echo = Protocol.make(
      Protocol.method("echo", { params: Schema.Unknown, success: Schema.Unknown }),
      Protocol.method("slow", { params: Schema.Unknown, success: Schema.Unknown })
    )
    const handlers = {
      echo: (params: unknown) => Effect.succeed(params),
      slow: (params: unknown) => Effect.as(Effect.yieldNow(), params)
    }
    /** JSON-RPC whose success formatter throws on the result "boom" (a formatter bug). */
    const format: RpcFormat = {
      ...JsonRpc.format,
      success: (id, result) => {
        if (Array.isArray(result) && result[0] === "boom") throw new Error("formatter bug")
        return JsonRpc.format.success(id, result)
      }
    }
    const request = (id: number, method: string, params: unknown) =>
      JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n"
    const rpcStillServes = (port: number) =>
      Effect.gen(function*() {
        const other = yield* rawConnect(port)
        other.write(request(9, "echo", ["ok"]))
        expect(yield* readLines(other, 1)).toEqual([`{"jsonrpc":"2.0","id":9,"result":["ok"]}`])
      })

    it.live("a formatter that throws inside the data event ends its connection only", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, RpcServer.handler(Echo, handlers, { format }))
        const bad = yield* rawConnect(server.address.port)
        bad.write(request(1, "echo", ["fine"]) + request(2, "echo", ["boom"]))
        expect(yield* readToEnd(bad)).toMatchObject({ text: `{"jsonrpc":"2.0","id":1,"result":["fine"]}\n` })
        yield* rpcStillServes(server.address.port)
        expect((yield* server.stats).errors).toBe(1)
      }).pipe(Effect.scoped))

    it.live("a formatter that throws when a suspended handler completes (in its fiber's observer) ends its connection only", () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, RpcServer.handler(Echo, handlers, { format }))
        const bad = yield* rawConnect(server.address.port)
        bad.write(request(1, "slow", ["boom"]))
        expect(yield* readToEnd(bad)).toMatchObject({ text: "" })
        yield* rpcStillServes(server.address.port)
        expect((yield* server.stats).errors).toBe(1)
      }).pipe(Effect.scoped))

    it.live("a framing encoder that throws ends its connection only", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0 },
          RpcServer.handler(Echo, handlers, {
            framing: throwing({ encode: `{"jsonrpc":"2.0","id":2,"result":["x"]}` })
          })
        )
        const bad = yield* rawConnect(server.address.port)
        bad.write(request(1, "echo", ["fine"]))
        expect(yield* readLines(bad, 1)).toEqual([`{"jsonrpc":"2.0","id":1,"result":["fine"]}`])
        bad.write(request(2, "slow", ["x"]))
        expect(yield* readToEnd(bad)).toMatchObject({ text: "" })
        yield* rpcStillServes(server.address.port)
        expect((yield* server.stats).errors).toBe(1)
      }).pipe(Effect.scoped))

    it.live("a framing decoder that throws inside the data event ends its connection only", () =>
      Effect.gen(function*() {
        const server = yield* Server.make(
          { port: 0 },
          RpcServer.handler(Echo, handlers, { framing: throwing({ decode: "boom" }) })
        )
        const bad = yield* rawConnect(server.address.port)
        bad.write(request(1, "echo", ["boom"]))
        expect(yield* readToEnd(bad)).toMatchObject({ text: "" })
        yield* rpcStillServes(server.address.port)
        expect((yield* server.stats).errors).toBe(1)
      }).pipe(Effect.scoped))
  })
})
