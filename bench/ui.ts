// 8. The dashboard with 1,000 stored episodes: each page timed in headless Chromium from the navigation's start to
// its data on screen (performance.now() in the page), median of a few loads (target: under 1 s). The store is
// filled directly (1,000 episodes of 20 steps over the built-in tasks, two models, scores around the baseline): the
// section times page loads, not episodes. Skipped without /usr/bin/chromium.
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { BenchContext } from './context.js'
import { DEFAULTS, storeFile, type ServerConfig } from '../server/config.js'
import { startServer } from '../server/server.js'
import { SqliteStore } from '../server/store-sqlite.js'
import { TaskRegistry, taskDescription } from '../tasks/registry.js'
import { summarize } from './stats.js'

const CHROMIUM = '/usr/bin/chromium'
const EPISODES = 1000
const STEPS = 20
const LOADS = 5

/** Episodes as an agent leaves them (every model on every task, in four runs): opens, edits, runs, validates, submits; the score drifts around the baseline. */
export async function seed (file: string): Promise<string> {
  const store = new SqliteStore(file)
  const tasks = TaskRegistry.withBuiltins().list().filter(t => t.spec.metric && t.spec.baseline_scores?.length)
  let firstId = ''
  let rand = 7
  const next = () => { rand = (rand * 1103515245 + 12345) % 2 ** 31; return rand / 2 ** 31 }
  for (let i = 0; i < EPISODES; i++) {
    const task = tasks[i % tasks.length]!
    const metric = task.spec.metric!
    const baseline = task.spec.baseline_scores![0]!
    const id = `ep-bench${String(i).padStart(8, '0')}`
    if (!firstId) firstId = id
    await store.createEpisode({ id, env_id: `env-bench${i}`, server_id: 'bench', task_id: task.spec.id, baseline, description: taskDescription(task.spec), meta: { model: Math.floor(i / tasks.length) % 2 ? 'model-a' : 'model-b', run: `run-${Math.floor(i / (2 * tasks.length)) % 4}` } })
    const score: Record<string, number>[] = []
    for (let k = 0; k < STEPS; k++) {
      const last = k === STEPS - 1
      const evaluating = last || k % 6 === 5
      const value = baseline[metric.name]! * (1 + (next() - 0.4) * 0.2)
      if (evaluating) score.push({ [metric.name]: value })
      const action = last ? 'submit' : evaluating ? 'validate' : k % 3 === 0 ? 'python train.py' : `edit ${k + 1}:${k + 1}\nx = ${k}\nend_of_edit`
      const observation = last ? `Exited (submit)` : evaluating
        ? `Your code produced a valid submission artefact at /home/agent/workspace/submission.csv.\nBaseline Score: {'${metric.name}': ${baseline[metric.name]}}\nEvaluation Score: {'${metric.name}': ${value}}`
        : 'epoch 1 loss 0.5\n'.repeat(20)
      await store.appendStep(id, k, {
        action, observation, response: action, thought: `step ${k + 1}`, state: '{"open_file": "n/a", "working_dir": "/home/agent/workspace"}',
        execution_time: 0.2, reward: 0, terminated: last, truncated: false
      }, { score: [...score], exit_status: last ? 'submitted' : null, submission: null, done: last, improved: false, notify: false })
    }
  }
  await store.close()
  return firstId
}

export async function uiPages (ctx: BenchContext): Promise<Record<string, unknown>> {
  const { report, progress } = ctx
  const S = `dashboard, ${EPISODES} episodes`
  if (!existsSync(CHROMIUM)) {
    const r = report.row(S, 'SKIPPED (see below the table)', null, 'count', null, `${CHROMIUM} is missing (apt-get install chromium)`)
    r.status = 'skipped'
    return { skipped: `${CHROMIUM} is missing` }
  }
  const dataDir = join(ctx.dataDir, 'ui')
  mkdirSync(dataDir, { recursive: true })
  const config: ServerConfig = { ...DEFAULTS, port: 0, dataDir }
  progress(`ui: storing ${EPISODES} episodes of ${STEPS} steps`)
  const episodeId = await seed(storeFile(config))
  const server = await startServer(config)
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({ executablePath: CHROMIUM })
  const out: Record<string, unknown> = {}
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } })
    const errors: string[] = []
    page.on('pageerror', e => errors.push(e.message))
    // [name, path, what "loaded" means (a condition evaluated in the page)]
    const pages: [string, string, string][] = [
      ['Runs (every episode, 2 pages of 500)', '/ui/runs', `document.querySelector('.runs .filters .count')?.textContent === '${EPISODES} episodes' && !!document.querySelector('table.scores tbody tr')`],
      ['Runs, score plots drawn too', '/ui/runs', `document.querySelectorAll('.plot-card svg g.series').length > 0 && !document.querySelector('.plot-card .loading')`],
      ['Episodes (newest 50)', '/ui/episodes', `document.querySelectorAll('table.episodes tbody tr').length === 50`],
      [`Trajectory viewer (${STEPS} steps)`, `/ui/episodes/${episodeId}`, `!!document.querySelector('article.step h3')`],
      ['Tasks', '/ui/tasks', `!!document.querySelector('table.tasks tbody tr')`],
      ['Environments', '/ui/envs', `!!document.querySelector('table.envs tbody tr')`]
    ]
    for (const [name, path, loaded] of pages) {
      progress(`ui: ${name}`)
      const ms: number[] = []
      for (let i = 0; i < LOADS + 1; i++) {
        await page.goto(server.url + path)
        // the time the page itself saw its data (the first animation frame with it), not when we heard of it
        const t = await (await page.waitForFunction(`(${loaded}) && performance.now()`, undefined, { timeout: 30_000, polling: 'raf' })).jsonValue() as number
        if (i > 0) ms.push(t) // the first load warms the server's caches and the browser's
      }
      const s = summarize(ms)
      out[path + (name.includes('plots') ? '#plots' : '')] = s
      report.row(S, `${name}: p50`, s.p50, 'ms', name.includes('plots') ? null : { below: 1000 })
    }
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`)
  } finally {
    await browser.close()
    await server.close()
  }
  return out
}
