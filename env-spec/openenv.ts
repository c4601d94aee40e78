// OpenEnv's wire format (meta-pytorch/OpenEnv, src/openenv/core/env_server/types.py and http_server.py), as
// synthgym speaks it under /openenv: the WebSocket messages and replies, the HTTP reset/step/state bodies, health,
// schema, metadata, and the error data. Field names are OpenEnv's; what synthgym adds is named here once.
import { compile } from './validate.js'
import { createEnvSchema, type CreateEnvBody } from './messages.js'
import { resetResultSchema, stepResultSchema, type ResetInfo, type StepInfo } from './episode.js'
import type { Metrics } from './trajectory.js'

/** OpenEnv's `WSErrorCode`, all of them. */
export const OPENENV_ERROR_CODES = [
  'INVALID_JSON', 'UNKNOWN_TYPE', 'VALIDATION_ERROR', 'EXECUTION_ERROR', 'CAPACITY_REACHED', 'FACTORY_ERROR', 'SESSION_ERROR'
] as const
export type OpenEnvErrorCode = typeof OPENENV_ERROR_CODES[number]

/**
 * A synthgym action (OpenEnv's `Action`: `extra="forbid"`, `metadata`): one command line of the task's tool
 * profile (`open "strategy.py"`, `validate`, `submit`, any bash). `thought` and `response` go into the trajectory
 * as on `POST /v1/envs/:id/step`.
 */
export interface OpenEnvAction { command: string, thought?: string, response?: string, metadata?: Record<string, unknown> }
export const openEnvActionSchema = {
  title: 'SynthgymAction', type: 'object', required: ['command'], additionalProperties: false,
  properties: {
    command: { title: 'Command', type: 'string', description: 'one tool command or bash command line' },
    thought: { title: 'Thought', type: 'string', description: 'recorded in the trajectory' },
    response: { title: 'Response', type: 'string', description: 'the model output the command was parsed from; recorded' },
    metadata: { title: 'Metadata', type: 'object', description: 'Additional metadata for the action' }
  }
}

/**
 * Reset's kwargs (OpenEnv's `ResetRequest`: `seed`, `episode_id`) plus what `POST /v1/envs` takes: `task` and the
 * environment options. `seed` and `episode_id` are checked as OpenEnv checks them and otherwise unused (a task's
 * randomness is the agent's; episode ids are the server's). Unknown keys are refused.
 */
export type OpenEnvResetData = Partial<CreateEnvBody> & { seed?: number, episode_id?: string }
const { task: _task, ...createOptions } = createEnvSchema.properties
export const openEnvResetDataSchema = {
  title: 'SynthgymReset', type: 'object', additionalProperties: false,
  properties: {
    seed: { type: 'integer', minimum: 0 },
    episode_id: { type: 'string', maxLength: 255 },
    task: { type: 'string', minLength: 1 },
    ...createOptions
  }
}
/** The create-time fields in reset's data: any of them (or another task) makes a new environment. */
export const CREATE_OPTIONS = Object.keys(createOptions) as (keyof Omit<CreateEnvBody, 'task'>)[]

/** HTTP `POST /reset`: the same kwargs, and `env_id` to reset a live environment instead of a throwaway one. */
export type OpenEnvHttpReset = OpenEnvResetData & { env_id?: string }
export const openEnvHttpResetSchema = {
  ...openEnvResetDataSchema,
  properties: { ...openEnvResetDataSchema.properties, env_id: { type: 'string', minLength: 1 } }
}

/** HTTP `POST /step` (OpenEnv's `StepRequest`); `env_id` (an extra key, which StepRequest allows) names a live env. */
export interface OpenEnvHttpStep { action: OpenEnvAction, timeout_s?: number, request_id?: string, env_id?: string }
export const openEnvHttpStepSchema = {
  type: 'object', required: ['action'], additionalProperties: false,
  properties: {
    action: openEnvActionSchema,
    timeout_s: { type: 'number', exclusiveMinimum: 0 },
    request_id: { type: 'string', maxLength: 255 },
    env_id: { type: 'string', minLength: 1 }
  }
}

/** `GET /state?env_id=`. */
export interface OpenEnvStateQuery { env_id?: string }
export const openEnvStateQuerySchema = {
  type: 'object', additionalProperties: false, properties: { env_id: { type: 'string', minLength: 1 } }
}

/** The observation a step or reset makes: our text, the Gymnasium split and info (OpenEnv keeps only `done`). */
export interface OpenEnvObservation {
  output: string
  terminated: boolean
  truncated: boolean
  info: StepInfo | ResetInfo
}

/** Where this observation came from. */
export interface OpenEnvMetadata { env_id: string, episode_id: string, task: string, step_count: number }

/**
 * `{observation, reward, done, metadata}`: the data of a WS `observation` reply, and the HTTP Reset/StepResponse
 * (OpenEnv's `serialize_observation`: reward, done and metadata beside the observation, not in it).
 */
export interface OpenEnvResult { observation: OpenEnvObservation, reward: number | null, done: boolean, metadata: OpenEnvMetadata }

