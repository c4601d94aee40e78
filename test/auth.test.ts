// API keys and quotas over real HTTP and WebSocket on loopback, with real sandboxes: 401 without a key once keys
// exist, 403 for a missing scope, 429 with Retry-After past a key's rate, CAPACITY_REACHED past its environments;
// one key's environments and episodes invisible to another (REST, WebSocket, OpenEnv, SWE-ReX), every one visible
// to an admin; a revoked key refused at once (its open sockets closed); a non-loopback server that will not start without keys; the `synthgym
// keys` CLI round trip; and only hashes at rest.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import WebSocket from 'ws'
import { tempDir, testServer } from './helpers.js'
import { validateErrorBody, validateHealth } from '../env-spec/messages.js'
import { validateKeyCreated, validateKeyList } from '../env-spec/keys.js'
import type { KeyScope } from '../env-spec/keys.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const TASK = 'prisonersDilemma'
const NEVER = 'env-00000000deadbeef'

interface Answer { status: number, body: any, headers: Headers }

/** A request with an API key (X-API-Key, or Bearer with `bearer`), JSON in and out. */
async function call (url: string, method: string, path: string, opts: { key?: string, bearer?: boolean, body?: unknown, headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.key) headers[opts.bearer ? 'authorization' : 'x-api-key'] = opts.bearer ? `Bearer ${opts.key}` : opts.key
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
  const text = await res.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, body, headers: res.headers }
}

const code = (a: Answer) => a.body?.error?.code

type Frame = Record<string, any>
interface Socket { ws: WebSocket, ask: (msg: Frame) => Promise<Frame>, next: () => Promise<Frame>, closed: Promise<number> }

/** A WebSocket that opened, or the HTTP answer that refused the upgrade. */
async function socket (url: string, headers: Record<string, string> = {}): Promise<Socket | Answer> {
  const ws = new WebSocket(url, { headers })
  const frames: Frame[] = []
  const waiting: ((f: Frame) => void)[] = []
  ws.on('message', (d: Buffer) => {
    const f = JSON.parse(d.toString())
    const w = waiting.shift()
    if (w) w(f); else frames.push(f)
  })
  const closed = new Promise<number>(resolve => ws.once('close', c => resolve(c)))
  const opened = await new Promise<Answer | null>((resolve, reject) => {
    ws.once('open', () => resolve(null))
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), headers: new Headers(res.headers as Record<string, string>) }))
    })
    ws.once('error', reject)
  })
  if (opened) return opened
  const next = () => new Promise<Frame>(resolve => { const f = frames.shift(); if (f) resolve(f); else waiting.push(resolve) })
  // answers of the /v1/ws protocol carry the request's id; OpenEnv's come in order
  const ask = async (msg: Frame) => {
    ws.send(JSON.stringify(msg))
    for (;;) {
      const f = await next()
      if (msg.id === undefined || f.id === msg.id) return f
    }
  }
  return { ws, ask, next, closed }
}

function opened (t: Tap.Test, s: Socket | Answer): Socket {
  if (!('ws' in s)) throw new Error(`the WebSocket was refused: ${s.status} ${JSON.stringify(s.body)}`)
  t.teardown(() => s.ws.close())
  return s
}

declare namespace Tap { type Test = Parameters<Parameters<typeof t.test>[1]>[0] }

async function server (t: Tap.Test, over: Parameters<typeof testServer>[0] = {}) {
  const s = await testServer(over)
  t.teardown(() => s.close())
  const key = (scopes: KeyScope[], limits: { max_envs?: number, rate?: number, burst?: number } = {}) => s.keys.create({ name: scopes.join('+'), scopes, ...limits })
  return { ...s, key, ws: s.url.replace('http', 'ws') }
}

