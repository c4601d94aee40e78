// The docker backend: one container per sandbox, the persistent shell its main process (no `docker exec` per step),
// spoken to over two fifos of this host where it can be (else its one attach stream), files through
// putArchive/getArchive, limits and isolation in the container's HostConfig.
import type Docker from 'dockerode'
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { constants as FS, existsSync, openSync, readdirSync, statSync } from 'node:fs'
import { chmod, chown, mkdir, rm, rmdir } from 'node:fs/promises'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { promisify } from 'node:util'
import { PassThrough, type Duplex, type Readable } from 'node:stream'
import { dirname, join, posix } from 'node:path'
import { PersistentShell, PROTOCOL_ID, type ShellProcess } from './shell.js'
import { SandboxStartError, ShellClosedError } from './errors.js'
import { LABEL, dockerMessage, removeContainer, within, type DockerEngine } from './docker-engine.js'
import { addDirs, addHostPath, firstFile, newPack, repack } from './archive.js'
import { forgetCounters, pidsCurrent, pidsLimitHits, processCgroups } from './cgroups.js'
import {
  AGENT_HOME, WORKSPACE, type ExecOptions, type ExecResult, type InterruptOptions, type FileEntry, type Mount, type RunOptions, type RunResult,
  type Sandbox, type SandboxOptions, type ShellHandle
} from './types.js'
import { EVALUATION_ENV, HOST_SPAWN_ENV, SANDBOX_DEFAULTS, pidsAtLimit, runArgv, sandboxEnv } from './policy.js'
import {
  diskQuotaAvailable, filesBytes, hostDiskUsageMb, mountQuotaFs, quotaUsageMb, removeTree, treeBytes, watchDiskAlways
} from './disk.js'

const AGENT = { uid: 1000, gid: 1000 }
const run = promisify(execFile)
const ROOT_RO = { uid: 0, gid: 0, readOnly: true }
/** hidden files in an evaluation's container: root's, readable by the agent's group, changed by no one */
const SECRET = { uid: 0, gid: AGENT.gid, readOnly: true, groupRead: true }

export interface DockerSandboxOptions extends SandboxOptions {
  image: string
  serverId: string
  labels?: Record<string, string>
  /** an OCI runtime such as gVisor's `runsc` */
  runtime?: string
  shmMb?: number
  user?: string
}

/**
 * The sandbox container's main process: a sh that is pid 1 itself (no docker-init), so the agent, whose uid it
 * shares, cannot end the container from inside (`kill -9 1`, `kill -TERM 1`, `kill -9 -1`): the kernel drops
 * signals to a namespace's init that it has no handler for. sh reaps orphans while it waits for the shell.
 */
const SHELL_WRAPPER = 'bash --noprofile --norc -s; exit 64'
const SHELL_ENDED = 64
/** Where a container sees its shell's two fifos (SHELL_ON_FIFOS), a read-only bind of its host folder's `shell/`. */
const FIFOS = '/run/synthgym'
/**
 * The wrapper where the server made the shell's fifos: the shell reads its steps from `in` and writes to `out`, so a
 * step goes from the server to bash with no daemon between (the attach stream passes dockerd and containerd's shim:
 * four more process wakes a step). sh, pid 1, holds both open (read and write), so that the shell neither sees its
 * input end nor dies of SIGPIPE when the server goes (its container can be re-attached), and says which way it took
 * on the attach stream: where it cannot open them (a user namespace maps the agent elsewhere), the attach stream.
 */
export const SHELL_ON_FIFOS = `if (exec 3<>${FIFOS}/in 4<>${FIFOS}/out) 2>/dev/null; then exec 3<>${FIFOS}/in 4<>${FIFOS}/out; ` +
  "printf '\\036fifos\\n'; bash --noprofile --norc -s <&3 >&4 2>&1 3<&- 4<&-; " +
  "else printf '\\036attach\\n'; bash --noprofile --norc -s; fi; exit 64"
/** what SHELL_ON_FIFOS prints first: which way the shell speaks */
const ON_FIFOS = '\x1efifos\n'
const ON_ATTACH = '\x1eattach\n'
/** the label of a container whose shell may speak over fifos (its wrapper is SHELL_ON_FIFOS) */
const FIFOS_LABEL = 'synthgym.fifos'
/**
 * Kills every process but pid 1, the shell's parent and the shell, with bash builtins only (no fork at the pids
 * limit): each pass stops the ones running (a slot a kill frees would be taken by a bomb still running), and a pass
 * that finds every one stopped kills them all; until a pass finds none alive (zombies are pid 1's to reap), or 50.
 */
const REAP_WITH_BUILTINS = `__sg_r=0; while (( __sg_r++ < 50 )); do __sg_live= __sg_run=
for __sg_d in /proc/[0-9]*; do __sg_p=\${__sg_d#/proc/}; case " 1 $$ $PPID " in *" $__sg_p "*) continue ;; esac
{ read -r __sg_l < "$__sg_d/stat"; } 2>/dev/null || continue; __sg_l=\${__sg_l##*) }
case \${__sg_l%% *} in Z|X) continue ;; T|t) ;; *) __sg_run=1; kill -STOP "$__sg_p" 2>/dev/null ;; esac
__sg_live+=" $__sg_p"; done
[[ $__sg_live ]] || break; [[ $__sg_run ]] || kill -KILL $__sg_live 2>/dev/null; done
unset __sg_r __sg_live __sg_run __sg_d __sg_p __sg_l`

