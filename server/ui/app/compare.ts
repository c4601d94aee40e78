// Two episodes side by side (/ui/compare?a=<id>&b=<id>): each one's facts and outcome, then their steps paired by
// number, failing steps flagged, so where they parted is easy to see.
import type { Trajectory } from '../../../env-spec/episode.js'
import { get } from './api.js'
import { fromTrajectory, type TrajView } from './traj-model.js'
import { ErrorBox, Loading, OutcomeBadge, fmtMetrics, html, setQuery, useLoad, useRoute } from './ui.js'

export function ComparePage () {
  const q = useRoute().query
  const [a, b] = [q.get('a') ?? '', q.get('b') ?? '']
  const load = (id: string) => id ? get<Trajectory>(`/episodes/${encodeURIComponent(id)}`).then(fromTrajectory) : Promise.resolve(null)
  const va = useLoad(() => load(a), [a])
  const vb = useLoad(() => load(b), [b])
  const pick = (k: 'a' | 'b') => (e: Event) => setQuery({ [k]: (e.target as HTMLInputElement).value.trim() || null })
  const views = [va.value, vb.value]
  const n = Math.max(va.value?.steps.length ?? 0, vb.value?.steps.length ?? 0)
  return html`
    <section class="compare">
      <h2>Two episodes side by side</h2>
      <div class="filters">
        <input name="a" placeholder="episode id A" value=${a} onChange=${pick('a')} />
        <input name="b" placeholder="episode id B" value=${b} onChange=${pick('b')} />
      </div>
      <div class="side-by-side">
        ${[va, vb].map((v, i) => v.error ? html`<${ErrorBox} error=${v.error} />` : !v.value ? html`<${Loading} what=${'episode ' + 'AB'[i]} />` : html`<${Facts} v=${v.value} side=${'AB'[i]} />`)}
      </div>
      ${n ? html`<table class="list compare-steps">
        <thead><tr><th>#</th><th>A</th><th>B</th></tr></thead>
        <tbody>${Array.from({ length: n }, (_, i) => html`<tr data-step=${i + 1}>
          <td class="num">${i + 1}</td>
          ${views.map(v => { const s = v?.steps[i]; return html`<td class=${s?.error ? 'err' : ''}>${s ? html`<pre class="action">${s.action}</pre>
            <pre class="observation">${s.observation.slice(0, 2000) || '(no output)'}</pre>
            ${s.exitCode !== null || s.error ? html`<span class=${'exit-code' + (s.error ? ' bad' : '')}>exit ${s.exitCode ?? 'no score'}</span>` : null}
            ${s.score ? html` <span class="score">${fmtMetrics(s.score)}</span>` : null}` : ''}</td>` })}
        </tr>`)}</tbody>
      </table>` : null}
    </section>`
}

function Facts (props: { v: TrajView, side: string }) {
  const v = props.v
  return html`<dl class="facts" data-side=${props.side}>
    <dt>${props.side}</dt><dd><a href=${'/ui/episodes/' + v.episodeId}><code>${v.episodeId}</code></a></dd>
    <dt>task</dt><dd>${v.taskId}</dd><dt>model</dt><dd>${v.model ?? '—'}</dd>
    <dt>outcome</dt><dd><${OutcomeBadge} outcome=${v.outcome} status=${v.status} /></dd>
    <dt>exit</dt><dd>${v.exitStatus ?? '—'}</dd><dt>steps</dt><dd>${v.steps.length}</dd>
    <dt>baseline</dt><dd>${fmtMetrics(v.baseline)}</dd><dt>last score</dt><dd class="score">${fmtMetrics(v.score.at(-1))}</dd>
  </dl>`
}
