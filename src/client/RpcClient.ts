/**
 * A typed client of a `Protocol`: one property per definition, so `client.add({ a: 1, b: 2 })` is
 * an `Effect` of the method's success, failing with the method's typed error or an
 * `RpcClientError` (the server's untyped error, a timeout, the connection closing, a value that
 * does not match its Schema). A call that does not match the protocol does not compile.
 *
 * - Many calls may be in flight on one connection: they are written as they are made
 *   (pipelined) and matched to their replies by id, in whatever order replies come.
 * - Every call has a timeout (default 30 s, per call with `{ timeout }`); when it runs out, or the
 *   caller interrupts the call, the call ends at once, the server is told (`$/cancelRequest`, for
 *   formats that have it) and a late reply is dropped.
 * - When the connection drops, every pending call settles exactly once with `ConnectionClosed`;
 *   later calls fail with it at once. No call ever hangs past its timeout.
 * - When the server closes the connection, the client answers with its FIN at once, even on a
 *   connection made with `allowHalfOpen: true`: a server shutting down never waits for it.
 *
 * @example
 * ```ts
 * import { Console, Effect, Schema } from "effect"
 * import { Protocol, RpcClient, RpcServer, Server } from "effect-wire"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number }),
 *   Protocol.notification("log", { params: { line: Schema.String } })
 * )
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, {
 *     add: ({ a, b }) => Effect.succeed(a + b),
 *     log: ({ line }) => Console.log(`server: ${line}`)
 *   }))
 *   const client = yield* RpcClient.connect(Calc, { port: server.address.port })
 *   yield* client.log({ line: "hello" }) // a notification: no reply
 *   const sum = yield* client.add({ a: 1, b: 2 })
 *   console.log(`client: ${sum}`)
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output:
 * // server: hello
 * // client: 3
 * ```
 *
 * @since 0.1.0
 */
import {
  Cause,
  type Context,
  Data,
  Duration,
  Effect,
  type Either,
  Exit,
  Layer,
  ParseResult,
  Pool,
  Predicate,
  Schema,
  type Scope,
  Stream
} from "effect"
import { Buffer, isUtf8 } from "node:buffer"
import type * as Connection from "../connection/Connection.js"
import * as ConnectionModule from "../connection/Connection.js"
import { ConnectionClosed, isConnectionError } from "../connection/ConnectionError.js"
import * as Timers from "../connection/Timers.js"
import { asBuffer } from "../internal/bytes.js"
import { intOption } from "../internal/options.js"
import type * as Codec from "../protocol/Codec.js"
import * as Framing from "../protocol/Framing.js"
import * as JsonRpc from "../protocol/JsonRpc.js"
import type * as Protocol from "../protocol/Protocol.js"
import type { ErrorObject, RpcFormat } from "../protocol/RpcFormat.js"
import * as Client from "./Client.js"

/**
 * The mark of the errors this module defines (`RpcRemoteError`, `RpcTimeout`, `RpcEncodeError`,
 * `RpcDecodeError`; see `isRpcClientError`).
 *
 * @since 0.1.0
 * @category type ids
 */
