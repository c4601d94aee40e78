// AUP and performance profiles, computed in the page from stored episodes, following MLGym's
// scripts/evaluation/get_ranks.py (shared/reference/mlgym.md section 4): per run the best attempt and the last
// submission on the task's metric; per method the best over its runs; the baseline as a method; feasible scores
// are >= 0 and at least the baseline (direction-aware); infeasible ratio = worst feasible ratio x (1 + 0.05);
// log10 ratios; tau_max = ceil(10 log10 max T_p) / 10 over both variants; 500-point grid; left Riemann sum.
// Where MLGym's code is undefined, our rules: a task with no feasible method, or no baseline, is left out (and
// listed); a score of exactly 0 is infeasible (MLGym divides by it).
// THE AUP ENGINEER'S clients/aup/ IS THE REFERENCE IMPLEMENTATION: when it lands, this module's computeAup is the
// one place to swap for it (same inputs: runs of methods on tasks; same outputs: scores, ratios, AUP, profiles).
import type { Metrics } from '../../../env-spec/trajectory.js'

export const EPSILON = 0.05
export const GRID = 500

export interface AupTask { id: string, metric: string, direction: 'maximize' | 'minimize', baseline: number | null }
/** One run (an episode) of a method (a model) on a task: its score list, as results.json's `agent`. */
export interface AupRun { task: string, method: string, scores: Metrics[] }

export interface AupVariant {
  /** task → method → score (null: no usable run) */
  scores: Record<string, Record<string, number | null>>
  /** task → method → performance ratio */
  ratios: Record<string, Record<string, number>>
  aup: Record<string, number>
  /** method → rho at each tau */
  profile: Record<string, number[]>
}

export interface AupResult {
  /** the methods compared, baseline included: AUP depends on them */
  methods: string[]
  tasks: string[]
  skipped: { task: string, reason: string }[]
  tauMax: number
  tau: number[]
  best: AupVariant
  last: AupVariant
}

/** Index of the first strictly best entry that has `k` (MLGym's get_best_attempt); -1 when none has it. */
export function bestAttempt (scores: Metrics[], k: string, direction: AupTask['direction']): number {
  let at = -1
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i]![k]
    if (typeof v !== 'number' || Number.isNaN(v)) continue
    if (at < 0 || (direction === 'maximize' ? v > scores[at]![k]! : v < scores[at]![k]!)) at = i
  }
  return at
}

const better = (d: AupTask['direction']) => (a: number, b: number) => d === 'maximize' ? Math.max(a, b) : Math.min(a, b)

/** Per method: best over runs of the best attempt and of the last score. */
export function methodScores (task: AupTask, runs: AupRun[]): { best: Record<string, number | null>, last: Record<string, number | null> } {
  const best: Record<string, number | null> = {}
  const last: Record<string, number | null> = {}
  const pick = better(task.direction)
  for (const r of runs) {
    if (r.task !== task.id) continue
    best[r.method] ??= null
    last[r.method] ??= null
    const i = bestAttempt(r.scores, task.metric, task.direction)
    if (i < 0) continue // a failed run contributes nothing
    const b = r.scores[i]![task.metric]!
    best[r.method] = best[r.method] === null ? b : pick(best[r.method]!, b)
    const l = r.scores.at(-1)![task.metric]
    if (typeof l === 'number' && !Number.isNaN(l)) last[r.method] = last[r.method] === null ? l : pick(last[r.method]!, l)
  }
  return { best, last }
}

/** Ratios of one task (best method 1); null when no method is feasible. */
export function performanceRatios (scores: Record<string, number | null>, baseline: number, direction: AupTask['direction']):
  { ratios: Record<string, number>, worstRatio: number, T: number } | null {
  const feasible = Object.entries(scores).filter((e): e is [string, number] => {
    const s = e[1]
    return s !== null && Number.isFinite(s) && s > 0 && (direction === 'maximize' ? s >= baseline : s <= baseline)
  })
  if (!feasible.length) return null
  const values = feasible.map(([, s]) => s)
  const best = direction === 'maximize' ? Math.max(...values) : Math.min(...values)
  const worst = direction === 'maximize' ? Math.min(...values) : Math.max(...values)
  const ratio = (s: number) => direction === 'maximize' ? best / s : s / best
  const worstRatio = ratio(worst)
  const ratios: Record<string, number> = {}
  const ok = new Map(feasible)
  for (const m of Object.keys(scores)) ratios[m] = ok.has(m) ? ratio(ok.get(m)!) : worstRatio * (1 + EPSILON)
  return { ratios, worstRatio, T: Math.ceil(worstRatio * (1 + EPSILON)) }
}

export function computeAup (tasks: AupTask[], runs: AupRun[], opts: { baselineName?: string } = {}): AupResult {
  const baselineName = opts.baselineName ?? 'baseline'
  const methods = [...new Set(runs.map(r => r.method))].sort()
  const all = [...methods, baselineName]
  const skipped: AupResult['skipped'] = []
  const used: { task: AupTask, best: NonNullable<ReturnType<typeof performanceRatios>>, last: NonNullable<ReturnType<typeof performanceRatios>>, scores: ReturnType<typeof methodScores> }[] = []
  for (const task of tasks) {
    if (!runs.some(r => r.task === task.id)) continue
    if (task.baseline === null) { skipped.push({ task: task.id, reason: 'no baseline score' }); continue }
    const scores = methodScores(task, runs)
    for (const m of methods) { scores.best[m] ??= null; scores.last[m] ??= null }
    scores.best[baselineName] = task.baseline
    scores.last[baselineName] = task.baseline
    const best = performanceRatios(scores.best, task.baseline, task.direction)
    const last = performanceRatios(scores.last, task.baseline, task.direction)
    if (!best || !last) { skipped.push({ task: task.id, reason: 'no method (the baseline included) has a feasible score' }); continue }
    used.push({ task, best, last, scores })
  }
  const maxT = Math.max(2, ...used.flatMap(u => [u.best.T, u.last.T]))
  const tauMax = Math.ceil(10 * Math.log10(maxT)) / 10
  const step = tauMax / (GRID - 1)
  const tau = Array.from({ length: GRID }, (_, i) => i === GRID - 1 ? tauMax : i * step)
  const variant = (which: 'best' | 'last'): AupVariant => {
    const scores: AupVariant['scores'] = {}
    const ratios: AupVariant['ratios'] = {}
    for (const u of used) { scores[u.task.id] = u.scores[which]; ratios[u.task.id] = u[which].ratios }
    const profile: AupVariant['profile'] = {}
    const aup: AupVariant['aup'] = {}
    for (const m of all) {
      const logs = used.map(u => Math.log10(u[which].ratios[m]!))
      const rho = tau.map(t => used.length ? logs.filter(l => l <= t).length / used.length : 0)
      profile[m] = rho
      let area = 0
      for (let i = 0; i < GRID - 1; i++) area += (tau[i + 1]! - tau[i]!) * rho[i]!
      aup[m] = area
    }
    return { scores, ratios, aup, profile }
  }
  return { methods: all, tasks: used.map(u => u.task.id), skipped, tauMax, tau, best: variant('best'), last: variant('last') }
}
