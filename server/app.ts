// The fastify app: REST under /v1 and the WebSocket /v1/ws. Each route and op validates its message, makes one call
// of the environment manager and sends back its answer; errors of every layer become one shape (server/errors.ts).
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import websocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import {
  DASHBOARD_HEADER,
  MAX_ACTION_BYTES, MAX_STEP_BYTES, checkJsonDepth, validateCreateEnv, validateStep, validateEpisodeQuery, validateToolsQuery, validateWsRequest,
  type UnwatchResult, type WatchResult, type WsFrame, type WsRequest
} from '../env-spec/messages.js'
import { ValidationError } from '../env-spec/validate.js'
import type { EnvListener, EnvManager, EnvWatcher } from './envs.js'
import { swerexRoutes } from './protocols/swerex.js'
import { PayloadTooLargeError, UnauthorizedError, ShuttingDownError, toApiError } from './errors.js'
import { registerOpenEnv } from './protocols/openenv.js'
import { installAuth, redactUrl, runAs, type Access, type Auth } from './auth.js'
import { registerUi } from './ui/serve.js'
import { PER_STEP, perStep } from './log.js'

function checkActionSize (action: string): void {
  const bytes = Buffer.byteLength(action)
  if (bytes > MAX_ACTION_BYTES) {
    throw new PayloadTooLargeError(`action is ${bytes} bytes; the limit is ${MAX_ACTION_BYTES} (1 MiB). Write big files in several steps`, 'action')
  }
}

function sendError (reply: FastifyReply, e: unknown): void {
  // a body over the limit is named by the limit of its own route (a step takes model data beside the action)
  const { status, body } = toApiError(e, reply.request.routeOptions.bodyLimit)
  if (status >= 500) reply.log.error(e)
  // ENV_ELSEWHERE: a 307 to the same request on the replica that holds the environment (fetch follows it)
  if (body.error.location) void reply.header('location', body.error.location)
  void reply.status(status).send(body)
}

/** fastify's logger (pino) as asked, its request lines without a WebSocket's `?api_key=`. */
function loggerOptions (logger: AppOptions['logger']): FastifyServerOptions['logger'] {
  if (!logger) return false
  return {
    ...(logger === true ? {} : logger),
    serializers: {
      req: (req: FastifyRequest) => ({ method: req.method, url: redactUrl(req.url), host: req.host, remoteAddress: req.ip })
    }
  }
}

export interface AppOptions {
  /** true: pino's JSON lines on stdout; or pino's options (`level`, `stream`: where the lines go) */
  logger?: boolean | { level?: string, stream?: NodeJS.WritableStream }
  auth: Auth
}

