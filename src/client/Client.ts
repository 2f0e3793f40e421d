/**
 * TCP clients: `connect` gives a scoped `Connection` (asyncio's `open_connection`), with a
 * connect timeout and optional retries on an Effect `Schedule`; `pool` keeps a few connections
 * for callers that make many requests.
 *
 * A client answers the server's FIN with its own, as a plain `node:net` socket does: a server
 * closing (or shutting down) then sees its connections end at once instead of waiting out its
 * `linger`. Replies that came before the FIN are still read, then EOF. Clients whose protocol
 * writes after the server's half-close opt back in with `allowHalfOpen: true`.
 *
 * @example
 * ```ts
 * const conn = yield* Client.connect({ port: 8888, connectTimeout: "2 seconds" })
 * yield* conn.write("hello\n")
 * const reply = yield* conn.readLine()
 * ```
 *
 * @since 0.1.0
 */
import { type Context, Data, Duration, Effect, Layer, Pool, type Schedule, type Scope } from "effect"
import * as Net from "node:net"
import * as Connection from "../connection/Connection.js"
import * as TimersModule from "../connection/Timers.js"
import { intOption } from "../protocol/internal/options.js"

/** The connection could not be made; `code` is the OS error (`ECONNREFUSED`, `ETIMEDOUT`…). */
export class ConnectError extends Data.TaggedError("ConnectError")<{
  readonly host: string
  readonly port: number
  readonly code: string | undefined
  readonly detail: string
}> {
  override get message(): string {
    const hint = this.code === "ECONNREFUSED"
      ? " (nothing is listening there: is the server running, and on this port?)"
      : this.code === "ETIMEDOUT"
      ? " (no answer in time: check the host, the port and any firewall)"
      : ""
    return `cannot connect to ${this.host}:${this.port}: ${this.detail}${hint}`
  }
}

/** Options of `connect`. */
export interface ConnectOptions extends Connection.ConnectionOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string
  readonly port: number
  /** How long one attempt may take. Default 10 s. */
  readonly connectTimeout?: Duration.DurationInput
  /** Retry failed attempts on this schedule (e.g. `Schedule.exponential("100 millis").pipe(Schedule.upTo("5 seconds"))`). */
  readonly retry?: Schedule.Schedule<unknown, ConnectError>
  /**
   * Keep our side open when the server half-closes, for protocols where the client still writes
   * after the server's FIN. Default false: our FIN answers the server's at once (after what was
   * already queued), so a server's close never waits for its linger; reads still return every
   * byte received before the FIN, then EOF, and a later write fails.
   */
  readonly allowHalfOpen?: boolean
}

const attempt = (
  host: string,
  port: number,
  timeoutMillis: number,
  allowHalfOpen: boolean
): Effect.Effect<Net.Socket, ConnectError> =>
  Effect.async<Net.Socket, ConnectError>((resume) => {
    const socket = Net.connect({ host, port, allowHalfOpen, noDelay: true })
    const onError = (error: NodeJS.ErrnoException) => {
      socket.destroy()
      resume(Effect.fail(new ConnectError({ host, port, code: error.code, detail: error.message })))
    }
    socket.once("error", onError)
    socket.once("connect", () => {
      socket.off("error", onError)
      resume(Effect.succeed(socket))
    })
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.timeoutFail({
      duration: Duration.millis(timeoutMillis),
      onTimeout: () => new ConnectError({ host, port, code: "ETIMEDOUT", detail: `no connection after ${timeoutMillis} ms` })
    })
  )

/**
 * Connects to a TCP server; the connection is closed gracefully when the scope closes.
 */
export const connect = (options: ConnectOptions): Effect.Effect<Connection.Connection, ConnectError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const port = intOption("Client", "port", options.port, 0, 1, 65_535)
    const timeout = options.connectTimeout === undefined
      ? 10_000
      : Math.ceil(Duration.toMillis(Duration.decode(options.connectTimeout)))
    const config = Connection.config(options)
    const once = attempt(host, port, timeout, options.allowHalfOpen === true)
    const socket = yield* Effect.acquireRelease(
      // `acquire` runs uninterruptibly: without this, the connect timeout (an interruption of the
      // attempt) could not fire, nor could a caller cancel a connect or its retries.
      Effect.interruptible(options.retry === undefined ? once : Effect.retry(once, options.retry)),
      (s) => Effect.sync(() => s.destroy())
    )
    // Its timeouts: the `Timers` of the context, or its own (see `Connection.make`).
    return yield* Connection.make(socket, config)
  })

