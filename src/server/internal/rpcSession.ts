/**
 * One connection's RPC requests, independent of I/O: the compiled protocol (`settingsOf`), and
 * a `Session` that turns frames into replies (at once, or later for handlers that suspend).
 * Used by `RpcServer.handler` (over a connection) and `RpcServer.dispatcher` (in memory).
 */
import {
  Cause,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  FiberId,
  Metric,
  MetricBoundaries,
  MetricLabel,
  ParseResult,
  Runtime,
  Schema,
  type Tracer
} from "effect"
import { TextDecoder } from "node:util"
import { intOption, oneOf } from "../../internal/options.js"
import { capText } from "../../internal/text.js"
import * as JsonRpc from "../../protocol/JsonRpc.js"
import type * as Protocol from "../../protocol/Protocol.js"
import type { ErrorObject, Id, Incoming, Parsed, RpcFormat } from "../../protocol/RpcFormat.js"
import type { RpcServerOptions } from "../RpcServer.js"
import { FailureLog } from "./failureLog.js"

/** Per-method metrics, tagged with `method` (and `server` when served by `Server.make`). */
export const metrics = {
  requests: Metric.counter("effect_wire_rpc_requests", { description: "RPC requests handled" }),
  errors: Metric.counter("effect_wire_rpc_errors", { description: "RPC requests answered with an error" }),
  latency: Metric.histogram(
    "effect_wire_rpc_latency_ms",
    MetricBoundaries.exponential({ start: 0.01, factor: 2, count: 24 }),
    "RPC request latency in milliseconds, from the frame's parsing to its reply"
  ),
  rejectedDraining: Metric.counter("effect_wire_rpc_rejected_draining", {
    description: "requests answered SHUTTING_DOWN and notifications dropped during a drain"
  })
}

// ---------------------------------------------------------------------------------------------
// Compiled protocol

const TIMEOUT: unique symbol = Symbol.for("effect-wire/RpcServer/timeout")

interface Entry {
  readonly definition: Protocol.AnyDefinition
  readonly isMethod: boolean
  readonly handle: (params: unknown) => Effect.Effect<unknown, unknown, unknown>
  readonly decodeParams: Run | undefined
  readonly encodeSuccess: Run
  readonly encodeError: Run
  readonly errorCode: number
  readonly timeout: Duration.Duration | undefined
  readonly tags: ReadonlyArray<MetricLabel.MetricLabel>
  readonly spanName: string
  /** Requests and errors not yet added to `metrics` (see `Session.endBatch`). */
  readonly pending: { requests: number; errors: number }
}

type Run = (u: unknown) => Either.Either<unknown, ParseResult.ParseError>

// The formatted error quotes the params: 1 MB of bad params must not make a 1 MB reply. (Their
// depth is bounded by the format's `maxDepth`, which keeps the formatter's recursion safe.)
const message = (error: ParseResult.ParseError): string => capText(ParseResult.TreeFormatter.formatErrorSync(error))
const NULL: Either.Either<unknown, ParseResult.ParseError> = Either.right(null)

type AnyCodec = Schema.Schema<unknown, unknown, never>

const KEYWORDS: Readonly<Record<string, string>> = {
  NumberKeyword: "number",
  StringKeyword: "string",
  BooleanKeyword: "boolean"
}

/**
 * The params decoder of a method: `Schema.decodeUnknownEither`, with a shortcut for the most
 * common shape, a struct of required numbers, strings and booleans (`{ a: Schema.Number, … }`):
 * its values are checked with `typeof` and copied without the Schema interpreter. Input the
 * shortcut does not accept goes through the Schema decoder, for its result and error message, so
 * the result is the same either way (a test checks it on arbitrary input).
 */
export const decodeParams = (schema: AnyCodec): Run => {
  const decode = Schema.decodeUnknownEither(schema)
  const ast = schema.ast
  if (ast._tag !== "TypeLiteral" || ast.indexSignatures.length > 0) return decode
  const keys: Array<string> = []
  const types: Array<string> = []
  for (const property of ast.propertySignatures) {
    const type = KEYWORDS[property.type._tag]
    if (
      typeof property.name !== "string" || property.name === "__proto__" || property.isOptional || type === undefined
    ) {
      return decode
    }
    keys.push(property.name)
    types.push(type)
  }
  return (u) => {
    if (typeof u !== "object" || u === null) return decode(u)
    const out: Record<string, unknown> = {}
    for (let i = 0; i < keys.length; i++) {
      const value = (u as Record<string, unknown>)[keys[i]!]
      if (typeof value !== types[i]) return decode(u)
      out[keys[i]!] = value
    }
    return Either.right(out)
  }
}

