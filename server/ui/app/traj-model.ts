// One view of a trajectory, whichever way it came: a stored episode (GET /v1/episodes/:id) or a file dropped onto
// the page (MLGym's .traj, with its results.json if dropped together, or our own trajectory JSON). Pure functions:
// test/ui-lib.test.ts runs them in node.
import type { EpisodeBrief, Trajectory } from '../../../env-spec/episode.js'
import type { TaskSummary } from '../../../env-spec/messages.js'
import type { Metric } from '../../../env-spec/task.js'
import type { Metrics } from '../../../env-spec/trajectory.js'

export type StepKind = 'validate' | 'submit' | 'autosubmit' | 'edit' | 'view' | 'search' | 'python' | 'bash' | 'exit'
export const STEP_KINDS: StepKind[] = ['edit', 'view', 'search', 'python', 'bash', 'validate', 'submit', 'autosubmit', 'exit']

/**
 * What the agent harness recorded about the model call behind a step (the agents issue: messages, completion,
 * usage, finish reason, latency, token ids); every part optional, absent on steps recorded without one.
 */
export interface ModelCallView {
  model: string | null
  promptTokens: number | null
  completionTokens: number | null
  totalTokens: number | null
  finishReason: string | null
  latencyMs: number | null
  messages: { role: string, content: string }[]
  completion: string | null
  promptTokenIds: number | null
  completionTokenIds: number | null
  logprobs: boolean
}

export interface StepView {
  /** 1-based, as MLGym's footer counts */
  index: number
  action: string
  observation: string
  thought: string
  response: string
  openFile: string | null
  workingDir: string | null
  executionTime: number | null
  reward: number | null
  terminated: boolean
  truncated: boolean
  kind: StepKind
  /** the metrics this step's evaluation produced */
  score: Metrics | null
  /** the shell's exit status, where the step recorded one (null: no command ran, it timed out, or not recorded) */
  exitCode: number | null
  /** a failing step: a non-zero exit code, or an evaluation (validate, submit) that produced no score */
  error: boolean
  model: ModelCallView | null
}

export interface TrajView {
  source: 'episode' | 'file'
  title: string
  episodeId: string | null
  taskId: string | null
  model: string | null
  status: string | null
  exitStatus: string | null
  /** why the episode ended (env-spec episodeOutcome); null for a file or a running episode */
  outcome: string | null
  description: string
  baseline: Metrics | null
  score: Metrics[]
  steps: StepView[]
  /** MLGym's info.model_stats (cost, tokens, api calls), when any is non-zero */
  modelStats: Record<string, number> | null
  createdAt: string | null
  meta: Record<string, unknown>
}

const WORKSPACE = '/home/agent/workspace/'

/** A path as the agent sees it, relative to the workspace when inside it. */
export function shortPath (p: string): string { return p.startsWith(WORKSPACE) ? p.slice(WORKSPACE.length) : p }

/** Metrics printed as a Python dict (`{'accuracy': 0.97, 'rmse': nan}`), as MLGym's observations print them. */
export function parsePyMetrics (text: string): Metrics | null {
  const out: Metrics = {}
  let n = 0
  for (const m of text.matchAll(/['"]([^'"]+)['"]\s*:\s*(-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf))/g)) {
    const v = m[2]!
    out[m[1]!] = v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v)
    n++
  }
  return n ? out : null
}

/** The `Evaluation Score: {...}` line of a validate observation. */
export function evaluationScore (observation: string): Metrics | null {
  const m = /^Evaluation Score: (\{.*\})\s*$/m.exec(observation)
  return m ? parsePyMetrics(m[1]!) : null
}

export function baselineScore (observation: string): Metrics | null {
  const m = /^Baseline Score: (\{.*\})\s*$/m.exec(observation)
  return m ? parsePyMetrics(m[1]!) : null
}

const EXITS = new Set(['exit_context', 'exit_cost', 'exit_error', 'exit_format', 'exit_api'])

export function stepKind (action: string, observation: string, truncated: boolean): StepKind {
  const a = action.trim()
  const first = a.split(/\s+/)[0] ?? ''
  if (a === 'validate') return 'validate'
  if (first === 'submit') return 'submit'
  if (truncated || EXITS.has(a) || /^Exited \((max_steps|exit_\w+)\)$/.test(observation.trim())) return 'autosubmit'
  if (a === 'skip' || a === 'exit_forfeit') return 'exit'
  if (/^(edit|insert|create)\b/.test(a) || isHeredocWrite(a) || /^str_replace_editor\s+(create|str_replace|insert)\b/.test(a)) return 'edit'
  if (/^(open|goto|scroll_up|scroll_down)\b/.test(a) || /^str_replace_editor\s+view\b/.test(a)) return 'view'
  if (/^(search_dir|search_file|find_file)\b/.test(a)) return 'search'
  if (/\b(python3?|torchrun|accelerate|deepspeed)\b/.test(a)) return 'python'
  return 'bash'
}

