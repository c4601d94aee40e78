// Importing an MLGym checkout (test/fixtures/mlgym, hand-written in MLGym's layout): the valid configs load with
// their paths resolved against the checkout and their dataset configs against configs/, `{dataset_docs}` is filled
// exactly as MLGym's _generate_dataset_docs does, every broken config is reported by file name with a reason that
// names the problem, MLGym YAML export round-trips, and an imported game task runs for real through the server.
import t from 'tap'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { importMlgym, taskDescription, toMlgymYaml, hostPath, loadTaskDir, type Task } from '../tasks/registry.js'
import { TaskLoadError } from '../tasks/errors.js'
import { TASK_ENTRYPOINTS } from '../env-spec/task.js'
import { DEFAULTS } from '../server/config.js'
import { startServer } from '../server/server.js'

const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'mlgym')

function tmp (prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

async function http (url: string, method: string, path: string, body?: unknown): Promise<{ status: number, body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  return { status: res.status, body: await res.json() }
}

const report = importMlgym(FIXTURE)
const byId = (id: string): Task => {
  const task = report.tasks.find(x => x.spec.id === id)
  if (!task) throw new Error(`${id} did not load: ${JSON.stringify(report.errors)}`)
  return task
}
const reasonOf = (file: string): string => {
  const hits = report.errors.filter(e => e.file === file)
  if (hits.length !== 1) throw new Error(`expected one error for ${file}, got ${JSON.stringify(report.errors)}`)
  return hits[0]!.reason
}

t.test('the valid configs load; the broken ones are reported, the rest still load', async t => {
  t.same(report.tasks.map(x => x.spec.id).sort(), ['regressionTinyHousePrice', 'stagHunt'])
  t.same(report.errors.map(e => e.file).sort(),
    ['brokenYaml.yaml', 'missingDataset.yaml', 'missingStarter.yaml', 'stagHuntL1.yaml', 'staleEntrypoint.yaml'],
    'each broken config is reported once, by its file name')
  for (const task of report.tasks) {
    t.equal(task.root, FIXTURE, 'paths resolve against the checkout')
    t.equal(task.source, `mlgym:${FIXTURE}`)
  }
})

t.test('a PythonSubmissionTasks game: fields as written, starter code resolved against the checkout', async t => {
  const game = byId('stagHunt')
  t.equal(game.spec.name, 'Stag Hunt')
  t.equal(game.spec.task_entrypoint, 'PythonSubmissionTasks')
  t.equal(game.spec.training_timeout, 600)
  t.equal(game.spec.use_generic_conda, true)
  t.same(game.spec.starter_code, ['data/stagHunt/target.py', 'data/stagHunt/evaluate.py', 'data/stagHunt/strategy.py'])
  t.same(game.spec.baseline_paths, ['evaluate.py'])
  t.same(game.spec.baseline_scores, [{ Score: 2.6167 }])
  t.same(game.spec.evaluation_paths, ['evaluate.py'])
  t.equal(game.spec.evaluation_read_only, true)
  t.equal(game.spec.memory_path, 'data/stagHunt/memory.json', 'a memory_path whose file is absent loads, as in MLGym')
  t.same(game.spec.datasets, [])
  t.equal(hostPath(game, 'data/stagHunt/strategy.py'), join(FIXTURE, 'data', 'stagHunt', 'strategy.py'))
  t.match(readFileSync(hostPath(game, game.spec.starter_code![2]!), 'utf8'), /def row_strategy\(history\)/)
  t.equal(taskDescription(game.spec), game.spec.description, 'no {dataset_docs}: the description is unchanged')
})

t.test('a CSVSubmissionTasks task: dataset_configs resolved against configs/, {dataset_docs} filled as MLGym does', async t => {
  const csv = byId('regressionTinyHousePrice')
  t.equal(csv.spec.task_entrypoint, 'CSVSubmissionTasks')
  t.same(csv.spec.dataset_configs, ['datasets/tinyHouses.yaml'], 'dataset_configs is kept as written')
  t.equal(csv.spec.sample_submission, 'data/tinyHousePrice/sample_submission.csv')
  t.same(csv.spec.baseline_scores, [{ rmse: 82483.6033, r2: -0.0243 }])
  const raw = YAML.parse(readFileSync(join(FIXTURE, 'configs', 'datasets', 'tinyHouses.yaml'), 'utf8'))
  t.same(csv.spec.datasets, [raw], 'the dataset config is loaded whole')
  const d = csv.spec.datasets![0]!
  t.equal(d.is_local, true)
  t.equal(hostPath(csv, d.data_path), join(FIXTURE, 'data', 'tinyHousePrice', 'data'))
  t.match(readFileSync(join(hostPath(csv, d.data_path), 'train.csv'), 'utf8'), /^Id,Area,Rooms,Price\n/)

  const filled = taskDescription(csv.spec)
  // MLGym: description.format(dataset_docs=...) with docs += f"{dataset.name.upper()}:\n{dataset.description}\n\n"
  const docs = `TINYHOUSES:\n${raw.description}\n\n`
  t.equal(filled, csv.spec.description.replace('{dataset_docs}', docs))
  t.notMatch(filled, /\{dataset_docs\}/)
  t.ok(filled.includes('This task uses the following dataset(s):\nTINYHOUSES:\nSixty houses with their floor area'),
    'the docs sit where the placeholder was')
  t.ok(filled.includes('the other 15.\n\n\nIf a baseline is given'), 'each dataset block ends with a blank line')

  // two datasets: one block each, in dataset_configs order
  const two = { ...csv.spec, description: 'Data:\n{dataset_docs}End', datasets: [d, { name: 'mnli', description: 'MNLI pairs.', data_path: 'nyu-mll/multi_nli' }] }
  t.equal(taskDescription(two), `Data:\nTINYHOUSES:\n${d.description}\n\nMNLI:\nMNLI pairs.\n\nEnd`)
})

t.test('broken configs: the reason names the problem and the fix', async t => {
  const starter = reasonOf('missingStarter.yaml')
  t.match(starter, /^starter_code: data\/missingStarterGame\/strategy\.py does not exist/)
  t.ok(starter.includes(join(FIXTURE, 'data', 'missingStarterGame', 'strategy.py')), 'says where it looked')
  t.match(starter, /relative to the MLGym checkout/)

  const entry = reasonOf('staleEntrypoint.yaml')
  t.match(entry, /task_entrypoint/)
  t.match(entry, /"BaseMLTask"/, 'names the bad value')
  for (const e of TASK_ENTRYPOINTS) t.ok(entry.includes(`"${e}"`), `lists ${e}`)

  const dataset = reasonOf('missingDataset.yaml')
  t.match(dataset, /^dataset_configs: datasets\/housingPrice\.yaml not found/)
  t.ok(dataset.includes(join(FIXTURE, 'configs', 'datasets', 'housingPrice.yaml')), 'says where it looked')
  t.match(dataset, /relative to configs\//)

  const yaml = reasonOf('brokenYaml.yaml')
  t.match(yaml, /^not valid YAML: .*line \d+, column \d+$/)
  t.notMatch(yaml, /\n/, 'one line, no code frame')

  t.match(reasonOf('stagHuntL1.yaml'), /^id stagHunt is already the id of stagHunt\.yaml;.*give it an id of its own/)
  t.equal(byId('stagHunt').spec.name, 'Stag Hunt', 'the first config in name order keeps the id')
})

t.test('more broken checkouts: no configs/tasks, bad dataset config, missing local data, bad fields', async t => {
  const none = importMlgym(tmp('sg-mlgym-none-'))
  t.same(none.tasks, [])
  t.equal(none.errors.length, 1)
  t.match(none.errors[0]!.reason, /not an MLGym checkout: configs\/tasks is missing/)
  t.match(importMlgym('/nonexistent/mlgym').errors[0]!.reason, /the directory does not exist/)

  const root = tmp('sg-mlgym-bad-')
  cpSync(FIXTURE, root, { recursive: true })
  for (const f of ['brokenYaml', 'missingDataset', 'missingStarter', 'staleEntrypoint', 'stagHuntL1']) rmSync(join(root, 'configs', 'tasks', `${f}.yaml`))
  const tasks = join(root, 'configs', 'tasks')
  const base = YAML.parse(readFileSync(join(tasks, 'tinyHousePrice.yaml'), 'utf8'))
  writeFileSync(join(root, 'configs', 'datasets', 'noPath.yaml'), 'name: NoPath\ndescription: no data_path\n')
  writeFileSync(join(tasks, 'a.yaml'), YAML.stringify({ ...base, id: 'a', dataset_configs: ['datasets/noPath.yaml'] }))
  rmSync(join(root, 'data', 'tinyHousePrice', 'data'), { recursive: true })
  writeFileSync(join(tasks, 'b.yaml'), YAML.stringify({ ...base, id: 'b', starter_codes: base.starter_code, training_timeout: 'long' }))
  writeFileSync(join(tasks, 'c.yaml'), YAML.stringify({ ...base, id: 'c', use_generic_conda: false }))
  writeFileSync(join(tasks, 'd.yaml'), '- just\n- a list\n')
  writeFileSync(join(tasks, 'e.yaml'), YAML.stringify({ ...base, id: 'e', sample_submission: 'data/nope.csv' }))
  const r = importMlgym(root)
  t.same(r.tasks.map(x => x.spec.id), ['stagHunt'], 'the task that does not need the removed data still loads')
  const reason = Object.fromEntries(r.errors.map(e => [e.file, e.reason]))
  t.match(reason['a.yaml'], /^dataset config datasets\/noPath\.yaml: dataset\.data_path is required/)
  t.match(reason['b.yaml'], /task\.starter_codes is not a known field; did you mean starter_code\?/)
  t.match(reason['b.yaml'], /task\.training_timeout must be of type integer,null, got "long"/, 'every problem, with its value')
  t.match(reason['c.yaml'], /requirements_path is required when use_generic_conda is false/)
  t.match(reason['d.yaml'], /must be a YAML mapping/)
  t.match(reason['e.yaml'], /^sample_submission: data\/nope\.csv does not exist/)
  t.match(reason['tinyHousePrice.yaml'], /^dataset TinyHouses \(datasets\/tinyHouses\.yaml\): data_path data\/tinyHousePrice\/data does not exist/)
  t.match(reason['tinyHousePrice.yaml'], /MLGym does not ship local data/)
})

t.test('toMlgymYaml round trip: export, re-import from the written checkout, same spec', async t => {
  for (const id of ['stagHunt', 'regressionTinyHousePrice']) {
    const task = byId(id)
    const out = tmp('sg-mlgym-export-')
    cpSync(join(FIXTURE, 'data'), join(out, 'data'), { recursive: true })
    const paths = (task.spec.datasets ?? []).map(d => `datasets/${d.name}.yaml`)
    const y = toMlgymYaml(task, paths)
    mkdirSync(join(out, 'configs', 'tasks'), { recursive: true })
    mkdirSync(join(out, 'configs', 'datasets'), { recursive: true })
    writeFileSync(join(out, 'configs', 'tasks', `${id}.yaml`), y.task)
    for (const d of y.datasets) writeFileSync(join(out, 'configs', 'datasets', `${d.name}.yaml`), d.yaml)

    const written = YAML.parse(y.task)
    t.notOk('datasets' in written, 'datasets live in their own files, as in MLGym')
    t.same(Object.keys(written).slice(0, 3), ['id', 'name', 'description'])
    const back = importMlgym(out)
    t.same(back.errors, [], `${id} re-imports cleanly`)
    t.equal(back.tasks.length, 1)
    const again = back.tasks[0]!
    t.equal(again.root, out)
    t.same({ ...again.spec, dataset_configs: undefined }, { ...task.spec, dataset_configs: undefined }, `${id}: same spec fields`)
    t.same(again.spec.dataset_configs ?? [], paths)
    t.equal(taskDescription(again.spec), taskDescription(task.spec), `${id}: same prompt`)
  }
})

t.test('a task directory reports the same problems as an import', async t => {
  const dir = tmp('sg-taskdir-')
  writeFileSync(join(dir, 'task.yaml'), 'id: x\nname: X\ndescription: d\ntask_entrypoint: BaseMLTask\n')
  let err: unknown
  try { loadTaskDir(dir) } catch (e) { err = e }
  t.ok(err instanceof TaskLoadError, 'a TaskLoadError')
  t.equal((err as TaskLoadError).file, join(dir, 'task.yaml'))
  t.match((err as TaskLoadError).reason, /^task\.task_entrypoint must be one of .*, got "BaseMLTask"$/)
  const checkout = tmp('sg-taskdir-mlgym-')
  mkdirSync(join(checkout, 'configs', 'tasks'), { recursive: true })
  t.throws(() => loadTaskDir(checkout), /no task\.yaml in this directory.*use synthgym tasks import/)
})

t.test('the imported game runs for real through the server: create, reset, validate, score', async t => {
  const dataDir = tmp('sg-mlgym-server-')
  const s = await startServer({ ...DEFAULTS, port: 0, dataDir }, { mlgym: [FIXTURE] })
  t.teardown(() => s.close())
  t.equal(s.imports.length, 1)
  t.equal(s.imports[0]!.errors.length, 5, 'the broken configs are reported, not fatal')
  const listed = await http(s.url, 'GET', '/v1/tasks')
  t.ok(listed.body.tasks.some((x: any) => x.id === 'stagHunt' && x.source === `mlgym:${FIXTURE}`))

  const env = await http(s.url, 'POST', '/v1/envs', { task: 'stagHunt', max_steps: 10 })
  t.equal(env.status, 201, JSON.stringify(env.body))
  const id = env.body.env_id
  const reset = await http(s.url, 'POST', `/v1/envs/${id}/reset`)
  t.equal(reset.status, 200, JSON.stringify(reset.body))
  t.equal(reset.body.observation, byId('stagHunt').spec.description)
  t.same(reset.body.info.baseline, { Score: 2.6167 })
  t.equal(reset.body.info.entrypoint, 'PythonSubmissionTasks')
  const ls = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'ls' })
  t.same(ls.body.observation.split('\n').sort(), ['evaluate.py', 'strategy.py', 'target.py'], 'the starter code is in the workspace')

  const v = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'validate' })
  t.equal(v.status, 200, JSON.stringify(v.body))
  t.ok(v.body.observation.startsWith('Your code produced a valid submission artefact at /home/agent/workspace/target.py.'), v.body.observation)
  t.equal(v.body.observation, "Your code produced a valid submission artefact at /home/agent/workspace/target.py.\nBaseline Score: {'Score': 2.6167}\nEvaluation Score: {'Score': 2.6167}")
  t.same(v.body.info.metrics, { Score: 2.6167 }, 'the unchanged example strategy scores the baseline')
  t.equal(v.body.terminated, false)

  // a better strategy scores higher: always hunt the stag with a partner that mostly copies you
  const edit = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: "cat > strategy.py << 'EOF'\ndef row_strategy(history):\n    return 0\nEOF" })
  t.equal(edit.status, 200)
  const v2 = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'validate' })
  t.ok(v2.body.info.metrics.Score > 2.6167, `always-stag scores ${v2.body.info.metrics?.Score}`)
  const sub = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'submit' })
  t.equal(sub.body.observation, 'Exited (submit)')
  t.equal(sub.body.terminated, true)
  t.equal(sub.body.info.exit_status, 'submitted')
  t.equal(sub.body.info.score.length, 3)
})

