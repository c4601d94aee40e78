// Faults under a running server (issue 11, part 4), each against real parts: `kill -9` of a server process during
// steps (local backend; docker, where a container still running is re-attached and one whose shell is stuck is
// removed), SIGTERM draining running steps within --drain-timeout, a dockerd of our own stopped and started again
// under a running server, and the data dir's disk full (a small tmpfs). After each: every answered step is in the
// store, the episodes the server dropped are `interrupted` with their steps, and no process, container, cgroup or
// sandbox folder is left. The docker parts need the shared engine (DOCKER_HOST or /var/run/docker.sock) with
// synthgym/sandbox:latest; the dockerd and tmpfs parts need root. Each skips with the reason, but under CI=true fails.
import t, { type Test } from 'tap'
import Docker from 'dockerode'
import Database from 'better-sqlite3'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, closeSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { validateErrorBody } from '../env-spec/messages.js'
import { validateTrajectory } from '../env-spec/episode.js'
import { http, serverProcess, tempDir, testServer, within, type ServerProcess } from './helpers.js'

t.setTimeout(12 * 60_000)

const TASK = 'prisonersDilemma'
const ci = process.env.CI === 'true'
const root = process.geteuid?.() === 0
// in the markers of the commands looked for among the host's processes: a run beside this one has its own
const TAG = String(process.pid).padStart(7, '0') // fixed width: no run's marker is part of another's
const SOCK = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock'
const IMAGE = 'synthgym/sandbox:latest'
const shared = new Docker({ socketPath: SOCK })

async function engineProblem (d: Docker, where: string): Promise<string | null> {
  try { await d.ping() } catch (e) { return `no Docker engine answers on ${where} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` }
  try { await d.getImage(IMAGE).inspect() } catch { return `the engine on ${where} has no ${IMAGE}; run .ci/docker-up` }
  return null
}

/** A reason to skip, or (CI=true) a failure. */
function skipOrFail (t: Test, reason: string | null): string | false {
  if (reason && ci) t.fail(`CI=true: ${reason}`)
  return reason ?? false
}

const dockerProblem = await engineProblem(shared, SOCK)

// ---------------------------------------------------------------------------------------------------------------
// helpers

/** pids whose command line holds `marker` (read from /proc: nothing is spawned to look) */
function processesWith (marker: string): number[] {
  const pids: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0').join(' ').includes(marker)) pids.push(Number(d))
    } catch {}
  }
  return pids
}

/** What a server of `id` on `dataDir` left on this host: local sandbox folders and cgroups. */
function leftovers (dataDir: string, id: string): string[] {
  const out: string[] = []
  const sandboxes = join(dataDir, 'sandboxes')
  if (existsSync(sandboxes)) out.push(...readdirSync(sandboxes).filter(n => n.startsWith('sbx-')).map(n => join(sandboxes, n)))
  for (const dir of ['/sys/fs/cgroup/synthgym', ...['pids', 'memory', 'cpu'].map(c => `/sys/fs/cgroup/${c}/synthgym`)]) {
    const mine = join(dir, id)
    if (existsSync(mine)) out.push(...readdirSync(mine).filter(n => n.startsWith('sbx-')).map(n => join(mine, n)))
  }
  return out
}

async function until<T> (what: string, probe: () => Promise<T | undefined | null | false>, tries = 600, ms = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe()
    if (v) return v
    await new Promise(resolve => setTimeout(resolve, ms))
  }
  throw new Error(`gave up waiting for ${what}`)
}

async function newEnv (url: string, body: object = { task: TASK, max_steps: 100 }): Promise<{ env: string, episode: string }> {
  const c = await http(url, 'POST', '/v1/envs', body)
  if (c.status !== 201) throw new Error(`create: ${JSON.stringify(c.body)}`)
  const r = await http(url, 'POST', `/v1/envs/${c.body.env_id}/reset`)
  if (r.status !== 200) throw new Error(`reset: ${JSON.stringify(r.body)}`)
  return { env: c.body.env_id, episode: r.body.episode_id }
}

