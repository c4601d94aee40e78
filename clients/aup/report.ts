// The AUP report as markdown (for people), CSV (one tidy table) and JSON (env-spec/aup.ts). Every format names the
// compared methods: an AUP means nothing without them.
import { AUP_VARIANTS, validateAupReport, type AupReport, type AupVariant } from '../../env-spec/aup.js'

export const VARIANT_TITLE: Record<AupVariant, string> = { best_attempt: 'Best attempt', best_submission: 'Best submission' }

const fixed = (x: number | null | undefined, d: number): string => (x === null || x === undefined ? '–' : x.toFixed(d))

/** Methods by best-attempt AUP, best first (then best-submission AUP, then name). */
export function methodsByAup (r: AupReport): string[] {
  return [...r.methods].sort((a, b) =>
    r.best_attempt.aup[b]! - r.best_attempt.aup[a]! || r.best_submission.aup[b]! - r.best_submission.aup[a]! || (a < b ? -1 : 1))
}

function mdTable (head: string[], rows: string[][], right: (i: number) => boolean): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|')
  const rule = head.map((_, i) => (right(i) ? '---:' : '---'))
  return [head, rule, ...rows].map(cells => '| ' + cells.map(esc).join(' | ') + ' |').join('\n')
}

function largestCandidate (r: AupReport): string {
  let best: { t: string, v: AupVariant, c: number } | null = null
  for (const v of AUP_VARIANTS) {
    for (const t of r[v].tasks) if (t.tau_candidate !== null && (!best || t.tau_candidate > best.c)) best = { t: t.task, v, c: t.tau_candidate }
  }
  return best ? `largest T_p: ${best.c}, ${best.t}, ${VARIANT_TITLE[best.v].toLowerCase()}` : 'no task has a feasible method'
}

export function toMarkdown (r: AupReport): string {
  const out: string[] = []
  const taskInfo = new Map(r.tasks.map(t => [t.task, t]))
  out.push('# AUP: performance profiles (MLGym get_ranks.py)', '')
  out.push(`Compared methods (${r.methods.length}): ${r.methods.join(', ')}. AUP depends on this set: ratios are to the best score among them.`, '')
  out.push(`Tasks (${r.tasks.length}): ${r.tasks.map(t => `${t.task} (${t.metric}, ${t.direction === 'maximize' ? 'higher' : 'lower'} is better)`).join(', ')}.`, '')
  out.push(`tau_max = ${r.tau_max} (${largestCandidate(r)}), ${r.grid_points}-point grid, epsilon = ${r.epsilon}; the largest possible AUP is tau_max.`, '')
  out.push('## AUP', '')
  out.push(mdTable(['method', 'best attempt AUP', 'best submission AUP', 'mean rank (best attempt)', 'mean rank (best submission)'],
    methodsByAup(r).map(m => [m, fixed(r.best_attempt.aup[m], 3), fixed(r.best_submission.aup[m], 3),
      fixed(r.best_attempt.mean_rank[m], 2), fixed(r.best_submission.mean_rank[m], 2)]), i => i > 0), '')
  for (const v of AUP_VARIANTS) {
    const res = r[v]
    const methods = r.methods
    out.push(`## ${VARIANT_TITLE[v]}: scores`, '')
    out.push('Best over runs of each run\'s ' + (v === 'best_attempt' ? 'best score (validate or submit).' : 'last score (the submission).') +
      ' `*`: infeasible (missing, negative, or worse than the baseline).', '')
    out.push(mdTable(['task', ...methods], res.tasks.map(t => [t.task, ...methods.map(m =>
      t.scores[m] === null ? '–' : fixed(t.scores[m], 3) + (t.feasible.includes(m) ? '' : '*'))]), i => i > 0), '')
    out.push(`## ${VARIANT_TITLE[v]}: ranks`, '')
    out.push(mdTable(['task', ...methods], [
      ...res.tasks.map(t => [t.task, ...methods.map(m => String(t.ranks[m]))]),
      ['mean rank', ...methods.map(m => fixed(res.mean_rank[m], 2))],
      ['Borda', ...methods.map(m => String(res.borda[m]))]
    ], i => i > 0), '')
    out.push(`## ${VARIANT_TITLE[v]}: performance ratios`, '')
    out.push('∞: no method is feasible on the task. T_p = ceil(worst ratio × (1 + epsilon)).', '')
    out.push(mdTable(['task', 'T_p', ...methods], res.tasks.map(t => [
      `${t.task} (${taskInfo.get(t.task)!.direction === 'maximize' ? 'max' : 'min'})`, t.tau_candidate === null ? '–' : String(t.tau_candidate),
      ...methods.map(m => (t.ratios[m] === null ? '∞' : fixed(t.ratios[m], 4)))]), i => i > 0), '')
  }
  const notes = AUP_VARIANTS.flatMap(v => r[v].tasks.flatMap(t => t.notes.map(n => `${VARIANT_TITLE[v]}, ${t.task}: ${n}`)))
  if (notes.length) out.push('## Rules applied', '', ...notes.map(n => `- ${n}`), '')
  out.push('## Rules for the cases MLGym leaves undefined', '', ...r.rules.map(n => `- ${n}`), '')
  if (r.warnings.length) out.push('## Warnings', '', ...r.warnings.map(w => `- ${w}`), '')
  out.push(`Read from: ${r.sources.join(', ')}`)
  return out.join('\n') + '\n'
}

const CSV_COLUMNS = ['variant', 'task', 'metric', 'direction', 'method', 'score', 'feasible', 'ratio', 'log10_ratio', 'rank',
  'contribution', 'aup', 'mean_rank', 'borda'] as const

function csvCell (v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return ''
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : 'inf') : String(v)
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/**
 * One tidy table: a row per variant, task and method (score, feasible, ratio, log10 ratio, rank, contribution to
 * the AUP), then a row per variant and method with an empty task (AUP, mean rank, Borda). An infinite ratio is `inf`.
 */
export function toCsv (r: AupReport): string {
  const lines = [CSV_COLUMNS.join(',')]
  const taskInfo = new Map(r.tasks.map(t => [t.task, t]))
  for (const v of AUP_VARIANTS) {
    for (const t of r[v].tasks) {
      const info = taskInfo.get(t.task)!
      for (const m of r.methods) {
        const ratio = t.ratios[m] === null ? Infinity : t.ratios[m]
        const log = t.log10_ratios[m] === null ? Infinity : t.log10_ratios[m]
        lines.push([v, t.task, info.metric, info.direction, m, t.scores[m], t.feasible.includes(m), ratio, log, t.ranks[m],
          t.contributions[m], null, null, null].map(csvCell).join(','))
      }
    }
    for (const m of r.methods) {
      lines.push([v, null, null, null, m, null, null, null, null, null, null, r[v].aup[m], r[v].mean_rank[m], r[v].borda[m]].map(csvCell).join(','))
    }
  }
  return lines.join('\n') + '\n'
}

/** The report as env-spec/aup.ts defines it; checked against its schema before it is written. */
export function toJson (r: AupReport): string {
  return JSON.stringify(validateAupReport(r, 'report'), null, 2) + '\n'
}
