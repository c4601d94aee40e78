// The persistent-shell protocol, written once for every backend. A backend supplies a started bash process
// (stdin in, stdout+stderr merged out) and a way to kill the foreground job; this file does the rest:
// syntax check in the shell itself, unique end marker carrying the exit code, timeouts, output cap, restart after a dead shell.
import { createHash, randomUUID } from 'node:crypto'
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
   * it (`yes &`) blocks on a full pipe instead of keeping the server busy reading what is dropped anyway; called once
   * output comes between commands, so a step whose shell printed nothing after it pays for neither call
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

// Words that bash may take as grammar (reserved words, wherever they stand: the test is kept simple, not exact).
const RESERVED = new Set(['if', 'then', 'else', 'elif', 'fi', 'case', 'esac', 'for', 'select', 'while', 'until', 'do',
  'done', 'in', 'function', 'time', 'coproc', '[[', ']]', '{', '}', '!'])
// The pieces of a word: plain characters (no `[`: `x[` first in a command opens an array subscript), '…' strings,
// $NAME and ${…} without quotes or nesting inside. "…" strings and $(…) are read by `word` and `list` below.
const PLAIN_CHARS = /[\w./=:,+@%^~*?-]+/y
const SINGLE = /'[^']*'/y
const PARAM = /\$(?:[A-Za-z0-9_?#@*!$-]|\{[A-Za-z0-9_?#@*!$%:/^,.=+~ -]*\})/y
const BLANKS = /[ \t]*/y
// (`;&` and `;;&` are tokens of their own, of case: not `;` then `&>`)
const CONTROL = /&&|\|\||;(?!&)|\|/y
// a here-document: `<<` or `<<-`, its delimiter quoted (a literal body) or a bare name, then a token's end
const HEREDOC = /<<(?!<)(-?)[ \t]*(?:'([^'\n]+)'|"([^"\\$`\n]+)"|([A-Za-z_]\w*))(?=[ \t\n;&|<>)]|$)/y
// other redirections, each followed by a word (`2>&1`, `> out`, `<<< "$x"`, `&>> log`)
const REDIRECT = /&>>|&>|[0-9]*(?:<<<|>>|>&|<&|>|<)/y

function at (re: RegExp, s: string, i: number): string | null {
  re.lastIndex = i
  return re.exec(s)?.[0] ?? null
}

/** Past the $(…) at `i`, bare or in double quotes (-1: `$((`, arithmetic, or a list this does not read). */
function substitution (s: string, i: number): number {
  if (s[i + 2] === '(') return -1
  const end = list(s, i + 2, true)
  return end < 0 ? -1 : end + 1
}

/** The end of the word at `i` (-1: none there, or one that bash could read otherwise). */
function word (s: string, i: number): number {
  const start = i
  for (;;) {
    const piece = at(PLAIN_CHARS, s, i) ?? at(SINGLE, s, i) ?? at(PARAM, s, i)
    if (piece) { i += piece.length; continue }
    if (s.startsWith('$(', i)) {
      i = substitution(s, i)
      if (i < 0) return -1
      continue
    }
    if (s[i] !== '"') break
    for (i++; s[i] !== '"'; ) {
      if (i >= s.length || s[i] === '`' || s[i] === '\n') return -1
      if (s[i] === '\\') { i += 2; continue }
      if (s[i] === '$') {
        const p = at(PARAM, s, i)
        if (p) { i += p.length; continue }
        if (s[i + 1] === '(') {
          i = substitution(s, i)
          if (i < 0) return -1
          continue
        }
        // any other `$` is literal only before the quote's end or a blank (`$[…]` is arithmetic, read to its `]`)
        if (s[i + 1] !== '"' && s[i + 1] !== ' ' && s[i + 1] !== '\t') return -1
      }
      i++
    }
    i++
  }
  return i > start ? i : -1
}

/**
 * Past the bodies of the here-documents a line opened, from the newline that ends it: the newline after the last
 * end line (or the input's end); -1 when one is not closed (bash warns and runs it: its own parser says so) or a
 * bare delimiter's body, which is expanded, holds a $ ` or \.
 */
function pastBodies (s: string, i: number, bodies: { delim: string, tabs: boolean, literal: boolean }[]): number {
  for (const b of bodies) {
    for (;;) {
      if (i >= s.length) return -1
      const next = s.indexOf('\n', i + 1)
      const line = s.slice(i + 1, next < 0 ? s.length : next)
      i = next < 0 ? s.length : next
      if ((b.tabs ? line.replace(/^\t+/, '') : line) === b.delim) break
      if (!b.literal && /[$`\\]/.test(line)) return -1
    }
  }
  return i
}

/**
 * A list of simple commands from `i`: words and redirections, joined by ; | && || and (at the top) newlines, none of
 * them empty, no reserved word; a line's here-documents have their bodies after it. Inside $(…) (`nested`: one
 * line, no here-document) it ends at its `)`, whose index is returned; at the top, at the input's end.
 */
function list (s: string, i: number, nested: boolean): number {
  let items = 0
  let op = '' // the operator before the command being read; '\n' after a newline
  const bodies: { delim: string, tabs: boolean, literal: boolean }[] = []
  for (;;) {
    i += at(BLANKS, s, i)!.length
    if (i >= s.length || (nested && s[i] === ')')) break
    if (s[i] === '\n') {
      // `a |` or `a &&` then a newline: bash reads on, this leaves it to bash
      if (nested || (items === 0 && (op === '|' || op === '&&' || op === '||'))) return -1
      i = pastBodies(s, i, bodies)
      if (i < 0) return -1
      bodies.length = 0
      items = 0
      op = '\n'
      i = Math.min(i + 1, s.length)
      continue
    }
    const control = at(CONTROL, s, i)
    if (control) {
      if (items === 0) return -1 // `; a`, `a ||| b`, `a;;`
      items = 0
      op = control
      i += control.length
      continue
    }
    const heredoc = nested ? null : (HEREDOC.lastIndex = i, HEREDOC.exec(s))
    if (heredoc) {
      const [, dash, single, double, bare] = heredoc
      bodies.push({ delim: single ?? double ?? bare!, tabs: dash === '-', literal: bare === undefined })
      items++
      i += heredoc[0].length
      continue
    }
    const redirect = at(REDIRECT, s, i)
    if (redirect) {
      i += redirect.length
      i += at(BLANKS, s, i)!.length
      if (s.startsWith('<<', i)) return -1
      const end = word(s, i)
      const target = s.slice(i, end)
      // digits before < or > are the next redirection's fd (`> 2>&1`): this one has no word; a word with `=` may be
      // lexed as an assignment (`2>&1&>> x=1` is a syntax error, `&>> x=1` is not)
      if (end < 0 || (/^[0-9]+$/.test(target) && (s[end] === '<' || s[end] === '>')) || target.includes('=')) return -1
      i = end
      items++
      continue
    }
    const end = word(s, i)
    if (end < 0 || RESERVED.has(s.slice(i, end))) return -1
    items++
    i = end
  }
  // a trailing `;` or newline ends the last command; `a |` or `a &&` wants one more; a here-document wants its body
  if (bodies.length || !(items > 0 || op === ';' || op === '\n')) return -1
  if (nested) return s[i] === ')' ? i : -1
  return i
}

/**
 * True when the command surely parses: lines of simple commands made of plain words, quotes, parameters, $(…) of
 * the same, and redirections, joined by ; | && ||, none of them empty, no reserved word; here-documents with their
 * bodies closed. Such a command skips the check's fork; anything else goes to bash's parser (the
 * tests hold this to `bash -n`: whatever this accepts, `bash -n` accepts).
 */
export function surelyParses (command: string): boolean {
  return list(command, 0, false) === command.length
}

export const NUL_REFUSED = 'bash: the command contains a NUL byte (\\0), which bash cannot take; it was not run'

/**
 * The syntax check, parsed by the sandbox's own shell in the command substitution that holds its message (a fork
 * of the running shell, no exec, no host process): `set -n` makes the rest of the eval string parse-only, so nothing
 * of the command runs. It first puts back what a fresh `bash -n` parses with: POSIX mode briefly, so that the special
 * builtins it calls beat an agent's functions of the same name (`set() { :; }` would run the command), then no
 * xtrace/verbose output in the message, no inherited traps, no extglob or aliases. The first line it prints is
 * $LINENO at the eval, from which `fromEval` turns the eval's line numbers into `bash -n`'s; the command ends in a
 * newline, as on `bash -n`'s stdin.
 */
const PARSE = '{ POSIXLY_CORRECT=1; unset -f set eval trap shopt echo unset; unset POSIXLY_CORRECT; ' +
  'set +xvETu +o posix; trap - DEBUG ERR RETURN; shopt -u extglob expand_aliases; } 2>/dev/null; ' +
  "eval 'echo \"$LINENO\"'$'\\n''set -n'$'\\n'\"$__sg_cmd\"$'\\n' 2>&1"

/** The shell's fd for the protocol's input (see PROTOCOL): high, out of the way of an agent's own `exec 3>…`. */
const PROTOCOL_FD = 63

/** Opens every line of the protocol's own (start, trailer, end, check): a byte no command's output is taken for. */
const SEP = '\x1e'

/**
 * The protocol, sent once per shell start: two functions, then a loop at the top level that runs each step's command.
 * bash reads its script from a pipe one byte per read(2) (it must leave the rest to a child), so no step sends source:
 * the loop, parsed once, reads each step as data. A step is its header's size (8 digits), then the header, the
 * server's own text in ASCII only (so that `read -N`, which counts characters, counts its bytes in any locale):
 * `__sg_tok=… __sg_chk=… __sg_cmd=… __sg_tr=… __sg_x=…`, the step's token, whether to check its syntax, the command,
 * the trailer and the exports' statement (`export NAME="$__sg_c" …`: `$__sg_c` is the command's own text, not sent
 * again; another value is `$__sg_vN`, set in the header too). Each value is ANSI-C quoted (`ansiQuote`) in the
 * header, which the shell evals: one read and one eval per step. A value over INLINE_MAX bytes is left empty there
 * and follows the header as data: the header names it and its size in bytes (`__sg_dn=(…) __sg_dl=(…)`), and
 * `read -N` takes each in one call under LC_ALL=C (bash's parser takes longer over a long quoted value than a read).
 *
 *   exec 63<&0 </dev/null; while :; do while __sg_rc=$? __sg_go=; __sg_n && { [[ -z $__sg_chk ]] || __sg_k; } &&
 *     __sg_go=1; do eval "$__sg_cmd"; done; [[ $__sg_go ]] || exit 97; done
 *
 * The steps come on fd PROTOCOL_FD (63, the shell's stdin moved there once): fd 0 is /dev/null for good, so that a
 * command reading its stdin gets nothing, with no redirection per step (a redirection is ten system calls: opening,
 * saving, restoring). An agent's command can still read fd 63 on purpose (its processes inherit it), as it could read
 * bash's saved stdin before: it only sees its own environment's commands, and closing or eating them ends its own
 * shell, which a fresh one replaces.
 *
 * The command's `eval` is the loop's body, at the top level: `declare`, `local`, `return` and `$1` mean what they
 * mean there. An agent's `break` or `continue` at the top level (bash refuses those outside a loop) ends or repeats
 * the inner loop; either way the next `__sg_n` ends the step as usual. Anything else that ends the inner loop (a
 * missing part, the input's end or a desync, a closed stdout) exits the shell at once, never letting data run as
 * source; a fresh shell takes over.
 *
 * `__sg_n` ends the step that ran (when one did): runs the trailer, which sets `__sg_st` (it must print nothing: what
 * it prints is output), and prints the exit-code line, after a `:T` line and `__sg_st` when there is a trailer: one
 * printf of one string ending in its only newline, so one write (bash's stdout is line-buffered: a format with
 * newlines is a write each). Then it reads the next step, runs the last step's exports' statement (before the next
 * command, which is the first to see them, and before the start line, so that what it prints, a readonly name's
 * error or its trace, is stale output the server drops: no redirection), and prints the start line. `__sg_k`, run
 * only for a command that needs it, checks its syntax: a failed check prints the parse message framed by the marker
 * (`:S` … `:E`), empties the command and sets __sg_syn, which keeps the end of the step quiet. A check with no
 * message (its fork failed) lets the command run, as the host check's pass did. One known difference from the host
 * `bash -n`: a malformed `[[ … ]]` (`[[ a == ]]`) is refused here (exit 2, nothing run), where `bash -n` printed the
 * message but exited 0, so the command used to run up to that point.
 *
 * Every line of the protocol's own starts with SEP (a write(2) each, but the step's end above, one for all). The
 * parts call no function (an agent's FUNCNEST=1 would break the call), and of what an agent may shadow with a
 * function only printf, read, local, export and eval (never its `set` or `shift`).
 */
export const PROTOCOL = `__sg_n () {
  if [[ $__sg_m ]]; then
    __sg_cmd=
    if [[ -z $__sg_syn ]]; then
      if [[ $__sg_tr ]]; then
        __sg_st=
        eval "$__sg_tr"
        printf '%s' "$__sg_m:T"$'\\n'"$__sg_st$__sg_m:$__sg_rc"$'\\n' || return 1
      else
        printf '%s:%s\\n' "$__sg_m" "$__sg_rc" || return 1
      fi
    fi
    __sg_m=
  fi
  read -r -u ${PROTOCOL_FD} -N 8 __sg_h && [[ $__sg_h == [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9] ]] &&
    read -r -u ${PROTOCOL_FD} -N "$((10#$__sg_h))" __sg_h || return 1
  [[ -z $__sg_x ]] || eval "$__sg_x"
  __sg_syn= __sg_dl=() __sg_x=
  eval "$__sg_h"
  if (( \${#__sg_dl[@]} )); then
    local LC_ALL=C
    for (( __sg_i = 0; __sg_i < \${#__sg_dl[@]}; __sg_i++ )); do
      read -r -u ${PROTOCOL_FD} -N "\${__sg_dl[__sg_i]}" "\${__sg_dn[__sg_i]}" || return 1
    done
  fi
  __sg_c=$__sg_cmd __sg_m=$'\\x1e'__SYNTHGYM_DONE_\${__sg_tok}__
  printf '\\x1e%s\\n' "__SYNTHGYM_START_\${__sg_tok}__"
}
__sg_k () {
  if ! __sg_err=$(${PARSE}) && [[ $__sg_err == *$'\\n'* ]]; then
    __sg_syn=1 __sg_cmd=
    printf '%s:S\\n%s\\n%s:E\\n' "$__sg_m" "$__sg_err" "$__sg_m"
  fi
}
exec ${PROTOCOL_FD}<&0 </dev/null; while :; do while __sg_rc=$? __sg_go=; __sg_n && { [[ -z $__sg_chk ]] || __sg_k; } &&
  __sg_go=1; do eval "$__sg_cmd"; done; [[ $__sg_go ]] || exit 97; done
`

/**
 * The protocol's fingerprint: a shell that outlived its server (a docker container's) runs the protocol of the server
 * that started it, and one that runs another is started afresh rather than attached to (DockerSandbox.reattach).
 */
export const PROTOCOL_ID = createHash('sha256').update(PROTOCOL).digest('hex').slice(0, 16)

/** Values longer than this (bytes) follow the header as data instead of being quoted in it (see PROTOCOL). */
export const INLINE_MAX = 1024

/**
 * The header's end for a trailer and exports that repeat step after step (an environment's: its state query, and
 * MLGym's LAST_ACTION, which is the command), quoted once.
 */
const headerEnds = new Map<string, string>()

/** A step: the header's size, the header, then the data (see PROTOCOL). */
export function stepInput (token: string, check: boolean, command: string, trailer: string,
  exports: Record<string, string>): string | Buffer {
  const data: { name: string, bytes: Buffer }[] = []
  // `name=value` for the header: quoted there, or empty there and sent after it
  const value = (name: string, v: string): string => {
    if (v.length * 3 <= INLINE_MAX || Buffer.byteLength(v) <= INLINE_MAX) return `${name}=${ansiQuote(v)}`
    data.push({ name, bytes: Buffer.from(v) })
    return `${name}=`
  }
  const cmd = value('__sg_cmd', command)
  const ofCommand = data.length
  const names = Object.keys(exports)
  // a value that is the command itself (MLGym's LAST_ACTION, as a rule) is not sent twice
  const fixed = names.every(k => exports[k] === command)
  const key = fixed ? `${trailer}\0${names.join(' ')}` : ''
  let end = fixed ? headerEnds.get(key) : undefined
  if (end === undefined) {
    const parts = [value('__sg_tr', trailer)]
    const assigned: string[] = []
    for (const k of names) {
      if (!/^[A-Za-z_]\w*$/.test(k)) throw new Error(`not a variable name to export: ${k}`)
      if (exports[k] === command) { assigned.push(`${k}="$__sg_c"`); continue }
      parts.push(value(`__sg_v${assigned.length}`, exports[k]!))
      assigned.push(`${k}="$__sg_v${assigned.length}"`)
    }
    parts.push(`__sg_x=${assigned.length ? ansiQuote('export ' + assigned.join(' ')) : ''}`)
    end = parts.join(' ')
    // only an end with no data of its own (which the next step's data would not repeat)
    if (fixed && data.length === ofCommand && headerEnds.size < 64) headerEnds.set(key, end)
  }
  let header = `__sg_tok=${token} __sg_chk=${check ? 1 : ''} ${cmd} ${end}`
  if (data.length) {
    header += ` __sg_dn=(${data.map(d => d.name).join(' ')}) __sg_dl=(${data.map(d => d.bytes.length).join(' ')})`
  }
  const sized = String(header.length).padStart(8, '0') + header
  return data.length ? Buffer.concat([Buffer.from(sized), ...data.map(d => d.bytes)]) : sized
}

/**
 * The check's output as `bash -n` prints it: `bash: line N: …`, N counted from the command's first line (the eval
 * says `bash: eval: line M:`, M counted in the shell's whole input, and the first line it printed is the base).
 */
export function fromEval (text: string): string {
  const nl = text.indexOf('\n')
  const base = Number(text.slice(0, nl)) + 1
  return text.slice(nl + 1).replace(/^[^\n:]*: (?:eval: )?line (\d+): (warning: here-document at line (\d+) )?/gm,
    (_m, n: string, w?: string, h?: string) =>
      `bash: line ${Number(n) - base}: ${w ? `warning: here-document at line ${Number(h) - base} ` : ''}`) + '\n'
}

// how ansiQuote writes these; any other byte outside printable ASCII is \xHH
const ESCAPED: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', "'": "\\'", '\\': '\\\\' }

/** bash ANSI-C quoting: one line of printable ASCII for any text (UTF-8 bytes as \xHH), no expansion. */
export function ansiQuote (s: string): string {
  return "$'" + s.replace(/[^ -&(-[\]-~]/gu, c =>
    ESCAPED[c] ?? [...Buffer.from(c)].map(b => '\\x' + b.toString(16).padStart(2, '0')).join('')) + "'"
}

interface Pending {
  marker: string
  /**
   * the line the shell prints before the command runs, from SEP (a traced `printf` of it, with xtrace on, shows
   * SEP quoted: it is not it): what came before it is stale (a background job's)
   */
  start: string
  started: boolean
  decoder: StringDecoder
  buf: string
  kept: string
  dropped: number
  /** performance.now() of the last output (the no-output timeout counts from it) */
  lastOutput: number
  opts: ExecOptions
  /** bash's message when the command failed the syntax check (and did not run) */
  syntax?: string
  /** the trailer's output, once its marker line has come (what comes then goes here, not to the output) */
  trailer?: string
  done: (exitCode: number | null) => void
}

export class PersistentShell {
  private proc: ShellProcess | null = null
  private pending: Pending | null = null
  /** the backend stopped reading the shell's output (some came between commands) */
  private paused = false
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
    this.paused = false
    proc.onData(chunk => {
      if (this.proc !== proc) return
      if (this.pending) { this.feed(this.pending, chunk); return }
      // output after a finished command (a background job) is dropped, and no more is read until the next command
      proc.pause?.()
      this.paused = true
    })
    proc.onExit(() => {
      if (this.proc !== proc) return
      this.proc = null
      this.pending?.done(null)
    })
    const attached = this.attached
    this.attached = false
    // a re-attached shell runs the protocol's loop already: it reads steps, not source
    if (!attached) proc.write('exec 2>&1\n' + PROTOCOL)
    if (this.opts.init && !attached) {
      const r = await this.exec(this.opts.init)
      if (r.exitCode !== 0) throw new Error(`sandbox init failed (exit ${r.exitCode}): ${r.output.slice(0, 2000)}`)
    }
  }

  async exec (command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) throw new ShellClosedError('the sandbox is closed')
    if (this.pending) throw new BusyError('a command is already running in this sandbox')
    const result: ExecResult = { output: '', exitCode: null, timedOut: false, restarted: false, truncatedChars: 0, syntaxError: false }
    // bash would cut the command at the NUL and run what comes before it
    if (!opts.trusted && command.includes('\0')) return { ...result, output: NUL_REFUSED, exitCode: 2, syntaxError: true }
    // nothing, or simple commands that surely parse (no reserved word), cannot be a syntax error: no check
    const check = !opts.trusted && command.trim() !== '' && !surelyParses(command)
    if (!this.proc) { await this.start(); result.restarted = true }

    const token = randomUUID().replaceAll('-', '').slice(16) // 62 random bits; the pooled source (randomBytes took 2 us)
    const input = stepInput(token, check, command, opts.trailer ?? '', opts.exports ?? {})
    const marker = `__SYNTHGYM_DONE_${token}__`
    let timer: NodeJS.Timeout | undefined
    const exitCode = await new Promise<number | null>(resolve => {
      const now = performance.now()
      const p: Pending = {
        marker, start: SEP + marker.replace('DONE', 'START'), started: false, decoder: new StringDecoder('utf8'),
        buf: '', kept: '', dropped: 0, lastOutput: now, opts, done: resolve
      }
      this.pending = p
      // one timer for both limits, set again when it fires before either is reached: none set per output chunk
      const end = now + (opts.timeout ? opts.timeout * 1000 : Infinity)
      const quiet = opts.noOutputTimeout ? opts.noOutputTimeout * 1000 : Infinity
      const expire = () => {
        const t = performance.now()
        const why = t >= end ? 'timeout' : t >= p.lastOutput + quiet ? 'no_output' : null
        if (!why) { timer = setTimeout(expire, Math.min(end, p.lastOutput + quiet) - t); return }
        result.timedOut = why
        void this.interruptOrRestart(p)
      }
      const first = Math.min(end, now + quiet)
      if (first < Infinity) timer = setTimeout(expire, first - now)
      if (this.paused) { this.paused = false; this.proc!.resume?.() }
      this.proc!.write(input)
    })
    clearTimeout(timer)
    const p = this.pending!
    this.pending = null
    if (p.syntax !== undefined) return { ...result, output: p.syntax, exitCode: 2, syntaxError: true }
    result.output = p.kept
    result.truncatedChars = p.dropped
    if (p.trailer !== undefined && exitCode !== null) result.trailer = p.trailer
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

  private feed (p: Pending, chunk: Buffer): void {
    p.lastOutput = performance.now()
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
    const head = `${SEP}${p.marker}:`
    const at = p.buf.indexOf(head)
    if (at >= 0) {
      const end = p.buf.indexOf('\n', at + head.length)
      if (end < 0) return
      const tag = p.buf.slice(at + head.length, end)
      if (tag === 'S') {
        // a failed syntax check: its message up to the closing marker, and nothing else (as when it ran on the host)
        const close = p.buf.indexOf(`\n${SEP}${p.marker}:E\n`, end + 1)
        if (close < 0) return
        p.syntax = fromEval(p.buf.slice(end + 1, close))
        p.buf = ''
        p.done(2)
        return
      }
      this.emit(p, p.buf.slice(0, at))
      if (tag === 'T' && p.trailer === undefined) {
        // the command's output ends here; the trailer's runs up to the exit-code line
        p.trailer = ''
        p.buf = p.buf.slice(end + 1)
        this.feed(p, Buffer.alloc(0))
        return
      }
      const code = Number(tag)
      p.buf = ''
      p.done(Number.isFinite(code) ? code : null)
      return
    }
    // Hold back only a tail that could be the start of the marker; pass the rest on at once.
    let hold = 0
    for (let i = p.buf.indexOf(SEP, Math.max(0, p.buf.length - head.length - 12)); i >= 0; i = p.buf.indexOf(SEP, i + 1)) {
      const tail = p.buf.slice(i)
      if (head.startsWith(tail) || tail.startsWith(head)) { hold = p.buf.length - i; break }
    }
    const safe = p.buf.slice(0, p.buf.length - hold)
    p.buf = p.buf.slice(p.buf.length - hold)
    if (safe) this.emit(p, safe)
  }

  private emit (p: Pending, text: string): void {
    if (p.trailer === undefined) this.keep(p, text)
    else p.trailer += text
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