const metadataSchema = {
  title: 'Metadata', type: 'object', required: ['env_id', 'episode_id', 'task', 'step_count'], additionalProperties: false,
  properties: { env_id: { type: 'string' }, episode_id: { type: 'string' }, task: { type: 'string' }, step_count: { type: 'integer', minimum: 0 } }
}
const observationProperties = {
  output: { title: 'Output', type: 'string', description: 'what the command printed, or the task prompt after a reset' },
  terminated: { title: 'Terminated', type: 'boolean', description: 'the episode ended (submit, skip, exit_forfeit)' },
  truncated: { title: 'Truncated', type: 'boolean', description: 'the episode was cut (max_steps, exit_* autosubmission)' },
  info: { title: 'Info', anyOf: [stepResultSchema.properties.info, resetResultSchema.properties.info] }
}
export const openEnvResultSchema = {
  type: 'object', required: ['observation', 'reward', 'done', 'metadata'], additionalProperties: false,
  properties: {
    observation: { type: 'object', required: Object.keys(observationProperties), additionalProperties: false, properties: observationProperties },
    reward: { type: ['number', 'null'] },
    done: { type: 'boolean' },
    metadata: metadataSchema
  }
}
/** `/schema`'s observation: the Observation model as pydantic shows one, OpenEnv's base fields included. */
export const openEnvObservationSchema = {
  title: 'SynthgymObservation', type: 'object', additionalProperties: false, required: Object.keys(observationProperties),
  properties: {
    done: { title: 'Done', type: 'boolean', default: false, description: 'Whether the episode has terminated' },
    reward: { title: 'Reward', anyOf: [{ type: 'boolean' }, { type: 'integer' }, { type: 'number' }, { type: 'null' }], default: null, description: 'Reward signal from the last action' },
    metadata: { ...metadataSchema, description: 'Additional metadata for the observation' },
    ...observationProperties
  }
}

/** OpenEnv's `State` (`episode_id`, `step_count`; extra keys allowed) with the environment's own fields. */
export interface OpenEnvState {
  episode_id: string | null
  step_count: number
  /** null: this session has no environment yet (reset makes one) */
  env_id: string | null
  task: string
  max_steps: number
  done: boolean
  exit_status: string | null
  score: Metrics[]
  /** a step runs on it now (another socket's, or this one's before a drop) */
  running: boolean
}
const stateProperties = {
  episode_id: { title: 'Episode Id', type: ['string', 'null'], default: null, description: 'Unique identifier for the current episode' },
  step_count: { title: 'Step Count', type: 'integer', minimum: 0, default: 0, description: 'Number of steps taken in the current episode' },
  env_id: { title: 'Env Id', type: ['string', 'null'], description: 'the live environment; resume at /openenv/envs/<env_id>/ws' },
  task: { title: 'Task', type: 'string' },
  max_steps: { title: 'Max Steps', type: 'integer', minimum: 1 },
  done: { title: 'Done', type: 'boolean' },
  exit_status: { title: 'Exit Status', type: ['string', 'null'] },
  score: { title: 'Score', type: 'array', items: { type: 'object', additionalProperties: { type: 'number' } } },
  running: { title: 'Running', type: 'boolean' }
}
export const openEnvStateSchema = {
  title: 'SynthgymState', type: 'object', required: Object.keys(stateProperties), additionalProperties: false, properties: stateProperties
}

/** `GET /schema` (OpenEnv's `SchemaResponse`). */
export interface OpenEnvSchemaResponse { action: object, observation: object, state: object }
/** `GET /health` (OpenEnv's `HealthResponse`, `extra="forbid"`): `degraded` when the default backend cannot serve. */
export interface OpenEnvHealth { status: 'healthy' | 'unhealthy' | 'degraded' }
export const openEnvHealthSchema = {
  type: 'object', required: ['status'], additionalProperties: false, properties: { status: { enum: ['healthy', 'unhealthy', 'degraded'] } }
}
/** `GET /metadata` (OpenEnv's `EnvironmentMetadata`). */
export interface OpenEnvMetadataResponse {
  name: string
  description: string
  readme_content: string | null
  version: string | null
  author: string | null
  documentation_url: string | null
}
export const openEnvMetadataResponseSchema = {
  type: 'object', required: ['name', 'description', 'readme_content', 'version', 'author', 'documentation_url'], additionalProperties: false,
  properties: {
    name: { type: 'string' }, description: { type: 'string' }, readme_content: { type: ['string', 'null'] },
    version: { type: ['string', 'null'] }, author: { type: ['string', 'null'] }, documentation_url: { type: ['string', 'null'] }
  }
}

/** One problem in pydantic's `errors()` shape (FastAPI's 422 `detail` items; OpenEnv's WS `errors`). */
export interface OpenEnvErrorItem { type: string, loc: (string | number)[], msg: string, input?: unknown }
const errorItemSchema = {
  type: 'object', required: ['type', 'loc', 'msg'],
  properties: { type: { type: 'string' }, loc: { type: 'array', items: { type: ['string', 'integer'] } }, msg: { type: 'string' }, input: {} }
}

