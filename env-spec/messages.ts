// Every message that crosses the wire: HTTP bodies, their answers, WebSocket frames, errors. What an episode is
// made of (steps, results, episodes) is in episode.ts; task specs in task.ts; MLGym's file formats in trajectory.ts.
import { compile, ValidationError } from './validate.js'
import { limitFields, taskSpecSchema, mlgymStatusSchema, type MlgymStatus, type Metric, type Resources, type TaskEntrypoint, type TaskSpec } from './task.js'
import type { Metrics } from './trajectory.js'
import { toolDefinitionSchema, type ToolDefinition } from './tools.js'
import {
  EPISODE_STATUSES, EPISODE_OUTCOMES, modelCallSchema, stepResultSchema, trajectoryStepSchema, type EpisodeStatus,
  type EpisodeOutcome, type ModelCall, type StepResult, type TrajectoryStep
} from './episode.js'
import { provenanceSchema, type Provenance } from './generation.js'

export const MAX_ACTION_BYTES = 1024 * 1024
/** A step body's model data (the messages sent grow with the context): up to 32 MiB beside the action. */
export const MAX_MODEL_BYTES = 32 * 1024 * 1024
/** The largest step request (HTTP body or WebSocket frame): an action, its model data and 64 KiB of the rest. */
export const MAX_STEP_BYTES = MAX_ACTION_BYTES + MAX_MODEL_BYTES + 64 * 1024
/** The header the dashboard sends on its requests: its polling is logged at debug, not info. */
export const DASHBOARD_HEADER = 'x-synthgym-client'
/**
 * The deepest nesting of objects and arrays in any JSON message (HTTP body or WebSocket frame, every protocol): far
 * beyond what a message needs (a tool's JSON schema inside model data), far below what overflows a parser's stack.
 */
export const MAX_JSON_DEPTH = 128

/** JSON nested deeper than MAX_JSON_DEPTH: a 400 VALIDATION_ERROR on every route and protocol. */
export class JsonTooDeepError extends ValidationError {}

/** A JsonTooDeepError when `text` nests objects and arrays deeper than MAX_JSON_DEPTH (one pass, no parse). */
export function checkJsonDepth (text: string, field = 'body'): void {
  // no deeper than it has opening brackets, in strings or not: most messages are told apart by indexOf alone
  let opens = 0
  for (const b of ['{', '[']) {
    for (let i = text.indexOf(b); i >= 0 && opens <= MAX_JSON_DEPTH; i = text.indexOf(b, i + 1)) opens++
  }
  if (opens <= MAX_JSON_DEPTH) return
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: the next character is escaped
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 123 || c === 91) {
      if (++depth > MAX_JSON_DEPTH) {
        throw new JsonTooDeepError(`${field}: JSON nested more than ${MAX_JSON_DEPTH} levels deep (objects and arrays); the limit is ${MAX_JSON_DEPTH}: send a flatter message`, field)
      }
    } else if (c === 125 || c === 93) depth--
  }
}
/** The longest `wait=` of GET /v1/episodes, in seconds. */
export const MAX_EPISODE_WAIT_SECONDS = 60
/** The largest page of GET /v1/episodes with include_steps (each episode brings every prompt of its steps). */
export const MAX_EPISODES_WITH_STEPS = 50

/** The rewards a step may earn: MLGym's 0, the improvement over the baseline, or the dense shaped reward. */
export type RewardMode = 'none' | 'improvement' | 'shaped'
export const REWARD_MODES: RewardMode[] = ['none', 'improvement', 'shaped']

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
  tool_profile?: 'mlgym' | 'sweagent'
  max_steps?: number
  reward?: RewardMode
  /** the model that runs this environment's episodes: recorded on each episode, filterable in GET /v1/episodes */
  model?: string
  /** free-form labels copied to each episode's `meta` (a run's name, its index...) */
  meta?: Record<string, unknown>
  timeouts?: { short?: number, long?: number, no_output?: number }
  limits?: { cpus?: number, memory_mb?: number, pids?: number, disk_mb?: number, output_cap?: number }
  /**
   * Created over /v1/ws: true keeps the environment when the socket drops, for a client that re-attaches later
   * (until the idle timeout); without it the environment closes --socket-grace seconds after the last socket
   * holding it drops (a socket that attaches within the grace holds it again). No effect over REST.
   */
  outlive_socket?: boolean
}

