// The API's edges over real HTTP and WebSocket on loopback: closing an environment under a running step, every
// error in the documented shape (fastify's own errors too), optional empty bodies, a sandbox that cannot start,
// bearer-token auth, paging through episodes, a server that is shutting down.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import Database from 'better-sqlite3'
import { testServer, http, tempDir, waitFor, wsSocket } from './helpers.js'
import { SCHEMA_VERSION } from '../server/store.js'
import { episodeOutcome } from '../env-spec/episode.js'

const TASK = 'prisonersDilemma'
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
/** Whether a step of `id` runs now (what a test waits for before acting under it, however loaded the machine). */
const running = (s: { manager: { envs: Map<string, { env: { busy: boolean } }> } }, id: string) => s.manager.envs.get(id)?.env.busy === true

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
  const step = http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'sleep 60; echo late' })
  await waitFor('the step to run', () => running(s, id))
  const del = await http(s.url, 'DELETE', `/v1/envs/${id}`)
  t.equal(del.status, 200, 'DELETE answers while the step runs')
  t.same(del.body, { env_id: id, closed: true })
  const r = await step
  t.ok(Date.now() - started < 50_000, 'the step ends with its environment, not after its sleep')
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
  const a = await wsSocket(s.url, t)
  const b = await wsSocket(s.url, t)
  const env = (await a.ask({ id: 'c', op: 'create', task: TASK })).result.env_id
  const episode = (await a.ask({ id: 'r', op: 'reset', env_id: env })).result.episode_id
  const step = a.ask({ id: 's', op: 'step', env_id: env, action: 'sleep 60' })
  await waitFor('the step to run', () => running(s, env))
  t.same(await b.ask({ id: 'x', op: 'close', env_id: env }), { id: 'x', ok: true, result: { env_id: env, closed: true } })
  const answer = await step
  t.equal(answer.ok, false)
  t.equal(answer.error.code, 'ENV_CLOSED')
  t.equal((await http(s.url, 'GET', `/v1/episodes/${episode}`)).body.episode.status, 'abandoned')
})

t.test('a socket\'s own step comes back once, as its answer; another socket on the environment gets step_result', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const a = await wsSocket(s.url, t)
  const b = await wsSocket(s.url, t)
  const env = (await a.ask({ id: 'c', op: 'create', task: TASK })).result.env_id
  await a.ask({ id: 'r', op: 'reset', env_id: env })
  await b.ask({ id: 'bs', op: 'state', env_id: env }) // b touches the environment: it follows its steps
  a.frames.length = 0
  b.frames.length = 0
  const answer = await a.ask({ id: 's', op: 'step', env_id: env, action: 'echo hi', stream: false })
  t.equal(answer.result.observation, 'hi')
  await waitFor('b to get the result', () => b.frames.length > 0)
  t.same(b.frames, [{ type: 'step_result', env_id: env, result: answer.result }], 'b: the result as a frame')
  await b.ask({ id: 'bp', op: 'ping' }) // a frame sent after the step's would have come by now
  t.same(a.frames, [answer], 'a: the answer only, not a step_result frame too')
})

t.test('the idle reaper leaves an environment alone while its step runs', async t => {
  const s = await testServer({ idleTimeout: 1 })
  t.teardown(() => s.close())
  const id = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  await http(s.url, 'POST', `/v1/envs/${id}/reset`)
  const step = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'sleep 2.5; echo trained' })
  t.equal(step.status, 200, 'a step longer than the idle timeout is not reaped under it')
  t.equal(step.body.observation, 'trained')
  // looked at from outside the API: a GET is use, which would keep it from the reaper
  await waitFor('the reaper', () => !s.manager.envs.has(id))
  t.equal((await http(s.url, 'GET', `/v1/envs/${id}`)).status, 404, 'reaped once idle')
})

