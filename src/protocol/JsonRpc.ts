/**
 * JSON-RPC 2.0 on the wire, exactly as the specification says, as a pure `RpcFormat` (no I/O):
 * string, number and null ids; notifications get no reply; batches (an empty array is one
 * "Invalid Request" error, an all-notification batch writes nothing); the standard error codes;
 * `$/cancelRequest` (as in LSP and vscode-jsonrpc) cancels a request by id.
 *
 * Error codes (`code` of the error object):
 *
 * | code   | name               | meaning                                                            |
 * |--------|--------------------|--------------------------------------------------------------------|
 * | -32700 | PARSE_ERROR        | the frame is not JSON (or not UTF-8)                               |
 * | -32600 | INVALID_REQUEST    | not a request object (also: an empty batch, an id already in use,  |
 * |        |                    | a non-finite numeric id, a frame nested deeper than `maxDepth`)    |
 * | -32601 | METHOD_NOT_FOUND   | no such method                                                     |
 * | -32602 | INVALID_PARAMS     | params rejected by the method's Schema (its message in `data`)     |
 * | -32603 | INTERNAL_ERROR     | the handler died, or its result could not be encoded (no stack)    |
 * | -32000 | SHUTTING_DOWN      | the server is shutting down: not processed, safe to retry          |
 * | -32001 | OVERLOADED         | too many requests in flight: not processed, safe to retry          |
 * | -32002 | REQUEST_TIMEOUT    | the method's timeout ran out; the handler was interrupted          |
 * | -32003 | FRAME_TOO_LARGE    | a frame passed the framing's limit; the connection then closes     |
 * | -32004 | BATCH_TOO_LARGE    | a batch has more requests than the server accepts                  |
 * | -32005 | DEADLINE_EXCEEDED  | interrupted at the shutdown deadline: outcome unknown              |
 * | -32006 | FRAMING_ERROR      | the byte stream cannot be framed; the connection then closes       |
 * | -32800 | REQUEST_CANCELLED  | cancelled by `$/cancelRequest` (LSP's code)                        |
 *
 * A method's typed errors travel with the method's `errorCode` (default 1), the error's `message`
 * (or `_tag`) as `message` and the error encoded by its Schema as `data`.
 *
 * A frame nesting arrays and objects deeper than `maxDepth` (default 128, see `make`) is refused
 * before it is parsed: answered INVALID_REQUEST with `id: null` and `data` naming the depth, as a
 * server; left out as a client. A numeric id that is not finite (`1e400` parses as `Infinity`)
 * is not an id: every reply is JSON, so the request is answered INVALID_REQUEST with `id: null`.
 *
 * @example
 * ```ts
 * import { JsonRpc } from "effect-wire"
 *
 * console.log(JSON.stringify(JsonRpc.format.parse("[]")))
 * // Output: {"_tag":"Invalid","id":null,"error":{"code":-32600,"message":"Invalid Request"}}
 *
 * console.log(JsonRpc.format.success(1, 19))
 * // Output: {"jsonrpc":"2.0","id":1,"result":19}
 * ```
 *
 * @since 0.1.0
 */
import { DEFAULT_MAX_DEPTH, depthBeyond, depthMessage, maxDepthOption } from "./internal/jsonLimits.js"
import type { ErrorObject, FormatOptions, Id, Incoming, Invalid, Parsed, Response, RpcFormat } from "./RpcFormat.js"

/**
 * Invalid JSON was received.
 *
 * @since 0.1.0
 * @category error codes
 */
export const PARSE_ERROR = -32700
/**
 * The JSON sent is not a valid Request object.
 *
 * @since 0.1.0
 * @category error codes
 */
export const INVALID_REQUEST = -32600
/**
 * The method does not exist / is not available.
 *
 * @since 0.1.0
 * @category error codes
 */
export const METHOD_NOT_FOUND = -32601
/**
 * Invalid method parameter(s).
 *
 * @since 0.1.0
 * @category error codes
 */
export const INVALID_PARAMS = -32602
/**
 * Internal JSON-RPC error.
 *
 * @since 0.1.0
 * @category error codes
 */
export const INTERNAL_ERROR = -32603
/**
 * effect-wire: the server is shutting down; the request was not processed and is safe to retry.
 *
 * @since 0.1.0
 * @category error codes
 */
export const SHUTTING_DOWN = -32000
/**
 * effect-wire: too many requests in flight; the request was not processed and is safe to retry.
 *
 * @since 0.1.0
 * @category error codes
 */
export const OVERLOADED = -32001
/**
 * effect-wire: the method's timeout ran out and its handler was interrupted.
 *
 * @since 0.1.0
 * @category error codes
 */
export const REQUEST_TIMEOUT = -32002
/**
 * effect-wire: a frame passed the framing's size limit; the connection closes after this reply.
 *
 * @since 0.1.0
 * @category error codes
 */
export const FRAME_TOO_LARGE = -32003
/**
 * effect-wire: a batch holds more messages than the server's `maxBatch`.
 *
 * @since 0.1.0
 * @category error codes
 */
