// MLGym's performance profiles and AUP, as scripts/evaluation/get_ranks.py computes them (mlgym.md §4):
//   per run: the best attempt (first strictly best score of results.json's `agent` list) and the last score;
//   per method and task: the best over its runs; the baseline is one more method;
//   per task: ratios to the best feasible score (epsilon 0.05 for the infeasible), T_p = ceil(worst ratio * 1.05);
//   tau_max = ceil(10 * log10(max T_p over tasks and both variants)) / 10; a 500-point grid on [0, tau_max];
//   rho_m(tau) = share of tasks with log10(ratio) <= tau; AUP = left Riemann sum of rho_m over the grid.
// Pure functions over plain data: clients/aup/read.ts gathers the runs, report.ts prints what this returns.
import type { AupReport, AupTaskInfo, AupTaskResult, AupVariant, AupVariantResult } from '../../env-spec/aup.js'
import type { Metric } from '../../env-spec/task.js'
import type { RunResults } from '../run-dirs.js'

export const EPSILON = 0.05
export const GRID_POINTS = 500
export const BASELINE = 'baseline'

/**
 * The cases get_ranks.py leaves undefined (it divides by zero, takes ceil of NaN or raises KeyError there), and
 * how they are decided here. Printed with every report.
 */
export const RULES = [
  'No feasible method on a task (every score missing, negative or worse than the baseline; MLGym: NaN, then ' +
    'ValueError in ceil): every method gets an infinite ratio there (null in JSON), so the task adds 0 to every ' +
    'AUP while still counting in the number of tasks, and it gives no candidate for tau_max. With no candidate at ' +
    'all tau_max is 0 and every AUP is 0.',
  'A zero score (MLGym divides by zero): 0/0 (a zero score when the best feasible score is also zero) is a ratio ' +
    'of 1; x/0 with x > 0 is infinite, and a feasible method with an infinite ratio counts as infeasible (ratio ' +
    'worst_ratio * (1 + epsilon), worst_ratio taken over the finite ratios). So for a maximized metric a zero ' +
    'score below a positive best ranks with the infeasible methods; for a minimized one a zero is the best and ' +
    'every positive score is then infeasible.',
  'Missing runs: a model with no run directory for a task, or whose runs have no score for the priority metric ' +
    '(crashed, no results.json, empty `agent`), has no score there and is infeasible (as MLGym: NaN). A run whose ' +
    'last entry lacks the metric gives no best-submission score (MLGym: KeyError) but keeps its best attempt. The ' +
    'tasks are those found in the directories; each counts once in the number of tasks, whatever is missing.',
  'No baseline score in any results.json of a task: the baseline method has no score (infeasible) and ' +
    'feasibility is only "score >= 0" (MLGym compares with NaN, which is never true).',
  'Ranks: by score (higher first for maximized metrics, lower first for minimized), ties in the order of the ' +
    'methods with the baseline first (the order MLGym\'s dict keeps), methods without a score last in method order.'
]

/** Index of the first strictly best entry that has the metric, or -1 (MLGym's get_best_attempt). */
export function bestAttemptIndex (agent: Record<string, number>[], metric: string, direction: Metric['direction']): number {
  let best = direction === 'maximize' ? -Infinity : Infinity
  let idx = -1
  agent.forEach((r, i) => {
    const v = r[metric]
    if (v === undefined) return
    if (direction === 'maximize' ? v > best : v < best) { best = v; idx = i }
  })
  return idx
}

/** One run's best attempt and last score; null for a run that gives none. */
export function runScores (r: RunResults | null, metric: Metric): { best: number | null, last: number | null } {
  if (!r || !r.agent) return { best: null, last: null }
  const i = bestAttemptIndex(r.agent, metric.name, metric.direction)
  if (i < 0) return { best: null, last: null }
  return { best: r.agent[i]![metric.name]!, last: r.agent.at(-1)![metric.name] ?? null }
}

const better = (direction: Metric['direction']) => (a: number, b: number) => (direction === 'maximize' ? Math.max(a, b) : Math.min(a, b))

/** A model's score on a task: the best over its runs, per variant. */
export function modelScores (runs: (RunResults | null)[], metric: Metric): Record<AupVariant, number | null> {
  const pick = better(metric.direction)
  let best: number | null = null
  let last: number | null = null
  for (const r of runs) {
    const s = runScores(r, metric)
    if (s.best !== null) best = best === null ? s.best : pick(best, s.best)
    if (s.last !== null) last = last === null ? s.last : pick(last, s.last)
  }
  return { best_attempt: best, best_submission: last }
}

