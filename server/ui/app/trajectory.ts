// The trajectory viewer: an episode (or a dropped .traj) step by step, with search and filters, jumps to the
// evaluations, the model call behind each step when the harness recorded one, and the diff of the files it edited.
import { useEffect, useMemo } from 'preact/hooks'
import type { Trajectory } from '../../../env-spec/episode.js'
import type { Metrics } from '../../../env-spec/trajectory.js'
import { get } from './api.js'
import { editedFiles, type FileDiff } from './diff.js'
import { STEP_KINDS, fromTrajectory, shortPath, usageTotals, type StepKind, type StepView, type TrajView } from './traj-model.js'
import { Badge, ErrorBox, Loading, OutcomeBadge, download, fmt, fmtMetrics, html, setQuery, useLoad, useRoute, when } from './ui.js'

export function EpisodePage (props: { id: string }) {
  const { value, error } = useLoad(() => get<Trajectory>(`/episodes/${encodeURIComponent(props.id)}`), [props.id])
  const view = useMemo(() => value ? fromTrajectory(value) : null, [value])
  if (error) return html`<${ErrorBox} error=${error} />`
  if (!view) return html`<${Loading} what="the episode" />`
  return html`<${TrajViewer} view=${view} />`
}

interface Filters { q: string, kinds: Set<StepKind>, errors: boolean }

function filtersOf (query: URLSearchParams): Filters {
  const k = query.get('kinds')
  return {
    q: query.get('q') ?? '',
    kinds: new Set(k ? k.split(',').filter((x): x is StepKind => (STEP_KINDS as string[]).includes(x)) : STEP_KINDS),
    errors: query.get('errors') === '1'
  }
}

function matches (s: StepView, f: Filters): boolean {
  if (!f.kinds.has(s.kind)) return false
  if (f.errors && !s.error) return false
  if (!f.q) return true
  const q = f.q.toLowerCase()
  return s.action.toLowerCase().includes(q) || s.observation.toLowerCase().includes(q) || s.thought.toLowerCase().includes(q)
}

const EVALUATIONS = new Set<StepKind>(['validate', 'submit', 'autosubmit'])

export function TrajViewer (props: { view: TrajView }) {
  const v = props.view
  const route = useRoute()
  const tab = route.query.get('tab') ?? 'steps'
  const f = filtersOf(route.query)
  const shown = v.steps.filter(s => matches(s, f))
  const asked = Number(route.query.get('step') ?? '1')
  const current = v.steps.find(s => s.index === asked) ?? v.steps[0] ?? null
  const at = current ? shown.indexOf(current) : -1
  const go = (s: StepView | undefined) => { if (s) setQuery({ step: String(s.index), tab: null }) }
  // prev/next walk the filtered steps; from a step the filter hides, the nearest shown one
  const prev = at >= 0 ? shown[at - 1] : [...shown].reverse().find(s => current && s.index < current.index)
  const next = at >= 0 ? shown[at + 1] : shown.find(s => current && s.index > current.index)
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.target as HTMLElement)?.closest?.('input, textarea, select')) return
      if (e.key === 'ArrowLeft' || e.key === 'k') go(prev)
      if (e.key === 'ArrowRight' || e.key === 'j') go(next)
    }
    addEventListener('keydown', onKey)
    return () => removeEventListener('keydown', onKey)
  })
  const diffs = useMemo(() => editedFiles(v.steps), [v])
  const evals = v.steps.filter(s => EVALUATIONS.has(s.kind))
  return html`
    <section class="traj">
      <${TrajHeader} v=${v} />
      <nav class="tabs">
        <a class=${tab === 'steps' ? 'active' : ''} href=${link({ tab: null })} data-tab="steps">Steps (${v.steps.length})</a>
        <a class=${tab === 'diff' ? 'active' : ''} href=${link({ tab: 'diff' })} data-tab="diff">Files edited (${diffs.length})</a>
        <a class=${tab === 'task' ? 'active' : ''} href=${link({ tab: 'task' })} data-tab="task">Task prompt</a>
      </nav>
      ${tab === 'diff'
        ? html`<${DiffView} diffs=${diffs} />`
        : tab === 'task'
          ? html`<pre class="prompt">${v.description || '(no task prompt recorded)'}</pre>`
          : html`
            <div class="jumps">
              <span class="muted">Evaluations:</span>
              ${evals.length ? evals.map(s => html`
                <button class=${'jump' + (current === s ? ' active' : '')} data-step=${s.index} onClick=${() => go(s)}>
                  #${s.index} ${s.kind}${s.score ? ' · ' + fmtMetrics(s.score) : ''}
                </button>`) : html`<span class="muted">none</span>`}
            </div>
            <${FilterBar} f=${f} shown=${shown.length} total=${v.steps.length} />
            <div class="traj-body">
              <ol class="step-list">
                ${shown.map(s => html`
                  <li key=${s.index} class=${(s === current ? 'active ' : '') + (s.error ? 'err' : '')} onClick=${() => go(s)} data-step=${s.index}>
                    <span class="n">${s.index}</span><${Badge} kind=${s.kind} />
                    <span class="a">${s.action.split('\n')[0]}</span>
                  </li>`)}
                ${shown.length === 0 ? html`<li class="muted">no step matches</li>` : null}
              </ol>
              ${current ? html`<${StepDetail} s=${current} total=${v.steps.length} baseline=${v.baseline} prev=${prev} next=${next} go=${go} />` : html`<p class="muted">This trajectory has no steps.</p>`}
            </div>`}
    </section>`
}

