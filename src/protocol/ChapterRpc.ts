/**
 * The chapter's own RPC format ("JSON Message Framing: Length-Prefixed Protocol"), wire-compatible
 * with its Python client and server: frames are a 4-byte big-endian length + UTF-8 JSON
 * (`ChapterRpc.framing()`), requests are `{"id", "method", "params"}`, replies `{"id", "result"}`.
 *
 * As the chapter's server does:
 * - a missing `id` is `0`, a missing `method` is `"unknown"`, missing `params` are `{}`;
 * - every message gets a reply (the format has no notifications: a notification definition is run
 *   and answered with `"result": null`);
 * - an unknown method is answered with a *result*: `{"id": 4, "result": {"error": "Unknown method: foo"}}`.
 *
 * What the chapter leaves open is answered with JSON-RPC's error object under `"error"`:
 * `{"id": 1, "error": {"code": -32602, "message": "Invalid params", "data": "…"}}` (a method's typed
 * error, invalid params, a frame that is not JSON…). A client reading a reply of the shape
 * `{"result": {"error": "Unknown method: …"}}` takes it as METHOD_NOT_FOUND. The JSON is written
 * compactly (`{"id":1,"result":42}`), which Python's `json.loads` reads the same as its own spacing.
 *
 * As `JsonRpc`: a frame nesting arrays and objects deeper than `maxDepth` (default 128, see
 * `make`) is answered INVALID_REQUEST with `"id": null` unread (a client leaves it out), and so is
 * a numeric id that is not finite (`1e400`), which no JSON reply could carry back.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { ChapterRpc, Protocol, RpcClient, RpcServer, Server } from "effect-wire"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 * const wire = { format: ChapterRpc.format, framing: ChapterRpc.framing() }
 *
 * const program = Effect.gen(function*() {
 *   const handler = RpcServer.handler(Calc, { add: ({ a, b }) => Effect.succeed(a + b) }, wire)
 *   const server = yield* Server.make({ port: 0 }, handler)
 *   const client = yield* RpcClient.connect(Calc, { port: server.address.port, ...wire })
 *   console.log(yield* client.add({ a: 1, b: 2 }))
 * })
 *
 * // the scope closes the client, then shuts the server down
 * Effect.runPromise(Effect.scoped(program))
 * // Output: 3
 * ```
 *
 * @since 0.1.0
 */
import * as Framing from "./Framing.js"
import { DEFAULT_MAX_DEPTH, depthBeyond, depthMessage, maxDepthOption } from "./internal/jsonLimits.js"
import { error, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR } from "./JsonRpc.js"
import type { ErrorObject, FormatOptions, Id, Incoming, Parsed, Response, RpcFormat } from "./RpcFormat.js"

/**
 * The chapter's framing: a 4-byte big-endian length, then the payload (1 MiB at most by default).
 *
 * @since 0.1.0
 * @category instances
 */
export const framing = (options: { readonly maxFrameBytes?: number } = {}): Framing.LengthPrefixedCodec =>
  Framing.lengthPrefixed({ lengthFieldBytes: 4, byteOrder: "big", ...options })

const UNKNOWN_PREFIX = "Unknown method: "

type Obj = Record<string, unknown>
const isObject = (u: unknown): u is Obj => typeof u === "object" && u !== null && !Array.isArray(u)
// `Infinity` is not an id: `1e400` parses as it, and no reply could carry it back as JSON.
const isId = (u: unknown): u is Id =>
  typeof u === "string" || (typeof u === "number" && Number.isFinite(u)) || u === null

const parseWithin = (text: string, maxDepth: number): Parsed => {
  // Before `JSON.parse`: a frame too deep to handle is refused unread (see the module doc).
  const depth = depthBeyond(text, maxDepth)
  if (depth > 0) return { _tag: "Invalid", id: null, error: error(INVALID_REQUEST, depthMessage(depth, maxDepth)) }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { _tag: "Invalid", id: null, error: error(PARSE_ERROR) }
  }
  if (!isObject(value)) return { _tag: "Invalid", id: null, error: error(INVALID_REQUEST) }
  const id = value["id"] === undefined ? 0 : value["id"]
  if (!isId(id)) return { _tag: "Invalid", id: null, error: error(INVALID_REQUEST) }
  const method = value["method"] === undefined ? "unknown" : value["method"]
  if (typeof method !== "string") return { _tag: "Invalid", id, error: error(INVALID_REQUEST) }
  const params = value["params"] === undefined ? {} : value["params"]
  const request: Incoming = { _tag: "Request", id, method, params }
  return request
}

