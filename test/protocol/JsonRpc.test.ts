import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, FastCheck as fc } from "effect"
import * as ChapterRpc from "../../src/protocol/ChapterRpc.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import type * as RpcFormat from "../../src/protocol/RpcFormat.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import { Calc, calcHandlers, Gates, Spec, specHandlers } from "../rpc/fixtures.js"

/** Sends `request` to an in-memory server of the spec's methods; the reply parsed, or undefined. */
const exchange = (request: string) =>
  Effect.gen(function*() {
    const dispatch = yield* RpcServer.dispatcher(Spec, specHandlers)
    const reply = yield* dispatch(request)
    return reply === undefined ? undefined : JSON.parse(reply)
  }).pipe(Effect.scoped)

const calc = (request: string, format = JsonRpc.format) =>
  Effect.gen(function*() {
    const dispatch = yield* RpcServer.dispatcher(Calc, calcHandlers(new Gates()), { format })
    const reply = yield* dispatch(request)
    return reply === undefined ? undefined : JSON.parse(reply)
  }).pipe(Effect.scoped)

/** An array nested `depth` levels deep around a 0. */
const nested = (depth: number): string => "[".repeat(depth) + "0" + "]".repeat(depth)

/** A JSON-RPC request whose params are `params` (text). */
const requestText = (id: string, method: string, params: string) =>
  `{"jsonrpc":"2.0","id":${id},"method":"${method}","params":${params}}`

const tooDeep = (depth: number, limit = 128) => ({
  _tag: "Invalid",
  id: null,
  error: { code: -32600, message: "Invalid Request", data: `JSON nested ${depth} levels deep, limit ${limit}` }
})

