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
 * import { Effect } from "effect"
 * import { Client, Server } from "effect-wire"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, (conn) => Effect.flatMap(conn.readLine(), (line) => conn.write(line)))
 *   const conn = yield* Client.connect({ port: server.address.port, connectTimeout: "2 seconds" })
 *   yield* conn.write("hello\n")
 *   const reply = yield* conn.readLine()
 *   console.log(Buffer.from(reply).toString().trimEnd())
 * })
 *
 * // the scope closes the connection (gracefully), then the server
 * Effect.runPromise(Effect.scoped(program))
 * // Output: hello
 * ```
 *
 * @since 0.1.0
 */
import { type Context, Data, Duration, Effect, Layer, Pool, Predicate, type Schedule, type Scope } from "effect"
import * as Net from "node:net"
import * as NodeTls from "node:tls"
import * as Connection from "../connection/Connection.js"
import * as TimersModule from "../connection/Timers.js"
import * as Tls from "../connection/Tls.js"
import { intOption } from "../internal/options.js"
import { toNodePem } from "../internal/pem.js"

/**
 * The mark of a `ConnectError` (see `isConnectError`).
 *
 * @since 0.1.0
 * @category type ids
 */
export const ConnectErrorTypeId: unique symbol = Symbol.for("effect-wire/ConnectError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type ConnectErrorTypeId = typeof ConnectErrorTypeId

/**
 * The connection could not be made; `code` is the OS error (`ECONNREFUSED`, `ETIMEDOUT`…).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectError extends Data.TaggedError("ConnectError")<{
  readonly host: string
  readonly port: number
  readonly code: string | undefined
  readonly detail: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [ConnectErrorTypeId]: ConnectErrorTypeId = ConnectErrorTypeId

  override get message(): string {
    const hint = this.code === "ECONNREFUSED"
      ? " (nothing is listening there: is the server running, and on this port?)"
      : this.code === "ETIMEDOUT"
      ? " (no answer in time: check the host, the port and any firewall)"
      : ""
    // A Unix socket's path is its whole address (port 0).
    const where = this.port === 0 && this.host.includes("/") ? this.host : `${this.host}:${this.port}`
    return `cannot connect to ${where}: ${this.detail}${hint}`
  }
}

/**
 * Why `connect` failed: the server could not be reached (`ConnectError`), or, over TLS, the
 * handshake failed (`Tls.TlsError`: an untrusted or expired certificate, another host's, a server
 * that speaks no TLS).
 *
 * @since 0.1.0
 * @category errors
 */
export type ConnectFailure = ConnectError | Tls.TlsError

/**
 * Whether `u` is a `ConnectError`, by its `TypeId` (a `Tls.TlsError` is not: see `Tls.isTlsError`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isConnectError = (u: unknown): u is ConnectError => Predicate.hasProperty(u, ConnectErrorTypeId)

/**
 * Options of `connect`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions extends Connection.ConnectionOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string
  /** The server's port; not with `path`. */
  readonly port?: number
  /** Connect to this Unix domain socket instead of `host` / `port`. */
  readonly path?: string
  /**
   * Speak TLS (see `Tls.ClientOptions`; `true` for the defaults: the system's CAs, `host` as the
   * server name). The connect timeout covers the handshake; a failed handshake is a `TlsError`.
   */
  readonly tls?: Tls.ClientOptions | true
  /** How long one attempt may take (the TLS handshake included). Default 10 s. */
  readonly connectTimeout?: Duration.DurationInput
  /**
   * Retry failed attempts on this schedule (e.g. `Schedule.exponential("100 millis").pipe(Schedule.upTo("5 seconds"))`).
   * A TLS handshake that fails is not retried: a certificate does not fix itself.
   */
  readonly retry?: Schedule.Schedule<unknown, ConnectError>
  /**
   * Keep our side open when the server half-closes, for protocols where the client still writes
   * after the server's FIN. Default false: our FIN answers the server's at once (after what was
   * already queued), so a server's close never waits for its linger; reads still return every
   * byte received before the FIN, then EOF, and a later write fails.
   */
  readonly allowHalfOpen?: boolean
}

/** Where a client connects, and how. */
interface Target {
  readonly host: string
  readonly port: number
  readonly path: string | undefined
  readonly tls: Tls.ClientOptions | undefined
  readonly allowHalfOpen: boolean
}

const tlsOptions = (target: Target, tls: Tls.ClientOptions): NodeTls.ConnectionOptions => {
  const out: NodeTls.ConnectionOptions = {
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    minVersion: tls.minVersion ?? "TLSv1.2"
  }
  // SNI takes host names only: for an IP address the certificate is checked against the IP.
  const servername = tls.servername ?? (Net.isIP(target.host) === 0 ? target.host : undefined)
  if (servername !== undefined) out.servername = servername
  const ca = toNodePem(tls.ca)
  if (ca !== undefined) out.ca = ca
  const cert = toNodePem(tls.cert)
  if (cert !== undefined) out.cert = cert
  const key = toNodePem(tls.key)
  if (key !== undefined) out.key = key
  if (tls.passphrase !== undefined) out.passphrase = tls.passphrase
  if (tls.checkServerIdentity !== undefined) out.checkServerIdentity = tls.checkServerIdentity
  if (tls.alpnProtocols !== undefined) out.ALPNProtocols = [...tls.alpnProtocols]
  return out
}

const where = (target: Target): string => target.path ?? `${target.host}:${target.port}`

/** Connection-level codes (nothing answered) stay `ConnectError`; the rest of a TLS socket's errors are the handshake's. */
const isReachError = (code: string | undefined): boolean =>
  code === "ECONNREFUSED" || code === "ENOENT" || code === "EHOSTUNREACH" || code === "ENETUNREACH" ||
  code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EACCES"

const attempt = (target: Target, timeoutMillis: number): Effect.Effect<Net.Socket, ConnectFailure> =>
  Effect.async<Net.Socket, ConnectFailure>((resume) => {
    const { allowHalfOpen, host, path, port, tls } = target
    const base = path === undefined ? { host, port, allowHalfOpen, noDelay: true } : { path, allowHalfOpen }
    const socket = tls === undefined ? Net.connect(base) : NodeTls.connect({ ...base, ...tlsOptions(target, tls) })
    const onError = (error: NodeJS.ErrnoException) => {
      socket.destroy()
      resume(Effect.fail(
        tls !== undefined && !isReachError(error.code)
          ? new Tls.TlsError({
            side: "client",
            peer: where(target),
            code: error.code,
            detail: Tls.reason(error.message)
          })
          : new ConnectError({
            host: path ?? host,
            port: path === undefined ? port : 0,
            code: error.code,
            detail: error.message
          })
      ))
    }
    socket.once("error", onError)
    socket.once(tls === undefined ? "connect" : "secureConnect", () => {
      socket.off("error", onError)
      resume(Effect.succeed(socket))
    })
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.timeoutFail({
      duration: Duration.millis(timeoutMillis),
      onTimeout: () =>
        new ConnectError({
          host: target.path ?? target.host,
          port: target.path === undefined ? target.port : 0,
          code: "ETIMEDOUT",
          detail: `no connection${
            target.tls === undefined ? "" : " (TLS handshake included)"
          } after ${timeoutMillis} ms`
        })
    })
  )

/**
 * Connects to a TCP server; the connection is closed gracefully when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (options: ConnectOptions): Effect.Effect<Connection.Connection, ConnectFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const target = targetOf("Client", options)
    const timeout = options.connectTimeout === undefined
      ? 10_000
      : Math.ceil(Duration.toMillis(Duration.decode(options.connectTimeout)))
    const config = Connection.config(options)
    const once = attempt(target, timeout)
    const socket = yield* Effect.acquireRelease(
      // `acquire` runs uninterruptibly: without this, the connect timeout (an interruption of the
      // attempt) could not fire, nor could a caller cancel a connect or its retries.
      Effect.interruptible(
        options.retry === undefined
          ? once
          : Effect.retry(once, {
            schedule: options.retry as Schedule.Schedule<unknown, ConnectFailure>,
            while: isConnectError
          })
      ),
      (s) => Effect.sync(() => s.destroy())
    )
    // Its timeouts: the `Timers` of the context, or its own (see `Connection.make`).
    return yield* Connection.make(socket, config)
  })

/** The target of `options`, checked (a bad one throws `RangeError`). */
const targetOf = (what: string, options: ConnectOptions): Target => {
  const path = options.path
  if (path !== undefined) {
    if (typeof path !== "string" || path.length === 0) {
      throw new RangeError(`${what}: path must be a non-empty string, got ${JSON.stringify(path)}`)
    }
    if (options.port !== undefined) throw new RangeError(`${what}: give either port or path, not both`)
  } else if (options.port === undefined) {
    throw new RangeError(`${what}: port (or path) is required`)
  }
  return {
    host: options.host ?? "127.0.0.1",
    port: path === undefined ? intOption(what, "port", options.port, 0, 1, 65_535) : 0,
    path,
    tls: options.tls === undefined ? undefined : options.tls === true ? {} : options.tls,
    allowHalfOpen: options.allowHalfOpen === true
  }
}

/**
 * `Timers.layer`, kept for existing code: one timer (the `Timers.Timers` service) for every
 * connection `connect` makes in its context. Without it each connection runs its own: provide it when a program holds many client
 * connections.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Client, Server } from "effect-wire"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, (conn) => conn.write("hi\n"))
 *   // many client connections: one timer checks all of their timeouts
 *   const conns = yield* Effect.forEach(Array.from({ length: 10 }), () => Client.connect({ port: server.address.port }))
 *   const lines = yield* Effect.forEach(conns, (conn) => conn.readLine())
 *   console.log(lines.length)
 * })
 *
 * Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Client.timersLayer())))
 * // Output: 10
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
  targetOf(what, options)
  Connection.config(options)
}

/**
 * A pool of connections to one server (Effect `Pool`): `Pool.get` borrows one for the current
 * scope. A connection that failed should be dropped with `Pool.invalidate`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pool = (
  options: PoolOptions
): Effect.Effect<Pool.Pool<Connection.Connection, ConnectFailure>, never, Scope.Scope> =>
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
 * import { Context, Effect } from "effect"
 * import { Client, type Connection, Server } from "effect-wire"
 *
 * class Backend extends Context.Tag("Backend")<Backend, Connection.Connection>() {}
 *
 * const hello = Effect.gen(function*() {
 *   const conn = yield* Backend
 *   yield* conn.write("hello\n")
 *   return Buffer.from(yield* conn.readLine()).toString().trimEnd()
 * })
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, (conn) => Effect.flatMap(conn.readLine(), (line) => conn.write(line)))
 *   const BackendLive = Client.layer(Backend, { port: server.address.port, connectTimeout: "2 seconds" })
 *   console.log(yield* Effect.provide(hello, BackendLive))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: hello
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <I>(
  tag: Context.Tag<I, Connection.Connection>,
  options: ConnectOptions
): Layer.Layer<I, ConnectFailure> => {
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
 * import { Context, Effect, Pool } from "effect"
 * import { Client, type Connection, Framing, Message, Server } from "effect-wire"
 *
 * class Backends extends Context.Tag("Backends")<Backends, Pool.Pool<Connection.Connection, Client.ConnectFailure>>() {}
 *
 * // borrows a connection for one request and gives it back
 * const ask = (text: string) =>
 *   Effect.scoped(Effect.gen(function*() {
 *     const conn = yield* Pool.get(yield* Backends)
 *     yield* conn.write(`${text}\n`)
 *     return Buffer.from(yield* conn.readLine()).toString().trimEnd()
 *   }))
 *
 * const program = Effect.gen(function*() {
 *   const upper = Server.respond(Message.text(Framing.lines()), (line) => Effect.succeed(line.toUpperCase()))
 *   const server = yield* Server.make({ port: 0 }, upper)
 *   const BackendsLive = Client.layerPool(Backends, { port: server.address.port, size: 2 })
 *   console.log(yield* Effect.forEach(["a", "b", "c"], ask, { concurrency: 3 }).pipe(Effect.provide(BackendsLive)))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: [ 'A', 'B', 'C' ]
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPool = <I>(
  tag: Context.Tag<I, Pool.Pool<Connection.Connection, ConnectFailure>>,
  options: PoolOptions
): Layer.Layer<I> => {
  checked("Client.layerPool", options)
  intOption("Client.pool", "size", options.size, 4, 1, 65_536)
  return Layer.scoped(tag, pool(options))
}
