// OpenEnv's protocol under /openenv, over real WebSocket and HTTP on loopback, on real sandboxes: an episode with
// OpenEnv's field names, request/response pairs written from OpenEnv's models, health/schema/metadata, the error
// replies, resume after a dropped socket, and the idle reaper taking what a dropped socket left.
import t from 'tap'
import WebSocket from 'ws'
import { Ajv } from 'ajv'
import { readFileSync } from 'node:fs'
import { testServer, http, waitFor } from './helpers.js'
import {
  validateOpenEnvHttpError, validateOpenEnvMetadata, validateOpenEnvResult, validateOpenEnvState, validateOpenEnvWsReply
} from '../env-spec/openenv.js'

const TASK = 'prisonersDilemma'
const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version

/** A socket whose frames are read in order; each read has a hang guard (not a timing assertion). */
class Socket {
  private frames: unknown[] = []
  private waiting: ((f: unknown) => void) | null = null
  readonly closed: Promise<number>
  private constructor (readonly ws: WebSocket) {
    ws.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString())
      if (this.waiting) { const w = this.waiting; this.waiting = null; w(f) } else this.frames.push(f)
    })
    this.closed = new Promise(resolve => ws.once('close', code => resolve(code)))
  }

  static open (url: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url)
      const s = new Socket(ws)
      ws.once('open', () => resolve(s))
      ws.once('error', reject)
    })
  }

  next (guardMs = 120_000): Promise<any> {
    if (this.frames.length) return Promise.resolve(this.frames.shift())
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame came (hang guard)')), guardMs)
      this.waiting = f => { clearTimeout(timer); resolve(f) }
    })
  }

  send (msg: unknown): void { this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)) }
  async ask (msg: unknown): Promise<any> {
    this.send(msg)
    const reply = await this.next()
    validateOpenEnvWsReply(reply, 'reply')
    return reply
  }

  get pending (): number { return this.frames.length }
}

const wsUrl = (url: string, path: string) => url.replace(/^http/, 'ws') + path

t.test('WS: an episode of prisonersDilemma in OpenEnv\'s messages', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const ws = await Socket.open(wsUrl(s.url, '/openenv/ws'))

  const reset = await ws.ask({ type: 'reset', data: { task: TASK, max_steps: 10 } })
  t.equal(reset.type, 'observation')
  t.strictSame(Object.keys(reset.data).sort(), ['done', 'metadata', 'observation', 'reward'])
  t.equal(reset.data.reward, null)
  t.equal(reset.data.done, false)
  t.strictSame(Object.keys(reset.data.observation).sort(), ['info', 'output', 'terminated', 'truncated'])
  t.match(reset.data.observation.output, /row_strategy/)
  t.equal(reset.data.observation.info.task_id, TASK)
  t.equal(reset.data.observation.info.max_steps, 10)
  const { env_id: envId, episode_id: episodeId } = reset.data.metadata
  t.match(envId, /^env-[0-9a-f]{16}$/)
  t.match(episodeId, /^ep-[0-9a-f]{16}$/)
  t.strictSame(reset.data.metadata, { env_id: envId, episode_id: episodeId, task: TASK, step_count: 0 })

  const open = await ws.ask({ type: 'step', data: { command: 'open "strategy.py"' } })
  t.equal(open.type, 'observation')
  t.match(open.data.observation.output, /^\[File: \/home\/agent\/workspace\/strategy.py \(\d+ lines total\)\]/)
  t.match(open.data.observation.output, /def row_strategy/)
  t.equal(open.data.reward, 0)
  t.equal(open.data.done, false)
  t.equal(open.data.observation.info.state.open_file, '/home/agent/workspace/strategy.py')
  t.strictSame(open.data.metadata, { env_id: envId, episode_id: episodeId, task: TASK, step_count: 1 })

  const validate = await ws.ask({ type: 'step', data: { command: 'validate', thought: 'check the baseline' } })
  t.match(validate.data.observation.output, /Evaluation Score: \{'Score': [0-9.]+\}/)
  t.type(validate.data.observation.info.metrics.Score, 'number')
  t.equal(validate.data.observation.info.score.length, 1)
  t.equal(validate.data.done, false)
  t.equal(validate.data.metadata.step_count, 2)

  const submit = await ws.ask({ type: 'step', data: { command: 'submit' } })
  t.equal(submit.data.done, true)
  t.equal(submit.data.observation.terminated, true)
  t.equal(submit.data.observation.truncated, false)
  t.equal(submit.data.observation.output, 'Exited (submit)')
  t.equal(submit.data.observation.info.exit_status, 'submitted')

  const after = await ws.ask({ type: 'step', data: { command: 'ls' } })
  t.equal(after.type, 'error')
  t.equal(after.data.code, 'EXECUTION_ERROR')
  t.equal(after.data.synthgym_code, 'EPISODE_FINISHED')

  const state = await ws.ask({ type: 'state' })
  t.equal(state.type, 'state')
  t.strictSame(state.data, {
    episode_id: episodeId, step_count: 3, env_id: envId, task: TASK, max_steps: 10, done: true,
    exit_status: 'submitted', score: submit.data.observation.info.score, running: false
  })

  ws.send({ type: 'close' })
  t.equal(await ws.closed, 1000, 'close ends the socket')
  t.equal(ws.pending, 0, 'close has no reply, as OpenEnv')
  t.equal((await http(s.url, 'GET', `/v1/envs/${envId}`)).status, 404, 'close closes the environment')
  const ep = await http(s.url, 'GET', `/v1/episodes/${episodeId}`)
  t.equal(ep.body.episode.status, 'finished')
  t.strictSame(ep.body.steps.map((x: any) => x.action), ['open "strategy.py"', 'validate', 'submit'])
  t.equal(ep.body.steps[1].thought, 'check the baseline')
})

