/**
 * Scenario `json-rpc`: the chapter's JSON request/response protocol over length-prefixed frames
 * (4-byte big-endian length, then UTF-8 JSON), on the typed RPC layer:
 *
 * - `Chapter` is the protocol (`Protocol.make`): `add`, `greet` and `echo`, one Schema per method
 *   for params and result (missing params default as in the chapter's server);
 * - `jsonRpcServer` serves it with `RpcServer.handler(Chapter, handlers, { format: ChapterRpc.format,
 *   framing: ChapterRpc.framing() })`: requests are `{id, method, params}`, answers `{id, result}`,
 *   and an unknown method is answered, as the chapter's server does, with a *result*
 *   `{id, result: {error: "Unknown method: …"}}`;
 * - `run` calls it with a typed `RpcClient` (same format and framing). To send the chapter's
 *   unknown method, the client speaks `Caller`: the server's protocol plus `unknown_method`, which
 *   the server does not define. The typed client reads the chapter's answer to it as a remote
 *   error -32601 (METHOD_NOT_FOUND); the scenario prints both the wire text and the typed outcome.
 *
 * `effect-wire serve json-rpc` uses `jsonRpcServer` with `jsonRpc2: true`: a request carrying
 * `"jsonrpc": "2.0"` (or a batch) then gets a JSON-RPC 2.0 answer (`result`, or `error: {code,
 * message}`; notifications get none), so JSON-RPC libraries can talk to it too (e.g. over
 * `--framing content-length`), while the chapter's clients get the chapter's answers.
 *
 * @since 0.1.0
 */
import { Effect, Either, Schema, type Scope } from "effect"
import * as RpcClient from "../client/RpcClient.js"
import * as ChapterRpc from "../protocol/ChapterRpc.js"
import type { Codec } from "../protocol/Codec.js"
import type { FramingError } from "../protocol/FramingError.js"
import * as JsonRpc from "../protocol/JsonRpc.js"
import * as Protocol from "../protocol/Protocol.js"
import type { Id, Incoming, Parsed, RpcFormat } from "../protocol/RpcFormat.js"
import * as RpcServer from "../server/RpcServer.js"
import * as Server from "../server/Server.js"
import type * as ServerError from "../server/ServerError.js"
import { reportFirstFrameError } from "./internal/framing.js"
import { hostPort } from "./internal/peer.js"
import { Wire } from "./internal/wire.js"
import * as Output from "./Output.js"
import * as Scenario from "./Scenario.js"

// ---- the protocol ----------------------------------------------------------------------------

/** `add`: `{a, b}` (each 0 when missing) → their sum. */
export const add = Protocol.method("add", {
  params: Schema.Struct({
    a: Schema.optionalWith(Schema.Number, { default: () => 0 }),
    b: Schema.optionalWith(Schema.Number, { default: () => 0 })
  }),
  success: Schema.Number
})

/** `greet`: `{name}` ("World" when missing) → `"Hello, <name>!"`. */
export const greet = Protocol.method("greet", {
  params: Schema.Struct({ name: Schema.optionalWith(Schema.String, { default: () => "World" }) }),
  success: Schema.String
})

/** `echo`: any params → the same value. */
export const echo = Protocol.method("echo", { params: Schema.Unknown, success: Schema.Unknown })

/** The chapter's server protocol. */
export const Chapter = Protocol.make(add, greet, echo)

/**
 * What the scenario's client speaks: `Chapter` plus `unknown_method`, which the server does not
 * define (the chapter's fourth request), so the typed client can send it.
 */
export const Caller = Protocol.make(
  add,
  greet,
  echo,
  Protocol.method("unknown_method", { params: Schema.Struct({}), success: Schema.Unknown })
)

/** The server's handlers, typed by `Chapter`. */
export const handlers: Protocol.Handlers<typeof Chapter> = {
  add: ({ a, b }) => Effect.succeed(a + b),
  greet: ({ name }) => Effect.succeed(`Hello, ${name}!`),
  echo: (params) => Effect.succeed(params)
}

