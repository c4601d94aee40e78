// npm run load: hold many WebSocket sessions with keep-alive pings while mixed create/reset/step/evaluate traffic
// runs on live sandboxes for a while; report p50/p99 per op, errors, and the server's memory and file descriptors
// over time (flat means no leak). Then push past capacity (every extra create must answer CAPACITY_REACHED), and
// measure host memory per idle local sandbox at 0, 256 and 1,024 open.
//
//   node dist/bench/load.js [--minutes 10] [--sessions 1024] [--sandboxes 64] [--idle 0,256,1024] [--json FILE]
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { SynthgymClient, SynthgymError, type WsClient } from '../clients/client.js'
import { DEFAULTS, serverId, type ServerConfig } from '../server/config.js'
import { progressTo, startClock } from './report.js'
import { startBenchServer, type Server } from './start-server.js'
import { summarize, type Summary } from './stats.js'
import { withTimeout } from './timing.js'

interface LoadOptions { minutes: number, sessions: number, sandboxes: number, idle: number[], json?: string }

function parse (argv: string[]): LoadOptions {
  const o: LoadOptions = { minutes: 10, sessions: 1024, sandboxes: 64, idle: [0, 256, 1024] }
  for (let i = 0; i < argv.length; i++) {
    const [k, v] = [argv[i], argv[i + 1]]
    if (v === undefined) throw new Error(`${k} needs a value`)
    if (k === '--minutes') o.minutes = Number(v)
    else if (k === '--sessions') o.sessions = Number(v)
    else if (k === '--sandboxes') o.sandboxes = Number(v)
    else if (k === '--idle') o.idle = v.split(',').map(Number)
    else if (k === '--json') o.json = v
    else throw new Error(`unknown option ${k}; known: --minutes --sessions --sandboxes --idle --json`)
    i++
  }
  for (const [k, x] of Object.entries({ minutes: o.minutes, sessions: o.sessions, sandboxes: o.sandboxes })) {
    if (!(x > 0)) throw new Error(`--${k} must be a positive number`)
  }
  return o
}

/** The server process's resident memory (MiB) and open file descriptors. */
function processUse (pid: number): { rss_mb: number, fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024
  let fds = NaN
  try { fds = readdirSync(`/proc/${pid}/fd`).length } catch {}
  return { rss_mb: Math.round(rss), fds }
}
/** Host memory in use (MiB): what every process and the page cache's unreclaimable part hold. */
function hostUsedMb (): number {
  const m = readFileSync('/proc/meminfo', 'utf8')
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(m)?.[1] ?? NaN)
  return (kb('MemTotal') - kb('MemAvailable')) / 1024
}

/** Proportional memory (MiB, Pss) of every process in the sandbox cgroups of one server (v1 pids tree or v2). */
function sandboxPssMb (owner: string): { mb: number, processes: number } {
  const roots = ['/sys/fs/cgroup/pids/synthgym', '/sys/fs/cgroup/synthgym'].map(r => join(r, owner))
  let kb = 0
  let processes = 0
  const walk = (dir: string): void => {
    let entries
    try { entries = readdirSync(dir, { withFileTypes: true }) } catch { return }
    for (const e of entries) if (e.isDirectory()) walk(join(dir, e.name))
    let pids: string[] = []
    try { pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean) } catch {}
    for (const pid of pids) {
      try {
        kb += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0)
        processes++
      } catch {}
    }
  }
  for (const r of roots) walk(r)
  return { mb: kb / 1024, processes }
}

const ACTIONS = [
  'echo hello',
  'python3 -c "print(sum(range(1000)))"',
  'ls -la',
  'cat strategy.py | head -5'
]

