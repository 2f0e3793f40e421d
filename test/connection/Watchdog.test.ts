/**
 * The watchdog: one timer for every connection's deadlines, fine enough that each timeout fires
 * within +10 % of its value, and spreading a tick that fires many timeouts over several turns of
 * the event loop so that other connections' I/O is not held up by it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import * as Watchdog from "../../src/connection/internal/watchdog.js"
import * as Framing from "../../src/protocol/Framing.js"
import * as Server from "../../src/server/Server.js"
import { rawConnect, readLines, readToEnd } from "../server/helpers.js"

describe("Watchdog", () => {
  it("derives its resolution from the smallest timeout: a twentieth of it, at most the one asked, at least 1 ms", () => {
    expect(Watchdog.resolutionFor(250, [300_000, 30_000, 2_000])).toBe(100)
    expect(Watchdog.resolutionFor(250, [300_000, 30_000])).toBe(250)
    expect(Watchdog.resolutionFor(50, [2_000])).toBe(50)
    expect(Watchdog.resolutionFor(250, [5])).toBe(1)
    expect(Watchdog.resolutionFor(250, [0, 30_000])).toBe(250)
  })

  it.effect("fires a tick's timeouts in batches, with a turn of the event loop between batches", () =>
    Effect.gen(function*() {
      const dog = yield* Watchdog.make("100 millis")
      const events: Array<"timeout" | "io"> = []
      for (let i = 0; i < 300; i++) {
        dog.add({
          checkTimers: () => {
            events.push("timeout")
            return true
          }
        })
      }
      // A stand-in for other connections' I/O: a callback in every turn of the event loop, until
      // every timeout has fired (bounded).
      let turns = 0
      const io = () => {
        if (events.filter((e) => e === "timeout").length === 300 || ++turns > 100_000) return
        events.push("io")
        setImmediate(io)
      }
      setImmediate(io)
      yield* TestClock.adjust("100 millis")
      yield* Effect.async<void>((resume) => {
        const wait = () => (events.filter((e) => e === "timeout").length === 300
          ? resume(Effect.void)
          : setImmediate(wait))
        wait()
      })
      const runs = events.join(",").split("io").map((run) => run.split(",").filter((e) => e === "timeout").length)
      expect(Math.max(...runs)).toBe(Watchdog.BATCH)
      expect(runs.reduce((a, b) => a + b, 0)).toBe(300)
    }).pipe(Effect.scoped))
})

describe("timeouts fire within +10 % of their value", () => {
  it.effect("a frame-read timeout of 1 s that falls between two 250 ms ticks fires by 1.1 s", () =>
    Effect.gen(function*() {
      const server = yield* Server.make(
        {
          port: 0,
          frameReadTimeout: "1 second",
          idleTimeout: "1 hour",
          linger: "1 hour",
          writeStallTimeout: "1 hour",
          halfClosedTimeout: "1 hour"
        },
        Server.respond(Framing.lines(), Effect.succeed)
      )
      yield* TestClock.adjust("10 millis")
      const slow = yield* rawConnect(server.address.port)
      const ended = yield* Effect.fork(readToEnd(slow))
      // One write: once "x" is answered, the half line after it has been read too (at 10 ms).
      slow.write("x\nhalf a li")
      expect(yield* readLines(slow, 1)).toEqual(["x"])
      // The deadline is 1010 ms; a 250 ms watchdog would see it only at 1250 ms (+24 %).
      yield* TestClock.adjust("1100 millis")
      expect((yield* Fiber.join(ended)).text).toBe("x\n")
    }).pipe(Effect.scoped))
})