t.test('the imported CSV task runs through the server with its local dataset', async t => {
  const dataDir = tmp('sg-mlgym-server-csv-')
  const s = await startServer({ ...DEFAULTS, port: 0, dataDir }, { mlgym: [FIXTURE] })
  t.teardown(() => s.close())
  const env = await http(s.url, 'POST', '/v1/envs', { task: 'regressionTinyHousePrice' })
  t.equal(env.status, 201, JSON.stringify(env.body))
  const id = env.body.env_id
  const reset = await http(s.url, 'POST', `/v1/envs/${id}/reset`)
  t.equal(reset.body.observation, taskDescription(byId('regressionTinyHousePrice').spec), 'the prompt has the dataset docs filled in')
  const ls = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'ls data' })
  t.same(ls.body.observation.split('\n').sort(), ['answer.csv', 'test.csv', 'train.csv'], 'the local dataset is at workspace/data')
  const early = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'validate' })
  t.match(early.body.observation, /^Submission artefact not found/)
  await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'python baseline.py' })
  const v = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'validate' })
  t.equal(v.body.observation, "Your code produced a valid submission artefact at /home/agent/workspace/submission.csv.\nBaseline Score: {'rmse': 82483.6033, 'r2': -0.0243}\nEvaluation Score: {'rmse': 82483.6033, 'r2': -0.0243}")
})