export const RpcClientErrorTypeId: unique symbol = Symbol.for("effect-wire/RpcClientError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type RpcClientErrorTypeId = typeof RpcClientErrorTypeId

/**
 * The server answered with an error that is not the method's typed error (`code` says which).
 *
 * @since 0.1.0
 * @category errors
 */
export class RpcRemoteError extends Data.TaggedError("RpcRemoteError")<{
  readonly method: string
  readonly code: number
  readonly detail: string
  readonly data: unknown
}> {
  /**
   * @since 0.1.0
   */
  readonly [RpcClientErrorTypeId]: RpcClientErrorTypeId = RpcClientErrorTypeId

  /** Whether the request was not processed and may be sent again (shutting down, overloaded). */
  get retryable(): boolean {
    return JsonRpc.isRetryable(this.code)
  }
  override get message(): string {
    return `${this.method}: error ${this.code}: ${this.detail}`
  }
}

/**
 * The call's timeout ran out; the server was told to cancel it.
 *
 * @since 0.1.0
 * @category errors
 */
export class RpcTimeout extends Data.TaggedError("RpcTimeout")<{
  readonly method: string
  readonly millis: number
}> {
  /**
   * @since 0.1.0
   */
  readonly [RpcClientErrorTypeId]: RpcClientErrorTypeId = RpcClientErrorTypeId

  override get message(): string {
    return `${this.method}: no reply within ${this.millis} ms`
  }
}

/**
 * The params could not be encoded by their Schema (nothing was sent).
 *
 * @since 0.1.0
 * @category errors
 */
export class RpcEncodeError extends Data.TaggedError("RpcEncodeError")<{
  readonly method: string
  readonly detail: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [RpcClientErrorTypeId]: RpcClientErrorTypeId = RpcClientErrorTypeId

  override get message(): string {
    return `${this.method}: the params do not match their Schema: ${this.detail}`
  }
}

/**
 * The reply does not match the method's success or error Schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class RpcDecodeError extends Data.TaggedError("RpcDecodeError")<{
  readonly method: string
  readonly detail: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [RpcClientErrorTypeId]: RpcClientErrorTypeId = RpcClientErrorTypeId

  override get message(): string {
    return `${this.method}: the reply does not match its Schema: ${this.detail}`
  }
}

/**
 * Every error of a call besides the method's typed error: this module's, and the connection's
 * `ConnectionError.ConnectionClosed`.
 *
 * @since 0.1.0
 * @category errors
 */
export type RpcClientError = RpcRemoteError | RpcTimeout | ConnectionClosed | RpcEncodeError | RpcDecodeError

/**
 * Whether `u` is an `RpcClientError`: one of this module's errors (by `RpcClientErrorTypeId`) or
 * a `ConnectionError.ConnectionClosed` (by the connection errors' `TypeId`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isRpcClientError = (u: unknown): u is RpcClientError =>
  Predicate.hasProperty(u, RpcClientErrorTypeId) || (isConnectionError(u) && u._tag === "ConnectionClosed")

/**
 * Options of one call.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOptions {
  /** Overrides the client's timeout for this call. */
  readonly timeout?: Duration.DurationInput
}

/**
 * The function calling one method; `E` is what getting a connection may fail with besides
 * (`Client.ConnectFailure` for a pool-backed client, nothing for one connection).
 *
 * @since 0.1.0
 * @category models
 */
export type Call<D extends Protocol.AnyMethod, E = never> = [Protocol.Params<D>] extends [void] ? (
    params?: Protocol.Params<D>,
    options?: CallOptions
  ) => Effect.Effect<Protocol.Success<D>, Protocol.Failure<D> | RpcClientError | E>
  : (
    params: Protocol.Params<D>,
    options?: CallOptions
  ) => Effect.Effect<Protocol.Success<D>, Protocol.Failure<D> | RpcClientError | E>

/**
 * The function sending one notification (it completes once the message is written).
 *
 * @since 0.1.0
 * @category models
 */
export type Notify<D extends Protocol.AnyNotification, E = never> = [Protocol.Params<D>] extends [void]
  ? (params?: Protocol.Params<D>) => Effect.Effect<void, RpcClientError | E>
  : (params: Protocol.Params<D>) => Effect.Effect<void, RpcClientError | E>

/**
 * A typed client of protocol `P`: one function per definition. `E` is the extra error of every
 * call: `never` for a client over one connection (`make`, `connect`, `layer`),
 * `Client.ConnectFailure` for a pool-backed one (`pool`, `layerPool`), whose calls may have to
 * wait for a connection to be made.
 *
 * @since 0.1.0
 * @category models
 */
