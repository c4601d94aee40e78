// The performance-profile plot, as MLGym draws it (plot_performance_profiles_dual): one panel per variant, a step
// line per method (rho_m at each grid point, held until the next), x = tau (log10 ratio) from 0 to tau_max,
// y = share of tasks. Hand-written SVG; a PNG is that SVG rendered by headless Chromium (playwright-core).
import { existsSync } from 'node:fs'
import { AUP_VARIANTS, type AupReport } from '../../env-spec/aup.js'
import { profile, tauGrid } from './aup.js'
import { methodsByAup, VARIANT_TITLE } from './report.js'

// Tableau 10 and two more; past them the colours repeat with another dash pattern
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#17becf', '#7f3c8d', '#bcbd22']
const DASHES = ['', '7 3', '2 2', '9 3 2 3']

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const n2 = (x: number) => String(Math.round(x * 100) / 100)

/** A tick step that gives at most 6 intervals on [0, max]. */
function tickStep (max: number): number {
  for (const s of [0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10]) if (max / s <= 6) return s
  return Math.ceil(max / 6)
}

export interface Svg { svg: string, width: number, height: number }

export function profileSvg (r: AupReport): Svg {
  const methods = methodsByAup(r)
  const style = (m: string) => {
    if (m === 'baseline') return { color: '#000000', dash: '4 3' }
    const i = methods.filter(x => x !== 'baseline').indexOf(m)
    return { color: COLORS[i % COLORS.length]!, dash: DASHES[Math.floor(i / COLORS.length) % DASHES.length]! }
  }
  const panelW = 380
  const plotH = 340
  const top = 48
  const left = 64
  const gap = 70
  const legendX = left + 2 * panelW + gap + 40
  const legendRow = 20
  const legendH = 28 + legendRow * methods.length
  const label = (m: string) => `${m} (${r.best_attempt.aup[m]!.toFixed(3)} / ${r.best_submission.aup[m]!.toFixed(3)})`
  // about 7 px a character at 12 px
  const legendW = Math.max(290, 50 + 7 * Math.max(...methods.map(m => label(m).length)))
  const width = legendX + legendW + 10
  const height = Math.max(top + plotH + 60, top + legendH + 20)
  const tmax = r.tau_max
  const xmax = tmax > 0 ? tmax : 1
  const grid = tauGrid(tmax, r.grid_points)
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`)
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`)
  AUP_VARIANTS.forEach((v, k) => {
    const x0 = left + k * (panelW + gap)
    const X = (t: number) => x0 + (t / xmax) * panelW
    const Y = (p: number) => top + (1 - p) * plotH
    parts.push(`<g class="panel" data-variant="${v}">`)
    parts.push(`<text x="${n2(x0 + panelW / 2)}" y="${top - 16}" text-anchor="middle" font-size="14" font-weight="bold">${VARIANT_TITLE[v]} profile@${maxRuns(r)}</text>`)
    // grid lines and ticks
    const step = tickStep(xmax)
    for (let t = 0; t <= xmax + 1e-9; t += step) {
      const x = n2(X(t))
      parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + plotH}" stroke="#dddddd" stroke-width="1"/>`)
      parts.push(`<text x="${x}" y="${top + plotH + 16}" text-anchor="middle">${n2(t)}</text>`)
    }
    for (let p = 0; p <= 1.0001; p += 0.2) {
      const y = n2(Y(p))
      parts.push(`<line x1="${x0}" y1="${y}" x2="${x0 + panelW}" y2="${y}" stroke="#dddddd" stroke-width="1"/>`)
      parts.push(`<text x="${x0 - 6}" y="${n2(Y(p) + 4)}" text-anchor="end">${p.toFixed(1)}</text>`)
    }
    parts.push(`<rect x="${x0}" y="${top}" width="${panelW}" height="${plotH}" fill="none" stroke="#000000" stroke-width="1"/>`)
    parts.push(`<text x="${n2(x0 + panelW / 2)}" y="${top + plotH + 36}" text-anchor="middle">τ (log10 of the performance ratio)</text>`)
    if (k === 0) {
      parts.push(`<text x="${left - 44}" y="${n2(top + plotH / 2)}" text-anchor="middle" transform="rotate(-90 ${left - 44} ${n2(top + plotH / 2)})">ρ(τ): share of tasks with log10 ratio ≤ τ</text>`)
    }
    // one step line per method, drawn worst first so that the best lie on top
    for (const m of [...methods].reverse()) {
      const logs = r[v].tasks.map(t => t.log10_ratios[m] ?? Infinity)
      const rho = r.tasks.length ? profile(logs, grid) : grid.map(() => 0)
      let d = `M${n2(X(grid[0]!))},${n2(Y(rho[0]!))}`
      for (let i = 1; i < grid.length; i++) if (rho[i] !== rho[i - 1]) d += ` H${n2(X(grid[i]!))} V${n2(Y(rho[i]!))}`
      d += ` H${n2(X(tmax > 0 ? grid.at(-1)! : xmax))}`
      const s = style(m)
      parts.push(`<path class="profile" data-method="${esc(m)}" d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    }
    parts.push('</g>')
  })
  // legend: method, then AUP best attempt / best submission
  parts.push('<g class="legend">')
  parts.push(`<rect x="${legendX - 10}" y="${top - 4}" width="${legendW}" height="${legendH}" fill="#ffffff" stroke="#000000" stroke-width="0.5"/>`)
  parts.push(`<text x="${legendX}" y="${top + 12}" font-weight="bold">method (AUP best attempt / submission)</text>`)
  methods.forEach((m, i) => {
    const y = top + 32 + i * legendRow
    const s = style(m)
    parts.push(`<line x1="${legendX}" y1="${y - 4}" x2="${legendX + 28}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    parts.push(`<text x="${legendX + 36}" y="${y}">${esc(label(m))}</text>`)
  })
  parts.push('</g>')
  if (tmax === 0) parts.push(`<text x="${left + 10}" y="${top + 20}">tau_max is 0: no method is feasible on any task</text>`)
  parts.push('</svg>')
  return { svg: parts.join('\n') + '\n', width, height }
}