export const BATCH_TOO_LARGE = -32004
/**
 * effect-wire: the handler was interrupted at the shutdown deadline; its outcome is unknown.
 *
 * @since 0.1.0
 * @category error codes
 */
export const DEADLINE_EXCEEDED = -32005
/**
 * effect-wire: the byte stream cannot be framed any more; the connection closes after this reply.
 *
 * @since 0.1.0
 * @category error codes
 */
export const FRAMING_ERROR = -32006
/**
 * The request was cancelled (`$/cancelRequest`); LSP's `RequestCancelled` code.
 *
 * @since 0.1.0
 * @category error codes
 */
export const REQUEST_CANCELLED = -32800

/**
 * The method that cancels a request: `{"method":"$/cancelRequest","params":{"id":…}}`.
 *
 * @since 0.1.0
 * @category constants
 */
export const CANCEL_METHOD = "$/cancelRequest"

/**
 * Whether an error with this code means "not processed, safe to retry".
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (code: number): boolean => code === SHUTTING_DOWN || code === OVERLOADED

/**
 * The standard message of each code.
 *
 * @since 0.1.0
 * @category error codes
 */
export const messages: Readonly<Record<number, string>> = {
  [PARSE_ERROR]: "Parse error",
  [INVALID_REQUEST]: "Invalid Request",
  [METHOD_NOT_FOUND]: "Method not found",
  [INVALID_PARAMS]: "Invalid params",
  [INTERNAL_ERROR]: "Internal error",
  [SHUTTING_DOWN]: "Server shutting down: request not processed, safe to retry",
  [OVERLOADED]: "Server overloaded: request not processed, safe to retry",
  [REQUEST_TIMEOUT]: "Request timed out",
  [FRAME_TOO_LARGE]: "Frame too large",
  [BATCH_TOO_LARGE]: "Batch too large",
  [DEADLINE_EXCEEDED]: "Shutdown deadline exceeded: outcome unknown",
  [FRAMING_ERROR]: "Framing error",
  [REQUEST_CANCELLED]: "Request cancelled"
}

/**
 * An error object with the standard message of `code`, and `data` when given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const error = (code: number, data?: unknown): ErrorObject =>
  data === undefined
    ? { code, message: messages[code] ?? "Server error" }
    : { code, message: messages[code] ?? "Server error", data }

const invalid = (id: Id, code: number): Invalid => ({ _tag: "Invalid", id, error: error(code) })

const PARSE_FAILED = invalid(null, PARSE_ERROR)
const INVALID_NO_ID = invalid(null, INVALID_REQUEST)

// `Infinity` is not an id: `1e400` parses as it, and no reply could carry it back as JSON.
const isId = (u: unknown): u is Id =>
  typeof u === "string" || (typeof u === "number" && Number.isFinite(u)) || u === null

type Obj = Record<string, unknown>

const isObject = (u: unknown): u is Obj => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * One element of a frame (or the frame itself) as a server message.
 *
 * @since 0.1.0
 * @category parsing
 */
export const message = (value: unknown): Incoming => {
  if (!isObject(value)) return INVALID_NO_ID
  const hasId = value["id"] !== undefined
  const id = value["id"]
  if (hasId && !isId(id)) return INVALID_NO_ID
  const method = value["method"]
  if (value["jsonrpc"] !== "2.0") return hasId ? invalid(id as Id, INVALID_REQUEST) : INVALID_NO_ID
  if (typeof method !== "string") {
    // A response sent to a server is not answered (answering could ping-pong between peers).
    if (method === undefined && hasId && ("result" in value || "error" in value)) return IGNORED
    return hasId ? invalid(id as Id, INVALID_REQUEST) : INVALID_NO_ID
  }
  const params = value["params"]
  if (params !== undefined && (typeof params !== "object" || params === null)) {
    return hasId ? invalid(id as Id, INVALID_REQUEST) : INVALID_NO_ID
  }
  return hasId ? { _tag: "Request", id: id as Id, method, params } : { _tag: "Notification", method, params }
}

const IGNORED: Incoming = { _tag: "Ignored" }

const tooDeep = (depth: number, maxDepth: number): Invalid => ({
  _tag: "Invalid",
  id: null,
  error: error(INVALID_REQUEST, depthMessage(depth, maxDepth))
})

const parseWithin = (text: string, maxDepth: number): Parsed => {
  // Before `JSON.parse`: a frame too deep to handle is refused unread (see the module doc).
  const depth = depthBeyond(text, maxDepth)
  if (depth > 0) return tooDeep(depth, maxDepth)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return PARSE_FAILED
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return INVALID_NO_ID
    const messages: Array<Incoming> = new Array(value.length)
    for (let i = 0; i < value.length; i++) messages[i] = message(value[i])
    return { _tag: "Batch", messages }
  }
  return message(value)
}

