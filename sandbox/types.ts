import type { RuntimeName } from '../env-spec/task.js'
// The Sandbox contract every backend (local, docker) implements: one persistent shell, files in and out, one-shot
// runs in a fresh process tree; and the paths the agent sees inside.

export interface ExecOptions {
  /** seconds until the foreground job is interrupted */
  timeout?: number
  /** seconds without any output until the foreground job is interrupted */
  noOutputTimeout?: number
  /** raw output as it arrives (stderr merged) */
  onOutput?: (chunk: string) => void
  /**
   * variables exported after the command ran, for the shell's next command (MLGym's `LAST_ACTION`): the shell exports
   * them when the next step reaches it, before that step's command (a readonly name is left alone, silently); their
   * values travel as the command does, as bytes the shell reads in one go, never as shell source
   */
  exports?: Record<string, string>
  /** the server's own command, known to parse: skip the syntax check (a fork of the shell) */
  trusted?: boolean
  /**
   * bash run after the command that sets `$__sg_st`, returned apart as `trailer`: the state query the environment
   * needs after every step, in the step's own round trip instead of one more, and in the same write as the step's
   * end. It must print nothing (what it prints is output: no redirection around it, ten system calls a step); it
   * sees the command's effects, not this step's exports (see `exports`)
   */
  trailer?: string
}

export interface ExecResult {
  /** everything the command printed, stderr merged, up to the output cap */
  output: string
  /** null when the command did not finish (timeout, shell died) */
  exitCode: number | null
  /** why the command was interrupted, if it was */
  timedOut: false | 'timeout' | 'no_output'
  /** the shell could not be interrupted or died; a fresh shell replaced it (cwd, env and functions reset) */
  restarted: boolean
  /** the output went over the cap; this many characters were dropped */
  truncatedChars: number
  /** the command failed the syntax check (bash's parser, as `bash -n`) and did not run */
  syntaxError: boolean
  /** what `trailer` set `$__sg_st` to; absent when it did not run (a syntax error, a shell that died under the command) */
  trailer?: string
}

export interface InterruptOptions {
  /**
   * seconds to wait for the shell after its jobs are killed before the shell itself is replaced (default 3);
   * 0 stops a loop the shell runs itself (`for ...; do dd ...; done`) at once
   */
  grace?: number
}

export interface FileEntry { path: string, data?: string | Buffer, hostPath?: string, mode?: number }

export interface Mount {
  hostPath: string
  path: string
  readOnly?: boolean
  /**
   * hidden files (a task's answers): owner-only on the host, so no agent uid can read them there; the run gets a
   * read-only copy of its own that only it sees, gone when it ends
   */
  secret?: boolean
}

export interface RunOptions {
  timeout?: number
  mounts?: Mount[]
  env?: Record<string, string>
  cwd?: string
  /** an evaluation: the workspace is read-only, so code it imports cannot leave anything behind for the agent */
  evaluation?: boolean
}

export interface RunResult { output: string, exitCode: number | null, timedOut: boolean }

export interface SandboxLimits {
  cpus?: number
  memoryMb?: number
  pids?: number
  /** characters of output kept per command */
  outputCap?: number
  /** MiB the sandbox may write (a quota where the host allows one, else an always-on watcher: tasks/environment.ts) */
  diskMb?: number
  /** GPU ids this sandbox may use (CUDA_VISIBLE_DEVICES) */
  gpus?: string[]
}

export interface SandboxOptions {
  /** host files/dirs bound read-only at an absolute path inside the sandbox */
  mounts?: Mount[]
  limits?: SandboxLimits
  env?: Record<string, string>
  /** bash run once after start (tool installation); must print nothing */
  init?: string
  /** the named Python runtime (sandbox/runtime.ts): a venv on the local backend, an image on docker; default base */
  pythonRuntime?: RuntimeName
  /** network access (a task's explicit opt-in); off by default */
  network?: boolean
  /** files put into the sandbox before its shell starts (the task's starter code) */
  files?: FileEntry[]
  /** called once when the sandbox is closed (what the caller holds for it, e.g. GPUs, goes back) */
  onClose?: () => void
}

/** Another persistent shell in the same sandbox (same files, same limits), e.g. a SWE-ReX session. */
export interface ShellHandle {
  exec (command: string, opts?: ExecOptions): Promise<ExecResult>
  /** kill this shell's foreground job (or, when idle, its background jobs) */
  interrupt (opts?: InterruptOptions): Promise<void>
  close (): Promise<void>
  readonly alive: boolean
  readonly busy: boolean
}

export interface Sandbox {
  readonly id: string
  readonly backend: string
  /** false once the sandbox is closed or its shell cannot be restarted */
  readonly alive: boolean
  exec (command: string, opts?: ExecOptions): Promise<ExecResult>
  interrupt (opts?: InterruptOptions): Promise<void>
  putFiles (files: FileEntry[]): Promise<void>
  readFile (path: string): Promise<Buffer>
  writeFile (path: string, data: string | Buffer): Promise<void>
  /** a one-shot command in a fresh process tree that sees the workspace plus extra mounts (evaluation, secrets) */
  run (command: string, opts?: RunOptions): Promise<RunResult>
  close (): Promise<void>
  /** opens another persistent shell in this sandbox, closed with it, where the backend can */
  openShell? (): Promise<ShellHandle>
  /** host path of the workspace, where the backend has one */
  readonly workspaceDir?: string
  /** why the sandbox ended on its own (killed, out of memory, engine gone), where the backend can tell */
  readonly endReason?: string | null
  /** MiB the agent has written, where the backend can tell */
  diskUsageMb? (): Promise<number>
  /** the disk limit in MiB (none: no limit) */
  readonly diskLimitMb?: number
  /**
   * the disk limit is held by a quota of the sandbox's own (a file system of its size: writes past it fail, with
   * no one watching); else only a watcher of diskUsageMb holds it
   */
  readonly diskQuota?: boolean
  /** processes killed by the kernel for lack of memory so far, where the backend can tell */
  oomKills? (): number | Promise<number>
  /**
   * After a command: when the sandbox holds (nearly) as many processes as its pids limit allows, kills what the
   * agent's shell left running (every process but the shell and the sandbox's init), so that the next command can
   * fork again. Returns how many processes the sandbox held then; 0 when it was below the limit.
   */
  reapAtProcessLimit? (): Promise<number>
}

export const AGENT_HOME = '/home/agent'
export const WORKSPACE = '/home/agent/workspace'
export const COMMANDS_DIR = '/home/agent/commands'
