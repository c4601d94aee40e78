// 8. `synthgym aup` over a benchmark the size of MLGym's published one: 13 tasks x 12 models x 4 runs of MLGym-layout
// run directories (results.json and a <task>.traj each), written into the bench's temp dir. Timed as a user runs
// it: the built CLI in a fresh node process, the report to stdout, and with --out (md, csv, json and the SVG).
// Target: under 5 s each. With the PNG too (headless Chromium starts for it) the time is shown, without a target.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { formatRunDirName } from '../env-spec/run-dir.js'
import { MLGYM_METRICS } from '../env-spec/task.js'
import { aupReport } from '../clients/aup/aup-command.js'
import { chromiumPath } from '../clients/aup/plot.js'
import type { BenchContext } from './context.js'
import { summarize } from './stats.js'

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'server', 'cli.js')
const MODELS = ['gpt4o2', 'gpt-o3-mini', 'gpt-o1', 'deepseek-r1', 'llama3-405b-tools', 'llama4-17b-16', 'llama4-17b-128',
  'claude-35-sonnet-new', 'claude-37-sonnet', 'gemini-15-pro', 'gemini-20-flash-thinking', 'gemini-25-pro']
const RUNS = 4
const REPEATS = 3

/** A seeded generator (mulberry32): the same benchmark every time. */
function rng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** MLGym's published layout: 624 run directories; about a quarter with an empty score list (MLGym's has 188 of 676). */
export function writeBenchmark (root: string): number {
  const rand = rng(9)
  let n = 0
  for (const [task, metric] of Object.entries(MLGYM_METRICS)) {
    const baseline = 1 + rand() * 10
    for (const model of MODELS) {
      for (let run = 0; run < RUNS; run++) {
        const dir = join(root, formatRunDirName({ model: `metagen-${model}`, task, config: 'default', temperature: 0, top_p: 0.95, cost_limit: 4, install: 0, suffix: 'parallel_agents', run }))
        mkdirSync(dir, { recursive: true })
        const k = rand() < 0.28 ? 0 : 1 + Math.floor(rand() * 9)
        const agent = Array.from({ length: k }, () => ({ [metric.name]: baseline * (0.6 + rand() * 0.8), other: rand() }))
        writeFileSync(join(dir, 'results.json'), JSON.stringify({ agent, baseline: { [metric.name]: baseline } }, null, 2))
        // a .traj of a few dozen steps (AUP does not read it, but it is there as in MLGym's runs)
        const history = Array.from({ length: 40 }, (_, i) => ({ role: i % 2 ? 'user' : 'assistant', content: 'x'.repeat(400), agent: 'primary_0' }))
        writeFileSync(join(dir, `${task}.traj`), JSON.stringify({ environment: 'mlgym_main', trajectory: [], history, info: { score: agent } }))
        n++
      }
    }
  }
  return n
}

function timeCli (args: string[]): number {
  const t = performance.now()
  const r = spawnSync(process.execPath, [CLI, 'aup', ...args], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 2 ** 20 })
  const ms = performance.now() - t
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`synthgym aup exited ${r.status}: ${r.stderr.trim()}`)
  return ms
}

export async function aupSection (ctx: BenchContext): Promise<Record<string, unknown>> {
  const { report, progress } = ctx
  const root = join(ctx.dataDir, 'aup-runs')
  const n = writeBenchmark(root)
  progress(`aup: ${n} run directories written; timing synthgym aup (${REPEATS} runs each)`)
  const S = `synthgym aup (${Object.keys(MLGYM_METRICS).length} tasks x ${MODELS.length} models x ${RUNS} runs)`
  const stdout = summarize(Array.from({ length: REPEATS }, () => timeCli([root, '--format', 'json'])))
  const out = join(ctx.dataDir, 'aup-report')
  const files = summarize(Array.from({ length: REPEATS }, () => timeCli([root, '--out', out, '--no-png'])))
  const full = summarize(Array.from({ length: REPEATS }, () => timeCli([root, '--out', out])))
  const t = performance.now()
  const r = aupReport([root])
  const computeMs = performance.now() - t
  const png = chromiumPath()
  report.row(S, 'CLI, JSON to stdout (max)', stdout.max / 1000, 's', { below: 5 })
  report.row(S, 'CLI with --out: md, csv, json, svg (max)', files.max / 1000, 's', { below: 5 })
  report.row(S, 'CLI with --out and the PNG (max)', full.max / 1000, 's', null,
    existsSync(png) ? `PNG rendered by ${png}` : `PNG skipped: no ${png}`)
  report.row(S, 'read and compute, in process', computeMs, 'ms')
  return { run_dirs: n, methods: r.methods.length, tasks: r.tasks.length, stdout_ms: stdout, with_out_ms: files, with_png_ms: full, compute_ms: Math.round(computeMs) }
}
