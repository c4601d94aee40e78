// 8. Generation: the pipeline against a fake LLM of fixed latency and the loopback Hub (real materialisation, real
// checks in local sandboxes). Targets: one task's wall time within 1.2x of (LLM time on its critical path + sandbox
// time); 8 LLM-bound topics in flight at once take about 1/8 of their serial time (below 0.15 of it). Also the
// per-stage time of one task, a full run of 8 kept tasks at --concurrency 8, and tokens per kept task (counted with
// the o200k tokenizer over the prompts and replies, since the fake's own counts are toy ones).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { encode } from 'gpt-tokenizer'
import type { BenchContext } from './context.js'
import { startFakeOpenAI, type ChatRequest } from '../test/fakes/openai.js'
import { startFakeHub, type FakeDataset } from '../test/fakes/hub.js'
import { DIABETES, proposal, scriptedLlm, type TopicPlan } from '../test/generate-llm.js'
import { parseCsv } from '../tasks/generate/csv.js'
import { generate, type GenerateOptions, type GenerateResult } from '../tasks/generate/pipeline.js'
import { defaultStages } from '../tasks/generate/stages.js'
import { hubSettings } from '../tasks/generate/hub.js'
import { materialiseSettings } from '../tasks/generate/materialise.js'
import { LocalSandbox } from '../sandbox/local.js'
import { BUILTIN_DIR } from '../tasks/registry.js'
import { round3 } from './stats.js'

const COLUMNS = ['age', 'sex', 'bmi', 'bp', 's1', 's2', 's3', 's4', 's5', 's6']

/** The diabetes data (real, from the built-in task) under `n` dataset ids, so every topic has a dataset of its own. */
function datasets (n: number): FakeDataset[] {
  const dir = join(BUILTIN_DIR, 'diabetesRegression')
  const answers = new Map(parseCsv(readFileSync(join(dir, 'secret', 'answers.csv'), 'utf8')).rows.map(r => [r[0]!, r[1]!]))
  const rows = ['train.csv', 'test.csv'].flatMap(f => {
    const t = parseCsv(readFileSync(join(dir, 'data', f), 'utf8'))
    return t.rows.map(r => {
      const o = Object.fromEntries(t.header.map((h, i) => [h, r[i]!]))
      return { ...Object.fromEntries(COLUMNS.map(c => [c, Number(o[c])])), progression: Number(o.progression ?? answers.get(o.id!)) }
    })
  })
  const float = { _type: 'Value', dtype: 'float64' }
  const features = { ...Object.fromEntries(COLUMNS.map(c => [c, float])), progression: { _type: 'Value', dtype: 'int64' } }
  return Array.from({ length: n }, (_, i) => ({ id: `bench/diabetes-${i}`, license: null, configs: [{ name: 'default', features, splits: { train: rows } }] }))
}

const tokens = (requests: ChatRequest[], replies: string[]): number =>
  requests.reduce((a, r) => a + r.messages.reduce((b, m) => b + encode(typeof m.content === 'string' ? m.content : '').length, 0), 0) +
  replies.reduce((a, t) => a + encode(t).length, 0)