/** The synthgym CLI from the sources, as a user runs it. */
function cli (dataDir: string, ...args: string[]): { code: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'cli.ts'), ...args], {
    cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SYNTHGYM_DATA_DIR: dataDir }
  })
  if (r.error) throw r.error
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('without keys a loopback server is open; once one exists every route but health needs one', async t => {
  const s = await server(t)
  t.equal((await call(s.url, 'GET', '/v1/tasks')).status, 200, 'no keys: open')
  t.equal((await call(s.url, 'GET', '/v1/health')).body.auth.required, false)

  const k = s.key(['envs'])
  const bare = await call(s.url, 'GET', '/v1/tasks')
  t.equal(bare.status, 401)
  t.equal(code(bare), 'UNAUTHORIZED')
  t.match(bare.body.error.message, /X-API-Key: <key> or Authorization: Bearer <key>.*synthgym keys create/)
  t.doesNotThrow(() => validateErrorBody(bare.body))
  t.equal((await call(s.url, 'POST', '/v1/envs', { body: { task: TASK } })).status, 401)
  t.equal((await call(s.url, 'GET', '/v1/nothing-here')).status, 401, 'no route is probed without a key')
  t.equal((await call(s.url, 'GET', '/v1/nothing-here', { key: k.key })).status, 404)
  const health = await call(s.url, 'GET', '/v1/health')
  t.equal(health.status, 200, 'health needs no key')
  t.equal(health.body.auth.required, true)
  t.doesNotThrow(() => validateHealth(health.body))

  t.equal((await call(s.url, 'GET', '/v1/tasks', { key: k.key })).status, 200, 'X-API-Key')
  t.equal((await call(s.url, 'GET', '/v1/tasks', { key: k.key, bearer: true })).status, 200, 'Authorization: Bearer')
  t.equal((await call(s.url, 'GET', `/v1/tasks?api_key=${k.key}`)).status, 401, '?api_key= is for WebSocket upgrades only')
  const forged = k.key.slice(0, -4) + (k.key.endsWith('AAAA') ? 'BBBB' : 'AAAA')
  const wrong = await call(s.url, 'GET', '/v1/tasks', { key: forged })
  t.equal(wrong.status, 401, 'a real id with another secret')
  t.match(wrong.body.error.message, /not one of this server's/)
  t.equal((await call(s.url, 'GET', '/v1/tasks', { key: 'sg_nonsense' })).status, 401, 'not a key at all')

  const refused = await socket(`${s.ws}/v1/ws`)
  t.ok(!('ws' in refused) && refused.status === 401, 'a WebSocket without a key is refused at the upgrade')
  t.equal(code(refused as Answer), 'UNAUTHORIZED')
  for (const [how, url, headers] of [
    ['?api_key=', `${s.ws}/v1/ws?api_key=${k.key}`, {}],
    ['X-API-Key', `${s.ws}/v1/ws`, { 'x-api-key': k.key }],
    ['Bearer', `${s.ws}/v1/ws`, { authorization: `Bearer ${k.key}` }]
  ] as const) {
    const ws = opened(t, await socket(url, headers))
    t.same(await ws.ask({ id: how, op: 'ping' }), { id: how, ok: true, result: { pong: true } }, `WebSocket with ${how}`)
  }
  // the protocols answer in their own shapes
  t.strictSame((await call(s.url, 'GET', `/v1/envs/${NEVER}/swerex/is_alive`)).body, { detail: 'Not authenticated' }, 'SWE-ReX: 403 without a key')
  t.strictSame(await call(s.url, 'GET', `/v1/envs/${NEVER}/swerex/is_alive`, { key: forged }).then(a => [a.status, a.body]), [401, { detail: 'Invalid API Key' }])
  const oe = await call(s.url, 'GET', '/openenv/schema')
  t.equal(oe.status, 401)
  t.match(oe.body, { code: 'SESSION_ERROR', synthgym_code: 'UNAUTHORIZED' })
})

t.test('a key without the scope a route needs: 403 FORBIDDEN naming the scope', async t => {
  const s = await server(t)
  const envs = s.key(['envs'])
  const episodes = s.key(['episodes'])
  const admin = s.key(['admin'])
  const create = await call(s.url, 'POST', '/v1/envs', { key: episodes.key, body: { task: TASK } })
  t.equal(create.status, 403)
  t.equal(code(create), 'FORBIDDEN')
  t.match(create.body.error.message, new RegExp(`API key ${episodes.id} has scope episodes; POST /v1/envs needs scope envs`))
  t.doesNotThrow(() => validateErrorBody(create.body))
  t.equal((await call(s.url, 'GET', '/v1/episodes', { key: envs.key })).status, 403, 'envs cannot read episodes')
  t.equal((await call(s.url, 'GET', '/v1/episodes', { key: episodes.key })).status, 200)
  t.equal((await call(s.url, 'GET', '/metrics', { key: envs.key })).status, 403, '/metrics is for admins')
  t.equal((await call(s.url, 'GET', '/metrics', { key: admin.key })).status, 200)
  t.equal((await call(s.url, 'POST', '/v1/envs', { key: admin.key, body: { task: TASK } })).status, 201, 'admin has every scope')
  t.equal((await call(s.url, 'GET', '/v1/tasks', { key: episodes.key })).status, 200, 'any key lists tasks')
  const ws = await socket(`${s.ws}/v1/ws?api_key=${episodes.key}`)
  t.equal((ws as Answer).status, 403, 'the WebSocket needs envs at the upgrade')
  const rex = await call(s.url, 'GET', `/v1/envs/${NEVER}/swerex/is_alive`, { key: episodes.key })
  t.equal(rex.status, 403)
  t.match(rex.body.detail, /needs scope envs/)
  const oe = await call(s.url, 'POST', '/openenv/reset', { key: episodes.key, body: {} })
  t.equal(oe.status, 403)
  t.match(oe.body, { code: 'SESSION_ERROR', synthgym_code: 'FORBIDDEN' })
})

t.test('past its rate a key gets 429 RATE_LIMITED with Retry-After, on REST and per WebSocket message', async t => {
  const s = await server(t)
  // a bucket of 3 that refills one request per 100 s: the 4th request in a row is over, however slow this machine
  const slow = s.key(['envs'], { rate: 0.01, burst: 3 })
  const other = s.key(['envs'])
  for (let i = 0; i < 3; i++) t.equal((await call(s.url, 'GET', '/v1/tasks', { key: slow.key })).status, 200, `request ${i + 1} of the burst`)
  const over = await call(s.url, 'GET', '/v1/tasks', { key: slow.key })
  t.equal(over.status, 429)
  t.equal(code(over), 'RATE_LIMITED')
  t.doesNotThrow(() => validateErrorBody(over.body))
  const retry = Number(over.headers.get('retry-after'))
  t.ok(Number.isInteger(retry) && retry >= 1 && retry <= 100, `Retry-After is whole seconds until a request is back (${retry})`)
  t.equal(over.body.error.retry_after, retry, 'the body says the same')
  t.match(over.body.error.message, /over its rate of 0.01 requests\/s \(burst 3\)/)
  t.equal((await call(s.url, 'GET', '/v1/tasks', { key: other.key })).status, 200, 'another key has its own bucket')
  const rex = await call(s.url, 'GET', `/v1/envs/${NEVER}/swerex/is_alive`, { key: slow.key })
  t.equal(rex.status, 429, 'SWE-ReX too')
  t.ok(Number(rex.headers.get('retry-after')) >= 1)

  const ws = s.key(['envs'], { rate: 0.01, burst: 3 })
  const sock = opened(t, await socket(`${s.ws}/v1/ws?api_key=${ws.key}`)) // the upgrade is one request
  t.equal((await sock.ask({ id: 1, op: 'ping' })).ok, true)
  t.equal((await sock.ask({ id: 2, op: 'ping' })).ok, true)
  const limited = await sock.ask({ id: 3, op: 'ping' })
  t.equal(limited.ok, false)
  t.equal(limited.error.code, 'RATE_LIMITED')
  t.ok(limited.error.retry_after >= 1, 'a WebSocket answer carries retry_after')
})

t.test('per-key environment quota: CAPACITY_REACHED past it; closing frees a slot; other keys and the server default', async t => {
  const s = await server(t, { keyMaxEnvs: 1 })
  const two = s.key(['envs'], { max_envs: 2 })
  const dflt = s.key(['envs'])
  const ids: string[] = []
  for (let i = 0; i < 2; i++) {
    const r = await call(s.url, 'POST', '/v1/envs', { key: two.key, body: { task: TASK } })
    t.equal(r.status, 201)
    ids.push(r.body.env_id)
  }
  const third = await call(s.url, 'POST', '/v1/envs', { key: two.key, body: { task: TASK } })
  t.equal(third.status, 503)
  t.equal(code(third), 'CAPACITY_REACHED')
  t.match(third.body.error.message, new RegExp(`API key ${two.id} holds its limit of 2 environments`))
  const sock = opened(t, await socket(`${s.ws}/v1/ws`, { 'x-api-key': two.key }))
  t.equal((await sock.ask({ id: 'c', op: 'create', task: TASK })).error?.code, 'CAPACITY_REACHED', 'over the WebSocket too')
  const oe = await call(s.url, 'POST', '/openenv/reset', { key: two.key, body: {} })
  t.equal(oe.status, 503, 'and OpenEnv\'s throwaway environment')
  t.match(oe.body, { code: 'CAPACITY_REACHED', synthgym_code: 'CAPACITY_REACHED' })

  t.equal((await call(s.url, 'POST', '/v1/envs', { key: dflt.key, body: { task: TASK } })).status, 201, 'another key has its own quota')
  t.equal((await call(s.url, 'POST', '/v1/envs', { key: dflt.key, body: { task: TASK } })).status, 503, 'a key without max_envs gets --key-max-envs (1)')
  t.equal((await call(s.url, 'DELETE', `/v1/envs/${ids[0]}`, { key: two.key })).status, 200)
  t.equal((await call(s.url, 'POST', '/v1/envs', { key: two.key, body: { task: TASK } })).status, 201, 'a closed environment frees its slot')
})

t.test('one key cannot see, step or close another\'s environment or episodes on any protocol; an admin can', async t => {
  const s = await server(t)
  const a = s.key(['envs', 'episodes'])
  const b = s.key(['envs', 'episodes'])
  const admin = s.key(['admin'])
  const id = (await call(s.url, 'POST', '/v1/envs', { key: a.key, body: { task: TASK } })).body.env_id as string
  const episode = (await call(s.url, 'POST', `/v1/envs/${id}/reset`, { key: a.key })).body.episode_id as string
  t.match((await call(s.url, 'POST', `/v1/envs/${id}/step`, { key: a.key, body: { action: 'echo mine' } })).body.observation, /mine/)

  // what B gets for A's environment is what anyone gets for one never made: its existence is not told
  const never = await call(s.url, 'GET', `/v1/envs/${NEVER}`, { key: b.key })
  const same = (r: Answer, what: string) => {
    t.equal(r.status, 404, `${what}: 404`)
    t.equal(code(r), 'NOT_FOUND')
    t.equal(r.body.error.message.replace(id, NEVER), never.body.error.message, `${what}: the words of a missing environment`)
  }
  same(await call(s.url, 'GET', `/v1/envs/${id}`, { key: b.key }), 'GET')
  same(await call(s.url, 'POST', `/v1/envs/${id}/step`, { key: b.key, body: { action: 'echo theirs > /home/agent/workspace/x' } }), 'step')
  same(await call(s.url, 'POST', `/v1/envs/${id}/reset`, { key: b.key }), 'reset')
  same(await call(s.url, 'POST', `/v1/envs/${id}/evaluate`, { key: b.key }), 'evaluate')
  same(await call(s.url, 'GET', `/v1/envs/${id}/trajectory`, { key: b.key }), 'trajectory')
  same(await call(s.url, 'DELETE', `/v1/envs/${id}`, { key: b.key }), 'DELETE')
  t.same((await call(s.url, 'GET', '/v1/envs', { key: b.key })).body.envs, [], 'B lists none')

  const bws = opened(t, await socket(`${s.ws}/v1/ws?api_key=${b.key}`))
  for (const op of ['attach', 'state', 'reset', 'evaluate', 'trajectory', 'close']) {
    const r = await bws.ask({ id: op, op, env_id: id })
    t.equal(r.error?.code, 'NOT_FOUND', `WebSocket ${op}`)
  }
  t.equal((await bws.ask({ id: 's', op: 'step', env_id: id, action: 'echo theirs' })).error?.code, 'NOT_FOUND', 'WebSocket step')

  const state = await call(s.url, 'GET', `/openenv/state?env_id=${id}`, { key: b.key })
  t.equal(state.status, 404, 'OpenEnv state')
  t.match(state.body, { code: 'SESSION_ERROR', synthgym_code: 'NOT_FOUND' })
  t.equal((await call(s.url, 'POST', '/openenv/step', { key: b.key, body: { env_id: id, action: { command: 'echo theirs' } } })).status, 404, 'OpenEnv step')
  t.equal((await call(s.url, 'POST', '/openenv/reset', { key: b.key, body: { env_id: id } })).status, 404, 'OpenEnv reset')
  const resume = opened(t, await socket(`${s.ws}/openenv/envs/${id}/ws`, { 'x-api-key': b.key }))
  t.match(await resume.next(), { type: 'error', data: { code: 'SESSION_ERROR', synthgym_code: 'NOT_FOUND' } }, 'OpenEnv resume socket')
  t.equal(await resume.closed, 1008)
  for (const [path, body] of [['/is_alive', undefined], ['/execute', { command: 'echo theirs', shell: true }], ['/read_file', { path: '/home/agent/workspace/strategy.py' }]] as const) {
    const r = await call(s.url, path === '/is_alive' ? 'GET' : 'POST', `/v1/envs/${id}/swerex${path}`, { key: b.key, body })
    t.equal(r.status, 404, `SWE-ReX ${path}`)
    t.equal(typeof r.body.detail, 'string')
  }
  const bEpisodes = await call(s.url, 'GET', '/v1/episodes', { key: b.key })
  t.same(bEpisodes.body.episodes, [], 'B reads none of A\'s episodes')
  t.equal((await call(s.url, 'GET', `/v1/episodes/${episode}`, { key: b.key })).status, 404)

  // nothing B sent reached A's environment
  const traj = await call(s.url, 'GET', `/v1/envs/${id}/trajectory`, { key: a.key })
  t.same(traj.body.steps.map((x: any) => x.action), ['echo mine'])
  t.same((await call(s.url, 'GET', '/v1/envs', { key: a.key })).body.envs.map((e: any) => e.env_id), [id])
  t.same((await call(s.url, 'GET', '/v1/episodes', { key: a.key })).body.episodes.map((e: any) => e.id), [episode], 'A reads its own')

  t.equal((await call(s.url, 'GET', `/v1/envs/${id}`, { key: admin.key })).status, 200, 'admin: GET')
  t.match((await call(s.url, 'POST', `/v1/envs/${id}/step`, { key: admin.key, body: { action: 'echo admin' } })).body.observation, /admin/)
  t.same((await call(s.url, 'GET', '/v1/envs', { key: admin.key })).body.envs.map((e: any) => e.env_id), [id])
  t.same((await call(s.url, 'GET', '/v1/episodes', { key: admin.key })).body.episodes.map((e: any) => e.id), [episode])
  t.equal((await call(s.url, 'GET', `/v1/episodes/${episode}`, { key: admin.key })).status, 200)
  t.strictSame((await call(s.url, 'GET', `/v1/envs/${id}/swerex/is_alive`, { key: admin.key })).body, { is_alive: true, message: '' })
  const aws = opened(t, await socket(`${s.ws}/v1/ws`, { authorization: `Bearer ${admin.key}` }))
  t.equal((await aws.ask({ id: 1, op: 'state', env_id: id })).result?.env_id, id, 'admin over the WebSocket')
  t.equal((await call(s.url, 'DELETE', `/v1/envs/${id}`, { key: admin.key })).status, 200, 'admin closes it')
})

t.test('the --token of old is an admin credential beside the keys', async t => {
  const s = await server(t, { token: 'sg-old-shared-token' })
  const a = s.key(['envs'])
  const id = (await call(s.url, 'POST', '/v1/envs', { key: a.key, body: { task: TASK } })).body.env_id
  t.equal((await call(s.url, 'GET', `/v1/envs/${id}`, { key: 'sg-old-shared-token', bearer: true })).status, 200)
  t.equal((await call(s.url, 'GET', '/v1/envs', { key: 'sg-old-shared-token', bearer: true })).body.envs.length, 1)
})

t.test('a revoked key is refused at once: REST at its next request, an open WebSocket closes unasked', async t => {
  const s = await server(t)
  const k = s.key(['envs'])
  const sock = opened(t, await socket(`${s.ws}/v1/ws?api_key=${k.key}`))
  t.equal((await sock.ask({ id: 1, op: 'ping' })).ok, true)
  t.equal((await call(s.url, 'GET', '/v1/tasks', { key: k.key })).status, 200)
  // the CLI writes the data dir's key file while the server runs
  const r = cli(s.dataDir, 'keys', 'revoke', k.id)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, new RegExp(`revoked ${k.id}.*REVOKED`))
  const refused = await call(s.url, 'GET', '/v1/tasks', { key: k.key })
  t.equal(refused.status, 401)
  t.match(refused.body.error.message, new RegExp(`API key ${k.id} was revoked at`))
  // the socket ends without a message of its own (test/hostile/revoked-key.test.ts attacks what it held open)
  const answer = await sock.next()
  t.match(answer, { id: null, ok: false, error: { code: 'UNAUTHORIZED' } })
  t.equal(await sock.closed, 1008, 'and the socket closes')
  t.equal((await socket(`${s.ws}/v1/ws?api_key=${k.key}`) as Answer).status, 401, 'no new socket either')
  t.equal((await call(s.url, 'GET', '/v1/tasks')).status, 401, 'revoking every key leaves the server closed, not open')
})

