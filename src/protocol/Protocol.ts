/**
 * Typed request/response protocols, defined once with `effect/Schema` and shared by a server
 * (`RpcServer`) and a client (`RpcClient`), whatever the wire format (`JsonRpc`, `ChapterRpc`).
 *
 * A protocol is a set of definitions:
 * - a `method` has Schemas for its params, its success and its (typed) error, and gets one reply;
 * - a `notification` has Schemas for its params only, and never gets a reply.
 *
 * The types below (`Handlers`, `Client`) make a handlers object or a call that does not match the
 * protocol fail to compile: a missing or unknown method, params or results of the wrong type, an
 * error the method does not declare.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Protocol } from "effect-wire"
 *
 * class DivideByZero extends Schema.TaggedError<DivideByZero>()("DivideByZero", {}) {}
 *
 * const Calc = Protocol.make(
 *   Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number }),
 *   Protocol.method("div", {
 *     params: Schema.Tuple(Schema.Number, Schema.Number),
 *     success: Schema.Number,
 *     error: DivideByZero
 *   }),
 *   Protocol.notification("log", { params: { line: Schema.String } })
 * )
 *
 * const handlers: Protocol.Handlers<typeof Calc> = {
 *   add: ({ a, b }) => Effect.succeed(a + b),
 *   div: ([a, b]) => b === 0 ? Effect.fail(new DivideByZero()) : Effect.succeed(a / b),
 *   log: ({ line }) => Effect.log(line)
 * }
 *
 * Effect.runPromise(Effect.flip(handlers.div([1, 0]))).then((error) => console.log(error._tag))
 * // Output: DivideByZero
 * ```
 *
 * @since 0.1.0
 */
import { Cause, type Effect, Schema } from "effect"

/**
 * Any Schema (as `@effect/rpc` takes them). Schemas of a protocol must not require a context:
 * they run on the connection's hot path.
 *
 * @since 0.1.0
 * @category models
 */
export type AnySchema = Schema.Schema.Any
/**
 * Any Schema, `Schema.Never` included (for typed errors).
 *
 * @since 0.1.0
 * @category models
 */
export type AnyErrorSchema = Schema.Schema.All

/**
 * Params given as Struct fields (like `@effect/rpc`'s `payload`) or as a whole Schema.
 *
 * @since 0.1.0
 * @category models
 */
export type ParamsInput = AnySchema | Schema.Struct.Fields

/**
 * The Schema a `ParamsInput` stands for.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ParamsSchema<P extends ParamsInput> = P extends AnySchema ? P
  : P extends Schema.Struct.Fields ? Schema.Struct<P>
  : never

/**
 * A method: one request, one reply. `errorCode` is the JSON-RPC `code` its typed errors are sent
 * with (default `1`; keep it outside -32768..-32000, which JSON-RPC reserves).
 *
 * @since 0.1.0
 * @category models
 */
export interface Method<
  Name extends string,
  P extends AnySchema,
  S extends AnySchema,
  E extends AnyErrorSchema
> {
  readonly _tag: "Method"
  readonly name: Name
  readonly params: P
  readonly success: S
  readonly error: E
  /** Whether params were declared (when not, whatever the peer sends as params is ignored). */
  readonly hasParams: boolean
  readonly errorCode: number
}

/**
 * A notification: a message that never gets a reply.
 *
 * @since 0.1.0
 * @category models
 */
export interface Notification<Name extends string, P extends AnySchema> {
  readonly _tag: "Notification"
  readonly name: Name
  readonly params: P
  readonly hasParams: boolean
}

/**
 * Any method.
 *
 * @since 0.1.0
 * @category models
 */
export type AnyMethod = Method<string, AnySchema, AnySchema, AnyErrorSchema>
/**
 * Any notification.
 *
 * @since 0.1.0
 * @category models
 */
export type AnyNotification = Notification<string, AnySchema>
/**
 * Any definition of a protocol.
 *
 * @since 0.1.0
 * @category models
 */
export type AnyDefinition = AnyMethod | AnyNotification

/**
 * Options of `method`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MethodOptions<P extends ParamsInput, S extends AnySchema, E extends AnyErrorSchema> {
  /** The params (Struct fields, or any Schema such as a `Tuple` for positional params). Default: none. */
  readonly params?: P
  /** The success value. Default `Schema.Void` (sent as `null`). */
  readonly success?: S
  /** The typed error. Default `Schema.Never` (the method cannot fail with a typed error). */
  readonly error?: E
  /** The wire error code of typed errors. Default 1. */
  readonly errorCode?: number
}

const RESERVED_LOW = -32768
const RESERVED_HIGH = -32000

const checkName = (kind: string, name: string): void => {
  if (typeof name !== "string" || name.length === 0) {
    throw new Cause.IllegalArgumentException(`Protocol.${kind}: the name must be a non-empty string`)
  }
}

const paramsSchema = (params: ParamsInput | undefined): AnySchema =>
  params === undefined ? Schema.Void : Schema.isSchema(params) ? params : Schema.Struct(params)

