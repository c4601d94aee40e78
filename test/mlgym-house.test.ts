// MLGym's regressionKaggleHousePrice on its real data: MLGym ships the Kaggle train.csv and the script that splits
// it, so `synthgym mlgym prepare` (the CLI, on a copy of the checkout) makes the data as MLGym did; then MLGym's
// baseline.py and evaluate.py run unchanged, offline, on the local and docker backends, as an agent would.
// Skipped without a checkout (SYNTHGYM_MLGYM_CHECKOUT), or without the mlgym runtime unless CI=true.
import t, { type Test } from 'tap'
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalSandbox } from '../sandbox/local.js'
import type { Sandbox, SandboxOptions } from '../sandbox/types.js'
import { importMlgym, type Task } from '../tasks/registry.js'
import { MLGYM_METRICS, type MlgymStatus } from '../env-spec/task.js'
import {
  mlgymCheckout, mlgymDocker, mlgymRuntimeOrSkip, NO_MLGYM_CHECKOUT, skipFile, runMlgymTask, runProcess, tempDir
} from './helpers.js'

const checkout = mlgymCheckout()
if (!checkout) {
  skipFile(t, NO_MLGYM_CHECKOUT)
}
await mlgymRuntimeOrSkip(t)
const docker = await mlgymDocker('sg-test-mlgym-house')

const ID = 'regressionKaggleHousePrice'
const dir = tempDir(t, 'sg-mlgym-house-')
// prepare writes into the checkout, and the exported one is shared: a copy. The whole checkout (about 1 MB), as a
// user has it: `tasks import` refuses a checkout where no task loads, and this one loads only once prepared.
const copy = join(dir, 'mlgym')
const made = join(copy, 'data', ID, 'data')
cpSync(checkout, copy, { recursive: true, filter: src => src !== join(checkout, 'data', ID, 'data') })
const env = { ...process.env, SYNTHGYM_DATA_DIR: join(dir, 'synthgym') }
const cli = (...args: string[]) => runProcess(process.execPath, ['--import', 'tsx', 'server/cli.ts', ...args], env)

async function status (): Promise<MlgymStatus> {
  const r = await cli('mlgym', 'status', '--json')
  if (r.code !== 0) throw new Error(`mlgym status: ${r.out}`)
  return (JSON.parse(r.out) as MlgymStatus[]).find(s => s.id === ID)!
}

/** The task as imported from the prepared copy (it does not load before). */
function house (): Task {
  const report = importMlgym(copy)
  const task = report.tasks.find(x => x.spec.id === ID)
  if (!task) throw new Error(`${ID} did not load: ${JSON.stringify(report.errors)}`)
  return task
}

t.test('synthgym mlgym prepare makes the data; status says MISSING_DATA before, runnable after', async t => {
  const imported = await cli('tasks', 'import', copy)
  t.equal(imported.code, 0, 'tasks import', { output: imported.out })
  const missing = [{ code: 'MISSING_DATA', message: /synthgym mlgym prepare/ }]
  t.match((await status()).reasons, missing, 'before')
  // the task loads once its data dir exists: an empty one (a split that failed half way) is not runnable
  mkdirSync(made)
  t.match((await status()).reasons, missing, 'with an empty data dir')
  const started = Date.now()
  const r = await cli('mlgym', 'prepare', ID)
  t.equal(r.code, 0, 'mlgym prepare', { output: r.out })
  t.comment(`prepare took ${((Date.now() - started) / 1000).toFixed(1)} s`)
  for (const f of ['train', 'validation', 'test', 'answer']) t.ok(existsSync(join(made, `${f}.csv`)), `${f}.csv`)
  // MLGym's split: every row of its Kaggle file once, the labels of the test rows only in answer.csv
  const rows = (f: string) => readFileSync(f, 'utf8').trim().split('\n').slice(1).map(l => l.split(',')[0])
  const source = rows(join(copy, 'data', ID, '_helpers', 'train.csv'))
  const split = ['train', 'validation', 'test'].flatMap(f => rows(join(made, `${f}.csv`)))
  t.same([...split].sort(), [...source].sort(), 'train, validation and test partition the Kaggle rows by Id')
  t.same(rows(join(made, 'answer.csv')), rows(join(made, 'test.csv')), 'answer.csv labels the test rows')
  t.notMatch(readFileSync(join(made, 'test.csv'), 'utf8').split('\n')[0], /SalePrice/, 'test.csv has no labels')
  const after = await status()
  t.ok(after.runnable, `runnable after: ${JSON.stringify(after.reasons)}`)
})

const local = async (o: SandboxOptions): Promise<Sandbox> => await LocalSandbox.create({ ...o, baseDir: join(dir, 'sandboxes') })
// the metric MLGym's code ranks by, and every score its config publishes for the baseline (rmse and r2)
const METRIC = MLGYM_METRICS[ID]!.name

async function run (t: Test, make: (o: SandboxOptions) => Promise<Sandbox>): Promise<void> {
  const task = house()
  const score = await runMlgymTask(t, task, METRIC, { make })
  for (const k of Object.keys(task.spec.baseline_scores?.[0] ?? {})) t.type(score[k], 'number', `${k} = ${score[k]}`)
}
t.test('local: MLGym\'s baseline.py on the real split, validate and submit', async t => { await run(t, local) })
t.test('docker: the same in the mlgym image', { skip: docker.skip }, async t => { await run(t, docker.make) })
