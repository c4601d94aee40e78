// Shared test setup: throwaway temp dirs, a real server on loopback with its own data dir, and what this machine has
// installed (so that a test asserts the behaviour of the path in use: bubblewrap or its fallback, flake8 or not).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import WebSocket from 'ws'
import type { startServer, RunningServer } from '../server/server.js'
import type { ServerConfig } from '../server/config.js'
import type { Sandbox, SandboxOptions } from '../sandbox/types.js'
import type { Task } from '../tasks/registry.js'

/** A new directory under the temp dir, removed when `t` ends, passed or failed. */
export function tempDir (t: Pick<Test, 'teardown'>, prefix: string, parent = tmpdir()): string {
  const d = mkdtempSync(join(parent, prefix))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

/** A server on loopback with a throwaway data dir; closing the server removes the data dir. */
export async function testServer (over: Partial<ServerConfig> = {}, opts: Parameters<typeof startServer>[1] = {}): Promise<RunningServer & { dataDir: string }> {
  // loaded here, not at the top: a file that only needs tempDir does not load the server (nor sandbox/local.js
  // before it has set SYNTHGYM_ISOLATION)
  const { DEFAULTS } = await import('../server/config.js')
  const { startServer } = await import('../server/server.js')
  // a data dir the caller names is the caller's to remove (a restart on the same dir)
  const dataDir = over.dataDir ?? mkdtempSync(join(tmpdir(), 'sg-test-'))
  const remove = () => { if (!over.dataDir) rmSync(dataDir, { recursive: true, force: true }) }
  let s: RunningServer
  try {
    s = await startServer({ ...DEFAULTS, port: 0, dataDir, ...over }, opts)
  } catch (e) { remove(); throw e }
  return { ...s, dataDir, close: async () => { try { await s.close() } finally { remove() } } }
}

/** Whether `cmd` is on PATH, asked the way a shell finds it (not through the code under test). */
export function onPath (cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

/** The local sandbox's isolation here, as documented: bubblewrap where it is installed, else `unshare`, unless
 * SYNTHGYM_ISOLATION forces one. */
export function isolationHere (): 'bwrap' | 'unshare' {
  const forced = process.env.SYNTHGYM_ISOLATION
  if (forced === 'bwrap' || forced === 'unshare') return forced
  return onPath('bwrap') ? 'bwrap' : 'unshare'
}

export async function http (url: string, method: string, path: string, body?: unknown, raw?: string): Promise<{ status: number, body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {},
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body))
  })
  return { status: res.status, body: await res.json() }
}

/** `p`, or a rejection naming `what` once `ms` passed: a guard against hanging that says where, not a measurement. */
/** A WebSocket on the server, closed with the test: every frame kept in order; `ask` waits for a request's answer. */
export async function wsSocket (url: string, t: Pick<Test, 'teardown'>): Promise<{
  ws: WebSocket, frames: any[], ask: (msg: Record<string, unknown> & { id: string }) => Promise<any>
}> {
  const ws = new WebSocket(url.replace('http', 'ws') + '/v1/ws')
  t.teardown(() => ws.close())
  await new Promise(resolve => ws.once('open', resolve))
  const frames: any[] = []
  ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString())))
  const answer = (id: string) => frames.find(f => f.id === id && 'ok' in f)
  const ask = async (msg: Record<string, unknown> & { id: string }) => {
    ws.send(JSON.stringify(msg))
    while (!answer(msg.id)) await new Promise(resolve => setTimeout(resolve, 20))
    return answer(msg.id)
  }
  return { ws, frames, ask }
}

