// AUP as MLGym's get_ranks.py computes it: hand-computed cases (maximized and minimized metrics, infeasible and
// missing methods), the stated rules for what MLGym leaves undefined, the reference's Blotto and 3-SAT test vectors
// (mlgym.md §4.4), and `synthgym aup` end to end on a temp dir of run directories (md, csv and json parse, the SVG
// is well-formed, the PNG is Chromium's rendering of it). With MLGYM_TRAJECTORIES set to a checkout's
// trajectories/mlgym_bench_v0, the 26 published AUPs too.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Test } from 'tap'
import { tempDir } from './helpers.js'
import {
  bestAttemptIndex, computeAup, modelScores, performanceRatios, tauGrid, tauMax, type AupTaskInput
} from '../clients/aup/aup.js'
import { aupReport } from '../clients/aup/aup-command.js'
import { modelFor } from '../clients/aup/read.js'
import { chromiumPath } from '../clients/aup/plot.js'
import { formatRunDirName, parseRunDirName } from '../env-spec/run-dir.js'
import { validateAupReport } from '../env-spec/aup.js'
import type { RunResults } from '../clients/run-dirs.js'

const ROOT = resolve(new URL('..', import.meta.url).pathname)

const run = (task: string, scores: number[], baseline: number | null): RunResults => ({
  agent: scores.map(v => ({ [task]: v })),
  baseline: baseline === null ? null : { [task]: baseline }
})
const near = (t: Test, got: number | null | undefined, want: number, eps: number, what: string) =>
  t.ok(got !== null && got !== undefined && Math.abs(got - want) <= eps, `${what}: ${got} ≈ ${want} (±${eps})`)

t.test('best attempt: the first strictly best entry that has the metric', async t => {
  const agent = [{ a: 1 }, { b: 9 }, { a: 3 }, { a: 3 }, { a: 2 }]
  t.equal(bestAttemptIndex(agent, 'a', 'maximize'), 2, 'the first of two equal bests')
  t.equal(bestAttemptIndex(agent, 'a', 'minimize'), 0)
  t.equal(bestAttemptIndex(agent, 'c', 'maximize'), -1, 'no entry has the metric')
  t.same(modelScores([run('a', [1, 5, 2], null), run('a', [4], null), null, { agent: [], baseline: null }], { name: 'a', direction: 'maximize' }),
    { best_attempt: 5, best_submission: 4 }, 'best over runs: of the best attempts 5, of the last scores 4; empty and missing runs give none')
  t.same(modelScores([{ agent: [{ a: 3 }, { b: 1 }], baseline: null }], { name: 'a', direction: 'minimize' }),
    { best_attempt: 3, best_submission: null }, 'a last entry without the metric gives no best-submission score')
})

