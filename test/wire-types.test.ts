// The wire types of env-spec/ against what a real server sends (REST and WebSocket), and who imports them: each type
// once in env-spec/, clients free of tasks/ and sandbox/, no layer re-declaring one.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import WebSocket from 'ws'
import { testServer, http } from './helpers.js'
import {
  checkJsonDepth, MAX_JSON_DEPTH, validateCloseResult, validateEnvList, validateEnvState, validateEnvSummary,
  validateErrorBody, validateEvaluateResult, validateHealth, validateTaskDetail, validateTaskList, validateToolsResult,
  validateWsFrame
} from '../env-spec/messages.js'
import { validateEpisodePage, validateResetResult, validateStepResult, validateTrajectory } from '../env-spec/episode.js'

const TASK = 'prisonersDilemma'
const ROOT = new URL('..', import.meta.url).pathname

t.test('REST answers match their schemas', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const ok = (what: string, check: (v: unknown, root?: string) => unknown, v: unknown) => t.doesNotThrow(() => check(v, what), what)
  ok('health', validateHealth, (await http(s.url, 'GET', '/v1/health')).body)
  ok('tasks', validateTaskList, (await http(s.url, 'GET', '/v1/tasks')).body)
  ok('task', validateTaskDetail, (await http(s.url, 'GET', `/v1/tasks/${TASK}`)).body)
  ok('tools', validateToolsResult, (await http(s.url, 'GET', '/v1/tools')).body)
  const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK, max_steps: 2 })).body
  ok('create', validateEnvSummary, env)
  const id = env.env_id
  ok('reset', validateResetResult, (await http(s.url, 'POST', `/v1/envs/${id}/reset`)).body)
  ok('step', validateStepResult, (await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'echo hi' })).body)
  const validate = (await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'validate' })).body
  ok('step (validate)', validateStepResult, validate)
  t.type(validate.info.metrics.Score, 'number', 'an evaluating step carries its metrics')
  ok('evaluate', validateEvaluateResult, (await http(s.url, 'POST', `/v1/envs/${id}/evaluate`)).body)
  const last = (await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'ls' })).body
  ok('step (autosubmission past max_steps)', validateStepResult, last)
  t.equal(last.truncated, true)
  ok('env', validateEnvSummary, (await http(s.url, 'GET', `/v1/envs/${id}`)).body)
  ok('envs', validateEnvList, (await http(s.url, 'GET', '/v1/envs')).body)
  const traj = (await http(s.url, 'GET', `/v1/envs/${id}/trajectory`)).body
  ok('trajectory', validateTrajectory, traj)
  ok('episodes', validateEpisodePage, (await http(s.url, 'GET', '/v1/episodes')).body)
  ok('episode', validateTrajectory, (await http(s.url, 'GET', `/v1/episodes/${traj.episode.id}`)).body)
  ok('an error', validateErrorBody, (await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'ls' })).body)
  ok('close', validateCloseResult, (await http(s.url, 'DELETE', `/v1/envs/${id}`)).body)
  t.throws(() => validateStepResult({ ...last, info: { ...last.info, current_step: 'one' } }), /info\.current_step/, 'the schemas can fail')
})

t.test('WebSocket frames match their schemas', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const ws = new WebSocket(s.url.replace('http', 'ws') + '/v1/ws')
  t.teardown(() => ws.close())
  await new Promise(resolve => ws.once('open', resolve))
  const frames: any[] = []
  ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString())))
  const ask = async (msg: Record<string, unknown>) => {
    ws.send(JSON.stringify(msg))
    for (;;) {
      const f = frames.find(x => x.id === msg.id && 'ok' in x)
      if (f) return f
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }
  const env = (await ask({ id: 'c', op: 'create', task: TASK })).result
  t.doesNotThrow(() => validateEnvSummary(env))
  const reset = await ask({ id: 'r', op: 'reset', env_id: env.env_id })
  t.doesNotThrow(() => validateResetResult(reset.result))
  const step = await ask({ id: 's', op: 'step', env_id: env.env_id, action: 'echo a; sleep 0.2; echo b' })
  t.doesNotThrow(() => validateStepResult(step.result))
  // another client's step on it comes to this socket as a step_result frame (its own came as the answer)
  t.equal((await http(s.url, 'POST', `/v1/envs/${env.env_id}/step`, { action: 'echo c' })).status, 200)
  const state = await ask({ id: 'st', op: 'state', env_id: env.env_id })
  t.doesNotThrow(() => validateEnvState(state.result))
  await ask({ id: 'bad', op: 'step', env_id: 'env-nope', action: 'ls' })
  ws.send('{not json')
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(frames.filter(f => f.type === 'step_result').length, 1, 'one step_result: the HTTP step\'s')
  const kinds = new Set(frames.map(f => f.type ?? (f.ok ? 'answer' : 'error')))
  t.same([...kinds].sort(), ['answer', 'error', 'output', 'step_result'], 'every kind of frame was seen')
  for (const f of frames) t.doesNotThrow(() => validateWsFrame(f, 'frame'), `frame ${f.type ?? f.id}`)
})

/** The `import ... from '...'` specifiers of a source file. */
function importsOf (file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^import[^;]*?from '([^']+)'/gms)].map(m => m[1]!)
}

const sources = (dir: string) => readdirSync(join(ROOT, dir)).filter(f => f.endsWith('.ts')).map(f => join(ROOT, dir, f))

t.test('clients/ import nothing of tasks/ or sandbox/', async t => {
  for (const file of sources('clients')) {
    const below = importsOf(file).filter(p => /^\.\.\/(tasks|sandbox)\//.test(p))
    t.same(below, [], file.slice(ROOT.length))
  }
})

t.test('no layer re-declares a type of env-spec/', async t => {
  const declared = (file: string) => [...readFileSync(file, 'utf8').matchAll(/^export (?:interface|type) (\w+)/gm)].map(m => m[1]!)
  const wire = new Set(sources('env-spec').flatMap(declared))
  t.ok(wire.has('StepResult') && wire.has('EnvSummary') && wire.has('WsFrame'), 'env-spec declares the wire types')
  for (const dir of ['server', 'server/ui', 'server/ui/app', 'tasks', 'clients', 'sandbox']) {
    for (const file of sources(dir)) {
      const text = readFileSync(file, 'utf8')
      const again = [...text.matchAll(/^(?:export )?(?:interface|type) (\w+)/gm)].map(m => m[1]!).filter(n => wire.has(n))
      t.same(again, [], file.slice(ROOT.length))
    }
  }
})

t.test('JSON depth: nesting past the limit is refused, brackets in strings are not nesting', async t => {
  const nest = (n: number) => '['.repeat(n) + ']'.repeat(n)
  t.doesNotThrow(() => checkJsonDepth(`{"a": ${nest(MAX_JSON_DEPTH - 1)}}`), 'at the limit')
  const past = new RegExp(`nested more than ${MAX_JSON_DEPTH} levels deep`)
  t.throws(() => checkJsonDepth(`{"a": ${nest(MAX_JSON_DEPTH)}}`), past, 'one past it')
  // as many brackets as it takes, but side by side or in a string: one level each
  t.doesNotThrow(() => checkJsonDepth(`{"a": [${'[], '.repeat(300)}[]], "b": "${'{['.repeat(300)}"}`))
  t.throws(() => checkJsonDepth(`{"s": "${'['.repeat(300)}", "a": ${nest(MAX_JSON_DEPTH)}}`), past)
})
