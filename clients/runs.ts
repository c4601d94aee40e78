// Parallel rollouts against a server (`synthgym run`): which tasks, one MLGym run directory per episode, a pool of
// concurrent episodes, progress, and resume (a run directory with results.json is finished and never redone).
// The layout is MLGym's (mlgym.md 5.1-5.3), so MLGym's result scripts and `synthgym aup` read it.
import { formatRunDirName, RUN_DIR_SUFFIX, RUN_META_FILE, type RunMeta, type RunMetaFile } from '../env-spec/run-dir.js'
import { MLGYM_METRICS } from '../env-spec/task.js'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, appendFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { stringify as toYaml, parse as parseYaml } from 'yaml'
import type { SynthgymClient } from './client.js'
import type { RewardMode, TaskSummary } from '../env-spec/messages.js'
import { runEpisode, type EpisodeOutcome, type EpisodeSpec, type EpisodeStats } from './agent/loop.js'
import { ModelClient } from './agent/model.js'
import type { AgentSettings } from './agent/settings.js'
import type { EndpointRecord } from './llm/client.js'

export interface RunPlan {
  tasks: string[]
  runsPerTask: number
  concurrency: number
  out: string
  settings: AgentSettings
  maxSteps: number
  reward?: RewardMode
  /** MLGym's agent config stem in the directory name ("default"; "function_calling" in that mode) */
  agentConfig?: string
  /** the run's name (meta.run.name of its episodes); the name of `out` by default */
  name?: string
  env?: EpisodeSpec['env']
}

/** Where the tasks of a run come from: ids, the task directories a server was started with, or MLGym's suite. */
export interface TaskSelection {
  tasks?: string[]
  tasksDir?: string
  suite?: 'mlgym'
  /** a suite task that cannot run on the server (GET /v1/tasks/:id mlgym_status) fails the run instead of being skipped */
  strict?: boolean
  /** told of each suite task left out, with why */
  onSkip?: (id: string, why: string) => void
}

export class RunError extends Error {}

/** MLGym-Bench's run directory name for one episode of `synthgym run` (env-spec/run-dir.ts), so MLGym's scripts count it. */
export function runDirName (s: Pick<AgentSettings, 'model' | 'temperature' | 'topP' | 'costLimit'>, task: string, idx: number, agentConfig = 'default'): string {
  return formatRunDirName({
    model: s.model, task, config: agentConfig, temperature: s.temperature, top_p: s.topP, cost_limit: s.costLimit, install: 0, suffix: RUN_DIR_SUFFIX, run: idx
  })
}

/** A finished run directory: MLGym writes results.json once, when the episode is over. */
export function finished (dir: string): boolean { return existsSync(join(dir, 'results.json')) }

/** The task ids of a selection, checked against what the server serves. */
export async function resolveTasks (server: SynthgymClient, sel: TaskSelection): Promise<string[]> {
  const given = [sel.tasks, sel.tasksDir, sel.suite].filter(x => x !== undefined).length
  if (given !== 1) throw new RunError('name the tasks one way: --tasks a,b or --tasks-dir DIR or --suite mlgym')
  const served = (await server.tasks()).tasks
  const byId = new Map(served.map(t => [t.id, t]))
  if (sel.suite === 'mlgym') {
    // MLGym-Bench: the imported MLGym tasks that have MLGym's priority metric (mlgym/evaluation/utils.py TASKS)
    const suite = served.filter((t: TaskSummary) => t.source.startsWith('mlgym:') && t.metric !== null).map(t => t.id)
    if (suite.length === 0) {
      throw new RunError(`the server at ${server.baseUrl} serves no MLGym tasks: import a checkout of facebookresearch/MLGym ` +
        '(`synthgym tasks import <checkout>`, or `synthgym serve --mlgym <checkout>`) and restart it')
    }
    // the 13 of MLGym-Bench: the ones not served (their config did not load) and the ones the server cannot run
    const skipped: [string, string][] = Object.keys(MLGYM_METRICS).filter(id => !byId.has(id))
      .map(id => [id, 'not served: its MLGym config did not load (synthgym mlgym status says why)'])
    const runnable: string[] = []
    for (const id of suite) {
      const st = (await server.task(id)).mlgym_status
      if (st && !st.runnable) skipped.push([id, st.reasons.map(r => `${r.code}: ${r.message}`).join('; ')])
      else runnable.push(id)
    }
    if (sel.strict && skipped.length) {
      throw new RunError(`--strict: ${skipped.length} MLGym-Bench task(s) cannot run on ${server.baseUrl}:\n${skipped.map(([id, why]) => `  ${id}: ${why}`).join('\n')}`)
    }
    for (const [id, why] of skipped) sel.onSkip?.(id, why)
    if (!runnable.length) throw new RunError(`no MLGym task can run on ${server.baseUrl}: ${skipped.map(([id, why]) => `${id}: ${why}`).join('; ')}`)
    return runnable
  }
  const ids = sel.tasks ?? tasksInDir(sel.tasksDir!)
  if (ids.length === 0) throw new RunError(sel.tasksDir ? `no task.yaml in ${sel.tasksDir} or its subdirectories` : '--tasks names no task')
  const missing = ids.filter(id => !byId.has(id))
  if (missing.length) {
    const how = sel.tasksDir ? `start it with \`synthgym serve --tasks-dir ${sel.tasksDir}\`` : 'see GET /v1/tasks for the ids it has'
    throw new RunError(`the server at ${server.baseUrl} does not serve ${missing.join(', ')}: ${how}`)
  }
  return ids
}

