// The files an agent edited, rebuilt from its steps, and their line diffs. Computed in the page, not by the server:
// a finished episode's sandbox is gone, but its steps hold what the diff needs. MLGym's `open`, `create`, `edit` and
// `insert` print the file's window (`[File: <path> (<N> lines total)]` then `<n>:<text>` lines, the whole file up to
// 1000 lines); a file is what its first window showed (or nothing, when `create` made it) before, and what its last
// window showed after. A window that is only part of a file gives a diff of that part. Writes by a heredoc
// (`cat > f << 'EOF'`) count as edits too. Pure functions: test/ui-lib.test.ts runs them in node.
import { heredocWrite, shortPath, type StepView } from './traj-model.js'

export type Op = { t: '=', a: number, b: number } | { t: '-', a: number } | { t: '+', b: number }

/** Myers' O(ND) line diff, after trimming the common head and tail. */
export function diffLines (a: string[], b: string[]): Op[] {
  let head = 0
  while (head < a.length && head < b.length && a[head] === b[head]) head++
  let tail = 0
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++
  const A = a.slice(head, a.length - tail)
  const B = b.slice(head, b.length - tail)
  const mid = A.length + B.length > 40_000 ? replaceAll(A, B) : myers(A, B)
  const ops: Op[] = []
  for (let i = 0; i < head; i++) ops.push({ t: '=', a: i, b: i })
  for (const o of mid) ops.push(o.t === '=' ? { t: '=', a: o.a + head, b: o.b + head } : o.t === '-' ? { t: '-', a: o.a + head } : { t: '+', b: o.b + head })
  for (let i = tail; i > 0; i--) ops.push({ t: '=', a: a.length - i, b: b.length - i })
  return ops
}

function replaceAll (a: string[], b: string[]): Op[] {
  return [...a.map((_, i) => ({ t: '-' as const, a: i })), ...b.map((_, j) => ({ t: '+' as const, b: j }))]
}

function myers (a: string[], b: string[]): Op[] {
  const n = a.length
  const m = b.length
  const max = n + m
  if (max === 0) return []
  const off = max + 1
  const v = new Int32Array(2 * max + 3)
  const trace: Int32Array[] = []
  let found = -1
  for (let d = 0; d <= max && found < 0; d++) {
    trace.push(v.slice())
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1]! < v[off + k + 1]!) ? v[off + k + 1]! : v[off + k - 1]! + 1
      let y = x - k
      while (x < n && y < m && a[x] === b[y]) { x++; y++ }
      v[off + k] = x
      if (x >= n && y >= m) { found = d; break }
    }
  }
  const ops: Op[] = []
  let x = n
  let y = m
  for (let d = found; d > 0; d--) {
    const pv = trace[d]!
    const k = x - y
    const prevK = k === -d || (k !== d && pv[off + k - 1]! < pv[off + k + 1]!) ? k + 1 : k - 1
    const prevX = pv[off + prevK]!
    const prevY = prevX - prevK
    while (x > prevX && y > prevY) { x--; y--; ops.push({ t: '=', a: x, b: y }) }
    if (x === prevX) { y--; ops.push({ t: '+', b: y }) } else { x--; ops.push({ t: '-', a: x }) }
  }
  while (x > 0 && y > 0) { x--; y--; ops.push({ t: '=', a: x, b: y }) }
  return ops.reverse()
}

export interface DiffLine { t: ' ' | '+' | '-', text: string, old: number | null, new: number | null }
export interface Hunk { oldStart: number, newStart: number, lines: DiffLine[] }

