// The embedded local backend: a bubblewrap sandbox (else `unshare`) with no network, its own PID namespace,
// a private home at /home/agent, read-only system dirs, and limits through cgroups where the kernel lets us.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { chmod, chown, cp, lstat, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { dirname, join, posix, resolve } from 'node:path'
import { hostname, tmpdir } from 'node:os'
import type { Writable } from 'node:stream'
import { localRuntime } from './runtime.js'
import { PersistentShell, type ShellProcess } from './shell.js'
import { SandboxStartError, ShellClosedError } from './errors.js'
import {
  diskQuotaAvailable, filesBytes, hostDiskUsageMb, mountQuotaFs, quotaUsageMb, removeTree, watchDiskAlways
} from './disk.js'
import { createCgroup, removeCgroup, removeOwnerCgroups, cgroupMode, oomKills, pidsCurrent, pidsLimitHits, sweepCgroups, killCgroup } from './cgroups.js'
import { copyUnder, makeDirUnder, readUnder, splitRelative, writeUnder } from './homefs.js'
import {
  SANDBOX_DEFAULTS, SYNTHGYM_BIN, PATH, HOST_SPAWN_ENV, EVALUATION_ENV, SHELL_ARGV, agentHostIds, pidsAtLimit,
  pidsClearlyUnder, rlimitScript, runArgv, sandboxEnv
} from './policy.js'
import {
  AGENT_HOME, WORKSPACE, type ExecOptions, type ExecResult, type InterruptOptions, type FileEntry, type Mount, type RunOptions, type RunResult,
  type Sandbox, type SandboxOptions, type ShellHandle
} from './types.js'

export type Isolation = 'bwrap' | 'unshare'

