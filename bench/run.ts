// synthgym benchmarks: step overhead, reset latency, and 256 environments at once, against the targets.
//
//   npm run bench                      build, run, print the table, then the results as one JSON line
//   node dist/bench/run.js --json out.json --strict
//
// Progress goes to stderr; the table and (without --json) the JSON line go to stdout. A missed target prints
// MISSED; the exit code is 1 for a missed target only with --strict, and 2 when the benchmark could not run at all.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { DEFAULTS } from '../server/config.js'
import type { ServerConfig } from '../server/envs.js'
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
}

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
  --only LIST          run only some of: step,reset,many (default: all three)
  --budget S           give up after S seconds in all (300)`

function parseArgs (argv: string[]): Options {
  const o: Options = {
    json: null, strict: false, iterations: 500, warmup: 50, resets: 20,
    resetTasks: ['digitsClassification', 'diabetesRegression'], stepTask: 'digitsClassification',
    envs: 256, concurrency: 16, manyTask: 'digitsClassification', inProcess: false, budget: 300,
    only: new Set(['step', 'reset', 'many'])
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
        const bad = [...o.only].filter(s => !['step', 'reset', 'many'].includes(s))
        if (bad.length || o.only.size === 0) throw new Error(`--only takes step, reset and/or many (got ${bad.join(',') || 'nothing'})`)
        break
      }
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

type Status = 'ok' | 'MISSED' | 'info'
interface Row {
  section: string
  metric: string
  value: number | null
  unit: 'ms' | 's' | 'count'
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
    // tasks/environment.ts asks the shell for the open file and cwd after every step; the quotes and `$` make
    // the shell protocol run `bash -n` on the host before it.
    const stateQuery = 'printf \'%s\\n%s\' "${CURRENT_FILE:-n/a}" "$PWD"'
    sbState = summarize(await timeLoop(Math.min(o.iterations, 200), Math.min(o.warmup, 20), async () => { await sb.exec(stateQuery, { timeout: 10 }) }))
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
  row(S, 'breakdown: sandbox exec of the state query p50', sbState.p50, 'ms')
  row(S, 'breakdown: host `bash -n` check p50', syntax.p50, 'ms')
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

async function manyEnvs (url: string, o: Options, results: Record<string, unknown>): Promise<void> {
  const S = `${o.envs} envs at once`
  const client = new SynthgymClient(url)
  const sockets: WsClient[] = await Promise.all(Array.from({ length: o.concurrency }, () => client.ws()))
  const ids: (string | null)[] = new Array(o.envs).fill(null)
  const owner: number[] = new Array(o.envs).fill(0)
  const openMs: number[] = []
  const errors: string[] = []
  try {
    progress(`${S}: creating and resetting ${o.envs} ${o.manyTask} environments, ${o.concurrency} at a time`)
    let next = 0
    const t0 = performance.now()
    await Promise.all(sockets.map(async (ws, w) => {
      for (let i = next++; i < o.envs; i = next++) {
        const t = performance.now()
        try {
          const env = await withTimeout(ws.create({ task: o.manyTask, max_steps: 10 }), 60_000, 'create')
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
    results.many = {
      task: o.manyTask, envs: o.envs, concurrency: o.concurrency, opened: openMs.length, server_open_count: health.envs?.open ?? null,
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
    if (results.many) (results.many as Record<string, unknown>).close_all_s = Math.round(closeMs) / 1000
    if (live.length) row(S, `time to close all (${o.concurrency} at a time)`, closeMs / 1000, 's')
    for (const s of sockets) s.close()
  }
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

  const finish = async (code: number | null): Promise<number> => {
    const missed = rows.filter(r => r.status === 'MISSED')
    const info = { machine: machine(), options: { ...o, json: undefined, only: [...o.only] }, server: results.server, started: new Date(Date.now() - (performance.now() - T0)).toISOString(), seconds: Math.round(performance.now() - T0) / 1000 }
    console.log('')
    console.log(`synthgym benchmarks — ${info.machine.cores} cores, ${info.machine.cpu_model}, node ${process.version}, server ${o.inProcess ? 'in-process' : 'in a child process'}, load average ${LOAD0} → ${(info.machine.load_average_1m as { at_end: number }).at_end}, ${info.seconds} s`)
    console.log('')
    console.log(table())
    console.log('')
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
    void finish(1).then(code => {
      if (server?.child && server.child.exitCode === null) server.child.kill('SIGKILL')
      rmSync(dataDir, { recursive: true, force: true })
      process.exit(code)
    })
  }, o.budget * 1000)
  watchdog.unref()

  try {
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
      ['many', `${o.envs} envs at once`, () => manyEnvs(server!.url, o, results)]
    ]
    for (const [key, name, run] of sections) {
      if (!o.only.has(key)) continue
      try { await run() } catch (e) {
        failures.push(`${name}: ${(e as Error).stack ?? String(e)}`)
        row(name, 'benchmark ran', null, 'count', { atLeast: 1 }, (e as Error).message)
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
