// The embedded local backend: a bubblewrap sandbox (else `unshare`) with no network, its own PID namespace,
// a private home at /home/agent, read-only system dirs, and limits through cgroups where the kernel lets us.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, posix, resolve } from 'node:path'
import { tmpdir } from 'node:os'
import { PersistentShell, type ShellProcess } from './shell.js'
import { createCgroup, removeCgroup, cgroupMode, oomKills } from './cgroups.js'
import {
  AGENT_HOME, WORKSPACE, type ExecOptions, type ExecResult, type FileEntry, type Mount, type RunOptions, type RunResult,
  type Sandbox, type SandboxOptions
} from './types.js'

export type Isolation = 'bwrap' | 'unshare'

function onPath (cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

interface HostInfo { isolation: Isolation | null, python: string | null, pythonPrefix: string | null, pythonPaths: string[] }
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
    hostInfo = { isolation, python, pythonPrefix, pythonPaths }
  }
  return { ...hostInfo, limits: cgroupMode() }
}

const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt']
const HIDDEN_ETC = ['/etc/shadow', '/etc/gshadow', '/etc/sudoers']

/** bwrap arguments shared by the shell and one-shot runs. */
function bwrapArgs (root: string, mounts: Mount[], env: Record<string, string>, gpus: boolean, network: boolean): string[] {
  const info = localBackendInfo()
  const args = ['--die-with-parent', '--unshare-all', ...(network ? ['--share-net'] : []), '--uid', '1000', '--gid', '1000', '--hostname', 'sandbox', '--clearenv']
  for (const d of SYSTEM_DIRS) {
    if (!existsSync(d)) continue
    const st = lstatSync(d)
    if (st.isSymbolicLink()) args.push('--symlink', readlinkRel(d), d)
    else args.push('--ro-bind', d, d)
  }
  for (const f of HIDDEN_ETC) if (existsSync(f)) args.push('--ro-bind', '/dev/null', f)
  args.push('--ro-bind', join(root, 'etc/passwd'), '/etc/passwd', '--ro-bind', join(root, 'etc/group'), '/etc/group')
  for (const p of info.pythonPaths) args.push('--ro-bind', p, p)
  args.push('--ro-bind', join(root, 'bin'), '/synthgym/bin')
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', '/home')
  if (gpus) for (const d of readdirSync('/dev').filter(n => n.startsWith('nvidia'))) args.push('--dev-bind', '/dev/' + d, '/dev/' + d)
  args.push('--bind', join(root, 'home'), AGENT_HOME)
  for (const m of mounts) args.push(m.readOnly === false ? '--bind' : '--ro-bind', m.hostPath, m.path)
  for (const [k, v] of Object.entries(env)) args.push('--setenv', k, v)
  args.push('--chdir', WORKSPACE)
  return args
}

function readlinkRel (p: string): string {
  return spawnSync('readlink', [p], { encoding: 'utf8' }).stdout.trim()
}

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
}

export class LocalSandbox implements Sandbox {
  readonly backend = 'local'
  readonly id: string
  readonly root: string
  private shell: PersistentShell
  private proc: ChildProcess | null = null
  private shellPid = 0
  private cgroup: string[] = []
  private env: Record<string, string>
  private closed = false
  private runs = new Set<ChildProcess>()

  private constructor (private opts: LocalSandboxOptions) {
    this.id = 'sbx-' + randomBytes(6).toString('hex')
    this.root = join(opts.baseDir ?? join(tmpdir(), 'synthgym-sandboxes'), this.id)
    const cpus = Math.max(1, Math.ceil(opts.limits?.cpus ?? 1))
    this.env = {
      HOME: AGENT_HOME, USER: 'agent', LOGNAME: 'agent', SHELL: '/bin/bash', LANG: 'C.UTF-8', TERM: 'dumb',
      PATH: '/home/agent/commands:/synthgym/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      OMP_NUM_THREADS: String(cpus), OPENBLAS_NUM_THREADS: String(cpus), MKL_NUM_THREADS: String(cpus), MPLBACKEND: 'Agg',
      ...(opts.limits?.gpus ? { CUDA_VISIBLE_DEVICES: opts.limits.gpus.join(',') } : {}),
      ...opts.env
    }
    this.shell = new PersistentShell({ start: () => this.startShell(), killJobs: still => this.killJobs(still) },
      { outputCap: opts.limits?.outputCap, init: opts.init })
  }

