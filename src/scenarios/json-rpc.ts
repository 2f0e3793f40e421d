/**
 * Scenario `json-rpc`: the chapter's JSON request/response protocol over length-prefixed
 * frames (4-byte big-endian length, then UTF-8 JSON). Requests are `{id, method, params}`,
 * answers `{id, result}`; an unknown method answers `{id, result: {error: "Unknown method: …"}}`
 * as the chapter's server does. A request carrying `"jsonrpc": "2.0"` gets a JSON-RPC 2.0 answer
 * instead (`result`, or `error: {code, message}`; notifications get none), so JSON-RPC libraries
 * can talk to `effect-wire serve json-rpc` too (e.g. over `--framing content-length`).
 *
 * TODO(typed RPC layer): this scenario is built on `Message.json(framing)` + `Server.respondWith`
 * so that it works today. When `src/protocol/Protocol.ts` / `JsonRpc.ts`, `src/server/RpcServer.ts`
 * and `src/client/RpcClient.ts` land, `METHODS` below becomes a typed protocol definition (one
 * Schema per method for params and result), `jsonRpcServer` becomes an `RpcServer` serving it, and
 * the client half of `run` an `RpcClient` call per request; the wire format (and so the Python
 * client in `test/scenarios/python/`) stays the same.
 *
 * @since 0.1.0
 */
import { Effect, Either, ParseResult, Schema, type Scope } from "effect"
import * as Client from "../client/Client.js"
import type { Codec } from "../protocol/Codec.js"
import * as Framing from "../protocol/Framing.js"
import type { FramingError } from "../protocol/FramingError.js"
import * as Message from "../protocol/Message.js"
import * as Server from "../server/Server.js"
import { framedPeer, hostPort } from "./internal/peer.js"
import * as Output from "./Output.js"
import * as Scenario from "./Scenario.js"

/** A request as the chapter's clients send it (every field optional, as its server reads them). */
export const Request = Schema.Struct({
  jsonrpc: Schema.optional(Schema.Literal("2.0")),
  id: Schema.optional(Schema.Union(Schema.Number, Schema.String, Schema.Null)),
  method: Schema.optionalWith(Schema.String, { default: () => "unknown" }),
  params: Schema.optionalWith(Schema.Unknown, { default: () => ({}) })
})
export type Request = typeof Request.Type

/** A method: decodes its params with a schema, then computes its result (or says what is wrong). */
export interface Method {
  readonly call: (params: unknown) => Either.Either<unknown, string>
}

const method = <A, I>(params: Schema.Schema<A, I, never>, run: (params: A) => unknown): Method => {
  const decode = Schema.decodeUnknownEither(params)
  return {
    call: (raw) =>
      Either.match(decode(raw), {
        onLeft: (e) => Either.left(ParseResult.TreeFormatter.formatErrorSync(e)),
        onRight: (p) => Either.right(run(p))
      })
  }
}

/** The server's methods (missing params default as in the chapter). */
export const METHODS: Readonly<Record<string, Method>> = {
  add: method(
    Schema.Struct({
      a: Schema.optionalWith(Schema.Number, { default: () => 0 }),
      b: Schema.optionalWith(Schema.Number, { default: () => 0 })
    }),
    ({ a, b }) => a + b
  ),
  greet: method(
    Schema.Struct({ name: Schema.optionalWith(Schema.String, { default: () => "World" }) }),
    ({ name }) => `Hello, ${name}!`
  ),
  echo: method(Schema.Unknown, (params) => params)
}

type Outcome = { readonly result: unknown } | { readonly code: number; readonly message: string }

/** Dispatches one decoded request. */
export const dispatch = (request: Request): Outcome => {
  const m = Object.hasOwn(METHODS, request.method) ? METHODS[request.method] : undefined
  if (m === undefined) return { code: -32601, message: `Unknown method: ${request.method}` }
  const outcome = m.call(request.params)
  return Either.isLeft(outcome)
    ? { code: -32602, message: `Invalid params for ${request.method}: ${outcome.left}` }
    : { result: outcome.right }
}

