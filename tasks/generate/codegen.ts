// Stage 6: the LLM writes the task's code (task.yaml, baseline.py, evaluate.py, optionally sample_submission.csv)
// as schema'd JSON; trusted code checks the paths, pins what the LLM may not decide (id, data, hidden files, the
// evaluation's wiring, the metric) and writes the task directory beside the materialised data.
import { readFileSync, writeFileSync } from 'node:fs'
import { join, posix, relative } from 'node:path'
import YAML from 'yaml'
import {
  TASK_FILE_NAMES, taskFilesReplySchema, validateTaskFilesReply, type CodeArtefact, type MaterialisedFile, type Proposal,
  type TaskFilesReply, type VerifiedDataset
} from '../../env-spec/generation.js'
import { validateTaskSpec, type DatasetConfig, type TaskSpec } from '../../env-spec/task.js'
import { ValidationError } from '../../env-spec/validate.js'
import { BUILTIN_DIR } from '../registry.js'
import { SECRET_DIR } from '../evaluate.js'
import { column, parseCsv, writeCsv } from './csv.js'
import type { Llm, Message } from './llm.js'
import { GENERATE_DEFAULTS } from './settings.js'

/** One materialised file, relative to its task directory. */
type DataFile = MaterialisedFile

/** One variant's data as codegen and the checks need it (the pipeline builds it from the materialisation). */
export interface TaskData {
  /** the task directory: data and hidden files are already in it, the code goes next to them */
  dir: string
  idColumn: string
  targetColumn: string
  inputColumns: string[]
  mediaColumns: string[]
  targetNames?: string[]
  /** the dataset's folder (its `data_path`), relative to `dir`; it becomes the workspace's `data/` */
  dataPath: string
  train: DataFile
  validation: DataFile
  test: DataFile
  /** the test ids and targets: hidden */
  answers: DataFile
  secretFiles: string[]
  dataset: DatasetConfig
  datasetDocs: string
}

export type Variant = 'full' | 'micro'

export const REQUIRED_FILES = ['task.yaml', 'baseline.py', 'evaluate.py'] as const

/** Where a data file is in the agent's workspace (the one local dataset is mounted at `data/`). */
export function workspacePath (data: TaskData, file: DataFile): string {
  return posix.join('data', relative(data.dataPath, file.path).split('\\').join('/'))
}

/** A secret file as evaluate.py opens it. */
export function secretName (data: TaskData): string { return posix.basename(data.answers.path) }

const example = (name: string) => readFileSync(join(BUILTIN_DIR, 'diabetesRegression', name), 'utf8')