  static async create (opts: LocalSandboxOptions = {}): Promise<LocalSandbox> {
    const info = localBackendInfo()
    if (!info.isolation) throw new Error('the local sandbox needs bubblewrap (apt-get install bubblewrap) or util-linux unshare')
    const sb = new LocalSandbox(opts)
    try {
      await sb.prepare()
      if (opts.files?.length) await sb.putFiles(opts.files)
      await sb.shell.start()
    } catch (e) { await sb.close(); throw e }
    return sb
  }

  get alive (): boolean { return !this.closed && this.shell.alive }
  get busy (): boolean { return this.shell.busy }
  /** host path of the agent's workspace */
  get workspaceDir (): string { return join(this.root, 'home/workspace') }

  private async prepare (): Promise<void> {
    await mkdir(join(this.root, 'home/workspace'), { recursive: true })
    await mkdir(join(this.root, 'etc'), { recursive: true })
    await mkdir(join(this.root, 'bin'), { recursive: true })
    await writeFile(join(this.root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nagent:x:1000:1000:agent:/home/agent:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n')
    await writeFile(join(this.root, 'etc/group'), 'root:x:0:\nmlgym:x:1000:agent\nnogroup:x:65534:\n')
    const { python } = localBackendInfo()
    if (python) {
      // `python` and `python3` both name the server's python, as in MLGym's conda env.
      for (const name of ['python', 'python3']) {
        await writeFile(join(this.root, 'bin', name), `#!/bin/sh\nexec ${python} "$@"\n`)
        await chmod(join(this.root, 'bin', name), 0o755)
      }
    }
    this.cgroup = createCgroup(this.id, this.opts.limits ?? {})
  }

  /** argv that starts `cmd` inside a fresh sandbox process tree joined to our cgroups. */
  private argv (cmd: string[], extra: Mount[] = [], env: Record<string, string> = {}, readOnlyWorkspace = false): string[] {
    // a read-only workspace goes first so the data and evaluation mounts still sit on top of it
    const ws: Mount[] = readOnlyWorkspace ? [{ hostPath: this.workspaceDir, path: WORKSPACE, readOnly: true }] : []
    const mounts = [...ws, ...(this.opts.mounts ?? []), ...extra]
    const join_ = this.cgroup.map(f => `echo $$ > ${f}`).join('; ')
    const gpus = (this.opts.limits?.gpus?.length ?? 0) > 0
    let inner: string[]
    if (localBackendInfo().isolation === 'bwrap') {
      inner = ['bwrap', ...bwrapArgs(this.root, mounts, { ...this.env, ...env }, gpus, this.opts.network === true), ...cmd]
    } else {
      inner = unshareArgv(this.root, mounts, { ...this.env, ...env }, cmd)
    }
    const rlimits = this.cgroup.length ? '' : rlimitShell(this.opts.limits ?? {})
    return ['sh', '-c', `${join_}${join_ ? '; ' : ''}${rlimits}exec "$@"`, 'sh', ...inner]
  }

  private async startShell (): Promise<ShellProcess> {
    if (this.closed) throw new Error('sandbox closed')
    const [cmd, ...args] = this.argv(['bash', '--noprofile', '--norc', '-s'])
    const p = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: false })
    this.proc = p
    let errText = ''
    p.stderr!.on('data', d => { errText += d })
    p.stdin!.on('error', () => {})
    // Wait until bash runs inside the namespace so killJobs can tell the shell from its jobs.
    const started = await new Promise<boolean>(resolve => {
      const deadline = Date.now() + 10_000
      const poll = () => {
        if (p.exitCode !== null || p.signalCode !== null) return resolve(false)
        const pid = this.findShellPid(p.pid!)
        if (pid) { this.shellPid = pid; return resolve(true) }
        if (Date.now() > deadline) return resolve(false)
        setTimeout(poll, 2)
      }
      poll()
    })
    if (!started) {
      p.kill('SIGKILL')
      await new Promise(resolve => setTimeout(resolve, 20))
      throw new Error(`the sandbox did not start: ${errText.trim() || 'no output'}`)
    }
    return {
      write: d => { if (p.stdin!.writable) p.stdin!.write(d) },
      onData: cb => p.stdout!.on('data', cb),
      onExit: cb => p.on('exit', code => cb(code)),
      kill: () => { p.kill('SIGKILL') }
    }
  }