t.test('recorded request/response pairs (OpenEnv\'s models) replayed', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const ws = await Socket.open(wsUrl(s.url, `/openenv/tasks/${TASK}/ws`))
  // [what a client sends, what the reply must be]: WSResetMessage (with ResetRequest's own example kwargs, and
  // with data left out), WSStepMessage with an action carrying Action's `metadata`, WSStateMessage
  const pairs: [unknown, (r: any) => void][] = [
    [{ type: 'reset', data: { seed: 42, episode_id: 'episode-001' } }, r => {
      t.equal(r.type, 'observation')
      t.equal(r.data.done, false)
      t.equal(r.data.reward, null)
      t.equal(r.data.metadata.task, TASK)
      t.match(r.data.metadata.episode_id, /^ep-/, 'the episode id is the server\'s')
    }],
    [{ type: 'reset' }, r => { t.equal(r.type, 'observation'); t.equal(r.data.metadata.step_count, 0) }],
    [{ type: 'step', data: { command: 'echo hi', metadata: { tag: 'x' } } }, r => {
      t.equal(r.type, 'observation')
      t.equal(r.data.observation.output, 'hi')
      t.equal(r.data.reward, 0)
      t.equal(r.data.done, false)
    }],
    [{ type: 'state' }, r => {
      t.equal(r.type, 'state')
      t.equal(r.data.step_count, 1)
      t.type(r.data.episode_id, 'string')
    }]
  ]
  let envId: string | null = null
  for (const [req, check] of pairs) {
    const r = await ws.ask(req)
    check(r)
    if (r.type === 'observation') {
      t.doesNotThrow(() => validateOpenEnvResult(r.data, 'data'))
      envId ??= r.data.metadata.env_id
      t.equal(r.data.metadata.env_id, envId, 'a reset without other task or options keeps the environment')
    }
  }

  // HTTP: ResetRequest's examples; StepRequest's example with our action; State by env_id
  for (const body of [{}, { seed: 42, episode_id: 'episode-001' }]) {
    const r = await http(s.url, 'POST', `/openenv/tasks/${TASK}/reset`, body)
    t.equal(r.status, 200)
    t.doesNotThrow(() => validateOpenEnvResult(r.body, 'body'))
    t.equal(r.body.done, false)
    t.equal(r.body.reward, null)
    t.equal((await http(s.url, 'GET', `/v1/envs/${r.body.metadata.env_id}`)).status, 404, 'stateless: its environment is gone')
  }
  const once = await http(s.url, 'POST', `/openenv/tasks/${TASK}/step`, { action: { command: 'echo hi' }, timeout_s: 30.0, request_id: 'r-1' })
  t.equal(once.status, 200)
  t.equal(once.body.observation.output, 'hi')
  t.equal(once.body.metadata.step_count, 1)
  const stateless = await http(s.url, 'GET', '/openenv/state')
  t.doesNotThrow(() => validateOpenEnvState(stateless.body, 'body'))
  t.equal(stateless.body.episode_id, null)
  t.equal(stateless.body.step_count, 0)

  // an HTTP session: a live environment named by env_id (this socket's)
  const step = await http(s.url, 'POST', '/openenv/step', { action: { command: 'echo again' }, env_id: envId })
  t.equal(step.status, 200)
  t.equal(step.body.observation.output, 'again')
  t.equal(step.body.metadata.step_count, 2)
  const st = await http(s.url, 'GET', `/openenv/state?env_id=${envId}`)
  t.equal(st.body.step_count, 2)
  const again = await http(s.url, 'POST', '/openenv/reset', { env_id: envId })
  t.equal(again.status, 200)
  t.equal(again.body.metadata.env_id, envId)
  t.equal((await ws.ask({ type: 'state' })).data.step_count, 0, 'the socket sees the HTTP reset')
  ws.send({ type: 'close' })
  await ws.closed
})

