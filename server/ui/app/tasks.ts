// Tasks: built-in, imported (MLGym) and served from task directories (generated ones among them), each with its
// description, files, baseline and, for a generated task, its provenance; and a generation run's report.json
// (yield per stage, discard reasons) dropped onto the page.
import type { TaskDetail, TaskList, TaskSummary } from '../../../env-spec/messages.js'
import { get } from './api.js'
import { droppedReport } from './episodes.js'
import { ErrorBox, Loading, fmt, fmtMetrics, html, useLoad } from './ui.js'

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj | null => v && typeof v === 'object' && !Array.isArray(v) ? v as Obj : null

/** Where a task came from, in words: source 'builtin', 'mlgym:<checkout>', 'dir:<path>'; generated when it says so. */
export function sourceGroup (t: TaskSummary & Obj): 'built-in' | 'imported' | 'generated' | 'task directory' {
  if (t.provenance || t.generated === true || /^generated/.test(t.source)) return 'generated'
  if (t.source === 'builtin') return 'built-in'
  if (t.source.startsWith('mlgym:')) return 'imported'
  return 'task directory'
}

const GROUPS = ['built-in', 'imported', 'generated', 'task directory'] as const

export function TasksPage () {
  const { value, error } = useLoad(() => get<TaskList>('/tasks'), [])
  if (error) return html`<${ErrorBox} error=${error} />`
  if (!value) return html`<${Loading} what="tasks" />`
  const tasks = value.tasks as (TaskSummary & Obj)[]
  return html`
    <section>
      <h2>Tasks</h2>
      <p class="muted">Drop a generation run's <code>report.json</code> onto the page to see its yield per stage and discard reasons.</p>
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
  const t = value as TaskDetail & Obj
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

/**
 * A generated task's provenance.json (the generation issue): topic, dataset and revision, model, rounds, each
 * check's result, tokens and timings. Read leniently: known parts first, the rest as it is.
 */
export function Provenance (props: { p: unknown }) {
  const p = obj(props.p) ?? {}
  const proposal = obj(p.proposal) ?? {}
  const ds = obj(p.dataset) ?? obj(p.verified) ?? {}
  const dataset = typeof p.dataset === 'string' ? p.dataset : (ds.dataset ?? ds.id ?? proposal.dataset) as string | undefined
  const revision = (p.revision ?? ds.revision) as string | undefined
  const checks = checksOf(p.checks)
  const known = new Set(['topic', 'proposal', 'dataset', 'verified', 'revision', 'model', 'rounds', 'checks', 'tokens', 'timings'])
  const rest = Object.entries(p).filter(([k]) => !known.has(k))
  return html`
    <section class="provenance">
      <h3>Provenance</h3>
      <dl class="facts">
        <dt>topic</dt><dd>${String(p.topic ?? proposal.topic ?? '—')}</dd>
        <dt>dataset</dt><dd>${dataset ? html`<code>${dataset}</code>` : '—'}${ds.config || proposal.config ? html` <span class="muted">config ${String(ds.config ?? proposal.config)}</span>` : null}</dd>
        <dt>revision</dt><dd>${revision ? html`<code>${revision}</code>` : '—'}</dd>
        ${ds.license !== undefined ? html`<dt>license</dt><dd>${String(ds.license ?? '—')}</dd>` : null}
        <dt>model</dt><dd>${String(p.model ?? '—')}</dd>
        <dt>rounds</dt><dd>${Array.isArray(p.rounds) ? p.rounds.length : String(p.rounds ?? '—')}</dd>
        ${p.tokens !== undefined ? html`<dt>tokens</dt><dd>${flat(p.tokens)}</dd>` : null}
        ${p.timings !== undefined ? html`<dt>timings</dt><dd>${flat(p.timings)}</dd>` : null}
      </dl>
      ${checks.length ? html`
        <table class="list checks">
          <thead><tr><th>check</th><th>result</th><th>detail</th></tr></thead>
          <tbody>${checks.map(c => html`<tr class=${c.passed ? 'pass' : 'fail'}><td>${c.name}</td><td>${c.passed ? 'passed' : 'failed'}</td><td class="muted">${c.detail}</td></tr>`)}</tbody>
        </table>` : null}
      ${rest.length ? html`<details><summary>More</summary><pre>${JSON.stringify(Object.fromEntries(rest), null, 2)}</pre></details>` : null}
    </section>`
}

function flat (v: unknown): string {
  const o = obj(v)
  if (!o) return typeof v === 'number' ? fmt(v) : String(v)
  return Object.entries(o).map(([k, x]) => `${k} ${typeof x === 'number' ? fmt(x) : JSON.stringify(x)}`).join(', ')
}

/** Checks as a list `[{name, passed|ok, ...}]` or a map `{name: {passed|ok, ...} | boolean}`. */
function checksOf (v: unknown): { name: string, passed: boolean, detail: string }[] {
  const one = (name: string, c: unknown) => {
    const o = obj(c)
    const passed = typeof c === 'boolean' ? c : o ? (o.passed ?? o.ok ?? o.pass) === true : false
    const detail = o ? String(o.message ?? o.reason ?? o.detail ?? Object.entries(o).filter(([k]) => !['name', 'passed', 'ok', 'pass'].includes(k)).map(([k, x]) => `${k}: ${JSON.stringify(x)}`).join(', ')) : ''
    return { name, passed, detail }
  }
  if (Array.isArray(v)) return v.map((c, i) => one(String(obj(c)?.name ?? obj(c)?.check ?? `check ${i + 1}`), c))
  const o = obj(v)
  return o ? Object.entries(o).map(([k, c]) => one(k, c)) : []
}

/** A generation run's report.json: yield per stage and the reasons for discards, read leniently. */
export function GenerationPage () {
  const r = droppedReport
  if (!r) return html`<section><h2>Generation report</h2><p class="muted">Drop a generation run's <code>report.json</code> onto the page.</p></section>`
  const d = obj(r.data) ?? {}
  const stages = rowsOf(d.stages ?? d.yield)
  const discards = rowsOf(d.discards ?? d.discard_reasons ?? d.reasons, 'reason')
  const known = new Set(['stages', 'yield', 'discards', 'discard_reasons', 'reasons'])
  const rest = Object.entries(d).filter(([k]) => !known.has(k))
  return html`
    <section class="generation">
      <h2>Generation report <code>${r.name}</code></h2>
      ${rest.length ? html`<dl class="facts">${rest.map(([k, v]) => html`<dt>${k}</dt><dd>${typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>`)}</dl>` : null}
      <h3>Yield per stage</h3>
      ${table(stages, 'stage')}
      <h3>Discard reasons</h3>
      ${table(discards, 'reason')}
    </section>`
}

/** A list of objects, a map of name → object, or a map of name → number, as rows with a first column `key`. */
function rowsOf (v: unknown, key = 'stage'): Obj[] {
  if (Array.isArray(v)) return v.map(x => obj(x) ?? { [key]: String(x) })
  const o = obj(v)
  if (!o) return []
  return Object.entries(o).map(([k, x]) => obj(x) ? { [key]: k, ...obj(x) } : { [key]: k, count: x })
}

function table (rows: Obj[], key: string) {
  if (!rows.length) return html`<p class="muted">none</p>`
  const cols = [key, ...new Set(rows.flatMap(r => Object.keys(r)).filter(k => k !== key))]
  return html`<table class="list report">
    <thead><tr>${cols.map(c => html`<th>${c}</th>`)}</tr></thead>
    <tbody>${rows.map(r => html`<tr>${cols.map(c => html`<td>${r[c] === undefined ? '' : typeof r[c] === 'object' ? JSON.stringify(r[c]) : typeof r[c] === 'number' ? fmt(r[c] as number) : String(r[c])}</td>`)}</tr>`)}</tbody>
  </table>`
}
