// Generation's data stages against a loopback Hub and dataset viewer (test/fakes/hub.ts) serving real datasets as
// parquet: verification (3) and its rejections, retries of 429 and ResponseNotReady, decontamination and dedup (4),
// and materialisation (5): exact row counts, a seeded split, test targets only in the secret file, the download cache,
// images as files. The CSV files written are read back with Python's csv module, not with our own code.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startFakeHub, fixture, type FakeHub, type Row } from './fakes/hub.js'
import { tempDir } from './helpers.js'
import { hubSettings, verifyDataset, featureType, type HubSettings, type VerifyResult } from '../tasks/generate/hub.js'
import { decontaminate, loadBenchmarkDatasets, benchmarkMatch, TaskDedup, MLGYM_BENCHMARK_DATASETS } from '../tasks/generate/decontaminate.js'
import { materialise, materialiseSettings, cachePath, type MaterialiseSettings } from '../tasks/generate/materialise.js'
import { validateVerifiedDataset, type MaterialisedData, type Proposal, type VerifiedDataset } from '../env-spec/generation.js'

const TOKEN = 'hf_synthgymTestToken'

function proposal (over: Partial<Proposal> = {}): Proposal {
  return {
    topic: 'tabular classification of plants', title: 'Iris species from flower measurements', task_id: 'irisSpecies',
    dataset: 'fixtures/iris', config: 'default', splits: ['train'],
    input_columns: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'], target_column: 'species',
    task_type: 'tabular-classification', metric: { name: 'accuracy', direction: 'maximize' }, submission_kind: 'CSVSubmissionTasks',
    learnability: 'petal sizes separate the species', ...over
  }
}
const digits = (over: Partial<Proposal> = {}) => proposal({
  task_id: 'digitImages', dataset: 'fixtures/digits', splits: ['train', 'test'], input_columns: ['image'], target_column: 'label',
  task_type: 'image-classification', ...over
})

const settings = (hub: FakeHub, over: Partial<HubSettings> = {}): HubSettings =>
  hubSettings({ hubUrl: hub.hubUrl, datasetsServerUrl: hub.datasetsServerUrl, retries: 3, backoffMs: 1, maxBackoffMs: 5, ...over }, {})

function rejection (t: Test, r: VerifyResult, code: string, ...mentions: string[]): void {
  if (r.ok) { t.fail(`expected ${code}, got a verified dataset`); return }
  t.equal(r.rejection.code, code, r.rejection.message)
  t.equal(r.rejection.stage, 'verify')
  for (const m of mentions) t.match(r.rejection.message, m, `the message names ${m}`)
}

async function verified (p: Proposal, s: HubSettings): Promise<VerifiedDataset> {
  const r = await verifyDataset(p, s)
  if (!r.ok) throw new Error(`not verified: ${r.rejection.code} ${r.rejection.message}`)
  return r.dataset
}

/** CSV files as Python's csv module reads them; read once (one python3 for all the CSV files under `dirs`). */
const parsed = new Map<string, string[][]>()
function pyCsv (file: string): string[][] {
  if (!parsed.has(file)) loadCsv([file])
  return parsed.get(file)!
}
function loadCsv (files: string[]): void {
  const r = spawnSync('python3', ['-c', 'import csv, json, sys\nprint(json.dumps({f: list(csv.reader(open(f, newline="", encoding="utf-8"))) for f in sys.argv[1:]}))', ...files], { encoding: 'utf8', maxBuffer: 1 << 28 })
  if (r.status !== 0) throw new Error(r.stderr)
  for (const [f, rows] of Object.entries(JSON.parse(r.stdout) as Record<string, string[][]>)) parsed.set(f, rows)
}
const csvFiles = (...dirs: string[]) => dirs.flatMap(d => ['data/train.csv', 'data/validation.csv', 'data/test.csv', 'secret/answers.csv'].map(f => join(d, f)))
const table = (file: string) => { const [header, ...rows] = pyCsv(file); return { header, rows } }
const sourceRows = (hub: FakeHub, id: string, split: string): Row[] => hub.dataset(id)!.configs.get('default')!.splits.get(split)!.rows
const downloads = (hub: FakeHub) => hub.count(/^\/(datasets\/.+\/resolve\/|cdn\/)/, 'hub')