t.test('a reset refused while a step runs leaves the episode running', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const id = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const episode = (await http(s.url, 'POST', `/v1/envs/${id}/reset`)).body.episode_id
  const step = http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'sleep 1; echo done' })
  await waitFor('the step to run', () => running(s, id))
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
    ['POST', '/v1/envs', { headers: { 'content-type': 'text/plain' }, body: 'digitsClassification' }, 415, 'VALIDATION_ERROR'],
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

// ---- the trainer feed: model data per step, the episode's model, filters, the long poll, the shaped reward ----

/** A model call as a harness posts it (token ids and logprobs as vLLM returns them). */
function modelCall (model: string, n: number): Record<string, unknown> {
  return {
    model,
    messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: `observation ${n}`, extra_field: { kept: [1, 2] } }],
    completion: { role: 'assistant', content: `DISCUSSION\nstep ${n}\n\`\`\`\necho ${n}\n\`\`\``, reasoning_content: 'thinking...' },
    usage: { prompt_tokens: 11 + n, completion_tokens: 7, total_tokens: 18 + n },
    finish_reason: 'stop',
    latency_ms: 12.5,
    sampling: { temperature: 0, top_p: 0.95 },
    prompt_token_ids: [1, 2, 3, n],
    completion_token_ids: [4, 5, n],
    completion_logprobs: [-0.01, -0.5, -1e-9],
    requeries: [{ completion: { role: 'assistant', content: 'no block' }, error: 'format error', usage: { prompt_tokens: 3, completion_tokens: 2 }, finish_reason: 'stop', latency_ms: 1 }],
    api_retries: 1,
    cost: 0.0125
  }
}

t.test('a step\'s model data is stored and returned unchanged (HTTP and WebSocket); a bad one names its field', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK, meta: { run: 'r1' } })).body.env_id
  const episode = (await http(s.url, 'POST', `/v1/envs/${env}/reset`)).body.episode_id
  const sent = [modelCall('teacher-x', 1), modelCall('teacher-x', 2)]
  const r1 = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'echo 1', model: sent[0] })
  t.equal(r1.status, 200)
  const ws = new WebSocket(s.url.replace('http', 'ws') + '/v1/ws')
  t.teardown(() => ws.close())
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const answer = new Promise<any>(resolve => ws.on('message', (d: Buffer) => { const f = JSON.parse(d.toString()); if (f.id === 7 && 'ok' in f) resolve(f) }))
  ws.send(JSON.stringify({ id: 7, op: 'step', env_id: env, action: 'echo 2', model: sent[1] }))
  t.equal((await answer).ok, true)
  await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'echo 3' })

  for (const path of [`/v1/episodes/${episode}`, `/v1/envs/${env}/trajectory`]) {
    const got = (await http(s.url, 'GET', path)).body
    t.strictSame(got.steps[0].model, sent[0], `${path}: step 1's model data as sent`)
    t.strictSame(got.steps[1].model, sent[1], `${path}: step 2's (over the WebSocket) as sent`)
    t.notOk('model' in got.steps[2], 'a step without model data has none')
    t.equal(got.episode.model, 'teacher-x', 'the first step\'s model names the episode')
    t.strictSame(got.episode.meta, { run: 'r1' }, 'meta of POST /v1/envs')
    t.strictSame(got.traj.info.model_stats, {
      total_cost: 0.025, task_cost: 0.025, api_calls: 4,
      tokens_sent: 12 + 13 + 3 + 3, tokens_received: 7 + 7 + 2 + 2
    }, '.traj model_stats add up the calls, requeries included')
  }

  // the feed can bring the steps with each episode
  const page = (await http(s.url, 'GET', '/v1/episodes?include_steps=true&model=teacher-x')).body
  t.equal(page.episodes.length, 1)
  t.strictSame(page.episodes[0].trajectory, (await http(s.url, 'GET', `/v1/episodes/${episode}`)).body.steps, 'the same steps as GET /v1/episodes/:id')
  t.notOk('trajectory' in (await http(s.url, 'GET', '/v1/episodes?model=teacher-x')).body.episodes[0], 'only when asked')

  const bad = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'echo 4', model: { ...sent[0], latency_ms: -1 } })
  t.equal(bad.status, 400)
  t.equal(bad.body.error.field, 'body.model.latency_ms')
  const noMessages = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'echo 4', model: { model: 'm' } })
  t.match(noMessages.body.error.field, /^body\.model\./)
  t.equal((await http(s.url, 'GET', `/v1/episodes/${episode}`)).body.steps.length, 3, 'refused steps are not recorded')

  // a prompt bigger than an action may be: model data is allowed up to 32 MiB beside it
  const long = { ...sent[0], messages: [{ role: 'user', content: 'x'.repeat(3 * 1024 * 1024) }] }
  const big = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'echo big', model: long })
  t.equal(big.status, 200)
  t.equal((await http(s.url, 'GET', `/v1/episodes/${episode}`)).body.steps[3].model.messages[0].content.length, 3 * 1024 * 1024)
})

