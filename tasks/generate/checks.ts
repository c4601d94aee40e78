// Stage 7: the keep-checks of one round, in a real sandbox through the tasks machinery (the task loads from its
// directory as the registry loads it, an Environment resets it as an episode starts, the evaluation is the one an
// agent's validate runs). A task is kept only when every check passes; a failure says what to fix.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { CheckName, CheckResult, CheckRound, Proposal } from '../../env-spec/generation.js'
import type { Sandbox, SandboxOptions } from '../../sandbox/types.js'
import { WORKSPACE } from '../../sandbox/types.js'
import { Environment } from '../environment.js'
import { evaluate, type Evaluation } from '../evaluate.js'
import { loadTaskDir, type Task } from '../registry.js'
import { plain } from '../pyrepr.js'
import { sandboxSettings } from '../settings.js'
import { EvaluationFormatError, SubmissionNotFoundError, TaskLoadError } from '../errors.js'
import { column, parseCsv, writeCsv, type Table } from './csv.js'
import { REQUIRED_FILES, workspacePath, writeTaskFiles, type TaskData, type Variant } from './codegen.js'

export interface ChecksContext {
  makeSandbox: (opts: SandboxOptions) => Promise<Sandbox>
}

const TAIL = 3000
const tail = (s: string) => s.length > TAIL ? '…' + s.slice(-TAIL) : s
const BASELINE = 'python baseline.py'
const EVALUATE = 'python evaluate.py --submission_file submission.csv'

/** The best value a metric can reach, for the ones whose name says it; others are judged against the answers alone. */
const BEST: Array<[RegExp, number]> = [
  [/^(accuracy|acc|balanced_accuracy|(macro_|micro_|weighted_)?f1(_score)?|precision|recall|(roc_)?auc|r2|r_squared|mcc|kappa|cohen_kappa)$/i, 1],
  [/^(rmse|mse|mae|medae|log_loss|logloss|cross_entropy|mape|smape|error_rate|zero_one_loss|rmsle|msle)$/i, 0]
]
export function bestValue (metric: string): number | null {
  return BEST.find(([re]) => re.test(metric))?.[1] ?? null
}

const better = (direction: 'maximize' | 'minimize', a: number, b: number) => direction === 'maximize' ? a > b : a < b

interface Run { ok: boolean, message: string, command?: string, exit_code?: number | null, output?: string }

class Recorder {
  readonly checks: CheckResult[] = []
  async check (name: CheckName, body: () => Promise<Run> | Run): Promise<boolean> {
    const t0 = performance.now()
    let r: Run
    try { r = await body() } catch (e) { r = { ok: false, message: `the check itself failed: ${(e as Error).message}` } }
    this.checks.push({
      name, ok: r.ok, message: r.message, command: r.command ?? null, exit_code: r.exit_code ?? null,
      output_tail: r.ok ? '' : tail(r.output ?? ''), seconds: (performance.now() - t0) / 1000
    })
    return r.ok
  }
}

/** An evaluation's outcome: its metrics, or why there are none (with what it printed). */
type Scored = { metrics: Record<string, number>, ev: Evaluation } | { error: string, output: string, exitCode: number | null }

async function score (task: Task, sandbox: Sandbox): Promise<Scored> {
  try {
    const ev = await evaluate(task, sandbox, { timeout: sandboxSettings(task).timeouts.long, author: true })
    const metrics: Record<string, number> = {}
    for (const [k, v] of Object.entries(plain(ev.metrics) as Record<string, unknown>)) if (typeof v === 'number') metrics[k] = v
    return { metrics, ev }
  } catch (e) {
    if (e instanceof EvaluationFormatError) return { error: 'it printed no metrics dict', output: e.output, exitCode: null }
    if (e instanceof SubmissionNotFoundError) return { error: 'submission.csv is not in the workspace', output: '', exitCode: null }
    return { error: (e as Error).message, output: '', exitCode: null }
  }
}

/** The metric of a scored evaluation, or why it is not a usable number. */
function metricOf (s: Scored, name: string): number | string {
  if ('error' in s) return s.error
  const v = s.metrics[name]
  if (v === undefined) return `its JSON dict has no key "${name}" (keys: ${Object.keys(s.metrics).join(', ') || 'none'})`
  if (!Number.isFinite(v)) return `"${name}" is ${v}, not a finite number`
  return v
}

