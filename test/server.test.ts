// The HTTP and WebSocket API over loopback, on real sandboxes: happy paths, bad input, attacks, durability.
import t from 'tap'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import WebSocket from 'ws'
import { SynthgymClient, SynthgymError } from '../clients/client.js'
import { isolationHere, onPath, testServer, http, waitFor } from './helpers.js'
import { validateMlgymTraj, validateMlgymResults } from '../env-spec/trajectory.js'

const TASK = 'prisonersDilemma'
// .ci/run runs this file with and without bubblewrap and flake8: health reports the path in use, as documented
const LINT = onPath('flake8')
  ? { mode: 'flake8' }
  : { mode: 'py_compile', warning: 'flake8 is not installed: edit/insert lint with Python\'s compile check only (apt-get install flake8)' }

t.test('REST: health, tasks, tools, a whole episode, trajectory in MLGym shape', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const health = await http(s.url, 'GET', '/v1/health')
  t.equal(health.status, 200)
  t.equal(health.body.backends.local.available, true)
  t.equal(health.body.backends.local.isolation, isolationHere())
  t.strictSame(health.body.lint, LINT)
  const tasks = await http(s.url, 'GET', '/v1/tasks')
  t.ok(tasks.body.tasks.length >= 4)
  t.ok(tasks.body.tasks.some((x: any) => x.id === TASK))
  const task = await http(s.url, 'GET', `/v1/tasks/${TASK}`)
  t.equal(task.body.spec.id, TASK)
  t.match(task.body.description, /strategy/)
  const tools = await http(s.url, 'GET', '/v1/tools?profile=mlgym')
  t.match(tools.body.command_docs, /^open:/m)
  t.ok(tools.body.tools.some((x: any) => x.function.name === 'edit'))

  const env = await http(s.url, 'POST', '/v1/envs', { task: TASK, max_steps: 10 })
  t.equal(env.status, 201)
  const id = env.body.env_id
  const reset = await http(s.url, 'POST', `/v1/envs/${id}/reset`)
  t.equal(reset.status, 200)
  t.match(reset.body.observation, /row_strategy/)
  t.match(reset.body.episode_id, /^ep-[0-9a-f]{16}$/)
  const step = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'echo hello; pwd' })
  t.same(Object.keys(step.body).sort(), ['info', 'observation', 'reward', 'terminated', 'truncated'])
  t.equal(step.body.observation, 'hello\n/home/agent/workspace')
  t.equal(step.body.reward, 0)
  t.equal(step.body.info.current_step, 1)
  const v = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'validate' })
  t.match(v.body.observation, /^Your code produced a valid submission artefact at \/home\/agent\/workspace\/target.py.\nBaseline Score: \{'Score': [0-9.]+\}\nEvaluation Score: \{'Score': [0-9.]+\}$/)
  t.equal(v.body.terminated, false)
  t.equal(v.body.info.score.length, 1)
  const ev = await http(s.url, 'POST', `/v1/envs/${id}/evaluate`)
  t.type(ev.body.metrics.Score, 'number')
  const sub = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'submit' })
  t.equal(sub.body.observation, 'Exited (submit)')
  t.equal(sub.body.terminated, true)
  t.equal(sub.body.truncated, false)
  t.equal(sub.body.info.exit_status, 'submitted')
  const again = await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'ls' })
  t.equal(again.status, 409, 'a step on a finished env')
  t.equal(again.body.error.code, 'EPISODE_FINISHED')

  const traj = await http(s.url, 'GET', `/v1/envs/${id}/trajectory`)
  t.equal(traj.body.traj.environment, 'mlgym_main')
  t.doesNotThrow(() => validateMlgymTraj(traj.body.traj, 'traj'), 'the .traj matches MLGym\'s schema')
  t.doesNotThrow(() => validateMlgymResults(traj.body.results, 'results'), 'results.json matches MLGym\'s schema')
  t.throws(() => validateMlgymTraj({ ...traj.body.traj, trajectory: [{ action: 1 }] }, 'traj'), /traj\.trajectory\.0/)
  t.equal(traj.body.traj.trajectory.length, 3)
  // MLGym's fields, and our exit code beside them (MLGym's readers ignore it)
  t.same(Object.keys(traj.body.traj.trajectory[0]).sort(), ['action', 'execution_time', 'exit_code', 'observation', 'response', 'state', 'thought'])
  t.same(JSON.parse(traj.body.traj.trajectory[0].state), { open_file: 'n/a', working_dir: '/home/agent/workspace' })
  t.equal(traj.body.traj.info.exit_status, 'submitted')
  t.equal(traj.body.traj.info.score.length, 2)
  t.same(Object.keys(traj.body.results).sort(), ['agent', 'baseline'])
  t.equal(traj.body.results.agent.length, 2)

  const eps = await http(s.url, 'GET', `/v1/episodes?task=${TASK}&status=finished`)
  t.equal(eps.body.episodes.length, 1)
  t.equal(eps.body.episodes[0].exit_status, 'submitted')
  const one = await http(s.url, 'GET', `/v1/episodes/${eps.body.episodes[0].id}`)
  t.equal(one.body.traj.trajectory.length, 3)
  t.equal((await http(s.url, 'DELETE', `/v1/envs/${id}`)).status, 200)
  t.equal((await http(s.url, 'GET', `/v1/envs/${id}`)).status, 404)
})

