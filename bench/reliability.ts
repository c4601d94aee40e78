// npm run reliability: regenerates RELIABILITY.md from real runs: the hostile battery per backend and isolation mode,
// the injected faults (crash recovery, disk full, dockerd restarted, SIGTERM), the protocol fuzzing, the
// two-replica store, and the load run (requests sent, failed and lost, p50/p99, memory and fds over time, memory
// per idle sandbox). Every figure is read from what those runs printed; nothing is typed in.
//
//   node dist/bench/reliability.js [--minutes 10] [--sessions 1024] [--skip-load] [--out RELIABILITY.md]
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

interface Args { minutes: number, sessions: number, skipLoad: boolean, out: string }
function parse (argv: string[]): Args {
  const a: Args = { minutes: 10, sessions: 1024, skipLoad: false, out: join(ROOT, 'RELIABILITY.md') }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    if (k === '--skip-load') { a.skipLoad = true; continue }
    const v = argv[++i]
    if (v === undefined) throw new Error(`${k} needs a value`)
    if (k === '--minutes') a.minutes = Number(v)
    else if (k === '--sessions') a.sessions = Number(v)
    else if (k === '--out') a.out = v
    else throw new Error(`unknown option ${k}; known: --minutes --sessions --skip-load --out`)
  }
  return a
}

/** The scenario groups: which test files make each, in RELIABILITY.md's order. */
const GROUPS: Array<{ title: string, files: string[] }> = [
  { title: 'Hostile agents', files: ['test/hostile/bwrap.test.ts', 'test/hostile/unshare.test.ts', 'test/hostile/docker.test.ts'] },
  { title: 'Faults', files: ['test/crash.test.ts'] },
  { title: 'Protocol fuzzing', files: ['test/fuzz.test.ts'] },
  { title: 'Several replicas, one store', files: ['test/store-postgres.test.ts'] }
]

interface Outcome { file: string, name: string, ok: boolean, skip: string | null, todo: string | null }
/** One attack of the hostile battery on one mode: a second-level subtest named `<attack id>: <what it tries>`. */
interface AttackOutcome { file: string, id: string, ok: boolean }