export const createEnvSchema = {
  type: 'object', required: ['task'], additionalProperties: false,
  properties: {
    task: { type: 'string', minLength: 1 },
    backend: { enum: ['local', 'docker'] },
    image: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9][A-Za-z0-9._/:@-]*$' },
    runtime: { type: 'string', pattern: '^[A-Za-z0-9._-]+$' },
    tool_profile: { enum: ['mlgym', 'sweagent'] },
    max_steps: { type: 'integer', minimum: 1, maximum: 100000 },
    reward: { enum: REWARD_MODES },
    model: { type: 'string', minLength: 1, maxLength: 200 },
    meta: { type: 'object' },
    timeouts: {
      type: 'object', additionalProperties: false,
      properties: {
        short: { type: 'number', exclusiveMinimum: 0 },
        long: { type: 'number', exclusiveMinimum: 0 },
        no_output: { type: 'number', exclusiveMinimum: 0 }
      }
    },
    limits,
    outlive_socket: { type: 'boolean' }
  }
}

/** A step: the action, and optionally the raw model output, the thought, and the model call behind it. */
export interface StepBody { action: string, response?: string, thought?: string, model?: ModelCall }
// an empty action would run nothing and still use up a step
const actionSchema = { type: 'string', pattern: '\\S', hint: 'must be a command, not empty (e.g. "ls" or "validate")' }
const stepProperties = { action: actionSchema, response: { type: 'string' }, thought: { type: 'string' }, model: modelCallSchema }
export const stepSchema = { type: 'object', required: ['action'], additionalProperties: false, properties: stepProperties }

/**
 * `GET /v1/episodes`: filters, and a page (`cursor` from the last page's `next_cursor`; `limit` up to 500, default 50;
 * `order`: `asc` oldest first, the default, or `desc` newest first; keep the same order while following a cursor).
 * `improved`: some score beats the baseline (direction-aware). `wait`: when the page would be empty, hold the request
 * until a matching episode appears (one finishes, for `status=finished`) or `wait` seconds pass (at most 60).
 * `description=false` lists the episodes without their task prompts (EpisodeBriefPage).
 */
export interface EpisodeQuery {
  task?: string, status?: EpisodeStatus, exit_status?: string, has_score?: boolean, model?: string, improved?: boolean
  /** why it ended (episodeOutcome) */
  outcome?: EpisodeOutcome
  cursor?: string, limit?: number, wait?: number, order?: 'asc' | 'desc', description?: boolean
  /** each episode with its steps (`trajectory`: actions, observations, rewards, model data); pages of at most 50 */
  include_steps?: boolean
}
export const episodeQuerySchema = {
  type: 'object', additionalProperties: false,
  properties: {
    task: { type: 'string' },
    status: { enum: EPISODE_STATUSES },
    exit_status: { type: 'string' },
    has_score: { type: 'boolean' },
    model: { type: 'string' },
    improved: { type: 'boolean' },
    outcome: { enum: EPISODE_OUTCOMES },
    cursor: { type: 'string' },
    limit: { type: 'integer', minimum: 1, maximum: 500 },
    wait: { type: 'number', minimum: 0, maximum: MAX_EPISODE_WAIT_SECONDS },
    include_steps: { type: 'boolean' },
    order: { enum: ['asc', 'desc'] },
    description: { type: 'boolean' }
  }
}

/** `GET /v1/tools?profile=`: the agent tool profile (MLGym's or SWE-agent 1.x's). */
export interface ToolsQuery { profile?: 'mlgym' | 'sweagent' }
export const toolsQuerySchema = {
  type: 'object', additionalProperties: false,
  properties: { profile: { enum: ['mlgym', 'sweagent'], default: 'mlgym' } }
}

