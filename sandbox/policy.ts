// What every sandbox is, whatever the backend: its defaults, its environment variables, the command lines of its
// shell and of one-shot runs, and the host uid its agent gets. Backends render these (bubblewrap arguments, the
// unshare script, a Docker container config); none decides them on its own.
import type { SandboxLimits } from './types.js'
import { AGENT_HOME, WORKSPACE, COMMANDS_DIR } from './types.js'

/** The one table of sandbox defaults. */
export const SANDBOX_DEFAULTS = {
  /** processes at once */
  pids: 1024,
  /** CPUs when neither the task nor the environment says */
  cpus: 1,
  /** characters of output kept per command */
  outputCap: 1024 * 1024,
  /** characters of a one-shot run's output kept (an evaluation's) */
  runOutputCap: 4 * 1024 * 1024,
  /** bytes of one sandbox file the server reads for a client (SWE-ReX read_file); a bigger file is refused */
  readFileCap: 64 * 1024 * 1024,
  /** MiB of /dev/shm (docker) */
  shmMb: 64,
  /** the agent's uid and gid inside every sandbox (MLGym's `agent` user, group `mlgym`) */
  agentUid: 1000,
  agentGid: 1000,
  /**
   * The host uid and gid of the agent's processes and files when the server runs as root: an unprivileged id
   * (the first subuid range's 1000th id), never the server's own.
   */
  hostUid: 101000,
  hostGid: 101000,
  /**
   * processes short of the pids limit at which a command's end counts as at the limit (a fork bomb's processes die
   * and are replaced: the count wavers just under it), and what was left running is killed
   */
  pidsSlack: 2,
  /** seconds between disk-usage checks while a command runs under a disk limit (always, where no quota holds it) */
  diskPollSeconds: 0.2,
  /** entries of a sandbox's tree its disk use is walked in this process up to; a larger tree is measured by `du` */
  diskWalkEntries: 256,
  /** seconds a tree found larger than that is left to `du` before a walk is tried again */
  diskWalkRetrySeconds: 30,
  /**
   * MiB a disk quota's file system holds beyond the disk limit: going over the limit must stay possible (it ends
   * the episode, as the watcher's check does), and this is all it can go over by
   */
  diskSlackMb: 4,
  /**
   * times a container's removal is asked for before it is left to the next server start's sweep (an engine under
   * load may fail one: a kill it timed out on, a busy mount), the first wait between tries in ms, doubling
   */
  removeTries: 5,
  removeRetryMs: 500
} as const

/** Where the server's own helpers sit inside a sandbox (read-only). */
export const SYNTHGYM_BIN = '/synthgym/bin'
export const PATH = `${COMMANDS_DIR}:${SYNTHGYM_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`

/** The minimal environment a backend's own processes (bwrap, unshare, docker's client) are started with. */
export const HOST_SPAWN_ENV: Record<string, string> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' }

/**
 * The agent's environment: nothing of the server's. `gpuVar` names how the backend passes GPU ids
 * (CUDA_VISIBLE_DEVICES for the local backend, NVIDIA_VISIBLE_DEVICES for the container toolkit).
 */
export function sandboxEnv (limits: SandboxLimits, gpuVar: string, extra: Record<string, string> = {}): Record<string, string> {
  const threads = String(Math.max(1, Math.ceil(limits.cpus ?? SANDBOX_DEFAULTS.cpus)))
  return {
    HOME: AGENT_HOME, USER: 'agent', LOGNAME: 'agent', SHELL: '/bin/bash', LANG: 'C.UTF-8', TERM: 'dumb', PATH,
    OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads, MKL_NUM_THREADS: threads, MPLBACKEND: 'Agg',
    ...(limits.gpus?.length ? { [gpuVar]: limits.gpus.join(',') } : {}),
    ...extra
  }
}

/**
 * What an evaluation run sees besides the agent's environment: a home of its own that is gone when it ends
 * (the agent's home is not mounted), and no byte code written anywhere.
 */