t.test('bad input: 400 naming the field, 404, 409, 413', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const badJson = await http(s.url, 'POST', '/v1/envs', undefined, '{"task": ')
  t.equal(badJson.status, 400)
  t.equal(badJson.body.error.code, 'VALIDATION_ERROR')
  const missing = await http(s.url, 'POST', '/v1/envs', {})
  t.equal(missing.status, 400)
  t.equal(missing.body.error.field, 'body.task')
  t.match(missing.body.error.message, /body\.task is required/)
  const wrongType = await http(s.url, 'POST', '/v1/envs', { task: TASK, max_steps: 'ten' })
  t.equal(wrongType.body.error.field, 'body.max_steps')
  t.match(wrongType.body.error.message, /integer/)
  const unknown = await http(s.url, 'POST', '/v1/envs', { task: TASK, maxsteps: 3 })
  t.equal(unknown.body.error.field, 'body.maxsteps')
  t.match(unknown.body.error.message, /not a known field/)
  const badEnum = await http(s.url, 'POST', '/v1/envs', { task: TASK, reward: 'lots' })
  t.match(badEnum.body.error.message, /body\.reward must be one of "none", "improvement"/)
  const noTask = await http(s.url, 'POST', '/v1/envs', { task: 'nope' })
  t.equal(noTask.status, 404)
  t.equal(noTask.body.error.code, 'NOT_FOUND')
  t.equal((await http(s.url, 'POST', '/v1/envs/env-nope/step', { action: 'ls' })).status, 404)
  t.equal((await http(s.url, 'GET', '/v1/tasks/nope')).status, 404)
  t.equal((await http(s.url, 'GET', '/v1/episodes?limit=0')).body.error.field, 'query.limit')

  const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const early = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'ls' })
  t.equal(early.status, 409)
  t.equal(early.body.error.code, 'NOT_RESET')
  await http(s.url, 'POST', `/v1/envs/${env}/reset`)
  const noAction = await http(s.url, 'POST', `/v1/envs/${env}/step`, { cmd: 'ls' })
  t.equal(noAction.body.error.field, 'body.action')
  for (const action of ['', '  \n\t']) {
    const empty = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action })
    t.equal(empty.status, 400, `${JSON.stringify(action)}: refused`)
    t.match(empty.body.error, { code: 'VALIDATION_ERROR', field: 'body.action', message: /body\.action must be a command, not empty/ })
  }
  // a body past the step route's own limit (action + model data) is named by that limit, not the action's 1 MiB
  const past = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'ls', model: 'x'.repeat(40 * 1024 * 1024) })
  t.equal(past.status, 413)
  t.match(past.body.error.message, /over this route's limit of 33\.06 MiB \(an action up to 1 MiB; a step's model data up to 32 MiB more\)/)
  const big = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'echo ' + 'x'.repeat(1024 * 1024) })
  t.equal(big.status, 413)
  t.equal(big.body.error.code, 'PAYLOAD_TOO_LARGE')
  const huge = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'x'.repeat(3 * 1024 * 1024) })
  t.equal(huge.status, 413)
  const firstStep = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'true' })
  t.equal(firstStep.body.info.current_step, 1, 'refused steps use up no step')

  // two steps at once on one env: the second is refused, the first completes
  const first = http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'sleep 1; echo first' })
  await waitFor('the first step to run', () => s.manager.envs.get(env)?.env.busy === true)
  const b = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'echo second' })
  const a = await first
  t.equal(a.status, 200)
  t.equal(a.body.observation, 'first')
  t.equal(b.status, 409)
  t.equal(b.body.error.code, 'BUSY')
})

