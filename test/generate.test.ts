// The generation pipeline end to end: a scripted LLM (loopback OpenAI API) and the loopback Hub serving small real
// datasets, real materialisation, real checks in local sandboxes. Kept first time, after two debug rounds, discarded
// after K rounds; Hub rejections (missing, gated, too large, wrong columns), a benchmark dataset, a duplicate, a
// reply that is not JSON, a 429; endpoints without structured output. Then the kept tasks served by a real server.
import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import YAML from 'yaml'
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.js'
import { fixture, fixtureDatasets, startFakeHub, type FakeHub } from './fakes/hub.js'
import { DIABETES, IRIS, LANGUAGE, lastUser, requestsOf, scriptedLlm, type TopicPlan } from './generate-llm.js'
import { generate, runPaths, type GenerateOptions } from '../tasks/generate/pipeline.js'
import { defaultStages } from '../tasks/generate/stages.js'
import { hubSettings } from '../tasks/generate/hub.js'
import { materialiseSettings } from '../tasks/generate/materialise.js'
import { LocalSandbox } from '../sandbox/local.js'
import {
  validateGenerationReport, validateGenerationReportList, validateProposalArtefact, validateProvenance, validateTopicOutcome, type TopicOutcome
} from '../env-spec/generation.js'
import { validateTaskDetail, validateTasksReloadResult } from '../env-spec/messages.js'
import { http, tempDir, testServer } from './helpers.js'

const root = tempDir(t, 'sg-generate-')
let runs = 0

async function fakes (plans: Record<string, TopicPlan>, opts: { rejectResponseFormat?: boolean, down?: () => boolean } = {}): Promise<{ llm: FakeOpenAI, hub: FakeHub }> {
  const script = scriptedLlm(plans)
  const llm = await startFakeOpenAI(req => opts.down?.() ? { status: 503, message: 'The server is overloaded' } : script(req), opts)
  const hub = await startFakeHub({
    datasets: [
      ...fixtureDatasets(),
      fixture('fixtures/iris', { id: 'fixtures/iris-gated', gated: 'manual' }),
      fixture('fixtures/wine', { id: 'fixtures/wine-huge', reportedSplitBytes: 50 * 1024 ** 3 })
    ]
  })
  t.teardown(async () => { await llm.close(); await hub.close() })
  return { llm, hub }
}

async function run (plans: Record<string, TopicPlan>, f: { llm: FakeOpenAI, hub: FakeHub }, over: Partial<GenerateOptions> = {}) {
  const out = over.out ?? join(root, `run${runs++}`)
  const topicsFile = join(root, `topics${runs}.txt`)
  writeFileSync(topicsFile, Object.keys(plans).join('\n') + '\n')
  const hub = hubSettings({ hubUrl: f.hub.hubUrl, datasetsServerUrl: f.hub.datasetsServerUrl, retries: 2, backoffMs: 10, maxBackoffMs: 50 }, {})
  const { seed: _s, ...materialise } = materialiseSettings({ ...hub, cacheDir: join(root, 'cache') }, {})
  const progress: string[] = []
  const r = await generate({
    out, topicsFile, concurrency: 1, rounds: 3, proposalAttempts: 5,
    llm: { model: 'fake-model', baseUrl: f.llm.url, apiKey: 'test', backoffMs: 20, retries: 3 },
    progress: line => progress.push(line), progressMs: 0, ...over
  }, defaultStages({ hub, materialise, makeSandbox: o => LocalSandbox.create({ ...o, baseDir: join(root, 'sandboxes') }) }))
  const outcome = (topic: string): TopicOutcome => r.outcomes.find(o => o.topic === topic)!
  return { ...r, out, progress, outcome }
}

const T = {
  first: 'language identification of country names',
  dup: 'which language a place name is written in',
  debug: 'diabetes progression regression',
  hub: 'disease progression from clinical measurements',
  misc: 'explained variance of diabetes progression',
  discard: 'iris species classification'
}

