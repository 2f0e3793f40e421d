/**
 * Serves a `Protocol` over any framing and any `RpcFormat` (JSON-RPC 2.0 by default, or the
 * chapter's format): `RpcServer.handler(protocol, handlers, options)` is a connection handler
 * for `Server.make`.
 *
 * On each connection:
 * - requests run concurrently, up to `maxInFlight` (default 128; beyond it the connection stops
 *   reading, or answers OVERLOADED with `onOverload: "reject"`), and are answered as they
 *   complete, out of order; replies ready together go out as one write;
 * - a handler that completes at once (`Effect.succeed`, `Effect.fail`, or any effect that does not
 *   suspend) costs no bookkeeping: its fiber is polled and its reply written with the read's;
 * - `$/cancelRequest` interrupts the request's handler fiber (answered REQUEST_CANCELLED), and
 *   the connection's end (reset, write failure, server deadline) interrupts every handler;
 * - a peer's half-close (EOF) cancels nothing: requests already received are answered first;
 * - a bad message (not JSON, not a request, unknown method, params the Schema rejects) gets its
 *   error reply and the connection keeps serving; a framing error (a frame over the limit, a
 *   broken header) gets one FRAME_TOO_LARGE / FRAMING_ERROR reply, then the connection closes;
 * - per-method `timeout` interrupts the handler and answers REQUEST_TIMEOUT;
 * - per-method metrics (`metrics`): requests, errors and a latency histogram, tagged `method`;
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
 * const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, {
 *   add: ({ a, b }) => Effect.succeed(a + b)
 * }))
 * ```
 *
 * @since 0.1.0
 */
import {
  Cause,
  Chunk,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberId,
  Metric,
  MetricBoundaries,
  MetricLabel,
  Option,
  ParseResult,
  Runtime,
  Schema,
  type Scope,
  Stream,
  type Tracer
} from "effect"
import { Buffer, isUtf8 } from "node:buffer"
import type * as Connection from "../connection/Connection.js"
import { type ConnectionError, isConnectionError } from "../connection/ConnectionError.js"
import type * as Codec from "../protocol/Codec.js"
import * as Framing from "../protocol/Framing.js"
import type { FramingError } from "../protocol/FramingError.js"
import { asBuffer } from "../protocol/internal/bytes.js"
import { intOption, oneOf } from "../protocol/internal/options.js"
import * as JsonRpc from "../protocol/JsonRpc.js"
import type * as Protocol from "../protocol/Protocol.js"
import type { ErrorObject, Id, Incoming, Parsed, RpcFormat } from "../protocol/RpcFormat.js"
import { type Handler, ServerRegistry } from "./Server.js"

/** Per-method metrics, tagged with `method` (and `server` when served by `Server.make`). */
export const metrics = {
  requests: Metric.counter("effect_wire_rpc_requests", { description: "RPC requests handled" }),
  errors: Metric.counter("effect_wire_rpc_errors", { description: "RPC requests answered with an error" }),
  latency: Metric.histogram(
    "effect_wire_rpc_latency_ms",
    MetricBoundaries.exponential({ start: 0.01, factor: 2, count: 24 }),
    "RPC handler latency in milliseconds"
  ),
  rejectedDraining: Metric.counter("effect_wire_rpc_rejected_draining", {
    description: "requests answered SHUTTING_DOWN and notifications dropped during a drain"
  })
}

/** Options of `handler`. Every limit has a bounded default and is checked when the handler is built. */
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
}

/** Forbids handlers for names the protocol does not define. */
export type Exact<H, P> = { readonly [K in Exclude<keyof H, NamesOf<P>>]: never }

/** The names of a protocol's definitions. */
export type NamesOf<P> = Protocol.DefinitionsOf<P>["name"]

// ---------------------------------------------------------------------------------------------
// Compiled protocol

const TIMEOUT: unique symbol = Symbol.for("effect-wire/RpcServer/timeout")

interface Entry {
  readonly definition: Protocol.AnyDefinition
  readonly isMethod: boolean
  readonly handle: (params: unknown) => Effect.Effect<unknown, unknown, unknown>
  readonly decodeParams: ((u: unknown) => Exit.Exit<unknown, string>) | undefined
  readonly encodeSuccess: (a: unknown) => Exit.Exit<unknown, string>
  readonly encodeError: (e: unknown) => Exit.Exit<unknown, string>
  readonly errorCode: number
  readonly timeout: Duration.Duration | undefined
  readonly tags: ReadonlyArray<MetricLabel.MetricLabel>
  readonly spanName: string
}