async function main (): Promise<void> {
  const o = parse(process.argv.slice(2))
  const clock = startClock()
  const progress = progressTo(clock)
  const dataDir = mkdtempSync(join(tmpdir(), 'synthgym-load-'))
  const capacity = o.sandboxes + 8
  const config: ServerConfig = { ...DEFAULTS, port: 0, dataDir, capacity, idleTimeout: 3600, warmPool: 0 }
  let server: Server | null = null
  const sockets: WsClient[] = []
  const result: Record<string, unknown> = { options: o }
  try {
    server = await startBenchServer(config, false, progress)
    const pid = server.child!.pid!
    const client = new SynthgymClient(server.url)

    progress(`opening ${o.sessions} WebSocket sessions`)
    for (let i = 0; i < o.sessions; i += 64) {
      const batch = await Promise.all(Array.from({ length: Math.min(64, o.sessions - i) }, () => client.ws()))
      sockets.push(...batch)
    }
    const errors: Record<string, number> = {}
    const err = (what: string, e: unknown) => {
      const code = e instanceof SynthgymError ? e.code : (e as Error).message.slice(0, 60)
      errors[`${what}: ${code}`] = (errors[`${what}: ${code}`] ?? 0) + 1
    }
    const lat: Record<string, number[]> = { ping: [], create: [], reset: [], step: [], evaluate: [], close: [] }
    const timed = async <T>(op: string, p: Promise<T>): Promise<T> => {
      const t = performance.now()
      const v = await withTimeout(p, 180_000, op)
      lat[op]!.push(performance.now() - t)
      return v
    }
    let sent = 0
    let answered = 0
    const count = async <T>(op: string, p: () => Promise<T>): Promise<T | undefined> => {
      sent++
      try { const v = await timed(op, p()); answered++; return v } catch (e) { answered++; err(op, e); return undefined }
    }

    const end = Date.now() + o.minutes * 60_000
    const samples: Array<{ t_s: number, rss_mb: number, fds: number, sessions: number }> = []
    const sample = () => samples.push({ t_s: Math.round((performance.now() - clock.t0) / 1000), ...processUse(pid), sessions: sockets.length })
    sample()
    const sampler = setInterval(sample, 10_000)

    // keep-alive: every session pings every 15 s, spread over the interval
    const pingers = sockets.map((ws, i) => {
      const timer = setInterval(() => { void count('ping', () => ws.request('ping')) }, 15_000)
      setTimeout(() => { void count('ping', () => ws.request('ping')) }, (i * 15_000) / sockets.length)
      return timer
    })

    progress(`${o.sandboxes} workers: create/reset/step/evaluate/close for ${o.minutes} min`)
    let episodes = 0
    await Promise.all(Array.from({ length: o.sandboxes }, async (_, w) => {
      const ws = sockets[w % sockets.length]!
      while (Date.now() < end) {
        const env = await count('create', () => ws.create({ task: 'prisonersDilemma', max_steps: 1000 }))
        if (!env) { await new Promise(resolve => setTimeout(resolve, 1000)); continue }
        for (let r = 0; r < 3 && Date.now() < end; r++) {
          if (!await count('reset', () => ws.reset(env.env_id))) break
          episodes++
          for (let s = 0; s < 10 && Date.now() < end; s++) {
            await count('step', () => ws.step(env.env_id, ACTIONS[(w + s) % ACTIONS.length]!))
          }
          await count('evaluate', () => ws.evaluate(env.env_id))
        }
        await count('close', () => ws.closeEnv(env.env_id))
      }
    }))
    clearInterval(sampler)
    for (const p of pingers) clearInterval(p)
    sample()

    progress('past capacity: every create beyond it must answer CAPACITY_REACHED')
    const held: string[] = []
    let refused = 0
    let other = 0
    for (let i = 0; i < capacity + 16; i++) {
      try { held.push((await client.createEnv({ task: 'prisonersDilemma' })).env_id) } catch (e) {
        if (e instanceof SynthgymError && e.code === 'CAPACITY_REACHED') refused++
        else other++
      }
    }
    const alive = await client.health().then(() => true, () => false)
    await Promise.all(held.map(id => client.closeEnv(id).catch(() => undefined)))

    result.load = {
      minutes: o.minutes, sessions: sockets.length, workers: o.sandboxes, episodes, sent, answered, lost: sent - answered,
      errors,
      latency_ms: Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, summarize(v)])) as Record<string, Summary>,
      memory: samples,
      rss_growth_mb: samples.length > 2 ? samples[samples.length - 1]!.rss_mb - samples[1]!.rss_mb : null,
      fd_growth: samples.length > 2 ? samples[samples.length - 1]!.fds - samples[1]!.fds : null,
      past_capacity: { asked: capacity + 16, accepted: held.length, capacity_reached: refused, other_errors: other, server_alive: alive }
    }
    for (const s of sockets) s.close()
    sockets.length = 0
    await server.stop()
    server = null

    result.idle = await idleMemory(o.idle, dataDir, progress)
  } finally {
    for (const s of sockets) s.close()
    if (server) await server.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
  const text = JSON.stringify(result, null, 2)
  if (o.json) writeFileSync(o.json, text + '\n')
  console.log(text)
}

/** Host memory per idle local sandbox: open N environments (reset), measure their processes' Pss, close. */
async function idleMemory (counts: number[], dataDir: string, progress: (s: string) => void): Promise<unknown[]> {
  const out: unknown[] = []
  for (const n of counts) {
    const config: ServerConfig = { ...DEFAULTS, port: 0, dataDir: join(dataDir, `idle-${n}`), capacity: n + 8, idleTimeout: 3600, warmPool: 0 }
    const server = await startBenchServer(config, false, progress)
    try {
      const client = new SynthgymClient(server.url)
      await new Promise(resolve => setTimeout(resolve, 1000))
      const before = hostUsedMb()
      const serverBefore = processUse(server.child!.pid!).rss_mb
      progress(`idle memory: opening ${n} local sandboxes`)
      const ids: string[] = []
      let next = 0
      await Promise.all(Array.from({ length: Math.min(16, n) }, async () => {
        for (let i = next++; i < n; i = next++) {
          const env = await client.createEnv({ task: 'prisonersDilemma' })
          await client.reset(env.env_id)
          ids.push(env.env_id)
        }
      }))
      await new Promise(resolve => setTimeout(resolve, 2000))
      const after = hostUsedMb()
      const serverAfter = processUse(server.child!.pid!).rss_mb
      const pss = sandboxPssMb(serverId(config))
      out.push({
        open: ids.length,
        sandbox_pss_mb: Math.round(pss.mb),
        sandbox_processes: pss.processes,
        per_sandbox_pss_mb: ids.length ? Math.round((pss.mb / ids.length) * 100) / 100 : null,
        // the host's own count, noisy on a shared machine: what else runs moves it too
        host_used_mb: Math.round(after - before),
        server_rss_mb: serverAfter,
        server_rss_growth_mb: serverAfter - serverBefore
      })
      progress(`idle memory: ${n} open: host +${Math.round(after - before)} MiB`)
      await Promise.all(ids.map(id => client.closeEnv(id)))
    } finally { await server.stop() }
  }
  return out
}

main().catch(e => { console.error((e as Error).stack ?? String(e)); process.exit(1) })
