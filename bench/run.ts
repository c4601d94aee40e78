// synthgym benchmarks: step overhead, reset latency, and 256 environments at once, against the targets; and the
// same on the docker backend against `docker exec` and a cold `docker run` (when a Docker engine answers).
//
//   npm run bench                      build, run, print the table, then the results as one JSON line
//   node dist/bench/run.js --json out.json --strict
//
// Progress goes to stderr; the table and (without --json) the JSON line go to stdout. A missed target prints
// MISSED; the exit code is 1 for a missed target only with --strict, and 2 when the benchmark could not run at all.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import Docker from 'dockerode'
import { PassThrough } from 'node:stream'
import { DEFAULTS, dockerEngines } from '../server/config.js'
import { dockerMessage } from '../sandbox/docker.js'
import { newPack } from '../sandbox/archive.js'
import type { ServerConfig } from '../server/config.js'
import { SynthgymClient, type WsClient } from '../clients/client.js'
import { LocalSandbox } from '../sandbox/local.js'
import { syntaxCheck } from '../sandbox/shell.js'

// ---------------------------------------------------------------------------------------------------------------
// options

interface Options {
  json: string | null
  strict: boolean
  iterations: number
  warmup: number
  resets: number
  resetTasks: string[]
  stepTask: string
  envs: number
  concurrency: number
  manyTask: string
  inProcess: boolean
  budget: number
  only: Set<string>
  /** --only named docker: a missing engine is an error, not a skip */
  dockerAsked: boolean
  image: string
  warmPool: number
  dockerSteps: number
  dockerExecs: number
  dockerResets: number
  dockerResetTasks: string[]
  dockerEnvs: number
  dockerConcurrency: number
}

const SECTIONS = ['step', 'reset', 'many', 'docker']

const HELP = `usage: node dist/bench/run.js [options]
  --json FILE          write the results as JSON to FILE (default: one JSON line at the end of stdout)
  --strict             exit 1 when a target is missed (default: report MISSED, exit 0)
  --iterations N       timed step round trips per measurement (500)
  --warmup N           untimed round trips before each measurement (50)
  --resets N           timed resets per task (20)
  --reset-tasks A,B    built-in tasks whose reset is timed (digitsClassification,diabetesRegression)
  --step-task ID       task of the step-overhead environment (digitsClassification)
  --envs N             environments open at once (256)
  --concurrency N      environments opened at a time, one WebSocket each (16)
  --many-task ID       task of those environments (digitsClassification)
  --in-process         run the server in this process (default: a child process, as a real deployment)
  --only LIST          run only some of: step,reset,many,docker (default: all; docker when an engine answers)
  --budget S           give up after S seconds in all (480)
 docker section (two more servers, backend docker, one with a warm pool and one without; own data dirs):
  --image IMAGE        the sandbox image (${DEFAULTS.image})
  --warm-pool N        the server's warm pool per image (2; at least 1)
  --docker-steps N     timed WS step round trips of \`true\` on a docker env (300)
  --docker-execs N     timed \`docker exec ID true\` (CLI) and as many dockerode execs (30)
  --docker-resets N    timed warm resets per task and kind, and as many cold \`docker run\`s, interleaved (15)
  --docker-reset-tasks A,B   tasks whose docker reset is timed (prisonersDilemma,digitsClassification)
  --docker-envs N      docker environments stepping at once (32)
  --docker-concurrency N     docker environments opened at a time (8)`

