// What a run shows: a progress line on stderr while it runs (stage counts, kept, discarded, tokens, elapsed), and
// at the end the yield per stage and the reasons for discards, as a table and as OUT/report.json.
import { existsSync, readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import {
  STAGES, validateGenerationReport, type GenerationReport, type GenerationReportList, type Stage, type Tokens, type TopicList,
  type TopicOutcome
} from '../../env-spec/generation.js'

const idx = (s: Stage) => STAGES.indexOf(s)

/** How many topics reached each stage and how many got past it, from how each ended. */
export function stageYield (total: number, outcomes: TopicOutcome[]): GenerationReport['stages'] {
  // the smoke stage is a row only in runs that had smoke episodes
  const smoked = outcomes.some(o => o.timings?.smoke !== undefined)
  return STAGES.filter(s => s !== 'smoke' || smoked).map(stage => {
    if (stage === 'topics') return { stage, entered: total, passed: total }
    const i = idx(stage)
    const entered = outcomes.filter(o => o.status === 'accepted' || idx(o.stage) >= i).length
    const passed = outcomes.filter(o => o.status === 'accepted' || idx(o.stage) > i).length
    return { stage, entered, passed }
  })
}

export function buildReport (opts: { out: string, model: string, topics: TopicList, outcomes: TopicOutcome[], startedAt: Date, seconds: number }): GenerationReport {
  const { outcomes } = opts
  const kept = outcomes.filter(o => o.status === 'accepted')
  const groups = new Map<string, { stage: string, code: string, count: number, example: string }>()
  for (const o of outcomes) {
    if (o.status === 'accepted' || !o.rejection) continue
    const key = `${o.stage}\0${o.rejection.code}`
    const g = groups.get(key) ?? { stage: o.stage, code: o.rejection.code, count: 0, example: o.rejection.message }
    g.count++
    groups.set(key, g)
  }
  const tokens: Tokens = { prompt: 0, completion: 0 }
  for (const o of outcomes) { tokens.prompt += o.tokens.prompt; tokens.completion += o.tokens.completion }
  return {
    out: opts.out,
    model: opts.model,
    seed: opts.topics.seed,
    started_at: opts.startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    seconds: opts.seconds,
    topics: opts.topics.topics.length,
    stages: stageYield(opts.topics.topics.length, outcomes),
    kept: kept.length,
    discarded: outcomes.filter(o => o.status === 'discarded').length,
    errors: outcomes.filter(o => o.status === 'error').length,
    reasons: [...groups.values()].sort((a, b) => b.count - a.count || a.stage.localeCompare(b.stage) || a.code.localeCompare(b.code)),
    tokens: { ...tokens, per_kept_task: kept.length ? Math.round((tokens.prompt + tokens.completion) / kept.length) : null },
    tasks: kept.map(o => ({ task_id: o.task_id!, micro_task_id: o.micro_task_id!, topic: o.topic, rounds: o.rounds }))
  }
}

const pct = (a: number, b: number) => b ? `${Math.round(100 * a / b)}%` : '-'
const pad = (s: string | number, n: number, right = false) => right ? String(s).padStart(n) : String(s).padEnd(n)
const clip = (s: string, n: number) => { const one = s.replace(/\s+/g, ' '); return one.length > n ? one.slice(0, n - 1) + '…' : one }

/** The end-of-run table: yield per stage, then the discard reasons. */
export function reportTable (r: GenerationReport): string {
  const lines = [`${pad('stage', 16)}${pad('entered', 8, true)}${pad('passed', 8, true)}${pad('yield', 7, true)}`]
  for (const s of r.stages) lines.push(`${pad(s.stage, 16)}${pad(s.entered, 8, true)}${pad(s.passed, 8, true)}${pad(pct(s.passed, s.entered), 7, true)}`)
  const total = r.tokens.prompt + r.tokens.completion
  lines.push('', `kept ${r.kept} of ${r.topics} topics (${pct(r.kept, r.topics)}), discarded ${r.discarded}, errors ${r.errors}; ` +
    `tokens ${total} (${r.tokens.per_kept_task ?? '-'} per kept task); ${r.seconds.toFixed(1)} s`)
  if (r.reasons.length) {
    lines.push('', `${pad('count', 6, true)}  ${pad('stage', 16)}${pad('reason', 30)}example`)
    for (const g of r.reasons) lines.push(`${pad(g.count, 6, true)}  ${pad(g.stage, 16)}${pad(clip(g.code, 29), 30)}${clip(g.example, 100)}`)
  }
  return lines.join('\n')
}

/** The live counters behind the progress line. */
export class Progress {
  readonly passed = new Map<Stage, number>()
  kept = 0
  discarded = 0
  errors = 0
  private last = 0
  private readonly started = performance.now()

  constructor (readonly total: number, private tokens: () => number, private write: (line: string) => void, private everyMs: number) {}

  pass (stage: Stage): void { this.passed.set(stage, (this.passed.get(stage) ?? 0) + 1); this.show() }

  /** A topic an earlier run of this folder finished: the stages it passed count too. */
  resumed (o: TopicOutcome): void {
    for (const s of STAGES) {
      if (s === 'topics' || !(o.status === 'accepted' || idx(s) < idx(o.stage))) continue
      // smoke episodes are optional: a topic kept by a run without them never passed that stage
      if (s === 'smoke' && o.timings.smoke === undefined) continue
      this.passed.set(s, (this.passed.get(s) ?? 0) + 1)
    }
    this.end(o)
  }
  end (o: TopicOutcome): void {
    if (o.status === 'accepted') this.kept++
    else if (o.status === 'discarded') this.discarded++
    else this.errors++
    this.show(true)
  }

  line (): string {
    const n = (s: Stage) => this.passed.get(s) ?? 0
    const done = this.kept + this.discarded + this.errors
    const secs = (performance.now() - this.started) / 1000
    return `[${Math.floor(secs / 60)}:${String(Math.floor(secs % 60)).padStart(2, '0')}] topics ${done}/${this.total} done · proposed ${n('proposal')} · verified ${n('verification')} · ` +
      `materialised ${n('materialisation')} · coded ${n('codegen')} · checked ${n('checks')}${n('smoke') ? ` · smoked ${n('smoke')}` : ''} · kept ${this.kept} · discarded ${this.discarded}` +
      `${this.errors ? ` · errors ${this.errors}` : ''} · tokens ${this.tokens()}`
  }

  show (force = false): void {
    const now = performance.now()
    if (!force && now - this.last < this.everyMs) return
    this.last = now
    this.write(this.line())
  }
}

/**
 * The reports of the runs that made these generated tasks: a kept task lives in OUT/tasks/<id>, its run's report
 * in OUT/report.json (written when the run ends). Newest run first.
 */
export function runReports (taskRoots: string[]): GenerationReportList {
  const outs = new Set<string>()
  for (const root of taskRoots) {
    const tasks = dirname(root)
    if (basename(tasks) === 'tasks' && existsSync(join(dirname(tasks), 'run.json'))) outs.add(dirname(tasks))
  }
  const list: GenerationReportList = { reports: [], errors: [] }
  for (const out of [...outs].sort()) {
    const file = join(out, 'report.json')
    if (!existsSync(file)) {
      list.errors.push({ file, reason: 'no report yet: the run is still going, or it was stopped (synthgym generate --resume finishes it)' })
      continue
    }
    try {
      list.reports.push({ out, report: validateGenerationReport(JSON.parse(readFileSync(file, 'utf8')), 'report') })
    } catch (e) {
      list.errors.push({ file, reason: (e as Error).message })
    }
  }
  list.reports.sort((a, b) => b.report.finished_at.localeCompare(a.report.finished_at))
  return list
}
