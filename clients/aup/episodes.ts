// Stored episodes as `synthgym aup` sees run directories: which run an episode belongs to, and a run's episodes
// as computeAup's input (one episode = one run directory's results.json: `agent` is its score list, `baseline`
// its baseline). Pure, no Node module: the dashboard bundles it, so the page's AUP is the command's.
import { parseRunDirName } from '../../env-spec/run-dir.js'
import type { Metric } from '../../env-spec/task.js'
import type { Metrics } from '../../env-spec/trajectory.js'
import type { AupInput } from './aup.js'

/** What of a stored episode (GET /v1/episodes, brief or full) the runs need. */
export interface RunEpisode {
  task_id: string
  status: string
  score: Metrics[]
  baseline: Metrics | null
  model?: string | null
  meta: Record<string, unknown>
}

/** The name of an episode's run directory: `meta.run.dir` (synthgym run), or an older episode's `meta.run_dir`. */
function runDirOf (e: { meta: Record<string, unknown> }): string | null {
  const run = e.meta.run
  const dir = run && typeof run === 'object' ? (run as Record<string, unknown>).dir : e.meta.run_dir
  return typeof dir === 'string' && dir ? dir.split('/').pop()! : null
}

/**
 * The run an episode belongs to, or null for an ad-hoc episode: `meta.run` (a client's label, or `synthgym run`'s
 * name for its invocation; a string or {name|id}), else older `synthgym run` episodes' `meta.run_dir` (one MLGym
 * directory per episode) without its task and run index, i.e. the invocation's model and settings.
 */
export function runOf (e: { meta: Record<string, unknown> }): string | null {
  const run = e.meta.run
  if (typeof run === 'string' && run) return run
  if (run && typeof run === 'object') {
    const r = run as Record<string, unknown>
    const n = r.name ?? r.id
    if (typeof n === 'string' && n) return n
  }
  const dir = runDirOf(e)
  const p = dir ? parseRunDirName(dir) : null
  if (!p) return null
  return `${p.model}__${p.config}__t-${p.temperature.toFixed(2)}__p-${p.top_p.toFixed(2)}__c-${p.cost_limit.toFixed(2)}` +
    `__install-${p.install}${p.suffix ? `__${p.suffix}` : ''}`
}

/**
 * The method an episode counts for: the `<model>` part of its run directory where `synthgym run` recorded one (as
 * `synthgym aup` reads it), else the model it ran with, else `unknown`.
 */
export function methodOf (e: RunEpisode, unknown = '(model not recorded)'): string {
  const name = runDirOf(e)
  const dir = name ? parseRunDirName(name) : null
  if (dir) return dir.model
  const m = e.model ?? e.meta.model
  return typeof m === 'string' && m ? m : unknown
}

/**
 * computeAup's input from episodes, as `synthgym aup` reads the same episodes' run directories: every ended
 * episode of the given runs (all runs when `runs` is omitted; ad-hoc episodes only with `adHoc`), by task and
 * method; `metricOf` gives a task's priority metric (null: the task is left out, as the command refuses it).
 */
export function episodesAupInput (episodes: RunEpisode[], metricOf: (task: string) => Metric | null,
  opts: { runs?: string[], adHoc?: boolean } = {}): AupInput | null {
  const chosen = episodes.filter(e => {
    if (e.status === 'running') return false
    const r = runOf(e)
    if (r === null) return opts.adHoc === true
    return !opts.runs || opts.runs.includes(r)
  })
  const byTask = new Map<string, Map<string, { agent: Metrics[], baseline: Metrics | null }[]>>()
  for (const e of chosen) {
    if (!metricOf(e.task_id)) continue
    const t = byTask.get(e.task_id) ?? new Map()
    byTask.set(e.task_id, t)
    const m = methodOf(e)
    const list = t.get(m) ?? []
    list.push({ agent: e.score, baseline: e.baseline })
    t.set(m, list)
  }
  if (byTask.size === 0) return null
  const models = [...new Set([...byTask.values()].flatMap(t => [...t.keys()]))].sort()
  return {
    models,
    tasks: [...byTask.keys()].sort().map(task => ({ task, metric: metricOf(task)!, runs: Object.fromEntries(byTask.get(task)!) }))
  }
}

/** Mean and sample standard deviation (n - 1; 0 for one value) of numbers; null for none. */
export function meanStd (xs: number[]): { mean: number, std: number, n: number } | null {
  if (!xs.length) return null
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) : 0
  return { mean, std: Math.sqrt(v), n: xs.length }
}
