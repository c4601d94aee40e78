// MLGym's run directory name (run.py `ScriptArguments.run_name` + `_run_<idx>`), which its result scripts glob
// as `*<model>__<task>__*`. Written by `synthgym run`, read by `synthgym aup` and `synthgym export sft`.
//   <model, ':' → '-'>__<task>__<agent config stem>__t-<temp .2f>__p-<top_p .2f>__c-<cost limit .2f>__install-<0|1>[__<suffix>]_run_<idx>
// e.g. metagen-gpt4o2__blotto__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run_3
// Beside MLGym's files a run directory of `synthgym run` holds synthgym.json (RunMeta: which run, the task's metric,
// the tools offered), a file MLGym's scripts never open (they read results.json, *.traj and the directory name).
import type { Metric } from './task.js'
import { compile } from './validate.js'

/**
 * The suffix of MLGym-Bench's runs (`--suffix parallel_agents`, scripts/experiments/mlgym_bench_v0/*.sh), which
 * scripts/count_valid_trajectories.py (MLGym@9d40c1b, line 55) requires in its glob
 * `*{model}__{task}__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run*`; `synthgym run` uses it too.
 */
export const RUN_DIR_SUFFIX = 'parallel_agents'

export interface RunDirName {
  model: string
  task: string
  config: string
  temperature: number
  top_p: number
  cost_limit: number
  install: number
  suffix: string | null
  run: number
}

const RUN_DIR = /^(.+?)__([^_].*?)__(.+?)__t-(\d+(?:\.\d+)?)__p-(\d+(?:\.\d+)?)__c-(\d+(?:\.\d+)?)__install-(\d)(?:__(.+?))?_run_(\d+)$/

/** The parts of a run directory's base name, or null when it is not one. */
export function parseRunDirName (name: string): RunDirName | null {
  const m = RUN_DIR.exec(name)
  if (!m) return null
  return {
    model: m[1]!, task: m[2]!, config: m[3]!, temperature: Number(m[4]), top_p: Number(m[5]), cost_limit: Number(m[6]),
    install: Number(m[7]), suffix: m[8] ?? null, run: Number(m[9])
  }
}

/** The base name MLGym gives a run directory; '/' also becomes '-' (MLGym's ':' rule), so `org/model` is one directory. */
export function formatRunDirName (r: RunDirName): string {
  return `${r.model.replace(/[:/]/g, '-')}__${r.task}__${r.config}__t-${r.temperature.toFixed(2)}__p-${r.top_p.toFixed(2)}` +
    `__c-${r.cost_limit.toFixed(2)}__install-${r.install}${r.suffix ? `__${r.suffix}` : ''}_run_${r.run}`
}

export const RUN_META_FILE = 'synthgym.json'

/**
 * Which run an episode belongs to, the one name for it everywhere: `synthgym run` writes it into each run directory
 * (synthgym.json `run`) and into the stored episode's meta (`meta.run`); the dashboard groups by `name`, aup and the
 * SFT export take the metric from it (`--metric` overrides).
 */
export interface RunMeta {
  /** the benchmark run: the name of `synthgym run --out`'s directory */
  name: string
  /** this episode's run directory name (formatRunDirName) */
  dir: string
  /** its index among the task's runs (the name's `_run_<idx>`) */
  index: number
  task: string
  model: string
  /** the task's priority metric as the server declared it; null when it declares none */
  metric: Metric | null
  mode: 'thought_action' | 'function_calling'
  tool_profile: 'mlgym' | 'sweagent'
}

/** synthgym.json: the run, and (function calling) the tools the model was offered, as sent */
export interface RunMetaFile { run: RunMeta, tools?: unknown[] }

export const runMetaSchema = {
  type: 'object', required: ['name', 'dir', 'index', 'task', 'model', 'metric', 'mode', 'tool_profile'],
  properties: {
    name: { type: 'string', minLength: 1 }, dir: { type: 'string', minLength: 1 }, index: { type: 'integer', minimum: 0 },
    task: { type: 'string', minLength: 1 }, model: { type: 'string' },
    metric: {
      anyOf: [{ type: 'null' }, {
        type: 'object', required: ['name', 'direction'],
        properties: { name: { type: 'string', minLength: 1 }, direction: { enum: ['maximize', 'minimize'] } }
      }]
    },
    mode: { enum: ['thought_action', 'function_calling'] }, tool_profile: { enum: ['mlgym', 'sweagent'] }
  }
}

export const runMetaFileSchema = {
  type: 'object', required: ['run'],
  properties: { run: runMetaSchema, tools: { type: 'array', items: { type: 'object' } } }
}

export const validateRunMetaFile = compile<RunMetaFile>(runMetaFileSchema)