export const EVALUATION_ENV: Record<string, string> = { HOME: '/tmp', PYTHONDONTWRITEBYTECODE: '1' }

/** The persistent shell's command line. */
export const SHELL_ARGV = ['bash', '--noprofile', '--norc', '-s']

/** A one-shot run's command line: stderr merged, in `cwd` (default the workspace). */
export function runArgv (command: string, cwd = WORKSPACE): string[] {
  return ['bash', '--noprofile', '--norc', '-c', `exec 2>&1; cd ${cwd} && ${command}`]
}

/**
 * Shell limits that hold for the agent's whole process tree, set before the shell starts: the largest file it
 * may write (the disk limit, so one `dd` cannot overshoot it), and, without cgroups, memory and processes.
 */
export function rlimitScript (l: SandboxLimits, cgroups: boolean): string {
  const parts: string[] = []
  // sh's ulimit -f counts 512-byte blocks (bash's, inside, shows KiB)
  if (l.diskMb) parts.push(`ulimit -f ${l.diskMb * 2048}`)
  if (!cgroups) {
    // address space, not memory: CUDA reserves far more than it uses, so a GPU sandbox gets no such limit
    if (l.memoryMb && !l.gpus?.length) parts.push(`ulimit -v ${l.memoryMb * 1024 * 4} 2>/dev/null`)
    if (l.pids) parts.push(`ulimit -u ${l.pids} 2>/dev/null`)
  }
  return parts.length ? parts.join('; ') + '; ' : ''
}

/** The host ids the agent maps to: an unprivileged pair when the server is root, else the server's own (null). */
export function agentHostIds (): { uid: number, gid: number } | null {
  if (process.geteuid?.() !== 0) return null
  const uid = Number(process.env.SYNTHGYM_SANDBOX_UID ?? SANDBOX_DEFAULTS.hostUid)
  const gid = Number(process.env.SYNTHGYM_SANDBOX_GID ?? process.env.SYNTHGYM_SANDBOX_UID ?? SANDBOX_DEFAULTS.hostGid)
  if (!Number.isInteger(uid) || uid <= 0 || !Number.isInteger(gid) || gid <= 0) {
    throw new Error('SYNTHGYM_SANDBOX_UID/GID must be positive whole numbers: the agent must never be host root')
  }
  return { uid, gid }
}

/**
 * Whether a sandbox's reaper can stop at one look: its count under half the limit (pidsNearLimit looks no more) and
 * no fork refused since it last looked (`hits` not above `seen`): pidsAtLimit would answer null. A null count (no
 * pids cgroup) is not clear.
 */
export function pidsClearlyUnder (count: number | null, hits: number | null, seen: number, max: number): boolean {
  return count !== null && count < max / 2 && (hits === null || hits <= seen)
}

/**
 * Processes a sandbox holds, as its reaper sees them: a fork bomb's count wavers (its processes die and are replaced),
 * so past half the limit it is looked at a few more times and the highest count is taken.
 */
export async function pidsNearLimit (count: () => number | Promise<number>, max: number): Promise<number> {
  let held = await count()
  for (let i = 0; i < 5 && held >= max / 2 && held < max - SANDBOX_DEFAULTS.pidsSlack; i++) {
    await new Promise(resolve => setTimeout(resolve, 20))
    held = Math.max(held, await count())
  }
  return held
}

/**
 * Whether a sandbox's reaper must act now: its count near the limit (pidsNearLimit), or forks the limit refused
 * since it last looked (`hits()` above `seen`: a bomb that hit it is seen even when its count wavers now). null
 * when neither; else the count to report, the limit at least when forks were refused.
 */
export async function pidsAtLimit (count: () => number | Promise<number>, hits: () => number | null, seen: number,
  max: number): Promise<number | null> {
  const held = await pidsNearLimit(count, max)
  const now = hits()
  const hit = now !== null && now > seen
  if (!hit && held < max - SANDBOX_DEFAULTS.pidsSlack) return null
  return hit ? Math.max(held, max) : held
}
