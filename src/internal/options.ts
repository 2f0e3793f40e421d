/**
 * Validation of codec options when a codec is built. A bad option is a programming error, so it
 * throws `IllegalArgumentException` at construction time instead of failing at the first frame.
 */
import { Cause } from "effect"

/** The largest frame limit any codec accepts: 2^31 - 1 bytes (a Node buffer's safe size). */
export const MAX_LIMIT = 2 ** 31 - 1

/** Returns `value ?? fallback` after checking it is an integer in `[min, max]`. */
export const intOption = (
  codec: string,
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number = MAX_LIMIT
): number => {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new Cause.IllegalArgumentException(
      `${codec}: option ${name} must be an integer from ${min} to ${max}, got ${String(v)}`
    )
  }
  return v
}

/** Returns `value ?? fallback` after checking it is one of `allowed`. */
export const oneOf = <const T extends string | number | boolean>(
  codec: string,
  name: string,
  value: T | undefined,
  fallback: T,
  allowed: ReadonlyArray<T>
): T => {
  const v = value ?? fallback
  if (!allowed.includes(v)) {
    throw new Cause.IllegalArgumentException(
      `${codec}: option ${name} must be one of ${allowed.map(String).join(", ")}, got ${String(v)}`
    )
  }
  return v
}

/** Throws `IllegalArgumentException` with the codec's name when `ok` is false. */
export const require = (codec: string, ok: boolean, message: string): void => {
  if (!ok) throw new Cause.IllegalArgumentException(`${codec}: ${message}`)
}
