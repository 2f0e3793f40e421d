/**
 * A TCP server as a scoped Effect resource: every connection runs its handler in its own fiber,
 * and closing the scope (interruption) is a graceful shutdown.
 *
 * The shutdown promise, in order:
 * 1. the listener closes first: later connects are refused by the OS, never accepted and dropped;
 * 2. connections drain: a read that finds nothing buffered and nothing half-read ends as at EOF,
 *    so idle connections close at once while busy ones finish what they received;
 * 3. handlers run until `shutdownDeadline`; then the rest are interrupted (their finalizers run);
 * 4. sockets still open `flushTimeout` later are destroyed, so shutdown returns within
 *    deadline + flush timeout whatever peers do; afterwards no socket, fiber or timer is left.
 * `shutdown` may be called many times and concurrently; every call waits for the one shutdown.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Client, Server } from "effect-wire"
 *
 * const program = Effect.gen(function*() {
 *   // every connection runs this handler in its own fiber: one line in, the same line out
 *   const server = yield* Server.make({ port: 0 }, (conn) =>
 *     Effect.gen(function*() {
 *       const line = yield* conn.readLine()
 *       yield* conn.write(line)
 *     }))
 *   const conn = yield* Client.connect({ port: server.address.port })
 *   yield* conn.write("hello\n")
 *   console.log(Buffer.from(yield* conn.readLine()).toString().trimEnd())
 * })
 *
 * // closing the scope closes the client, then shuts the server down gracefully
 * Effect.runPromise(Effect.scoped(program))
 * // Output: hello
 * ```
 *
 * @since 0.1.0
 */
import {
  Cause,
  Context,
  Deferred,
  Duration,
  Effect,
  type Fiber,
  FiberId,
  FiberRef,
  FiberRefs,
  Layer,
  Option,
  Runtime,
  type Scope,
  Stream
} from "effect"
import type * as Net from "node:net"
import * as Connection from "../connection/Connection.js"
import type { ConnectionError } from "../connection/ConnectionError.js"
import * as Timers from "../connection/Timers.js"
import * as Tls from "../connection/Tls.js"
import * as Transport from "../connection/Transport.js"
import { intOption } from "../internal/options.js"
import type * as Codec from "../protocol/Codec.js"
import { FailureLog } from "./internal/failureLog.js"
import { respondInOrder, serveInOrder } from "./internal/inOrder.js"
import * as Listener from "./internal/listener.js"
import { Registry, type ServerStats } from "./internal/registry.js"
import { transportOf } from "./internal/transportOf.js"
import type { ListenError } from "./ServerError.js"

export {
  /**
   * A snapshot of a server's counters (`server.stats`).
   *
   * @since 0.1.0
   * @category models
   */
  type ServerStats
} from "./internal/registry.js"
export {
  /**
   * The Effect `Metric`s every server updates, tagged `server` = its `host:port` (or its socket
   * path): connections accepted / active / closed / rejected, TLS failures, frames handled,
   * handler errors, bytes in / out.
   *
   * @since 0.1.0
   * @category metrics
   */
  metrics
} from "./internal/registry.js"

/**
 * Options of a server. Every limit has a bounded default (see the README's table).
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions extends Connection.ConnectionOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string
  /** Port; 0 (the default) picks a free one, readable from `server.address`. */
  readonly port?: number
  /**
   * Listen on this Unix domain socket instead of `host` / `port`. A stale socket file (a dead
   * server's: connecting to it is refused) is removed at start; a live one fails with
   * `ListenError` (`EADDRINUSE`), a file that is not a socket is never removed. The file is
   * removed at shutdown.
   */
  readonly path?: string
  /** With `path`: the socket file's mode (e.g. `0o660` to let the group connect). Default: the umask's. */
  readonly permissions?: number
  /**
   * Serve TLS: the server's key and certificate, and optionally mutual TLS, ALPN, SNI identities
   * and the handshake timeout (see `Tls.ServerOptions`). Handlers see the session in
   * `connection.tls`; failed handshakes are counted in `stats.tlsFailures`.
   */
  readonly tls?: Tls.ServerOptions
  /**
   * Log each failed connection (bad input, a timeout, a handler's failure; a defect at `Error`)
   * and failed TLS handshake at `Warning`, one line with the peer and the error's message, at most
   * 10 lines a second (see the README's "Logs, stats and metrics"). Default true.
   */
  readonly logFailures?: boolean
  /** Listen backlog. Default 2048 (the OS may cap it at `net.core.somaxconn`). */
  readonly backlog?: number
  /** Open connections at most; more are closed at once and counted as rejected. Default 1024. */
  readonly maxConnections?: number
  /** How long handlers may run once shutdown starts. Default 30 s. */
  readonly shutdownDeadline?: Duration.DurationInput
  /** How long interrupted connections get to flush before their sockets are destroyed. Default 1 s. */
  readonly flushTimeout?: Duration.DurationInput
  /**
   * How often idle, frame-read, write-stall, linger and half-closed timeouts are checked, at most:
   * the server checks at least twenty times per smallest timeout, so each fires within +10 % of
   * its value. Default 250 ms.
   */
  readonly timerResolution?: Duration.DurationInput
}