export type RpcClient<P extends Protocol.Protocol<Protocol.AnyDefinition>, E = never> = {
  readonly [D in Protocol.DefinitionsOf<P> as D["name"]]: D extends Protocol.AnyMethod ? Call<D, E>
    : D extends Protocol.AnyNotification ? Notify<D, E>
    : never
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcClientOptions<FE> {
  /** The wire format. Default `JsonRpc.format`. */
  readonly format?: RpcFormat
  /** The framing. Default `Framing.lines()` (newline-delimited JSON). */
  readonly framing?: Codec.Codec<Uint8Array, FE>
  /** Timeout of every call. Default 30 s. */
  readonly timeout?: Duration.DurationInput
}

type AnyCodec = Schema.Schema<unknown, unknown, never>
type Run = (u: unknown) => Either.Either<unknown, ParseResult.ParseError>

/** A definition with its Schemas compiled once (per protocol, see `entriesOf`). */
interface Entry {
  readonly name: string
  readonly isMethod: boolean
  readonly hasParams: boolean
  readonly errorCode: number
  readonly encodeParams: Run
  readonly decodeSuccess: Run
  readonly decodeError: Run
}

const formatError = (error: ParseResult.ParseError): string => ParseResult.TreeFormatter.formatErrorSync(error)

const identity: Run = (u) => ({ _tag: "Right", right: u }) as Either.Either<unknown, never>

/** The compiled definitions of each protocol a client was made for: built once, shared by every connection. */
const compiled = new WeakMap<Protocol.Protocol<Protocol.AnyDefinition>, ReadonlyArray<Entry>>()

const entriesOf = (protocol: Protocol.Protocol<Protocol.AnyDefinition>): ReadonlyArray<Entry> => {
  let entries = compiled.get(protocol)
  if (entries === undefined) {
    entries = Array.from(protocol.definitions, ([name, d]): Entry => {
      const isMethod = d._tag === "Method"
      return {
        name,
        isMethod,
        hasParams: d.hasParams,
        errorCode: isMethod ? (d as Protocol.AnyMethod).errorCode : 1,
        encodeParams: Schema.encodeUnknownEither(d.params as AnyCodec),
        decodeSuccess: isMethod ? Schema.decodeUnknownEither((d as Protocol.AnyMethod).success as AnyCodec) : identity,
        decodeError: isMethod ? Schema.decodeUnknownEither((d as Protocol.AnyMethod).error as AnyCodec) : identity
      }
    })
    compiled.set(protocol, entries)
  }
  return entries
}

const millisOf = (d: Duration.DurationInput, what: string): number => {
  const ms = Duration.toMillis(Duration.decode(d))
  if (!(ms > 0)) throw new Cause.IllegalArgumentException(`RpcClient: ${what} must be positive`)
  return ms
}

const errorOf = (entry: Entry, error: ErrorObject): unknown => {
  if (entry.isMethod && error.code === entry.errorCode && error.data !== undefined) {
    const decoded = entry.decodeError(error.data)
    if (decoded._tag === "Right") return decoded.right
  }
  return new RpcRemoteError({ method: entry.name, code: error.code, detail: error.message, data: error.data })
}

const closedBy = (e: unknown): ConnectionClosed => {
  if (e instanceof ConnectionClosed) return e
  const detail =
    typeof e === "object" && e !== null && typeof (e as { readonly message?: unknown }).message === "string"
      ? (e as { readonly message: string }).message
      : String(e)
  return new ConnectionClosed({
    reason: isConnectionError(e) && e._tag === "ConnectionFailed" ? "reset" : "closed",
    detail
  })
}

type Resume = (effect: Effect.Effect<unknown, unknown>) => void

/**
 * A call waiting for its reply: in `pending` under its id, and in the deadline list of its
 * timeout (`Deadlines`) until it settles.
 */
class Slot {
  prev: Slot | undefined = undefined
  next: Slot | undefined = undefined
  list: DeadlineList | undefined = undefined
  constructor(
    readonly id: number,
    readonly entry: Entry,
    readonly millis: number,
    readonly deadline: number,
    public resume: Resume | undefined
  ) {}
}

/** The calls of one timeout value, oldest first: their deadlines are in order. */
interface DeadlineList {
  head: Slot | undefined
  tail: Slot | undefined
}

/**
 * The deadlines of a connection's calls, one list per timeout value (calls made later with the
 * same timeout end later), so adding and removing a call is O(1) and the next deadline is the
 * earliest head. One sweeper fiber per connection sleeps (on the context's `Clock`) until that
 * deadline; a call only wakes it when its deadline comes before the one it sleeps until, which
 * with one timeout value happens only when the sweeper had nothing to wait for.
 */
class Deadlines {
  private readonly lists = new Map<number, DeadlineList>()
  /** The deadline the sweeper sleeps until; Infinity while it waits for a call. */
  target = Infinity
  /** Wakes the sweeper (it is then about to look again). */
  kick: (() => void) | undefined = undefined

  add(slot: Slot): void {
    let list = this.lists.get(slot.millis)
    if (list === undefined) {
      list = { head: undefined, tail: undefined }
      this.lists.set(slot.millis, list)
    }
    slot.list = list
    slot.prev = list.tail
    if (list.tail === undefined) list.head = slot
    else list.tail.next = slot
    list.tail = slot
    if (slot.deadline < this.target && this.kick !== undefined) {
      const kick = this.kick
      this.kick = undefined
      kick()
    }
  }

  remove(slot: Slot): void {
    const list = slot.list
    if (list === undefined) return
    if (slot.prev === undefined) list.head = slot.next
    else slot.prev.next = slot.next
    if (slot.next === undefined) list.tail = slot.prev
    else slot.next.prev = slot.prev
    slot.list = slot.prev = slot.next = undefined
  }

  /** The earliest deadline, or Infinity. */
  earliest(): number {
    let min = Infinity
    for (const list of this.lists.values()) {
      if (list.head !== undefined && list.head.deadline < min) min = list.head.deadline
    }
    return min
  }

  /** Removes and returns the calls whose deadline is at or before `now`. */
  due(now: number): Array<Slot> {
    const out: Array<Slot> = []
    for (const [millis, list] of this.lists) {
      while (list.head !== undefined && list.head.deadline <= now) {
        const slot = list.head
        this.remove(slot)
        out.push(slot)
      }
      if (list.head === undefined && this.lists.size > 8) this.lists.delete(millis)
    }
    return out
  }
}

/** What a client's calls go through: one connection's. */
interface Handle {
  /** Why the connection is closed, once it is (then every call fails at once with it). */
  readonly closed: () => ConnectionClosed | undefined
  readonly call: (entry: Entry, params: unknown, millis: number) => Effect.Effect<unknown, unknown>
  readonly notify: (entry: Entry, params: unknown) => Effect.Effect<void, RpcClientError>
}

type Sent = (error: ConnectionClosed | undefined) => void

/** What a pool's borrow returns for a connection found closed (and dropped). */
class Dropped {
  constructor(readonly reason: ConnectionClosed) {}
}

const makeHandle = <FE>(
  connection: Connection.Connection,
  options: RpcClientOptions<FE>
): Effect.Effect<Handle, never, Scope.Scope> =>
  Effect.gen(function*() {
    const format = options.format ?? JsonRpc.format
    const framing = (options.framing ?? Framing.lines()) as Codec.Codec<Uint8Array, FE>
    const framed = connection.framed(framing)
    const clock = yield* Effect.clock
    const pending = new Map<number, Slot>()
    const deadlines = new Deadlines()
    let nextId = 1
    let closed: ConnectionClosed | undefined = undefined

    // Write coalescing: messages sent in the same turn of the event loop go out as one write
    // (`sendAll`). A call's request settles the call only if its write fails (else its reply
    // does); a notification resumes with the outcome of its write. A frame the framing refuses
    // fails only its own sender: the batch is then written frame by frame.
    let outbox: Array<Uint8Array> = []
    let owners: Array<Slot | Sent | undefined> = []
    const written = (owner: Slot | Sent | undefined, error: ConnectionClosed | undefined) => {
      if (owner === undefined) return
      if (typeof owner === "function") return owner(error)
      if (error !== undefined && pending.get(owner.id) === owner) {
        pending.delete(owner.id)
        deadlines.remove(owner)
        settle(owner, Exit.fail(error))
      }
    }
    const oneByOne = (frames: ReadonlyArray<Uint8Array>, done: ReadonlyArray<Slot | Sent | undefined>) =>
      Effect.forEach(frames, (frame, i) =>
        Effect.matchEffect(framed.send(frame), {
          onFailure: (e) => Effect.sync(() => written(done[i], closedBy(e))),
          onSuccess: () => Effect.sync(() => written(done[i], undefined))
        }), { discard: true })
    const flushOutbox = () => {
      const frames = outbox
      const done = owners
      outbox = []
      owners = []
      const fiber = Effect.runFork(framed.sendAll(frames))
      fiber.addObserver((exit) => {
        if (exit._tag === "Success") {
          for (const d of done) if (typeof d === "function") d(undefined)
          return
        }
        const e = Cause.squash(exit.cause)
        if (isConnectionError(e) || !Cause.isFailType(exit.cause)) {
          const error = closedBy(e)
          for (const d of done) written(d, error)
        } else {
          Effect.runFork(oneByOne(frames, done))
        }
      })
    }
    const enqueue = (text: string, owner: Slot | Sent | undefined) => {
      if (outbox.length === 0) setImmediate(flushOutbox)
      outbox.push(Buffer.from(text, "utf8"))
      owners.push(owner)
    }
    const send = (text: string) =>
      Effect.async<void, ConnectionClosed>((resume) => {
        enqueue(text, (error) => resume(error === undefined ? Effect.void : Effect.fail(error)))
      })

    const settle = (slot: Slot, exit: Exit.Exit<unknown, unknown>) => {
      const resume = slot.resume
      if (resume !== undefined) {
        slot.resume = undefined
        resume(exit)
      }
    }

    const closeAll = (reason: ConnectionClosed) => {
      closed ??= reason
      const slots = Array.from(pending.values())
      pending.clear()
      const exit = Exit.fail(closed)
      for (const slot of slots) {
        deadlines.remove(slot)
        settle(slot, exit)
      }
    }

    const sendCancel = (id: number) => {
      if (format.cancelMethod !== undefined && closed === undefined) {
        enqueue(format.notification(format.cancelMethod, { id }), undefined)
      }
    }

    const onFrame = (frame: Uint8Array) => {
      if (!isUtf8(frame)) return
      for (const response of format.parseResponses(asBuffer(frame).toString("utf8"))) {
        if (typeof response.id !== "number") continue
        const slot = pending.get(response.id)
        if (slot === undefined) continue // a late reply (timed out, interrupted) or not ours
        pending.delete(response.id)
        deadlines.remove(slot)
        const entry = slot.entry
        if (response.error !== undefined) {
          settle(slot, Exit.fail(errorOf(entry, response.error)))
        } else {
          const decoded = entry.decodeSuccess(response.result)
          settle(
            slot,
            decoded._tag === "Right"
              ? Exit.succeed(decoded.right)
              : Exit.fail(new RpcDecodeError({ method: entry.name, detail: formatError(decoded.left) }))
          )
        }
      }
    }

    yield* Stream.runForEach(framed.frames, (frame) => Effect.sync(() => onFrame(frame))).pipe(
      Effect.exit,
      Effect.flatMap((exit) =>
        Effect.sync(() =>
          closeAll(
            Exit.isSuccess(exit)
              ? new ConnectionClosed({ reason: "closed", detail: "the server closed the connection" })
              : closedBy(Cause.squash(exit.cause))
          )
        )
      ),
      // Every later call fails now, so nothing more will be written: answer the server's FIN
      // (or broken stream) with ours even on a half-open connection (`allowHalfOpen: true`, or
      // one made elsewhere), so that the server's close does not wait out its linger.
      Effect.zipRight(connection.endWrite),
      Effect.forkScoped
    )

    // The sweeper: fails the calls whose timeout ran out (RpcTimeout) and tells the server.
    const expire = (now: number) => {
      for (const slot of deadlines.due(now)) {
        if (pending.get(slot.id) !== slot) continue
        pending.delete(slot.id)
        settle(slot, Exit.fail(new RpcTimeout({ method: slot.entry.name, millis: slot.millis })))
        sendCancel(slot.id)
      }
    }
    const kicked = Effect.async<void>((resume) => {
      deadlines.kick = () => resume(Effect.void)
      return Effect.sync(() => {
        deadlines.kick = undefined
      })
    })
    const sweep: Effect.Effect<void> = Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      expire(now)
      const next = deadlines.earliest()
      deadlines.target = next
      return next === Infinity ? kicked : Effect.raceFirst(clock.sleep(Duration.millis(next - now)), kicked)
    })
    yield* Effect.forkScoped(Effect.forever(sweep))

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => closeAll(new ConnectionClosed({ reason: "closed", detail: "the client was closed" })))
    )

    const call = (entry: Entry, params: unknown, millis: number) =>
      Effect.async<unknown, unknown>((resume) => {
        if (closed !== undefined) return resume(Effect.fail(closed))
        let encoded: unknown = undefined
        if (entry.hasParams) {
          const e = entry.encodeParams(params)
          if (e._tag === "Left") {
            return resume(Effect.fail(new RpcEncodeError({ method: entry.name, detail: formatError(e.left) })))
          }
          encoded = e.right
        }
        const id = nextId++
        const slot = new Slot(id, entry, millis, clock.unsafeCurrentTimeMillis() + millis, resume)
        pending.set(id, slot)
        deadlines.add(slot)
        enqueue(format.request(id, entry.name, encoded), slot)
        // Interrupted by its caller: forget it and tell the server.
        return Effect.sync(() => {
          slot.resume = undefined
          if (pending.get(id) !== slot) return
          pending.delete(id)
          deadlines.remove(slot)
          sendCancel(id)
        })
      })

    const notify = (entry: Entry, params: unknown) =>
      Effect.suspend((): Effect.Effect<void, RpcClientError> => {
        if (closed !== undefined) return Effect.fail(closed)
        let encoded: unknown = undefined
        if (entry.hasParams) {
          const e = entry.encodeParams(params)
          if (e._tag === "Left") {
            return Effect.fail(new RpcEncodeError({ method: entry.name, detail: formatError(e.left) }))
          }
          encoded = e.right
        }
        return send(format.notification(entry.name, encoded))
      })

    return { closed: () => closed, call, notify }
  })

