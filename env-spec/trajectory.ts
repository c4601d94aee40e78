// MLGym's trajectory formats: `<task>.traj` (rewritten after every step) and `results.json`.
import { compile } from './validate.js'

export type Metrics = Record<string, number>

export interface MlgymTrajStep {
  action: string, observation: string, response: string, state: string, thought: string, execution_time: number
  /** ours, beside MLGym's fields (its readers ignore it): the action's shell exit status, null where none ran */
  exit_code?: number | null
  /** ours: the reply's reasoning (clients/llm/reasoning.ts), present only when it had some; `thought` then starts
   * with it, and `response` is the answer without it */
  reasoning?: string
}
export interface MlgymHistoryEntry { role: 'system' | 'user' | 'assistant', content: string, agent: string, thought?: string, action?: string, reasoning?: string }
export interface MlgymTraj {
  environment: string
  trajectory: MlgymTrajStep[]
  history: MlgymHistoryEntry[]
  info: {
    model_stats: { total_cost: number, task_cost: number, tokens_sent: number, tokens_received: number, api_calls: number }
    exit_status: string | null
    submission: string | null
    score: Metrics[]
    summarizer: Record<string, never>
    /** ours: the endpoint's own message when the episode ended exit_api or exit_context */
    api_error?: string
  }
}
export interface MlgymResults { agent: Metrics[], baseline: Metrics | null }

export interface EpisodeLike {
  description: string
  exit_status: string | null
  submission: string | null
  score: Metrics[]
  baseline: Metrics | null
}

/** What model stats need of a step's model call (env-spec/episode.ts ModelCall). */
interface ModelCallStats {
  usage: { prompt_tokens: number, completion_tokens: number } | null
  cost?: number
  requeries?: Array<{ usage: { prompt_tokens: number, completion_tokens: number } | null }>
}

/** MLGym's model_stats summed over the model calls steps carry (requeried answers count as calls). */
export function modelStats (steps: Array<{ model?: ModelCallStats }>): MlgymTraj['info']['model_stats'] {
  const stats = { total_cost: 0, task_cost: 0, tokens_sent: 0, tokens_received: 0, api_calls: 0 }
  for (const s of steps) {
    if (!s.model) continue
    for (const u of [s.model.usage, ...(s.model.requeries ?? []).map(r => r.usage)]) {
      stats.api_calls += 1
      stats.tokens_sent += u?.prompt_tokens ?? 0
      stats.tokens_received += u?.completion_tokens ?? 0
    }
    stats.total_cost += s.model.cost ?? 0
  }
  stats.task_cost = stats.total_cost
  return stats
}

/**
 * The history is rebuilt from what the server saw: the task prompt, each step's response (the client may send the
 * raw LLM output with the action) and each observation. Model stats come from the steps' model calls (zero when the
 * client sent none).
 */
export function toMlgymTraj (ep: EpisodeLike, steps: Array<MlgymTrajStep & { model?: ModelCallStats }>): MlgymTraj {
  const agent = 'primary_0'
  const history: MlgymHistoryEntry[] = [{ role: 'user', content: ep.description, agent }]
  for (const s of steps) {
    history.push({ role: 'assistant', content: s.response, thought: s.thought, action: s.action, agent })
    history.push({ role: 'user', content: s.observation, agent })
  }
  return {
    environment: 'mlgym_main',
    trajectory: steps.map(s => ({
      action: s.action, observation: s.observation, response: s.response, state: s.state, thought: s.thought,
      execution_time: s.execution_time, ...(s.exit_code !== undefined ? { exit_code: s.exit_code } : {})
    })),
    history,
    info: {
      model_stats: modelStats(steps),
      exit_status: ep.exit_status, submission: ep.submission, score: ep.score, summarizer: {}
    }
  }
}

export function toMlgymResults (ep: EpisodeLike): MlgymResults {
  return { agent: ep.score, baseline: ep.baseline }
}

const metrics = { type: 'object', additionalProperties: { type: 'number' } }

export const mlgymTrajSchema = {
  type: 'object', required: ['environment', 'trajectory', 'history', 'info'], additionalProperties: false,
  properties: {
    environment: { type: 'string' },
    trajectory: {
      type: 'array',
      items: {
        type: 'object', required: ['action', 'observation', 'response', 'state', 'thought', 'execution_time'], additionalProperties: false,
        properties: {
          action: { type: 'string' }, observation: { type: ['string', 'null'] }, response: { type: 'string' },
          state: { type: 'string' }, thought: { type: 'string' }, execution_time: { type: 'number', minimum: 0 },
          exit_code: { type: ['integer', 'null'] }, reasoning: { type: 'string' }
        }
      }
    },
    history: {
      type: 'array',
      items: {
        type: 'object', required: ['role', 'content', 'agent'],
        properties: {
          role: { enum: ['system', 'user', 'assistant'] }, content: { type: 'string' }, agent: { type: 'string' },
          thought: { type: 'string' }, action: { type: 'string' }, is_demo: { type: 'boolean' }, reasoning: { type: 'string' }
        }
      }
    },
    info: {
      type: 'object', required: ['model_stats', 'exit_status', 'submission', 'score', 'summarizer'],
      properties: {
        model_stats: {
          type: 'object', required: ['total_cost', 'task_cost', 'tokens_sent', 'tokens_received', 'api_calls'],
          additionalProperties: { type: 'number' }
        },
        exit_status: { type: ['string', 'null'] },
        submission: { type: ['string', 'null'] },
        score: { type: 'array', items: metrics },
        summarizer: { type: 'object' },
        api_error: { type: 'string' }
      }
    }
  }
}

export const mlgymResultsSchema = {
  type: 'object', required: ['agent', 'baseline'], additionalProperties: false,
  properties: { agent: { type: 'array', items: metrics }, baseline: { anyOf: [{ type: 'null' }, metrics] } }
}

/** For files that come in from MLGym runs (and to check that ours are MLGym's shape). */
export const validateMlgymTraj = compile<MlgymTraj>(mlgymTrajSchema)
export const validateMlgymResults = compile<MlgymResults>(mlgymResultsSchema)