const compileSchema = (
  run: (u: unknown) => import("effect").Either.Either<unknown, ParseResult.ParseError>
) =>
(u: unknown): Exit.Exit<unknown, string> => {
  const r = run(u)
  return r._tag === "Right" ? Exit.succeed(r.right) : Exit.fail(ParseResult.TreeFormatter.formatErrorSync(r.left))
}

type AnyCodec = Schema.Schema<unknown, unknown, never>

const compile = (
  protocol: Protocol.Protocol<Protocol.AnyDefinition>,
  handlers: Readonly<Record<string, (params: unknown) => Effect.Effect<unknown, unknown, unknown>>>,
  timeout: Duration.DurationInput | Readonly<Record<string, Duration.DurationInput | undefined>> | undefined
): Map<string, Entry> => {
  const entries = new Map<string, Entry>()
  const perMethod = typeof timeout === "object" && timeout !== null && !Duration.isDuration(timeout) && !Array.isArray(timeout)
    ? timeout as Readonly<Record<string, Duration.DurationInput | undefined>>
    : undefined
  for (const [name, definition] of protocol.definitions) {
    const handle = handlers[name]
    if (typeof handle !== "function") throw new Cause.IllegalArgumentException(`RpcServer.handler: no handler for ${name}`)
    const isMethod = definition._tag === "Method"
    const d = perMethod !== undefined ? perMethod[name] : timeout as Duration.DurationInput | undefined
    const millis = d === undefined ? undefined : Duration.toMillis(Duration.decode(d))
    if (millis !== undefined && !(millis > 0)) {
      throw new Cause.IllegalArgumentException(`RpcServer.handler: the timeout of ${name} must be positive`)
    }
    entries.set(name, {
      definition,
      isMethod,
      handle,
      decodeParams: definition.hasParams
        ? compileSchema(Schema.decodeUnknownEither(definition.params as AnyCodec))
        : undefined,
      encodeSuccess: isMethod
        ? compileSchema(Schema.encodeUnknownEither((definition as Protocol.AnyMethod).success as AnyCodec))
        : () => Exit.succeed(null),
      encodeError: isMethod
        ? compileSchema(Schema.encodeUnknownEither((definition as Protocol.AnyMethod).error as AnyCodec))
        : () => Exit.succeed(null),
      errorCode: isMethod ? (definition as Protocol.AnyMethod).errorCode : 1,
      timeout: millis === undefined || millis === Infinity ? undefined : Duration.millis(millis),
      tags: [MetricLabel.make("method", name)],
      spanName: `rpc.${name}`
    })
  }
  for (const name of Object.keys(handlers)) {
    if (!entries.has(name)) throw new Cause.IllegalArgumentException(`RpcServer.handler: ${name} is not in the protocol`)
  }
  return entries
}

const errorMessage = (e: unknown): string => {
  if (typeof e === "object" && e !== null) {
    const m = (e as { readonly message?: unknown }).message
    if (typeof m === "string" && m.length > 0) return m
    const t = (e as { readonly _tag?: unknown })._tag
    if (typeof t === "string") return t
  }
  return typeof e === "string" ? e : "Application error"
}

let nativeTracer: Tracer.Tracer | undefined
const isNativeTracer = (tracer: Tracer.Tracer): boolean =>
  tracer === (nativeTracer ??= Effect.runSync(Effect.tracer))

// ---------------------------------------------------------------------------------------------
// The session: one connection's requests, independent of I/O

type Sink = (reply: string | undefined) => void

/** Settings shared by every session of one handler. */
interface Settings {
  readonly format: RpcFormat
  readonly entries: Map<string, Entry>
  readonly maxInFlight: number
  readonly reject: boolean
  readonly maxBatch: number
  readonly spans: boolean | undefined
  readonly metrics: boolean
}

const cancelId = (params: unknown): Id | undefined => {
  if (typeof params !== "object" || params === null) return undefined
  const id = Array.isArray(params) ? params[0] : (params as { readonly id?: unknown }).id
  return typeof id === "string" || typeof id === "number" ? id : undefined
}

