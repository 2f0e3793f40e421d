/**
 * A client process of the client bench: one kind of client (BENCH_CLIENT) calling `add({ a, b })`
 * on the bench's server (BENCH_PORT), with `inFlight` closed loops (each makes its next call when
 * its last one is answered). Driven over IPC by `bench/client.ts`:
 * `{ type: "run", inFlight, warmupMs, measureMs }` → `{ type: "result", calls, errors,
 * cpuMicros, seconds }`, where `cpuMicros` is this process's `process.cpuUsage()` (user +
 * system) over the measured window and `calls` the calls completed in it.
 *
 * Kinds:
 * - `handwritten`: `node:net`, `JSON.stringify` / `JSON.parse`, a `Map` of pending callbacks,
 *   newline-delimited JSON, the writes of one read corked into one;
 * - `effect-wire`: `RpcClient.connect` (defaults: JSON-RPC over NDJSON, 30 s call timeout), each
 *   loop an `Effect.gen` fiber as users write it;
 * - `effect-wire-pool`: `RpcClient.pool` of 4 connections, same loops;
 * - `vscode-jsonrpc`: `createMessageConnection` over the socket (Content-Length framing),
 *   `await connection.sendRequest("add", { a, b })` loops;
 * - `effect-rpc`: `@effect/rpc` 0.76's `RpcClient.make` over `layerProtocolSocket` +
 *   `NodeSocket.layerNet` + `RpcSerialization.layerNdJsonRpc()` (its defaults: a span per call,
 *   a keep-alive ping), `Effect.gen` loops.
 *
 * Bounded: a run ends by its own timers; the process exits when the driver goes away, or after a
 * maximum lifetime.
 */
import { NodeSocket } from "@effect/platform-node"
import { Rpc, RpcClient as EffectRpcClient, RpcGroup, RpcSerialization } from "@effect/rpc"
import { Effect, Exit, Fiber, Layer, Schema, Scope } from "effect"
import type { Buffer } from "node:buffer"
import * as Fs from "node:fs"
import { Session } from "node:inspector/promises"
import * as Net from "node:net"
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from "vscode-jsonrpc/node.js"
import * as RpcClient from "../../src/client/RpcClient.js"
import * as Protocol from "../../src/protocol/Protocol.js"

export type ClientKind = "handwritten" | "effect-wire" | "effect-wire-pool" | "vscode-jsonrpc" | "effect-rpc"

export interface RunCommand {
  readonly type: "run"
  readonly id: number
  readonly inFlight: number
  readonly warmupMs: number
  readonly measureMs: number
}

export interface RunResult {
  readonly type: "result"
  readonly id: number
  readonly calls: number
  readonly errors: number
  readonly cpuMicros: number
  readonly seconds: number
  readonly failure: string | undefined
}

const kind = (process.env["BENCH_CLIENT"] ?? "handwritten") as ClientKind
const port = Number(process.env["BENCH_PORT"])
const host = "127.0.0.1"

process.on("disconnect", () => process.exit(0))
setTimeout(() => process.exit(1), 10 * 60_000).unref()

/** Shared by every loop: the calls completed (and wrong answers) so far, and whether to go on. */
const state = { running: true, calls: 0, errors: 0 }

/** A connected client that can run `n` loops and stop them (resolving once all have stopped). */
interface Driver {
  readonly start: (n: number) => () => Promise<void>
}

// ---- hand-written ---------------------------------------------------------------------------------

const handwritten = (): Promise<Driver> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect({ host, port, noDelay: true })
    const pending = new Map<number, (result: unknown) => void>()
    let nextId = 1
    let rest = ""
    socket.on("error", reject)
    socket.on("data", (chunk: Buffer) => {
      socket.cork()
      const text = rest + chunk.toString("utf8")
      let from = 0
      let nl = text.indexOf("\n")
      while (nl !== -1) {
        const reply = JSON.parse(text.slice(from, nl)) as { id: number; result?: unknown }
        const k = pending.get(reply.id)
        if (k !== undefined) {
          pending.delete(reply.id)
          k(reply.result)
        }
        from = nl + 1
        nl = text.indexOf("\n", from)
      }
      rest = text.slice(from)
      socket.uncork()
    })
    const call = (a: number, b: number, k: (result: unknown) => void) => {
      const id = nextId++
      pending.set(id, k)
      socket.write(JSON.stringify({ jsonrpc: "2.0", id, method: "add", params: { a, b } }) + "\n")
    }
    socket.once("connect", () =>
      resolve({
        start: (n) => {
          let stopped = 0
          let onStopped: () => void = () => {}
          const loop = (i: number) => {
            if (!state.running) {
              if (++stopped === n) onStopped()
              return
            }
            call(i, 1, (r) => {
              if (r !== i + 1) state.errors++
              state.calls++
              loop(i + 1)
            })
          }
          for (let j = 0; j < n; j++) loop(j * 1_000_000)
          return () => new Promise<void>((done) => (stopped === n ? done() : (onStopped = done)))
        }
      }))
  })