/** The ids of the task directories in `dir` (a task directory itself, or a folder of them). */
function tasksInDir (dir: string): string[] {
  if (!existsSync(dir)) throw new RunError(`--tasks-dir ${dir} does not exist`)
  const idOf = (d: string) => {
    const spec = parseYaml(readFileSync(join(d, 'task.yaml'), 'utf8')) as { id?: unknown }
    if (typeof spec?.id !== 'string') throw new RunError(`${join(d, 'task.yaml')} has no id`)
    return spec.id
  }
  if (existsSync(join(dir, 'task.yaml'))) return [idOf(dir)]
  return readdirSync(dir, { withFileTypes: true })
    .filter(e => e.isDirectory() && existsSync(join(dir, e.name, 'task.yaml'))).map(e => e.name).sort().map(n => idOf(join(dir, n)))
}

export interface Progress {
  total: number
  done: number
  /** finished by an earlier invocation (resume) */
  resumed: number
  running: number
  failed: number
  steps: number
  tokens: number
  cost: number
  started: number
}

export function progressLine (p: Progress): string {
  const secs = Math.round((Date.now() - p.started) / 1000)
  const elapsed = secs >= 3600 ? `${Math.floor(secs / 3600)}h${String(Math.floor(secs / 60) % 60).padStart(2, '0')}m`
    : `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s`
  const tokens = p.tokens >= 1e6 ? `${(p.tokens / 1e6).toFixed(2)}M` : p.tokens >= 1e3 ? `${(p.tokens / 1e3).toFixed(1)}k` : String(p.tokens)
  return `${p.done}/${p.total} done${p.resumed ? ` (${p.resumed} resumed)` : ''} · ${p.running} running · ${p.failed} failed · ` +
    `${p.steps} steps · ${tokens} tokens · $${p.cost.toFixed(2)} · ${elapsed}`
}

export interface EpisodeRecord { task: string, run: number, dir: string, outcome?: EpisodeOutcome, error?: string, resumed?: boolean }

export interface RunOptions {
  onProgress?: (p: Progress) => void
  onEpisode?: (r: EpisodeRecord) => void
  /** set to stop starting new episodes (an interrupted run) */
  stopping?: () => boolean
  /** environments now open, for a caller that must close them when interrupted */
  live?: Set<string>
  /** what the LLM client says of the endpoint (a refused field it leaves out from then on); default stderr */
  onNote?: (line: string) => void
}

function writeAtomic (file: string, text: string): void {
  writeFileSync(file + '.tmp', text)
  renameSync(file + '.tmp', file)
}

const stamp = (d = new Date()) => [d.getFullYear() % 100, d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()]
  .map(n => String(n).padStart(2, '0')).join('')

/**
 * What a run directory's args.yaml records: the harness settings (never the API key), the endpoint as the client
 * found it (profile, context length, each field it refused and why), and the run's own.
 */
function runArgs (plan: RunPlan, task: string, idx: number, server: SynthgymClient, endpoint?: EndpointRecord): Record<string, unknown> {
  const { apiKey: _key, ...settings } = plan.settings
  return {
    synthgym: { server: server.baseUrl, harness: 'clients/agent' },
    agent: { ...settings, config: plan.agentConfig ?? 'default', ...(endpoint ? { endpoint } : {}) },
    environment: { task, max_steps: plan.maxSteps, reward: plan.reward ?? 'none', ...(plan.env ?? {}) },
    run_index: idx
  }
}

