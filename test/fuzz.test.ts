// Protocol fuzzing (issue 11, part 3): every HTTP body and WebSocket message, shaped after the env-spec schemas and
// then broken, answers either a valid result or a clear 4xx error in the documented shape, never a 500; the server
// stays healthy. Then the wire itself: malformed and oversized WebSocket frames, a slow client, half-open sockets,
// and 10,000 connects and disconnects, after which the server holds no more descriptors than before.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { connect, type Socket } from 'node:net'
import { readdirSync } from 'node:fs'
import { WebSocket } from 'ws'
import { testServer, http } from './helpers.js'
import {
  ERROR_STATUS, createEnvSchema, validateEnvSummary, validateErrorBody, validateWsFrame, type ErrorCode
} from '../env-spec/messages.js'
import { validateEpisodePage } from '../env-spec/episode.js'
import { validateOpenEnvHttpError, validateOpenEnvHttpReset } from '../env-spec/openenv.js'

t.setTimeout(10 * 60_000)
const s = await testServer({ backend: 'local', warmPool: 0, gpus: 'none' })
t.teardown(() => s.close())
const port = Number(new URL(s.url).port)
const fds = () => readdirSync('/proc/self/fd').length

/** A 4xx in the one documented shape, its status the code's; anything else is reported with the request. */
function clearError (t: Test, res: { status: number, body: any }, what: string): void {
  if (res.status < 400 || res.status >= 500) { t.fail(`${what}: status ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`); return }
  try { validateErrorBody(res.body) } catch (e) { t.fail(`${what}: not {error: {code, message}}: ${JSON.stringify(res.body).slice(0, 300)}`); return }
  const code = res.body.error.code as ErrorCode
  const want = res.status === 415 ? 415 : ERROR_STATUS[code]
  if (want !== res.status) t.fail(`${what}: ${code} answered with ${res.status}, documented ${want}`)
}

