/**
 * The hot path of `Server.respond` with concurrency 1: frames handled one after another, replies
 * in order, with no Stream and no fiber per frame.
 *
 * While handlers complete at once (`Effect.succeed`, `Effect.fail`: an `Exit`), input is decoded,
 * handled and answered inside the socket's data event (an `InlineReader`), one write per read, and
 * the connection's fiber stays parked. A handler that suspends, an error or a peer that does not
 * read hands the work to the fiber, which runs it, answers, and parks again.
 */
import { Effect, Exit, type Option } from "effect"
import type { Connection, InlineReader } from "../../connection/Connection.js"
import type { ConnectionError } from "../../connection/ConnectionError.js"
import { type Codec, joinParts } from "../../protocol/Codec.js"
import { EMPTY } from "../../protocol/internal/bytes.js"
import type { Registry } from "./Registry.js"

type Reply<O> = O | ReadonlyArray<O> | undefined

export const respondInOrder = <I, O, EI, EO, EH, R>(
  connection: Connection,
  codecs: { readonly input: Codec<I, EI>; readonly output: Codec<O, EO> },
  handle: (frame: I, connection: Connection) => Effect.Effect<Reply<O>, EH, R>,
  registry: Option.Option<Registry>
): Effect.Effect<void, EI | EO | EH | ConnectionError, R> =>
  Effect.suspend(() => {
    type E = EI | EO | EH | ConnectionError
    const decoder = codecs.input.decoder()
    const encoder = codecs.output.encoder()
    /** Decoded frames; `frames[next..]` are not handled yet. */
    const frames: Array<I> = []
    let next = 0
    let decoded = 0
    let handled = 0
    /** The handler effect of `frames[next]` when it did not complete at once. */
    let waiting: Effect.Effect<Reply<O>, EH, R> | undefined = undefined
    /** A reply that cannot be encoded or written: fail at once. */
    let failure: E | undefined = undefined
    /** A decoding error: fail once the frames decoded before it are answered. */
    let inputFailure: EI | undefined = undefined
    let ended = false
    const parts: Array<Uint8Array> = []

    const encode = (reply: Reply<O>): void => {
      if (reply === undefined || failure !== undefined) return
      if (Array.isArray(reply)) {
        for (const r of reply as ReadonlyArray<O>) {
          const error = encoder.push(r, parts)
          if (error !== undefined) return void (failure = error)
        }
      } else {
        const error = encoder.push(reply as O, parts)
        if (error !== undefined) failure = error
      }
    }

    /** Handles frames while their handlers complete at once; sets `waiting` at the first that does not. */
    const runSync = (): void => {
      while (next < frames.length && failure === undefined) {
        const effect = handle(frames[next]!, connection)
        if (!Exit.isExit(effect) || Exit.isFailure(effect)) {
          waiting = effect
          return
        }
        encode((effect as Exit.Success<Reply<O>, EH>).value)
        next++
        handled++
      }
      frames.length = 0
      next = 0
    }

    const decode = (chunk: Uint8Array): void => {
      if (inputFailure !== undefined) return
      const before = frames.length
      const error = decoder.push(chunk, frames)
      decoded += frames.length - before
      if (error !== undefined) inputFailure = error
    }

    /** Writes the replies gathered so far (one write) and counts the frames answered. */
    const flush = (): void => {
      if (handled > 0) {
        if (registry._tag === "Some") registry.value.framesHandled(handled)
        handled = 0
      }
      if (parts.length === 0) return
      const bytes = joinParts(parts)
      parts.length = 0
      const error = connection.writeNow(bytes)
      if (error !== undefined && failure === undefined) failure = error
    }

    const inline: InlineReader = {
      push: (chunk) => {
        if (waiting !== undefined || failure !== undefined || inputFailure !== undefined) return false
        decode(chunk)
        runSync()
        flush()
        return waiting === undefined && failure === undefined && inputFailure === undefined &&
          !connection.writeBlocked()
      },
      partial: () => decoder.buffered > 0,
      progress: () => decoded
    }

    const loop: Effect.Effect<void, E, R> = Effect.suspend((): Effect.Effect<void, E, R> => {
      if (waiting !== undefined) {
        const effect = waiting
        waiting = undefined
        return Effect.flatMap(effect, (reply) => {
          encode(reply)
          next++
          handled++
          runSync()
          return loop
        })
      }
      flush()
      if (failure !== undefined) return Effect.fail(failure)
      if (inputFailure !== undefined) return Effect.fail(inputFailure)
      if (connection.writeBlocked()) return Effect.zipRight(connection.write(EMPTY), loop)
      if (ended) return Effect.void
      return Effect.flatMap(connection.pull(inline.partial, inline.progress), (chunks) => {
        if (chunks === undefined) {
          ended = true
          if (inputFailure === undefined) {
            const before = frames.length
            const error = decoder.end(frames)
            decoded += frames.length - before
            if (error !== undefined) inputFailure = error
          }
        } else {
          for (const chunk of chunks) decode(chunk)
        }
        if (waiting === undefined) runSync()
        return loop
      })
    })

    connection.setInlineReader(inline)
    return Effect.ensuring(loop, Effect.sync(() => connection.setInlineReader(undefined)))
  })