// ---- the server ------------------------------------------------------------------------------

const isJsonRpc2 = (text: string): boolean => {
  // Cheap check first: only a text mentioning "jsonrpc" or a batch can be JSON-RPC 2.0.
  const start = text.trimStart()
  if (!start.startsWith("[") && !text.includes("jsonrpc")) return false
  try {
    const value: unknown = JSON.parse(text)
    return Array.isArray(value) ||
      (typeof value === "object" && value !== null && (value as { readonly jsonrpc?: unknown }).jsonrpc === "2.0")
  } catch {
    return false
  }
}

/** Missing params are `{}` in both dialects (as the chapter's server reads them). */
const withParams = (m: Incoming): Incoming =>
  m._tag !== "Ignored" && m._tag !== "Invalid" && m.params === undefined ? { ...m, params: {} } : m

/**
 * The format of `serve json-rpc`: the chapter's (`ChapterRpc.format`), and, for a request carrying
 * `"jsonrpc": "2.0"` or a batch, JSON-RPC 2.0's (`JsonRpc.format`). Make one per connection: it
 * remembers, per id in flight, which dialect the request spoke so its reply speaks it too (a reply
 * with no request behind it, such as a framing error, speaks the chapter's). `onFrame` sees the
 * text of every frame (for logging).
 */
export const servedFormat = (options: { readonly onFrame?: (text: string) => void } = {}): RpcFormat => {
  const dialects = new Map<string, Array<boolean>>()
  const key = (id: Id) => (typeof id === "string" ? `s:${id}` : String(id))
  const remember = (m: Incoming, jsonRpc2: boolean) => {
    if (m._tag !== "Request" && m._tag !== "Invalid") return
    const k = key(m.id)
    const queue = dialects.get(k)
    if (queue === undefined) dialects.set(k, [jsonRpc2])
    else queue.push(jsonRpc2)
  }
  const isJsonRpc2Reply = (id: Id): boolean => {
    const k = key(id)
    const queue = dialects.get(k)
    if (queue === undefined) return false
    const jsonRpc2 = queue.shift() === true
    if (queue.length === 0) dialects.delete(k)
    return jsonRpc2
  }
  return {
    name: "chapter+jsonrpc",
    cancelMethod: JsonRpc.format.cancelMethod,
    parse: (text): Parsed => {
      options.onFrame?.(text)
      if (!isJsonRpc2(text)) {
        const parsed = ChapterRpc.parse(text)
        if (parsed._tag !== "Batch") remember(parsed, false)
        return parsed
      }
      const parsed = JsonRpc.format.parse(text)
      if (parsed._tag === "Batch") {
        const messages = parsed.messages.map(withParams)
        for (const m of messages) remember(m, true)
        return { _tag: "Batch", messages }
      }
      const message = withParams(parsed)
      remember(message, true)
      return message
    },
    success: (id, result) => isJsonRpc2Reply(id) ? JsonRpc.format.success(id, result) : ChapterRpc.success(id, result),
    failure: (id, error) => isJsonRpc2Reply(id) ? JsonRpc.format.failure(id, error) : ChapterRpc.failure(id, error),
    methodNotFound: (id, method) =>
      isJsonRpc2Reply(id)
        ? JsonRpc.format.failure(id, { code: JsonRpc.METHOD_NOT_FOUND, message: `Unknown method: ${method}` })
        : ChapterRpc.methodNotFound(id, method),
    batch: JsonRpc.format.batch,
    request: ChapterRpc.format.request,
    notification: ChapterRpc.format.notification,
    parseResponses: ChapterRpc.format.parseResponses
  }
}