/** WebSocket requests: the REST operations as `{id, op, ...}`; answers carry the same id. */
export type WsRequest =
  | { id: string | number, op: 'create' } & CreateEnvBody
  | { id: string | number, op: 'reset' | 'evaluate' | 'trajectory' | 'close' | 'attach' | 'state' | 'watch' | 'unwatch', env_id: string }
  | { id: string | number, op: 'step', env_id: string, action: string, response?: string, thought?: string, model?: ModelCall, stream?: boolean }
  | { id: string | number, op: 'tasks' | 'ping' }

const id = { type: ['string', 'integer'] }
const envId = { type: 'string', minLength: 1 }
export const wsRequestSchema = {
  type: 'object', required: ['id', 'op'],
  properties: { id, op: { enum: ['create', 'reset', 'step', 'evaluate', 'trajectory', 'close', 'attach', 'state', 'watch', 'unwatch', 'tasks', 'ping'] } },
  allOf: [
    { if: { properties: { op: { const: 'create' } } }, then: { ...createEnvSchema, required: ['id', 'op', 'task'], properties: { ...createEnvSchema.properties, id, op: {} } } },
    { if: { properties: { op: { const: 'step' } } }, then: { type: 'object', required: ['id', 'op', 'env_id', 'action'], additionalProperties: false, properties: { id, op: {}, env_id: envId, ...stepProperties, stream: { type: 'boolean' } } } },
    { if: { properties: { op: { enum: ['reset', 'evaluate', 'trajectory', 'close', 'attach', 'state', 'watch', 'unwatch'] } } }, then: { type: 'object', required: ['id', 'op', 'env_id'], additionalProperties: false, properties: { id, op: {}, env_id: envId } } },
    { if: { properties: { op: { enum: ['tasks', 'ping'] } } }, then: { type: 'object', additionalProperties: false, properties: { id, op: {} } } }
  ]
}

/**
 * Every error the server sends, REST and WebSocket alike, with its HTTP status. README's error list says the same.
 * 415 (wrong content-type) answers VALIDATION_ERROR with field `content-type`.
 */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BUSY: 409,
  NOT_RESET: 409,
  EPISODE_FINISHED: 409,
  SANDBOX_CLOSED: 409,
  ENV_CLOSED: 410,
  /** the environment lives on another replica: `location` (and the Location header) says where */
  ENV_ELSEWHERE: 307,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  SANDBOX_ERROR: 500,
  CAPACITY_REACHED: 503,
  BACKEND_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  REPLICA_GONE: 503,
  STORE_UNAVAILABLE: 503,
  STORE_FULL: 507,
  TIMEOUT: 504
} as const
export type ErrorCode = keyof typeof ERROR_STATUS

export interface ErrorBody {
  error: {
    code: ErrorCode, message: string, field?: string, details?: { field: string, message: string }[]
    /** ENV_ELSEWHERE: the URL of the same request on the replica that holds the environment */
    location?: string
    /** RATE_LIMITED: seconds until the key may send again (HTTP also sends it as Retry-After) */
    retry_after?: number
  }
}

const errorSchema = {
  type: 'object', required: ['code', 'message'], additionalProperties: false,
  properties: {
    code: { enum: Object.keys(ERROR_STATUS) },
    message: { type: 'string', minLength: 1 },
    field: { type: 'string' },
    location: { type: 'string' },
    details: {
      type: 'array',
      items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } }
    },
    retry_after: { type: 'integer', minimum: 1 }
  }
}
export const errorBodySchema = { type: 'object', required: ['error'], additionalProperties: false, properties: { error: errorSchema } }

const metrics = { type: 'object', additionalProperties: { type: 'number' } }
const nullableString = { type: ['string', 'null'] }

/** A live environment as `POST /envs`, `GET /envs/:id` and `GET /envs` show it. */
export interface EnvSummary {
  env_id: string
  task: string
  episode_id: string | null
  current_step: number
  max_steps: number
  done: boolean
  exit_status: string | null
  score: Metrics[]
  created_at: string
  backend: 'local' | 'docker'
  /** the GPU ids its sandbox holds (none before the first reset) */
  gpus: string[]
  /** a step, reset or evaluation runs now */
  running: boolean
}

