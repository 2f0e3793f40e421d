/**
 * The outbound side of a driven socket: the writes (`writeNow`, `write`, `writeAll`, `flush`),
 * the parked writers, and the ends (`endWrite`, `abort`, `close`). Plain functions of the
 * `SocketState`, which the driver's methods call: every connection shares them (no closure per
 * connection). The write-stall and linger timeouts are fired by the state's `checkTimers`.
 */
import { Effect } from "effect"
import { Buffer } from "node:buffer"
import { TLSSocket } from "node:tls"
import { EMPTY } from "../../internal/bytes.js"
import * as Codec from "../../protocol/Codec.js"
import { ConnectionClosed, type ConnectionError, OutboundLimitExceeded } from "../ConnectionError.js"
import { connectionFailed, isOwnCancel, type SocketState } from "./socketState.js"

export const toBytes = (data: Uint8Array | string): Uint8Array =>
  typeof data === "string" ? Buffer.from(data, "utf8") : data

const writeClosed = (d: SocketState): ConnectionError | undefined => {
  if (d.failure !== undefined) return d.failure
  if (d.writeEnded) return new ConnectionClosed({ reason: "write-ended", detail: "write after endWrite" })
  if (d.closed || d.socket.destroyed) return new ConnectionClosed({ reason: "closed", detail: "socket closed" })
  return undefined
}

/** Waits until the queued outbound bytes fall to the high-water mark (or the write stalls). */
const waitWritable = (d: SocketState): Effect.Effect<void, ConnectionError> =>
  Effect.suspend(() => {
    // A destroyed socket has dropped its queue: a short queue then means lost bytes, not sent ones.
    if (d.failure !== undefined || d.socket.errored !== null || d.socket.destroyed) {
      return Effect.fail(lost(d))
    }
    if (d.socket.writableLength <= d.config.writeHighWaterMark) return Effect.void
    const closed = writeClosed(d)
    if (closed !== undefined) return Effect.fail(closed)
    return Effect.zipRight(
      Effect.async<void, ConnectionError>((resume) => {
        d.waitForDrain(resume)
        return Effect.sync(() => {
          if (d.writeWaiters !== undefined) d.writeWaiters = d.writeWaiters.filter((x) => x !== resume)
        })
      }),
      waitWritable(d)
    )
  })

/** Whether queued outbound bytes are above the write high-water mark. */
export const writeBlocked = (d: SocketState): boolean => d.socket.writableLength > d.config.writeHighWaterMark

/** Writes without waiting; returns the error that prevents the write, if any. */
export const writeNow = (d: SocketState, bytes: Uint8Array): ConnectionError | undefined => {
  const closed = writeClosed(d)
  if (closed !== undefined) return closed
  const queued = d.socket.writableLength
  if (queued > d.config.maxOutboundBytes) {
    d.socket.destroy()
    return new OutboundLimitExceeded({ limit: d.config.maxOutboundBytes, queued })
  }
  if (bytes.length === 0) return undefined
  d.bytesOut += bytes.length
  d.socket.write(bytes)
  // A write the OS refuses at once (the peer has reset) errors the socket synchronously and
  // empties its queue; the 'error' event only comes later. Report it now, not success.
  return d.socket.errored !== null || d.socket.destroyed ? lost(d) : undefined
}

/** Why a destroyed socket lost its writes: its socket error, else `ConnectionClosed`. */
const lost = (d: SocketState): ConnectionError => {
  const cause = d.socket.errored as NodeJS.ErrnoException | null
  if (cause !== null && !isOwnCancel(cause)) {
    d.failure ??= connectionFailed(cause)
  }
  return d.failure ?? new ConnectionClosed({ reason: "closed", detail: "socket closed" })
}

/**
 * A fiber's writes of one turn go out together: the socket is corked at the first and uncorked
 * once the turn's work is done (a `process.nextTick` runs after the microtasks in which fibers
 * run), so a loop that writes line by line (`readLine`, `write`, `readLine`…) makes one `writev`
 * per read, not one system call per write.
 */