  /** The shell is the bash under the namespace's init: outer (sh→exec bwrap) → init → bash. */
  private findShellPid (outer: number): number {
    for (const pid of descendants(outer)) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        if (cmd.startsWith('bash\0--noprofile\0--norc\0-s')) return pid
      } catch {}
    }
    return 0
  }

  private async killJobs (stillNeeded: () => boolean): Promise<void> {
    if (!this.proc?.pid || !this.shellPid) return
    // Everything in the sandbox except its init and the shell; repeated because a job may fork while we kill.
    for (let round = 0; round < 5 && stillNeeded(); round++) {
      // the shell's jobs, and what they left behind reparented to the namespace's init
      const init = this.initPid()
      const all = init ? descendants(init).filter(p => p !== this.shellPid) : descendants(this.shellPid)
      if (all.length === 0) return
      for (const pid of all) { try { process.kill(pid, 'SIGKILL') } catch {} }
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  private initPid (): number {
    if (!this.proc?.pid) return 0
    for (const c of children(this.proc.pid)) if (descendants(c).includes(this.shellPid) || c === this.shellPid) return c
    return 0
  }

  exec (command: string, opts?: ExecOptions): Promise<ExecResult> {
    return this.shell.exec(command, opts)
  }

  interrupt (): Promise<void> { return this.shell.interrupt() }

  /** MiB written under the agent's home (/tmp is a tmpfs, counted as memory). */
  diskUsageMb (): Promise<number> {
    return new Promise(resolve => {
      const p = spawn('du', ['-skx', join(this.root, 'home')], { stdio: ['ignore', 'pipe', 'ignore'] })
      let out = ''
      p.stdout.on('data', d => { out += d })
      p.on('close', () => resolve((Number(out.split(/\s+/)[0]) || 0) / 1024))
    })
  }

  /** Processes of this sandbox the kernel killed for lack of memory so far. */
  oomKills (): number { return oomKills(this.cgroup) }

  /** Host path for a path under /home/agent; anything else is outside what the host can reach directly. */
  hostPath (path: string): string {
    const abs = posix.resolve(WORKSPACE, path)
    if (abs !== AGENT_HOME && !abs.startsWith(AGENT_HOME + '/')) throw new Error(`${path}: only paths under ${AGENT_HOME} can be read or written`)
    const host = resolve(this.root, 'home', posix.relative(AGENT_HOME, abs))
    if (!host.startsWith(join(this.root, 'home'))) throw new Error(`${path}: outside the sandbox home`)
    return host
  }

  async putFiles (files: FileEntry[]): Promise<void> {
    for (const f of files) {
      const dest = this.hostPath(f.path)
      await mkdir(dirname(dest), { recursive: true })
      if (f.hostPath) await cp(f.hostPath, dest, { recursive: true, force: true })
      else await writeFile(dest, f.data ?? '')
      if (f.mode !== undefined) await chmod(dest, f.mode)
    }
  }

  async readFile (path: string): Promise<Buffer> { return readFile(this.hostPath(path)) }

  async writeFile (path: string, data: string | Buffer): Promise<void> { await this.putFiles([{ path, data }]) }

  run (command: string, opts: RunOptions = {}): Promise<RunResult> {
    const [cmd, ...args] = this.argv(['bash', '--noprofile', '--norc', '-c', `exec 2>&1; cd ${opts.cwd ?? WORKSPACE} && ${command}`], opts.mounts, opts.env, opts.evaluation)
    // bwrap makes an empty file or dir on the host for each mount point under the agent's home; the agent's shell
    // must not see even the names of a run's secret files, so what did not exist before goes afterwards
    const leftovers = this.newMountPoints(opts.mounts ?? [])
    return new Promise<RunResult>(resolve => {
      const p = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      this.runs.add(p)
      let out = ''
      let timedOut = false
      p.stdout!.on('data', d => { if (out.length < 4 * 1024 * 1024) out += d })
      p.stderr!.on('data', d => { out += d })
      const timer = opts.timeout ? setTimeout(() => { timedOut = true; p.kill('SIGKILL') }, opts.timeout * 1000) : undefined
      p.on('close', code => {
        clearTimeout(timer)
        this.runs.delete(p)
        resolve({ output: out, exitCode: timedOut ? null : code, timedOut })
      })
    }).finally(() => Promise.all(leftovers.map(h => rm(h, { recursive: true, force: true }))))
  }

  /** Host paths that mounting `mounts` will create in the agent's home (topmost only). */
  private newMountPoints (mounts: Mount[]): string[] {
    const out = new Set<string>()
    for (const m of mounts) {
      if (!m.path.startsWith(AGENT_HOME + '/')) continue
      let host = this.hostPath(m.path)
      if (existsSync(host)) continue
      // climb to the topmost part that does not exist yet
      while (!existsSync(dirname(host))) host = dirname(host)
      out.add(host)
    }
    return [...out]
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.shell.close()
    for (const r of this.runs) r.kill('SIGKILL')
    const p = this.proc
    if (p && p.exitCode === null && p.signalCode === null) {
      await new Promise(resolve => { p.once('exit', resolve); p.kill('SIGKILL') })
    }
    await removeCgroup(this.cgroup)
    await rm(this.root, { recursive: true, force: true }).catch(() => {})
    this.opts.onClose?.()
  }
}

/** Without cgroups: per-process rlimits, weaker but better than nothing (the health report says which is in use). */
function rlimitShell (l: { memoryMb?: number, pids?: number, gpus?: string[] }): string {
  const parts: string[] = []
  // address space, not memory: CUDA reserves far more than it uses, so a GPU sandbox gets no such limit
  if (l.memoryMb && !l.gpus?.length) parts.push(`ulimit -v ${l.memoryMb * 1024 * 4} 2>/dev/null`)
  if (l.pids) parts.push(`ulimit -u ${l.pids} 2>/dev/null`)
  return parts.length ? parts.join('; ') + '; ' : ''
}

/**
 * The fallback without bubblewrap: `unshare` into new user/pid/net/mount namespaces, build a root of read-only
 * binds, pivot into it and drop every capability. The shell is uid 0 of its user namespace (only that uid is
 * mapped), without capabilities; the host's files are out of reach but for the binds.
 */
function unshareArgv (root: string, mounts: Mount[], env: Record<string, string>, cmd: string[]): string[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  const nr = join(root, 'newroot')
  const lines = ['set -e', `NR=${q(nr)}`, 'mkdir -p "$NR"', 'mount -t tmpfs tmpfs "$NR"']
  const bind = (src: string, dst: string, ro: boolean) => {
    const isDir = statSync(src).isDirectory()
    // a mount point inside an earlier read-only bind (/etc/passwd) exists already: never write there
    lines.push(isDir ? `[ -d "$NR"${q(dst)} ] || mkdir -p "$NR"${q(dst)}`
      : `[ -e "$NR"${q(dst)} ] || { mkdir -p "$(dirname "$NR"${q(dst)})"; touch "$NR"${q(dst)}; }`)
    lines.push(`mount --rbind ${q(src)} "$NR"${q(dst)}`)
    if (ro) lines.push(`mount -o remount,bind,ro "$NR"${q(dst)}`)
  }
  for (const d of SYSTEM_DIRS) {
    if (!existsSync(d)) continue
    if (lstatSync(d).isSymbolicLink()) lines.push(`ln -s ${q(readlinkRel(d))} "$NR"${q(d)}`)
    else bind(d, d, true)
  }
  for (const f of HIDDEN_ETC) if (existsSync(f)) bind('/dev/null', f, true)
  bind(join(root, 'etc/passwd'), '/etc/passwd', true)
  bind(join(root, 'etc/group'), '/etc/group', true)
  const info = localBackendInfo()
  for (const p of info.pythonPaths) bind(p, p, true)
  bind(join(root, 'bin'), '/synthgym/bin', true)
  lines.push('mkdir -p "$NR/proc" "$NR/dev" "$NR/tmp" "$NR/home/agent"', 'mount -t proc proc "$NR/proc"',
    'mount --rbind /dev "$NR/dev"', 'mount -t tmpfs tmpfs "$NR/tmp"', 'chmod 1777 "$NR/tmp"')
  bind(join(root, 'home'), AGENT_HOME, false)
  for (const m of mounts) bind(m.hostPath, m.path, m.readOnly !== false)
  const envArgs = Object.entries(env).map(([k, v]) => q(`${k}=${v}`)).join(' ')
  // pivot_root, not chroot: the old root is unmounted, so there is no way back up; then every capability goes
  lines.push('cd "$NR" && mkdir .oldroot && pivot_root . .oldroot && cd / && umount -l /.oldroot && rmdir /.oldroot',
    'mount -o remount,ro /',
    `exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs env -i ${envArgs} sh -c 'cd ${WORKSPACE} && exec "$@"' sh ${cmd.map(q).join(' ')}`)
  return ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--net', '--ipc', '--uts', '--mount', '--kill-child', 'sh', '-c', lines.join('\n')]
}
