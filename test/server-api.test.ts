// The API's edges over real HTTP and WebSocket on loopback: closing an environment under a running step, every
// error in the documented shape (fastify's own errors too), optional empty bodies, a sandbox that cannot start,
// bearer-token auth, paging through episodes, a server that is shutting down.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { testServer, http } from './helpers.js'

const TASK = 'prisonersDilemma'
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** A request with exactly these headers and body; the answer's body as JSON when it is JSON. */
async function raw (url: string, method: string, path: string, init: { headers?: Record<string, string>, body?: string } = {}): Promise<{ status: number, body: any }> {
  const res = await fetch(url + path, { method, headers: init.headers ?? {}, body: init.body })
  const text = await res.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, body }
}

const errorShape = (code: string) => ({ error: { code, message: String } })

t.test('closing an environment while a step runs: the step answers ENV_CLOSED, the episode stays abandoned', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const id = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const episode = (await http(s.url, 'POST', `/v1/envs/${id}/reset`)).body.episode_id
  await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'echo before' })
  const started = Date.now()
  const step = http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'sleep 5; echo late' })
  await sleep(500)
  const del = await http(s.url, 'DELETE', `/v1/envs/${id}`)
  t.equal(del.status, 200, 'DELETE answers while the step runs')
  t.same(del.body, { env_id: id, closed: true })
  const r = await step
  t.ok(Date.now() - started < 4500, 'the step ends with its environment, not after its sleep')
  t.equal(r.status, 410)
  t.match(r.body, errorShape('ENV_CLOSED'))
  t.match(r.body.error.message, new RegExp(`environment ${id} was closed`))
  const ep = await http(s.url, 'GET', `/v1/episodes/${episode}`)
  t.equal(ep.body.episode.status, 'abandoned', 'the late step did not flip the episode back to running')
  t.equal(ep.body.episode.steps, 1, 'the cut-off step is not recorded')
  t.same(ep.body.steps.map((x: any) => x.action), ['echo before'])
  t.equal((await http(s.url, 'GET', `/v1/envs/${id}`)).status, 404)
})

t.test('closing over the WebSocket while another socket steps: ENV_CLOSED frame', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const open = async () => {
    const ws = new WebSocket(s.url.replace('http', 'ws') + '/v1/ws')
    await new Promise(resolve => ws.once('open', resolve))
    const answers = new Map<unknown, any>()
    ws.on('message', (d: Buffer) => { const f = JSON.parse(d.toString()); if (!f.type) answers.set(f.id, f) })
    const ask = async (msg: object & { id: string }) => {
      ws.send(JSON.stringify(msg))
      while (!answers.has(msg.id)) await sleep(20)
      return answers.get(msg.id)
    }
    return { ws, ask }
  }
  const a = await open()
  const b = await open()
  t.teardown(() => { a.ws.close(); b.ws.close() })
  const env = (await a.ask({ id: 'c', op: 'create', task: TASK })).result.env_id
  const episode = (await a.ask({ id: 'r', op: 'reset', env_id: env })).result.episode_id
  const step = a.ask({ id: 's', op: 'step', env_id: env, action: 'sleep 5' })
  await sleep(500)
  t.same(await b.ask({ id: 'x', op: 'close', env_id: env }), { id: 'x', ok: true, result: { env_id: env, closed: true } })
  const answer = await step
  t.equal(answer.ok, false)
  t.equal(answer.error.code, 'ENV_CLOSED')
  t.equal((await http(s.url, 'GET', `/v1/episodes/${episode}`)).body.episode.status, 'abandoned')
})

t.test('the idle reaper leaves an environment alone while its step runs', async t => {
  const s = await testServer({ idleTimeout: 1 })
  t.teardown(() => s.close())
  const id = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  await http(s.url, 'POST', `/v1/envs/${id}/reset`)
  const step = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'sleep 2.5; echo trained' })
  t.equal(step.status, 200, 'a step longer than the idle timeout is not reaped under it')
  t.equal(step.body.observation, 'trained')
  await sleep(2600)
  t.equal((await http(s.url, 'GET', `/v1/envs/${id}`)).status, 404, 'reaped once idle')
})