export async function buildApp (m: EnvManager, opts: AppOptions): Promise<FastifyInstance> {
  const { auth } = opts
  const app = Fastify({
    logger: loggerOptions(opts.logger),
    // a client's X-Request-ID (SWE-ReX sends one) names the request in the logs and comes back on the answer
    requestIdHeader: 'x-request-id',
    bodyLimit: MAX_ACTION_BYTES + 64 * 1024,
    // one line per request, written when it completes (onResponse below), not fastify's two
    logController: new LogController({ disableRequestLogging: true }),
    // errors fastify answers before any route runs (an id over 100 characters, a malformed URL) take our shape too
    frameworkErrors: (err, _req, reply) => sendError(reply, err),
    // closing, the manager refuses requests itself (onRequest below), in our shape
    return503OnClosing: false
  })
  // a step may carry its model call (the whole prompt) beside the action
  await app.register(websocket, { options: { maxPayload: MAX_STEP_BYTES } })

  // An optional body may be left out even with `content-type: application/json` (curl -H, many HTTP clients).
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, raw, done) => {
    if ((raw as string).trim() === '') { done(null, undefined); return }
    try { checkJsonDepth(raw as string) } catch (e) { done(e as Error, undefined); return }
    parseJson(req, raw as string, done)
  })

  // JSON only: fastify's own text/plain parser would hand routes a string (a 400), where the API promises a 415
  app.removeContentTypeParser('text/plain')
  app.setErrorHandler((err, _req, reply) => sendError(reply, err))
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}; see README for the API` } })
  })
  app.addHook('onRequest', async (req, reply) => {
    void reply.header('x-request-id', req.id)
    // an upgraded socket never completes as a request: its opening is its line
    if (req.headers.upgrade?.toLowerCase() === 'websocket') req.log.info({ req }, 'websocket opened')
    if (m.closing) throw new ShuttingDownError('the server is shutting down; retry once it is back')
  })
  // keys, scopes, rates; every handler below (and the protocols' routes) runs as the caller
  installAuth(app, auth)
  app.addHook('onResponse', async (req, reply) => {
    m.metrics.httpRequests.inc({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) })
    // the dashboard polls every few seconds, an agent steps many times a second: their lines are debug (a failure's
    // stays info), so neither floods the log
    const polled = req.method === 'GET' && req.headers[DASHBOARD_HEADER] !== undefined
    const quiet = polled || (perStep(req.routeOptions.config) && reply.statusCode < 400)
    req.log[quiet ? 'debug' : 'info']({ req, res: reply, responseTime: reply.elapsedTime }, 'request completed')
  })

  type Id = { Params: { id: string } }
  app.get('/v1/health', async () => m.health())
  app.get('/metrics', async (_req, reply) => reply.type(m.metrics.contentType).send(await m.metrics.text()))
  app.get('/v1/tasks', async () => m.listTasks())
  app.post('/v1/tasks/reload', async () => m.reloadTasks())
  app.get('/v1/generation/reports', async () => m.generationReports())
  app.get<Id>('/v1/tasks/:id', async (req) => m.describeTask(req.params.id))
  app.get('/v1/tools', async (req) => m.tools(validateToolsQuery({ ...(req.query as object) }, 'query').profile ?? 'mlgym'))

  app.post('/v1/envs', async (req, reply) => reply.status(201).send(await m.create(validateCreateEnv(req.body ?? {}))))
  app.get('/v1/envs', async () => m.list())
  // an environment another replica holds: ENV_ELSEWHERE (307 there) or REPLICA_GONE, before the body is looked at
  const here = { preHandler: async (req: FastifyRequest<Id>) => { await m.whereIs(req.params.id, req.url) } }
  app.get<Id>('/v1/envs/:id', here, async (req) => m.summary(req.params.id))
  app.post<Id>('/v1/envs/:id/reset', here, async (req) => m.reset(req.params.id))
  app.post<Id>('/v1/envs/:id/step', { ...here, ...PER_STEP, bodyLimit: MAX_STEP_BYTES }, async (req) => {
    const body = validateStep(req.body ?? {})
    checkActionSize(body.action)
    return m.step(req.params.id, body)
  })
  app.post<Id>('/v1/envs/:id/evaluate', here, async (req) => m.evaluate(req.params.id))
  app.get<Id>('/v1/envs/:id/trajectory', here, async (req) => m.trajectory(req.params.id))
  app.delete<Id>('/v1/envs/:id', here, async (req) => m.close(req.params.id))
  app.get('/v1/episodes', async (req, reply) => {
    const q = validateEpisodeQuery({ ...(req.query as object) }, 'query')
    if (!q.wait) return m.episodes(q)
    // a long poll ends when its client goes away, and with 401 when its key is revoked meanwhile
    const gone = new AbortController()
    reply.raw.once('close', () => gone.abort())
    let revoked: Error | null = null
    const release = auth.hold(req.access, e => { revoked = e; gone.abort() })
    try {
      const page = await m.episodes(q, { signal: gone.signal })
      if (revoked) throw revoked
      auth.stillActive(req.access) // revoked between the last look and this answer
      return page
    } finally { release() }
  })
  app.get<Id>('/v1/episodes/:id', async (req) => m.episode(req.params.id))

  await swerexRoutes(app, m)
  app.get('/v1/ws', { websocket: true }, (socket: WebSocket, req) => { wsSession(m, socket, auth, req.access) })
  await registerOpenEnv(app, m, auth)
  await registerUi(app)
  return app
}

/**
 * One WebSocket: requests run concurrently (each env still takes one step at a time); answers carry the request id.
 * The session is subscribed to every environment it touches: their output and step results reach it. Each message
 * runs as the key the upgrade authenticated, checked again (revoked since? over its rate?) first.
 */
function wsSession (m: EnvManager, socket: WebSocket, auth: Auth, access: Access): void {
  const watched = new Set<string>()
  const send = (frame: WsFrame) => { if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame)) }
  const listener: EnvListener = frame => send(frame)
  const watch = (envId: string) => {
    if (watched.has(envId)) return
    m.subscribe(envId, listener)
    watched.add(envId)
  }
  // read-only followers (op `watch`), one per environment: its output frames carry the watch request's id
  const followers = new Map<string, EnvWatcher>()
  const follow: Follow = {
    watch (envId, requestId) {
      const watcher: EnvWatcher = ev => send('output' in ev
        ? { type: 'output', id: requestId, env_id: envId, data: ev.output }
        : { type: 'step_result', env_id: envId, result: ev.result })
      const before = followers.get(envId)
      const r = m.watch(envId, watcher)
      if (before) m.unwatch(envId, before)
      followers.set(envId, watcher)
      return r
    },
    unwatch (envId) {
      const w = followers.get(envId)
      if (w) m.unwatch(envId, w)
      followers.delete(envId)
      return { env_id: envId, watching: false }
    }
  }
  // a revoked key's socket ends at once, not at its next message: an error frame, then close code 1008
  const release = auth.hold(access, e => {
    send({ id: null, ok: false, error: toApiError(e).body.error })
    socket.close(1008, 'API key revoked')
  })
  // the environments this socket holds (made here without outlive_socket, or attached here while held by sockets)
  const held = new Set<string>()
  let gone = false
  const hold: Hold = {
    // made while the socket was dropping: held by no one from the start
    made: envId => { if (gone) m.dropSocket(envId); else held.add(envId) },
    attached: envId => { if (!held.has(envId) && m.holdBySocket(envId)) held.add(envId) }
  }
  socket.on('close', () => {
    gone = true
    release()
    // Those it holds close after the grace unless another socket attaches; the rest live on for `attach`.
    for (const envId of held) m.dropSocket(envId)
    held.clear()
    for (const envId of watched) m.unsubscribe(envId, listener)
    watched.clear()
    for (const [envId, w] of followers) m.unwatch(envId, w)
    followers.clear()
  })
  socket.on('message', (raw: Buffer) => {
    let msg: WsRequest
    let id: string | number | null = null
    try {
      const text = raw.toString()
      checkJsonDepth(text, 'message')
      const parsed = JSON.parse(text)
      // only an id the schema allows is echoed (a fraction or NaN would make the answer break the frame schema)
      id = typeof parsed?.id === 'string' || Number.isInteger(parsed?.id) ? parsed.id : null
      msg = validateWsRequest(parsed, 'message')
    } catch (e) {
      const err = e instanceof SyntaxError ? new ValidationError(`message: not valid JSON (${e.message})`, 'message') : e
      send({ id, ok: false, error: toApiError(err).body.error })
      return
    }
    let as: Access
    try { as = auth.recheck(access) } catch (e) {
      send({ id: msg.id, ok: false, error: toApiError(e).body.error })
      if (e instanceof UnauthorizedError) socket.close(1008, 'API key revoked')
      return
    }
    runAs(as, () => handle(m, msg, { watch, listener }, follow, hold)).then(
      result => send({ id: msg.id, ok: true, result }),
      e => send({ id: msg.id, ok: false, error: toApiError(e).body.error })
    )
  })
}

interface Hold {
  made: (envId: string) => void
  attached: (envId: string) => void
}

interface Follow {
  watch: (envId: string, requestId: string | number) => WatchResult
  unwatch: (envId: string) => UnwatchResult
}

interface Session {
  /** subscribes the session to an environment it touches */
  watch: (envId: string) => void
  /** where its frames go: a step's own result comes as its answer, not twice */
  listener: EnvListener
}

/** One op, one manager call; the session is subscribed to the environment first (but for watch and unwatch). */
async function handle (m: EnvManager, msg: WsRequest, session: Session, follow: Follow, hold: Hold): Promise<unknown> {
  const { watch } = session
  switch (msg.op) {
    case 'ping': return { pong: true }
    case 'watch': return follow.watch(msg.env_id, msg.id)
    case 'unwatch': return follow.unwatch(msg.env_id)
    case 'tasks': return m.listTasks()
    case 'create': {
      const { id: _id, op: _op, ...body } = msg
      const env = await m.create(validateCreateEnv(body, 'message'), { bySocket: true })
      if (!body.outlive_socket) hold.made(env.env_id)
      watch(env.env_id)
      return env
    }
    case 'step': {
      checkActionSize(msg.action)
      await m.whereIs(msg.env_id, '/v1/ws')
      watch(msg.env_id)
      return m.step(msg.env_id, { action: msg.action, response: msg.response, thought: msg.thought, model: msg.model },
        { streamId: msg.stream === false ? undefined : msg.id, origin: session.listener })
    }
    default: break
  }
  await m.whereIs(msg.env_id, '/v1/ws')
  watch(msg.env_id)
  switch (msg.op) {
    case 'reset': return m.reset(msg.env_id)
    case 'evaluate': return m.evaluate(msg.env_id)
    case 'trajectory': return m.trajectory(msg.env_id)
    case 'close': return m.close(msg.env_id)
    case 'attach': hold.attached(msg.env_id); return m.state(msg.env_id)
    case 'state': return m.state(msg.env_id)
  }
}
