/**
 * The state of one driven socket and what changes it outside a read or a write: the socket's
 * events (end, error, close), the parked reader (its wait and its wake), the boundary (`guard`,
 * `crash`), the timeouts fired by `checkTimers`, and the drain.
 *
 * Only the modules of this folder see it: `SocketReads` and `SocketWrites` are plain functions
 * of it (every connection shares them, no closure per connection), and the `SocketDriver` that
 * users and servers hold keeps it in a private field. Imports run one way: the driver imports
 * the reads and writes, which import this module, which imports neither.
 */
import { type Clock, Deferred, Effect, type Fiber, FiberId } from "effect"
import type * as Net from "node:net"
import { EMPTY } from "../../internal/bytes.js"
import type { ConnectionConfig, ConnectionStats } from "../Connection.js"
import { type ConnectionError, ConnectionFailed, ConnectionTimeout } from "../ConnectionError.js"
import * as Tls from "../Tls.js"
import type { InlineReader } from "../Transport.js"
import { Crash } from "./crash.js"
import { ReadQueue } from "./readQueue.js"

/** Resumes a fiber parked in a read or write (a stale one, of an interrupted fiber, does nothing). */
export type Resume = (effect: Effect.Effect<void, ConnectionError>) => void

/**
 * Whether a socket error only says that we destroyed the socket under a pending write (Node 22
 * and later report `ECANCELED` then; Node 20 reports nothing): the connection is closed, not failed.
 */
export const isOwnCancel = (cause: NodeJS.ErrnoException): boolean => cause.code === "ECANCELED"

/**
 * The socket's error as a `ConnectionFailed`. A TLS error after the handshake (an alert such as
 * TLS 1.3's "certificate required", which only arrives on the first read) keeps OpenSSL's reason
 * without its source location, plus the hint `TlsError` gives for the same code.
 */
export const connectionFailed = (cause: NodeJS.ErrnoException): ConnectionFailed => {
  const tls = cause.code?.startsWith("ERR_SSL_") === true
  const hint = tls ? Tls.hint(cause.code) : undefined
  const detail = tls ? Tls.reason(cause.message) : cause.message
  return new ConnectionFailed({ code: cause.code, detail: hint === undefined ? detail : `${detail} (${hint})`, cause })
}

const fireTimers = (s: SocketState, now: number): void => s.fireTimers(now)
const wakeWriters = (s: SocketState): void => s.wakeWriters()

export class SocketState {
  /** The shared empty queue until bytes must wait (the inline path never queues). */
  queue: ReadQueue = ReadQueue.empty
  /** Whether flow control has paused the socket. */
  paused = false
  ended = false
  closed = false
  writeEnded = false
  failure: ConnectionError | undefined = undefined
  /** Set by a server's drain (see `startDrain`). */
  isDraining = false
  /** Set by a graceful close: input is then dropped. */
  closing = false
  /** Made when someone waits for the drain (most connections never do). */
  private drainSignal: Deferred.Deferred<void> | undefined = undefined
  /** Bumped on every socket event, so a waiter registered after an event it missed resumes at once. */
  epoch = 0
  /**
   * The resume of the parked reader. Waits register no canceler (an interrupted fiber ignores
   * its resume), so a stale one may stay here until the next wait or event; an inline reader is
   * only used by its consumer, which removes it when it stops.
   */
  waiter: Resume | undefined = undefined
  /** What the parked reader continues with when an event wakes it. */
  private waiterNext: Effect.Effect<unknown, unknown, unknown> = Effect.void
  /** Whether `write` has corked the socket until the end of the turn (see `SocketWrites`). */
  corked = false
  /** Made when a write first waits. */
  writeWaiters: Array<Resume> | undefined = undefined
  /** Whether the socket's "drain" is listened to: from the first write that waits on. */
  private drainHeard = false
  /** When the parked reader times out (clock millis), and which timeout that is. */
  readDeadline = Infinity
  readDeadlineKind: "idle" | "frame-read" = "idle"
  /** When the parked writers time out (clock millis). */
  writeDeadline = Infinity
  /** When a graceful close gives up waiting for the peer's FIN. */
  closeDeadline = Infinity
  inline: InlineReader | undefined = undefined
  /** Set when the inline reader hands work to the fiber: its `pull` returns early. */
  attention = false
  /** When the half-received frame of `pull` / the inline reader began, and their progress then. */
  frameSince: number | undefined = undefined
  frameMark = -1
  bytesIn = 0
  bytesOut = 0
  /** The fiber serving this connection, set by a server (to interrupt it at the deadline). */
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
  /** Set by the first throw caught at the boundary (see `guard`). */
  crashed: Crash | undefined = undefined
  /**
   * Set when the connection's fiber was interrupted because the peer is gone (or never finished
   * after its half-close): a server counts that as a failure, not as its own shutdown.
   */
  abandoned = false
  /** When a half-closed peer stops waiting for the handlers (clock millis; see `checkTimers`). */
  halfClosedDeadline = Infinity
  /** Set by `fireTimers` when it fired something (see `Timers.Timed`). */
  private fired = false