export class DockerSandbox implements Sandbox {
  readonly backend = 'docker'
  readonly id: string
  container!: Docker.Container
  private shell: PersistentShell
  private closed = false
  private killedByUs = false
  /** OOM kills counted in earlier runs of the container (its cgroup counters start from 0 at each start) */
  private oom = 0
  /** the highest OOM-kill count read in the current run of the container */
  private oomRun = 0
  private failure: string | null = null
  private mounts: Mount[]
  /** the container's overlay upper dir on this host (null: the engine is elsewhere); found at the first ask */
  private upperDir: string | null | undefined
  /** the container's cgroups on the host ([] where they cannot be read here); found on first use */
  private hostCgroups: string[] | undefined
  /** forks the pids limit had refused when the reaper last looked (pids.events) */
  private limitHits = 0
  /**
   * the host folder of the sandbox's disk quota: a file system (fs/) of the limit's size whose home/ and tmp/ are
   * the container's /home/agent, /tmp and /var/tmp (null: no quota, the engine is elsewhere or we are not root)
   */
  private quotaDir: string | null = null
  /**
   * the host folder of the shell's fifos (`in`, `out`; the container's FIFOS), for a container labelled FIFOS_LABEL;
   * null: its shell speaks over the attach stream (an engine elsewhere, another runtime, a server that cannot give
   * the fifos to the agent's uid)
   */
  private fifoDir: string | null = null
  private unwatch = () => {}
  /** extra shells (openShell): attached `docker exec` bashes in the same container */
  private extra = new Set<PersistentShell>()

  /**
   * set by reattach: the first shell is the running container's (set up already), attached to, not started; not
   * where that shell runs another protocol than this server's (an older server's): the container is restarted then
   */
  private attachOnly: boolean

  private constructor (readonly engine: DockerEngine, private opts: DockerSandboxOptions,
    reattach?: { id?: string, protocol?: string }) {
    this.id = reattach?.id ?? 'sbx-' + randomBytes(6).toString('hex')
    this.mounts = [...(opts.mounts ?? [])]
    this.attachOnly = reattach !== undefined && reattach.protocol === PROTOCOL_ID
    // only an engine of this machine (a unix socket) in our mount namespace sees our mounts
    const d = join(hostBase(opts.serverId), this.id)
    const quota = opts.limits?.diskMb && diskQuotaAvailable() && !engine.config.host && !engine.quotaUnseen
    if (quota) this.quotaDir = reattach ? (existsSync(join(d, 'fs')) ? d : null) : d
    // fifos owned by the agent's uid (root gives them), read by runc's containers (gVisor's own kernel is not asked)
    if (!engine.config.host && !engine.fifosUnseen && !opts.runtime && process.geteuid?.() === 0 && agentIds(opts.user)) {
      this.fifoDir = join(d, 'shell')
    }
    this.shell = new PersistentShell({ start: () => this.startShell(), killJobs: still => this.killJobs(still) },
      { outputCap: opts.limits?.outputCap, init: opts.init, attached: this.attachOnly })
  }

  static async create (engine: DockerEngine, opts: DockerSandboxOptions): Promise<DockerSandbox> {
    const sb = new DockerSandbox(engine, opts)
    engine.sandboxes.add(sb)
    try {
      await sb.makeQuota()
      for (;;) {
        const wrapper = sb.fifoDir ? SHELL_ON_FIFOS : SHELL_WRAPPER
        try {
          await sb.makeFifoDir()
          sb.container = await within(engine.docker.createContainer(sb.containerConfig(['sh', '-c', wrapper], true)), 'create')
          break
        } catch (e) {
          if (!/bind source path does not exist/i.test(dockerMessage(e))) throw e
          // the engine does not see this machine's mounts (it runs in a container or another mount namespace): the
          // quota's file system first (the watcher alone holds the limit), then the fifos' folder (the attach
          // stream), for this engine's later sandboxes too
          if (sb.quotaDir) {
            await removeTree(sb.quotaDir)
            sb.quotaDir = null
            engine.quotaUnseen = true
          } else if (sb.fifoDir) {
            sb.fifoDir = null
            engine.fifosUnseen = true
          } else throw e
        }
      }
      await sb.setup(sb.container, sb.mounts, opts.files ?? [])
      await sb.shell.start()
    } catch (e) {
      await sb.close()
      throw new SandboxStartError(sb.startError(e))
    }
    sb.watch()
    return sb
  }

  get diskLimitMb (): number | undefined { return this.opts.limits?.diskMb }
  get diskQuota (): boolean { return this.quotaDir !== null }

  /**
   * The quota's file system: the disk limit, plus what setup() copies into the home (the task's files count as
   * they did in the container's layer, and must fit).
   */
  private async makeQuota (): Promise<void> {
    if (!this.quotaDir) return
    const setup = this.mounts.reduce((n, m) => n + (m.path.startsWith(AGENT_HOME + '/') ? treeBytes(m.hostPath) : 0), filesBytes(this.opts.files))
    const fs = join(this.quotaDir, 'fs')
    await mountQuotaFs(join(this.quotaDir, 'disk.img'), fs, this.opts.limits!.diskMb! + Math.ceil(setup / 2 ** 20), AGENT)
    await mkdir(join(fs, 'home'), { mode: 0o755 })
    await chown(join(fs, 'home'), AGENT.uid, AGENT.gid)
    await mkdir(join(fs, 'tmp'))
    await chmod(join(fs, 'tmp'), 0o1777)
    await chmod(fs, 0o755)
    await chown(fs, 0, 0)
  }