// Two tasks, models A and B and the baseline.
//   acc (maximize), baseline 0.5: A runs [0.6, 0.8, 0.7] and [0.75] → best attempt 0.8, best submission max(0.7, 0.75) = 0.75;
//     B [0.4] → 0.4, below the baseline: infeasible.
//     best attempt: feasible {A 0.8, baseline 0.5}: A 1, baseline 0.8/0.5 = 1.6, B 1.6·1.05 = 1.68, T = ceil(1.68) = 2
//     best submission: A 1, baseline 0.75/0.5 = 1.5, B 1.575, T = 2
//   loss (minimize), baseline 2.0: A [1.5, 1.0, 1.2] → 1.0 / last 1.2; B [0.5, 0.8] → 0.5 / 0.8 and a run without results.json
//     best attempt: best 0.5: B 1, A 1.0/0.5 = 2, baseline 4, T = ceil(4·1.05) = 5
//     best submission: best 0.8: B 1, A 1.5, baseline 2.5, T = ceil(2.625) = 3
// tau_max = ceil(10·log10 5)/10 = ceil(6.99)/10 = 0.7; step = 0.7/499. A task adds (1/2)·step per grid point i ≤ 498 with
// tau_i ≥ log10 r, i.e. (499 − ceil(log10 r / step))·0.7/998 (log10 1 = 0: all 499 points, 0.35):
//   log10 2 = 0.30103 → /step = 214.59 → 284 points;   log10 1.68 = 0.22531 → 160.61 → 338;   log10 1.6 = 0.20412 → 145.51 → 353
//   log10 4 = 0.60206 → 429.18 → 69;   log10 1.5 = 0.17609 → 125.53 → 373;   log10 1.575 = 0.19728 → 140.63 → 358;
//   log10 2.5 = 0.39794 → 283.67 → 215
// best attempt:    A (499 + 284)·0.7/998 = 0.549198, B (338 + 499)·0.7/998 = 0.587074, baseline (353 + 69)·0.7/998 = 0.295992
// best submission: A (499 + 373)·0.7/998 = 0.611623, B (358 + 499)·0.7/998 = 0.601102, baseline (373 + 215)·0.7/998 = 0.412425
const HAND: AupTaskInput[] = [
  { task: 'acc', metric: { name: 'acc', direction: 'maximize' }, runs: { A: [run('acc', [0.6, 0.8, 0.7], 0.5), run('acc', [0.75], 0.5)], B: [run('acc', [0.4], 0.5)] } },
  { task: 'loss', metric: { name: 'loss', direction: 'minimize' }, runs: { A: [run('loss', [1.5, 1.0, 1.2], 2)], B: [run('loss', [0.5, 0.8], 2), null] } }
]
const HAND_AUP = {
  best_attempt: { A: 783 * 0.7 / 998, B: 837 * 0.7 / 998, baseline: 422 * 0.7 / 998 },
  best_submission: { A: 872 * 0.7 / 998, B: 857 * 0.7 / 998, baseline: 588 * 0.7 / 998 }
}

t.test('a constructed case with known answers: maximized and minimized tasks, an infeasible method', async t => {
  const r = computeAup({ models: ['A', 'B'], tasks: HAND })
  t.same(r.methods, ['A', 'B', 'baseline'], 'the compared methods: the models, then the baseline')
  t.equal(r.tau_max, 0.7)
  const [acc, loss] = r.best_attempt.tasks
  t.same(acc!.scores, { A: 0.8, B: 0.4, baseline: 0.5 })
  t.same(acc!.feasible, ['A', 'baseline'])
  t.equal(acc!.ratios.A, 1)
  near(t, acc!.ratios.baseline, 1.6, 1e-12, 'acc baseline ratio')
  near(t, acc!.ratios.B, 1.68, 1e-12, 'acc B (infeasible) ratio')
  t.equal(acc!.tau_candidate, 2)
  t.same(loss!.scores, { A: 1.0, B: 0.5, baseline: 2 })
  t.same(loss!.ratios, { A: 2, B: 1, baseline: 4 })
  t.equal(loss!.tau_candidate, 5)
  t.same(acc!.ranks, { A: 1, baseline: 2, B: 3 })
  t.same(loss!.ranks, { B: 1, A: 2, baseline: 3 }, 'lower is better on loss')
  const [accLast, lossLast] = r.best_submission.tasks
  t.same(accLast!.scores, { A: 0.75, B: 0.4, baseline: 0.5 })
  near(t, accLast!.ratios.B, 1.575, 1e-12, 'acc B last ratio')
  t.same(lossLast!.scores, { A: 1.2, B: 0.8, baseline: 2 })
  t.equal(lossLast!.tau_candidate, 3)
  for (const v of ['best_attempt', 'best_submission'] as const) {
    for (const [m, want] of Object.entries(HAND_AUP[v])) near(t, r[v].aup[m], want, 1e-12, `${v} AUP of ${m}`)
    for (const m of r.methods) {
      const sum = r[v].tasks.reduce((a, x) => a + x.contributions[m]!, 0)
      near(t, sum, r[v].aup[m]!, 1e-12, `${v}: the contributions of ${m} add up to its AUP`)
    }
  }
  t.same(r.tasks.find(x => x.task === 'loss')!.runs.B, { found: 2, scored: 1 }, 'the run without results.json is found, not scored')
  t.same(r.best_attempt.mean_rank, { A: 1.5, B: 2, baseline: 2.5 })
  t.same(r.best_attempt.borda, { A: 3 + 2, B: 1 + 3, baseline: 2 + 1 })
})