  constructor(readonly socket: Net.Socket, readonly config: ConnectionConfig, readonly clock: Clock.Clock) {}

  // ---- the socket's events ---------------------------------------------------------------

  peerEnded(): void {
    this.ended = true
    this.halfClosedDeadline = this.clock.unsafeCurrentTimeMillis() + this.config.halfClosedMillis
    this.wake()
  }

  socketFailed(cause: NodeJS.ErrnoException): void {
    if (!isOwnCancel(cause)) this.failure ??= connectionFailed(cause)
    this.wake()
  }

  socketClosed(): void {
    this.closed = true
    this.wake()
  }

  /**
   * Parks a writer until the socket drains (or closes, fails or stalls: see `wakeWriters` and
   * `checkTimers`). Most connections never wait on a write, so the socket's "drain" is listened
   * to from the first wait on, not from the start: a listener less per connection.
   */
  waitForDrain(resume: Resume): void {
    if (!this.drainHeard) {
      this.drainHeard = true
      this.socket.on("drain", () => this.guard(this, wakeWriters, undefined))
    }
    const ws = this.writeWaiters ??= []
    if (ws.length === 0) {
      this.writeDeadline = this.clock.unsafeCurrentTimeMillis() + this.config.writeStallMillis
    }
    ws.push(resume)
  }

  /** Resumes the parked writers (the socket drained, closed or failed). */
  wakeWriters(): void {
    const ws = this.writeWaiters
    if (ws === undefined || ws.length === 0) return
    this.writeWaiters = undefined
    for (const w of ws) w(Effect.void)
  }

  // ---- the boundary ----------------------------------------------------------------------

  /**
   * The connection's boundary: runs `f(self, a)` where no fiber catches a throw
   * (a socket event, a watchdog tick, a fiber's observer, a microtask), so that a throw becomes a
   * defect of this connection (see `crash`) instead of an uncaught exception ending the process.
   */
  guard<T, A>(self: T, f: (self: T, a: A) => void, a: A): void {
    try {
      f(self, a)
    } catch (defect) {
      this.crash(defect)
    }
  }

  /**
   * Ends this connection because its code threw: the inline reader is dropped (its state may be
   * half-updated), and the connection's fiber wakes to find `crashed` (its consumer writes the
   * replies made before the throw, then dies with the defect). A fiber busy elsewhere (a
   * suspended handler) is interrupted. Later throws are ignored.
   */
  private crash(defect: unknown): void {
    if (this.crashed !== undefined) return
    this.crashed = new Crash(defect)
    this.inline = undefined
    if (this.waiter !== undefined) this.wake()
    else this.abandon()
  }

  /** Interrupts the connection's fiber (a server's), which no socket event can reach any more. */
  private abandon(): void {
    const fiber = this.fiber
    if (fiber === undefined || this.abandoned) return
    this.abandoned = true
    fiber.unsafeInterruptAsFork(FiberId.none)
  }

  // ---- the parked reader -----------------------------------------------------------------

  wake(): void {
    this.epoch++
    const w = this.waiter
    if (w !== undefined) {
      this.waiter = undefined
      w(this.waiterNext as Effect.Effect<void>)
    }
    if (this.closed || this.failure !== undefined) this.wakeWriters()
  }

  /** True when no more bytes will come: EOF, a socket error, or closed. */
  private get exhausted(): boolean {
    return this.ended || this.closed || this.failure !== undefined
  }

  /**
   * Whether a read that needs more bytes should stop as at EOF: the peer is done, or a server is
   * draining and nothing is half-read.
   */
  atEnd(partial: boolean): boolean {
    return this.exhausted || (this.isDraining && !partial)
  }