function parseArgs (argv: string[]): Options {
  const o: Options = {
    json: null, strict: false, iterations: 500, warmup: 50, resets: 20,
    resetTasks: ['digitsClassification', 'diabetesRegression'], stepTask: 'digitsClassification',
    envs: 256, concurrency: 16, manyTask: 'digitsClassification', inProcess: false, budget: 480,
    only: new Set(SECTIONS), dockerAsked: false, image: DEFAULTS.image, warmPool: 2, dockerSteps: 300, dockerExecs: 30,
    dockerResets: 15, dockerResetTasks: ['prisonersDilemma', 'digitsClassification'], dockerEnvs: 32, dockerConcurrency: 8
  }
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} needs a whole number >= ${min} (got ${JSON.stringify(v)})`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const v = (): string => {
      const x = argv[++i]
      if (x === undefined) throw new Error(`${a} needs a value`)
      return x
    }
    switch (a) {
      case '--json': o.json = v(); break
      case '--strict': o.strict = true; break
      case '--iterations': o.iterations = int(a, v(), 1); break
      case '--warmup': o.warmup = int(a, v(), 0); break
      case '--resets': o.resets = int(a, v(), 1); break
      case '--reset-tasks': o.resetTasks = v().split(',').map(s => s.trim()).filter(Boolean); break
      case '--step-task': o.stepTask = v(); break
      case '--envs': o.envs = int(a, v(), 1); break
      case '--concurrency': o.concurrency = int(a, v(), 1); break
      case '--many-task': o.manyTask = v(); break
      case '--in-process': o.inProcess = true; break
      case '--budget': o.budget = int(a, v(), 10); break
      case '--only': {
        o.only = new Set(v().split(',').map(s => s.trim()).filter(Boolean))
        const bad = [...o.only].filter(s => !SECTIONS.includes(s))
        if (bad.length || o.only.size === 0) throw new Error(`--only takes step, reset, many and/or docker (got ${bad.join(',') || 'nothing'})`)
        o.dockerAsked = o.only.has('docker')
        break
      }
      case '--image': o.image = v(); break
      case '--warm-pool': o.warmPool = int(a, v(), 1); break
      case '--docker-steps': o.dockerSteps = int(a, v(), 1); break
      case '--docker-execs': o.dockerExecs = int(a, v(), 1); break
      case '--docker-resets': o.dockerResets = int(a, v(), 1); break
      case '--docker-reset-tasks': o.dockerResetTasks = v().split(',').map(s => s.trim()).filter(Boolean); break
      case '--docker-envs': o.dockerEnvs = int(a, v(), 1); break
      case '--docker-concurrency': o.dockerConcurrency = int(a, v(), 1); break
      case '-h': case '--help': console.log(HELP); process.exit(0); break
      default: throw new Error(`unknown argument ${a}\n${HELP}`)
    }
  }
  return o
}

// ---------------------------------------------------------------------------------------------------------------
// statistics and output

interface Summary { n: number, min: number, p50: number, p90: number, p99: number, max: number, mean: number }

/** Nearest-rank percentile of sorted values. */
function pct (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

function summarize (ms: number[]): Summary {
  const s = [...ms].sort((a, b) => a - b)
  const r = (x: number) => Math.round(x * 1000) / 1000
  return {
    n: s.length, min: r(s[0] ?? NaN), p50: r(pct(s, 50)), p90: r(pct(s, 90)), p99: r(pct(s, 99)), max: r(s[s.length - 1] ?? NaN),
    mean: r(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length))
  }
}

type Status = 'ok' | 'MISSED' | 'info' | 'skipped'
interface Row {
  section: string
  metric: string
  value: number | null
  unit: 'ms' | 's' | 'count' | 'x'
  /** the value must be below this (a latency), or at least this (a count) */
  target: { below: number } | { atLeast: number } | null
  status: Status
  ratio: number | null
  note?: string
}

const rows: Row[] = []

function row (section: string, metric: string, value: number | null, unit: Row['unit'], target: Row['target'] = null, note?: string): Row {
  let status: Status = 'info'
  let ratio: number | null = null
  if (target) {
    if (value === null || !Number.isFinite(value)) status = 'MISSED'
    else if ('below' in target) { ratio = value / target.below; status = value < target.below ? 'ok' : 'MISSED' } else { ratio = value / target.atLeast; status = value >= target.atLeast ? 'ok' : 'MISSED' }
  }
  const r: Row = { section, metric, value, unit, target, status, ratio: ratio === null ? null : Math.round(ratio * 1000) / 1000, note }
  rows.push(r)
  return r
}

function fmtValue (v: number | null, unit: Row['unit']): string {
  if (v === null || !Number.isFinite(v)) return 'n/a'
  if (unit === 'count') return String(v)
  if (unit === 'x') return `${v < 10 ? v.toFixed(2) : v.toFixed(1)}×`
  if (unit === 's') return `${v.toFixed(2)} s`
  return v < 10 ? `${v.toFixed(3)} ms` : v < 100 ? `${v.toFixed(2)} ms` : `${v.toFixed(1)} ms`
}

function fmtTarget (r: Row): string {
  if (!r.target) return ''
  if ('below' in r.target) return `< ${fmtValue(r.target.below, r.unit)}`
  return `>= ${r.target.atLeast} (all)`
}

function table (): string {
  const head = ['benchmark', 'metric', 'value', 'target', 'ratio', 'status']
  const body = rows.map(r => [r.section, r.metric, fmtValue(r.value, r.unit), fmtTarget(r), r.ratio === null ? '' : r.ratio.toFixed(3), r.status === 'info' ? '' : r.status])
  for (const [i, r] of rows.entries()) if (r.status === 'skipped') body[i]![2] = ''
  const w = head.map((h, i) => Math.max(h.length, ...body.map(b => b[i]!.length)))
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 2 || i === 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(' | ') + ' |'
  return [line(head), '|' + w.map((n, i) => (i === 2 || i === 4 ? '-'.repeat(n + 1) + ':' : '-'.repeat(n + 2))).join('|') + '|', ...body.map(line)].join('\n')
}

const progress = (msg: string) => process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1).padStart(5)} s] ${msg}\n`)
const T0 = performance.now()
/** 1-minute load average when the benchmark started: other work on the machine shows up in every number */
const LOAD0 = Math.round(loadavg()[0]! * 100) / 100

function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_resolve, reject) => { t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms) })
  ])
}

