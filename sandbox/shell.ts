// The persistent-shell protocol, written once for every backend. A backend supplies a started bash process
// (stdin in, stdout+stderr merged out) and a way to kill the foreground job; this file does the rest:
// syntax check, unique end marker carrying the exit code, timeouts, output cap, restart after a dead shell.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { StringDecoder } from 'node:string_decoder'
import type { ExecOptions, ExecResult, InterruptOptions } from './types.js'
import { SANDBOX_DEFAULTS } from './policy.js'
import { BusyError, ShellClosedError } from './errors.js'

export interface ShellProcess {
  write (data: string | Buffer): void
  onData (cb: (chunk: Buffer) => void): void
  onExit (cb: (code: number | null) => void): void
  kill (): void
  /**
   * Stop reading the shell's output between commands, where the backend can, so that a background job that floods
   * it (`yes &`) blocks on a full pipe instead of keeping the server busy reading what is dropped anyway
   */
  pause? (): void
  resume? (): void
}

export interface ShellBackend {
  /** start a bash reading commands from stdin, stderr merged into stdout */
  start (): Promise<ShellProcess>
  /** kill every process of the sandbox except the shell itself, for as long as `stillNeeded()` says so */
  killJobs (stillNeeded: () => boolean): Promise<void>
}

export interface ShellOptions {
  /** characters of output kept per command (default 1 MiB) */
  outputCap?: number
  /** bash run after every (re)start; must print nothing */
  init?: string
  /** seconds to wait for the shell after killing the foreground job before restarting it */
  interruptGrace?: number
  /** the first start attaches to a shell that ran `init` already (a re-attached container): init on restarts only */
  attached?: boolean
}

// A command made only of plain words cannot be a syntax error, so it skips the `bash -n` fork.
const PLAIN = /^[\w\s./=:,+@%-]*$/
/**
 * Bytes over which a command is handed to bash in one block (`head -c`) instead of on its command line: bash
 * reads a script from a pipe one byte per read(2), which takes seconds for an action near the 1 MiB limit.
 */
const BIG_COMMAND = 64 * 1024
export const NUL_REFUSED = 'bash: the command contains a NUL byte (\\0), which bash cannot take; it was not run'

/** `bash -n` on the host: parse only, nothing runs. Returns bash's message or null when the syntax is fine. */
export function syntaxCheck (command: string): Promise<string | null> {
  // bash would cut the command at the NUL and run what comes before it
  if (command.includes('\0')) return Promise.resolve(NUL_REFUSED)
  if (PLAIN.test(command)) return Promise.resolve(null)
  // a big command is parsed from a here-string (a file bash reads in blocks), not from the pipe
  const argv = Buffer.byteLength(command) > BIG_COMMAND ? ['-c', 'c=$(cat; printf x); bash -n <<< "${c%x}"'] : ['-n']
  return new Promise((resolve, reject) => {
    const p = spawn('bash', argv, { stdio: ['pipe', 'ignore', 'pipe'] })
    let err = ''
    p.stderr.on('data', d => { err += d })
    p.on('error', reject)
    p.on('close', code => resolve(code === 0 ? null : err))
    p.stdin.end(command + '\n')
  })
}

/** bash ANSI-C quoting: one line, any bytes, no expansion. */
export function ansiQuote (s: string): string {
  return "$'" + s.replace(/[\\']/g, c => '\\' + c).replace(/[\x00-\x1f\x7f]/g, c => {
    const map: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r' }
    return map[c] ?? '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0')
  }) + "'"
}

interface Pending {
  marker: string
  /** the line the shell prints before the command runs: what came before it is stale (a background job's) */
  start: string
  started: boolean
  decoder: StringDecoder
  buf: string
  kept: string
  dropped: number
  opts: ExecOptions
  done: (exitCode: number | null) => void
}

export class PersistentShell {
  private proc: ShellProcess | null = null
  private pending: Pending | null = null
  private closed = false
  private readonly cap: number

  private attached: boolean

  constructor (private backend: ShellBackend, private opts: ShellOptions = {}) {
    this.cap = opts.outputCap ?? SANDBOX_DEFAULTS.outputCap
    this.attached = opts.attached ?? false
  }

  get alive (): boolean { return !this.closed }
  get busy (): boolean { return this.pending !== null }

  async start (): Promise<void> {
    const proc = await this.backend.start()
    this.proc = proc
    proc.onData(chunk => { if (this.proc === proc) this.feed(chunk) })
    proc.onExit(() => {
      if (this.proc !== proc) return
      this.proc = null
      this.pending?.done(null)
    })
    proc.write('exec 2>&1\n')
    const attached = this.attached
    this.attached = false
    if (this.opts.init && !attached) {
      const r = await this.exec(this.opts.init)
      if (r.exitCode !== 0) throw new Error(`sandbox init failed (exit ${r.exitCode}): ${r.output.slice(0, 2000)}`)
    }
  }

  async exec (command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) throw new ShellClosedError('the sandbox is closed')
    if (this.pending) throw new BusyError('a command is already running in this sandbox')
    const result: ExecResult = { output: '', exitCode: null, timedOut: false, restarted: false, truncatedChars: 0, syntaxError: false }
    const syntax = opts.trusted ? null : await syntaxCheck(command)
    if (syntax !== null) return { ...result, output: syntax, exitCode: 2, syntaxError: true }
    if (!this.proc) { await this.start(); result.restarted = true }

