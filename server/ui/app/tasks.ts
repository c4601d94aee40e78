// Tasks: built-in, imported (MLGym) and served from task directories (generated ones among them), each with its
// description, files, baseline and, for a generated task, its provenance; and a generation run's report.json
// (yield per stage, discard reasons) from the API or dropped onto the page.
import type { TaskDetail, TaskList, TaskSummary } from '../../../env-spec/messages.js'
import type { GenerationReport, GenerationReportList, Provenance as ProvenanceRecord } from '../../../env-spec/generation.js'
import { get } from './api.js'
import { droppedReport } from './episodes.js'
import { ErrorBox, Loading, fmt, fmtMetrics, html, useLoad } from './ui.js'


/** Where a task came from, in words: generated, else by source 'builtin', 'mlgym:<checkout>', 'dir:<path>'. */
export function sourceGroup (t: TaskSummary): 'built-in' | 'imported' | 'generated' | 'task directory' {
  if (t.generated) return 'generated'
  if (t.source === 'builtin') return 'built-in'
  if (t.source.startsWith('mlgym:')) return 'imported'
  return 'task directory'
}

const GROUPS = ['built-in', 'imported', 'generated', 'task directory'] as const

export function TasksPage () {
  const { value, error } = useLoad(() => get<TaskList>('/tasks'), [])
  if (error) return html`<${ErrorBox} error=${error} />`
  if (!value) return html`<${Loading} what="tasks" />`
  const tasks = value.tasks
  return html`
    <section>
      <h2>Tasks</h2>
      <p class="muted"><a href="/ui/generation">Generation runs</a>: the yield per stage and discard reasons of the runs that made the generated tasks (or drop a run's <code>report.json</code> onto the page).</p>
      ${GROUPS.map(g => {
        const these = tasks.filter(t => sourceGroup(t) === g)
        if (!these.length) return null
        return html`
          <h3>${g} <span class="muted">(${these.length})</span></h3>
          <table class="list tasks" data-group=${g}>
            <thead><tr><th>task</th><th>name</th><th>kind</th><th>metric</th><th>resources</th><th>source</th></tr></thead>
            <tbody>
              ${these.map(t => html`
                <tr key=${t.id}>
                  <td><a href=${'/ui/tasks/' + encodeURIComponent(t.id)}><code>${t.id}</code></a></td>
                  <td>${t.name}</td>
                  <td>${t.task_entrypoint}</td>
                  <td>${t.metric ? `${t.metric.name} (${t.metric.direction})` : '—'}</td>
                  <td>${resources(t.resources)}</td>
                  <td class="muted">${t.source}</td>
                </tr>`)}
            </tbody>
          </table>`
      })}
    </section>`
}

function resources (r: TaskSummary['resources']): string {
  const parts = Object.entries(r ?? {}).map(([k, v]) => `${k} ${v}`)
  return parts.length ? parts.join(', ') : 'defaults'
}

export function TaskPage (props: { id: string }) {
  const { value, error } = useLoad(() => get<TaskDetail>(`/tasks/${encodeURIComponent(props.id)}`), [props.id])
  if (error) return html`<${ErrorBox} error=${error} />`
  if (!value) return html`<${Loading} what="the task" />`
  const t = value
  const s = t.spec
  const files: [string, string[]][] = [
    ['starter code', s.starter_code ?? []],
    ['baseline', s.baseline_paths ?? []],
    ['evaluation', s.evaluation_paths ?? []],
    ['sample submission', s.sample_submission ? [s.sample_submission] : []],
    ['hidden from the agent (mounted only while evaluating)', s.secret_files ?? []]
  ]
  return html`
    <section class="task">
      <h2>Task <code>${t.id}</code> <span class="muted">${t.name}</span></h2>
      <dl class="facts">
        <dt>source</dt><dd>${sourceGroup(t)} <span class="muted">${t.source}</span></dd>
        <dt>kind</dt><dd>${t.task_entrypoint}</dd>
        <dt>metric</dt><dd>${t.metric ? `${t.metric.name} (${t.metric.direction})` : '—'}</dd>
        <dt>baseline</dt><dd class="score">${t.baseline ? fmtMetrics(t.baseline) : 'not known yet (computed at the first reset)'}</dd>
        <dt>training timeout</dt><dd>${t.training_timeout ? `${t.training_timeout} s` : '—'}</dd>
        <dt>resources</dt><dd>${resources(t.resources)}</dd>
        <dt>episodes</dt><dd><a href=${'/ui/episodes?task=' + encodeURIComponent(t.id)}>stored episodes</a> · <a href=${'/ui/runs?task=' + encodeURIComponent(t.id)}>runs and scores</a></dd>
      </dl>
      <h3>Files</h3>
      <table class="list files">
        <tbody>
          ${files.filter(([, f]) => f.length).map(([what, f]) => html`<tr><th>${what}</th><td>${f.map(p => html`<code>${p}</code> `)}</td></tr>`)}
          ${(s.datasets ?? []).map(d => html`<tr><th>dataset <code>${d.name}</code></th><td><code>${d.data_path}</code>
            ${[d.train_split, d.valid_split, d.test_split].filter(x => x).map(x => html` <span class="muted">${x!.name}: ${x!.file_regex}</span>`)}
            <div class="muted">${d.description}</div></td></tr>`)}
        </tbody>
      </table>
      ${t.provenance ? html`<${Provenance} p=${t.provenance} />` : null}
      <h3>Description (the prompt an agent gets)</h3>
      <pre class="prompt">${t.description}</pre>
    </section>`
}

