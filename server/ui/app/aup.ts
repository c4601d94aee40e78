// AUP and performance profiles in the page, from stored episodes: the page's runs (one per finished episode) handed
// to clients/aup/aup.ts, the one implementation of MLGym's get_ranks.py (its rules for what MLGym leaves
// undefined included), and its report reshaped for the plots: scores, ratios, AUP and the profile per method.
import { computeAup as aupReport, profile, tauGrid, type AupInput } from '../../../clients/aup/aup.js'
import type { AupVariant as ReportVariant } from '../../../env-spec/aup.js'
import type { Metrics } from '../../../env-spec/trajectory.js'

export interface AupTask { id: string, metric: string, direction: 'maximize' | 'minimize', baseline: number | null }
/** One run (an episode) of a method (a model) on a task: its score list, as results.json's `agent`. */
export interface AupRun { task: string, method: string, scores: Metrics[] }

export interface PageVariant {
  /** task → method → score (null: no usable run) */
  scores: Record<string, Record<string, number | null>>
  /** task → method → performance ratio (Infinity: no method feasible on the task) */
  ratios: Record<string, Record<string, number>>
  aup: Record<string, number>
  /** method → rho at each tau */
  profile: Record<string, number[]>
}

export interface AupResult {
  /** the methods compared, baseline included: AUP depends on them */
  methods: string[]
  tasks: string[]
  /** the stated rules (clients/aup) that applied, per task */
  notes: { task: string, note: string }[]
  tauMax: number
  tau: number[]
  best: PageVariant
  last: PageVariant
}

export function computeAup (tasks: AupTask[], runs: AupRun[]): AupResult {
  const models = [...new Set(runs.map(r => r.method))].sort()
  const used = tasks.filter(t => runs.some(r => r.task === t.id))
  return aupResult({
    models,
    tasks: used.map(t => ({
      task: t.id,
      metric: { name: t.metric, direction: t.direction },
      runs: Object.fromEntries(models.map(m => [m, runs.filter(r => r.task === t.id && r.method === m)
        .map(r => ({ agent: r.scores, baseline: t.baseline === null ? null : { [t.metric]: t.baseline } }))]))
    }))
  })
}

/** clients/aup's report of `input` (clients/aup/episodes.ts builds it from stored episodes) shaped for the plots. */
export function aupResult (input: AupInput): AupResult {
  const report = aupReport(input)
  const tau = tauGrid(report.tau_max, report.grid_points)
  const variant = (v: ReportVariant): PageVariant => {
    const res = report[v]
    const out: PageVariant = { scores: {}, ratios: {}, aup: res.aup, profile: {} }
    for (const tr of res.tasks) {
      out.scores[tr.task] = tr.scores
      out.ratios[tr.task] = Object.fromEntries(Object.entries(tr.ratios).map(([m, x]) => [m, x ?? Infinity]))
    }
    for (const m of report.methods) out.profile[m] = profile(res.tasks.map(tr => tr.log10_ratios[m] ?? Infinity), tau)
    return out
  }
  return {
    methods: report.methods,
    tasks: input.tasks.map(t => t.task),
    notes: report.best_attempt.tasks.flatMap(tr => tr.notes.map(note => ({ task: tr.task, note }))),
    tauMax: report.tau_max,
    tau,
    best: variant('best_attempt'),
    last: variant('best_submission')
  }
}
