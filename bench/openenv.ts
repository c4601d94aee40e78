// OpenEnv's protocol against our native WebSocket: a `true` step sent as OpenEnv's `{"type": "step", "data":
// {"command": "true"}}` on /openenv against `{op: "step"}` on /v1/ws, on the same environment (the OpenEnv socket
// resumes it at /openenv/envs/<env_id>/ws), interleaved one for one so that drift hits both alike.
// Target: the OpenEnv step's p50 within 0.5 ms of the native step's p50.
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { SynthgymClient } from '../clients/client.js'
import type { BenchContext } from './context.js'
import { round3, summarize } from './stats.js'
import { withTimeout } from './timing.js'

/** One OpenEnv socket: a message out, the next reply in (OpenEnv's replies come in request order). */
async function openEnvSocket (url: string): Promise<{ ask: (msg: unknown) => Promise<any>, close: () => void }> {
  const ws = new WebSocket(url)
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
  let waiting: ((f: any) => void) | null = null
  ws.on('message', (raw: Buffer) => { const w = waiting; waiting = null; w?.(JSON.parse(raw.toString())) })
  return {
    ask: msg => new Promise(resolve => { waiting = resolve; ws.send(JSON.stringify(msg)) }),
    close: () => ws.close()
  }
}

export async function openEnvStep (ctx: BenchContext, url: string): Promise<Record<string, unknown>> {
  const { opts: o, report, progress } = ctx
  const S = 'OpenEnv step'
  const ws = await new SynthgymClient(url).ws()
  try {
    const env = await ws.create({ task: o.stepTask, max_steps: 100_000 })
    await withTimeout(ws.reset(env.env_id), 300_000, 'reset for the OpenEnv benchmark')
    const oe = await openEnvSocket(url.replace(/^http/, 'ws') + `/openenv/envs/${env.env_id}/ws`)
    try {
      const native = async () => {
        const r = await withTimeout(ws.step(env.env_id, 'true'), 30_000, 'native ws step')
        if (r.terminated || r.truncated) throw new Error('the step environment ended early')
      }
      const openenv = async () => {
        const r = await withTimeout(oe.ask({ type: 'step', data: { command: 'true' } }), 30_000, 'openenv step')
        if (r.type !== 'observation') throw new Error(`openenv step: ${JSON.stringify(r.data)}`)
        if (r.data.done) throw new Error('the step environment ended early')
      }
      progress(`OpenEnv vs native WS step: ${o.warmup} + ${o.iterations} of each, interleaved (${o.stepTask})`)
      for (let i = 0; i < o.warmup; i++) { await native(); await openenv() }
      const a: number[] = []
      const b: number[] = []
      for (let i = 0; i < o.iterations; i++) {
        // alternate which goes first, so that neither always follows the other
        const order = i % 2 === 0 ? [[native, a], [openenv, b]] as const : [[openenv, b], [native, a]] as const
        for (const [fn, out] of order) {
          const t = performance.now()
          await fn()
          out.push(performance.now() - t)
        }
      }
      const nat = summarize(a)
      const ope = summarize(b)
      const diff = round3(ope.p50 - nat.p50)
      report.row(S, 'OpenEnv step p50 − native WS step p50', diff, 'ms', { below: 0.5 })
      report.row(S, 'OpenEnv step round trip p50', ope.p50, 'ms')
      report.row(S, 'OpenEnv step round trip p99', ope.p99, 'ms')
      report.row(S, 'native WS step round trip p50 (same env, interleaved)', nat.p50, 'ms')
      report.row(S, 'native WS step round trip p99 (same env, interleaved)', nat.p99, 'ms')
      return { native_ws_step: nat, openenv_step: ope, p50_difference: diff }
    } finally {
      oe.close()
      await ws.closeEnv(env.env_id).catch(() => {})
    }
  } finally { ws.close() }
}