  /**
   * Waits for the next socket event since `seen` (the read deadline is already set), then goes
   * on with `next`: one `Effect.async` with no canceler and no continuation of its own.
   */
  waitThen<A, E, R>(seen: number, next: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConnectionError, R> {
    return Effect.async<A, E | ConnectionError, R>((resume) => {
      if (this.epoch !== seen) return resume(next)
      this.waiter = resume as unknown as Resume
      this.waiterNext = next
    })
  }

  setInlineReader(reader: InlineReader | undefined): void {
    this.inline = reader
    this.frameSince = undefined
    // Installed or removed by its consumer's fiber, which is not waiting: a waiter is stale.
    this.waiter = undefined
  }

  /**
   * A parked read's `busy` (or `holdOnDrain` / `holdIdle`) condition may have turned false: a
   * drain may now end the read, and an idle wait gets its idle deadline.
   */
  recheck(): void {
    if (this.waiter === undefined) return
    if (this.isDraining || this.exhausted) return this.wake()
    if (this.readDeadlineKind === "idle" && this.readDeadline === Infinity) {
      this.readDeadline = this.clock.unsafeCurrentTimeMillis() + this.config.idleMillis
    }
  }

  // ---- timeouts ----------------------------------------------------------------------------

  /** Fires the read and write timeouts that are due; called periodically by the `Timers`. */
  checkTimers(now: number): boolean {
    this.fired = false
    this.guard(this, fireTimers, now)
    return this.fired
  }

  /** The body of `checkTimers`, inside the connection's guard. */
  fireTimers(now: number): void {
    if (now >= this.closeDeadline && !this.socket.destroyed) {
      this.fired = true
      this.socket.destroy()
    }
    if (this.ended && this.fiber !== undefined && !this.abandoned) this.checkHalfClosed(now)
    if (this.waiter !== undefined && now >= this.readDeadline) {
      this.fired = true
      const w = this.waiter
      this.waiter = undefined
      const millis = this.readDeadlineKind === "idle" ? this.config.idleMillis : this.config.frameReadMillis
      w(Effect.fail(new ConnectionTimeout({ timeout: this.readDeadlineKind, millis })))
    }
    const ws = this.writeWaiters
    if (ws !== undefined && ws.length > 0 && now >= this.writeDeadline) {
      this.fired = true
      this.writeWaiters = undefined
      const error = Effect.fail(new ConnectionTimeout({ timeout: "write-stall", millis: this.config.writeStallMillis }))
      this.socket.destroy()
      for (const w of ws) w(error)
    }
  }

  /**
   * A server's connection after the peer's EOF, while its fiber still runs (handlers in flight).
   * Node stops reading at EOF, so a later reset is only seen by writing: an empty write probes
   * the socket at each tick (the kernel refuses it once the peer has reset, and sends nothing
   * otherwise). A peer that closed without a reset cannot be told from one still waiting for its
   * replies, hence the bound: past `halfClosedTimeout` the socket is destroyed. Either way the
   * fiber, which may be busy in a handler and never look at the socket again, is interrupted
   * unless a wait of the driver (that the close wakes) holds it.
   */
  private checkHalfClosed(now: number): void {
    const socket = this.socket
    if (!socket.destroyed && socket.writableLength === 0 && !this.writeEnded) socket.write(EMPTY)
    const gone = socket.destroyed || socket.errored !== null
    if (!gone && now < this.halfClosedDeadline) return
    this.fired = true
    if (!socket.destroyed) socket.destroy()
    if (this.waiter === undefined && (this.writeWaiters === undefined || this.writeWaiters.length === 0)) this.abandon()
  }

  // ---- the drain -----------------------------------------------------------------------------

  get draining(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.isDraining) return Effect.void
      this.drainSignal ??= Deferred.unsafeMake<void>(FiberId.none)
      return Deferred.await(this.drainSignal)
    })
  }

  /** Starts draining: idle reads end at once (see `Server`). */
  startDrain(): void {
    if (this.isDraining) return
    this.isDraining = true
    if (this.drainSignal !== undefined) Deferred.unsafeDone(this.drainSignal, Effect.void)
    this.wake()
  }

  get eof(): Effect.Effect<boolean> {
    return Effect.sync(() => this.ended)
  }

  get stats(): Effect.Effect<ConnectionStats> {
    return Effect.sync(() => ({ bytesIn: this.bytesIn, bytesOut: this.bytesOut }))
  }

  /** Whether the socket is gone. */
  get isClosed(): boolean {
    return this.closed || this.socket.destroyed
  }
}