/** Builds the client object: one function per definition, each calling `via`. */
const clientOf = <P extends Protocol.Protocol<Protocol.AnyDefinition>, E>(
  protocol: P,
  defaultMillis: number,
  via: {
    readonly call: (entry: Entry, params: unknown, millis: number) => Effect.Effect<unknown, unknown>
    readonly notify: (entry: Entry, params: unknown) => Effect.Effect<void, unknown>
  }
): RpcClient<P, E> => {
  const client: Record<string, unknown> = {}
  for (const entry of entriesOf(protocol)) {
    client[entry.name] = entry.isMethod
      ? (params?: unknown, callOptions?: CallOptions) =>
        callOptions?.timeout === undefined
          ? via.call(entry, params, defaultMillis)
          : Effect.suspend(() => via.call(entry, params, millisOf(callOptions.timeout!, "timeout")))
      : (params?: unknown) => via.notify(entry, params)
  }
  return client as RpcClient<P, E>
}

/**
 * A typed client over an open connection; its reader runs until the scope closes or the
 * connection ends.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Client, Framing, Protocol, RpcClient, RpcServer, Server } from "effect-wire"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 *
 * const program = Effect.gen(function*() {
 *   const framing = Framing.contentLength()
 *   const handler = RpcServer.handler(Calc, { add: ({ a, b }) => Effect.succeed(a + b) }, { framing })
 *   const server = yield* Server.make({ port: 0 }, handler)
 *   const conn = yield* Client.connect({ port: server.address.port })
 *   const client = yield* RpcClient.make(Calc, conn, { framing })
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
export const make = <P extends Protocol.Protocol<Protocol.AnyDefinition>, FE = never>(
  protocol: P,
  connection: Connection.Connection,
  options: RpcClientOptions<FE> = {}
): Effect.Effect<RpcClient<P>, never, Scope.Scope> =>
  Effect.suspend(() => {
    const defaultMillis = millisOf(options.timeout ?? "30 seconds", "timeout")
    return Effect.map(makeHandle(connection, options), (handle) => clientOf<P, never>(protocol, defaultMillis, handle))
  })

/**
 * Options of `connect` and `layer`: where to connect, and the client's options.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions<FE> extends Client.ConnectOptions, RpcClientOptions<FE> {}

/**
 * Connects to a server and makes a typed client; the connection closes with the scope.
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
 *   const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, { add: ({ a, b }) => Effect.succeed(a + b) }))
 *   const client = yield* RpcClient.connect(Calc, { port: server.address.port, timeout: "5 seconds" })
 *   console.log(yield* client.add({ a: 1, b: 2 }))
 *   console.log(yield* client.add({ a: 3, b: 4 }, { timeout: "1 second" })) // this call's own timeout
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output:
 * // 3
 * // 7
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = <P extends Protocol.Protocol<Protocol.AnyDefinition>, FE = never>(
  protocol: P,
  options: ConnectOptions<FE>
): Effect.Effect<RpcClient<P>, Client.ConnectFailure, Scope.Scope> =>
  Effect.flatMap(Client.connect(options), (connection) => make(protocol, connection, options))

/** Checks the options a layer is made with: throws `IllegalArgumentException` on a bad one. */
const checkConnect = (what: string, options: ConnectOptions<unknown>): number => {
  intOption(what, "port", options.port, 0, 1, 65_535)
  ConnectionModule.config(options)
  return millisOf(options.timeout ?? "30 seconds", "timeout")
}