t.test('verification', async t => {
  const hub = await startFakeHub({ tokens: [TOKEN] })
  t.teardown(hub.close)
  const s = settings(hub)

  t.test('a verified dataset: pinned revisions, license, splits, typed columns, the parquet files', async t => {
    const r = await verifyDataset(proposal({ dataset: 'Fixtures/IRIS' }), s)
    t.ok(r.ok)
    if (!r.ok) return
    const d = r.dataset
    const built = hub.dataset('fixtures/iris')!
    t.equal(d.dataset, 'fixtures/iris', 'the id as the Hub spells it')
    t.equal(d.revision, built.sha)
    t.equal(d.parquet_revision, built.parquetSha)
    t.equal(d.license, 'cc-by-4.0')
    t.same(d.splits, [{ name: 'train', num_rows: 150 }])
    t.same(d.columns, { sepal_length: 'Value(float64)', sepal_width: 'Value(float64)', petal_length: 'Value(float64)', petal_width: 'Value(float64)', species: 'ClassLabel' })
    t.same(d.target_names, ['setosa', 'versicolor', 'virginica'])
    const files = built.configs.get('default')!.splits.get('train')!.files
    t.same(d.parquet_files, { train: files.map(f => f.path) })
    t.equal(d.size_bytes, files.reduce((a, f) => a + f.bytes.length, 0))
    t.same(validateVerifiedDataset(d), d)

    const img = await verified(digits(), s)
    const dig = hub.dataset('fixtures/digits')!.configs.get('default')!
    t.same(img.parquet_files, { train: dig.splits.get('train')!.files.map(f => f.path), test: dig.splits.get('test')!.files.map(f => f.path) })
    t.equal(img.parquet_files.train.length, 3, 'a split of several files')
    t.same(img.splits, [{ name: 'train', num_rows: 1257 }, { name: 'test', num_rows: 540 }])
    t.same(img.columns, { image: 'Image', label: 'ClassLabel' })

    const reg = await verified(proposal({ dataset: 'fixtures/diabetes', input_columns: ['age', 'bmi', 'bp'], target_column: 'progression', task_type: 'tabular-regression', metric: { name: 'rmse', direction: 'minimize' } }), s)
    t.equal(reg.columns.progression, 'Value(int64)', 'an integer target fits regression')
    t.equal(reg.license, null)
    const text = await verified(proposal({ dataset: 'fixtures/country-names', splits: ['train', 'test'], input_columns: ['text'], target_column: 'language', task_type: 'text-classification' }), s)
    t.same(text.target_names, ['de', 'es', 'fr', 'it', 'nl'])
  })

  t.test('a renamed dataset: the Hub redirects, the verified id is the new one', async t => {
    const moved = await startFakeHub({ datasets: [fixture('fixtures/iris', { aliases: ['iris'] })] })
    t.teardown(moved.close)
    const d = await verified(proposal({ dataset: 'iris' }), settings(moved))
    t.equal(d.dataset, 'fixtures/iris')
    t.ok(moved.requests.some(r => r.path === '/api/datasets/iris/revision/HEAD' && r.status === 307))
    t.ok(moved.requests.filter(r => r.server === 'viewer').every(r => r.query.includes('dataset=fixtures%2Firis')), 'the viewer is asked for the new id')
  })

  t.test('the token reaches the Hub and the viewer', async t => {
    const before = hub.requests.length
    await verified(proposal(), settings(hub, { hfToken: TOKEN }))
    const mine = hub.requests.slice(before)
    t.ok(mine.some(r => r.server === 'hub') && mine.some(r => r.server === 'viewer'))
    t.ok(mine.every(r => r.authorization === `Bearer ${TOKEN}`), 'every request carries it')
  })

  t.test('a missing dataset', async t => {
    rejection(t, await verifyDataset(proposal({ dataset: 'fixtures/no-such-data' }), s), 'DATASET_NOT_FOUND', 'fixtures/no-such-data')
  })

  t.test('a wrong config, a wrong split', async t => {
    rejection(t, await verifyDataset(proposal({ config: 'plain_text' }), s), 'CONFIG_NOT_FOUND', '"plain_text"', 'its configs are "default"')
    rejection(t, await verifyDataset(proposal({ splits: ['train', 'validation'] }), s), 'SPLIT_NOT_FOUND', '"validation"', 'its splits are "train"')
  })

  t.test('wrong columns', async t => {
    rejection(t, await verifyDataset(proposal({ input_columns: ['sepal_length', 'petal_area'] }), s), 'COLUMN_NOT_FOUND', '"petal_area"', '"petal_width" (Value(float64))')
    rejection(t, await verifyDataset(proposal({ target_column: 'variety' }), s), 'COLUMN_NOT_FOUND', '"variety"')
    rejection(t, await verifyDataset(proposal({ input_columns: ['sepal_length', 'species'] }), s), 'TARGET_IN_INPUTS')
    // types that do not fit the task type
    rejection(t, await verifyDataset(proposal({ task_type: 'tabular-regression' }), s), 'COLUMN_TYPE_MISMATCH', '"species" is ClassLabel', 'a number')
    rejection(t, await verifyDataset(proposal({ task_type: 'image-classification' }), s), 'COLUMN_TYPE_MISMATCH', 'an Image column')
    rejection(t, await verifyDataset(proposal({ task_type: 'text-classification' }), s), 'COLUMN_TYPE_MISMATCH', 'a text column')
    rejection(t, await verifyDataset(proposal({ target_column: 'petal_width', input_columns: ['sepal_length'] }), s), 'COLUMN_TYPE_MISMATCH', 'Value(float64)', 'class label')
    rejection(t, await verifyDataset(digits({ task_type: 'tabular-classification' }), s), 'COLUMN_TYPE_MISMATCH', '"image" (Image)')
  })

  t.test('a size limit', async t => {
    rejection(t, await verifyDataset(proposal(), settings(hub, { maxDatasetBytes: 1000 })), 'DATASET_TOO_LARGE', 'over the limit of 1 KiB')
  })
})

