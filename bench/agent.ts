// The agent harness (clients/agent) against a zero-latency fake model (the tests' loopback OpenAI server):
// 1. its own time per step, beyond the model call and the environment's step (target: under 5 ms);
// 2. 64 episodes at once through `synthgym run`'s pool (clients/runs.ts) against one server (target: all 64 finish).
import { performance } from 'node:perf_hooks'
import { join } from 'node:path'
import { SynthgymClient } from '../clients/client.js'
import { runEpisode } from '../clients/agent/loop.js'
import { ModelClient } from '../clients/agent/model.js'
import { agentSettings } from '../clients/agent/settings.js'
import { runAll } from '../clients/runs.js'
import { startFakeOpenAI, type ChatRequest } from '../test/fakes/openai.js'
import type { BenchContext } from './context.js'
import { summarize } from './stats.js'

const TASK = 'prisonersDilemma'

/** `echo` steps, then `submit` once `steps` answers were given. */
function echoThenSubmit (steps: number) {
  return (req: ChatRequest) => {
    const n = req.messages.filter(m => m.role === 'assistant').length
    return { content: `DISCUSSION\nstep ${n}\n\`\`\`\n${n >= steps ? 'submit' : `echo step-${n}`}\n\`\`\`` }
  }
}

export async function agentSection (ctx: BenchContext, url: string): Promise<Record<string, unknown>> {
  const { report, progress, opts } = ctx
  const server = new SynthgymClient(url)
  const fake = await startFakeOpenAI(echoThenSubmit(opts.agentSteps - 1))
  const out: Record<string, unknown> = {}
  try {
    // 1. one episode after another, every step with token ids and logprobs (the heaviest model data)
    const settings = agentSettings({ model: 'bench-fake', baseUrl: fake.url, apiKey: 'x', tokenData: true })
    const model = new ModelClient(settings)
    const tools = await server.tools('mlgym')
    const harness: number[] = []
    const modelMs: number[] = []
    const envMs: number[] = []
    progress(`agent harness: ${opts.agentEpisodes} episodes of ${opts.agentSteps} steps on ${TASK}, zero-latency fake model, token data on`)
    for (let i = 0; i < opts.agentEpisodes; i++) {
      const o = await runEpisode(server, settings, { task: TASK, maxSteps: opts.agentSteps + 5 }, {
        model, tools,
        onStep: e => { harness.push(e.timing.harness_ms); modelMs.push(e.timing.model_ms); envMs.push(e.timing.env_ms) }
      })
      if (o.exit_status !== 'submitted') throw new Error(`agent harness: episode ${i} ended ${o.exit_status}, not submitted`)
    }
    const h = summarize(harness)
    const m = summarize(modelMs)
    const e = summarize(envMs)
    const S = 'agent harness'
    report.row(S, 'harness time per step, p50 (beyond model and env)', h.p50, 'ms', { below: 5 })
    report.row(S, 'harness time per step, p99', h.p99, 'ms')
    report.row(S, 'harness time per step, mean', h.mean, 'ms', { below: 5 })
    report.row(S, 'model call per step, p50 (fake, zero latency)', m.p50, 'ms')
    report.row(S, 'environment step per step, p50 (WS round trip with model data)', e.p50, 'ms')
    out.harness = { steps: harness.length, harness_ms: h, model_ms: m, env_ms: e }

    // 2. many episodes at once through the run pool, writing MLGym's layout
    const n = opts.agentConcurrent
    const fake2 = await startFakeOpenAI(echoThenSubmit(8))
    try {
      progress(`agent harness: ${n} episodes at once (synthgym run's pool, ${TASK}, 9 steps each)`)
      const load: number[] = []
      const t0 = performance.now()
      const settings2 = agentSettings({ model: 'bench-fake', baseUrl: fake2.url, apiKey: 'x' })
      let stepsDone = 0
      const { records } = await runAll(server, {
        tasks: [TASK], runsPerTask: n, concurrency: n, out: join(ctx.dataDir, 'agent-runs'), settings: settings2, maxSteps: 20
      }, {
        onProgress: p => { stepsDone = p.steps }
      })
      const wall = (performance.now() - t0) / 1000
      for (const r of records) if (r.outcome) load.push(r.outcome.stats.harness_ms / Math.max(1, r.outcome.stats.steps))
      const finished = records.filter(r => r.outcome?.exit_status === 'submitted').length
      const errors = records.filter(r => r.error).map(r => r.error!)
      const S2 = `${n} episodes at once`
      report.row(S2, 'episodes submitted', finished, 'count', { atLeast: n }, errors[0])
      report.row(S2, 'wall time', wall, 's')
      report.row(S2, 'steps per second (all episodes)', Math.round(stepsDone / wall), 'count')
      report.row(S2, 'harness time per step, mean of episodes', summarize(load).mean, 'ms')
      out.concurrent = { episodes: n, finished, failed: errors.length, errors: errors.slice(0, 5), wall_s: wall, steps: stepsDone, harness_ms_per_step: summarize(load) }
    } finally { await fake2.close() }
  } finally { await fake.close() }
  return out
}
