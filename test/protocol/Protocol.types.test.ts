import { describe, expectTypeOf, it } from "@effect/vitest"
import { Context, Effect, Schema } from "effect"
import type * as RpcClient from "../../src/client/RpcClient.js"
import type { ConnectionError } from "../../src/connection/ConnectionError.js"
import type { FramingError } from "../../src/protocol/FramingError.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import * as RpcServer from "../../src/server/RpcServer.js"

class DivideByZero extends Schema.TaggedError<DivideByZero>()("DivideByZero", {}) {}
class Clock extends Context.Tag("Clock")<Clock, { readonly now: number }>() {}

const Calc = Protocol.make(
  Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number }),
  Protocol.method("div", {
    params: Schema.Tuple(Schema.Number, Schema.Number),
    success: Schema.Number,
    error: DivideByZero
  }),
  Protocol.method("ping", { success: Schema.Literal("pong") }),
  Protocol.notification("log", { params: { line: Schema.String } })
)

const good: Protocol.Handlers<typeof Calc> = {
  add: ({ a, b }) => Effect.succeed(a + b),
  div: ([a, b]) => (b === 0 ? Effect.fail(new DivideByZero()) : Effect.succeed(a / b)),
  ping: () => Effect.succeed("pong" as const),
  log: ({ line }) => Effect.log(line)
}

// Only types are checked: these values are never used at run time.
const client = undefined as unknown as RpcClient.RpcClient<typeof Calc>

describe("Protocol types", () => {
  it("types params, success and error of handlers and clients", () => {
    expectTypeOf<Protocol.Params<Protocol.DefinitionNamed<typeof Calc, "add">>>().toEqualTypeOf<
      { readonly a: number; readonly b: number }
    >()
    expectTypeOf<Protocol.Failure<Protocol.DefinitionNamed<typeof Calc, "div">>>().toEqualTypeOf<DivideByZero>()
    expectTypeOf<ReturnType<typeof client.add>>().toEqualTypeOf<Effect.Effect<number, RpcClient.RpcClientError>>()
    expectTypeOf<ReturnType<typeof client.div>>().toEqualTypeOf<
      Effect.Effect<number, DivideByZero | RpcClient.RpcClientError>
    >()
    expectTypeOf<ReturnType<typeof client.ping>>().toEqualTypeOf<Effect.Effect<"pong", RpcClient.RpcClientError>>()
    expectTypeOf<ReturnType<typeof client.log>>().toEqualTypeOf<Effect.Effect<void, RpcClient.RpcClientError>>()
    expectTypeOf(RpcServer.handler(Calc, good)).returns.toEqualTypeOf<
      Effect.Effect<unknown, FramingError | ConnectionError, never>
    >()
  })

  it("infers the handlers' context", () => {
    const h = RpcServer.handler(Calc, {
      ...good,
      add: ({ a, b }) => Effect.map(Clock, (c) => a + b + c.now)
    })
    expectTypeOf(h).returns.toMatchTypeOf<Effect.Effect<unknown, unknown, Clock>>()
  })

  it("rejects handlers that do not match", () => {
    // @ts-expect-error a method is missing
    const missing: Protocol.Handlers<typeof Calc> = {
      add: ({ a, b }) => Effect.succeed(a + b),
      ping: good.ping,
      log: good.log
    }
    const wrongResult: Protocol.Handlers<typeof Calc> = {
      ...good,
      // @ts-expect-error the result must be a number
      add: ({ a, b }) => Effect.succeed(`${a + b}`)
    }
    const wrongParams: Protocol.Handlers<typeof Calc> = {
      ...good,
      // @ts-expect-error params are { a: number, b: number }, not a string
      add: (params: string) => Effect.succeed(params.length)
    }
    const wrongError: Protocol.Handlers<typeof Calc> = {
      ...good,
      // @ts-expect-error add declares no typed error
      add: () => Effect.fail(new DivideByZero())
    }
    const extra: Protocol.Handlers<typeof Calc> = {
      ...good,
      // @ts-expect-error not in the protocol
      mul: () => Effect.succeed(0)
    }
    // @ts-expect-error a method is missing here too
    const missingToo = () => RpcServer.handler(Calc, { add: good.add, div: good.div, log: good.log })
    expectTypeOf([missing, wrongResult, wrongParams, wrongError, extra, missingToo]).not.toBeNever()
  })

  it("rejects calls that do not match", () => {
    const calls = () => [
      // @ts-expect-error b must be a number
      client.add({ a: 1, b: "2" }),
      // @ts-expect-error params are required
      client.add(),
      // @ts-expect-error no such method
      client.mul({ a: 1, b: 2 }),
      // @ts-expect-error positional params are a pair
      client.div([1])
    ]
    expectTypeOf(calls).toBeFunction()
  })
})
