// SWE-ReX's runtime API under each environment: /v1/envs/:id/swerex/{is_alive, create_session, run_in_session,
// close_session, execute, read_file, write_file, upload, close}, so that SWE-ReX's Python
// `RemoteRuntime(host="http://HOST:PORT/v1/envs/<id>/swerex")` drives the environment's sandbox unchanged.
// Messages are env-spec/swerex.ts; answers and errors are SWE-ReX's (runtime errors: 511 `swerexception` with
// SWE-ReX's class paths; a bad body: FastAPI's 422 `detail`; auth: 403/401 `detail`).
//
// Sessions are extra persistent shells in the environment's sandbox (Sandbox.openShell): same files, same limits,
// not the agent's shell, and nothing they do is a step of the episode. Each runs one command at a time (a per-session
// queue, as SWE-ReX's callers expect); sessions, `execute` and `is_alive` never wait on each other.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errorCodes } from 'fastify'
import { randomBytes } from 'node:crypto'
import { posix } from 'node:path'
import {
  SwerexValidationError, formBool, validateSwerexAction, validateSwerexCloseSession, validateSwerexCommand,
  validateSwerexCreateSession, validateSwerexReadFile, validateSwerexWriteFile,
  type SwerexAction, type SwerexCloseSession, type SwerexCloseSessionResponse, type SwerexCommand,
  type SwerexCommandResponse, type SwerexCreateSession, type SwerexCreateSessionResponse, type SwerexDetailBody,
  type SwerexEmpty, type SwerexExceptionBody, type SwerexIsAlive, type SwerexObservation, type SwerexReadFile,
  type SwerexReadFileResponse, type SwerexUpload, type SwerexValidationBody, type SwerexWriteFile
} from '../../env-spec/swerex.js'
import { AGENT_HOME, WORKSPACE, type Sandbox, type ShellHandle } from '../../sandbox/types.js'
import { ansiQuote } from '../../sandbox/shell.js'
import { NotResetError } from '../../tasks/errors.js'
import { JsonTooDeepError } from '../../env-spec/messages.js'
import type { EnvManager } from '../envs.js'
import { PER_STEP } from '../log.js'
import { EnvElsewhereError, ForbiddenError, NotFoundError, RateLimitedError, ReplicaGoneError, ShuttingDownError, UnauthorizedError } from '../errors.js'

/** The URL prefix of one environment's SWE-ReX API. */
export const SWEREX_PREFIX = '/v1/envs/:id/swerex'

/** the largest `/upload` body */
export const MAX_UPLOAD_BYTES = 256 * 1024 * 1024
const PS1 = 'SHELLPS1PREFIX'

// ---- SWE-ReX's exceptions ----

/** A runtime exception sent as 511 `swerexception`; the client re-raises `class_path` with `extra_info`. */
export class SwerexError extends Error {
  constructor (readonly classPath: string, message: string, readonly extraInfo: Record<string, unknown> = {}) { super(message) }
}
const X = 'swerex.exceptions.'
const sessionMissing = (name: string) => new SwerexError(X + 'SessionDoesNotExistError', `session ${pyRepr(name)} does not exist`)

/** Python's repr() of a str or a list of str (SWE-ReX puts `{command!r}` in its messages). */
export function pyRepr (v: string | string[]): string {
  if (Array.isArray(v)) return '[' + v.map(pyRepr).join(', ') + ']'
  const q = v.includes("'") && !v.includes('"') ? '"' : "'"
  return q + v.replace(/[\\\n\r\t]/g, c => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!)
    .replace(new RegExp(q, 'g'), '\\' + q)
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, c => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0')) + q
}
/** A float as Python prints it (1 → 1.0). */
const pyFloat = (n: number | null) => n === null ? 'None' : Number.isInteger(n) ? n.toFixed(1) : String(n)
/** SWE-ReX's `_strip_control_chars`: ANSI escapes out, CRLF to LF. */
const stripControl = (s: string) => s.replace(/\x1B[@-_][0-?]*[ -/]*[@-~]/g, '').replace(/\r\n/g, '\n')
/** POSIX single quotes. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

// ---- the runtime of one sandbox ----

interface Session { shell: ShellHandle | null, queue: Promise<unknown>, closed: boolean }

/**
 * SWE-ReX's LocalRuntime over one sandbox: named bash sessions, one-shot commands and files. It lives as long as the
 * sandbox (a reset starts a fresh sandbox, and with it a runtime without sessions).
 */
