// GPU allocation (sandbox/gpus.ts): whole GPUs, N sandboxes per GPU, a bounded queue or CAPACITY_REACHED; then the
// same through the server on the local backend (CUDA_VISIBLE_DEVICES), and health with GPUs off or auto-detected.
// Needs neither a GPU nor Docker: the server is told which GPU ids it has.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { GpuAllocator } from '../sandbox/gpus.js'
import type { ServerConfig } from '../server/envs.js'
import { http, tempDir, testServer, waitFor } from './helpers.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

t.test('whole GPUs: each sandbox its own; refused when all are taken or more are asked for than exist', async t => {
  const whole = new GpuAllocator(['0', '1'])
  t.same(await whole.acquire(0), [], 'no GPUs asked, none taken')
  const a = await whole.acquire(1)
  const b = await whole.acquire(1)
  t.same([...a, ...b].sort(), ['0', '1'], 'each gets its own')
  t.same(whole.status(), { gpus: [{ id: '0', in_use: 1, per_gpu: 1 }, { id: '1', in_use: 1, per_gpu: 1 }], waiting: 0 })
  await t.rejects(whole.acquire(1), { code: 'CAPACITY_REACHED', message: /all 2 GPU\(s\) are in use; retry later/ })
  await t.rejects(whole.acquire(3), { code: 'CAPACITY_REACHED', message: /asks for 3 GPUs but this server has only 2/ })
  whole.release(a)
  t.same(await whole.acquire(1), a, 'a released GPU is given again')
  await t.rejects(new GpuAllocator([]).acquire(1), { code: 'CAPACITY_REACHED', message: /asks for 1 GPU\(s\) but this server has none/ })
})

t.test('shared GPUs: perGpu sandboxes on each, filled evenly', async t => {
  const shared = new GpuAllocator(['0', '1'], { perGpu: 2 })
  const got = [await shared.acquire(1), await shared.acquire(1), await shared.acquire(1), await shared.acquire(1)].map(x => x[0])
  t.same(got.sort(), ['0', '0', '1', '1'], 'two per GPU, filled evenly')
  t.same(shared.status().gpus.map(g => g.in_use), [2, 2])
  await t.rejects(shared.acquire(1), { code: 'CAPACITY_REACHED' })
})

t.test('a bounded queue: a waiting request gets the GPU when it is released, or is refused after waitMs', async t => {
  const queued = new GpuAllocator(['0'], { queue: 1, waitMs: 60_000 })
  const first = await queued.acquire(1)
  const waiting = queued.acquire(1)
  t.equal(queued.status().waiting, 1)
  await t.rejects(queued.acquire(1), { code: 'CAPACITY_REACHED', message: /1 requests already wait/ })
  queued.release(first)
  t.same(await waiting, ['0'], 'the queued request gets the GPU when it is released')
  t.same(queued.status(), { gpus: [{ id: '0', in_use: 1, per_gpu: 1 }], waiting: 0 })

  const short = new GpuAllocator(['0'], { queue: 1, waitMs: 100 })
  await short.acquire(1)
  await t.rejects(short.acquire(1), { code: 'CAPACITY_REACHED', message: /no GPU came free within 0.1 s/ })
  t.equal(short.status().waiting, 0, 'the timed-out request left the queue')
})

/** prisonersDilemma asking for one GPU, as a task directory. */
function gpuTask (t: Test): string {
  const dir = join(tempDir(t, 'sg-gpu-task-'), 'gpuDilemma')
  cpSync(join(ROOT, 'tasks', 'builtin', 'prisonersDilemma'), dir, { recursive: true })
  const spec = YAML.parse(readFileSync(join(dir, 'task.yaml'), 'utf8'))
  spec.id = 'gpuDilemma'
  spec.resources = { ...spec.resources, gpus: 1 }
  writeFileSync(join(dir, 'task.yaml'), YAML.stringify(spec))
  return dir
}

async function serve (t: Test, over: Partial<ServerConfig>): Promise<Awaited<ReturnType<typeof testServer>>> {
  const s = await testServer({ warmPool: 0, ...over }, { taskDirs: [gpuTask(t)] })
  t.teardown(() => s.close())
  return s
}

