// Line plots as plain SVG: score over steps, performance profiles. No plotting library: a few scales and paths.
import { html } from './ui.js'

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22']

export interface Series { label: string, color: string, points: [number, number][], step?: boolean, title?: string }

/** About `n` round tick values over [lo, hi] (whole numbers only with `integer`). */
export function ticks (lo: number, hi: number, n = 5, integer = false): number[] {
  if (!(hi > lo)) return [lo]
  const raw = Math.max((hi - lo) / n, integer ? 1 : 0)
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw) ?? raw
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(12)))
  return out
}

const short = (v: number) => Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4)))

export function LinePlot (props: {
  series: Series[], xLabel: string, yLabel: string, width?: number, height?: number
  hline?: { y: number, label: string }, xDomain?: [number, number], yDomain?: [number, number], legend?: { label: string, color: string }[]
  /** the x axis counts (steps): whole-number ticks */
  xInteger?: boolean
}) {
  const W = props.width ?? 560
  const H = props.height ?? 240
  const m = { l: 56, r: 12, t: 10, b: 36 }
  const xs = props.series.flatMap(s => s.points.map(p => p[0]))
  const ys = [...props.series.flatMap(s => s.points.map(p => p[1])), ...(props.hline ? [props.hline.y] : [])].filter(Number.isFinite)
  let [x0, x1] = props.xDomain ?? [Math.min(0, ...xs), Math.max(1, ...xs)]
  let [y0, y1] = props.yDomain ?? [Math.min(...ys), Math.max(...ys)]
  if (!ys.length) { y0 = 0; y1 = 1 }
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1 }
  if (!props.yDomain) { const pad = (y1 - y0) * 0.06; y0 -= pad; y1 += pad }
  if (x0 === x1) x1 = x0 + 1
  const X = (x: number) => m.l + (x - x0) / (x1 - x0) * (W - m.l - m.r)
  const Y = (y: number) => H - m.b - (y - y0) / (y1 - y0) * (H - m.t - m.b)
  const path = (s: Series) => s.points.map((p, i) => {
    const [x, y] = [X(p[0]), Y(p[1])]
    if (i === 0) return `M${x.toFixed(1)},${y.toFixed(1)}`
    return s.step ? `H${x.toFixed(1)}V${y.toFixed(1)}` : `L${x.toFixed(1)},${y.toFixed(1)}`
  }).join('')
  const legend = props.legend ?? [...new Map(props.series.map(s => [s.label, s.color])).entries()].map(([label, color]) => ({ label, color }))
  return html`
    <figure class="plot">
      <svg viewBox=${`0 0 ${W} ${H}`} width=${W} height=${H} role="img" aria-label=${`${props.yLabel} over ${props.xLabel}`}>
        <g class="axis">
          ${ticks(y0, y1).map(t => html`<line x1=${m.l} x2=${W - m.r} y1=${Y(t)} y2=${Y(t)} class="grid" /><text x=${m.l - 6} y=${Y(t) + 4} text-anchor="end">${short(t)}</text>`)}
          ${ticks(x0, x1, 6, props.xInteger).map(t => html`<line x1=${X(t)} x2=${X(t)} y1=${H - m.b} y2=${H - m.b + 4} /><text x=${X(t)} y=${H - m.b + 16} text-anchor="middle">${short(t)}</text>`)}
          <line x1=${m.l} x2=${W - m.r} y1=${H - m.b} y2=${H - m.b} />
          <line x1=${m.l} x2=${m.l} y1=${m.t} y2=${H - m.b} />
          <text x=${(m.l + W - m.r) / 2} y=${H - 4} text-anchor="middle" class="label">${props.xLabel}</text>
          <text x=${12} y=${(m.t + H - m.b) / 2} text-anchor="middle" class="label" transform=${`rotate(-90 12 ${(m.t + H - m.b) / 2})`}>${props.yLabel}</text>
        </g>
        ${props.hline && Number.isFinite(props.hline.y) ? html`<g class="baseline"><line x1=${m.l} x2=${W - m.r} y1=${Y(props.hline.y)} y2=${Y(props.hline.y)} /><text x=${W - m.r - 4} y=${Y(props.hline.y) - 4} text-anchor="end">${props.hline.label}</text></g>` : null}
        ${props.series.map(s => html`
          <g class="series" data-label=${s.label}>
            <title>${s.title ?? s.label}</title>
            <path d=${path(s)} stroke=${s.color} fill="none" stroke-width="1.6" />
            ${s.step ? null : s.points.map(p => html`<circle cx=${X(p[0])} cy=${Y(p[1])} r="2.6" fill=${s.color} />`)}
          </g>`)}
      </svg>
      <figcaption class="legend">${legend.map(l => html`<span><i style=${`background:${l.color}`}></i>${l.label}</span>`)}${props.hline ? html`<span><i class="dash"></i>${props.hline.label}</span>` : null}</figcaption>
    </figure>`
}
