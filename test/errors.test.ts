// The error catalogs of each layer and the one mapping to HTTP: classes, not codes read off whatever was thrown;
// the Docker deadline throws the real TIMEOUT class; README lists every code with its status.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { errorCodes } from 'fastify'
import { ERROR_STATUS, validateErrorBody } from '../env-spec/messages.js'
import { ValidationError } from '../env-spec/validate.js'
import {
  BusyError, CapacityError, EngineUnavailableError, SandboxStartError, ShellClosedError, TimeoutError
} from '../sandbox/errors.js'
import { DockerEngine, within } from '../sandbox/docker-engine.js'
import { DockerBackend } from '../sandbox/docker-backend.js'
import { GpuAllocator } from '../sandbox/gpus.js'
import { PersistentShell } from '../sandbox/shell.js'
import { EpisodeFinishedError, NotResetError, TaskNotFoundError } from '../tasks/errors.js'
import { TaskRegistry } from '../tasks/registry.js'
import {
  BackendUnavailableError, CapacityReachedError, EnvClosedError, ForbiddenError, NotFoundError, PayloadTooLargeError,
  RateLimitedError, ShuttingDownError, UnauthorizedError, toApiError
} from '../server/errors.js'

t.test('each layer\'s error classes map to their documented status and code', async t => {
  const cases: [Error, number, string][] = [
    [new ValidationError('body.task is required', 'body.task'), 400, 'VALIDATION_ERROR'],
    [new UnauthorizedError('no token'), 401, 'UNAUTHORIZED'],
    [new ForbiddenError('needs scope envs'), 403, 'FORBIDDEN'],
    [new RateLimitedError('over its rate', 3), 429, 'RATE_LIMITED'],
    [new NotFoundError('no env', 'env_id'), 404, 'NOT_FOUND'],
    [new TaskNotFoundError('nope'), 404, 'NOT_FOUND'],
    [new BusyError('busy'), 409, 'BUSY'],
    [new NotResetError('reset first'), 409, 'NOT_RESET'],
    [new EpisodeFinishedError('over'), 409, 'EPISODE_FINISHED'],
    [new ShellClosedError('closed'), 409, 'SANDBOX_CLOSED'],
    [new EnvClosedError('env-1'), 410, 'ENV_CLOSED'],
    [new PayloadTooLargeError('big', 'action'), 413, 'PAYLOAD_TOO_LARGE'],
    [new SandboxStartError('no image'), 500, 'SANDBOX_ERROR'],
    [new CapacityReachedError('full'), 503, 'CAPACITY_REACHED'],
    [new CapacityError('GPUs taken'), 503, 'CAPACITY_REACHED'],
    [new BackendUnavailableError('dockerd down'), 503, 'BACKEND_UNAVAILABLE'],
    [new EngineUnavailableError('no engine answers'), 503, 'BACKEND_UNAVAILABLE'],
    [new ShuttingDownError('stopping'), 503, 'SHUTTING_DOWN'],
    [new TimeoutError('no answer'), 504, 'TIMEOUT']
  ]
  for (const [e, status, code] of cases) {
    const r = toApiError(e)
    t.equal(r.status, status, `${e.constructor.name}: ${status}`)
    t.equal(r.body.error.code, code, `${e.constructor.name}: ${code}`)
    t.equal(r.body.error.message, e.message)
    t.doesNotThrow(() => validateErrorBody(r.body), `${e.constructor.name}: the documented shape`)
  }
  t.equal(toApiError(new RateLimitedError('over its rate', 3)).body.error.retry_after, 3, 'RATE_LIMITED says when to retry')
  t.equal(toApiError(new TaskNotFoundError('nope')).body.error.field, 'task')
  t.equal(toApiError(new BackendUnavailableError('down')).body.error.field, 'backend')
  t.same(toApiError(new ValidationError('a', 'body.a', [{ field: 'body.a', message: 'is required' }])).body.error.details, [{ field: 'body.a', message: 'is required' }])
})