const numeric = (s: string) => s.trim() !== '' && Number.isFinite(Number(s))
const norm = (s: string) => numeric(s) ? String(Number(s)) : s.trim()

/** The constant a degenerate submission predicts: the training targets' most frequent value, or their mean for regression. */
function constantPrediction (train: string[], regression: boolean): string {
  if (regression && train.length && train.every(numeric)) return String(train.reduce((a, v) => a + Number(v), 0) / train.length)
  const counts = new Map<string, number>()
  for (const v of train) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? '0'
}

function readTable (data: TaskData, path: string): Table { return parseCsv(readFileSync(join(data.dir, path), 'utf8')) }

/** Every file of the agent's workspace on the host: the starter code and the dataset folder. */
function workspaceFiles (task: Task, data: TaskData): Array<{ name: string, host: string }> {
  const out: Array<{ name: string, host: string }> = []
  for (const s of task.spec.starter_code ?? []) out.push({ name: s, host: join(task.root, s) })
  const walk = (dir: string, rel: string) => {
    for (const n of readdirSync(dir).sort()) {
      const p = join(dir, n)
      if (statSync(p).isDirectory()) walk(p, `${rel}/${n}`)
      else out.push({ name: `${rel}/${n}`, host: p })
    }
  }
  walk(join(data.dir, data.dataPath), 'data')
  return out
}

function containsRun (hay: string[], needle: string[]): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return true
  }
  return false
}

/**
 * Whether any workspace file holds the test labels: the test file with the target column, a CSV column that runs
 * through them in order, or a text file (code) that lists them. Media files are not read.
 */
