// What an episode is made of on the wire and in the store: reset and step results, recorded steps, episodes and
// their pages. Each type once, with the JSON Schema that checks it (the server tests validate real answers).
import { compile } from './validate.js'
import { mlgymResultsSchema, mlgymTrajSchema, type Metrics, type MlgymResults, type MlgymTraj } from './trajectory.js'

const metrics = { type: 'object', additionalProperties: { type: 'number' } }
const nullableMetrics = { anyOf: [{ type: 'null' }, metrics] }
const nullableString = { type: ['string', 'null'] }

/**
 * A chat message as an OpenAI-compatible endpoint takes and returns it. Open-ended on purpose: fields an endpoint
 * adds (reasoning_content, refusal, vLLM's token ids) are kept and come back unchanged.
 */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | 'developer'
  content: string | null | unknown[]
  tool_calls?: Array<{ id: string, type: 'function', function: { name: string, arguments: string } }>
  tool_call_id?: string
  name?: string
  [k: string]: unknown
}

export const chatMessageSchema = {
  type: 'object', required: ['role', 'content'],
  properties: {
    role: { enum: ['system', 'user', 'assistant', 'tool', 'developer'] },
    content: { anyOf: [{ type: 'string' }, { type: 'null' }, { type: 'array' }] },
    tool_calls: {
      type: 'array',
      items: {
        type: 'object', required: ['id', 'type', 'function'],
        properties: {
          id: { type: 'string' }, type: { const: 'function' },
          function: { type: 'object', required: ['name', 'arguments'], properties: { name: { type: 'string' }, arguments: { type: 'string' } } }
        }
      }
    },
    tool_call_id: { type: 'string' },
    name: { type: 'string' }
  }
}

export interface Usage { prompt_tokens: number, completion_tokens: number, total_tokens?: number, [k: string]: unknown }
const usageSchema = {
  type: 'object', required: ['prompt_tokens', 'completion_tokens'],
  properties: { prompt_tokens: { type: 'integer', minimum: 0 }, completion_tokens: { type: 'integer', minimum: 0 }, total_tokens: { type: 'integer', minimum: 0 } }
}

/** Token data as vLLM and SGLang return it on request; what RL trainers (verifiers, NeMo Gym) want per turn. */
interface TokenData {
  prompt_token_ids?: number[]
  completion_token_ids?: number[]
  /** one logprob per completion token */
  completion_logprobs?: number[]
}
const tokenDataProperties = {
  prompt_token_ids: { type: 'array', items: { type: 'integer', minimum: 0 } },
  completion_token_ids: { type: 'array', items: { type: 'integer', minimum: 0 } },
  completion_logprobs: { type: 'array', items: { type: 'number' } }
}

/**
 * A model answer that did not parse (MLGym's format error): the harness re-queried with `error` appended. Its
 * prompt was the step's prompt up to the failed answer before it (MLGym's requery keeps only the last failure).
 */
export interface ModelAttempt extends TokenData {
  completion: ChatMessage
  /** the parser's error text, as sent back to the model */
  error: string
  usage: Usage | null
  finish_reason: string | null
  latency_ms: number
}
const modelAttemptSchema = {
  type: 'object', required: ['completion', 'error', 'usage', 'finish_reason', 'latency_ms'],
  properties: {
    completion: chatMessageSchema, error: { type: 'string' }, usage: { anyOf: [{ type: 'null' }, usageSchema] },
    finish_reason: nullableString, latency_ms: { type: 'number', minimum: 0 }, ...tokenDataProperties
  }
}

/**
 * What the model call behind a step returned, stored beside the action (`model` of a step body): the messages sent,
 * the completion message, usage, finish reason, latency and, where the endpoint returns them, token ids and
 * logprobs. The server stores it as given and returns it unchanged with the episode's steps.
 */
export interface ModelCall extends TokenData {
  /** the model name the endpoint answered as (or was asked for) */
  model: string
  /** exactly what was sent for the completion that became the action */
  messages: ChatMessage[]
  completion: ChatMessage
  usage: Usage | null
  finish_reason: string | null
  latency_ms: number
  /** sampling settings sent (temperature, top_p, max_tokens, ...) */
  sampling?: Record<string, unknown>
  /** answers that failed to parse before this one, oldest first */
  requeries?: ModelAttempt[]
  /** API errors retried before the call succeeded (429, 5xx, timeouts) */
  api_retries?: number
  /** cost of this step's calls (requeries included) in dollars, where the harness knows prices */
  cost?: number
}