t.test('health, schema, metadata', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  t.strictSame((await http(s.url, 'GET', '/openenv/health')).body, { status: 'healthy' })
  t.strictSame((await http(s.url, 'GET', `/openenv/tasks/${TASK}/health`)).body, { status: 'healthy' })

  const schema = await http(s.url, 'GET', '/openenv/schema')
  t.equal(schema.status, 200)
  t.strictSame(Object.keys(schema.body).sort(), ['action', 'observation', 'state'])
  t.strictSame(schema.body.action.required, ['command'])
  for (const k of ['done', 'reward', 'metadata', 'output']) t.ok(schema.body.observation.properties[k], `observation.${k}`)
  for (const k of ['episode_id', 'step_count']) t.ok(schema.body.state.properties[k], `state.${k}`)

  // the published schemas check what the server really sends (as a typed OpenEnv client would parse it)
  const ajv = new Ajv({ strict: false })
  const ws = await Socket.open(wsUrl(s.url, '/openenv/ws'))
  const r = await ws.ask({ type: 'reset', data: { task: TASK } })
  const step = await ws.ask({ type: 'step', data: { command: 'true' } })
  const state = await ws.ask({ type: 'state' })
  for (const o of [r.data, step.data]) {
    const obs = { ...o.observation, done: o.done, reward: o.reward, metadata: o.metadata }
    t.ok(ajv.validate(schema.body.observation, obs), JSON.stringify(ajv.errors))
  }
  t.ok(ajv.validate(schema.body.state, state.data), JSON.stringify(ajv.errors))
  t.ok(ajv.validate(schema.body.action, { command: 'ls' }))
  t.notOk(ajv.validate(schema.body.action, { cmd: 'ls' }))
  ws.send({ type: 'close' })
  await ws.closed

  const meta = await http(s.url, 'GET', '/openenv/metadata')
  t.doesNotThrow(() => validateOpenEnvMetadata(meta.body, 'body'))
  t.equal(meta.body.name, 'synthgym')
  t.equal(meta.body.version, VERSION)
  t.match(meta.body.description, TASK)
  t.match(meta.body.readme_content, /^open:/m)
  const tm = await http(s.url, 'GET', `/openenv/tasks/${TASK}/metadata`)
  t.equal(tm.body.name, TASK)
  t.match(tm.body.readme_content, /strategy/)
  const none = await http(s.url, 'GET', '/openenv/tasks/noSuchTask/metadata')
  t.equal(none.status, 404)
  t.doesNotThrow(() => validateOpenEnvHttpError(none.body, 'body'))
  t.equal(none.body.synthgym_code, 'NOT_FOUND')
})

