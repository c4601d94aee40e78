// The hostile agent battery as RELIABILITY.md shows it: one row per attack, what must happen on each backend.
// `npx tsx test/hostile/report.ts [results.json]` prints the section; `npm run reliability` passes a run's results
// (attack id → mode → held).
import { ATTACKS, MODES, expectedEnd, outcomeIn, type Mode } from './attacks.js'

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

export function attackSection (results?: Record<string, Partial<Record<Mode, boolean>>>): string {
  const out: string[] = []
  const count = (m: Mode) => ATTACKS.filter(a => !a.only || a.only.includes(m)).length
  out.push('## Hostile agents', '')
  out.push(`${ATTACKS.length} scripted attacks through the public API (test/hostile/attacks.ts), each run on the local backend with bubblewrap ` +
    `(${count('bwrap')}), with the unshare fallback (${count('unshare')}) and on docker (${count('docker')}). After every attack: an environment ` +
    'opened before it still steps correctly; the attacked one recovered (`echo ok` works) or ended with a clear exit status; once closed, ' +
    'no process, folder, cgroup or container of its sandboxes is left on the host.', '')
  const areas = [...new Set(ATTACKS.map(a => a.area))]
  for (const area of areas) {
    out.push(`### ${area[0]!.toUpperCase()}${area.slice(1)}`, '', '| attack | the agent tries | bwrap | unshare | docker |', '|---|---|---|---|---|')
    for (const a of ATTACKS.filter(x => x.area === area)) {
      const cols = MODES.map(m => {
        if (a.only && !a.only.includes(m)) return 'n/a'
        const todo = a.todo?.[m]
        const result = results?.[a.id]?.[m]
        const mark = todo ? `TODO: ${todo}` : result === undefined ? '' : result ? '**held**: ' : '**FAILED**: '
        const end = expectedEnd(a, m) ? ' (ends the episode)' : ''
        return cell(`${mark}${outcomeIn(a, m)}${end}`)
      })
      // one outcome everywhere: say it once
      const same = cols.every(c => c === cols[0])
      out.push(`| \`${a.id}\` | ${cell(a.tries)} | ${same ? `${cols[0]} | (same) | (same)` : cols.join(' | ')} |`)
    }
    out.push('')
  }
  return out.join('\n')
}

// run as a script: the section, with a run's results when a JSON file of them is named (bench/reliability.ts)
if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  const { readFileSync } = await import('node:fs')
  process.stdout.write(attackSection(file ? JSON.parse(readFileSync(file, 'utf8')) : undefined) + '\n')
}
