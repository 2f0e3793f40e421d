/**
 * Client-side helpers shared by the scenarios and the CLI: a pull-based framed view of a
 * connection (`next` returns one frame at a time) and small timing/formatting utilities.
 */
import { Chunk, Clock, Data, Effect, Option, type Scope, Stream } from "effect"
import type { Connection } from "../../connection/Connection.js"
import type { ConnectionError } from "../../connection/ConnectionError.js"
import type { Codec } from "../../protocol/Codec.js"

/** The peer closed the connection while we were waiting for a frame. */
export class PeerClosed extends Data.TaggedError("PeerClosed")<{ readonly waitingFor: string }> {
  override get message(): string {
    return `the peer closed the connection while we were waiting for ${this.waitingFor}`
  }
}

/** A framed connection read one frame at a time. */
export interface FramedPeer<A, E> {
  readonly connection: Connection
  readonly send: (frame: A) => Effect.Effect<void, E | ConnectionError>
  readonly sendAll: (frames: Iterable<A>) => Effect.Effect<void, E | ConnectionError>
  /** The next frame; `PeerClosed` at end of input. */
  readonly next: Effect.Effect<A, E | ConnectionError | PeerClosed>
  /** The next frame, or `None` at end of input. */
  readonly nextOption: Effect.Effect<Option.Option<A>, E | ConnectionError>
}

/** A pull-based framed view of `connection` (one per connection), released with the scope. */
export const framedPeer = <A, E>(
  connection: Connection,
  codec: Codec<A, E>
): Effect.Effect<FramedPeer<A, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const framed = connection.framed(codec)
    const pull = yield* Stream.toPull(framed.frames)
    let buffer: Array<A> = []
    let ended = false
    const nextOption: Effect.Effect<Option.Option<A>, E | ConnectionError> = Effect.suspend(() => {
      if (buffer.length > 0) return Effect.succeed(Option.some(buffer.shift() as A))
      if (ended) return Effect.succeed(Option.none())
      return pull.pipe(
        Effect.map((chunk) => {
          buffer = Chunk.toArray(chunk)
          return true
        }),
        Effect.catchAll((e) => {
          if (Option.isNone(e)) {
            ended = true
            return Effect.succeed(false)
          }
          return Effect.fail(e.value)
        }),
        Effect.flatMap(() => nextOption)
      )
    })
    return {
      connection,
      send: framed.send,
      sendAll: framed.sendAll,
      nextOption,
      next: Effect.flatMap(
        nextOption,
        Option.match({
          onNone: () => Effect.fail(new PeerClosed({ waitingFor: `a frame (${codec.name})` })),
          onSome: Effect.succeed
        })
      )
    }
  })

/** Runs `effect` and returns how long it took (Effect `Clock`, so `TestClock` drives it). */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<[millis: number, value: A], E, R> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const value = yield* effect
    const end = yield* Clock.currentTimeMillis
    return [end - start, value] as [number, A]
  })

/** `1234` ms → `"1.234 s"`. */
export const seconds = (millis: number, digits = 3): string => `${(millis / 1000).toFixed(digits)} s`

/** Bytes → `"12.3 MB"`. */
export const megabytes = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MB`

/** `1234567` → `"1,234,567"`. */
export const count = (n: number): string => Math.round(n).toLocaleString("en-US")

/** An `Address` as `host:port`. */
export const hostPort = (a: { readonly host: string; readonly port: number }): string =>
  a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`

/** The text of a UTF-8 byte array, with a trailing `\n` / `\r\n` removed. */
export const textOf = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8").replace(/\r?\n$/, "")