const envSummaryProperties = {
  env_id: { type: 'string' }, task: { type: 'string' }, episode_id: nullableString,
  current_step: { type: 'integer', minimum: 0 }, max_steps: { type: 'integer', minimum: 1 }, done: { type: 'boolean' },
  exit_status: nullableString, score: { type: 'array', items: metrics }, created_at: { type: 'string' },
  backend: { enum: ['local', 'docker'] }, gpus: { type: 'array', items: { type: 'string' } }, running: { type: 'boolean' }
}
export const envSummarySchema = {
  type: 'object', additionalProperties: false, required: Object.keys(envSummaryProperties), properties: envSummaryProperties
}

/** WebSocket `attach` and `state`: the summary (whether a step runs now included) and the last recorded step. */
export interface EnvState extends EnvSummary { last_step: TrajectoryStep | null }

export const envStateSchema = {
  type: 'object', additionalProperties: false,
  required: [...Object.keys(envSummaryProperties), 'last_step'],
  properties: { ...envSummaryProperties, last_step: { anyOf: [{ type: 'null' }, trajectoryStepSchema] } }
}

/**
 * WebSocket `watch`: the state, and what the step running now has printed so far (its last 64 KiB; '' when none
 * runs). From then on the socket gets every step's output as `output` frames carrying the watch request's id, and
 * `step_result` frames, whoever runs the steps (REST or another socket, streamed or not), until `unwatch` or the
 * environment closes. Read-only: watching is not use, so it does not keep an environment from the idle reaper.
 */
export interface WatchResult extends EnvState { output: string }
export const watchResultSchema = {
  type: 'object', additionalProperties: false,
  required: [...envStateSchema.required, 'output'],
  properties: { ...envStateSchema.properties, output: { type: 'string' } }
}

/** WebSocket `unwatch`: the socket no longer follows the environment. */
export interface UnwatchResult { env_id: string, watching: false }
export const unwatchResultSchema = {
  type: 'object', required: ['env_id', 'watching'], additionalProperties: false,
  properties: { env_id: { type: 'string' }, watching: { const: false } }
}

export interface EnvList { envs: EnvSummary[] }
export const envListSchema = {
  type: 'object', required: ['envs'], additionalProperties: false, properties: { envs: { type: 'array', items: envSummarySchema } }
}

export interface CloseResult { env_id: string, closed: true }
export const closeResultSchema = {
  type: 'object', required: ['env_id', 'closed'], additionalProperties: false,
  properties: { env_id: { type: 'string' }, closed: { const: true } }
}

/** `POST /envs/:id/evaluate`: the workspace scored now; `error` says why there are no metrics. */
export interface EvaluateResult { metrics: Metrics | null, submission: string | null, error: string | null }
export const evaluateResultSchema = {
  type: 'object', required: ['metrics', 'submission', 'error'], additionalProperties: false,
  properties: { metrics: { anyOf: [{ type: 'null' }, metrics] }, submission: nullableString, error: nullableString }
}

export interface TaskSummary {
  id: string
  name: string
  source: string
  task_entrypoint: TaskEntrypoint
  metric: Metric | null
  training_timeout: number | null
  resources: Resources
  /** made by `synthgym generate` (its provenance is in GET /v1/tasks/:id) */
  generated: boolean
}
const taskSummaryProperties = {
  id: { type: 'string' }, name: { type: 'string' }, source: { type: 'string' },
  task_entrypoint: taskSpecSchema.properties.task_entrypoint,
  metric: { anyOf: [{ type: 'null' }, taskSpecSchema.properties.metric] },
  training_timeout: { type: ['integer', 'null'], minimum: 1 },
  resources: taskSpecSchema.properties.resources,
  generated: { type: 'boolean' }
}
export const taskSummarySchema = {
  type: 'object', additionalProperties: false, required: Object.keys(taskSummaryProperties), properties: taskSummaryProperties
}

export interface TaskList { tasks: TaskSummary[] }
export const taskListSchema = {
  type: 'object', required: ['tasks'], additionalProperties: false, properties: { tasks: { type: 'array', items: taskSummarySchema } }
}

/**
 * `GET /tasks/:id`: the summary, the whole spec, the prompt an agent gets, the baseline if known, and for a generated
 * task its provenance (topic, proposal, dataset revision, model, rounds, checks).
 */
