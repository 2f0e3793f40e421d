/**
 * Telling at once whether a handler's effect is already a successful `Exit` (what
 * `Effect.succeed` returns), on the path every request takes. `Exit.isExit` goes through a
 * `dual` predicate and a property lookup; the class of a success exit, taken from `Exit.void`
 * at load, answers with one prototype check. Anything else (a failure, a suspended effect, a
 * success exit from another copy of `effect`) takes the general path, which is always correct.
 */
import { Exit } from "effect"

class Never {}

const probe: unknown = Exit.void
const candidate: unknown = Object.getPrototypeOf(probe)?.constructor
// Only a class whose instances are success exits will do (checked on `Exit.void` and on a
// failure); else nothing matches and every effect takes the general path.
const SuccessExit: Function = typeof candidate === "function" && candidate !== Object &&
    Exit.isExit(probe) && Exit.isSuccess(probe as Exit.Exit<void>) && !(Exit.fail(0) instanceof candidate)
  ? candidate
  : Never

/** Whether `effect` is a successful `Exit` (a `false` is never wrong to act on: see the module doc). */
export const isSuccessExit = <A, E>(effect: unknown): effect is Exit.Success<A, E> => effect instanceof SuccessExit