/**
 * The data of a WS `error` reply: OpenEnv's `message` and `code` (plus `errors` for VALIDATION_ERROR,
 * `active_sessions`/`max_sessions` for CAPACITY_REACHED, `factory_name` for FACTORY_ERROR, as OpenEnv sends them),
 * and synthgym's own code (`synthgym_code`, README's error list) with the field it names.
 */
export interface OpenEnvErrorData {
  message: string
  code: OpenEnvErrorCode
  synthgym_code: string
  field?: string
  errors?: OpenEnvErrorItem[]
  active_sessions?: number
  max_sessions?: number
  factory_name?: string
}
const errorDataSchema = {
  type: 'object', required: ['message', 'code', 'synthgym_code'], additionalProperties: false,
  properties: {
    message: { type: 'string', minLength: 1 }, code: { enum: OPENENV_ERROR_CODES }, synthgym_code: { type: 'string' },
    field: { type: 'string' }, errors: { type: 'array', items: errorItemSchema },
    active_sessions: { type: 'integer', minimum: 0 }, max_sessions: { type: 'integer', minimum: 0 }, factory_name: { type: 'string' }
  }
}

/**
 * HTTP errors as FastAPI sends them: 422 `{detail: [items]}` for a body or query that does not fit; otherwise
 * `{detail: message}` with the status of synthgym's code, and the codes beside it.
 */
export type OpenEnvHttpError =
  | { detail: OpenEnvErrorItem[] }
  | { detail: string, code?: OpenEnvErrorCode, synthgym_code?: string }
export const openEnvHttpErrorSchema = {
  oneOf: [
    { type: 'object', required: ['detail'], additionalProperties: false, properties: { detail: { type: 'array', minItems: 1, items: errorItemSchema } } },
    {
      type: 'object', required: ['detail'], additionalProperties: false,
      properties: { detail: { type: 'string', minLength: 1 }, code: { enum: OPENENV_ERROR_CODES }, synthgym_code: { type: 'string' } }
    }
  ]
}

/** Client → server (OpenEnv's `WSIncomingMessage`; `mcp` is not served). */
export type OpenEnvWsMessage =
  | { type: 'reset', data?: Record<string, unknown> }
  | { type: 'step', data: Record<string, unknown> }
  | { type: 'state' }
  | { type: 'close' }
export const OPENENV_MESSAGE_TYPES = ['reset', 'step', 'state', 'close'] as const
export const openEnvWsMessageSchema = {
  type: 'object', required: ['type'],
  properties: { type: { enum: OPENENV_MESSAGE_TYPES } },
  allOf: [
    { if: { properties: { type: { const: 'reset' } } }, then: { additionalProperties: false, properties: { type: {}, data: { type: 'object' } } } },
    { if: { properties: { type: { const: 'step' } } }, then: { required: ['type', 'data'], additionalProperties: false, properties: { type: {}, data: { type: 'object' } } } },
    { if: { properties: { type: { enum: ['state', 'close'] } } }, then: { additionalProperties: false, properties: { type: {} } } }
  ]
}

/** Server → client. */
export type OpenEnvWsReply =
  | { type: 'observation', data: OpenEnvResult }
  | { type: 'state', data: OpenEnvState }
  | { type: 'error', data: OpenEnvErrorData }
export const openEnvWsReplySchema = {
  oneOf: [
    { type: 'object', required: ['type', 'data'], additionalProperties: false, properties: { type: { const: 'observation' }, data: openEnvResultSchema } },
    { type: 'object', required: ['type', 'data'], additionalProperties: false, properties: { type: { const: 'state' }, data: openEnvStateSchema } },
    { type: 'object', required: ['type', 'data'], additionalProperties: false, properties: { type: { const: 'error' }, data: errorDataSchema } }
  ]
}

export const validateOpenEnvWsMessage = compile<OpenEnvWsMessage>(openEnvWsMessageSchema)
export const validateOpenEnvResetData = compile<OpenEnvResetData>(openEnvResetDataSchema)
export const validateOpenEnvAction = compile<OpenEnvAction>(openEnvActionSchema)
export const validateOpenEnvHttpReset = compile<OpenEnvHttpReset>(openEnvHttpResetSchema)
export const validateOpenEnvHttpStep = compile<OpenEnvHttpStep>(openEnvHttpStepSchema)
export const validateOpenEnvStateQuery = compile<OpenEnvStateQuery>(openEnvStateQuerySchema)

// Answers, for tests and clients that check what a server sent.
export const validateOpenEnvWsReply = compile<OpenEnvWsReply>(openEnvWsReplySchema)
export const validateOpenEnvResult = compile<OpenEnvResult>(openEnvResultSchema)
export const validateOpenEnvState = compile<OpenEnvState>(openEnvStateSchema)
export const validateOpenEnvHealth = compile<OpenEnvHealth>(openEnvHealthSchema)
export const validateOpenEnvMetadata = compile<OpenEnvMetadataResponse>(openEnvMetadataResponseSchema)
export const validateOpenEnvHttpError = compile<OpenEnvHttpError>(openEnvHttpErrorSchema)