export interface TaskDetail extends TaskSummary {
  spec: TaskSpec, description: string, baseline: Metrics | null, provenance?: Provenance
  /** for a task imported from MLGym: whether it can run here and why not */
  mlgym_status?: MlgymStatus
}
export const taskDetailSchema = {
  type: 'object', additionalProperties: false, required: [...Object.keys(taskSummaryProperties), 'spec', 'description', 'baseline'],
  properties: {
    ...taskSummaryProperties, spec: taskSpecSchema, description: { type: 'string' }, baseline: { anyOf: [{ type: 'null' }, metrics] },
    provenance: provenanceSchema, mlgym_status: mlgymStatusSchema
  }
}

/** `POST /tasks/reload`: the served task directories read again; what changed, and what does not load. */
export interface TasksReloadResult {
  added: string[]
  updated: string[]
  removed: string[]
  errors: { file: string, reason: string }[]
  tasks: number
}
const ids = { type: 'array', items: { type: 'string' } }
export const tasksReloadResultSchema = {
  type: 'object', required: ['added', 'updated', 'removed', 'errors', 'tasks'], additionalProperties: false,
  properties: {
    added: ids, updated: ids, removed: ids, tasks: { type: 'integer', minimum: 0 },
    errors: { type: 'array', items: { type: 'object', required: ['file', 'reason'], additionalProperties: false, properties: { file: { type: 'string' }, reason: { type: 'string' } } } }
  }
}

/**
 * `GET /tools`: the command docs for a system prompt, the same commands as OpenAI function-calling tools, and their
 * definitions (signatures), with which env-spec/tools.ts `toolCallAction` turns a tool call into the action.
 */
export interface ToolsResult { profile: 'mlgym' | 'sweagent', command_docs: string, tools: unknown[], definitions: ToolDefinition[] }
export const toolsResultSchema = {
  type: 'object', required: ['profile', 'command_docs', 'tools', 'definitions'], additionalProperties: false,
  properties: {
    profile: { enum: ['mlgym', 'sweagent'] }, command_docs: { type: 'string' },
    definitions: { type: 'array', items: toolDefinitionSchema },
    tools: { type: 'array', items: { type: 'object', required: ['type', 'function'], properties: { type: { const: 'function' }, function: { type: 'object', required: ['name', 'description', 'parameters'] } } } }
  }
}

/**
 * `GET /health`: what this server can run; each backend's own report is open-ended. `degraded`: the default backend
 * or the episode store cannot serve (`problems` says what).
 */
export interface Health {
  status: 'ok' | 'degraded'
  problems?: string[]
  version: string
  backends: {
    local: {
      available: boolean, isolation: string | null, limits: string, python: string | null, warning?: string
      /** the host uid the agent's processes and files have */
      agent_host_uid: number
      /** where this isolation mode differs from bubblewrap's */
      differences?: string[]
    }
    docker: { available: boolean } & Record<string, unknown>
  }
  lint: { mode: 'flake8' | 'py_compile', warning?: string }
  default_backend: 'local' | 'docker'
  gpus: { available: boolean, reason?: string } & Record<string, unknown>
  tasks: number
  envs: { open: number, capacity: number }
  /** the episode store: a probe query answered, or the error it met */
  store: { kind: string, ok: boolean, error?: string }
  /** whether requests need an API key (README, "API keys") */
  auth: { required: boolean }
}
export const healthSchema = {
  type: 'object', additionalProperties: false,
  required: ['status', 'version', 'backends', 'lint', 'default_backend', 'gpus', 'tasks', 'envs', 'store', 'auth'],
  properties: {
    status: { enum: ['ok', 'degraded'] }, version: { type: 'string' },
    problems: { type: 'array', items: { type: 'string' } },
    backends: {
      type: 'object', required: ['local', 'docker'], additionalProperties: false,
      properties: {
        local: {
          type: 'object', required: ['available', 'isolation', 'limits', 'python', 'agent_host_uid'], additionalProperties: false,
          properties: {
            available: { type: 'boolean' }, isolation: nullableString, limits: { type: 'string' }, python: nullableString,
            warning: { type: 'string' }, agent_host_uid: { type: 'integer', minimum: 1 },
            differences: { type: 'array', items: { type: 'string' } }
          }
        },
        docker: { type: 'object', required: ['available'], properties: { available: { type: 'boolean' } } }
      }
    },
    lint: {
      type: 'object', required: ['mode'], additionalProperties: false,
      properties: { mode: { enum: ['flake8', 'py_compile'] }, warning: { type: 'string' } }
    },
    default_backend: { enum: ['local', 'docker'] },
    gpus: { type: 'object', required: ['available'], properties: { available: { type: 'boolean' }, reason: { type: 'string' } } },
    tasks: { type: 'integer', minimum: 0 },
    envs: {
      type: 'object', required: ['open', 'capacity'], additionalProperties: false,
      properties: { open: { type: 'integer', minimum: 0 }, capacity: { type: 'integer', minimum: 0 } }
    },
    store: {
      type: 'object', required: ['kind', 'ok'], additionalProperties: false,
      properties: { kind: { type: 'string' }, ok: { type: 'boolean' }, error: { type: 'string' } }
    },
    auth: { type: 'object', required: ['required'], additionalProperties: false, properties: { required: { type: 'boolean' } } }
  }
}

