/**
 * What Effect's runtime itself costs on this machine, for reading the handler rows of
 * `bench:server`: a fiber started per effect (`Runtime.runFork`), effects run 16 to a fiber (how
 * `Server.respond` runs a read's handlers), and building the effect alone.
 *
 * `npx tsx bench/runtime.ts` (in-process, about 30 s).
 */
import { Effect, Runtime } from "effect"

const runtime = Effect.runSync(Effect.runtime<never>())
const run = Runtime.runFork(runtime)
const N = 400_000

const bench = (name: string, f: () => number) => {
  f()
  const t0 = performance.now()
  const s = f()
  const ns = ((performance.now() - t0) / N) * 1e6
  console.log(`${name.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns per effect${s > 0 ? "" : " "}`)
}

const shapes = {
  "Effect.succeed": (x: number) => Effect.succeed(x),
  "Effect.map(Effect.void, …)": (x: number) => Effect.map(Effect.void, () => x + 1),
  "Effect.gen (no yield)": (x: number) =>
    Effect.gen(function*() {
      return x + 1
    })
} as const

for (const [name, make] of Object.entries(shapes)) {
  bench(`${name}: built only`, () => {
    let s = 0
    for (let i = 0; i < N; i++) s += make(i) === undefined ? 0 : 1
    return s
  })
  bench(`${name}: a fiber each`, () => {
    let s = 0
    for (let i = 0; i < N; i++) s += (run(make(i)).unsafePoll() as { value: number }).value
    return s
  })
  bench(`${name}: 16 to a fiber`, () => {
    let s = 0
    for (let i = 0; i < N / 16; i++) {
      let k = 0
      const loop: Effect.Effect<number> = Effect.suspend(() =>
        k === 16 ? Effect.succeed(0) : Effect.flatMap(make(k++), (b) => Effect.map(loop, (a) => a + b))
      )
      s += (run(loop).unsafePoll() as { value: number }).value
    }
    return s
  })
}
