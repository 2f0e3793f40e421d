/**
 * `RpcServer` runs the requests of one read that complete without suspending in one fiber, and
 * gives a fiber of its own to each request read after one that suspends. Whatever the mix, a
 * peer must see what one fiber per request would give it: one reply per request id, with its
 * handler's result or error, and nothing for notifications. Checked against that model for random
 * mixes of handler shapes, sent in random chunks; then the cases where the queue could change
 * what a peer sees (a cancel or a duplicate id read with the request, a slow request among fast
 * ones).
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, FastCheck as fc, FiberId, Logger, LogLevel, Schema } from "effect"
import type * as Net from "node:net"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { rawConnect } from "./helpers.js"

const KINDS = ["succeed", "gen", "map", "yield", "sleep", "async", "fail", "failGen", "die", "note"] as const
type Kind = (typeof KINDS)[number]

class Odd extends Schema.TaggedError<Odd>()("Odd", { v: Schema.Number }) {}

const Mixed = Protocol.make(
  Protocol.method("op", {
    params: { kind: Schema.String, v: Schema.Number },
    success: Schema.Number,
    error: Odd,
    errorCode: 7
  }),
  Protocol.method("fiber", { success: Schema.String }),
  Protocol.method("slow", { success: Schema.String }),
  Protocol.notification("note", { params: { v: Schema.Number } })
)

const op = ({ kind, v }: { readonly kind: string; readonly v: number }): Effect.Effect<number, Odd> => {
  switch (kind as Kind) {
    case "succeed":
      return Effect.succeed(v + 1)
    case "gen":
      return Effect.gen(function*() {
        const x = yield* Effect.succeed(v)
        return x + 1
      })
    case "map":
      return Effect.map(Effect.void, () => v + 1)
    case "yield":
      return Effect.as(Effect.yieldNow(), v + 1)
    case "sleep":
      return Effect.as(Effect.sleep("1 millis"), v + 1)
    case "async":
      return Effect.async<number>((resume) => {
        setImmediate(() => resume(Effect.succeed(v + 1)))
      })
    case "fail":
      return Effect.fail(new Odd({ v }))
    case "failGen":
      return Effect.gen(function*() {
        yield* Effect.void
        return yield* Effect.fail(new Odd({ v }))
      })
    case "die":
      return Effect.sync(() => {
        throw new Error("handler bug")
      })
    default:
      return Effect.succeed(v + 1)
  }
}

/** What one fiber per request answers: the model. */
const expected = (kind: Kind, v: number): unknown => {
  switch (kind) {
    case "fail":
    case "failGen":
      return { code: 7 }
    case "die":
      return { code: JsonRpc.INTERNAL_ERROR }
    default:
      return { result: v + 1 }
  }
}

/** Reads NDJSON replies until `count` have come; returns them parsed. */
const readReplies = (socket: Net.Socket, count: number) =>
  Effect.async<Array<{ id: unknown; result?: unknown; error?: { code: number } }>, Error>((resume) => {
    let text = ""
    const onData = (d: Buffer) => {
      text += d.toString("utf8")
      const lines = text.split("\n").filter((l) => l.length > 0)
      if (text.endsWith("\n") && lines.length >= count) {
        socket.off("data", onData)
        resume(Effect.succeed(lines.map((l) => JSON.parse(l))))
      }
    }
    socket.on("data", onData)
    socket.once("close", () => resume(Effect.fail(new Error(`closed after: ${text}`))))
  })

const request = (id: number, method: string, params?: unknown) =>
  JSON.stringify({ jsonrpc: "2.0", id, method, ...(params === undefined ? {} : { params }) }) + "\n"

const serve = (handlers: Protocol.Handlers<typeof Mixed>) =>
  // The `die` handlers are expected: their log lines are not.
  Server.make({ port: 0 }, RpcServer.handler(Mixed, handlers, { format: JsonRpc.make() })).pipe(
    Logger.withMinimumLogLevel(LogLevel.None)
  )

const noSlow = {
  op,
  fiber: () => Effect.map(Effect.fiberId, (id) => FiberId.threadName(id)),
  slow: () => Effect.never,
  note: () => Effect.void
}

