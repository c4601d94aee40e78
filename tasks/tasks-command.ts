// `synthgym tasks list|show|validate|import|export`. What it needs of the server layer (the registry the server
// would serve, where imports are recorded) comes in TasksContext: tasks/ never imports server/.
import { existsSync, mkdirSync, readFileSync, writeFileSync, cpSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import {
  importMlgym, loadTaskDir, toMlgymYaml, taskDescription, hostPath,
  type ImportReport, type Task, type TaskRegistry
} from './registry.js'
import { TaskLoadError } from './errors.js'

export interface TasksContext {
  /** the registry the server would serve, with the reports of its MLGym imports */
  loadRegistry: () => { registry: TaskRegistry, imports: ImportReport[] }
  /** the JSON file listing imported checkouts, which the server reads at start */
  importsFile: string
}

/** Where a broken config of an import report is: names are under configs/tasks, a whole checkout is absolute. */
export function configPath (checkout: string, file: string): string {
  return isAbsolute(file) ? file : join(checkout, 'configs', 'tasks', file)
}

const NO_TASK = (id: string) => `no task ${id}; synthgym tasks list shows them`

const USAGE = `usage:
  synthgym tasks list [--json]            tasks this server would serve
  synthgym tasks show <id>                a task's spec and its prompt
  synthgym tasks validate <dir>...        check synthgym task directories (task.yaml)
  synthgym tasks import <mlgym-checkout>  serve an MLGym checkout's configs/tasks from now on
  synthgym tasks export <id> <out-dir>    write a task as MLGym YAML`

/** `synthgym tasks ...` */
export function tasksCommand (args: string[], ctx: TasksContext): number {
  if (args.includes('--help') || args.includes('-h')) { console.log(USAGE); return 0 }
  const [sub, ...rest] = args
  switch (sub) {
    case 'list': return list(rest, ctx)
    case 'show': {
      if (!rest[0]) { console.error('usage: synthgym tasks show <id>'); return 1 }
      const t = ctx.loadRegistry().registry.get(rest[0])
      if (!t) { console.error(NO_TASK(rest[0])); return 1 }
      console.log(JSON.stringify({ ...t.spec, root: t.root, source: t.source }, null, 2))
      console.log('\n' + taskDescription(t.spec))
      return 0
    }
    case 'validate': return validate(rest)
    case 'import': return importCheckout(rest[0], ctx)
    case 'export': {
      const [id, out] = rest
      if (!id || !out) { console.error('usage: synthgym tasks export <id> <out-dir>'); return 1 }
      const t = ctx.loadRegistry().registry.get(id)
      if (!t) { console.error(NO_TASK(id)); return 1 }
      exportTask(t, out)
      return 0
    }
    default:
      console.error(sub ? `unknown subcommand ${sub}\n${USAGE}` : USAGE)
      return 1
  }
}

function list (rest: string[], ctx: TasksContext): number {
  const { registry, imports } = ctx.loadRegistry()
  if (rest.includes('--json')) {
    const rows = registry.list().map(t => ({ id: t.spec.id, name: t.spec.name, source: t.source }))
    console.log(JSON.stringify(rows, null, 2))
    return 0
  }
  for (const t of registry.list()) {
    const m = t.spec.metric
    const metric = m ? `${m.name} (${m.direction})` : '-'
    console.log(`${t.spec.id.padEnd(34)} ${t.spec.task_entrypoint.padEnd(22)} ${metric.padEnd(24)} ${t.source}`)
  }
  for (const r of imports) {
    for (const e of r.errors) console.error(`broken: ${configPath(r.checkout, e.file)}: ${e.reason}`)
  }
  return 0
}

function validate (dirs: string[]): number {
  if (!dirs.length) { console.error('usage: synthgym tasks validate <task-dir>...'); return 1 }
  let bad = 0
  for (const d of dirs) {
    try {
      const t = loadTaskDir(resolve(d))
      console.log(`ok: ${t.spec.id} (${d})`)
    } catch (e) {
      bad++
      console.error(e instanceof TaskLoadError ? `invalid: ${e.message}` : `invalid: ${d}: ${(e as Error).message}`)
    }
  }
  return bad ? 1 : 0
}

function importCheckout (dir: string | undefined, ctx: TasksContext): number {
  if (!dir) { console.error('usage: synthgym tasks import <mlgym-checkout>'); return 1 }
  const report = importMlgym(dir)
  for (const t of report.tasks) console.log(`loaded: ${t.spec.id} (${t.spec.task_entrypoint})`)
  for (const e of report.errors) console.error(`broken: ${e.file}: ${e.reason}`)
  const abs = resolve(dir)
  if (!report.tasks.length) {
    const why = report.errors.length ? 'every task config is broken (see above)' : 'configs/tasks has no *.yaml'
    console.error(`nothing imported from ${abs}: ${why}`)
    return 1
  }
  const file = ctx.importsFile
  const known: string[] = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : []
  if (!known.includes(abs)) known.push(abs)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(known, null, 2))
  console.log(`${report.tasks.length} task(s) imported; ${report.errors.length} broken. ` +
    `The server serves them from its next start (${file}).`)
  return 0
}

/** Write a task as MLGym YAML under out: configs/tasks, configs/datasets and its files under data/<id>. */
function exportTask (t: Task, out: string): void {
  const id = t.spec.id
  const dataRoot = join(out, 'data', id)
  const safe = (name: string) => name.replace(/[^A-Za-z0-9_.-]+/g, '_')
  const datasetPaths = (t.spec.datasets ?? []).map(d => `datasets/${safe(d.name)}.yaml`)
  // paths in MLGym YAML are relative to the checkout: copy each file under data/<id>/ (a file that is not there,
  // like an unused memory_path, keeps only its new name)
  const rel = (p: string) => {
    const src = hostPath(t, p)
    if (existsSync(src)) cpSync(src, join(dataRoot, basename(p)), { recursive: true })
    return `data/${id}/${basename(p)}`
  }
  const relOrNull = (p: string | null | undefined) => p ? rel(p) : p
  mkdirSync(dataRoot, { recursive: true })
  const spec = {
    ...t.spec,
    starter_code: (t.spec.starter_code ?? []).map(rel),
    secret_files: (t.spec.secret_files ?? []).map(rel),
    sample_submission: relOrNull(t.spec.sample_submission),
    requirements_path: relOrNull(t.spec.requirements_path),
    memory_path: relOrNull(t.spec.memory_path),
    datasets: (t.spec.datasets ?? []).map(d => d.is_local ? { ...d, data_path: rel(d.data_path) } : d)
  }
  const y = toMlgymYaml({ ...t, spec }, datasetPaths)
  const taskYaml = join(out, 'configs', 'tasks', `${id}.yaml`)
  mkdirSync(join(out, 'configs', 'tasks'), { recursive: true })
  mkdirSync(join(out, 'configs', 'datasets'), { recursive: true })
  writeFileSync(taskYaml, y.task)
  y.datasets.forEach((d, i) => writeFileSync(join(out, 'configs', datasetPaths[i]!), d.yaml))
  console.log(`wrote ${taskYaml}`)
}
