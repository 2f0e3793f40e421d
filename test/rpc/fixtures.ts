/** Protocols and handlers shared by the RPC tests. */
import { Deferred, Effect, FiberId, Schema } from "effect"
import * as Protocol from "../../src/protocol/Protocol.js"

/** The methods of the JSON-RPC 2.0 specification's examples. */
export const Spec = Protocol.make(
  Protocol.method("subtract", {
    params: Schema.Union(
      Schema.Tuple(Schema.Number, Schema.Number),
      Schema.Struct({ minuend: Schema.Number, subtrahend: Schema.Number })
    ),
    success: Schema.Number
  }),
  Protocol.method("sum", { params: Schema.Array(Schema.Number), success: Schema.Number }),
  Protocol.method("get_data", { success: Schema.Tuple(Schema.String, Schema.Number) }),
  Protocol.notification("update", { params: Schema.Array(Schema.Number) }),
  Protocol.notification("notify_hello", { params: Schema.Array(Schema.Number) }),
  Protocol.notification("notify_sum", { params: Schema.Array(Schema.Number) })
)

export const specHandlers: Protocol.Handlers<typeof Spec> = {
  subtract: (p) => Effect.succeed("minuend" in p ? p.minuend - p.subtrahend : p[0] - p[1]),
  sum: (xs) => Effect.succeed(xs.reduce((a, b) => a + b, 0)),
  get_data: () => Effect.succeed(["hello", 5] as const),
  update: () => Effect.void,
  notify_hello: () => Effect.void,
  notify_sum: () => Effect.void
}

export class DivideByZero extends Schema.TaggedError<DivideByZero>()("DivideByZero", {
  dividend: Schema.Number
}) {}

/** The chapter's methods, typed, plus a few to exercise the server. */
export const Calc = Protocol.make(
  Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number }),
  Protocol.method("greet", { params: { name: Schema.String }, success: Schema.String }),
  Protocol.method("echo", { params: Schema.Unknown, success: Schema.Unknown }),
  Protocol.method("repeat", { params: { text: Schema.String, times: Schema.Int }, success: Schema.String }),
  Protocol.method("div", {
    params: Schema.Tuple(Schema.Number, Schema.Number),
    success: Schema.Number,
    error: DivideByZero,
    errorCode: 42
  }),
  /** Waits until the test releases the gate of `key`, then returns `key`. */
  Protocol.method("wait", { params: { key: Schema.String }, success: Schema.String }),
  Protocol.method("boom", {}),
  Protocol.notification("log", { params: { line: Schema.String } })
)

/** Gates the `wait` method: `started(key)` completes when its handler runs, `release(key)` lets it return. */
export class Gates {
  readonly started = new Map<string, Deferred.Deferred<void>>()
  readonly released = new Map<string, Deferred.Deferred<void>>()
  readonly interrupted = new Map<string, Deferred.Deferred<void>>()
  readonly logs: Array<string> = []
  private get(map: Map<string, Deferred.Deferred<void>>, key: string) {
    let d = map.get(key)
    if (d === undefined) {
      d = Deferred.unsafeMake<void>(FiberId.none)
      map.set(key, d)
    }
    return d
  }
  start(key: string) {
    return this.get(this.started, key)
  }
  gate(key: string) {
    return this.get(this.released, key)
  }
  interruption(key: string) {
    return this.get(this.interrupted, key)
  }
  awaitStarted(key: string) {
    return Deferred.await(this.start(key))
  }
  release(key: string) {
    return Deferred.succeed(this.gate(key), undefined)
  }
}

export const calcHandlers = (gates: Gates): Protocol.Handlers<typeof Calc> => ({
  add: ({ a, b }) => Effect.succeed(a + b),
  greet: ({ name }) => Effect.succeed(`Hello, ${name}!`),
  echo: (p) => Effect.succeed(p),
  repeat: ({ text, times }) => Effect.succeed(text.repeat(times)),
  div: ([a, b]) => (b === 0 ? Effect.fail(new DivideByZero({ dividend: a })) : Effect.succeed(a / b)),
  wait: ({ key }) =>
    Effect.zipRight(
      Deferred.succeed(gates.start(key), undefined),
      Effect.as(Deferred.await(gates.gate(key)), key)
    ).pipe(Effect.onInterrupt(() => Deferred.succeed(gates.interruption(key), undefined))),
  boom: () => Effect.die(new Error("secret stack detail")),
  log: ({ line }) => Effect.sync(() => void gates.logs.push(line))
})
