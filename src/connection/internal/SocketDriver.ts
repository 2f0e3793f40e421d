/**
 * The driver of one `node:net` socket: the implementation of `Connection` (see that module for
 * the behaviour), plus what servers use (`startDrain`, `checkTimers`, `pendingBytes`).
 *
 * Split in three modules by concept: this one holds the state, the socket's listeners, the
 * parked reader (its wait, its wake, the timeouts fired by `checkTimers`) and the drain;
 * `SocketReads` the inbound side (data events, flow control, `pull` / `poll`, the reads and
 * `framed`); `SocketWrites` the outbound side and the close. Those are plain functions of the
 * driver that its methods call, so every connection shares them (no closure per connection);
 * the members they use are public but marked internal.
 */
import { type Clock, Deferred, Effect, type Fiber, FiberId } from "effect"
import type * as Net from "node:net"
import type * as Codec from "../../protocol/Codec.js"
import type { Address, ConnectionConfig, ConnectionStats, Framed, FramedOptions } from "../Connection.js"
import type { InlineReader, Transport } from "../Transport.js"
import { type ConnectionError, ConnectionTimeout, SocketError } from "../ConnectionError.js"
import { EMPTY } from "../../protocol/internal/bytes.js"
import { Crash } from "./Crash.js"
import { ConnectionTypeId, TransportTypeId } from "./typeId.js"
import { ReadQueue } from "./ReadQueue.js"
import * as Reads from "./SocketReads.js"
import * as Writes from "./SocketWrites.js"

let nextId = 1

/** Resumes a fiber parked in a read or write (a stale one, of an interrupted fiber, does nothing). */
type Resume = (effect: Effect.Effect<void, ConnectionError>) => void

/** The driver of a socket, kept on the socket so its listeners are shared functions, not closures. */
const DRIVER = Symbol.for("effect-wire/SocketDriver")
interface Driven extends Net.Socket {
  [DRIVER]: SocketDriver
}

// Socket listeners shared by every driver (`this` is the socket): a connection costs no closures.
// Each runs its work through `guard`: a consumer's code (an inline reader's codec, handler,
// formatter or encoder) runs inside these events, where a throw would end the process.
function onData(this: Driven, chunk: Buffer): void {
  const d = this[DRIVER]
  d.guard(d, Reads.onData, chunk)
}
function onEnd(this: Driven): void {
  const d = this[DRIVER]
  d.guard(d, peerEnded, undefined)
}
function onError(this: Driven, cause: NodeJS.ErrnoException): void {
  const d = this[DRIVER]
  d.guard(d, socketFailed, cause)
}
function onClose(this: Driven): void {
  const d = this[DRIVER]
  d.guard(d, socketClosed, undefined)
}
function onDrain(this: Driven): void {
  const d = this[DRIVER]
  d.guard(d, Writes.wakeWriters, undefined)
}

const fireTimers = (d: SocketDriver, now: number): void => d.fireTimers(now)
const peerEnded = (d: SocketDriver): void => {
  d.ended = true
  d.halfClosedDeadline = d.clock.unsafeCurrentTimeMillis() + d.config.halfClosedMillis
  d.wake()
}
const socketFailed = (d: SocketDriver, cause: NodeJS.ErrnoException): void => {
  if (!Writes.isOwnCancel(cause)) d.failure ??= new SocketError({ code: cause.code, detail: cause.message, cause })
  d.wake()
}
const socketClosed = (d: SocketDriver): void => {
  d.closed = true
  d.wake()
}

const address = (host: string | undefined, port: number | undefined, family: string | undefined): Address => ({
  host: host ?? "",
  port: port ?? 0,
  family: family ?? ""
})

/**
 * The driver of one `node:net` socket: the `Transport` (and so the `Connection`) effect-wire
 * makes. Reached through `Connection.make` (scoped) and `Transport.make` (a server's).
 */