t.test('what the Hub refuses: gated, private, disabled, no viewer, no parquet, too large', async t => {
  const hub = await startFakeHub({
    tokens: [TOKEN],
    datasets: [
      fixture('fixtures/iris', { id: 'fixtures/iris-gated', gated: 'manual' }),
      fixture('fixtures/iris', { id: 'fixtures/iris-private', private: true }),
      fixture('fixtures/iris', { id: 'fixtures/iris-disabled', disabled: true }),
      fixture('fixtures/iris', { id: 'fixtures/iris-noviewer', viewer: false }),
      fixture('fixtures/iris', { id: 'fixtures/iris-noparquet', parquet: false }),
      fixture('fixtures/iris', { id: 'fixtures/iris-huge', reportedSplitBytes: 5 * 1024 ** 3 })
    ]
  })
  t.teardown(hub.close)
  const s = settings(hub)
  rejection(t, await verifyDataset(proposal({ dataset: 'fixtures/iris-gated' }), s), 'DATASET_GATED', 'gated', 'ungated')
  rejection(t, await verifyDataset(proposal({ dataset: 'fixtures/iris-private' }), s), 'DATASET_NOT_FOUND', 'not public')
  rejection(t, await verifyDataset(proposal({ dataset: 'fixtures/iris-private' }), settings(hub, { hfToken: TOKEN })), 'DATASET_PRIVATE', 'private')
  rejection(t, await verifyDataset(proposal({ dataset: 'fixtures/iris-disabled' }), s), 'DATASET_DISABLED')
  rejection(t, await verifyDataset(proposal({ dataset: 'fixtures/iris-noviewer' }), s), 'VIEWER_UNAVAILABLE', 'cannot serve')
  rejection(t, await verifyDataset(proposal({ dataset: 'fixtures/iris-noparquet' }), s), 'NO_PARQUET_FILES', 'refs/convert/parquet')
  const listed = hub.count('/api/datasets/fixtures/iris-huge/tree')
  rejection(t, await verifyDataset(proposal({ dataset: 'fixtures/iris-huge' }), s), 'DATASET_TOO_LARGE', '5.0 GiB', '2.0 GiB')
  t.equal(hub.count('/api/datasets/fixtures/iris-huge/tree'), listed, 'rejected on /size, before listing files')
})