const step = (url: string, env: string, action: string) => http(url, 'POST', `/v1/envs/${env}/step`, { action })

function serverIdOf (dataDir: string): string { return readFileSync(join(dataDir, 'server-id'), 'utf8').trim() }

async function stopped (s: ServerProcess, signal: NodeJS.Signals): Promise<number | null> {
  s.proc.kill(signal)
  return s.exited
}

// ---------------------------------------------------------------------------------------------------------------

t.test('kill -9 during steps (local): every answered step is stored, episodes interrupted, nothing left', async t => {
  const dataDir = tempDir(t, 'sg-crash-')
  const s = await serverProcess(t, ['--data-dir', dataDir])
  const id = serverIdOf(dataDir)
  const slow = await newEnv(s.url)
  const busy = await newEnv(s.url)
  t.equal((await step(s.url, slow.env, 'echo first > first.txt; echo ok')).body.observation, 'ok')
  // one environment runs a long command (with a daemon of its own), the other steps as fast as it can
  const longStep = step(s.url, slow.env, `nohup sleep 6101.${TAG} >/dev/null 2>&1 & sleep 6102.${TAG}`).catch(e => e)
  const answered: string[] = []
  let stop = false
  const burst = (async () => {
    for (let i = 0; !stop; i++) {
      const r = await step(s.url, busy.env, `echo burst-${i}`).catch(() => null)
      if (!r) break
      if (r.status === 200) answered.push(`echo burst-${i}`)
    }
  })()
  await until('the long command to run', async () => processesWith(`sleep 6102.${TAG}`).length > 0)
  await until('some answered steps', async () => answered.length >= 5)
  s.proc.kill('SIGKILL')
  t.equal(await s.exited, null, 'killed')
  stop = true
  await burst
  await longStep

  const again = await serverProcess(t, ['--data-dir', dataDir])
  t.match(await again.printed(/marked \d+ episode/), /marked 2 episode\(s\) interrupted/, 'the restart says what it found')
  t.match(await again.printed(/removed \d+ local sandbox/), /removed 2 local sandbox\(es\) left by an earlier server/)
  for (const [ep, expect] of [[slow.episode, ['echo first > first.txt; echo ok']], [busy.episode, answered]] as const) {
    const got = await http(again.url, 'GET', `/v1/episodes/${ep}`)
    t.ok(validateTrajectory(got.body))
    t.match(got.body.episode, { status: 'interrupted', exit_status: 'interrupted' })
    const stored = got.body.steps.map((x: any) => x.action)
    // the step in flight at the kill may have been written (not answered) or not: the answered ones all are, in order
    t.strictSame(stored.slice(0, expect.length), expect, `${ep}: all ${expect.length} answered step(s) stored, in order`)
    t.ok(stored.length <= expect.length + 1, 'at most the one step in flight besides')
  }
  t.equal((await http(again.url, 'GET', `/v1/envs/${slow.env}`)).status, 404, 'a local environment does not outlive its server')
  t.strictSame(processesWith(`sleep 6102.${TAG}`), [], 'the command in flight is gone')
  t.strictSame(processesWith(`sleep 6101.${TAG}`), [], 'and the daemon it started')
  t.strictSame(leftovers(dataDir, id), [], 'no sandbox folder or cgroup left')
  const fresh = await newEnv(again.url)
  t.equal((await step(again.url, fresh.env, 'echo new')).body.observation, 'new', 'the restarted server serves')
  t.equal(await stopped(again, 'SIGTERM'), 0)
  t.strictSame(leftovers(dataDir, id), [])
})