function link (changes: Record<string, string | null>): string {
  const q = new URLSearchParams(location.search)
  for (const [k, val] of Object.entries(changes)) if (val === null) q.delete(k); else q.set(k, val)
  const s = q.toString()
  return location.pathname + (s ? '?' + s : '')
}

function TrajHeader (props: { v: TrajView }) {
  const v = props.v
  const usage = usageTotals(v.steps)
  const last = v.score.at(-1) ?? null
  const failing = v.steps.filter(s => s.error)
  return html`
    <header class="traj-head">
      <h2>${v.source === 'file' ? 'File ' : 'Episode '}<code>${v.title}</code>
        ${v.source === 'episode' && v.episodeId ? html` <button class="download-traj" onClick=${() => downloadTraj(v.episodeId!)}>Download .traj</button>` : null}</h2>
      <dl class="facts">
        <dt>task</dt><dd>${v.taskId ? (v.source === 'episode' ? html`<a href=${'/ui/tasks/' + encodeURIComponent(v.taskId)}>${v.taskId}</a>` : v.taskId) : '—'}</dd>
        <dt>model</dt><dd>${v.model ?? '—'}</dd>
        ${v.status ? html`<dt>outcome</dt><dd><${OutcomeBadge} outcome=${v.outcome} status=${v.status} /></dd>` : null}
        <dt>exit</dt><dd>${v.exitStatus ?? '—'}</dd>
        ${failing.length ? html`<dt>failing steps</dt><dd class="failing">${failing.map((s, i) => html`${i ? ', ' : ''}<a href=${link({ tab: null, step: String(s.index) })}>#${s.index}</a>`)}</dd>` : null}
        <dt>steps</dt><dd>${v.steps.length}</dd>
        <dt>baseline</dt><dd>${fmtMetrics(v.baseline)}</dd>
        <dt>last score</dt><dd class="score">${fmtMetrics(last)}</dd>
        <dt>evaluations</dt><dd class=${v.score.length || v.status === 'running' || !v.status ? '' : 'exit-code bad'}>${v.score.length}</dd>
        ${v.createdAt ? html`<dt>started</dt><dd>${when(v.createdAt)}</dd>` : null}
        ${usage ? html`<dt>model calls</dt><dd class="usage">${usage.calls} · ${usage.promptTokens} prompt + ${usage.completionTokens} completion tokens · ${fmt(usage.latencyMs / 1000, 1)} s</dd>` : null}
        ${v.modelStats ? html`<dt>model stats</dt><dd>${Object.entries(v.modelStats).map(([k, x]) => `${k} ${fmt(x)}`).join(', ')}</dd>` : null}
      </dl>
    </header>`
}

/** The episode as `synthgym run` would have written it: MLGym's <task>.traj (results.json beside it, also offered). */
async function downloadTraj (id: string): Promise<void> {
  const t = await get<Trajectory>(`/episodes/${encodeURIComponent(id)}`)
  download(`${t.episode.task_id}.traj`, JSON.stringify(t.traj, null, 2))
}

function FilterBar (props: { f: Filters, shown: number, total: number }) {
  const f = props.f
  const toggle = (k: StepKind) => {
    const next = new Set(f.kinds)
    if (next.has(k)) next.delete(k); else next.add(k)
    setQuery({ kinds: next.size === STEP_KINDS.length ? null : [...next].join(',') || 'none' })
  }
  return html`
    <div class="filters">
      <input type="search" placeholder="search actions, observations, thoughts" value=${f.q} name="q"
        onInput=${(e: Event) => setQuery({ q: (e.target as HTMLInputElement).value })} />
      ${STEP_KINDS.map(k => html`
        <label class="kind"><input type="checkbox" checked=${f.kinds.has(k)} onChange=${() => toggle(k)} /> ${k}</label>`)}
      <label class="kind"><input type="checkbox" checked=${f.errors} onChange=${() => setQuery({ errors: f.errors ? null : '1' })} title="a non-zero exit code, or a validate/submit that gave no score" /> failing only</label>
      <span class="muted count">${props.shown} of ${props.total} steps</span>
    </div>`
}

