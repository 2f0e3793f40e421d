/**
 * The transport side of a connection: what servers, clients and RPC layers built on effect-wire
 * drive a connection with, beside the reader/writer API a handler sees (`Connection`). A
 * `Transport` is a `Connection` that also offers input as raw chunks (`pull`, or `poll` and
 * `waitInline` without a continuation of their own), an inline reader run inside the socket's
 * data event, writes that never wait (`writeNow`), the connection's guarded boundary (`guard`,
 * `crashed`) and, for servers, the drain, the timers and the fiber that serves it.
 *
 * Every connection effect-wire makes is a `Transport` (`Transport.isTransport`); `Server.respond`
 * and `RpcServer` take one from the `Connection` their handler is given.
 *
 * @since 0.1.0
 */
import type { Clock, Effect, Fiber } from "effect"
import type * as Net from "node:net"
import type { Connection, ConnectionConfig } from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import { Crash } from "./internal/crash.js"
import { SocketDriver } from "./internal/socketDriver.js"
import { isChunks } from "./internal/socketReads.js"
import { TransportTypeId } from "./internal/typeId.js"

/**
 * The mark of a `Transport`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: TransportTypeId = TransportTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = TransportTypeId

export {
  /**
   * A throw caught at a connection's boundary, as `poll` returns it (the consumer dies with its
   * `defect`).
   *
   * @since 0.1.0
   * @category models
   */
  Crash,
  /**
   * Whether a `poll` result is chunks (else the end, an error or a `Crash`).
   *
   * @since 0.1.0
   * @category guards
   */
  isChunks
}

/**
 * A reader that handles input inside the socket's data event, while the connection's fiber is
 * parked waiting for input: the hot path of request/response servers, which then costs no fiber
 * resume per read. See `Transport.setInlineReader`.
 *
 * @since 0.1.0
 * @category models
 */
export interface InlineReader {
  /**
   * Handles `chunk` now. Returns false when the connection's fiber must take over (work that
   * cannot complete synchronously, an error, or replies waiting on a slow peer): the fiber's
   * pending `pull` then returns early.
   */
  readonly push: (chunk: Uint8Array) => boolean
  /** Whether a frame is half-received (its frame-read timeout runs). */
  readonly partial: () => boolean
  /** Frames completed so far (a new frame restarts the frame-read window). */
  readonly progress: () => number
  /**
   * Whether work is in flight (requests being handled): then no idle timeout applies. When it
   * turns false, call `Transport.recheck`. Default: never busy.
   */
  readonly busy?: () => boolean
}

/**
 * A connection as its server, client or protocol layer drives it (see the module doc).
 *
 * @since 0.1.0
 * @category models
 */
export interface Transport extends Connection {
  readonly [TypeId]: TypeId
  /** The socket (for servers: to destroy what is left at shutdown). */
  readonly socket: Net.Socket
  /**
   * The queued input as chunks, waiting when there is none; `undefined` at EOF (or when a
   * server drains and neither `partial()` nor `busy()` is true); an empty array when an inline
   * reader asked for the fiber. `progress` counts completed frames (each gets its own frame-read
   * window); while `busy()` is true (requests in flight) there is no idle timeout and a drain does
   * not end the read: call `recheck` when it turns false. For custom frame loops; `framed` is the
   * usual way.
   */
  readonly pull: (
    partial: () => boolean,
    progress?: () => number,
    busy?: () => boolean
  ) => Effect.Effect<ReadonlyArray<Uint8Array> | undefined, ConnectionError>
  /**
   * Makes a read waiting for input look again at its `busy` / `holdOnDrain` / `holdIdle`
   * condition: call it when that turns false (a drain may end the read, the idle timeout starts).
   */
  readonly recheck: () => void
  /** Whether a server has started draining this connection (see `draining`). */
  readonly isDraining: boolean
  /** Installs (or removes) an inline reader, used while the fiber is parked in `pull`. */
  readonly setInlineReader: (reader: InlineReader | undefined) => void
  /** Writes without waiting; the error that prevents the write, if any. */
  readonly writeNow: (bytes: Uint8Array) => ConnectionError | undefined
  /** Whether queued outbound bytes are above the write high-water mark. */
  readonly writeBlocked: () => boolean
  /**
   * Runs `f(self, a)` at the connection's boundary, for code that runs where no fiber would catch
   * a throw (an observer of a handler's fiber, a microtask): a throw ends this connection as a
   * defect (see `crashed`) instead of the process.
   */
  readonly guard: <T, A>(self: T, f: (self: T, a: A) => void, a: A) => void
  /** The first throw caught at the connection's boundary: its consumer writes what it has and dies with it. */
  readonly crashed: { readonly defect: unknown } | undefined
  /**
   * `pull` without waiting: the queued chunks (an empty array when an inline reader asked for
   * the fiber), `null` at the end, the socket's error, the connection's `Crash`, or `undefined`
   * for "wait" (then `waitInline`).
   */
  readonly poll: (
    partial: boolean,
    busy: boolean
  ) => ReadonlyArray<Uint8Array> | null | ConnectionError | Crash | undefined
  /**
   * After `poll` found nothing: waits (the read deadline from the inline reader's state) until
   * the next socket event, then goes on with `next`.
   */
  readonly waitInline: <A, E, R>(next: Effect.Effect<A, E, R>) => Effect.Effect<A, E | ConnectionError, R>
  /** Bytes read and written so far. */
  readonly bytesIn: number
  readonly bytesOut: number
  /** Starts a server's drain: idle reads end at once (see `Server`). */
  readonly startDrain: () => void
  /** The fiber serving this connection, set by its server (to interrupt it). */
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** Whether the fiber was interrupted because the peer is gone or the connection crashed. */
  readonly abandoned: boolean
  /** Whether the socket is gone. */
  readonly isClosed: boolean
  /** Whether the peer has half-closed while the connection's fiber still runs. */
  readonly isHalfClosed: boolean
  /** Fires the timeouts due at `now` (called by the `Timers` that hold this connection). */
  readonly checkTimers: (now: number) => boolean
  /** Closes without a fiber (half-close, linger, destroy); `done` once the socket is gone. True when it already was. */
  readonly closeThen: (done: () => void) => boolean
}

/**
 * Whether `u` is a `Transport` (every connection effect-wire makes is one).
 *
 * @since 0.1.0
 * @category guards
 */
export const isTransport = (u: unknown): u is Transport =>
  typeof u === "object" && u !== null && (u as { readonly [TypeId]?: unknown })[TypeId] === TypeId

/**
 * Drives a connected socket (not scoped: its owner closes it, as a server does). Its timeouts
 * fire when a `Timers` holding it calls `checkTimers`. `localAddress`, when every connection of a
 * listener has the same one (a server on one IP address), spares a system call per connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  socket: Net.Socket,
  config: ConnectionConfig,
  clock: Clock.Clock,
  localAddress?: Net.AddressInfo
): Transport => new SocketDriver(socket, config, clock, localAddress)
