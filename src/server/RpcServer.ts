/**
 * Serves a `Protocol` over any framing and any `RpcFormat` (JSON-RPC 2.0 by default, or the
 * chapter's format): `RpcServer.handler(protocol, handlers, options)` is a connection handler
 * for `Server.make`.
 *
 * On each connection:
 * - requests run concurrently, up to `maxInFlight` (default 128; beyond it the connection stops
 *   reading, or answers OVERLOADED with `onOverload: "reject"`), and are answered as they
 *   complete, out of order; replies ready together go out as one write;
 * - input is decoded and dispatched inside the socket's data event while the connection's fiber
 *   is parked: a handler that completes at once (`Effect.succeed`, `Effect.fail`, or any effect
 *   that does not suspend) costs no fiber and its reply goes out with the read's (one write per
 *   read); a handler that suspends runs in its own fiber, and replies completing in one scheduler
 *   turn are written together;
 * - replies waiting on a peer that does not read them stop the handling of further frames, as
 *   `maxInFlight` does;
 * - `$/cancelRequest` interrupts the request's handler fiber (answered REQUEST_CANCELLED), and
 *   the connection's end (reset, write failure, server deadline) interrupts every handler;
 * - a peer's half-close (EOF) cancels nothing: requests already received are answered first;
 * - a bad message (not JSON, not a request, unknown method, params the Schema rejects) gets its
 *   error reply and the connection keeps serving; a framing error (a frame over the limit, a
 *   broken header) gets one FRAME_TOO_LARGE / FRAMING_ERROR reply, then the connection closes;
 * - per-method `timeout` interrupts the handler and answers REQUEST_TIMEOUT;
 * - per-method metrics (`metrics`): requests, errors and a latency histogram (from the frame's
 *   parsing to its reply), tagged `method`;
 *   spans (`Effect.withSpan("rpc.<method>")`) only when a tracer other than Effect's default is
 *   installed (or `spans: true`), so they cost nothing otherwise;
 * - frames are counted in the server's `ServerRegistry` (`server.stats.frames`).
 *
 * Shutdown (see `Server`): requests decoded before the drain get their real reply; the connection
 * keeps reading until they are done, and requests arriving meanwhile are answered SHUTTING_DOWN
 * ("not processed, safe to retry") without running their handler (notifications are dropped and
 * counted). Handlers still running at the server's deadline are answered DEADLINE_EXCEEDED
 * ("outcome unknown") as the connection closes.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Protocol, RpcClient, RpcServer, Server } from "effect-wire"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, {
 *     add: ({ a, b }) => Effect.succeed(a + b)
 *   }))
 *   const client = yield* RpcClient.connect(Calc, { port: server.address.port })
 *   console.log(yield* client.add({ a: 1, b: 2 }))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: 3
 * ```
 *
 * @since 0.1.0
 */
import { type Duration, Effect, type Scope } from "effect"
import { Buffer } from "node:buffer"
import type { ConnectionError } from "../connection/ConnectionError.js"
import type * as Codec from "../protocol/Codec.js"
import * as Framing from "../protocol/Framing.js"
import type { FramingError } from "../protocol/FramingError.js"
import type * as Protocol from "../protocol/Protocol.js"
import type { RpcFormat } from "../protocol/RpcFormat.js"
import { serveConnection } from "./internal/rpcConnection.js"
import * as internal from "./internal/rpcSession.js"
import { transportOf } from "./internal/transportOf.js"
import { type Handler, ServerRegistry } from "./Server.js"

/**
 * Per-method metrics, tagged with `method` (and `server` when served by `Server.make`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = internal.metrics

/**
 * Options of `handler`. Every limit has a bounded default and is checked when the handler is built.
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcServerOptions<Names extends string, FE> {
  /** The wire format. Default `JsonRpc.format`. */
  readonly format?: RpcFormat
  /** The framing. Default `Framing.lines()` (newline-delimited JSON). */
  readonly framing?: Codec.Codec<Uint8Array, FE>
  /** Requests in flight per connection at most. Default 128. */
  readonly maxInFlight?: number
  /** At `maxInFlight`: stop reading (`"backpressure"`, default) or answer OVERLOADED (`"reject"`). */
  readonly onOverload?: "backpressure" | "reject"
  /** Messages in one batch at most (more: one BATCH_TOO_LARGE reply). Default 1024. */
  readonly maxBatch?: number
  /** A timeout for every method, or per method name. Default none. */
  readonly timeout?: Duration.DurationInput | { readonly [K in Names]?: Duration.DurationInput }
  /** Wrap handlers in `Effect.withSpan`. Default: when a tracer other than Effect's own is installed. */
  readonly spans?: boolean
  /** Update `metrics` per request. Default true. */
  readonly metrics?: boolean
  /**
   * Log a handler's defect (a bug: it died, or its reply could not be built) at `Error`, with its
   * cause, at most 10 lines a second. Default true.
   */
  readonly logFailures?: boolean
}