/** `cat > file << 'EOF'` (or `cat << 'EOF' > file`): a file written whole by a heredoc. */
export function isHeredocWrite (action: string): boolean { return heredocWrite(action) !== null }

export function heredocWrite (action: string): { path: string, append: boolean, lines: string[] } | null {
  const nl = action.indexOf('\n')
  if (nl < 0) return null
  const head = action.slice(0, nl)
  const m = /^\s*cat\s+(?:(>>?)\s*(\S+)\s+<<-?\s*['"]?(\w+)['"]?|<<-?\s*['"]?(\w+)['"]?\s+(>>?)\s*(\S+))\s*$/.exec(head)
  if (!m) return null
  const append = (m[1] ?? m[5]) === '>>'
  const path = (m[2] ?? m[6])!.replace(/^['"]|['"]$/g, '')
  const tag = (m[3] ?? m[4])!
  const body = action.slice(nl + 1).split('\n')
  const end = body.findIndex(l => l.trim() === tag)
  return { path, append, lines: end >= 0 ? body.slice(0, end) : body }
}

function num (v: unknown): number | null { return typeof v === 'number' && Number.isFinite(v) ? v : null }
function str (v: unknown): string | null { return typeof v === 'string' ? v : null }
function obj (v: unknown): Record<string, unknown> | null { return v && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : null }

/** A step's `model` record, read leniently: whatever part is there shows. */
export function modelCall (raw: unknown): ModelCallView | null {
  const m = obj(raw)
  if (!m) return null
  const usage = obj(m.usage) ?? {}
  const messages = Array.isArray(m.messages)
    ? m.messages.map(x => obj(x)).filter((x): x is Record<string, unknown> => x !== null)
      .map(x => ({ role: str(x.role) ?? '?', content: typeof x.content === 'string' ? x.content : JSON.stringify(x.content ?? x.tool_calls ?? '') }))
    : []
  const completion = typeof m.completion === 'string' ? m.completion
    : obj(m.completion) ? str(obj(m.completion)!.content) ?? JSON.stringify(m.completion) : null
  const ids = (v: unknown) => Array.isArray(v) ? v.length : null
  return {
    model: str(m.model),
    promptTokens: num(usage.prompt_tokens),
    completionTokens: num(usage.completion_tokens),
    totalTokens: num(usage.total_tokens) ?? (num(usage.prompt_tokens) !== null && num(usage.completion_tokens) !== null ? num(usage.prompt_tokens)! + num(usage.completion_tokens)! : null),
    finishReason: str(m.finish_reason),
    latencyMs: num(m.latency_ms),
    messages,
    completion,
    promptTokenIds: ids(m.prompt_token_ids),
    completionTokenIds: ids(m.completion_token_ids),
    logprobs: Array.isArray(m.logprobs) || obj(m.logprobs) !== null
  }
}

interface RawStep {
  action: string, observation: string | null, thought?: string, response?: string, state?: string,
  execution_time?: number, reward?: number, terminated?: boolean, truncated?: boolean, model?: unknown, exit_code?: number | null
}

function parseState (s: string | undefined): { open_file?: string, working_dir?: string } {
  if (!s) return {}
  try { return obj(JSON.parse(s)) ?? {} } catch { return {} }
}

/**
 * Steps with their kinds and scores: a validate's metrics come from its observation; the episode's score list has
 * one more entry than those when the last step (submit, autosubmission) evaluated, and that entry is its score.
 */
export function toSteps (raw: RawStep[], score: Metrics[]): StepView[] {
  const steps: StepView[] = raw.map((s, i) => {
    const observation = s.observation ?? ''
    const state = parseState(s.state)
    const truncated = s.truncated === true
    const kind = stepKind(s.action, observation, truncated)
    const openFile = state.open_file && state.open_file !== 'n/a' ? state.open_file : null
    return {
      index: i + 1, action: s.action, observation, thought: s.thought ?? '', response: s.response ?? '',
      openFile, workingDir: state.working_dir ?? null, executionTime: num(s.execution_time), reward: num(s.reward),
      terminated: s.terminated === true, truncated, kind,
      score: kind === 'validate' ? evaluationScore(observation) : null,
      exitCode: num(s.exit_code),
      error: num(s.exit_code) !== null && s.exit_code !== 0,
      model: modelCall(s.model)
    }
  })
  const found = steps.filter(s => s.score).length
  const last = steps.at(-1)
  if (last && !last.score && score.length === found + 1 && (last.kind === 'submit' || last.kind === 'autosubmit')) last.score = score.at(-1)!
  for (const s of steps) if ((s.kind === 'validate' || s.kind === 'submit') && !s.score) s.error = true
  return steps
}

/**
 * The model an episode ran with: a `model` field of its own or of its meta (as `synthgym run` records it, also under
 * `agent` or `run`), else its first model call.
 */
export function episodeModel (ep: { meta: Record<string, unknown> }, steps?: { model: ModelCallView | null }[]): string | null {
  const meta = ep.meta
  const m = (ep as { model?: unknown }).model ?? meta.model ?? obj(meta.agent)?.model ?? obj(meta.run)?.model
  if (typeof m === 'string') return m
  if (obj(m) && typeof obj(m)!.name === 'string') return obj(m)!.name as string
  return steps?.find(s => s.model?.model)?.model?.model ?? null
}

export function fromTrajectory (t: Trajectory): TrajView {
  const ep = t.episode
  const steps = toSteps(t.steps as RawStep[], ep.score)
  return {
    source: 'episode', title: ep.id, episodeId: ep.id, taskId: ep.task_id, model: episodeModel(ep, steps),
    status: ep.status, exitStatus: ep.exit_status, outcome: ep.outcome ?? null, description: ep.description, baseline: ep.baseline, score: ep.score,
    steps, modelStats: null, createdAt: ep.created_at, meta: ep.meta
  }
}

/** A dropped file: MLGym's `.traj` (results.json beside it gives the baseline) or our trajectory JSON. */
export function fromFile (name: string, data: unknown, results?: unknown): TrajView {
  const d = obj(data)
  if (!d) throw new Error(`${name}: not a JSON object`)
  if (obj(d.episode) && Array.isArray(d.steps)) return { ...fromTrajectory(d as unknown as Trajectory), source: 'file', title: name }
  if (!Array.isArray(d.trajectory)) throw new Error(`${name}: not an MLGym .traj (no "trajectory" list) nor a synthgym trajectory (no "episode" and "steps")`)
  const bad = d.trajectory.findIndex(s => !obj(s) || typeof (s as RawStep).action !== 'string')
  if (bad >= 0) throw new Error(`${name}: trajectory[${bad}] has no "action" string`)
  const info = obj(d.info) ?? {}
  const score = Array.isArray(info.score) ? info.score.filter(x => obj(x)) as Metrics[] : []
  const history = Array.isArray(d.history) ? d.history.map(obj).filter((x): x is Record<string, unknown> => x !== null) : []
  const firstUser = history.find(h => h.role === 'user' && !h.is_demo)
  const stats = obj(info.model_stats)
  const modelStats = stats && Object.values(stats).some(v => typeof v === 'number' && v !== 0)
    ? Object.fromEntries(Object.entries(stats).filter(([, v]) => typeof v === 'number')) as Record<string, number> : null
  const steps = toSteps(d.trajectory as RawStep[], score)
  const res = obj(results)
  // without results.json, the baseline a validate printed
  const baseline = (res && obj(res.baseline) as Metrics | null) ?? steps.map(s => baselineScore(s.observation)).find(b => b) ?? null
  return {
    source: 'file', title: name, episodeId: null, taskId: name.replace(/\.traj$/, '') || null, model: null, status: null,
    exitStatus: str(info.exit_status), outcome: null, description: str(firstUser?.content) ?? '', baseline, score, steps, modelStats,
    createdAt: null, meta: {}
  }
}

/** The model usage of a whole trajectory, summed over the steps that carry it. */
export function usageTotals (steps: StepView[]): { calls: number, promptTokens: number, completionTokens: number, latencyMs: number } | null {
  const calls = steps.filter(s => s.model)
  if (!calls.length) return null
  return {
    calls: calls.length,
    promptTokens: calls.reduce((a, s) => a + (s.model!.promptTokens ?? 0), 0),
    completionTokens: calls.reduce((a, s) => a + (s.model!.completionTokens ?? 0), 0),
    latencyMs: calls.reduce((a, s) => a + (s.model!.latencyMs ?? 0), 0)
  }
}

// the benchmark run an episode belongs to: one function, shared with the page's AUP (clients/aup/episodes.ts)
export { runOf } from '../../../clients/aup/episodes.js'

/** The metric an episode's run recorded for its task (meta.run.metric), if any. */
function recordedMetric (e: Pick<EpisodeBrief, 'meta' | 'task_id'>): Metric | null {
  const run = e.meta.run as { task?: unknown, metric?: Metric | null } | undefined
  const m = run && typeof run === 'object' && run.task === e.task_id ? run.metric : null
  return m && typeof m.name === 'string' && (m.direction === 'maximize' || m.direction === 'minimize') ? m : null
}

/**
 * The metric a task is scored on: its own, else the one its runs recorded (a task no longer served), else the
 * first metric of its baseline or scores.
 */
export function metricOf (task: Pick<TaskSummary, 'metric'> | undefined, eps: EpisodeBrief[]): Metric | null {
  if (task?.metric) return task.metric
  for (const e of eps) { const m = recordedMetric(e); if (m) return m }
  const key = Object.keys(eps.find(e => e.baseline)?.baseline ?? eps.find(e => e.score.length)?.score[0] ?? {})[0]
  return key ? { name: key, direction: 'maximize' } : null
}
