// Observability over real HTTP with real sandboxes: /metrics (Prometheus text) counts steps, their latency, sandbox
// starts, evaluations and store writes as they happen and shows environments by state; it needs an admin key once
// keys are on; pino's lines (captured from fastify's own logger) carry request, key and environment ids and no key;
// /v1/health reports the store, auth and GPUs in its schema, degraded when the store stops answering.
import t from 'tap'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import YAML from 'yaml'
import { serverProcess, tempDir, testServer, waitFor } from './helpers.js'
import { formatLine, textLogStream } from '../server/log.js'
import { validateHealth } from '../env-spec/messages.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

const TASK = 'prisonersDilemma'

async function call (url: string, method: string, path: string, opts: { key?: string, body?: unknown, headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...opts.headers, ...(opts.key ? { 'x-api-key': opts.key } : {}) }
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
  const text = await res.text()
  let body: any = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, body, headers: res.headers }
}

/** Prometheus text as samples: name, labels, value. */
function parse (text: string): { name: string, labels: Record<string, string>, value: number }[] {
  return text.split('\n').filter(l => l && !l.startsWith('#')).map(l => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(l)
    if (!m) throw new Error(`not a sample line: ${l}`)
    const labels: Record<string, string> = {}
    for (const p of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]!] = p[2]!
    return { name: m[1]!, labels, value: Number(m[3]) }
  })
}

