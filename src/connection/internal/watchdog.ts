/**
 * One periodic check of every connection's read and write deadlines, instead of a timer per
 * wait: a wait on the hot path then costs two field writes. It sleeps on Effect's `Clock`, so
 * `TestClock` drives it in tests.
 *
 * A tick that must fire many timeouts (500 slowloris connections expiring together) fires them
 * in batches of `BATCH`, giving the event loop a turn between batches: each fired timeout wakes a
 * fiber that closes its connection, and doing them all in one turn would stall every other
 * connection's I/O for as long.
 */
import { type Duration, Effect, type Scope } from "effect"
import type { TimersService } from "../Timers.js"

/** Something with deadlines to check (see `Timers.Timed`). */
export interface Timed {
  /** Fires what is due at `now`; true when something was fired (work for the event loop follows). */
  checkTimers(now: number): boolean
}

/** Timeouts fired per turn of the event loop. */
export const BATCH = 64

/** Ends the current turn of the event loop: I/O callbacks run before the fiber goes on. */
const nextTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

export class Watchdog implements TimersService {
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

  /** Checks every member at once (for callers that do not spread the work: see `tick`). */
  check(now: number): void {
    for (const m of this.members) m.checkTimers(now)
  }

  /**
   * Checks members from `cursor` until `BATCH` of them have fired something; true when members
   * are left (a `Set` iterator goes on correctly across additions and removals).
   */
  checkBatch(cursor: Iterator<Timed>, now: number): boolean {
    let fired = 0
    while (fired < BATCH) {
      const next = cursor.next()
      if (next.done === true) return false
      if (next.value.checkTimers(now)) fired++
    }
    return true
  }

  /** One tick: every member checked against the same `now`, in batches (see the module doc). */
  tick(now: number): Effect.Effect<void> {
    const cursor = this.members.values()
    const batch: Effect.Effect<void> = Effect.suspend(() =>
      this.checkBatch(cursor, now) ? Effect.zipRight(nextTurn, batch) : Effect.void
    )
    return batch
  }
}

/**
 * The resolution a watchdog needs so that every timeout of `timeouts` (milliseconds) fires within
 * +10 % of its value: at most `requested`, at most a twentieth of the smallest timeout (a tick
 * comes at most 5 % late, which leaves the other 5 % for a tick that fires many timeouts in
 * batches), at least 1 ms.
 */
export const resolutionFor = (requested: number, timeouts: ReadonlyArray<number>): number => {
  let resolution = requested
  for (const t of timeouts) if (t > 0) resolution = Math.min(resolution, Math.floor(t / 20))
  return Math.max(1, resolution)
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
        Effect.zipRight(Effect.suspend(() => dog.tick(clock.unsafeCurrentTimeMillis()))),
        Effect.forever
      )
    ).pipe(Effect.forkScoped)
    return dog
  })