export class SocketDriver implements Transport {
  readonly [ConnectionTypeId]: ConnectionTypeId = ConnectionTypeId
  readonly [TransportTypeId]: TransportTypeId = TransportTypeId
  readonly id = nextId++
  private readonly sockname: Partial<Net.AddressInfo>
  /** @internal The shared empty queue until bytes must wait (the inline path never queues). */
  queue: ReadQueue = ReadQueue.empty
  /** @internal Whether flow control has paused the socket. */
  paused = false
  /** @internal set by the socket's listeners */
  ended = false
  /** @internal */
  closed = false
  /** @internal */
  writeEnded = false
  /** @internal */
  failure: ConnectionError | undefined = undefined
  /** Set by a server's drain (see `startDrain`). */
  isDraining = false
  /** @internal Set by a graceful close: input is then dropped. */
  closing = false
  /** Made when someone waits for the drain (most connections never do). */
  private drainSignal: Deferred.Deferred<void> | undefined = undefined
  /**
   * @internal Bumped on every socket event, so a waiter registered after an event it missed
   * resumes at once.
   */
  epoch = 0
  /**
   * @internal The resume of the parked reader. Waits register no canceler (an interrupted fiber
   * ignores its resume), so a stale one may stay here until the next wait or event; an inline
   * reader is only used by its consumer, which removes it when it stops.
   */
  waiter: Resume | undefined = undefined
  /** What the parked reader continues with when an event wakes it. */
  private waiterNext: Effect.Effect<unknown, unknown, unknown> = Effect.void
  /** @internal Whether `write` has corked the socket until the end of the turn (see `SocketWrites`). */
  corked = false
  /** @internal Made when a write first waits. */
  writeWaiters: Array<Resume> | undefined = undefined
  /** @internal When the parked reader times out (clock millis), and which timeout that is. */
  readDeadline = Infinity
  /** @internal */
  readDeadlineKind: "idle" | "frame-read" = "idle"
  /** @internal When the parked writers time out (clock millis). */
  writeDeadline = Infinity
  /** @internal When a graceful close gives up waiting for the peer's FIN. */
  closeDeadline = Infinity
  /** @internal */
  inline: InlineReader | undefined = undefined
  /** @internal Set when the inline reader hands work to the fiber: its `pull` returns early. */
  attention = false
  /**
   * @internal When the half-received frame of `pull` / the inline reader began, and their
   * progress then.
   */
  frameSince: number | undefined = undefined
  /** @internal */
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
  /** @internal When a half-closed peer stops waiting for the handlers (clock millis; see `checkTimers`). */
  halfClosedDeadline = Infinity

  /** `clock` is internal (read by `SocketReads` and `SocketWrites` for deadlines). */
  constructor(readonly socket: Net.Socket, readonly config: ConnectionConfig, readonly clock: Clock.Clock) {
    socket.setNoDelay(true)
    // The socket keeps its peer's address once read (even once closed), and this its own.
    void socket.remotePort
    this.sockname = socket.address() as Partial<Net.AddressInfo>
    ;(socket as Driven)[DRIVER] = this
    socket.on("data", onData)
    socket.on("end", onEnd)
    socket.on("error", onError)
    socket.on("close", onClose)
    socket.on("drain", onDrain)
  }

  // Built on each use from what was read at connect (see the constructor).
  get remoteAddress(): Address {
    return address(this.socket.remoteAddress, this.socket.remotePort, this.socket.remoteFamily)
  }

  get localAddress(): Address {
    const local = this.sockname
    return address(local.address, local.port, local.family)
  }

