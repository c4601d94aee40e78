// Tasks by id: the built-in ones, task directories, and tasks imported from an MLGym checkout.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { validateTaskSpec, validateDatasetConfig, type DatasetConfig, type TaskSpec } from '../env-spec/task.js'
import { ValidationError } from '../env-spec/validate.js'

export interface Task {
  /** the spec with every dataset resolved inline */
  spec: TaskSpec
  /** host directory that relative paths in the spec resolve against */
  root: string
  /** where it came from: 'builtin', 'dir:<path>' or 'mlgym:<checkout>' */
  source: string
}

export class TaskLoadError extends Error {
  constructor (public file: string, message: string) { super(`${file}: ${message}`) }
}

/** The repository root (the folder with package.json), found from this module whether run from source or dist/. */
export function repoRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('cannot find the synthgym package root')
    dir = up
  }
  return dir
}

export const BUILTIN_DIR = join(repoRoot(), 'tasks', 'builtin')

/** Host path of a spec path. */
export function hostPath (task: Task, p: string): string {
  return isAbsolute(p) ? p : resolve(task.root, p)
}

/** Every host path a spec names must exist; the entrypoint must be one MLGym knows. */
function checkFiles (spec: TaskSpec, root: string, file: string): void {
  const named: [string, string | null | undefined][] = [
    ...(spec.starter_code ?? []).map(p => ['starter_code', p] as [string, string]),
    ...(spec.secret_files ?? []).map(p => ['secret_files', p] as [string, string]),
    ['sample_submission', spec.sample_submission],
    ['requirements_path', spec.use_generic_conda === false ? spec.requirements_path : null]
  ]
  if (spec.use_generic_conda === false && !spec.requirements_path) {
    throw new TaskLoadError(file, 'requirements_path is required when use_generic_conda is false')
  }
  for (const [field, p] of named) {
    if (p && !existsSync(isAbsolute(p) ? p : resolve(root, p))) throw new TaskLoadError(file, `${field}: ${p} does not exist`)
  }
  for (const d of spec.datasets ?? []) {
    if (d.is_local && !existsSync(resolve(root, d.data_path))) throw new TaskLoadError(file, `dataset ${d.name}: data_path ${d.data_path} does not exist`)
  }
}

function parseYaml (file: string): unknown {
  try { return YAML.parse(readFileSync(file, 'utf8')) } catch (e) {
    throw new TaskLoadError(file, `not valid YAML: ${(e as Error).message}`)
  }
}

function validated (raw: unknown, file: string): TaskSpec {
  try { return validateTaskSpec(raw, 'task') } catch (e) {
    if (e instanceof ValidationError) throw new TaskLoadError(file, e.message)
    throw e
  }
}

/** A synthgym task directory: task.yaml with paths relative to the directory. */
export function loadTaskDir (dir: string, source = `dir:${dir}`): Task {
  const file = join(dir, 'task.yaml')
  if (!existsSync(file)) throw new TaskLoadError(file, 'no task.yaml in this directory')
  const spec = validated(parseYaml(file), file)
  const datasets = [...(spec.datasets ?? [])]
  for (const p of spec.dataset_configs ?? []) datasets.push(loadDatasetConfig(resolve(dir, p)))
  const full = { ...spec, datasets }
  checkFiles(full, dir, file)
  return { spec: full, root: dir, source }
}

function loadDatasetConfig (file: string): DatasetConfig {
  if (!existsSync(file)) throw new TaskLoadError(file, 'dataset config not found')
  try { return validateDatasetConfig(parseYaml(file), 'dataset') } catch (e) {
    if (e instanceof ValidationError) throw new TaskLoadError(file, e.message)
    throw e
  }
}

export function loadBuiltinTasks (): Task[] {
  if (!existsSync(BUILTIN_DIR)) return []
  return readdirSync(BUILTIN_DIR)
    .filter(n => existsSync(join(BUILTIN_DIR, n, 'task.yaml')))
    .sort()
    .map(n => loadTaskDir(join(BUILTIN_DIR, n), 'builtin'))
}

export interface ImportReport { tasks: Task[], errors: { file: string, reason: string }[] }

/**
 * MLGym's layout: configs/tasks/*.yaml with dataset_configs relative to configs/ and every other path relative
 * to the checkout. A broken config is reported by name with its reason; the rest still load.
 */
export function importMlgym (checkout: string): ImportReport {
  const root = resolve(checkout)
  const dir = join(root, 'configs', 'tasks')
  const report: ImportReport = { tasks: [], errors: [] }
  if (!existsSync(dir)) {
    report.errors.push({ file: dir, reason: 'not an MLGym checkout: configs/tasks is missing' })
    return report
  }
  for (const name of readdirSync(dir).filter(n => /\.ya?ml$/.test(n)).sort()) {
    const file = join(dir, name)
    try {
      const raw = parseYaml(file) as Record<string, unknown>
      if (!raw || typeof raw !== 'object') throw new TaskLoadError(file, 'empty or not a mapping')
      const spec = validated(raw, file)
      const datasets = (spec.dataset_configs ?? []).map(p => loadDatasetConfig(join(root, 'configs', p)))
      const full = { ...spec, datasets: [...(spec.datasets ?? []), ...datasets] }
      checkFiles(full, root, file)
      report.tasks.push({ spec: full, root, source: `mlgym:${root}` })
    } catch (e) {
      const reason = e instanceof TaskLoadError ? e.message.slice(file.length + 2) : (e as Error).message
      report.errors.push({ file: name, reason })
    }
  }
  return report
}

/** The description with `{dataset_docs}` filled in as MLGym does. */
export function taskDescription (spec: TaskSpec): string {
  const docs = (spec.datasets ?? []).map(d => `${d.name.toUpperCase()}:\n${d.description}\n\n`).join('')
  return spec.description.replaceAll('{dataset_docs}', docs)
}

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
    return { name: d.name, yaml: YAML.stringify(o) }
  })
  return { task: YAML.stringify(out, { lineWidth: 0 }), datasets }
}

export class TaskRegistry {
  private tasks = new Map<string, Task>()

  add (task: Task): void { this.tasks.set(task.spec.id, task) }
  get (id: string): Task | undefined { return this.tasks.get(id) }
  list (): Task[] { return [...this.tasks.values()] }

  static withBuiltins (): TaskRegistry {
    const r = new TaskRegistry()
    for (const t of loadBuiltinTasks()) r.add(t)
    return r
  }
}

