// Tasks by id: the built-in ones, task directories, and tasks imported from an MLGym checkout.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import YAML from 'yaml'
import { packageRoot } from '../sandbox/paths.js'
import {
  validateTaskSpec, validateDatasetConfig, taskSpecSchema, datasetConfigSchema, MLGYM_METRICS, type DatasetConfig,
  type TaskEntrypoint, type TaskSpec
} from '../env-spec/task.js'
import { TASK_DEFAULTS } from './settings.js'
import { ValidationError } from '../env-spec/validate.js'
import { TaskLoadError, TaskNotFoundError } from './errors.js'
import { validateProvenance, type Provenance } from '../env-spec/generation.js'

/** A spec as loaded: its defaults filled in once (normalise), so no reader guesses them again. */
export type LoadedSpec = TaskSpec & { task_entrypoint: TaskEntrypoint }

/** Fills in what MLGym leaves to a default. */
export function normalise (spec: TaskSpec): LoadedSpec {
  return { ...spec, task_entrypoint: spec.task_entrypoint ?? TASK_DEFAULTS.entrypoint }
}

export interface Task {
  /** the spec with every dataset resolved inline and its defaults filled in */
  spec: LoadedSpec
  /** host directory that relative paths in the spec resolve against */
  root: string
  /** where it came from: 'builtin', 'dir:<path>' or 'mlgym:<checkout>' */
  source: string
  /** a generated task's record (provenance.json beside its task.yaml) */
  provenance?: Provenance
}

/** The repository root (the folder with package.json). */
export const repoRoot = packageRoot

export const BUILTIN_DIR = join(repoRoot(), 'tasks', 'builtin')

/** Host path of a spec path. */
export function hostPath (task: Task, p: string): string {
  return isAbsolute(p) ? p : resolve(task.root, p)
}

/** How relative paths resolve, for messages: a synthgym task directory or an MLGym checkout. */
interface Layout { root: string, kind: 'dir' | 'mlgym' }

const relativeTo = (l: Layout) => l.kind === 'mlgym' ? `paths are relative to the MLGym checkout ${l.root}` : `paths are relative to the task directory ${l.root}`

/** Every host path a spec names must exist; requirements_path is needed without the generic conda env. */
function checkFiles (spec: TaskSpec, layout: Layout, file: string, datasetRefs: Map<DatasetConfig, string>): void {
  const named: [string, string | null | undefined][] = [
    ...(spec.starter_code ?? []).map(p => ['starter_code', p] as [string, string]),
    ...(spec.secret_files ?? []).map(p => ['secret_files', p] as [string, string]),
    ['sample_submission', spec.sample_submission],
    ['requirements_path', spec.use_generic_conda === false ? spec.requirements_path : null]
  ]
  if (spec.use_generic_conda === false && !spec.requirements_path) {
    throw new TaskLoadError(file, 'requirements_path is required when use_generic_conda is false (name the requirements.txt of the task\'s own environment, or set use_generic_conda: true)')
  }
  for (const [field, p] of named) {
    if (!p) continue
    const host = isAbsolute(p) ? p : resolve(layout.root, p)
    if (!existsSync(host)) throw new TaskLoadError(file, `${field}: ${p} does not exist (looked for ${host}; ${relativeTo(layout)})`)
  }
  for (const d of spec.datasets ?? []) {
    if (!d.is_local) continue
    const host = resolve(layout.root, d.data_path)
    if (existsSync(host)) continue
    const ref = datasetRefs.get(d)
    const hint = layout.kind === 'mlgym'
      ? '; MLGym does not ship local data (its .gitignore drops data/**/data): put the dataset files there first'
      : ''
    throw new TaskLoadError(file, `dataset ${d.name}${ref ? ` (${ref})` : ''}: data_path ${d.data_path} does not exist (looked for ${host}; ${relativeTo(layout)})${hint}`)
  }
}

function parseYaml (file: string, what = ''): unknown {
  try { return YAML.parse(readFileSync(file, 'utf8')) } catch (e) {
    // the yaml package's message is one line ("... at line 7, column 1:") followed by a code frame
    const first = ((e as Error).message.split('\n')[0] ?? '').replace(/:$/, '')
    throw new TaskLoadError(file, `${what}not valid YAML: ${first}`)
  }
}

