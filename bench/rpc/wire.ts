/**
 * What the RPC bench's processes say to each other (IPC), and the two wire formats of the load:
 * the chapter's (4-byte big-endian length + `{"id","method","params"}`) and JSON-RPC 2.0 over
 * NDJSON. Every request is `add({ a, b })`.
 */
import { Buffer } from "node:buffer"

export type WireProtocol = "chapter" | "jsonrpc"
export type ServerKind = "effect-wire" | "effect-wire-gen" | "handwritten" | "effect-rpc" | "cli"

export interface RunCommand {
  readonly type: "run"
  readonly tag: number
  readonly port: number
  readonly protocol: WireProtocol
  readonly connections: number
  readonly pipeline: number
  readonly warmupMs: number
  readonly measureMs: number
}

export interface RunResult {
  readonly type: "run"
  readonly id: number
  readonly completed: number
  readonly errors: number
  readonly mismatched: number
  readonly seconds: number
  /** Latency quantiles in microseconds. */
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly loadgenCpuMs: number
  readonly failure: string | undefined
}

/** Sent by the load generator when its measured window starts and ends. */
export interface WindowEvent {
  readonly type: "window"
  readonly tag: number
  readonly phase: "start" | "end"
}

/** A server child's CPU mark: `process.cpuUsage()` and its request counter, read together. */
export interface Mark {
  readonly type: "mark"
  readonly id: number
  readonly cpuMicros: number
  readonly requests: number
  readonly wallMs: number
}

/** The request with the given id, as bytes on the wire. */
export const request = (protocol: WireProtocol, id: number, a: number, b: number): Buffer => {
  if (protocol === "jsonrpc") {
    return Buffer.from(`{"jsonrpc":"2.0","id":${id},"method":"add","params":{"a":${a},"b":${b}}}\n`, "latin1")
  }
  const body = Buffer.from(`{"id":${id},"method":"add","params":{"a":${a},"b":${b}}}`, "latin1")
  const out = Buffer.allocUnsafe(4 + body.length)
  out.writeUInt32BE(body.length, 0)
  body.copy(out, 4)
  return out
}

/** A 4-byte big-endian length header followed by `body`. */
export const lengthPrefixed = (body: string): Buffer => {
  const n = Buffer.byteLength(body)
  const out = Buffer.allocUnsafe(4 + n)
  out.writeUInt32BE(n, 0)
  out.write(body, 4, "utf8")
  return out
}