/**
 * A layer providing a typed client under your own tag, over one connection that lives as long as
 * the layer (closed when the layer's scope closes). Building it fails with `ConnectError` (or `TlsError`) when
 * the server cannot be reached (after `retry`, if given); a bad option throws
 * `IllegalArgumentException` when the layer is made.
 *
 * @example
 * ```ts
 * import { Context, Effect, Schema } from "effect"
 * import { Protocol, RpcClient, RpcServer, Server } from "effect-wire"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 * class CalcClient extends Context.Tag("CalcClient")<CalcClient, RpcClient.RpcClient<typeof Calc>>() {}
 *
 * const sum = Effect.flatMap(CalcClient, (calc) => calc.add({ a: 1, b: 2 }))
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, { add: ({ a, b }) => Effect.succeed(a + b) }))
 *   const CalcClientLive = RpcClient.layer(CalcClient, Calc, { port: server.address.port, timeout: "5 seconds" })
 *   console.log(yield* Effect.provide(sum, CalcClientLive))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: 3
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <I, P extends Protocol.Protocol<Protocol.AnyDefinition>, FE = never>(
  tag: Context.Tag<I, RpcClient<P>>,
  protocol: P,
  options: ConnectOptions<FE>
): Layer.Layer<I, Client.ConnectFailure> => {
  checkConnect("RpcClient.layer", options)
  return Layer.scoped(tag, connect(protocol, options))
}

/**
 * Options of `pool` and `layerPool`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolOptions<FE> extends ConnectOptions<FE> {
  /** Connections kept open. Default 4. */
  readonly size?: number
  /**
   * Calls in flight on one connection at most; a call beyond `size` × `concurrency` waits for
   * one to end. Default 128, `RpcServer`'s `maxInFlight`.
   */
  readonly concurrency?: number
}

