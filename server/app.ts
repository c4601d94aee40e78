// The fastify app: REST under /v1 and the WebSocket /v1/ws. Each route and op validates its message, makes one call
// of the environment manager and sends back its answer; errors of every layer become one shape (server/errors.ts).
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import { timingSafeEqual } from 'node:crypto'
import {
  MAX_ACTION_BYTES, validateCreateEnv, validateStep, validateEpisodeQuery, validateToolsQuery, validateWsRequest,
  type WsFrame, type WsRequest
} from '../env-spec/messages.js'
import { ValidationError } from '../env-spec/validate.js'
import type { EnvListener, EnvManager } from './envs.js'
import { isSwerexUrl, swerexRoutes } from './protocols/swerex.js'
import { PayloadTooLargeError, UnauthorizedError, ShuttingDownError, toApiError } from './errors.js'
import { registerOpenEnv } from './protocols/openenv.js'

function checkActionSize (action: string): void {
  const bytes = Buffer.byteLength(action)
  if (bytes > MAX_ACTION_BYTES) {
    throw new PayloadTooLargeError(`action is ${bytes} bytes; the limit is ${MAX_ACTION_BYTES} (1 MiB). Write big files in several steps`, 'action')
  }
}

function sendError (reply: FastifyReply, e: unknown): void {
  const { status, body } = toApiError(e)
  if (status >= 500) reply.log.error(e)
  void reply.status(status).send(body)
}

function sameToken (given: string, token: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** `Authorization: Bearer <token>`; the WebSocket may send `?token=` instead (browsers cannot set its headers). */
function authorized (req: FastifyRequest, token: string): boolean {
  const auth = req.headers.authorization ?? ''
  if (auth.startsWith('Bearer ') && sameToken(auth.slice('Bearer '.length), token)) return true
  const url = new URL(req.url, 'http://x')
  const q = url.pathname === '/v1/ws' ? url.searchParams.get('token') : null
  return q !== null && sameToken(q, token)
}

export async function buildApp (m: EnvManager, opts: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: MAX_ACTION_BYTES + 64 * 1024,
    // errors fastify answers before any route runs (an id over 100 characters, a malformed URL) take our shape too
    frameworkErrors: (err, _req, reply) => sendError(reply, err),
    // closing, the manager refuses requests itself (onRequest below), in our shape
    return503OnClosing: false
  })
  await app.register(websocket, { options: { maxPayload: MAX_ACTION_BYTES + 64 * 1024 } })

  // An optional body may be left out even with `content-type: application/json` (curl -H, many HTTP clients).
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, raw, done) => {
    if ((raw as string).trim() === '') { done(null, undefined); return }
    parseJson(req, raw as string, done)
  })

  app.setErrorHandler((err, _req, reply) => sendError(reply, err))
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}; see README for the API` } })
  })
  app.addHook('onRequest', async () => {
    if (m.closing) throw new ShuttingDownError('the server is shutting down; retry once it is back')
  })
  const token = m.config.token
  if (token) {
    app.addHook('onRequest', async (req) => {
      if (req.url === '/v1/health') return
      if (isSwerexUrl(req.url)) return // X-API-Key (or Bearer) and SWE-ReX's error shapes: protocols/swerex.ts
      if (!authorized(req, token)) throw new UnauthorizedError('send Authorization: Bearer <token> (or ?token= on the WebSocket URL)')
    })
  }

  type Id = { Params: { id: string } }
  app.get('/v1/health', async () => m.health())
  app.get('/v1/tasks', async () => m.listTasks())
  app.post('/v1/tasks/reload', async () => m.reloadTasks())
  app.get<Id>('/v1/tasks/:id', async (req) => m.describeTask(req.params.id))
  app.get('/v1/tools', async (req) => m.tools(validateToolsQuery({ ...(req.query as object) }, 'query').profile ?? 'mlgym'))

  app.post('/v1/envs', async (req, reply) => reply.status(201).send(m.create(validateCreateEnv(req.body ?? {}))))
  app.get('/v1/envs', async () => m.list())
  app.get<Id>('/v1/envs/:id', async (req) => m.summary(req.params.id))
  app.post<Id>('/v1/envs/:id/reset', async (req) => m.reset(req.params.id))
  app.post<Id>('/v1/envs/:id/step', async (req) => {
    const body = validateStep(req.body ?? {})
    checkActionSize(body.action)
    return m.step(req.params.id, body)
  })
  app.post<Id>('/v1/envs/:id/evaluate', async (req) => m.evaluate(req.params.id))
  app.get<Id>('/v1/envs/:id/trajectory', async (req) => m.trajectory(req.params.id))
  app.delete<Id>('/v1/envs/:id', async (req) => m.close(req.params.id))
  app.get('/v1/episodes', async (req) => m.episodes(validateEpisodeQuery({ ...(req.query as object) }, 'query')))
  app.get<Id>('/v1/episodes/:id', async (req) => m.episode(req.params.id))

  await swerexRoutes(app, m)
  app.get('/v1/ws', { websocket: true }, (socket: WebSocket) => { wsSession(m, socket) })
  await registerOpenEnv(app, m)
  return app
}

/**
 * One WebSocket: requests run concurrently (each env still takes one step at a time); answers carry the request id.
 * The session is subscribed to every environment it touches: their output and step results reach it.
 */
function wsSession (m: EnvManager, socket: WebSocket): void {
  const watched = new Set<string>()
  const send = (frame: WsFrame) => { if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame)) }
  const listener: EnvListener = frame => send(frame)
  const watch = (envId: string) => {
    if (watched.has(envId)) return
    m.subscribe(envId, listener)
    watched.add(envId)
  }
  socket.on('close', () => {
    // The environments live on: a client that reconnects sends `attach` and carries on.
    for (const envId of watched) m.unsubscribe(envId, listener)
    watched.clear()
  })
  socket.on('message', (raw: Buffer) => {
    let msg: WsRequest
    let id: string | number | null = null
    try {
      const parsed = JSON.parse(raw.toString())
      id = typeof parsed?.id === 'string' || typeof parsed?.id === 'number' ? parsed.id : null
      msg = validateWsRequest(parsed, 'message')
    } catch (e) {
      const err = e instanceof SyntaxError ? new ValidationError(`message: not valid JSON (${e.message})`, 'message') : e
      send({ id, ok: false, error: toApiError(err).body.error })
      return
    }
    handle(m, msg, watch).then(
      result => send({ id: msg.id, ok: true, result }),
      e => send({ id: msg.id, ok: false, error: toApiError(e).body.error })
    )
  })
}

/** One op, one manager call; `watch` subscribes the session to the environment first. */
async function handle (m: EnvManager, msg: WsRequest, watch: (envId: string) => void): Promise<unknown> {
  switch (msg.op) {
    case 'ping': return { pong: true }
    case 'tasks': return m.listTasks()
    case 'create': {
      const { id: _id, op: _op, ...body } = msg
      const env = m.create(validateCreateEnv(body, 'message'))
      watch(env.env_id)
      return env
    }
    case 'step': {
      checkActionSize(msg.action)
      watch(msg.env_id)
      return m.step(msg.env_id, { action: msg.action, response: msg.response, thought: msg.thought },
        { streamId: msg.stream === false ? undefined : msg.id })
    }
    default: break
  }
  watch(msg.env_id)
  switch (msg.op) {
    case 'reset': return m.reset(msg.env_id)
    case 'evaluate': return m.evaluate(msg.env_id)
    case 'trajectory': return m.trajectory(msg.env_id)
    case 'close': return m.close(msg.env_id)
    case 'attach': case 'state': return m.state(msg.env_id)
  }
}
