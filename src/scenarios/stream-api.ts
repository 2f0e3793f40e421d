/**
 * Scenario `stream-api`: the reader/writer API of a connection. The server reads with
 * `readExactly(4)`, `readLine()` and `read(100)`, answers with one `writeAll` of several parts,
 * prints both ends' addresses and closes; the client half-closes (`endWrite`) after sending and
 * reads the answer to EOF (`readAll`).
 *
 * @since 0.1.0
 */
import { Deferred, Effect } from "effect"
import * as Client from "../client/Client.js"
import type { Address } from "../connection/Connection.js"
import * as Server from "../server/Server.js"
import { hostPort, textOf } from "./internal/peer.js"
import { Wire } from "./internal/wire.js"
import * as Output from "./Output.js"
import * as Scenario from "./Scenario.js"

/** What the server saw and what the client got back. */
export interface StreamApiResult {
  readonly readExactly: string
  readonly readLine: string
  readonly read: string
  readonly response: string
  readonly serverPeer: Address
  readonly serverLocal: Address
  readonly clientLocal: Address
  /** Whether the client's `readAll` ended at the server's EOF with the whole response. */
  readonly complete: boolean
}

const show = (bytes: Uint8Array) => JSON.stringify(Buffer.from(bytes).toString("utf8"))

export const RESPONSE_PARTS = [
  "HTTP/1.1 200 OK\r\n",
  "Content-Type: text/plain\r\n",
  "\r\n",
  "Response body here"
] as const

/** Runs the stream-api scenario. */
export const run = Effect.scoped(
  Effect.gen(function*() {
    yield* Output.heading("stream-api: readExactly, readLine, read, writeAll, endWrite, readAll")
    const seen = yield* Deferred.make<Omit<StreamApiResult, "response" | "clientLocal" | "complete">>()
    const wire = yield* Wire
    const server = yield* Server.make({ ...wire.server, port: 0 }, (conn) =>
      Effect.gen(function*() {
        const header = yield* conn.readExactly(4)
        yield* Output.line(`  [server] readExactly(4) → ${show(header)}`)
        const line = yield* conn.readLine()
        yield* Output.line(`  [server] readLine()     → ${show(line)}`)
        const chunk = yield* conn.read(100)
        yield* Output.line(`  [server] read(100)      → ${show(chunk)}`)
        yield* conn.writeAll(RESPONSE_PARTS)
        yield* Output.line(`  [server] writeAll of ${RESPONSE_PARTS.length} parts, then close`)
        yield* Output.line(`  [server] peer ${hostPort(conn.remoteAddress)}, local ${hostPort(conn.localAddress)}`)
        yield* Deferred.succeed(seen, {
          readExactly: textOf(header),
          readLine: Buffer.from(line).toString("utf8"),
          read: Buffer.from(chunk).toString("utf8"),
          serverPeer: conn.remoteAddress,
          serverLocal: conn.localAddress
        })
      }))
    const { clientLocal, response } = yield* Effect.scoped(
      Effect.gen(function*() {
        const conn = yield* Client.connect({ ...wire.client, port: server.address.port })
        // One write of three parts, each meant for one of the server's reads.
        yield* conn.writeAll(["HDR!", "A line of text\n", "Remaining data"])
        yield* conn.endWrite
        yield* Output.line(`  [client] sent 3 parts and half-closed (endWrite); reading to EOF`)
        const all = yield* conn.readAll()
        return { clientLocal: conn.localAddress, response: Buffer.from(all).toString("utf8") }
      })
    )
    const server_ = yield* Deferred.await(seen)
    yield* Output.line(`  [client] readAll → ${response.length} bytes:`)
    for (const l of response.split("\r\n")) yield* Output.line(`      ${l}`, "dim")
    yield* server.shutdown
    return {
      ...server_,
      clientLocal,
      response,
      complete: response === RESPONSE_PARTS.join("")
    } satisfies StreamApiResult
  })
)

export const scenario = Scenario.make({
  name: "stream-api",
  title: "Reader/writer API",
  description: "readExactly, readLine, read, writeAll, half-close and read-to-EOF, with both ends' addresses",
  run: () => run,
  verdict: (r: StreamApiResult) => ({
    ok: r.complete && r.readExactly === "HDR!" && r.readLine === "A line of text\n" && r.read === "Remaining data" &&
      r.serverPeer.port === r.clientLocal.port,
    summary: `server read "HDR!" / a line / "Remaining data"; client read ${r.response.length} bytes to EOF`
  })
})