/** Unified hunks with `context` lines around each change; line numbers count from `firstLine`. */
export function hunks (a: string[], b: string[], context = 3, firstLine = 1): Hunk[] {
  const ops = diffLines(a, b)
  const lines: DiffLine[] = ops.map(o => o.t === '='
    ? { t: ' ', text: a[o.a]!, old: o.a + firstLine, new: o.b + firstLine }
    : o.t === '-' ? { t: '-', text: a[o.a]!, old: o.a + firstLine, new: null } : { t: '+', text: b[o.b]!, old: null, new: o.b + firstLine })
  // each change with its context; ranges that touch make one hunk
  const ranges: [number, number][] = []
  lines.forEach((l, i) => {
    if (l.t === ' ') return
    const lo = Math.max(0, i - context)
    const hi = Math.min(lines.length, i + context + 1)
    const last = ranges[ranges.length - 1]
    if (last && lo <= last[1]) last[1] = Math.max(last[1], hi)
    else ranges.push([lo, hi])
  })
  return ranges.map(([lo, hi]) => {
    const slice = lines.slice(lo, hi)
    return {
      oldStart: slice.find(l => l.old !== null)?.old ?? firstLine - 1,
      newStart: slice.find(l => l.new !== null)?.new ?? firstLine - 1,
      lines: slice
    }
  })
}

/** The file windows an observation prints. */
export interface FileWindow { path: string, total: number, start: number, lines: string[] }

export function parseWindows (observation: string): FileWindow[] {
  const out: FileWindow[] = []
  const rows = observation.split('\n')
  for (let i = 0; i < rows.length; i++) {
    const h = /^\[File: (.+) \((\d+) lines total\)\]$/.exec(rows[i]!)
    if (!h) continue
    let j = i + 1
    if (/^\(\d+ more lines above\)$/.test(rows[j] ?? '')) j++
    const first = /^(\d+):/.exec(rows[j] ?? '')
    const start = first ? Number(first[1]) : 1
    const lines: string[] = []
    for (let n = start; j < rows.length; j++, n++) {
      const prefix = `${n}:`
      if (!rows[j]!.startsWith(prefix)) break
      lines.push(rows[j]!.slice(prefix.length))
    }
    out.push({ path: h[1]!, total: Number(h[2]), start, lines })
    i = j - 1
  }
  return out
}

export interface FileDiff {
  path: string
  /** added: the agent created it; modified: seen before its first edit; unseen: written before it was ever shown */
  status: 'added' | 'modified' | 'unseen'
  /** only windows of the file were shown: the diff covers those lines */
  partial: boolean
  added: number
  removed: number
  /** the steps (1-based) that changed it */
  steps: number[]
  hunks: Hunk[]
}

interface Track {
  path: string
  before: string[] | null
  status: FileDiff['status']
  current: string[] | null
  /** line number of current[0] */
  start: number
  partial: boolean
  steps: number[]
}

const FAILED_EDIT = /Your changes have NOT been applied|^Malformed edit command|^No file open|^Usage: (edit|insert)|^Error: You cannot edit/m

function absolute (p: string, dir: string | null): string {
  if (p.startsWith('/')) return p
  const base = (dir ?? '/home/agent/workspace').replace(/\/$/, '')
  const parts = `${base}/${p}`.split('/')
  const out: string[] = []
  for (const s of parts) { if (s === '..') out.pop(); else if (s !== '.' && s !== '') out.push(s) }
  return '/' + out.join('/')
}

function editOp (action: string): { kind: 'edit', from: number, to: number, lines: string[] } | { kind: 'insert', after: number, lines: string[] } | null {
  const rows = action.split('\n')
  const e = /^\s*edit\s+(\d+):(\d+)\s*$/.exec(rows[0]!)
  if (e) {
    const end = rows.findIndex((r, i) => i > 0 && r.trim() === 'end_of_edit')
    return { kind: 'edit', from: Number(e[1]), to: Number(e[2]), lines: rows.slice(1, end < 0 ? rows.length : end) }
  }
  const ins = /^\s*insert\s+(\d+)\s*$/.exec(rows[0]!)
  if (ins) {
    const end = rows.findIndex((r, i) => i > 0 && r.trim() === 'end_of_insert')
    return { kind: 'insert', after: Number(ins[1]), lines: rows.slice(1, end < 0 ? rows.length : end) }
  }
  return null
}