export class SwerexRuntime {
  private sessions = new Map<string, Session>()
  /** idle helper shells for `execute` and file moves (cleared on every use: each command runs in a subshell) */
  private helpers: ShellHandle[] = []

  constructor (readonly sandbox: Sandbox) {}

  isAlive (): SwerexIsAlive {
    if (this.sandbox.alive) return { is_alive: true, message: '' }
    return { is_alive: false, message: `the sandbox has ended: ${this.sandbox.endReason ?? 'closed'}` }
  }

  private async open (): Promise<ShellHandle> {
    if (!this.sandbox.openShell) throw new SwerexError(X + 'SwerexException', `the ${this.sandbox.backend} backend cannot open extra shell sessions`)
    if (!this.sandbox.alive) throw new SwerexError(X + 'SwerexException', `the sandbox has ended: ${this.sandbox.endReason ?? 'closed'}`)
    return this.sandbox.openShell()
  }

  async createSession (r: SwerexCreateSession): Promise<SwerexCreateSessionResponse> {
    if (this.sessions.has(r.session)) throw new SwerexError(X + 'SessionExistsError', `session ${r.session} already exists`)
    const s: Session = { shell: null, queue: Promise.resolve(), closed: false }
    this.sessions.set(r.session, s) // taken at once: a second create of the name while this one starts is refused
    try {
      s.shell = await this.open()
      let output = ''
      if (r.startup_source.length) {
        const res = await s.shell.exec(r.startup_source.map(f => `source ${f}`).join(' ; '), { timeout: r.startup_timeout })
        output = stripControl(res.output)
        if (res.timedOut) throw new SwerexError(X + 'CommandTimeoutError', `timeout after ${pyFloat(r.startup_timeout)} seconds while sourcing the startup files`, { output })
      }
      if (s.closed) throw new SwerexError(X + 'SessionDoesNotExistError', `session ${pyRepr(r.session)} was closed while it started`)
      return { output, session_type: 'bash' }
    } catch (e) {
      if (this.sessions.get(r.session) === s) this.sessions.delete(r.session)
      await s.shell?.close()
      throw e
    }
  }

  private session (name: string): Session & { shell: ShellHandle } {
    const s = this.sessions.get(name)
    if (!s || !s.shell) throw sessionMissing(name)
    return s as Session & { shell: ShellHandle }
  }

  async runInSession (a: SwerexAction): Promise<SwerexObservation> {
    const s = this.session(a.session)
    // an interrupt does not queue: it is for the command that holds the session
    if (a.action_type === 'bash_interrupt') {
      await s.shell.interrupt()
      return { output: '', exit_code: 0, failure_reason: '', expect_string: PS1, session_type: 'bash' }
    }
    if (a.is_interactive_command || a.is_interactive_quit) {
      throw new SwerexError(X + 'SwerexException', 'interactive commands (is_interactive_command, is_interactive_quit) are not supported: synthgym sessions run each command with stdin from /dev/null; run the program non-interactively')
    }
    const run = s.queue.then(() => this.runBash(s, a))
    s.queue = run.catch(() => {})
    return run
  }

  private async runBash (s: Session & { shell: ShellHandle }, a: Extract<SwerexAction, { action_type: 'bash' }>): Promise<SwerexObservation> {
    if (s.closed) throw sessionMissing(a.session)
    // the shell checks the syntax itself (bash's parser, nothing run) and answers syntaxError with bash's message
    const r = await s.shell.exec(a.command, { timeout: a.timeout ?? undefined })
    if (r.syntaxError) {
      throw new SwerexError(X + 'BashIncorrectSyntaxError',
        `Error (exit code 2) while checking bash command \n${pyRepr(a.command)}\n---- Stderr ----\n${r.output}\n---- Stdout ----\n`,
        { bash_stdout: '', bash_stderr: r.output })
    }
    const output = stripControl(r.output)
    if (r.timedOut) {
      // unlike SWE-ReX (#29), the output so far comes back, and the command has been interrupted already
      throw new SwerexError(X + 'CommandTimeoutError', `timeout after ${pyFloat(a.timeout)} seconds while running command ${pyRepr(a.command)}`,
        { output, timeout: a.timeout })
    }
    if (a.check === 'ignore') return { output, exit_code: null, failure_reason: '', expect_string: PS1, session_type: 'bash' }
    if (r.exitCode === null && a.check === 'raise') {
      throw new SwerexError(X + 'NoExitCodeError', `the shell ended under the command ${pyRepr(a.command)}; a fresh one replaced it (cwd and variables reset)`, { output })
    }
    if (a.check === 'raise' && r.exitCode !== 0) {
      const msg = `Command ${pyRepr(a.command)} failed with exit code ${r.exitCode}. Here is the output:\n${pyRepr(output)}`
      throw new SwerexError(X + 'NonZeroExitCodeError', a.error_msg ? `${a.error_msg}: ${msg}` : msg, { output, exit_code: r.exitCode })
    }
    return { output, exit_code: r.exitCode, failure_reason: '', expect_string: PS1, session_type: 'bash' }
  }