t.test('a reset refused while a step runs leaves the episode running', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const id = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const episode = (await http(s.url, 'POST', `/v1/envs/${id}/reset`)).body.episode_id
  const step = http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'sleep 1; echo done' })
  await sleep(300)
  const reset = await http(s.url, 'POST', `/v1/envs/${id}/reset`)
  t.equal(reset.status, 409)
  t.match(reset.body, errorShape('BUSY'))
  t.equal((await http(s.url, 'GET', `/v1/episodes/${episode}`)).body.episode.status, 'running', 'not abandoned by the refused reset')
  t.equal((await step).body.observation, 'done')
})

t.test('every error has the documented shape: routing, ids, content types, bodies', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const long = 'e'.repeat(101)
  const cases: [string, string, { headers?: Record<string, string>, body?: string }, number, string][] = [
    ['GET', `/v1/envs/${long}`, {}, 404, 'NOT_FOUND'],
    ['POST', `/v1/envs/${long}/step`, { headers: { 'content-type': 'application/json' }, body: '{"action":"ls"}' }, 404, 'NOT_FOUND'],
    ['GET', `/v1/tasks/${long}`, {}, 404, 'NOT_FOUND'],
    ['GET', '/v1/envs/%E0%A4%A', {}, 400, 'VALIDATION_ERROR'],
    ['GET', '/v1/nothing-here', {}, 404, 'NOT_FOUND'],
    ['PUT', '/v1/envs', {}, 404, 'NOT_FOUND'],
    ['POST', '/v1/envs', { headers: { 'content-type': 'application/xml' }, body: '<task/>' }, 415, 'VALIDATION_ERROR'],
    ['POST', '/v1/envs', { headers: { 'content-type': 'application/json' }, body: '{"task": ' }, 400, 'VALIDATION_ERROR'],
    ['POST', '/v1/envs', { headers: { 'content-type': 'application/json' }, body: '{"__proto__": {"x": 1}}' }, 400, 'VALIDATION_ERROR'],
    ['POST', '/v1/envs', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'x'.repeat(2 * 1024 * 1024) }) }, 413, 'PAYLOAD_TOO_LARGE'],
    ['GET', '/v1/episodes?cursor=not-a-cursor', {}, 400, 'VALIDATION_ERROR'],
    ['GET', '/v1/tools?profile=nosuch', {}, 400, 'VALIDATION_ERROR']
  ]
  for (const [method, path, init, status, code] of cases) {
    const r = await raw(s.url, method, path, init)
    const what = `${method} ${path.slice(0, 40)}`
    t.equal(r.status, status, `${what}: status`)
    t.match(r.body, errorShape(code), `${what}: {error: {code: ${code}, message}}`)
    t.same(Object.keys(r.body), ['error'], `${what}: nothing but error`)
  }
  const cursor = await raw(s.url, 'GET', '/v1/episodes?cursor=not-a-cursor')
  t.equal(cursor.body.error.field, 'query.cursor')
  const tools = await raw(s.url, 'GET', '/v1/tools?profile=nosuch')
  t.equal(tools.body.error.field, 'query.profile')
})

t.test('an empty body is accepted wherever the body is optional, even with content-type: application/json', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const json = { 'content-type': 'application/json' }
  const id = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const reset = await raw(s.url, 'POST', `/v1/envs/${id}/reset`, { headers: json })
  t.equal(reset.status, 200, 'reset')
  t.ok(reset.body.episode_id)
  const ev = await raw(s.url, 'POST', `/v1/envs/${id}/evaluate`, { headers: json, body: '' })
  t.equal(ev.status, 200, 'evaluate')
  t.type(ev.body.metrics.Score, 'number')
  const del = await raw(s.url, 'DELETE', `/v1/envs/${id}`, { headers: json })
  t.equal(del.status, 200, 'DELETE')
  t.same(del.body, { env_id: id, closed: true })
  // where a body is required, its absence is named
  const create = await raw(s.url, 'POST', '/v1/envs', { headers: json })
  t.equal(create.status, 400)
  t.equal(create.body.error.field, 'body.task')
})

