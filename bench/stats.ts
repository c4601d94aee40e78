// Statistics of timings, shared by bench/run.ts's sections and bench/gpu.ts.

export interface Summary { n: number, min: number, p50: number, p90: number, p99: number, max: number, mean: number }

/** Rounds to 1/1000: timings in ms keep microseconds, which is all a table shows. */
export const round3 = (x: number): number => Math.round(x * 1000) / 1000

/** An ascending copy (percentile wants sorted input). */
export const ascending = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b)

/** Nearest-rank percentile of values sorted ascending; NaN for none. */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/** Mean; 0 for none. */
export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)

export function summarize (ms: readonly number[]): Summary {
  const s = ascending(ms)
  return {
    n: s.length,
    min: round3(s[0] ?? NaN),
    p50: round3(percentile(s, 50)),
    p90: round3(percentile(s, 90)),
    p99: round3(percentile(s, 99)),
    max: round3(s[s.length - 1] ?? NaN),
    mean: round3(mean(s))
  }
}