class Session<R> {
  inFlight = 0
  draining = false
  closed = false
  /** Fibers of requests with an id, for `$/cancelRequest`. */
  readonly running = new Map<Id, Fiber.RuntimeFiber<unknown, unknown>>()
  /** Every suspended handler fiber (requests and notifications), interrupted at close. */
  readonly fibers = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  readonly cancelled = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  /** Called when `inFlight` falls (a slot is free, or the session may be idle). */
  onSettle: (() => void) | undefined = undefined
  private readonly run: <A, E>(effect: Effect.Effect<A, E, R>) => Fiber.RuntimeFiber<A, E>
  private readonly spans: boolean

  constructor(readonly settings: Settings, readonly runtime: Runtime.Runtime<R>, readonly tracer: Tracer.Tracer) {
    this.run = Runtime.runFork(runtime)
    this.spans = settings.spans ?? !isNativeTracer(tracer)
  }

  /** Handles one frame; `sink` gets its reply text (undefined: no reply), now or later, once. */
  frame(bytes: Uint8Array, sink: Sink): void {
    const format = this.settings.format
    if (!isUtf8(bytes)) return sink(format.failure(null, JsonRpc.error(JsonRpc.PARSE_ERROR)))
    this.parsed(format.parse(asBuffer(bytes).toString("utf8")), sink)
  }

  /** Handles one parsed frame. */
  parsed(parsed: Parsed, sink: Sink): void {
    if (parsed._tag !== "Batch") return this.message(parsed, sink)
    const messages = parsed.messages
    if (messages.length > this.settings.maxBatch) {
      return sink(
        this.settings.format.failure(
          null,
          JsonRpc.error(JsonRpc.BATCH_TOO_LARGE, `${messages.length} messages, at most ${this.settings.maxBatch}`)
        )
      )
    }
    const replies: Array<string | undefined> = new Array(messages.length)
    let pending = messages.length
    const done = () => {
      const out: Array<string> = []
      for (const r of replies) if (r !== undefined) out.push(r)
      sink(out.length === 0 ? undefined : this.settings.format.batch(out))
    }
    for (let i = 0; i < messages.length; i++) {
      this.message(messages[i]!, (reply) => {
        replies[i] = reply
        if (--pending === 0) done()
      })
    }
  }

  private message(m: Incoming, sink: Sink): void {
    const format = this.settings.format
    switch (m._tag) {
      case "Ignored":
        return sink(undefined)
      case "Invalid":
        return sink(format.failure(m.id, m.error))
      case "Notification": {
        if (m.method === format.cancelMethod) {
          this.cancel(cancelId(m.params))
          return sink(undefined)
        }
        const entry = this.settings.entries.get(m.method)
        if (entry === undefined) return sink(undefined)
        if (this.draining) {
          if (this.settings.metrics) metrics.rejectedDraining.unsafeUpdate(1, entry.tags)
          return sink(undefined)
        }
        this.start(entry, m.params, null, false, sink)
        return
      }
      case "Request": {
        const entry = this.settings.entries.get(m.method)
        if (entry === undefined) {
          if (m.method === format.cancelMethod) {
            this.cancel(cancelId(m.params))
            return sink(format.success(m.id, null))
          }
          return sink(format.methodNotFound(m.id, m.method))
        }
        if (this.draining) {
          if (this.settings.metrics) metrics.rejectedDraining.unsafeUpdate(1, entry.tags)
          return sink(format.failure(m.id, JsonRpc.error(JsonRpc.SHUTTING_DOWN)))
        }
        if (this.settings.reject && this.inFlight >= this.settings.maxInFlight) {
          return sink(format.failure(m.id, JsonRpc.error(JsonRpc.OVERLOADED)))
        }
        if (m.id !== null && this.running.has(m.id)) {
          return sink(format.failure(m.id, JsonRpc.error(JsonRpc.INVALID_REQUEST, "id already in flight")))
        }
        this.start(entry, m.params, m.id, true, sink)
      }
    }
  }

  cancel(id: Id | undefined): void {
    if (id === undefined) return
    const fiber = this.running.get(id)
    if (fiber === undefined) return
    this.cancelled.add(fiber)
    fiber.unsafeInterruptAsFork(FiberId.none)
  }

