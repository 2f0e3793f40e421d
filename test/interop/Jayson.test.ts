/** Interop with jayson 4.2 (JSON-RPC 2.0 over TCP, newline-delimited requests). */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import jayson from "jayson"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { Calc, calcHandlers, Gates } from "../rpc/fixtures.js"

interface JaysonReply {
  readonly id: unknown
  readonly result?: unknown
  readonly error?: { readonly code: number; readonly message: string }
}

const call = (client: jayson.TcpClient, method: string, params: object) =>
  Effect.async<JaysonReply, Error>((resume) => {
    const callback: jayson.JSONRPCCallbackTypePlain = (err, response) =>
      resume(err ? Effect.fail(new Error(String(err.message))) : Effect.succeed(response as unknown as JaysonReply))
    client.request(method, params, callback)
  })

describe("interop with jayson", () => {
  it.live("jayson's TCP client makes 1,000 requests to our server", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, maxConnections: 4096 }, RpcServer.handler(Calc, calcHandlers(new Gates())))
      const client = jayson.Client.tcp({ host: "127.0.0.1", port: server.address.port })
      const replies = yield* Effect.forEach(
        Array.from({ length: 1_000 }, (_, i) => i),
        (i) => call(client, "add", { a: i, b: 1 }),
        { concurrency: 32 }
      )
      expect(replies.filter((r) => r.error !== undefined)).toEqual([])
      expect(replies.map((r) => r.result)).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1))
      const missing = yield* call(client, "nope", {})
      expect(missing.error).toMatchObject({ code: -32601 })
      const typed = yield* call(client, "div", [1, 0])
      expect(typed.error).toMatchObject({ code: 42 })
    }).pipe(Effect.scoped))
})
