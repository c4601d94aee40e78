// Attacks with a key that is revoked while it holds something open (issue 21 item 3): a watch socket, an OpenEnv
// socket, a pending long poll. `synthgym keys revoke` runs as its own process against the data dir, as an admin
// runs it; the server must end what the key holds without waiting for its next message. Not per backend: it is
// the server's, whatever runs the sandboxes.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { testServer, waitFor } from '../helpers.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const TASK = 'prisonersDilemma'

async function call (url: string, method: string, path: string, key: string, body?: unknown): Promise<{ status: number, body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  return { status: res.status, body: await res.json() }
}

function revoke (dataDir: string, id: string): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'cli.ts'), 'keys', 'revoke', id], {
    cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SYNTHGYM_DATA_DIR: dataDir }
  })
  if (r.status !== 0) throw new Error(`keys revoke: ${r.stderr}`)
}

/** A socket that keeps every frame it gets, and how it closed. */
async function listen (url: string): Promise<{ ws: WebSocket, frames: any[], closed: Promise<number>, ask: (m: object) => Promise<any> }> {
  const ws = new WebSocket(url)
  const frames: any[] = []
  const waiting: ((f: any) => void)[] = []
  ws.on('message', (d: Buffer) => { const f = JSON.parse(d.toString()); frames.push(f); waiting.shift()?.(f) })
  const closed = new Promise<number>(resolve => ws.once('close', c => resolve(c)))
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const ask = (m: object) => { ws.send(JSON.stringify(m)); return new Promise<any>(resolve => waiting.push(resolve)) }
  return { ws, frames, closed, ask }
}

/** `p`, or a failure naming `what` once `ms` passed (a guard against hanging, not a measurement). */
function within<T> (t: Tap.Test, p: Promise<T>, ms: number, what: string): Promise<T | 'timed out'> {
  return Promise.race([p, new Promise<'timed out'>(resolve => setTimeout(() => resolve('timed out'), ms).unref())]).then(v => {
    if (v === 'timed out') t.fail(`${what}: nothing within ${ms / 1000} s`)
    return v
  })
}

declare namespace Tap { type Test = Parameters<Parameters<typeof t.test>[1]>[0] }

const s = await testServer({ gpus: 'none' })
t.teardown(() => s.close())
const admin = s.keys.create({ name: 'admin', scopes: ['admin'] }).key
const ws = s.url.replace('http', 'ws')

t.test('a watch socket of a revoked key gets an error frame and close code 1008, and no output after', async t => {
  const r = s.keys.create({ name: 'r', scopes: ['envs', 'episodes'] })
  const env = (await call(s.url, 'POST', '/v1/envs', r.key, { task: TASK })).body.env_id
  t.equal((await call(s.url, 'POST', `/v1/envs/${env}/reset`, r.key)).status, 200)
  const sock = await listen(`${ws}/v1/ws?api_key=${r.key}`)
  t.teardown(() => sock.ws.close())
  t.equal((await sock.ask({ id: 'w', op: 'watch', env_id: env })).ok, true, 'R watches its environment')
  const before = sock.frames.length
  const at = performance.now()
  revoke(s.dataDir, r.id)
  const code = await within(t, sock.closed, 10_000, 'the socket closing after the revoke')
  t.equal(code, 1008, `the socket closed with 1008 (${Math.round(performance.now() - at)} ms after the CLI returned)`)
  const after = sock.frames.slice(before)
  t.match(after, [{ id: null, ok: false, error: { code: 'UNAUTHORIZED', message: new RegExp(`API key ${r.id} was revoked`) } }], 'an error frame came first')
  // the admin steps R's environment: nothing of it reaches R
  const step = await call(s.url, 'POST', `/v1/envs/${env}/step`, admin, { action: 'for i in 1 2 3 4 5; do echo out-$i; done' })
  t.equal(step.status, 200)
  t.equal(sock.frames.filter(f => f.type === 'output' || f.type === 'step_result').length, 0, 'no output frame reached the revoked key')
})

t.test('an OpenEnv socket of a revoked key gets an error and close code 1008', async t => {
  const r = s.keys.create({ name: 'r-openenv', scopes: ['envs'] })
  const sock = await listen(`${ws}/openenv/ws?api_key=${r.key}`)
  t.teardown(() => sock.ws.close())
  const reset = await sock.ask({ type: 'reset', data: {} })
  t.equal(reset.type, 'observation', 'the socket works')
  revoke(s.dataDir, r.id)
  t.equal(await within(t, sock.closed, 10_000, 'the OpenEnv socket closing'), 1008)
  t.match(sock.frames.at(-1), { type: 'error', data: { synthgym_code: 'UNAUTHORIZED' } })
})

t.test('a pending long poll of a revoked key ends with 401, never with an episode made after', async t => {
  const r = s.keys.create({ name: 'r-poll', scopes: ['envs', 'episodes'] })
  const env = (await call(s.url, 'POST', '/v1/envs', r.key, { task: TASK })).body.env_id
  const poll = call(s.url, 'GET', '/v1/episodes?wait=30&include_steps=true', r.key)
  // the poll is held before the revoke (an event: the manager counts held polls)
  await waitFor('the poll to be held', () => s.manager.heldPolls > 0)
  revoke(s.dataDir, r.id)
  // an episode of R's environment, made after the revocation (the admin resets it)
  t.equal((await call(s.url, 'POST', `/v1/envs/${env}/reset`, admin)).status, 200)
  const answer = await within(t, poll, 20_000, 'the long poll answering')
  t.not(answer, 'timed out')
  if (answer === 'timed out') return
  t.equal(answer.status, 401, 'the poll ends with 401')
  t.equal(answer.body.error?.code, 'UNAUTHORIZED')
  t.notOk(answer.body.episodes, 'and carries no episode')
})