export async function generateSection (ctx: BenchContext): Promise<Record<string, unknown>> {
  const { report, progress, dataDir, opts } = ctx
  const latency = opts.genLatencyMs
  const n = opts.genTopics
  const hub = await startFakeHub({ datasets: datasets(n) })
  const out: Record<string, unknown> = { llm_latency_ms: latency, topics: n }
  let runNo = 0
  const run = async (plans: Record<string, TopicPlan>, over: Partial<GenerateOptions>): Promise<{ r: GenerateResult, wallS: number, requests: ChatRequest[], replies: string[] }> => {
    const script = scriptedLlm(plans)
    const replies: string[] = []
    const llm = await startFakeOpenAI((req, i) => { const s = script(req); replies[i] = s.content ?? ''; return s }, { latencyMs: latency })
    try {
      const dir = join(dataDir, `generate-${runNo++}`)
      const topicsFile = `${dir}.topics`
      writeFileSync(topicsFile, Object.keys(plans).join('\n') + '\n')
      const hs = hubSettings({ hubUrl: hub.hubUrl, datasetsServerUrl: hub.datasetsServerUrl }, {})
      const { seed: _s, ...materialise } = materialiseSettings({ ...hs, cacheDir: join(dataDir, 'generate-cache') }, {})
      const t0 = performance.now()
      const r = await generate({
        out: dir, topicsFile, rounds: 1, llm: { model: 'bench', baseUrl: llm.url, apiKey: 'bench' }, progress: () => {}, ...over
      }, defaultStages({ hub: hs, materialise, makeSandbox: o => LocalSandbox.create({ ...o, baseDir: join(dataDir, 'generate-sandboxes') }) }))
      return { r, wallS: (performance.now() - t0) / 1000, requests: llm.requests, replies }
    } finally { await llm.close() }
  }
  const kept = (i: number) => `bench topic ${i}`
  const keptPlan = (i: number): TopicPlan => ({ proposals: [{ ...DIABETES(kept(i), `benchDiabetes${i}`), dataset: `bench/diabetes-${i}` }], code: [undefined] })

  try {
    // one task, alone: where its time goes
    progress(`generate: one task (LLM latency ${latency} ms)`)
    const one = await run({ [kept(0)]: keptPlan(0) }, { concurrency: 1 })
    const tm = one.r.outcomes[0]!.timings
    const llmS = (tm.proposal ?? 0) + (tm.codegen ?? 0)
    const sandboxS = tm.checks ?? 0
    const ratio = one.wallS / (llmS + sandboxS)
    const S = 'generate: one task'
    report.row(S, 'wall / (LLM on critical path + sandbox)', ratio, 'x', { below: 1.2 }, `wall ${one.wallS.toFixed(2)} s, LLM ${llmS.toFixed(2)} s (2 requests), sandbox ${sandboxS.toFixed(2)} s`)
    for (const s of ['proposal', 'verification', 'materialisation', 'codegen', 'checks', 'accept'] as const) report.row(S, `stage ${s}`, tm[s] ?? null, 's')
    out.one_task = { wall_s: round3(one.wallS), llm_s: round3(llmS), sandbox_s: round3(sandboxS), ratio: round3(ratio), stages: tm, kept: one.r.report.kept }

    // LLM-bound topics (their datasets are the benchmark's: refused before the Hub, no sandbox), serial then 8 at once
    const bound: Record<string, TopicPlan> = Object.fromEntries(Array.from({ length: n }, (_, i) => {
      const topic = `llm-bound topic ${i}`
      return [topic, { proposals: [proposal(topic, { dataset: 'uoft-cs/cifar10', target: 'label', inputs: ['img'], metric: 'accuracy', direction: 'maximize', type: 'image-classification', id: `cifar${i}` })], code: [undefined] }]
    }))
    progress(`generate: ${n} LLM-bound topics, serial`)
    const serial = await run(bound, { concurrency: 1, proposalAttempts: 2 })
    progress(`generate: ${n} LLM-bound topics, --concurrency ${n}`)
    const parallel = await run(bound, { concurrency: n, proposalAttempts: 2 })
    const share = parallel.wallS / serial.wallS
    const C = `generate: ${n} LLM-bound topics`
    report.row(C, `--concurrency ${n} / serial wall time`, share, 'x', { below: 1.2 / n }, `serial ${serial.wallS.toFixed(2)} s, concurrent ${parallel.wallS.toFixed(2)} s (${2 * n} requests of ${latency} ms)`)
    out.llm_bound = { serial_s: round3(serial.wallS), concurrent_s: round3(parallel.wallS), share: round3(share), requests: serial.requests.length }

    // a full run: n kept tasks, n in flight (the sandboxes share the machine's cores)
    progress(`generate: ${n} kept tasks, --concurrency ${n}`)
    const full = await run(Object.fromEntries(Array.from({ length: n }, (_, i) => [kept(i), keptPlan(i)])), { concurrency: n })
    const checks = full.r.outcomes.reduce((a, o) => a + (o.timings.checks ?? 0), 0)
    const F = `generate: ${n} kept tasks at once`
    report.row(F, 'kept', full.r.report.kept, 'count', { atLeast: n })
    report.row(F, 'wall', full.wallS, 's', null, `LLM critical path ${(2 * latency / 1000).toFixed(1)} s; checks ${checks.toFixed(1)} s summed over the tasks`)
    const perTask = tokens(full.requests, full.replies) / Math.max(1, full.r.report.kept)
    report.row(F, 'tokens per kept task (o200k)', Math.round(perTask), 'count', null, `fake's own count: ${full.r.report.tokens.per_kept_task}`)
    out.full = { wall_s: round3(full.wallS), kept: full.r.report.kept, checks_s_summed: round3(checks), tokens_per_kept_task_o200k: Math.round(perTask), fake_tokens_per_kept_task: full.r.report.tokens.per_kept_task }
  } finally { await hub.close() }
  return out
}