t.test('episodes carry their model; GET /v1/episodes filters by model and by improvement over the baseline', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const a = (await http(s.url, 'POST', '/v1/envs', { task: TASK, model: 'student-a' })).body.env_id
  const b = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const epA = (await http(s.url, 'POST', `/v1/envs/${a}/reset`)).body.episode_id
  const epB = (await http(s.url, 'POST', `/v1/envs/${b}/reset`)).body.episode_id
  // the env's model wins over a step's
  await http(s.url, 'POST', `/v1/envs/${a}/step`, { action: 'validate', model: modelCall('other', 1) })
  await http(s.url, 'POST', `/v1/envs/${a}/step`, { action: 'submit' })
  // tit for tat beats the noisy baseline
  const tft = 'cat > strategy.py <<\'EOF\'\ndef row_strategy(history):\n    return 0 if not history else history[-1][1]\nEOF'
  await http(s.url, 'POST', `/v1/envs/${b}/step`, { action: tft, model: modelCall('student-b', 1) })
  const v = await http(s.url, 'POST', `/v1/envs/${b}/step`, { action: 'validate' })
  const base = (await http(s.url, 'GET', `/v1/episodes/${epB}`)).body.episode.baseline.Score
  t.ok(v.body.info.metrics.Score > base, `tit for tat ${v.body.info.metrics.Score} beats the baseline ${base}`)
  await http(s.url, 'POST', `/v1/envs/${b}/step`, { action: 'submit' })

  const list = async (q: string) => (await http(s.url, 'GET', `/v1/episodes?${q}`)).body.episodes.map((e: any) => e.id)
  t.strictSame(await list('model=student-a'), [epA])
  t.strictSame(await list('model=student-b'), [epB])
  t.strictSame(await list('model=other'), [])
  t.strictSame(await list('improved=true'), [epB])
  t.strictSame(await list('improved=false&status=finished'), [epA], 'validating the baseline itself is no improvement')
  t.strictSame(await list('model=student-b&improved=true&status=finished'), [epB])
  const ep = (await http(s.url, 'GET', `/v1/episodes/${epB}`)).body.episode
  t.equal(ep.improved, true)
  t.equal(ep.model, 'student-b')
  t.equal((await http(s.url, 'GET', '/v1/episodes?improved=maybe')).body.error.field, 'query.improved')
  t.equal((await http(s.url, 'GET', '/v1/episodes?wait=61')).body.error.field, 'query.wait')
})

