// Stored episodes, newest first, a page at a time through the API's cursor; filters go to the server. And the
// trajectory files dropped onto the page (MLGym's .traj), shown by the same viewer.
import { useEffect, useMemo, useState } from 'preact/hooks'
import type { EpisodeBrief, EpisodeBriefPage, EpisodeOutcome } from '../../../env-spec/episode.js'
import type { TaskList } from '../../../env-spec/messages.js'
import { allEpisodes, episodePage, get } from './api.js'
import { episodeModel, fromFile, type TrajView } from './traj-model.js'
import { TrajViewer } from './trajectory.js'
import { ErrorBox, Loading, OUTCOMES, OUTCOME_GROUPS, OutcomeBadge, fmtMetrics, html, navigate, setQuery, useLoad, useRoute, when, type OutcomeGroup } from './ui.js'

const PAGE = 50

export function EpisodesPage () {
  const route = useRoute()
  const q = route.query
  const filters = {
    task: q.get('task') ?? undefined,
    status: (q.get('status') ?? undefined) as 'running' | 'finished' | 'abandoned' | undefined,
    exit_status: q.get('exit_status') ?? undefined,
    outcome: (q.get('outcome') ?? undefined) as EpisodeOutcome | undefined,
    has_score: q.get('has_score') === '1' ? true : undefined
  }
  // the cursors of the pages before this one, for "newer"
  const cursor = q.get('cursor') ?? undefined
  const back = (q.get('back') ?? '').split(',').filter(Boolean)
  const tasks = useLoad(() => get<TaskList>('/tasks'), [])
  const page = useLoad<EpisodeBriefPage>(() => episodePage({ ...filters, order: 'desc', limit: PAGE, cursor }),
    [filters.task, filters.status, filters.exit_status, filters.outcome, filters.has_score, cursor])
  const present = usePresent()
  const set = (k: string, v: string | null) => setQuery({ [k]: v, cursor: null, back: null })
  return html`
    <section>
      <h2>Episodes</h2>
      <${DropHint} />
      <div class="filters">
        <select name="task" onChange=${(e: Event) => set('task', (e.target as HTMLSelectElement).value || null)}>
          <option value="">all tasks</option>
          ${tasks.value?.tasks.map(t => html`<option value=${t.id} selected=${t.id === filters.task}>${t.id}</option>`)}
        </select>
        <select name="status" onChange=${(e: Event) => set('status', (e.target as HTMLSelectElement).value || null)}>
          ${['', 'running', 'finished', 'abandoned'].map(s => html`<option value=${s} selected=${s === (filters.status ?? '')}>${s || 'any status'}</option>`)}
        </select>
        <select name="outcome" onChange=${(e: Event) => set('outcome', (e.target as HTMLSelectElement).value || null)}>
          <option value="">any outcome</option>
          ${OUTCOME_GROUPS.map(g => present.outcomes[g].length ? html`<optgroup label=${g}>
            ${present.outcomes[g].map(([o, n]) => html`<option value=${o} selected=${o === filters.outcome}>${o} (${n}) · ${OUTCOMES[o as EpisodeOutcome].label}</option>`)}
          </optgroup>` : null)}
        </select>
        <select name="exit_status" onChange=${(e: Event) => set('exit_status', (e.target as HTMLSelectElement).value || null)}>
          <option value="">any exit status</option>
          ${OUTCOME_GROUPS.map(g => present.exits[g].length ? html`<optgroup label=${g}>
            ${present.exits[g].map(([x, n]) => html`<option value=${x} selected=${x === filters.exit_status}>${x} (${n})</option>`)}
          </optgroup>` : null)}
          ${filters.exit_status && !OUTCOME_GROUPS.some(g => present.exits[g].some(([x]) => x === filters.exit_status)) ? html`<option value=${filters.exit_status} selected>${filters.exit_status}</option>` : null}
        </select>
        <label class="kind"><input type="checkbox" checked=${filters.has_score === true} onChange=${() => set('has_score', filters.has_score ? null : '1')} /> with a score</label>
      </div>
      ${page.error ? html`<${ErrorBox} error=${page.error} />` : !page.value ? html`<${Loading} what="episodes" />` : html`
        <table class="list episodes">
          <thead><tr><th>episode</th><th>task</th><th>model</th><th>outcome</th><th>exit</th><th>steps</th><th>last score</th><th>baseline</th><th>started</th></tr></thead>
          <tbody>
            ${page.value.episodes.map(e => html`
              <tr key=${e.id}>
                <td><a href=${'/ui/episodes/' + e.id}><code>${e.id}</code></a></td>
                <td><a href=${'/ui/tasks/' + encodeURIComponent(e.task_id)}>${e.task_id}</a></td>
                <td>${episodeModel(e) ?? '—'}</td>
                <td><${OutcomeBadge} outcome=${e.outcome} status=${e.status} /></td>
                <td>${e.exit_status ?? '—'}</td>
                <td class="num">${e.steps}</td>
                <td class="score">${fmtMetrics(e.score.at(-1))}</td>
                <td>${fmtMetrics(e.baseline)}</td>
                <td>${when(e.created_at)}</td>
              </tr>`)}
            ${page.value.episodes.length === 0 ? html`<tr><td colspan="9" class="muted">No episode matches.</td></tr>` : null}
          </tbody>
        </table>
        <div class="pager">
          <button disabled=${!cursor} onClick=${() => setQuery({ cursor: back.at(-1) === '-' ? null : back.at(-1) ?? null, back: back.slice(0, -1).join(',') || null })}>← Newer</button>
          <button disabled=${!page.value.next_cursor} onClick=${() => setQuery({ cursor: page.value!.next_cursor, back: [...back, cursor ?? '-'].join(',') })}>Older →</button>
        </div>`}
    </section>`
}