/** Runs every (task, run) episode not finished yet in `plan.out`, `plan.concurrency` at a time. */
export async function runAll (server: SynthgymClient, plan: RunPlan, opts: RunOptions = {}): Promise<{ records: EpisodeRecord[], progress: Progress }> {
  mkdirSync(plan.out, { recursive: true })
  const jobs: EpisodeRecord[] = []
  for (const task of plan.tasks) {
    for (let run = 0; run < plan.runsPerTask; run++) jobs.push({ task, run, dir: join(plan.out, runDirName(plan.settings, task, run, plan.agentConfig)) })
  }
  const progress: Progress = { total: jobs.length, done: 0, resumed: 0, running: 0, failed: 0, steps: 0, tokens: 0, cost: 0, started: Date.now() }
  const report = () => opts.onProgress?.({ ...progress })
  const todo: EpisodeRecord[] = []
  for (const j of jobs) {
    if (finished(j.dir)) { j.resumed = true; progress.done++; progress.resumed++; opts.onEpisode?.(j) } else todo.push(j)
  }
  report()
  if (todo.length === 0) return { records: jobs, progress }
  // one model client and one copy of the tool docs for every episode
  const model = new ModelClient(plan.settings, opts.onNote)
  const tools = await server.tools(plan.settings.toolProfile)
  // the metric travels with the run (synthgym.json, meta.run): aup and the SFT export need no --metric
  const metrics = new Map((await server.tasks()).tasks.map(t => [t.id, t.metric]))
  const runName = plan.name ?? basename(resolve(plan.out))
  const runMeta = (j: EpisodeRecord): RunMeta => ({
    name: runName, dir: basename(j.dir), index: j.run, task: j.task, model: plan.settings.model, metric: metrics.get(j.task) ?? null,
    mode: plan.settings.mode, tool_profile: plan.settings.toolProfile
  })

  const one = async (j: EpisodeRecord) => {
    // an unfinished directory (killed run, failed episode) starts over
    rmSync(j.dir, { recursive: true, force: true })
    mkdirSync(j.dir, { recursive: true })
    writeFileSync(join(j.dir, 'args.yaml'), toYaml(runArgs(plan, j.task, j.run, server, model.llm.record())))
    const meta: RunMetaFile = { run: runMeta(j), ...(plan.settings.mode === 'function_calling' ? { tools: tools.tools } : {}) }
    writeFileSync(join(j.dir, RUN_META_FILE), JSON.stringify(meta, null, 2))
    const log = join(j.dir, `run-${stamp()}.log`)
    const say = (line: string) => appendFileSync(log, `${new Date().toISOString()} ${line}\n`)
    progress.running++
    report()
    let seen: EpisodeStats = { steps: 0, api_calls: 0, tokens_sent: 0, tokens_received: 0, cost: 0, format_errors: 0, api_retries: 0, model_ms: 0, env_ms: 0, harness_ms: 0 }
    let envId: string | null = null
    const account = (st: EpisodeStats) => {
      progress.steps += st.steps - seen.steps
      progress.tokens += (st.tokens_sent + st.tokens_received) - (seen.tokens_sent + seen.tokens_received)
      progress.cost += st.cost - seen.cost
      seen = st
    }
    try {
      const outcome = await runEpisode(server, plan.settings, {
        task: j.task, maxSteps: plan.maxSteps, reward: plan.reward, env: plan.env,
        meta: { run: meta.run }
      }, {
        model, tools,
        onReset: r => {
          envId = r.env_id
          opts.live?.add(r.env_id)
          say(`env ${r.env_id} episode ${r.episode_id} task ${j.task} baseline ${JSON.stringify(r.info.baseline)}`)
          writeFileSync(join(j.dir, 'episode.json'), JSON.stringify({ server: server.baseUrl, env_id: r.env_id, episode_id: r.episode_id }, null, 2))
        },
        onStep: e => {
          // MLGym rewrites the .traj after every step
          writeAtomic(join(j.dir, `${j.task}.traj`), JSON.stringify(e.traj, null, 2))
          say(`step ${e.step}: ${JSON.stringify(e.action.split('\n')[0].slice(0, 200))} -> reward ${e.result.reward}${e.result.info.metrics ? ` metrics ${JSON.stringify(e.result.info.metrics)}` : ''}`)
          account(e.stats)
          report()
        }
      })
      account(outcome.stats)
      writeAtomic(join(j.dir, `${j.task}.traj`), JSON.stringify(outcome.traj, null, 2))
      // the endpoint as the episode left it (a field refused mid-run is recorded with the run's settings)
      writeAtomic(join(j.dir, 'args.yaml'), toYaml(runArgs(plan, j.task, j.run, server, model.llm.record())))
      writeAtomic(join(j.dir, 'results.json'), JSON.stringify(outcome.results, null, 2))
      // an episode the API ended: the endpoint's own message where a user looks first
      if (outcome.api_error) {
        writeFileSync(join(j.dir, 'error.txt'), `${outcome.exit_status}: ${outcome.api_error}\n`)
        say(`${outcome.exit_status}: ${outcome.api_error}`)
      }
      say(`done: ${outcome.exit_status}; score ${JSON.stringify(outcome.score)}; ${JSON.stringify(outcome.stats)}`)
      j.outcome = outcome
      progress.done++
    } catch (e) {
      j.error = (e as Error).message
      writeFileSync(join(j.dir, 'error.txt'), `${(e as Error).stack ?? j.error}\n`)
      say(`failed: ${j.error}`)
      progress.failed++
    } finally {
      if (envId) opts.live?.delete(envId)
      progress.running--
      opts.onEpisode?.(j)
      report()
    }
  }

  let next = 0
  const worker = async () => {
    while (next < todo.length && !opts.stopping?.()) await one(todo[next++])
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(plan.concurrency, todo.length)) }, worker))
  return { records: jobs, progress }
}