t.test('the grid and tau_max are numpy\'s linspace and round_up_to_one_decimal', async t => {
  const g = tauGrid(1.5)
  t.equal(g.length, 500)
  t.equal(g[0], 0)
  t.equal(g[499], 1.5)
  t.equal(g[1], 1.5 / 499)
  t.equal(tauMax([2, 27, null, 14]), 1.5, 'ceil(14.31)/10')
  t.equal(tauMax([2, 2]), 0.4, 'ceil(3.0103)/10')
  t.equal(tauMax([10]), 1, 'log10 10 = 1 exactly')
  t.equal(tauMax([null]), 0, 'no candidate')
})

t.test('stated rules: no feasible method, zero scores', async t => {
  // every score negative: MLGym computes NaN and fails in ceil; here all ratios are infinite and no candidate
  const none = performanceRatios({ A: -0.2, B: -0.7, baseline: -0.5 }, ['A', 'B', 'baseline'], -0.5, 'maximize')
  t.same(none.feasible, [])
  t.same(none.ratios, { A: Infinity, B: Infinity, baseline: Infinity })
  t.equal(none.tauCandidate, null)
  // maximize, baseline -1 (itself infeasible: negative); A scores 0 beside B's 0.5: 0.5/0 is infinite → A infeasible,
  // worst_ratio over the finite ratios is 1 (B alone), so A and the baseline get 1·1.05
  const zero = performanceRatios({ A: 0, B: 0.5, baseline: -1 }, ['A', 'B', 'baseline'], -1, 'maximize')
  t.same(zero.feasible, ['B'])
  t.same(zero.ratios, { A: 1.05, B: 1, baseline: 1.05 })
  t.equal(zero.tauCandidate, 2)
  t.match(zero.notes.join(' '), /A would divide by zero/)
  // all feasible scores 0 (maximize, baseline 0): 0/0 is 1 for both; B (missing) gets 1·1.05
  const allZero = performanceRatios({ A: 0, B: null, baseline: 0 }, ['A', 'B', 'baseline'], 0, 'maximize')
  t.same(allZero.ratios, { A: 1, B: 1.05, baseline: 1 })
  // minimize with a zero best: A 0 → 1; B 1 and the baseline 2 divide by zero → infeasible, 1·1.05
  const minZero = performanceRatios({ A: 0, B: 1, baseline: 2 }, ['A', 'B', 'baseline'], 2, 'minimize')
  t.same(minZero.ratios, { A: 1, B: 1.05, baseline: 1.05 })
  t.same(minZero.feasible, ['A'])
  // no baseline: feasibility is only "score >= 0"
  const noBase = performanceRatios({ A: 0.1, B: 0.4, baseline: null }, ['A', 'B', 'baseline'], null, 'maximize')
  t.same(noBase.feasible, ['A', 'B'])
  t.same(noBase.ratios, { A: 4, B: 1, baseline: 4 * 1.05 })
  // a whole report where no task has a feasible method: tau_max 0, every AUP 0, the task still counts
  const r = computeAup({ models: ['A'], tasks: [{ task: 'x', metric: { name: 'x', direction: 'maximize' }, runs: { A: [run('x', [-1], -2)] } }] })
  t.equal(r.tau_max, 0)
  t.same(r.best_attempt.aup, { A: 0, baseline: 0 })
  t.same(r.best_attempt.tasks[0]!.ratios, { A: null, baseline: null }, 'infinite ratios are null in JSON')
  t.doesNotThrow(() => validateAupReport({ ...r, sources: [] }))
  t.throws(() => computeAup({ models: ['baseline'], tasks: [] }), /may not be called "baseline"/)
})

