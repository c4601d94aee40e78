// Resource limits for the local backend through the kernel's cgroups (v2, else v1), where this process may write them.
import {
  existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync, accessSync, constants, readFileSync, openSync, readSync, closeSync
} from 'node:fs'
import { join } from 'node:path'
import type { SandboxLimits } from './types.js'

const ROOT = '/sys/fs/cgroup'
export type CgroupMode = 'cgroup-v2' | 'cgroup-v1' | 'none'

function writable (dir: string): boolean {
  try { accessSync(dir, constants.W_OK); return true } catch { return false }
}

let detected: CgroupMode | undefined
export function cgroupMode (): CgroupMode {
  if (detected) return detected
  detected = 'none'
  try {
    if (existsSync(join(ROOT, 'cgroup.controllers')) && writable(ROOT)) {
      const base = join(ROOT, 'synthgym')
      mkdirSync(base, { recursive: true })
      const have = readFileSync(join(ROOT, 'cgroup.controllers'), 'utf8')
      const want = ['memory', 'pids', 'cpu'].filter(c => have.includes(c)).map(c => '+' + c).join(' ')
      writeFileSync(join(ROOT, 'cgroup.subtree_control'), want)
      writeFileSync(join(base, 'cgroup.subtree_control'), want)
      detected = 'cgroup-v2'
    } else if (['pids', 'memory', 'cpu'].every(c => writable(join(ROOT, c)))) {
      detected = 'cgroup-v1'
    }
  } catch { detected = 'none' }
  return detected
}

/** The folders under which an owner's sandboxes have their cgroups (one per controller on v1). */
function ownerDirs (owner: string): string[] {
  const mode = cgroupMode()
  if (mode === 'cgroup-v2') return [join(ROOT, 'synthgym', owner)]
  if (mode === 'cgroup-v1') return CONTROLLERS_V1.map(c => join(ROOT, c, 'synthgym', owner))
  return []
}
const CONTROLLERS_V1 = ['pids', 'memory', 'cpu']

/**
 * Creates the sandbox's cgroup(s) with its limits, under its owner's folder; returns the cgroup.procs files a
 * process joins by writing its pid.
 */
export function createCgroup (id: string, limits: SandboxLimits, owner = 'default'): string[] {
  const mode = cgroupMode()
  if (mode === 'none') return []
  const mem = limits.memoryMb ? String(limits.memoryMb * 1024 * 1024) : null
  const quota = limits.cpus ? String(Math.round(limits.cpus * 100000)) : null
  if (mode === 'cgroup-v2') {
    const parent = ownerDirs(owner)[0]!
    if (!existsSync(parent)) {
      mkdirSync(parent, { recursive: true })
      // v2 hands controllers down one level at a time
      writeFileSync(join(parent, 'cgroup.subtree_control'), readFileSync(join(ROOT, 'synthgym', 'cgroup.subtree_control'), 'utf8').trim().split(/\s+/).filter(Boolean).map(c => '+' + c).join(' '))
    }
    const dir = join(parent, id)
    mkdirSync(dir, { recursive: true })
    if (limits.pids) writeFileSync(join(dir, 'pids.max'), String(limits.pids))
    if (mem) { writeFileSync(join(dir, 'memory.max'), mem); try { writeFileSync(join(dir, 'memory.swap.max'), '0') } catch {} }
    if (quota) writeFileSync(join(dir, 'cpu.max'), `${quota} 100000`)
    return [join(dir, 'cgroup.procs')]
  }
  const [pids, memory, cpu] = ownerDirs(owner).map(d => join(d, id)) as [string, string, string]
  const dirs = { pids, memory, cpu }
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true })
  if (limits.pids) writeFileSync(join(dirs.pids, 'pids.max'), String(limits.pids))
  if (mem) {
    writeFileSync(join(dirs.memory, 'memory.limit_in_bytes'), mem)
    try { writeFileSync(join(dirs.memory, 'memory.memsw.limit_in_bytes'), mem) } catch {}
  }
  if (quota) { writeFileSync(join(dirs.cpu, 'cpu.cfs_period_us'), '100000'); writeFileSync(join(dirs.cpu, 'cpu.cfs_quota_us'), quota) }
  return Object.values(dirs).map(d => join(d, 'cgroup.procs'))
}

/** How many processes the kernel killed in this sandbox for lack of memory. */
export function oomKills (procsFiles: string[]): number {
  let n = 0
  for (const f of procsFiles) {
    const dir = f.replace(/\/cgroup\.procs$/, '')
    for (const name of ['memory.events', 'memory.oom_control']) {
      try {
        const m = /oom_kill (\d+)/.exec(readFileSync(join(dir, name), 'utf8'))
        if (m) n += Number(m[1])
      } catch {}
    }
  }
  return n
}