/** A generated task's provenance.json: topic, dataset and revision, model, rounds, each check's result. */
export function Provenance (props: { p: ProvenanceRecord }) {
  const p = props.p
  const d = p.dataset
  return html`
    <section class="provenance">
      <h3>Provenance</h3>
      <dl class="facts">
        <dt>topic</dt><dd>${p.topic.topic} <span class="muted">${p.topic.area}</span></dd>
        <dt>dataset</dt><dd><code>${d.id}</code> <span class="muted">config ${d.config} · splits ${d.splits.join(', ')}</span></dd>
        <dt>revision</dt><dd><code>${d.revision}</code></dd>
        <dt>license</dt><dd>${d.license ?? 'none stated'}</dd>
        <dt>variant</dt><dd>${p.variant} <span class="muted">(the other: <a href=${'/ui/tasks/' + encodeURIComponent(p.sibling_task_id)}><code>${p.sibling_task_id}</code></a>)</span></dd>
        <dt>model</dt><dd>${p.model}</dd>
        <dt>rounds</dt><dd>${p.rounds}${p.history.length ? html` <span class="muted">(failed before: ${p.history.map(h => `round ${h.round}: ${h.failed.join(', ')}`).join('; ')})</span>` : ' (kept first time)'}</dd>
        <dt>rows</dt><dd>${Object.entries(p.rows).map(([k, n]) => `${k} ${n}`).join(', ')}</dd>
        <dt>tokens</dt><dd>${p.tokens.prompt} prompt, ${p.tokens.completion} completion</dd>
        <dt>timings</dt><dd>${Object.entries(p.timings).map(([k, v]) => `${k} ${fmt(v, 3)} s`).join(', ')}</dd>
        ${p.smoke ? html`<dt>smoke episodes</dt><dd>${p.smoke.episodes.filter(e => e.valid_submission).length} of ${p.smoke.asked} ended with a valid submission (${p.smoke.model})</dd>` : null}
      </dl>
      <table class="list checks">
        <thead><tr><th>check</th><th>result</th><th>detail</th></tr></thead>
        <tbody>${p.checks.map(c => html`<tr class=${c.ok ? 'pass' : 'fail'}><td>${c.name}</td><td>${c.ok ? 'passed' : 'failed'}</td><td class="muted">${c.message}</td></tr>`)}</tbody>
      </table>
    </section>`
}

/** The generation runs behind the served generated tasks (GET /v1/generation/reports), and a dropped report.json. */
export function GenerationPage () {
  const { value, error } = useLoad(() => get<GenerationReportList>('/generation/reports'), [])
  const dropped = droppedReport
  return html`
    <section class="generation">
      <h2>Generation runs</h2>
      <p class="muted">The runs that made the generated tasks this server serves. A run's <code>report.json</code> dropped onto the page shows here too.</p>
      ${dropped ? html`<${Report} kind="dropped" title=${'dropped ' + dropped.name} r=${dropped.data as GenerationReport} />` : null}
      ${error ? html`<${ErrorBox} error=${error} />` : !value ? html`<${Loading} what="generation reports" />` : html`
        ${value.reports.map(x => html`<${Report} kind="served" title=${x.out} r=${x.report} />`)}
        ${!value.reports.length && !dropped ? html`<p class="muted">No generated tasks are served here.</p>` : null}
        ${value.errors.map(e => html`<p class="error"><code>${e.file}</code>: ${e.reason}</p>`)}`}
    </section>`
}

const pct = (a: number, b: number) => b ? `${Math.round(100 * a / b)}%` : '—'

/** One run's report: its facts, the yield per stage and the discard reasons. */
function Report (props: { kind: 'served' | 'dropped', title: string, r: GenerationReport }) {
  const r = props.r
  return html`
    <article class=${'report ' + props.kind}>
      <h3>Generation report <code>${props.title}</code></h3>
      <dl class="facts">
        <dt>model</dt><dd>${r.model} <span class="muted">seed ${r.seed}</span></dd>
        <dt>topics</dt><dd>${r.topics}: kept ${r.kept} (${pct(r.kept, r.topics)}), discarded ${r.discarded}, errors ${r.errors}</dd>
        <dt>tokens</dt><dd>${r.tokens.prompt + r.tokens.completion}${r.tokens.per_kept_task !== null ? ` (${r.tokens.per_kept_task} per kept task)` : ''}</dd>
        <dt>ran</dt><dd>${r.started_at} · ${fmt(r.seconds, 3)} s</dd>
      </dl>
      <h4>Yield per stage</h4>
      <table class="list report stages">
        <thead><tr><th>stage</th><th>entered</th><th>passed</th><th>yield</th></tr></thead>
        <tbody>${r.stages.map(s => html`<tr><td>${s.stage}</td><td>${s.entered}</td><td>${s.passed}</td><td>${pct(s.passed, s.entered)}</td></tr>`)}</tbody>
      </table>
      <h4>Discard reasons</h4>
      ${r.reasons.length ? html`
        <table class="list report reasons">
          <thead><tr><th>stage</th><th>reason</th><th>count</th><th>example</th></tr></thead>
          <tbody>${r.reasons.map(g => html`<tr><td>${g.stage}</td><td><code>${g.code}</code></td><td>${g.count}</td><td class="muted">${g.example}</td></tr>`)}</tbody>
        </table>` : html`<p class="muted">none: every topic was kept</p>`}
      <h4>Kept tasks</h4>
      <p>${r.tasks.map(k => html`<a href=${'/ui/tasks/' + encodeURIComponent(k.task_id)}><code>${k.task_id}</code></a> `)}</p>
    </article>`
}
