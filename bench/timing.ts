// Timing loops and deadlines for the benchmark sections.
import { performance } from 'node:perf_hooks'

export const sleep = (ms: number): Promise<unknown> => new Promise(resolve => setTimeout(resolve, ms))

/** Rejects when `p` has not settled within `ms`, so that one lost answer cannot hang the whole run. */
export function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_resolve, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)
    })
  ])
}

/** `warmup` untimed calls, then `n` timed ones, one after another; returns the n durations in ms. */
export async function timeLoop (n: number, warmup: number, fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn()
  const out: number[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await fn()
    out[i] = performance.now() - t
  }
  return out
}