t.test('SIGTERM: running steps finish and are recorded, new requests get SHUTTING_DOWN, then the server exits', async t => {
  const dataDir = tempDir(t, 'sg-drain-')
  const s = await serverProcess(t, ['--data-dir', dataDir, '--drain-timeout', '60'])
  const a = await newEnv(s.url)
  const b = await newEnv(s.url)
  const running = step(s.url, a.env, `sleep 3.0117${TAG}; echo drained`)
  await until('the step to run', async () => processesWith(`sleep 3.0117${TAG}`).length > 0)
  s.proc.kill('SIGTERM')
  const refused = await until('a refusal', async () => {
    const r = await http(s.url, 'GET', '/v1/tasks').catch(() => null)
    return r && r.status !== 200 ? r : null
  }, 300, 20)
  t.equal(refused.status, 503)
  t.ok(validateErrorBody(refused.body))
  t.equal(refused.body.error.code, 'SHUTTING_DOWN')
  const other = await step(s.url, b.env, 'echo too-late')
  t.match(other, { status: 503, body: { error: { code: 'SHUTTING_DOWN' } } }, 'a new step is refused while the old one drains')
  const r = await running
  t.equal(r.status, 200)
  t.equal(r.body.observation, 'drained', 'the running step finished')
  t.equal(await s.exited, 0, 'then the server exited')
  const db = new Database(join(dataDir, 'episodes.db'), { readonly: true })
  t.teardown(() => db.close())
  t.strictSame(db.prepare('SELECT action FROM steps WHERE episode_id = ? ORDER BY idx').all(a.episode).map((x: any) => x.action), [`sleep 3.0117${TAG}; echo drained`], 'the drained step is recorded')
  t.strictSame(db.prepare('SELECT count(*) AS n FROM steps WHERE episode_id = ?').get(b.episode), { n: 0 }, 'the refused one is not')
  t.strictSame(db.prepare('SELECT id, status FROM episodes ORDER BY seq').all(), [{ id: a.episode, status: 'interrupted' }, { id: b.episode, status: 'interrupted' }], 'the stop interrupted both episodes')
  t.strictSame(leftovers(dataDir, serverIdOf(dataDir)), [])
})

t.test('SIGTERM with a step that outlasts --drain-timeout: it is cut (ENV_CLOSED, not recorded) and the server exits', async t => {
  const dataDir = tempDir(t, 'sg-drain2-')
  const s = await serverProcess(t, ['--data-dir', dataDir, '--drain-timeout', '1'])
  const a = await newEnv(s.url)
  await step(s.url, a.env, 'echo kept')
  const running = step(s.url, a.env, `sleep 6103.${TAG}`)
  await until('the step to run', async () => processesWith(`sleep 6103.${TAG}`).length > 0)
  s.proc.kill('SIGTERM')
  const r = await running
  t.equal(r.status, 410)
  t.equal(r.body.error.code, 'ENV_CLOSED')
  t.equal(await s.exited, 0)
  t.strictSame(processesWith(`sleep 6103.${TAG}`), [], 'the cut command is gone')
  const db = new Database(join(dataDir, 'episodes.db'), { readonly: true })
  t.teardown(() => db.close())
  t.strictSame(db.prepare('SELECT action FROM steps WHERE episode_id = ? ORDER BY idx').all(a.episode).map((x: any) => x.action), ['echo kept'])
  t.equal((db.prepare('SELECT status FROM episodes WHERE id = ?').get(a.episode) as any).status, 'interrupted')
})

