// Every message that crosses the wire: HTTP bodies and WebSocket frames.
import { compile } from './validate.js'
import { limitFields } from './task.js'

export const MAX_ACTION_BYTES = 1024 * 1024

const limits = {
  type: 'object', additionalProperties: false,
  properties: { ...limitFields, output_cap: { type: 'integer', minimum: 256 } }
}

export interface CreateEnvBody {
  task: string
  backend?: 'local' | 'docker'
  /** docker image (backend docker); default the server's --image */
  image?: string
  /** OCI runtime (backend docker), e.g. runsc */
  runtime?: string
  tool_profile?: 'mlgym'
  max_steps?: number
  reward?: 'none' | 'improvement'
  timeouts?: { short?: number, long?: number, no_output?: number }
  limits?: { cpus?: number, memory_mb?: number, pids?: number, disk_mb?: number, output_cap?: number }
}

export const createEnvSchema = {
  type: 'object', required: ['task'], additionalProperties: false,
  properties: {
    task: { type: 'string', minLength: 1 },
    backend: { enum: ['local', 'docker'] },
    image: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9][A-Za-z0-9._/:@-]*$' },
    runtime: { type: 'string', pattern: '^[A-Za-z0-9._-]+$' },
    tool_profile: { enum: ['mlgym'] },
    max_steps: { type: 'integer', minimum: 1, maximum: 100000 },
    reward: { enum: ['none', 'improvement'] },
    timeouts: {
      type: 'object', additionalProperties: false,
      properties: {
        short: { type: 'number', exclusiveMinimum: 0 },
        long: { type: 'number', exclusiveMinimum: 0 },
        no_output: { type: 'number', exclusiveMinimum: 0 }
      }
    },
    limits
  }
}

export interface StepBody { action: string, response?: string, thought?: string }
export const stepSchema = {
  type: 'object', required: ['action'], additionalProperties: false,
  properties: { action: { type: 'string' }, response: { type: 'string' }, thought: { type: 'string' } }
}

export interface EpisodeQuery { task?: string, status?: 'running' | 'finished' | 'abandoned', exit_status?: string, has_score?: boolean, cursor?: string, limit?: number }
export const episodeQuerySchema = {
  type: 'object', additionalProperties: false,
  properties: {
    task: { type: 'string' },
    status: { enum: ['running', 'finished', 'abandoned'] },
    exit_status: { type: 'string' },
    has_score: { type: 'boolean' },
    cursor: { type: 'string' },
    limit: { type: 'integer', minimum: 1, maximum: 500 }
  }
}

/** WebSocket requests: the REST operations as `{id, op, ...}`; answers carry the same id. */
export type WsRequest =
  | { id: string | number, op: 'create' } & CreateEnvBody
  | { id: string | number, op: 'reset' | 'evaluate' | 'trajectory' | 'close' | 'attach' | 'state', env_id: string }
  | { id: string | number, op: 'step', env_id: string, action: string, response?: string, thought?: string, stream?: boolean }
  | { id: string | number, op: 'tasks' | 'ping' }

const id = { type: ['string', 'integer'] }
const envId = { type: 'string', minLength: 1 }
export const wsRequestSchema = {
  type: 'object', required: ['id', 'op'],
  properties: { id, op: { enum: ['create', 'reset', 'step', 'evaluate', 'trajectory', 'close', 'attach', 'state', 'tasks', 'ping'] } },
  allOf: [
    { if: { properties: { op: { const: 'create' } } }, then: { ...createEnvSchema, required: ['id', 'op', 'task'], properties: { ...createEnvSchema.properties, id, op: {} } } },
    { if: { properties: { op: { const: 'step' } } }, then: { type: 'object', required: ['id', 'op', 'env_id', 'action'], additionalProperties: false, properties: { id, op: {}, env_id: envId, action: { type: 'string' }, response: { type: 'string' }, thought: { type: 'string' }, stream: { type: 'boolean' } } } },
    { if: { properties: { op: { enum: ['reset', 'evaluate', 'trajectory', 'close', 'attach', 'state'] } } }, then: { type: 'object', required: ['id', 'op', 'env_id'], additionalProperties: false, properties: { id, op: {}, env_id: envId } } },
    { if: { properties: { op: { enum: ['tasks', 'ping'] } } }, then: { type: 'object', additionalProperties: false, properties: { id, op: {} } } }
  ]
}

/** Server → client frames. */
export type WsFrame =
  | { id: string | number | null, ok: true, result: unknown }
  | { id: string | number | null, ok: false, error: { code: string, message: string, field?: string } }
  | { type: 'output', id: string | number, env_id: string, data: string }
  | { type: 'step_result', env_id: string, result: unknown }

export const validateCreateEnv = compile<CreateEnvBody>(createEnvSchema)
export const validateStep = compile<StepBody>(stepSchema)
export const validateEpisodeQuery = compile<EpisodeQuery>(episodeQuerySchema, { coerce: true })
export const validateWsRequest = compile<WsRequest>(wsRequestSchema)