describe("RpcServer: queued requests answer as one fiber per request would", () => {
  it.live("random mixes of handler shapes, in random chunks", () =>
    Effect.gen(function*() {
      const server = yield* serve(noSlow)
      const port = server.address.port
      const scenario = fc.record({
        kinds: fc.array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 40 }),
        cuts: fc.array(fc.nat(), { maxLength: 6 })
      })
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(scenario, ({ cuts, kinds }) =>
            Effect.runPromise(
              Effect.gen(function*() {
                const socket = yield* rawConnect(port)
                const text = kinds.map((kind, v) =>
                  kind === "note"
                    ? JSON.stringify({ jsonrpc: "2.0", method: "note", params: { v } }) + "\n"
                    : request(v, "op", { kind, v })
                ).join("")
                const bytes = Buffer.from(text)
                const at = [...new Set(cuts.map((c) => c % bytes.length))].sort((a, b) => a - b)
                let from = 0
                for (const cut of [...at, bytes.length]) {
                  if (cut > from) socket.write(bytes.subarray(from, cut))
                  from = cut
                }
                const answered = kinds.filter((k) => k !== "note").length
                const replies = answered === 0 ? [] : yield* readReplies(socket, answered)
                const byId = new Map(replies.map((r) => [r.id, r]))
                expect(replies).toHaveLength(answered)
                kinds.forEach((kind, v) => {
                  if (kind === "note") return expect(byId.has(v)).toBe(false)
                  const reply = byId.get(v)!
                  const want = expected(kind, v) as { result?: number; code?: number }
                  if (want.code !== undefined) expect(reply.error?.code).toBe(want.code)
                  else expect(reply.result).toBe(want.result)
                })
              }).pipe(Effect.scoped)
            )),
          { numRuns: 60 }
        )
      )
    }).pipe(Effect.scoped))

  it.live("requests read together that complete at once share one fiber; those after a suspended one get their own", () =>
    Effect.gen(function*() {
      const server = yield* serve(noSlow)
      const socket = yield* rawConnect(server.address.port)
      socket.write(
        request(1, "fiber") + request(2, "fiber") + request(3, "fiber") + request(4, "op", { kind: "async", v: 0 }) +
          request(5, "fiber") + request(6, "fiber")
      )
      const replies = yield* readReplies(socket, 6)
      const fiberOf = new Map(replies.map((r) => [r.id, r.result]))
      expect(fiberOf.get(2)).toBe(fiberOf.get(1))
      expect(fiberOf.get(3)).toBe(fiberOf.get(1))
      expect(fiberOf.get(5)).not.toBe(fiberOf.get(1))
      expect(fiberOf.get(6)).not.toBe(fiberOf.get(5))
    }).pipe(Effect.scoped))

  it.live("a slow request does not hold up the fast ones read after it", () =>
    Effect.gen(function*() {
      const gate = Deferred.unsafeMake<string>(FiberId.none)
      const server = yield* serve({ ...noSlow, slow: () => Deferred.await(gate) })
      const socket = yield* rawConnect(server.address.port)
      socket.write(
        request(1, "slow") + request(2, "op", { kind: "gen", v: 1 }) + request(3, "op", { kind: "async", v: 2 })
      )
      const replies = yield* readReplies(socket, 2)
      expect(replies.map((r) => r.id).sort()).toEqual([2, 3])
      yield* Deferred.succeed(gate, "done")
      expect(yield* readReplies(socket, 1)).toMatchObject([{ id: 1, result: "done" }])
    }).pipe(Effect.scoped))

  it.live("a $/cancelRequest read with its request cancels it", () =>
    Effect.gen(function*() {
      const server = yield* serve(noSlow)
      const socket = yield* rawConnect(server.address.port)
      socket.write(
        request(1, "slow") + JSON.stringify({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 1 } }) + "\n"
      )
      const [reply] = yield* readReplies(socket, 1)
      expect(reply).toMatchObject({ id: 1, error: { code: JsonRpc.REQUEST_CANCELLED } })
    }).pipe(Effect.scoped))

  it.live("an id read twice in one read is refused the second time while the first is in flight", () =>
    Effect.gen(function*() {
      const gate = Deferred.unsafeMake<string>(FiberId.none)
      const server = yield* serve({ ...noSlow, slow: () => Deferred.await(gate) })
      const socket = yield* rawConnect(server.address.port)
      socket.write(request(1, "slow") + request(1, "slow"))
      const [refused] = yield* readReplies(socket, 1)
      expect(refused).toMatchObject({ id: 1, error: { code: JsonRpc.INVALID_REQUEST } })
      yield* Deferred.succeed(gate, "done")
      const [done] = yield* readReplies(socket, 1)
      expect(done).toMatchObject({ id: 1, result: "done" })
    }).pipe(Effect.scoped))
})
