// 3 and 4c. Many environments at once: open N (create + reset, a few at a time), then one step on all of them at
// the same moment (target: every one answers `ok`), then close them all.
import { performance } from 'node:perf_hooks'
import { SynthgymClient, type WsClient } from '../clients/client.js'
import type { BenchContext } from './context.js'
import { summarize } from './stats.js'
import { withTimeout } from './timing.js'

export interface ManyParams {
  /** the table's section name */
  section: string
  envs: number
  /** WebSockets, each opening one env at a time */
  concurrency: number
  task: string
  backend?: 'local' | 'docker'
}

export async function manyEnvs (ctx: BenchContext, url: string, o: ManyParams): Promise<Record<string, unknown>> {
  const { report, progress } = ctx
  const S = o.section
  const client = new SynthgymClient(url)
  const sockets: WsClient[] = await Promise.all(Array.from({ length: o.concurrency }, () => client.ws()))
  const ids: (string | null)[] = new Array(o.envs).fill(null)
  /** the socket that opened each env, which also steps and closes it */
  const owner: number[] = new Array(o.envs).fill(0)
  const openMs: number[] = []
  const errors: string[] = []
  let result: Record<string, unknown> | undefined
  try {
    progress(`${S}: creating and resetting ${o.envs} ${o.task}${o.backend ? ` (${o.backend})` : ''} environments, ` +
      `${o.concurrency} at a time`)
    let next = 0
    const t0 = performance.now()
    await Promise.all(sockets.map(async (ws, w) => {
      for (let i = next++; i < o.envs; i = next++) {
        const t = performance.now()
        try {
          const create = ws.create({ task: o.task, max_steps: 10, ...(o.backend ? { backend: o.backend } : {}) })
          const env = await withTimeout(create, 60_000, 'create')
          ids[i] = env.env_id
          owner[i] = w
          await withTimeout(ws.reset(env.env_id), 120_000, 'reset')
          openMs.push(performance.now() - t)
        } catch (e) { errors.push(`env ${i}: ${(e as Error).message}`) }
      }
    }))
    const openAll = performance.now() - t0
    const health = await client.health() as { envs?: { open?: number } }
    progress(`${S}: ${openMs.length} open in ${(openAll / 1000).toFixed(1)} s (server reports ${health.envs?.open}); ` +
      'one `echo ok` step on every one at once')

    const stepMs: number[] = []
    let answered = 0
    const wrong: string[] = []
    const t1 = performance.now()
    await Promise.all(ids.map(async (id, i) => {
      if (!id || !openMs.length) return
      const t = performance.now()
      try {
        const r = await withTimeout(sockets[owner[i]!]!.step(id, 'echo ok'), 120_000, 'step')
        stepMs.push(performance.now() - t)
        if (r.observation.trim() === 'ok' && !r.terminated && !r.truncated) answered++
        else wrong.push(`env ${i}: ${JSON.stringify(r.observation.slice(0, 200))}`)
      } catch (e) { wrong.push(`env ${i}: ${(e as Error).message}`) }
    }))
    const burst = performance.now() - t1
    const open = summarize(openMs)
    const step = summarize(stepMs)
    result = {
      task: o.task,
      backend: o.backend ?? 'local',
      envs: o.envs,
      concurrency: o.concurrency,
      opened: openMs.length,
      server_open_count: health.envs?.open ?? null,
      open_all_s: Math.round(openAll) / 1000,
      open_each_ms: open,
      step_burst_s: Math.round(burst) / 1000,
      step_ms: step,
      answered_ok: answered,
      errors: [...errors, ...wrong].slice(0, 20)
    }
    report.row(S, `time to open all (create + reset, ${o.concurrency} at a time)`, openAll / 1000, 's')
    report.row(S, 'open one env (create + reset) p50', open.p50, 'ms')
    report.row(S, 'open one env (create + reset) p99', open.p99, 'ms')
    report.row(S, 'concurrent `echo ok` step p50', step.p50, 'ms')
    report.row(S, 'concurrent `echo ok` step p99', step.p99, 'ms')
    report.row(S, 'all steps answered (wall time)', burst, 'ms')
    report.row(S, 'answered correctly', answered, 'count', { atLeast: o.envs }, [...errors, ...wrong][0])
  } finally {
    const t2 = performance.now()
    let next = 0
    const live = ids.map((id, i) => ({ id, i })).filter(x => x.id !== null)
    await Promise.all(sockets.map(async () => {
      for (let k = next++; k < live.length; k = next++) {
        const { id, i } = live[k]!
        await withTimeout(sockets[owner[i]!]!.closeEnv(id!), 60_000, 'close')
          .catch(e => errors.push(`close ${i}: ${(e as Error).message}`))
      }
    }))
    const closeMs = performance.now() - t2
    if (result) result.close_all_s = Math.round(closeMs) / 1000
    if (live.length) report.row(S, `time to close all (${o.concurrency} at a time)`, closeMs / 1000, 's')
    for (const s of sockets) s.close()
  }
  return result
}