/**
 * A connection handler: runs in its own fiber; the connection closes when it ends.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<E, R> = (connection: Connection.Connection) => Effect.Effect<unknown, E, R>

/**
 * A running server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  /** The bound address (the real port when `port: 0` was asked). */
  readonly address: Connection.Address
  /** A snapshot of the server's counters. */
  readonly stats: Effect.Effect<ServerStats>
  /** Gracefully shuts the server down (see the module doc); safe to call many times. */
  readonly shutdown: Effect.Effect<void>
  /** Completes when shutdown has started. */
  readonly draining: Effect.Effect<void>
  /**
   * Replaces a TLS server's certificate (and SNI identities, if given) without a restart:
   * connections made from now on get the new one, open connections keep their session. Fails
   * with `TlsError` when the key or certificate is invalid (the old one stays), or when the server
   * does not serve TLS.
   */
  readonly setSecureContext: (
    identity: Tls.Identity & { readonly hosts?: Readonly<Record<string, Tls.Identity>> }
  ) => Effect.Effect<void, Tls.TlsError>
}

/**
 * The server of the current context, for `Server.layer` users.
 *
 * @since 0.1.0
 * @category tags
 */
export class CurrentServer extends Context.Tag("effect-wire/Server")<CurrentServer, Server>() {}

/**
 * Counters shared with the framed handlers of this server's connections.
 *
 * @since 0.1.0
 * @category tags
 */
export class ServerRegistry extends Context.Tag("effect-wire/ServerRegistry")<ServerRegistry, Registry>() {}

/** The fiber the lean runtime's FiberRef values are set by (no fiber of this process has id 0). */
const ROOT = FiberId.runtime(0, 0)

/**
 * The runtime with each FiberRef's value only, not its history (ancestor fibers' values, used
 * to join fibers back into them), which every fiber forked from it would copy; and without the
 * context FiberRef, which forking sets from `context` anyway, nor the runtime flags FiberRef:
 * a fiber runs with `runtimeFlags`, and its flags FiberRef is only a snapshot that Effect writes
 * whenever it reads the fiber's FiberRefs (`Effect.runtime`, joins). A program that sets no other
 * FiberRef then forks each connection's fiber from an empty set, Effect's cheapest fork (no
 * copy of the parent's set). Built with `FiberRefs`' public constructors: an empty set, each
 * value set once.
 */
const lean = <R>(runtime: Runtime.Runtime<R>): Runtime.Runtime<R> => {
  const refs = runtime.fiberRefs
  let values = FiberRefs.empty()
  for (const ref of FiberRefs.fiberRefs(refs)) {
    if (ref === FiberRef.currentContext || ref === FiberRef.currentRuntimeFlags) continue
    values = FiberRefs.updateAs(values, { fiberId: ROOT, fiberRef: ref, value: FiberRefs.getOrDefault(refs, ref) })
  }
  return Runtime.make({ context: runtime.context, runtimeFlags: runtime.runtimeFlags, fiberRefs: values })
}

const millis = (name: string, d: Duration.DurationInput | undefined, fallback: number, min = 0): number =>
  intOption(
    "Server",
    name,
    d === undefined ? fallback : Math.ceil(Duration.toMillis(Duration.decode(d))),
    fallback,
    min
  )