function valueAt (raw: unknown, field: string): unknown {
  let v = raw
  for (const k of field.split('.').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined
    v = (v as Record<string, unknown>)[k]
  }
  return v
}

function editDistance (a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!
    d[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return d[b.length]!
}

/** Every schema problem on one line: the field, what is wrong, the value it had, a likely spelling for unknown fields. */
function explainInvalid (e: ValidationError, raw: unknown, known: string[]): string {
  const seen = new Set<string>()
  const parts: string[] = []
  for (const d of e.details.length ? e.details : [{ field: e.field, message: e.message }]) {
    if (seen.has(d.field)) continue
    seen.add(d.field)
    let text = `${d.field} ${d.message}`
    const value = valueAt(raw, d.field)
    if (d.message.startsWith('must') && value !== undefined) text += `, got ${JSON.stringify(value)}`
    if (d.message.startsWith('is not a known field')) {
      const name = d.field.split('.').pop()!
      const best = known.map(k => [k, editDistance(name, k)] as const).sort((x, y) => x[1] - y[1])[0]
      if (best && best[1] <= Math.max(2, Math.floor(name.length / 3))) text = `${d.field} is not a known field; did you mean ${best[0]}?`
    }
    parts.push(text)
  }
  return parts.join('; ')
}

function validated (raw: unknown, file: string): TaskSpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TaskLoadError(file, 'a task config must be a YAML mapping with at least id, name and description')
  }
  try { return validateTaskSpec(raw, 'task') } catch (e) {
    if (e instanceof ValidationError) throw new TaskLoadError(file, explainInvalid(e, raw, Object.keys(taskSpecSchema.properties)))
    throw e
  }
}

/** A dataset config named by a task's dataset_configs; errors are the task file's, naming the reference. */
function loadDatasetConfig (ref: string, base: Layout & { configs: string }, taskFile: string): DatasetConfig {
  const file = resolve(base.configs, ref)
  if (!existsSync(file)) {
    const rel = base.kind === 'mlgym' ? 'MLGym reads dataset_configs relative to configs/' : 'dataset_configs are relative to the task directory'
    throw new TaskLoadError(taskFile, `dataset_configs: ${ref} not found (looked for ${file}; ${rel})`)
  }
  let raw: unknown
  try { raw = parseYaml(file) } catch (e) {
    throw new TaskLoadError(taskFile, `dataset config ${ref}: ${(e as TaskLoadError).reason}`)
  }
  try { return validateDatasetConfig(raw, 'dataset') } catch (e) {
    if (e instanceof ValidationError) throw new TaskLoadError(taskFile, `dataset config ${ref}: ${explainInvalid(e, raw, Object.keys(datasetConfigSchema.properties))}`)
    throw e
  }
}

/** A synthgym task directory: task.yaml with paths relative to the directory. */
export function loadTaskDir (dir: string, source = `dir:${dir}`): Task {
  const file = join(dir, 'task.yaml')
  if (!existsSync(dir)) throw new TaskLoadError(dir, 'the directory does not exist')
  if (!existsSync(file)) {
    const hint = existsSync(join(dir, 'configs', 'tasks')) ? '; this looks like an MLGym checkout: use synthgym tasks import' : ''
    throw new TaskLoadError(file, `no task.yaml in this directory (a synthgym task directory holds task.yaml and the files it names)${hint}`)
  }
  const raw = parseYaml(file)
  const spec = validated(raw, file)
  const layout: Layout & { configs: string } = { root: dir, kind: 'dir', configs: dir }
  const refs = new Map<DatasetConfig, string>()
  const datasets = [...(spec.datasets ?? [])]
  for (const p of spec.dataset_configs ?? []) {
    const d = loadDatasetConfig(p, layout, file)
    refs.set(d, p)
    datasets.push(d)
  }
  const full = { ...spec, datasets }
  checkFiles(full, layout, file, refs)
  const provenance = readProvenance(dir)
  return { spec: normalise(full), root: dir, source, ...(provenance ? { provenance } : {}) }
}