type Counted = Record<OutcomeGroup, [string, number][]>

/**
 * The outcomes and exit statuses present in the store, by category (their episodes' outcome group), with counts:
 * what the filters offer. An exit status is listed without its cause (`submission_not_found (submit)` as
 * `submission_not_found`), which the API's filter also matches.
 */
function usePresent (): { outcomes: Counted, exits: Counted } {
  const [eps, setEps] = useState<EpisodeBrief[]>([])
  useEffect(() => {
    let stop = false
    let acc: EpisodeBrief[] = []
    allEpisodes({}, page => { acc = acc.concat(page); setEps(acc) }, () => stop).catch(() => {})
    return () => { stop = true }
  }, [])
  return useMemo(() => {
    const empty = (): Counted => ({ success: [], 'no gain': [], agent: [], infrastructure: [] })
    const count = (pairs: [OutcomeGroup, string][]): Counted => {
      const m = new Map<string, number>()
      for (const [g, v] of pairs) m.set(g + '\0' + v, (m.get(g + '\0' + v) ?? 0) + 1)
      const out = empty()
      for (const [k, n] of [...m.entries()].sort()) { const [g, v] = k.split('\0') as [OutcomeGroup, string]; out[g].push([v, n]) }
      return out
    }
    const ended = eps.filter(e => e.outcome)
    return {
      outcomes: count(ended.map(e => [OUTCOMES[e.outcome!].group, e.outcome!])),
      exits: count(ended.filter(e => e.exit_status).map(e => [OUTCOMES[e.outcome!].group, e.exit_status!.replace(/ \(\w+\)$/, '')]))
    }
  }, [eps])
}

function DropHint () {
  return html`<p class="drop-hint muted">Drop an MLGym <code>.traj</code> file (with its <code>results.json</code>, for the baseline) anywhere on this page to view it,
    or <label class="file-pick">pick one<input type="file" accept=".traj,.json" multiple onChange=${(e: Event) => { void openFiles([...(e.target as HTMLInputElement).files ?? []]) }} /></label>.</p>`
}

// ---- dropped files ----

const DROPPED_KEY = 'synthgym.dropped'
let dropped: { view: TrajView } | { error: string } | null = null

/** A generation report dropped onto the page (report.json), for the Tasks view. */
export let droppedReport: { name: string, data: unknown } | null = null

function looksLikeReport (d: unknown): boolean {
  const o = d as Record<string, unknown> | null
  return !!o && typeof o === 'object' && !Array.isArray(o) && !('trajectory' in o) && !('episode' in o) &&
    Array.isArray(o.stages) && Array.isArray(o.reasons)
}

/** Reads dropped or picked files: a .traj (and results.json) opens in the viewer, a generation report in Tasks. */
export async function openFiles (files: File[]): Promise<void> {
  const parsed: { name: string, data: unknown }[] = []
  for (const f of files) {
    try { parsed.push({ name: f.name, data: JSON.parse(await f.text()) }) } catch (e) {
      dropped = { error: `${f.name}: not JSON (${(e as Error).message})` }
      navigate('/ui/traj')
      return
    }
  }
  const report = parsed.find(p => looksLikeReport(p.data))
  if (report && parsed.length === 1) {
    droppedReport = report
    navigate('/ui/generation')
    return
  }
  const results = parsed.find(p => /results\.json$/.test(p.name))
  const traj = parsed.find(p => p !== results) ?? results
  if (!traj) return
  try {
    const view = fromFile(traj.name, traj.data, results && results !== traj ? results.data : undefined)
    dropped = { view }
    try { sessionStorage.setItem(DROPPED_KEY, JSON.stringify({ name: traj.name, data: traj.data, results: results?.data })) } catch { /* too big to keep over a reload */ }
  } catch (e) { dropped = { error: (e as Error).message } }
  navigate('/ui/traj')
}

function restore (): typeof dropped {
  if (dropped) return dropped
  try {
    const raw = sessionStorage.getItem(DROPPED_KEY)
    if (!raw) return null
    const { name, data, results } = JSON.parse(raw)
    dropped = { view: fromFile(name, data, results) }
  } catch { return null }
  return dropped
}

export function DroppedPage () {
  const [, force] = useState(0)
  const d = useMemo(() => restore(), [dropped])
  if (!d) return html`<section><h2>Trajectory file</h2><p class="muted">Drop an MLGym <code>.traj</code> file onto the page to view it here.</p><${DropHint} /></section>`
  if ('error' in d) return html`<section><h2>Trajectory file</h2><${ErrorBox} error=${{ code: 'Not a trajectory', message: d.error }} /><${DropHint} /><button onClick=${() => { dropped = null; force(x => x + 1) }}>Clear</button></section>`
  return html`<${TrajViewer} view=${d.view} />`
}