  async closeSession (r: SwerexCloseSession): Promise<SwerexCloseSessionResponse> {
    const s = this.sessions.get(r.session)
    if (!s) throw sessionMissing(r.session)
    this.sessions.delete(r.session)
    s.closed = true
    await s.shell?.close()
    return { session_type: 'bash' }
  }

  /** Closes every session (and the helper shells); the sandbox stays, new sessions may be made. */
  async close (): Promise<SwerexEmpty> {
    const all = [...this.sessions.values()]
    this.sessions.clear()
    const helpers = this.helpers.splice(0)
    await Promise.all([...all.map(s => { s.closed = true; return s.shell?.close() }), ...helpers.map(h => h.close())])
    return {}
  }

  /** A helper shell for one job, back to the idle list afterwards (a few are kept). */
  private async withHelper<T> (work: (h: ShellHandle) => Promise<T>): Promise<T> {
    let h = this.helpers.pop()
    while (h && !h.alive) h = this.helpers.pop()
    const shell = h ?? await this.open()
    try { return await work(shell) } finally {
      if (shell.alive && this.sandbox.alive && this.helpers.length < 4) this.helpers.push(shell)
      else void shell.close()
    }
  }

  /** `subprocess.run(command, shell, timeout, env, cwd, stdin=DEVNULL)` inside the sandbox. */
  async execute (c: SwerexCommand): Promise<SwerexCommandResponse> {
    // in the home: /tmp is not every backend's to share between shells, nor always the agent's to write
    const errFile = `${AGENT_HOME}/.swerex-stderr-${randomBytes(6).toString('hex')}`
    const argv = typeof c.command === 'string'
      ? (c.shell ? ['/bin/sh', '-c', c.command] : [c.command])
      : (c.shell ? ['/bin/sh', '-c', ...c.command] : c.command)
    if (argv.length === 0) throw new SwerexError('builtins.IndexError', 'list index out of range')
    const noent = (what: string) => `{ printf '%s' ${q('__SG_NOENT__' + what)} >&2; exit 127; }`
    // `env` replaces the environment, as subprocess's does; the sandbox's PATH stays unless `env` names one
    const envPart = c.env === null ? ''
      : `env -i ${[...('PATH' in c.env ? [] : ['PATH="$PATH"']), ...Object.entries(c.env).map(([k, v]) => q(`${k}=${v}`))].join(' ')} `
    const script = [
      c.cwd !== null ? `cd -- ${q(c.cwd)} 2>/dev/null || ${noent(c.cwd)}` : `cd -- ${WORKSPACE} 2>/dev/null`,
      `command -v -- ${q(argv[0]!)} >/dev/null 2>&1 || ${noent(argv[0]!)}`,
      `exec ${envPart}${argv.map(q).join(' ')}`
    ].join('\n')
    const redirect = c.merge_output_streams ? ' 2>&1' : ` 2>${errFile}`
    return this.withHelper(async h => {
      // the braces' 2>/dev/null takes bash's "Killed" note of a timed-out command (it names this wrapper)
      const r = await h.exec(`{ ( ${script}\n)${redirect}; } 2>/dev/null`, { timeout: c.timeout ?? undefined, trusted: true })
      let stderr = ''
      if (!c.merge_output_streams) {
        const e = await h.exec(`cat -- ${errFile} 2>/dev/null; rm -f -- ${errFile}`, { timeout: 30, trusted: true })
        stderr = e.output
      }
      const stdout = r.output
      const miss = /^__SG_NOENT__([\s\S]*)$/.exec(stderr) ?? (c.merge_output_streams ? /__SG_NOENT__([\s\S]*)$/.exec(stdout) : null)
      if (r.exitCode === 127 && miss) throw new SwerexError('builtins.FileNotFoundError', `[Errno 2] No such file or directory: ${pyRepr(miss[1]!)}`)
      if (r.timedOut) {
        throw new SwerexError(X + 'CommandTimeoutError', `Timeout (${pyFloat(c.timeout)}s) exceeded while running command`, { stdout, stderr, timeout: c.timeout })
      }
      const res: SwerexCommandResponse = { stdout, stderr, exit_code: r.exitCode }
      if (c.check && r.exitCode !== 0) {
        const msg = `Command ${pyRepr(c.command)} failed with exit code ${r.exitCode}. Stdout:\n${pyRepr(stdout)}\nStderr:\n${pyRepr(stderr)}`
        throw new SwerexError(X + 'NonZeroExitCodeError', c.error_msg ? `${c.error_msg}: ${msg}` : msg, { ...res })
      }
      return res
    })
  }

