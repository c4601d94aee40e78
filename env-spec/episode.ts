// What an episode is made of on the wire and in the store: reset and step results, recorded steps, episodes and
// their pages. Each type once, with the JSON Schema that checks it (the server tests validate real answers).
import { compile } from './validate.js'
import { mlgymResultsSchema, mlgymTrajSchema, type Metrics, type MlgymResults, type MlgymTraj } from './trajectory.js'

const metrics = { type: 'object', additionalProperties: { type: 'number' } }
const nullableMetrics = { anyOf: [{ type: 'null' }, metrics] }
const nullableString = { type: ['string', 'null'] }

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
}

export const trajectoryStepSchema = {
  type: 'object', additionalProperties: false,
  required: ['action', 'observation', 'response', 'thought', 'state', 'execution_time', 'reward', 'terminated', 'truncated'],
  properties: {
    action: { type: 'string' }, observation: { type: 'string' }, response: { type: 'string' }, thought: { type: 'string' },
    state: { type: 'string' }, execution_time: { type: 'number', minimum: 0 }, reward: { type: 'number' },
    terminated: { type: 'boolean' }, truncated: { type: 'boolean' }
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

export type EpisodeStatus = 'running' | 'finished' | 'abandoned'
export const EPISODE_STATUSES: EpisodeStatus[] = ['running', 'finished', 'abandoned']

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
}

export const episodeSchema = {
  type: 'object', additionalProperties: false,
  required: ['id', 'env_id', 'task_id', 'status', 'exit_status', 'submission', 'score', 'baseline', 'steps', 'description', 'created_at', 'finished_at', 'meta'],
  properties: {
    id: { type: 'string' }, env_id: { type: 'string' }, task_id: { type: 'string' },
    status: { enum: EPISODE_STATUSES },
    exit_status: nullableString, submission: nullableString,
    score: { type: 'array', items: metrics },
    baseline: nullableMetrics,
    steps: { type: 'integer', minimum: 0 },
    description: { type: 'string' },
    created_at: { type: 'string' }, finished_at: nullableString,
    meta: { type: 'object' }
  }
}

/** One page of `GET /v1/episodes`; `next_cursor` fetches the next one (null: this was the last). */
export interface EpisodePage { episodes: Episode[], next_cursor: string | null }

export const episodePageSchema = {
  type: 'object', required: ['episodes', 'next_cursor'], additionalProperties: false,
  properties: { episodes: { type: 'array', items: episodeSchema }, next_cursor: nullableString }
}

/** An episode as `GET /v1/episodes?description=false` lists it: all but the task prompt (GET /v1/tasks/:id has it). */
export type EpisodeBrief = Omit<Episode, 'description'>

const { description: _description, ...briefProperties } = episodeSchema.properties
export const episodeBriefSchema = {
  type: 'object', additionalProperties: false,
  required: episodeSchema.required.filter(k => k !== 'description'), properties: briefProperties
}

/** A page of briefs: for listings that show many episodes at once (the dashboard's runs), a sixth of the bytes. */
export interface EpisodeBriefPage { episodes: EpisodeBrief[], next_cursor: string | null }
export const episodeBriefPageSchema = {
  type: 'object', required: ['episodes', 'next_cursor'], additionalProperties: false,
  properties: { episodes: { type: 'array', items: episodeBriefSchema }, next_cursor: nullableString }
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