const poolSizes = (what: string, options: PoolOptions<unknown>) => ({
  size: intOption(what, "size", options.size, 4, 1, 65_536),
  concurrency: intOption(what, "concurrency", options.concurrency, 128, 1, 1_048_576)
})

/**
 * A typed client whose calls are spread over `size` connections kept in an Effect `Pool`: each
 * call borrows a connection (the pool hands them out in turn, at most `concurrency` calls on
 * one), makes its call there, and gives it back. A connection that closes (the server closed
 * it, a reset) is dropped from the pool and replaced in the background; a call that finds it
 * already closed goes to another connection. A call in flight when its connection drops fails
 * with `ConnectionClosed` as on a single connection (the server may have run it): it is not
 * sent again. Connections are made in the background; a call fails with `ConnectError` (or `TlsError`) when the
 * connection it waited for could not be made. A call's timeout starts once it has a connection:
 * the wait for one is bounded by `connectTimeout` (and `retry`) and by the timeouts of the calls
 * it waits behind. Everything closes with the scope.
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
 *   const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, { add: ({ a, b }) => Effect.succeed(a + b) }))
 *   const client = yield* RpcClient.pool(Calc, { port: server.address.port, size: 4 })
 *   const sums = yield* Effect.forEach([1, 2, 3, 4, 5], (a) => client.add({ a, b: 1 }), { concurrency: 5 })
 *   console.log(sums)
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: [ 2, 3, 4, 5, 6 ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const pool = <P extends Protocol.Protocol<Protocol.AnyDefinition>, FE = never>(
  protocol: P,
  options: PoolOptions<FE>
): Effect.Effect<RpcClient<P, Client.ConnectFailure>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const defaultMillis = checkConnect("RpcClient.pool", options)
    const { concurrency, size } = poolSizes("RpcClient.pool", options)
    // The pool's connections share one timer.
    const timers = yield* Timers.make(
      Duration.millis(ConnectionModule.timerResolution(ConnectionModule.config(options)))
    )
    const acquire = Effect.flatMap(Client.connect(options), (connection) => makeHandle(connection, options))
    const handles = yield* Pool.make({
      acquire: Effect.provideService(acquire, Timers.Timers, timers),
      size,
      concurrency
    })
    /** Drops `handle` from the pool when it has closed. */
    const dropIfClosed = (handle: Handle) =>
      Effect.suspend(() => handle.closed() === undefined ? Effect.void : Pool.invalidate(handles, handle))
    /**
     * Runs `use` on a borrowed connection that is still open. A closed one is dropped and given
     * back before the next is borrowed (so that the pool can replace it at once); after `size`
     * closed ones in a row, the call fails with the last one's `ConnectionClosed`.
     */
    const withHandle = <A, E>(
      use: (handle: Handle) => Effect.Effect<A, E>,
      dropped = 0
    ): Effect.Effect<A, E | Client.ConnectFailure | ConnectionClosed> =>
      Effect.flatMap(
        Effect.scoped(Effect.flatMap(Pool.get(handles), (handle): Effect.Effect<A | Dropped, E, Scope.Scope> => {
          const reason = handle.closed()
          if (reason !== undefined) return Effect.as(Pool.invalidate(handles, handle), new Dropped(reason))
          return Effect.tapErrorCause(use(handle), () => dropIfClosed(handle))
        })),
        (r): Effect.Effect<A, E | Client.ConnectFailure | ConnectionClosed> =>
          r instanceof Dropped
            ? (dropped < size ? withHandle(use, dropped + 1) : Effect.fail(r.reason))
            : Effect.succeed(r)
      )
    // The call's timeout starts once it has its connection: waiting for one is bounded by the
    // other calls' timeouts (a permit frees when one ends) and by `connectTimeout` (and `retry`)
    // when a connection is being made. A timeout around `Pool.get` would cost two fibers and a
    // timer per call.
    const call = (entry: Entry, params: unknown, millis: number) =>
      withHandle((handle) => handle.call(entry, params, millis))
    const notify = (entry: Entry, params: unknown) => withHandle((handle) => handle.notify(entry, params))
    return clientOf<P, Client.ConnectFailure>(protocol, defaultMillis, { call, notify })
  })

