// The built-in tasks (tasks/builtin/*/task.yaml) work end to end outside a sandbox: each spec validates, its starter
// code and data make a workspace the way MLGym builds one, the baseline runs with python3 + numpy, the evaluation
// command of its entrypoint prints the metric (equal to baseline_scores where the spec has them), the hidden files
// never reach the workspace, and broken or weak submissions fail or score worse.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { validateTaskSpec, type TaskSpec } from '../env-spec/task.js'

const BUILTIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'tasks', 'builtin')
const PYTHON = process.env.PYTHON ?? 'python3'

interface Run { code: number | null, stdout: string, stderr: string, seconds: number }

function python (args: string[], cwd: string, secretDir: string, timeoutMs = 600_000): Run {
  const start = Date.now()
  const r = spawnSync(PYTHON, args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, SYNTHGYM_SECRET_DIR: secretDir, PYTHONDONTWRITEBYTECODE: '1' }
  })
  if (r.error) throw r.error
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - start) / 1000 }
}

function walk (dir: string): string[] {
  return readdirSync(dir).sort().flatMap(name => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}

// MLGym copies each starter_code entry into the workspace under its base name and a local dataset to <ws>/data;
// secret files are mounted at /home/agent/secret/<basename> only while evaluate.py runs.
function makeWorkspace (taskDir: string, spec: TaskSpec): { ws: string, secretDir: string, root: string } {
  const root = mkdtempSync(join(tmpdir(), `synthgym-builtin-${spec.id}-`))
  const ws = join(root, 'workspace')
  const secretDir = join(root, 'secret')
  mkdirSync(ws)
  mkdirSync(secretDir)
  for (const p of spec.starter_code ?? []) cpSync(join(taskDir, p), join(ws, basename(p)), { recursive: true })
  for (const d of spec.datasets ?? []) if (d.is_local === true) cpSync(join(taskDir, d.data_path), join(ws, 'data'), { recursive: true })
  for (const p of spec.secret_files ?? []) cpSync(join(taskDir, p), join(secretDir, basename(p)))
  return { ws, secretDir, root }
}

function evalArgs (spec: TaskSpec, ws: string): string[] {
  const evaluate = join(ws, spec.evaluation_paths![0])
  switch (spec.task_entrypoint) {
    case 'CSVSubmissionTasks': return [evaluate, '--submission_file', join(ws, 'submission.csv')]
    case 'ModelSubmissionTasks': {
      const yamls = walk(ws).filter(p => p.endsWith('.yaml'))
      return [evaluate, '--config_fname', yamls[0] ?? '']
    }
    default: return [evaluate]
  }
}

// How MLGym reads the metrics: json.loads(whole output) for CSV and Python tasks, the first line starting with
// `{` for Model tasks. Output is stdout and stderr merged, so a successful evaluation must write nothing to stderr.
function parseMetrics (spec: TaskSpec, r: Run): Record<string, number> {
  if (r.code !== 0) throw new Error(`evaluation exited ${r.code}: ${r.stderr}`)
  if (spec.task_entrypoint === 'ModelSubmissionTasks') {
    const line = (r.stdout + r.stderr).split('\n').find(l => l.startsWith('{'))
    if (line === undefined) throw new Error(`no JSON line in ${r.stdout}`)
    return JSON.parse(line)
  }
  return JSON.parse(r.stdout + r.stderr)
}

function worse (spec: TaskSpec, a: number, b: number): boolean {
  return spec.metric!.direction === 'maximize' ? a < b : a > b
}

// A deliberately broken submission (the evaluation must exit non-zero and say why on stderr) and a weak but valid
// one (it must score worse than the baseline), per entrypoint.
function breakSubmission (spec: TaskSpec, ws: string): void {
  switch (spec.task_entrypoint) {
    case 'CSVSubmissionTasks': {
      const lines = readFileSync(join(ws, 'submission.csv'), 'utf8').trim().split('\n')
      writeFileSync(join(ws, 'submission.csv'), lines.slice(0, 10).join('\n') + '\n') // most ids missing
      break
    }
    case 'PythonSubmissionTasks':
      writeFileSync(join(ws, 'strategy.py'), 'def row_strategy(history):\n    return 2\n')
      break
    case 'ModelSubmissionTasks':
      python(['-c', 'import numpy as np; np.savez("checkpoints/policy.npz", W0=np.zeros((4, 8)), b0=np.zeros(8), W1=np.zeros((8, 1)), b1=np.zeros(1))'], ws, '')
      break
  }
}

function weakSubmission (spec: TaskSpec, ws: string): void {
  switch (spec.task_entrypoint) {
    case 'CSVSubmissionTasks':
      cpSync(join(ws, 'sample_submission.csv'), join(ws, 'submission.csv'))
      break
    case 'PythonSubmissionTasks':
      writeFileSync(join(ws, 'strategy.py'), 'def row_strategy(history):\n    return 0\n')
      break
    case 'ModelSubmissionTasks':
      python(['-c', 'import numpy as np; np.savez("checkpoints/policy.npz", W0=np.zeros((5, 8)), b0=np.zeros(8), W1=np.zeros((8, 1)), b1=np.zeros(1))'], ws, '')
      break
  }
}

const taskDirs = readdirSync(BUILTIN).filter(name => existsSync(join(BUILTIN, name, 'task.yaml'))).sort()

t.test('the built-in tasks cover every MLGym submission kind but LM', async t => {
  t.ok(taskDirs.length >= 4, `found ${taskDirs.join(', ')}`)
  const kinds = new Set(taskDirs.map(d => parse(readFileSync(join(BUILTIN, d, 'task.yaml'), 'utf8')).task_entrypoint))
  t.same([...kinds].sort(), ['CSVSubmissionTasks', 'ModelSubmissionTasks', 'PythonSubmissionTasks'])
  // the tasks that must run anywhere: python3 and numpy alone
  const numpyOnly = taskDirs.filter(d => !(parse(readFileSync(join(BUILTIN, d, 'task.yaml'), 'utf8')).resources?.gpus > 0))
  t.ok(numpyOnly.length >= 4, `numpy-only tasks: ${numpyOnly.join(', ')}`)
  const withoutScores = taskDirs.filter(d => parse(readFileSync(join(BUILTIN, d, 'task.yaml'), 'utf8')).baseline_scores === undefined)
  t.ok(withoutScores.length >= 2, `tasks whose baseline scores the server computes: ${withoutScores.join(', ')}`)
})

for (const dir of taskDirs) {
  t.test(dir, async t => {
    const taskDir = join(BUILTIN, dir)
    const spec = validateTaskSpec(parse(readFileSync(join(taskDir, 'task.yaml'), 'utf8')), 'task')
    t.equal(spec.id, dir, 'the directory is named after the task id')
    if ((spec.resources?.gpus ?? 0) > 0 && spawnSync(process.env.PYTHON ?? 'python3', ['-c', 'import torch']).status !== 0) {
      t.skip(`${dir} trains with PyTorch on a GPU; this machine has no torch (it runs on the GPU machine: BENCHMARKS.md)`)
      return
    }
    t.ok(spec.task_entrypoint, 'task_entrypoint is set')
    t.ok(spec.metric, 'metric is set')
    t.match(spec.description, /SUBMISSION FORMAT:/)
    if (spec.task_entrypoint !== 'PythonSubmissionTasks') t.match(spec.description, /If a baseline is given/)
    if ((spec.datasets ?? []).length > 0) t.match(spec.description, /\{dataset_docs\}/)
    t.equal(spec.baseline_paths?.length, 1)
    t.equal(spec.evaluation_paths?.length, 1)
    t.equal(spec.evaluation_read_only, true)
    for (const p of [...spec.starter_code ?? [], ...spec.secret_files ?? [], ...(spec.datasets ?? []).map(d => d.data_path)]) {
      t.ok(existsSync(join(taskDir, p)), `${p} exists`)
    }

    const { ws, secretDir, root } = makeWorkspace(taskDir, spec)
    t.teardown(() => rmSync(root, { recursive: true, force: true }))
    t.ok(existsSync(join(ws, spec.baseline_paths![0])), 'the baseline is in the workspace')
    t.ok(existsSync(join(ws, spec.evaluation_paths![0])), 'the evaluation script is in the workspace')
    const secrets = (spec.secret_files ?? []).map(p => readFileSync(join(taskDir, p)))
    for (const file of walk(ws)) {
      const bytes = readFileSync(file)
      t.notOk(secrets.some(s => s.equals(bytes)), `${file.slice(ws.length + 1)} is not a hidden file`)
    }

    const baseline = python([spec.baseline_paths![0]], ws, secretDir)
    t.equal(baseline.code, 0, `baseline runs (${baseline.stderr})`)
    t.comment(`${dir}: baseline ran in ${baseline.seconds.toFixed(1)}s`)
    if (spec.task_entrypoint === 'ModelSubmissionTasks') {
      t.same(walk(ws).filter(p => p.endsWith('.yaml')).map(p => p.slice(ws.length + 1)), ['config.yaml'],
        'config.yaml is the only .yaml file, so the first one found is it')
    }

    const first = python(evalArgs(spec, ws), ws, secretDir)
    const metrics = parseMetrics(spec, first)
    const name = spec.metric!.name
    t.type(metrics[name], 'number', `the evaluation reports ${name}`)
    t.ok(Number.isFinite(metrics[name]))
    t.comment(`${dir}: ${JSON.stringify(metrics)} (evaluation ${first.seconds.toFixed(1)}s)`)
    t.same(parseMetrics(spec, python(evalArgs(spec, ws), ws, secretDir)), metrics, 'the evaluation is deterministic')
    if (spec.baseline_scores !== undefined) {
      for (const [k, v] of Object.entries(spec.baseline_scores[0])) {
        t.ok(Math.abs(metrics[k] - v) <= 1e-9 * Math.max(1, Math.abs(v)), `${k} ${metrics[k]} equals baseline_scores ${v}`)
      }
    }

    if ((spec.secret_files ?? []).length > 0) {
      const noSecrets = join(root, 'no-secrets')
      mkdirSync(noSecrets)
      const r = python(evalArgs(spec, ws), ws, noSecrets)
      t.not(r.code, 0, 'without the hidden files the evaluation fails')
      t.match(r.stderr, /SYNTHGYM_SECRET_DIR/)
    }

    breakSubmission(spec, ws)
    const broken = python(evalArgs(spec, ws), ws, secretDir)
    t.not(broken.code, 0, 'a malformed submission makes the evaluation exit non-zero')
    t.match(broken.stderr, /Evaluation failed: /, `and it says why: ${broken.stderr.trim().split('\n')[0]}`)

    weakSubmission(spec, ws)
    const weak = parseMetrics(spec, python(evalArgs(spec, ws), ws, secretDir))
    t.ok(worse(spec, weak[name], metrics[name]), `a weak submission scores worse: ${weak[name]} vs ${metrics[name]}`)

    if (spec.task_entrypoint === 'CSVSubmissionTasks') {
      rmSync(join(ws, 'submission.csv'))
      const missing = python(evalArgs(spec, ws), ws, secretDir)
      t.not(missing.code, 0, 'a missing submission makes the evaluation exit non-zero')
      t.match(missing.stderr, /submission\.csv/)
    }
    if (spec.task_entrypoint === 'ModelSubmissionTasks') {
      rmSync(join(ws, 'config.yaml'))
      const missing = python(evalArgs(spec, ws), ws, secretDir)
      t.not(missing.code, 0, 'no config.yaml makes the evaluation exit non-zero')
      t.match(missing.stderr, /config\.yaml/)
    }
  })
}