/**
 * Starts a server in the current scope: listens (TCP, TLS or a Unix domain socket) and runs
 * `handler` in a fiber of its own for each connection. Closing the scope shuts it down
 * gracefully (see the README's "Graceful shutdown").
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E, R>(
  options: ServerOptions,
  handler: Handler<E, R>
): Effect.Effect<Server, ListenError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const port = intOption("Server", "port", options.port, 0, 0, 65_535)
    const path = options.path
    if (path !== undefined && (typeof path !== "string" || path.length === 0)) {
      throw new RangeError(`Server: path must be a non-empty string, got ${JSON.stringify(path)}`)
    }
    const permissions = options.permissions === undefined
      ? undefined
      : intOption("Server", "permissions", options.permissions, 0, 0, 0o777)
    const tls = options.tls
    const handshakeMillis = tls === undefined ? 0 : millis("tls.handshakeTimeout", tls.handshakeTimeout, 10_000, 1)
    const backlog = intOption("Server", "backlog", options.backlog, 2048, 1, 65_535)
    const maxConnections = intOption("Server", "maxConnections", options.maxConnections, 1024, 1)
    const deadlineMillis = millis("shutdownDeadline", options.shutdownDeadline, 30_000)
    const flushMillis = millis("flushTimeout", options.flushTimeout, 1_000)
    const resolution = millis("timerResolution", options.timerResolution, 250)
    const connConfig = Connection.config(options)

    // Fine enough that every timeout fires within +10 % of its value.
    const watchdog = yield* Timers.make(Duration.millis(Connection.timerResolution(connConfig, resolution)))
    const registry = new Registry()
    watchdog.add(registry)
    // Handlers find the server's counters in their context (provided once, for every fiber).
    const runtime = yield* Effect.runtime<R>().pipe(Effect.provideService(ServerRegistry, registry))
    const fork = Runtime.runFork(lean(runtime))
    /** Open connections: each leaves once its fiber has ended and its socket is gone. */
    const drivers = new Set<Transport.Transport>()
    /** Completed when `drivers` is empty after shutdown started. */
    const emptied = Deferred.unsafeMake<void>(FiberId.none)
    const drainStarted = yield* Deferred.make<void>()
    const clock = yield* Effect.clock
    const failures = new FailureLog(options.logFailures ?? true, () => clock.unsafeCurrentTimeMillis())
    // A handshake that fails or times out (a plaintext client, an untrusted certificate, a
    // slowloris peer) never reaches a handler: its socket is destroyed, counted and logged.
    const listener = tls === undefined ? Listener.plain() : Listener.secure(tls, handshakeMillis, (error) => {
      registry.tlsFailed()
      fork(failures.failed("a TLS handshake", Cause.fail(error)))
    })
    const net = listener.net
    const served = (handler as Served<E, R>)[SERVES]
    /** The local address of every connection, when it is the listener's (see after `listen`). */
    let local: Net.AddressInfo | undefined = undefined

    // One fiber per connection and little else (no Scope, FiberSet, finalizer or context per
    // connection): idle connections are what a server holds most of. The driver is built
    // synchronously; when the fiber ends (interruption included), an observer closes it.
    // Failures are counted in the fiber, before the connection closes, so a peer that sees the
    // close also sees the count (interruption is shutdown, not a failure: not counted).
    const peerOf = (driver: Transport.Transport): string => {
      const peer = driver.remoteAddress
      return path !== undefined ? `on ${path}` : `from ${peer.host}:${peer.port}`
    }
    const failed = (driver: Transport.Transport) => (cause: Cause.Cause<unknown>) => {
      registry.handlerFailed()
      return failures.failed(`the connection ${peerOf(driver)}`, cause)
    }
    const ended = (driver: Transport.Transport) => {
      driver.fiber = undefined
      // A fiber interrupted because its peer is gone, or because its code threw where only the
      // driver's guard could catch it, failed: it is counted (in its fiber it could not be).
      if (driver.abandoned) {
        registry.handlerFailed()
        if (driver.crashed !== undefined) {
          fork(failures.failed(`the connection ${peerOf(driver)}`, Cause.die(driver.crashed.defect)))
        }
      }
      // The connection stops counting as active when its handler ends; its socket is tracked
      // (and its linger timed) until it is gone.
      registry.connectionClosed(driver)
      driver.setInlineReader(undefined)
      driver.closeThen(() => {
        watchdog.remove(driver)
        drivers.delete(driver)
        if (drivers.size === 0 && registry.draining) Deferred.unsafeDone(emptied, Effect.void)
      })
    }

    net.on(listener.accepted, (socket: Net.Socket) => {
      if (registry.draining || registry.active >= maxConnections) {
        registry.connectionRejected()
        socket.on("error", () => {})
        socket.destroy()
        return
      }
      registry.connectionAccepted()
      const driver = Transport.make(socket, connConfig, clock, local)
      watchdog.add(driver)
      drivers.add(driver)
      const fiber = fork(
        Effect.catchAllCause(served !== undefined ? served(driver, registry, fork) : handler(driver), failed(driver))
      )
      driver.fiber = fiber
      fiber.addObserver(() => ended(driver))
    })

    if (tls !== undefined) {
      // Connections still in their handshake count toward `maxConnections` too.
      net.maxConnections = maxConnections
      net.on("drop", () => registry.connectionRejected())
    }
    const address = yield* Listener.listen(net, { host, port, path, backlog, permissions })
    // Listening on one IP address, every connection's own address is the listener's: read
    // once here rather than asked of each socket (a system call per accept). Listening on every
    // address (0.0.0.0, ::) or on a Unix socket, each socket is asked.
    if (path === undefined && address.host !== "0.0.0.0" && address.host !== "::") {
      local = { address: address.host, port: address.port, family: address.family }
    }
    net.on("error", () => {})
    registry.label(path ?? `${address.host}:${address.port}`)

    const destroyAll = Effect.sync(() => {
      for (const d of drivers) d.socket.destroy()
    })
    const awaitEmpty = Effect.suspend(() => drivers.size === 0 ? Effect.void : Deferred.await(emptied))
    const interruptAll = Effect.fiberIdWith((id) =>
      Effect.sync(() => {
        for (const d of drivers) d.fiber?.unsafeInterruptAsFork(id)
      })
    )

    // Runs as a scope finalizer, hence uninterruptible: every bounded wait is made interruptible
    // so that its timeout can cut it short.
    const within = (millis: number) => <A, E>(wait: Effect.Effect<A, E>) =>
      Effect.interruptible(wait).pipe(Effect.timeout(Duration.millis(millis)), Effect.option)

    const doShutdown = Effect.gen(function*() {
      registry.draining = true
      // `close` stops accepting at once; its callback waits for every connection to end.
      const listenerClosed = yield* Deferred.make<void>()
      net.close(() => Deferred.unsafeDone(listenerClosed, Effect.void))
      yield* Deferred.succeed(drainStarted, undefined)
      for (const d of drivers) d.startDrain()
      const drained = yield* within(deadlineMillis)(awaitEmpty)
      if (drained._tag === "None") {
        registry.interruptedAtDeadline += drivers.size
        yield* within(flushMillis)(Effect.zipRight(interruptAll, awaitEmpty))
      }
      yield* destroyAll
      listener.destroyPending()
      yield* within(flushMillis)(Effect.zipRight(interruptAll, awaitEmpty))
      yield* within(flushMillis)(Deferred.await(listenerClosed))
      registry.mirror()
    }).pipe(Effect.uninterruptible)
    const shutdown = yield* Effect.cached(doShutdown)

    yield* Effect.addFinalizer(() => shutdown)

    return {
      address,
      stats: Effect.sync(() => registry.snapshot(drivers, drivers.size)),
      shutdown,
      draining: Deferred.await(drainStarted),
      setSecureContext: (identity) =>
        Effect.try({
          try: () => listener.setSecureContext(identity),
          catch: (e) =>
            new Tls.TlsError({
              side: "server",
              peer: path ?? `${address.host}:${address.port}`,
              code: (e as NodeJS.ErrnoException).code,
              detail: `certificate not replaced: ${e instanceof Error ? e.message : String(e)}`
            })
        })
    } satisfies Server
  })

