// 5. SWE-ReX: `run_in_session` of `true` over /v1/envs/:id/swerex against the same in a raw bash pipe (target:
// p50 within 2 ms), and, with `sleep 60` running in one session, `is_alive` and another session's `true` (target:
// p99 under 10 ms). Requests go over HTTP with keep-alive (SWE-ReX's RemoteRuntime opens a connection per request:
// add one loopback connect to each figure for it).
import { randomUUID } from 'node:crypto'
import { SynthgymClient } from '../clients/client.js'
import type { BenchContext } from './context.js'
import { summarize } from './stats.js'
import { rawBash } from './step.js'
import { timeLoop, withTimeout } from './timing.js'

export async function swerexSection (ctx: BenchContext, url: string): Promise<Record<string, unknown>> {
  const { opts: o, report, progress } = ctx
  const S = 'SWE-ReX'
  const client = new SynthgymClient(url)
  const env = await client.createEnv({ task: o.stepTask, max_steps: 100_000 })
  await withTimeout(client.reset(env.env_id), 300_000, 'reset for the SWE-ReX benchmark')
  const base = `${url}/v1/envs/${env.env_id}/swerex`
  const rex = async (path: string, body?: unknown): Promise<any> => {
    const res = await fetch(base + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'x-request-id': randomUUID(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const out = await res.json()
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(out).slice(0, 300)}`)
    return out
  }
  const bash = (command: string, session: string) => ({
    command, session, timeout: null, is_interactive_command: false, is_interactive_quit: false, check: 'raise',
    error_msg: '', expect: [], action_type: 'bash'
  })
  const create = (session: string) => rex('/create_session', { startup_source: [], session, session_type: 'bash', startup_timeout: 1.0 })
  try {
    progress(`raw bash: ${o.warmup} + ${o.iterations} round trips of \`true\``)
    const raw = summarize(await rawBash(o.iterations, o.warmup))
    await create('default')
    progress(`SWE-ReX run_in_session: ${o.warmup} + ${o.iterations} round trips of \`true\``)
    const run = summarize(await timeLoop(o.iterations, o.warmup, async () => {
      const r = await withTimeout(rex('/run_in_session', bash('true', 'default')), 30_000, 'run_in_session')
      if (r.exit_code !== 0) throw new Error(`true: exit ${r.exit_code}`)
    }))

    await create('long')
    const long = rex('/run_in_session', bash('sleep 60', 'long')).catch(() => null) // ends with the interrupt below
    await new Promise(resolve => setTimeout(resolve, 200))
    const n = Math.min(o.iterations, 200)
    progress(`with \`sleep 60\` in session "long": ${n} is_alive, then ${n} \`true\` in "default"`)
    const alive = summarize(await timeLoop(n, 10, async () => {
      const r = await withTimeout(rex('/is_alive'), 10_000, 'is_alive')
      if (!r.is_alive) throw new Error('is_alive: false')
    }))
    const other = summarize(await timeLoop(n, 10, async () => {
      await withTimeout(rex('/run_in_session', bash('true', 'default')), 10_000, 'run_in_session beside the sleep')
    }))
    await rex('/run_in_session', { session: 'long', timeout: 0.2, n_retry: 3, expect: [], action_type: 'bash_interrupt' })
    await withTimeout(long, 30_000, 'the interrupted sleep')

    const overhead = Math.round((run.p50 - raw.p50) * 1000) / 1000
    report.row(S, 'run_in_session `true` overhead p50 (− raw bash p50)', overhead, 'ms', { below: 2 })
    report.row(S, 'run_in_session `true` round trip p50', run.p50, 'ms')
    report.row(S, 'run_in_session `true` round trip p99', run.p99, 'ms')
    report.row(S, 'raw bash pipe round trip p50', raw.p50, 'ms')
    report.row(S, 'is_alive beside `sleep 60` p99', alive.p99, 'ms', { below: 10 })
    report.row(S, 'is_alive beside `sleep 60` max', alive.max, 'ms')
    report.row(S, 'another session\'s `true` beside `sleep 60` p99', other.p99, 'ms', { below: 10 })
    report.row(S, 'another session\'s `true` beside `sleep 60` max', other.max, 'ms')
    return { raw_bash: raw, run_in_session_true: run, overhead_p50: overhead, is_alive_beside_sleep: alive, other_session_beside_sleep: other }
  } finally {
    await client.closeEnv(env.env_id).catch(() => {})
  }
}