  /** The fifos' folder (the bind's source must be there when the container is made and started); none outside. */
  private async makeFifoDir (): Promise<void> {
    if (!this.fifoDir) return
    await mkdir(dirname(this.fifoDir), { recursive: true, mode: 0o700 })
    await mkdir(this.fifoDir, { recursive: true })
    await chmod(this.fifoDir, 0o755)
  }

  /**
   * The shell's fifos, made afresh for each start of the container (what a dead shell left unread in `in` would be
   * read by the next one), the agent's own; `in` open here.
   */
  private async freshFifos (): Promise<Socket> {
    const dir = this.fifoDir!
    await this.makeFifoDir()
    const ids = agentIds(this.opts.user)!
    for (const name of ['in', 'out']) {
      await rm(join(dir, name), { force: true })
      await run('mkfifo', ['-m', '0600', join(dir, name)], { env: HOST_SPAWN_ENV })
      await chown(join(dir, name), ids.uid, ids.gid)
    }
    return this.openIn()
  }

  /** `in`, to write steps to: open read and write, so that a write never waits for (or loses) a reader. */
  private openIn (): Socket {
    const w = new Socket({ fd: openSync(join(this.fifoDir!, 'in'), FS.O_RDWR | FS.O_NONBLOCK), readable: false, writable: true })
    w.on('error', () => {})
    return w
  }

  /**
   * Between steps too, the container's writes are watched (what a custom image lets the agent write outside the
   * quota's paths; everything, where there is no quota): over the limit, its jobs are killed.
   */
  private watch (): void {
    const l = this.opts.limits?.diskMb
    if (!l) return
    const stop = async () => { await Promise.all([this.shell, ...this.extra].map(s => s.interrupt({ grace: 0 }).catch(() => {}))) }
    this.unwatch = watchDiskAlways(() => this.diskUsageMb(), l, this.quotaDir ? 1 : SANDBOX_DEFAULTS.diskPollSeconds, stop)
  }

  /**
   * The running container of a server that died, as a sandbox again. Its shell outlives the server (its fifos, which
   * pid 1 holds, or its attach stream's stdin, kept open: OpenStdin without StdinOnce), so it is attached to afresh: what the dead server's last command left
   * running is killed first, then the shell must answer a command within 10 s, else the container is removed and
   * this throws SandboxStartError saying why. A shell of another protocol (`protocol`, the container's label: an
   * older server's) is not attached to: the container restarts with a fresh shell, its files kept.
   */
  static async reattach (engine: DockerEngine, containerId: string, opts: DockerSandboxOptions, id?: string,
    protocol?: string): Promise<DockerSandbox> {
    const sb = new DockerSandbox(engine, opts, { id, protocol })
    sb.container = engine.docker.getContainer(containerId)
    engine.sandboxes.add(sb)
    try {
      await sb.killJobs(() => true)
      await sb.shell.start()
      const r = await sb.shell.exec('true', { timeout: 10, trusted: true })
      if (r.exitCode !== 0 || r.restarted || r.timedOut) {
        throw new Error(r.timedOut ? 'its shell did not answer within 10 s' : `its shell did not survive (exit ${r.exitCode})`)
      }
    } catch (e) {
      await sb.close()
      throw new SandboxStartError(`re-attaching container ${containerId.slice(0, 12)} on ${engine.name}: ${dockerMessage(e)}`)
    }
    sb.watch()
    return sb
  }

  private startError (e: unknown): string {
    const msg = dockerMessage(e)
    if (/could not select device driver|nvidia/i.test(msg)) {
      return `the docker engine ${this.engine.name} cannot give GPUs to containers: ${msg}. Install the NVIDIA container toolkit there, or ask for no GPUs`
    }
    if (/No such image/i.test(msg)) return `${msg}: build it with \`synthgym image build\` or pull it on the engine (${this.engine.name})`
    if (/unknown or invalid runtime|unknown runtime specified/i.test(msg)) return `${msg}: configure it in the engine's daemon.json (e.g. runsc for gVisor)`
    return `docker sandbox on ${this.engine.name}: ${msg}`
  }

  get alive (): boolean { return !this.closed && this.failure === null && this.shell.alive }