const compile = (
  protocol: Protocol.Protocol<Protocol.AnyDefinition>,
  handlers: Readonly<Record<string, (params: unknown) => Effect.Effect<unknown, unknown, unknown>>>,
  timeout: Duration.DurationInput | Readonly<Record<string, Duration.DurationInput | undefined>> | undefined
): Map<string, Entry> => {
  const entries = new Map<string, Entry>()
  const perMethod =
    typeof timeout === "object" && timeout !== null && !Duration.isDuration(timeout) && !Array.isArray(timeout)
      ? timeout as Readonly<Record<string, Duration.DurationInput | undefined>>
      : undefined
  for (const [name, definition] of protocol.definitions) {
    const handle = handlers[name]
    if (typeof handle !== "function") {
      throw new Cause.IllegalArgumentException(`RpcServer.handler: no handler for ${name}`)
    }
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
      decodeParams: definition.hasParams ? decodeParams(definition.params as AnyCodec) : undefined,
      encodeSuccess: isMethod
        ? Schema.encodeUnknownEither((definition as Protocol.AnyMethod).success as AnyCodec)
        : () => NULL,
      encodeError: isMethod
        ? Schema.encodeUnknownEither((definition as Protocol.AnyMethod).error as AnyCodec)
        : () => NULL,
      errorCode: isMethod ? (definition as Protocol.AnyMethod).errorCode : 1,
      timeout: millis === undefined || millis === Infinity ? undefined : Duration.millis(millis),
      tags: [MetricLabel.make("method", name)],
      spanName: `rpc.${name}`,
      pending: { requests: 0, errors: 0 }
    })
  }
  for (const name of Object.keys(handlers)) {
    if (!entries.has(name)) {
      throw new Cause.IllegalArgumentException(`RpcServer.handler: ${name} is not in the protocol`)
    }
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
const isNativeTracer = (tracer: Tracer.Tracer): boolean => tracer === (nativeTracer ??= Effect.runSync(Effect.tracer))

// ---------------------------------------------------------------------------------------------
// The session: one connection's requests, independent of I/O

export type Sink = (reply: string | undefined) => void

/** Settings shared by every session of one handler. */
export interface Settings {
  readonly format: RpcFormat
  /** Entries with `pending` counts (shared by the connections of one handler). */
  readonly dirty: Array<Entry>
  readonly entries: Map<string, Entry>
  readonly maxInFlight: number
  readonly reject: boolean
  readonly maxBatch: number
  readonly spans: boolean | undefined
  readonly metrics: boolean
  /** The log of handlers' defects (shared by the connections of one handler, so rate-limited together). */
  readonly failures: FailureLog
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const flushCounts = (settings: Settings): void => {
  for (const entry of settings.dirty) {
    const pending = entry.pending
    metrics.requests.unsafeUpdate(pending.requests, entry.tags)
    if (pending.errors > 0) metrics.errors.unsafeUpdate(pending.errors, entry.tags)
    pending.requests = 0
    pending.errors = 0
  }
  settings.dirty.length = 0
}

const cancelId = (params: unknown): Id | undefined => {
  if (typeof params !== "object" || params === null) return undefined
  const id = Array.isArray(params) ? params[0] : (params as { readonly id?: unknown }).id
  return typeof id === "string" || typeof id === "number" ? id : undefined
}

/** At most this many requests wait in a batch's queue: bounds the wait of the first. */
const MAX_QUEUED = 64

/** A request read in a batch, waiting to run with the others (see `Session.runQueued`). */
class Queued {
  constructor(
    readonly entry: Entry,
    readonly effect: Effect.Effect<unknown, unknown, unknown>,
    readonly id: Id,
    readonly answer: boolean,
    readonly sink: Sink,
    readonly started: number
  ) {}
}

/**
 * The fiber program of a batch: each queued handler in turn, its exit recorded. Once the batch
 * is `detached` (its fiber suspended in the handler at `current`), it stops after that one.
 */
class QueuedRun {
  next = 0
  current = -1
  detached = false
  readonly exits: Array<Exit.Exit<unknown, unknown>>
  readonly program: Effect.Effect<void, never, unknown>

  constructor(readonly queue: ReadonlyArray<Queued>) {
    this.exits = new Array(queue.length)
    const step: Effect.Effect<void, never, unknown> = Effect.suspend(() => {
      if (this.detached || this.next >= queue.length) return Effect.void
      const k = this.current = this.next
      return Effect.flatMap(Effect.exit(queue[k]!.effect), (exit) => {
        this.exits[k] = exit
        this.next = k + 1
        if (this.detached) return Effect.void
        this.current = -1
        return step
      })
    })
    this.program = step
  }
}

export class Session<R> {
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
  /** Inside a batch (`beginBatch`): metrics counts wait for `endBatch`, and timings chain. */
  private batching = false
  /** When the current frame's handling began (metrics on). */
  private started = 0
  /** In a batch: when the last reply was made (the next frame begins then). */
  private mark = -1
  /** In a batch: the requests waiting to run together (see `runQueued`). */
  private queued: Array<Queued> = []

  /**
   * `boundary` runs the code that settles a suspended handler (its reply's formatting and the
   * sink), which its fiber's observer calls outside any fiber: a connection routes it through its
   * guard, so that a throw there ends that connection, not the process. By default a throw is
   * answered INTERNAL_ERROR (see `settleSafely`).
   */
  constructor(
    readonly settings: Settings,
    readonly runtime: Runtime.Runtime<R>,
    readonly tracer: Tracer.Tracer,
    private readonly boundary?: (settle: () => void) => void
  ) {
    this.run = Runtime.runFork(runtime)
    this.spans = settings.spans ?? !isNativeTracer(tracer)
  }

  /**
   * Starts a batch of frames handled together (one read). Until `endBatch`, the request and error
   * counters are gathered (one metric update per method per batch), and one clock reading ends a
   * request's latency and begins the next's.
   */
  beginBatch(): void {
    this.batching = true
    this.mark = -1
  }

  /** Ends a batch: adds the gathered counts to `metrics`. */
  endBatch(): void {
    this.runQueued()
    this.batching = false
    this.mark = -1
    if (this.settings.dirty.length > 0) flushCounts(this.settings)
  }

  private now(): number {
    if (!this.batching) return performance.now()
    return this.mark >= 0 ? this.mark : (this.mark = performance.now())
  }

  /** Handles one frame; `sink` gets its reply text (undefined: no reply), now or later, once. */
  frame(bytes: Uint8Array, sink: Sink): void {
    const format = this.settings.format
    if (this.settings.metrics) this.started = this.now()
    let text: string
    try {
      text = utf8.decode(bytes)
    } catch {
      return sink(format.failure(null, JsonRpc.error(JsonRpc.PARSE_ERROR)))
    }
    this.parsed(format.parse(text), sink)
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
        if (m.id !== null && (this.running.has(m.id) || this.isQueued(m.id))) {
          return sink(format.failure(m.id, JsonRpc.error(JsonRpc.INVALID_REQUEST, "id already in flight")))
        }
        this.start(entry, m.params, m.id, true, sink)
      }
    }
  }

  cancel(id: Id | undefined): void {
    if (id === undefined) return
    // A request queued in this batch is cancellable as soon as it was read, as a fiber is.
    this.runQueued()
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
      if (decoded._tag === "Left") {
        if (this.settings.metrics) this.count(entry, true)
        return sink(
          answer ? format.failure(id, JsonRpc.error(JsonRpc.INVALID_PARAMS, message(decoded.left))) : undefined
        )
      }
      params = decoded.right
    }
    const started = this.started
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
    } else if (this.batching) {
      // A timeout races a timer, so such a handler always suspends: only the others are queued.
      if (this.spans) effect = Effect.withSpan(effect, entry.spanName, { kind: "server" })
      this.inFlight++
      this.queued.push(new Queued(entry, effect, id, answer, sink, started))
      if (this.queued.length >= MAX_QUEUED || this.inFlight >= this.settings.maxInFlight) this.runQueued()
      return
    }
    if (this.spans) effect = Effect.withSpan(effect, entry.spanName, { kind: "server" })
    const fiber = this.run(effect)
    const exit = fiber.unsafePoll()
    if (exit !== null) return sink(this.reply(entry, id, answer, exit, false, started))
    this.inFlight++
    this.watch(fiber, entry, id, answer, sink, started, undefined)
  }

  /**
   * Runs the requests queued in this batch one after the other in one fiber, which is what
   * answers them inside the read: most handlers (`Effect.gen`, `map` chains, Schema work)
   * complete without suspending, and one fiber for the read costs less than one per request.
   * When a handler does suspend, it keeps that fiber, and each request queued after it gets a
   * fiber of its own at once, as it would have without the queue: requests still run
   * concurrently, and a slow one holds up none of the others.
   */
  private runQueued(): void {
    const queue = this.queued
    if (queue.length === 0) return
    this.queued = []
    const batch = new QueuedRun(queue)
    const fiber = this.run(batch.program as Effect.Effect<void, never, R>)
    const done = fiber.unsafePoll() !== null
    batch.detached = true
    const settled = done ? queue.length : batch.next
    for (let i = 0; i < settled; i++) {
      const q = queue[i]!
      this.inFlight--
      q.sink(this.reply(q.entry, q.id, q.answer, batch.exits[i]!, false, q.started))
    }
    if (done) return
    const current = batch.current
    if (current !== -1) {
      // The suspended handler stays in the batch's fiber (its slot in `inFlight` too).
      const q = queue[current]!
      this.watch(fiber, q.entry, q.id, q.answer, q.sink, q.started, batch)
    }
    for (let i = current === -1 ? settled : current + 1; i < queue.length; i++) {
      const q = queue[i]!
      this.inFlight--
      const own = this.run(q.effect as Effect.Effect<unknown, unknown, R>)
      const exit = own.unsafePoll()
      if (exit !== null) q.sink(this.reply(q.entry, q.id, q.answer, exit, false, q.started))
      else {
        this.inFlight++
        this.watch(own, q.entry, q.id, q.answer, q.sink, q.started, undefined)
      }
    }
  }

  /**
   * Follows a suspended handler's fiber: its reply is made when it ends (from the batch's record
   * of the request's exit, for a batch's fiber that was not interrupted).
   */
  private watch(
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    entry: Entry,
    id: Id,
    answer: boolean,
    sink: Sink,
    started: number,
    batch: QueuedRun | undefined
  ): void {
    this.fibers.add(fiber)
    if (answer && id !== null) this.running.set(id, fiber)
    fiber.addObserver((fiberExit) => {
      this.inFlight--
      this.fibers.delete(fiber)
      if (answer && id !== null && this.running.get(id) === fiber) this.running.delete(id)
      const cancelled = this.cancelled.delete(fiber)
      const exit = batch !== undefined && fiberExit._tag === "Success" ? batch.exits[batch.current]! : fiberExit
      if (!this.closed) {
        const settle = () => sink(this.reply(entry, id, answer, exit, cancelled, started))
        if (this.boundary !== undefined) this.boundary(settle)
        else this.settleSafely(settle, id, answer, sink)
      }
      this.onSettle?.()
    })
  }

  /** Settles with INTERNAL_ERROR when building the reply throws (a session with no boundary). */
  private settleSafely(settle: () => void, id: Id, answer: boolean, sink: Sink): void {
    try {
      settle()
    } catch (defect) {
      this.run(this.settings.failures.failed("building an RPC reply", Cause.die(defect)))
      sink(answer ? this.settings.format.failure(id, JsonRpc.error(JsonRpc.INTERNAL_ERROR)) : undefined)
    }
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
        if (encoded._tag === "Right") text = format.success(id, encoded.right)
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
          error = encoded._tag === "Right"
            ? { code: entry.errorCode, message: errorMessage(e), data: encoded.right }
            : JsonRpc.error(JsonRpc.INTERNAL_ERROR)
        }
      } else if (Cause.isInterruptedOnly(exit.cause)) {
        error = JsonRpc.error(cancelled ? JsonRpc.REQUEST_CANCELLED : JsonRpc.DEADLINE_EXCEEDED)
      } else {
        error = JsonRpc.error(JsonRpc.INTERNAL_ERROR)
        this.run(this.settings.failures.failed(`the handler of ${entry.definition.name}`, exit.cause))
      }
    }
    if (this.settings.metrics) {
      const now = performance.now()
      if (this.batching) this.mark = now
      metrics.latency.unsafeUpdate(now - started, entry.tags)
      this.count(entry, error !== undefined)
    }
    if (!answer) return undefined
    return error === undefined ? text : format.failure(id, error)
  }

  /** Counts a request (in a batch: at `endBatch`). */
  private count(entry: Entry, failed: boolean): void {
    const pending = entry.pending
    if (pending.requests === 0) this.settings.dirty.push(entry)
    pending.requests++
    if (failed) pending.errors++
    if (!this.batching) flushCounts(this.settings)
  }

  private isQueued(id: Id): boolean {
    for (const q of this.queued) if (q.answer && q.id === id) return true
    return false
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

export const settingsOf = <Names extends string, FE>(
  protocol: Protocol.Protocol<Protocol.AnyDefinition>,
  handlers: object,
  options: RpcServerOptions<Names, FE>
): Settings => ({
  format: options.format ?? JsonRpc.format,
  dirty: [],
  entries: compile(
    protocol,
    handlers as Readonly<Record<string, (params: unknown) => Effect.Effect<unknown, unknown, unknown>>>,
    options.timeout as Duration.DurationInput | Readonly<Record<string, Duration.DurationInput | undefined>> | undefined
  ),
  maxInFlight: intOption("RpcServer", "maxInFlight", options.maxInFlight, 128, 1, 1_048_576),
  reject: oneOf("RpcServer", "onOverload", options.onOverload, "backpressure", ["backpressure", "reject"]) === "reject",
  maxBatch: intOption("RpcServer", "maxBatch", options.maxBatch, 1024, 1, 1_048_576),
  spans: options.spans,
  metrics: options.metrics ?? true,
  failures: new FailureLog(options.logFailures ?? true, Date.now)
})
