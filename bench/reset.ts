// 2. Reset: repeated resets of one live env per task (target p50 < 0.5 s).
import { performance } from 'node:perf_hooks'
import { SynthgymClient } from '../clients/client.js'
import type { BenchContext } from './context.js'
import { summarize } from './stats.js'
import { timeLoop, withTimeout } from './timing.js'

/** Per task: its summary, or the error that stopped it (a failed task does not stop the others). */
export async function resets (ctx: BenchContext, url: string): Promise<Record<string, unknown>> {
  const { opts: o, report, progress } = ctx
  const ws = await new SynthgymClient(url).ws()
  const out: Record<string, unknown> = {}
  try {
    for (const task of o.resetTasks) {
      const S = `reset ${task}`
      try {
        const env = await ws.create({ task, max_steps: 10 })
        progress(`reset ${task}: warm-up (computes and caches the baseline when the task has none)`)
        const t = performance.now()
        const first = await withTimeout(ws.reset(env.env_id), 300_000, `first reset of ${task}`)
        const warmMs = performance.now() - t
        progress(`reset ${task}: ${o.resets} timed resets`)
        const ms = await timeLoop(o.resets, 1, async () => {
          await withTimeout(ws.reset(env.env_id), 60_000, `reset of ${task}`)
        })
        await ws.closeEnv(env.env_id)
        const s = summarize(ms)
        out[task] = { warmup_ms: Math.round(warmMs), baseline: first.info.baseline, ...s }
        report.row(S, 'p50', s.p50, 'ms', { below: 500 })
        report.row(S, 'p90', s.p90, 'ms')
        report.row(S, 'first reset (baseline warm-up)', warmMs, 'ms')
      } catch (e) {
        out[task] = { error: (e as Error).message }
        report.row(S, 'p50', null, 'ms', { below: 500 }, (e as Error).message)
      }
    }
  } finally { ws.close() }
  return out
}