async function newEnv (url: string): Promise<string> {
  const r = await http(url, 'POST', '/v1/envs', { task: 'gpuDilemma', backend: 'local' })
  if (r.status !== 201) throw new Error(`POST /v1/envs ${r.status}: ${JSON.stringify(r.body)}`)
  return r.body.env_id
}

async function step (url: string, env: string, action: string): Promise<string> {
  return (await http(url, 'POST', `/v1/envs/${env}/step`, { action })).body.observation
}

t.test('through the server, local backend: the granted GPU in CUDA_VISIBLE_DEVICES; with queue 0 a second env is refused', async t => {
  const s = await serve(t, { gpus: '0', gpuQueue: 0 })
  const e1 = await newEnv(s.url)
  t.equal((await http(s.url, 'POST', `/v1/envs/${e1}/reset`)).status, 200)
  t.equal(await step(s.url, e1, 'echo $CUDA_VISIBLE_DEVICES'), '0')
  t.same((await http(s.url, 'GET', '/v1/health')).body.gpus, { available: true, gpus: [{ id: '0', in_use: 1, per_gpu: 1 }], waiting: 0 })
  const e2 = await newEnv(s.url)
  const refused = await http(s.url, 'POST', `/v1/envs/${e2}/reset`)
  t.equal(refused.status, 503)
  t.equal(refused.body.error.code, 'CAPACITY_REACHED')
  t.match(refused.body.error.message, /all 1 GPU\(s\) are in use; retry later/)
})

t.test('through the server, local backend: with a queue the second reset waits and gets the GPU when the first env closes', async t => {
  const s = await serve(t, { gpus: '0', gpuQueue: 1 })
  const q1 = await newEnv(s.url)
  await http(s.url, 'POST', `/v1/envs/${q1}/reset`)
  const q2 = await newEnv(s.url)
  const pending = http(s.url, 'POST', `/v1/envs/${q2}/reset`)
  await waitFor('the second reset to queue', async () => (await http(s.url, 'GET', '/v1/health')).body.gpus.waiting === 1)
  t.pass('the second reset waits for the GPU')
  t.equal((await http(s.url, 'DELETE', `/v1/envs/${q1}`)).status, 200)
  t.equal((await pending).status, 200, 'and gets it when the first env closes')
  t.equal(await step(s.url, q2, 'echo $CUDA_VISIBLE_DEVICES'), '0')
})

t.test('GPUs off: health says so; a GPU task is refused up front', async t => {
  const s = await serve(t, { gpus: 'none' })
  t.strictSame((await http(s.url, 'GET', '/v1/health')).body.gpus, { available: false, reason: 'GPUs turned off (--gpus none)' })
  const no = await http(s.url, 'POST', '/v1/envs', { task: 'gpuDilemma', backend: 'local' })
  t.equal(no.status, 503)
  t.equal(no.body.error.code, 'CAPACITY_REACHED')
  t.equal(no.body.error.message, 'task gpuDilemma needs 1 GPU(s); this server has 0 (GPUs turned off (--gpus none))')
})

t.test('gpus auto: health says what nvidia-smi says', async t => {
  const s = await serve(t, { gpus: 'auto' })
  const got = (await http(s.url, 'GET', '/v1/health')).body.gpus
  // asked here directly, not through detectGpus
  const smi = spawnSync('nvidia-smi', ['--query-gpu=index', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 })
  const ids = smi.status === 0 ? smi.stdout.split('\n').map(l => l.trim()).filter(Boolean) : []
  if (smi.error) t.strictSame(got, { available: false, reason: 'no NVIDIA driver: nvidia-smi is not installed' }, 'no driver here')
  else if (smi.status !== 0) t.match(got, { available: false, reason: /^nvidia-smi failed: / }, 'a failing driver here')
  else if (ids.length === 0) t.strictSame(got, { available: false, reason: 'nvidia-smi lists no GPUs' })
  else t.strictSame(got, { available: true, gpus: ids.map(id => ({ id, in_use: 0, per_gpu: 1 })), waiting: 0 }, `${ids.length} GPU(s) here`)
})
