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
 * const client = yield* RpcClient.connect(Calc, { port: server.address.port })
 * const sum = yield* client.add({ a: 1, b: 2 }) // 3
 * yield* client.log({ line: "hello" })          // a notification: no reply
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Data, Duration, Effect, Exit, ParseResult, Schema, type Scope, Stream } from "effect"
import { Buffer, isUtf8 } from "node:buffer"
import type * as Connection from "../connection/Connection.js"
import { ConnectionClosed, isConnectionError } from "../connection/ConnectionError.js"
import type * as Codec from "../protocol/Codec.js"
import * as Framing from "../protocol/Framing.js"
import { asBuffer } from "../protocol/internal/bytes.js"
import * as JsonRpc from "../protocol/JsonRpc.js"
import type * as Protocol from "../protocol/Protocol.js"
import type { ErrorObject, RpcFormat } from "../protocol/RpcFormat.js"
import * as Client from "./Client.js"

export { ConnectionClosed } from "../connection/ConnectionError.js"

/** The server answered with an error that is not the method's typed error (`code` says which). */
export class RpcRemoteError extends Data.TaggedError("RpcRemoteError")<{
  readonly method: string
  readonly code: number
  readonly detail: string
  readonly data: unknown
}> {
  /** Whether the request was not processed and may be sent again (shutting down, overloaded). */
  get retryable(): boolean {
    return JsonRpc.isRetryable(this.code)
  }
  override get message(): string {
    return `${this.method}: error ${this.code}: ${this.detail}`
  }
}

/** The call's timeout ran out; the server was told to cancel it. */
export class RpcTimeout extends Data.TaggedError("RpcTimeout")<{
  readonly method: string
  readonly millis: number
}> {
  override get message(): string {
    return `${this.method}: no reply within ${this.millis} ms`
  }
}

/** The params could not be encoded by their Schema (nothing was sent). */
export class RpcEncodeError extends Data.TaggedError("RpcEncodeError")<{
  readonly method: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.method}: the params do not match their Schema: ${this.detail}`
  }
}

/** The reply does not match the method's success or error Schema. */
export class RpcDecodeError extends Data.TaggedError("RpcDecodeError")<{
  readonly method: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.method}: the reply does not match its Schema: ${this.detail}`
  }
}

/** Every error of a call besides the method's typed error. */
export type RpcClientError = RpcRemoteError | RpcTimeout | ConnectionClosed | RpcEncodeError | RpcDecodeError

/** Options of one call. */
export interface CallOptions {
  /** Overrides the client's timeout for this call. */
  readonly timeout?: Duration.DurationInput
}

/** The function calling one method. */
export type Call<D extends Protocol.AnyMethod> = [Protocol.Params<D>] extends [void]
  ? (params?: Protocol.Params<D>, options?: CallOptions) => Effect.Effect<Protocol.Success<D>, Protocol.Failure<D> | RpcClientError>
  : (params: Protocol.Params<D>, options?: CallOptions) => Effect.Effect<Protocol.Success<D>, Protocol.Failure<D> | RpcClientError>

/** The function sending one notification (it completes once the message is written). */
export type Notify<D extends Protocol.AnyNotification> = [Protocol.Params<D>] extends [void]
  ? (params?: Protocol.Params<D>) => Effect.Effect<void, RpcClientError>
  : (params: Protocol.Params<D>) => Effect.Effect<void, RpcClientError>

/** A typed client of protocol `P`: one function per definition. */
export type RpcClient<P extends Protocol.Protocol<Protocol.AnyDefinition>> = {
  readonly [D in Protocol.DefinitionsOf<P> as D["name"]]: D extends Protocol.AnyMethod ? Call<D>
    : D extends Protocol.AnyNotification ? Notify<D>
    : never
}

/** Options of `make`. */
export interface RpcClientOptions<FE> {
  /** The wire format. Default `JsonRpc.format`. */
  readonly format?: RpcFormat
  /** The framing. Default `Framing.lines()` (newline-delimited JSON). */
  readonly framing?: Codec.Codec<Uint8Array, FE>
  /** Timeout of every call. Default 30 s. */
  readonly timeout?: Duration.DurationInput
}

type AnyCodec = Schema.Schema<unknown, unknown, never>
type Run = (u: unknown) => Exit.Exit<unknown, string>

const compileSchema =
  (run: (u: unknown) => import("effect").Either.Either<unknown, ParseResult.ParseError>): Run => (u) => {
    const r = run(u)
    return r._tag === "Right" ? Exit.succeed(r.right) : Exit.fail(ParseResult.TreeFormatter.formatErrorSync(r.left))
  }