export interface Ratios {
  /** Infinity where the ratio is infinite */
  ratios: Record<string, number>
  feasible: string[]
  tauCandidate: number | null
  notes: string[]
}

/** MLGym's calculate_performance_ratios, with the stated rules for its undefined cases. */
export function performanceRatios (scores: Record<string, number | null>, methods: string[], baseline: number | null,
  direction: Metric['direction'], epsilon = EPSILON): Ratios {
  const max = direction === 'maximize'
  const notes: string[] = []
  let feasible = methods.filter(m => {
    const s = scores[m]
    if (s === null || s === undefined || s < 0) return false
    return baseline === null || (max ? s >= baseline : s <= baseline)
  })
  const ratios: Record<string, number> = {}
  if (feasible.length === 0) {
    for (const m of methods) ratios[m] = Infinity
    notes.push('no feasible method: every ratio is infinite, the task adds 0 to every AUP and no tau_max candidate')
    return { ratios, feasible, tauCandidate: null, notes }
  }
  const fs = feasible.map(m => scores[m]!)
  const best = max ? Math.max(...fs) : Math.min(...fs)
  const ratioOf = (s: number): number => {
    const [num, den] = max ? [best, s] : [s, best]
    if (den === 0) return num === 0 ? 1 : Infinity
    return num / den
  }
  for (const m of feasible) ratios[m] = ratioOf(scores[m]!)
  const infinite = feasible.filter(m => ratios[m] === Infinity)
  if (infinite.length) {
    notes.push(`zero score: ${infinite.join(', ')} would divide by zero (ratio infinite) and count${infinite.length === 1 ? 's' : ''} as infeasible`)
    feasible = feasible.filter(m => ratios[m] !== Infinity)
  }
  if (feasible.some(m => scores[m] === 0)) notes.push('zero score: 0/0 taken as a ratio of 1')
  // max: best / worst; min: worst / best; both are the largest finite ratio, computed as MLGym divides
  const worst = max ? Math.min(...feasible.map(m => scores[m]!)) : Math.max(...feasible.map(m => scores[m]!))
  const worstRatio = ratioOf(worst)
  const infeasibleRatio = worstRatio * (1 + epsilon)
  for (const m of methods) if (!feasible.includes(m)) ratios[m] = infeasibleRatio
  return { ratios, feasible, tauCandidate: Math.ceil(infeasibleRatio), notes }
}

/** tau_max: log10 of the largest T_p, rounded up to one decimal (MLGym's round_up_to_one_decimal); 0 for none. */
export function tauMax (candidates: (number | null)[]): number {
  const c = candidates.filter((x): x is number => x !== null)
  if (c.length === 0) return 0
  return Math.ceil(Math.log10(Math.max(...c)) * 10) / 10
}

/** numpy.linspace(0, tauMax, n): i * step, the last point exactly tauMax. */
export function tauGrid (tauMax: number, n = GRID_POINTS): number[] {
  const step = tauMax / (n - 1)
  const grid = Array.from({ length: n }, (_, i) => i * step)
  grid[n - 1] = tauMax
  return grid
}

/** rho(tau_i): the share of tasks whose log10 ratio is <= tau_i. */
export function profile (logRatios: number[], grid: number[]): number[] {
  return grid.map(tau => logRatios.filter(r => r <= tau).length / logRatios.length)
}

/** MLGym's compute_aup: sum over i < n-1 of (tau_{i+1} - tau_i) * rho(tau_i), in that order. */
export function areaUnderProfile (rho: number[], grid: number[]): number {
  let total = 0
  for (let i = 0; i < grid.length - 1; i++) total += (grid[i + 1]! - grid[i]!) * rho[i]!
  return total
}

/** MLGym's calculate_rankings, as ranks: see RULES. */
export function ranks (scores: Record<string, number | null>, methods: string[], direction: Metric['direction']): Record<string, number> {
  const order = [BASELINE, ...methods.filter(m => m !== BASELINE)].filter(m => methods.includes(m))
  const scored = order.filter(m => scores[m] !== null && scores[m] !== undefined)
  const sign = direction === 'maximize' ? -1 : 1
  scored.sort((a, b) => sign * (scores[a]! - scores[b]!)) // stable: ties keep `order`
  const missing = methods.filter(m => !scored.includes(m))
  return Object.fromEntries([...scored, ...missing].map((m, i) => [m, i + 1]))
}

export interface AupTaskInput {
  task: string
  metric: Metric
  /** per model, its runs (null: a run directory without results.json) */
  runs: Record<string, (RunResults | null)[]>
}

export interface AupInput {
  /** the models compared, in order; the baseline is added as a method */
  models: string[]
  tasks: AupTaskInput[]
  epsilon?: number
  gridPoints?: number
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null)

