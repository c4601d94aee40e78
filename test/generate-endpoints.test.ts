// `synthgym generate` against real endpoints' behaviour (strict vLLM fake, loopback Hub, real checks in local
// sandboxes): a 16k-context vLLM model keeps its tasks (the completion budget fits what the prompt leaves), a Qwen3
// model thinking in its text replies, the class labels the codegen prompt names, --resume going to the run's own
// endpoints (run.json), progress after a resume, and every flag in --help.
import t from 'tap'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startFakeOpenAI, type ChatRequest, type ScriptedReply } from './fakes/openai.js'
import { startFakeHub } from './fakes/hub.js'
import { LANGUAGE, DIABETES, scriptedLlm } from './generate-llm.js'
import { runPaths } from '../tasks/generate/pipeline.js'
import { generateCommand, GENERATE_HELP } from '../tasks/generate/generate-command.js'
import { Progress } from '../tasks/generate/report.js'
import { parseCsv } from '../tasks/generate/csv.js'
import { validateRunSettings, validateTopicOutcome, type TopicOutcome } from '../env-spec/generation.js'
import { tempDir } from './helpers.js'

const root = tempDir(t, 'sg-gen-endpoints-')
const MODEL = 'Qwen/Qwen3-8B'
const A = 'the language of a country name'
const B = 'diabetes progression from measurements'
const plans = {
  [A]: { proposals: [LANGUAGE(A, 'countryLanguageQwen')], code: [undefined] },
  [B]: { proposals: [DIABETES(B, 'diabetesQwen')], code: [undefined] }
}

/** Qwen3 without a reasoning parser: every text reply starts with a think block, braces and all. */
const thinking = (script: (r: ChatRequest) => ScriptedReply) => (req: ChatRequest): ScriptedReply => {
  const r = script(req)
  return typeof r.content === 'string' ? { ...r, content: `<think>\nA draft: {"task_id": "draft", "files": {}}\n\`\`\`json\n{"x": 1}\n\`\`\`\n</think>\n\n${r.content}` } : r
}

/** The command in this process, its stderr captured. */
async function command (args: string[]): Promise<{ code: number, err: string }> {
  let err = ''
  const write = process.stderr.write.bind(process.stderr)
  const log = console.log
  process.stderr.write = ((chunk: string | Uint8Array) => { err += chunk.toString(); return true }) as typeof process.stderr.write
  console.log = () => {}
  try { return { code: await generateCommand(args), err } } finally { process.stderr.write = write; console.log = log }
}