    const marker = `__SYNTHGYM_DONE_${randomBytes(8).toString('hex')}__`
    let timer: NodeJS.Timeout | undefined
    let quietTimer: NodeJS.Timeout | undefined
    const exitCode = await new Promise<number | null>(resolve => {
      const p: Pending = {
        marker, start: marker.replace('DONE', 'START'), started: false, decoder: new StringDecoder('utf8'), buf: '', kept: '', dropped: 0, opts, done: resolve
      }
      this.pending = p
      const fire = (why: 'timeout' | 'no_output') => {
        if (result.timedOut) return
        result.timedOut = why
        clearTimeout(timer); clearTimeout(quietTimer)
        void this.interruptOrRestart(p)
      }
      if (opts.timeout) timer = setTimeout(() => fire('timeout'), opts.timeout * 1000)
      const arm = () => {
        if (!opts.noOutputTimeout || result.timedOut) return
        clearTimeout(quietTimer)
        quietTimer = setTimeout(() => fire('no_output'), opts.noOutputTimeout * 1000)
      }
      arm()
      ;(p as Pending & { arm?: () => void }).arm = arm
      // Separate lines: if the command replaces the shell (`exec bash`), the new shell still prints the marker.
      const epilogue = opts.epilogue ? `${opts.epilogue} >/dev/null 2>&1; ` : ''
      const bytes = Buffer.from(command)
      const big = bytes.length > BIG_COMMAND
      const done = `__sg_rc=$?; ${big ? '__sg_cmd=; ' : ''}${epilogue}printf '\\n%s:%s\\n' ${marker} "$__sg_rc"\n`
      const start = `printf '%s\\n' ${p.start}\n`
      this.proc!.resume?.()
      if (big) {
        // head reads exactly the command's bytes off the shell's stdin; bash goes on reading after them
        this.proc!.write(Buffer.concat([Buffer.from(`${start}__sg_cmd=$(/usr/bin/head -c ${bytes.length}; printf x)\n`), bytes,
          Buffer.from(`eval "\${__sg_cmd%x}" </dev/null\n${done}`)]))
      } else this.proc!.write(`${start}eval ${ansiQuote(command)} </dev/null\n${done}`)
    })
    clearTimeout(timer); clearTimeout(quietTimer)
    const p = this.pending!
    this.pending = null
    this.proc?.pause?.()
    result.output = p.kept
    result.truncatedChars = p.dropped
    result.exitCode = exitCode
    if (exitCode === null && !this.closed) {
      // The shell died under the command (exit, kill, OOM): start a fresh one so the episode can go on.
      this.proc?.kill()
      this.proc = null
      try { await this.start(); result.restarted = true } catch { this.closed = true }
    }
    return result
  }

  /** Kill the foreground job (or, when idle, the background jobs); if the shell does not answer after that, replace it. */
  async interrupt (opts: InterruptOptions = {}): Promise<void> {
    if (this.pending) await this.interruptOrRestart(this.pending, opts.grace)
    else await this.backend.killJobs(() => true).catch(() => {}) // background jobs
  }

  private async interruptOrRestart (p: Pending, grace = this.opts.interruptGrace ?? 3): Promise<void> {
    await this.backend.killJobs(() => this.pending === p).catch(() => {})
    // Wait for the marker, but no longer than the grace period.
    const deadline = Date.now() + grace * 1000
    while (this.pending === p && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    if (this.pending === p) {
      // Still no marker: the shell itself is stuck (a builtin loop, a replaced shell). Kill it; exec() restarts.
      const proc = this.proc
      this.proc = null
      proc?.kill()
      p.done(null)
    }
  }

  private feed (chunk: Buffer): void {
    const p = this.pending
    if (!p) return // output after a finished command (a background job) is dropped until the next command
    ;(p as Pending & { arm?: () => void }).arm?.()
    p.buf += p.decoder.write(chunk)
    if (!p.started) {
      const at = p.buf.indexOf(p.start + '\n')
      if (at < 0) {
        // stale output: keep only what could be the start of the start line
        p.buf = p.buf.slice(-p.start.length)
        return
      }
      p.started = true
      p.buf = p.buf.slice(at + p.start.length + 1)
    }
    const head = `\n${p.marker}:`
    const at = p.buf.indexOf(head)
    if (at >= 0) {
      const end = p.buf.indexOf('\n', at + head.length)
      if (end < 0) return
      this.keep(p, p.buf.slice(0, at))
      const code = Number(p.buf.slice(at + head.length, end))
      p.buf = ''
      p.done(Number.isFinite(code) ? code : null)
      return
    }
    // Hold back only a tail that could be the start of the marker; pass the rest on at once.
    let hold = 0
    for (let i = p.buf.indexOf('\n', Math.max(0, p.buf.length - head.length - 12)); i >= 0; i = p.buf.indexOf('\n', i + 1)) {
      const tail = p.buf.slice(i)
      if (head.startsWith(tail) || tail.startsWith(head)) { hold = p.buf.length - i; break }
    }
    const safe = p.buf.slice(0, p.buf.length - hold)
    p.buf = p.buf.slice(p.buf.length - hold)
    if (safe) this.keep(p, safe)
  }

  private keep (p: Pending, text: string): void {
    if (!text) return
    p.opts.onOutput?.(text)
    const room = this.cap - p.kept.length
    if (room >= text.length) p.kept += text
    else { p.kept += text.slice(0, Math.max(0, room)); p.dropped += text.length - Math.max(0, room) }
  }

  async close (): Promise<void> {
    this.closed = true
    const proc = this.proc
    this.proc = null
    proc?.kill()
    this.pending?.done(null)
  }
}