/**
 * Options of `respond`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RespondOptions {
  /**
   * How many frames of one read may be handled at once (replies still go out in order).
   * Default 1: frames are handled one after another, with no fiber per frame.
   */
  readonly concurrency?: number
}

/**
 * A connection handler for request/response protocols where every frame gets its replies in
 * order: decodes frames with `codec`, runs `handle` on each and writes what it returns (an
 * array of frames, or one frame; `undefined` for none), batching the replies of one read into
 * one write. Ends at the peer's EOF or when the server drains, after answering every frame
 * received; a peer's half-close never cancels frames it already sent.
 *
 * @example
 * ```ts
 * import { Chunk, Effect, Stream } from "effect"
 * import { Client, Framing, Message, Server } from "effect-wire"
 *
 * const codec = Message.text(Framing.lines())
 * const echo = Server.respond(codec, (line) => Effect.succeed(`ECHO: ${line}`))
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, echo)
 *   const conn = yield* Client.connect({ port: server.address.port })
 *   const lines = conn.framed(codec)
 *   yield* lines.sendAll(["hello", "world"])
 *   console.log(Chunk.toArray(yield* Stream.runCollect(Stream.take(lines.frames, 2))))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: [ 'ECHO: hello', 'ECHO: world' ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const respond = <A, E, EH, R>(
  codec: Codec.Codec<A, E>,
  handle: (frame: A, connection: Connection.Connection) => Effect.Effect<A | ReadonlyArray<A> | undefined, EH, R>,
  options: RespondOptions = {}
): Handler<E | EH | ConnectionError, R> => respondWith({ input: codec, output: codec }, handle, options)

/**
 * Like `respond`, with one codec for the frames read and another for the replies.
 *
 * @since 0.1.0
 * @category constructors
 */
