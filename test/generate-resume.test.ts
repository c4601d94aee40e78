// `synthgym generate` as a real child process: killed with SIGKILL while an LLM request hangs, then `--resume` in
// the same folder finishes the run without redoing a finished stage (no LLM request for it, its artefacts untouched).
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startFakeOpenAI } from './fakes/openai.js'
import { startFakeHub } from './fakes/hub.js'
import { DIABETES, LANGUAGE, requestsOf, scriptedLlm } from './generate-llm.js'
import { runPaths } from '../tasks/generate/pipeline.js'
import { validateGenerationReport } from '../env-spec/generation.js'
import { repoRoot } from '../tasks/registry.js'
import { tempDir } from './helpers.js'

const root = tempDir(t, 'sg-gen-resume-')
const A = 'language of a country name'
const B = 'diabetes progression'
let hang = true
const plans = {
  [A]: { proposals: [LANGUAGE(A, 'countryLanguage')], code: [undefined] },
  [B]: { proposals: [DIABETES(B, 'diabetesRmse')], code: [undefined] }
}

function cli (args: string[]): { child: ChildProcess, done: Promise<number | null>, stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot(), 'server', 'cli.ts'), 'generate', ...args], {
    cwd: repoRoot(), env: { ...process.env, OPENAI_API_KEY: 'test', HF_TOKEN: '', HF_ENDPOINT: '' }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let err = ''
  child.stderr!.on('data', d => { err += d })
  child.stdout!.resume()
  const done = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  return { child, done, stderr: () => err }
}

async function until (what: string, ok: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 100))
  }
}

t.test('the command line: help, a missing --out, an unknown flag', async t => {
  const run = async (args: string[]) => { const c = cli(args); return { code: await c.done, err: c.stderr() } }
  const help = cli(['--help'])
  let stdout = ''
  help.child.stdout!.on('data', d => { stdout += d })
  t.equal(await help.done, 0)
  for (const f of ['--topics', '--topics-file', '--seed', '--concurrency', '--rounds', '--model', '--base-url', '--api-key', '--hub-url',
    '--datasets-server-url', '--hf-token', '--backend local|docker', '--resume']) t.ok(stdout.includes(f), f)
  t.match(await run(['--topics', '3']), { code: 1, err: /synthgym: --out DIR is required/ })
  t.match(await run(['--out', join(root, 'x'), '--frobnicate']), { code: 1, err: /unknown argument --frobnicate; see synthgym generate --help/ })
  t.match(await run(['--out', join(root, 'x'), '--resume']), { code: 1, err: /holds no run to resume/ })
})

t.test('killed mid-run, resumed without redoing finished stages', async t => {
  const llm = await startFakeOpenAI(scriptedLlm(plans, { codegen: topic => topic === B && hang ? { hang: true } : undefined }), { latencyMs: 50 })
  const hub = await startFakeHub()
  t.teardown(async () => { await llm.close(); await hub.close() })
  const out = join(root, 'out')
  const topics = join(root, 'topics.txt')
  writeFileSync(topics, `${A}\n${B}\n`)
  const args = ['--out', out, '--topics-file', topics, '--concurrency', '2', '--model', 'fake-model', '--base-url', llm.url,
    '--hub-url', hub.hubUrl, '--datasets-server-url', hub.datasetsServerUrl, '--cache-dir', join(root, 'cache')]
  const p = runPaths(out)
  const slug = (topic: string) => JSON.parse(readFileSync(p.topics, 'utf8')).topics.find((x: { topic: string }) => x.topic === topic).slug

  const first = cli(args)
  // the progress line of A's end comes through the child's stderr, which may arrive after A's outcome file is seen
  await until('topic A to finish (and say so) and B to wait on its task code', () =>
    existsSync(p.topics) && existsSync(p.outcome(slug(A))) && existsSync(p.materialisation(slug(B))) &&
    requestsOf(llm.requests, B, 'codegen').length === 1 && /topics 1\/2 done/.test(first.stderr()))
  first.child.kill('SIGKILL')
  t.equal(await first.done, null, 'killed')
  t.match(first.stderr(), /topics 1\/2 done/, 'progress while it ran')
  t.notOk(existsSync(p.report), 'no report: the run did not end')

  const finished = [p.run, p.topics, p.proposal(slug(A)), p.materialisation(slug(A)), p.files(slug(A), 1), p.checks(slug(A), 1), p.outcome(slug(A)),
    p.proposal(slug(B)), p.materialisation(slug(B)), join(p.tasks, 'countryLanguage', 'provenance.json')]
  const mtimes = finished.map(f => statSync(f).mtimeMs)
  const before = llm.requests.length

  hang = false
  const second = cli([...args, '--resume'])
  t.equal(await second.done, 0, second.stderr())
  const during = llm.requests.slice(before)
  t.equal(during.length, 1, 'one LLM request: the task code that was cut off')
  t.equal(requestsOf(during, B, 'codegen').length, 1)
  t.same(finished.map(f => statSync(f).mtimeMs), mtimes, 'the finished stages\' artefacts are untouched')
  const report = validateGenerationReport(JSON.parse(readFileSync(p.report, 'utf8')))
  t.equal(report.kept, 2)
  t.same(report.tasks.map(x => x.task_id).sort(), ['countryLanguage', 'diabetesRmse'])
  t.ok(existsSync(join(p.tasks, 'diabetesRmseMicro', 'task.yaml')))
  t.match(second.stderr(), /topics 2\/2 done/)
  // the run's own folders went with it: its sandboxes' cgroup parents and its temp base (named by the OUT folder)
  const owner = 'gen-' + createHash('sha256').update(resolve(out)).digest('hex').slice(0, 12)
  const left = ['/sys/fs/cgroup/synthgym', ...['pids', 'memory', 'cpu'].map(c => `/sys/fs/cgroup/${c}/synthgym`)]
    .map(d => join(d, owner)).concat(join(tmpdir(), 'synthgym-generate', owner)).filter(existsSync)
  t.same(left, [], 'no cgroup or temp folder of the run is left')

  const again = cli(['--out', out, '--topics-file', topics, '--base-url', llm.url])
  t.equal(await again.done, 1, 'a second run into the same folder without --resume is refused')
  t.match(again.stderr(), /already holds a run \(run\.json\); pass --resume/)
})
