// Capacity held by dead clients (issue 21 item 7): environments made over a WebSocket belong to it and close
// --socket-grace seconds after it drops, unless made with outlive_socket (a client that re-attaches) or attached by
// another socket meanwhile. The attack is a real `synthgym run` killed with SIGKILL while its model call hangs.
import t from 'tap'
import { spawn } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir, testServer, waitFor as until } from '../helpers.js'
import { startFakeOpenAI } from '../fakes/openai.js'
import { SynthgymClient } from '../../clients/client.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const TASK = 'prisonersDilemma'
const GRACE = 2

const s = await testServer({ socketGrace: GRACE, gpus: 'none' })
t.teardown(() => s.close())
const open = (id: string) => s.manager.envs.has(id)

t.test('synthgym run killed with SIGKILL: its environments close after the grace, not the idle timeout', async t => {
  const fake = await startFakeOpenAI([{ hang: true }])
  t.teardown(() => fake.close())
  const before = new Set(s.manager.envs.keys())
  const run = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'cli.ts'), 'run', '--url', s.url, '--tasks', TASK,
    '--model', 'org/m', '--base-url', fake.url, '--runs-per-task', '2', '--concurrency', '2', '--out', tempDir(t, 'sg-dead-')], {
    cwd: ROOT, env: { ...process.env, OPENAI_API_KEY: 'sk-test' }, stdio: 'ignore'
  })
  t.teardown(() => { if (run.exitCode === null && run.signalCode === null) run.kill('SIGKILL') })
  const exited = new Promise(resolve => run.once('exit', resolve))
  // both episodes are waiting on the model: two environments are open for the run
  await until('the run\'s two model calls', () => fake.requests.length >= 2)
  const mine = [...s.manager.envs.keys()].filter(id => !before.has(id))
  t.equal(mine.length, 2, 'the run holds two environments')
  run.kill('SIGKILL')
  await exited
  const killed = performance.now()
  await until('the dead run\'s environments to close', () => !mine.some(open))
  const took = (performance.now() - killed) / 1000
  t.ok(took >= GRACE - 0.1, `they closed ${took.toFixed(1)} s after the kill, not before the ${GRACE} s grace`)
})

t.test('outlive_socket: the environment stays for a client that re-attaches; one without it closes', async t => {
  const c = new SynthgymClient(s.url)
  const a = await c.ws()
  const kept = (await a.create({ task: TASK, outlive_socket: true })).env_id
  const bound = (await a.create({ task: TASK })).env_id
  await a.reset(kept)
  t.equal((await a.step(kept, 'echo one > one.txt; echo ok')).observation, 'ok')
  a.close()
  await until('the socket-bound environment to close', () => !open(bound))
  t.ok(open(kept), 'the one made with outlive_socket is still open past the grace')
  const b = await c.ws()
  t.teardown(() => b.close())
  const state = await b.attach(kept)
  t.equal(state.current_step, 1, 're-attached, with its episode')
  t.equal((await b.step(kept, 'cat one.txt')).observation, 'one', 'same sandbox')
  await b.closeEnv(kept)
})

t.test('a socket that attaches holds the environment too: it closes only after the last one drops', async t => {
  const c = new SynthgymClient(s.url)
  const a = await c.ws()
  const shared = (await a.create({ task: TASK })).env_id
  const alone = (await a.create({ task: TASK })).env_id
  const b = await c.ws()
  await b.attach(shared)
  a.close()
  await until('the environment only the dropped socket held to close', () => !open(alone))
  t.ok(open(shared), 'the one another socket attached stays')
  b.close()
  await until('it to close once that socket drops too', () => !open(shared))
  t.pass('closed')
})

t.test('outlive_socket is validated', async t => {
  const r = await fetch(`${s.url}/v1/envs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: TASK, outlive_socket: 'yes' }) })
  t.equal(r.status, 400)
  t.match(await r.json(), { error: { code: 'VALIDATION_ERROR', message: /outlive_socket/ } })
})