async function timeLoop (n: number, warmup: number, fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn()
  const out: number[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await fn()
    out[i] = performance.now() - t
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// the machine

function machine (): Record<string, unknown> {
  let model = cpus()[0]?.model ?? 'unknown'
  let mhz: number | null = cpus()[0]?.speed ?? null
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8')
    model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? model
    const m = /^cpu MHz\s*:\s*([\d.]+)$/m.exec(info)
    if (m) mhz = Number(m[1])
  } catch {}
  return {
    cores: availableParallelism(), cpu_model: model, cpu_mhz: mhz, memory_gib: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    kernel: release(), node: process.version, platform: process.platform,
    load_average_1m: { at_start: LOAD0, at_end: Math.round(loadavg()[0]! * 100) / 100 }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the server under test

interface Server { url: string, stop: () => Promise<void>, child: ChildProcess | null }

async function startBenchServer (config: ServerConfig, inProcess: boolean): Promise<Server> {
  if (inProcess) {
    const { startServer } = await import('../server/server.js')
    const s = await startServer(config, { logger: false })
    return { url: s.url, stop: () => s.close(), child: null }
  }
  const script = fileURLToPath(new URL('./server.js', import.meta.url))
  const child = spawn(process.execPath, [script, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  const url = await withTimeout(new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.once('line', l => {
      try { resolve((JSON.parse(l) as { url: string }).url) } catch { reject(new Error(`bench server said: ${l}`)) }
    })
    void exited.then(code => reject(new Error(`the bench server exited with code ${code} before it listened`)))
  }), 30_000, 'starting the bench server')
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.stdin!.end()
    const code = await Promise.race([exited, new Promise<'late'>(resolve => setTimeout(() => resolve('late'), 30_000).unref())])
    if (code === 'late') { progress('the bench server did not stop within 30 s; killing it'); child.kill('SIGKILL'); await exited }
  }
  return { url, stop, child }
}

// ---------------------------------------------------------------------------------------------------------------
// 1. step overhead

/** `true` round trips through a persistent bash child over a pipe: the floor any shell-backed step stands on. */
async function rawBash (n: number, warmup: number): Promise<number[]> {
  const p = spawn('bash', ['--noprofile', '--norc', '-s'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const marker = `__BENCH_${randomBytes(6).toString('hex')}__`
  let buf = ''
  let waiter: (() => void) | null = null
  p.stdout!.setEncoding('utf8')
  p.stdout!.on('data', (d: string) => {
    buf += d
    if (waiter && buf.includes(marker + '\n')) { buf = ''; const w = waiter; waiter = null; w() }
  })
  const died = new Promise<never>((_resolve, reject) => p.once('exit', code => reject(new Error(`raw bash exited (${code})`))))
  died.catch(() => {})
  const once = () => Promise.race([new Promise<void>(resolve => { waiter = resolve; p.stdin!.write(`true; echo ${marker}\n`) }), died])
  try { return await timeLoop(n, warmup, once) } finally {
    p.stdin!.end()
    await new Promise(resolve => { if (p.exitCode !== null) resolve(null); else p.once('exit', resolve) })
  }
}

async function stepOverhead (url: string, o: Options, dataDir: string, results: Record<string, unknown>): Promise<void> {
  const S = 'step overhead'
  progress(`raw bash: ${o.warmup} + ${o.iterations} round trips of \`true\``)
  const raw = summarize(await rawBash(o.iterations, o.warmup))

  // Where the time goes, below the server: the local sandbox's shell protocol, and what a step adds to it.
  progress('local sandbox: exec `true`, the step\'s state query, and the host `bash -n` check')
  const sb = await LocalSandbox.create({ baseDir: join(dataDir, 'bench-sandboxes') })
  let sbTrue: Summary, sbState: Summary, syntax: Summary
  try {
    sbTrue = summarize(await timeLoop(o.iterations, o.warmup, async () => {
      const r = await sb.exec('true', { timeout: 10 })
      if (r.exitCode !== 0) throw new Error(`sandbox exec true: exit ${r.exitCode}: ${r.output}`)
    }))
    // tasks/environment.ts asks the shell for the open file and cwd after every step, as a trusted command (no host
    // `bash -n`); an agent's action with quotes or `$` like it pays the host `bash -n` check timed below.
    const stateQuery = 'printf \'%s\\n%s\' "${CURRENT_FILE:-n/a}" "$PWD"'
    sbState = summarize(await timeLoop(Math.min(o.iterations, 200), Math.min(o.warmup, 20), async () => { await sb.exec(stateQuery, { timeout: 10, trusted: true }) }))
    syntax = summarize(await timeLoop(Math.min(o.iterations, 200), Math.min(o.warmup, 20), async () => { await syntaxCheck(stateQuery) }))
  } finally { await sb.close() }

  const client = new SynthgymClient(url)
  const ws = await client.ws()
  let wsStep: Summary, httpStep: Summary
  try {
    const env = await ws.create({ task: o.stepTask, max_steps: 100_000 })
    await withTimeout(ws.reset(env.env_id), 300_000, 'reset for the step benchmark')
    progress(`WebSocket step: ${o.warmup} + ${o.iterations} round trips of \`true\` (${o.stepTask})`)
    wsStep = summarize(await timeLoop(o.iterations, o.warmup, async () => {
      const r = await withTimeout(ws.step(env.env_id, 'true'), 30_000, 'ws step')
      if (r.terminated || r.truncated) throw new Error('the step environment ended early')
    }))
    progress(`HTTP step: ${o.warmup} + ${o.iterations} round trips of \`true\``)
    httpStep = summarize(await timeLoop(o.iterations, o.warmup, async () => {
      const r = await withTimeout(client.step(env.env_id, 'true'), 30_000, 'http step')
      if (r.terminated || r.truncated) throw new Error('the step environment ended early')
    }))
    await ws.closeEnv(env.env_id)
  } finally { ws.close() }

  const over = (x: number) => Math.round((x - raw.p50) * 1000) / 1000
  const overhead = { p50: over(wsStep.p50), p90: over(wsStep.p90), p99: over(wsStep.p99) }
  results.step = { raw_bash: raw, sandbox_exec_true: sbTrue, sandbox_exec_state_query: sbState, host_syntax_check: syntax, ws_step: wsStep, http_step: httpStep, ws_overhead: overhead, http_overhead: { p50: over(httpStep.p50), p90: over(httpStep.p90), p99: over(httpStep.p99) } }

  row(S, 'WS overhead p50 (WS step p50 − raw bash p50)', overhead.p50, 'ms', { below: 2 })
  row(S, 'WS overhead p90', overhead.p90, 'ms')
  row(S, 'WS overhead p99', overhead.p99, 'ms')
  row(S, 'WS step round trip p50', wsStep.p50, 'ms'); row(S, 'WS step round trip p90', wsStep.p90, 'ms'); row(S, 'WS step round trip p99', wsStep.p99, 'ms')
  row(S, 'HTTP step round trip p50', httpStep.p50, 'ms'); row(S, 'HTTP step round trip p90', httpStep.p90, 'ms'); row(S, 'HTTP step round trip p99', httpStep.p99, 'ms')
  row(S, 'raw bash pipe round trip p50', raw.p50, 'ms'); row(S, 'raw bash pipe round trip p99', raw.p99, 'ms')
  row(S, 'breakdown: sandbox exec `true` p50', sbTrue.p50, 'ms')
  row(S, 'breakdown: sandbox exec of the state query (trusted) p50', sbState.p50, 'ms')
  row(S, 'breakdown: host `bash -n` check of it (untrusted) p50', syntax.p50, 'ms')
}

// ---------------------------------------------------------------------------------------------------------------
// 2. reset

async function resets (url: string, o: Options, results: Record<string, unknown>): Promise<void> {
  const client = new SynthgymClient(url)
  const ws = await client.ws()
  const out: Record<string, unknown> = {}
  try {
    for (const task of o.resetTasks) {
      const S = `reset ${task}`
      try {
        const env = await ws.create({ task, max_steps: 10 })
        progress(`reset ${task}: warm-up (computes and caches the baseline when the task has none)`)
        const t = performance.now()
        const first = await withTimeout(ws.reset(env.env_id), 300_000, `first reset of ${task}`)
        const warmMs = performance.now() - t
        progress(`reset ${task}: ${o.resets} timed resets`)
        const ms = await timeLoop(o.resets, 1, async () => { await withTimeout(ws.reset(env.env_id), 60_000, `reset of ${task}`) })
        await ws.closeEnv(env.env_id)
        const s = summarize(ms)
        out[task] = { warmup_ms: Math.round(warmMs), baseline: first.info.baseline, ...s }
        row(S, 'p50', s.p50, 'ms', { below: 500 })
        row(S, 'p90', s.p90, 'ms')
        row(S, 'first reset (baseline warm-up)', warmMs, 'ms')
      } catch (e) {
        out[task] = { error: (e as Error).message }
        row(S, 'p50', null, 'ms', { below: 500 }, (e as Error).message)
      }
    }
  } finally { ws.close() }
  results.reset = out
}

// ---------------------------------------------------------------------------------------------------------------
// 3. many environments at once

interface ManyParams { section: string, envs: number, concurrency: number, task: string, backend?: 'local' | 'docker', key: string }

async function manyEnvs (url: string, o: ManyParams, results: Record<string, unknown>): Promise<void> {
  const S = o.section
  const client = new SynthgymClient(url)
  const sockets: WsClient[] = await Promise.all(Array.from({ length: o.concurrency }, () => client.ws()))
  const ids: (string | null)[] = new Array(o.envs).fill(null)
  const owner: number[] = new Array(o.envs).fill(0)
  const openMs: number[] = []
  const errors: string[] = []
  try {
    progress(`${S}: creating and resetting ${o.envs} ${o.task}${o.backend ? ` (${o.backend})` : ''} environments, ${o.concurrency} at a time`)
    let next = 0
    const t0 = performance.now()
    await Promise.all(sockets.map(async (ws, w) => {
      for (let i = next++; i < o.envs; i = next++) {
        const t = performance.now()
        try {
          const env = await withTimeout(ws.create({ task: o.task, max_steps: 10, ...(o.backend ? { backend: o.backend } : {}) }), 60_000, 'create')
          ids[i] = env.env_id
          owner[i] = w
          await withTimeout(ws.reset(env.env_id), 120_000, 'reset')
          openMs.push(performance.now() - t)
        } catch (e) { errors.push(`env ${i}: ${(e as Error).message}`) }
      }
    }))
    const openAll = performance.now() - t0
    const health = await client.health() as { envs?: { open?: number } }
    progress(`${S}: ${openMs.length} open in ${(openAll / 1000).toFixed(1)} s (server reports ${health.envs?.open}); one \`echo ok\` step on every one at once`)

    const stepMs: number[] = []
    let answered = 0
    const wrong: string[] = []
    const t1 = performance.now()
    await Promise.all(ids.map(async (id, i) => {
      if (!id || !openMs.length) return
      const t = performance.now()
      try {
        const r = await withTimeout(sockets[owner[i]!]!.step(id, 'echo ok'), 120_000, 'step')
        stepMs.push(performance.now() - t)
        if (r.observation.trim() === 'ok' && !r.terminated && !r.truncated) answered++
        else wrong.push(`env ${i}: ${JSON.stringify(r.observation.slice(0, 200))}`)
      } catch (e) { wrong.push(`env ${i}: ${(e as Error).message}`) }
    }))
    const burst = performance.now() - t1
    const open = summarize(openMs)
    const step = summarize(stepMs)
    results[o.key] = {
      task: o.task, backend: o.backend ?? 'local', envs: o.envs, concurrency: o.concurrency, opened: openMs.length, server_open_count: health.envs?.open ?? null,
      open_all_s: Math.round(openAll) / 1000, open_each_ms: open, step_burst_s: Math.round(burst) / 1000, step_ms: step,
      answered_ok: answered, errors: [...errors, ...wrong].slice(0, 20)
    }
    row(S, `time to open all (create + reset, ${o.concurrency} at a time)`, openAll / 1000, 's')
    row(S, 'open one env (create + reset) p50', open.p50, 'ms')
    row(S, 'open one env (create + reset) p99', open.p99, 'ms')
    row(S, `concurrent \`echo ok\` step p50`, step.p50, 'ms')
    row(S, `concurrent \`echo ok\` step p99`, step.p99, 'ms')
    row(S, 'all steps answered (wall time)', burst, 'ms')
    row(S, 'answered correctly', answered, 'count', { atLeast: o.envs }, [...errors, ...wrong][0])
  } finally {
    const t2 = performance.now()
    let next = 0
    const live = ids.map((id, i) => ({ id, i })).filter(x => x.id !== null)
    await Promise.all(sockets.map(async () => {
      for (let k = next++; k < live.length; k = next++) {
        const { id, i } = live[k]!
        await withTimeout(sockets[owner[i]!]!.closeEnv(id!), 60_000, 'close').catch(e => errors.push(`close ${i}: ${(e as Error).message}`))
      }
    }))
    const closeMs = performance.now() - t2
    if (results[o.key]) (results[o.key] as Record<string, unknown>).close_all_s = Math.round(closeMs) / 1000
    if (live.length) row(S, `time to close all (${o.concurrency} at a time)`, closeMs / 1000, 's')
    for (const s of sockets) s.close()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 4. the docker backend, side by side with what people compare it against: `docker exec` and a cold `docker run`

interface DockerProbe { ok: boolean, reason: string, socket: string, docker: Docker | null, version: string | null }

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Runs a command (the docker CLI); rejects with its stderr on a non-zero exit. */
function command (cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`))
      else resolve(String(stdout))
    })
  })
}

/** Does a Docker engine answer on the server's default engine socket, with the image and the docker CLI there? */
async function probeDocker (image: string): Promise<DockerProbe> {
  let socket = '/var/run/docker.sock'
  try {
    const e = dockerEngines({ ...DEFAULTS })[0]!
    if (!e.socketPath && e.host) return { ok: false, reason: 'the default docker engine is not a unix socket', socket: e.host, docker: null, version: null }
    socket = e.socketPath ?? socket
  } catch (e) { return { ok: false, reason: (e as Error).message, socket, docker: null, version: null } }
  const docker = new Docker({ socketPath: socket })
  try { await withTimeout(docker.ping(), 5000, `docker ping on unix://${socket}`) } catch (e) {
    return { ok: false, reason: `no Docker engine answers at unix://${socket} (${dockerMessage(e)})`, socket, docker: null, version: null }
  }
  let version: string | null = null
  try { version = (await docker.version()).Version } catch {}
  try { await docker.getImage(image).inspect() } catch (e) {
    return { ok: false, reason: `the engine at unix://${socket} has no image ${image} (${dockerMessage(e)}); build it with \`synthgym image build\``, socket, docker, version }
  }
  try { await command('docker', ['-H', `unix://${socket}`, 'version', '--format', '{{.Server.Version}}'], 15_000) } catch (e) {
    return { ok: false, reason: `the docker CLI does not work against unix://${socket}: ${(e as Error).message}`, socket, docker, version }
  }
  return { ok: true, reason: '', socket, docker, version }
}

/** Waits until the server's warm pool holds `want` ready sandboxes with none starting; returns the wait in ms. */
async function waitPool (client: SynthgymClient, want: number, limitMs = 120_000): Promise<number> {
  const t = performance.now()
  for (;;) {
    const h = await client.health() as { backends?: { docker?: { warm_pool?: { last_error?: string, images?: Record<string, { ready: number, starting: number }> } } } }
    const wp = h.backends?.docker?.warm_pool
    const imgs = Object.values(wp?.images ?? {})
    const ready = imgs.reduce((a, b) => a + b.ready, 0)
    const starting = imgs.reduce((a, b) => a + b.starting, 0)
    // pools are per setup (image + task files + limits) and start on a setup's first reset: none yet is fine too
    if (starting === 0 && (ready >= want || imgs.length === 0)) return performance.now() - t
    // the pool refills only on a take: nothing starting and too few ready means a start failed, and it stays so
    if (performance.now() - t > limitMs || (starting === 0 && wp?.last_error)) {
      throw new Error(`the warm pool did not fill (waited ${((performance.now() - t) / 1000).toFixed(1)} s, ready ${ready}, starting ${starting}${wp?.last_error ? `, last error: ${wp.last_error}` : ''})`)
    }
    await sleep(25)
  }
}

/** The container of an environment: by its `synthgym.env` label, else (a sandbox taken from the warm pool, labelled
 * before it had an env) by the container id Docker writes into the container's /etc/hostname. */
async function envContainer (docker: Docker, ws: WsClient, envId: string, serverId: string): Promise<{ id: string, foundBy: string }> {
  const byLabel = await docker.listContainers({ filters: { label: [`synthgym.env=${envId}`] } })
  if (byLabel.length === 1) return { id: byLabel[0]!.Id, foundBy: 'label synthgym.env' }
  const host = (await ws.step(envId, 'cat /etc/hostname')).observation.trim()
  const mine = await docker.listContainers({ filters: { label: [`synthgym.server=${serverId}`] } })
  const c = mine.filter(c => host.length >= 12 && c.Id.startsWith(host))
  if (c.length !== 1) throw new Error(`cannot find the container of ${envId}: no synthgym.env label, and its hostname ${JSON.stringify(host)} matches ${c.length} container(s) of server ${serverId}`)
  return { id: c[0]!.Id, foundBy: `hostname (no container carries synthgym.env=${envId}: a warm-pool sandbox keeps its creation labels)` }
}

/** dockerode: exec create + start (attached) + wait for the stream to end + inspect for the exit code. */
async function dockerodeExec (c: Docker.Container, cmd: string[]): Promise<void> {
  const ex = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true })
  const s = await ex.start({ hijack: true, stdin: false })
  const sink = new PassThrough()
  sink.resume()
  c.modem.demuxStream(s, sink, sink)
  await new Promise(resolve => { s.on('end', resolve); s.on('close', resolve) })
  const info = await ex.inspect()
  if (info.ExitCode !== 0 && info.ExitCode !== null) throw new Error(`dockerode exec ${cmd.join(' ')}: exit ${info.ExitCode}`)
}

/** the docker bench servers still running: the one with the warm pool, and one without (cold resets) */
const dockerServers = new Set<Server>()
/** their server ids (container label synthgym.server); the first is the warm-pool server's */
const dockerServerIds: string[] = []

/** Removes what the docker bench servers left (nothing, when they stopped cleanly); returns how many it found. */
async function sweepBenchContainers (docker: Docker): Promise<number> {
  let n = 0
  for (const id of dockerServerIds) {
    const left = await docker.listContainers({ all: true, filters: { label: [`synthgym.server=${id}`] } })
    await Promise.all(left.map(c => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})))
    n += left.length
  }
  return n
}

async function startDockerServer (config: ServerConfig, inProcess: boolean): Promise<{ server: Server, client: SynthgymClient, id: string }> {
  const server = await startBenchServer(config, inProcess)
  dockerServers.add(server)
  const id = readFileSync(join(config.dataDir, 'server-id'), 'utf8').trim()
  dockerServerIds.push(id)
  return { server, client: new SynthgymClient(server.url), id }
}

async function dockerSection (o: Options, dataDir: string, probe: DockerProbe, results: Record<string, unknown>): Promise<void> {
  const docker = probe.docker!
  const H = ['-H', `unix://${probe.socket}`]
  const dDir = join(dataDir, 'docker-server')
  const config: ServerConfig = {
    ...DEFAULTS, port: 0, dataDir: dDir, idleTimeout: 3600, backend: 'docker', image: o.image, warmPool: o.warmPool,
    poolCeiling: Math.max(DEFAULTS.poolCeiling, o.warmPool),
    capacity: Math.max(DEFAULTS.capacity, o.dockerEnvs + 16),
    dockerEngines: JSON.stringify([{ name: 'local', socketPath: probe.socket, capacity: Math.max(64, o.dockerEnvs + o.warmPool + 8) }])
  }
  const out: Record<string, unknown> = { engine: `unix://${probe.socket}`, engine_version: probe.version, image: o.image, warm_pool: o.warmPool }
  results.docker = out
  progress(`docker: starting a server with backend docker, image ${o.image}, warm pool ${o.warmPool} (data in ${dDir}), and one without a warm pool`)
  const t0 = performance.now()
  try {
    const warm = await startDockerServer(config, o.inProcess)
    const cold = await startDockerServer({ ...config, dataDir: join(dataDir, 'docker-server-nopool'), warmPool: 0 }, o.inProcess)
    const firstFill = await waitPool(warm.client, o.warmPool)
    out.server = { url: warm.server.url, server_id: warm.id, start_to_pool_full_ms: Math.round(performance.now() - t0), pool_fill_ms: Math.round(firstFill), no_pool_server_id: cold.id }
    progress(`docker: servers up, warm pool of ${o.warmPool} full after ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    await dockerStep(o, warm.client, docker, H, out)
    await dockerResets(o, warm.client, cold.client, docker, H, out)
    await manyEnvs(warm.server.url, { section: `${o.dockerEnvs} docker envs at once`, envs: o.dockerEnvs, concurrency: o.dockerConcurrency, task: 'prisonersDilemma', backend: 'docker', key: 'docker_many' }, out)
  } finally {
    progress('docker: stopping the docker servers')
    for (const s of [...dockerServers]) {
      await s.stop().catch(e => progress(`stopping a docker server: ${(e as Error).message}`))
      dockerServers.delete(s)
    }
    const left = await sweepBenchContainers(docker).catch(() => -1)
    out.containers_left_after_stop = left
    row('docker', 'containers left after the servers stopped', left, 'count', null, left > 0 ? 'removed by the benchmark' : undefined)
    if (left > 0) throw new Error(`${left} container(s) of the docker bench servers were left after they stopped (removed now)`)
  }
}

/** 4a. `true` through the server on a docker env vs `docker exec` of it on the same container; interleaved rounds. */
async function dockerStep (o: Options, client: SynthgymClient, docker: Docker, H: string[], out: Record<string, unknown>): Promise<void> {
  const S = 'docker step overhead'
  const ws = await client.ws()
  try {
    const env = await ws.create({ task: 'prisonersDilemma', backend: 'docker', max_steps: 100_000 })
    await withTimeout(ws.reset(env.env_id), 120_000, 'reset for the docker step benchmark')
    const c = await envContainer(docker, ws, env.env_id, dockerServerIds[0]!)
    progress(`docker step: container ${c.id.slice(0, 12)} (found by ${c.foundBy})`)
    const container = docker.getContainer(c.id)
    const wsTrue = async () => {
      const r = await withTimeout(ws.step(env.env_id, 'true'), 30_000, 'ws step')
      if (r.terminated || r.truncated) throw new Error('the docker step environment ended early')
    }
    const cli = async () => { await command('docker', [...H, 'exec', c.id, 'true'], 30_000) }
    const api = async () => { await withTimeout(dockerodeExec(container, ['true']), 30_000, 'dockerode exec') }
    // warm-up, then rounds that alternate the three so that other load on the machine falls on all of them alike
    await timeLoop(0, Math.min(o.warmup, 30), wsTrue)
    await timeLoop(0, 3, cli)
    await timeLoop(0, 3, api)
    const rounds = 3
    const wsMs: number[] = []; const cliMs: number[] = []; const apiMs: number[] = []
    for (let r = 0; r < rounds; r++) {
      progress(`docker step: round ${r + 1}/${rounds}: ${Math.ceil(o.dockerSteps / rounds)} WS steps, ${Math.ceil(o.dockerExecs / rounds)} \`docker exec\` (CLI), ${Math.ceil(o.dockerExecs / rounds)} dockerode execs`)
      wsMs.push(...await timeLoop(Math.ceil(o.dockerSteps / rounds), 0, wsTrue))
      cliMs.push(...await timeLoop(Math.ceil(o.dockerExecs / rounds), 0, cli))
      apiMs.push(...await timeLoop(Math.ceil(o.dockerExecs / rounds), 0, api))
    }
    await ws.closeEnv(env.env_id)
    const w = summarize(wsMs); const cl = summarize(cliMs); const ap = summarize(apiMs)
    out.step = { container: c.id, container_found_by: c.foundBy, ws_step: w, docker_exec_cli: cl, dockerode_exec: ap }
    row(S, 'WS step round trip p50 (`true`, docker env)', w.p50, 'ms', Number.isFinite(cl.p50) ? { below: cl.p50 / 20 } : null, 'target: 1/20 of the `docker exec` (CLI) p50')
    row(S, 'WS step round trip p90', w.p90, 'ms'); row(S, 'WS step round trip p99', w.p99, 'ms')
    row(S, '`docker exec ID true` (CLI) p50', cl.p50, 'ms'); row(S, '`docker exec ID true` (CLI) p90', cl.p90, 'ms')
    row(S, 'dockerode exec create+start+wait p50', ap.p50, 'ms'); row(S, 'dockerode exec create+start+wait p90', ap.p90, 'ms')
    row(S, '`docker exec` (CLI) p50 / WS step p50', cl.p50 / w.p50, 'x')
    row(S, 'dockerode exec p50 / WS step p50', ap.p50 / w.p50, 'x')
  } finally { ws.close() }
}