t.test('a server others can reach will not start without keys, and says how to make one', async t => {
  const data = tempDir(t, 'sg-bind-')
  const r = cli(data, 'serve', '--host', '0.0.0.0', '--port', '0')
  t.equal(r.code, 1)
  t.match(r.stderr, /refusing to serve on 0\.0\.0\.0 without API keys/)
  t.match(r.stderr, /synthgym keys create --name NAME --scopes envs,episodes --data-dir /)
  await t.rejects(testServer({ host: '0.0.0.0', dataDir: data }), /refusing to serve on 0\.0\.0\.0/, 'startServer refuses too')

  t.equal(cli(data, 'keys', 'create', '--name', 'ops').code, 0)
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'cli.ts'), 'serve', '--host', '0.0.0.0', '--port', '0'], {
    cwd: ROOT, env: { ...process.env, SYNTHGYM_DATA_DIR: data }, stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d
      const m = /synthgym serving .*/.exec(out)
      if (m) resolve(m[0])
    })
    child.once('exit', c => reject(new Error(`exited ${c} before serving: ${out}`)))
  })
  t.match(line, /synthgym serving \d+ tasks on http:\/\/[\d.]+:\d+/, 'with a key it serves')
  const port = /:(\d+) /.exec(line)![1]
  t.equal((await call(`http://127.0.0.1:${port}`, 'GET', '/v1/tasks')).status, 401, 'and wants the key')
  child.kill('SIGTERM')
  t.equal(await new Promise(resolve => child.once('exit', resolve)), 0)
})