t.test('task selection: reset data, then the base URL, then the first task', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const first = (await http(s.url, 'GET', '/v1/tasks')).body.tasks[0].id
  t.not(first, undefined)
  const root = await Socket.open(wsUrl(s.url, '/openenv/ws'))
  const unbound = await root.ask({ type: 'state' })
  t.strictSame(unbound.data, {
    episode_id: null, step_count: 0, env_id: null, task: first, max_steps: 50, done: false, exit_status: null, score: [], running: false
  })
  root.send({ type: 'close' })
  await root.closed

  const other = (await http(s.url, 'GET', '/v1/tasks')).body.tasks.find((x: any) => x.id !== TASK).id
  const ws = await Socket.open(wsUrl(s.url, `/openenv/tasks/${other}/ws`))
  t.equal((await ws.ask({ type: 'state' })).data.task, other, 'the base URL names the task')
  const a = await ws.ask({ type: 'reset', data: { task: TASK } })
  t.equal(a.data.metadata.task, TASK, 'reset data beats the URL')
  const b = await ws.ask({ type: 'reset', data: { task: TASK, max_steps: 3 } })
  t.not(b.data.metadata.env_id, a.data.metadata.env_id, 'an environment option makes a new environment')
  t.equal(b.data.observation.info.max_steps, 3)
  t.equal((await http(s.url, 'GET', `/v1/envs/${a.data.metadata.env_id}`)).status, 404, 'and closes the old one')
  ws.send({ type: 'close' })
  await ws.closed
  t.equal(s.manager.envs.size, 0)
})

