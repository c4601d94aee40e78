// Smoke episodes (`synthgym generate --smoke-episodes N`): after the checks, short teacher episodes run on the task's
// micro variant through a server of its own (server/smoke.ts, the agent harness over the public API). A teacher
// that trains the baseline and submits keeps the task; one that never makes a valid submission discards it.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startFakeOpenAI, type ChatRequest } from './fakes/openai.js'
import { fixtureDatasets, startFakeHub } from './fakes/hub.js'
import { LANGUAGE, scriptedLlm } from './generate-llm.js'
import { generate } from '../tasks/generate/pipeline.js'
import { defaultStages } from '../tasks/generate/stages.js'
import { hubSettings } from '../tasks/generate/hub.js'
import { materialiseSettings } from '../tasks/generate/materialise.js'
import { LocalSandbox } from '../sandbox/local.js'
import { smokeRunner } from '../server/smoke.js'
import { validateProvenance } from '../env-spec/generation.js'
import { tempDir } from './helpers.js'

const root = tempDir(t, 'sg-smoke-')
const TOPIC = 'language identification of country names'

/** A teacher that answers in MLGym's format: `commands` in order, one per turn (the last repeats). */
function teacher (commands: string[]) {
  return (req: ChatRequest) => {
    const turn = req.messages.filter(m => m.role === 'assistant').length
    return { content: `DISCUSSION\nturn ${turn}\n\`\`\`\n${commands[Math.min(turn, commands.length - 1)]}\n\`\`\`` }
  }
}

async function runWith (name: string, commands: string[]) {
  const llm = await startFakeOpenAI(scriptedLlm({ [TOPIC]: { proposals: [LANGUAGE(TOPIC, `country${name}`)], code: [undefined] } }))
  const model = await startFakeOpenAI(teacher(commands))
  const hub = await startFakeHub({ datasets: fixtureDatasets() })
  t.teardown(async () => { await llm.close(); await model.close(); await hub.close() })
  const topicsFile = join(root, `${name}.txt`)
  writeFileSync(topicsFile, TOPIC + '\n')
  const hs = hubSettings({ hubUrl: hub.hubUrl, datasetsServerUrl: hub.datasetsServerUrl, retries: 2, backoffMs: 10, maxBackoffMs: 50 }, {})
  const { seed: _s, ...materialise } = materialiseSettings({ ...hs, cacheDir: join(root, 'cache') }, {})
  const stages = defaultStages({ hub: hs, materialise, makeSandbox: o => LocalSandbox.create({ ...o, baseDir: join(root, 'sandboxes') }) })
  const out = join(root, name)
  const r = await generate({
    out, topicsFile, concurrency: 1, rounds: 1,
    llm: { model: 'fake-model', baseUrl: llm.url, apiKey: 'test', backoffMs: 20, retries: 3 },
    progress: () => {}, progressMs: 0
  }, { ...stages, smoke: smokeRunner({ episodes: 2, model: 'teacher-model', baseUrl: model.url, apiKey: 'test', maxSteps: 4, backend: 'local' }) })
  return { r, out, model }
}

t.test('a teacher that submits a valid submission keeps the task; the smoke episodes are in its provenance', async t => {
  const { r, out, model } = await runWith('Kept', ['python baseline.py', 'submit'])
  const o = r.outcomes[0]!
  t.equal(o.status, 'accepted', JSON.stringify(o.rejection))
  const prov = validateProvenance(JSON.parse(readFileSync(join(out, 'tasks', 'countryKept', 'provenance.json'), 'utf8')))
  t.equal(prov.smoke?.ok, true)
  t.equal(prov.smoke?.model, 'teacher-model')
  t.same(prov.smoke?.episodes.map(e => [e.exit_status, e.valid_submission]), [['submitted', true]], 'it stops at the first valid one')
  t.ok(model.requests.length >= 2, 'the teacher was asked through the harness')
  t.match(model.requests[0]!.messages[1]!.content as string, /countryKeptMicro|SUBMISSION FORMAT/i, 'on the task as served')
  t.same(r.report.stages.find(s => s.stage === 'smoke'), { stage: 'smoke', entered: 1, passed: 1 })
})

t.test('a teacher that never makes a valid submission: the task is discarded with the reason', async t => {
  const { r, out } = await runWith('Dropped', ['echo nothing to see', 'submit'])
  const o = r.outcomes[0]!
  t.equal(o.status, 'discarded')
  t.equal(o.stage, 'smoke')
  t.equal(o.rejection?.code, 'NO_VALID_SUBMISSION')
  t.match(o.rejection?.message, /none of 2 smoke episode\(s\) of teacher-model ended with a valid submission/)
  t.same(r.report.stages.find(s => s.stage === 'smoke'), { stage: 'smoke', entered: 1, passed: 0 })
  t.throws(() => readFileSync(join(out, 'tasks', 'countryDropped', 'task.yaml')), 'nothing lands in OUT/tasks')
})
