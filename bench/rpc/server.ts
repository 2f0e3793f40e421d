/**
 * A server child of the RPC bench: `add({ a, b })` served over the chapter's format or JSON-RPC
 * over NDJSON (BENCH_PROTOCOL) by one of (BENCH_KIND):
 * - `effect-wire`: `Server.make` + `RpcServer.handler` (defaults: metrics on, spans off);
 * - `handwritten`: the same protocol on `node:net`, one write per read;
 * - `effect-rpc`: `@effect/rpc` 0.76 with `RpcServer.layerProtocolSocketServer` on
 *   `@effect/platform-node`'s `NodeSocketServer`, with `RpcSerialization.layerNdJsonRpc` for
 *   JSON-RPC, and for the chapter's format a small `RpcSerialization` of that format.
 * Reports `{ type: "ready", port }`, then answers `mark` with `process.cpuUsage()` and its request
 * counter. Exits when the driver goes away, or after a maximum lifetime.
 */
import { SocketServer } from "@effect/platform"
import { NodeSocketServer } from "@effect/platform-node"
import { Rpc, RpcGroup, RpcSerialization, RpcServer as EffectRpcServer } from "@effect/rpc"
import { Effect, Layer, Schema } from "effect"
import { Buffer } from "node:buffer"
import * as Net from "node:net"
import { Framing } from "../../src/index.js"
import * as ChapterRpc from "../../src/protocol/ChapterRpc.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { lengthPrefixed, type WireProtocol } from "./wire.js"

const kind = process.env["BENCH_KIND"] ?? "effect-wire"
const protocol = (process.env["BENCH_PROTOCOL"] ?? "jsonrpc") as WireProtocol
let requests = 0
const started = performance.now()

const ready = (port: number) => process.send?.({ type: "ready", port })
process.on("message", (m: { readonly type: string; readonly id: number }) => {
  if (m?.type !== "mark") return
  const cpu = process.cpuUsage()
  process.send?.({
    type: "mark",
    id: m.id,
    cpuMicros: cpu.user + cpu.system,
    requests,
    wallMs: performance.now() - started
  })
})
process.on("disconnect", () => process.exit(0))
setTimeout(() => process.exit(1), 15 * 60_000).unref()

// ---- effect-wire --------------------------------------------------------------------------------

const Calc = Protocol.make(
  Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
)

const effectWire = Effect.gen(function*() {
  const server = yield* Server.make(
    { port: 0, maxConnections: 4096 },
    RpcServer.handler(
      Calc,
      {
        // `effect-wire-gen`: the handler as users write it, with `Effect.gen`.
        add: kind === "effect-wire-gen"
          ? ({ a, b }) =>
            Effect.gen(function*() {
              requests++
              return a + b
            })
          : ({ a, b }) => {
            requests++
            return Effect.succeed(a + b)
          }
      },
      protocol === "chapter"
        ? { format: ChapterRpc.format, framing: ChapterRpc.framing() }
        : { framing: Framing.lines() }
    )
  )
  ready(server.address.port)
  return yield* Effect.never
}).pipe(Effect.scoped)

// ---- hand-written on node:net ---------------------------------------------------------------------

const answer = (text: string, reply: (id: unknown, body: string) => string): string => {
  let m: { id?: unknown; method?: unknown; params?: { a?: unknown; b?: unknown } }
  try {
    m = JSON.parse(text)
  } catch {
    return reply(null, `"error":{"code":-32700,"message":"Parse error"}`)
  }
  const p = m.params
  if (m.method !== "add") return reply(m.id ?? null, `"error":{"code":-32601,"message":"Method not found"}`)
  if (typeof p !== "object" || p === null || typeof p.a !== "number" || typeof p.b !== "number") {
    return reply(m.id ?? null, `"error":{"code":-32602,"message":"Invalid params"}`)
  }
  requests++
  return reply(m.id, `"result":${p.a + p.b}`)
}