const PLANS: Record<string, TopicPlan> = {
  [T.first]: { proposals: [LANGUAGE(T.first, 'countryLanguage')], code: [undefined] },
  // the same dataset, target and metric as the first topic: refused, then another metric
  [T.dup]: { proposals: [LANGUAGE(T.dup, 'placeLanguage'), LANGUAGE(T.dup, 'placeLanguageF1', 'macro_f1')], code: [undefined] },
  [T.debug]: { proposals: [DIABETES(T.debug, 'diabetesRmse')], code: ['baseline_crash', 'nondeterministic', undefined] },
  [T.hub]: {
    proposals: [
      DIABETES(T.hub, 'nope1', 'mae', 'minimize'), // dataset replaced below: missing
      IRIS(T.hub, 'irisGated'),
      IRIS(T.hub, 'wineHuge'),
      DIABETES(T.hub, 'diabetesBadColumn', 'mae', 'minimize', ['bmi', 'blood_pressure']),
      DIABETES(T.hub, 'diabetesMae', 'mae', 'minimize')
    ],
    code: [undefined]
  },
  [T.misc]: {
    proposals: [
      { raw: { status: 429, message: 'Rate limit reached for requests', headers: { 'retry-after-ms': '30' } } },
      { raw: { content: 'Sure! Here is a task on the diabetes data: dataset fixtures/diabetes, predict progression.' } },
      { ...IRIS(T.misc, 'cifarTask'), dataset: 'uoft-cs/cifar10', target_column: 'label', input_columns: ['img'], task_type: 'image-classification' },
      DIABETES(T.misc, 'diabetesR2', 'r2', 'maximize')
    ],
    code: [undefined]
  },
  [T.discard]: { proposals: [IRIS(T.discard, 'irisSpecies')], code: ['baseline_crash'] }
}
;(PLANS[T.hub]!.proposals[0] as Record<string, unknown>).dataset = 'fixtures/no-such-dataset'
;(PLANS[T.hub]!.proposals[2] as Record<string, unknown>).dataset = 'fixtures/wine-huge'
;(PLANS[T.hub]!.proposals[1] as Record<string, unknown>).dataset = 'fixtures/iris-gated'
Object.assign(PLANS[T.hub]!.proposals[2] as Record<string, unknown>, { target_column: 'cultivar', input_columns: ['alcohol', 'malic_acid'] })

let main: Awaited<ReturnType<typeof run>>
let mainFakes: { llm: FakeOpenAI, hub: FakeHub }

t.before(async () => {
  mainFakes = await fakes(PLANS)
  main = await run(PLANS, mainFakes)
})

const attempts = (out: string, slug: string) => validateProposalArtefact(JSON.parse(readFileSync(runPaths(out).proposal(slug), 'utf8'))).attempts

t.test('the report: yield per stage, reasons, tokens; every artefact on disk validates', async t => {
  const r = main.report
  t.doesNotThrow(() => validateGenerationReport(JSON.parse(readFileSync(join(main.out, 'report.json'), 'utf8'))))
  t.equal(r.topics, 6)
  t.equal(r.kept, 5, main.table)
  t.equal(r.discarded, 1)
  t.equal(r.errors, 0)
  t.same(r.stages.find(s => s.stage === 'checks'), { stage: 'checks', entered: 6, passed: 5 })
  t.same(r.stages.find(s => s.stage === 'accept'), { stage: 'accept', entered: 5, passed: 5 })
  t.same(r.reasons.map(x => [x.stage, x.code, x.count]), [['checks', 'baseline_runs', 1]])
  t.ok(r.tokens.prompt > 0 && r.tokens.completion > 0)
  t.equal(r.tokens.per_kept_task, Math.round((r.tokens.prompt + r.tokens.completion) / 5))
  t.match(main.table, /^stage +entered +passed +yield$/m)
  t.match(main.table, /checks +6 +5 +83%/)
  t.match(main.table, /1 +checks +baseline_runs +after 3 rounds: baseline_runs: baseline\.py exited with status 1/)
  t.match(main.progress.at(-1)!, /topics 6\/6 done · proposed 6 · verified 6 · materialised 6 · coded 6 · checked 5 · kept 5 · discarded 1 · tokens \d+/)
  for (const o of main.outcomes) t.doesNotThrow(() => validateTopicOutcome(JSON.parse(readFileSync(runPaths(main.out).outcome(o.slug), 'utf8'))))
})