/** Values that break a field: wrong types, edge numbers, odd strings. */
const junk = fc.oneof(
  fc.string(), fc.string({ unit: 'binary' }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
  fc.constantFrom(-1, 0, 1e308, Number.MAX_SAFE_INTEGER, '', ' ', '0', 'true', '\u0000', '../../etc', 'a'.repeat(5000)),
  fc.array(fc.jsonValue(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 })
)

/** A create body: the schema's own fields with valid or broken values, sometimes an unknown one. */
const createBody = fc.record({
  task: fc.oneof(fc.constantFrom('prisonersDilemma', 'digitsClassification', 'nope', ''), junk),
  backend: fc.oneof(fc.constantFrom('local', 'docker', 'k8s'), junk),
  image: fc.oneof(fc.constantFrom('synthgym/sandbox:latest', 'bad image', '-x'), junk),
  runtime: fc.oneof(fc.constantFrom('runc', 'runsc', 'a b'), junk),
  tool_profile: fc.oneof(fc.constantFrom(...(createEnvSchema.properties.tool_profile.enum as string[]), 'other'), junk),
  max_steps: fc.oneof(fc.integer({ min: -5, max: 200_000 }), junk),
  reward: fc.oneof(fc.constantFrom('none', 'improvement', 'more'), junk),
  timeouts: fc.oneof(fc.record({ short: fc.oneof(fc.double({ min: -1, max: 100 }), junk), long: junk, no_output: fc.double() }, { requiredKeys: [] }), junk),
  limits: fc.oneof(fc.record({ cpus: fc.oneof(fc.double({ min: -1, max: 64 }), junk), memory_mb: fc.oneof(fc.integer({ min: -1, max: 1 << 20 }), junk), pids: junk, disk_mb: junk, output_cap: fc.oneof(fc.integer({ min: 0, max: 1000 }), junk), gpus: junk }, { requiredKeys: [] }), junk),
  unknown_field: junk
}, { requiredKeys: [] })

t.test('POST /v1/envs: a created environment or a clear 4xx', async t => {
  await fc.assert(fc.asyncProperty(fc.oneof(createBody, fc.jsonValue()), async body => {
    const res = await http(s.url, 'POST', '/v1/envs', body)
    if (res.status === 201) {
      validateEnvSummary(res.body)
      const del = await http(s.url, 'DELETE', `/v1/envs/${res.body.env_id}`)
      if (del.status !== 200) t.fail(`close: ${JSON.stringify(del.body)}`)
    } else clearError(t, res, `create ${JSON.stringify(body).slice(0, 200)}`)
  }), { numRuns: 300 })
  t.equal((await http(s.url, 'GET', '/v1/envs')).body.envs.length, 0, 'nothing left open')
})

t.test('step, reset, evaluate, trajectory, close: bodies and ids', async t => {
  const env = (await http(s.url, 'POST', '/v1/envs', { task: 'prisonersDilemma' })).body.env_id
  const stepBody = fc.oneof(
    fc.record({ action: fc.oneof(fc.string(), junk), response: junk, thought: junk, extra: junk }, { requiredKeys: [] }),
    fc.jsonValue()
  )
  const id = fc.oneof(fc.constant(env), fc.string(), fc.constantFrom('%00', '..', 'a'.repeat(101), 'env-' + 'f'.repeat(16), '%2F..%2F'))
  await fc.assert(fc.asyncProperty(stepBody, id, fc.constantFrom('step', 'reset-x', 'evaluate', 'trajectory'), async (body, target, op) => {
    const path = `/v1/envs/${encodeURIComponent(target)}/${op === 'reset-x' ? 'reset' : op}`
    if (op === 'reset-x' && target === env) return // a real reset starts a sandbox: not what this fuzzes
    const res = op === 'trajectory' ? await http(s.url, 'GET', path) : await http(s.url, 'POST', path, body)
    // the env was never reset: a valid step, evaluation or trajectory is NOT_RESET
    clearError(t, res, `${op} ${target.slice(0, 40)} ${JSON.stringify(body).slice(0, 200)}`)
  }), { numRuns: 300 })
  await http(s.url, 'DELETE', `/v1/envs/${env}`)
})

t.test('GET /v1/episodes and /v1/tools: any query', async t => {
  const query = fc.dictionary(fc.oneof(fc.constantFrom('task', 'status', 'exit_status', 'has_score', 'cursor', 'limit', 'profile'), fc.string()),
    fc.oneof(fc.string(), fc.constantFrom('0', '-1', '501', '50', 'true', 'maybe', 'finished', 'x'.repeat(3000), 'mlgym', 'sweagent')), { maxKeys: 4 })
  await fc.assert(fc.asyncProperty(query, fc.constantFrom('/v1/episodes', '/v1/tools'), async (q, route) => {
    const res = await http(s.url, 'GET', `${route}?${new URLSearchParams(q)}`)
    if (res.status === 200) { if (route === '/v1/episodes') validateEpisodePage(res.body) } else clearError(t, res, `${route} ${JSON.stringify(q)}`)
  }), { numRuns: 300 })
})

t.test('raw bodies: any bytes, any content type', async t => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', ''),
    fc.constantFrom('/v1/envs', '/v1/envs/env-x/step', '/v1/envs/env-x/reset'), async (bytes, type, path) => {
      const res = await fetch(s.url + path, { method: 'POST', headers: type ? { 'content-type': type } : {}, body: bytes })
      const text = await res.text()
      let body: unknown
      try { body = JSON.parse(text) } catch { t.fail(`${path} ${type}: not JSON: ${text.slice(0, 200)}`); return }
      clearError(t, { status: res.status, body }, `${path} ${type} ${Buffer.from(bytes).toString('hex').slice(0, 80)}`)
    }), { numRuns: 300 })
})