t.test('status=finished pages in the order episodes ended: a long episode is seen once, when it ends', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const long = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const short = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const epLong = (await http(s.url, 'POST', `/v1/envs/${long}/reset`)).body.episode_id
  const epShort = (await http(s.url, 'POST', `/v1/envs/${short}/reset`)).body.episode_id
  await http(s.url, 'POST', `/v1/envs/${short}/step`, { action: 'skip' })
  const first = (await http(s.url, 'GET', '/v1/episodes?status=finished')).body
  t.strictSame(first.episodes.map((e: any) => e.id), [epShort])
  t.equal(first.next_cursor, null)
  t.ok(first.end_cursor, 'the last page still says where it ends')
  await http(s.url, 'POST', `/v1/envs/${long}/step`, { action: 'skip' })
  const after = (await http(s.url, 'GET', `/v1/episodes?status=finished&cursor=${first.end_cursor}`)).body
  t.strictSame(after.episodes.map((e: any) => e.id), [epLong], 'created first, ended last: after the cursor')
  // creation order for other queries; a cursor of one order is refused by the other
  t.strictSame((await http(s.url, 'GET', '/v1/episodes')).body.episodes.map((e: any) => e.id), [epLong, epShort])
  const wrong = await http(s.url, 'GET', `/v1/episodes?cursor=${first.end_cursor}`)
  t.equal(wrong.status, 400)
  t.equal(wrong.body.error.field, 'query.cursor')
})

t.test('the long poll: wait= returns an episode that finishes while it waits; an empty wait ends with an empty page', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK, model: 'm-poll' })).body.env_id
  await http(s.url, 'POST', `/v1/envs/${env}/reset`)
  const start = (await http(s.url, 'GET', '/v1/episodes?status=finished&model=m-poll')).body
  t.strictSame(start.episodes, [])
  let answered = false
  const held = http(s.url, 'GET', '/v1/episodes?status=finished&model=m-poll&wait=30').then(r => { answered = true; return r })
  await sleep(300)
  t.equal(answered, false, 'held while nothing matches')
  // a new episode starts (not finished): still held
  const other = (await http(s.url, 'POST', '/v1/envs', { task: TASK, model: 'm-poll' })).body.env_id
  await http(s.url, 'POST', `/v1/envs/${other}/reset`)
  await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'echo not yet' })
  await sleep(100)
  t.equal(answered, false, 'a step that does not end the episode does not answer it')
  await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'skip' })
  const got = await held
  t.equal(got.status, 200)
  t.equal(got.body.episodes.length, 1)
  t.equal(got.body.episodes[0].env_id, env)
  t.equal(got.body.episodes[0].exit_status, 'skipped')
  const empty = await http(s.url, 'GET', `/v1/episodes?status=finished&model=m-poll&wait=0.2&cursor=${got.body.end_cursor}`)
  t.strictSame(empty.body, { episodes: [], next_cursor: null, end_cursor: null })
  // a server that stops answers held polls at once
  const stopping = http(s.url, 'GET', `/v1/episodes?status=finished&model=m-poll&wait=60&cursor=${got.body.end_cursor}`)
  await waitFor('the poll to be held', () => s.manager.heldPolls > 0)
  await s.manager.closeAll()
  t.strictSame((await stopping).body.episodes, [])
})

t.test('reward "shaped": a valid submission earns 0.2, improvement the rest; repeating a validation earns nothing', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK, reward: 'shaped' })).body.env_id
  const reset = (await http(s.url, 'POST', `/v1/envs/${env}/reset`)).body
  const base = reset.info.baseline.Score
  const plain = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'ls' })
  t.equal(plain.body.reward, 0, 'no evaluation, no reward')
  const v1 = (await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'validate' })).body
  const imp1 = Math.min(1, Math.max(0, (v1.info.metrics.Score - base) / Math.abs(base)))
  t.equal(v1.reward, 0.2 + 0.8 * imp1, 'the first valid evaluation: 0.2 plus 0.8 times its clipped improvement')
  const tft = 'cat > strategy.py <<\'EOF\'\ndef row_strategy(history):\n    return 0 if not history else history[-1][1]\nEOF'
  await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: tft })
  const v2 = (await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'validate' })).body
  const imp2 = Math.min(1, Math.max(0, (v2.info.metrics.Score - base) / Math.abs(base)))
  t.ok(imp2 > imp1, 'tit for tat improves')
  t.ok(Math.abs(v2.reward - 0.8 * (imp2 - imp1)) < 1e-12, `the better validation earns what it adds: ${v2.reward}`)
  const again = (await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'submit' })).body
  const imp3 = Math.min(1, Math.max(0, (again.info.metrics.Score - base) / Math.abs(base)))
  const expected = Math.max(0, 0.2 + 0.8 * imp3 - (0.2 + 0.8 * Math.max(imp1, imp2)))
  t.ok(Math.abs(again.reward - expected) < 1e-12, 'the submission earns only what beats the best so far')
  const steps = (await http(s.url, 'GET', `/v1/envs/${env}/trajectory`)).body.steps
  const total = steps.reduce((a: number, st: any) => a + st.reward, 0)
  t.ok(Math.abs(total - (0.2 + 0.8 * Math.max(imp1, imp2, imp3))) < 1e-12, 'the rewards sum to the episode\'s best shaped value')
})