/** The sum of the samples named `name` whose labels include `labels`. */
async function metric (url: string, name: string, labels: Record<string, string> = {}, key?: string): Promise<number> {
  const r = await call(url, 'GET', '/metrics', { key })
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`)
  return parse(r.body).filter(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0)
}

t.test('after each step /metrics shows the step counter, the latency histogram, environment gauges and the rest', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const res = await call(s.url, 'GET', '/metrics')
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const first = parse(res.body)
  for (const name of ['synthgym_steps_total', 'synthgym_environments', 'synthgym_gpu_queue_depth', 'synthgym_environments_capacity', 'process_resident_memory_bytes']) {
    t.ok(first.some(x => x.name === name), `${name} is exported`)
  }
  const m = (name: string, labels: Record<string, string> = {}) => metric(s.url, name, labels)
  const local = { backend: 'local' }
  t.equal(await m('synthgym_steps_total', { ...local, outcome: 'ok' }), 0)
  const starts0 = await m('synthgym_sandbox_starts_total', local)

  const id = (await call(s.url, 'POST', '/v1/envs', { body: { task: TASK } })).body.env_id
  t.equal(await m('synthgym_environments', { state: 'created', backend: 'local' }), 1, 'a new environment: created')
  t.equal((await call(s.url, 'POST', `/v1/envs/${id}/reset`)).status, 200)
  t.equal(await m('synthgym_environments', { state: 'ready', backend: 'local' }), 1, 'reset: ready')
  t.equal(await m('synthgym_environments', { state: 'created' }), 0)
  t.ok(await m('synthgym_sandbox_starts_total', local) > starts0, 'the reset started a sandbox')
  t.equal(await m('synthgym_store_write_duration_seconds_count', { op: 'create_episode' }), 1)

  t.equal((await call(s.url, 'POST', `/v1/envs/${id}/step`, { body: { action: 'echo one' } })).status, 200)
  t.equal(await m('synthgym_steps_total', { ...local, outcome: 'ok' }), 1, 'the step counter')
  t.equal(await m('synthgym_step_duration_seconds_count', local), 1, 'the histogram\'s count')
  t.ok(await m('synthgym_step_duration_seconds_sum', local) > 0, 'and its sum')
  t.equal(await m('synthgym_step_duration_seconds_bucket', { ...local, le: '+Inf' }), 1)
  t.equal(await m('synthgym_store_write_duration_seconds_count', { op: 'append_step' }), 1, 'the step\'s write was timed')
  t.equal(await m('synthgym_http_requests_total', { method: 'POST', route: '/v1/envs/:id/step', status: '200' }), 1)

  t.equal((await call(s.url, 'POST', `/v1/envs/${id}/step`, { body: { action: 'validate' } })).body.info.metrics !== undefined, true)
  t.equal(await m('synthgym_steps_total', { ...local, outcome: 'ok' }), 2)
  t.equal(await m('synthgym_step_duration_seconds_count', local), 2)
  t.equal(await m('synthgym_evaluations_total', { trigger: 'step', result: 'scored' }), 1, 'validate scored')
  t.equal((await call(s.url, 'POST', `/v1/envs/${id}/evaluate`)).status, 200)
  t.equal(await m('synthgym_evaluations_total', { trigger: 'evaluate', result: 'scored' }), 1, 'POST evaluate')

  t.equal((await call(s.url, 'POST', `/v1/envs/${id}/step`, { body: { action: 'skip' } })).body.terminated, true)
  t.equal(await m('synthgym_environments', { state: 'done', backend: 'local' }), 1, 'an ended episode: done')
  t.equal((await call(s.url, 'POST', `/v1/envs/${id}/step`, { body: { action: 'echo late' } })).status, 409)
  t.equal(await m('synthgym_steps_total', { ...local, outcome: 'EPISODE_FINISHED' }), 1, 'a refused step counts by its code')
  t.equal(await m('synthgym_step_duration_seconds_count', local), 3, 'and stays out of the histogram')

  t.equal((await call(s.url, 'DELETE', `/v1/envs/${id}`)).status, 200)
  t.equal(await m('synthgym_environments'), 0, 'closed: no environments')
})

t.test('GPUs: sandboxes per GPU, the queue waiting for one, and a start refused for want of one', async t => {
  // a configured GPU id (no device needed): the allocator hands it out as it would a real one
  const dir = join(tempDir(t, 'sg-gpu-task-'), 'gpuDilemma')
  cpSync(join(ROOT, 'tasks', 'builtin', 'prisonersDilemma'), dir, { recursive: true })
  const spec = YAML.parse(readFileSync(join(dir, 'task.yaml'), 'utf8'))
  writeFileSync(join(dir, 'task.yaml'), YAML.stringify({ ...spec, id: 'gpuDilemma', resources: { ...spec.resources, gpus: 1 } }))
  const s = await testServer({ gpus: '0', gpuQueue: 1, warmPool: 0 }, { taskDirs: [dir] })
  t.teardown(() => s.close())
  const m = (name: string, labels: Record<string, string> = {}) => metric(s.url, name, labels)
  const env = async () => (await call(s.url, 'POST', '/v1/envs', { body: { task: 'gpuDilemma', backend: 'local' } })).body.env_id as string
  t.equal(await m('synthgym_gpu_sandboxes', { gpu: '0' }), 0)
  const first = await env()
  t.equal((await call(s.url, 'POST', `/v1/envs/${first}/reset`)).status, 200)
  t.equal(await m('synthgym_gpu_sandboxes', { gpu: '0' }), 1, 'the episode holds the GPU')
  const second = await env()
  const waiting = call(s.url, 'POST', `/v1/envs/${second}/reset`)
  let depth = 0
  for (let i = 0; i < 200 && depth === 0; i++) depth = await m('synthgym_gpu_queue_depth') // until the reset has queued
  t.equal(depth, 1, 'the second reset waits in the GPU queue')
  const third = await env()
  const refused = await call(s.url, 'POST', `/v1/envs/${third}/reset`)
  t.equal(refused.body.error?.code, 'CAPACITY_REACHED', 'the queue is full')
  t.equal(await m('synthgym_sandbox_start_failures_total', { backend: 'local', code: 'CAPACITY_REACHED' }), 1, 'a start that failed, by its code')
  await call(s.url, 'DELETE', `/v1/envs/${first}`)
  t.equal((await waiting).status, 200)
  t.equal(await m('synthgym_gpu_queue_depth'), 0, 'the queue drained')
  t.equal(await m('synthgym_gpu_sandboxes', { gpu: '0' }), 1, 'the GPU passed to the waiting episode')
})

t.test('/metrics needs an admin key once keys are on', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const envs = s.keys.create({ scopes: ['envs'] })
  const admin = s.keys.create({ scopes: ['admin'] })
  t.equal((await call(s.url, 'GET', '/metrics')).status, 401)
  t.equal((await call(s.url, 'GET', '/metrics', { key: envs.key })).status, 403)
  t.equal(await metric(s.url, 'synthgym_environments', {}, admin.key), 0)
})

t.test('logs: request lines carry the request and key ids, an environment\'s lines its env id; no key is logged', async t => {
  const lines: Record<string, any>[] = []
  let raw = ''
  const stream = new PassThrough()
  stream.on('data', (d: Buffer) => {
    raw += d
    for (let nl = raw.indexOf('\n'); nl >= 0; nl = raw.indexOf('\n')) {
      lines.push(JSON.parse(raw.slice(0, nl)))
      raw = raw.slice(nl + 1)
    }
  })
  const s = await testServer({}, { logger: { level: 'debug', stream } })
  t.teardown(() => s.close())
  const k = s.keys.create({ name: 'logged', scopes: ['envs'] })
  const made = await call(s.url, 'POST', '/v1/envs', { key: k.key, body: { task: TASK }, headers: { 'x-request-id': 'trainer-req-1' } })
  t.equal(made.headers.get('x-request-id'), 'trainer-req-1', 'the answer names the request')
  const id = made.body.env_id
  await call(s.url, 'POST', `/v1/envs/${id}/reset`, { key: k.key })
  await call(s.url, 'POST', `/v1/envs/${id}/step`, { key: k.key, body: { action: 'echo logged' }, headers: { 'x-request-id': 'step-ok' } })
  await call(s.url, 'POST', `/v1/envs/${id}/swerex/execute`, { key: k.key, body: { command: 'true', shell: true }, headers: { 'x-request-id': 'rex-ok' } })
  const bad = await call(s.url, 'POST', `/v1/envs/${id}/step`, { key: k.key, body: {}, headers: { 'x-request-id': 'step-bad' } })
  t.equal(bad.status, 400)
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/v1/ws?api_key=${k.key}`)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  ws.close()
  await call(s.url, 'DELETE', `/v1/envs/${id}`, { key: k.key })
  // pino writes asynchronously: the last line this test looks for, then the rest are there
  await waitFor('the log lines of the close', () => lines.some(l => l.msg === 'environment closed' && l.env_id === id) &&
    lines.filter(l => l.msg === 'request completed' && l.env_id === id).length >= 3)

  const env = (msg: string) => lines.find(l => l.msg === msg && l.env_id === id)
  for (const msg of ['environment created', 'episode started', 'step', 'environment closed']) {
    t.match(env(msg), { env_id: id, key_id: k.id, task: TASK, backend: 'local' }, `"${msg}" carries the env, key, task and backend`)
  }
  t.match(env('episode started'), { episode_id: /^ep-/ })
  t.equal(env('step')?.level, 20, 'steps log at debug')
  t.equal(env('environment closed')?.why, 'closed', 'a close says why (closed, reaped, shutting down)')
  t.ok(lines.some(l => l.msg === 'request completed' && l.reqId === 'trainer-req-1' && l.key_id === k.id), 'the client\'s X-Request-ID names its request\'s lines')
  const done = lines.filter(l => l.msg === 'request completed')
  t.ok(done.length >= 4)
  t.ok(done.every(l => typeof l.reqId === 'string' && l.key_id === k.id), 'every request line: reqId and key_id')
  t.ok(done.filter(l => l.res?.statusCode === 200 && l.env_id === id).length >= 2, 'requests on /v1/envs/:id carry env_id')
  t.ok(lines.some(l => l.msg === 'websocket opened' && /\/v1\/ws\?api_key=\[redacted\]/.test(l.req?.url)), 'a WebSocket URL is logged with its key redacted')
  t.notOk(lines.some(l => l.msg === 'incoming request'), 'one line per request, not two')
  const polled = await call(s.url, 'GET', '/v1/envs', { key: k.key, headers: { 'x-synthgym-client': 'dashboard', 'x-request-id': 'ui-poll' } })
  t.equal(polled.status, 200)
  await call(s.url, 'GET', '/v1/health', { headers: { 'x-request-id': 'health-check' } })
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(lines.find(l => l.reqId === 'ui-poll')?.level, 20, 'the dashboard\'s polls log at debug')
  t.equal(lines.find(l => l.reqId === 'health-check')?.level, 30, 'other requests at info')
  t.equal(lines.find(l => l.msg === 'request completed' && l.reqId === 'step-ok')?.level, 20, 'a step at debug, as a WebSocket step')
  t.equal(lines.find(l => l.msg === 'request completed' && l.reqId === 'rex-ok')?.level, 20, 'a SWE-ReX command too')
  t.equal(lines.find(l => l.msg === 'request completed' && l.reqId === 'step-bad')?.level, 30, 'a step that fails at info')
  const all = lines.map(l => JSON.stringify(l)).join('\n')
  t.notOk(all.includes(k.key.slice(16)), 'the key\'s secret is in no line')
})