function onPath (cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

/** `pythonVenv`: the python is a venv's, which finds its packages only when run by its own path (not through a link) */
interface HostInfo {
  isolation: Isolation | null, python: string | null, pythonPrefix: string | null, pythonVenv: boolean, pythonPaths: string[]
}
let hostInfo: HostInfo | undefined
/** What this machine offers the local backend (cached). */
export function localBackendInfo (): HostInfo & { limits: string } {
  if (!hostInfo) {
    // SYNTHGYM_ISOLATION=unshare forces the fallback (to test it where bubblewrap is installed)
    const forced = process.env.SYNTHGYM_ISOLATION
    const isolation: Isolation | null = forced === 'unshare' || forced === 'bwrap' ? forced
      : onPath('bwrap') ? 'bwrap' : onPath('unshare') ? 'unshare' : null
    const py = spawnSync(process.env.SYNTHGYM_PYTHON ?? 'python3', ['-c',
      'import sys, json; print(json.dumps([sys.executable, sys.base_prefix, [sys.prefix] + [p for p in sys.path if p]]))'], { encoding: 'utf8' })
    let python: string | null = null
    let pythonPrefix: string | null = null
    let paths: string[] = []
    if (py.status === 0) [python, pythonPrefix, paths] = JSON.parse(py.stdout)
    // where python finds its packages (a venv, ~/.local, /opt/conda...) must be visible inside the sandbox too
    const extra = (process.env.SYNTHGYM_SANDBOX_BINDS ?? '').split(':').filter(Boolean)
    const outside = [pythonPrefix, ...paths, ...extra].filter((p): p is string => !!p && existsSync(p) && statSync(p).isDirectory())
      .filter(p => !SYSTEM_DIRS.some(d => p === d || p.startsWith(d + '/')))
      .sort()
    const pythonPaths = outside.filter((p, i) => !outside.slice(0, i).some(q => p === q || p.startsWith(q + '/')))
    hostInfo = { isolation, python, pythonPrefix, pythonVenv: !!pythonPrefix && paths[0] !== pythonPrefix, pythonPaths }
  }
  return { ...hostInfo, limits: cgroupMode() }
}

const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt']

/**
 * The host folders every local sandbox sees (read-only) as they are on the host: the system dirs and where python
 * finds its packages. Whatever they hold, an agent can list, and read where its host uid may.
 */
export function sandboxBinds (): string[] {
  const system = SYSTEM_DIRS.filter(d => existsSync(d) && !lstatSync(d).isSymbolicLink())
  return [...system, ...localBackendInfo().pythonPaths]
}

const HIDDEN_ETC = ['/etc/shadow', '/etc/gshadow', '/etc/sudoers']
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty']

/** Where this machine's local sandboxes differ from bubblewrap's as root (none where they are the same). */
export function isolationDifferences (): string[] {
  if (localBackendInfo().isolation !== 'unshare' || agentHostIds()) return []
  // without root there is one host uid to map: the namespace's init has the agent's, so the agent can signal or
  // trace it (it holds nothing of the server's: its environment is PATH only)
  return ['unshare without root: the sandbox\'s init runs as the agent\'s host uid; install bubblewrap to separate them']
}

/** One step of building a sandbox's file tree; rendered as bubblewrap arguments or as the unshare script. */
type MountOp =
  | { op: 'bind', src: string, dst: string, ro: boolean, dev?: boolean }
  | { op: 'symlink', target: string, dst: string }
  | { op: 'tmpfs', dst: string, mode: number, sizeMb?: number }
  | { op: 'dir', dst: string }
  | { op: 'proc' }
  | { op: 'dev' }

/**
 * The file tree of a sandbox process: read-only system dirs, our passwd, the python the server found, /tmp and a
 * fresh /dev, then the agent's home (or, for an evaluation, a throwaway home with the workspace read-only), then
 * the caller's mounts on top.
 */
function mountPlan (root: string, mounts: Mount[], o: { evaluation: boolean, gpus: boolean }): MountOp[] {
  const ops: MountOp[] = []
  for (const d of SYSTEM_DIRS) {
    if (!existsSync(d)) continue
    ops.push(lstatSync(d).isSymbolicLink() ? { op: 'symlink', target: readlinkSync(d), dst: d } : { op: 'bind', src: d, dst: d, ro: true })
  }
  for (const f of HIDDEN_ETC) if (existsSync(f)) ops.push({ op: 'bind', src: '/dev/null', dst: f, ro: true })
  ops.push({ op: 'bind', src: join(root, 'etc/passwd'), dst: '/etc/passwd', ro: true })
  ops.push({ op: 'bind', src: join(root, 'etc/group'), dst: '/etc/group', ro: true })
  ops.push({ op: 'bind', src: join(root, 'etc/hosts'), dst: '/etc/hosts', ro: true })
  for (const p of localBackendInfo().pythonPaths) ops.push({ op: 'bind', src: p, dst: p, ro: true })
  ops.push({ op: 'bind', src: join(root, 'bin'), dst: SYNTHGYM_BIN, ro: true })
  // the agent's scratch space is the agent's to write (sticky, as on any host), /home is not
  ops.push({ op: 'proc' }, { op: 'dev' }, { op: 'tmpfs', dst: '/dev/shm', mode: 0o1777, sizeMb: SANDBOX_DEFAULTS.shmMb },
    { op: 'tmpfs', dst: '/tmp', mode: 0o1777 }, { op: 'tmpfs', dst: '/home', mode: 0o755 })
  if (o.gpus) {
    for (const d of readdirSync('/dev').filter(n => n.startsWith('nvidia'))) ops.push({ op: 'bind', src: '/dev/' + d, dst: '/dev/' + d, ro: false, dev: true })
  }
  if (o.evaluation) {
    // nothing an evaluation writes outlives it: its home is a tmpfs, the workspace read-only
    ops.push({ op: 'tmpfs', dst: AGENT_HOME, mode: 0o755 }, { op: 'bind', src: join(root, 'home/workspace'), dst: WORKSPACE, ro: true })
  } else ops.push({ op: 'bind', src: join(root, 'home'), dst: AGENT_HOME, ro: false })
  for (const m of mounts) ops.push({ op: 'bind', src: m.hostPath, dst: m.path, ro: m.readOnly !== false })
  return withParents(ops, o.evaluation)
}

/**
 * Each bind outside the system dirs and the host's home gets its parent dirs made first, traversable
 * (bubblewrap makes them 0700, e.g. /root for a python under /root/.pyenv, /home/agent/secret).
 */
function withParents (ops: MountOp[], evaluation: boolean): MountOp[] {
  const made = new Set<string>(['/home', AGENT_HOME])
  // the host's side of the agent's home gets its mount points made on the host (newMountPoints)
  const host = evaluation ? WORKSPACE : AGENT_HOME
  const skip = (d: string) => [...SYSTEM_DIRS, host, '/tmp', '/dev', '/proc'].some(s => d === s || d.startsWith(s + '/'))
  return ops.flatMap(o => {
    if (o.op !== 'bind') return [o]
    const dirs: MountOp[] = []
    for (let a = dirname(o.dst); a !== '/' && !skip(a) && !made.has(a); a = dirname(a)) {
      made.add(a)
      dirs.unshift({ op: 'dir', dst: a })
    }
    return [...dirs, o]
  })
}

/**
 * The agent's end of the chain, run from inside the namespaces: the agent is uid 1000 (group 1000) of a user
 * namespace of its own, mapped to an unprivileged host id, with no capabilities and nothing of the server's
 * environment. As root the chain drops to the host ids first; bubblewrap without root maps 1000 itself.
 */
function agentChain (env: Record<string, string>, cmd: string[], isolation: Isolation): string[] {
  const ids = agentHostIds()
  // no descriptor the server inherited (a supervisor's pipe, a listening socket) reaches the agent
  const envArgv = ['env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'bash', '--norc', '--noprofile', '-c', CLOSE_FDS, 'sg-fds', ...cmd]
  if (!ids && isolation === 'bwrap') return envArgv
  const { agentUid, agentGid } = SANDBOX_DEFAULTS
  // as the unprivileged root of an outer namespace the bounding set stays (without CAP_SETUID there the kernel
  // refuses the inner map); no_new_privs and a uid that is not 0 leave the agent without capabilities anyway
  return [
    'setpriv', ...(ids ? [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', '--bounding-set=-all'] : []),
    '--inh-caps=-all', '--no-new-privs',
    'unshare', '--user', `--map-user=${agentUid}`, `--map-group=${agentGid}`, '--', ...envArgv
  ]
}

/** Closes every descriptor above stderr, then runs its arguments. */
const CLOSE_FDS = 'for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null; exec "$@"'

/** bubblewrap's argv for one sandbox process. */
function bwrapArgv (ops: MountOp[], network: boolean, chain: string[]): string[] {
  const root = agentHostIds() !== null
  // as root, no user namespace of bubblewrap's own (it would map the agent to host root): the chain makes one
  const ns = root
    ? ['--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup-try', ...(network ? [] : ['--unshare-net'])]
    : ['--unshare-all', ...(network ? ['--share-net'] : []), '--uid', '1000', '--gid', '1000']
  const args = ['bwrap', '--die-with-parent', ...ns, '--hostname', 'sandbox', '--clearenv']
  for (const o of ops) {
    if (o.op === 'bind') args.push(o.dev ? '--dev-bind' : o.ro ? '--ro-bind' : '--bind', o.src, o.dst)
    else if (o.op === 'symlink') args.push('--symlink', o.target, o.dst)
    else if (o.op === 'tmpfs') args.push('--perms', o.mode.toString(8).padStart(4, '0'), ...(o.sizeMb ? ['--size', String(o.sizeMb * 2 ** 20)] : []), '--tmpfs', o.dst)
    else if (o.op === 'dir') args.push('--perms', '0755', '--dir', o.dst)
    else if (o.op === 'proc') args.push('--proc', '/proc')
    else args.push('--dev', '/dev')
  }
  return [...args, '--chdir', WORKSPACE, ...chain]
}

/**
 * The fallback without bubblewrap: `unshare` into new pid/net/mount namespaces (and a user namespace when the
 * server is not root), build a root of binds, pivot into it, then start the agent's chain under a bash that
 * stays pid 1 (it reaps orphans, as bubblewrap's init does). There is no way back up: the old root is unmounted.
 */
function unshareArgv (root: string, ops: MountOp[], network: boolean, chain: string[]): string[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  const at = (p: string) => `"$NR"${q(p)}`
  // the new root is not the agent's to write (mode 755, its owner our namespace's root), and read-only below
  const lines = ['set -e', `NR=${q(join(root, 'newroot'))}`, 'mkdir -p "$NR"', 'mount -t tmpfs -o mode=755 tmpfs "$NR"']
  // a new network namespace starts with its loopback down (bubblewrap brings it up): the agent's own servers
  // (a rendezvous on 127.0.0.1, as torchrun's) need it
  if (!network) lines.push('{ ip link set lo up || ifconfig lo up; } >/dev/null 2>&1 || true')
  for (const o of ops) {
    if (o.op === 'bind') {
      const isDir = statSync(o.src).isDirectory()
      // a mount point inside an earlier read-only bind (/etc/passwd) exists already: never write there
      lines.push(isDir ? `[ -d ${at(o.dst)} ] || mkdir -p ${at(o.dst)}`
        : `[ -e ${at(o.dst)} ] || { mkdir -p "$(dirname ${at(o.dst)})"; touch ${at(o.dst)}; }`)
      lines.push(`mount --rbind ${q(o.src)} ${at(o.dst)}`)
      // read-only all the way down: a remount reaches only the top mount, not those the host has below it
      if (o.ro) {
        lines.push(`mount -o remount,bind,ro ${at(o.dst)}`,
          `awk -v p=${at(o.dst + '/')} 'index($2, p) == 1 { print $2 }' /proc/self/mounts | while read -r m; do mount -o remount,bind,ro "$m"; done`)
      }
    } else if (o.op === 'symlink') lines.push(`ln -s ${q(o.target)} ${at(o.dst)}`)
    else if (o.op === 'tmpfs') {
      const size = o.sizeMb ? `,size=${o.sizeMb}m` : ''
      lines.push(`mkdir -p ${at(o.dst)}`, `mount -t tmpfs -o mode=${o.mode.toString(8)}${size} tmpfs ${at(o.dst)}`)
    }
    else if (o.op === 'dir') lines.push(`mkdir -p ${at(o.dst)}`, `chmod 755 ${at(o.dst)}`)
    else if (o.op === 'proc') lines.push('mkdir -p "$NR/proc"', 'mount -t proc proc "$NR/proc"')
    else {
      // a /dev of its own with the harmless devices only, as bubblewrap's --dev
      lines.push('mkdir -p "$NR/dev"', 'mount -t tmpfs -o mode=755 tmpfs "$NR/dev"')
      for (const d of DEVICES) lines.push(`touch "$NR/dev/${d}"`, `mount --bind /dev/${d} "$NR/dev/${d}"`)
      lines.push('ln -s /proc/self/fd "$NR/dev/fd"', 'ln -s /proc/self/fd/0 "$NR/dev/stdin"',
        'ln -s /proc/self/fd/1 "$NR/dev/stdout"', 'ln -s /proc/self/fd/2 "$NR/dev/stderr"')
    }
  }
  lines.push('cd "$NR" && mkdir .oldroot && pivot_root . .oldroot && cd / && umount -l /.oldroot && rmdir /.oldroot',
    // read-only where the kernel lets a user namespace remount it (not for every unprivileged caller)
    'mount -o remount,bind,ro / 2>/dev/null || true', `cd ${WORKSPACE}`, 'set +e',
    // bash as pid 1: the chain gets our stdin (the shell's commands) and we wait for it
    '"$@" <&0 &', 'wait $!')
  const ns = ['--pid', '--fork', '--mount', '--ipc', '--uts', '--kill-child', ...(network ? [] : ['--net'])]
  const user = agentHostIds() ? [] : ['--user', '--map-root-user']
  // --norc: on a socket for stdin (node's pipes) bash would read ~/.bashrc, taking it for an rsh session
  return ['unshare', ...user, ...ns, 'bash', '--norc', '--noprofile', '-c', PLAN_FROM_FD3, 'sg-init', ...chain, lines.join('\n')]
}

/** The init's script comes on fd 3: the agent can read pid 1's command line, which must name no host path. */
const PLAN_FROM_FD3 = 's=$(cat <&3); exec 3<&-; eval "$s"'

/** All pids below `pid`, read from /proc (every thread's children). */
function descendants (pid: number): number[] {
  const out: number[] = []
  const walk = (p: number) => {
    let tasks: string[] = []
    try { tasks = readdirSync(`/proc/${p}/task`) } catch { return }
    for (const t of tasks) {
      let kids = ''
      try { kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8') } catch { continue }
      for (const k of kids.split(' ').filter(Boolean).map(Number)) { out.push(k); walk(k) }
    }
  }
  walk(pid)
  return out
}

function children (pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap(t => {
      try { return readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number) } catch { return [] }
    })
  } catch { return [] }
}

export interface LocalSandboxOptions extends SandboxOptions {
  /** host directory under which each sandbox gets its own folder */
  baseDir?: string
  /** who owns the sandbox (a server id): its cgroups are grouped under it, so a restarted owner finds them */
  owner?: string
}

/**
 * Removes what an earlier owner (a server killed before it could close its sandboxes) left: the processes and
 * cgroups under its name and every folder in its base dir. Returns how many sandboxes that was.
 */
export async function sweepLocal (baseDir: string, owner: string): Promise<number> {
  const groups = await sweepCgroups(owner)
  let dirs: string[] = []
  try { dirs = (await readdir(baseDir)).filter(n => n.startsWith('sbx-')) } catch {}
  await Promise.all(dirs.map(d => removeTree(join(baseDir, d))))
  return Math.max(groups, dirs.length)
}

/** What an owner (a server that stops) holds for its local sandboxes beyond them: its cgroup folders. */
export function releaseLocal (owner: string): void { removeOwnerCgroups(owner) }

/** Hands a host path (a file or a tree) to the agent's host ids, so the agent may write what we put there. */
async function giveToAgent (path: string): Promise<void> {
  const ids = agentHostIds()
  if (!ids) return
  const st = await lstat(path)
  await chown(path, ids.uid, ids.gid)
  if (st.isDirectory()) for (const n of await readdir(path)) await giveToAgent(join(path, n))
}

/**
 * A run's own copies of its secret mounts, in `dir` (beside the sandbox's home, in no sandbox's view): the host's
 * files stay owner-only; the copies are root's, readable by the agent's host group (the server's own ids without
 * root), and mounted read-only, so what runs can read them and change nothing.
 */
async function secretCopies (mounts: Mount[], dir: string): Promise<Mount[]> {
  if (!mounts.some(m => m.secret)) return mounts
  await mkdir(dir, { mode: 0o700 })
  const ids = agentHostIds()
  const own = async (p: string): Promise<void> => {
    const st = await lstat(p)
    if (ids) await chown(p, 0, ids.gid)
    await chmod(p, st.isDirectory() ? 0o550 : 0o440)
    if (st.isDirectory()) for (const n of await readdir(p)) await own(join(p, n))
  }
  return Promise.all(mounts.map(async (m, i) => {
    if (!m.secret) return m
    const copy = join(dir, String(i))
    await cp(m.hostPath, copy, { recursive: true, dereference: true })
    await own(copy)
    return { ...m, hostPath: copy, readOnly: true }
  }))
}

/** One process tree of a sandbox running a shell: outer sh → bwrap|unshare → init → bash. */
interface ShellTree { proc: ChildProcess | null, shellPid: number }

export class LocalSandbox implements Sandbox {
  readonly backend = 'local'
  readonly id: string
  readonly root: string
  private shell: PersistentShell
  /** the agent's shell's process tree */
  private main: ShellTree = { proc: null, shellPid: 0 }
  /** extra shells (openShell), each in a process tree of its own over the same home and cgroups */
  private extra = new Map<PersistentShell, ShellTree>()
  private cgroup: string[] = []
  private env: Record<string, string>
  private closed = false
  /** forks the pids limit had refused when the reaper last looked (pids.events) */
  private limitHits = 0
  private runs = new Set<ChildProcess>()

  private constructor (private opts: LocalSandboxOptions) {
    this.id = 'sbx-' + randomBytes(6).toString('hex')
    this.root = join(opts.baseDir ?? join(tmpdir(), 'synthgym-sandboxes'), this.id)
    this.env = sandboxEnv(opts.limits ?? {}, 'CUDA_VISIBLE_DEVICES', opts.env)
    this.diskQuota = !!opts.limits?.diskMb && diskQuotaAvailable()
    this.shell = this.newShell(this.main)
  }

  private newShell (tree: ShellTree): PersistentShell {
    return new PersistentShell({ start: () => this.startShell(tree), killJobs: still => this.killJobs(tree, still) },
      { outputCap: this.opts.limits?.outputCap, init: this.opts.init })
  }

  /** Another persistent shell: a new process tree over the same home, mounts, env and cgroups (its own /tmp and pids). */
  async openShell (): Promise<ShellHandle> {
    if (this.closed) throw new ShellClosedError('the sandbox is closed')
    const tree: ShellTree = { proc: null, shellPid: 0 }
    const shell = this.newShell(tree)
    this.extra.set(shell, tree)
    try {
      await shell.start()
      if (this.closed) throw new ShellClosedError('the sandbox closed while the shell started')
    } catch (e) { this.extra.delete(shell); await shell.close(); await this.endTree(tree); throw e }
    const close = async () => {
      if (!this.extra.delete(shell)) return
      await shell.close()
      await this.endTree(tree)
    }
    return {
      exec: (command, o) => shell.exec(command, o),
      interrupt: opts => shell.interrupt(opts),
      close,
      get alive () { return shell.alive },
      get busy () { return shell.busy }
    }
  }

  /** Kills a shell's process tree and waits until it is gone. */
  private async endTree (tree: ShellTree): Promise<void> {
    const p = tree.proc
    if (p && p.exitCode === null && p.signalCode === null) {
      await new Promise(resolve => { p.once('exit', resolve); p.kill('SIGKILL') })
    }
  }

  static async create (opts: LocalSandboxOptions = {}): Promise<LocalSandbox> {
    const info = localBackendInfo()
    if (!info.isolation) throw new SandboxStartError('the local sandbox needs bubblewrap (apt-get install bubblewrap) or util-linux unshare')
    let rt: ReturnType<typeof localRuntime>
    try { rt = localRuntime(opts.pythonRuntime, PATH) } catch (e) { throw new SandboxStartError((e as Error).message) }
    const sb = new LocalSandbox({ ...opts, mounts: [...rt.mounts, ...(opts.mounts ?? [])], env: { ...rt.env, ...opts.env } })
    try {
      await sb.prepare()
      if (opts.files?.length) await sb.putFiles(opts.files)
      await sb.shell.start()
    } catch (e) { await sb.close(); throw e }
    // without a quota, a watcher holds the limit between steps as well
    const l = opts.limits?.diskMb
    if (l && !sb.diskQuota) sb.unwatch = watchDiskAlways(() => sb.diskUsageMb(), l, SANDBOX_DEFAULTS.diskPollSeconds, () => sb.stopShells())
    return sb
  }

  get alive (): boolean { return !this.closed && this.shell.alive }
  get busy (): boolean { return this.shell.busy }
  /** host path of the agent's workspace */
  get workspaceDir (): string { return join(this.root, 'home/workspace') }

  get diskLimitMb (): number | undefined { return this.opts.limits?.diskMb }
  /** the home is a file system of the limit's size (as root, with loop devices) */
  readonly diskQuota: boolean
  private unwatch = () => {}

  private async prepare (): Promise<void> {
    await mkdir(this.root, { recursive: true })
    // beside the home, never inside what a sandbox mounts
    if (this.diskQuota) {
      // room for the starter files copied in, which count as the agent's (as they do for the watcher)
      const mb = this.opts.limits!.diskMb! + Math.ceil(filesBytes(this.opts.files) / 2 ** 20)
      await mountQuotaFs(join(this.root, 'home.img'), join(this.root, 'home'), mb, agentHostIds())
        .catch(e => { throw new SandboxStartError(`the disk limit's file system could not be made: ${(e as Error).message}`) })
    }
    await mkdir(join(this.root, 'home/workspace'), { recursive: true })
    await mkdir(join(this.root, 'etc'), { recursive: true })
    await mkdir(join(this.root, 'bin'), { recursive: true })
    await writeFile(join(this.root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nagent:x:1000:1000:agent:/home/agent:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n')
    await writeFile(join(this.root, 'etc/group'), 'root:x:0:\nmlgym:x:1000:agent\nnogroup:x:65534:\n')
    // the sandbox's own name resolves without a network (torchrun --standalone connects to it): bubblewrap names it
    // `sandbox`, the unshare fallback keeps the host's
    await writeFile(join(this.root, 'etc/hosts'), `127.0.0.1\tlocalhost sandbox ${hostname()}\n::1\tlocalhost ip6-localhost ip6-loopback\n`)
    const { python, pythonVenv } = localBackendInfo()
    if (python) {
      // `python` and `python3` both name the server's python, as in MLGym's conda env: a link (a script through
      // /bin/sh cost every python call one more exec, ~1 ms), but for a venv's python, which a link would run
      // without its packages
      for (const name of ['python', 'python3']) {
        const at = join(this.root, 'bin', name)
        if (!pythonVenv) { await symlink(python, at); continue }
        await writeFile(at, `#!/bin/sh\nexec ${python} "$@"\n`)
        await chmod(at, 0o755)
      }
    }
    await giveToAgent(join(this.root, 'home'))
    this.cgroup = createCgroup(this.id, this.opts.limits ?? {}, this.opts.owner)
  }

  /**
   * argv that starts `cmd` inside a fresh sandbox process tree joined to our cgroups, and what goes to its fd 3:
   * bubblewrap's arguments (`--args 3`) or the unshare init's script. Both name host paths (the sandbox's folder,
   * the data dir), and the agent can read the command line of its namespace's pid 1.
   */
  private argv (cmd: string[], extra: Mount[] = [], env: Record<string, string> = {}, evaluation = false): { argv: string[], fd3: string } {
    const isolation = localBackendInfo().isolation!
    const gpus = (this.opts.limits?.gpus?.length ?? 0) > 0
    const ops = mountPlan(this.root, [...(this.opts.mounts ?? []), ...extra], { evaluation, gpus })
    const chain = agentChain({ ...this.env, ...env }, cmd, isolation)
    const network = this.opts.network === true
    let inner: string[]
    let fd3: string
    if (isolation === 'bwrap') {
      // the options on fd 3, the command (the agent's chain: sandbox paths only) after them
      const [, ...args] = bwrapArgv(ops, network, chain)
      const options = args.slice(0, args.length - chain.length)
      inner = ['bwrap', '--args', '3', ...chain]
      fd3 = options.map(a => a + '\0').join('')
    } else {
      const all = unshareArgv(this.root, ops, network, chain)
      inner = all.slice(0, -1)
      fd3 = all.at(-1)!
    }
    const joinCgroup = this.cgroup.map(f => `echo $$ > ${f}; `).join('')
    const limits = rlimitScript(this.opts.limits ?? {}, this.cgroup.length > 0)
    return { argv: ['sh', '-c', `${joinCgroup}${limits}exec "$@"`, 'sh', ...inner], fd3 }
  }

  /** Spawns a sandbox process tree with its plan on fd 3. */
  private spawnTree (a: { argv: string[], fd3: string }, stdin: 'pipe' | 'ignore'): ChildProcess {
    const [cmd, ...args] = a.argv
    // the server's environment (its token, keys) stays out of every process of the sandbox, bwrap's own included
    const p = spawn(cmd!, args, { stdio: [stdin, 'pipe', 'pipe', 'pipe'], env: HOST_SPAWN_ENV })
    const plan = p.stdio[3] as Writable
    plan.on('error', () => {})
    plan.end(a.fd3)
    return p
  }

  private async startShell (tree: ShellTree): Promise<ShellProcess> {
    if (this.closed) throw new Error('sandbox closed')
    const p = this.spawnTree(this.argv(SHELL_ARGV), 'pipe')
    tree.proc = p
    let errText = ''
    p.stderr!.on('data', d => { errText += d })
    p.stdin!.on('error', () => {})
    // Wait until bash runs inside the namespace so killJobs can tell the shell from its jobs.
    const started = await new Promise<boolean>(resolve => {
      const deadline = Date.now() + 10_000
      const poll = () => {
        if (p.exitCode !== null || p.signalCode !== null) return resolve(false)
        const pid = this.findShellPid(p.pid!)
        if (pid) { tree.shellPid = pid; return resolve(true) }
        if (Date.now() > deadline) return resolve(false)
        setTimeout(poll, 2)
      }
      poll()
    })
    if (!started) {
      p.kill('SIGKILL')
      await new Promise(resolve => setTimeout(resolve, 20))
      throw new SandboxStartError(`the sandbox did not start: ${errText.trim() || 'no output'}`)
    }
    // a paused pipe of a shell that ended is read to its end, so that its fd is closed
    p.on('exit', () => { p.stdout!.resume() })
    return {
      write: d => { if (p.stdin!.writable) p.stdin!.write(d) },
      onData: cb => p.stdout!.on('data', cb),
      onExit: cb => p.on('exit', code => cb(code)),
      kill: () => { p.stdout!.resume(); p.kill('SIGKILL') },
      pause: () => { p.stdout!.pause() },
      resume: () => { p.stdout!.resume() }
    }
  }

  /** The shell is the bash under the namespace's init: outer (sh→exec bwrap|unshare) → init → bash. */
  private findShellPid (outer: number): number {
    for (const pid of descendants(outer)) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        if (cmd.startsWith('bash\0--noprofile\0--norc\0-s')) return pid
      } catch {}
    }
    return 0
  }

  private async killJobs (tree: ShellTree, stillNeeded: () => boolean): Promise<void> {
    if (!tree.proc?.pid || !tree.shellPid) return
    // Everything in the sandbox except its init and the shell; repeated because a job may fork while we kill.
    for (let round = 0; round < 5 && stillNeeded(); round++) {
      // the shell's jobs, and what they left behind reparented to the namespace's init
      const init = this.initPid(tree)
      const all = init ? descendants(init).filter(p => p !== tree.shellPid) : descendants(tree.shellPid)
      if (all.length === 0) return
      for (const pid of all) { try { process.kill(pid, 'SIGKILL') } catch {} }
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  private initPid (tree: ShellTree): number {
    if (!tree.proc?.pid) return 0
    for (const c of children(tree.proc.pid)) if (descendants(c).includes(tree.shellPid) || c === tree.shellPid) return c
    return 0
  }

  async exec (command: string, opts?: ExecOptions): Promise<ExecResult> {
    const r = await this.shell.exec(command, opts)
    // `python3` and `python` here run the host's python by its full path, which python puts in its own messages
    // ("/root/.pyenv/…/python3: can't open file …"): the agent sees the name it typed, not a host path
    const { python } = localBackendInfo()
    if (python && r.output.includes(python)) r.output = r.output.split(`${python}: `).join('python3: ')
    return r
  }

  interrupt (opts?: InterruptOptions): Promise<void> { return this.shell.interrupt(opts) }

  /** Stops what every shell runs, the extra ones' too (0 grace: a loop of the shell itself replaces the shell). */
  private async stopShells (): Promise<void> {
    await Promise.all([this.shell, ...this.extra.keys()].map(s => s.interrupt({ grace: 0 }).catch(() => {})))
  }

  /** MiB written under the agent's home (/tmp is a tmpfs, counted as memory): its quota's file system, if any. */
  diskUsageMb (): Promise<number> {
    const home = join(this.root, 'home')
    return this.diskQuota ? quotaUsageMb(home) : hostDiskUsageMb(home)
  }

  /** Processes of this sandbox the kernel killed for lack of memory so far. */
  oomKills (): number { return oomKills(this.cgroup) }

  /** At the pids limit: the shell's jobs and what they left behind are killed from the host (no fork needed inside). */
  async reapAtProcessLimit (): Promise<number> {
    const max = this.opts.limits?.pids
    if (!max || this.closed) return 0
    // the common case, twice a step: two counter reads and no await
    if (pidsClearlyUnder(pidsCurrent(this.cgroup), pidsLimitHits(this.cgroup), this.limitHits, max)) return 0
    // found only when needed: walking /proc on every step cost more than the step's own round trip
    let found: number | undefined
    const initOf = () => (found ??= this.initPid(this.main))
    // the pids cgroup counts every shell of the sandbox; without cgroups, the agent's shell's tree
    const count = () => pidsCurrent(this.cgroup) ?? (initOf() ? descendants(initOf()).length + 1 : 0)
    const held = await pidsAtLimit(count, () => pidsLimitHits(this.cgroup), this.limitHits, max)
    if (held === null) return 0
    const init = initOf()
    // stopped first, until no new one appears: a process killed frees a slot that a bomb still running takes at once
    if (init) {
      const stopped = new Set<number>([this.main.shellPid])
      for (let round = 0; round < 50; round++) {
        const fresh = descendants(init).filter(p => !stopped.has(p))
        if (!fresh.length) break
        for (const p of fresh) { stopped.add(p); try { process.kill(p, 'SIGSTOP') } catch {} }
      }
    }
    await this.killJobs(this.main, () => true)
    // killed processes hold their pids until they are reaped (bwrap's pid 1 reaps them a moment later): the next
    // command could not fork yet, so wait until the count is back under the limit (at most 5 s)
    for (let i = 0; i < 100 && count() >= max - SANDBOX_DEFAULTS.pidsSlack; i++) {
      if (init) for (const p of descendants(init)) if (p !== this.main.shellPid) try { process.kill(p, 'SIGKILL') } catch {}
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    // what the limit refused while the bomb was being killed was the bomb's
    this.limitHits = pidsLimitHits(this.cgroup) ?? 0
    return held
  }

  /** Host path for a path under /home/agent; anything else is outside what the host can reach directly. */
  hostPath (path: string): string {
    const abs = posix.resolve(WORKSPACE, path)
    if (abs !== AGENT_HOME && !abs.startsWith(AGENT_HOME + '/')) throw new Error(`${path}: only paths under ${AGENT_HOME} can be read or written`)
    const host = resolve(this.root, 'home', posix.relative(AGENT_HOME, abs))
    if (!host.startsWith(join(this.root, 'home'))) throw new Error(`${path}: outside the sandbox home`)
    return host
  }

  /** `path` (a sandbox path under /home/agent) relative to the host side of the home. */
  private homeRelative (path: string): string {
    this.hostPath(path) // only paths under /home/agent
    return posix.relative(AGENT_HOME, posix.resolve(WORKSPACE, path))
  }

  // The server reads and writes the agent's home as itself (root, as a rule) while the agent may be changing it:
  // every path goes through homefs.ts, which follows no link out of the home and opens no FIFO or socket.
  async putFiles (files: FileEntry[]): Promise<void> {
    const home = join(this.root, 'home')
    const owner = agentHostIds()
    for (const f of files) {
      const rel = this.homeRelative(f.path)
      if (f.hostPath) await copyUnder(home, rel, f.path, f.hostPath, { mode: f.mode, owner })
      else await writeUnder(home, rel, f.path, f.data ?? '', { mode: f.mode, owner })
    }
  }

  async readFile (path: string): Promise<Buffer> {
    return readUnder(join(this.root, 'home'), this.homeRelative(path), path, SANDBOX_DEFAULTS.readFileCap)
  }

  async writeFile (path: string, data: string | Buffer): Promise<void> { await this.putFiles([{ path, data }]) }

  async run (command: string, opts: RunOptions = {}): Promise<RunResult> {
    const env = opts.evaluation ? { ...EVALUATION_ENV, ...opts.env } : opts.env
    const copies = join(this.root, 'run-' + randomBytes(4).toString('hex'))
    const mounts = await secretCopies(opts.mounts ?? [], copies)
    const plan = this.argv(runArgv(command, opts.cwd), mounts, env, opts.evaluation)
    // a mount point the home lacks is made on the host first (an evaluation's workspace is read-only inside);
    // the agent's shell must not see even the names of a run's files, so what did not exist before goes afterwards
    const leftovers = [copies, ...await this.newMountPoints(mounts, opts.evaluation === true)]
    return new Promise<RunResult>(resolve => {
      const p = this.spawnTree(plan, 'ignore')
      this.runs.add(p)
      let out = ''
      let timedOut = false
      p.stdout!.on('data', d => { if (out.length < SANDBOX_DEFAULTS.runOutputCap) out += d })
      p.stderr!.on('data', d => { out += d })
      const timer = opts.timeout ? setTimeout(() => { timedOut = true; p.kill('SIGKILL') }, opts.timeout * 1000) : undefined
      p.on('close', code => {
        clearTimeout(timer)
        this.runs.delete(p)
        resolve({ output: out, exitCode: timedOut ? null : code, timedOut })
      })
    }).finally(() => Promise.all(leftovers.map(h => rm(h, { recursive: true, force: true }))))
  }

  /** Makes the mount points `mounts` need in the agent's workspace; returns the topmost of those it made. */
  private async newMountPoints (mounts: Mount[], evaluation: boolean): Promise<string[]> {
    const home = join(this.root, 'home')
    const out = new Set<string>()
    for (const m of mounts) {
      // an evaluation's home is a tmpfs: only its workspace comes from the host
      if (!m.path.startsWith((evaluation ? WORKSPACE : AGENT_HOME) + '/')) continue
      const rel = this.homeRelative(m.path)
      const parts = splitRelative(rel)
      // the topmost part that does not exist yet
      let top: string | null = null
      for (let i = 1; i <= parts.length && top === null; i++) {
        const p = join(home, ...parts.slice(0, i))
        if (await lstat(p).then(() => false, () => true)) top = p
      }
      if (top === null) continue
      out.add(top)
      if (statSync(m.hostPath).isDirectory()) await makeDirUnder(home, rel, m.path, null)
      else await writeUnder(home, rel, m.path, '', { owner: null })
    }
    return [...out]
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.unwatch()
    await this.shell.close()
    for (const r of this.runs) r.kill('SIGKILL')
    const extra = [...this.extra]
    this.extra.clear()
    await Promise.all([[this.shell, this.main] as const, ...extra].map(async ([shell, tree]) => {
      await shell.close()
      await this.endTree(tree)
    }))
    // nothing of the sandbox may still run while its folder goes (a process swapping in links would race the
    // removal): what the namespace's end left, if anything, is killed by its cgroup first
    await killCgroup(this.cgroup)
    await removeCgroup(this.cgroup)
    await removeTree(this.root)
    this.opts.onClose?.()
  }
}