  /** A path inside the sandbox, relative ones from the workspace (the shell's start directory). */
  private abs (path: string): string { return posix.resolve(WORKSPACE, path) }
  private inHome (abs: string): boolean { return abs === AGENT_HOME || abs.startsWith(AGENT_HOME + '/') }
  private scratch (): string { return `${AGENT_HOME}/.swerex-transfer-${randomBytes(6).toString('hex')}` }

  /** A shell job in a helper; its stderr becomes Python's OSError for `path` when it fails. */
  private async shellJob (script: string, path: string): Promise<void> {
    const r = await this.withHelper(h => h.exec(`( ${script}\n) 2>&1`, { timeout: 600, trusted: true }))
    if (r.exitCode !== 0) throw osError(r.output, path)
  }

  async readFile (r: SwerexReadFile): Promise<SwerexReadFileResponse> {
    const abs = this.abs(r.path)
    let data: Buffer
    if (this.inHome(abs)) {
      try { data = await this.sandbox.readFile(abs) } catch (e) { throw osError(String((e as Error)?.message ?? e), r.path, e) }
    } else {
      // outside the home the host cannot read directly (local backend): a copy into the home first
      const tmp = this.scratch()
      await this.shellJob(`cat -- ${q(abs)} > ${q(tmp)} || { rm -f -- ${q(tmp)}; exit 1; }`, r.path)
      try { data = await this.sandbox.readFile(tmp) } finally { await this.shellJob(`rm -f -- ${q(tmp)}`, tmp).catch(() => {}) }
    }
    return { content: decode(data, r.encoding, r.errors) }
  }

  /** Writes `data` at `path`, parent dirs made (Python's write_text over an existing file keeps its mode). */
  private async place (path: string, data: Buffer | string): Promise<void> {
    const abs = this.abs(path)
    if (this.inHome(abs)) {
      try { await this.sandbox.writeFile(abs, data) } catch (e) { throw osError(String((e as Error)?.message ?? e), path, e) }
      return
    }
    const tmp = this.scratch()
    await this.sandbox.writeFile(tmp, data)
    await this.shellJob(`mkdir -p -- ${q(posix.dirname(abs))} && cat -- ${q(tmp)} > ${q(abs)}; rc=$?; rm -f -- ${q(tmp)}; exit $rc`, path)
  }

  async writeFile (r: SwerexWriteFile): Promise<SwerexEmpty> {
    await this.place(r.path, r.content)
    return {}
  }

  /**
   * Bytes the sandbox may still write under its disk limit (null: no limit). The quota (where there is one) holds
   * anyway; this refuses what would not fit before anything is written, with words that name the limit.
   */
  private async diskRoom (): Promise<number | null> {
    const limit = this.sandbox.diskLimitMb
    if (!limit || !this.sandbox.diskUsageMb) return null
    return Math.floor((limit - await this.sandbox.diskUsageMb()) * 2 ** 20)
  }

  private tooBig (what: string, bytes: number, room: number): SwerexError {
    const mib = (n: number) => (n / 2 ** 20).toFixed(1)
    const message = `[Errno 28] No space left on device: ${what} takes ${mib(bytes)} MiB, and the sandbox's disk limit of ` +
      `${this.sandbox.diskLimitMb} MiB leaves ${mib(Math.max(0, room))} MiB; nothing was written. Upload less, or free space first`
    return new SwerexError('builtins.OSError', message, { error: { code: 'PAYLOAD_TOO_LARGE', message } })
  }

