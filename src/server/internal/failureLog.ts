/**
 * The log lines of a server's failures (a connection's, an RPC handler's): one line each, naming
 * what failed (the peer's address, the method) and the error's one-line message, through Effect's
 * `Logger` at `Warning`; a defect (a bug, not bad input) at `Error`, with its cause (the stack).
 * At most `perSecond` lines in any second, so that a hostile peer cannot flood the log: past the
 * rate, lines are counted, and the next line logged says how many were dropped. A peer that went
 * away (`ECONNRESET`, `EPIPE`) is logged at `Debug`, under a budget of its own, so resets never
 * crowd out the lines that matter.
 */
import { Cause, Effect, Option } from "effect"
import { ConnectionFailed } from "../../connection/ConnectionError.js"

/** The first line of what went wrong, for a log line (a stack or a tree below it is not). */
const oneLine = (u: unknown): string => {
  const text = u instanceof Error || (typeof u === "object" && u !== null && "message" in u)
    ? String((u as { readonly message: unknown }).message)
    : String(u)
  const line = text.split("\n", 1)[0] ?? ""
  return line.length > 300 ? `${line.slice(0, 300)}…` : line
}

/** What a cause says in one line, and whether it is a defect (`undefined`: interruption only). */
export const describe = (
  cause: Cause.Cause<unknown>
): { readonly text: string; readonly defect: boolean } | undefined => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const e = failure.value
    const tag = typeof e === "object" && e !== null && "_tag" in e ? `${String((e as { _tag: unknown })._tag)}: ` : ""
    return { text: `${tag}${oneLine(e)}`, defect: false }
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) return { text: `defect: ${oneLine(defect.value)}`, defect: true }
  return undefined
}

/**
 * The OS codes of a peer that went away (a reset, a write to a closed socket): what clients,
 * browsers and load balancers do all day, not a failure of the server or the protocol.
 */
const PEER_GONE: ReadonlySet<string> = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"])

const isPeerGone = (cause: Cause.Cause<unknown>): boolean => {
  const failure = Cause.failureOption(cause)
  return Option.isSome(failure) && failure.value instanceof ConnectionFailed &&
    failure.value.code !== undefined && PEER_GONE.has(failure.value.code)
}

/** At most `perSecond` lines in any second: counts what it lets through and what it drops. */
class Budget {
  /** Start of the current one-second window (clock millis) and the lines logged in it. */
  private windowStart = -Infinity
  private logged = 0
  private dropped = 0

  constructor(readonly perSecond: number) {}

  /** `undefined` when over the rate (counted); else how many were dropped since the last line. */
  take(now: number): number | undefined {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now
      this.logged = 0
    }
    if (this.logged >= this.perSecond) {
      this.dropped++
      return undefined
    }
    this.logged++
    const dropped = this.dropped
    this.dropped = 0
    return dropped
  }
}

export class FailureLog {
  private readonly failures: Budget
  /** Peers that went away are logged at Debug, with a budget of their own. */
  private readonly peersGone: Budget

  constructor(
    private readonly enabled: boolean,
    private readonly now: () => number,
    perSecond = 10
  ) {
    this.failures = new Budget(perSecond)
    this.peersGone = new Budget(perSecond)
  }

  /** The effect logging that `subject` failed (or nothing: interruption only, off, over the rate). */
  failed(subject: string, cause: Cause.Cause<unknown>): Effect.Effect<void> {
    if (!this.enabled) return Effect.void
    const described = describe(cause)
    if (described === undefined) return Effect.void
    const gone = isPeerGone(cause)
    const budget = gone ? this.peersGone : this.failures
    const dropped = budget.take(this.now())
    if (dropped === undefined) return Effect.void
    const message = `effect-wire: ${subject} failed: ${described.text}` +
      (dropped === 0 ? "" : ` (${dropped} more failures not logged: at most ${budget.perSecond} lines a second)`)
    if (gone) return Effect.logDebug(message)
    return described.defect ? Effect.logError(message, cause) : Effect.logWarning(message)
  }
}