  private containerConfig (cmd: string[], interactive: boolean, extraEnv: Record<string, string> = {}): Docker.ContainerCreateOptions {
    const o = this.opts
    const l = o.limits ?? {}
    const env = sandboxEnv(l, 'NVIDIA_VISIBLE_DEVICES', { ...o.env, ...extraEnv })
    const mem = l.memoryMb ? l.memoryMb * 1024 * 1024 : undefined
    // the largest file the agent may write: the disk limit holds even for one `dd` between two checks
    const fsize = l.diskMb ? [{ Name: 'fsize', Soft: l.diskMb * 1024 * 1024, Hard: l.diskMb * 1024 * 1024 }] : undefined
    return {
      Image: o.image,
      Cmd: cmd,
      User: o.user ?? '1000:1000',
      WorkingDir: WORKSPACE,
      // as the local backend's; without a network the name must still resolve (torchrun --standalone connects to it)
      Hostname: 'sandbox',
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: {
        [LABEL]: '1', 'synthgym.server': o.serverId, 'synthgym.sandbox': this.id, 'synthgym.protocol': PROTOCOL_ID,
        ...(interactive && this.fifoDir ? { [FIFOS_LABEL]: '1' } : {}),
        ...o.labels
      },
      OpenStdin: interactive,
      StdinOnce: false,
      AttachStdin: interactive,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      // one meaning on every backend: the opt-in shares the host's network, else there is none (NetworkMode none: a
      // loopback only; NetworkDisabled would also leave /etc/hosts without localhost, and torchrun's rendezvous fails)
      HostConfig: {
        NetworkMode: o.network === true ? 'host' : 'none',
        ...(o.network === true ? {} : { ExtraHosts: ['sandbox:127.0.0.1'] }),
        Ulimits: fsize,
        ...(interactive ? this.hostMounts() : {}),
        Init: !interactive,
        // what the shell prints reaches us over the attach stream; a log file would fill the engine's disk (`yes`)
        LogConfig: { Type: 'none', Config: {} },
        Memory: mem,
        MemorySwap: mem,
        NanoCpus: l.cpus ? Math.round(l.cpus * 1e9) : undefined,
        PidsLimit: l.pids,
        ShmSize: (o.shmMb ?? SANDBOX_DEFAULTS.shmMb) * 1024 * 1024,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Runtime: o.runtime,
        ...(l.gpus?.length ? { DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: l.gpus, Capabilities: [['gpu']] }] } : {})
      }
    }
  }

  /**
   * The binds from this host: the quota's paths (and /run/lock, the image's last place the agent may write, as a
   * small tmpfs), the fifos' folder (read-only: the agent can neither replace them nor make files there).
   */
  private hostMounts (): Pick<Docker.HostConfig, 'Mounts' | 'Tmpfs'> {
    const q = this.quotaDir
    const mounts = [
      ...(q ? [['home', AGENT_HOME], ['tmp', '/tmp'], ['tmp', '/var/tmp']].map(([from, to]) => ({ Source: join(q, 'fs', from!), Target: to! })) : []),
      ...(this.fifoDir ? [{ Source: this.fifoDir, Target: FIFOS, ReadOnly: true }] : [])
    ].map(m => ({ Type: 'bind' as const, ...m }))
    return { ...(mounts.length ? { Mounts: mounts } : {}), ...(q ? { Tmpfs: { '/run/lock': 'size=1m,mode=1777' } } : {}) }
  }

  /**
   * One archive before the start: /home/agent and its workspace owned by the agent (whatever the image has), the
   * task's read-only files owned by root without write bits, and the starter files owned by the agent.
   */
  private async setup (c: Docker.Container, mounts: Mount[], files: FileEntry[]): Promise<void> {
    const pack = newPack()
    addDirs(pack, [{ name: 'home/agent', owner: AGENT }, { name: 'home/agent/workspace', owner: AGENT }])
    const made = new Set<string>(['home', 'home/agent', 'home/agent/workspace'])
    const parents = (rel: string) => {
      const parts = posix.dirname(rel).split('/')
      for (let i = 1; i <= parts.length; i++) {
        const dir = parts.slice(0, i).join('/')
        if (dir === '.' || made.has(dir)) continue
        made.add(dir)
        // parents inside the agent's home stay the agent's; others are root's
        const agentOwned = ('/' + dir).startsWith(AGENT_HOME + '/')
        addDirs(pack, [{ name: dir, owner: agentOwned ? AGENT : { uid: 0, gid: 0 } }])
      }
    }
    for (const m of mounts) {
      const rel = m.path.replace(/^\/+/, '')
      parents(rel)
      addHostPath(pack, m.hostPath, rel, m.secret ? SECRET : m.readOnly === false ? AGENT : ROOT_RO)
    }
    for (const f of files) {
      const rel = this.abs(f.path).replace(/^\/+/, '')
      parents(rel)
      addFile(pack, f, rel)
    }
    pack.finalize()
    await within(c.putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/' }), 'putArchive')
  }

  /** A warm sandbox taken for an environment: its container is renamed after it (labels are fixed at creation). */
  async adopt (envId: string): Promise<void> {
    await this.container.rename({ name: `synthgym-${envId}-${this.id}` }).catch(() => {})
  }

  private async startShell (): Promise<ShellProcess> {
    if (this.closed) throw new Error('sandbox closed')
    const c = this.container
    if (this.attachOnly) {
      this.attachOnly = false
      const stream = await within(c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }), 'attach') as unknown as Duplex
      const s = attachedStream(c, stream)
      const w = await this.fifosHeld()
      return w ? this.onFifos(s, w) : this.onAttach(s)
    }
    const info = await within(c.inspect(), 'inspect').catch(e => {
      // it cannot come back: the container was removed, or its engine does not answer (dockerd stopped)
      this.failure = `its container cannot be reached: ${dockerMessage(e)}`
      throw new Error(this.failure)
    })
    if (info.State.Running) {
      // only on a restart: the old shell is dead or stuck, stop what is left (its OOM count first: it resets)
      await this.oomKills()
      this.killedByUs = true
      await within(c.kill(), 'kill').catch(() => {})
      await within(c.wait({ condition: 'not-running' }), 'wait').catch(() => {})
    }
    const after = info.State.Running ? await within(c.inspect(), 'inspect') : info
    if (after.State.StartedAt && !after.State.StartedAt.startsWith('0001')) {
      // the container ran before: find out why it stopped before bringing the shell back. Docker's OOMKilled says
      // that some process of that run was OOM-killed (often a child the agent started, already reported), not
      // that the container died of it: only a stop we did not cause and that is not the shell ending is fatal.
      this.oom += Math.max(this.oomRun, after.State.OOMKilled ? 1 : 0)
      this.oomRun = 0
      if (!this.killedByUs && after.State.ExitCode !== SHELL_ENDED) {
        this.failure = after.State.OOMKilled
          ? 'the sandbox container ran out of memory and was killed'
          : `the sandbox container was stopped from outside (exit code ${after.State.ExitCode}${after.State.ExitCode === 137 ? ', killed' : ''})`
        throw new Error(this.failure)
      }
    }
    this.killedByUs = false
    const fifos = after.Config?.Labels?.[FIFOS_LABEL] === '1'
    if (fifos && !this.fifoDir) throw new Error('its shell speaks over fifos, which this server cannot make (run it as root, on the engine\'s machine)')
    const w = fifos ? await this.freshFifos() : null
    try {
      const stream = await within(c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }), 'attach') as unknown as Duplex
      const s = attachedStream(c, stream)
      await within(c.start(), 'start')
      if (!w) return this.onAttach(s)
      // SHELL_ON_FIFOS says which way its shell took
      const way = await firstLine(s)
      if (way === ON_FIFOS) return this.onFifos(s, w)
      w.destroy()
      if (way === ON_ATTACH) return this.onAttach(s)
      s.end()
      throw new Error(`its shell did not start (it said ${JSON.stringify(way)})`)
    } catch (e) { w?.destroy(); throw e }
  }

  /** The shell on the attach stream. */
  private onAttach (s: ReturnType<typeof attachedStream>): ShellProcess {
    return {
      write: s.write,
      onData: cb => { s.out.on('data', cb); s.out.resume() },
      onExit: s.onExit,
      kill: () => { this.killedByUs = true; void this.container.kill().catch(() => {}); s.end() }
    }
  }

  /**
   * The shell on its fifos: steps into `in` (`w`), output from `out`, opened once sh holds it (with no writer, a
   * read would end at once). Its end is `out`'s, which comes when every process that could write it is gone (the
   * container stopped), after everything they wrote; the attach stream only carries the container's end too.
   */
  private onFifos (s: ReturnType<typeof attachedStream>, w: Socket): ShellProcess {
    const r = new Socket({ fd: openSync(join(this.fifoDir!, 'out'), FS.O_RDONLY | FS.O_NONBLOCK), readable: true, writable: false })
    const exitCbs: ((code: number | null) => void)[] = []
    let ended = false
    const end = () => {
      if (ended) return
      ended = true
      w.destroy()
      for (const cb of exitCbs) cb(null)
    }
    r.on('end', end)
    r.on('close', end)
    r.on('error', () => r.destroy())
    // the attach stream carries nothing more; read to its end
    s.out.resume()
    return {
      write: d => { if (!ended) w.write(d) },
      onData: cb => { r.on('data', cb) },
      onExit: cb => { exitCbs.push(cb) },
      kill: () => { this.killedByUs = true; r.resume(); void this.container.kill().catch(() => {}); s.end() },
      pause: () => { r.pause() },
      resume: () => { r.resume() }
    }
  }

  /**
   * `in` of the shell a re-attached container runs on its fifos (sh, pid 1, holds it: SHELL_ON_FIFOS), open here;
   * null where that shell speaks over the attach stream.
   */
  private async fifosHeld (): Promise<Socket | null> {
    if (!this.fifoDir) return null
    const pid = (await within(this.container.inspect(), 'inspect').catch(() => null))?.State?.Pid
    if (!pid) return null
    try {
      const ours = statSync(join(this.fifoDir, 'in'))
      // sh moves its fds as it runs a command (dash keeps them above 9): any of them
      const held = readdirSync(`/proc/${pid}/fd`).some(fd => {
        try { const st = statSync(`/proc/${pid}/fd/${fd}`); return st.ino === ours.ino && st.dev === ours.dev } catch { return false }
      })
      if (!held) return null
    } catch { return null }
    return this.openIn()
  }

  /** Another persistent shell in the same container: an attached `docker exec` bash (fine for extra sessions). */
  async openShell (): Promise<ShellHandle> {
    if (this.closed || this.failure !== null) throw new ShellClosedError(this.failure ?? 'the sandbox is closed')
    let pid = 0
    const shell = new PersistentShell({
      start: async () => { const s = await this.startExecShell(); pid = s.pid; return s.proc },
      killJobs: still => this.killBelow(() => pid, still)
    }, { outputCap: this.opts.limits?.outputCap, init: this.opts.init })
    this.extra.add(shell)
    try {
      await shell.start()
      if (this.closed) throw new ShellClosedError('the sandbox closed while the shell started')
    } catch (e) { this.extra.delete(shell); await shell.close(); throw e }
    return {
      exec: (command, o) => shell.exec(command, o),
      interrupt: opts => shell.interrupt(opts),
      close: async () => { if (this.extra.delete(shell)) await shell.close() },
      get alive () { return shell.alive },
      get busy () { return shell.busy }
    }
  }

  /** `docker exec -i bash` on one attached stream; the shell tells its pid (in the container) first. */
  private async startExecShell (): Promise<{ proc: ShellProcess, pid: number }> {
    if (this.closed) throw new Error('sandbox closed')
    const ex = await within(this.container.exec({
      Cmd: ['bash', '--noprofile', '--norc', '-s'], User: this.opts.user ?? '1000:1000', WorkingDir: WORKSPACE,
      AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false
    }), 'an exec')
    const stream = await within(ex.start({ hijack: true, stdin: true }), 'an exec') as unknown as Duplex
    const { out, write, onExit, end, ended } = attachedStream(this.container, stream)
    stream.write('echo "__SG_PID_$$__"\n')
    // the shell's pid, on a line of its own (what the shell printed before, a warning, is dropped); what follows goes
    // to the shell protocol
    let m: RegExpExecArray | null = null
    while (!m) m = /^__SG_PID_(\d+)__\n$/.exec(await firstLine({ out, onExit }, 'the exec shell'))
    const pid = Number(m[1])
    return {
      pid,
      proc: {
        write,
        onData: cb => { out.on('data', cb); out.resume() },
        onExit,
        kill: () => {
          if (!ended()) void this.shortExec(`kill -9 ${pid} 2>/dev/null; true`).catch(() => {})
          stream.destroy()
          end()
        }
      }
    }
  }

  /** Kills every process below the shell with pid `pid()` (in the container), for as long as `stillNeeded()`. */
  private async killBelow (pid: () => number, stillNeeded: () => boolean): Promise<void> {
    const script = `top=${pid()}; [ "$top" -gt 0 ] || exit 0
all=$(for d in /proc/[0-9]*; do read -r p comm st ppid rest < "$d/stat" 2>/dev/null && echo "$p $ppid"; done)
kids="$top"; found=""
while [ -n "$kids" ]; do next=""; for k in $kids; do for c in $(echo "$all" | awk -v k="$k" '$2 == k { print $1 }'); do found="$found $c"; next="$next $c"; done; done; kids="$next"; done
[ -n "$found" ] && kill -9 $found 2>/dev/null; true`
    for (let round = 0; round < 3 && stillNeeded(); round++) {
      await this.shortExec(script)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  /**
   * Kills every process but init, the shell wrapper and the shell, from a short exec as the agent's user. What runs
   * under a `docker exec` (parent pid 0: the extra shells of openShell, this exec itself) is not the agent shell's.
   */
  private async killJobs (stillNeeded: () => boolean): Promise<void> {
    const script = `shell=$(for d in /proc/[0-9]*; do read -r pid comm st ppid rest < "$d/stat" 2>/dev/null || continue; case "$comm" in "(bash)") echo "$pid";; esac; done | sort -n | head -n 1)
wrapper=$(for d in /proc/[0-9]*; do read -r pid comm st ppid rest < "$d/stat" 2>/dev/null || continue; [ "$ppid" = 1 ] && echo "$pid"; done | sort -n | head -n 1)
for d in /proc/[0-9]*; do read -r p comm st ppid rest < "$d/stat" 2>/dev/null && echo "$p $ppid"; done | awk -v keep=" 1 $shell $wrapper $$ " '
  { par[$1] = $2 }
  END { for (p in par) { q = p; mine = 1; while (q in par) { if (par[q] == 0 && q != 1) { mine = 0; break }; q = par[q] } if (mine && index(keep, " " p " ") == 0) print p } }' | while read -r p; do kill -9 "$p" 2>/dev/null; done; true`
    for (let round = 0; round < 3 && stillNeeded(); round++) {
      await this.shortExec(script)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  /** Ends the sandbox from outside (its engine is gone): the environment reports `reason`. */
  async abandon (reason: string): Promise<void> {
    this.failure = reason
    // The engine does not answer, so its API may hang: the sandbox ends now (close() shuts the shell before its
    // first await) and the container's removal goes on in the background (a sweep of this server's containers
    // removes it otherwise, once the engine answers again).
    void this.close()
    this.engine.sandboxes.delete(this)
  }

  /**
   * MiB the container has written (only asked for when a task sets a disk limit, several times a second while a
   * command runs): its overlay upper dir measured from the host when the engine is this machine's, else the
   * agent's home and /tmp measured by an exec (some 50 ms slower, so a fast writer overshoots further).
   */
  async diskUsageMb (): Promise<number> {
    if (this.upperDir === undefined) {
      const info = await within(this.container.inspect(), 'inspect').catch(() => null)
      const dir = (info?.GraphDriver?.Data as Record<string, string> | undefined)?.UpperDir
      this.upperDir = dir && existsSync(dir) ? dir : null
    }
    const quota = this.quotaDir ? await quotaUsageMb(join(this.quotaDir, 'fs')) : 0
    if (this.upperDir) return quota + await hostDiskUsageMb(this.upperDir)
    const out = await this.shortExec('du -skx /home/agent /tmp 2>/dev/null')
    return out.split('\n').reduce((kb, l) => kb + (Number(l.split(/\s+/)[0]) || 0), 0) / 1024
  }

  async exec (command: string, opts?: ExecOptions): Promise<ExecResult> {
    let r: ExecResult
    try { r = await this.shell.exec(command, opts) } catch (e) {
      // the shell could not be brought back (container killed, out of memory, engine gone): say why, as a closed sandbox
      if (this.failure !== null) throw new ShellClosedError(this.failure)
      throw e
    }
    if (r.exitCode === null && this.failure !== null) throw new ShellClosedError(this.failure)
    return r
  }
  interrupt (opts?: InterruptOptions): Promise<void> { return this.shell.interrupt(opts) }
  /** The container's own memory cgroup counts the kernel's OOM kills (v2 memory.events, v1 memory.oom_control). */
  /**
   * At the pids limit no exec can start in the container (killJobs' way): the agent's own shell, which needs no
   * fork for builtins, kills every process but the container's init, the shell's parent and itself.
   */
  async reapAtProcessLimit (): Promise<number> {
    const max = this.opts.limits?.pids
    if (!max || this.closed) return 0
    const held = await pidsAtLimit(() => this.pidsHeld(), () => pidsLimitHits(this.hostCgroups ?? []), this.limitHits, max)
    if (held === null) return 0
    await this.shell.exec(REAP_WITH_BUILTINS, { trusted: true, timeout: 10 }).catch(() => {})
    // the killed hold their pids until sh reaps them: the next command could not fork yet (at most 5 s)
    const until = Date.now() + 5000
    while (Date.now() < until && await this.pidsHeld() >= max - SANDBOX_DEFAULTS.pidsSlack) {
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    this.limitHits = pidsLimitHits(this.hostCgroups ?? []) ?? 0
    return held
  }

  /**
   * Processes in the container now: from its pids cgroup on the host when the engine runs here (this is asked twice
   * a step), else from the engine's stats (one-shot still takes up to a second on Docker 20.10).
   */
  private async pidsHeld (): Promise<number> {
    if (this.hostCgroups === undefined) {
      const pid = (await within(this.container.inspect(), 'inspect').catch(() => null))?.State?.Pid
      this.hostCgroups = pid ? processCgroups(pid) : []
    }
    const here = pidsCurrent(this.hostCgroups)
    if (here !== null) return here
    const stats = await within(this.container.stats({ stream: false, 'one-shot': true } as { stream: false }), 'stats').catch(() => null)
    return (stats as { pids_stats?: { current?: number } } | null)?.pids_stats?.current ?? 0
  }

  async oomKills (): Promise<number> {
    const out = await this.shortExec('cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null').catch(() => '')
    const m = /oom_kill (\d+)/.exec(out)
    if (m) this.oomRun = Math.max(this.oomRun, Number(m[1]))
    return this.oom + this.oomRun
  }

  private async shortExec (cmd: string): Promise<string> {
    return within((async () => {
      const ex = await this.container.exec({ Cmd: ['sh', '-c', cmd], User: this.opts.user ?? '1000:1000', AttachStdout: true, AttachStderr: true })
      const s = await ex.start({ hijack: true, stdin: false })
      const out = new PassThrough()
      let text = ''
      out.on('data', (d: Buffer) => { text += d.toString() })
      this.container.modem.demuxStream(s, out, out)
      await new Promise(resolve => { s.on('end', resolve); s.on('close', resolve) })
      return text
    })(), 'an exec')
  }
  /** why the sandbox ended, when it ended on its own */
  get endReason (): string | null { return this.failure }

  /** Paths are relative to the workspace, as in the shell. */
  private abs (path: string): string { return posix.resolve(WORKSPACE, path) }

  async putFiles (files: FileEntry[]): Promise<void> {
    const pack = newPack()
    for (const f of files) addFile(pack, f, this.abs(f.path).replace(/^\/+/, ''))
    pack.finalize()
    await within(this.container.putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/' }), 'putArchive')
  }

  async readFile (path: string): Promise<Buffer> {
    const stream = await within(this.container.getArchive({ path: this.abs(path) }), 'getArchive')
    return firstFile(stream as unknown as Readable, SANDBOX_DEFAULTS.readFileCap).catch(e => { (stream as unknown as Readable).destroy(); throw e })
  }

  async writeFile (path: string, data: string | Buffer): Promise<void> { await this.putFiles([{ path, data }]) }

  /**
   * A fresh container of the same image and limits with a copy of the workspace, the task's pristine read-only
   * files and the extra mounts (secrets): what runs there cannot touch the agent's container, nor be seen from it.
   */
  async run (command: string, opts: RunOptions = {}): Promise<RunResult> {
    const c = await within(this.engine.docker.createContainer({
      ...this.containerConfig(runArgv(command, opts.cwd), false, opts.evaluation ? { ...EVALUATION_ENV, ...opts.env } : opts.env),
      Labels: { [LABEL]: '1', 'synthgym.server': this.opts.serverId, 'synthgym.sandbox': this.id + '-run', ...this.opts.labels }
    }), 'create')
    try {
      const ws = await within(this.container.getArchive({ path: WORKSPACE }), 'getArchive')
      await this.setup(c, [], [])
      await within(c.putArchive(repack(ws as unknown as Readable, opts.evaluation ? ROOT_RO : AGENT) as unknown as NodeJS.ReadableStream, { path: AGENT_HOME }), 'putArchive')
      await this.setup(c, [...this.mounts, ...(opts.mounts ?? [])], [])
      const stream = await within(c.attach({ stream: true, stdout: true, stderr: true }), 'attach')
      const out = new PassThrough()
      let output = ''
      out.on('data', (d: Buffer) => { if (output.length < SANDBOX_DEFAULTS.runOutputCap) output += d.toString() })
      c.modem.demuxStream(stream, out, out)
      const ended = new Promise(resolve => { stream.on('end', resolve); stream.on('close', resolve) })
      await within(c.start(), 'start')
      let timedOut = false
      const timer = opts.timeout ? setTimeout(() => { timedOut = true; void c.kill().catch(() => {}) }, opts.timeout * 1000) : undefined
      const res = await c.wait() as { StatusCode: number }
      clearTimeout(timer)
      await Promise.race([ended, new Promise(resolve => setTimeout(resolve, 1000))])
      return { output, exitCode: timedOut ? null : res.StatusCode, timedOut }
    } finally {
      await removeContainer(this.engine, c.id)
    }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.unwatch()
    await this.shell.close()
    const extra = [...this.extra]
    this.extra.clear()
    await Promise.all(extra.map(s => s.close()))
    if (this.container) await removeContainer(this.engine, this.container.id)
    forgetCounters(this.hostCgroups ?? [])
    const host = this.quotaDir ?? (this.fifoDir && dirname(this.fifoDir))
    if (host) await removeTree(host)
    this.engine.sandboxes.delete(this)
    this.opts.onClose?.()
  }
}

/**
 * A hijacked docker stream as a shell's pipes: stdout and stderr demuxed into one, writes dropped once it ended,
 * and the end (however it comes: end, close, error, or ours) reported once.
 */
function attachedStream (c: Docker.Container, stream: Duplex): {
  out: PassThrough, write: (d: string | Buffer) => void, onExit: (cb: (code: number | null) => void) => void,
  end: () => void, ended: () => boolean
} {
  const out = new PassThrough()
  c.modem.demuxStream(stream, out, out)
  const exitCbs: ((code: number | null) => void)[] = []
  let ended = false
  const end = () => { if (ended) return; ended = true; for (const cb of exitCbs) cb(null) }
  stream.on('end', end)
  stream.on('close', end)
  stream.on('error', end)
  return {
    out, end, ended: () => ended,
    write: d => { if (!ended) stream.write(d) },
    onExit: cb => { exitCbs.push(cb) }
  }
}

/**
 * The next line of an attach stream (SHELL_ON_FIFOS' word, an exec shell's pid), the stream paused after it with the
 * rest put back; `what` names the shell in the errors.
 */
function firstLine (s: Pick<ReturnType<typeof attachedStream>, 'out' | 'onExit'>, what = 'its shell'): Promise<string> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0)
    const done = (e: Error | null, line = '') => {
      clearTimeout(timer)
      s.out.off('data', onData)
      if (e) reject(e); else resolve(line)
    }
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d])
      const i = head.indexOf(10)
      if (i < 0) return
      s.out.pause()
      if (i + 1 < head.length) s.out.unshift(head.subarray(i + 1))
      done(null, head.subarray(0, i + 1).toString('latin1'))
    }
    const timer = setTimeout(() => done(new Error(`${what} did not start within 30 s`)), 30_000)
    s.out.on('data', onData)
    s.out.resume()
    s.onExit(() => done(new Error(`${what} ended as it started`)))
  })
}

