// The report of `synthgym aup` (`--format json`, and report.json under --out): MLGym's performance profiles and AUP
// (scripts/evaluation/get_ranks.py) over a set of compared methods. AUP is relative to that set, so it is part of
// the report. Numbers are unrounded; JSON has no infinity, so an infinite ratio (a task no method is feasible on)
// is null.
import { compile } from './validate.js'

export type AupVariant = 'best_attempt' | 'best_submission'
export const AUP_VARIANTS: AupVariant[] = ['best_attempt', 'best_submission']

/** One task in one variant: every compared method's score, ratio and rank. */
export interface AupTaskResult {
  task: string
  /** best over runs of each run's best attempt (or of its last score); null: no usable run */
  scores: Record<string, number | null>
  /** methods whose score is >= 0 and no worse than the baseline, with a finite ratio */
  feasible: string[]
  /** performance ratio (>= 1; infeasible: worst_ratio * (1 + epsilon)); null: infinite (no feasible method) */
  ratios: Record<string, number | null>
  log10_ratios: Record<string, number | null>
  /** 1 = best; methods without a score after those with one */
  ranks: Record<string, number>
  /** ceil(worst_ratio * (1 + epsilon)), this task's candidate for tau_max; null when no method is feasible */
  tau_candidate: number | null
  /** the area this task adds to each method's AUP */
  contributions: Record<string, number>
  /** the stated rules that applied on this task */
  notes: string[]
}

export interface AupVariantResult {
  aup: Record<string, number>
  /** MLGym's "Plackett-Luce" row: the mean rank over tasks */
  mean_rank: Record<string, number>
  /** MLGym's "BORDA" row: the sum over tasks of (number of methods - rank + 1) */
  borda: Record<string, number>
  tasks: AupTaskResult[]
}

export interface AupTaskInfo {
  task: string
  metric: string
  direction: 'maximize' | 'minimize'
  /** the baseline's score (the first results.json that has it); null: none had it */
  baseline: number | null
  /** per model: run directories found, and how many gave a score */
  runs: Record<string, { found: number, scored: number }>
}

export interface AupReport {
  /** the compared methods: the models, then "baseline" */
  methods: string[]
  tasks: AupTaskInfo[]
  epsilon: number
  grid_points: number
  tau_max: number
  best_attempt: AupVariantResult
  best_submission: AupVariantResult
  /** how the cases MLGym's code leaves undefined are decided */
  rules: string[]
  warnings: string[]
  /** the directories read */
  sources: string[]
}

const numberMap = { type: 'object', additionalProperties: { type: 'number' } }
const nullableNumberMap = { type: 'object', additionalProperties: { type: ['number', 'null'] } }
const strings = { type: 'array', items: { type: 'string' } }

const taskResultSchema = {
  type: 'object', additionalProperties: false,
  required: ['task', 'scores', 'feasible', 'ratios', 'log10_ratios', 'ranks', 'tau_candidate', 'contributions', 'notes'],
  properties: {
    task: { type: 'string' },
    scores: nullableNumberMap,
    feasible: strings,
    ratios: { type: 'object', additionalProperties: { anyOf: [{ type: 'null' }, { type: 'number', minimum: 1 }] } },
    log10_ratios: nullableNumberMap,
    ranks: { type: 'object', additionalProperties: { type: 'integer', minimum: 1 } },
    tau_candidate: { type: ['integer', 'null'], minimum: 1 },
    contributions: numberMap,
    notes: strings
  }
}

const variantSchema = {
  type: 'object', additionalProperties: false, required: ['aup', 'mean_rank', 'borda', 'tasks'],
  properties: { aup: numberMap, mean_rank: numberMap, borda: numberMap, tasks: { type: 'array', items: taskResultSchema } }
}

export const aupReportSchema = {
  type: 'object', additionalProperties: false,
  required: ['methods', 'tasks', 'epsilon', 'grid_points', 'tau_max', 'best_attempt', 'best_submission', 'rules', 'warnings', 'sources'],
  properties: {
    methods: { type: 'array', items: { type: 'string' }, minItems: 1 },
    tasks: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['task', 'metric', 'direction', 'baseline', 'runs'],
        properties: {
          task: { type: 'string' }, metric: { type: 'string' }, direction: { enum: ['maximize', 'minimize'] },
          baseline: { type: ['number', 'null'] },
          runs: {
            type: 'object',
            additionalProperties: {
              type: 'object', additionalProperties: false, required: ['found', 'scored'],
              properties: { found: { type: 'integer', minimum: 0 }, scored: { type: 'integer', minimum: 0 } }
            }
          }
        }
      }
    },
    epsilon: { type: 'number' },
    grid_points: { type: 'integer', minimum: 2 },
    tau_max: { type: 'number', minimum: 0 },
    best_attempt: variantSchema,
    best_submission: variantSchema,
    rules: strings,
    warnings: strings,
    sources: strings
  }
}

export const validateAupReport = compile<AupReport>(aupReportSchema)