t.test('kept the first time: one round, every check passed and named in provenance.json', async t => {
  const o = main.outcome(T.first)
  t.match(o, { status: 'accepted', stage: 'accept', rounds: 1, task_id: 'countryLanguage', micro_task_id: 'countryLanguageMicro' })
  const dir = join(main.out, 'tasks', 'countryLanguage')
  const prov = validateProvenance(JSON.parse(readFileSync(join(dir, 'provenance.json'), 'utf8')))
  t.equal(prov.topic.topic, T.first)
  t.equal(prov.proposal.dataset, 'fixtures/country-names')
  t.equal(prov.dataset.revision, mainFakes.hub.dataset('fixtures/country-names')!.sha, 'the revision the Hub answered')
  t.equal(prov.model, 'fake-model')
  t.equal(prov.rounds, 1)
  t.same(prov.history, [])
  t.same(prov.checks.map(c => [c.name, c.ok]), [
    ['files', true], ['spec', true], ['no_label_leak', true], ['baseline_runs', true], ['metric_parses', true], ['deterministic', true],
    ['degenerate_worse', true], ['headroom', true], ['malformed_rejected', true], ['micro_runs', true]
  ])
  t.ok(prov.tokens.prompt > 0)
  for (const s of ['proposal', 'verification', 'materialisation', 'codegen', 'checks', 'accept'] as const) t.type(prov.timings[s], 'number', s)
  const spec = YAML.parse(readFileSync(join(dir, 'task.yaml'), 'utf8'))
  t.equal(spec.id, 'countryLanguage')
  t.type(spec.baseline_scores[0].accuracy, 'number', 'the checked baseline score ships with the task')
  t.equal(spec.baseline_scores[0].accuracy, prov.baseline.accuracy)
  t.ok(existsSync(join(dir, 'secret', 'answers.csv')) && existsSync(join(dir, 'data', 'test.csv')))
  const micro = YAML.parse(readFileSync(join(main.out, 'tasks', 'countryLanguageMicro', 'task.yaml'), 'utf8'))
  t.equal(micro.id, 'countryLanguageMicro')
  t.ok(micro.training_timeout <= 120, 'short timeouts')
  const microProv = validateProvenance(JSON.parse(readFileSync(join(main.out, 'tasks', 'countryLanguageMicro', 'provenance.json'), 'utf8')))
  t.equal(microProv.variant, 'micro')
  t.equal(microProv.sibling_task_id, 'countryLanguage')
  t.ok(microProv.rows.train < prov.rows.train, `micro ${microProv.rows.train} < full ${prov.rows.train} training rows`)
  const reqs = requestsOf(mainFakes.llm.requests, T.first, 'codegen')
  t.equal(reqs.length, 1)
  t.equal(reqs[0]!.response_format?.type, 'json_schema', 'structured output where the endpoint takes it')
})