  // ---- events and waits ------------------------------------------------------------------

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
  crash(defect: unknown): void {
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

  /** @internal */
  wake(): void {
    this.epoch++
    const w = this.waiter
    if (w !== undefined) {
      this.waiter = undefined
      w(this.waiterNext as Effect.Effect<void>)
    }
    if (this.closed || this.failure !== undefined) Writes.wakeWriters(this)
  }

  /** True when no more bytes will come: EOF, a socket error, or closed. */
  private get exhausted(): boolean {
    return this.ended || this.closed || this.failure !== undefined
  }

  /**
   * @internal Whether a read that needs more bytes should stop as at EOF: the peer is done, or a
   * server is draining and nothing is half-read.
   */
  atEnd(partial: boolean): boolean {
    return this.exhausted || (this.isDraining && !partial)
  }

  /**
   * @internal Waits for the next socket event since `seen` (the read deadline is already set),
   * then goes on with `next`: one `Effect.async` with no canceler and no continuation of its own.
   */
  waitThen<A, E, R>(seen: number, next: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConnectionError, R> {
    return Effect.async<A, E | ConnectionError, R>((resume) => {
      if (this.epoch !== seen) return resume(next)
      this.waiter = resume as unknown as Resume
      this.waiterNext = next
    })
  }

  /** Fires the read and write timeouts that are due; called periodically by a `Watchdog`. */
  checkTimers(now: number): boolean {
    this.fired = false
    this.guard(this, fireTimers, now)
    return this.fired
  }

  /** @internal Set by `fireTimers` when it fired something (see `Watchdog.Timed`). */
  fired = false

  /** @internal The body of `checkTimers`, inside the connection's guard. */
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

  // ---- reads (see SocketReads) -----------------------------------------------------------

  pull(
    partial: () => boolean,
    progress?: () => number,
    busy?: () => boolean
  ): Effect.Effect<ReadonlyArray<Uint8Array> | undefined, ConnectionError> {
    return Reads.pull(this, partial, progress, busy)
  }

  poll(partial: boolean, busy: boolean): ReadonlyArray<Uint8Array> | null | ConnectionError | Crash | undefined {
    return Reads.poll(this, partial, busy)
  }

  waitInline<A, E, R>(next: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConnectionError, R> {
    return Reads.waitInline(this, next)
  }

  read(n?: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Reads.read(this, n)
  }

  readExactly(n: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Reads.readExactly(this, n)
  }

  readUntil(separator: Uint8Array | string, limit?: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Reads.readUntil(this, separator, limit)
  }

  readLine(limit?: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Reads.readLine(this, limit)
  }

  readAll(limit?: number): Effect.Effect<Uint8Array, ConnectionError> {
    return Reads.readAll(this, limit)
  }

  framed<A, E>(codec: Codec.Codec<A, E>, options?: FramedOptions): Framed<A, E> {
    return Reads.framed(this, codec, options)
  }

  // ---- writes and close (see SocketWrites) -----------------------------------------------

  writeBlocked(): boolean {
    return this.socket.writableLength > this.config.writeHighWaterMark
  }

  writeNow(bytes: Uint8Array): ConnectionError | undefined {
    return Writes.writeNow(this, bytes)
  }

  write(data: Uint8Array | string): Effect.Effect<void, ConnectionError> {
    return Writes.write(this, data)
  }

  writeAll(data: Iterable<Uint8Array | string>): Effect.Effect<void, ConnectionError> {
    return Writes.writeAll(this, data)
  }

  get flush(): Effect.Effect<void, ConnectionError> {
    return Writes.flush(this)
  }

  get endWrite(): Effect.Effect<void> {
    return Writes.endWrite(this)
  }

  get abort(): Effect.Effect<void> {
    return Writes.abort(this)
  }

  get close(): Effect.Effect<void> {
    return Writes.close(this)
  }

  /** `close` without a fiber, for servers: true when the socket is already gone (see there). */
  closeThen(done: () => void): boolean {
    return Writes.closeThen(this, done)
  }

  // ---- drain and state --------------------------------------------------------------------

  get draining(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.isDraining) return Effect.void
      this.drainSignal ??= Deferred.unsafeMake<void>(FiberId.none)
      return Deferred.await(this.drainSignal)
    })
  }

  get eof(): Effect.Effect<boolean> {
    return Effect.sync(() => this.ended)
  }

  get stats(): Effect.Effect<ConnectionStats> {
    return Effect.sync(() => ({
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut
    }))
  }

  /** Starts draining: idle reads end at once (see the module doc). */
  startDrain(): void {
    if (this.isDraining) return
    this.isDraining = true
    if (this.drainSignal !== undefined) Deferred.unsafeDone(this.drainSignal, Effect.void)
    this.wake()
  }

  /** Whether the peer has half-closed while this server's connection still runs its handler. */
  get isHalfClosed(): boolean {
    return this.ended && this.fiber !== undefined && !this.isClosed
  }

  /** Whether the socket is gone. */
  get isClosed(): boolean {
    return this.closed || this.socket.destroyed
  }

  /** Bytes waiting to be read or written (a connection with none and nothing in flight is idle). */
  get pendingBytes(): number {
    return this.queue.length + this.socket.writableLength
  }
}

