/**
 * `Server.respond` answers a handler inline when its effect completes without suspending
 * (`Effect.succeed`, `Effect.gen`, `map` / `flatMap` chains…) and through a fiber when it
 * suspends. Whatever the mix, the peer must see the same thing: one reply per frame (or the
 * frame's array of replies, or none), in the order of the frames, up to the first failure or
 * defect, after which the connection closes and `errors` counts it. Checked against that model
 * for random mixes of handler shapes, sent in random chunks.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { Buffer } from "node:buffer"
import * as Framing from "../../src/protocol/Framing.js"
import * as Message from "../../src/protocol/Message.js"
import * as Server from "../../src/server/Server.js"
import { rawConnect, readToEnd } from "./helpers.js"

const KINDS = [
  "succeed",
  "gen",
  "map",
  "flatMap",
  "yield",
  "sleep",
  "none",
  "many",
  "fail",
  "failGen",
  "die",
  "failAsync"
] as const
type Kind = (typeof KINDS)[number]

class Refused {
  readonly _tag = "Refused"
}

/** The handler: each line is `kind:payload`, answered as its kind says. */
const handle = (line: string): Effect.Effect<string | ReadonlyArray<string> | undefined, Refused> => {
  const [kind, payload] = line.split(":") as [Kind, string]
  const reply = `re:${payload}`
  switch (kind) {
    case "succeed":
      return Effect.succeed(reply)
    case "gen":
      return Effect.gen(function*() {
        const a = yield* Effect.succeed(reply)
        return a
      })
    case "map":
      return Effect.map(Effect.void, () => reply)
    case "flatMap":
      return Effect.flatMap(Effect.sync(() => payload), (p) => Effect.succeed(`re:${p}`))
    case "yield":
      return Effect.as(Effect.yieldNow(), reply)
    case "sleep":
      return Effect.as(Effect.sleep("1 millis"), reply)
    case "none":
      return Effect.succeed(undefined)
    case "many":
      return Effect.gen(function*() {
        return [reply, `${reply}+`]
      })
    case "fail":
      return Effect.fail(new Refused())
    case "failGen":
      return Effect.gen(function*() {
        return yield* Effect.fail(new Refused())
      })
    case "die":
      return Effect.sync(() => {
        throw new Error("handler bug")
      })
    case "failAsync":
      return Effect.zipRight(Effect.yieldNow(), Effect.fail(new Refused()))
  }
}

/** What the peer must read for these frames: replies up to the first failure. */
const model = (frames: ReadonlyArray<readonly [Kind, number]>): { text: string; failed: boolean } => {
  let text = ""
  for (const [kind, payload] of frames) {
    if (kind === "fail" || kind === "failGen" || kind === "die" || kind === "failAsync") return { text, failed: true }
    if (kind === "none") continue
    text += `re:${payload}\n`
    if (kind === "many") text += `re:${payload}+\n`
  }
  return { text, failed: false }
}

const cases = fc.record({
  frames: fc.array(fc.tuple(fc.constantFrom(...KINDS), fc.nat(999)), { minLength: 1, maxLength: 30 }),
  cuts: fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 8 })
})

describe("Server.respond: inline and fiber paths answer alike", () => {
  it.live(
    "same replies, same order, same failures as the model, for random mixes of handler shapes",
    () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ port: 0 }, Server.respond(Message.text(Framing.lines()), handle))
        let errorsBefore = 0
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(cases, ({ cuts, frames }) =>
              Effect.runPromise(
                Effect.gen(function*() {
                  const socket = yield* rawConnect(server.address.port)
                  const ended = yield* Effect.fork(readToEnd(socket))
                  const bytes = Buffer.from(frames.map(([k, p]) => `${k}:${p}\n`).join(""))
                  let at = 0
                  for (const cut of cuts) {
                    if (at >= bytes.length) break
                    socket.write(bytes.subarray(at, at + cut))
                    at += cut
                  }
                  if (at < bytes.length) socket.write(bytes.subarray(at))
                  socket.end()
                  const got = yield* ended.await.pipe(Effect.flatten)
                  const expected = model(frames)
                  expect(got.text).toBe(expected.text)
                  const errors = (yield* server.stats).errors
                  expect(errors - errorsBefore).toBe(expected.failed ? 1 : 0)
                  errorsBefore = errors
                }).pipe(Effect.scoped)
              )),
            { numRuns: 150 }
          )
        )
      }).pipe(Effect.scoped),
    120_000
  )
})
