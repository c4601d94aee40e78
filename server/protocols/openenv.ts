// OpenEnv's protocol under /openenv: its WebSocket session (`reset`/`step`/`state`/`close` → `observation`/`state`/
// `error`), its HTTP `reset`/`step`/`state`, `health`, `schema` and `metadata`, translated onto the environment
// manager. Every shape is in env-spec/openenv.ts; every error of every layer becomes OpenEnv's error shape here.
//
// Where an OpenEnv session differs from OpenEnv's own (README, "OpenEnv"): the environment is made at the first
// reset (its kwargs name the task), it outlives a dropped socket (resume at /openenv/envs/<env_id>/ws) until the
// `close` message or the idle reaper, and replies carry synthgym's error code beside OpenEnv's.
import type { FastifyInstance, FastifyReply } from 'fastify'
import { errorCodes } from 'fastify'
import type { WebSocket } from 'ws'
import {
  CREATE_OPTIONS, OPENENV_MESSAGE_TYPES, openEnvActionSchema, openEnvObservationSchema, openEnvStateSchema,
  validateOpenEnvAction, validateOpenEnvHttpReset, validateOpenEnvHttpStep, validateOpenEnvResetData,
  validateOpenEnvStateQuery, validateOpenEnvWsMessage,
  type OpenEnvErrorCode, type OpenEnvErrorData, type OpenEnvErrorItem, type OpenEnvHealth, type OpenEnvHttpError,
  type OpenEnvMetadataResponse, type OpenEnvResetData, type OpenEnvResult, type OpenEnvSchemaResponse, type OpenEnvState,
  type OpenEnvWsReply
} from '../../env-spec/openenv.js'
import { MAX_ACTION_BYTES, JsonTooDeepError, checkJsonDepth, type CreateEnvBody, type EnvState } from '../../env-spec/messages.js'
import type { ResetResult, StepResult } from '../../env-spec/episode.js'
import { ValidationError } from '../../env-spec/validate.js'
import { NotResetError } from '../../tasks/errors.js'
import type { EnvManager } from '../envs.js'
import { PER_STEP } from '../log.js'
import { EnvElsewhereError, NotFoundError, PayloadTooLargeError, UnauthorizedError, toApiError } from '../errors.js'
import { runAs, type Access, type Auth } from '../auth.js'

type Params = { task?: string, env_id?: string }

// ---- errors ----

/** Our field path (`data.command`, `body.action`) as pydantic's `loc`; the WS message root is left out. */
function loc (field: string): (string | number)[] {
  const parts = field.split('.').map(p => /^\d+$/.test(p) ? Number(p) : p)
  return parts[0] === 'message' ? parts.slice(1) : parts
}

/** Our validation details as pydantic `errors()` items (what FastAPI's 422 and OpenEnv's WS `errors` carry). */
function errorItems (e: ValidationError): OpenEnvErrorItem[] {
  // ajv's `if`/`then` wrapper says nothing the problems under it do not
  const specific = e.details.filter(d => !/^must match "(then|else)" schema$/.test(d.message))
  const details = specific.length ? specific : [{ field: e.field, message: e.message }]
  return details.map(d => {
    if (d.message === 'is required') return { type: 'missing', loc: loc(d.field), msg: 'Field required' }
    if (d.message.startsWith('is not a known field')) return { type: 'extra_forbidden', loc: loc(d.field), msg: 'Extra inputs are not permitted' }
    const t = /^must be of type (\w+)/.exec(d.message)
    return { type: t ? `${t[1]}_type` : 'value_error', loc: loc(d.field), msg: `${d.field} ${d.message}` }
  })
}