  private start(entry: Entry, rawParams: unknown, id: Id, answer: boolean, sink: Sink): void {
    const format = this.settings.format
    let params: unknown = undefined
    if (entry.decodeParams !== undefined) {
      const decoded = entry.decodeParams(rawParams)
      if (decoded._tag === "Failure") {
        if (this.settings.metrics) {
          metrics.requests.unsafeUpdate(1, entry.tags)
          metrics.errors.unsafeUpdate(1, entry.tags)
        }
        const message = Cause.failureOption(decoded.cause)
        return sink(
          answer ? format.failure(id, JsonRpc.error(JsonRpc.INVALID_PARAMS, Option.getOrUndefined(message))) : undefined
        )
      }
      params = decoded.value
    }
    const started = this.settings.metrics ? performance.now() : 0
    let effect: Effect.Effect<unknown, unknown, R>
    try {
      effect = entry.handle(params) as Effect.Effect<unknown, unknown, R>
    } catch (defect) {
      effect = Effect.die(defect)
    }
    if (entry.timeout === undefined && Exit.isExit(effect)) {
      return sink(this.reply(entry, id, answer, effect, false, started))
    }
    if (entry.timeout !== undefined) {
      effect = Effect.timeoutFail(effect, { duration: entry.timeout, onTimeout: () => TIMEOUT })
    }
    if (this.spans) effect = Effect.withSpan(effect, entry.spanName, { kind: "server" })
    const fiber = this.run(effect)
    const exit = fiber.unsafePoll()
    if (exit !== null) return sink(this.reply(entry, id, answer, exit, false, started))
    this.inFlight++
    this.fibers.add(fiber)
    if (answer && id !== null) this.running.set(id, fiber)
    fiber.addObserver((exit) => {
      this.inFlight--
      this.fibers.delete(fiber)
      if (answer && id !== null && this.running.get(id) === fiber) this.running.delete(id)
      const cancelled = this.cancelled.delete(fiber)
      if (!this.closed) sink(this.reply(entry, id, answer, exit, cancelled, started))
      this.onSettle?.()
    })
  }

  private reply(
    entry: Entry,
    id: Id,
    answer: boolean,
    exit: Exit.Exit<unknown, unknown>,
    cancelled: boolean,
    started: number
  ): string | undefined {
    const format = this.settings.format
    let error: ErrorObject | undefined = undefined
    let text: string | undefined = undefined
    if (exit._tag === "Success") {
      if (answer) {
        const encoded = entry.encodeSuccess(exit.value)
        if (encoded._tag === "Success") text = format.success(id, encoded.value)
        else error = JsonRpc.error(JsonRpc.INTERNAL_ERROR)
      }
    } else {
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "Some") {
        const e = failure.value
        if (e === TIMEOUT) {
          error = JsonRpc.error(JsonRpc.REQUEST_TIMEOUT)
        } else {
          const encoded = entry.encodeError(e)
          error = encoded._tag === "Success"
            ? { code: entry.errorCode, message: errorMessage(e), data: encoded.value }
            : JsonRpc.error(JsonRpc.INTERNAL_ERROR)
        }
      } else if (Cause.isInterruptedOnly(exit.cause)) {
        error = JsonRpc.error(cancelled ? JsonRpc.REQUEST_CANCELLED : JsonRpc.DEADLINE_EXCEEDED)
      } else {
        error = JsonRpc.error(JsonRpc.INTERNAL_ERROR)
        this.run(Effect.logError(`effect-wire: the handler of ${entry.definition.name} died`, exit.cause))
      }
    }
    if (this.settings.metrics) {
      metrics.requests.unsafeUpdate(1, entry.tags)
      if (error !== undefined) metrics.errors.unsafeUpdate(1, entry.tags)
      metrics.latency.unsafeUpdate(performance.now() - started, entry.tags)
    }
    if (!answer) return undefined
    return error === undefined ? text : format.failure(id, error)
  }

  /** Interrupts every handler still running (the connection is gone). */
  interruptAll(): Effect.Effect<void> {
    this.closed = true
    const fibers = Array.from(this.fibers)
    this.fibers.clear()
    this.running.clear()
    return fibers.length === 0 ? Effect.void : Fiber.interruptAll(fibers)
  }
}

const settingsOf = <Names extends string, FE>(
  protocol: Protocol.Protocol<Protocol.AnyDefinition>,
  handlers: object,
  options: RpcServerOptions<Names, FE>
): Settings => ({
  format: options.format ?? JsonRpc.format,
  entries: compile(
    protocol,
    handlers as Readonly<Record<string, (params: unknown) => Effect.Effect<unknown, unknown, unknown>>>,
    options.timeout as Duration.DurationInput | Readonly<Record<string, Duration.DurationInput | undefined>> | undefined
  ),
  maxInFlight: intOption("RpcServer", "maxInFlight", options.maxInFlight, 128, 1, 1_048_576),
  reject: oneOf("RpcServer", "onOverload", options.onOverload, "backpressure", ["backpressure", "reject"]) === "reject",
  maxBatch: intOption("RpcServer", "maxBatch", options.maxBatch, 1024, 1, 1_048_576),
  spans: options.spans,
  metrics: options.metrics ?? true
})