t.test('capacity and the idle reaper', async t => {
  const s = await testServer({ capacity: 2, idleTimeout: 1 })
  t.teardown(() => s.close())
  const a = await http(s.url, 'POST', '/v1/envs', { task: TASK })
  await http(s.url, 'POST', '/v1/envs', { task: TASK })
  const c = await http(s.url, 'POST', '/v1/envs', { task: TASK })
  t.equal(c.status, 503)
  t.equal(c.body.error.code, 'CAPACITY_REACHED')
  // looked at from outside the API: a GET is use, which would keep it from the reaper
  await waitFor('the reaper', () => !s.manager.envs.has(a.body.env_id))
  t.equal((await http(s.url, 'GET', `/v1/envs/${a.body.env_id}`)).status, 404, 'reaped after 1 s idle')
  t.equal((await http(s.url, 'POST', '/v1/envs', { task: TASK })).status, 201, 'room again')
})

t.test('every step is in SQLite when the step is answered', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const c = new SynthgymClient(s.url)
  const env = await c.createEnv({ task: TASK })
  const reset = await c.reset(env.env_id)
  await c.step(env.env_id, 'echo one')
  await c.step(env.env_id, 'echo two')
  const db = new Database(join(s.dataDir, 'episodes.db'), { readonly: true })
  t.teardown(() => db.close())
  const rows = db.prepare('SELECT idx, action, observation FROM steps WHERE episode_id = ? ORDER BY idx').all(reset.episode_id)
  t.same(rows, [{ idx: 0, action: 'echo one', observation: 'one' }, { idx: 1, action: 'echo two', observation: 'two' }])
})

t.test('attacks on the shell leave the server serving; the episode keeps its steps', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const c = new SynthgymClient(s.url)
  const victim = await c.createEnv({ task: TASK, timeouts: { short: 2 } })
  const bystander = await c.createEnv({ task: TASK })
  await c.reset(victim.env_id)
  await c.reset(bystander.env_id)
  await c.step(bystander.env_id, 'echo bystander-secret-42 > mine.txt')
  const attacks = ['exit', 'exec bash', 'kill -9 $$', 'cat <<EOF\nunterminated', 'yes', ':(){ :|:& };:', 'while :; do :; done',
    'cat /proc/1/root/home/agent/workspace/mine.txt; ls /tmp/sg-*', 'echo (']
  for (const a of attacks) {
    const r = await c.step(victim.env_id, a)
    t.equal(r.terminated, false, `${a.split('\n')[0]}: the episode goes on`)
    const other = await c.step(bystander.env_id, 'cat mine.txt')
    t.equal(other.observation, 'bystander-secret-42', `${a.split('\n')[0]}: the other environment still serves`)
  }
  const yes = (await c.trajectory(victim.env_id)).traj.trajectory.find(x => x.action === 'yes')!
  t.match(yes.observation, /EXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 2 SECONDS\.$/)
  t.match(yes.observation, /output truncated/)
  const exit = (await c.trajectory(victim.env_id)).traj.trajectory.find(x => x.action === 'exit')!
  t.match(exit.observation, /COMMAND FAILED TO EXECUTE\. RESTARTING PROCESS\./)
  const snoop = (await c.trajectory(victim.env_id)).traj.trajectory.find(x => x.action.startsWith('cat /proc/1'))!
  t.notMatch(snoop.observation, /bystander-secret-42/)
  const after = await c.step(victim.env_id, 'echo still here')
  t.equal(after.observation, 'still here')
  t.equal((await c.trajectory(victim.env_id)).traj.trajectory.length, attacks.length + 1)
})

