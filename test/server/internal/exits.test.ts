import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { isSuccessExit } from "../../../src/server/internal/exits.js"

// A handler's result takes the inline path only when it is a success exit: a wrong `true` would
// skip its effects, a wrong `false` only costs a fiber.
describe("isSuccessExit", () => {
  it("recognises what Effect.succeed and Exit.succeed return, with their value", () => {
    const a: unknown = Effect.succeed(42)
    const b: unknown = Exit.succeed("x")
    expect(isSuccessExit(a) && a.value).toBe(42)
    expect(isSuccessExit(b) && b.value).toBe("x")
    expect(isSuccessExit(Effect.void)).toBe(true)
  })

  it("refuses failures, suspended effects and effects that merely look alike", () => {
    for (
      const effect of [
        Effect.fail("no"),
        Effect.die("boom"),
        Exit.interrupt(Effect.runSync(Effect.fiberId)),
        Effect.sync(() => 1),
        Effect.map(Effect.succeed(1), (n) => n + 1),
        Effect.never,
        Option.some(1),
        { _op: "Success", _tag: "Success", value: 1 },
        undefined,
        null
      ]
    ) expect(isSuccessExit(effect)).toBe(false)
  })
})