t.test('two debug rounds: each failure goes back to the LLM, then kept', async t => {
  const o = main.outcome(T.debug)
  t.match(o, { status: 'accepted', rounds: 3, task_id: 'diabetesRmse' })
  const prov = validateProvenance(JSON.parse(readFileSync(join(main.out, 'tasks', 'diabetesRmse', 'provenance.json'), 'utf8')))
  t.same(prov.history, [{ round: 1, failed: ['baseline_runs'] }, { round: 2, failed: ['deterministic'] }])
  const reqs = requestsOf(mainFakes.llm.requests, T.debug, 'codegen')
  t.equal(reqs.length, 3)
  const fix1 = lastUser(reqs[1]!)
  t.match(fix1, /### check baseline_runs failed\nbaseline\.py exited with status 1\ncommand: python baseline\.py\nexit code: 1\noutput \(tail\):\n[\s\S]*FileNotFoundError/)
  t.match(lastUser(reqs[2]!), /### check deterministic failed\ntwo evaluations of the same submission differ/)
  t.equal(reqs[2]!.messages.filter(m => m.role === 'assistant').length, 2, 'the conversation carries the earlier files')
})

t.test('discarded after K rounds, with the reason', async t => {
  const o = main.outcome(T.discard)
  t.match(o, { status: 'discarded', stage: 'checks', rounds: 3, task_id: null, rejection: { stage: 'checks', code: 'baseline_runs' } })
  t.equal(requestsOf(mainFakes.llm.requests, T.discard, 'codegen').length, 3)
  t.notOk(existsSync(join(main.out, 'tasks', 'irisSpecies')))
  for (const n of [1, 2, 3]) t.ok(existsSync(runPaths(main.out).checks(o.slug, n)), `round ${n}'s checks are on disk`)
})

t.test('Hub rejections go back to the LLM: missing, gated, too large, wrong columns', async t => {
  const o = main.outcome(T.hub)
  t.match(o, { status: 'accepted', task_id: 'diabetesMae' })
  const a = attempts(main.out, o.slug)
  t.same(a.map(x => x.rejection && [x.rejection.stage, x.rejection.code]), [
    ['verification', 'DATASET_NOT_FOUND'], ['verification', 'DATASET_GATED'], ['verification', 'DATASET_TOO_LARGE'],
    ['verification', 'COLUMN_NOT_FOUND'], null
  ])
  const reqs = requestsOf(mainFakes.llm.requests, T.hub, 'proposal')
  t.equal(reqs.length, 5)
  t.match(lastUser(reqs[1]!), /rejected at the verification stage \(DATASET_NOT_FOUND\): The dataset "fixtures\/no-such-dataset" does not exist/)
  t.match(lastUser(reqs[2]!), /\(DATASET_GATED\)/)
  t.match(lastUser(reqs[3]!), /\(DATASET_TOO_LARGE\)/)
  t.match(lastUser(reqs[4]!), /\(COLUMN_NOT_FOUND\)[\s\S]*blood_pressure/)
})

t.test('a 429, a reply that is not JSON, a benchmark dataset', async t => {
  const o = main.outcome(T.misc)
  t.match(o, { status: 'accepted', task_id: 'diabetesR2' })
  const reqs = requestsOf(mainFakes.llm.requests, T.misc, 'proposal')
  t.equal(reqs.length, 4, 'the 429 was retried, the bad reply sent back, the benchmark refused')
  t.match(lastUser(reqs[2]!), /Your reply is not valid JSON/)
  t.match(lastUser(reqs[3]!), /rejected at the decontamination stage \(BENCHMARK_DATASET\): The dataset "uoft-cs\/cifar10" is CIFAR-10/)
  t.equal(mainFakes.hub.count(/cifar10/), 0, 'a benchmark dataset is refused before the Hub is asked')
  const a = attempts(main.out, o.slug)
  t.same(a.map(x => x.rejection?.code ?? null), ['BENCHMARK_DATASET', null])
  t.ok(main.progress.some(l => /LLM request failed \(429 Rate limit reached for requests\); retrying in 0\.0 s/.test(l)), 'the retry is shown')
})

t.test('at most one task per (dataset, config, target, metric)', async t => {
  const o = main.outcome(T.dup)
  t.match(o, { status: 'accepted', task_id: 'placeLanguageF1' })
  const a = attempts(main.out, o.slug)
  t.same(a.map(x => x.rejection && [x.rejection.stage, x.rejection.code]), [['dedup', 'DUPLICATE_TASK'], null])
  t.match(a[0]!.rejection!.message, /countryLanguage/)
})

t.test('an endpoint without structured output: JSON in text', async t => {
  const plans = { [T.first]: { proposals: [LANGUAGE(T.first, 'countryLanguage')], code: [undefined] } }
  const f = await fakes(plans, { rejectResponseFormat: true })
  const r = await run(plans, f)
  t.equal(r.report.kept, 1, r.table)
  const withFormat = f.llm.requests.filter(q => q.response_format)
  t.equal(withFormat.length, 1, 'asked once, answered 400, never again')
  t.equal(f.llm.requests.length, 3)
})

t.test('an LLM API that keeps failing: the topic ends as an error, and --resume retries it', async t => {
  let down = true
  const plans = { [T.first]: { proposals: [LANGUAGE(T.first, 'countryLanguage')], code: [undefined] } }
  const f = await fakes(plans, { down: () => down })
  const first = await run(plans, f)
  t.match(first.outcome(T.first), { status: 'error', stage: 'proposal', rejection: { code: 'LLM_ERROR', message: /failed 4 times; the last error: 503 The server is overloaded/ } })
  t.equal(first.report.errors, 1)
  t.match(first.table, /1 +proposal +LLM_ERROR/)
  t.equal(f.llm.requests.length, 4, 'the first try and 3 retries')
  down = false
  const second = await run(plans, f, { out: first.out, resume: true })
  t.match(second.outcome(T.first), { status: 'accepted', task_id: 'countryLanguage' })
  t.same([second.report.kept, second.report.errors], [1, 0])
})

t.test('the kept tasks and their micro variants run as environments through the server', async t => {
  const s = await testServer({}, { taskDirs: [join(main.out, 'tasks')] })
  t.teardown(() => s.close())
  const list = (await http(s.url, 'GET', '/v1/tasks')).body.tasks.map((x: { id: string }) => x.id)
  for (const id of ['countryLanguage', 'countryLanguageMicro', 'diabetesRmse', 'diabetesRmseMicro']) t.ok(list.includes(id), id)
  const detail = (await http(s.url, 'GET', '/v1/tasks/countryLanguage')).body
  t.doesNotThrow(() => validateTaskDetail(detail))
  t.equal(detail.provenance.topic.topic, T.first)
  t.equal(detail.provenance.rounds, 1)
  t.match(detail.description, /COUNTRY-NAMES|FIXTURES\/COUNTRY-NAMES/i, '{dataset_docs} rendered')
  t.notMatch(detail.description, /\{dataset_docs\}/)
  t.notOk('provenance' in (await http(s.url, 'GET', '/v1/tasks/diabetesRegression')).body, 'a built-in task has none')
  const reports = (await http(s.url, 'GET', '/v1/generation/reports')).body
  t.doesNotThrow(() => validateGenerationReportList(reports))
  t.strictSame(reports.reports.map((r: { out: string }) => r.out), [main.out], 'the run behind the served tasks')
  t.strictSame(reports.reports[0].report, JSON.parse(readFileSync(runPaths(main.out).report, 'utf8')), 'its report.json as written')
  t.strictSame(reports.errors, [])

  for (const [id, metric] of [['countryLanguage', 'accuracy'], ['diabetesRmseMicro', 'rmse']] as const) {
    const env = (await http(s.url, 'POST', '/v1/envs', { task: id, max_steps: 10 })).body
    const reset = (await http(s.url, 'POST', `/v1/envs/${env.env_id}/reset`)).body
    t.match(reset.observation, /SUBMISSION FORMAT:/)
    t.type(reset.info.baseline[metric], 'number', `${id}: the baseline from task.yaml`)
    const ls = (await http(s.url, 'POST', `/v1/envs/${env.env_id}/step`, { action: 'ls; ls data; ls /home/agent/secret 2>&1' })).body
    t.match(ls.observation, /baseline\.py/)
    t.match(ls.observation, /test\.csv/)
    t.match(ls.observation, /No such file or directory/, 'the hidden answers are not in the workspace')
    await http(s.url, 'POST', `/v1/envs/${env.env_id}/step`, { action: 'python baseline.py' })
    const v = (await http(s.url, 'POST', `/v1/envs/${env.env_id}/step`, { action: 'validate' })).body
    t.match(v.observation, /^Your code produced a valid submission artefact at \/home\/agent\/workspace\/submission\.csv\./, id)
    t.equal(v.info.score[0][metric], reset.info.baseline[metric], `${id}: the baseline scores as it did in the checks`)
    const sub = (await http(s.url, 'POST', `/v1/envs/${env.env_id}/step`, { action: 'submit' })).body
    t.equal(sub.terminated, true)
    t.equal(sub.info.exit_status, 'submitted')
    await http(s.url, 'DELETE', `/v1/envs/${env.env_id}`)
  }
})

t.test('GET /v1/generation/reports: a run that has not written its report yet is named in errors', async t => {
  const { cpSync, mkdirSync } = await import('node:fs')
  const out = join(root, 'unfinished')
  mkdirSync(join(out, 'tasks'), { recursive: true })
  cpSync(runPaths(main.out).run, runPaths(out).run)
  cpSync(join(main.out, 'tasks', 'diabetesMae'), join(out, 'tasks', 'diabetesMae'), { recursive: true })
  const s = await testServer({}, { taskDirs: [join(out, 'tasks')] })
  t.teardown(() => s.close())
  const r = (await http(s.url, 'GET', '/v1/generation/reports')).body
  t.doesNotThrow(() => validateGenerationReportList(r))
  t.strictSame(r.reports, [])
  t.match(r.errors, [{ file: runPaths(out).report, reason: /no report yet: the run is still going, or it was stopped/ }])
})

t.test('a running server picks up tasks added to its folder: reload and the watcher', async t => {
  const { cpSync, mkdirSync, renameSync } = await import('node:fs')
  const served = join(root, 'served')
  mkdirSync(served)
  const s = await testServer({}, { taskDirs: [served] })
  t.teardown(() => s.close())
  const ids = async () => (await http(s.url, 'GET', '/v1/tasks')).body.tasks.map((x: { id: string }) => x.id) as string[]
  t.notOk((await ids()).includes('diabetesMae'))
  // as the pipeline lands a task: copied under a dot name, then renamed
  cpSync(join(main.out, 'tasks', 'diabetesMae'), join(served, '.diabetesMae.tmp'), { recursive: true })
  renameSync(join(served, '.diabetesMae.tmp'), join(served, 'diabetesMae'))
  let seen = false
  for (let i = 0; i < 100 && !seen; i++) { seen = (await ids()).includes('diabetesMae'); if (!seen) await new Promise(r => setTimeout(r, 100)) }
  t.ok(seen, 'the watcher picked it up')
  cpSync(join(main.out, 'tasks', 'diabetesR2'), join(served, 'diabetesR2'), { recursive: true })
  const r = (await http(s.url, 'POST', '/v1/tasks/reload')).body
  t.doesNotThrow(() => validateTasksReloadResult(r))
  t.ok((await ids()).includes('diabetesR2'))
  t.ok(r.added.includes('diabetesR2') || (await ids()).includes('diabetesR2'))
  const { rmSync } = await import('node:fs')
  rmSync(join(served, 'diabetesMae'), { recursive: true })
  const gone = (await http(s.url, 'POST', '/v1/tasks/reload')).body
  t.ok(gone.removed.includes('diabetesMae') || !(await ids()).includes('diabetesMae'))
  t.notOk((await ids()).includes('diabetesMae'), 'a task removed from the folder is no longer served')
})