/** Options of `jsonRpcServer`. */
export interface JsonRpcServerOptions extends Server.ServerOptions {
  /** Default: the chapter's 4-byte big-endian length prefix (`ChapterRpc.framing()`). */
  readonly framing?: Codec<Uint8Array, FramingError>
  /** Print every request frame. Default true. */
  readonly verbose?: boolean
  /**
   * Also answer JSON-RPC 2.0 requests in JSON-RPC 2.0 (`servedFormat`). Default false: the
   * chapter's format only (`ChapterRpc.format`).
   */
  readonly jsonRpc2?: boolean
}

/** Starts the chapter's typed RPC server (`Chapter` with `handlers`) in the current scope. */
export const jsonRpcServer = (
  options: JsonRpcServerOptions = {}
): Effect.Effect<Server.Server, ServerError.ListenError, Scope.Scope | Output.Output> => {
  const framing = options.framing ?? ChapterRpc.framing()
  const verbose = options.verbose ?? true
  if (!verbose && options.jsonRpc2 !== true) {
    return Server.make(options, RpcServer.handler(Chapter, handlers, { format: ChapterRpc.format, framing }))
  }
  // Per connection: the format remembers the dialect of each request, and logs with the peer's address.
  return Effect.flatMap(Output.Output, (out) =>
    Server.make(options, (conn) => {
      const who = hostPort(conn.remoteAddress)
      const onFrame = verbose
        ? (text: string) => Effect.runSync(out.emit({ _tag: "Line", text: `  [server] ${who}: ${text}`, tone: "dim" }))
        : undefined
      const format = options.jsonRpc2 === true
        ? servedFormat(onFrame === undefined ? {} : { onFrame })
        : { ...ChapterRpc.format, parse: (text: string) => (onFrame?.(text), ChapterRpc.parse(text)) }
      return RpcServer.handler(Chapter, handlers, { format, framing })(conn).pipe(
        Effect.tapError((e) => Effect.provideService(reportFirstFrameError(who, framing, e), Output.Output, out))
      )
    }))
}

// ---- the scenario ----------------------------------------------------------------------------

/** The chapter's four requests, as the typed client sends them (ids 1 to 4). */
export const REQUESTS: ReadonlyArray<Record<string, unknown>> = [
  { id: 1, method: "add", params: { a: 10, b: 32 } },
  { id: 2, method: "greet", params: { name: "Effect" } },
  { id: 3, method: "echo", params: { data: [1, 2, 3], nested: { key: "value" } } },
  { id: 4, method: "unknown_method", params: {} }
]

/** The answers the chapter's server gives to `REQUESTS` (on the wire). */
export const EXPECTED: ReadonlyArray<unknown> = [
  { id: 1, result: 42 },
  { id: 2, result: "Hello, Effect!" },
  { id: 3, result: { data: [1, 2, 3], nested: { key: "value" } } },
  { id: 4, result: { error: "Unknown method: unknown_method" } }
]

/** What the typed client made of a reply. */
export type Outcome =
  | { readonly _tag: "Success"; readonly value: unknown }
  | { readonly _tag: "RemoteError"; readonly code: number; readonly message: string }

/** How the typed client reads `EXPECTED`. */
export const EXPECTED_OUTCOMES: ReadonlyArray<Outcome> = [
  { _tag: "Success", value: 42 },
  { _tag: "Success", value: "Hello, Effect!" },
  { _tag: "Success", value: { data: [1, 2, 3], nested: { key: "value" } } },
  { _tag: "RemoteError", code: JsonRpc.METHOD_NOT_FOUND, message: "Unknown method: unknown_method" }
]

/** One call: what went on the wire each way, and the typed outcome. */
export interface Exchange {
  readonly method: string
  /** The request frame's JSON, as sent. */
  readonly request: unknown
  /** The reply frame's JSON, as received. */
  readonly response: unknown
  readonly outcome: Outcome
}

/** What the scenario returns. */
export interface JsonRpcResult {
  readonly exchanges: ReadonlyArray<Exchange>
}