  /** The upload: one file to `target_path`, or a zip extracted into it (python's zipfile in the sandbox). */
  async upload (u: SwerexUpload): Promise<SwerexEmpty> {
    const room = await this.diskRoom()
    if (room !== null && u.file.length > room) throw this.tooBig(`the upload (${u.filename})`, u.file.length, room)
    if (!u.unzip) { await this.place(u.target_path, u.file); return {} }
    const tmp = this.scratch() + '.zip'
    await this.sandbox.writeFile(tmp, u.file)
    const abs = this.abs(u.target_path)
    // the archive's own sizes first, then a running count while it is written (a zip may lie about its sizes)
    const budget = room === null ? -1 : room - u.file.length
    const r = await this.withHelper(h => h.exec(`( mkdir -p -- ${q(abs)} && python3 -c ${ansiQuote(UNZIP_PY)} ${q(tmp)} ${q(abs)} ${budget}; rc=$?; rm -f -- ${q(tmp)}; exit $rc\n) 2>&1`, { timeout: 600, trusted: true }))
    if (r.exitCode !== 0) {
      const over = /__SG_OVER_(\d+)__/.exec(r.output)
      if (over) throw this.tooBig('the unzipped upload', Number(over[1]), budget)
      if (/BadZipFile/.test(r.output)) throw new SwerexError('zipfile.BadZipFile', 'File is not a zip file')
      throw osError(r.output, u.target_path)
    }
    return {}
  }
}

/**
 * zipfile's extractall (its own path checks) with a byte budget (argv[3], -1: none): refused whole when the
 * archive's sizes exceed it, stopped (and what it wrote removed) once what it wrote does. zipfile copies each member
 * with shutil.copyfileobj, which is where the count goes.
 */
const UNZIP_PY = `import os, shutil, sys, zipfile
z, dest, budget = zipfile.ZipFile(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def over(n):
    print('__SG_OVER_%d__' % n)
    sys.exit(28)
declared = sum(i.file_size for i in z.infolist())
if budget >= 0 and declared > budget: over(declared)
written, made, copy = 0, [], shutil.copyfileobj
def counted(src, dst, length=0):
    global written
    made.append(dst.name)
    while True:
        b = src.read(1 << 20)
        if not b: return
        written += len(b)
        if budget >= 0 and written > budget:
            for f in made: os.remove(f) if os.path.exists(f) else None
            over(written)
        dst.write(b)
zipfile.shutil.copyfileobj = counted
z.extractall(dest)`

/** Python's OSError subclasses for what went wrong with `path` (from a shell's or the sandbox's words). */
function osError (text: string, path: string, cause?: unknown): SwerexError {
  const code = (cause as { code?: string } | undefined)?.code
  if (code === 'ENOENT' || /No such file|not found|Could not find/i.test(text)) return new SwerexError('builtins.FileNotFoundError', `[Errno 2] No such file or directory: ${pyRepr(path)}`)
  if (code === 'EISDIR' || /Is a directory/i.test(text)) return new SwerexError('builtins.IsADirectoryError', `[Errno 21] Is a directory: ${pyRepr(path)}`)
  if (code === 'EACCES' || /Permission denied|Read-only/i.test(text)) return new SwerexError('builtins.PermissionError', `[Errno 13] Permission denied: ${pyRepr(path)}`)
  return new SwerexError('builtins.OSError', `${path}: ${text.trim() || 'failed'}`)
}

/** `Path.read_text(encoding, errors)` for the encodings agents use. */
function decode (data: Buffer, encoding: string | null, errors: string | null): string {
  const enc = (encoding ?? 'utf-8').toLowerCase().replace(/_/g, '-')
  const strict = errors === null || errors === 'strict'
  if (enc === 'utf-8' || enc === 'utf8') {
    try { return new TextDecoder('utf-8', { fatal: strict }).decode(data) } catch {
      throw new SwerexError('builtins.UnicodeDecodeError', "'utf-8' codec can't decode the file: it is not valid UTF-8 (send errors: \"replace\", or another encoding)")
    }
  }
  if (['latin-1', 'latin1', 'iso-8859-1', 'iso8859-1'].includes(enc)) return data.toString('latin1')
  if (enc === 'ascii' || enc === 'us-ascii') {
    const bad = data.findIndex(b => b > 127)
    if (bad >= 0 && strict) throw new SwerexError('builtins.UnicodeDecodeError', `'ascii' codec can't decode byte 0x${data[bad]!.toString(16)} in position ${bad}: ordinal not in range(128)`)
    return data.toString('latin1').replace(/[\x80-\xff]/g, '\ufffd')
  }
  throw new SwerexError('builtins.LookupError', `unknown encoding: ${encoding}`)
}

