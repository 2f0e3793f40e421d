/**
 * A TCP connection as a scoped Effect resource, with the reader/writer API of asyncio streams
 * (`read`, `readExactly`, `readLine`, `readUntil`, `readAll`, `write`, `writeAll`, `flush`,
 * `endWrite`) and a framed view over any codec of `src/protocol`.
 *
 * Flow control both ways:
 * - reads: the socket is paused once `readHighWaterMark` bytes wait unconsumed, and resumed when
 *   the consumer takes them, so a fast peer never fills memory;
 * - writes: `write` waits while more than the socket's high-water mark is queued, and fails with
 *   `ConnectionTimeout("write-stall")` when the peer does not read for `writeStallTimeout`.
 *
 * The connection is closed by its `Scope`: gracefully (half-close, wait up to `linger` for the
 * peer's FIN, then destroy). A peer's half-close only ends our reads: writes still go out.
 *
 * When a server drains (`shutdown`), a read that finds nothing buffered and nothing half-read
 * ends as if the peer had closed, so idle handlers finish at once while a half-received frame may
 * still complete.
 *
 * @since 0.1.0
 */
import { Duration, Effect, type Scope, type Stream } from "effect"
import type * as Net from "node:net"
import { intOption } from "../internal/options.js"
import type * as Codec from "../protocol/Codec.js"
import type { ConnectionError } from "./ConnectionError.js"
import { SocketDriver } from "./internal/socketDriver.js"
import { ConnectionTypeId } from "./internal/typeId.js"
import { resolutionFor } from "./internal/watchdog.js"
import { make as makeTimers, Timers } from "./Timers.js"
import type * as Tls from "./Tls.js"

/**
 * A socket address as `get_extra_info("peername")` gives it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Address {
  readonly host: string
  readonly port: number
  readonly family: string
}

/**
 * Limits of one connection. Every field has a bounded default.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  /** Unconsumed bytes at which the socket is paused. Default 64 KiB. */
  readonly readHighWaterMark?: number
  /** Queued outbound bytes past which `write` waits. Default 64 KiB. */
  readonly writeHighWaterMark?: number
  /** Queued outbound bytes past which `write` fails (a peer that never reads). Default 1 MiB. */
  readonly maxOutboundBytes?: number
  /** How long `write` may wait for the peer to read. Default 30 s. */
  readonly writeStallTimeout?: Duration.DurationInput
  /** How long a read may wait with nothing half-received. Default 5 min. */
  readonly idleTimeout?: Duration.DurationInput
  /** How long a frame (or a `readLine`, `readExactly`…) may take from its first byte. Default 30 s. */
  readonly frameReadTimeout?: Duration.DurationInput
  /**
   * How long a graceful close waits for the peer's FIN before destroying the socket. Default 1 s.
   * 0 closes at once: FIN after the queued bytes, destroyed as soon as they are flushed.
   */
  readonly linger?: Duration.DurationInput
  /**
   * How long a server's connection may stay open after the peer's half-close (EOF) while its
   * handlers still run. A peer that reset is noticed within one timer tick, but one that closed
   * without a reset cannot be told from one still waiting for its replies (Node reads nothing
   * after EOF): past this bound the socket is destroyed and the handlers interrupted, so a gone
   * peer cannot hold a connection slot. Default 30 s.
   */
  readonly halfClosedTimeout?: Duration.DurationInput
}

