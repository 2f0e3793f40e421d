/**
 * One periodic check of every connection's read and write deadlines, instead of a timer per
 * wait: a wait on the hot path then costs two field writes. It sleeps on Effect's `Clock`, so
 * `TestClock` drives it in tests.
 */
import { Duration, Effect, type Scope } from "effect"

/** Something with deadlines to check. */
export interface Timed {
  checkTimers(now: number): void
}

export class Watchdog {
  private readonly members = new Set<Timed>()

  add(member: Timed): void {
    this.members.add(member)
  }

  remove(member: Timed): void {
    this.members.delete(member)
  }

  get size(): number {
    return this.members.size
  }

  check(now: number): void {
    for (const m of this.members) m.checkTimers(now)
  }
}

/**
 * A watchdog checking its members every `resolution` (default 250 ms) until the scope closes.
 * Timeouts fire up to one resolution late.
 */
export const make = (resolution: Duration.DurationInput = "250 millis"): Effect.Effect<Watchdog, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dog = new Watchdog()
    yield* Effect.clockWith((clock) =>
      Effect.sleep(resolution).pipe(
        Effect.zipRight(Effect.sync(() => dog.check(clock.unsafeCurrentTimeMillis()))),
        Effect.forever
      )
    ).pipe(Effect.forkScoped)
    return dog
  })