function readProvenance (dir: string): Provenance | undefined {
  const file = join(dir, 'provenance.json')
  if (!existsSync(file)) return undefined
  let raw: unknown
  try { raw = JSON.parse(readFileSync(file, 'utf8')) } catch (e) { throw new TaskLoadError(file, `not valid JSON: ${(e as Error).message}`) }
  try { return validateProvenance(raw, 'provenance') } catch (e) {
    if (e instanceof ValidationError) throw new TaskLoadError(file, e.message)
    throw e
  }
}

/**
 * The tasks of a directory: the directory itself when it holds task.yaml, else each folder in it that does (as
 * `synthgym generate` leaves them in OUT/tasks). A folder that does not load is reported and skipped; names
 * starting with a dot (a task still being written) are not read.
 */
export function loadTasksFrom (dir: string): { tasks: Task[], errors: { file: string, reason: string }[] } {
  if (existsSync(join(dir, 'task.yaml')) || !existsSync(dir)) return { tasks: [loadTaskDir(dir)], errors: [] }
  const tasks: Task[] = []
  const errors: { file: string, reason: string }[] = []
  for (const n of readdirSync(dir).sort()) {
    const sub = join(dir, n)
    if (n.startsWith('.') || !existsSync(join(sub, 'task.yaml'))) continue
    try { tasks.push(loadTaskDir(sub)) } catch (e) {
      errors.push(e instanceof TaskLoadError ? { file: e.file, reason: e.reason } : { file: sub, reason: (e as Error).message })
    }
  }
  return { tasks, errors }
}

export function loadBuiltinTasks (): Task[] {
  if (!existsSync(BUILTIN_DIR)) return []
  return readdirSync(BUILTIN_DIR)
    .filter(n => existsSync(join(BUILTIN_DIR, n, 'task.yaml')))
    .sort()
    .map(n => loadTaskDir(join(BUILTIN_DIR, n), 'builtin'))
}

// the table is a fact of MLGym's format, in env-spec/task.ts; kept importable from here
export { MLGYM_METRICS }

export interface ImportReport {
  /** the checkout, absolute */
  checkout: string
  tasks: Task[]
  /** file: the config's name under configs/tasks (or the checkout when it is not one) */
  errors: { file: string, reason: string }[]
}

/** Modules only the mlgym runtime has (sandbox/runtimes/mlgym.txt); numpy and the standard library are in base. */
const MLGYM_MODULES = new Set(['torch', 'torchvision', 'transformers', 'datasets', 'jax', 'flax', 'optax', 'gymnax', 'gymnasium',
  'pandas', 'sklearn', 'scipy', 'matplotlib', 'tensorflow_probability', 'dotmap', 'nltk', 'pycocotools', 'PIL', 'pyarrow', 'fastparquet'])

function pythonFiles (p: string): string[] {
  if (!existsSync(p)) return []
  if (statSync(p).isFile()) return p.endsWith('.py') ? [p] : []
  return readdirSync(p).flatMap(n => pythonFiles(join(p, n)))
}

/**
 * MLGym runs every task in its own environment (the generic conda env, or the task's requirements): here the mlgym
 * runtime, for each task whose code imports what only that runtime has. The rest (the games, 3SAT: numpy and the
 * standard library) run in base, so they need no runtime build.
 */
function mlgymRuntimeOf (spec: TaskSpec, root: string): 'base' | 'mlgym' {
  if (spec.use_generic_conda === false) return 'mlgym'
  const files = (spec.starter_code ?? []).flatMap(p => pythonFiles(resolve(root, p)))
  const imported = files.flatMap(f => [...readFileSync(f, 'utf8').matchAll(/^\s*(?:from|import)\s+([A-Za-z_]\w*)/gm)].map(m => m[1]!))
  return imported.some(m => MLGYM_MODULES.has(m)) ? 'mlgym' : 'base'
}

/**
 * MLGym's layout: configs/tasks/*.yaml with dataset_configs relative to configs/ and every other path relative
 * to the checkout. A broken config is reported by name with its reason; the rest still load.
 */