// ---- multipart/form-data (the upload), read without a dependency ----

/** The parts of a multipart/form-data body: name → {data, filename?}. */
export function parseMultipart (body: Buffer, contentType: string): Map<string, { data: Buffer, filename?: string }> {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType)
  if (!m) throw new SwerexValidationError([{ type: 'value_error', loc: ['body'], msg: 'multipart/form-data without a boundary', input: null }])
  const delim = Buffer.from('--' + (m[1] ?? m[2]!).trim())
  const parts = new Map<string, { data: Buffer, filename?: string }>()
  let at = body.indexOf(delim)
  while (at >= 0) {
    let start = at + delim.length
    if (body.subarray(start, start + 2).toString() === '--') break // the closing delimiter
    if (body.subarray(start, start + 2).toString() === '\r\n') start += 2
    const headEnd = body.indexOf('\r\n\r\n', start)
    if (headEnd < 0) break
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headEnd + 4)
    if (next < 0) break
    const head = body.subarray(start, headEnd).toString('utf8')
    const disp = /content-disposition:[^\r\n]*/i.exec(head)?.[0] ?? ''
    const name = /\bname="([^"]*)"/i.exec(disp)?.[1]
    const filename = /\bfilename="([^"]*)"/i.exec(disp)?.[1]
    if (name !== undefined && !parts.has(name)) parts.set(name, { data: body.subarray(headEnd + 4, next), ...(filename !== undefined ? { filename } : {}) })
    at = next + 2
  }
  return parts
}

function uploadFields (body: unknown, contentType: string): SwerexUpload {
  if (!Buffer.isBuffer(body)) {
    throw new SwerexValidationError(['file', 'target_path'].map(f => ({ type: 'missing', loc: ['body', f], msg: 'Field required', input: null })))
  }
  const parts = parseMultipart(body, contentType)
  const missing = ['file', 'target_path'].filter(f => !parts.has(f))
  if (missing.length) throw new SwerexValidationError(missing.map(f => ({ type: 'missing', loc: ['body', f], msg: 'Field required', input: null })))
  const unzipText = parts.get('unzip')?.data.toString('utf8') ?? 'false'
  const unzip = formBool(unzipText)
  if (unzip === null) throw new SwerexValidationError([{ type: 'bool_parsing', loc: ['body', 'unzip'], msg: 'Input should be a valid boolean, unable to interpret input', input: unzipText }])
  const file = parts.get('file')!
  return { file: file.data, filename: file.filename ?? 'upload', target_path: parts.get('target_path')!.data.toString('utf8'), unzip }
}

// ---- HTTP ----

const runtimes = new WeakMap<Sandbox, SwerexRuntime>()
function runtimeOf (sandbox: Sandbox): SwerexRuntime {
  let r = runtimes.get(sandbox)
  if (!r) { r = new SwerexRuntime(sandbox); runtimes.set(sandbox, r) }
  return r
}