/** Runs test files with tap's TAP reporter; the first-level subtests of each file are the scenarios. */
function runTap (files: string[]): { outcomes: Outcome[], attacks: AttackOutcome[], code: number | null, seconds: number } {
  const present = files.filter(f => existsSync(join(ROOT, f)))
  if (!present.length) return { outcomes: [], attacks: [], code: 0, seconds: 0 }
  const t0 = Date.now()
  const r = spawnSync('npx', ['tap', '--reporter=tap', '--jobs=1', ...present], {
    cwd: ROOT, encoding: 'utf8', maxBuffer: 256 * 2 ** 20, env: { ...process.env, CI: process.env.CI ?? 'true' }
  })
  const outcomes: Outcome[] = []
  let file = ''
  const lines = (r.stdout ?? '').split('\n')
  // a file's own line comes after its subtests: collect them, then name them by the file
  let pending: Outcome[] = []
  const attacks: AttackOutcome[] = []
  let pendingAttacks: AttackOutcome[] = []
  for (const line of lines) {
    const attack = /^ {8}(not )?ok \d+ - ([a-z0-9-]+): /.exec(line)
    if (attack) { pendingAttacks.push({ file: '', id: attack[2]!, ok: !attack[1] }); continue }
    const sub = /^ {4}(not )?ok \d+ - (.*?)(?: # (SKIP|TODO)\s*(.*))?(?: # time=.*)?$/.exec(line)
    if (sub) {
      pending.push({ file: '', name: sub[2]!.replace(/ # time=.*$/, ''), ok: !sub[1], skip: sub[3] === 'SKIP' ? (sub[4] || 'skipped') : null, todo: sub[3] === 'TODO' ? (sub[4] || 'todo') : null })
      continue
    }
    const top = /^(not )?ok \d+ - (\S+)/.exec(line)
    if (top) {
      file = top[2]!
      for (const o of pending) outcomes.push({ ...o, file })
      for (const o of pendingAttacks) attacks.push({ ...o, file })
      pending = []
      pendingAttacks = []
    }
  }
  return { outcomes, attacks, code: r.status, seconds: (Date.now() - t0) / 1000 }
}

function table (rows: string[][]): string {
  const [head, ...body] = rows
  return [`| ${head!.join(' | ')} |`, `|${head!.map(() => '---').join('|')}|`, ...body.map(r => `| ${r.join(' | ')} |`)].join('\n')
}

/**
 * The battery's table (test/hostile/report.ts, run from the sources: test/ is not compiled) with each attack's
 * result per mode, and a summary row per mode: attacks tried, held, failed.
 */
function hostileSection (files: string[], r: ReturnType<typeof runTap>, summary: string[][]): string {
  const results: Record<string, Record<string, boolean>> = {}
  for (const f of files) {
    const mode = f.replace(/^test\/hostile\//, '').replace(/\.test\.ts$/, '')
    const mine = r.attacks.filter(a => a.file === f)
    const file = r.outcomes.find(o => o.file === f)
    for (const a of mine) (results[a.id] ??= {})[mode] = a.ok
    summary.push(['Hostile agents', f, String(mine.length), String(mine.filter(a => a.ok).length), String(mine.filter(a => !a.ok).length),
      file?.skip ? `all: ${file.skip}` : '0', '0'])
  }
  const dir = mkdtempSync(join(tmpdir(), 'synthgym-attacks-'))
  const json = join(dir, 'results.json')
  writeFileSync(json, JSON.stringify(results))
  const p = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/hostile/report.ts'), json], { cwd: ROOT, encoding: 'utf8' })
  rmSync(dir, { recursive: true, force: true })
  if (p.status !== 0) return `## Hostile agents\n\nThe table could not be drawn (test/hostile/report.ts exited ${p.status}): ${p.stderr}`
  return p.stdout.replace(/^## Hostile agents\n\n/, `## Hostile agents\n\nRan in ${r.seconds.toFixed(0)} s (tap exit code ${r.code}). **held**: the outcome was asserted and held.\n\n`)
}

function main (): void {
  const a = parse(process.argv.slice(2))
  const sections: string[] = []
  const summary: string[][] = [['scenario group', 'test file', 'tried', 'survived', 'failed', 'skipped', 'todo']]
  for (const g of GROUPS) {
    process.stderr.write(`reliability: ${g.title}: ${g.files.join(' ')}\n`)
    const r = runTap(g.files)
    const byFile = new Map<string, Outcome[]>()
    for (const o of r.outcomes) byFile.set(o.file, [...(byFile.get(o.file) ?? []), o])
    if (g.title === 'Hostile agents') {
      sections.push(hostileSection(g.files, r, summary))
      continue
    }
    const rows: string[][] = [['scenario', 'outcome']]
    for (const f of g.files) {
      const list = byFile.get(f) ?? []
      if (!existsSync(join(ROOT, f))) { summary.push([g.title, f, '—', '—', '—', '—', 'not in this checkout']); continue }
      const count = (p: (o: Outcome) => boolean) => String(list.filter(p).length)
      summary.push([g.title, f, String(list.length), count(o => o.ok && !o.skip && !o.todo), count(o => !o.ok && !o.todo),
        count(o => !!o.skip), count(o => !!o.todo)])
      for (const o of list) rows.push([`${f.replace(/^test\//, '')}: ${o.name.replace(/\|/g, '\\|')}`, o.skip ? `skipped: ${o.skip}` : o.todo ? `todo: ${o.todo}` : o.ok ? 'survived' : '**FAILED**'])
    }
    sections.push(`## ${g.title}\n\nRan in ${r.seconds.toFixed(0)} s (tap exit code ${r.code}).\n\n${rows.length > 1 ? table(rows) : '_no scenarios ran_'}`)
  }

  let load = ''
  if (!a.skipLoad) {
    process.stderr.write(`reliability: load for ${a.minutes} min with ${a.sessions} sessions\n`)
    const dir = mkdtempSync(join(tmpdir(), 'synthgym-reliability-'))
    const json = join(dir, 'load.json')
    const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench/load.js'), '--minutes', String(a.minutes), '--sessions', String(a.sessions), '--json', json],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'ignore', 'inherit'] })
    if (r.status === 0 && existsSync(json)) {
      const j = JSON.parse(readFileSync(json, 'utf8'))
      const l = j.load
      const lat = Object.entries(l.latency_ms as Record<string, { n: number, p50: number, p99: number }>)
        .map(([op, s]) => [op, String(s.n), `${s.p50} ms`, `${s.p99} ms`])
      const mem = (l.memory as Array<{ t_s: number, rss_mb: number, fds: number }>)
      const errs = Object.entries(l.errors as Record<string, number>)
      load = [
        `## Load (\`npm run load\`: ${l.minutes} min, ${l.sessions} WebSocket sessions with pings, ${l.workers} workers on live sandboxes)`,
        '',
        `Requests sent ${l.sent}, answered ${l.answered}, **lost ${l.lost}**; errors: ${errs.length ? errs.map(([k, v]) => `${k} ×${v}`).join(', ') : 'none'}. Episodes: ${l.episodes}.`,
        '',
        table([['op', 'n', 'p50', 'p99'], ...lat]),
        '',
        `Server memory and file descriptors over time (RSS growth ${l.rss_growth_mb} MiB, fd growth ${l.fd_growth} from the first sample after start):`,
        '',
        table([['t (s)', 'RSS (MiB)', 'fds'], ...mem.map(m => [String(m.t_s), String(m.rss_mb), String(m.fds)])]),
        '',
        `Past capacity: ${l.past_capacity.asked} creates asked, ${l.past_capacity.accepted} accepted, ${l.past_capacity.capacity_reached} answered CAPACITY_REACHED, ${l.past_capacity.other_errors} other errors; server alive after: ${l.past_capacity.server_alive}.`,
        '',
        '### Memory per idle local sandbox',
        '',
        table([['open', 'sandbox processes', 'their Pss (MiB)', 'per sandbox (MiB)', 'server RSS (MiB)'],
          ...(j.idle as Array<Record<string, number | null>>).map(x => [String(x.open), String(x.sandbox_processes), String(x.sandbox_pss_mb), String(x.per_sandbox_pss_mb ?? '—'), String(x.server_rss_mb)])])
      ].join('\n')
    } else load = `## Load\n\nThe load run failed (exit code ${r.status}); see its stderr.`
    rmSync(dir, { recursive: true, force: true })
  }

  const text = [
    '# Reliability',
    '',
    `Regenerated by \`npm run reliability\` on ${new Date().toISOString().slice(0, 10)} (${process.platform}, node ${process.version}). Every line below is what a run printed.`,
    '',
    table(summary),
    '',
    ...sections.flatMap(s => [s, '']),
    load
  ].join('\n')
  writeFileSync(a.out, text + '\n')
  process.stderr.write(`reliability: wrote ${a.out}\n`)
}

main()