t.test('retries: 429 and ResponseNotReady are waited out; other failures are not', async t => {
  const hub = await startFakeHub()
  t.teardown(hub.close)
  const s = settings(hub)
  const info = '/api/datasets/fixtures/iris/revision/HEAD'

  t.test('429 on the Hub, then success', async t => {
    hub.fault({ server: 'hub', match: info, status: 429, retryAfter: '0', times: 1 })
    const before = hub.count(info)
    t.ok((await verifyDataset(proposal(), s)).ok)
    t.equal(hub.count(info) - before, 2, 'asked twice')
  })

  t.test('429 on the viewer, then success', async t => {
    hub.fault({ server: 'viewer', match: '/info', status: 429, times: 1 })
    const before = hub.count('/info', 'viewer')
    t.ok((await verifyDataset(proposal(), s)).ok)
    t.equal(hub.count('/info', 'viewer') - before, 2)
  })

  t.test('ResponseNotReady twice, then success', async t => {
    hub.fault({ server: 'viewer', match: '/splits', status: 500, errorCode: 'ResponseNotReady', times: 2 })
    const before = hub.count('/splits', 'viewer')
    const r = await verifyDataset(proposal(), s)
    t.ok(r.ok)
    t.equal(hub.count('/splits', 'viewer') - before, 3)
  })

  t.test('ResponseNotReady through all retries: a rejection', async t => {
    const hub2 = await startFakeHub({ faults: [{ server: 'viewer', match: '/is-valid', status: 500, errorCode: 'ResponseNotReady', times: 100 }] })
    t.teardown(hub2.close)
    rejection(t, await verifyDataset(proposal(), settings(hub2, { retries: 2 })), 'VIEWER_NOT_READY', 'fixtures/iris')
    t.equal(hub2.count('/is-valid', 'viewer'), 3, 'one try and two retries')
  })

  t.test('429 through all retries, and a plain 500: the service is unavailable, not the proposal wrong', async t => {
    const hub2 = await startFakeHub({ faults: [{ server: 'hub', match: '/api/datasets/', status: 429, times: 100 }] })
    t.teardown(hub2.close)
    await t.rejects(verifyDataset(proposal(), settings(hub2, { retries: 2 })), { code: 'HUB_UNAVAILABLE' })
    t.equal(hub2.count('/api/datasets/'), 3)
    const hub3 = await startFakeHub({ faults: [{ server: 'viewer', match: '/splits', status: 500, times: 1 }] })
    t.teardown(hub3.close)
    await t.rejects(verifyDataset(proposal(), settings(hub3)), { code: 'HUB_UNAVAILABLE', message: /dataset viewer/ })
    t.equal(hub3.count('/splits', 'viewer'), 1, 'a 500 without ResponseNotReady is not retried')
  })

  t.test('where /info cannot answer, the columns come from /first-rows', async t => {
    const hub2 = await startFakeHub({ faults: [{ server: 'viewer', match: '/info', status: 404, errorCode: 'ResponseNotFound', times: 1 }] })
    t.teardown(hub2.close)
    const d = await verified(digits(), settings(hub2))
    t.same(d.columns, { image: 'Image', label: 'ClassLabel' })
    t.same(d.target_names, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
    t.equal(hub2.count('/first-rows', 'viewer'), 1)
  })

  t.test('a 500 that names the dataset\'s error is a rejection', async t => {
    const hub2 = await startFakeHub({ faults: [{ server: 'viewer', match: '/splits', status: 500, errorCode: 'FeaturesError', times: 1 }] })
    t.teardown(hub2.close)
    rejection(t, await verifyDataset(proposal(), settings(hub2)), 'VIEWER_UNAVAILABLE', 'FeaturesError')
    t.equal(hub2.count('/splits', 'viewer'), 1)
  })
})

t.test('settings', async t => {
  const s = hubSettings({}, { HF_ENDPOINT: 'https://hub.example/', HF_TOKEN: TOKEN })
  t.equal(s.hubUrl, 'https://hub.example')
  t.equal(s.hfToken, TOKEN)
  t.equal(hubSettings({}, {}).hubUrl, 'https://huggingface.co')
  t.equal(hubSettings({}, {}).datasetsServerUrl, 'https://datasets-server.huggingface.co')
  t.throws(() => hubSettings({ hfToken: 'sk-123' }, {}), { field: 'hfToken', message: /hf_/ })
  t.throws(() => hubSettings({ hubUrl: 'huggingface.co' }, {}), { field: 'hubUrl', message: /must be an http/ })
  t.equal(featureType({ _type: 'Sequence', feature: { _type: 'Value', dtype: 'float32' } }), 'Sequence(Value(float32))')
  t.equal(featureType([{ _type: 'Value', dtype: 'string' }]), 'Sequence(Value(string))')
  t.equal(featureType({ a: { _type: 'Value', dtype: 'int64' } }), 'Struct')
})

t.test('decontamination: the benchmark\'s datasets, any owner or case', async t => {
  const rejected = [
    ['uoft-cs/cifar10', 'plain_text'], ['cifar10', 'plain_text'], ['someone/CIFAR-10', 'default'], ['tanganke/cifar10_c', 'default'],
    ['zalando-datasets/fashion_mnist', 'fashion_mnist'], ['me/Fashion-MNIST', 'default'],
    ['nyu-mll/multi_nli', 'default'], ['SetFit/mnli', 'default'], ['nyu-mll/glue', 'mnli'], ['glue', 'mnli_matched'],
    ['yerevann/coco-karpathy', 'default'], ['someone/MSCOCO_2017', 'default'], ['x/coco2014', 'default'],
    ['HuggingFaceFW/fineweb', 'sample-10BT'], ['HuggingFaceFW/fineweb-edu', 'default'],
    ['someone/house-prices-advanced-regression-techniques', 'default'], ['me/ames_housing', 'default'],
    ['x/titanic', 'default'], ['y/minatar-breakout', 'default'], ['z/prisoners_dilemma_games', 'default']
  ]
  for (const [dataset, config] of rejected) {
    const r = decontaminate({ dataset, config })
    t.equal(r?.code, 'BENCHMARK_DATASET', `${dataset} (${config})`)
    t.equal(r?.stage, 'decontaminate')
  }
  t.match(decontaminate({ dataset: 'uoft-cs/cifar10', config: 'plain_text' })?.message, /CIFAR-10.*imageClassificationCifar10/)
  for (const [dataset, config] of [['uoft-cs/cifar100', 'cifar100'], ['nyu-mll/glue', 'sst2'], ['fixtures/iris', 'default'], ['x/coconut-leaves', 'default'], ['ylecun/mnist', 'mnist']]) {
    t.equal(decontaminate({ dataset, config }), null, `${dataset} (${config}) is not a benchmark dataset`)
  }
  t.equal(decontaminate({ dataset: 'someone/renamed', config: 'default' }, MLGYM_BENCHMARK_DATASETS, 'uoft-cs/cifar10')?.code, 'BENCHMARK_DATASET', 'the canonical id counts')

  // the list is a setting
  const dir = tempDir(t, 'sg-bench-')
  const file = join(dir, 'bench.json')
  writeFileSync(file, JSON.stringify([{ name: 'Iris', tasks: ['irisBench'], ids: ['fixtures/iris'] }]))
  const custom = loadBenchmarkDatasets(file)
  t.equal(decontaminate({ dataset: 'FIXTURES/Iris', config: 'default' }, custom)?.code, 'BENCHMARK_DATASET')
  t.equal(decontaminate({ dataset: 'uoft-cs/cifar10', config: 'plain_text' }, custom), null)
  t.equal(benchmarkMatch('fixtures/iris', null, custom)?.name, 'Iris')
  writeFileSync(file, JSON.stringify([{ name: 'Iris', ids: ['fixtures/iris'] }]))
  t.throws(() => loadBenchmarkDatasets(file), { field: `${file}.0.tasks`, message: /is required/ })
  writeFileSync(file, JSON.stringify([{ name: 'Iris', tasks: [], ids: [], patterns: ['(unclosed'] }]))
  t.throws(() => loadBenchmarkDatasets(file), /patterns\[0\] is not a regular expression/)
})

t.test('dedup: one task per (dataset, config, target, metric) in a run', async t => {
  const d = new TaskDedup()
  t.equal(d.claim(proposal({ task_id: 'a' })), null)
  t.equal(d.claim(proposal({ task_id: 'a' })), null, 'a task asking again keeps its own claim')
  const dup = d.claim(proposal({ task_id: 'b', dataset: 'Fixtures/Iris', metric: { name: 'Accuracy', direction: 'maximize' } }))
  t.equal(dup?.code, 'DUPLICATE_TASK')
  t.equal(dup?.stage, 'dedup')
  t.match(dup?.message, /Task "a"/)
  t.equal(d.claim(proposal({ task_id: 'c', metric: { name: 'f1', direction: 'maximize' } })), null, 'another metric')
  t.equal(d.claim(proposal({ task_id: 'e', target_column: 'petal_width', input_columns: ['sepal_length'] })), null, 'another target')
  t.equal(d.claim(proposal({ task_id: 'f', dataset: 'someone/iris-copy' }), 'fixtures/iris')?.code, 'DUPLICATE_TASK', 'by the verified id')
  d.release(proposal({ task_id: 'a' }))
  t.equal(d.claim(proposal({ task_id: 'b' })), null, 'a discarded task frees its combination')
  const resumed = new TaskDedup([{ proposal: proposal({ task_id: 'b' }) }])
  t.equal(resumed.claim(proposal({ task_id: 'z' }))?.code, 'DUPLICATE_TASK', 'a resumed run knows its tasks')
})

interface Run { data: MaterialisedData, dir: string, microDir: string }

async function run (hub: FakeHub, p: Proposal, v: VerifiedDataset, root: string, name: string, over: Partial<MaterialiseSettings>): Promise<Run> {
  const s = materialiseSettings({ hubUrl: hub.hubUrl, datasetsServerUrl: hub.datasetsServerUrl, backoffMs: 1, retries: 2, cacheDir: join(root, 'cache'), ...over }, {})
  const dir = join(root, name)
  const microDir = join(root, `${name}-micro`)
  const r = await materialise(p, v, { dir, microDir }, s)
  if (!r.ok) throw new Error(`not materialised: ${r.rejection.code} ${r.rejection.message}`)
  loadCsv(csvFiles(dir, microDir))
  return { data: r.data, dir, microDir }
}

const read = (dir: string, rel: string) => readFileSync(join(dir, rel), 'utf8')

t.test('materialisation of a tabular dataset', async t => {
  const hub = await startFakeHub()
  t.teardown(hub.close)
  const root = tempDir(t, 'sg-mat-')
  const p = proposal()
  const v = await verified(p, settings(hub))
  const over = { seed: 7, rowLimit: 100, validationFraction: 0.15, testFraction: 0.15, microTrainRows: 30, microEvalRows: 10 }
  const before = downloads(hub)
  const a = await run(hub, p, v, root, 'a', over)
  const fetched = downloads(hub) - before
  t.ok(fetched > 0, 'the parquet file was downloaded')
  t.ok(existsSync(cachePath(join(root, 'cache'), v, 'default/train/0000.parquet')), 'into the cache, by dataset and revision')
  t.match(cachePath(join(root, 'cache'), v, 'default/train/0000.parquet'), `datasets/fixtures--iris/${v.parquet_revision}/default/train/0000.parquet`)

  t.test('exact row counts and columns', async t => {
    const d = a.data
    t.same([d.full.train.rows, d.full.validation.rows, d.full.test.rows, d.full.answers.rows], [70, 15, 15, 15])
    t.same([d.micro.train.rows, d.micro.validation.rows, d.micro.test.rows, d.micro.answers.rows], [30, 10, 10, 10])
    t.equal(d.source_rows, 150)
    t.equal(d.dropped_rows, 0)
    const train = table(join(a.dir, 'data/train.csv'))
    const test = table(join(a.dir, 'data/test.csv'))
    const answers = table(join(a.dir, 'secret/answers.csv'))
    t.same(train.header, ['id', ...p.input_columns, 'species'])
    t.same(table(join(a.dir, 'data/validation.csv')).header, ['id', ...p.input_columns, 'species'])
    t.same(test.header, ['id', ...p.input_columns], 'the test file has no target column')
    t.same(answers.header, ['id', 'species'])
    t.equal(train.rows.length, 70)
    t.equal(test.rows.length, 15)
    t.same(answers.rows.map(r => r[0]), test.rows.map(r => r[0]), 'the answers name the test rows')
    t.same(d.full.secret_files, ['secret/answers.csv'])
    t.equal(d.full.data_path, 'data')
    t.notOk(readdirSync(join(a.dir, 'data')).some(f => /answer|secret/.test(f)), 'nothing of the secret in the data folder')
    t.match(d.full.dataset_docs, /^FIXTURES\/IRIS:\n/)
    t.match(d.full.dataset_docs, /`data\/train.csv`: 70 rows with `species`/)
    t.match(d.full.dataset_docs, /0 = setosa, 1 = versicolor, 2 = virginica/)
    t.match(d.micro.dataset_docs, /`data\/train.csv`: 30 rows/)
    t.equal(d.full.dataset.data_path, 'data')
    t.ok(d.full.dataset.is_local)
  })

  t.test('every row is a row of the dataset; each test target is only in the secret file', async t => {
    const source = new Map<string, number>()
    const key = (cells: string[]) => cells.join('|')
    for (const r of sourceRows(hub, 'fixtures/iris', 'train')) {
      const k = key([...p.input_columns.map(c => String(r[c])), String(r.species)])
      source.set(k, (source.get(k) ?? 0) + 1)
    }
    const take = (cells: string[]) => { const n = source.get(key(cells)) ?? 0; if (n > 0) source.set(key(cells), n - 1); return n > 0 }
    const ids = new Set<string>()
    for (const f of ['train', 'validation']) {
      for (const r of table(join(a.dir, `data/${f}.csv`)).rows) { ids.add(r[0]); t.ok(take(r.slice(1)), `${f} row ${r[0]} is a source row`) }
    }
    const answer = new Map(table(join(a.dir, 'secret/answers.csv')).rows.map(r => [r[0], r[1]]))
    for (const r of table(join(a.dir, 'data/test.csv')).rows) {
      ids.add(r[0])
      t.ok(take([...r.slice(1), answer.get(r[0])!]), `test row ${r[0]} and its answer are a source row`)
    }
    t.equal(ids.size, 100, 'ids are unique across the splits')
    // the micro variant is a subset of the full task, row for row
    for (const f of ['data/train.csv', 'data/validation.csv', 'data/test.csv', 'secret/answers.csv']) {
      const full = new Set(table(join(a.dir, f)).rows.map(r => r.join('|')))
      t.ok(table(join(a.microDir, f)).rows.every(r => full.has(r.join('|'))), `micro ${f} ⊂ full`)
    }
  })

  t.test('the split is stable across runs and differs across seeds; the second run is served by the cache', async t => {
    const n = downloads(hub)
    const b = await run(hub, p, v, root, 'b', over)
    t.equal(downloads(hub), n, 'no second download')
    for (const f of ['data/train.csv', 'data/validation.csv', 'data/test.csv', 'secret/answers.csv']) {
      t.equal(read(b.dir, f), read(a.dir, f), `${f}: same seed, same bytes`)
      t.equal(read(b.microDir, f), read(a.microDir, f), `micro ${f}: same seed, same bytes`)
    }
    const c = await run(hub, p, v, root, 'c', { ...over, seed: 8 })
    t.not(read(c.dir, 'data/test.csv'), read(a.dir, 'data/test.csv'), 'another seed, other test rows')
    t.not(read(c.dir, 'data/train.csv'), read(a.dir, 'data/train.csv'))
    t.same([c.data.full.train.rows, c.data.full.test.rows], [70, 15])
    // a fresh cache downloads again: the count above would have seen a download
    await run(hub, p, v, root, 'd', { ...over, cacheDir: join(root, 'cache2') })
    t.equal(downloads(hub), n + fetched, 'a new cache dir fetches the file again')
  })

  t.test('too few rows is a rejection', async t => {
    const s = materialiseSettings({ hubUrl: hub.hubUrl, datasetsServerUrl: hub.datasetsServerUrl, cacheDir: join(root, 'cache'), minRows: 200 }, {})
    const r = await materialise(p, v, { dir: join(root, 'e'), microDir: join(root, 'e-micro') }, s)
    t.notOk(r.ok)
    if (!r.ok) { t.equal(r.rejection.code, 'TOO_FEW_ROWS'); t.equal(r.rejection.stage, 'materialise') }
  })
})

t.test('materialisation of an image dataset: images as files, a CSV index', async t => {
  const hub = await startFakeHub()
  t.teardown(hub.close)
  const root = tempDir(t, 'sg-img-')
  const p = digits()
  const v = await verified(p, settings(hub))
  const { data, dir, microDir } = await run(hub, p, v, root, 'digits', { seed: 3, rowLimit: 400, microTrainRows: 50, microEvalRows: 20 })
  t.same([data.full.train.rows, data.full.validation.rows, data.full.test.rows], [280, 60, 60])
  t.same(data.media_columns, ['image'])
  t.equal(data.full.media_files, 400)
  t.equal(data.micro.media_files, 90)
  // which labels each image (by its bytes) has in the source
  const labels = new Map<string, Set<string>>()
  for (const split of ['train', 'test']) {
    for (const r of sourceRows(hub, 'fixtures/digits', split)) {
      const k = Buffer.from((r.image as { bytes: Uint8Array }).bytes).toString('base64')
      if (!labels.has(k)) labels.set(k, new Set())
      labels.get(k)!.add(String(r.label))
    }
  }
  const answer = new Map(table(join(dir, 'secret/answers.csv')).rows.map(r => [r[0], r[1]]))
  for (const [f, split] of [['train', 'train'], ['validation', 'validation'], ['test', 'test']]) {
    const { header, rows } = table(join(dir, `data/${f}.csv`))
    t.same(header, f === 'test' ? ['id', 'image'] : ['id', 'image', 'label'])
    t.equal(readdirSync(join(dir, 'data/image', split)).length, rows.length, `one file per ${f} row`)
    let ok = 0
    for (const r of rows) {
      t.equal(r[1], `data/image/${split}/${r[0]}.png`, 'the cell is the path from the workspace, named by id')
      const bytes = readFileSync(join(dir, r[1]))
      const label = f === 'test' ? answer.get(r[0])! : r[2]
      if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) && labels.get(bytes.toString('base64'))?.has(label)) ok++
    }
    t.equal(ok, rows.length, `every ${f} image is a source PNG with its label`)
  }
  for (const r of table(join(microDir, 'data/train.csv')).rows) {
    t.ok(readFileSync(join(microDir, r[1])).equals(readFileSync(join(dir, r[1]))), 'the micro variant has its own copy of each image')
  }
  t.match(data.full.dataset_docs, /`image` \(Image\): the path of the image file, relative to the workspace \(e.g. `data\/image\/train\/0.png`\)/)

  t.test('rows whose image is missing are left out', async t => {
    const d = fixture('fixtures/digits')
    const rows = [...d.configs[0].splits.train.slice(0, 120), { image: null, label: 3 }, { image: { bytes: null, path: 'lost.png' }, label: 4 }]
    const holes = await startFakeHub({ datasets: [{ id: 'fixtures/digit-holes', configs: [{ ...d.configs[0], splits: { train: rows } }] }] })
    t.teardown(holes.close)
    const hp = digits({ dataset: 'fixtures/digit-holes', splits: ['train'] })
    const r = await run(holes, hp, await verified(hp, settings(holes)), root, 'holes', { minRows: 50 })
    t.equal(r.data.source_rows, 122)
    t.equal(r.data.dropped_rows, 2)
    t.equal(r.data.full.train.rows + r.data.full.validation.rows + r.data.full.test.rows, 120)
    t.equal(r.data.full.media_files, 120)
    for (const f of ['train', 'validation', 'test']) t.ok(table(join(r.dir, `data/${f}.csv`)).rows.every(x => existsSync(join(r.dir, x[1]))), `every ${f} image is there`)
  })
})

