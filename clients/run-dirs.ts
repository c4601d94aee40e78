// MLGym-layout run directories as `synthgym aup` and `synthgym export sft` read them: found under one or more roots
// (MLGym's own `trajectories/<user>/`, its published `trajectories/mlgym_bench_v0/`, or `synthgym run --out`), each
// holding `results.json` and `<task>.traj` (env-spec/run-dir.ts has the name, env-spec/trajectory.ts the files),
// and, when `synthgym run` wrote it, synthgym.json (the run, the task's metric, the tools offered).
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { parseRunDirName, RUN_META_FILE, validateRunMetaFile, type RunDirName, type RunMetaFile } from '../env-spec/run-dir.js'
import { MLGYM_METRICS, type Metric } from '../env-spec/task.js'
import type { Metrics } from '../env-spec/trajectory.js'

/** A run directory: its name's parts, and synthgym.json when `synthgym run` wrote one (null for MLGym's own). */
export interface RunDir extends RunDirName { dir: string, meta: RunMetaFile | null }

/** A run directory's synthgym.json, checked; null when there is none. */
export function readRunMeta (dir: string): RunMetaFile | null {
  const file = join(dir, RUN_META_FILE)
  if (!existsSync(file)) return null
  try { return validateRunMetaFile(JSON.parse(readFileSync(file, 'utf8')), RUN_META_FILE) } catch (e) {
    throw new Error(`${file}: ${(e as Error).message} (synthgym run writes it; remove it and pass --metric instead)`)
  }
}

/** How deep below a root run directories are looked for (`trajectories/<user>/<run>` is 2). */
const MAX_DEPTH = 4

/**
 * Every run directory under the roots (a root may be a run directory itself), each once, sorted by path.
 * A root that does not exist or holds no run directory is an error naming it.
 */
export function findRunDirs (roots: string[]): RunDir[] {
  const seen = new Map<string, RunDir>()
  for (const root of roots) {
    const abs = resolve(root)
    if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new Error(`${root}: no such directory`)
    if (walk(abs, 0, seen) === 0) {
      throw new Error(`${root}: no MLGym run directory in it (names like <model>__<task>__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run_0)`)
    }
  }
  return [...seen.values()].sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0))
}

/** How many run directories are at or below `dir` (each kept once in `seen`, by real path). */
function walk (dir: string, depth: number, seen: Map<string, RunDir>): number {
  const name = parseRunDirName(basename(dir))
  if (name) {
    const real = realpathSync(dir)
    if (!seen.has(real)) seen.set(real, { ...name, dir, meta: readRunMeta(dir) })
    return 1
  }
  if (depth >= MAX_DEPTH) return 0
  let n = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue
    const p = join(dir, e.name)
    if (e.isDirectory() || (e.isSymbolicLink() && statSync(p, { throwIfNoEntry: false })?.isDirectory())) n += walk(p, depth + 1, seen)
  }
  return n
}

/** results.json as a run left it: `agent` (every validate and the final submission, in order) and `baseline`. */
export interface RunResults { agent: Metrics[] | null, baseline: Metrics | null }

/**
 * Python's json.dump writes NaN and Infinity, which JSON.parse refuses: they are read as null (not a score).
 * Non-numeric metric values are dropped the same way, so a metric is either a finite number or absent.
 */
export function parsePythonJson (text: string): unknown {
  try { return JSON.parse(text) } catch (e) {
    const fixed = text.replace(/([:[,]\s*)(-?Infinity|NaN)(?=\s*[,\]}])/g, '$1null')
    if (fixed === text) throw e
    return JSON.parse(fixed)
  }
}

function metricsOf (x: unknown): Metrics | null {
  if (!x || typeof x !== 'object' || Array.isArray(x)) return null
  const out: Metrics = {}
  for (const [k, v] of Object.entries(x)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v
  return out
}

/** A run's results.json; null when the run left none (a crashed run: it counts as missing). Throws on bad JSON. */
export function readResults (dir: string): RunResults | null {
  const file = join(dir, 'results.json')
  if (!existsSync(file)) return null
  let data: unknown
  try { data = parsePythonJson(readFileSync(file, 'utf8')) } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`)
  }
  if (!data || typeof data !== 'object') throw new Error(`${file}: not a JSON object`)
  const d = data as { agent?: unknown, baseline?: unknown }
  const agent = Array.isArray(d.agent) ? d.agent.map(a => metricsOf(a) ?? {}) : null
  return { agent, baseline: metricsOf(d.baseline) }
}

/** `--metric task=name:maximize` (also `max`/`min`), repeatable or comma-separated: tasks MLGym's table lacks. */
export function parseMetricFlags (values: string[]): Record<string, Metric> {
  const out: Record<string, Metric> = {}
  for (const v of values.flatMap(x => x.split(',')).map(x => x.trim()).filter(Boolean)) {
    const m = /^([^=]+)=(.+):(maximize|minimize|max|min)$/.exec(v)
    if (!m) throw new Error(`--metric ${v}: write it as TASK=METRIC:maximize or TASK=METRIC:minimize`)
    out[m[1]!] = { name: m[2]!, direction: m[3]!.startsWith('max') ? 'maximize' : 'minimize' }
  }
  return out
}

/**
 * A task's priority metric: --metric first, then the one its run recorded (synthgym.json, from the server's task),
 * then MLGym's table (mlgym/evaluation/utils.py TASKS).
 */
export function metricOf (task: string, overrides: Record<string, Metric>, recorded?: Metric | null): Metric | null {
  return overrides[task] ?? recorded ?? MLGYM_METRICS[task] ?? null
}

/** The metric a run directory recorded for its task (none for MLGym's own, or one of another task). */
export function recordedMetric (r: RunDir): Metric | null {
  return r.meta && r.meta.run.task === r.task ? r.meta.run.metric : null
}

export const NO_METRIC = (tasks: string[]) =>
  `no priority metric is known for ${tasks.join(', ')} (neither recorded by synthgym run nor in MLGym's table of its 13 benchmark tasks): pass ` +
  tasks.map(t => `--metric ${t}=METRIC:maximize|minimize`).join(' ')