/** Any thrown value as OpenEnv's error data and the HTTP status synthgym gives its code. */
function toOpenEnvError (e: unknown, m: EnvManager, during: 'reset' | 'other', task?: string): { status: number, data: OpenEnvErrorData } {
  const { status, body } = toApiError(e)
  const { code: ours, message, field } = body.error
  const data = (code: OpenEnvErrorCode, extra: Partial<OpenEnvErrorData> = {}): OpenEnvErrorData =>
    ({ message, code, synthgym_code: ours, ...(field ? { field } : {}), ...extra })
  switch (ours) {
    case 'VALIDATION_ERROR':
      return { status, data: data('VALIDATION_ERROR', e instanceof ValidationError ? { errors: errorItems(e) } : {}) }
    case 'PAYLOAD_TOO_LARGE': return { status, data: data('VALIDATION_ERROR') }
    case 'CAPACITY_REACHED':
      return { status, data: data('CAPACITY_REACHED', { active_sessions: m.envs.size, max_sessions: m.config.capacity }) }
    case 'SANDBOX_ERROR': case 'BACKEND_UNAVAILABLE':
      // the sandbox is the environment's factory: it starts at reset
      return { status, data: during === 'reset' ? data('FACTORY_ERROR', { factory_name: task ?? 'sandbox' }) : data('EXECUTION_ERROR') }
    case 'NOT_FOUND': return { status, data: data(field === 'task' ? 'VALIDATION_ERROR' : 'SESSION_ERROR') }
    case 'ENV_ELSEWHERE': case 'REPLICA_GONE': case 'SHUTTING_DOWN': case 'UNAUTHORIZED': case 'FORBIDDEN': case 'RATE_LIMITED': return { status, data: data('SESSION_ERROR') }
    default: return { status, data: data('EXECUTION_ERROR') }
  }
}