t.test('kill -9 during steps (docker): a running container is re-attached, one whose shell is stuck is removed', async t => {
  const skip = skipOrFail(t, dockerProblem)
  if (skip) { t.skip(skip); return }
  // each stage is bounded and named: a hang here once ate the file's 10 minutes without saying where
  const stage = <T>(what: string, p: Promise<T>, ms = 90_000) => within(p, ms, what)
  const dataDir = tempDir(t, 'sg-crash-docker-')
  const args = ['--data-dir', dataDir, '--backend', 'docker', '--warm-pool', '0']
  const s = await serverProcess(t, args)
  const id = serverIdOf(dataDir)
  const ours = () => shared.listContainers({ all: true, filters: { label: ['synthgym.managed=1', `synthgym.server=${id}`] } })
  t.teardown(async () => { for (const c of await ours().catch(() => [])) await shared.getContainer(c.Id).remove({ force: true }).catch(() => {}) })
  const kept = await stage('opening the first env', newEnv(s.url))
  const stuck = await stage('opening the second env', newEnv(s.url))
  t.equal((await stage('the first step', step(s.url, kept.env, 'echo precious > precious.txt; echo ok'))).body.observation, 'ok')
  const containerOf = async (env: string) => (await ours()).find(c => c.Labels['synthgym.env'] === env)!
  const keptId = (await containerOf(kept.env)).Id
  const stuckId = (await containerOf(stuck.env)).Id
  // in flight at the kill: a long command in one, a loop of the shell itself (nothing to kill but the shell) in the other
  const a = step(s.url, kept.env, `sleep 6104.${TAG}`).catch(e => e)
  const b = step(s.url, stuck.env, 'while :; do :; done').catch(e => e)
  await until('the long command to run', async () => processesWith(`sleep 6104.${TAG}`).length > 0)
  await new Promise(resolve => setTimeout(resolve, 500)) // the loop's step is sent too
  s.proc.kill('SIGKILL')
  await stage('the killed server to exit', s.exited)
  await stage('the steps in flight to fail', Promise.all([a, b]))
  t.equal((await shared.getContainer(keptId).inspect()).State.Running, true, 'the container outlived its server')

  const again = await serverProcess(t, args)
  t.match(await again.printed(/marked \d+ episode/), /marked 2 episode\(s\) interrupted/)
  t.match(await again.printed(/re-attached/), new RegExp(`re-attached the running container\\(s\\) of 1 environment\\(s\\): ${kept.env}`))
  t.match(await again.printed(/could not be re-attached/), new RegExp(`environment ${stuck.env}: its container could not be re-attached \\(.*its shell did not answer within 10 s\\); it was removed`))
  const state = await stage('GET the re-attached env', http(again.url, 'GET', `/v1/envs/${kept.env}`))
  t.equal(state.status, 200, 'the environment is back under its id')
  t.match(state.body, { episode_id: kept.episode, done: true, exit_status: 'interrupted', current_step: 1 })
  const traj = await stage('GET its trajectory', http(again.url, 'GET', `/v1/envs/${kept.env}/trajectory`))
  t.match(traj.body.episode, { status: 'interrupted', steps: 1 })
  t.strictSame(traj.body.steps.map((x: any) => x.action), ['echo precious > precious.txt; echo ok'], 'its trajectory intact')
  t.equal((await containerOf(kept.env)).Id, keptId, 'the same container')
  t.strictSame(processesWith(`sleep 6104.${TAG}`), [], 'the command in flight at the crash was killed')
  const inside = await shared.getContainer(keptId).exec({ Cmd: ['cat', '/home/agent/workspace/precious.txt'], AttachStdout: true, AttachStderr: true })
  const stream = await stage('docker exec cat to start', inside.start({ hijack: true, stdin: false }))
  let text = ''
  // a hijacked stream may close without an 'end'
  await stage('docker exec cat to finish', new Promise(resolve => {
    stream.on('data', (d: Buffer) => { text += d.toString() })
    stream.on('end', resolve)
    stream.on('close', resolve)
  }), 30_000).finally(() => stream.destroy())
  t.match(text, /precious/, 'its workspace is the one the agent wrote')
  const ev = await stage('evaluating the re-attached env', http(again.url, 'POST', `/v1/envs/${kept.env}/evaluate`), 180_000)
  t.equal(ev.status, 200)
  t.ok(ev.body.metrics?.Score !== undefined, 'the re-attached workspace evaluates')
  t.match(await stage('a step on the finished episode', step(again.url, kept.env, 'echo more')), { status: 409, body: { error: { code: 'EPISODE_FINISHED' } } })
  t.equal((await stage('GET the removed env', http(again.url, 'GET', `/v1/envs/${stuck.env}`))).status, 404)
  await t.rejects(shared.getContainer(stuckId).inspect(), 'the stuck one was removed')
  const r = await stage('reset', http(again.url, 'POST', `/v1/envs/${kept.env}/reset`), 180_000)
  t.equal(r.status, 200, 'a reset starts a new episode')
  t.equal((await stage('a step after the reset', step(again.url, kept.env, 'cat precious.txt 2>&1 | head -1'))).body.observation, 'cat: precious.txt: No such file or directory', 'in a fresh sandbox')
  t.equal(await stage('the server to stop on SIGTERM', stopped(again, 'SIGTERM'), 120_000), 0)
  t.strictSame(await ours(), [], 'no container of the server left')
})