/**
 * Parses one frame as a server (see `RpcFormat.parse`), with the default `maxDepth` (128).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): Parsed => parseWithin(text, DEFAULT_MAX_DEPTH)

// Replies are JSON whatever they are given: `String(Infinity)` is not, `JSON.stringify` writes null.
const idText = (id: Id): string =>
  typeof id === "number" ? (Number.isFinite(id) ? String(id) : "null") : JSON.stringify(id) ?? "null"

const valueText = (value: unknown): string =>
  // Finite numbers are most results: `String` writes them as JSON does, at a fraction of the cost.
  typeof value === "number" && Number.isFinite(value) ? String(value) : JSON.stringify(value) ?? "null"

/**
 * The text of a success reply.
 *
 * @since 0.1.0
 * @category encoding
 */
export const success = (id: Id, result: unknown): string =>
  `{"jsonrpc":"2.0","id":${idText(id)},"result":${valueText(result)}}`

/**
 * The text of an error reply.
 *
 * @since 0.1.0
 * @category encoding
 */
export const failure = (id: Id, error: ErrorObject): string =>
  `{"jsonrpc":"2.0","id":${idText(id)},"error":${JSON.stringify(error)}}`

/**
 * The text of a request.
 *
 * @since 0.1.0
 * @category encoding
 */
export const request = (id: number, method: string, params: unknown): string =>
  params === undefined
    ? `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)}}`
    : `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)},"params":${valueText(params)}}`

/**
 * The text of a notification.
 *
 * @since 0.1.0
 * @category encoding
 */
export const notification = (method: string, params: unknown): string =>
  params === undefined
    ? `{"jsonrpc":"2.0","method":${JSON.stringify(method)}}`
    : `{"jsonrpc":"2.0","method":${JSON.stringify(method)},"params":${valueText(params)}}`

const isErrorObject = (u: unknown): u is ErrorObject =>
  isObject(u) && typeof u["code"] === "number" && typeof u["message"] === "string"

const response = (value: unknown, out: Array<Response>): void => {
  if (!isObject(value) || value["method"] !== undefined || !isId(value["id"])) return
  const id = value["id"]
  if ("error" in value) {
    const e = value["error"]
    out.push({
      id,
      result: undefined,
      error: isErrorObject(e) ? e : { code: INTERNAL_ERROR, message: "malformed error object", data: e }
    })
  } else if ("result" in value) {
    out.push({ id, result: value["result"], error: undefined })
  }
}

const parseResponsesWithin = (text: string, maxDepth: number): ReadonlyArray<Response> => {
  // A reply too deep for the caller's code to walk is malformed, as a reply that is not JSON.
  if (depthBeyond(text, maxDepth) > 0) return []
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return []
  }
  const out: Array<Response> = []
  if (Array.isArray(value)) { for (const v of value) response(v, out) }
  else response(value, out)
  return out
}

/**
 * Parses one frame as a client: every response it holds (requests from the peer are left out),
 * none when the frame nests deeper than the default `maxDepth` (128).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseResponses = (text: string): ReadonlyArray<Response> => parseResponsesWithin(text, DEFAULT_MAX_DEPTH)

/**
 * JSON-RPC 2.0 as an `RpcFormat` with `options`, checked now (`IllegalArgumentException`).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { JsonRpc, Protocol, RpcServer } from "effect-wire"
 *
 * const Sum = Protocol.make(Protocol.method("sum", { params: Schema.Array(Schema.Number), success: Schema.Number }))
 *
 * const program = Effect.gen(function*() {
 *   const dispatch = yield* RpcServer.dispatcher(Sum, {
 *     sum: (xs) => Effect.succeed(xs.reduce((a, b) => a + b, 0))
 *   }, { format: JsonRpc.make({ maxDepth: 2 }) })
 *   console.log(yield* dispatch('{"jsonrpc":"2.0","id":1,"method":"sum","params":[1,2]}'))
 *   // Output: {"jsonrpc":"2.0","id":1,"result":3}
 *   console.log(yield* dispatch('{"jsonrpc":"2.0","id":2,"method":"sum","params":[[1],2]}'))
 *   // Output: {"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request","data":"JSON nested 3 levels deep, limit 2"}}
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: FormatOptions = {}): RpcFormat => {
  const maxDepth = maxDepthOption("JsonRpc", options.maxDepth)
  return {
    name: "jsonrpc",
    cancelMethod: CANCEL_METHOD,
    parse: maxDepth === DEFAULT_MAX_DEPTH ? parse : (text) => parseWithin(text, maxDepth),
    success,
    failure,
    methodNotFound: (id) => failure(id, error(METHOD_NOT_FOUND)),
    batch: (replies) => `[${replies.join(",")}]`,
    request,
    notification,
    parseResponses: maxDepth === DEFAULT_MAX_DEPTH ? parseResponses : (text) => parseResponsesWithin(text, maxDepth)
  }
}

/**
 * JSON-RPC 2.0 as an `RpcFormat`, over any framing: newline-delimited JSON (`Framing.lines()`),
 * the LSP base protocol (`Framing.contentLength()`) or length-prefixed frames. Frames nest at
 * most 128 levels deep (`make` sets another limit).
 *
 * @since 0.1.0
 * @category instances
 */
export const format: RpcFormat = make()