/** HTTP errors in FastAPI's shape: 422 `{detail: [items]}` for bad input, else `{detail, code, synthgym_code}`. */
function toHttpError (e: unknown, m: EnvManager, during: 'reset' | 'other', task?: string): { status: number, body: OpenEnvHttpError } {
  // too deep to parse: a 400, as on every route (FastAPI would overflow; the limit is ours)
  if (e instanceof JsonTooDeepError) return { status: 400, body: { detail: errorItems(e) } }
  if (e instanceof ValidationError) return { status: 422, body: { detail: errorItems(e) } }
  if (e instanceof errorCodes.FST_ERR_CTP_INVALID_JSON_BODY) {
    return { status: 422, body: { detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error' }] } }
  }
  const { status, data } = toOpenEnvError(e, m, during, task)
  return { status, body: { detail: data.message, code: data.code, synthgym_code: data.synthgym_code } }
}

// ---- translation ----

function defaultTask (m: EnvManager, params: Params): string {
  if (params.task) return params.task
  const first = m.tasks.list()[0]
  if (!first) throw new ValidationError('this server has no tasks; name one with reset(task=...) once some are loaded', 'data.task')
  return first.spec.id
}

function fromReset (envId: string, task: string, r: ResetResult): OpenEnvResult {
  return {
    observation: { output: r.observation, terminated: false, truncated: false, info: r.info },
    reward: null,
    done: false,
    metadata: { env_id: envId, episode_id: r.episode_id, task, step_count: 0 }
  }
}

function fromStep (envId: string, task: string, episodeId: string, r: StepResult): OpenEnvResult {
  return {
    observation: { output: r.observation, terminated: r.terminated, truncated: r.truncated, info: r.info },
    reward: r.reward,
    done: r.terminated || r.truncated,
    metadata: { env_id: envId, episode_id: episodeId, task, step_count: r.info.current_step }
  }
}

function fromState (s: EnvState): OpenEnvState {
  return {
    episode_id: s.episode_id, step_count: s.current_step, env_id: s.env_id, task: s.task, max_steps: s.max_steps,
    done: s.done, exit_status: s.exit_status, score: s.score, running: s.running
  }
}

/** The state of a session with no environment yet: OpenEnv's fresh State, and what reset would make. */
function unboundState (m: EnvManager, params: Params): OpenEnvState {
  return {
    episode_id: null, step_count: 0, env_id: null, task: defaultTask(m, params), max_steps: m.config.maxSteps,
    done: false, exit_status: null, score: [], running: false
  }
}

function createBody (m: EnvManager, params: Params, data: OpenEnvResetData): CreateEnvBody {
  const { seed: _seed, episode_id: _episodeId, task, ...options } = data
  return { task: task ?? defaultTask(m, params), ...options }
}

function hasOptions (data: OpenEnvResetData): boolean {
  return CREATE_OPTIONS.some(k => data[k] !== undefined)
}

async function stepOn (m: EnvManager, envId: string, action: unknown, root: string): Promise<OpenEnvResult> {
  const a = validateOpenEnvAction(action, root)
  const bytes = Buffer.byteLength(a.command)
  if (bytes > MAX_ACTION_BYTES) {
    throw new PayloadTooLargeError(`${root}.command is ${bytes} bytes; the limit is ${MAX_ACTION_BYTES} (1 MiB). Write big files in several steps`, `${root}.command`)
  }
  const r = await m.step(envId, { action: a.command, thought: a.thought, response: a.response })
  const s = m.summary(envId)
  return fromStep(envId, s.task, s.episode_id ?? '', r)
}

/** A throwaway environment for one HTTP request, as OpenEnv's HTTP server makes one per request. */
async function throwaway<T> (m: EnvManager, body: CreateEnvBody, run: (envId: string, reset: ResetResult) => Promise<T>): Promise<T> {
  const env = await m.create(body)
  try {
    return await run(env.env_id, await m.reset(env.env_id))
  } finally {
    await m.close(env.env_id).catch(() => {})
  }
}

// ---- the WebSocket session ----

/** `held`: the environments this socket holds (made by its reset, or resumed while sockets held them); `dropped`: the socket closed */
interface Session { envId: string | null, closed: boolean, held: Set<string>, dropped: boolean }

/** Runs as the key the upgrade authenticated; each message checks it again (revoked since? over its rate?). */
function wsSession (m: EnvManager, socket: WebSocket, params: Params, auth: Auth, access: Access): void {
  const s: Session = { envId: null, closed: false, held: new Set(), dropped: false }
  const send = (reply: OpenEnvWsReply) => { if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(reply)) }
  const fail = (e: unknown, during: 'reset' | 'other' = 'other', task?: string) => {
    // an environment the reaper (or a DELETE) took is no longer this session's: the next reset makes a new one
    if (e instanceof NotFoundError && e.field === 'env_id') s.envId = null
    send({ type: 'error', data: toOpenEnvError(e, m, during, task).data })
  }

  if (params.env_id) {
    // resume: the environment a dropped socket left (another key's is not found)
    const id = params.env_id
    try {
      s.envId = runAs(access, () => m.state(id).env_id)
      // within the grace after its socket dropped, this one holds it now
      if (runAs(access, () => m.holdBySocket(id))) s.held.add(id)
    } catch (e) {
      // not here: maybe on another replica, which the error then names
      const where = e instanceof NotFoundError ? m.whereIs(id, `/openenv/envs/${id}/ws`).then(() => e, (w: unknown) => w) : Promise.resolve(e)
      void where.then(err => {
        fail(err)
        socket.close(1008, 'no such environment here')
      })
      return
    }
  }
  // a revoked key's socket ends at once: an error, then close code 1008
  const release = auth.hold(access, e => {
    fail(e)
    s.closed = true
    socket.close(1008, 'API key revoked')
  })
  // the session's dropping closes the environments it holds after --socket-grace (unless resumed meanwhile); one
  // made with outlive_socket is left to a resume, a close, or the idle reaper
  socket.on('close', () => {
    s.closed = true
    s.dropped = true
    release()
    for (const id of s.held) m.dropSocket(id)
    s.held.clear()
  })

  // One message at a time, in order: OpenEnv's client matches replies to requests by order.
  let queue: Promise<void> = Promise.resolve()
  socket.on('message', (raw: Buffer) => {
    let as: Access
    try { as = auth.recheck(access) } catch (e) {
      fail(e)
      if (e instanceof UnauthorizedError) { s.closed = true; socket.close(1008, 'API key revoked') }
      return
    }
    queue = queue.then(() => s.closed ? undefined : runAs(as, () => handle(raw.toString()))).catch(e => fail(e))
  })

  async function handle (text: string): Promise<void> {
    let parsed: unknown
    checkJsonDepth(text, 'message')
    try { parsed = JSON.parse(text) } catch (e) {
      send({ type: 'error', data: { message: `Invalid JSON: ${(e as Error).message}`, code: 'INVALID_JSON', synthgym_code: 'VALIDATION_ERROR' } })
      return
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ValidationError('message must be a JSON object {"type": ..., "data": ...}', 'message')
    }
    const type = (parsed as { type?: unknown }).type
    if (typeof type !== 'string' || !(OPENENV_MESSAGE_TYPES as readonly string[]).includes(type)) {
      const shown = typeof type === 'string' ? type : type === undefined ? '' : JSON.stringify(type)
      const note = type === 'mcp' ? ' (synthgym serves no MCP; send reset, step, state or close)' : ''
      send({ type: 'error', data: { message: `Unknown message type: ${shown}${note}`, code: 'UNKNOWN_TYPE', synthgym_code: 'VALIDATION_ERROR', field: 'message.type' } })
      return
    }
    const msg = validateOpenEnvWsMessage(parsed, 'message')
    switch (msg.type) {
      case 'reset': {
        const data = validateOpenEnvResetData(msg.data ?? {}, 'data')
        const body = createBody(m, params, data)
        try {
          send({ type: 'observation', data: await resetSession(body, hasOptions(data)) })
        } catch (e) { fail(e, 'reset', body.task) }
        return
      }
      case 'step': {
        if (!s.envId) throw new NotResetError('this session has no environment yet: send {"type": "reset"} first, or resume one at /openenv/envs/<env_id>/ws')
        send({ type: 'observation', data: await stepOn(m, s.envId, msg.data, 'data') })
        return
      }
      case 'state':
        send({ type: 'state', data: s.envId ? fromState(m.state(s.envId)) : unboundState(m, params) })
        return
      case 'close': {
        // as OpenEnv: no reply; the environment and the socket end
        s.closed = true
        const envId = s.envId
        s.envId = null
        if (envId) await m.close(envId).catch(() => {})
        socket.close(1000)
      }
    }
  }

  /**
   * The session's environment is reset when the data names no other task and no environment option; otherwise the
   * old one is closed and a new one made from the data.
   */
  async function resetSession (body: CreateEnvBody, options: boolean): Promise<OpenEnvResult> {
    if (s.envId) {
      let same = false
      try { same = !options && m.summary(s.envId).task === body.task } catch { s.envId = null }
      if (!same && s.envId) {
        const old = s.envId
        s.envId = null
        await m.close(old).catch(() => {})
      }
    }
    let made = false
    if (!s.envId) {
      s.envId = (await m.create(body, { bySocket: true })).env_id
      made = true
      if (!body.outlive_socket) {
        if (s.dropped) m.dropSocket(s.envId); else s.held.add(s.envId)
      }
    }
    const envId = s.envId
    try {
      return fromReset(envId, body.task, await m.reset(envId))
    } catch (e) {
      // a new environment that could not start is not kept (it would hold a slot until the reaper)
      if (made) {
        s.envId = null
        await m.close(envId).catch(() => {})
      }
      throw e
    }
  }
}

// ---- routes ----

/** health, schema, metadata, reset, step, state and the WebSocket, for one base URL (`/openenv` or a task's). */
async function routes (app: FastifyInstance, m: EnvManager, auth: Auth): Promise<void> {
  type P = { Params: Params }
  app.addHook('preHandler', async (req) => {
    const task = (req.params as Params).task
    if (task !== undefined) m.tasks.require(task)
  })

  app.get('/health', async (): Promise<OpenEnvHealth> => {
    const h = await m.health()
    return { status: h.backends[h.default_backend].available ? 'healthy' : 'degraded' }
  })
  app.get('/schema', async (): Promise<OpenEnvSchemaResponse> =>
    ({ action: openEnvActionSchema, observation: openEnvObservationSchema, state: openEnvStateSchema }))
  app.get<P>('/metadata', async (req): Promise<OpenEnvMetadataResponse> => {
    const version = (await m.health()).version
    const common = { version, author: 'synthgym', documentation_url: null }
    if (req.params.task) {
      const t = await m.describeTask(req.params.task)
      return { name: t.id, description: t.name, readme_content: t.description, ...common }
    }
    const ids = m.tasks.list().map(t => t.spec.id)
    return {
      name: 'synthgym',
      description: `ML-research tasks (MLGym's) as environments; an action is {"command": "<tool or bash command>"}. ` +
        `The task is reset(task=...), else the base URL /openenv/tasks/<task>, else ${ids[0] ?? '(none)'}. Tasks: ${ids.join(', ')}`,
      readme_content: m.tools('mlgym').command_docs,
      ...common
    }
  })

  app.post<P>('/reset', async (req): Promise<OpenEnvResult> => {
    const data = validateOpenEnvHttpReset(req.body ?? {}, 'body')
    const { env_id: envId, ...rest } = data
    if (envId) {
      if (rest.task !== undefined || hasOptions(rest)) {
        throw new ValidationError('body.env_id resets that environment as it was made: leave out task and the environment options', 'body.env_id')
      }
      await m.whereIs(envId, req.url)
      const task = m.summary(envId).task
      return fromReset(envId, task, await m.reset(envId))
    }
    const body = createBody(m, req.params, rest)
    return throwaway(m, body, async (id, r) => fromReset(id, body.task, r))
  })
  app.post<P>('/step', PER_STEP, async (req): Promise<OpenEnvResult> => {
    // an empty body (even with content-type: application/json) is a missing StepRequest, as FastAPI says
    if (req.body === undefined) throw new ValidationError('body is required: send a StepRequest {"action": {"command": ...}}', 'body', [{ field: 'body', message: 'is required' }])
    const data = validateOpenEnvHttpStep(req.body, 'body')
    if (data.env_id) {
      await m.whereIs(data.env_id, req.url)
      return stepOn(m, data.env_id, data.action, 'body.action')
    }
    return throwaway(m, { task: defaultTask(m, req.params) }, id => stepOn(m, id, data.action, 'body.action'))
  })
  app.get<P>('/state', async (req): Promise<OpenEnvState> => {
    const q = validateOpenEnvStateQuery({ ...(req.query as object) }, 'query')
    if (q.env_id) await m.whereIs(q.env_id, req.url)
    return q.env_id ? fromState(m.state(q.env_id)) : unboundState(m, req.params)
  })

  app.get<P>('/ws', { websocket: true }, (socket: WebSocket, req) => { wsSession(m, socket, { task: req.params.task }, auth, req.access) })
}

/** Registers OpenEnv's routes at /openenv, /openenv/tasks/:task and the resume socket /openenv/envs/:env_id/ws. */
export async function registerOpenEnv (app: FastifyInstance, m: EnvManager, auth: Auth): Promise<void> {
  await app.register(async (openenv) => {
    // OpenEnv's FastAPI server answers a text body 422 (not a StepRequest); the /v1 API refuses it with 415
    openenv.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => { done(null, body) })
    openenv.setErrorHandler((err, req, reply: FastifyReply) => {
      const url = req.url.split('?')[0]!
      const during = url.endsWith('/reset') || url.endsWith('/step') ? 'reset' : 'other'
      const { status, body } = toHttpError(err, m, during, (req.params as Params | undefined)?.task)
      if (status >= 500) reply.log.error(err)
      // another replica's environment: the same request there (fetch and httpx follow a 307 with its body)
      if (err instanceof EnvElsewhereError) void reply.header('location', err.location)
      void reply.status(status).send(body)
    })
    openenv.setNotFoundHandler((req, reply) => {
      void reply.status(404).send({ detail: `Not Found: ${req.method} ${req.url.split('?')[0]}; see README, OpenEnv` } satisfies OpenEnvHttpError)
    })
    await openenv.register(async (root) => routes(root, m, auth))
    await openenv.register(async (task) => routes(task, m, auth), { prefix: '/tasks/:task' })
    openenv.get<{ Params: Params }>('/envs/:env_id/ws', { websocket: true }, (socket: WebSocket, req) => {
      wsSession(m, socket, { env_id: req.params.env_id }, auth, req.access)
    })
  }, { prefix: '/openenv' })
}