t.test('WebSocket: streamed output, request ids, errors, re-attach after a dropped socket', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const c = new SynthgymClient(s.url)
  const ws = await c.ws()
  // the re-attach case: the environment must outlive the socket it was made on
  const env = await ws.create({ task: TASK, outlive_socket: true })
  await ws.reset(env.env_id)
  const chunks: string[] = []
  const r = await ws.step(env.env_id, 'for i in 1 2 3; do echo line$i; sleep 0.2; done', { onOutput: d => chunks.push(d) })
  t.equal(r.observation, 'line1\nline2\nline3')
  t.ok(chunks.length >= 2, 'output came in several frames while the command ran')
  t.equal(chunks.join(''), 'line1\nline2\nline3\n')
  await t.rejects(ws.step('env-nope', 'ls'), { code: 'NOT_FOUND' })
  await t.rejects(ws.request('step', { env_id: env.env_id }), { code: 'VALIDATION_ERROR', field: 'message.action' })
  await t.rejects(ws.request('fly', {}), { code: 'VALIDATION_ERROR' })

  // raw socket: invalid JSON answered with an error frame; the socket stays usable
  const raw = new WebSocket(s.url.replace('http', 'ws') + '/v1/ws')
  await new Promise(resolve => raw.once('open', resolve))
  const frames: any[] = []
  raw.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString())))
  raw.send('{not json')
  raw.send(JSON.stringify({ id: 'p', op: 'ping' }))
  await waitFor('both answers', () => frames.length >= 2)
  t.equal(frames[0].ok, false)
  t.equal(frames[0].error.code, 'VALIDATION_ERROR')
  t.same(frames[1], { id: 'p', ok: true, result: { pong: true } })

  // drop the socket while a step runs; a new socket attaches and gets the result (the step runs until the test,
  // attached again, puts a file in the workspace: not until some time has passed)
  const pending = ws.step(env.env_id, 'until [ -e go ]; do sleep 0.05; done; echo finished')
  await waitFor('the step to run', () => s.manager.envs.get(env.env_id)?.env.busy === true)
  ws.close()
  await t.rejects(pending, { code: 'DISCONNECTED' })
  const ws2 = await c.ws()
  t.teardown(() => ws2.close())
  const got = new Promise<any>(resolve => { ws2.onStepResult = (_id, result) => resolve(result) })
  const att = await ws2.attach(env.env_id)
  t.equal(att.running, true)
  writeFileSync(join(s.manager.envs.get(env.env_id)!.env.sandbox!.workspaceDir!, 'go'), '')
  const result = await got
  t.equal(result.observation, 'finished')
  const state = await ws2.attach(env.env_id)
  t.equal(state.running, false)
  t.equal(state.current_step, 2)
  raw.close()
})

t.test('a disk limit ends the episode when the agent writes past it', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const c = new SynthgymClient(s.url)
  const env = await c.createEnv({ task: TASK, limits: { disk_mb: 5 } })
  await c.reset(env.env_id)
  const small = await c.step(env.env_id, 'head -c 1000000 /dev/zero > small.bin && echo ok')
  t.equal(small.observation, 'ok')
  const big = await c.step(env.env_id, 'head -c 8000000 /dev/zero > big.bin && echo written')
  // no file grows past the limit (RLIMIT_FSIZE), and the episode ends
  t.match(big.observation, /File size limit exceeded.*\nDISK LIMIT EXCEEDED: the sandbox holds \d+\.\d MiB, over its limit of 5 MiB\. The episode has ended\.$/)
  t.notMatch(big.observation, /written/)
  t.equal(big.terminated, true)
  t.equal(big.info.exit_status, 'disk_limit_exceeded')
  t.equal((await c.trajectory(env.env_id)).traj.trajectory.length, 2, 'the steps are kept')
})

t.test('client errors are typed', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const c = new SynthgymClient(s.url)
  const err = await c.createEnv({ task: 'missing' }).catch(e => e)
  t.ok(err instanceof SynthgymError)
  t.equal(err.code, 'NOT_FOUND')
  t.equal(err.status, 404)
})