const coalesce = (d: SocketState): void => {
  if (d.corked) return
  d.corked = true
  d.socket.cork()
  process.nextTick(uncork, d)
}

const uncork = (d: SocketState): void => {
  d.corked = false
  d.socket.uncork()
}

export const write = (d: SocketState, data: Uint8Array | string): Effect.Effect<void, ConnectionError> =>
  Effect.suspend(() => {
    coalesce(d)
    const error = writeNow(d, toBytes(data))
    if (error !== undefined) return Effect.fail(error)
    return d.socket.writableLength > d.config.writeHighWaterMark ? waitWritable(d) : Effect.void
  })

export const writeAll = (d: SocketState, data: Iterable<Uint8Array | string>): Effect.Effect<void, ConnectionError> =>
  Effect.suspend(() => write(d, Codec.joinParts(Array.from(data, toBytes))))

export const flush = (d: SocketState): Effect.Effect<void, ConnectionError> =>
  Effect.suspend(() => {
    if (d.socket.writableLength === 0) return Effect.void
    const closed = writeClosed(d)
    if (closed !== undefined) return Effect.fail(closed)
    return Effect.async<void, ConnectionError>((resume) => {
      d.socket.write(EMPTY, (err) =>
        resume(
          err ? Effect.fail(d.failure ?? new ConnectionClosed({ reason: "closed", detail: err.message })) : Effect.void
        ))
    })
  })

export const endWrite = (d: SocketState): Effect.Effect<void> =>
  Effect.sync(() => {
    if (d.writeEnded || d.socket.destroyed) return
    d.writeEnded = true
    d.socket.end()
  })

// Node resets only a plain TCP socket (`resetAndDestroy` throws ERR_INVALID_HANDLE_TYPE on a
// TLS socket, whose TCP socket it does not expose): a TLS connection is destroyed at once instead,
// without close_notify, which its peer sees as an abrupt end.
export const abort = (d: SocketState): Effect.Effect<void> =>
  Effect.sync(() => {
    const socket = d.socket
    if (socket.destroyed) return
    if (socket instanceof TLSSocket) socket.destroy()
    else socket.resetAndDestroy()
  })

export const close = (d: SocketState): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (closeThen(d, () => resume(Effect.void))) return
    // Interrupted (a caller's timeout): the socket goes at once.
    return Effect.sync(() => d.socket.destroy())
  })

/**
 * `close` without a fiber (a server's, once the connection's fiber has ended): half-closes and
 * calls `done` once the socket is gone; true when it already is (`done` was called).
 * The watchdog destroys the socket once `linger` has passed (see `checkTimers`), so the wait is
 * bounded without a timer (or a racing fiber) per close. With `linger` 0 the socket is destroyed
 * as soon as the queued bytes are flushed, without waiting for the peer's FIN.
 */
export const closeThen = (d: SocketState, done: () => void): boolean => {
  if (d.closed || d.socket.destroyed) {
    done()
    return true
  }
  d.closing = true
  d.socket.once("close", done)
  const now = d.clock.unsafeCurrentTimeMillis()
  if (d.config.lingerMillis === 0) {
    // `destroySoon` ends our side (unless already ended) and destroys on 'finish', i.e. once
    // the queue is in the kernel, which sends it before our FIN. A peer that never reads would
    // hold that forever: the write-stall timeout bounds it, as it bounds every write.
    d.writeEnded = true
    d.closeDeadline = now + d.config.writeStallMillis
    d.socket.destroySoon()
  } else {
    if (!d.writeEnded) {
      d.writeEnded = true
      d.socket.end()
    }
    d.closeDeadline = now + d.config.lingerMillis
  }
  // Our half-close is done; keep reading (and dropping) so the peer's FIN can arrive.
  if (d.paused) {
    d.paused = false
    d.socket.resume()
  }
  return false
}