interface Entry {
  readonly name: string
  readonly isMethod: boolean
  readonly hasParams: boolean
  readonly errorCode: number
  readonly encodeParams: Run
  readonly decodeSuccess: Run
  readonly decodeError: Run
}

type Settle = (exit: Exit.Exit<unknown, unknown>) => void

interface Slot {
  readonly entry: Entry
  exit: Exit.Exit<unknown, unknown> | undefined
  resume: Settle | undefined
}

const millisOf = (d: Duration.DurationInput, what: string): number => {
  const ms = Duration.toMillis(Duration.decode(d))
  if (!(ms > 0)) throw new Cause.IllegalArgumentException(`RpcClient: ${what} must be positive`)
  return ms
}

const errorOf = (entry: Entry, error: ErrorObject): unknown => {
  if (entry.isMethod && error.code === entry.errorCode && error.data !== undefined) {
    const decoded = entry.decodeError(error.data)
    if (decoded._tag === "Success") return decoded.value
  }
  return new RpcRemoteError({ method: entry.name, code: error.code, detail: error.message, data: error.data })
}


/** The wire form of a call's params, or why the Schema refused them. */
const encodeParams = (entry: Entry, params: unknown): unknown => {
  if (!entry.hasParams) return undefined
  const e = entry.encodeParams(params)
  return e._tag === "Failure" ? new RpcEncodeError({ method: entry.name, detail: Cause.squash(e.cause) as string }) : e.value
}

const closedBy = (e: unknown): ConnectionClosed => {
  if (e instanceof ConnectionClosed) return e
  const tag = typeof e === "object" && e !== null ? (e as { readonly _tag?: unknown })._tag : undefined
  const detail = typeof e === "object" && e !== null && typeof (e as { readonly message?: unknown }).message === "string"
    ? (e as { readonly message: string }).message
    : String(e)
  return new ConnectionClosed({ reason: tag === "SocketError" ? "reset" : "closed", detail })
}

/**
 * A typed client over an open connection; its reader runs until the scope closes or the
 * connection ends.
 *
 * @example
 * ```ts
 * const conn = yield* Client.connect({ port })
 * const client = yield* RpcClient.make(Calc, conn, { framing: Framing.contentLength() })
 * ```
 */
