// The Runs page's AUP is `synthgym aup`'s: the same episodes written as MLGym run directories (results.json per
// episode, as `synthgym run` leaves them) give the same report through the command's reader and through the page's
// function (clients/aup/episodes.ts, bundled into the page), per run and over all runs; ad-hoc episodes (no run)
// enter only when asked. Also the one function that names an episode's run.
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './helpers.js'
import { aupReport } from '../clients/aup/aup-command.js'
import { episodesAupInput, meanStd, runOf, type RunEpisode } from '../clients/aup/episodes.js'
import { aupResult } from '../server/ui/app/aup.js'
import { formatRunDirName } from '../env-spec/run-dir.js'
import type { Metric } from '../env-spec/task.js'

const METRICS: Record<string, Metric> = { acc: { name: 'acc', direction: 'maximize' }, loss: { name: 'loss', direction: 'minimize' } }
const BASE = { acc: { acc: 0.5 }, loss: { loss: 2 } } as Record<string, Record<string, number>>

// per run: model, and per task the score lists of its repeats ([] : a run that never scored)
const RUNS: Record<string, { model: string, tasks: Record<string, Record<string, number>[][]> }> = {
  'run-a': { model: 'model-a', tasks: { acc: [[{ acc: 0.9 }, { acc: 0.6 }], [{ acc: 0.7 }]], loss: [[], [{ loss: 1.8 }]] } },
  'run-b': { model: 'model-b', tasks: { acc: [[{ acc: 0.4 }], [{ acc: 0.55 }]], loss: [[{ loss: 1 }], [{ loss: 1.5 }, { loss: 1.2 }]] } }
}

t.test('the page\'s AUP equals synthgym aup\'s on the same episodes and run directories', async t => {
  const root = tempDir(t, 'sg-ui-aup-')
  const episodes: RunEpisode[] = []
  for (const [run, r] of Object.entries(RUNS)) {
    for (const [task, repeats] of Object.entries(r.tasks)) {
      repeats.forEach((agent, i) => {
        const dir = formatRunDirName({ model: r.model, task, config: 'default', temperature: 0, top_p: 0.95, cost_limit: 4, install: 0, suffix: null, run: i })
        mkdirSync(join(root, run, dir), { recursive: true })
        writeFileSync(join(root, run, dir, 'results.json'), JSON.stringify({ agent, baseline: BASE[task] }))
        episodes.push({ task_id: task, status: 'finished', score: agent, baseline: BASE[task]!, model: r.model, meta: { run, run_dir: dir } })
      })
    }
  }
  // ad-hoc episodes (curl by hand, no run): better than both models, so they would change every AUP
  episodes.push({ task_id: 'acc', status: 'finished', score: [{ acc: 0.99 }], baseline: BASE.acc!, model: null, meta: {} })
  episodes.push({ task_id: 'loss', status: 'finished', score: [{ loss: 0.1 }], baseline: BASE.loss!, model: 'curl-by-hand', meta: {} })
  // a running episode of a run is not over: not in the benchmark yet
  episodes.push({ task_id: 'acc', status: 'running', score: [{ acc: 1 }], baseline: BASE.acc!, model: 'model-a', meta: { run: 'run-a' } })
  const metrics = Object.entries(METRICS).map(([k, m]) => `${k}=${m.name}:${m.direction}`)
  const metricOf = (task: string) => METRICS[task] ?? null

  const same = (page: ReturnType<typeof aupResult>, cmd: ReturnType<typeof aupReport>, what: string) => {
    t.same(page.methods, cmd.methods, `${what}: the methods`)
    t.equal(page.tauMax, cmd.tau_max, `${what}: tau_max`)
    for (const m of cmd.methods) {
      t.equal(page.best.aup[m], cmd.best_attempt.aup[m], `${what}: best-attempt AUP of ${m}`)
      t.equal(page.last.aup[m], cmd.best_submission.aup[m], `${what}: last-submission AUP of ${m}`)
    }
  }
  for (const run of Object.keys(RUNS)) {
    same(aupResult(episodesAupInput(episodes, metricOf, { runs: [run] })!), aupReport([join(root, run)], { metrics }), run)
  }
  const all = aupResult(episodesAupInput(episodes, metricOf)!)
  const cmd = aupReport([root], { metrics })
  same(all, cmd, 'all runs')
  t.ok(cmd.best_attempt.aup['model-a']! > 0 && cmd.best_attempt.aup['model-a'] !== cmd.best_attempt.aup['model-b'], 'the AUPs differ (the test can tell them apart)')
  const withAdHoc = aupResult(episodesAupInput(episodes, metricOf, { adHoc: true })!)
  t.ok(withAdHoc.methods.includes('curl-by-hand') && withAdHoc.methods.includes('(model not recorded)'), 'asked for, ad-hoc episodes are methods')
  t.not(withAdHoc.best.aup['model-a'], cmd.best_attempt.aup['model-a'], 'and they change the AUP: they stay out unless asked')
})

t.test('the run of an episode, and mean ± std over repeats', async t => {
  t.equal(runOf({ meta: { run: 'sweep-1', run_dir: 'x' } }), 'sweep-1', 'meta.run first')
  t.equal(runOf({ meta: { run: { name: 'n1', model: 'm' } } }), 'n1')
  t.equal(runOf({ meta: { run_dir: 'qwen-8b__blotto__default__t-0.00__p-0.95__c-4.00__install-0_run_2' } }), 'qwen-8b__default__t-0.00__p-0.95__c-4.00__install-0',
    'older synthgym run episodes: the invocation\'s model and settings, without task and index')
  t.equal(runOf({ meta: { run_dir: 'not a run dir' } }), null)
  t.equal(runOf({ meta: {} }), null, 'ad hoc')
  t.same(meanStd([1, 2, 3]), { mean: 2, std: 1, n: 3 })
  t.same(meanStd([5]), { mean: 5, std: 0, n: 1 })
  t.equal(meanStd([]), null)
})