/**
 * The resolved limits of a connection, in bytes and milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionConfig {
  readonly readHighWaterMark: number
  readonly writeHighWaterMark: number
  readonly maxOutboundBytes: number
  readonly writeStallMillis: number
  readonly idleMillis: number
  readonly frameReadMillis: number
  readonly lingerMillis: number
  readonly halfClosedMillis: number
}

const millis = (name: string, d: Duration.DurationInput | undefined, fallback: number): number => {
  const ms = d === undefined ? fallback : Duration.toMillis(Duration.decode(d))
  return intOption("Connection", name, Math.ceil(ms), fallback, 1, 2 ** 31 - 1)
}

/**
 * Validates options and fills in the defaults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const config = (options: ConnectionOptions = {}): ConnectionConfig => ({
  readHighWaterMark: intOption("Connection", "readHighWaterMark", options.readHighWaterMark, 65_536, 1),
  writeHighWaterMark: intOption("Connection", "writeHighWaterMark", options.writeHighWaterMark, 65_536, 1),
  maxOutboundBytes: intOption("Connection", "maxOutboundBytes", options.maxOutboundBytes, 1_048_576, 1),
  writeStallMillis: millis("writeStallTimeout", options.writeStallTimeout, 30_000),
  idleMillis: millis("idleTimeout", options.idleTimeout, 300_000),
  frameReadMillis: millis("frameReadTimeout", options.frameReadTimeout, 30_000),
  halfClosedMillis: millis("halfClosedTimeout", options.halfClosedTimeout, 30_000),
  // 0 is allowed (close at once: see `closeThen`); the other durations must be positive.
  lingerMillis: intOption(
    "Connection",
    "linger",
    options.linger === undefined ? undefined : Math.ceil(Duration.toMillis(Duration.decode(options.linger))),
    1_000,
    0,
    2 ** 31 - 1
  )
})

/**
 * How often a watchdog must check connections of `config` so that each of their timeouts fires
 * within +10 % of its value: at most `requested` (default 250 ms), at most a twentieth of the
 * smallest timeout, at least 1 ms.
 *
 * @since 0.1.0
 * @category utils
 */
export const timerResolution = (config: ConnectionConfig, requested = 250): number =>
  resolutionFor(requested, [
    config.idleMillis,
    config.frameReadMillis,
    config.writeStallMillis,
    config.lingerMillis,
    config.halfClosedMillis
  ])

/**
 * A framed view of a connection: decoded frames in, encoded frames out.
 *
 * @since 0.1.0
 * @category models
 */
export interface Framed<A, E> {
  /** The frames the peer sends; ends at the peer's EOF (or when a server drains, between frames). */
  readonly frames: Stream.Stream<A, E | ConnectionError>
  /** Encodes and writes one frame (waits while the peer is not reading). */
  readonly send: (frame: A) => Effect.Effect<void, E | ConnectionError>
  /** Encodes every frame and writes them as one write. */
  readonly sendAll: (frames: Iterable<A>) => Effect.Effect<void, E | ConnectionError>
  /**
   * Makes a read of `frames` that waits for input look again at `holdOnDrain` (see
   * `FramedOptions`): call it when the condition turns false during a drain.
   */
  readonly recheck: Effect.Effect<void>
}

/**
 * Options of `Connection.framed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FramedOptions {
  /**
   * While this returns true, a server's drain does not end `frames` between frames: reads go on
   * as usual (for a caller still busy with earlier frames that answers later ones itself, e.g.
   * with a "shutting down" error). When it turns false, call `recheck` so that a read waiting for
   * input ends. Default: never hold (a drain ends `frames` at the next frame boundary).
   */
  readonly holdOnDrain?: () => boolean
  /**
   * While this returns true, a read of `frames` waiting for input has no idle timeout (e.g.
   * requests are still in flight: the peer is waiting for us, not idle). When it turns false,
   * call `recheck` so that the idle timeout starts. Default: the idle timeout always applies.
   */
  readonly holdIdle?: () => boolean
}