// mlgym.md §4.4, best attempt over MLGym's published runs (values as the reference gives them, rounded there)
const MODELS = ['claude-35-sonnet-new', 'gemini-20-flash-thinking', 'gemini-15-pro', 'gpt-o1', 'claude-37-sonnet', 'gemini-25-pro',
  'gpt4o2', 'llama3-405b-tools', 'llama4-17b-128', 'deepseek-r1', 'llama4-17b-16', 'gpt-o3-mini']
const BLOTTO: Record<string, number> = {
  'claude-35-sonnet-new': 0.5756, 'gemini-20-flash-thinking': 0.2498, 'gemini-15-pro': 0.249, 'gpt-o1': 0.2481,
  'claude-37-sonnet': 0.2458, 'gemini-25-pro': 0.176, gpt4o2: 0.0469, 'llama3-405b-tools': 0.043, 'llama4-17b-128': 0.0373,
  'deepseek-r1': 0.0245, 'llama4-17b-16': 0.0227, 'gpt-o3-mini': -0.2443
}

t.test('the reference\'s Blotto and 3-SAT test vectors', async t => {
  const tasks: AupTaskInput[] = [
    { task: 'blotto', metric: { name: 'Score', direction: 'maximize' }, runs: Object.fromEntries(MODELS.map(m => [m, [run('Score', [BLOTTO[m]!], -0.248)]])) },
    // 3-SAT: only these three scores are given; the other models have no run there (infeasible, which keeps T = 2)
    {
      task: '3SATTime',
      metric: { name: 'Time', direction: 'minimize' },
      runs: { 'llama4-17b-16': [run('Time', [12.5, 11.894], 16.158)], 'gpt-o1': [run('Time', [13.652], 16.158)] }
    },
    // eleven more tasks, so that there are 13 as in MLGym (every model ties the baseline: ratio 1, T = 2)
    ...Array.from({ length: 11 }, (_, i): AupTaskInput => ({
      task: `filler${i}`, metric: { name: 'Score', direction: 'maximize' }, runs: Object.fromEntries(MODELS.map(m => [m, [run('Score', [1], 1)]]))
    }))
  ]
  const r = computeAup({ models: MODELS, tasks })
  const blotto = r.best_attempt.tasks.find(x => x.task === 'blotto')!
  t.equal(blotto.tau_candidate, 27, 'T = 27')
  t.equal(r.tau_max, 1.5, 'tau_max = ceil(14.31)/10')
  t.notOk(blotto.feasible.includes('baseline'), 'the negative baseline is itself infeasible')
  t.equal(blotto.ratios['claude-35-sonnet-new'], 1)
  // the reference's scores are rounded to 4 digits, so are the ratios they give: compared to their last digit
  near(t, blotto.ratios['gpt-o1'], 2.3201, 2e-4, 'gpt-o1')
  near(t, blotto.ratios['gemini-25-pro'], 3.271, 1e-3, 'gemini-25-pro')
  // 0.0227 stands for 0.02275 (±0.2 %), so the worst ratio is known to about 0.06
  near(t, blotto.ratios['llama4-17b-16'], 25.2998, 0.06, 'llama4-17b-16, the worst feasible')
  t.equal(blotto.ratios.baseline, blotto.ratios['llama4-17b-16']! * 1.05, 'baseline = worst_ratio·1.05')
  t.equal(blotto.ratios['gpt-o3-mini'], blotto.ratios.baseline, 'o3-mini (negative) = baseline')
  near(t, blotto.ratios.baseline, 26.5648, 0.06, 'baseline')
  near(t, blotto.log10_ratios['gpt-o1'], 0.36551, 5e-5, 'log10 ratio of gpt-o1')
  t.equal(Math.round(blotto.contributions['gpt-o1']! * 1e5) / 1e5, 0.08717, 'gpt-o1\'s Blotto contribution to its AUP')
  t.equal(Math.round(blotto.contributions['claude-35-sonnet-new']! * 1e5) / 1e5, 0.11538, 'claude-35: the full 1.5/13')
  const sat = r.best_attempt.tasks.find(x => x.task === '3SATTime')!
  t.equal(sat.ratios['llama4-17b-16'], 1, 'llama4-16 has the best (lowest) time')
  t.equal(Math.round(sat.ratios.baseline! * 1e4) / 1e4, 1.3585)
  t.equal(Math.round(sat.ratios['gpt-o1']! * 1e4) / 1e4, 1.1478)
  t.equal(sat.tau_candidate, 2)
})