export function codegenSystemPrompt (): string {
  return `You write machine-learning research tasks for MLGym-style agents, as the files of a synthgym task directory.
The data files are already written by trusted code; you write the code around them. An agent later gets the
task's description, a workspace holding baseline.py, evaluate.py, sample_submission.csv and the read-only data/
folder, and tries to beat the baseline. Everything runs offline in a sandbox with python3, its standard library and
numpy only: no pandas, scikit-learn, scipy or torch, and no network.

Files you write (reply with JSON, see the end):
- task.yaml: MLGym's TaskConfig fields. You choose: name; description; training_timeout (seconds the baseline and
  an agent's training command may run, e.g. 600); metric {name, direction}; resources {cpus, memory_mb} (small:
  1-2 cpus, 1024-4096 MiB). Everything else (id, datasets, starter_code, baseline_paths, evaluation_paths,
  secret_files, task_entrypoint) is filled in by the pipeline, whatever you write.
  The description is MLGym's style: what to predict and from what, then the line "This task uses the following
  datasets:" and the placeholder {dataset_docs} on its own line (replaced by the data's documentation), how the
  metric scores a submission (and that higher or lower is better), this paragraph verbatim: "If a baseline is given,
  your task is to train a new model that improves performance on the given dataset as much as possible. If you fail
  to produce a valid submission artefact evaluation file will give you a score of 0.", and finally a section that
  starts with the line "SUBMISSION FORMAT:" saying exactly which file to write and its columns.
- baseline.py: a simple, deterministic (seeded) baseline that reads the training data, fits a weak but real model in
  numpy (e.g. nearest centroid, least squares on a few features, a majority-class rule refined by one feature) and
  writes submission.csv in the workspace. It must leave clear room for improvement and finish in well under a minute.
  Read CSV files with the csv module (text cells may hold commas and quotes).
- evaluate.py: run as \`python evaluate.py --submission_file submission.csv\` with the workspace as working directory.
  It first checks the submission against the public test file (header exactly as specified, one row per test id, no
  duplicates, values parse) BEFORE it opens the hidden answers; on any problem it prints "Evaluation failed: <reason>"
  to stderr and exits with status 1. Then it reads the hidden answers from ${SECRET_DIR}/<name> (or from the folder in
  the environment variable SYNTHGYM_SECRET_DIR when that is set), computes the metric, and prints exactly one JSON
  dict on stdout (e.g. {"accuracy": 0.81}) and nothing else on stdout or stderr. It must be deterministic.
- sample_submission.csv (optional): every test id with one constant prediction, in the submission's format; when you
  leave it out the pipeline writes one like that.

Here is a complete built-in task in this format, for reference (its data is a different dataset).
--- task.yaml ---
${example('task.yaml')}
--- baseline.py ---
${example('baseline.py')}
--- evaluate.py ---
${example('evaluate.py')}

Reply with one JSON object that fits this JSON Schema, and nothing else: {"files": [{"path": "task.yaml", "content":
"..."}, ...], "notes": "..."}. Paths are exactly the file names above. In a fix round, send the files you change (whole);
files you leave out stay as they were.
${JSON.stringify(taskFilesReplySchema)}`
}

const clip = (s: string, n = 80) => s.length > n ? s.slice(0, n) + '…' : s

function sampleRows (data: TaskData, n: number): string {
  const t = parseCsv(readFileSync(join(data.dir, data.train.path), 'utf8'))
  return writeCsv({ header: t.header, rows: t.rows.slice(0, n).map(r => r.map(c => clip(c))) })
}

/** A ClassLabel target: the CSVs hold the class index, as the task's docs say (materialise.ts describe). */
export function targetClasses (names: string[]): string {
  return `Target classes (the target column holds the class index, an integer; submissions hold it too): ${names.map((n, i) => `${i} = ${n}`).join(', ')}`
}

export function codegenUserPrompt (p: Proposal, d: VerifiedDataset, data: TaskData): string {
  const f = (file: DataFile) => `\`${workspacePath(data, file)}\` (${file.rows} rows; columns: ${file.columns.join(', ')})`
  const types = [data.idColumn, ...data.inputColumns, data.targetColumn].map(c => `${c}: ${d.columns[c] ?? (c === data.idColumn ? 'Value(int64)' : 'unknown')}`)
  return `Write the task "${p.title}" (topic: ${p.topic}).

Proposal: ${JSON.stringify(p)}
Dataset: ${d.dataset} (config ${d.config}, revision ${d.revision}, license ${d.license ?? 'unknown'})
Column types: ${types.join('; ')}
${data.targetNames?.length ? `${targetClasses(data.targetNames)}\n` : ''}${data.mediaColumns.length ? `Media columns (each cell is the path of a file relative to the workspace): ${data.mediaColumns.join(', ')}\n` : ''}
Files in the agent's workspace (read-only):
- training data: ${f(data.train)}
- validation data: ${f(data.validation)}
- test data to predict: ${f(data.test)}; it has no \`${data.targetColumn}\` column.
Hidden answers (mounted only while evaluate.py runs): ${SECRET_DIR}/${secretName(data)}, columns ${data.answers.columns.join(', ')}, one row per test row.
The first rows of the training data:
${sampleRows(data, GENERATE_DEFAULTS.sampleRows)}
The submission is submission.csv with exactly the header \`${data.idColumn},${data.targetColumn}\` and one row per
row of \`${workspacePath(data, data.test)}\` (predictions in the same form as the training file's \`${data.targetColumn}\`).
The metric is ${p.metric.name} (${p.metric.direction}); evaluate.py prints it under the key "${p.metric.name}".

{dataset_docs} will be replaced by:
${data.datasetDocs}`
}