t.test('a system error or a stray `code` is INTERNAL: no code passes through unless its class is known', async t => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT' })
  t.same(toApiError(enoent), { status: 500, body: { error: { code: 'INTERNAL', message: enoent.message } } })
  const lookalike = Object.assign(new Error('says it is busy'), { code: 'BUSY' })
  t.equal(toApiError(lookalike).body.error.code, 'INTERNAL')
  t.equal(toApiError({ code: 'NOT_FOUND', message: 'a plain object' }).status, 500)
  t.equal(toApiError('a string').body.error.message, 'a string')
})

t.test('fastify\'s own errors answer our codes', async t => {
  const cases: [Error, number, string][] = [
    [new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), 413, 'PAYLOAD_TOO_LARGE'],
    [new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE('text/xml'), 415, 'VALIDATION_ERROR'],
    [new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), 400, 'VALIDATION_ERROR'],
    [new errorCodes.FST_ERR_MAX_PARAM_LENGTH('/v1/envs/x'), 404, 'NOT_FOUND'],
    [new errorCodes.FST_ERR_BAD_URL('%E0'), 400, 'VALIDATION_ERROR'],
    [new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH(), 400, 'VALIDATION_ERROR']
  ]
  for (const [e, status, code] of cases) {
    const r = toApiError(e)
    t.equal(r.status, status, `${(e as { code?: string }).code}: ${status}`)
    t.equal(r.body.error.code, code)
    t.notMatch(r.body.error.message, /^FST_/, 'our words, not fastify\'s code')
  }
})

t.test('a Docker call past its deadline rejects with TimeoutError (TIMEOUT, 504)', async t => {
  const hung = new Promise<never>(() => {})
  const e = await within(hung, 'an inspect', 30).catch(err => err)
  t.ok(e instanceof TimeoutError, 'the real class')
  t.equal(e.code, 'TIMEOUT')
  t.equal(e.message, 'the docker engine did not answer an inspect within 0.03 s')
  t.same(toApiError(e), { status: 504, body: { error: { code: 'TIMEOUT', message: e.message } } })
  t.equal(await within(Promise.resolve(7), 'x', 30), 7, 'an answer in time passes through')
  await t.rejects(within(Promise.reject(new Error('refused')), 'x', 30), { message: 'refused' }, 'so does a failure')

  // an engine whose ping hangs is marked unhealthy with the deadline's reason
  const engine = new DockerEngine({ name: 'frozen', socketPath: '/nonexistent/docker.sock' })
  engine.docker.ping = (() => hung) as typeof engine.docker.ping
  t.equal(await engine.check(30), false)
  t.equal(engine.error, 'no answer in 30 ms')
})

t.test('sandbox-layer refusals are their classes', async t => {
  const thrown = async (f: () => unknown) => { try { await f() } catch (e) { return e } }
  const shell = new PersistentShell({ start: async () => { throw new Error('not started') }, killJobs: async () => {} })
  await shell.close()
  t.ok(await thrown(() => shell.exec('true')) instanceof ShellClosedError, 'a closed shell')

  const gpus = new GpuAllocator([], { perGpu: 1, queue: 0 })
  t.ok(await thrown(() => gpus.acquire(1)) instanceof CapacityError, 'no GPU to give')

  const backend = new DockerBackend({ engines: [{ name: 'a', socketPath: '/nonexistent/docker.sock' }], image: 'x', serverId: 'sg-test', warmPool: 0, poolCeiling: 0 })
  backend.engines[0]!.healthy = false
  t.ok(await thrown(() => backend.pick()) instanceof EngineUnavailableError, 'no engine answers')
  backend.engines[0]!.healthy = true
  backend.engines[0]!.config.capacity = 0
  t.ok(await thrown(() => backend.pick()) instanceof CapacityError, 'every engine full')

  t.ok(await thrown(() => new TaskRegistry().require('nope')) instanceof TaskNotFoundError, 'a task that is not there')
})

t.test('docs/api.md lists every error code with its status, and no other', async t => {
  const readme = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8')
  const rows = [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3})/gm)].map(m => [m[1]!, Number(m[2])] as const)
  t.same(Object.fromEntries(rows), ERROR_STATUS)
})