t.test('run directory names: MLGym\'s run_name, parsed and written', async t => {
  const name = 'metagen-gpt4o2__blotto__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run_3'
  const p = parseRunDirName(name)
  t.same(p, { model: 'metagen-gpt4o2', task: 'blotto', config: 'default', temperature: 0, top_p: 0.95, cost_limit: 4, install: 0, suffix: 'parallel_agents', run: 3 })
  t.equal(formatRunDirName(p!), name)
  t.equal(parseRunDirName('litellm-Qwen3-8B__3SATTime__default__t-0.70__p-0.80__c-0.00__install-0_run_0')?.model, 'litellm-Qwen3-8B')
  t.equal(parseRunDirName('not_a_run'), null)
  t.equal(modelFor('metagen-gpt4o2', ['gpt4o2', 'gpt-o1']), 'gpt4o2', 'a suffix after "-", as MLGym\'s glob')
  t.equal(modelFor('metagen-llama4-17b-128', ['llama4-17b-16']), null)
  t.equal(modelFor('x-gpt-o1', ['o1', 'gpt-o1']), 'gpt-o1', 'the longest match')
})

/** The HAND case as MLGym run directories: A is `metagen-A` (picked by --models A), B plain; extras that must not count. */
function writeHandRuns (root: string): void {
  const write = (model: string, task: string, idx: number, agent: unknown[] | null, baseline: number | null, raw?: string) => {
    const dir = join(root, 'user', formatRunDirName({ model, task, config: 'default', temperature: 0, top_p: 0.95, cost_limit: 4, install: 0, suffix: null, run: idx }))
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `${task}.traj`), JSON.stringify({ environment: 'mlgym_main', trajectory: [], history: [], info: {} }))
    if (raw !== undefined) writeFileSync(join(dir, 'results.json'), raw)
    else if (agent) writeFileSync(join(dir, 'results.json'), JSON.stringify({ agent, baseline: baseline === null ? null : { [task]: baseline } }))
  }
  for (const h of HAND) {
    for (const [m, runs] of Object.entries(h.runs)) {
      runs.forEach((r, i) => write(m === 'A' ? 'metagen-A' : m, h.task, i, r?.agent ?? null, r?.baseline?.[h.task] ?? null))
    }
  }
  // Python's json.dump writes NaN: read, the NaN is not a score (A's best on acc stays 0.8)
  write('metagen-A', 'acc', 2, null, null, '{"agent": [{"acc": NaN}, {"acc": 0.1}], "baseline": {"acc": 0.5}}')
  // a model not in --models
  write('C', 'acc', 0, [{ acc: 0.99 }], 0.5)
}

function cli (...args: string[]): { code: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 })
  if (r.error) throw r.error
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** RFC 4180 rows. */
function parseCsv (text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++ } else if (ch === '"') quoted = false
      else cell += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') { row.push(cell); cell = '' } else if (ch === '\n') { row.push(cell); rows.push(row); row = []; cell = '' } else cell += ch
  }
  if (cell || row.length) { row.push(cell); rows.push(row) }
  return rows
}