// The counters read on every step stay open and are read again from their start (one pread, 2 µs, where
// open, read and close took 12): a file per path, null where it is not (another controller's folder).
const counters = new Map<string, number | null>()
const counterBuf = Buffer.alloc(256)

function readCounter (file: string): string | null {
  let fd = counters.get(file)
  if (fd === null) return null
  if (fd === undefined) {
    try { fd = openSync(file, 'r') } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') counters.set(file, null)
      return null
    }
    counters.set(file, fd)
  }
  try { return counterBuf.toString('latin1', 0, readSync(fd, counterBuf, 0, counterBuf.length, 0)) } catch {
    closeSync(fd) // the cgroup went away
    counters.delete(file)
    return null
  }
}

/** Closes what `readCounter` holds open in these cgroups: with the sandbox (a container's go with it). */
export function forgetCounters (procsFiles: string[]): void {
  const dirs = procsFiles.map(f => f.replace(/cgroup\.procs$/, ''))
  for (const [file, fd] of counters) {
    if (!dirs.some(d => file.startsWith(d))) continue
    if (fd !== null) closeSync(fd)
    counters.delete(file)
  }
}

/** The text of the counter file `name` in the first of these cgroups that has one; null in none. */
function firstCounter (procsFiles: string[], name: string): string | null {
  for (const f of procsFiles) {
    const text = readCounter(join(f.replace(/\/cgroup\.procs$/, ''), name))
    if (text !== null) return text
  }
  return null
}

/** Processes in the sandbox's pids cgroup now; null without one. */
export function pidsCurrent (procsFiles: string[]): number | null {
  const text = firstCounter(procsFiles, 'pids.current')
  return text === null ? null : Number(text)
}

/**
 * The cgroup.procs files of a host process's cgroups, in the form the functions above take: where a container's
 * counts can be read on the host in microseconds (an engine's stats take from 20 ms to a second). Empty when the
 * process is not visible here (a remote engine) or its cgroups are not mounted where they are named.
 */
export function processCgroups (pid: number): string[] {
  let lines: string[] = []
  try { lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter(Boolean) } catch { return [] }
  const files: string[] = []
  for (const line of lines) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? []
    if (path === undefined || controllers === undefined || controllers.startsWith('name=')) continue
    const dir = controllers === '' ? join(ROOT, path) : join(ROOT, controllers, path)
    if (existsSync(join(dir, 'cgroup.procs'))) files.push(join(dir, 'cgroup.procs'))
  }
  return files
}

/** Forks the sandbox's pids limit refused so far (pids.events `max`, v1 and v2); null without a pids cgroup. */
export function pidsLimitHits (procsFiles: string[]): number | null {
  const m = /^max (\d+)$/m.exec(firstCounter(procsFiles, 'pids.events') ?? '')
  return m ? Number(m[1]) : null
}

/** Kills every process in the sandbox's cgroups until none is left (or 5 s have passed). */
export async function killCgroup (procsFiles: string[]): Promise<void> {
  for (let i = 0; i < 200; i++) {
    let left = 0
    for (const f of procsFiles) {
      let pids: string[] = []
      try { pids = readFileSync(f, 'utf8').split('\n').filter(Boolean) } catch { continue }
      left += pids.length
      for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL') } catch {} }
    }
    if (left === 0) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

export async function removeCgroup (procsFiles: string[]): Promise<void> {
  forgetCounters(procsFiles)
  for (const f of procsFiles) {
    const dir = f.replace(/\/cgroup\.procs$/, '')
    for (let i = 0; i < 40; i++) {
      try { rmdirSync(dir); break } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') break
        await new Promise(resolve => setTimeout(resolve, 25)) // processes are still leaving
      }
    }
  }
}

/** Removes an owner's own cgroup folders once its sandboxes are gone (a server that stops). */
export function removeOwnerCgroups (owner: string): void {
  for (const dir of ownerDirs(owner)) { try { rmdirSync(dir) } catch {} }
}

/**
 * Kills what runs in an owner's leftover cgroups (its server died with sandboxes open) and removes them;
 * returns how many sandboxes that was.
 */
export async function sweepCgroups (owner: string): Promise<number> {
  const ids = new Set<string>()
  const leaves: string[] = []
  for (const dir of ownerDirs(owner)) {
    let names: string[] = []
    try { names = readdirSync(dir, { withFileTypes: true }).filter(e => e.isDirectory()).map(e => e.name) } catch { continue }
    for (const n of names) {
      ids.add(n)
      const leaf = join(dir, n)
      leaves.push(leaf + '/cgroup.procs')
      for (const pid of readFileSync(join(leaf, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try { process.kill(Number(pid), 'SIGKILL') } catch {}
      }
    }
  }
  await removeCgroup(leaves)
  return ids.size
}