export const make = <P extends Protocol.Protocol<Protocol.AnyDefinition>, FE = never>(
  protocol: P,
  connection: Connection.Connection,
  options: RpcClientOptions<FE> = {}
): Effect.Effect<RpcClient<P>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const format = options.format ?? JsonRpc.format
    const framing = (options.framing ?? Framing.lines()) as Codec.Codec<Uint8Array, FE>
    const defaultMillis = millisOf(options.timeout ?? "30 seconds", "timeout")
    const framed = connection.framed(framing)
    const pending = new Map<number, Slot>()
    let nextId = 1
    let closed: ConnectionClosed | undefined = undefined

    // Write coalescing: messages sent in the same turn of the event loop go out as one write
    // (`sendAll`); each sender resumes with the outcome of that write. A frame the framing
    // refuses fails only its own sender: the batch is then written frame by frame.
    type Sent = (error: ConnectionClosed | undefined) => void
    let outbox: Array<Uint8Array> = []
    let senders: Array<Sent> = []
    const oneByOne = (frames: ReadonlyArray<Uint8Array>, done: ReadonlyArray<Sent>) =>
      Effect.forEach(frames, (frame, i) =>
        Effect.matchEffect(framed.send(frame), {
          onFailure: (e) => Effect.sync(() => done[i]!(closedBy(e))),
          onSuccess: () => Effect.sync(() => done[i]!(undefined))
        }), { discard: true })
    const flushOutbox = () => {
      const frames = outbox
      const done = senders
      outbox = []
      senders = []
      Effect.runFork(
        Effect.matchEffect(framed.sendAll(frames), {
          onFailure: (e) =>
            isConnectionError(e)
              ? Effect.sync(() => {
                const error = closedBy(e)
                for (const d of done) d(error)
              })
              : oneByOne(frames, done),
          onSuccess: () =>
            Effect.sync(() => {
              for (const d of done) d(undefined)
            })
        })
      )
    }
    const send = (text: string) =>
      Effect.async<void, ConnectionClosed>((resume) => {
        if (outbox.length === 0) setImmediate(flushOutbox)
        outbox.push(Buffer.from(text, "utf8"))
        senders.push((error) => resume(error === undefined ? Effect.void : Effect.fail(error)))
      })

    const settle = (slot: Slot, exit: Exit.Exit<unknown, unknown>) => {
      slot.exit = exit
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
      for (const slot of slots) settle(slot, exit)
    }

    const onFrame = (frame: Uint8Array) => {
      if (!isUtf8(frame)) return
      for (const response of format.parseResponses(asBuffer(frame).toString("utf8"))) {
        if (typeof response.id !== "number") continue
        const slot = pending.get(response.id)
        if (slot === undefined) continue // a late reply (timed out, interrupted) or not ours
        pending.delete(response.id)
        const entry = slot.entry
        if (response.error !== undefined) {
          settle(slot, Exit.fail(errorOf(entry, response.error)))
        } else {
          const decoded = entry.decodeSuccess(response.result)
          settle(
            slot,
            decoded._tag === "Success"
              ? decoded
              : Exit.fail(new RpcDecodeError({ method: entry.name, detail: Cause.squash(decoded.cause) as string }))
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
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => closeAll(new ConnectionClosed({ reason: "closed", detail: "the client was closed" })))
    )

    const wait = (slot: Slot) =>
      Effect.async<unknown, unknown>((resume) => {
        if (slot.exit !== undefined) return resume(slot.exit)
        slot.resume = resume
        return Effect.sync(() => {
          slot.resume = undefined
        })
      })

    const call = (entry: Entry) => (params?: unknown, callOptions?: CallOptions) =>
      Effect.suspend((): Effect.Effect<unknown, unknown> => {
        if (closed !== undefined) return Effect.fail(closed)
        const encoded = encodeParams(entry, params)
        if (encoded instanceof RpcEncodeError) return Effect.fail(encoded)
        const id = nextId++
        const slot: Slot = { entry, exit: undefined, resume: undefined }
        pending.set(id, slot)
        const millis = callOptions?.timeout === undefined ? defaultMillis : millisOf(callOptions.timeout, "timeout")
        const cancel = Effect.sync(() => {
          if (pending.get(id) !== slot) return
          pending.delete(id)
          if (format.cancelMethod !== undefined && closed === undefined) {
            Effect.runFork(Effect.ignore(send(format.notification(format.cancelMethod, { id }))))
          }
        })
        return Effect.zipRight(send(format.request(id, entry.name, encoded)), wait(slot)).pipe(
          Effect.onInterrupt(() => cancel),
          Effect.timeoutFail({
            duration: Duration.millis(millis),
            onTimeout: () => new RpcTimeout({ method: entry.name, millis })
          }),
          Effect.onError(() => Effect.sync(() => {
            if (pending.get(id) === slot) pending.delete(id)
          }))
        )
      })

    const notify = (entry: Entry) => (params?: unknown) =>
      Effect.suspend((): Effect.Effect<void, RpcClientError> => {
        if (closed !== undefined) return Effect.fail(closed)
        const encoded = encodeParams(entry, params)
        if (encoded instanceof RpcEncodeError) return Effect.fail(encoded)
        return send(format.notification(entry.name, encoded))
      })

    const client: Record<string, unknown> = {}
    for (const [name, d] of protocol.definitions) {
      const isMethod = d._tag === "Method"
      const entry: Entry = {
        name,
        isMethod,
        hasParams: d.hasParams,
        errorCode: isMethod ? (d as Protocol.AnyMethod).errorCode : 1,
        encodeParams: compileSchema(Schema.encodeUnknownEither(d.params as AnyCodec)),
        decodeSuccess: isMethod
          ? compileSchema(Schema.decodeUnknownEither((d as Protocol.AnyMethod).success as AnyCodec))
          : (u) => Exit.succeed(u),
        decodeError: isMethod
          ? compileSchema(Schema.decodeUnknownEither((d as Protocol.AnyMethod).error as AnyCodec))
          : (u) => Exit.succeed(u)
      }
      client[name] = isMethod ? call(entry) : notify(entry)
    }
    return client as RpcClient<P>
  })

/** Options of `connect`: where to connect, and the client's options. */
export interface ConnectOptions<FE> extends Client.ConnectOptions, RpcClientOptions<FE> {}

/**
 * Connects to a server and makes a typed client; the connection closes with the scope.
 *
 * @example
 * ```ts
 * const client = yield* RpcClient.connect(Calc, { port: 4000, timeout: "5 seconds" })
 * ```
 */
export const connect = <P extends Protocol.Protocol<Protocol.AnyDefinition>, FE = never>(
  protocol: P,
  options: ConnectOptions<FE>
): Effect.Effect<RpcClient<P>, Client.ConnectError, Scope.Scope> =>
  Effect.flatMap(Client.connect(options), (connection) => make(protocol, connection, options))
