// `synthgym mlgym status|fetch|prepare|baseline`: MLGym-Bench on this machine. What it needs of the server layer
// (the imports the server serves, its data dir, a local sandbox maker) comes in MlgymContext: tasks/ never imports server/.
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Sandbox, SandboxOptions } from '../sandbox/types.js'
import { builtRuntime, cachedRecipe, hasGpu, runtimePython } from '../sandbox/runtime.js'
import type { ImportReport, Task } from './registry.js'
import { BaselineCache } from './baseline.js'
import { taskSandbox } from './environment.js'
import { sandboxSettings } from './settings.js'
import { hfCacheDir, prefetchHubData } from './hubdata.js'
import { hubSettings } from './generate/hub.js'
import { mlgymStatus, MLGYM_BENCH } from './mlgym-status.js'

export interface MlgymContext {
  imports: () => ImportReport[]
  dataDir: string
  makeLocal: (opts: SandboxOptions) => Promise<Sandbox>
}

export const MLGYM_HELP = `usage:
  synthgym mlgym status [--json]            each MLGym-Bench task of the imported checkout: runnable here, or why not
  synthgym mlgym fetch [ID...] [--hub-url URL] [--datasets-server-url URL] [--hf-token T]
                                            fetch the Hub datasets and models the tasks' code loads into the offline cache
  synthgym mlgym prepare regressionKaggleHousePrice
                                            make its data/ as MLGym does (_helpers/_generate_split.py, mlgym runtime)
  synthgym mlgym baseline ID                run the task's own baseline here and record its scores and time`

export function baselineCache (ctx: MlgymContext): BaselineCache {
  const hf = hfCacheDir(ctx.dataDir)
  return new BaselineCache(join(ctx.dataDir, 'baselines'), o => ctx.makeLocal(o), (task: Task) => {
    const s = sandboxSettings(task)
    return { ...taskSandbox(task, hf), limits: s.limits, network: s.network }
  })
}

function statusContext (ctx: MlgymContext) {
  const cache = baselineCache(ctx)
  return { hf: hfCacheDir(ctx.dataDir), gpu: hasGpu(), measured: (t: Task) => cache.measured(t) }
}

export async function mlgymCommand (args: string[], ctx: MlgymContext): Promise<number> {
  const [sub, ...rest] = args
  const { values, positionals } = parseArgs({
    args: rest, allowPositionals: true,
    options: { json: { type: 'boolean' }, 'hub-url': { type: 'string' }, 'datasets-server-url': { type: 'string' }, 'hf-token': { type: 'string' } }
  })
  const reports = ctx.imports()
  if (!reports.length && sub !== undefined && sub !== '--help') {
    console.error('no MLGym checkout is imported: synthgym tasks import <mlgym-checkout> first')
    return 1
  }
  const tasks = reports.flatMap(r => r.tasks)
  const find = (id: string) => tasks.find(t => t.spec.id === id)
  switch (sub) {
    case 'status': {
      const rows = reports.flatMap(r => mlgymStatus(r, statusContext(ctx)))
      if (values.json) { console.log(JSON.stringify(rows, null, 2)); return 0 }
      for (const r of rows) {
        const time = r.baseline_seconds !== null ? ` (baseline here: ${r.baseline_seconds.toFixed(0)} s, ${JSON.stringify(r.baseline_here)})` : ''
        console.log(`${r.id.padEnd(30)} ${r.runnable ? 'runnable' : 'NOT RUNNABLE'}${time}`)
        for (const why of r.reasons) console.log(`    ${why.code}: ${why.message}`)
      }
      return 0
    }
    case 'fetch': {
      const recipe = cachedRecipe('mlgym')
      if (!builtRuntime(recipe)) { console.error('the mlgym runtime writes the offline cache: run `synthgym runtime build mlgym` first'); return 1 }
      const chosen = positionals.length ? positionals.map(id => find(id) ?? id) : tasks.filter(t => MLGYM_BENCH.includes(t.spec.id))
      const unknown = chosen.filter((x): x is string => typeof x === 'string')
      if (unknown.length) { console.error(`not an imported MLGym task: ${unknown.join(', ')}`); return 1 }
      const hub = hubSettings({ hubUrl: values['hub-url'], datasetsServerUrl: values['datasets-server-url'], hfToken: values['hf-token'] })
      const hf = hfCacheDir(ctx.dataDir)
      for (const t of chosen as Task[]) {
        await prefetchHubData(t, { hf, hub, python: runtimePython(recipe), onProgress: l => console.log(`${t.spec.id}: ${l}`) })
      }
      console.log(`cached in ${hf}`)
      return 0
    }
    case 'prepare': {
      const id = positionals[0]
      if (id !== 'regressionKaggleHousePrice') {
        console.error(`MLGym publishes the preparation of regressionKaggleHousePrice only; see synthgym mlgym status for the others`)
        return 1
      }
      const r = reports.find(x => existsSync(join(x.checkout, 'data', id, '_helpers', '_generate_split.py')))
      if (!r) { console.error(`no imported checkout has data/${id}/_helpers/_generate_split.py`); return 1 }
      const recipe = cachedRecipe('mlgym')
      if (!builtRuntime(recipe)) { console.error('run `synthgym runtime build mlgym` first (the script needs pandas and scikit-learn)'); return 1 }
      const out = join(r.checkout, 'data', id, 'data')
      const had = existsSync(out)
      // MLGym's own script, run where it expects to be: in _helpers, writing ../data
      const res = spawnSync(runtimePython(recipe), ['_generate_split.py'], { cwd: join(r.checkout, 'data', id, '_helpers'), stdio: 'inherit' })
      if (res.status !== 0) {
        // it makes ../data before it splits: a failed run would leave a data dir that makes the task load
        if (!had) rmSync(out, { recursive: true, force: true })
        console.error(`_generate_split.py failed (exit ${res.status ?? res.signal}); ${had ? `${out} was there before: left as it is` : 'nothing written'}`)
        return 1
      }
      console.log(`wrote ${out}; the server loads ${id} from its next start`)
      return 0
    }
    case 'baseline': {
      const t = positionals[0] ? find(positionals[0]) : undefined
      if (!t) { console.error(`usage: synthgym mlgym baseline <imported MLGym task id>`); return 1 }
      const started = Date.now()
      const scores = await baselineCache(ctx).measure(t, 'local', l => console.log(l))
      console.log(`${t.spec.id}: ${JSON.stringify(scores)} in ${((Date.now() - started) / 1000).toFixed(0)} s (MLGym's: ${JSON.stringify(t.spec.baseline_scores?.[0] ?? null)})`)
      return 0
    }
    default:
      console.error(MLGYM_HELP)
      return sub === '--help' ? 0 : 1
  }
}