/**
 * The timers of `connect`'s connections: an alias of `Timers.Timers` (the connection module's),
 * kept for existing code.
 *
 * @since 0.1.0
 * @category tags
 */
export const Timers = TimersModule.Timers
/** @since 0.1.0 */
export type Timers = TimersModule.Timers

/**
 * `Timers.layer`, kept for existing code: one timer for every connection `connect` makes in its
 * context. Without it each connection runs its own: provide it when a program holds many client
 * connections.
 *
 * @example
 * ```ts
 * program.pipe(Effect.provide(Client.timersLayer()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const timersLayer = (resolution: Duration.DurationInput = "250 millis"): Layer.Layer<TimersModule.Timers> =>
  TimersModule.layer(resolution)

/**
 * Options of `pool`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolOptions extends ConnectOptions {
  /** Connections kept open. Default 4. */
  readonly size?: number
}

/**
 * The options of `connect`, checked: throws `IllegalArgumentException` on a bad one (the layers
 * call it when they are built, so a bad option is found before anything connects).
 */
const checked = (what: string, options: ConnectOptions): void => {
  intOption(what, "port", options.port, 0, 1, 65_535)
  Connection.config(options)
}

/**
 * A pool of connections to one server (Effect `Pool`): `Pool.get` borrows one for the current
 * scope. A connection that failed should be dropped with `Pool.invalidate`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pool = (options: PoolOptions): Effect.Effect<Pool.Pool<Connection.Connection, ConnectError>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const size = intOption("Client.pool", "size", options.size, 4, 1, 65_536)
    // The pool's connections share one timer.
    const timers = yield* TimersModule.make(Duration.millis(Connection.timerResolution(Connection.config(options))))
    return yield* Pool.make({ acquire: Effect.provideService(connect(options), TimersModule.Timers, timers), size })
  })

/**
 * A layer providing one connection under your own tag, open for as long as the layer lives
 * (closed gracefully when its scope closes). Building it fails with `ConnectError` when the
 * server cannot be reached (after `retry`, if given); a bad option throws
 * `IllegalArgumentException` when the layer is made.
 *
 * @example
 * ```ts
 * class Backend extends Context.Tag("Backend")<Backend, Connection.Connection>() {}
 * const BackendLive = Client.layer(Backend, { port: 8888, connectTimeout: "2 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <I>(
  tag: Context.Tag<I, Connection.Connection>,
  options: ConnectOptions
): Layer.Layer<I, ConnectError> => {
  checked("Client.layer", options)
  return Layer.scoped(tag, connect(options))
}

/**
 * A layer providing a `Pool` of connections (see `pool`) under your own tag; its connections
 * close when the layer's scope closes. Connections are made in the background: a connect error
 * reaches the `Pool.get` that would have had that connection. A bad option throws
 * `IllegalArgumentException` when the layer is made.
 *
 * @example
 * ```ts
 * class Backends extends Context.Tag("Backends")<Backends, Pool.Pool<Connection.Connection, Client.ConnectError>>() {}
 * const BackendsLive = Client.layerPool(Backends, { port: 8888, size: 8 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPool = <I>(
  tag: Context.Tag<I, Pool.Pool<Connection.Connection, ConnectError>>,
  options: PoolOptions
): Layer.Layer<I> => {
  checked("Client.layerPool", options)
  intOption("Client.pool", "size", options.size, 4, 1, 65_536)
  return Layer.scoped(tag, pool(options))
}