/** The answer to one frame (undefined: none, for a JSON-RPC 2.0 notification). */
export const answer = (frame: Uint8Array): unknown => {
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(frame).toString("utf8"))
  } catch (e) {
    return { id: null, result: { error: `Parse error: ${e instanceof Error ? e.message : String(e)}` } }
  }
  const decoded = Schema.decodeUnknownEither(Request)(raw)
  if (Either.isLeft(decoded)) {
    return { id: null, result: { error: `Invalid request: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}` } }
  }
  const request = decoded.right
  const outcome = dispatch(request)
  if (request.jsonrpc === "2.0") {
    if (request.id === undefined) return undefined
    return "result" in outcome
      ? { jsonrpc: "2.0", id: request.id, result: outcome.result }
      : { jsonrpc: "2.0", id: request.id, error: { code: outcome.code, message: outcome.message } }
  }
  return { id: request.id ?? 0, result: "result" in outcome ? outcome.result : { error: outcome.message } }
}

/** Options of `jsonRpcServer`. */
export interface JsonRpcServerOptions extends Server.ServerOptions {
  /** Default: 4-byte big-endian length prefix. */
  readonly framing?: Codec<Uint8Array, FramingError>
  /** Print requests. Default true. */
  readonly verbose?: boolean
}

/** Starts the JSON request server in the current scope. Bad requests get an error answer. */
export const jsonRpcServer = (
  options: JsonRpcServerOptions = {}
): Effect.Effect<Server.Server, Server.ListenError, Scope.Scope | Output.Output> => {
  const framing = options.framing ?? Framing.lengthPrefixed()
  const verbose = options.verbose ?? true
  return Server.make(
    options,
    Server.respondWith(
      { input: framing, output: Message.json(framing) },
      (frame, conn) => {
        const reply = answer(frame)
        return verbose
          ? Effect.as(Output.line(`  [server] ${hostPort(conn.remoteAddress)}: ${Buffer.from(frame).toString("utf8")}`, "dim"), reply)
          : Effect.succeed(reply)
      }
    )
  )
}

/** The chapter's four requests. */
export const REQUESTS: ReadonlyArray<Record<string, unknown>> = [
  { id: 1, method: "add", params: { a: 10, b: 32 } },
  { id: 2, method: "greet", params: { name: "Effect" } },
  { id: 3, method: "echo", params: { data: [1, 2, 3], nested: { key: "value" } } },
  { id: 4, method: "unknown_method", params: {} }
]

/** What the scenario returns. */
export interface JsonRpcResult {
  readonly exchanges: ReadonlyArray<{ readonly request: unknown; readonly response: unknown }>
}

/** The answers the chapter's server gives to `REQUESTS`. */
export const EXPECTED: ReadonlyArray<unknown> = [
  { id: 1, result: 42 },
  { id: 2, result: "Hello, Effect!" },
  { id: 3, result: { data: [1, 2, 3], nested: { key: "value" } } },
  { id: 4, result: { error: "Unknown method: unknown_method" } }
]

/** Runs the scenario. */
export const run = Effect.scoped(
  Effect.gen(function*() {
    yield* Output.heading("json-rpc: length-prefixed JSON requests and responses")
    const server = yield* jsonRpcServer({ port: 0, verbose: false })
    yield* Output.line(`JSON server listening on ${hostPort(server.address)} (4-byte big-endian length + JSON)`)
    const exchanges = yield* Effect.scoped(
      Effect.gen(function*() {
        const conn = yield* Client.connect({ port: server.address.port })
        const peer = yield* framedPeer(conn, Message.json(Framing.lengthPrefixed()))
        return yield* Effect.forEach(REQUESTS, (request) =>
          Effect.gen(function*() {
            yield* peer.send(request)
            const response = yield* peer.next
            yield* Output.line(`  → ${JSON.stringify(request)}`)
            yield* Output.line(`  ← ${JSON.stringify(response)}`, "accent")
            return { request, response }
          }))
      })
    )
    yield* server.shutdown
    return { exchanges } satisfies JsonRpcResult
  })
)

export const scenario = Scenario.make({
  name: "json-rpc",
  title: "JSON over length-prefixed frames",
  description: "the chapter's length-prefixed JSON requests: add, greet, echo and an unknown method",
  run: () => run,
  verdict: (r: JsonRpcResult) => {
    const right = r.exchanges.filter((x, i) => JSON.stringify(x.response) === JSON.stringify(EXPECTED[i])).length
    return { ok: right === EXPECTED.length, summary: `${right}/${EXPECTED.length} responses as expected` }
  }
})
