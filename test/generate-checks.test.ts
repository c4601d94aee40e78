// The keep-checks of generated task code, in real local sandboxes, on a materialised task made by hand from real
// data: working code passes every check; each realistic mistake fails the check meant to catch it (and only that
// one where the others can still run); codegen's path rules and task.yaml pinning.
import t from 'tap'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import YAML from 'yaml'
import { LocalSandbox } from '../sandbox/local.js'
import type { SandboxOptions } from '../sandbox/types.js'
import { runChecks } from '../tasks/generate/checks.js'
import { assembleSpec, checkReplyPaths, codegenUserPrompt, mergeFiles } from '../tasks/generate/codegen.js'
import { parseCsv, column } from '../tasks/generate/csv.js'
import { CHECK_NAMES, type CheckName, type VerifiedDataset } from '../env-spec/generation.js'
import { paramsFromPrompt, taskFiles, type Breakage } from './fakes/task-code.js'
import { handMadeTask } from './generate-handmade.js'
import { tempDir } from './helpers.js'

const root = tempDir(t, 'sg-gen-checks-')
const makeSandbox = (o: SandboxOptions) => LocalSandbox.create({ ...o, baseDir: join(root, 'sandboxes') })
let n = 0

function setup (source: 'digits' | 'diabetes') {
  const h = handMadeTask(join(root, `t${n++}`), source)
  const dataset: VerifiedDataset = {
    dataset: h.proposal.dataset, config: 'default', revision: 'abc123', parquet_revision: 'def456', license: 'cc-by-4.0',
    splits: [{ name: 'train', num_rows: 1797 }], columns: Object.fromEntries(h.full.train.columns.map(c => [c, 'Value(int64)'])),
    size_bytes: 1000, parquet_files: { train: ['default/train/0000.parquet'] }
  }
  const params = paramsFromPrompt(codegenUserPrompt(h.proposal, dataset, h.full))
  const labels = column(parseCsv(readFileSync(join(h.full.dir, h.full.answers.path), 'utf8')), h.full.targetColumn)
  return { ...h, params, labels }
}

const failed = (checks: { name: CheckName, ok: boolean }[]) => checks.filter(c => !c.ok).map(c => c.name)

t.test('the codegen prompt carries what the code needs', async t => {
  const s = setup('digits')
  t.same({ id: s.params.id, target: s.params.target, metric: s.params.metric, secret: s.params.secret, trainRows: s.params.trainRows },
    { id: 'id', target: 'label', metric: 'accuracy', secret: 'answers.csv', trainRows: s.full.train.rows })
})

t.test('working code passes every check, on a classification and a regression task', async t => {
  for (const source of ['digits', 'diabetes'] as const) {
    const s = setup(source)
    const r = await runChecks(1, taskFiles(s.params), s.proposal, s.full, s.micro, { makeSandbox })
    t.same(failed(r.checks), [], `${source}: ${r.checks.filter(c => !c.ok).map(c => `${c.name}: ${c.message}\n${c.output_tail}`).join('\n')}`)
    t.equal(r.ok, true)
    t.same(r.checks.map(c => c.name).sort(), [...CHECK_NAMES].sort(), 'every check ran and is named')
    const metric = s.proposal.metric.name
    t.type(r.baseline?.[metric], 'number')
    t.type(r.micro_baseline?.[metric], 'number')
    const spec = YAML.parse(readFileSync(join(s.full.dir, 'task.yaml'), 'utf8'))
    t.equal(spec.id, s.proposal.task_id)
    t.same(spec.secret_files, ['secret/answers.csv'])
    t.equal(YAML.parse(readFileSync(join(s.micro.dir, 'task.yaml'), 'utf8')).id, `${s.proposal.task_id}Micro`)
    const sample = parseCsv(readFileSync(join(s.micro.dir, 'sample_submission.csv'), 'utf8'))
    t.equal(sample.rows.length, s.micro.test.rows, 'the micro variant\'s sample submission has its own test rows')
  }
})