t.test('a sandbox that cannot start answers SANDBOX_ERROR with the reason, not INTERNAL', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-task-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'task.yaml'), [
    'id: vanishingStarter', 'name: Vanishing starter', 'description: Its starter file is deleted after the task loads.',
    'task_entrypoint: PythonSubmissionTasks', 'use_generic_conda: true', 'starter_code:', '- starter.py', ''
  ].join('\n'))
  writeFileSync(join(dir, 'starter.py'), 'print(1)\n')
  const s = await testServer({}, { taskDirs: [dir] })
  t.teardown(() => s.close())
  rmSync(join(dir, 'starter.py'))
  const id = (await http(s.url, 'POST', '/v1/envs', { task: 'vanishingStarter' })).body.env_id
  const reset = await http(s.url, 'POST', `/v1/envs/${id}/reset`)
  t.equal(reset.status, 500)
  t.match(reset.body, errorShape('SANDBOX_ERROR'))
  t.match(reset.body.error.message, /the sandbox did not start: ENOENT.*starter\.py/)
})

t.test('--token: 401 in our shape without it, the API with a bearer token, /v1/health open, WebSocket ?token=', async t => {
  const token = 'sg-secret-token-1'
  const s = await testServer({ token })
  t.teardown(() => s.close())
  const bare = await raw(s.url, 'GET', '/v1/tasks')
  t.equal(bare.status, 401)
  t.match(bare.body, errorShape('UNAUTHORIZED'))
  t.match(bare.body.error.message, /Authorization: Bearer/)
  t.equal((await raw(s.url, 'GET', '/v1/tasks', { headers: { authorization: 'Bearer wrong' } })).status, 401, 'a wrong token')
  t.equal((await raw(s.url, 'GET', '/v1/tasks', { headers: { authorization: token } })).status, 401, 'the token without Bearer')
  t.equal((await raw(s.url, 'GET', `/v1/tasks?token=${token}`)).status, 401, '?token= is for the WebSocket only')
  const ok = await raw(s.url, 'GET', '/v1/tasks', { headers: { authorization: `Bearer ${token}` } })
  t.equal(ok.status, 200)
  t.ok(ok.body.tasks.length > 0)
  const health = await raw(s.url, 'GET', '/v1/health')
  t.equal(health.status, 200, 'health needs no token')
  t.equal(health.body.status, 'ok')

  const wsUrl = s.url.replace('http', 'ws') + '/v1/ws'
  const refused = await new Promise<{ status: number, body: any }>((resolve, reject) => {
    const ws = new WebSocket(wsUrl)
    ws.once('open', () => reject(new Error('opened without a token')))
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
  })
  t.equal(refused.status, 401, 'a WebSocket without the token is refused')
  t.match(refused.body, errorShape('UNAUTHORIZED'))
  const ws = new WebSocket(`${wsUrl}?token=${token}`)
  t.teardown(() => ws.close())
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const pong = new Promise<any>(resolve => ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()))))
  ws.send(JSON.stringify({ id: 1, op: 'ping' }))
  t.same(await pong, { id: 1, ok: true, result: { pong: true } })
})

t.test('episodes page by next_cursor: every episode exactly once', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const id = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const made: string[] = []
  for (let i = 0; i < 5; i++) {
    made.push((await http(s.url, 'POST', `/v1/envs/${id}/reset`)).body.episode_id)
    const skip = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'skip' })
    t.equal(skip.body.terminated, true)
  }
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const q: string = `/v1/episodes?status=finished&limit=2${cursor ? `&cursor=${cursor}` : ''}`
    const page = await http(s.url, 'GET', q)
    t.equal(page.status, 200)
    t.ok(page.body.episodes.length <= 2, 'no more than the limit')
    for (const e of page.body.episodes) {
      t.equal(e.status, 'finished')
      t.equal(e.exit_status, 'skipped')
      seen.push(e.id)
    }
    cursor = page.body.next_cursor
    pages++
  } while (cursor && pages < 10)
  t.equal(pages, 3, 'pages of 2, 2 and 1')
  t.same(seen, made, 'each episode once, in the order they were made')
  const all = await http(s.url, 'GET', '/v1/episodes?status=finished&limit=5')
  t.equal(all.body.next_cursor, null, 'a page that holds the rest has no next cursor')
})

t.test('a server that is shutting down answers SHUTTING_DOWN in our shape', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  await s.manager.closeAll()
  const r = await raw(s.url, 'GET', '/v1/tasks')
  t.equal(r.status, 503)
  t.match(r.body, errorShape('SHUTTING_DOWN'))
})