export function labelLeak (task: Task, data: TaskData): string | null {
  const answers = readTable(data, data.answers.path)
  const labels = column(answers, data.targetColumn, 'the hidden answers').map(norm)
  const testHeader = readTable(data, data.test.path).header
  if (testHeader.includes(data.targetColumn)) return `${workspacePath(data, data.test)} has the target column ${data.targetColumn}`
  if (labels.length < 8) return null
  let len = Math.min(labels.length, 32)
  while (len < labels.length && new Set(labels.slice(0, len)).size < 2) len++
  const needle = labels.slice(0, len)
  if (new Set(needle).size < 2) return null // constant labels: nothing to recognise (the degenerate check fails them)
  for (const f of workspaceFiles(task, data)) {
    const buf = readFileSync(f.host)
    if (buf.includes(0)) continue // binary (images, audio)
    const text = buf.toString('utf8')
    if (f.name.endsWith('.csv')) {
      const t = parseCsv(text)
      for (const c of t.header) {
        if (containsRun(column(t, c).map(norm), needle)) return `${f.name}: column ${c} holds the test labels in order`
      }
    }
    if (containsRun(text.split(/[\s,;:"'[\](){}]+/).filter(Boolean).map(norm), needle)) return `${f.name} lists the test labels`
  }
  return null
}

/**
 * The checks of one round on both variants. Prerequisites stop the rest (no spec, no sandbox; no baseline
 * submission, nothing to score); the independent ones all run, so one round reports every failure.
 */
export async function runChecks (round: number, files: Record<string, string>, p: Proposal, full: TaskData, micro: TaskData, ctx: ChecksContext): Promise<CheckRound> {
  const started = performance.now()
  const rec = new Recorder()
  const out = (ok = false, baseline: Record<string, number> | null = null, microBaseline: Record<string, number> | null = null): CheckRound =>
    ({ round, ok, checks: rec.checks, baseline, micro_baseline: microBaseline, seconds: (performance.now() - started) / 1000 })

  const missing = REQUIRED_FILES.filter(f => !files[f]?.trim())
  if (!await rec.check('files', () => missing.length
    ? { ok: false, message: `missing file${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}; send ${missing.join(', ')} whole` }
    : { ok: true, message: `${Object.keys(files).sort().join(', ')}` })) return out()

  const tasks: Partial<Record<Variant, Task>> = {}
  if (!await rec.check('spec', () => {
    for (const [variant, data] of [['full', full], ['micro', micro]] as const) {
      const w = writeTaskFiles(files, p, data, variant)
      if ('message' in w) return { ok: false, message: w.message }
      try { tasks[variant] = loadTaskDir(data.dir, `generated:${data.dir}`) } catch (e) {
        return { ok: false, message: e instanceof TaskLoadError ? `task.yaml does not load: ${e.reason}` : (e as Error).message }
      }
    }
    return { ok: true, message: 'task.yaml loads as a task spec, with {dataset_docs} and a SUBMISSION FORMAT section' }
  })) return out()
  const task = tasks.full!
  const metric = p.metric

  await rec.check('no_label_leak', () => {
    const leak = labelLeak(task, full) ?? labelLeak(tasks.micro!, micro)
    return leak ? { ok: false, message: `the agent's workspace holds the test labels: ${leak}. Test labels may only be read from the hidden answers file while evaluate.py runs.` }
      : { ok: true, message: 'no workspace file holds the test labels' }
  })

  const env = new Environment(task, { makeSandbox: ctx.makeSandbox, baseline: async () => null, maxSteps: Number.MAX_SAFE_INTEGER })
  let baseline: Record<string, number> | null = null
  try {
    await env.reset()
    const sandbox = env.sandbox!
    const timeout = env.timeouts.long
    if (!await rec.check('baseline_runs', async () => {
      const r = await sandbox.exec(BASELINE, { timeout })
      if (r.timedOut) return { ok: false, message: `baseline.py ran for more than training_timeout (${timeout} s) and was stopped; make it faster`, command: BASELINE, exit_code: r.exitCode, output: r.output }
      if (r.exitCode !== 0) return { ok: false, message: `baseline.py exited with status ${r.exitCode}`, command: BASELINE, exit_code: r.exitCode, output: r.output }
      const made = await sandbox.exec('test -f submission.csv', { timeout: 10, trusted: true })
      if (made.exitCode !== 0) return { ok: false, message: 'baseline.py exited 0 but wrote no submission.csv in the workspace', command: BASELINE, exit_code: 0, output: r.output }
      return { ok: true, message: 'baseline.py exits 0 within its time limit and writes submission.csv' }
    })) return out()

    const first = await score(task, sandbox)
    const m = metricOf(first, metric.name)
    if (!await rec.check('metric_parses', () => {
      if (typeof m === 'string') return { ok: false, message: `the evaluation of the baseline's submission failed: ${m}`, command: EVALUATE, output: 'error' in first ? first.output : first.ev.output }
      const ev = (first as { ev: Evaluation }).ev
      if (ev.exitCode !== 0) return { ok: false, message: `evaluate.py printed metrics but exited with status ${ev.exitCode}; exit 0 on success`, command: EVALUATE, exit_code: ev.exitCode, output: ev.output }
      return { ok: true, message: `${metric.name} = ${m}` }
    })) return out()
    baseline = (first as { metrics: Record<string, number> }).metrics
    const base = m as number

    await rec.check('deterministic', async () => {
      const again = await score(task, sandbox)
      const m2 = metricOf(again, metric.name)
      if (m2 !== base) return { ok: false, message: `two evaluations of the same submission differ: ${metric.name} ${base} then ${m2}; seed or remove the randomness in evaluate.py`, command: EVALUATE, output: 'error' in again ? again.output : again.ev.output }
      return { ok: true, message: `two evaluations agree: ${metric.name} = ${base}` }
    })

    const submission = async (t: Table | string) => sandbox.writeFile(`${WORKSPACE}/submission.csv`, typeof t === 'string' ? t : writeCsv(t))
    const train = column(readTable(full, full.train.path), full.targetColumn, 'the training file')
    const testIds = column(readTable(full, full.test.path), full.idColumn, 'the test file')
    const constant = constantPrediction(train, p.task_type.endsWith('regression') || p.task_type === 'time-series-forecasting')
    const header = [full.idColumn, full.targetColumn]

    await rec.check('degenerate_worse', async () => {
      const sample = readFileSync(join(full.dir, 'sample_submission.csv'), 'utf8')
      const cases: Array<[string, Table | string]> = [
        ['the sample submission', sample],
        [`a constant prediction (${constant} for every row)`, { header, rows: testIds.map(id => [id, constant]) }]
      ]
      const seen: string[] = []
      for (const [what, sub] of cases) {
        await submission(sub)
        const s = await score(task, sandbox)
        const v = metricOf(s, metric.name)
        if (typeof v === 'string') return { ok: false, message: `${what} is a valid submission but its evaluation failed: ${v}`, command: EVALUATE, output: 'error' in s ? s.output : '' }
        if (!better(metric.direction, base, v)) {
          return { ok: false, message: `${what} scores ${metric.name} ${v}, not strictly worse than the baseline's ${base} (${metric.direction}); the metric must tell a real model from a trivial one, and the baseline must beat a trivial prediction`, command: EVALUATE }
        }
        seen.push(`${what}: ${v}`)
      }
      return { ok: true, message: `worse than the baseline's ${base}: ${seen.join('; ')}` }
    })

    await rec.check('headroom', async () => {
      const best = bestValue(metric.name)
      if (best !== null && base === best) return { ok: false, message: `the baseline already reaches ${metric.name} = ${best}, the best possible value; make the task harder or the baseline weaker` }
      const answers = readTable(full, full.answers.path)
      await submission({ header, rows: column(answers, full.idColumn, 'the hidden answers').map((id, i) => [id, column(answers, full.targetColumn)[i]!]) })
      const s = await score(task, sandbox)
      const v = metricOf(s, metric.name)
      if (typeof v === 'string') return { ok: false, message: `a submission of the true test labels could not be scored: ${v}`, command: EVALUATE, output: 'error' in s ? s.output : '' }
      if (!better(metric.direction, v, base)) return { ok: false, message: `the true test labels score ${metric.name} ${v}, no better than the baseline's ${base}: there is nothing left to improve, or the metric is wrong` }
      return { ok: true, message: `the baseline's ${base} is short of the ${v} the true labels score${best !== null ? ` (best possible ${best})` : ''}` }
    })

    await rec.check('malformed_rejected', async () => {
      const rows = testIds.map(id => [id, constant])
      const cases: Array<[string, (() => Promise<void>)]> = [
        ['a submission with wrong columns', () => submission({ header: [full.idColumn, `${full.targetColumn}_wrong`], rows })],
        ['a submission missing half the test rows', () => submission({ header, rows: rows.slice(0, Math.ceil(rows.length / 2)) })],
        ['no submission file', async () => { await sandbox.exec('rm -f submission.csv', { timeout: 10, trusted: true }) }]
      ]
      for (const [what, make] of cases) {
        await make()
        const s = await score(task, sandbox)
        if (!('error' in s)) return { ok: false, message: `${what} was scored (${JSON.stringify(s.metrics)}) instead of failing; evaluate.py must check the submission and exit 1 with "Evaluation failed: <reason>"`, command: EVALUATE }
        if (what !== 'no submission file' && !s.output.trim()) return { ok: false, message: `${what} failed without a message; print "Evaluation failed: <reason>" to stderr`, command: EVALUATE }
      }
      return { ok: true, message: 'wrong columns, missing rows and a missing file fail with a message' }
    })
  } finally { await env.close() }

  let microBaseline: Record<string, number> | null = null
  await rec.check('micro_runs', async () => {
    const mt = tasks.micro!
    const menv = new Environment(mt, { makeSandbox: ctx.makeSandbox, baseline: async () => null, maxSteps: Number.MAX_SAFE_INTEGER })
    try {
      await menv.reset()
      const sb = menv.sandbox!
      const r = await sb.exec(BASELINE, { timeout: menv.timeouts.long })
      if (r.timedOut || r.exitCode !== 0) {
        return { ok: false, message: `on the micro variant (${micro.train.rows} training rows) baseline.py ${r.timedOut ? `ran past ${menv.timeouts.long} s` : `exited with status ${r.exitCode}`}`, command: BASELINE, exit_code: r.exitCode, output: r.output }
      }
      const s = await score(mt, sb)
      const v = metricOf(s, metric.name)
      if (typeof v === 'string') return { ok: false, message: `on the micro variant the evaluation of the baseline failed: ${v}`, command: EVALUATE, output: 'error' in s ? s.output : s.ev.output }
      microBaseline = (s as { metrics: Record<string, number> }).metrics
      await sb.writeFile(`${WORKSPACE}/submission.csv`, readFileSync(join(micro.dir, 'sample_submission.csv')))
      const sample = metricOf(await score(mt, sb), metric.name)
      if (typeof sample === 'string') return { ok: false, message: `on the micro variant the sample submission is not scored: ${sample}`, command: EVALUATE }
      return { ok: true, message: `micro variant: baseline ${metric.name} = ${v}` }
    } finally { await menv.close() }
  })

  const ok = rec.checks.every(c => c.ok)
  return out(ok, baseline, microBaseline)
}
