/** The README's examples, compiled and run, so the README stays true. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Buffer } from "node:buffer"
import { Client, Codec, Framing, Message, Protocol, RpcClient, RpcServer, Server } from "../src/index.js"

describe("README", () => {
  it("codecs: decodeAll on a CRLF split across chunks", () => {
    const r = Codec.decodeAll(Framing.lines(), [Buffer.from("huu"), Buffer.from("haa\r"), Buffer.from("\nnext\n")])
    expect(r.frames.map((f) => Buffer.from(f).toString())).toEqual(["huuhaa", "next"])
    expect(r.error).toBeUndefined()
  })

  it.live("a server and a client in a few lines each", () =>
    Effect.gen(function*() {
      const echo = Server.respond(Message.text(Framing.lines()), (line) => Effect.succeed(`ECHO: ${line}`))
      const server = yield* Server.make({ port: 0 }, echo)
      const reply = yield* Effect.gen(function*() {
        const conn = yield* Client.connect({ port: server.address.port, connectTimeout: "2 seconds" })
        yield* conn.write("hello\n")
        return yield* conn.readLine()
      }).pipe(Effect.scoped)
      expect(Buffer.from(reply).toString()).toBe("ECHO: hello\n")
    }).pipe(Effect.scoped))

  it.live("define a protocol, serve it, call it", () =>
    Effect.gen(function*() {
      class DivideByZero extends Schema.TaggedError<DivideByZero>()("DivideByZero", {}) {}
      const Calc = Protocol.make(
        Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number }),
        Protocol.method("div", {
          params: Schema.Tuple(Schema.Number, Schema.Number),
          success: Schema.Number,
          error: DivideByZero
        }),
        Protocol.notification("log", { params: { line: Schema.String } })
      )
      const server = yield* Server.make(
        { port: 0 },
        RpcServer.handler(Calc, {
          add: ({ a, b }) => Effect.succeed(a + b),
          div: ([a, b]) => b === 0 ? Effect.fail(new DivideByZero()) : Effect.succeed(a / b),
          log: ({ line }) => Effect.log(line)
        }, { framing: Framing.lines() })
      )
      const client = yield* RpcClient.connect(Calc, {
        port: server.address.port,
        framing: Framing.lines(),
        timeout: "5 seconds"
      })
      expect(yield* client.add({ a: 1, b: 2 })).toBe(3)
      const error = yield* Effect.flip(client.div([1, 0]))
      expect(error).toBeInstanceOf(DivideByZero)
    }).pipe(Effect.scoped))
})
