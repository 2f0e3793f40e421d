/**
 * One timer for the deadlines of many connections (idle, frame-read, write-stall, linger,
 * half-closed): each connection's wait costs two field writes instead of a timer, and one
 * periodic check fires what is due. It sleeps on Effect's `Clock`, so `TestClock` drives it.
 *
 * A server runs its own; `Connection.make` (and so `Client.connect`) uses the `Timers` of its
 * context, or runs one for the connection: provide `Timers.layer()` when a program holds many
 * client connections.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Client, Server, Timers } from "effect-wire"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Server.make({ port: 0 }, (conn) => conn.write("hi\n"))
 *   // ten client connections: their timeouts are all checked by the one timer of the context
 *   yield* Effect.forEach(Array.from({ length: 10 }), () => Client.connect({ port: server.address.port }))
 *   const timers = yield* Timers.Timers
 *   console.log(timers.size)
 * })
 *
 * Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Timers.layer("100 millis"))))
 * // Output: 10
 * ```
 *
 * @since 0.1.0
 */
import { Context, type Duration, type Effect, Layer, type Scope } from "effect"
import * as Watchdog from "./internal/watchdog.js"

/**
 * Something with deadlines: `checkTimers` fires what is due at `now` (clock millis) and says
 * whether it fired anything.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timed {
  checkTimers(now: number): boolean
}

/**
 * A running set of timers.
 *
 * @since 0.1.0
 * @category models
 */
export interface TimersService {
  /** Starts checking `member` at every tick. */
  readonly add: (member: Timed) => void
  /** Stops checking `member`. */
  readonly remove: (member: Timed) => void
  /** How many members are checked. */
  readonly size: number
}

/**
 * The timers of the current context.
 *
 * @since 0.1.0
 * @category tags
 */
export class Timers extends Context.Tag("effect-wire/Timers")<Timers, TimersService>() {}

/**
 * Timers checking their members every `resolution` (default 250 ms) until the scope closes;
 * a timeout fires up to one resolution late, and a tick that fires many spreads them over turns
 * of the event loop.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  resolution: Duration.DurationInput = "250 millis"
): Effect.Effect<TimersService, never, Scope.Scope> => Watchdog.make(resolution)

/**
 * `Timers` for as long as the layer lives.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (resolution: Duration.DurationInput = "250 millis"): Layer.Layer<Timers> =>
  Layer.scoped(Timers, make(resolution))
