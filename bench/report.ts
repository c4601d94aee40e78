// What the benchmark reports: the table rows with their targets, progress lines, the machine, and the final
// report (table, then the JSON on stdout or into --json FILE).
import { readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os'
import { performance } from 'node:perf_hooks'
import { round3 } from './stats.js'

export type Status = 'ok' | 'MISSED' | 'info' | 'skipped'
export type Unit = 'ms' | 's' | 'count' | 'x'
/** the value must be below this (a latency), or at least this (a count) */
export type Target = { below: number } | { atLeast: number } | null

export interface Row {
  section: string
  metric: string
  value: number | null
  unit: Unit
  target: Target
  status: Status
  ratio: number | null
  note?: string
}

export function fmtValue (v: number | null, unit: Unit): string {
  if (v === null || !Number.isFinite(v)) return 'n/a'
  if (unit === 'count') return String(v)
  if (unit === 'x') return `${v < 10 ? v.toFixed(2) : v.toFixed(1)}×`
  if (unit === 's') return `${v.toFixed(2)} s`
  return v < 10 ? `${v.toFixed(3)} ms` : v < 100 ? `${v.toFixed(2)} ms` : `${v.toFixed(1)} ms`
}

export function fmtTarget (r: Row): string {
  if (!r.target) return ''
  if ('below' in r.target) return `< ${fmtValue(r.target.below, r.unit)}`
  return `>= ${r.target.atLeast} (all)`
}

/** The rows of the table, in the order the sections add them. */
export class Report {
  readonly rows: Row[] = []

  /** Adds a row; with a target, checks it (a missing or non-finite value misses it). */
  row (section: string, metric: string, value: number | null, unit: Unit, target: Target = null, note?: string): Row {
    let status: Status = 'info'
    let ratio: number | null = null
    if (target) {
      if (value === null || !Number.isFinite(value)) status = 'MISSED'
      else if ('below' in target) {
        ratio = value / target.below
        status = value < target.below ? 'ok' : 'MISSED'
      } else {
        ratio = value / target.atLeast
        status = value >= target.atLeast ? 'ok' : 'MISSED'
      }
    }
    const r: Row = { section, metric, value, unit, target, status, ratio: ratio === null ? null : round3(ratio), note }
    this.rows.push(r)
    return r
  }

  missed (): Row[] { return this.rows.filter(r => r.status === 'MISSED') }

  /** A markdown table, numbers right-aligned. */
  table (): string {
    const head = ['benchmark', 'metric', 'value', 'target', 'ratio', 'status']
    const body = this.rows.map(r => [
      r.section, r.metric, r.status === 'skipped' ? '' : fmtValue(r.value, r.unit), fmtTarget(r),
      r.ratio === null ? '' : r.ratio.toFixed(3), r.status === 'info' ? '' : r.status
    ])
    const right = (i: number) => i === 2 || i === 4
    const w = head.map((h, i) => Math.max(h.length, ...body.map(b => b[i]!.length)))
    const pad = (c: string, i: number) => (right(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))
    const line = (cells: string[]) => '| ' + cells.map(pad).join(' | ') + ' |'
    const rule = '|' + w.map((n, i) => (right(i) ? '-'.repeat(n + 1) + ':' : '-'.repeat(n + 2))).join('|') + '|'
    return [line(head), rule, ...body.map(line)].join('\n')
  }
}

/** When the run started, and the load then: other work on the machine shows up in every number. */
export interface Clock { t0: number, load0: number }

const load1m = (): number => Math.round(loadavg()[0]! * 100) / 100

export const startClock = (): Clock => ({ t0: performance.now(), load0: load1m() })

export type Progress = (msg: string) => void

/** Progress lines go to stderr, so that stdout holds only the report. */
export const progressTo = (clock: Clock): Progress => msg => {
  process.stderr.write(`[bench ${((performance.now() - clock.t0) / 1000).toFixed(1).padStart(5)} s] ${msg}\n`)
}

export interface Machine {
  cores: number
  cpu_model: string
  cpu_mhz: number | null
  memory_gib: number
  kernel: string
  node: string
  platform: string
  load_average_1m: { at_start: number, at_end: number }
}

export function machine (clock: Clock): Machine {
  let model = cpus()[0]?.model ?? 'unknown'
  let mhz: number | null = cpus()[0]?.speed ?? null
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8')
    model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? model
    const m = /^cpu MHz\s*:\s*([\d.]+)$/m.exec(info)
    if (m) mhz = Number(m[1])
  } catch {}
  return {
    cores: availableParallelism(),
    cpu_model: model,
    cpu_mhz: mhz,
    memory_gib: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    kernel: release(),
    node: process.version,
    platform: process.platform,
    load_average_1m: { at_start: clock.load0, at_end: load1m() }
  }
}

export interface Outcome {
  report: Report
  clock: Clock
  /** the options as the JSON records them */
  options: Record<string, unknown>
  /** for the header line: 'in-process' or 'in a child process' */
  serverMode: string
  dockerVersion?: string
  results: Record<string, unknown>
  errors: string[]
  /** the JSON goes into this file, else onto the last line of stdout */
  json: string | null
}

/** Prints the header, the table and what went wrong, then writes the JSON; true when all targets were met. */
export function writeReport (x: Outcome): boolean {
  const { report, clock, errors, results } = x
  const missed = report.missed()
  const info = {
    machine: machine(clock),
    options: x.options,
    server: results.server,
    started: new Date(Date.now() - (performance.now() - clock.t0)).toISOString(),
    seconds: Math.round(performance.now() - clock.t0) / 1000
  }
  const m = info.machine
  console.log('')
  const docker = x.dockerVersion ? `, docker ${x.dockerVersion}` : ''
  console.log(`synthgym benchmarks — ${m.cores} cores, ${m.cpu_model}, node ${process.version}, ` +
    `server ${x.serverMode}${docker}, load average ${clock.load0} → ${m.load_average_1m.at_end}, ${info.seconds} s`)
  console.log('')
  console.log(report.table())
  console.log('')
  for (const r of report.rows) if (r.status === 'skipped') console.log(`SKIPPED: ${r.section}: ${r.note}`)
  for (const f of errors) console.log(`ERROR: ${f}`)
  for (const r of missed) {
    console.log(`MISSED: ${r.section}: ${r.metric} = ${fmtValue(r.value, r.unit)}, target ${fmtTarget(r)}` +
      `${r.note ? ` (${r.note})` : ''}`)
  }
  const ok = missed.length === 0 && errors.length === 0
  console.log(ok
    ? 'all targets met'
    : `${missed.length} target(s) MISSED${errors.length ? `, ${errors.length} error(s)` : ''}`)
  const doc = { ...info, ok, missed: missed.map(r => `${r.section}: ${r.metric}`), errors, table: report.rows, results }
  if (x.json) {
    writeFileSync(x.json, JSON.stringify(doc, null, 2) + '\n')
    console.log(`results written to ${x.json}`)
  } else console.log(JSON.stringify(doc))
  return ok
}
