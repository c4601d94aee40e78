// The fastify app: REST under /v1 and the WebSocket /v1/ws. Routes only translate; the work is in EnvManager.
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import websocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  MAX_ACTION_BYTES, validateCreateEnv, validateStep, validateEpisodeQuery, validateWsRequest, type WsRequest
} from '../env-spec/messages.js'
import { toMlgymTraj, toMlgymResults } from '../env-spec/trajectory.js'
import { commandDocs, openaiTools, lintMode } from '../sandbox/tools.js'
import { localBackendInfo } from '../sandbox/local.js'
import { repoRoot, taskDescription, type Task } from '../tasks/registry.js'
import { EnvManager, type LiveEnv } from './envs.js'
import { ApiError, toApiError } from './errors.js'

const VERSION = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')).version as string

function checkActionSize (action: string): void {
  if (Buffer.byteLength(action) > MAX_ACTION_BYTES) {
    throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `action is ${Buffer.byteLength(action)} bytes; the limit is ${MAX_ACTION_BYTES} (1 MiB). Write big files in several steps`, 'action')
  }
}

function taskSummary (t: Task): Record<string, unknown> {
  const s = t.spec
  return { id: s.id, name: s.name, source: t.source, task_entrypoint: s.task_entrypoint ?? 'CSVSubmissionTasks', metric: s.metric ?? null, training_timeout: s.training_timeout ?? null, resources: s.resources ?? {} }
}

function envSummary (live: LiveEnv): Record<string, unknown> {
  const e = live.env
  return {
    env_id: live.id, task: live.task.spec.id, episode_id: live.episodeId, current_step: e.currentStep, max_steps: e.maxSteps,
    done: e.done, exit_status: e.info.exit_status, score: e.info.score, created_at: new Date(live.created).toISOString()
  }
}

/** The current episode of a live environment. */
function currentTrajectory (m: EnvManager, live: LiveEnv): Record<string, unknown> {
  if (!live.episodeId) throw new ApiError(409, 'NOT_RESET', 'this environment has no episode yet; reset it first')
  return trajectoryOf(m, live.episodeId)
}

function trajectoryOf (m: EnvManager, episodeId: string): Record<string, unknown> {
  const ep = m.store.getEpisode(episodeId)
  if (!ep) throw new ApiError(404, 'NOT_FOUND', `episode ${episodeId} does not exist`, 'episode_id')
  const steps = m.store.getSteps(episodeId)
  return { episode: ep, traj: toMlgymTraj(ep, steps), results: toMlgymResults(ep), steps }
}

export function health (m: EnvManager): Record<string, unknown> {
  const local = localBackendInfo()
  const lint = lintMode()
  return {
    status: 'ok',
    version: VERSION,
    backends: {
      local: {
        available: local.isolation !== null && local.python !== null,
        isolation: local.isolation, limits: local.limits, python: local.python,
        ...(local.limits === 'none' ? { warning: 'no writable cgroups: memory and process limits fall back to rlimits' } : {})
      },
      docker: { available: m.docker.engines.some(e => e.healthy), ...m.docker.health() }
    },
    lint: lint === 'flake8' ? { mode: 'flake8' } : { mode: 'py_compile', warning: 'flake8 is not installed: edit/insert lint with Python\'s compile check only (apt-get install flake8)' },
    default_backend: m.config.backend,
    gpus: m.gpus.gpus.length
      ? { available: true, ...m.gpus.status() }
      : { available: false, reason: m.gpuInfo.reason ?? 'no GPUs' },
    tasks: m.tasks.list().length,
    envs: { open: m.envs.size, capacity: m.config.capacity }
  }
}

