// The realistic action mix (issue 18): what agents send, not `true`. MLGym's tools with real arguments, shell lines
// with pipes, `$VAR`, `$(…)` and both quotes, a `python -c` one-liner and a 200-line heredoc; each timed through the
// server (WS and HTTP), in a raw persistent bash with the same tools sourced, and through the two floor relays (a bare
// relay to such a bash, over WebSocket and over HTTP, and one to our sandbox's shell: bench/floor.ts), interleaved
// action by action.
// Then `--mix-envs` environments step through the mix at once: steps per CPU-second, the server's and the shells'.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { SynthgymClient, type WsClient } from '../clients/client.js'
import { localBackendInfo } from '../sandbox/local.js'
import { ansiQuote } from '../sandbox/shell.js'
import { toolsDir, toolsInitScript } from '../sandbox/tools.js'
import { guardMultilineInput } from '../tasks/environment.js'
import type { BenchContext } from './context.js'
import { stepEnvs } from './envs.js'
import { round3, summarize, type Summary } from './stats.js'
import { timeLoop, withTimeout } from './timing.js'

const NOTES = Array.from({ length: 20 }, (_, i) => `line ${i + 1}: some "quoted" notes, it's plain text`).join('\n') + '\n'
const HEREDOC = Array.from({ length: 200 }, (_, i) => `row ${i}\t"value" $NOT_EXPANDED \`not run\` it's ${i * 7}`).join('\n')

/** The files the mix works on, under bench_mix/ of the working directory (the same in the env and in raw bash). */
export const MIX_SETUP = `mkdir -p bench_mix && printf '%s' ${ansiQuote(NOTES)} > bench_mix/notes.txt && ` +
  "printf 'def f(x):\\n    return x + 1\\n' > bench_mix/model.py"

/** [name, action]: the mix, in the order it is sent. */
export const MIX: [string, string][] = [
  ['open with a path', 'open bench_mix/notes.txt'],
  ['edit, replacement with quotes', 'edit 2:3\nline 2: "double" and \'single\' quotes, $HOME and `ticks` stay text\n' +
    'line 3: it\'s replaced with the same two lines every time\nend_of_edit'],
  ['search_dir with a pattern', 'search_dir "quoted" bench_mix'],
  ['pipes', 'ls -la bench_mix | grep -v total | sort -k5 -n | tail -2'],
  ['$VAR and double quotes', 'N=3; echo "n=$N in $PWD" | tr a-z A-Z'],
  ['$(…) nested', 'echo "lines: $(wc -l < bench_mix/notes.txt), files: $(ls bench_mix | wc -l)"'],
  ['single quotes and sed', "grep -n 'quoted' bench_mix/notes.txt | sed 's/quoted/QUOTED/' | head -3"],
  ['python -c one-liner', "python -c 'import sys; print(sum(range(1000)), sys.version_info[0])'"],
  ['200-line heredoc', `cat > bench_mix/big.txt <<'EOF'\n${HEREDOC}\nEOF\nwc -l < bench_mix/big.txt`]
]

/**
 * The control: `true`, sent through every layer in the same rounds, after the mix's actions, and kept out of the
 * mix's figures. The issue compared the mix with `true` "in the same kind of run" (6.9× its overhead over HTTP when
 * filed); the mix over the control says what an action's content costs beyond any step's, in the same conditions.
 */
export const CONTROL: [string, string] = ['`true` (the control)', 'true']

/** What each action goes through, in this order, each round. */
const LAYERS = ['raw', 'floor', 'hfloor', 'sfloor', 'ws', 'http'] as const
type Layer = typeof LAYERS[number]
/** What the mix reports: each step minus its twin of the same round, [layer, minus layer]. */
const DIFFS = {
  ws_overhead: ['ws', 'raw'],
  http_overhead: ['http', 'raw'],
  floor_overhead: ['floor', 'raw'],
  ws_over_floor: ['ws', 'floor'],
  http_floor_overhead: ['hfloor', 'raw'],
  http_over_floor: ['http', 'hfloor'],
  sandboxed_floor_overhead: ['sfloor', 'raw'],
  ws_over_sandboxed_floor: ['ws', 'sfloor']
} as const
type Diff = keyof typeof DIFFS