/**
 * A layer providing a pool-backed typed client (see `pool`) under your own tag; its
 * connections close when the layer's scope closes. A bad option throws
 * `IllegalArgumentException` when the layer is made.
 *
 * @example
 * ```ts
 * import { Context, Effect, Schema } from "effect"
 * import { type Client, Protocol, RpcClient, RpcServer, Server } from "effect-wire"
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * )
 * class Calc8 extends Context.Tag("Calc8")<Calc8, RpcClient.RpcClient<typeof Calc, Client.ConnectFailure>>() {}
 *
 * const sums = Effect.flatMap(Calc8, (calc) =>
 *   Effect.forEach([1, 2, 3], (a) => calc.add({ a, b: 1 }), { concurrency: 3 }))
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, RpcServer.handler(Calc, { add: ({ a, b }) => Effect.succeed(a + b) }))
 *   const Calc8Live = RpcClient.layerPool(Calc8, Calc, { port: server.address.port, size: 8 })
 *   console.log(yield* Effect.provide(sums, Calc8Live))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: [ 2, 3, 4 ]
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPool = <I, P extends Protocol.Protocol<Protocol.AnyDefinition>, FE = never>(
  tag: Context.Tag<I, RpcClient<P, Client.ConnectFailure>>,
  protocol: P,
  options: PoolOptions<FE>
): Layer.Layer<I> => {
  checkConnect("RpcClient.layerPool", options)
  poolSizes("RpcClient.pool", options)
  return Layer.scoped(tag, pool(protocol, options))
}
