// `synthgym aup DIR... [--models a,b] [--tasks a,b] [--metric TASK=METRIC:maximize]... [--format md|csv|json] [--out DIR]
//  [--no-png]`. The report goes to stdout in --format; --out also writes every format, the SVG plot and its PNG there.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { computeAup } from './aup.js'
import { readAupInput } from './read.js'
import { toCsv, toJson, toMarkdown } from './report.js'
import { profileSvg, renderPng } from './plot.js'
import { parseMetricFlags } from '../run-dirs.js'
import type { AupReport } from '../../env-spec/aup.js'

export const AUP_USAGE = `usage: synthgym aup DIR... [--models a,b] [--tasks a,b] [--metric TASK=METRIC:maximize|minimize]...
                   [--format md|csv|json] [--out DIR] [--no-png]
  DIR        MLGym run directories, or directories holding them (MLGym's trajectories/<user>/, synthgym run --out)
  --models   the models to compare, in this order (default: every model found); a name also matches a run
             directory's model part as its suffix after '-', as MLGym's glob does (gpt4o2 matches metagen-gpt4o2)
  --tasks    only these tasks (default: every task found)
  --metric   a task's priority metric, over the one its runs recorded (synthgym run writes it in synthgym.json)
             and MLGym's table (its 13 benchmark tasks); needed only for runs that have neither
  --format   what goes to stdout: md (default), csv or json
  --out      also write report.md, report.csv, report.json, performance_profile.svg and .png into DIR
  --no-png   no PNG (it is the SVG rendered by headless Chromium, /usr/bin/chromium or SYNTHGYM_CHROMIUM)`

const FORMATS = ['md', 'csv', 'json'] as const
type Format = typeof FORMATS[number]

interface AupArgs { dirs: string[], models?: string[], tasks?: string[], metrics: string[], format: Format, out?: string, png: boolean }

function parseArgs (args: string[]): AupArgs | 'help' {
  const a: AupArgs = { dirs: [], metrics: [], format: 'md', png: true }
  const list = (v: string) => v.split(',').map(s => s.trim()).filter(Boolean)
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const value = (): string => {
      const v = args[++i]
      if (v === undefined || v.startsWith('--')) throw new Error(`${arg} needs a value\n${AUP_USAGE}`)
      return v
    }
    switch (arg) {
      case '-h': case '--help': return 'help'
      case '--models': a.models = list(value()); break
      case '--tasks': a.tasks = list(value()); break
      case '--metric': a.metrics.push(value()); break
      case '--format': {
        const f = value()
        if (!(FORMATS as readonly string[]).includes(f)) throw new Error(`--format ${f}: use md, csv or json`)
        a.format = f as Format
        break
      }
      case '--out': a.out = value(); break
      case '--no-png': a.png = false; break
      default:
        if (arg.startsWith('-')) throw new Error(`unknown option ${arg}\n${AUP_USAGE}`)
        a.dirs.push(arg)
    }
  }
  if (a.dirs.length === 0) throw new Error(`name at least one directory of runs\n${AUP_USAGE}`)
  if (a.models?.length === 0) throw new Error('--models needs at least one model name')
  return a
}

/** Reads the runs and computes the report (what the command prints, for tests and the bench too). */
export function aupReport (dirs: string[], opts: { models?: string[], tasks?: string[], metrics?: string[] } = {}): AupReport {
  const { input, warnings } = readAupInput(dirs, { models: opts.models, tasks: opts.tasks, metrics: parseMetricFlags(opts.metrics ?? []) })
  const r = computeAup(input)
  return { ...r, warnings: [...warnings, ...r.warnings], sources: dirs }
}

export async function aupCommand (args: string[]): Promise<number> {
  let a: AupArgs | 'help'
  try { a = parseArgs(args) } catch (e) { console.error((e as Error).message); return 1 }
  if (a === 'help') { console.log(AUP_USAGE); return 0 }
  let report: AupReport
  try { report = aupReport(a.dirs, { models: a.models, tasks: a.tasks, metrics: a.metrics }) } catch (e) {
    console.error(`synthgym aup: ${(e as Error).message}`)
    return 1
  }
  const formats: Record<Format, () => string> = { md: () => toMarkdown(report), csv: () => toCsv(report), json: () => toJson(report) }
  process.stdout.write(formats[a.format]())
  if (a.out) {
    mkdirSync(a.out, { recursive: true })
    for (const f of FORMATS) writeFileSync(join(a.out, `report.${f}`), formats[f]())
    const svg = profileSvg(report)
    writeFileSync(join(a.out, 'performance_profile.svg'), svg.svg)
    const png = a.png ? await renderPng(svg, join(a.out, 'performance_profile.png')) : { ok: false as const, reason: '--no-png' }
    console.error(`synthgym aup: wrote report.md, report.csv, report.json, performance_profile.svg${png.ok ? ' and performance_profile.png' : ''} to ${a.out}`)
    if (!png.ok) console.error(`synthgym aup: PNG skipped: ${png.reason}`)
  }
  return 0
}
