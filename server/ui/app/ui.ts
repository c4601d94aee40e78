// What every view shares: htm's preact binding, the router (history API under /ui), number and time formats, and a
// few small components.
import { useEffect, useRef, useState } from 'preact/hooks'
import { html } from 'htm/preact'
import type { Metrics } from '../../../env-spec/trajectory.js'
import type { EpisodeOutcome } from '../../../env-spec/episode.js'

export { html }

// ---- routing: /ui/<view>/<id>?query; links are plain <a href="/ui/..."> the shell intercepts ----

export interface Route { parts: string[], query: URLSearchParams }

export function currentRoute (): Route {
  const path = location.pathname.replace(/^\/ui\/?/, '')
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(location.search) }
}

const routeListeners = new Set<() => void>()
export function navigate (to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, '', to)
  else history.pushState(null, '', to)
  for (const f of routeListeners) f()
}
addEventListener('popstate', () => { for (const f of routeListeners) f() })

export function useRoute (): Route {
  const [route, setRoute] = useState(currentRoute())
  useEffect(() => {
    const f = () => setRoute(currentRoute())
    routeListeners.add(f)
    return () => { routeListeners.delete(f) }
  }, [])
  return route
}

/** Sets query parameters of the current URL without a new history entry (filters, the step shown). */
export function setQuery (changes: Record<string, string | null>): void {
  const q = new URLSearchParams(location.search)
  for (const [k, v] of Object.entries(changes)) if (v === null || v === '') q.delete(k); else q.set(k, v)
  const s = q.toString()
  navigate(location.pathname + (s ? '?' + s : ''), { replace: true })
}

// ---- formats ----

export function fmt (v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined) return '—'
  if (Number.isNaN(v)) return 'nan'
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf'
  if (Number.isInteger(v)) return String(v)
  const a = Math.abs(v)
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(2) : String(Number(v.toFixed(digits)))
}

export function fmtMetrics (m: Metrics | null | undefined): string {
  if (!m) return '—'
  return Object.entries(m).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')
}

export function age (iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor(s % 3600 / 60)}m`
  return `${Math.floor(s / 86400)}d ${Math.floor(s % 86400 / 3600)}h`
}

export function when (iso: string | null): string {
  if (!iso) return '—'
  const d = new Date(iso)
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

/** Improvement over the baseline, as the server's `reward: "improvement"` counts it: (score - b) / |b|, sign by direction. */
export function improvement (score: number | null, baseline: number | null, direction: 'maximize' | 'minimize' | null): number | null {
  if (score === null || baseline === null || !direction || baseline === 0) return null
  const d = (score - baseline) / Math.abs(baseline)
  return direction === 'maximize' ? d : -d
}

export function pct (v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—'
  return `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`
}

// ---- small components ----

export function Loading (props: { what?: string }) {
  return html`<p class="muted loading">Loading${props.what ? ' ' + props.what : ''}…</p>`
}

export function ErrorBox (props: { error: unknown }) {
  const e = props.error as { code?: string, message?: string }
  return html`<div class="error" role="alert"><b>${e?.code ?? 'Error'}</b> ${e?.message ?? String(props.error)}</div>`
}

export function Badge (props: { kind: string, children?: unknown, title?: string }) {
  return html`<span class=${'badge badge-' + props.kind} title=${props.title ?? ''}>${props.children ?? props.kind}</span>`
}

/**
 * `useEffect` around an async load: the value, the error, and a reload. New `deps` drop the old value at once (no
 * stale page under a new id); a reload keeps it on screen until the new one comes.
 */
export function useLoad<T> (load: () => Promise<T>, deps: (string | number | boolean | null | undefined)[]): { value: T | undefined, error: unknown, reload: () => void } {
  const [state, setState] = useState<{ value: T | undefined, error: unknown }>({ value: undefined, error: null })
  const [n, setN] = useState(0)
  const key = JSON.stringify(deps)
  const last = useRef(key)
  useEffect(() => {
    let live = true
    const fresh = last.current !== key
    last.current = key
    setState(s => ({ value: fresh ? undefined : s.value, error: null }))
    load().then(value => { if (live) setState({ value, error: null }) }, error => { if (live) setState({ value: undefined, error }) })
    return () => { live = false }
  }, [key, n])
  return { ...state, reload: () => setN(x => x + 1) }
}

// ---- outcomes (env-spec episodeOutcome): colour and group; the Record keeps this in step with the type ----

export type OutcomeGroup = 'success' | 'no gain' | 'agent' | 'infrastructure'
export const OUTCOMES: Record<EpisodeOutcome, { group: OutcomeGroup, label: string }> = {
  improved: { group: 'success', label: 'improved on the baseline' },
  not_improved: { group: 'no gain', label: 'submitted, not better than the baseline' },
  no_submission: { group: 'agent', label: 'no valid submission' },
  format: { group: 'agent', label: 'format errors' },
  context: { group: 'agent', label: 'context window exceeded' },
  api: { group: 'agent', label: 'model API errors' },
  cost: { group: 'agent', label: 'cost limit' },
  timeout: { group: 'agent', label: 'step budget ran out' },
  sandbox_crash: { group: 'infrastructure', label: 'sandbox crashed' },
  disk_limit: { group: 'infrastructure', label: 'disk limit' },
  interrupted: { group: 'infrastructure', label: 'server stopped under it' },
  abandoned: { group: 'infrastructure', label: 'closed before it ended' }
}
export const OUTCOME_GROUPS: OutcomeGroup[] = ['success', 'no gain', 'agent', 'infrastructure']
export const outcomeGroupClass = (g: OutcomeGroup) => g === 'success' ? 'ok' : g === 'no gain' ? 'warn' : 'bad'

/** An ended episode's outcome, coloured: green improved, amber not improved, red every failure. */
export function OutcomeBadge (props: { outcome: string | null | undefined, status?: string | null }) {
  const o = props.outcome ? OUTCOMES[props.outcome as EpisodeOutcome] : undefined
  if (!o) return html`<${Badge} kind=${props.status ?? 'running'} />`
  return html`<span class=${'badge outcome outcome-' + outcomeGroupClass(o.group)} data-outcome=${props.outcome} title=${o.label}>${props.outcome}</span>`
}

/** Counts of outcomes as one stacked bar (the Runs page's histograms). */
export function OutcomeBar (props: { counts: Record<string, number> }) {
  const total = Object.values(props.counts).reduce((a, b) => a + b, 0)
  if (!total) return html`<span class="muted">—</span>`
  const keys = (Object.keys(OUTCOMES) as EpisodeOutcome[]).filter(k => props.counts[k])
  return html`<span class="outcome-bar" title=${keys.map(k => `${k} ${props.counts[k]}`).join(', ')}>
    ${keys.map(k => html`<span class=${'seg outcome-' + outcomeGroupClass(OUTCOMES[k].group)} data-outcome=${k} style=${`flex: ${props.counts[k]}`}>${k} ${props.counts[k]}</span>`)}
  </span>`
}

/** A file the page made (CSV, .traj), downloaded. */
export function download (name: string, text: string, type = 'application/json'): void {
  const url = URL.createObjectURL(new Blob([text], { type }))
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

/** RFC 4180 CSV: fields quoted where they hold a comma, quote or line break. */
export function toCsv (rows: (string | number | null)[][]): string {
  const cell = (v: string | number | null) => { const s = v === null ? '' : String(v); return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s }
  return rows.map(r => r.map(cell).join(',')).join('\r\n') + '\r\n'
}