t.test('an episode store an older server wrote is upgraded in place: old episodes read back, new steps carry model data', async t => {
  const dataDir = tempDir(t, 'sg-migrate-')
  // the schema before model data (user_version 0), as the earlier store created it
  const old = new Database(join(dataDir, 'episodes.db'))
  old.exec(`
    CREATE TABLE episodes (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT UNIQUE NOT NULL, env_id TEXT NOT NULL, task_id TEXT NOT NULL,
      status TEXT NOT NULL, exit_status TEXT, submission TEXT, score TEXT NOT NULL DEFAULT '[]', baseline TEXT,
      steps INTEGER NOT NULL DEFAULT 0, description TEXT NOT NULL DEFAULT '',
      created_at TEXT NOT NULL, finished_at TEXT, meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX episodes_task ON episodes(task_id, status);
    CREATE TABLE steps (
      episode_id TEXT NOT NULL, idx INTEGER NOT NULL,
      action TEXT NOT NULL, observation TEXT NOT NULL, response TEXT NOT NULL, thought TEXT NOT NULL,
      state TEXT NOT NULL, execution_time REAL NOT NULL, reward REAL NOT NULL,
      terminated INTEGER NOT NULL, truncated INTEGER NOT NULL, created_at TEXT NOT NULL,
      PRIMARY KEY (episode_id, idx)
    );
    INSERT INTO episodes (id, env_id, task_id, status, exit_status, score, baseline, steps, description, created_at, finished_at)
      VALUES ('ep-old', 'env-old', '${TASK}', 'finished', 'submitted', '[{"Score":3}]', '{"Score":2}', 1, 'd', '2025-01-01T00:00:00Z', '2025-01-01T00:01:00Z');
    INSERT INTO steps VALUES ('ep-old', 0, 'submit', 'Exited (submit)', 'submit', '', '{}', 0.5, 0, 1, 0, '2025-01-01T00:01:00Z');
  `)
  old.close()
  const s = await testServer({ dataDir })
  t.teardown(() => s.close())
  const got = (await http(s.url, 'GET', '/v1/episodes/ep-old')).body
  t.equal(got.episode.exit_status, 'submitted')
  t.equal(got.episode.model, null)
  t.equal(got.episode.improved, null, 'unknown for an episode stored before improvement was recorded')
  t.strictSame(got.steps.map((st: any) => st.action), ['submit'])
  t.notOk('model' in got.steps[0])
  const finished = (await http(s.url, 'GET', '/v1/episodes?status=finished')).body
  t.strictSame(finished.episodes.map((e: any) => e.id), ['ep-old'], 'old finished episodes are in the end order too')
  const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const ep = (await http(s.url, 'POST', `/v1/envs/${env}/reset`)).body.episode_id
  const m = modelCall('after-upgrade', 1)
  await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'skip', model: m })
  t.strictSame((await http(s.url, 'GET', `/v1/episodes/${ep}`)).body.steps[0].model, m)
  const after = (await http(s.url, 'GET', `/v1/episodes?status=finished&cursor=${finished.end_cursor}`)).body
  t.strictSame(after.episodes.map((e: any) => e.id), [ep], 'a new episode ends after the old ones')
  await s.close()
  const db = new Database(join(dataDir, 'episodes.db'), { readonly: true })
  t.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'the file is at the newest schema version')
  db.close()
})