/**
 * Defines a method.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Protocol } from "effect-wire"
 *
 * const add = Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * const Calc = Protocol.make(add)
 *
 * // the handler's params and result are typed by the Schemas
 * const handlers: Protocol.Handlers<typeof Calc> = { add: ({ a, b }) => Effect.succeed(a + b) }
 * Effect.runPromise(handlers.add({ a: 1, b: 2 })).then(console.log)
 * // Output: 3
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const method = <
  const Name extends string,
  P extends ParamsInput = typeof Schema.Void,
  S extends AnySchema = typeof Schema.Void,
  E extends AnyErrorSchema = typeof Schema.Never
>(name: Name, options: MethodOptions<P, S, E> = {}): Method<Name, ParamsSchema<P>, S, E> => {
  checkName("method", name)
  const errorCode = options.errorCode ?? 1
  if (!Number.isSafeInteger(errorCode) || (errorCode >= RESERVED_LOW && errorCode <= RESERVED_HIGH)) {
    throw new Cause.IllegalArgumentException(
      `Protocol.method(${name}): errorCode must be an integer outside -32768..-32000, got ${String(errorCode)}`
    )
  }
  return {
    _tag: "Method",
    name,
    params: paramsSchema(options.params) as ParamsSchema<P>,
    success: (options.success ?? Schema.Void) as S,
    error: (options.error ?? Schema.Never) as E,
    hasParams: options.params !== undefined,
    errorCode
  }
}

/**
 * Defines a notification (no reply).
 *
 * @example
 * ```ts
 * import { Console, Effect, Schema } from "effect"
 * import { Protocol } from "effect-wire"
 *
 * const log = Protocol.notification("log", { params: { line: Schema.String } })
 * const Logger = Protocol.make(log)
 *
 * // a notification's handler runs, and nothing is sent back
 * const handlers: Protocol.Handlers<typeof Logger> = { log: ({ line }) => Console.log(line) }
 * Effect.runPromise(handlers.log({ line: "hello" }))
 * // Output: hello
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const notification = <const Name extends string, P extends ParamsInput = typeof Schema.Void>(
  name: Name,
  options: { readonly params?: P } = {}
): Notification<Name, ParamsSchema<P>> => {
  checkName("notification", name)
  return {
    _tag: "Notification",
    name,
    params: paramsSchema(options.params) as ParamsSchema<P>,
    hasParams: options.params !== undefined
  }
}

/**
 * A protocol: a set of definitions with distinct names.
 *
 * @since 0.1.0
 * @category models
 */
export interface Protocol<Defs extends AnyDefinition> {
  readonly _tag: "Protocol"
  /** Every definition by name. */
  readonly definitions: ReadonlyMap<string, Defs>
}

/**
 * Makes a protocol of the given definitions; throws `IllegalArgumentException` on a repeated
 * name or a name starting with `rpc.` (JSON-RPC reserves it) or `$/` (protocol messages such as
 * `$/cancelRequest`).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Protocol } from "effect-wire"
 *
 * const add = Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * const log = Protocol.notification("log", { params: { line: Schema.String } })
 *
 * const Calc = Protocol.make(add, log)
 * console.log([...Calc.definitions.keys()])
 * // Output: [ 'add', 'log' ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Defs extends ReadonlyArray<AnyDefinition>>(...definitions: Defs): Protocol<Defs[number]> => {
  const map = new Map<string, Defs[number]>()
  for (const d of definitions) {
    if (map.has(d.name)) throw new Cause.IllegalArgumentException(`Protocol.make: ${d.name} is defined twice`)
    if (d.name.startsWith("rpc.") || d.name.startsWith("$/")) {
      throw new Cause.IllegalArgumentException(`Protocol.make: the name ${d.name} is reserved`)
    }
    map.set(d.name, d)
  }
  return { _tag: "Protocol", definitions: map }
}

// ---------------------------------------------------------------------------------------------
// Type helpers

/**
 * The definitions of a protocol.
 *
 * @since 0.1.0
 * @category type-level
 */
export type DefinitionsOf<P> = P extends Protocol<infer D> ? D : never

/**
 * The params type of a definition (what handlers receive and clients pass).
 *
 * @since 0.1.0
 * @category type-level
 */
export type Params<D extends AnyDefinition> = Schema.Schema.Type<D["params"]>
/**
 * The success type of a method.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Success<D extends AnyDefinition> = D extends AnyMethod ? Schema.Schema.Type<D["success"]> : void
/**
 * The typed error of a method.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Failure<D extends AnyDefinition> = D extends AnyMethod ? Schema.Schema.Type<D["error"]> : never

/**
 * The handler of one definition: a method answers, a notification only runs.
 *
 * @since 0.1.0
 * @category type-level
 */
export type HandlerOf<D extends AnyDefinition, R> = D extends AnyMethod
  ? (params: Params<D>) => Effect.Effect<Success<D>, Failure<D>, R>
  : (params: Params<D>) => Effect.Effect<unknown, never, R>

/**
 * The handlers of a protocol: exactly one per definition, with matching types. `R` is what the
 * handlers require from the context.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Handlers<P extends Protocol<AnyDefinition>, R = never> = {
  readonly [D in DefinitionsOf<P> as D["name"]]: HandlerOf<D, R>
}

/**
 * The context a handlers object requires (the union of its handlers').
 *
 * @since 0.1.0
 * @category type-level
 */
export type HandlersContext<H> = {
  [K in keyof H]: H[K] extends (params: never) => Effect.Effect<infer _A, infer _E, infer R> ? R : never
}[keyof H]

/**
 * The definition of a protocol with the given name.
 *
 * @since 0.1.0
 * @category type-level
 */
export type DefinitionNamed<P extends Protocol<AnyDefinition>, Name extends string> = Extract<
  DefinitionsOf<P>,
  { readonly name: Name }
>