/** Well-formed XML: one root, every tag closed in order, attributes quoted. Throws what is wrong. */
function checkXml (xml: string): string {
  const stack: string[] = []
  let root = ''
  const body = xml.replace(/^<\?xml[^>]*\?>/, '')
  const re = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|([<>])/g
  let m: RegExpExecArray | null
  while ((m = re.exec(body))) {
    if (m[5]) throw new Error(`stray ${m[5]} at ${m.index}: ${body.slice(m.index, m.index + 40)}`)
    const [, close, name, , self] = m
    if (!root) root = name!
    else if (stack.length === 0) throw new Error(`a second root <${name}>`)
    if (close) { if (stack.pop() !== name) throw new Error(`</${name}> closes nothing open`) } else if (!self) stack.push(name!)
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`)
  if (/&(?!amp;|lt;|gt;|quot;|#\d+;)/.test(body)) throw new Error('a bare &')
  return root
}

t.test('synthgym aup end to end: run directories in, md, csv, json, svg and png out', async t => {
  const root = tempDir(t, 'sg-aup-')
  writeHandRuns(root)
  const out = join(root, 'report')
  const metrics = ['--metric', 'acc=acc:maximize', '--metric', 'loss=loss:minimize']
  const json = cli('aup', root, '--models', 'A,B', ...metrics, '--format', 'json', '--out', out)
  t.equal(json.code, 0, json.stderr)
  const report = validateAupReport(JSON.parse(json.stdout))
  t.same(report.methods, ['A', 'B', 'baseline'], 'the compared methods are listed; C (not asked for) is not among them')
  for (const v of ['best_attempt', 'best_submission'] as const) {
    for (const [m, want] of Object.entries(HAND_AUP[v])) near(t, report[v].aup[m], want, 1e-12, `${v} AUP of ${m} read from the directories`)
  }
  t.same(report.tasks.find(x => x.task === 'acc')!.runs.A, { found: 3, scored: 3 }, 'the run with a NaN is read (its 0.1 is a score, below the others)')
  t.match(report.warnings.join('\n'), /loss__default.*_run_1: no results\.json/, 'the run without results.json is named')
  t.same(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')), report, '--out has the same JSON')

  const md = readFileSync(join(out, 'report.md'), 'utf8')
  t.match(md, /Compared methods \(3\): A, B, baseline\./)
  const aupRows = md.split('\n').filter(l => /^\| (A|B|baseline) \|/.test(l))
  t.equal(aupRows[0], `| B | ${HAND_AUP.best_attempt.B.toFixed(3)} | ${HAND_AUP.best_submission.B.toFixed(3)} | 2.00 | 2.00 |`, 'the AUP table, best first')
  t.match(md, /## Rules for the cases MLGym leaves undefined/)

  const csv = parseCsv(readFileSync(join(out, 'report.csv'), 'utf8'))
  const head = csv[0]!
  t.same(head, ['variant', 'task', 'metric', 'direction', 'method', 'score', 'feasible', 'ratio', 'log10_ratio', 'rank', 'contribution', 'aup', 'mean_rank', 'borda'])
  t.ok(csv.slice(1).every(r => r.length === head.length), 'every row has every column')
  const col = (r: string[], c: string) => r[head.indexOf(c)]!
  const accB = csv.find(r => col(r, 'variant') === 'best_attempt' && col(r, 'task') === 'acc' && col(r, 'method') === 'B')!
  t.same([col(accB, 'score'), col(accB, 'feasible'), col(accB, 'rank')], ['0.4', 'false', '3'])
  near(t, Number(col(accB, 'ratio')), 1.68, 1e-12, 'csv ratio')
  const aupA = csv.find(r => col(r, 'variant') === 'best_submission' && col(r, 'task') === '' && col(r, 'method') === 'A')!
  near(t, Number(col(aupA, 'aup')), HAND_AUP.best_submission.A, 1e-12, 'csv AUP row')
  t.equal(csv.length, 1 + 2 * (2 * 3 + 3), 'a row per variant, task and method, and per variant and method')

  const csvOut = cli('aup', root, '--models', 'A,B', ...metrics, '--format', 'csv')
  t.equal(csvOut.stdout, readFileSync(join(out, 'report.csv'), 'utf8'), '--format csv prints the same table')
  const out2 = join(root, 'report2')
  const mdOut = cli('aup', root, '--models', 'A,B', ...metrics, '--out', out2, '--no-png')
  t.equal(mdOut.stdout, md, 'markdown is the default')
  t.match(mdOut.stderr, /PNG skipped: --no-png/)
  t.notOk(existsSync(join(out2, 'performance_profile.png')), '--no-png: no PNG')
  t.equal(readFileSync(join(out2, 'performance_profile.svg'), 'utf8'), readFileSync(join(out, 'performance_profile.svg'), 'utf8'), 'the same SVG')

  const svg = readFileSync(join(out, 'performance_profile.svg'), 'utf8')
  t.equal(checkXml(svg), 'svg', 'the SVG is well-formed XML with an <svg> root')
  t.equal((svg.match(/class="profile"/g) ?? []).length, 2 * 3, 'one step line per method in each of the two panels')
  for (const m of ['A', 'B', 'baseline']) t.match(svg, new RegExp(`>${m} \\(\\d\\.\\d{3} / \\d\\.\\d{3}\\)<`), `legend entry of ${m}`)
  const png = join(out, 'performance_profile.png')
  if (existsSync(chromiumPath())) {
    t.ok(existsSync(png), 'Chromium is here: the PNG was rendered')
    const buf = readFileSync(png)
    t.same([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature')
    const w = Number(/width="(\d+)"/.exec(svg)![1])
    const h = Number(/height="(\d+)"/.exec(svg)![1])
    t.same([buf.readUInt32BE(16), buf.readUInt32BE(20)], [2 * w, 2 * h], 'twice the SVG\'s size (device scale 2)')
  } else {
    t.notOk(existsSync(png), 'no Chromium: no PNG')
    t.match(json.stderr, /PNG skipped: no Chromium at/, 'and the command says why')
  }
})

t.test('synthgym aup: errors name what is wrong and how to fix it', async t => {
  const root = tempDir(t, 'sg-aup-err-')
  writeHandRuns(root)
  const unknown = cli('aup', root, '--models', 'A,Z')
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /no run directory of Z under .* \(models found: B, C, metagen-A\)/)
  const empty = tempDir(t, 'sg-aup-empty-')
  const none = cli('aup', empty)
  t.equal(none.code, 1)
  t.match(none.stderr, /no MLGym run directory in it/)
  const bad = cli('aup', root, '--format', 'xml')
  t.equal(bad.code, 1)
  t.match(bad.stderr, /--format xml: use md, csv or json/)
  const help = cli('aup', '--help')
  t.equal(help.code, 0)
  t.match(help.stdout, /usage: synthgym aup DIR\.\.\./)
  t.match(cli('--help').stdout, /synthgym aup DIR\.\.\./, 'synthgym --help lists it')
})

t.test('a task MLGym\'s table does not have needs --metric', async t => {
  const root = tempDir(t, 'sg-aup-metric-')
  const dir = join(root, 'm__myTask__default__t-0.00__p-0.95__c-4.00__install-0_run_0')
  mkdirSync(dir)
  writeFileSync(join(dir, 'results.json'), JSON.stringify({ agent: [{ err: 0.2 }], baseline: { err: 0.4 } }))
  const r = cli('aup', root)
  t.equal(r.code, 1)
  t.match(r.stderr, /no priority metric is known for myTask .*--metric myTask=METRIC:maximize\|minimize/)
  const rep = aupReport([root], { metrics: ['myTask=err:min'] })
  t.same(rep.best_attempt.tasks[0]!.ratios, { m: 1, baseline: 2 }, 'minimized: 0.4/0.2')

  // the metric a run recorded (synthgym run's synthgym.json) is enough; --metric still overrides it
  const recorded = (dir: string, name: string, direction: string) => writeFileSync(join(dir, 'synthgym.json'), JSON.stringify({
    run: { name: 'r', dir: 'x', index: 0, task: 'myTask', model: 'm', metric: { name, direction }, mode: 'thought_action', tool_profile: 'mlgym' }
  }))
  recorded(dir, 'err', 'minimize')
  t.match(aupReport([root]).tasks, [{ task: 'myTask', metric: 'err', direction: 'minimize' }])
  t.match(aupReport([root], { metrics: ['myTask=err:max'] }).tasks, [{ direction: 'maximize' }])
  const other = join(root, 'm2__myTask__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run_0')
  mkdirSync(other)
  writeFileSync(join(other, 'results.json'), JSON.stringify({ agent: [{ err: 0.3 }], baseline: { err: 0.4 } }))
  recorded(other, 'err', 'maximize')
  t.match(aupReport([root]).warnings.join('\n'), /m__myTask.*: records err \(minimize\) for myTask, an earlier run err \(maximize\), which is used/, 'runs that disagree: said (the first by path wins)')
  writeFileSync(join(other, 'synthgym.json'), '{"run": {"name": "r"}}')
  t.throws(() => aupReport([root]), /parallel_agents_run_0\/synthgym\.json: synthgym\.json\.run\.dir is required .*remove it and pass --metric instead/)
})

const PUBLISHED = process.env.MLGYM_TRAJECTORIES
// mlgym.md §4.4: results/tables/aup_scores_aggregate_results.csv, reproduced from the published runs
const PUBLISHED_AUP: Record<string, [number, number]> = {
  'claude-35-sonnet-new': [1.426, 1.419], 'gpt-o1': [1.423, 1.444], 'gemini-15-pro': [1.420, 1.405], 'gemini-25-pro': [1.419, 1.445],
  'gemini-20-flash-thinking': [1.374, 1.385], 'claude-37-sonnet': [1.350, 1.378], 'llama3-405b-tools': [1.330, 1.353],
  'llama4-17b-128': [1.303, 1.330], gpt4o2: [1.288, 1.317], 'llama4-17b-16': [1.267, 1.288], 'deepseek-r1': [1.249, 1.267],
  baseline: [1.220, 1.243], 'gpt-o3-mini': [1.214, 1.236]
}

t.test('MLGym\'s published runs give its published AUPs (set MLGYM_TRAJECTORIES=<checkout>/trajectories/mlgym_bench_v0)',
  { skip: PUBLISHED ? false : 'MLGYM_TRAJECTORIES is not set' }, async t => {
    // MLGym's MODELS order (mlgym/evaluation/utils.py); gemini-20-pro's runs are there but not compared
    const models = ['gpt4o2', 'gpt-o3-mini', 'gpt-o1', 'deepseek-r1', 'llama3-405b-tools', 'llama4-17b-16', 'llama4-17b-128',
      'claude-35-sonnet-new', 'claude-37-sonnet', 'gemini-15-pro', 'gemini-20-flash-thinking', 'gemini-25-pro']
    const r = aupReport([PUBLISHED!], { models })
    t.equal(r.tau_max, 1.5)
    for (const [m, [best, last]] of Object.entries(PUBLISHED_AUP)) {
      t.equal(Math.round(r.best_attempt.aup[m]! * 1000) / 1000, best, `${m} best attempt`)
      t.equal(Math.round(r.best_submission.aup[m]! * 1000) / 1000, last, `${m} best submission`)
    }
  })