t.test('a 16k-context vLLM Qwen3 (thinking in its content, no structured output) keeps its tasks; --resume uses the run\'s own endpoints', async t => {
  let down = true
  const script = thinking(scriptedLlm(plans))
  const llm = await startFakeOpenAI(req => {
    // the first run: the LLM goes down when B's task code is asked for
    if (down && String(req.messages[1]?.content).includes(`(topic: ${B})`)) return { status: 503, message: 'overloaded' }
    return script(req)
  }, { vllm: { maxModelLen: 16384 }, model: MODEL, rejectResponseFormat: true })
  const hub = await startFakeHub()
  t.teardown(async () => { await llm.close(); await hub.close() })
  const out = join(root, 'out')
  const topicsFile = join(root, 'topics.txt')
  writeFileSync(topicsFile, `${A}\n${B}\n`)
  const cache = ['--cache-dir', join(root, 'cache')]

  const first = await command(['--out', out, '--topics-file', topicsFile, '--model', MODEL, '--base-url', llm.url, '--api-key', 'k',
    '--hub-url', hub.hubUrl, '--datasets-server-url', hub.datasetsServerUrl, '--concurrency', '1', '--llm-retries', '0', ...cache])
  t.equal(first.code, 1, 'B ended in an error')
  const paths = runPaths(out)
  const outcomes = (): TopicOutcome[] => readdirSync(join(out, 'work')).map(slug => validateTopicOutcome(JSON.parse(readFileSync(paths.outcome(slug), 'utf8'))))
  t.match(outcomes().find(o => o.topic === A), { status: 'accepted' }, first.err)
  t.match(outcomes().find(o => o.topic === B), { status: 'error', rejection: { message: /503 overloaded/ } }, first.err)

  for (const q of llm.requests) {
    const budget = q.max_completion_tokens as number
    t.ok(budget > 1000 && budget < 16384, `a completion budget (${budget}) that leaves the prompt room`)
  }
  const run = validateRunSettings(JSON.parse(readFileSync(paths.run, 'utf8')))
  t.match(run, { base_url: llm.url, hub_url: hub.hubUrl, datasets_server_url: hub.datasetsServerUrl, llm: { retries: 0 } })
  t.match(run.endpoint, { profile: 'vllm', context_length: 16384, structured_output: false })
  t.notMatch(readFileSync(paths.run, 'utf8'), /"k"/, 'no key recorded')

  // the codegen prompt names the classes as the CSVs hold them: the class index
  const codegen = llm.requests.find(q => String(q.messages[0]?.content).startsWith('You write machine-learning research tasks'))!
  const classes = /Target classes \(the target column holds the class index[^)]*\): (0 = [^,\n]+)/.exec(String(codegen.messages[1]!.content))
  t.ok(classes, 'class indexes in the prompt')
  const id = outcomes().find(o => o.topic === A)!.task_id!
  const train = parseCsv(readFileSync(join(paths.tasks, id, 'data', 'train.csv'), 'utf8'))
  const col = train.header.indexOf('language')
  t.ok(col >= 0 && train.rows.every(r => /^\d+$/.test(r[col]!)), 'the CSVs hold the index too')

  // resume: only --out, --resume and the key; the environment points elsewhere, run.json wins
  down = false
  const before = llm.requests.length
  const env = { OPENAI_BASE_URL: process.env.OPENAI_BASE_URL, HF_ENDPOINT: process.env.HF_ENDPOINT }
  process.env.OPENAI_BASE_URL = 'http://127.0.0.1:9/v1'
  process.env.HF_ENDPOINT = 'http://127.0.0.1:9'
  let again
  try { again = await command(['--out', out, '--resume', '--api-key', 'k', ...cache]) } finally {
    for (const [k, v] of Object.entries(env)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
  }
  t.equal(again.code, 0, again.err)
  t.ok(llm.requests.length > before, 'the run\'s own LLM endpoint answered')
  t.match(outcomes().find(o => o.topic === B), { status: 'accepted' })
  t.notMatch(again.err, /smoked/, 'no smoke stage ran, none is counted')
  t.equal(readdirSync(paths.tasks).filter(n => !n.startsWith('.')).length, 4, 'both tasks and their micro variants')
})

t.test('progress after a resume counts only the stages that ran', async t => {
  const lines: string[] = []
  const p = new Progress(1, () => 0, l => lines.push(l), 0)
  p.resumed({ slug: 'a', topic: 'a', status: 'accepted', stage: 'accept', rejection: null, task_id: 'x', micro_task_id: 'xMicro', rounds: 1, tokens: { prompt: 0, completion: 0 }, timings: { proposal: 1, checks: 1 } })
  t.notMatch(p.line(), /smoked/)
  t.match(p.line(), /checked 1/)
  p.resumed({ slug: 'b', topic: 'b', status: 'accepted', stage: 'accept', rejection: null, task_id: 'y', micro_task_id: 'yMicro', rounds: 1, tokens: { prompt: 0, completion: 0 }, timings: { smoke: 3 } })
  t.match(p.line(), /smoked 1/)
})

t.test('every flag of generate is in --help and docs/generation.md', async t => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'docs', 'generation.md'), 'utf8')
  for (const f of ['--llm-retries', '--llm-timeout', '--proposal-attempts', '--reply-attempts', '--max-tokens', '--endpoint-profile', '--reasoning-effort']) {
    t.ok(GENERATE_HELP.includes(f), `${f} in --help`)
    t.ok(readme.includes(f), `${f} in docs/generation.md`)
  }
})