/** Runs the scenario. */
export const run = Effect.scoped(
  Effect.gen(function*() {
    yield* Output.heading("json-rpc: length-prefixed JSON requests and responses, typed")
    const wire = yield* Wire
    const server = yield* jsonRpcServer({ ...wire.server, port: 0, verbose: false })
    yield* Output.line(
      `typed RPC server (add, greet, echo) listening on ${hostPort(server.address)} ` +
        `(the chapter's format: 4-byte big-endian length + JSON)`
    )
    // The chapter's format, with a tap on the wire texts so the scenario can show them.
    let lastSent: { readonly id: number; readonly text: string } | undefined = undefined
    const received = new Map<Id, string>()
    const format: RpcFormat = {
      ...ChapterRpc.format,
      request: (id, method, params) => {
        const text = ChapterRpc.format.request(id, method, params)
        lastSent = { id, text }
        return text
      },
      parseResponses: (text) => {
        const responses = ChapterRpc.format.parseResponses(text)
        for (const r of responses) received.set(r.id, text)
        return responses
      }
    }
    const exchanges = yield* Effect.scoped(
      Effect.gen(function*() {
        const client = yield* RpcClient.connect(Caller, {
          ...wire.client,
          port: server.address.port,
          format,
          framing: ChapterRpc.framing(),
          timeout: "5 seconds"
        })
        const exchange = (method: string, call: Effect.Effect<unknown, RpcClient.RpcClientError>) =>
          Effect.gen(function*() {
            const result = yield* Effect.either(call)
            if (Either.isLeft(result) && result.left._tag !== "RpcRemoteError") return yield* Effect.fail(result.left)
            const sent = lastSent!
            const reply = received.get(sent.id)
            const outcome: Outcome = Either.isRight(result)
              ? { _tag: "Success", value: result.right }
              : {
                _tag: "RemoteError",
                code: (result.left as RpcClient.RpcRemoteError).code,
                message: (result.left as RpcClient.RpcRemoteError).detail
              }
            yield* Output.line(
              outcome._tag === "Success"
                ? `  ${method}: ${JSON.stringify(outcome.value)}`
                : `  ${method}: remote error ${outcome.code} (method not found): ${outcome.message}`,
              outcome._tag === "Success" ? "ok" : "warn"
            )
            yield* Output.line(`    → sent     ${sent.text}`)
            yield* Output.line(`    ← received ${reply ?? "(nothing)"}`, "accent")
            if (outcome._tag === "RemoteError") {
              yield* Output.line(
                `      (the chapter's server answers an unknown method with a result holding an error; ` +
                  `the typed client reads it as error ${outcome.code})`,
                "dim"
              )
            }
            return {
              method,
              request: JSON.parse(sent.text) as unknown,
              response: reply === undefined ? undefined : JSON.parse(reply) as unknown,
              outcome
            } satisfies Exchange
          })
        return [
          yield* exchange("add", client.add({ a: 10, b: 32 })),
          yield* exchange("greet", client.greet({ name: "Effect" })),
          yield* exchange("echo", client.echo({ data: [1, 2, 3], nested: { key: "value" } })),
          yield* exchange("unknown_method", client.unknown_method({}))
        ]
      })
    )
    yield* server.shutdown
    return { exchanges } satisfies JsonRpcResult
  })
)

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

export const scenario = Scenario.make({
  name: "json-rpc",
  title: "JSON over length-prefixed frames, typed",
  description:
    "the chapter's length-prefixed JSON requests (add, greet, echo, an unknown method) on the typed RPC layer",
  run: () => run,
  verdict: (r: JsonRpcResult) => {
    const right = r.exchanges.filter((x, i) =>
      same(x.request, REQUESTS[i]) && same(x.response, EXPECTED[i]) && same(x.outcome, EXPECTED_OUTCOMES[i])
    ).length
    return { ok: right === EXPECTED.length, summary: `${right}/${EXPECTED.length} responses as expected` }
  }
})