export const modelCallSchema = {
  type: 'object', required: ['model', 'messages', 'completion', 'usage', 'finish_reason', 'latency_ms'],
  properties: {
    model: { type: 'string', minLength: 1 },
    messages: { type: 'array', items: chatMessageSchema },
    completion: chatMessageSchema,
    usage: { anyOf: [{ type: 'null' }, usageSchema] },
    finish_reason: nullableString,
    latency_ms: { type: 'number', minimum: 0 },
    sampling: { type: 'object' },
    requeries: { type: 'array', items: modelAttemptSchema },
    api_retries: { type: 'integer', minimum: 0 },
    cost: { type: 'number', minimum: 0 },
    ...tokenDataProperties
  }
}

/** One step as the episode records it (and MLGym's .traj shows it, plus the Gymnasium values). */
export interface TrajectoryStep {
  action: string
  observation: string
  response: string
  thought: string
  /** MLGym's state command output: JSON of {open_file, working_dir} */
  state: string
  execution_time: number
  reward: number
  terminated: boolean
  truncated: boolean
  /** the shell's exit status of the action; null when no command ran (validate, submit, a refused edit) or it timed out */
  exit_code?: number | null
  /** the model call behind the step, when the client sent one */
  model?: ModelCall
}

export const trajectoryStepSchema = {
  type: 'object', additionalProperties: false,
  required: ['action', 'observation', 'response', 'thought', 'state', 'execution_time', 'reward', 'terminated', 'truncated'],
  properties: {
    action: { type: 'string' }, observation: { type: 'string' }, response: { type: 'string' }, thought: { type: 'string' },
    state: { type: 'string' }, execution_time: { type: 'number', minimum: 0 }, reward: { type: 'number' },
    terminated: { type: 'boolean' }, truncated: { type: 'boolean' }, exit_code: { type: ['integer', 'null'] },
    model: modelCallSchema
  }
}

/** The running totals of an episode. */
export interface EpisodeInfo {
  score: Metrics[]
  exit_status: string | null
  submission: string | null
}

export interface StepInfo extends EpisodeInfo {
  current_step: number
  max_steps: number
  /** the metrics this step's evaluation produced, if it evaluated */
  metrics?: Metrics
  timed_out?: 'timeout' | 'no_output'
  /** the shell's exit status of the action, where a command ran to its end (a failing `python train.py` is not 0) */
  exit_code?: number
  output_truncated?: boolean
  shell_restarted?: boolean
  state: { open_file: string, working_dir: string }
}

/** Gymnasium's five values. */
export interface StepResult {
  observation: string
  reward: number
  terminated: boolean
  truncated: boolean
  info: StepInfo
}

export const stepResultSchema = {
  type: 'object', required: ['observation', 'reward', 'terminated', 'truncated', 'info'], additionalProperties: false,
  properties: {
    observation: { type: 'string' }, reward: { type: 'number' }, terminated: { type: 'boolean' }, truncated: { type: 'boolean' },
    info: {
      type: 'object', additionalProperties: false,
      required: ['score', 'exit_status', 'submission', 'current_step', 'max_steps', 'state'],
      properties: {
        score: { type: 'array', items: metrics },
        exit_status: nullableString,
        submission: nullableString,
        current_step: { type: 'integer', minimum: 0 },
        max_steps: { type: 'integer', minimum: 1 },
        metrics,
        timed_out: { enum: ['timeout', 'no_output'] },
        exit_code: { type: 'integer' },
        output_truncated: { type: 'boolean' },
        shell_restarted: { type: 'boolean' },
        state: {
          type: 'object', required: ['open_file', 'working_dir'], additionalProperties: false,
          properties: { open_file: { type: 'string' }, working_dir: { type: 'string' } }
        }
      }
    }
  }
}

export interface ResetInfo {
  task_id: string
  max_steps: number
  baseline: Metrics | null
  metric: { name: string, direction: 'maximize' | 'minimize' } | null
  entrypoint: string
}

/** A reset: the task prompt, and the episode it started. */
export interface ResetResult {
  observation: string
  info: ResetInfo
  episode_id: string
}