function StepDetail (props: { s: StepView, total: number, baseline: Metrics | null, prev?: StepView, next?: StepView, go: (s?: StepView) => void }) {
  const s = props.s
  const m = s.model
  return html`
    <article class="step" data-index=${s.index}>
      <div class="step-head">
        <button class="prev" disabled=${!props.prev} onClick=${() => props.go(props.prev)}>← Prev</button>
        <h3>Step <span class="step-no">${s.index}</span> / ${props.total}</h3>
        <${Badge} kind=${s.kind} />
        ${s.error ? html`<${Badge} kind="error">${s.exitCode ? `exit ${s.exitCode}` : 'failed'}</${Badge}>` : null}
        ${s.terminated ? html`<${Badge} kind="terminated" />` : null}
        ${s.truncated ? html`<${Badge} kind="truncated" />` : null}
        <button class="next" disabled=${!props.next} onClick=${() => props.go(props.next)}>Next →</button>
      </div>
      <dl class="facts">
        <dt>open file</dt><dd><code>${s.openFile ? shortPath(s.openFile) : 'n/a'}</code></dd>
        <dt>directory</dt><dd><code>${s.workingDir ?? '—'}</code></dd>
        <dt>exit code</dt><dd class=${'exit-code' + (s.error ? ' bad' : '')}>${s.exitCode ?? (s.error ? 'no score' : '—')}</dd>
        <dt>time</dt><dd>${s.executionTime === null ? '—' : fmt(s.executionTime, 3) + ' s'}</dd>
        ${s.reward !== null ? html`<dt>reward</dt><dd>${fmt(s.reward)}</dd>` : null}
      </dl>
      ${s.score ? html`<div class="step-score"><b>Score</b> ${fmtMetrics(s.score)} <span class="muted">(baseline ${fmtMetrics(props.baseline)})</span></div>` : null}
      ${s.thought ? html`<h4>Thought</h4><pre class="thought">${s.thought}</pre>` : null}
      <h4>Action</h4><pre class="action">${s.action}</pre>
      <h4>Observation</h4><pre class="observation">${s.observation || '(no output)'}</pre>
      ${m ? html`
        <div class="model-call">
          <h4>Model call</h4>
          <dl class="facts">
            ${m.model ? html`<dt>model</dt><dd>${m.model}</dd>` : null}
            <dt>tokens</dt><dd>${fmt(m.promptTokens)} prompt + ${fmt(m.completionTokens)} completion${m.totalTokens !== null ? ` = ${m.totalTokens}` : ''}</dd>
            <dt>latency</dt><dd>${m.latencyMs === null ? '—' : fmt(m.latencyMs, 0) + ' ms'}</dd>
            <dt>finish</dt><dd>${m.finishReason ?? '—'}</dd>
            ${m.promptTokenIds !== null || m.completionTokenIds !== null ? html`<dt>token ids</dt><dd>${fmt(m.promptTokenIds)} prompt, ${fmt(m.completionTokenIds)} completion${m.logprobs ? ', with logprobs' : ''}</dd>` : null}
          </dl>
          ${m.messages.length ? html`<details><summary>Messages sent (${m.messages.length})</summary>
            ${m.messages.map(x => html`<div class="msg"><b>${x.role}</b><pre>${x.content}</pre></div>`)}</details>` : null}
          ${m.completion !== null ? html`<details><summary>Completion</summary><pre>${m.completion}</pre></details>` : null}
        </div>` : null}
      ${s.response && s.response !== s.action ? html`<details><summary>Raw response</summary><pre>${s.response}</pre></details>` : null}
    </article>`
}

export function DiffView (props: { diffs: FileDiff[] }) {
  if (!props.diffs.length) return html`<p class="muted">No file was edited through open/create/edit/insert or a heredoc in this trajectory.</p>`
  return html`
    <div class="diffs">
      <p class="muted">Rebuilt from the steps: each file as first shown (or created) against its last window.</p>
      ${props.diffs.map(d => html`
        <section class="file-diff" data-path=${d.path}>
          <h4><code>${d.path}</code> <${Badge} kind=${d.status} />${d.partial ? html` <${Badge} kind="partial" title="only windows of this file were shown" />` : null}
            <span class="plus">+${d.added}</span> <span class="minus">−${d.removed}</span>
            <span class="muted"> steps ${d.steps.map((n, i) => html`${i ? ', ' : ''}<a href=${link({ tab: null, step: String(n) })}>${n}</a>`)}</span></h4>
          <table class="diff">
            ${d.hunks.map(hk => html`
              <tbody>
                <tr class="hunk"><td colspan="3">@@ -${hk.oldStart} +${hk.newStart} @@</td></tr>
                ${hk.lines.map(l => html`<tr class=${l.t === '+' ? 'add' : l.t === '-' ? 'del' : 'ctx'}>
                  <td class="ln">${l.old ?? ''}</td><td class="ln">${l.new ?? ''}</td><td class="code">${l.t}${l.text}</td></tr>`)}
              </tbody>`)}
          </table>
        </section>`)}
    </div>`
}