/** bash's syntax-check messages: a mix action that shows one was not run */
const REJECTED = /syntax error|unexpected EOF/

/** A raw persistent bash with MLGym's tools sourced, in a directory set up like the env's: the floor of each action. */
export class RawShell {
  private p: ChildProcess
  private buf = ''
  private waiter: ((out: string) => void) | null = null
  private readonly marker = `__BENCH_${randomBytes(6).toString('hex')}__`

  constructor (cwd: string) {
    // `python` is the interpreter the sandbox runs (not a version manager's shim, 50 ms slower per start)
    const python = localBackendInfo().python
    const PATH = python ? `${dirname(python)}:${process.env.PATH}` : process.env.PATH
    this.p = spawn('bash', ['--noprofile', '--norc', '-s'], { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PATH } })
    this.p.stdout!.setEncoding('utf8')
    this.p.stdout!.on('data', (d: string) => {
      this.buf += d
      const at = this.buf.indexOf(this.marker + '\n')
      if (this.waiter && at >= 0) {
        const out = this.buf.slice(0, at)
        this.buf = ''
        const w = this.waiter; this.waiter = null; w(out)
      }
    })
    this.p.stdin!.write('exec 2>&1\n' + toolsInitScript('mlgym', toolsDir()))
  }

  /** the action as the env hands it to its shell (multi-line tool calls get their heredoc), then a marker */
  run (action: string): Promise<string> {
    return withTimeout(new Promise<string>(resolve => {
      this.waiter = resolve
      this.p.stdin!.write(`${guardMultilineInput(action)}\necho ${this.marker}\n`)
    }), 30_000, 'raw bash')
  }

  close (): void { this.p.stdin!.end() }
}

/**
 * The floor relay (bench/floor.ts) in a child process, a WebSocket to it and our client for its HTTP: `run` and
 * `runHttp` time like a step over each.
 */
export class FloorRelay {
  private next = 0
  private readonly waiting = new Map<number, (out: string) => void>()
  private readonly http: SynthgymClient
  private constructor (private readonly child: ChildProcess, private readonly socket: WebSocket, port: number) {
    this.http = new SynthgymClient(`http://127.0.0.1:${port}`)
    socket.on('message', (m: Buffer) => {
      const f = JSON.parse(m.toString()) as { id: number, observation: string }
      this.waiting.get(f.id)?.(f.observation)
      this.waiting.delete(f.id)
    })
  }

  static async start (cwd: string, to: 'raw' | 'sandbox', task: string): Promise<FloorRelay> {
    const script = fileURLToPath(new URL('./floor.js', import.meta.url))
    const child = spawn(process.execPath, [script, cwd, to, task], { stdio: ['pipe', 'pipe', 'inherit'] })
    try {
      const port = await withTimeout(new Promise<number>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', l => resolve((JSON.parse(l) as { port: number }).port))
        child.once('exit', code => reject(new Error(`the floor relay exited with code ${code} before it listened`)))
      }), 30_000, 'starting the floor relay')
      const socket = new WebSocket(`ws://127.0.0.1:${port}`)
      await withTimeout(new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) }),
        30_000, 'connecting to the floor relay')
      return new FloorRelay(child, socket, port)
    } catch (e) { child.kill(); throw e }
  }

  run (action: string): Promise<string> {
    const id = ++this.next
    return withTimeout(new Promise<string>(resolve => {
      this.waiting.set(id, resolve)
      this.socket.send(JSON.stringify({ id, action }))
    }), 60_000, 'floor relay')
  }

  /** the same over HTTP, through the client's `step` (node:http, its keep-alive agent) as the server's steps are */
  async runHttp (action: string): Promise<string> {
    const r = await withTimeout(this.http.step('floor', action), 60_000, 'floor relay over HTTP')
    return r.observation
  }

  close (): void { this.socket.close(); this.child.stdin!.end() }
}

/** CPU seconds (user + system, with the waited-for children) of a process and its descendants now alive. */
function treeCpu (root: number): number {
  const tick = 100 // USER_HZ on Linux
  const parent = new Map<number, number>()
  const cpu = new Map<number, number>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      parent.set(Number(d), Number(f[1]))
      cpu.set(Number(d), (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / tick)
    } catch {} // gone meanwhile
  }
  let sum = 0
  for (const [pid, s] of cpu) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) { sum += s; break }
    }
  }
  return sum
}