export const respondWith = <I, O, EI, EO, EH, R>(
  codecs: { readonly input: Codec.Codec<I, EI>; readonly output: Codec.Codec<O, EO> },
  handle: (frame: I, connection: Connection.Connection) => Effect.Effect<O | ReadonlyArray<O> | undefined, EH, R>,
  options: RespondOptions = {}
): Handler<EI | EO | EH | ConnectionError, R> => {
  const concurrency = intOption("respond", "concurrency", options.concurrency, 1, 1, 65_536)
  /** `serve`: run once, as a server's own handler (see `Served`). */
  const run = (
    connection: Connection.Connection,
    registry: Registry | undefined,
    serve: boolean,
    runBatch?: (effect: Effect.Effect<void, EH, R>) => Fiber.RuntimeFiber<void, EH>
  ): Effect.Effect<void, EI | EO | EH | ConnectionError, R> => {
    if (concurrency === 1) {
      // One frame after another, no fiber per frame; the replies of one read go out as one write.
      if (serve) return serveInOrder(connection as Transport.Transport, codecs, handle, registry, runBatch)
      return Effect.flatMap(
        transportOf("Server.respond", connection),
        (transport) => respondInOrder(transport, codecs, handle, registry)
      )
    }
    // Up to `concurrency` frames in flight, replies in order, written as they complete.
    const output = connection.framed(codecs.output)
    const replies: Array<O> = []
    return connection.framed(codecs.input).frames.pipe(
      Stream.mapEffect((f) => handle(f, connection), { concurrency }),
      Stream.runForEachChunk((done) =>
        Effect.suspend(() => {
          for (const reply of done) {
            if (reply === undefined) continue
            if (Array.isArray(reply)) { for (const r of reply as ReadonlyArray<O>) replies.push(r) }
            else replies.push(reply as O)
          }
          registry?.framesHandled(done.length)
          return output.sendAll(replies.splice(0, replies.length))
        })
      )
    )
  }
  const handler: Handler<EI | EO | EH | ConnectionError, R> = (connection) =>
    Effect.flatMap(
      Effect.serviceOption(ServerRegistry),
      (registry) => run(connection, Option.getOrUndefined(registry), false)
    )
  return Object.assign(handler, {
    [SERVES]: (connection: Transport.Transport, registry: Registry, fork: Fork<R>) =>
      run(connection, registry, true, fork)
  })
}

const SERVES = Symbol.for("effect-wire/Server/serves")

/** Runs an effect in a new fiber of the server's (lean) runtime: what a connection's own fiber runs on. */
type Fork<R> = <A, E>(effect: Effect.Effect<A, E, R>) => Fiber.RuntimeFiber<A, E>

/**
 * A handler that has a variant for when it is a server's own handler: run once per connection,
 * given the server's counters, with the server's end of the fiber removing its inline reader
 * (which saves a context lookup and a finalizer per connection).
 */
type Served<E, R> = Handler<E, R> & {
  readonly [SERVES]?: (
    connection: Transport.Transport,
    registry: Registry,
    fork: Fork<R>
  ) => Effect.Effect<unknown, E, R>
}

/**
 * A layer running the server for as long as the layer lives, exposing it as `CurrentServer`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Client, Server } from "effect-wire"
 *
 * const EchoServer = Server.layer({ port: 0 }, (conn) => Effect.flatMap(conn.readLine(), (line) => conn.write(line)))
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.CurrentServer
 *   const conn = yield* Client.connect({ port: server.address.port })
 *   yield* conn.write("hello\n")
 *   console.log(Buffer.from(yield* conn.readLine()).toString().trimEnd())
 * })
 *
 * // in an app: Layer.launch(EchoServer).pipe(NodeRuntime.runMain), and SIGINT / SIGTERM shut it down gracefully
 * Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(EchoServer)))
 * // Output: hello
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  options: ServerOptions,
  handler: Handler<E, R>
): Layer.Layer<CurrentServer, ListenError, R> => Layer.scoped(CurrentServer, make(options, handler))