export const resetResultSchema = {
  type: 'object', required: ['observation', 'info', 'episode_id'], additionalProperties: false,
  properties: {
    observation: { type: 'string' },
    episode_id: { type: 'string' },
    info: {
      type: 'object', required: ['task_id', 'max_steps', 'baseline', 'metric', 'entrypoint'], additionalProperties: false,
      properties: {
        task_id: { type: 'string' },
        max_steps: { type: 'integer', minimum: 1 },
        baseline: nullableMetrics,
        metric: {
          anyOf: [{ type: 'null' }, {
            type: 'object', required: ['name', 'direction'], additionalProperties: false,
            properties: { name: { type: 'string' }, direction: { enum: ['maximize', 'minimize'] } }
          }]
        },
        entrypoint: { type: 'string' }
      }
    }
  }
}

/**
 * `finished`: the episode ended (submit, autosubmission, skip...); `abandoned`: its environment was reset or closed
 * (DELETE, idle reaper) before it ended; `interrupted`: the server stopped under it (killed, crashed, shut down), its
 * steps so far kept.
 */
export type EpisodeStatus = 'running' | 'finished' | 'abandoned' | 'interrupted'
export const EPISODE_STATUSES: EpisodeStatus[] = ['running', 'finished', 'abandoned', 'interrupted']
/** Statuses an episode ends with: pages of these follow the order episodes ended. */
export const ENDED_STATUSES: EpisodeStatus[] = ['finished', 'abandoned', 'interrupted']

/**
 * Why an ended episode ended as it did, one category each (the dashboard colours and filters by it):
 * a scored submission that beat the baseline or did not; else the first cause that applies: the server stopped under
 * it, the disk limit, the sandbox died (early_exit), the agent's harness gave up (format errors, context, API, cost),
 * the step budget ran out (timeout), or it ended without a valid submission (submit found nothing, skip, forfeit).
 */
export type EpisodeOutcome = 'improved' | 'not_improved' | 'no_submission' | 'format' | 'context' | 'api' | 'cost' |
  'timeout' | 'sandbox_crash' | 'disk_limit' | 'interrupted' | 'abandoned'
export const EPISODE_OUTCOMES: EpisodeOutcome[] = ['improved', 'not_improved', 'no_submission', 'format', 'context', 'api',
  'cost', 'timeout', 'sandbox_crash', 'disk_limit', 'interrupted', 'abandoned']

// the harness's exit actions (MLGym's names) and what each says about the episode
const EXIT_CAUSES: Record<string, EpisodeOutcome> = {
  exit_format: 'format', exit_context: 'context', exit_api: 'api', exit_cost: 'cost', max_steps: 'timeout'
}

export function episodeOutcome (ep: Pick<Episode, 'status' | 'exit_status' | 'score' | 'improved'>): EpisodeOutcome | null {
  if (ep.status === 'running') return null
  const exit = ep.exit_status ?? ''
  if (ep.status === 'interrupted' || exit === 'interrupted') return 'interrupted'
  if (exit === 'disk_limit_exceeded') return 'disk_limit'
  if (exit === 'early_exit') return 'sandbox_crash'
  if (ep.score.length > 0 && /^(submitted|autosubmission)/.test(exit)) return ep.improved ? 'improved' : 'not_improved'
  // `autosubmission (exit_context)`, `submission_not_found (exit_api)`, or the bare exit action
  const cause = /\((\w+)\)$/.exec(exit)?.[1] ?? exit
  if (Object.hasOwn(EXIT_CAUSES, cause)) return EXIT_CAUSES[cause]!
  if (ep.status === 'abandoned') return 'abandoned'
  return 'no_submission'
}

/** A stored episode, without its steps. */
export interface Episode extends EpisodeInfo {
  id: string
  env_id: string
  task_id: string
  status: EpisodeStatus
  baseline: Metrics | null
  steps: number
  /** the task prompt the episode started with */
  description: string
  created_at: string
  finished_at: string | null
  meta: Record<string, unknown>
  /** the model that ran it: the env's `model` (POST /v1/envs), else the first step's `model.model`; null if none */
  model: string | null
  /** whether some score beats the baseline (direction-aware); null for episodes stored before this was recorded */
  improved: boolean | null
  /** why it ended as it did (episodeOutcome); null while it runs */
  outcome: EpisodeOutcome | null
  /** its steps, in GET /v1/episodes?include_steps=true pages */
  trajectory?: TrajectoryStep[]
}

