// How much a sandbox has written, measured on the host: `du` of its writable tree (one file system only), or statfs
// of the quota that holds it at all times where the host allows one (a loop-mounted file system of the limit's
// size); and the removal of such a tree, however the agent shaped it.
import { spawn, spawnSync } from 'node:child_process'
import {
  closeSync, constants, existsSync, fstatSync, lstatSync, openSync, opendirSync, readdirSync, readFileSync, statfsSync
} from 'node:fs'
import { mkdir, rm, rmdir, truncate, writeFile } from 'node:fs/promises'
import { HOST_SPAWN_ENV, SANDBOX_DEFAULTS } from './policy.js'
import type { FileEntry } from './types.js'

/**
 * MiB under `dir` on its file system, as `du -skx` counts them: a tree of at most diskWalkEntries entries is walked
 * here (no process: a `du` costs a fork and an exec each step), a larger one by `du`, for diskWalkRetrySeconds.
 */
export function hostDiskUsageMb (dir: string): Promise<number> {
  const now = Date.now()
  if ((largeTrees.get(dir) ?? 0) <= now) {
    largeTrees.delete(dir)
    const kb = walkUsageKb(dir, SANDBOX_DEFAULTS.diskWalkEntries)
    if (kb !== null) return Promise.resolve(kb / 1024)
    // the trees of sandboxes gone since are forgotten here
    if (largeTrees.size >= 256) for (const [d, until] of largeTrees) if (until <= now) largeTrees.delete(d)
    largeTrees.set(dir, now + SANDBOX_DEFAULTS.diskWalkRetrySeconds * 1000)
  }
  return duMb(dir)
}

/** trees too large to walk here: until when `du` measures them */
const largeTrees = new Map<string, number>()

function duMb (dir: string): Promise<number> {
  return new Promise(resolve => {
    const p = spawn('du', ['-skx', dir], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    p.stdout.on('data', d => { out += d })
    p.on('error', () => resolve(0))
    p.on('close', () => resolve((Number(out.split(/\s+/)[0]) || 0) / 1024))
  })
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW

/**
 * KiB under `dir` as `du -skx` counts them (allocated blocks, each hard-linked file once, nothing on another file
 * system), or null when it holds more than `max` entries or cannot be opened. The tree is the agent's and may change
 * under the walk: each directory is opened without following a symlink and read through its descriptor
 * (/proc/self/fd), never by a path the agent could swap for a link out of it.
 */
export function walkUsageKb (dir: string, max: number): number | null {
  let top: number
  try { top = openSync(dir, DIR_FLAGS) } catch { return null }
  const seen = new Set<number>()
  let dev = 0
  let entries = 0
  let blocks = 0
  // false once over `max` entries
  const visit = (fd: number): boolean => {
    const base = `/proc/self/fd/${fd}/`
    const d = opendirSync(base)
    try {
      for (let e = d.readSync(); e; e = d.readSync()) {
        if (++entries > max) return false
        const path = base + e.name
        let s
        try { s = lstatSync(path) } catch { continue } // gone since it was listed
        if (s.dev !== dev) continue
        if (!s.isDirectory()) {
          if (s.nlink > 1) { if (seen.has(s.ino)) continue; seen.add(s.ino) }
          blocks += s.blocks
          continue
        }
        let child: number
        // unreadable (du counts the directory itself), or no longer a directory
        try { child = openSync(path, DIR_FLAGS) } catch { blocks += s.blocks; continue }
        try {
          const c = fstatSync(child)
          if (c.dev !== dev) continue
          blocks += c.blocks
          if (!visit(child)) return false
        } finally { closeSync(child) }
      }
    } finally { d.closeSync() }
    return true
  }
  try {
    const t = fstatSync(top)
    dev = t.dev
    blocks = t.blocks
    return visit(top) ? Math.ceil(blocks / 2) : null
  } catch { return null } finally { closeSync(top) }
}

/**
 * The always-on watcher: every `seconds` while the sandbox lives, its use is measured, and over `limitMb` `stop`
 * kills what its shells run (each shell's command, or, when idle, its background jobs). Returns its own stop.
 */
export function watchDiskAlways (usage: () => Promise<number>, limitMb: number, seconds: number, stop: () => Promise<void>): () => void {
  let timer: NodeJS.Timeout | null = null
  let stopped = false
  const next = () => {
    if (stopped) return
    timer = setTimeout(() => { void tick() }, seconds * 1000)
    timer.unref()
  }
  const tick = async () => {
    const used = await usage().catch(() => 0)
    if (used > limitMb && !stopped) await stop().catch(() => {})
    next()
  }
  next()
  return () => { stopped = true; if (timer) clearTimeout(timer) }
}

let loops: boolean | undefined
/**
 * Whether this host can give each sandbox a file system of its own size: root, loop devices and mkfs.ext4.
 * SYNTHGYM_DISK_QUOTA=watch turns it off (the always-on watcher alone, as on a host without them).
 */
export function diskQuotaAvailable (): boolean {
  if (process.env.SYNTHGYM_DISK_QUOTA === 'watch') return false
  loops ??= process.geteuid?.() === 0 && existsSync('/dev/loop-control') &&
    spawnSync('sh', ['-c', 'command -v mkfs.ext4 && command -v mount'], { stdio: 'ignore', env: HOST_SPAWN_ENV }).status === 0
  return loops
}

function run (argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: HOST_SPAWN_ENV })
    let err = ''
    p.stderr.on('data', d => { err += d })
    p.on('error', reject)
    p.on('close', code => code === 0 ? resolve() : reject(new Error(`${argv[0]}: ${err.trim() || `exit ${code}`}`)))
  })
}