t.test('the data dir\'s disk full: STORE_FULL, nothing runs until space is freed, then every step is stored, the store intact', async t => {
  const skip = skipOrFail(t, root ? null : 'mounting a tmpfs needs root')
  if (skip) { t.skip(skip); return }
  const dataDir = mkdtempSync(join(tmpdir(), 'sg-full-'))
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dataDir], { encoding: 'utf8' })
  if (mounted.status !== 0) {
    rmSync(dataDir, { recursive: true, force: true })
    const why = skipOrFail(t, `mount -t tmpfs failed: ${mounted.stderr.trim()}`)
    if (why) { t.skip(why); return }
  }
  t.teardown(() => { spawnSync('umount', ['-l', dataDir]); rmSync(dataDir, { recursive: true, force: true }) })
  const s = await testServer({ dataDir, gpus: 'none' })
  let open = true
  t.teardown(async () => { if (open) await s.close() })
  const e = await newEnv(s.url)
  t.equal((await step(s.url, e.env, 'echo before')).body.observation, 'before')

  // fill the disk to the last byte
  const filler = join(dataDir, 'filler')
  const fd = openSync(filler, 'w')
  const chunk = Buffer.alloc(1 << 16, 120)
  try { for (;;) writeSync(fd, chunk) } catch (err) { t.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', 'the disk is full') }
  try { for (;;) writeSync(fd, chunk, 0, 512) } catch {}
  closeSync(fd)

  const big = 'yes aaaaaaaaa | head -c 300000'
  const full = await step(s.url, e.env, big)
  t.equal(full.status, 507)
  t.ok(validateErrorBody(full.body))
  t.equal(full.body.error.code, 'STORE_FULL')
  t.match(full.body.error.message, /^step 1 of episode ep-\w+ ran, but could not be recorded: the episode store .*episodes\.db is out of disk space .*free space on its disk\. It is written before this environment's next step or reset runs/)
  const refused = await step(s.url, e.env, 'echo while-full')
  t.equal(refused.status, 507)
  t.match(refused.body.error.message, /1 earlier write\(s\) of environment env-\w+ are not in the episode store yet, so nothing was run/)
  t.equal((await http(s.url, 'GET', '/v1/health')).status, 200, 'the server keeps serving')
  t.equal((await http(s.url, 'GET', `/v1/episodes/${e.episode}`)).body.episode.steps, 1, 'reads go on; the store holds the first step only')

  rmSync(filler)
  const after = await step(s.url, e.env, 'echo after')
  t.equal(after.status, 200)
  t.equal(after.body.observation, 'after')
  const traj = await http(s.url, 'GET', `/v1/envs/${e.env}/trajectory`)
  t.strictSame(traj.body.steps.map((x: any) => x.action), ['echo before', big, 'echo after'], 'the held-back step went first; the refused one never ran')
  t.match(traj.body.steps[1].observation, /^(a{9}\n){1000}/, 'with its observation')
  open = false
  await s.close()
  const db = new Database(join(dataDir, 'episodes.db'), { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'no corruption')
  t.strictSame(db.prepare('SELECT idx FROM steps WHERE episode_id = ? ORDER BY idx').all(e.episode).map((x: any) => x.idx), [0, 1, 2], 'no gap')
})

/**
 * The data root kept between runs (so the image is loaded once), while no other run uses it: a lock folder holds the
 * holder's pid. A run beside it (two `npm test` at once) gets a data root of its own, removed after: two dockerds
 * on one data root break each other.
 */
function claimDataRoot (): { dir: string, release: () => void } {
  const kept = join(tmpdir(), 'synthgym-test-dockerd-root')
  const lock = kept + '.lock'
  const take = () => {
    try { mkdirSync(lock) } catch { return false }
    writeFileSync(join(lock, 'pid'), String(process.pid))
    return true
  }
  let mine = take()
  if (!mine) {
    let holder = 0
    try { holder = Number(readFileSync(join(lock, 'pid'), 'utf8')) } catch {} // being written: taken as alive
    const alive = !holder || (() => { try { process.kill(holder, 0); return true } catch { return false } })()
    if (!alive) { rmSync(lock, { recursive: true, force: true }); mine = take() }
  }
  if (mine) return { dir: kept, release: () => rmSync(lock, { recursive: true, force: true }) }
  const own = mkdtempSync(join(tmpdir(), 'synthgym-test-dockerd-root-'))
  return { dir: own, release: () => rmSync(own, { recursive: true, force: true }) }
}

/**
 * A dockerd of this test's own (never the shared engines): its own socket, exec root and pid file in a temp dir, no
 * bridge or iptables; the image is copied in from the shared engine with `docker save | docker load`.
 */
class OwnDockerd {
  readonly dir = mkdtempSync(join(tmpdir(), 'sgdk-'))
  readonly sock = join(this.dir, 'docker.sock')
  private readonly root = claimDataRoot()
  readonly dataRoot = this.root.dir
  readonly docker = new Docker({ socketPath: this.sock })
  private proc: ChildProcess | null = null
  private log = join(this.dir, 'dockerd.log')

  async start (): Promise<void> {
    mkdirSync(this.dataRoot, { recursive: true })
    const out = openSync(this.log, 'a')
    this.proc = spawn('dockerd', ['--host', `unix://${this.sock}`, '--data-root', this.dataRoot, '--exec-root', join(this.dir, 'exec'),
      '--pidfile', join(this.dir, 'docker.pid'), '--bridge=none', '--iptables=false', '--ip6tables=false', '--shutdown-timeout', '2'],
    { stdio: ['ignore', out, out] })
    closeSync(out)
    const exited = new Promise(resolve => this.proc!.once('exit', resolve))
    for (let i = 0; i < 600; i++) {
      if (await this.docker.ping().then(() => true, () => false)) return
      if (await Promise.race([exited.then(() => true), new Promise(resolve => setTimeout(() => resolve(false), 100))])) break
    }
    throw new Error(`our dockerd did not answer:\n${readFileSync(this.log, 'utf8').slice(-3000)}`)
  }

  /** SIGTERM, as `systemctl restart docker` does; resolves once it exited. */
  async stop (): Promise<void> {
    const p = this.proc
    this.proc = null
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise(resolve => p.once('exit', resolve))
    p.kill('SIGTERM')
    const guard = setTimeout(() => p.kill('SIGKILL'), 60_000)
    await exited
    clearTimeout(guard)
  }

  async loadImage (): Promise<void> {
    if (await this.docker.getImage(IMAGE).inspect().then(() => true, () => false)) return
    const r = spawnSync('sh', ['-c', `docker -H unix://${SOCK} save ${IMAGE} | docker -H unix://${this.sock} load`], { encoding: 'utf8', timeout: 300_000 })
    if (r.status !== 0) throw new Error(`loading ${IMAGE} into our dockerd failed: ${r.stderr}`)
  }

  async remove (): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
    this.root.release()
  }
}