export interface CheckFailure { name: string, message: string, command: string | null, exit_code: number | null, output_tail: string }

export function fixPrompt (failures: CheckFailure[]): string {
  const parts = failures.map(f => `### check ${f.name} failed\n${f.message}` +
    (f.command ? `\ncommand: ${f.command}` : '') + (f.exit_code !== null ? `\nexit code: ${f.exit_code}` : '') +
    (f.output_tail ? `\noutput (tail):\n${f.output_tail}` : ''))
  return `The task was run in a sandbox and these checks failed:\n\n${parts.join('\n\n')}\n\nFix the files. Reply with the JSON object of the files you change (whole), and say what you changed in notes.`
}

/** Paths the LLM may write: the task's own file names, nothing absolute, nothing above the task. */
export function checkReplyPaths (reply: TaskFilesReply): string | null {
  const problems: string[] = []
  const seen = new Set<string>()
  for (const { path } of reply.files) {
    if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) problems.push(`${path}: absolute paths are not allowed`)
    else if (path.split(/[\\/]/).includes('..')) problems.push(`${path}: '..' is not allowed`)
    else if (!(TASK_FILE_NAMES as readonly string[]).includes(path)) problems.push(`${path}: not a file you may write (only ${TASK_FILE_NAMES.join(', ')})`)
    if (seen.has(path)) problems.push(`${path}: given twice`)
    seen.add(path)
  }
  return problems.length ? `Your reply names files it may not write:\n${problems.map(p => `- ${p}`).join('\n')}` : null
}

/** One LLM request for files; every problem with the reply itself goes back to the LLM before anything runs. */
export async function requestFiles (llm: Llm, messages: Message[], round: number, attempts?: number): Promise<CodeArtefact> {
  const started = performance.now()
  const r = await llm.json(messages, { name: 'task_files', schema: taskFilesReplySchema, validate: validateTaskFilesReply, check: checkReplyPaths, attempts })
  return { round, reply: r.value, tokens: r.tokens, seconds: (performance.now() - started) / 1000 }
}

/** The files after a round: the earlier ones, each replaced by the reply's version when it sends one. */
export function mergeFiles (before: Record<string, string>, reply: TaskFilesReply): Record<string, string> {
  const out = { ...before }
  for (const f of reply.files) out[f.path] = f.content
  return out
}

export interface SpecProblem { message: string }

const clamp = (v: number | undefined, lo: number, hi: number, dflt: number) => Math.min(hi, Math.max(lo, v ?? dflt))

/**
 * task.yaml as the LLM wrote it, with the fields trusted code decides pinned: a spec the registry loads, or the
 * problem (not YAML, not a task spec, no {dataset_docs} or SUBMISSION FORMAT) for the LLM to fix.
 */
