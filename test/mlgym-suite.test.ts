// `synthgym run --suite mlgym` against a server that imported MLGym itself (SYNTHGYM_MLGYM_CHECKOUT): what can
// run here runs (the games, on the base runtime), every other MLGym-Bench task is named with why (GET /v1/tasks/:id
// mlgym_status: runtime not built, Hub data not fetched, packages missing, data missing), --strict fails instead,
// and the run dirs it writes are what synthgym aup reads. No runtime is built in this test's runtimes dir.
import t from 'tap'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mlgymCheckout, NO_MLGYM_CHECKOUT, skipFile, runProcess, tempDir, testServer } from './helpers.js'
import { startFakeOpenAI, type ChatRequest } from './fakes/openai.js'
import { SynthgymClient } from '../clients/client.js'
import { resolveTasks } from '../clients/runs.js'
import { validateTaskDetail } from '../env-spec/messages.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const found = mlgymCheckout()
if (!found) {
  skipFile(t, NO_MLGYM_CHECKOUT)
}
const CHECKOUT: string = found
// an empty runtimes dir: the mlgym runtime is "not built" here whatever this machine has
process.env.SYNTHGYM_RUNTIME_DIR = tempDir(t, 'sg-runtimes-')

const cli = (cmd: string, args: string[]) =>
  runProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'cli.ts'), cmd, ...args], { ...process.env, OPENAI_API_KEY: 'sk-test' })

const server = await testServer({}, { mlgym: [CHECKOUT] })
t.teardown(() => server.close())
const client = new SynthgymClient(server.url)

t.test('GET /v1/tasks/:id says whether an MLGym task can run here, and why not', async t => {
  const cifar = validateTaskDetail(await client.task('imageClassificationCifar10'))
  t.equal(cifar.spec.runtime, 'mlgym')
  t.equal(cifar.mlgym_status?.runnable, false)
  t.match(cifar.mlgym_status?.reasons, [
    { code: 'RUNTIME_NOT_BUILT', message: /synthgym runtime build mlgym/ },
    { code: 'HUB_DATA_NOT_FETCHED', message: /dataset uoft-cs\/cifar10.*synthgym mlgym fetch imageClassificationCifar10/ }
  ])
  const game = validateTaskDetail(await client.task('battleOfSexes'))
  t.same(game.mlgym_status, { id: 'battleOfSexes', runnable: true, reasons: [], runtime: 'base', baseline_seconds: null, baseline_here: null })
})

t.test('--suite mlgym: the runnable ones, the others named; --strict fails naming them', async t => {
  const skipped = new Map<string, string>()
  const ids = await resolveTasks(client, { suite: 'mlgym', onSkip: (id, why) => skipped.set(id, why) })
  t.strictSame(ids.sort(), ['battleOfSexes', 'blotto', 'prisonersDilemma'])
  t.equal(skipped.size, 10, 'the other ten of the 13')
  t.match(skipped.get('3SATTime'), /not served: its MLGym config did not load/)
  t.match(skipped.get('naturalLanguageInferenceMNLI'), /RUNTIME_NOT_BUILT.*HUB_DATA_NOT_FETCHED: not fetched yet: dataset SetFit\/mnli/)
  await t.rejects(resolveTasks(client, { suite: 'mlgym', strict: true }), /--strict: 10 MLGym-Bench task\(s\) cannot run[\s\S]*imageClassificationFMnist: RUNTIME_NOT_BUILT/)
})

t.test('synthgym run --suite mlgym with a model writes run dirs synthgym aup reads; --strict exits non-zero', async t => {
  const fake = await startFakeOpenAI((req: ChatRequest) => {
    const answered = req.messages.filter(m => m.role === 'assistant').length
    return { content: `DISCUSSION\nstep ${answered}\n\`\`\`\n${answered === 0 ? 'validate' : 'submit'}\n\`\`\`` }
  })
  t.teardown(() => fake.close())
  const out = tempDir(t, 'sg-suite-')
  const strict = await cli('run', ['--url', server.url, '--suite', 'mlgym', '--strict', '--model', 'm', '--base-url', fake.url, '--out', out])
  t.not(strict.code, 0)
  t.match(strict.out, /--strict: 10 MLGym-Bench task/)
  const r = await cli('run', ['--url', server.url, '--suite', 'mlgym', '--model', 'm', '--base-url', fake.url, '--out', out, '--max-steps', '5', '--concurrency', '1'])
  t.equal(r.code, 0, r.out)
  t.match(r.out, /skipped imageClassificationCifar10: RUNTIME_NOT_BUILT/)
  const dirs = readdirSync(out)
  t.equal(dirs.length, 3)
  for (const d of dirs) t.ok(existsSync(join(out, d, 'results.json')), d)
  const aup = await cli('aup', [out, '--format', 'json'])
  t.equal(aup.code, 0, aup.out)
  t.match(aup.out, /"m"/)
})
