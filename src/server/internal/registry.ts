/**
 * A server's counters: plain numbers on the hot path, mirrored into Effect `Metric`s (tagged
 * with the server's address) so any metrics exporter sees them. Connection counts are mirrored
 * at once; frames (counted on every read) and bytes are mirrored in batches: frames at each tick
 * of the server's watchdog (`timerResolution`), on each `stats` read and at shutdown, bytes when
 * their connection closes.
 */
import { Metric, MetricLabel } from "effect"
import type { Timed } from "../../connection/Timers.js"

/** A readable snapshot of a server's counters. */
export interface ServerStats {
  /** Connections accepted since start. */
  readonly accepted: number
  /** Connections open now. */
  readonly active: number
  /** Connections closed since start. */
  readonly closed: number
  /** Connections closed at once because of `maxConnections` or shutdown. */
  readonly rejected: number
  /**
   * TLS handshakes that failed or timed out (a plaintext client, an untrusted certificate, a
   * peer that never finished): those connections were closed before any handler saw them.
   */
  readonly tlsFailures: number
  /** Frames (requests) handled by framed handlers. */
  readonly frames: number
  /** Connection handlers that ended with an error (bad input, timeouts, reset peers…). */
  readonly errors: number
  /** Handlers interrupted at the shutdown deadline. */
  readonly interruptedAtDeadline: number
  /** Bytes read from and written to every connection so far. */
  readonly bytesIn: number
  readonly bytesOut: number
  /** Whether shutdown has started. */
  readonly draining: boolean
  /**
   * Open connections whose peer has half-closed (sent its FIN) while their handlers still run:
   * each stays at most `halfClosedTimeout`.
   */
  readonly halfClosed: number
  /** Sockets still open and connection fibers still running (both 0 after shutdown). */
  readonly openSockets: number
  readonly fibers: number
}

export const metrics = {
  accepted: Metric.counter("effect_wire_connections_accepted", { description: "connections accepted" }),
  closed: Metric.counter("effect_wire_connections_closed", { description: "connections closed" }),
  rejected: Metric.counter("effect_wire_connections_rejected", { description: "connections refused at accept" }),
  tlsFailures: Metric.counter("effect_wire_tls_failures", { description: "TLS handshakes failed or timed out" }),
  active: Metric.gauge("effect_wire_connections_active", { description: "connections open" }),
  frames: Metric.counter("effect_wire_frames_handled", { description: "frames (requests) handled" }),
  errors: Metric.counter("effect_wire_handler_errors", { description: "connection handlers that failed" }),
  bytesIn: Metric.counter("effect_wire_bytes_in", { description: "bytes read" }),
  bytesOut: Metric.counter("effect_wire_bytes_out", { description: "bytes written" })
}

interface Traffic {
  readonly bytesIn: number
  readonly bytesOut: number
}

export class Registry implements Timed {
  accepted = 0
  active = 0
  closed = 0
  rejected = 0
  tlsFailures = 0
  frames = 0
  errors = 0
  interruptedAtDeadline = 0
  draining = false
  private bytesInClosed = 0
  private bytesOutClosed = 0
  /** Frames counted but not yet added to the `frames` metric (see `mirror`). */
  private framesUnmirrored = 0
  private tags: ReadonlyArray<MetricLabel.MetricLabel> = []

  /** Tags the metrics with the server's address once it is bound. */
  label(address: string): void {
    this.tags = [MetricLabel.make("server", address)]
  }

  connectionAccepted(): void {
    this.accepted++
    this.active++
    metrics.accepted.unsafeUpdate(1, this.tags)
    metrics.active.unsafeUpdate(this.active, this.tags)
  }

  connectionRejected(): void {
    this.rejected++
    metrics.rejected.unsafeUpdate(1, this.tags)
  }

  tlsFailed(): void {
    this.tlsFailures++
    metrics.tlsFailures.unsafeUpdate(1, this.tags)
  }

  connectionClosed(traffic: Traffic): void {
    this.active--
    this.closed++
    this.bytesInClosed += traffic.bytesIn
    this.bytesOutClosed += traffic.bytesOut
    metrics.closed.unsafeUpdate(1, this.tags)
    metrics.active.unsafeUpdate(this.active, this.tags)
    metrics.bytesIn.unsafeUpdate(traffic.bytesIn, this.tags)
    metrics.bytesOut.unsafeUpdate(traffic.bytesOut, this.tags)
  }

  framesHandled(n: number): void {
    this.frames += n
    this.framesUnmirrored += n
  }

  /** Adds the frames counted since the last call to the `frames` metric. */
  mirror(): void {
    if (this.framesUnmirrored === 0) return
    metrics.frames.unsafeUpdate(this.framesUnmirrored, this.tags)
    this.framesUnmirrored = 0
  }

  /** The server's watchdog calls this at each tick. */
  checkTimers(): boolean {
    this.mirror()
    return false
  }

  handlerFailed(): void {
    this.errors++
    metrics.errors.unsafeUpdate(1, this.tags)
  }

  snapshot(
    open: ReadonlySet<Traffic & { readonly isClosed: boolean; readonly isHalfClosed: boolean }>,
    fibers: number
  ): ServerStats {
    this.mirror()
    let bytesIn = this.bytesInClosed
    let bytesOut = this.bytesOutClosed
    let openSockets = 0
    let halfClosed = 0
    for (const t of open) {
      if (!t.isClosed) openSockets++
      if (t.isHalfClosed) halfClosed++
      bytesIn += t.bytesIn
      bytesOut += t.bytesOut
    }
    return {
      accepted: this.accepted,
      active: this.active,
      closed: this.closed,
      rejected: this.rejected,
      tlsFailures: this.tlsFailures,
      frames: this.frames,
      errors: this.errors,
      interruptedAtDeadline: this.interruptedAtDeadline,
      bytesIn,
      bytesOut,
      draining: this.draining,
      halfClosed,
      openSockets,
      fibers
    }
  }
}