// each mistake, and the checks it must fail (prerequisites stop the checks after them)
const CASES: Array<[Breakage, CheckName[], 'digits' | 'diabetes']> = [
  ['missing_file', ['files'], 'digits'],
  ['no_dataset_docs', ['spec'], 'digits'],
  ['baseline_crash', ['baseline_runs'], 'digits'],
  ['syntax_error', ['metric_parses'], 'digits'],
  ['wrong_metric_key', ['metric_parses'], 'diabetes'],
  ['nondeterministic', ['deterministic'], 'digits'],
  ['trivial_baseline', ['degenerate_worse'], 'digits'],
  ['saturated_metric', ['headroom'], 'digits'],
  ['lenient_evaluate', ['malformed_rejected'], 'diabetes'],
  ['labels_in_code', ['no_label_leak'], 'digits'],
  ['micro_fails', ['micro_runs'], 'diabetes']
]

for (const [breakage, expected, source] of CASES) {
  t.test(`${breakage} fails ${expected.join(', ')}`, async t => {
    const s = setup(source)
    const r = await runChecks(1, taskFiles(s.params, breakage, s.labels), s.proposal, s.full, s.micro, { makeSandbox })
    t.same(failed(r.checks), expected, r.checks.map(c => `${c.name} ${c.ok}: ${c.message}`).join('\n'))
    t.equal(r.ok, false)
    const f = r.checks.find(c => !c.ok)!
    t.ok(f.message.length > 10, 'the failure says what is wrong')
    if (breakage === 'baseline_crash') {
      t.equal(f.command, 'python baseline.py')
      t.equal(f.exit_code, 1)
      t.match(f.output_tail, /FileNotFoundError: .*data\/training\.csv/, 'the traceback goes back to the LLM')
    }
    if (breakage === 'syntax_error') t.match(f.output_tail, /SyntaxError/, 'what evaluate.py printed with the hidden files mounted')
  })
}

t.test('codegen: reply paths are checked, task.yaml fields the pipeline owns are pinned', async t => {
  t.equal(checkReplyPaths({ files: [{ path: 'baseline.py', content: '' }, { path: 'task.yaml', content: '' }], notes: '' }), null)
  const bad = checkReplyPaths({ files: [{ path: '/etc/passwd', content: '' }, { path: '../x.py', content: '' }, { path: 'data/train.csv', content: '' }, { path: 'helper.py', content: '' }], notes: '' })
  t.match(bad, /\/etc\/passwd: absolute paths are not allowed/)
  t.match(bad, /\.\.\/x\.py: '\.\.' is not allowed/)
  t.match(bad, /data\/train\.csv: not a file you may write/)
  t.match(bad, /helper\.py: not a file you may write/)
  t.same(mergeFiles({ 'a.py': '1', 'b.py': '2' }, { files: [{ path: 'b.py', content: '3' }], notes: '' }), { 'a.py': '1', 'b.py': '3' })

  const s = setup('digits')
  const yaml = YAML.stringify({
    ...YAML.parse(taskFiles(s.params)['task.yaml']!), secret_files: ['/etc/shadow'], starter_code: ['../../x'], training_timeout: 999999,
    resources: { cpus: 64, memory_mb: 999999, network: true, gpus: 8 }, id: 'other'
  })
  const spec = assembleSpec(yaml, s.proposal, s.full, 'full')
  if ('message' in spec) throw new Error(spec.message)
  t.equal(spec.id, 'digitsGenerated')
  t.same(spec.secret_files, ['secret/answers.csv'])
  t.same(spec.starter_code, ['baseline.py', 'evaluate.py', 'sample_submission.csv'])
  t.equal(spec.training_timeout, 1800, 'capped')
  t.same(spec.resources, { cpus: 4, memory_mb: 8192 }, 'capped; no network, no GPUs')
  t.same(spec.metric, s.proposal.metric)
  const micro = assembleSpec(taskFiles(s.params)['task.yaml']!, s.proposal, s.micro, 'micro')
  if ('message' in micro) throw new Error(micro.message)
  t.equal(micro.training_timeout, 120)
  t.match(assembleSpec('a: [', s.proposal, s.full, 'full'), { message: /not valid YAML/ })
  t.match(assembleSpec('name: x\ndescription: no placeholder\n', s.proposal, s.full, 'full'), { message: /\{dataset_docs\}/ })
  t.match(assembleSpec('name: x\ndescription: "{dataset_docs}"\n', s.proposal, s.full, 'full'), { message: /SUBMISSION FORMAT/ })
  t.match(assembleSpec('name: x\ndescription: "{dataset_docs}\\nSUBMISSION FORMAT:\\n"\nmetric: {name: 1}\n', s.proposal, s.full, 'full'), { message: /not a valid task spec/ })
})