/** The whole computation: every task's scores, ratios and ranks, the profiles and the AUPs of both variants. */
export function computeAup (input: AupInput): Omit<AupReport, 'sources'> {
  const epsilon = input.epsilon ?? EPSILON
  const n = input.gridPoints ?? GRID_POINTS
  if (input.models.includes(BASELINE)) throw new Error(`a model may not be called "${BASELINE}": that is the baseline method`)
  const methods = [...input.models, BASELINE]
  const warnings: string[] = []
  const infos: AupTaskInfo[] = []
  const perVariant: Record<AupVariant, { scores: Record<string, number | null>, r: Ratios }[]> = { best_attempt: [], best_submission: [] }
  for (const t of input.tasks) {
    const baselines: number[] = []
    for (const m of input.models) {
      for (const r of t.runs[m] ?? []) {
        const b = r?.baseline?.[t.metric.name]
        if (b !== undefined) baselines.push(b)
      }
    }
    const baseline = baselines[0] ?? null
    const distinct = [...new Set(baselines)]
    if (distinct.length > 1) warnings.push(`${t.task}: the runs disagree on the baseline's ${t.metric.name} (${distinct.join(', ')}); the first, ${baseline}, is used`)
    if (baseline === null) warnings.push(`${t.task}: no results.json has a baseline ${t.metric.name}; the baseline method has no score here`)
    const runsInfo: AupTaskInfo['runs'] = {}
    const scores: Record<AupVariant, Record<string, number | null>> = { best_attempt: { [BASELINE]: baseline }, best_submission: { [BASELINE]: baseline } }
    for (const m of input.models) {
      const runs = t.runs[m] ?? []
      runsInfo[m] = { found: runs.length, scored: runs.filter(r => runScores(r, t.metric).best !== null).length }
      if (runs.length === 0) warnings.push(`${t.task}: no run of ${m}; it has no score there`)
      const s = modelScores(runs, t.metric)
      scores.best_attempt[m] = s.best_attempt
      scores.best_submission[m] = s.best_submission
    }
    infos.push({ task: t.task, metric: t.metric.name, direction: t.metric.direction, baseline, runs: runsInfo })
    for (const v of ['best_attempt', 'best_submission'] as const) {
      perVariant[v].push({ scores: scores[v], r: performanceRatios(scores[v], methods, baseline, t.metric.direction, epsilon) })
    }
  }
  // one tau range for both variants, as MLGym
  const tmax = tauMax([...perVariant.best_attempt, ...perVariant.best_submission].map(x => x.r.tauCandidate))
  const grid = tauGrid(tmax, n)
  const nTasks = input.tasks.length
  const variant = (v: AupVariant): AupVariantResult => {
    const rows = perVariant[v]
    const tasks: AupTaskResult[] = rows.map(({ scores, r }, i) => {
      const t = input.tasks[i]!
      const logs = Object.fromEntries(methods.map(m => [m, Math.log10(r.ratios[m]!)]))
      const contributions = Object.fromEntries(methods.map(m => {
        let c = 0
        for (let j = 0; j < grid.length - 1; j++) if (logs[m]! <= grid[j]!) c += (grid[j + 1]! - grid[j]!) / nTasks
        return [m, c]
      }))
      return {
        task: t.task,
        scores,
        feasible: r.feasible,
        ratios: Object.fromEntries(methods.map(m => [m, finiteOrNull(r.ratios[m]!)])),
        log10_ratios: Object.fromEntries(methods.map(m => [m, finiteOrNull(logs[m]!)])),
        ranks: ranks(scores, methods, t.metric.direction),
        tau_candidate: r.tauCandidate,
        contributions,
        notes: r.notes
      }
    })
    const aup: Record<string, number> = {}
    const meanRank: Record<string, number> = {}
    const borda: Record<string, number> = {}
    for (const m of methods) {
      const logs = tasks.map(t => t.log10_ratios[m] ?? Infinity)
      aup[m] = nTasks ? areaUnderProfile(profile(logs, grid), grid) : 0
      const rs = tasks.map(t => t.ranks[m]!)
      meanRank[m] = rs.length ? rs.reduce((a, b) => a + b, 0) / rs.length : 0
      borda[m] = rs.reduce((a, b) => a + methods.length - b + 1, 0)
    }
    return { aup, mean_rank: meanRank, borda, tasks }
  }
  return {
    methods,
    tasks: infos,
    epsilon,
    grid_points: n,
    tau_max: tmax,
    best_attempt: variant('best_attempt'),
    best_submission: variant('best_submission'),
    rules: RULES,
    warnings
  }
}
