import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { capText } from "../../src/internal/text.js"
import { depthBeyond, maxDepthOption } from "../../src/protocol/internal/jsonLimits.js"

/** The nesting of a parsed value, by recursion (fine for the shallow values generated here). */
const depthOf = (u: unknown): number => {
  if (typeof u !== "object" || u === null) return 0
  let max = 0
  for (const v of Object.values(u)) max = Math.max(max, depthOf(v))
  return max + 1
}

const nested = (depth: number): string => "[".repeat(depth) + "]".repeat(depth)

describe("depthBeyond", () => {
  it("is 0 up to the limit, and the depth beyond it", () => {
    expect(depthBeyond("1", 1)).toBe(0)
    expect(depthBeyond("[1,2,3,4,5,6]", 1)).toBe(0)
    expect(depthBeyond("[[1],[2],[3]]", 1)).toBe(2)
    expect(depthBeyond(nested(128), 128)).toBe(0)
    expect(depthBeyond(nested(129), 128)).toBe(129)
    expect(depthBeyond(nested(10_000), 128)).toBe(10_000)
    expect(depthBeyond(`{"a":{"b":[{"c":1}]}}`, 3)).toBe(4)
  })

  it("does not count brackets inside strings, escaped quotes included", () => {
    expect(depthBeyond(`["[[[[[[[[[[","{{{{{{{{"]`, 1)).toBe(0)
    expect(depthBeyond(`["\\"[[[[[[[[[[", "\\\\", [[1]]]`, 2)).toBe(3)
    expect(depthBeyond(`{"k\\"[[[[[[[[":"\\\\\\"{{{{{{{{{{{{"}`, 1)).toBe(0)
  })

  it("agrees with the depth of the parsed value on arbitrary JSON texts", () => {
    fc.assert(
      fc.property(fc.json({ depthSize: "large" }), fc.integer({ min: 1, max: 6 }), (text, limit) => {
        const depth = depthOf(JSON.parse(text))
        expect(depthBeyond(text, limit)).toBe(depth > limit ? depth : 0)
      }),
      { numRuns: 1000 }
    )
  })
})

describe("maxDepthOption", () => {
  it("defaults to 128 and refuses what is not an integer from 1 to 1024", () => {
    expect(maxDepthOption("c", undefined)).toBe(128)
    expect(maxDepthOption("c", 1)).toBe(1)
    expect(maxDepthOption("c", 1024)).toBe(1024)
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity, 1025]) {
      expect(() => maxDepthOption("c", bad)).toThrow(`c: option maxDepth must be an integer from 1 to 1024, got ${bad}`)
    }
  })
})

describe("capText", () => {
  it("keeps short texts and cuts long ones to the limit, ending with …, never inside a surrogate pair", () => {
    expect(capText("abc", 3)).toBe("abc")
    expect(capText("abcd", 3)).toBe("ab…")
    expect(capText("x".repeat(1_000_000))).toHaveLength(1000)
    expect(capText("a😀bc", 3)).toBe("a…")
    expect(capText("ab😀c", 4)).toBe("ab…")
  })
})
