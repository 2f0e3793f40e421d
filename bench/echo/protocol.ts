/**
 * Messages between the bench driver (`bench/server.ts`), the load generator and the server
 * children. Commands travel over IPC; the load generator answers with JSON lines on stdout.
 */

/** Closed-loop load: `conns` connections, `pipeline` requests in flight on each. */
export interface LoadCommand {
  readonly type: "load"
  readonly id: number
  readonly port: number
  readonly conns: number
  readonly pipeline: number
  readonly warmupMs: number
  readonly durationMs: number
  readonly payload: string
  /** Every connection connects and has one request answered before the load starts; at most this long. */
  readonly connectTimeoutMs: number
  /**
   * false: no priming, every connection sends its requests as soon as it is connected and the
   * warm-up starts at once (what a naive load generator does: connection setup can then land in
   * the measured latencies). Default true.
   */
  readonly prime?: boolean
  /** Where to connect instead of 127.0.0.1:port: a Unix socket path, or TLS (see `./dial.ts`). */
  readonly target?: Target
}

/** A Unix domain socket (`path`), or TLS to 127.0.0.1:port trusting the CA in the PEM file `caFile`. */
export interface Target {
  readonly path?: string
  readonly caFile?: string
}

/**
 * Fresh connections, `concurrency` at a time, `count` in all: each connects (TLS: the handshake),
 * sends one request, reads its reply and closes (see `./handshakes.ts`).
 */
export interface HandshakesCommand {
  readonly type: "handshakes"
  readonly id: number
  readonly port: number
  readonly target?: Target
  readonly count: number
  readonly concurrency: number
  readonly timeoutMs: number
  readonly payload: string
}

export interface HandshakesResult {
  readonly event: "handshakes-result"
  readonly id: number
  readonly count: number
  readonly ok: number
  readonly failed: number
  readonly totalMs: number
  /** Per connection: connect start to the handshake done, and to the reply, µs. */
  readonly handshake: Latency
  readonly reply: Latency
  readonly timedOut: boolean
  /** CPU use of the load generator over the run, in % of one core. */
  readonly loadgenCpuPct: number
}

/** `clients` connect at once, each sends one request, reads the reply and closes. */
export interface StormCommand {
  readonly type: "storm"
  readonly id: number
  readonly port: number
  readonly clients: number
  readonly timeoutMs: number
  readonly payload: string
}

/** Opens `conns` connections (at most `concurrency` connecting at once), one request each, then holds them. */
export interface HoldCommand {
  readonly type: "hold"
  readonly id: number
  readonly port: number
  readonly conns: number
  readonly concurrency: number
  readonly timeoutMs: number
  /** The held connections are closed after this long even without a `release`. */
  readonly holdMaxMs: number
  readonly payload: string
}

export interface ReleaseCommand {
  readonly type: "release"
  readonly id: number
}

export interface ExitCommand {
  readonly type: "exit"
}

export type LoadgenCommand = LoadCommand | StormCommand | HoldCommand | ReleaseCommand | ExitCommand | HandshakesCommand

/** Latency summary in microseconds. */
export interface Latency {
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly samples: number
}

export interface LoadResult {
  readonly event: "load-result"
  readonly id: number
  readonly conns: number
  readonly connected: number
  readonly pipeline: number
  /** Replies received during the measured window. */
  readonly completed: number
  /** Connections connected and answered once before the load started, and how long that took. */
  readonly primed: number
  readonly primeMs: number
  /** Socket reads (data events) that carried replies, during the window. */
  readonly reads: number
  readonly windowMs: number
  readonly latency: Latency
  /** When the window's slowest reply arrived, ms after the window started. */
  readonly maxAtMs: number
  /** Replies in the window slower than 100 ms / 1 s. */
  readonly over100ms: number
  readonly over1s: number
  /** Connection setup apart from request latency: `connect()` to the `connect` event, per connection. */
  readonly connect: Latency
  /** The first request of each connection (sent on `connect`), to its reply. */
  readonly first: Latency
  readonly errors: number
  /** CPU use of the load generator during the window, in % of one core. */
  readonly loadgenCpuPct: number
}

export interface StormResult {
  readonly event: "storm-result"
  readonly id: number
  readonly clients: number
  readonly ok: number
  readonly failed: number
  readonly totalMs: number
  /** Per client: connect start to reply. */
  readonly latency: Latency
  readonly timedOut: boolean
}

export interface HoldResult {
  readonly event: "held"
  readonly id: number
  readonly conns: number
  readonly ok: number
  readonly failed: number
  readonly ms: number
  readonly timedOut: boolean
}

export type LoadgenEvent =
  | { readonly event: "ready"; readonly pid: number; readonly nofile: string | undefined }
  | { readonly event: "measure-start"; readonly id: number }
  | { readonly event: "measure-end"; readonly id: number }
  | { readonly event: "released"; readonly id: number; readonly closed: number }
  | { readonly event: "error"; readonly id: number; readonly detail: string }
  | LoadResult
  | StormResult
  | HoldResult
  | HandshakesResult

/** Commands to a server child (IPC), each answered by a message with the same `id`. */
export type ServerCommand =
  | { readonly type: "mark"; readonly id: number }
  | { readonly type: "mem"; readonly id: number }
  | { readonly type: "stop"; readonly id: number }
  | { readonly type: "prof-start"; readonly id: number }
  | { readonly type: "prof-stop"; readonly id: number; readonly file: string }
  | { readonly type: "heap-snapshot"; readonly id: number; readonly file: string }

export interface Mark {
  readonly type: "mark"
  readonly id: number
  /** `process.cpuUsage()` in microseconds. */
  readonly user: number
  readonly system: number
  /** Requests answered so far (counted in the handler). */
  readonly frames: number
  /** `process.hrtime.bigint()` as milliseconds. */
  readonly atMs: number
  readonly active: number
}

export interface Mem {
  readonly type: "mem"
  readonly id: number
  readonly rss: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  readonly arrayBuffers: number
  readonly active: number
}

export type ServerReply =
  | {
    readonly type: "ready"
    readonly name: string
    readonly port: number
    readonly pid: number
    readonly nofile: string | undefined
  }
  | Mark
  | Mem
  | { readonly type: "stopped"; readonly id: number }
  | { readonly type: "prof-start"; readonly id: number }
  | { readonly type: "prof-stop"; readonly id: number; readonly file: string; readonly error?: string }
  | { readonly type: "heap-snapshot"; readonly id: number; readonly file: string }