const handwritten = () => {
  const server = Net.createServer({ noDelay: true }, (socket) => {
    socket.on("error", () => {})
    if (protocol === "jsonrpc") {
      let rest = ""
      const reply = (id: unknown, body: string) => `{"jsonrpc":"2.0","id":${JSON.stringify(id)},${body}}\n`
      socket.on("data", (chunk: Buffer) => {
        const text = rest + chunk.toString("utf8")
        let out = ""
        let from = 0
        let nl = text.indexOf("\n")
        while (nl !== -1) {
          out += answer(text.slice(from, nl), reply)
          from = nl + 1
          nl = text.indexOf("\n", from)
        }
        rest = text.slice(from)
        if (out.length > 0) socket.write(out)
      })
    } else {
      let buf: Buffer = Buffer.alloc(0)
      const reply = (id: unknown, body: string) => `{"id":${JSON.stringify(id)},${body}}`
      socket.on("data", (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
        const out: Array<Buffer> = []
        let at = 0
        while (buf.length - at >= 4) {
          const n = buf.readUInt32BE(at)
          if (buf.length - at - 4 < n) break
          out.push(lengthPrefixed(answer(buf.toString("utf8", at + 4, at + 4 + n), reply)))
          at += 4 + n
        }
        buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
        if (out.length > 0) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out))
      })
    }
  })
  server.listen(0, "127.0.0.1", () => ready((server.address() as Net.AddressInfo).port))
}

// ---- @effect/rpc --------------------------------------------------------------------------------

class Add extends Rpc.make("add", {
  payload: { a: Schema.Number, b: Schema.Number },
  success: Schema.Number
}) {}
const Group = RpcGroup.make(Add)
const AddLive = Group.toLayer({
  add: ({ a, b }) => {
    requests++
    return Effect.succeed(a + b)
  }
})

/** The chapter's format as an `RpcSerialization` (requests in, `Exit`s out; nothing else is sent). */
const chapterSerialization = RpcSerialization.RpcSerialization.of({
  contentType: "application/octet-stream",
  includesFraming: true,
  unsafeMake: () => {
    let buf: Buffer = Buffer.alloc(0)
    return {
      decode: (data) => {
        const chunk = typeof data === "string"
          ? Buffer.from(data)
          : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
        const out: Array<unknown> = []
        let at = 0
        while (buf.length - at >= 4) {
          const n = buf.readUInt32BE(at)
          if (buf.length - at - 4 < n) break
          const m = JSON.parse(buf.toString("utf8", at + 4, at + 4 + n)) as {
            id: number
            method: string
            params: unknown
          }
          out.push({ _tag: "Request", id: String(m.id), tag: m.method, payload: m.params, headers: [] })
          at += 4 + n
        }
        buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
        return out
      },
      encode: (response) => {
        const one = (
          r: { _tag: string; requestId?: string; exit?: { _tag: string; value?: unknown; cause?: unknown } }
        ) =>
          r._tag !== "Exit" || r.exit === undefined
            ? undefined
            : lengthPrefixed(
              r.exit._tag === "Success"
                ? `{"id":${Number(r.requestId)},"result":${JSON.stringify(r.exit.value)}}`
                : `{"id":${Number(r.requestId)},"error":${
                  JSON.stringify({ code: -32603, message: "error", data: r.exit.cause })
                }}`
            )
        const all = (Array.isArray(response) ? response : [response]).map(one).filter((b) => b !== undefined)
        return all.length === 0 ? undefined : all.length === 1 ? all[0] : Buffer.concat(all)
      }
    }
  }
})

const effectRpc = Effect.gen(function*() {
  const socketServer = yield* SocketServer.SocketServer
  const address = socketServer.address
  ready(address._tag === "TcpAddress" ? address.port : 0)
  return yield* Effect.never
}).pipe(
  Effect.provide(
    EffectRpcServer.layer(Group).pipe(
      Layer.provide(AddLive),
      Layer.provideMerge(EffectRpcServer.layerProtocolSocketServer),
      Layer.provide(
        protocol === "chapter"
          ? Layer.succeed(RpcSerialization.RpcSerialization, chapterSerialization)
          : RpcSerialization.layerNdJsonRpc()
      ),
      Layer.provideMerge(NodeSocketServer.layer({ port: 0, host: "127.0.0.1" }))
    )
  )
)

if (kind === "handwritten") handwritten()
else {
  Effect.runFork(
    Effect.catchAllCause(
      kind === "effect-rpc" ? effectRpc : effectWire as Effect.Effect<never, unknown>,
      (cause) =>
        Effect.sync(() => {
          process.stderr.write(`bench/rpc/server ${kind}/${protocol} failed: ${String(cause)}\n`)
          process.exit(1)
        })
    )
  )
}

// Keep the JSON-RPC module referenced (its format is the default of RpcServer.handler).
void JsonRpc.format