t.test('synthgym keys create | list | revoke round trip; only sha256 hashes at rest', async t => {
  const data = tempDir(t, 'sg-keys-')
  const made = cli(data, 'keys', 'create', '--name', 'trainer', '--scopes', 'envs,episodes', '--max-envs', '4', '--rate', '2.5', '--burst', '5', '--json')
  t.equal(made.code, 0, made.stderr)
  const created = validateKeyCreated(JSON.parse(made.stdout))
  t.match(created, { name: 'trainer', scopes: ['envs', 'episodes'], max_envs: 4, rate: 2.5, burst: 5, revoked_at: null, last_used_at: null })
  t.ok(created.key.startsWith(`sg_${created.id}_`), 'the key names its id')
  const plain = cli(data, 'keys', 'create', '--scopes', 'admin')
  t.equal(plain.code, 0)
  const adminKey = plain.stdout.trim()
  t.match(adminKey, /^sg_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/, 'the key alone on stdout')
  t.match(plain.stderr, /the only time the key is shown/)

  const listed = cli(data, 'keys', 'list', '--json')
  t.equal(listed.code, 0)
  const keys = validateKeyList(JSON.parse(listed.stdout))
  t.same(keys.map(k => k.id).sort(), [created.id, adminKey.slice(3, 15)].sort())
  t.notOk(listed.stdout.includes(created.key.slice(16)) || listed.stdout.includes(adminKey.slice(16)), 'no secret in the listing')
  const text = cli(data, 'keys', 'list')
  t.match(text.stdout, new RegExp(`${created.id}  trainer  envs,episodes  max-envs 4  rate 2.5  burst 5 .* active`))

  // the keys work against a server on this data dir, and are recorded as used
  const s = await testServer({ dataDir: data })
  t.teardown(() => s.close())
  t.equal((await call(s.url, 'GET', '/v1/tasks', { key: created.key })).status, 200)
  const env = await call(s.url, 'POST', '/v1/envs', { key: created.key, body: { task: TASK } })
  t.equal(env.status, 201)
  t.equal((await call(s.url, 'GET', '/v1/envs', { key: adminKey, bearer: true })).body.envs.length, 1)
  t.ok(validateKeyList(JSON.parse(cli(data, 'keys', 'list', '--json').stdout)).find(k => k.id === created.id)!.last_used_at, 'last_used_at is set')

  const rev = cli(data, 'keys', 'revoke', created.key) // the whole key names its id too
  t.equal(rev.code, 0, rev.stderr)
  const after = validateKeyList(JSON.parse(cli(data, 'keys', 'list', '--json').stdout)).find(k => k.id === created.id)!
  t.type(after.revoked_at, 'string')
  t.equal(cli(data, 'keys', 'revoke', created.id).code, 0, 'revoking twice is fine')
  t.equal(validateKeyList(JSON.parse(cli(data, 'keys', 'list', '--json').stdout)).find(k => k.id === created.id)!.revoked_at, after.revoked_at, 'and keeps the first time')
  t.equal((await call(s.url, 'GET', '/v1/tasks', { key: created.key })).status, 401)
  const unknown = cli(data, 'keys', 'revoke', '0123456789ab')
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /no key 0123456789ab/)
  const bad = cli(data, 'keys', 'create', '--scopes', 'envs,root')
  t.equal(bad.code, 1)
  t.match(bad.stderr, /--scopes takes envs, episodes, admin/)
  t.equal(cli(data, 'keys', 'create', '--burst', '0').code, 1)
  t.equal(cli(data, 'keys', 'frobnicate').code, 1)

  // at rest: the hash, never the secret (keys.db, its WAL, and the episode store beside it)
  await s.close()
  const files = readdirSync(data).filter(f => /^(keys|episodes)\.db/.test(f))
  t.ok(files.includes('keys.db'))
  const disk = Buffer.concat(files.map(f => readFileSync(join(data, f))))
  for (const key of [created.key, adminKey]) {
    const secret = key.slice(16)
    const raw = Buffer.from(secret, 'base64url')
    t.equal(disk.indexOf(secret), -1, 'the secret as printed is nowhere on disk')
    t.equal(disk.indexOf(raw), -1, 'nor its bytes')
    t.equal(disk.indexOf(raw.toString('hex')), -1, 'nor their hex')
  }
  const db = new Database(join(data, 'keys.db'), { readonly: true })
  t.teardown(() => db.close())
  const row = db.prepare('SELECT sha256 FROM api_keys WHERE id = ?').get(created.id) as { sha256: string }
  t.equal(row.sha256, createHash('sha256').update(Buffer.from(created.key.slice(16), 'base64url')).digest('hex'), 'what is stored is the secret\'s sha256')
})