export function assembleSpec (yamlText: string, p: Proposal, data: TaskData, variant: Variant): TaskSpec | SpecProblem {
  let raw: unknown
  try { raw = YAML.parse(yamlText) } catch (e) { return { message: `task.yaml is not valid YAML: ${(e as Error).message.split('\n')[0]}` } }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { message: 'task.yaml must be a YAML mapping of TaskConfig fields (id, name, description, ...)' }
  const r = raw as Record<string, unknown>
  const given: TaskSpec = { id: p.task_id, name: p.title, description: '', ...r } as TaskSpec
  // fields the pipeline owns are dropped before validation, so a wrong value there is no reason to discard
  for (const k of ['datasets', 'dataset_configs', 'starter_code', 'baseline_paths', 'evaluation_paths', 'secret_files', 'sample_submission',
    'task_entrypoint', 'requirements_path', 'use_generic_conda', 'memory_path', 'baseline_scores', 'evaluation_read_only', 'benchmark_name'] as const) delete given[k]
  let spec: TaskSpec
  try { spec = validateTaskSpec({ ...given, id: p.task_id }, 'task.yaml') } catch (e) {
    if (e instanceof ValidationError) return { message: `task.yaml is not a valid task spec: ${e.details.map(d => `${d.field} ${d.message}`).join('; ') || e.message}` }
    throw e
  }
  if (!spec.description.includes('{dataset_docs}')) return { message: 'the description must contain the placeholder {dataset_docs} (on its own line, after "This task uses the following datasets:")' }
  if (!/^\s*SUBMISSION FORMAT:/m.test(spec.description)) return { message: 'the description must end with a section starting with the line "SUBMISSION FORMAT:" that says which file to write and its columns' }
  const D = GENERATE_DEFAULTS
  const timeout = clamp(spec.training_timeout ?? undefined, 10, D.maxTrainingTimeout, 600)
  const res = spec.resources ?? {}
  const micro = variant === 'micro'
  return {
    id: micro ? `${p.task_id}Micro` : p.task_id,
    name: micro ? `${spec.name} (micro)` : spec.name,
    description: spec.description,
    datasets: [data.dataset],
    task_entrypoint: 'CSVSubmissionTasks',
    training_timeout: micro ? Math.min(timeout, D.microTrainingTimeout) : timeout,
    use_generic_conda: true,
    starter_code: ['baseline.py', 'evaluate.py', 'sample_submission.csv'],
    baseline_paths: ['baseline.py'],
    evaluation_paths: ['evaluate.py'],
    evaluation_read_only: true,
    sample_submission: 'sample_submission.csv',
    secret_files: data.secretFiles,
    metric: p.metric,
    resources: {
      cpus: clamp(res.cpus, 0.5, D.maxCpus, 1),
      memory_mb: clamp(res.memory_mb, 256, D.maxMemoryMb, 2048),
      ...(res.pids ? { pids: clamp(res.pids, 64, 4096, 256) } : {})
    },
    ...(spec.timeouts ? { timeouts: spec.timeouts } : {})
  }
}

/** The trusted sample submission: every test id with one constant prediction (the first training row's target). */
export function sampleSubmission (data: TaskData): string {
  const train = parseCsv(readFileSync(join(data.dir, data.train.path), 'utf8'))
  const test = parseCsv(readFileSync(join(data.dir, data.test.path), 'utf8'))
  const value = column(train, data.targetColumn, workspacePath(data, data.train))[0] ?? '0'
  return writeCsv({ header: [data.idColumn, data.targetColumn], rows: column(test, data.idColumn, workspacePath(data, data.test)).map(id => [id, value]) })
}

/**
 * Writes a round's files into a variant's task directory: the code, the sample submission (the LLM's for the full
 * variant when it sent one; the micro variant's test rows differ, so it always gets the trusted one) and task.yaml.
 */
export function writeTaskFiles (files: Record<string, string>, p: Proposal, data: TaskData, variant: Variant): { spec: TaskSpec } | SpecProblem {
  const ownSample = variant === 'full' && files['sample_submission.csv'] !== undefined
  const spec = assembleSpec(files['task.yaml'] ?? '', p, data, variant)
  if ('message' in spec) return spec
  writeFileSync(join(data.dir, 'baseline.py'), files['baseline.py'] ?? '')
  writeFileSync(join(data.dir, 'evaluate.py'), files['evaluate.py'] ?? '')
  writeFileSync(join(data.dir, 'sample_submission.csv'), ownSample ? files['sample_submission.csv']! : sampleSubmission(data))
  writeFileSync(join(data.dir, 'task.yaml'), YAML.stringify(spec, { lineWidth: 0, indentSeq: false }))
  return { spec }
}