/**
 * Parses one frame as the chapter's server does (see the module doc), with the default `maxDepth` (128).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): Parsed => parseWithin(text, DEFAULT_MAX_DEPTH)

// Replies are JSON whatever they are given: `String(Infinity)` is not, `JSON.stringify` writes null.
const idText = (id: Id): string =>
  typeof id === "number" ? (Number.isFinite(id) ? String(id) : "null") : JSON.stringify(id) ?? "null"

/**
 * The reply of a successful request: `{"id":…,"result":…}`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const success = (id: Id, result: unknown): string =>
  `{"id":${idText(id)},"result":${JSON.stringify(result) ?? "null"}}`

/**
 * The reply of a failed request: `{"id":…,"error":{"code","message","data"}}`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const failure = (id: Id, error: ErrorObject): string => `{"id":${idText(id)},"error":${JSON.stringify(error)}}`

/**
 * The chapter's reply to an unknown method: `{"id":…,"result":{"error":"Unknown method: …"}}`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const methodNotFound = (id: Id, method: string): string =>
  `{"id":${idText(id)},"result":{"error":${JSON.stringify(UNKNOWN_PREFIX + method)}}}`

/**
 * The text of a request.
 *
 * @since 0.1.0
 * @category encoding
 */
export const request = (id: number, method: string, params: unknown): string =>
  params === undefined
    ? `{"id":${id},"method":${JSON.stringify(method)}}`
    : `{"id":${id},"method":${JSON.stringify(method)},"params":${JSON.stringify(params) ?? "null"}}`

const parseResponsesWithin = (text: string, maxDepth: number): ReadonlyArray<Response> => {
  // A reply too deep for the caller's code to walk is malformed, as a reply that is not JSON.
  if (depthBeyond(text, maxDepth) > 0) return []
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return []
  }
  if (!isObject(value) || !isId(value["id"])) return []
  const id = value["id"]
  const e = value["error"]
  if (e !== undefined) {
    if (isObject(e) && typeof e["code"] === "number" && typeof e["message"] === "string") {
      return [{ id, result: undefined, error: e as unknown as ErrorObject }]
    }
    return [{
      id,
      result: undefined,
      error: { code: -32603, message: String(typeof e === "string" ? e : "error"), data: e }
    }]
  }
  const result = value["result"]
  if (isObject(result) && typeof result["error"] === "string" && result["error"].startsWith(UNKNOWN_PREFIX)) {
    const keys = Object.keys(result)
    if (keys.length === 1) {
      return [{ id, result: undefined, error: { code: METHOD_NOT_FOUND, message: result["error"] } }]
    }
  }
  return [{ id, result: result === undefined ? null : result, error: undefined }]
}

/**
 * Parses one reply as a client (see the module doc for how "Unknown method" is recognised); none
 * when the frame nests deeper than the default `maxDepth` (128).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseResponses = (text: string): ReadonlyArray<Response> => parseResponsesWithin(text, DEFAULT_MAX_DEPTH)

/**
 * The chapter's format as an `RpcFormat` with `options`, checked now (`IllegalArgumentException`).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { ChapterRpc, Protocol, RpcServer } from "effect-wire"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 *
 * const program = Effect.gen(function*() {
 *   const dispatch = yield* RpcServer.dispatcher(Calc, {
 *     add: ({ a, b }) => Effect.succeed(a + b)
 *   }, { format: ChapterRpc.make({ maxDepth: 32 }) })
 *   console.log(yield* dispatch('{"id":1,"method":"add","params":{"a":1,"b":2}}'))
 *   // Output: {"id":1,"result":3}
 *   console.log(yield* dispatch('{"id":2,"method":"mul","params":{}}'))
 *   // Output: {"id":2,"result":{"error":"Unknown method: mul"}}
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: FormatOptions = {}): RpcFormat => {
  const maxDepth = maxDepthOption("ChapterRpc", options.maxDepth)
  return {
    name: "chapter",
    cancelMethod: undefined,
    parse: maxDepth === DEFAULT_MAX_DEPTH ? parse : (text) => parseWithin(text, maxDepth),
    success,
    failure,
    methodNotFound,
    // Never called: the chapter's format has no batches (`parse` never returns one).
    batch: (replies) => replies.join(""),
    request,
    // The chapter answers every message: a notification is a request with the id 0 the chapter
    // assumes when none is given; its reply matches no call and is dropped.
    notification: (method, params) =>
      params === undefined
        ? `{"method":${JSON.stringify(method)}}`
        : `{"method":${JSON.stringify(method)},"params":${JSON.stringify(params) ?? "null"}}`,
    parseResponses: maxDepth === DEFAULT_MAX_DEPTH ? parseResponses : (text) => parseResponsesWithin(text, maxDepth)
  }
}

/**
 * The chapter's format as an `RpcFormat` (frames at most 128 levels deep). Use it with `ChapterRpc.framing()`.
 *
 * @since 0.1.0
 * @category instances
 */
export const format: RpcFormat = make()