// ---------------------------------------------------------------------------------------------
// The connection handler


const tagOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && typeof (e as { readonly _tag?: unknown })._tag === "string"
    ? (e as { readonly _tag: string })._tag
    : undefined

/** The id of a reply (on the rare path where a reply cannot be sent). */
const idOf = (reply: Uint8Array): Id => {
  try {
    const id: unknown = JSON.parse(asBuffer(reply).toString("utf8"))?.id
    return typeof id === "string" || typeof id === "number" ? id : null
  } catch {
    return null
  }
}

/** What to answer a framing error with before closing (nothing for connection errors). */
const framingReply = (format: RpcFormat, e: unknown): string | undefined => {
  const tag = tagOf(e)
  if (tag === undefined || isConnectionError(e) || tag === "UnexpectedEof") return undefined
  const message = typeof (e as { readonly message?: unknown }).message === "string"
    ? (e as { readonly message: string }).message
    : undefined
  return format.failure(
    null,
    JsonRpc.error(tag === "FrameTooLarge" ? JsonRpc.FRAME_TOO_LARGE : JsonRpc.FRAMING_ERROR, message)
  )
}

/**
 * A connection handler for `Server.make` serving `protocol` with `handlers` (one per definition,
 * typed by the protocol: see `Protocol.Handlers`). See the module doc for what it does.
 *
 * @example
 * ```ts
 * yield* Server.make({ port: 0 }, RpcServer.handler(Calc, handlers, { framing: Framing.contentLength() }))
 * ```
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
  const settings = settingsOf(protocol, handlers, options)
  const framing = (options.framing ?? Framing.lines()) as Codec.Codec<Uint8Array, FE>
  return (connection) => serveConnection<R, FE>(settings, framing, connection)
}

const serveConnection = <R, FE>(
  settings: Settings,
  framing: Codec.Codec<Uint8Array, FE>,
  connection: Connection.Connection
): Effect.Effect<void, FE | ConnectionError, R> =>
  Effect.gen(function*() {
    const registry = yield* Effect.serviceOption(ServerRegistry)
    const runtime = yield* Effect.runtime<R>()
    const tracer = yield* Effect.tracer
    const session = new Session<R>(settings, runtime, tracer)
    const busy = () => session.inFlight > 0
    // Requests in flight hold the drain open and keep the idle timeout from closing the connection.
    const framed = connection.framed(framing, { holdOnDrain: busy, holdIdle: busy })
    const out: Array<Uint8Array> = []
    const sink: Sink = (reply) => {
      if (reply !== undefined) out.push(Buffer.from(reply, "utf8"))
    }
    const takeOut = () => out.splice(0, out.length)
    // A reply the framing refuses (over its limit) becomes an INTERNAL_ERROR reply to its id.
    const isEncodeError = (e: unknown) => !isConnectionError(e)
    const oneByOne = (replies: ReadonlyArray<Uint8Array>) =>
      Effect.forEach(replies, (reply) =>
        framed.send(reply).pipe(
          Effect.catchIf(isEncodeError, () =>
            framed.send(Buffer.from(
              settings.format.failure(idOf(reply), JsonRpc.error(JsonRpc.INTERNAL_ERROR, "reply too large for the framing")),
              "utf8"
            ))),
          Effect.catchIf(isEncodeError, () => Effect.void)
        ), { discard: true })
    const flush = Effect.suspend(() => {
      if (out.length === 0) return Effect.void
      const replies = takeOut()
      return Effect.catchIf(framed.sendAll(replies), isEncodeError, () => oneByOne(replies))
    })

    // Replies of handlers that complete later are written by this fiber, as many as are ready.
    let writerWake: (() => void) | undefined = undefined
    let writerPending = false
    const signalWriter = () => {
      writerPending = true
      const w = writerWake
      if (w !== undefined) {
        writerWake = undefined
        w()
      }
    }
    const waitWork = Effect.async<void>((resume) => {
      if (writerPending) return resume(Effect.void)
      writerWake = () => resume(Effect.void)
      return Effect.sync(() => {
        writerWake = undefined
      })
    })
    const writer = Effect.forever(
      Effect.zipRight(waitWork, Effect.suspend(() => {
        writerPending = false
        return flush
      }))
    )

    // Waits until `inFlight` is below `limit` (0: until every handler is done).
    let settleWake: (() => void) | undefined = undefined
    const waitInFlight = (limit: number) =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (session.inFlight < limit || (limit === 0 && session.inFlight === 0)) {
            settleWake = undefined
            resume(Effect.void)
            return true
          }
          return false
        }
        if (check()) return
        settleWake = () => void check()
        return Effect.sync(() => {
          settleWake = undefined
        })
      })
    session.onSettle = () => {
      signalWriter()
      settleWake?.()
      // The last request settled: a drain may end the reads, and the idle timeout starts.
      if (session.inFlight === 0) Effect.runSync(framed.recheck)
    }

    const handleFrames = (frames: ReadonlyArray<Uint8Array>, from: number): Effect.Effect<void, FE | ConnectionError> =>
      Effect.suspend(() => {
        for (let i = from; i < frames.length; i++) {
          if (!settings.reject && session.inFlight >= settings.maxInFlight) {
            // At the limit: stop reading until a request completes.
            return Effect.zipRight(
              Effect.zipRight(flush, waitInFlight(settings.maxInFlight)),
              handleFrames(frames, i)
            )
          }
          session.frame(frames[i]!, sink)
        }
        if (registry._tag === "Some") registry.value.framesHandled(frames.length - from)
        return flush
      })

    const watchDrain = Effect.zipRight(
      connection.draining,
      Effect.zipRight(Effect.sync(() => {
        session.draining = true
      }), framed.recheck)
    )

    const main = Effect.gen(function*() {
      yield* Effect.forkScoped(writer)
      yield* Effect.forkScoped(watchDrain)
      const read = yield* Effect.either(
        Stream.runForEachChunk(framed.frames, (chunk) => handleFrames(Chunk.toReadonlyArray(chunk), 0))
      )
      // EOF, drain or error: answer what was received, then close.
      const readError = read._tag === "Left" ? read.left : undefined
      if (readError !== undefined && isConnectionError(readError)) return yield* Effect.fail(readError)
      yield* waitInFlight(0)
      if (readError !== undefined) {
        sink(framingReply(settings.format, readError))
        yield* flush
        return yield* Effect.fail(readError)
      }
      yield* flush
    })

    yield* Effect.scoped(main).pipe(
      Effect.onExit((exit) =>
        Effect.suspend(() => {
          if (session.fibers.size === 0) {
            session.closed = true
            return Effect.void
          }
          // Interrupted (server deadline) or failed while handlers run: tell their peers the
          // outcome is unknown, briefly, then interrupt them.
          const interrupted = Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
          const notice = interrupted
            ? Array.from(session.running.keys(), (id) =>
              Buffer.from(settings.format.failure(id, JsonRpc.error(JsonRpc.DEADLINE_EXCEEDED)), "utf8"))
            : []
          const tell = notice.length === 0
            ? Effect.void
            : Effect.interruptible(framed.sendAll(notice)).pipe(Effect.timeout("1 second"), Effect.ignore)
          return Effect.zipRight(tell, session.interruptAll())
        })
      )
    )
  })

/**
 * An in-memory server for tests and other transports: `dispatch(text)` handles one frame's text
 * and returns its reply text (`undefined` when there is none: notifications, an all-notification
 * batch). Handlers still running when the scope closes are interrupted.
 *
 * @example
 * ```ts
 * const dispatch = yield* RpcServer.dispatcher(Calc, handlers)
 * yield* dispatch('{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":2}}') // '{"jsonrpc":"2.0","id":1,"result":3}'
 * ```
 */
export const dispatcher = <P extends Protocol.Protocol<Protocol.AnyDefinition>, H extends Protocol.Handlers<P, unknown>>(
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
    const settings = settingsOf(protocol, handlers, options)
    const runtime = yield* Effect.runtime<R>()
    const session = new Session<R>(settings, runtime, yield* Effect.tracer)
    yield* Effect.addFinalizer(() => session.interruptAll())
    return (text: string) =>
      Effect.async<string | undefined>((resume) => {
        session.frame(Buffer.from(text, "utf8"), (reply) => resume(Effect.succeed(reply)))
      })
  })