t.test('bad input gets OpenEnv\'s error shapes and codes', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const ws = await Socket.open(wsUrl(s.url, '/openenv/ws'))
  const err = async (msg: unknown, code: string, synthgym: string) => {
    const r = await ws.ask(msg)
    t.equal(r.type, 'error', JSON.stringify(msg))
    t.equal(r.data.code, code, JSON.stringify(msg))
    t.equal(r.data.synthgym_code, synthgym, JSON.stringify(msg))
    return r.data
  }
  t.equal((await err({ type: 'frobnicate' }, 'UNKNOWN_TYPE', 'VALIDATION_ERROR')).message, 'Unknown message type: frobnicate')
  t.equal((await err({ data: {} }, 'UNKNOWN_TYPE', 'VALIDATION_ERROR')).message, 'Unknown message type: ')
  t.match((await err({ type: 'mcp', data: {} }, 'UNKNOWN_TYPE', 'VALIDATION_ERROR')).message, /no MCP/)
  t.match((await err('{"type": "reset"', 'INVALID_JSON', 'VALIDATION_ERROR')).message, /^Invalid JSON: /)
  await err('[1, 2]', 'VALIDATION_ERROR', 'VALIDATION_ERROR')
  const missing = await err({ type: 'step' }, 'VALIDATION_ERROR', 'VALIDATION_ERROR')
  t.strictSame(missing.errors, [{ type: 'missing', loc: ['data'], msg: 'Field required' }])
  const extra = await err({ type: 'state', foo: 1 }, 'VALIDATION_ERROR', 'VALIDATION_ERROR')
  t.strictSame(extra.errors, [{ type: 'extra_forbidden', loc: ['foo'], msg: 'Extra inputs are not permitted' }])
  const early = await err({ type: 'step', data: { command: 'ls' } }, 'EXECUTION_ERROR', 'NOT_RESET')
  t.match(early.message, /send \{"type": "reset"\} first/)
  const badKwarg = await err({ type: 'reset', data: { seed: -1, colour: 'red' } }, 'VALIDATION_ERROR', 'VALIDATION_ERROR')
  t.strictSame(badKwarg.errors.map((e: any) => e.loc.join('.')).sort(), ['data.colour', 'data.seed'])
  const noTask = await err({ type: 'reset', data: { task: 'noSuchTask' } }, 'VALIDATION_ERROR', 'NOT_FOUND')
  t.equal(noTask.field, 'task')
  t.equal(s.manager.envs.size, 0, 'nothing made by refused resets')

  await ws.ask({ type: 'reset', data: { task: TASK } })
  const bad = await err({ type: 'step', data: { cmd: 'ls' } }, 'VALIDATION_ERROR', 'VALIDATION_ERROR')
  t.strictSame(bad.errors, [
    { type: 'missing', loc: ['data', 'command'], msg: 'Field required' },
    { type: 'extra_forbidden', loc: ['data', 'cmd'], msg: 'Extra inputs are not permitted' }
  ])
  const typed = await err({ type: 'step', data: { command: 7 } }, 'VALIDATION_ERROR', 'VALIDATION_ERROR')
  t.equal(typed.errors[0].type, 'string_type')
  const ok = await ws.ask({ type: 'step', data: { command: 'echo still here' } })
  t.equal(ok.data.observation.output, 'still here', 'the session goes on after errors')
  t.equal(ok.data.metadata.step_count, 1, 'refused steps are no steps')
  ws.send({ type: 'close' })
  await ws.closed

  // HTTP: FastAPI's shapes
  const httpErr = async (method: string, path: string, status: number, body?: unknown, raw?: string) => {
    const r = await http(s.url, method, path, body, raw)
    t.equal(r.status, status, `${method} ${path} ${raw ?? JSON.stringify(body)}`)
    t.doesNotThrow(() => validateOpenEnvHttpError(r.body, 'body'), JSON.stringify(r.body))
    return r.body
  }
  t.strictSame(await httpErr('POST', '/openenv/step', 422, undefined, ''), { detail: [{ type: 'missing', loc: ['body'], msg: 'Field required' }] },
    'an empty body with content-type: application/json')
  t.strictSame(await httpErr('POST', '/openenv/step', 422, {}), { detail: [{ type: 'missing', loc: ['body', 'action'], msg: 'Field required' }] })
  t.equal((await httpErr('POST', '/openenv/step', 422, { action: { command: 5 } })).detail[0].type, 'string_type')
  t.strictSame((await httpErr('POST', '/openenv/step', 422, { action: { command: 'ls' }, timeout_s: 0 })).detail[0].loc, ['body', 'timeout_s'])
  t.strictSame(await httpErr('POST', '/openenv/reset', 422, undefined, '{"seed": 4'), { detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error' }] })
  t.strictSame((await httpErr('POST', '/openenv/reset', 422, { env_id: 'env-x', task: TASK })).detail[0].loc, ['body', 'env_id'])
  t.match(await httpErr('POST', '/openenv/step', 404, { action: { command: 'ls' }, env_id: 'env-nope' }), { code: 'SESSION_ERROR', synthgym_code: 'NOT_FOUND' })
  t.match(await httpErr('GET', '/openenv/state?env_id=env-nope', 404), { code: 'SESSION_ERROR', synthgym_code: 'NOT_FOUND' })
  t.strictSame((await httpErr('GET', '/openenv/state?colour=red', 422)).detail[0], { type: 'extra_forbidden', loc: ['query', 'colour'], msg: 'Extra inputs are not permitted' })
  t.match((await httpErr('GET', '/openenv/nothing', 404)).detail, /^Not Found/)
  const text = await fetch(s.url + '/openenv/step', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'ls' })
  t.equal(text.status, 422, 'a text body is not a StepRequest')
  t.strictSame((await text.json()).detail[0].loc, ['body'])
  const xml = await fetch(s.url + '/openenv/step', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' })
  t.equal(xml.status, 415)
  const xmlBody = await xml.json()
  t.doesNotThrow(() => validateOpenEnvHttpError(xmlBody, 'body'))
  t.equal(xmlBody.code, 'VALIDATION_ERROR')
  // an empty reset body is OpenEnv's default ResetRequest
  const empty = await http(s.url, 'POST', `/openenv/tasks/${TASK}/reset`, undefined, '')
  t.equal(empty.status, 200)
  t.equal(empty.body.done, false)
  t.equal(s.manager.envs.size, 0, 'stateless HTTP requests leave nothing live')
})

t.test('a dropped socket: its environment closes after --socket-grace; a resume within it holds it', async t => {
  const s = await testServer({ socketGrace: 1 })
  t.teardown(() => s.close())
  const first = await Socket.open(wsUrl(s.url, '/openenv/ws'))
  const envId = (await first.ask({ type: 'reset', data: { task: TASK } })).data.metadata.env_id
  const other = await first.ask({ type: 'reset', data: { task: TASK, max_steps: 7 } }) // options: a new environment
  const kept = other.data.metadata.env_id
  t.notOk(s.manager.envs.has(envId), 'the replaced one closed')
  const second = await Socket.open(wsUrl(s.url, `/openenv/envs/${kept}/ws`))
  first.ws.terminate()
  await first.closed
  const alone = await Socket.open(wsUrl(s.url, '/openenv/ws'))
  const orphan = (await alone.ask({ type: 'reset', data: { task: TASK } })).data.metadata.env_id
  alone.ws.terminate()
  await alone.closed
  await waitFor('the dropped socket\'s environment to close', () => !s.manager.envs.has(orphan))
  t.ok(s.manager.envs.has(kept), 'the one a second socket resumed stays')
  second.ws.terminate()
  await second.closed
  await waitFor('it to close once that socket drops too', () => !s.manager.envs.has(kept))
})

t.test('a dropped socket: resumed on a new one, then reaped after the idle timeout', async t => {
  const s = await testServer({ idleTimeout: 2 })
  t.teardown(() => s.close())
  const first = await Socket.open(wsUrl(s.url, '/openenv/ws'))
  // the re-attach case: the environment must outlive its socket
  const r = await first.ask({ type: 'reset', data: { task: TASK, outlive_socket: true } })
  const { env_id: envId, episode_id: episodeId } = r.data.metadata
  await first.ask({ type: 'step', data: { command: 'cd /tmp && X=kept' } })
  first.ws.terminate() // no close message: a dropped connection
  await first.closed
  t.ok(s.manager.envs.has(envId), 'the environment outlives its socket')

  const second = await Socket.open(wsUrl(s.url, `/openenv/envs/${envId}/ws`))
  const state = await second.ask({ type: 'state' })
  t.match(state.data, { env_id: envId, episode_id: episodeId, step_count: 1, task: TASK, running: false })
  const step = await second.ask({ type: 'step', data: { command: 'echo "$PWD $X"' } })
  t.equal(step.data.observation.output, '/tmp kept', 'the same shell: cwd and variables survive the drop')
  t.match(step.data.metadata, { env_id: envId, episode_id: episodeId, step_count: 2 })
  second.ws.terminate()
  await second.closed

  // the idle reaper (2 s here) takes the abandoned environment; poll with a hang guard, no timing assertion
  for (let i = 0; s.manager.envs.has(envId); i++) {
    if (i > 300) throw new Error('the environment was never reaped (hang guard)')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const ep = await http(s.url, 'GET', `/v1/episodes/${episodeId}`)
  t.equal(ep.body.episode.status, 'abandoned')
  t.equal(ep.body.steps.length, 2)

  const third = await Socket.open(wsUrl(s.url, `/openenv/envs/${envId}/ws`))
  const gone = await third.next()
  t.doesNotThrow(() => validateOpenEnvWsReply(gone, 'reply'))
  t.match(gone, { type: 'error', data: { code: 'SESSION_ERROR', synthgym_code: 'NOT_FOUND' } })
  t.equal(await third.closed, 1008, 'a resume of a reaped environment is refused')
})