t.test('health: store, auth and GPU status in the documented schema; degraded when the store stops answering', async t => {
  const s = await testServer()
  let closed = false
  t.teardown(async () => { if (!closed) await s.close() })
  const h = await call(s.url, 'GET', '/v1/health')
  t.doesNotThrow(() => validateHealth(h.body))
  t.match(h.body, { status: 'ok', store: { kind: 'sqlite', ok: true }, auth: { required: false }, gpus: { available: Boolean } })
  t.notOk('problems' in h.body)
  s.keys.create({ scopes: ['envs'] })
  t.equal((await call(s.url, 'GET', '/v1/health')).body.auth.required, true, 'a key turns auth on')

  s.manager.store.close()
  const down = await call(s.url, 'GET', '/v1/health')
  t.equal(down.status, 200)
  t.doesNotThrow(() => validateHealth(down.body))
  t.match(down.body, { status: 'degraded', store: { kind: 'sqlite', ok: false, error: /./ } })
  t.match(down.body.problems, [/the episode store does not answer/])
  closed = true
  await s.close().catch(() => {})
})

t.test('logs on a terminal: each JSON line as one line of text; the server prints its URLs at start', async t => {
  const out = new PassThrough()
  let text = ''
  out.on('data', (d: Buffer) => { text += d })
  const stream = textLogStream(out)
  const line = { level: 30, time: Date.UTC(2026, 0, 1, 12, 3, 4), msg: 'request completed', reqId: 'r1', key_id: 'k1',
    req: { method: 'POST', url: '/v1/envs' }, res: { statusCode: 201 }, responseTime: 3.14 }
  // a line split across writes, and a line that is not JSON
  const raw = JSON.stringify(line) + '\n'
  stream.write(raw.slice(0, 20))
  stream.write(raw.slice(20) + 'not json\n')
  await new Promise<void>(resolve => stream.end(resolve))
  const [first, second] = text.split('\n')
  t.match(first, /^\d\d:\d\d:\d\d INFO  POST \/v1\/envs 201 3\.1 ms key_id=k1$/)
  t.equal(second, 'not json')
  t.match(formatLine({ level: 50, msg: 'boom', err: { stack: 'Error: boom\n    at x' } }), /ERROR boom err=.*\nError: boom\n {4}at x$/)

  const s = await serverProcess(t, [], { SYNTHGYM_DATA_DIR: tempDir(t, 'sg-urls-') })
  // printed in the same write as the line serverProcess waits for; poll until its last line arrived
  for (let i = 0; i < 500 && !/dashboard {2}\S+\/ui/.test(s.output()); i++) await new Promise(resolve => setTimeout(resolve, 20))
  t.ok(s.output().includes(`dashboard  ${s.url}/ui`), 'the dashboard URL')
  t.ok(s.output().includes(`WebSocket  ${s.url.replace('http', 'ws')}/v1/ws`), 'the WebSocket URL')
})