/**
 * Byte and time counters of one connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionStats {
  readonly bytesIn: number
  readonly bytesOut: number
}

/**
 * The mark of a `Connection`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: ConnectionTypeId = ConnectionTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = ConnectionTypeId

/**
 * Whether `u` is a `Connection`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isConnection = (u: unknown): u is Connection =>
  typeof u === "object" && u !== null && (u as { readonly [TypeId]?: unknown })[TypeId] === TypeId

/**
 * One connection (TCP, TLS or a Unix domain socket). Reads must not run concurrently with each other; writes may.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  readonly [TypeId]: TypeId
  readonly id: number
  readonly remoteAddress: Address
  readonly localAddress: Address
  /** The TLS session (peer certificate, ALPN protocol, cipher…); `undefined` over plain TCP. */
  readonly tls: Tls.Info | undefined
  readonly config: ConnectionConfig
  /** Up to `n` bytes (default 64 KiB); an empty array at EOF. */
  readonly read: (n?: number) => Effect.Effect<Uint8Array, ConnectionError>
  /** Exactly `n` bytes, or `IncompleteRead` with the partial bytes at EOF. */
  readonly readExactly: (n: number) => Effect.Effect<Uint8Array, ConnectionError>
  /** Bytes up to and including `separator`; `IncompleteRead` at EOF, `LimitExceeded` past `limit` (64 KiB). */
  readonly readUntil: (separator: Uint8Array | string, limit?: number) => Effect.Effect<Uint8Array, ConnectionError>
  /** A line including its `\n`; at EOF the unterminated rest, then an empty array. */
  readonly readLine: (limit?: number) => Effect.Effect<Uint8Array, ConnectionError>
  /** Everything until EOF, failing with `LimitExceeded` past `limit` (default 16 MiB). */
  readonly readAll: (limit?: number) => Effect.Effect<Uint8Array, ConnectionError>
  /** Writes bytes (strings as UTF-8); waits while the peer is not reading. */
  readonly write: (data: Uint8Array | string) => Effect.Effect<void, ConnectionError>
  /** Writes several buffers as one write (`writelines`). */
  readonly writeAll: (data: Iterable<Uint8Array | string>) => Effect.Effect<void, ConnectionError>
  /** Waits until everything written so far has been handed to the kernel. */
  readonly flush: Effect.Effect<void, ConnectionError>
  /** Half-closes: sends FIN after the queued bytes (`write_eof`); reads go on. */
  readonly endWrite: Effect.Effect<void>
  /** Closes gracefully: half-close, wait up to `linger` for the peer's FIN, destroy. */
  readonly close: Effect.Effect<void>
  /** Destroys the socket at once with a TCP reset. */
  readonly abort: Effect.Effect<void>
  /** A framed view with the given codec. One framed reader per connection at a time. */
  readonly framed: <A, E>(codec: Codec.Codec<A, E>, options?: FramedOptions) => Framed<A, E>
  /** Completes when a server starts draining this connection. */
  readonly draining: Effect.Effect<void>
  /** Whether the peer has sent its FIN. */
  readonly eof: Effect.Effect<boolean>
  readonly stats: Effect.Effect<ConnectionStats>
}

/**
 * Wraps a connected socket as a `Connection` closed (gracefully) when the scope closes. Its
 * timeouts are checked by the `Timers` of the context, or by timers of its own.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Connection, Server } from "effect-wire"
 * import * as Net from "node:net"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, (conn) => conn.write("hello\n"))
 *   // a socket connected by other means: here node:net's own connect
 *   const socket = yield* Effect.async<Net.Socket>((resume) => {
 *     const socket = Net.connect(server.address.port, "127.0.0.1", () => resume(Effect.succeed(socket)))
 *   })
 *   const conn = yield* Connection.make(socket, { idleTimeout: "1 minute" })
 *   const line = yield* conn.readLine()
 *   console.log(Buffer.from(line).toString().trimEnd())
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * // Output: hello
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  socket: Net.Socket,
  options: ConnectionOptions | ConnectionConfig = {}
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = "lingerMillis" in options ? options : config(options)
    const shared = yield* Effect.serviceOption(Timers)
    const timers = shared._tag === "Some" ? shared.value : yield* makeTimers(Duration.millis(timerResolution(resolved)))
    const clock = yield* Effect.clock
    return yield* Effect.acquireRelease(
      Effect.sync(() => {
        const driver = new SocketDriver(socket, resolved, clock)
        timers.add(driver)
        return driver
      }),
      (driver) => Effect.ensuring(driver.close, Effect.sync(() => timers.remove(driver)))
    )
  })
