/**
 * A log-linear latency histogram over nanoseconds (HDR style, 64 sub-buckets per power of two,
 * so a recorded value is off by at most ~1.6%). Fixed size: recording never allocates.
 */
const SUB_BITS = 6
const SUB = 1 << SUB_BITS // 64
const LINEAR = SUB * 2 // values below 128 ns are exact
const MAX = 0xffff_ffff // ~4.29 s; larger values are clamped
const BUCKETS = LINEAR + (32 - SUB_BITS - 1) * SUB

export class Histogram {
  readonly counts = new Float64Array(BUCKETS)
  count = 0
  max = 0

  record(ns: number): void {
    let v = ns < 0 ? 0 : ns > MAX ? MAX : Math.floor(ns)
    if (v > this.max) this.max = v
    this.count++
    if (v < LINEAR) {
      this.counts[v]!++
      return
    }
    v = v >>> 0
    const msb = 31 - Math.clz32(v)
    const shift = msb - SUB_BITS
    const sub = v >>> shift // in [64, 128)
    this.counts[LINEAR + (shift - 1) * SUB + (sub - SUB)]!++
  }

  reset(): void {
    this.counts.fill(0)
    this.count = 0
    this.max = 0
  }

  private static valueAt(i: number): number {
    if (i < LINEAR) return i
    const shift = Math.floor((i - LINEAR) / SUB) + 1
    const sub = ((i - LINEAR) % SUB) + SUB
    return sub * 2 ** shift + 2 ** shift / 2
  }

  /** The value at quantile `q` (0..1), in nanoseconds; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return Math.min(Histogram.valueAt(i), this.max)
    }
    return this.max
  }
}