/** What a warm reset is made of, one Docker API call at a time, on scratch containers of the image (no server). */
async function dockerBreakdown (docker: Docker, image: string, n: number): Promise<Record<string, Summary>> {
  const make = async () => {
    const c = await docker.createContainer({
      Image: image, Cmd: ['sleep', 'infinity'], User: '1000:1000', NetworkDisabled: true,
      Labels: { 'synthgym.server': dockerServerIds[0]!, 'synthgym.bench': '1' },
      HostConfig: { NetworkMode: 'none', Init: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'] }
    })
    await c.start()
    return c
  }
  const c = await make()
  try {
    const put = async () => {
      const pack = newPack()
      pack.entry({ name: 'tmp/bench.txt', mode: 0o644, size: 2 }, 'x\n')
      pack.finalize()
      await c.putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/' })
    }
    const putArchive = summarize(await timeLoop(n, 2, put))
    const update = summarize(await timeLoop(n, 2, async () => { await c.update({ PidsLimit: 1024 }) }))
    const exec = summarize(await timeLoop(n, 2, () => dockerodeExec(c, ['true'])))
    const removeMs: number[] = []
    for (let i = 0; i < Math.min(n, 5); i++) {
      const x = await make()
      const t = performance.now()
      await x.remove({ force: true })
      removeMs.push(performance.now() - t)
    }
    return { put_archive: putArchive, update, exec, remove_force: summarize(removeMs) }
  } finally { await c.remove({ force: true }).catch(() => {}) }
}

/** 4b. reset from the warm pool (a new env, and a live env whose old container goes first) vs a cold `docker run`. */
async function dockerResets (o: Options, client: SynthgymClient, noPool: SynthgymClient, docker: Docker, H: string[], out: Record<string, unknown>): Promise<void> {
  const ws = await client.ws()
  const wsCold = await noPool.ws()
  const cold: number[] = []
  const refill: number[] = []
  const perTask: Record<string, unknown> = {}
  const coldRun = async () => {
    refill.push(await waitPool(client, o.warmPool)) // nothing of ours starting in the background while it runs
    const t = performance.now()
    await command('docker', [...H, 'run', '--rm', '--network', 'none', o.image, 'true'], 60_000)
    cold.push(performance.now() - t)
  }
  try {
    progress(`docker reset: one untimed cold \`docker run --rm --network none ${o.image} true\``)
    await command('docker', [...H, 'run', '--rm', '--network', 'none', o.image, 'true'], 60_000)
    const taskRows: [string, Summary, Summary, number, Summary][] = []
    for (const task of o.dockerResetTasks) {
      // warm-up: the task's baseline is computed (and cached) on the first reset of a task that has none
      const w = await ws.create({ task, backend: 'docker', max_steps: 10 })
      const tw = performance.now()
      await withTimeout(ws.reset(w.env_id), 300_000, `first docker reset of ${task}`)
      const warmup = performance.now() - tw
      await ws.closeEnv(w.env_id)
      progress(`docker reset ${task}: ${o.dockerResets} × (new env reset, live env reset, cold docker run, new env reset without a pool), each after the pool refilled`)
      const fresh: number[] = []; const live: number[] = []; const nopool: number[] = []
      for (let i = 0; i < o.dockerResets; i++) {
        const env = await ws.create({ task, backend: 'docker', max_steps: 10 })
        await waitPool(client, o.warmPool)
        let t = performance.now()
        await withTimeout(ws.reset(env.env_id), 60_000, `docker reset of ${task}`)
        fresh.push(performance.now() - t)
        refill.push(await waitPool(client, o.warmPool))
        t = performance.now()
        await withTimeout(ws.reset(env.env_id), 60_000, `docker reset of ${task}`)
        live.push(performance.now() - t)
        await ws.closeEnv(env.env_id)
        await coldRun()
        const e2 = await wsCold.create({ task, backend: 'docker', max_steps: 10 })
        await waitPool(client, o.warmPool)
        t = performance.now()
        await withTimeout(wsCold.reset(e2.env_id), 60_000, `docker reset of ${task} without a pool`)
        nopool.push(performance.now() - t)
        await wsCold.closeEnv(e2.env_id)
      }
      const f = summarize(fresh); const l = summarize(live); const np = summarize(nopool)
      perTask[task] = { first_reset_ms: Math.round(warmup), new_env: f, live_env: l, new_env_no_pool: np }
      taskRows.push([task, f, l, warmup, np])
    }
    progress('docker reset: breakdown: putArchive, update, exec and remove -f on scratch containers of the image')
    await waitPool(client, o.warmPool)
    const b = await dockerBreakdown(docker, o.image, 10)
    const c = summarize(cold); const r = summarize(refill)
    out.reset = { cold_docker_run: c, pool_refill_wait: r, tasks: perTask, breakdown: b }
    const S = 'docker reset'
    row(S, `cold \`docker run --rm --network none IMAGE true\` p50`, c.p50, 'ms'); row(S, 'cold `docker run` p90', c.p90, 'ms')
    const target = Number.isFinite(c.p50) ? { below: c.p50 / 5 } : null
    for (const [task, f, l, warmup, np] of taskRows) {
      const T = `docker reset ${task}`
      row(T, 'new env, from the warm pool, p50', f.p50, 'ms', target, 'target: 1/5 of the cold `docker run` p50')
      row(T, 'new env, from the warm pool, p90', f.p90, 'ms')
      row(T, 'live env (old container removed first) p50', l.p50, 'ms', target, 'target: 1/5 of the cold `docker run` p50')
      row(T, 'live env (old container removed first) p90', l.p90, 'ms')
      row(T, 'new env, server without a warm pool, p50', np.p50, 'ms')
      row(T, 'cold `docker run` p50 / new env reset p50', c.p50 / f.p50, 'x')
      row(T, 'first reset (untimed warm-up)', warmup, 'ms')
    }
    row(S, 'wait for the pool to be full again after a take p50', r.p50, 'ms')
    row(S, 'breakdown: putArchive of one small file (running container) p50', b.put_archive!.p50, 'ms')
    row(S, 'breakdown: container update (limits) p50', b.update!.p50, 'ms')
    row(S, 'breakdown: dockerode exec `true` p50', b.exec!.p50, 'ms')
    row(S, 'breakdown: remove -f of a running container p50', b.remove_force!.p50, 'ms')
  } finally { ws.close(); wsCold.close() }
}

// ---------------------------------------------------------------------------------------------------------------

async function main (): Promise<number> {
  let o: Options
  try { o = parseArgs(process.argv.slice(2)) } catch (e) { console.error((e as Error).message); return 2 }
  const dataDir = mkdtempSync(join(tmpdir(), 'synthgym-bench-'))
  const config: ServerConfig = { ...DEFAULTS, port: 0, dataDir, capacity: Math.max(DEFAULTS.capacity, o.envs + 64), idleTimeout: 3600 }
  const results: Record<string, unknown> = {}
  const failures: string[] = []
  let server: Server | null = null
  let probeDockerRef: Docker | null = null

  const finish = async (code: number | null): Promise<number> => {
    const missed = rows.filter(r => r.status === 'MISSED')
    const info = { machine: machine(), options: { ...o, json: undefined, only: [...o.only] }, server: results.server, started: new Date(Date.now() - (performance.now() - T0)).toISOString(), seconds: Math.round(performance.now() - T0) / 1000 }
    console.log('')
    console.log(`synthgym benchmarks — ${info.machine.cores} cores, ${info.machine.cpu_model}, node ${process.version}, server ${o.inProcess ? 'in-process' : 'in a child process'}${(results.docker as { engine_version?: string } | undefined)?.engine_version ? `, docker ${(results.docker as { engine_version: string }).engine_version}` : ''}, load average ${LOAD0} → ${(info.machine.load_average_1m as { at_end: number }).at_end}, ${info.seconds} s`)
    console.log('')
    console.log(table())
    console.log('')
    for (const r of rows) if (r.status === 'skipped') console.log(`SKIPPED: ${r.section}: ${r.note}`)
    for (const f of failures) console.log(`ERROR: ${f}`)
    for (const m of missed) console.log(`MISSED: ${m.section}: ${m.metric} = ${fmtValue(m.value, m.unit)}, target ${fmtTarget(m)}${m.note ? ` (${m.note})` : ''}`)
    const ok = missed.length === 0 && failures.length === 0
    console.log(ok ? 'all targets met' : `${missed.length} target(s) MISSED${failures.length ? `, ${failures.length} error(s)` : ''}`)
    const doc = { ...info, ok, missed: missed.map(m => `${m.section}: ${m.metric}`), errors: failures, table: rows, results }
    if (o.json) { writeFileSync(o.json, JSON.stringify(doc, null, 2) + '\n'); console.log(`results written to ${o.json}`) } else console.log(JSON.stringify(doc))
    if (code !== null) return code
    return ok || !o.strict ? 0 : 1
  }

  const watchdog = setTimeout(() => {
    failures.push(`the benchmark ran past its budget of ${o.budget} s and was stopped`)
    void finish(1).then(async code => {
      if (server?.child && server.child.exitCode === null) server.child.kill('SIGKILL')
      // the docker server removes its containers on SIGTERM; whatever it leaves, the benchmark removes
      await Promise.all([...dockerServers].map(async ds => {
        if (ds.child && ds.child.exitCode === null) {
          ds.child.kill('SIGTERM')
          await Promise.race([new Promise(resolve => ds.child!.once('exit', resolve)), sleep(20_000)])
          if (ds.child.exitCode === null) ds.child.kill('SIGKILL')
        } else if (!ds.child) await withTimeout(ds.stop(), 20_000, 'stopping a docker server').catch(() => {})
      }))
      if (probeDockerRef) await sweepBenchContainers(probeDockerRef).catch(() => 0)
      rmSync(dataDir, { recursive: true, force: true })
      process.exit(code)
    })
  }, o.budget * 1000)
  watchdog.unref()

  try {
    if (['step', 'reset', 'many'].some(k => o.only.has(k))) {
      progress(`starting the server (data in ${dataDir})`)
      try { server = await startBenchServer(config, o.inProcess) } catch (e) {
        failures.push(`the server did not start: ${(e as Error).message}`)
        return await finish(2)
      }
      const health = await new SynthgymClient(server.url).health() as { backends?: { local?: Record<string, unknown> } }
      results.server = { url: server.url, mode: o.inProcess ? 'in-process' : 'child process', local_backend: health.backends?.local ?? null }
      const sections: [string, string, () => Promise<void>][] = [
        ['step', 'step overhead', () => stepOverhead(server!.url, o, dataDir, results)],
        ['reset', 'reset', () => resets(server!.url, o, results)],
        ['many', `${o.envs} envs at once`, () => manyEnvs(server!.url, { section: `${o.envs} envs at once`, envs: o.envs, concurrency: o.concurrency, task: o.manyTask, key: 'many' }, results)]
      ]
      for (const [key, name, run] of sections) {
        if (!o.only.has(key)) continue
        try { await run() } catch (e) {
          failures.push(`${name}: ${(e as Error).stack ?? String(e)}`)
          row(name, 'benchmark ran', null, 'count', { atLeast: 1 }, (e as Error).message)
        }
      }
      progress('stopping the server')
      await server.stop().catch(e => progress(`stopping the server: ${(e as Error).message}`))
      server = null
    }
    if (o.only.has('docker')) {
      progress('docker: is there an engine?')
      const probe = await probeDocker(o.image)
      probeDockerRef = probe.docker
      if (!probe.ok) {
        if (o.dockerAsked) {
          failures.push(`docker: ${probe.reason}`)
          row('docker', 'benchmark ran', null, 'count', { atLeast: 1 }, probe.reason)
          if (o.only.size === 1) return await finish(2) // nothing could run
        } else {
          progress(`docker: SKIPPED: ${probe.reason}`)
          row('docker', 'SKIPPED (see below the table)', null, 'count', null, probe.reason).status = 'skipped'
          results.docker = { skipped: probe.reason }
        }
      } else {
        try { await dockerSection(o, dataDir, probe, results) } catch (e) {
          failures.push(`docker: ${(e as Error).stack ?? String(e)}`)
          row('docker', 'benchmark ran', null, 'count', { atLeast: 1 }, (e as Error).message)
        }
      }
    }
    return await finish(null)
  } finally {
    clearTimeout(watchdog)
    if (server) { progress('stopping the server'); await server.stop().catch(e => progress(`stopping the server: ${(e as Error).message}`)) }
    rmSync(dataDir, { recursive: true, force: true })
  }
}

main().then(code => { process.exitCode = code }, e => { console.error(e); process.exitCode = 2 })