export async function buildApp (m: EnvManager, opts: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: MAX_ACTION_BYTES + 64 * 1024 })
  await app.register(websocket, { options: { maxPayload: MAX_ACTION_BYTES + 64 * 1024 } })

  app.setErrorHandler((err, _req, reply) => {
    const { status, body } = toApiError(err)
    void reply.status(status).send(body)
  })
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}; see README for the API` } })
  })
  if (m.config.token) {
    app.addHook('onRequest', async (req) => {
      if (req.url === '/v1/health') return
      const auth = req.headers.authorization ?? ''
      const q = new URL(req.url, 'http://x').searchParams.get('token')
      if (auth !== `Bearer ${m.config.token}` && q !== m.config.token) throw new ApiError(401, 'UNAUTHORIZED', 'send Authorization: Bearer <token> (or ?token= on the WebSocket URL)')
    })
  }

  app.get('/v1/health', async () => health(m))
  app.get('/v1/tasks', async () => ({ tasks: m.tasks.list().map(taskSummary) }))
  app.get<{ Params: { id: string } }>('/v1/tasks/:id', async (req) => {
    const t = m.tasks.get(req.params.id)
    if (!t) throw new ApiError(404, 'NOT_FOUND', `task ${req.params.id} does not exist; GET /v1/tasks lists the tasks`, 'id')
    return { ...taskSummary(t), spec: t.spec, description: taskDescription(t.spec), baseline: (await m.baselines.peek(t)) ?? null }
  })
  app.get<{ Querystring: { profile?: string } }>('/v1/tools', async (req) => {
    const profile = req.query.profile ?? 'mlgym'
    if (profile !== 'mlgym') throw new ApiError(400, 'VALIDATION_ERROR', `profile must be "mlgym" (got ${JSON.stringify(profile)})`, 'profile')
    return { profile, command_docs: commandDocs(profile), tools: openaiTools(profile) }
  })

  app.post('/v1/envs', async (req, reply) => {
    const body = validateCreateEnv(req.body ?? {})
    const live = m.create(body)
    return reply.status(201).send(envSummary(live))
  })
  app.get('/v1/envs', async () => ({ envs: [...m.envs.values()].map(envSummary) }))
  app.get<{ Params: { id: string } }>('/v1/envs/:id', async (req) => envSummary(m.get(req.params.id)))
  app.post<{ Params: { id: string } }>('/v1/envs/:id/reset', async (req) => m.reset(m.get(req.params.id)))
  app.post<{ Params: { id: string } }>('/v1/envs/:id/step', async (req) => {
    const live = m.get(req.params.id)
    const body = validateStep(req.body ?? {})
    checkActionSize(body.action)
    return m.step(live, body.action, { response: body.response, thought: body.thought })
  })
  app.post<{ Params: { id: string } }>('/v1/envs/:id/evaluate', async (req) => m.get(req.params.id).env.evaluateNow())
  app.get<{ Params: { id: string } }>('/v1/envs/:id/trajectory', async (req) => currentTrajectory(m, m.get(req.params.id)))
  app.delete<{ Params: { id: string } }>('/v1/envs/:id', async (req, reply: FastifyReply) => {
    m.get(req.params.id)
    await m.close(req.params.id)
    return reply.status(200).send({ env_id: req.params.id, closed: true })
  })
  app.get('/v1/episodes', async (req) => {
    const q = validateEpisodeQuery({ ...(req.query as object) }, 'query')
    return m.store.listEpisodes(q)
  })
  app.get<{ Params: { id: string } }>('/v1/episodes/:id', async (req) => trajectoryOf(m, req.params.id))

  app.get('/v1/ws', { websocket: true }, (socket: WebSocket) => { wsSession(m, socket) })
  return app
}

type Listener = LiveEnv['listeners'] extends Set<infer L> ? L : never

/** One WebSocket: requests run concurrently (each env still takes one step at a time); answers carry the request id. */
function wsSession (m: EnvManager, socket: WebSocket): void {
  const attached = new Map<string, Listener>()
  const send = (frame: unknown) => { if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame)) }
  const attach = (live: LiveEnv) => {
    if (attached.has(live.id)) return
    const l: Listener = f => {
      if (f.type === 'output') send({ type: 'output', id: f.id, env_id: live.id, data: f.data })
      else send({ type: 'step_result', env_id: live.id, result: f.result })
    }
    live.listeners.add(l)
    attached.set(live.id, l)
  }
  socket.on('close', () => {
    // The environments live on: a client that reconnects sends `attach` and carries on.
    for (const [envId, l] of attached) m.envs.get(envId)?.listeners.delete(l)
    attached.clear()
  })
  socket.on('message', (raw: Buffer) => {
    let msg: WsRequest
    let id: string | number | null = null
    try {
      const parsed = JSON.parse(raw.toString())
      id = typeof parsed?.id === 'string' || typeof parsed?.id === 'number' ? parsed.id : null
      msg = validateWsRequest(parsed, 'message')
    } catch (e) {
      const err = e instanceof SyntaxError ? new ApiError(400, 'VALIDATION_ERROR', `message: not valid JSON (${e.message})`, 'message') : e
      send({ id, ok: false, error: toApiError(err).body.error })
      return
    }
    handle(m, msg, attach).then(
      result => send({ id: msg.id, ok: true, result }),
      e => send({ id: msg.id, ok: false, error: toApiError(e).body.error })
    )
  })
}

async function handle (m: EnvManager, msg: WsRequest, attach: (l: LiveEnv) => void): Promise<unknown> {
  switch (msg.op) {
    case 'ping': return { pong: true }
    case 'tasks': return { tasks: m.tasks.list().map(taskSummary) }
    case 'create': {
      const { id: _id, op: _op, ...body } = msg
      const live = m.create(validateCreateEnv(body, 'message'))
      attach(live)
      return envSummary(live)
    }
    case 'step': {
      const live = m.get(msg.env_id)
      attach(live)
      checkActionSize(msg.action)
      const stream = msg.stream !== false
      return m.step(live, msg.action, {
        response: msg.response,
        thought: msg.thought,
        onOutput: stream ? data => { for (const l of live.listeners) l({ type: 'output', id: msg.id, data }) } : undefined
      })
    }
    default: break
  }
  const live = m.get(msg.env_id)
  attach(live)
  switch (msg.op) {
    case 'reset': return m.reset(live)
    case 'evaluate': return live.env.evaluateNow()
    case 'trajectory': return currentTrajectory(m, live)
    case 'close': await m.close(live.id); return { env_id: live.id, closed: true }
    case 'attach': case 'state': {
      const last = live.env.steps[live.env.steps.length - 1]
      return { ...envSummary(live), running: live.env.busy, last_step: last ?? null }
    }
  }
}