export function within<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let guard: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    guard = setTimeout(() => reject(new Error(`${what}: nothing within ${ms / 1000} s`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(guard))
}

export interface ServerProcess {
  proc: ChildProcess
  url: string
  /** the exit code (null when a signal ended it) */
  exited: Promise<number | null>
  /** what it printed so far, stdout and stderr */
  output: () => string
  /**
   * What it printed so far, once that matches `re` (stdout and stderr are two pipes: a line written to stderr before
   * the serving line on stdout may be read after it); rejects if the process exits first.
   */
  printed: (re: RegExp, ms?: number) => Promise<string>
}

/**
 * `synthgym serve` as its own process (run from the sources with tsx, or the `cli` given), on a free port: for what
 * only a real process shows (kill -9, SIGTERM, exit codes, another uid). Killed when `t` ends if it still runs.
 */
export async function serverProcess (t: Pick<Test, 'teardown'>, args: string[], env: NodeJS.ProcessEnv = {},
  o: { cli?: string, uid?: number } = {}): Promise<ServerProcess> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
  const entry = o.cli ? [o.cli] : ['--import', 'tsx', join(root, 'server', 'cli.ts')]
  const proc = spawn(process.execPath, [...entry, 'serve', '--port', '0', '--gpus', 'none', ...args], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, ...(o.uid ? { uid: o.uid, gid: o.uid } : {})
  })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  const exited = new Promise<number | null>(resolve => proc.once('exit', code => resolve(code)))
  let out = ''
  const waits = new Set<() => void>()
  // the text first, then whoever waits for it (a waiter that looked before the text was added missed it for good)
  const take = (d: Buffer) => { out += d; for (const w of [...waits]) w() }
  proc.stdout!.on('data', take)
  proc.stderr!.on('data', take)
  // bounded, so a server that never prints it fails with what it did print instead of hanging the file
  const printed = (re: RegExp, ms = 120_000) => new Promise<string>((resolve, reject) => {
    const guard = setTimeout(() => { waits.delete(look); reject(new Error(`no ${re} within ${ms / 1000} s; the server printed:\n${out}`)) }, ms)
    const look = () => {
      if (re.test(out)) { clearTimeout(guard); waits.delete(look); resolve(out) } else if (proc.exitCode !== null || proc.signalCode !== null) {
        clearTimeout(guard)
        waits.delete(look)
        reject(new Error(`the server exited without printing ${re}:\n${out}`))
      }
    }
    waits.add(look)
    proc.once('exit', look)
    look()
  })
  const url = await new Promise<string>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`the server did not start within 60 s:\n${out}`)), 60_000)
    const look = () => {
      const m = / on (http:\/\/\S+) \(data in/.exec(out)
      if (m) { clearTimeout(guard); waits.delete(look); resolve(m[1]!) }
    }
    waits.add(look)
    proc.once('exit', code => { clearTimeout(guard); reject(new Error(`the server exited (${code}) before serving:\n${out}`)) })
  })
  return { proc, url, exited, output: () => out, printed }
}

/** A new environment, reset: its id (any other answer throws, naming the request). */
export async function openEnv (s: { url: string }, body: Record<string, unknown>): Promise<string> {
  const c = await http(s.url, 'POST', '/v1/envs', body)
  if (c.status !== 201) throw new Error(`create: ${JSON.stringify(c.body)}`)
  const r = await http(s.url, 'POST', `/v1/envs/${c.body.env_id}/reset`)
  if (r.status !== 200) throw new Error(`reset: ${JSON.stringify(r.body)}`)
  return c.body.env_id
}

/** One step that must be answered 200: its StepResult. */
export async function stepOk (s: { url: string }, env: string, action: string): Promise<any> {
  const r = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action })
  if (r.status !== 200) throw new Error(`step: ${JSON.stringify(r.body)}`)
  return r.body
}

/**
 * Waits for something the test can see happen (a step running, an environment gone, a poll held): polls `check`
 * every 20 ms; throws naming `what` after `ms` (a guard against hanging, long enough for a loaded machine).
 */
export async function waitFor (what: string, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what} after ${ms / 1000} s`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/**
 * An MLGym checkout (facebookresearch/MLGym at 9d40c1b) for the MLGym-Bench tests, or null: MLGym's code is not
 * part of this repository. $SYNTHGYM_MLGYM_CHECKOUT (.ci/mlgym-checkout prepares one from a local git copy).
 */
export function mlgymCheckout (): string | null {
  const dir = process.env.SYNTHGYM_MLGYM_CHECKOUT
  return dir && existsSync(join(dir, 'configs', 'tasks')) ? dir : null
}
export const NO_MLGYM_CHECKOUT = 'no MLGym checkout: set SYNTHGYM_MLGYM_CHECKOUT to a checkout of facebookresearch/MLGym ' +
  '(commit 9d40c1b; `git clone https://github.com/facebookresearch/MLGym`), or let .ci/mlgym-checkout export one'

/** A command from the repository root, asynchronously (a server under test answers from this same process): its
 * exit code and its stdout and stderr together. */