/** The episode store's step appends so far, from the server's /metrics: seconds in all and how many (null: none). */
async function storeAppends (url: string): Promise<{ seconds: number, count: number } | null> {
  const text = await fetch(`${url}/metrics`).then(r => r.text()).catch(() => '')
  const metric = 'synthgym_store_write_duration_seconds'
  const read = (suffix: string) =>
    Number(new RegExp(`^${metric}_${suffix}\\{op="append_step"\\} (\\S+)$`, 'm').exec(text)?.[1])
  const [seconds, count] = [read('sum'), read('count')]
  return Number.isFinite(seconds) && Number.isFinite(count) ? { seconds, count } : null
}

function processCpu (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

/** One env (WS and HTTP), a raw bash and the two floors; each round, each action and the control through each layer in
 * turn (LAYERS); DIFFS are each step minus its twin of the same round. */
export async function mixOverhead (ctx: BenchContext, url: string): Promise<Record<string, unknown>> {
  const { opts: o, report, progress } = ctx
  const S = 'realistic mix'
  const dir = join(ctx.dataDir, 'raw-mix')
  mkdirSync(dir, { recursive: true })
  const raw = new RawShell(dir)
  mkdirSync(join(dir, 'floor'), { recursive: true })
  const floor = await FloorRelay.start(join(dir, 'floor'), 'raw', o.stepTask)
  const sfloor = await FloorRelay.start(join(dir, 'floor'), 'sandbox', o.stepTask).catch(e => { floor.close(); raw.close(); throw e })
  const client = new SynthgymClient(url)
  const ws = await client.ws()
  try {
    await raw.run(MIX_SETUP)
    await floor.run(MIX_SETUP)
    await sfloor.run(MIX_SETUP)
    const envs = await stepEnvs(client, ws, { task: o.stepTask, max_steps: 100_000 }, 300_000, 'reset for the mix')
    await ws.step(envs.ws, MIX_SETUP)
    await client.step(envs.http, MIX_SETUP)
    const time = async (f: () => Promise<unknown>): Promise<number> => { const t = performance.now(); await f(); return performance.now() - t }
    const sent = [...MIX, CONTROL]
    const per = sent.map(() => Object.fromEntries(LAYERS.map(l => [l, [] as number[]])) as Record<Layer, number[]>)
    const blank = () => Object.fromEntries(Object.keys(DIFFS).map(k => [k, [] as number[]])) as Record<Diff, number[]>
    const mix = blank()
    const control = blank()
    // every layer's code warm as in section 1 (a fresh server's, or relay's, steps are slower until V8 has
    // optimized them), then 3 rounds of the mix
    progress(`${S}: warm-up: ${o.warmup} round trips of \`true\` through each layer`)
    await timeLoop(0, o.warmup, async () => {
      await raw.run('true'); await floor.run('true'); await floor.runHttp('true'); await sfloor.run('true')
      await ws.step(envs.ws, 'true'); await client.step(envs.http, 'true')
    })
    progress(`${S}: ${MIX.length} actions and the control × ${o.mixRounds} rounds, each raw, the floor relays (WS, HTTP, sandboxed), WS, HTTP in turn (+ 3 warm-up rounds)`)
    let appends: Awaited<ReturnType<typeof storeAppends>> = null
    for (let r = -3; r < o.mixRounds; r++) {
      if (r === 0) appends = await storeAppends(url)
      for (const [i, [, action]] of sent.entries()) {
        const t = {
          raw: await time(() => raw.run(action)),
          floor: await time(() => floor.run(action)),
          hfloor: await time(() => floor.runHttp(action)),
          sfloor: await time(() => sfloor.run(action)),
          ws: await time(async () => {
            const s = await withTimeout(ws.step(envs.ws, action), 60_000, 'ws step')
            if (REJECTED.test(s.observation)) throw new Error(`mix action rejected: ${s.observation}`)
          }),
          http: await time(() => withTimeout(client.step(envs.http, action), 60_000, 'http step'))
        }
        if (r < 0) continue
        for (const layer of LAYERS) per[i]![layer].push(t[layer])
        const into = i === MIX.length ? control : mix
        for (const [k, [a, b]] of Object.entries(DIFFS) as [Diff, [Layer, Layer]][]) into[k].push(t[a] - t[b])
      }
    }
    const after = await storeAppends(url)
    await ws.closeEnv(envs.ws)
    await client.closeEnv(envs.http)
    const summaries = (d: Record<Diff, number[]>) =>
      Object.fromEntries(Object.entries(d).map(([k, v]) => [k, summarize(v)])) as Record<Diff, Summary>
    const m = summaries(mix)
    const c = summaries(control)
    const wo = m.ws_overhead; const ho = m.http_overhead
    report.row(S, 'WS overhead over raw bash p50 (each step − its raw twin)', wo.p50, 'ms', { below: 0.5 })
    report.row(S, 'WS overhead over raw bash p99', wo.p99, 'ms')
    report.row(S, 'HTTP overhead over raw bash p50', ho.p50, 'ms', { below: 1.0 })
    report.row(S, 'HTTP overhead over raw bash p99', ho.p99, 'ms')
    report.row(S, 'floor: a bare WS relay to a bare bash (bench/floor.ts), overhead over raw bash p50', m.floor_overhead.p50, 'ms')
    // what the server, the sandbox and the protocol add to the least any relay costs here (each step − its floor twin)
    report.row(S, 'WS step over the floor relay p50 (the server, sandbox and protocol)', m.ws_over_floor.p50, 'ms')
    report.row(S, 'HTTP floor: the same bare relay over HTTP (our client\'s node:http), overhead over raw bash p50',
      m.http_floor_overhead.p50, 'ms')
    report.row(S, 'HTTP step over the HTTP floor p50 (the server, sandbox and protocol)', m.http_over_floor.p50, 'ms')
    report.row(S, 'sandboxed floor: the bare relay to our sandbox\'s shell, run as the env runs it, overhead over raw bash p50',
      m.sandboxed_floor_overhead.p50, 'ms')
    // the server's own layers: validation, the environment, the reaper's looks, the store, metrics, the answer
    report.row(S, 'WS step over the sandboxed floor p50 (the server\'s own layers)', m.ws_over_sandboxed_floor.p50, 'ms')
    // the largest of those layers: each step is recorded before it is answered (its time from the server's /metrics)
    const append = appends && after && after.count > appends.count
      ? round3((after.seconds - appends.seconds) / (after.count - appends.count) * 1000) : null
    if (append !== null) {
      report.row(S, 'of those, the episode store\'s append of the step, mean (the server\'s /metrics)', append, 'ms')
    }
    report.row(S, `${CONTROL[0]}, sent in the same rounds: WS overhead over raw bash p50`, c.ws_overhead.p50, 'ms', null,
      `HTTP ${c.http_overhead.p50} ms`)
    report.row(S, 'mix overhead p50 / the control\'s, WS (issue 18 as filed: 6.9, HTTP)', round3(wo.p50 / c.ws_overhead.p50), 'x',
      null, `HTTP ${round3(ho.p50 / c.http_overhead.p50)}`)
    const actions: Record<string, Record<Layer, Summary>> = {}
    for (const [i, [name]] of MIX.entries()) {
      const x = Object.fromEntries(LAYERS.map(l => [l, summarize(per[i]![l])])) as Record<Layer, Summary>
      actions[name] = x
      report.row(S, `${name}: raw p50 ${x.raw.p50.toFixed(2)} ms; WS − raw p50`, round3(x.ws.p50 - x.raw.p50), 'ms', null,
        `HTTP − raw p50 ${round3(x.http.p50 - x.raw.p50)} ms; floor − raw p50 ${round3(x.floor.p50 - x.raw.p50)} ms; ` +
        `HTTP floor − raw p50 ${round3(x.hfloor.p50 - x.raw.p50)} ms; ` +
        `sandboxed floor − raw p50 ${round3(x.sfloor.p50 - x.raw.p50)} ms`)
    }
    return { rounds: o.mixRounds, ...m, actions, control: c, store_append_mean_ms: append }
  } finally { ws.close(); raw.close(); floor.close(); sfloor.close() }
}

/**
 * `--mix-envs` envs open at once, each stepping through the mix once, all at the same time: steps per CPU-second of
 * the server process and of everything under it (server, sandboxes' shells and their commands).
 */
export async function mixThroughput (ctx: BenchContext, url: string, serverPid: number | null): Promise<Record<string, unknown>> {
  const { opts: o, report, progress } = ctx
  const S = `realistic mix, ${o.mixEnvs} envs at once`
  const client = new SynthgymClient(url)
  // fewer opens at a time than section 3: this is about stepping, and a loaded machine fails sandbox starts
  const sockets: WsClient[] = await Promise.all(Array.from({ length: Math.min(o.concurrency, 8) }, () => client.ws()))
  const ids: string[] = []
  const errors: string[] = []
  /** the envs that opened and set up: these step */
  const opened: string[] = []
  try {
    progress(`${S}: opening ${o.mixEnvs} envs, ${sockets.length} at a time`)
    let next = 0
    await Promise.all(sockets.map(async ws => {
      while (next < o.mixEnvs) {
        next++
        try {
          const env = await withTimeout(ws.create({ task: o.manyTask, max_steps: 1000 }), 60_000, 'create')
          ids.push(env.env_id)
          await withTimeout(ws.reset(env.env_id), 120_000, 'reset')
          await withTimeout(ws.step(env.env_id, MIX_SETUP), 60_000, 'setup step')
          opened.push(env.env_id)
        } catch (e) { errors.push((e as Error).message) }
      }
    }))
    if (errors.length) progress(`${S}: ${errors.length} envs did not open: ${errors[0]}`)
    const ready = opened.length
    progress(`${S}: every env steps through the mix (${MIX.length} actions) at once`)
    const cpu0 = serverPid ? { server: processCpu(serverPid), tree: treeCpu(serverPid) } : null
    const t0 = performance.now()
    const stepMs: number[] = []
    let failed = 0
    await Promise.all(opened.map(async (id, i) => {
      const ws = sockets[i % sockets.length]!
      for (const [, action] of MIX) {
        const t = performance.now()
        const r = await withTimeout(ws.step(id, action), 300_000, 'step')
        stepMs.push(performance.now() - t)
        if (REJECTED.test(r.observation) || r.terminated) failed++
      }
    }))
    const wall = (performance.now() - t0) / 1000
    const cpu1 = serverPid ? { server: processCpu(serverPid), tree: treeCpu(serverPid) } : null
    const steps = stepMs.length
    const s = summarize(stepMs)
    report.row(S, 'envs stepping (opened)', ready, 'count', { atLeast: o.mixEnvs }, errors[0])
    report.row(S, 'steps answered', steps - failed, 'count', { atLeast: ready * MIX.length })
    report.row(S, 'steps per second (wall, this machine)', round3(steps / wall), 'count')
    report.row(S, 'step latency p50 under this load', s.p50, 'ms')
    report.row(S, 'step latency p99 under this load', s.p99, 'ms')
    let cpu: Record<string, number> | null = null
    if (cpu0 && cpu1) {
      const server = cpu1.server - cpu0.server
      // the tree's live processes only: a shell's finished commands count through its waited-for children
      const tree = Math.max(server, cpu1.tree - cpu0.tree)
      cpu = { server_s: round3(server), all_s: round3(tree), wall_s: round3(wall) }
      report.row(S, 'steps per CPU-second of the server process (what one core sustains)', Math.round(steps / server), 'count')
      report.row(S, 'steps per CPU-second, server + sandboxes (one core, all in)', Math.round(steps / tree), 'count')
      report.row(S, 'server CPU per step', round3(server * 1000 / steps), 'ms')
      report.row(S, 'sandbox CPU per step (shells and what they run)', round3((tree - server) * 1000 / steps), 'ms')
    }
    return { envs: ready, open_errors: errors.slice(0, 10), steps, failed, wall_s: round3(wall), step_ms: s, cpu }
  } finally {
    let next = 0
    await Promise.all(sockets.map(async ws => {
      for (let k = next++; k < ids.length; k = next++) await withTimeout(ws.closeEnv(ids[k]!), 60_000, 'close').catch(() => {})
    }))
    for (const s of sockets) s.close()
  }
}