/** Any thrown value as SWE-ReX's server answers it. */
export function toSwerexError (e: unknown): { status: number, body: SwerexExceptionBody | SwerexValidationBody | SwerexDetailBody } {
  const exc = (classPath: string, message: string, extra: Record<string, unknown> = {}) =>
    ({ status: 511, body: { swerexception: { message, class_path: classPath, traceback: '', extra_info: extra } } })
  if (e instanceof SwerexError) return exc(e.classPath, e.message, e.extraInfo)
  if (e instanceof SwerexValidationError) return { status: 422, body: { detail: e.detail } }
  // too deep to parse: a 400, as on every route (FastAPI would overflow; the limit is ours)
  if (e instanceof JsonTooDeepError) return { status: 400, body: { detail: e.message } }
  // FastAPI's APIKeyHeader: no key is 403, a wrong (or revoked) one 401; scope and rate in our words
  if (e instanceof UnauthorizedError) return e.missing ? { status: 403, body: { detail: 'Not authenticated' } } : { status: 401, body: { detail: 'Invalid API Key' } }
  if (e instanceof ForbiddenError) return { status: 403, body: { detail: e.message } }
  if (e instanceof RateLimitedError) return { status: 429, body: { detail: e.message } }
  if (e instanceof NotFoundError) return { status: 404, body: { detail: e.message } }
  if (e instanceof NotResetError) return exc(X + 'DeploymentNotStartedError', e.message)
  if (e instanceof ShuttingDownError || e instanceof ReplicaGoneError) return { status: 503, body: { detail: e.message } }
  if (e instanceof EnvElsewhereError) return { status: 307, body: { detail: e.message } }
  if (e instanceof errorCodes.FST_ERR_CTP_INVALID_JSON_BODY) {
    return { status: 422, body: { detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {} }] } }
  }
  if (e instanceof errorCodes.FST_ERR_CTP_BODY_TOO_LARGE) return { status: 413, body: { detail: 'Request body too large' } }
  if (e instanceof errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE) {
    return { status: 422, body: { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: null }] } }
  }
  const status = (e as { statusCode?: number })?.statusCode
  if (status === 404) return { status: 404, body: { detail: 'Not Found' } }
  return exc(X + 'SwerexException', (e as Error)?.message ?? String(e))
}

type Id = { Params: { id: string } }

/** Registers the SWE-ReX routes of every environment (an encapsulated plugin: its own errors, auth and body parsers). */
export async function swerexRoutes (app: FastifyInstance, m: EnvManager): Promise<void> {
  await app.register(async scope => {
    scope.setErrorHandler((err, _req, reply) => {
      const { status, body } = toSwerexError(err)
      if (err instanceof EnvElsewhereError) void reply.header('location', err.location)
      void reply.status(status).send(body)
    })
    // another replica's environment: a 307 there, or REPLICA_GONE, before anything else is looked at
    scope.addHook<Id>('preHandler', async req => { await m.whereIs(req.params.id, req.url) })
    scope.setNotFoundHandler((_req, reply) => { void reply.status(404).send({ detail: 'Not Found' }) })
    // keys (X-API-Key or Bearer) are checked by the app's hook (server/auth.ts); its errors take SWE-ReX's shapes above
    scope.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES }, (_req, body, done) => done(null, body))

    /** One call on the environment's current sandbox, as use of the environment (the idle reaper waits). */
    const call = <T>(req: FastifyRequest<Id>, work: (r: SwerexRuntime) => Promise<T>) =>
      m.using(req.params.id, () => work(runtimeOf(m.sandboxOf(req.params.id))))

    scope.get<Id>('/', async req => { m.summary(req.params.id); return { message: 'hello world' } })
    scope.get<Id>('/is_alive', async (req): Promise<SwerexIsAlive> => {
      let sandbox: Sandbox
      try { sandbox = m.sandboxOf(req.params.id) } catch (e) {
        if (e instanceof NotResetError) return { is_alive: false, message: e.message }
        throw e
      }
      return runtimeOf(sandbox).isAlive()
    })
    /** A JSON route: SWE-ReX's model checked (FastAPI's 422 otherwise), then one runtime call. */
    const route = <B, T>(path: string, validate: (body: unknown) => B, run: (r: SwerexRuntime, body: B) => Promise<T>,
      opts: typeof PER_STEP | {} = {}) =>
      scope.post<Id>(path, opts, async req => {
        const body = validate(req.body)
        return call(req, r => run(r, body))
      })
    route('/create_session', validateSwerexCreateSession, (r, b) => r.createSession(b))
    route('/run_in_session', validateSwerexAction, (r, b) => r.runInSession(b), PER_STEP)
    route('/close_session', validateSwerexCloseSession, (r, b) => r.closeSession(b))
    route('/execute', validateSwerexCommand, (r, b) => r.execute(b), PER_STEP)
    route('/read_file', validateSwerexReadFile, (r, b) => r.readFile(b))
    route('/write_file', validateSwerexWriteFile, (r, b) => r.writeFile(b))
    scope.post<Id>('/upload', { bodyLimit: MAX_UPLOAD_BYTES }, async (req: FastifyRequest<Id>, _reply: FastifyReply) => {
      const body = uploadFields(req.body, String(req.headers['content-type'] ?? ''))
      return call(req, r => r.upload(body))
    })
    scope.post<Id>('/close', async req => call(req, r => r.close()))
  }, { prefix: SWEREX_PREFIX })
}
