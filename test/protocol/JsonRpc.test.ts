import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChapterRpc from "../../src/protocol/ChapterRpc.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
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
          yield* exchange(`{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}`)
        ).toEqual({ jsonrpc: "2.0", result: 19, id: 3 })
        expect(
          yield* exchange(`{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}`)
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
      expect(JsonRpc.parse(`{"jsonrpc":"2.0","id":7,"method":"m","params":[1]}`)).toMatchObject({ _tag: "Request", id: 7 })
      expect(JsonRpc.parse(`{"jsonrpc":"2.0","id":null,"method":"m"}`)).toMatchObject({ _tag: "Request", id: null })
      expect(JsonRpc.parse(`{"jsonrpc":"2.0","method":"m","params":{}}`)).toMatchObject({ _tag: "Notification" })
    })

    it("rejects what the specification forbids, keeping a valid id", () => {
      const invalid = (text: string, id: JsonRpc.Id = null) =>
        expect(JsonRpc.parse(text)).toEqual({ _tag: "Invalid", id, error: { code: -32600, message: "Invalid Request" } })
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
      expect(JSON.parse(JsonRpc.request(3, "add", { a: 1 }))).toEqual({ jsonrpc: "2.0", id: 3, method: "add", params: { a: 1 } })
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
      expect(JsonRpc.parseResponses(`{"jsonrpc":"2.0","id":1,"result":3}`)).toEqual([{ id: 1, result: 3, error: undefined }])
      expect(JsonRpc.parseResponses(`[{"jsonrpc":"2.0","id":1,"result":null},{"jsonrpc":"2.0","id":"b","error":{"code":1,"message":"x"}}]`))
        .toEqual([{ id: 1, result: null, error: undefined }, { id: "b", result: undefined, error: { code: 1, message: "x" } }])
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

  describe("ChapterRpc", () => {
    it.effect("answers the chapter's four requests as the chapter's server does", () =>
      Effect.gen(function*() {
        const f = ChapterRpc.format
        expect(yield* calc(`{"id": 1, "method": "add", "params": {"a": 10, "b": 32}}`, f)).toEqual({ id: 1, result: 42 })
        expect(yield* calc(`{"id": 2, "method": "greet", "params": {"name": "Python"}}`, f))
          .toEqual({ id: 2, result: "Hello, Python!" })
        expect(yield* calc(`{"id": 3, "method": "echo", "params": {"data": [1, 2, 3], "nested": {"key": "value"}}}`, f))
          .toEqual({ id: 3, result: { data: [1, 2, 3], nested: { key: "value" } } })
        expect(yield* calc(`{"id": 4, "method": "unknown_method", "params": {}}`, f))
          .toEqual({ id: 4, result: { error: "Unknown method: unknown_method" } })
      }))

    it.effect("defaults a missing id to 0 and a missing method to unknown", () =>
      Effect.gen(function*() {
        expect(yield* calc(`{"params": {}}`, ChapterRpc.format)).toEqual({ id: 0, result: { error: "Unknown method: unknown" } })
      }))

    it("reads the chapter's unknown-method result as METHOD_NOT_FOUND on the client side", () => {
      expect(ChapterRpc.parseResponses(`{"id": 4, "result": {"error": "Unknown method: x"}}`)).toEqual([
        { id: 4, result: undefined, error: { code: -32601, message: "Unknown method: x" } }
      ])
      expect(ChapterRpc.parseResponses(`{"id": 1, "result": 42}`)).toEqual([{ id: 1, result: 42, error: undefined }])
    })
  })
})
