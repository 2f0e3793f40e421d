/**
 * The one server of the client bench: JSON-RPC 2.0 `add({ a, b })` hand-written on `node:net`,
 * in its own process, the same for every client measured. Each connection's framing is sniffed
 * from its first byte: `{` or `[` is newline-delimited JSON (effect-wire's default,
 * `@effect/rpc`'s `RpcSerialization.layerNdJsonRpc`, the hand-written client), anything else
 * `Content-Length` headers (`vscode-jsonrpc`). Notifications get no reply (JSON-RPC), except
 * `@effect/rpc`'s keep-alive `@effect/rpc/Ping`, answered `@effect/rpc/Pong` as its own server
 * does. One write per read.
 *
 * Reports `{ type: "ready", port }` over IPC, answers `mark` with `process.cpuUsage()` and its
 * request counter. Exits when the driver goes away, or after a maximum lifetime.
 */
import { Buffer } from "node:buffer"
import * as Net from "node:net"

let requests = 0
process.on("message", (m: { readonly type: string; readonly id: number }) => {
  if (m?.type !== "mark") return
  const cpu = process.cpuUsage()
  process.send?.({ type: "mark", id: m.id, cpuMicros: cpu.user + cpu.system, requests })
})
process.on("disconnect", () => process.exit(0))
setTimeout(() => process.exit(1), 30 * 60_000).unref()

const PONG = `{"jsonrpc":"2.0","method":"@effect/rpc/Pong"}`

/** The reply to one message (without framing), or undefined for a notification. */
const answer = (text: string): string | undefined => {
  let m: { id?: unknown; method?: unknown; params?: { a?: unknown; b?: unknown } }
  try {
    m = JSON.parse(text)
  } catch {
    return `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`
  }
  if (m.id === undefined || m.id === null) return m.method === "@effect/rpc/Ping" ? PONG : undefined
  const id = JSON.stringify(m.id)
  const p = m.params
  if (m.method !== "add") return `{"jsonrpc":"2.0","id":${id},"error":{"code":-32601,"message":"Method not found"}}`
  if (typeof p !== "object" || p === null || typeof p.a !== "number" || typeof p.b !== "number") {
    return `{"jsonrpc":"2.0","id":${id},"error":{"code":-32602,"message":"Invalid params"}}`
  }
  requests++
  return `{"jsonrpc":"2.0","id":${id},"result":${p.a + p.b}}`
}

const ndjson = (socket: Net.Socket): (chunk: Buffer) => void => {
  let rest = ""
  return (chunk) => {
    const text = rest + chunk.toString("utf8")
    let out = ""
    let from = 0
    let nl = text.indexOf("\n")
    while (nl !== -1) {
      const reply = answer(text.slice(from, nl))
      if (reply !== undefined) out += reply + "\n"
      from = nl + 1
      nl = text.indexOf("\n", from)
    }
    rest = text.slice(from)
    if (out.length > 0) socket.write(out)
  }
}

const contentLength = (socket: Net.Socket): (chunk: Buffer) => void => {
  let buf: Buffer = Buffer.alloc(0)
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    let out = ""
    let at = 0
    for (;;) {
      const end = buf.indexOf("\r\n\r\n", at, "latin1")
      if (end === -1) break
      const header = buf.toString("latin1", at, end)
      const match = /Content-Length:\s*(\d+)/i.exec(header)
      if (match === null) {
        socket.destroy()
        return
      }
      const n = Number(match[1])
      if (buf.length - end - 4 < n) break
      const reply = answer(buf.toString("utf8", end + 4, end + 4 + n))
      if (reply !== undefined) out += `Content-Length: ${Buffer.byteLength(reply)}\r\n\r\n${reply}`
      at = end + 4 + n
    }
    buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
    if (out.length > 0) socket.write(out)
  }
}

const server = Net.createServer({ noDelay: true }, (socket) => {
  socket.on("error", () => {})
  let handle: ((chunk: Buffer) => void) | undefined
  socket.on("data", (chunk: Buffer) => {
    if (handle === undefined) handle = chunk[0] === 0x7b || chunk[0] === 0x5b ? ndjson(socket) : contentLength(socket)
    handle(chunk)
  })
})
server.listen(0, "127.0.0.1", () => process.send?.({ type: "ready", port: (server.address() as Net.AddressInfo).port }))