/**
 * Forbids handlers for names the protocol does not define.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Exact<H, P> = { readonly [K in Exclude<keyof H, NamesOf<P>>]: never }

/**
 * The names of a protocol's definitions.
 *
 * @since 0.1.0
 * @category type-level
 */
export type NamesOf<P> = Protocol.DefinitionsOf<P>["name"]

/**
 * A connection handler for `Server.make` serving `protocol` with `handlers` (one per definition,
 * typed by the protocol: see `Protocol.Handlers`). See the module doc for what it does.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Framing, Protocol, RpcClient, RpcServer, Server } from "effect-wire"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 * const handlers: Protocol.Handlers<typeof Calc> = { add: ({ a, b }) => Effect.succeed(a + b) }
 *
 * const program = Effect.gen(function*() {
 *   // JSON-RPC 2.0 in LSP's Content-Length frames, and a 5-second limit on every method
 *   const framing = Framing.contentLength()
 *   const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, handlers, { framing, timeout: "5 seconds" }))
 *   const client = yield* RpcClient.connect(Calc, { port: server.address.port, framing })
 *   console.log(yield* client.add({ a: 1, b: 2 }))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: 3
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const handler = <
  P extends Protocol.Protocol<Protocol.AnyDefinition>,
  H extends Protocol.Handlers<P, unknown>,
  FE = FramingError
>(
  protocol: P,
  handlers: H & Exact<H, P>,
  options: RpcServerOptions<NamesOf<P>, FE> = {}
): Handler<FE | ConnectionError, Protocol.HandlersContext<H>> => {
  type R = Protocol.HandlersContext<H>
  const settings = internal.settingsOf(protocol, handlers, options)
  const framing = (options.framing ?? Framing.lines()) as Codec.Codec<Uint8Array, FE>
  return (connection) =>
    Effect.flatMap(
      Effect.zip(transportOf("RpcServer.handler", connection), Effect.serviceOption(ServerRegistry)),
      ([transport, registry]) => serveConnection<R, FE>(settings, framing, transport, registry)
    )
}

/**
 * An in-memory server for tests and other transports: `dispatch(text)` handles one frame's text
 * and returns its reply text (`undefined` when there is none: notifications, an all-notification
 * batch). Handlers still running when the scope closes are interrupted.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Protocol, RpcServer } from "effect-wire"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 *
 * const program = Effect.gen(function*() {
 *   const dispatch = yield* RpcServer.dispatcher(Calc, { add: ({ a, b }) => Effect.succeed(a + b) })
 *   console.log(yield* dispatch('{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":2}}'))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: {"jsonrpc":"2.0","id":1,"result":3}
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const dispatcher = <
  P extends Protocol.Protocol<Protocol.AnyDefinition>,
  H extends Protocol.Handlers<P, unknown>
>(
  protocol: P,
  handlers: H & Exact<H, P>,
  options: Omit<RpcServerOptions<NamesOf<P>, never>, "framing"> = {}
): Effect.Effect<
  (text: string) => Effect.Effect<string | undefined>,
  never,
  Protocol.HandlersContext<H> | Scope.Scope
> =>
  Effect.gen(function*() {
    type R = Protocol.HandlersContext<H>
    const settings = internal.settingsOf(protocol, handlers, options)
    const runtime = yield* Effect.runtime<R>()
    const session = new internal.Session<R>(settings, runtime, yield* Effect.tracer)
    yield* Effect.addFinalizer(() => session.interruptAll())
    return (text: string) =>
      Effect.async<string | undefined>((resume) => {
        session.frame(Buffer.from(text, "utf8"), (reply) => resume(Effect.succeed(reply)))
      })
  })