t.test('OpenEnv HTTP and SWE-ReX routes: their own error shapes, never a 500', async t => {
  // an environment that was never reset: SWE-ReX calls on it are refused, none starts a sandbox
  const env = (await http(s.url, 'POST', '/v1/envs', { task: 'prisonersDilemma' })).body.env_id
  const body = fc.oneof(
    fc.record({ action: fc.oneof(fc.record({ command: junk, thought: junk }, { requiredKeys: [] }), junk), env_id: fc.oneof(fc.constant(env), junk), timeout_s: junk, seed: junk, task: junk, command: junk, path: junk, content: junk, session: junk }, { requiredKeys: [] }),
    fc.jsonValue()
  )
  const route = fc.constantFrom('/openenv/reset', '/openenv/step', ...['create_session', 'run_in_session', 'close_session', 'execute', 'read_file', 'write_file', 'close'].map(r => `/v1/envs/${env}/swerex/${r}`))
  await fc.assert(fc.asyncProperty(body, route, async (b, path) => {
    // a valid stateless reset makes, resets and closes a real sandbox: not what this fuzzes
    if (path === '/openenv/reset') { try { validateOpenEnvHttpReset(structuredClone(b)); return } catch {} }
    const res = await http(s.url, 'POST', path, b)
    const what = `${path} ${JSON.stringify(b).slice(0, 200)}`
    if (res.status >= 500 && res.status !== 511) { t.fail(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`); return }
    if (path.startsWith('/openenv/')) {
      if (res.status === 200) return
      try { validateOpenEnvHttpError(res.body) } catch { t.fail(`${what}: not OpenEnv's error shape: ${JSON.stringify(res.body).slice(0, 300)}`) }
    } else if (res.status === 511) {
      if (typeof res.body?.swerexception?.class_path !== 'string') t.fail(`${what}: 511 without a swerexception`)
    } else if (res.status !== 200 && res.body?.detail === undefined) t.fail(`${what}: ${res.status} without FastAPI's detail: ${JSON.stringify(res.body).slice(0, 300)}`)
  }), { numRuns: 300 })
  await http(s.url, 'DELETE', `/v1/envs/${env}`)
})

/** A WebSocket on `path` that collects every frame. */
async function socket (path: string): Promise<{ ws: WebSocket, frames: any[], next: () => Promise<any> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`)
  const frames: any[] = []
  const waiting: ((f: any) => void)[] = []
  ws.on('message', d => { const f = JSON.parse(String(d)); const w = waiting.shift(); if (w) w(f); else frames.push(f) })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  return { ws, frames, next: () => frames.length ? Promise.resolve(frames.shift()) : new Promise(resolve => waiting.push(resolve)) }
}

t.test('WS /v1/ws: any message is answered, in the frame schema, never INTERNAL; the socket stays open', async t => {
  const { ws, next } = await socket('/v1/ws')
  const made: string[] = []
  const op = fc.constantFrom('create', 'reset', 'step', 'evaluate', 'trajectory', 'close', 'attach', 'state', 'tasks', 'ping', 'nope')
  const message = fc.oneof(
    fc.record({ id: fc.oneof(fc.integer(), fc.string(), junk), op: fc.oneof(op, junk), env_id: fc.oneof(fc.string(), junk), action: junk, task: fc.oneof(fc.constant('prisonersDilemma'), junk), stream: junk, extra: junk }, { requiredKeys: ['op'] }),
    fc.jsonValue()
  )
  await fc.assert(fc.asyncProperty(fc.oneof(message.map(m => JSON.stringify(m)), fc.string()), async text => {
    // a reset of a made environment would start a sandbox: the fuzzed ids never name one
    ws.send(text)
    const f = await next()
    validateWsFrame(f)
    if (f.ok === false && f.error.code === 'INTERNAL') t.fail(`INTERNAL for ${text.slice(0, 200)}: ${f.error.message}`)
    if (f.ok === true && f.result?.env_id && typeof f.result.task === 'string' && f.result.current_step === 0) made.push(f.result.env_id)
  }), { numRuns: 400 })
  t.equal(ws.readyState, ws.OPEN, 'the socket is still open')
  for (const e of made) await http(s.url, 'DELETE', `/v1/envs/${e}`)
  ws.close()
})

t.test('WS /openenv/ws: any message gets OpenEnv\'s error frame (or an answer); the socket stays open', async t => {
  const { ws, next } = await socket('/openenv/ws')
  const message = fc.oneof(
    fc.record({ type: fc.oneof(fc.constantFrom('step', 'state', 'mcp', 'nope'), junk), data: fc.oneof(fc.record({ command: junk, seed: junk, task: junk }, { requiredKeys: [] }), junk) }, { requiredKeys: [] }),
    fc.jsonValue()
  )
  await fc.assert(fc.asyncProperty(fc.oneof(message.map(m => JSON.stringify(m)), fc.string()), async text => {
    // `close` has no reply and ends the socket, `reset` starts a sandbox: neither is fuzzed here
    if (/"type":\s*"(close|reset)"/.test(text)) return
    ws.send(text)
    const f = await next()
    if (f.type === 'error') {
      if (typeof f.data?.message !== 'string' || typeof f.data?.code !== 'string') t.fail(`error frame without message/code: ${JSON.stringify(f)}`)
    } else if (f.type !== 'state' && f.type !== 'observation') t.fail(`unexpected frame ${JSON.stringify(f).slice(0, 200)} for ${text.slice(0, 200)}`)
  }), { numRuns: 300 })
  t.equal(ws.readyState, ws.OPEN)
  ws.close()
})

/** A raw TCP connection to the server. */
function tcp (): Promise<Socket> {
  return new Promise((resolve, reject) => { const c = connect(port, '127.0.0.1', () => resolve(c)); c.once('error', reject) })
}

/** A raw socket that has done the WebSocket handshake on /v1/ws. */
async function upgraded (): Promise<Socket> {
  const c = await tcp()
  c.write('GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  await new Promise<void>(resolve => {
    let head = ''
    const on = (d: Buffer) => { head += d.toString('latin1'); if (head.includes('\r\n\r\n')) { c.off('data', on); resolve() } }
    c.on('data', on)
  })
  return c
}

/** Resolves with what the server sent until it closed the connection (or after `ms`). */
function untilClosed (c: Socket, ms = 5000): Promise<{ closed: boolean, data: Buffer }> {
  return new Promise(resolve => {
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { c.destroy(); resolve({ closed: false, data: Buffer.concat(chunks) }) }, ms)
    c.on('data', d => chunks.push(d))
    c.once('close', () => { clearTimeout(timer); resolve({ closed: true, data: Buffer.concat(chunks) }) })
  })
}

const healthy = async () => (await http(s.url, 'GET', '/v1/health')).status === 200

t.test('malformed and oversized WebSocket frames close that socket only', async t => {
  // unmasked client frame, reserved opcode, a continuation with nothing to continue, random bytes, a frame
  // announcing 2^62 bytes, and a masked 34 MiB text frame (over the payload limit: a 1 MiB action, 32 MiB of model
  // data and 64 KiB beside them)
  const big = Buffer.alloc(34 * 1024 * 1024, 0x61)
  const header = Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0x02, 0x20, 0, 0, 1, 2, 3, 4])
  const frames = [
    Buffer.from([0x81, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f]),
    Buffer.from([0x83, 0x80, 1, 2, 3, 4]),
    Buffer.from([0x80, 0x80, 1, 2, 3, 4]),
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    Buffer.from([0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]),
    Buffer.concat([header, big])
  ]
  const other = await socket('/v1/ws')
  for (const f of frames) {
    const c = await upgraded()
    c.write(f)
    const r = await untilClosed(c)
    t.ok(r.closed, `the server closed the connection after ${f.subarray(0, 4).toString('hex')}…`)
    if (r.data.length >= 4 && (r.data[0]! & 0x0f) === 8) t.ok([1002, 1009].includes(r.data.readUInt16BE(2)), `with close code ${r.data.readUInt16BE(2)}`)
  }
  other.ws.send(JSON.stringify({ id: 'p', op: 'ping' }))
  t.same(await other.next(), { id: 'p', ok: true, result: { pong: true } }, 'another socket is untouched')
  other.ws.close()
  t.ok(await healthy())
})

t.test('a slow client dribbling its request does not hold up others', async t => {
  const c = await tcp()
  const req = 'GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
  const answer = untilClosed(c, 30_000)
  for (let i = 0; i < req.length; i++) {
    c.write(req[i]!)
    if (i === Math.floor(req.length / 2)) t.ok(await healthy(), 'others are served meanwhile')
    await new Promise(resolve => setTimeout(resolve, 40))
  }
  const r = await answer
  t.match(r.data.toString(), /^HTTP\/1\.1 200 OK/, 'the slow request is answered')
})

t.test('half-open sockets: 200 idle, half-sent and upgraded connections leave the server serving', async t => {
  const before = fds()
  const held: Socket[] = []
  for (let i = 0; i < 200; i++) {
    const c = i % 3 === 2 ? await upgraded() : await tcp()
    if (i % 3 === 1) c.write('POST /v1/envs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ta')
    held.push(c)
  }
  t.ok(await healthy(), 'health answers with 200 connections hanging')
  const ws = await socket('/v1/ws')
  ws.ws.send(JSON.stringify({ id: 1, op: 'tasks' }))
  t.equal((await ws.next()).ok, true, 'a WebSocket works')
  ws.ws.close()
  for (const c of held) c.destroy()
  t.ok(await waitFor(() => fds() <= before + 5), `descriptors back to ${before} (now ${fds()})`)
})

t.test('10,000 connects and disconnects', async t => {
  const before = fds()
  const rss = process.memoryUsage().rss
  let done = 0
  const worker = async (n: number) => {
    for (let i = 0; i < n; i++) {
      if (i % 10 === 0) {
        // a WebSocket that opens and goes
        const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`)
        await new Promise<void>(resolve => { ws.once('open', () => { ws.terminate(); resolve() }); ws.once('error', () => resolve()) })
      } else {
        const c = await tcp()
        if (i % 2) c.destroy(); else c.end()
      }
      done++
    }
  }
  await Promise.all(Array.from({ length: 20 }, () => worker(500)))
  t.equal(done, 10_000)
  t.ok(await healthy(), 'still healthy')
  t.ok(await waitFor(() => fds() <= before + 5), `descriptors back to ${before} (now ${fds()})`)
  t.ok(process.memoryUsage().rss < rss + 200 * 2 ** 20, 'no runaway memory')
})

async function waitFor (check: () => boolean, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms
  while (!check()) { if (Date.now() > end) return false; await new Promise(resolve => setTimeout(resolve, 100)) }
  return true
}