export function importMlgym (checkout: string): ImportReport {
  const root = resolve(checkout)
  const dir = join(root, 'configs', 'tasks')
  const report: ImportReport = { checkout: root, tasks: [], errors: [] }
  if (!existsSync(dir)) {
    const why = existsSync(root) ? 'configs/tasks is missing' : 'the directory does not exist'
    report.errors.push({ file: root, reason: `not an MLGym checkout: ${why} (pass the root of a clone of facebookresearch/MLGym, the folder that holds configs/ and data/)` })
    return report
  }
  const layout = { root, kind: 'mlgym' as const, configs: join(root, 'configs') }
  const byId = new Map<string, string>()
  for (const name of readdirSync(dir).filter(n => /\.ya?ml$/.test(n)).sort()) {
    const file = join(dir, name)
    try {
      const raw = parseYaml(file)
      const spec = validated(raw, file)
      const refs = new Map<DatasetConfig, string>()
      const datasets = (spec.dataset_configs ?? []).map(p => {
        const d = loadDatasetConfig(p, layout, file)
        refs.set(d, p)
        return d
      })
      const full = { ...spec, datasets: [...(spec.datasets ?? []), ...datasets] }
      checkFiles(full, layout, file, refs)
      const first = byId.get(spec.id)
      if (first) {
        throw new TaskLoadError(file, `id ${spec.id} is already the id of ${first}; tasks are served by id, so this config is skipped (give it an id of its own)`)
      }
      byId.set(spec.id, name)
      const metric = full.metric ?? MLGYM_METRICS[full.id]
      const withRuntime = { ...full, runtime: full.runtime ?? mlgymRuntimeOf(full, root) }
      report.tasks.push({ spec: normalise(metric ? { ...withRuntime, metric } : withRuntime), root, source: `mlgym:${root}` })
    } catch (e) {
      report.errors.push({ file: name, reason: e instanceof TaskLoadError ? e.reason : (e as Error).message })
    }
  }
  return report
}

/** The description with `{dataset_docs}` filled in as MLGym does. */
export function taskDescription (spec: TaskSpec): string {
  const docs = (spec.datasets ?? []).map(d => `${d.name.toUpperCase()}:\n${d.description}\n\n`).join('')
  return spec.description.replaceAll('{dataset_docs}', docs)
}

// as PyYAML writes it: no line folding, list items at their key's indentation
const MLGYM_YAML = { lineWidth: 0, indentSeq: false }

/** MLGym YAML for a task (MLGym's fields only; None/empty dropped as MLGym's dump_yaml does) and its datasets. */
export function toMlgymYaml (task: Task, datasetPaths: string[] = []): { task: string, datasets: { name: string, yaml: string }[] } {
  const s = task.spec
  const fields: (keyof TaskSpec)[] = ['id', 'name', 'description', 'task_entrypoint', 'training_timeout', 'requirements_path',
    'benchmark_name', 'use_generic_conda', 'starter_code', 'baseline_paths', 'baseline_scores', 'sample_submission',
    'evaluation_paths', 'evaluation_read_only', 'secret_files', 'memory_path']
  const out: Record<string, unknown> = {}
  for (const f of fields) {
    const v = s[f]
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) continue
    out[f] = v
    if (f === 'description' && (s.datasets?.length ?? 0) > 0) out.dataset_configs = datasetPaths
  }
  const datasets = (s.datasets ?? []).map(d => {
    const o: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(d)) if (v !== undefined && v !== null) o[k] = v
    return { name: d.name, yaml: YAML.stringify(o, MLGYM_YAML) }
  })
  return { task: YAML.stringify(out, MLGYM_YAML), datasets }
}

export class TaskRegistry {
  private tasks = new Map<string, Task>()

  add (task: Task): void { this.tasks.set(task.spec.id, task) }
  remove (id: string): boolean { return this.tasks.delete(id) }
  get (id: string): Task | undefined { return this.tasks.get(id) }
  /** The task, or TaskNotFoundError. */
  require (id: string): Task {
    const t = this.tasks.get(id)
    if (!t) throw new TaskNotFoundError(id)
    return t
  }
  list (): Task[] { return [...this.tasks.values()] }

  static withBuiltins (): TaskRegistry {
    const r = new TaskRegistry()
    for (const t of loadBuiltinTasks()) r.add(t)
    return r
  }
}