// ---- effect-wire ----------------------------------------------------------------------------------

const Calc = Protocol.make(
  Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
)

const effectLoops = (add: (a: number, b: number) => Effect.Effect<number, unknown>): Driver => ({
  start: (n) => {
    const loop = (first: number) =>
      Effect.gen(function*() {
        let i = first
        while (state.running) {
          const sum = yield* add(i, 1)
          if (sum !== i + 1) state.errors++
          state.calls++
          i++
        }
      })
    const fibers = Array.from({ length: n }, (_, j) => Effect.runFork(loop(j * 1_000_000)))
    return () => Effect.runPromise(Fiber.joinAll(fibers)).then(() => undefined)
  }
})

const effectWire = async (pooled: boolean): Promise<Driver> => {
  const scope = Effect.runSync(Scope.make())
  process.on("exit", () => void Effect.runFork(Scope.close(scope, Exit.void)))
  const client = await Effect.runPromise(
    (pooled ? RpcClient.pool(Calc, { port, size: 4 }) : RpcClient.connect(Calc, { port })).pipe(Scope.extend(scope))
  )
  return effectLoops((a, b) => client.add({ a, b }))
}

// ---- vscode-jsonrpc --------------------------------------------------------------------------------

const vscode = (): Promise<Driver> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect({ host, port, noDelay: true })
    socket.on("error", reject)
    socket.once("connect", () => {
      const connection = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket))
      connection.listen()
      resolve({
        start: (n) => {
          const loop = async (first: number) => {
            let i = first
            while (state.running) {
              const sum = await connection.sendRequest<number>("add", { a: i, b: 1 })
              if (sum !== i + 1) state.errors++
              state.calls++
              i++
            }
          }
          const loops = Array.from({ length: n }, (_, j) => loop(j * 1_000_000))
          return () => Promise.all(loops).then(() => undefined)
        }
      })
    })
  })

// ---- @effect/rpc ----------------------------------------------------------------------------------

class Add extends Rpc.make("add", {
  payload: { a: Schema.Number, b: Schema.Number },
  success: Schema.Number
}) {}
const Group = RpcGroup.make(Add)

const effectRpc = async (): Promise<Driver> => {
  const scope = Effect.runSync(Scope.make())
  process.on("exit", () => void Effect.runFork(Scope.close(scope, Exit.void)))
  // The protocol layer lives in the client's scope (`Effect.provide(layer)` would close it as
  // soon as `make` returns).
  const protocol = await Effect.runPromise(
    Layer.buildWithScope(
      EffectRpcClient.layerProtocolSocket().pipe(
        Layer.provide([NodeSocket.layerNet({ host, port }), RpcSerialization.layerNdJsonRpc()])
      ),
      scope
    )
  )
  const client = await Effect.runPromise(
    EffectRpcClient.make(Group).pipe(Effect.provide(protocol), Scope.extend(scope))
  )
  return effectLoops((a, b) => client.add({ a, b }))
}

// ---- the run ----------------------------------------------------------------------------------------

const connect = (): Promise<Driver> => {
  switch (kind) {
    case "handwritten":
      return handwritten()
    case "effect-wire":
      return effectWire(false)
    case "effect-wire-pool":
      return effectWire(true)
    case "vscode-jsonrpc":
      return vscode()
    case "effect-rpc":
      return effectRpc()
  }
}

const after = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** BENCH_PROFILE=file: a V8 CPU profile of the measured window only, written to that file. */
const profileTo = process.env["BENCH_PROFILE"]

const run = async (driver: Driver, cmd: RunCommand): Promise<RunResult> => {
  const stop = driver.start(cmd.inFlight)
  await after(cmd.warmupMs)
  const session = profileTo === undefined ? undefined : new Session()
  if (session !== undefined) {
    session.connect()
    await session.post("Profiler.enable")
    await session.post("Profiler.start")
  }
  const calls0 = state.calls
  const errors0 = state.errors
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await after(cmd.measureMs)
  const cpu = process.cpuUsage(cpu0)
  const seconds = (performance.now() - t0) / 1000
  const calls = state.calls - calls0
  const errors = state.errors - errors0
  if (session !== undefined && profileTo !== undefined) {
    const { profile } = await session.post("Profiler.stop")
    Fs.writeFileSync(profileTo, JSON.stringify(profile))
    session.disconnect()
  }
  state.running = false
  // The calls still in flight get at most 5 s to finish.
  const stopped = await Promise.race([stop().then(() => true), after(5_000).then(() => false)])
  return {
    type: "result",
    id: cmd.id,
    calls,
    errors,
    cpuMicros: cpu.user + cpu.system,
    seconds,
    failure: stopped ? undefined : "the loops did not stop within 5 s"
  }
}

connect().then(
  (driver) => {
    process.on("message", (m: RunCommand) => {
      if (m?.type !== "run") return
      void run(driver, m).then((r) => process.send?.(r))
    })
    process.send?.({ type: "ready" })
  },
  (e) => {
    process.send?.({ type: "failed", detail: String(e) })
    process.exit(1)
  }
)