t.test('materialisation of text: CSV quoting, rows without a target left out', async t => {
  const text = { _type: 'Value', dtype: 'string' }
  const tricky = ['say "hi"', 'a, b and c', 'line one\nline two', ' leading space', 'trailing space ', 'Côte d\'Ivoire', '', 'plain']
  const rows: Row[] = []
  for (let i = 0; i < 40; i++) rows.push({ text: `${tricky[i % tricky.length]}${i % 3 === 0 ? '' : ` #${i}`}`, label: i % 2 })
  rows.push({ text: 'no label', label: null }, { text: 'label -1', label: -1 })
  const hub = await startFakeHub({ datasets: [fixture('fixtures/country-names'), { id: 'fixtures/quoting', configs: [{ name: 'default', features: { text, label: { _type: 'ClassLabel', names: ['even', 'odd'] } }, splits: { train: rows } }] }] })
  t.teardown(hub.close)
  const root = tempDir(t, 'sg-text-')

  const q = proposal({ dataset: 'fixtures/quoting', input_columns: ['text'], target_column: 'label', task_type: 'text-classification' })
  const vq = await verified(q, settings(hub))
  const { data, dir } = await run(hub, q, vq, root, 'quoting', { minRows: 10, validationFraction: 0.1, testFraction: 0.1 })
  t.equal(data.dropped_rows, 2, 'the null and the -1 label')
  t.same([data.full.train.rows, data.full.validation.rows, data.full.test.rows], [32, 4, 4])
  const written = ['train', 'validation'].flatMap(f => table(join(dir, `data/${f}.csv`)).rows.map(r => `${r[1]}\u0000${r[2]}`))
  const answer = new Map(table(join(dir, 'secret/answers.csv')).rows.map(r => [r[0], r[1]]))
  written.push(...table(join(dir, 'data/test.csv')).rows.map(r => `${r[1]}\u0000${answer.get(r[0])}`))
  t.same(written.sort(), rows.slice(0, 40).map(r => `${String(r.text)}\u0000${String(r.label)}`).sort(), 'every text and label reads back exactly')

  const c = proposal({ dataset: 'fixtures/country-names', splits: ['train', 'test'], input_columns: ['text'], target_column: 'language', task_type: 'text-classification' })
  const vc = await verified(c, settings(hub))
  const country = await run(hub, c, vc, root, 'countries', { rowLimit: 2000 })
  const n = sourceRows(hub, 'fixtures/country-names', 'train').length + sourceRows(hub, 'fixtures/country-names', 'test').length
  t.equal(country.data.source_rows, n, 'both Hub splits pooled')
  t.equal(country.data.full.train.rows + country.data.full.validation.rows + country.data.full.test.rows, n, 'all rows under the limit')
  const names = new Set([...sourceRows(hub, 'fixtures/country-names', 'train'), ...sourceRows(hub, 'fixtures/country-names', 'test')].map(r => String(r.text)))
  const trainRows = table(join(country.dir, 'data/train.csv')).rows
  t.ok(trainRows.some(r => r[1].includes(',')), 'names with commas are there')
  t.ok(trainRows.every(r => names.has(r[1])), 'and read back whole')
})