t.test('dockerd restarted under a running server: its episodes end cleanly, the server keeps serving, new envs work once it is back', async t => {
  const why = !root ? 'starting a dockerd of our own needs root'
    : spawnSync('sh', ['-c', 'command -v dockerd']).status !== 0 ? 'no dockerd on PATH'
      : dockerProblem
  const skip = skipOrFail(t, why)
  if (skip) { t.skip(skip); return }
  const own = new OwnDockerd()
  t.teardown(() => own.remove())
  try {
    await own.start()
    await own.loadImage()
  } catch (e) {
    const reason = skipOrFail(t, `a dockerd of our own could not be set up: ${(e as Error).message}`)
    if (reason) { t.skip(reason); return }
  }
  const s = await testServer({ gpus: 'none', warmPool: 0, dockerEngines: JSON.stringify([{ name: 'own', socketPath: own.sock, capacity: 4 }]) })
  let open = true
  t.teardown(async () => { if (open) await s.close() })
  const id = s.serverId
  const ours = () => own.docker.listContainers({ all: true, filters: { label: ['synthgym.managed=1', `synthgym.server=${id}`] } })
  const d = await newEnv(s.url, { task: TASK, backend: 'docker' })
  const l = await newEnv(s.url, { task: TASK, backend: 'local' })
  t.equal((await step(s.url, d.env, 'echo on-docker')).body.observation, 'on-docker')
  const before = await ours()
  t.equal(before.length, 1, 'its container is on our engine')

  const running = step(s.url, d.env, 'sleep 30; echo late')
  await until('the command to run', async () => processesWith('sleep 30').length > 0)
  await own.stop()
  const r = await running
  t.equal(r.status, 200, 'the step in flight answers')
  t.match(r.body, { terminated: true, info: { exit_status: 'early_exit' } })
  t.match(r.body.observation, /THE SANDBOX IS GONE: .+\. The episode has ended; its steps so far are kept\.$/)
  t.match(await step(s.url, d.env, 'echo again'), { status: 409, body: { error: { code: 'EPISODE_FINISHED' } } })
  const ep = (await http(s.url, 'GET', `/v1/episodes/${d.episode}`)).body
  t.match(ep.episode, { status: 'finished', exit_status: 'early_exit' })
  t.strictSame(ep.steps.map((x: any) => x.action), ['echo on-docker', 'sleep 30; echo late'], 'both steps recorded')

  await s.manager.docker.checkEngines()
  const h = await http(s.url, 'GET', '/v1/health')
  t.equal(h.status, 200, 'the server keeps serving')
  t.match(h.body.backends.docker.engines[0], { name: 'own', healthy: false, error: /cannot reach dockerd/ })
  t.equal((await step(s.url, l.env, 'echo local-still')).body.observation, 'local-still', 'local environments go on')
  const refused = await http(s.url, 'POST', '/v1/envs', { task: TASK, backend: 'docker' })
  t.match(refused, { status: 503, body: { error: { code: 'BACKEND_UNAVAILABLE', field: 'backend' } } })

  await own.start()
  await s.manager.docker.checkEngines()
  t.equal((await http(s.url, 'GET', '/v1/health')).body.backends.docker.engines[0].healthy, true, 'healthy again')
  t.strictSame((await ours()).map(c => c.Id), [], 'what the engine kept of the dead sandbox (a stopped container) was swept when it came back')
  const d2 = await newEnv(s.url, { task: TASK, backend: 'docker' })
  t.equal((await step(s.url, d2.env, 'echo back')).body.observation, 'back', 'a new docker environment works')
  t.equal((await http(s.url, 'POST', `/v1/envs/${d.env}/reset`)).status, 200, 'and the old one resets onto it')
  t.equal((await step(s.url, d.env, 'echo reset')).body.observation, 'reset')
  open = false
  await s.close()
  t.strictSame(await ours(), [], 'no container left')
})