/** The files the steps changed, each with its diff; files that end as they began are left out. */
export function editedFiles (steps: StepView[]): FileDiff[] {
  const files = new Map<string, Track>()
  let openFile: string | null = null
  let cwd: string | null = null
  const see = (w: FileWindow, step: number | null) => {
    const whole = w.start === 1 && w.lines.length === w.total
    let f = files.get(w.path)
    if (!f) {
      f = { path: w.path, before: [...w.lines], status: 'modified', current: [...w.lines], start: w.start, partial: !whole, steps: [] }
      files.set(w.path, f)
    } else if (whole) {
      f.current = [...w.lines]
      f.start = 1
    } else if (f.current && !f.partial && f.current.length === w.total) {
      f.current.splice(w.start - 1, w.lines.length, ...w.lines)
    } else {
      // only windows known: compare the window now shown with the one shown first
      if (!f.partial && f.before) f.before = f.before.slice(w.start - 1, w.start - 1 + w.lines.length)
      f.partial = true
      f.current = [...w.lines]
      f.start = w.start
    }
    if (step !== null && !f.steps.includes(step)) f.steps.push(step)
  }
  for (const s of steps) {
    const action = s.action.trim()
    const windows = parseWindows(s.observation)
    const create = /^create\s+(\S+)\s*$/.exec(action)
    const op = editOp(action)
    const heredoc = heredocWrite(action)
    if (create && !/already exists/.test(s.observation)) {
      const path = windows[0]?.path ?? absolute(create[1]!.replace(/^['"]|['"]$/g, ''), cwd)
      if (!files.has(path)) files.set(path, { path, before: null, status: 'added', current: [''], start: 1, partial: false, steps: [] })
      for (const w of windows) see(w, s.index)
    } else if (op) {
      if (!FAILED_EDIT.test(s.observation)) {
        const path = windows[0]?.path ?? openFile
        const f = path ? files.get(path) : undefined
        // the edit applied to what we know; a window printed after it, when there is one, is the truth
        if (f?.current && !f.partial) {
          if (op.kind === 'edit') f.current.splice(op.from - 1, op.to - op.from + 1, ...op.lines)
          else f.current.splice(op.after, 0, ...op.lines)
        }
        if (f && !f.steps.includes(s.index)) f.steps.push(s.index)
        for (const w of windows) see(w, s.index)
      }
    } else if (heredoc) {
      const path = absolute(heredoc.path, cwd)
      const f = files.get(path)
      if (f && f.current && !f.partial) f.current = heredoc.append ? [...f.current, ...heredoc.lines] : [...heredoc.lines]
      else if (!f) files.set(path, { path, before: null, status: 'unseen', current: [...heredoc.lines], start: 1, partial: false, steps: [] })
      else { f.current = [...heredoc.lines]; f.partial = false; f.start = 1 }
      const t = files.get(path)!
      if (!t.steps.includes(s.index)) t.steps.push(s.index)
    } else {
      for (const w of windows) see(w, null)
    }
    if (s.openFile) openFile = s.openFile
    if (s.workingDir) cwd = s.workingDir
  }
  const out: FileDiff[] = []
  for (const f of files.values()) {
    const before = f.before ?? []
    const after = f.current ?? []
    if (!f.steps.length && f.status === 'modified' && before.join('\n') === after.join('\n')) continue
    const h = hunks(before, after, 3, f.partial ? f.start : 1)
    if (!h.length && f.status === 'modified') continue
    const lines = h.flatMap(x => x.lines)
    out.push({
      path: shortPath(f.path), status: f.status, partial: f.partial, steps: f.steps, hunks: h,
      added: lines.filter(l => l.t === '+').length, removed: lines.filter(l => l.t === '-').length
    })
  }
  return out
}