/** Runs per model and task at most: MLGym titles its panels "Profile@4" for four runs. */
function maxRuns (r: AupReport): number {
  let n = 0
  for (const t of r.tasks) for (const x of Object.values(t.runs)) n = Math.max(n, x.found)
  return n
}

/** Debian's chromium; SYNTHGYM_CHROMIUM names another. */
export const chromiumPath = (): string => process.env.SYNTHGYM_CHROMIUM ?? '/usr/bin/chromium'

/** Renders the SVG to a PNG file (2x pixels) in headless Chromium; says why not when it cannot. */
export async function renderPng (svg: Svg, file: string): Promise<{ ok: true } | { ok: false, reason: string }> {
  const exe = chromiumPath()
  if (!existsSync(exe)) return { ok: false, reason: `no Chromium at ${exe} (apt-get install chromium, or set SYNTHGYM_CHROMIUM)` }
  let chromium: typeof import('playwright-core').chromium
  try { chromium = (await import('playwright-core')).chromium } catch (e) {
    return { ok: false, reason: `playwright-core is not installed (${(e as Error).message})` }
  }
  let browser: Awaited<ReturnType<typeof chromium.launch>> | null = null
  try {
    // --no-sandbox: Chromium refuses to start as root otherwise; it only renders our own SVG
    browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox'] })
    const page = await browser.newPage({ viewport: { width: svg.width, height: svg.height }, deviceScaleFactor: 2 })
    await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">${svg.svg}</body></html>`)
    await page.screenshot({ path: file, clip: { x: 0, y: 0, width: svg.width, height: svg.height } })
    return { ok: true }
  } catch (e) {
    return { ok: false, reason: `Chromium at ${exe} could not render it: ${(e as Error).message.split('\n')[0]}` }
  } finally {
    await browser?.close().catch(() => {})
  }
}