t.test('each step stores its exit code; each ended episode says why it ended (outcome), and the list filters by it', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const env = (await http(s.url, 'POST', '/v1/envs', { task: 'digitsClassification' })).body.env_id
  const ep = (await http(s.url, 'POST', `/v1/envs/${env}/reset`)).body.episode_id
  const codes: Array<[string, number | null]> = [
    ['python3 -c "import sys; sys.exit(3)"', 3], ['true', 0], ['python3 no_such_file.py', 2], ['false | cat', 0]
  ]
  for (const [action, code] of codes) {
    const r = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action })
    t.equal(r.body.info.exit_code, code, `${action}: info.exit_code ${code}`)
  }
  const running = (await http(s.url, 'GET', `/v1/episodes/${ep}`)).body
  t.equal(running.episode.outcome, null, 'no outcome while it runs')
  // submit without a submission file: it ended, but not with a valid submission
  const sub = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'submit' })
  t.match(sub.body.info.exit_status, /^submission_not_found/)
  t.notOk('exit_code' in sub.body.info, 'an evaluation is not a shell command')
  const got = (await http(s.url, 'GET', `/v1/episodes/${ep}`)).body
  t.strictSame(got.steps.map((st: any) => st.exit_code), [3, 0, 2, 0, null], 'stored with each step')
  t.equal(got.episode.outcome, 'no_submission')
  const feed = (await http(s.url, 'GET', '/v1/episodes?include_steps=true')).body.episodes.find((e: any) => e.id === ep)
  t.strictSame(feed.trajectory.map((st: any) => st.exit_code), [3, 0, 2, 0, null], 'the trainer feed carries them')
  const traj = (await http(s.url, 'GET', `/v1/envs/${env}/trajectory`)).body
  t.strictSame(traj.traj.trajectory.map((st: any) => st.exit_code), [3, 0, 2, 0, null], 'the .traj carries them as extras')
  t.strictSame((await http(s.url, 'GET', '/v1/episodes?outcome=no_submission')).body.episodes.map((e: any) => e.id), [ep])
  t.strictSame((await http(s.url, 'GET', '/v1/episodes?outcome=improved')).body.episodes, [])
  const bad = await http(s.url, 'GET', '/v1/episodes?outcome=sad')
  t.equal(bad.body.error.field, 'query.outcome')
})

t.test('episodeOutcome: one category per way an episode ends', async t => {
  const base = { status: 'finished' as const, score: [] as Array<Record<string, number>>, improved: false }
  const cases: Array<[Partial<Parameters<typeof episodeOutcome>[0]>, string | null]> = [
    [{ status: 'running', exit_status: null }, null],
    [{ exit_status: 'submitted', score: [{ a: 1 }], improved: true }, 'improved'],
    [{ exit_status: 'autosubmission (exit_context)', score: [{ a: 1 }] }, 'not_improved'],
    [{ exit_status: 'submission_not_found (submit)' }, 'no_submission'],
    [{ exit_status: 'submission_not_found (exit_format)' }, 'format'],
    [{ exit_status: 'exit_context' }, 'context'], [{ exit_status: 'submission_not_found (exit_api)' }, 'api'],
    [{ exit_status: 'exit_cost' }, 'cost'], [{ exit_status: 'submission_not_found (max_steps)' }, 'timeout'],
    [{ exit_status: 'early_exit' }, 'sandbox_crash'], [{ exit_status: 'disk_limit_exceeded' }, 'disk_limit'],
    [{ status: 'interrupted', exit_status: 'interrupted' }, 'interrupted'], [{ status: 'abandoned', exit_status: null }, 'abandoned'],
    [{ exit_status: 'skipped' }, 'no_submission']
  ]
  for (const [ep, want] of cases) t.equal(episodeOutcome({ ...base, exit_status: null, ...ep }), want, JSON.stringify(ep))
})