function addFile (pack: ReturnType<typeof newPack>, f: FileEntry, rel: string): void {
  if (f.hostPath) { addHostPath(pack, f.hostPath, rel, AGENT); return }
  const data = typeof f.data === 'string' ? Buffer.from(f.data) : (f.data ?? Buffer.alloc(0))
  pack.entry({ name: rel, mode: f.mode ?? 0o644, uid: AGENT.uid, gid: AGENT.gid, size: data.length }, data)
}

/**
 * Where a server's docker sandboxes have their folders on this host (a disk quota, the shell's fifos); named when it
 * held quotas alone, and kept so: a server finds the folders of the containers it re-attaches there.
 */
export function hostBase (serverId: string): string { return join(tmpdir(), 'synthgym-disks', serverId) }

/** Removes the host folders of a server's sandboxes but those in `keep` (sandbox ids); returns how many went. */
export async function sweepHostDirs (serverId: string, keep: Set<string> = new Set()): Promise<number> {
  const base = hostBase(serverId)
  let names: string[] = []
  try { names = readdirSync(base).filter(n => !keep.has(n)) } catch { return 0 }
  await Promise.all(names.map(n => removeTree(join(base, n))))
  // the server's own folder too, once empty (at its start and at its end no sandbox of it is being made)
  await rmdir(base).catch(() => {})
  return names.length
}

/** The agent's numeric uid and gid in the container (`user`, 1000:1000 by default); null for a user by name. */
function agentIds (user = `${AGENT.uid}:${AGENT.gid}`): { uid: number, gid: number } | null {
  const m = /^(\d+):(\d+)$/.exec(user)
  return m ? { uid: Number(m[1]), gid: Number(m[2]) } : null
}