/**
 * Server → client frames: the answer to a request (same id; null when the request had none), streamed output of a
 * running step, and the result of a step another socket started on an attached environment. An answer's `result` is
 * what the REST route of the same op answers (ping: `{pong: true}`).
 */
export type WsAnswer =
  | { id: string | number | null, ok: true, result: unknown }
  | { id: string | number | null, ok: false, error: ErrorBody['error'] }
export interface WsOutputFrame { type: 'output', id: string | number, env_id: string, data: string }
export interface WsStepResultFrame { type: 'step_result', env_id: string, result: StepResult }
export type WsFrame = WsAnswer | WsOutputFrame | WsStepResultFrame

const frameId = { type: ['string', 'integer'] }
export const wsFrameSchema = {
  oneOf: [
    { type: 'object', required: ['id', 'ok', 'result'], additionalProperties: false, properties: { id: { type: ['string', 'integer', 'null'] }, ok: { const: true }, result: {} } },
    { type: 'object', required: ['id', 'ok', 'error'], additionalProperties: false, properties: { id: { type: ['string', 'integer', 'null'] }, ok: { const: false }, error: errorSchema } },
    { type: 'object', required: ['type', 'id', 'env_id', 'data'], additionalProperties: false, properties: { type: { const: 'output' }, id: frameId, env_id: { type: 'string' }, data: { type: 'string' } } },
    { type: 'object', required: ['type', 'env_id', 'result'], additionalProperties: false, properties: { type: { const: 'step_result' }, env_id: { type: 'string' }, result: stepResultSchema } }
  ]
}

export const validateCreateEnv = compile<CreateEnvBody>(createEnvSchema)
export const validateStep = compile<StepBody>(stepSchema)
export const validateEpisodeQuery = compile<EpisodeQuery>(episodeQuerySchema, { coerce: true })
export const validateToolsQuery = compile<ToolsQuery>(toolsQuerySchema)
export const validateWsRequest = compile<WsRequest>(wsRequestSchema)

// Answers, for tests and clients that want to check what a server sent.
export const validateErrorBody = compile<ErrorBody>(errorBodySchema)
export const validateEnvSummary = compile<EnvSummary>(envSummarySchema)
export const validateEnvState = compile<EnvState>(envStateSchema)
export const validateWatchResult = compile<WatchResult>(watchResultSchema)
export const validateUnwatchResult = compile<UnwatchResult>(unwatchResultSchema)
export const validateEnvList = compile<EnvList>(envListSchema)
export const validateCloseResult = compile<CloseResult>(closeResultSchema)
export const validateEvaluateResult = compile<EvaluateResult>(evaluateResultSchema)
export const validateTaskList = compile<TaskList>(taskListSchema)
export const validateTaskDetail = compile<TaskDetail>(taskDetailSchema)
export const validateTasksReloadResult = compile<TasksReloadResult>(tasksReloadResultSchema)
export const validateToolsResult = compile<ToolsResult>(toolsResultSchema)
export const validateHealth = compile<Health>(healthSchema)
export const validateWsFrame = compile<WsFrame>(wsFrameSchema)