export function runProcess (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null, out: string }> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
  return new Promise((resolvePromise, reject) => {
    const p = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => { out += d.toString() })
    p.stderr.on('data', (d: Buffer) => { out += d.toString() })
    p.on('error', reject)
    p.on('close', code => resolvePromise({ code, out }))
  })
}

/**
 * The mlgym runtime's recipe, for a file whose tests run MLGym's code in it. Not built: the file is skipped (and
 * ends here), unless CI=true, where that is an error (.ci/run builds it).
 */
export async function mlgymRuntimeOrSkip (t: Pick<Test, 'plan'>): Promise<import('../sandbox/runtime.js').RuntimeRecipe> {
  // loaded here: a file that only needs tempDir does not load the runtime module
  const { builtRuntime, cachedRecipe } = await import('../sandbox/runtime.js')
  const recipe = cachedRecipe('mlgym')
  if (builtRuntime(recipe)) return recipe
  if (process.env.CI === 'true') {
    throw new Error('CI=true but the mlgym runtime is not built: .ci/run builds it (synthgym runtime build mlgym)')
  }
  skipFile(t, `the mlgym runtime is not built (${recipe.dir}): synthgym runtime build mlgym`)
}

/** Skips the whole test file with its reason (tap reports the file as SKIP: a plan of no tests) and ends it here. */
export function skipFile (t: Pick<Test, 'plan'>, reason: string): never {
  t.plan(0, reason)
  process.exit(0)
}

/**
 * Docker sandboxes in the mlgym runtime's image (synthgym runtime build mlgym --docker), labelled `serverId`, and
 * the skip option for the tests that need them: the image is not built (an error when CI=true).
 */
export async function mlgymDocker (serverId: string): Promise<{
  make: (o: SandboxOptions) => Promise<Sandbox>, skip: string | false
}> {
  const { runtimeImage } = await import('../sandbox/runtime-image.js')
  const { DockerEngine } = await import('../sandbox/docker-engine.js')
  const { DockerSandbox } = await import('../sandbox/docker.js')
  const image = await runtimeImage('mlgym').catch(() => null)
  const missing = 'the mlgym runtime image is not built: synthgym runtime build mlgym --docker'
  if (!image && process.env.CI === 'true') throw new Error(`CI=true but ${missing}`)
  const engine = new DockerEngine({ name: 'default', socketPath: '/var/run/docker.sock' })
  const make = async (o: SandboxOptions) => await DockerSandbox.create(engine, { ...o, image: image!, serverId })
  return { make, skip: image ? false : missing }
}

/**
 * An imported MLGym task as an agent would run it: no network in the sandbox, `python baseline.py` (its time is
 * printed), validate, submit. Asserts that `metric` is a number and returns the submitted scores.
 */
export async function runMlgymTask (t: Test, task: Task, metric: string,
  o: { make: (o: SandboxOptions) => Promise<Sandbox>, hf?: string }): Promise<Record<string, number>> {
  const { Environment } = await import('../tasks/environment.js')
  const id = task.spec.id
  const env = new Environment(task, {
    makeSandbox: o.make, baseline: async () => task.spec.baseline_scores?.[0] ?? null, maxSteps: 10, hfCache: o.hf
  })
  await env.reset()
  t.teardown(() => env.close())
  const net = await env.step('python -c "import socket; socket.create_connection((\'huggingface.co\', 443), timeout=3)" 2>&1 | tail -1')
  t.match(net.observation, /Error|error/, 'no network in the sandbox')
  const started = Date.now()
  const b = await env.step('python baseline.py')
  t.comment(`${id}: baseline.py took ${((Date.now() - started) / 1000).toFixed(1)} s`)
  t.notMatch(b.observation, /Traceback|OfflineModeIsEnabled|ConnectionError/, `baseline.py ran: ${b.observation.slice(-1500)}`)
  const v = await env.step('validate')
  t.match(v.observation, new RegExp(`Your code produced a valid submission[\\s\\S]*${metric}`), `validate: ${v.observation.slice(-1500)}`)
  const s = await env.step('submit')
  t.equal(s.terminated, true)
  const score = s.info.score.at(-1) as Record<string, number>
  t.type(score[metric], 'number', `${metric} = ${score[metric]}`)
  t.comment(`${id}: submitted ${JSON.stringify(score)}`)
  return score
}
