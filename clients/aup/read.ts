// From run directories to the input of computeAup: which run belongs to which model and task, and each run's
// results.json. Models are the `<model>` part of the directory name; `--models` picks some, in its order.
import type { Metric } from '../../env-spec/task.js'
import { findRunDirs, metricOf, NO_METRIC, readResults, recordedMetric, type RunDir, type RunResults } from '../run-dirs.js'
import type { AupInput } from './aup.js'

export interface ReadOptions {
  /** model names, matched as MLGym's `*<model>__<task>__*` glob does, at a '-' boundary (see modelFor) */
  models?: string[]
  tasks?: string[]
  metrics?: Record<string, Metric>
}

/**
 * The model a run directory's `<model>` part stands for: itself without --models; with it, the name equal to it or,
 * as MLGym's glob `*gpt4o2__` does for `metagen-gpt4o2`, a suffix after a '-' (the longest such name wins).
 */
export function modelFor (dirModel: string, models: string[] | undefined): string | null {
  if (!models) return dirModel
  if (models.includes(dirModel)) return dirModel
  const hits = models.filter(m => dirModel.endsWith('-' + m)).sort((a, b) => b.length - a.length)
  return hits[0] ?? null
}

export function readAupInput (roots: string[], opts: ReadOptions = {}): { input: AupInput, warnings: string[], runs: RunDir[] } {
  const all = findRunDirs(roots)
  const warnings: string[] = []
  const byTask = new Map<string, Map<string, (RunResults | null)[]>>()
  // the metric the runs of each task recorded (synthgym run): the first one; a disagreeing one is said
  const recorded = new Map<string, Metric>()
  const used: RunDir[] = []
  const seenModels = new Set<string>()
  for (const r of all) {
    const model = modelFor(r.model, opts.models)
    if (model === null) continue
    if (opts.tasks && !opts.tasks.includes(r.task)) continue
    seenModels.add(model)
    const m = recordedMetric(r)
    const first = recorded.get(r.task)
    if (m && !first) recorded.set(r.task, m)
    else if (m && first && (m.name !== first.name || m.direction !== first.direction) && !opts.metrics?.[r.task]) {
      warnings.push(`${r.dir}: records ${m.name} (${m.direction}) for ${r.task}, an earlier run ${first.name} (${first.direction}), which is used (--metric decides)`)
    }
    let results: RunResults | null = null
    try {
      results = readResults(r.dir)
      if (results === null) warnings.push(`${r.dir}: no results.json; the run counts as missing`)
    } catch (e) { warnings.push(`${(e as Error).message}; the run counts as missing`) }
    const t = byTask.get(r.task) ?? new Map()
    byTask.set(r.task, t)
    const list = t.get(model) ?? []
    list.push(results)
    t.set(model, list)
    used.push(r)
  }
  const models = opts.models ?? [...seenModels].sort()
  const absent = models.filter(m => !seenModels.has(m))
  if (absent.length) {
    throw new Error(`no run directory of ${absent.join(', ')} under ${roots.join(', ')} (models found: ${[...new Set(all.map(r => r.model))].sort().join(', ') || 'none'})`)
  }
  if (opts.tasks) {
    const none = opts.tasks.filter(t => !byTask.has(t))
    if (none.length) throw new Error(`no run directory of task ${none.join(', ')} for these models`)
  }
  const tasks = [...byTask.keys()].sort()
  if (tasks.length === 0) throw new Error('no run directories to compare')
  const metric = (t: string) => metricOf(t, opts.metrics ?? {}, recorded.get(t))
  const unknown = tasks.filter(t => !metric(t))
  if (unknown.length) throw new Error(NO_METRIC(unknown))
  return {
    input: {
      models,
      tasks: tasks.map(task => ({ task, metric: metric(task)!, runs: Object.fromEntries(byTask.get(task)!) }))
    },
    warnings,
    runs: used
  }
}