export const episodeSchema = {
  type: 'object', additionalProperties: false,
  required: ['id', 'env_id', 'task_id', 'status', 'exit_status', 'submission', 'score', 'baseline', 'steps', 'description',
    'created_at', 'finished_at', 'meta', 'model', 'improved', 'outcome'],
  properties: {
    id: { type: 'string' }, env_id: { type: 'string' }, task_id: { type: 'string' },
    status: { enum: EPISODE_STATUSES },
    exit_status: nullableString, submission: nullableString,
    score: { type: 'array', items: metrics },
    baseline: nullableMetrics,
    steps: { type: 'integer', minimum: 0 },
    description: { type: 'string' },
    created_at: { type: 'string' }, finished_at: nullableString,
    meta: { type: 'object' },
    model: nullableString,
    improved: { type: ['boolean', 'null'] },
    outcome: { anyOf: [{ type: 'null' }, { enum: EPISODE_OUTCOMES }] },
    trajectory: { type: 'array', items: trajectoryStepSchema }
  }
}

/**
 * The relative improvement of `metrics` over `baseline` on the task's metric (the first baseline key when the task
 * names none): `(score - baseline) / |baseline|` (the plain difference for a zero baseline), sign flipped for a
 * minimized metric. Null when either side lacks the metric. The `improvement` and `shaped` rewards, the `improved`
 * filter of GET /v1/episodes and the runs use this one rule.
 */
export function improvementOver (metrics: Metrics, baseline: Metrics | null,
  metric: { name: string, direction: 'maximize' | 'minimize' } | null | undefined): number | null {
  const name = metric?.name ?? Object.keys(baseline ?? metrics)[0]
  if (!name) return null
  const s = metrics[name]
  const b = baseline?.[name]
  if (typeof s !== 'number' || typeof b !== 'number' || !Number.isFinite(s) || !Number.isFinite(b)) return null
  const diff = metric?.direction === 'minimize' ? b - s : s - b
  return b === 0 ? diff : diff / Math.abs(b)
}

/** Whether some score of an episode beats the baseline (strictly, direction-aware). */
export function beatsBaseline (scores: Metrics[], baseline: Metrics | null,
  metric: { name: string, direction: 'maximize' | 'minimize' } | null | undefined): boolean {
  return scores.some(m => (improvementOver(m, baseline, metric) ?? 0) > 0)
}

/**
 * One page of `GET /v1/episodes`; `next_cursor` fetches the next one (null: this was the last). `end_cursor` is the
 * cursor just past this page's last episode (null for an empty page), also on the last page: a feed asks again with
 * it (and `wait=`) to get only episodes newer than these.
 */
export interface EpisodePage { episodes: Episode[], next_cursor: string | null, end_cursor: string | null }

export const episodePageSchema = {
  type: 'object', required: ['episodes', 'next_cursor', 'end_cursor'], additionalProperties: false,
  properties: { episodes: { type: 'array', items: episodeSchema }, next_cursor: nullableString, end_cursor: nullableString }
}

/** An episode as `GET /v1/episodes?description=false` lists it: all but the task prompt (GET /v1/tasks/:id has it). */
export type EpisodeBrief = Omit<Episode, 'description'>

const { description: _description, ...briefProperties } = episodeSchema.properties
export const episodeBriefSchema = {
  type: 'object', additionalProperties: false,
  required: episodeSchema.required.filter(k => k !== 'description'), properties: briefProperties
}

/** A page of briefs: for listings that show many episodes at once (the dashboard's runs), a sixth of the bytes. */
export interface EpisodeBriefPage { episodes: EpisodeBrief[], next_cursor: string | null, end_cursor: string | null }
export const episodeBriefPageSchema = {
  type: 'object', required: ['episodes', 'next_cursor', 'end_cursor'], additionalProperties: false,
  properties: { episodes: { type: 'array', items: episodeBriefSchema }, next_cursor: nullableString, end_cursor: nullableString }
}

/** An episode with its steps, also as MLGym's `.traj` and `results.json`. */
export interface Trajectory { episode: Episode, traj: MlgymTraj, results: MlgymResults, steps: TrajectoryStep[] }

export const trajectorySchema = {
  type: 'object', required: ['episode', 'traj', 'results', 'steps'], additionalProperties: false,
  properties: { episode: episodeSchema, traj: mlgymTrajSchema, results: mlgymResultsSchema, steps: { type: 'array', items: trajectoryStepSchema } }
}

export const validateStepResult = compile<StepResult>(stepResultSchema)
export const validateResetResult = compile<ResetResult>(resetResultSchema)
export const validateEpisodePage = compile<EpisodePage>(episodePageSchema)
export const validateEpisodeBriefPage = compile<EpisodeBriefPage>(episodeBriefPageSchema)
export const validateTrajectory = compile<Trajectory>(trajectorySchema)
export const validateModelCall = compile<ModelCall>(modelCallSchema)