/**
 * Mounts at `mountPoint` a fresh ext4 file system that holds the disk limit plus the slack (diskSlackMb), in the
 * sparse image `image` (loop-mounted, nosuid, nodev; no journal, no reserved blocks: root's writes stop there
 * too); its top directory is `owner`'s. It costs disk as it is written, no memory.
 */
export async function mountQuotaFs (image: string, mountPoint: string, limitMb: number, owner: { uid: number, gid: number } | null): Promise<void> {
  const capMb = limitMb + SANDBOX_DEFAULTS.diskSlackMb
  // ext4's own tables take some 3.5% at one inode per 16 KiB
  const sizeMb = capMb + Math.ceil(capMb * 0.035)
  await mkdir(mountPoint, { recursive: true })
  await writeFile(image, '')
  await truncate(image, sizeMb * 2 ** 20)
  const root = owner ? ['-E', `root_owner=${owner.uid}:${owner.gid}`] : []
  await run(['mkfs.ext4', '-q', '-F', '-b', '4096', '-i', '16384', '-m', '0', '-O', '^has_journal,^resize_inode', ...root, image])
  await run(['mount', '-o', 'loop,nosuid,nodev,noatime', image, mountPoint])
  await rmdir(`${mountPoint}/lost+found`).catch(() => {})
  // what the empty file system uses itself, for quotaUsageMb (beside the mount point: outside what a sandbox sees)
  await writeFile(`${mountPoint}.empty`, String(fsUsedBytes(mountPoint)))
}

function fsUsedBytes (mountPoint: string): number {
  const s = statfsSync(mountPoint)
  return (s.blocks - s.bfree) * s.bsize
}

/**
 * MiB written to a quota's file system (mountQuotaFs) at `mountPoint`: what statfs counts used (one system call, no
 * process, no walk) less what the empty file system used, noted beside the mount point; `du` where there is no such
 * note (an older server's). Files deleted but still open count, as they take the space.
 */
export function quotaUsageMb (mountPoint: string): Promise<number> {
  let empty = NaN
  try { empty = Number(readFileSync(`${mountPoint}.empty`, 'utf8')) } catch {}
  if (!Number.isFinite(empty)) return hostDiskUsageMb(mountPoint)
  return Promise.resolve(Math.max(0, fsUsedBytes(mountPoint) - empty) / 2 ** 20)
}

/** Mount points at or below `dir` (deepest first), from this process's mount table. */
function mountsUnder (dir: string): string[] {
  let table = ''
  try { table = readFileSync('/proc/self/mounts', 'utf8') } catch { return [] }
  // the table escapes spaces and such as octal
  const unescape = (p: string) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
  return table.split('\n').map(l => unescape(l.split(' ')[1] ?? '')).filter(m => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length)
}

/** Unmounts what is mounted at or below `dir` (a quota's file system); lazily where it is still busy. */
export async function unmountUnder (dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) await run(['umount', m]).catch(() => run(['umount', '-l', m])).catch(() => {})
}

/**
 * Removes a tree the agent wrote, its quota's file system unmounted first. Node's recursive rm walks full paths,
 * so a tree deeper than PATH_MAX (a loop of `mkdir d; cd d`) defeats it; GNU rm walks it by directory fds. Never
 * crosses into another file system.
 */
export async function removeTree (dir: string): Promise<void> {
  await unmountUnder(dir)
  try {
    await rm(dir, { recursive: true, force: true })
    return
  } catch {}
  await new Promise<void>(resolve => {
    const p = spawn('rm', ['-rf', '--one-file-system', '--', dir], { stdio: 'ignore', env: HOST_SPAWN_ENV })
    p.on('error', () => resolve())
    p.on('close', () => resolve())
  })
}

/** Bytes of a host file or tree (links not followed). */
export function treeBytes (path: string): number {
  const st = lstatSync(path)
  if (!st.isDirectory()) return st.isFile() ? st.size : 0
  return readdirSync(path).reduce((n, e) => n + treeBytes(`${path}/${e}`), 0)
}

/** Bytes the task's files take once copied into a sandbox: its quota makes room for them. */
export function filesBytes (files: FileEntry[] = []): number {
  return files.reduce((n, f) => n + (f.hostPath ? treeBytes(f.hostPath) : Buffer.byteLength(f.data ?? '')), 0)
}