describe("JsonRpc", () => {
  describe("the specification's examples", () => {
    it.effect("rpc call with positional parameters", () =>
      Effect.gen(function*() {
        expect(yield* exchange(`{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}`))
          .toEqual({ jsonrpc: "2.0", result: 19, id: 1 })
        expect(yield* exchange(`{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}`))
          .toEqual({ jsonrpc: "2.0", result: -19, id: 2 })
      }))

    it.effect("rpc call with named parameters", () =>
      Effect.gen(function*() {
        expect(
          yield* exchange(
            `{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}`
          )
        ).toEqual({ jsonrpc: "2.0", result: 19, id: 3 })
        expect(
          yield* exchange(
            `{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}`
          )
        ).toEqual({ jsonrpc: "2.0", result: 19, id: 4 })
      }))

    it.effect("a notification", () =>
      Effect.gen(function*() {
        expect(yield* exchange(`{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}`)).toBeUndefined()
        expect(yield* exchange(`{"jsonrpc": "2.0", "method": "foobar"}`)).toBeUndefined()
      }))

    it.effect("rpc call of non-existent method", () =>
      Effect.gen(function*() {
        expect(yield* exchange(`{"jsonrpc": "2.0", "method": "foobar", "id": "1"}`))
          .toEqual({ jsonrpc: "2.0", error: { code: -32601, message: "Method not found" }, id: "1" })
      }))

    it.effect("rpc call with invalid JSON", () =>
      Effect.gen(function*() {
        expect(yield* exchange(`{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]`))
          .toEqual({ jsonrpc: "2.0", error: { code: -32700, message: "Parse error" }, id: null })
      }))

    it.effect("rpc call with invalid Request object", () =>
      Effect.gen(function*() {
        expect(yield* exchange(`{"jsonrpc": "2.0", "method": 1, "params": "bar"}`))
          .toEqual({ jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" }, id: null })
      }))

    it.effect("rpc call Batch, invalid JSON", () =>
      Effect.gen(function*() {
        expect(
          yield* exchange(`[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]`)
        ).toEqual({ jsonrpc: "2.0", error: { code: -32700, message: "Parse error" }, id: null })
      }))

    it.effect("rpc call with an empty Array", () =>
      Effect.gen(function*() {
        expect(yield* exchange(`[]`))
          .toEqual({ jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" }, id: null })
      }))

    it.effect("rpc call with an invalid Batch (but not empty)", () =>
      Effect.gen(function*() {
        expect(yield* exchange(`[1]`))
          .toEqual([{ jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" }, id: null }])
      }))

    it.effect("rpc call with invalid Batch", () =>
      Effect.gen(function*() {
        const invalid = { jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" }, id: null }
        expect(yield* exchange(`[1,2,3]`)).toEqual([invalid, invalid, invalid])
      }))

    it.effect("rpc call Batch", () =>
      Effect.gen(function*() {
        expect(
          yield* exchange(`[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]`)
        ).toEqual([
          { jsonrpc: "2.0", result: 7, id: "1" },
          { jsonrpc: "2.0", result: 19, id: "2" },
          { jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" }, id: null },
          { jsonrpc: "2.0", error: { code: -32601, message: "Method not found" }, id: "5" },
          { jsonrpc: "2.0", result: ["hello", 5], id: "9" }
        ])
      }))

    it.effect("rpc call Batch (all notifications) returns nothing", () =>
      Effect.gen(function*() {
        expect(
          yield* exchange(`[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]`)
        ).toBeUndefined()
      }))
  })

  describe("parse", () => {
    it("accepts string, number and null ids, and tells requests from notifications", () => {
      expect(JsonRpc.parse(`{"jsonrpc":"2.0","id":"a","method":"m"}`)).toEqual({
        _tag: "Request",
        id: "a",
        method: "m",
        params: undefined
      })
      expect(JsonRpc.parse(`{"jsonrpc":"2.0","id":7,"method":"m","params":[1]}`)).toMatchObject({
        _tag: "Request",
        id: 7
      })
      expect(JsonRpc.parse(`{"jsonrpc":"2.0","id":null,"method":"m"}`)).toMatchObject({ _tag: "Request", id: null })
      expect(JsonRpc.parse(`{"jsonrpc":"2.0","method":"m","params":{}}`)).toMatchObject({ _tag: "Notification" })
    })

    it("rejects what the specification forbids, keeping a valid id", () => {
      const invalid = (text: string, id: RpcFormat.Id = null) =>
        expect(JsonRpc.parse(text)).toEqual({
          _tag: "Invalid",
          id,
          error: { code: -32600, message: "Invalid Request" }
        })
      invalid(`{"id":1,"method":"m"}`, 1) // no jsonrpc member
      invalid(`{"jsonrpc":"1.0","id":1,"method":"m"}`, 1)
      invalid(`{"jsonrpc":"2.0","id":{},"method":"m"}`) // an object id
      invalid(`{"jsonrpc":"2.0","id":"x","method":"m","params":3}`, "x") // params must be structured
      invalid(`{"jsonrpc":"2.0","id":"x","method":"m","params":null}`, "x")
      invalid(`"just a string"`)
      invalid(`null`)
    })

    it("ignores responses sent to a server", () => {
      expect(JsonRpc.parse(`{"jsonrpc":"2.0","id":1,"result":3}`)).toEqual({ _tag: "Ignored" })
    })

    it("builds replies and client messages", () => {
      expect(JsonRpc.success(1, 19)).toBe(`{"jsonrpc":"2.0","id":1,"result":19}`)
      expect(JsonRpc.success("a", undefined)).toBe(`{"jsonrpc":"2.0","id":"a","result":null}`)
      expect(JSON.parse(JsonRpc.failure(null, JsonRpc.error(JsonRpc.SHUTTING_DOWN)))).toEqual({
        jsonrpc: "2.0",
        id: null,
        error: { code: -32000, message: "Server shutting down: request not processed, safe to retry" }
      })
      expect(JSON.parse(JsonRpc.request(3, "add", { a: 1 }))).toEqual({
        jsonrpc: "2.0",
        id: 3,
        method: "add",
        params: { a: 1 }
      })
      expect(JSON.parse(JsonRpc.request(3, "ping", undefined))).toEqual({ jsonrpc: "2.0", id: 3, method: "ping" })
      expect(JSON.parse(JsonRpc.notification("$/cancelRequest", { id: 3 }))).toEqual({
        jsonrpc: "2.0",
        method: "$/cancelRequest",
        params: { id: 3 }
      })
      expect(JsonRpc.isRetryable(JsonRpc.SHUTTING_DOWN)).toBe(true)
      expect(JsonRpc.isRetryable(JsonRpc.REQUEST_TIMEOUT)).toBe(false)
    })

    it("parses responses for a client, singly or in batches, leaving out anything else", () => {
      expect(JsonRpc.parseResponses(`{"jsonrpc":"2.0","id":1,"result":3}`)).toEqual([{
        id: 1,
        result: 3,
        error: undefined
      }])
      expect(
        JsonRpc.parseResponses(
          `[{"jsonrpc":"2.0","id":1,"result":null},{"jsonrpc":"2.0","id":"b","error":{"code":1,"message":"x"}}]`
        )
      )
        .toEqual([{ id: 1, result: null, error: undefined }, {
          id: "b",
          result: undefined,
          error: { code: 1, message: "x" }
        }])
      expect(JsonRpc.parseResponses(`{"jsonrpc":"2.0","method":"window/log","params":{}}`)).toEqual([])
      expect(JsonRpc.parseResponses(`not json`)).toEqual([])
    })
  })

  describe("errors", () => {
    it.effect("invalid params carry the Schema's message in data", () =>
      Effect.gen(function*() {
        const reply = yield* calc(`{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":"2"}}`)
        expect(reply.error.code).toBe(-32602)
        expect(reply.error.message).toBe("Invalid params")
        expect(reply.error.data).toContain(`["b"]`)
        expect(reply.error.data).toContain("Expected number")
      }))

    it.effect("a typed error travels with the method's code, its message and its encoded value", () =>
      Effect.gen(function*() {
        const reply = yield* calc(`{"jsonrpc":"2.0","id":1,"method":"div","params":[1,0]}`)
        expect(reply.error).toMatchObject({ code: 42, data: { _tag: "DivideByZero", dividend: 1 } })
      }))

    it.effect("a defect is an internal error that never leaks a stack", () =>
      Effect.gen(function*() {
        const text = yield* Effect.scoped(Effect.gen(function*() {
          const dispatch = yield* RpcServer.dispatcher(Calc, calcHandlers(new Gates()))
          return yield* dispatch(`{"jsonrpc":"2.0","id":1,"method":"boom"}`)
        }))
        expect(JSON.parse(text!)).toEqual({ jsonrpc: "2.0", id: 1, error: { code: -32603, message: "Internal error" } })
        expect(text).not.toContain("secret")
        expect(text).not.toContain("at ")
      }))

    it.effect("a frame that is not UTF-8 is a parse error", () =>
      Effect.gen(function*() {
        expect(yield* calc("\u00ff")).toMatchObject({ id: null }) // well-formed text: a parse error of JSON
        expect((yield* calc("\u00ff")).error.code).toBe(-32700)
      }))

    it.effect("a batch over maxBatch is one BATCH_TOO_LARGE error", () =>
      Effect.gen(function*() {
        const dispatch = yield* RpcServer.dispatcher(Spec, specHandlers, { maxBatch: 2 })
        const reply = JSON.parse((yield* dispatch(`[1,2,3]`))!)
        expect(reply.error.code).toBe(JsonRpc.BATCH_TOO_LARGE)
      }).pipe(Effect.scoped))
  })

  describe("hostile input", () => {
    it("refuses a frame nested deeper than 128 levels with INVALID_REQUEST, id null, naming the depth", () => {
      // The frame is one level deeper than its params.
      expect(JsonRpc.parse(requestText("1", "echo", nested(127)))).toMatchObject({ _tag: "Request", id: 1 })
      expect(JsonRpc.parse(requestText("1", "echo", nested(128)))).toEqual(tooDeep(129))
      expect(JsonRpc.parse(requestText("1", "echo", nested(9_999)))).toEqual(tooDeep(10_000))
      expect(JsonRpc.parse(nested(10_000))).toEqual(tooDeep(10_000))
      // A batch counts as a level.
      expect(JsonRpc.parse(`[${requestText("1", "echo", nested(126))}]`)).toMatchObject({ _tag: "Batch" })
      expect(JsonRpc.parse(`[${requestText("1", "echo", nested(127))}]`)).toEqual(tooDeep(129))
      expect(JsonRpc.format.parse(requestText("1", "echo", nested(128)))).toEqual(tooDeep(129))
    })

    it("does not count brackets inside strings or escaped quotes", () => {
      const format = JsonRpc.make({ maxDepth: 2 })
      const strings = `["\\"[[[[[[[[", "{{{{{{{{{{{{{{{{{{", "\\\\\\"]]]]"]`
      expect(format.parse(requestText(`"[[[[[[[[[\\"[[[["`, "m", strings))).toEqual({
        _tag: "Request",
        id: "[[[[[[[[[\"[[[[",
        method: "m",
        params: ["\"[[[[[[[[", "{{{{{{{{{{{{{{{{{{", "\\\"]]]]"]
      })
      expect(format.parse(requestText("1", "m", `[[1], "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]`))).toEqual(tooDeep(3, 2))
    })

    it("takes the limit from make({ maxDepth }), checked when the format is built", () => {
      const format = JsonRpc.make({ maxDepth: 4 })
      expect(format.parse(requestText("1", "echo", nested(3)))).toMatchObject({ _tag: "Request" })
      expect(format.parse(requestText("1", "echo", nested(4)))).toEqual(tooDeep(5, 4))
      expect(format.parseResponses(`{"jsonrpc":"2.0","id":1,"result":${nested(3)}}`)).toHaveLength(1)
      expect(format.parseResponses(`{"jsonrpc":"2.0","id":1,"result":${nested(4)}}`)).toEqual([])
      const chapter = ChapterRpc.make({ maxDepth: 4 })
      expect(chapter.parse(`{"id":1,"method":"echo","params":${nested(3)}}`)).toMatchObject({ _tag: "Request" })
      expect(chapter.parse(`{"id":1,"method":"echo","params":${nested(4)}}`)).toEqual(tooDeep(5, 4))
      expect(chapter.parseResponses(`{"id":1,"result":${nested(4)}}`)).toEqual([])
      expect(JsonRpc.make({ maxDepth: 1024 }).parse(requestText("1", "echo", nested(1023)))).toMatchObject({
        _tag: "Request"
      })
      for (const maxDepth of [0, -1, 1.5, Number.NaN, 1025]) {
        expect(() => JsonRpc.make({ maxDepth })).toThrow(Cause.IllegalArgumentException)
        expect(() => ChapterRpc.make({ maxDepth })).toThrow(Cause.IllegalArgumentException)
      }
      expect(() => JsonRpc.make({ maxDepth: 0 })).toThrow(
        "JsonRpc: option maxDepth must be an integer from 1 to 1024, got 0"
      )
      expect(() => ChapterRpc.make({ maxDepth: 2.5 })).toThrow(
        "ChapterRpc: option maxDepth must be an integer from 1 to 1024, got 2.5"
      )
    })

    it("never gives a client a reply nested deeper than the limit", () => {
      expect(JsonRpc.parseResponses(`{"jsonrpc":"2.0","id":1,"result":${nested(127)}}`)).toHaveLength(1)
      expect(JsonRpc.parseResponses(`{"jsonrpc":"2.0","id":1,"result":${nested(128)}}`)).toEqual([])
      expect(JsonRpc.parseResponses(`[{"jsonrpc":"2.0","id":1,"result":${nested(10_000)}}]`)).toEqual([])
      expect(
        JsonRpc.parseResponses(`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x","data":${nested(10_000)}}}`)
      )
        .toEqual([])
      expect(ChapterRpc.parseResponses(`{"id":1,"result":${nested(127)}}`)).toHaveLength(1)
      expect(ChapterRpc.parseResponses(`{"id":1,"result":${nested(128)}}`)).toEqual([])
    })

    it("answers a non-finite numeric id with INVALID_REQUEST and id null, and leaves such replies out", () => {
      const invalid = { _tag: "Invalid", id: null, error: { code: -32600, message: "Invalid Request" } }
      for (const id of ["1e400", "-1e400"]) {
        expect(JsonRpc.parse(requestText(id, "add", `{"a":1,"b":2}`))).toEqual(invalid)
        expect(JsonRpc.parse(`[${requestText(id, "add", `{"a":1,"b":2}`)}]`)).toEqual({
          _tag: "Batch",
          messages: [invalid]
        })
        expect(ChapterRpc.parse(`{"id":${id},"method":"add","params":{"a":1,"b":2}}`)).toEqual(invalid)
        expect(JsonRpc.parseResponses(`{"jsonrpc":"2.0","id":${id},"result":3}`)).toEqual([])
        expect(ChapterRpc.parseResponses(`{"id":${id},"result":3}`)).toEqual([])
      }
      expect(JsonRpc.parse(requestText("1e308", "add", "{}"))).toMatchObject({ _tag: "Request", id: 1e308 })
    })

    it.effect("answers a request with the id 1e400 with JSON", () =>
      Effect.gen(function*() {
        const reply = { error: { code: -32600, message: "Invalid Request" }, id: null }
        expect(yield* calc(requestText("1e400", "add", `{"a":1,"b":2}`))).toEqual({ jsonrpc: "2.0", ...reply })
        expect(yield* calc(`{"id":1e400,"method":"add","params":{"a":1,"b":2}}`, ChapterRpc.format)).toEqual(reply)
      }))

    it("builds JSON replies whatever numbers they are given", () => {
      for (const f of [JsonRpc.format, ChapterRpc.format]) {
        for (const bad of [Infinity, -Infinity, Number.NaN]) {
          expect(JSON.parse(f.success(bad, bad))).toMatchObject({ id: null, result: null })
          expect(JSON.parse(f.success(1, { x: bad, y: [bad] }))).toMatchObject({
            id: 1,
            result: { x: null, y: [null] }
          })
          expect(JSON.parse(f.failure(bad, { code: -32603, message: "m", data: bad }))).toMatchObject({
            id: null,
            error: { code: -32603, message: "m", data: null }
          })
          expect(JSON.parse(f.methodNotFound(bad, "m"))).toMatchObject({ id: null })
        }
      }
      expect(JsonRpc.success(1, Infinity)).toBe(`{"jsonrpc":"2.0","id":1,"result":null}`)
      expect(JsonRpc.success(Infinity, 3)).toBe(`{"jsonrpc":"2.0","id":null,"result":3}`)
      expect(ChapterRpc.success(-Infinity, 3)).toBe(`{"id":null,"result":3}`)
    })

    it.effect("cuts the data of INVALID_PARAMS at 1,000 characters", () =>
      Effect.gen(function*() {
        const reply = yield* calc(requestText("1", "add", `{"a":1,"b":"${"x".repeat(100_000)}"}`))
        expect(reply.error.code).toBe(JsonRpc.INVALID_PARAMS)
        expect(reply.error.data).toHaveLength(1000)
        expect(reply.error.data).toContain("Expected number")
        expect(reply.error.data.endsWith("…")).toBe(true)
      }))

    /** A JSON text a peer might send: arbitrary JSON, and the shapes that broke servers. */
    const hostileValue: fc.Arbitrary<string> = fc.oneof(
      fc.json(),
      fc.integer({ min: 0, max: 300 }).map(nested),
      fc.constantFrom(
        nested(10_000),
        "1e400",
        "-1e400",
        "[1e400,-1e400,-0,1e-400]",
        `{"__proto__":{"id":1,"method":"add"},"constructor":{"prototype":1}}`,
        `"\\ud800"`,
        `"\\udc00x\\ud83d"`,
        "\"\ud800 raw\"",
        `{"a":1,"b":2}`,
        `{"a":1e400,"b":-1e400}`
      )
    )
    const hostileId = fc.oneof(
      fc.constantFrom("1e400", "-1e400", "1", "-0", "1.5e308", "1e-400", "null", `"a"`, `"\\ud800"`, "{}", "[1]"),
      fc.json()
    )
    const hostileMethod = fc.oneof(
      fc.constantFrom("echo", "add", "nope", "$/cancelRequest", "\\ud800", "__proto__"),
      fc.string().map((s) => JSON.stringify(s).slice(1, -1))
    )
    const hostileFrame: fc.Arbitrary<string> = fc.oneof(
      hostileValue,
      fc.tuple(hostileId, hostileMethod, hostileValue).map(([id, method, params]) => requestText(id, method, params)),
      fc.tuple(hostileId, hostileMethod, hostileValue).map(([id, method, params]) =>
        `{"id":${id},"method":"${method}","params":${params}}`
      ),
      fc.array(fc.tuple(hostileId, hostileMethod, hostileValue), { minLength: 1, maxLength: 4 }).map((requests) =>
        `[${requests.map(([id, method, params]) => requestText(id, method, params)).join(",")}]`
      )
    )

    /** Every reply `format` could build for `parsed` (a request's params echoed as its result, or as error data). */
    const replies = (format: RpcFormat.RpcFormat, parsed: RpcFormat.Parsed): Array<string> => {
      const one = (m: RpcFormat.Incoming): Array<string> => {
        switch (m._tag) {
          case "Invalid":
            return [format.failure(m.id, m.error)]
          case "Request":
            return [
              format.success(m.id, m.params),
              format.failure(m.id, JsonRpc.error(JsonRpc.INVALID_PARAMS, m.params)),
              format.methodNotFound(m.id, m.method)
            ]
          default:
            return []
        }
      }
      if (parsed._tag !== "Batch") return one(parsed)
      const each = parsed.messages.map(one)
      const firsts = each.flatMap((r) => r.slice(0, 1))
      return firsts.length === 0 ? each.flat() : [...each.flat(), format.batch(firsts)]
    }

    it("answers whatever a peer sends with well-formed JSON (both formats, property)", () => {
      fc.assert(
        fc.property(hostileFrame, (text) => {
          for (const format of [JsonRpc.format, ChapterRpc.format]) {
            for (const reply of replies(format, format.parse(text))) {
              expect(() => JSON.parse(reply)).not.toThrow()
              // No lone surrogate (with the u flag a pair is one code point): it would not survive UTF-8.
              expect(reply).not.toMatch(/\p{Surrogate}/u)
            }
          }
        }),
        { numRuns: 2000 }
      )
    })
  })

  describe("ChapterRpc", () => {
    it.effect("answers the chapter's four requests as the chapter's server does", () =>
      Effect.gen(function*() {
        const f = ChapterRpc.format
        expect(yield* calc(`{"id": 1, "method": "add", "params": {"a": 10, "b": 32}}`, f)).toEqual({
          id: 1,
          result: 42
        })
        expect(yield* calc(`{"id": 2, "method": "greet", "params": {"name": "Python"}}`, f))
          .toEqual({ id: 2, result: "Hello, Python!" })
        expect(yield* calc(`{"id": 3, "method": "echo", "params": {"data": [1, 2, 3], "nested": {"key": "value"}}}`, f))
          .toEqual({ id: 3, result: { data: [1, 2, 3], nested: { key: "value" } } })
        expect(yield* calc(`{"id": 4, "method": "unknown_method", "params": {}}`, f))
          .toEqual({ id: 4, result: { error: "Unknown method: unknown_method" } })
      }))

    it.effect("defaults a missing id to 0 and a missing method to unknown", () =>
      Effect.gen(function*() {
        expect(yield* calc(`{"params": {}}`, ChapterRpc.format)).toEqual({
          id: 0,
          result: { error: "Unknown method: unknown" }
        })
      }))

    it("reads the chapter's unknown-method result as METHOD_NOT_FOUND on the client side", () => {
      expect(ChapterRpc.parseResponses(`{"id": 4, "result": {"error": "Unknown method: x"}}`)).toEqual([
        { id: 4, result: undefined, error: { code: -32601, message: "Unknown method: x" } }
      ])
      expect(ChapterRpc.parseResponses(`{"id": 1, "result": 42}`)).toEqual([{ id: 1, result: 42, error: undefined }])
    })
  })
})
