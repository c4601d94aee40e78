// Runs and benchmarks: every stored episode (paged in 500 at a time), by task and model, scored against the baseline;
// a score-over-steps plot per task (from the trajectories of its latest scored episodes); AUP and performance
// profiles per benchmark run, model against model (aup.ts, MLGym's rules).
import { useEffect, useMemo, useState } from 'preact/hooks'
import type { EpisodeBrief as Episode, Trajectory } from '../../../env-spec/episode.js'
import type { TaskList, TaskSummary } from '../../../env-spec/messages.js'
import type { Metric } from '../../../env-spec/task.js'
import { allEpisodes, get, pool } from './api.js'
import { bestAttemptIndex } from '../../../clients/aup/aup.js'
import { computeAup, type AupResult, type AupTask } from './aup.js'
import { LinePlot, PALETTE, type Series } from './plot.js'
import { episodeModel, fromTrajectory, metricOf, runOf } from './traj-model.js'
import { ErrorBox, Loading, fmt, html, improvement, pct, setQuery, useLoad, useRoute } from './ui.js'

const UNKNOWN_MODEL = '(model not recorded)'
/** episodes per task whose steps the score-over-steps plot fetches */
const PLOT_EPISODES = 12


interface Row {
  model: string
  episodes: number
  finished: number
  scored: number
  submitted: number
  best: number | null
  meanLast: number | null
}

function rowsFor (eps: Episode[], metric: Metric | null): Row[] {
  const byModel = new Map<string, Episode[]>()
  for (const e of eps) {
    const m = episodeModel(e) ?? UNKNOWN_MODEL
    const list = byModel.get(m)
    if (list) list.push(e); else byModel.set(m, [e])
  }
  return [...byModel.entries()].map(([model, list]) => {
    const k = metric?.name
    const bests = k ? list.map(e => { const i = bestAttemptIndex(e.score, k, metric!.direction); return i < 0 ? null : e.score[i]![k]! }).filter((x): x is number => x !== null) : []
    const lasts = k ? list.map(e => e.score.at(-1)?.[k]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x)) : []
    return {
      model, episodes: list.length,
      finished: list.filter(e => e.status === 'finished').length,
      scored: list.filter(e => e.score.length > 0).length,
      submitted: list.filter(e => e.exit_status === 'submitted').length,
      best: bests.length ? (metric!.direction === 'maximize' ? Math.max(...bests) : Math.min(...bests)) : null,
      meanLast: lasts.length ? lasts.reduce((a, b) => a + b, 0) / lasts.length : null
    }
  }).sort((a, b) => a.model.localeCompare(b.model))
}

export function RunsPage () {
  const route = useRoute()
  const onlyTask = route.query.get('task')
  const runFilter = route.query.get('run')
  const tasks = useLoad(() => get<TaskList>('/tasks'), [])
  const [eps, setEps] = useState<Episode[]>([])
  const [done, setDone] = useState(false)
  const [error, setError] = useState<unknown>(null)
  useEffect(() => {
    let stop = false
    setEps([]); setDone(false)
    allEpisodes(onlyTask ? { task: onlyTask } : {}, (page, last) => {
      setEps(all => all.concat(page))
      if (last) setDone(true)
    }, () => stop).catch(setError)
    return () => { stop = true }
  }, [onlyTask])
  const runs = useMemo(() => [...new Set(eps.map(runOf).filter((r): r is string => r !== null))].sort(), [eps])
  const chosen = useMemo(() => runFilter ? eps.filter(e => runOf(e) === runFilter) : eps, [eps, runFilter])
  const byTask = useMemo(() => {
    const m = new Map<string, Episode[]>()
    for (const e of chosen) { const list = m.get(e.task_id); if (list) list.push(e); else m.set(e.task_id, [e]) }
    return [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]))
  }, [chosen])
  const taskById = new Map((tasks.value?.tasks ?? []).map(t => [t.id, t]))
  const models = [...new Set(chosen.map(e => episodeModel(e) ?? UNKNOWN_MODEL))].sort()
  const color = (m: string) => PALETTE[models.indexOf(m) % PALETTE.length]!
  if (error) return html`<${ErrorBox} error=${error} />`
  return html`
    <section class="runs">
      <h2>Runs and benchmarks</h2>
      <div class="filters">
        <span class="muted count">${chosen.length} episode${chosen.length === 1 ? '' : 's'}${done ? '' : ' (loading…)'}</span>
        ${onlyTask ? html`<span>task <code>${onlyTask}</code> <a href="/ui/runs">all tasks</a></span>` : null}
        ${runs.length ? html`<select name="run" onChange=${(e: Event) => setQuery({ run: (e.target as HTMLSelectElement).value || null })}>
          <option value="">all runs</option>
          ${runs.map(r => html`<option value=${r} selected=${r === runFilter}>${r}</option>`)}
        </select>` : null}
      </div>
      ${!done && !eps.length ? html`<${Loading} what="episodes" />` : null}
      ${done && !chosen.length ? html`<p class="muted">No episodes stored yet.</p>` : null}
      ${byTask.length ? html`
        <h3>Scores against the baseline</h3>
        <table class="list scores">
          <thead><tr><th>task</th><th>metric</th><th>baseline</th><th>model</th><th>episodes</th><th>finished</th><th>submitted</th><th>best score</th><th>vs baseline</th><th>mean last score</th></tr></thead>
          <tbody>
            ${byTask.map(([task, list]) => {
              const metric = metricOf(taskById.get(task), list)
              const baseline = metric ? list.find(e => e.baseline)?.baseline?.[metric.name] ?? null : null
              const rows = rowsFor(list, metric)
              return rows.map((r, i) => html`
                <tr key=${task + r.model} data-task=${task}>
                  ${i === 0 ? html`<td rowspan=${rows.length}><a href=${'/ui/tasks/' + encodeURIComponent(task)}>${task}</a></td>
                    <td rowspan=${rows.length}>${metric ? `${metric.name} ${metric.direction === 'maximize' ? '↑' : '↓'}` : '—'}</td>
                    <td rowspan=${rows.length}>${fmt(baseline)}</td>` : null}
                  <td>${r.model}</td><td class="num">${r.episodes}</td><td class="num">${r.finished}</td><td class="num">${r.submitted}</td>
                  <td class="num score">${fmt(r.best)}</td>
                  <td class="num">${pct(improvement(r.best, baseline, metric?.direction ?? null))}</td>
                  <td class="num">${fmt(r.meanLast)}</td>
                </tr>`)
            })}
          </tbody>
        </table>
        ${done ? html`<${AupSection} byTask=${byTask} taskById=${taskById} run=${runFilter} />` : null}
        <h3>Score over steps</h3>
        <p class="muted">Each line is one episode (its ${PLOT_EPISODES} latest scored ones per task): the score of each evaluation at the step it was made; dashed, the baseline.</p>
        ${done ? html`<div class="plots">
          ${byTask.map(([task, list]) => html`<${ScorePlot} key=${task + (runFilter ?? '')} task=${task} eps=${list} metric=${metricOf(taskById.get(task), list)} color=${color} />`)}
        </div>` : html`<${Loading} what="the episodes first" />`}` : null}
    </section>`
}

function ScorePlot (props: { task: string, eps: Episode[], metric: Metric | null, color: (m: string) => string }) {
  const latest = props.eps.filter(e => e.score.length).slice(-PLOT_EPISODES)
  const ids = latest.map(e => e.id).join(',')
  const { value, error } = useLoad(() => pool(latest, 4, e => get<Trajectory>(`/episodes/${e.id}`)), [ids])
  const k = props.metric?.name
  if (!k) return html`<div class="plot-card"><h4>${props.task}</h4><p class="muted">no metric</p></div>`
  if (!latest.length) return html`<div class="plot-card"><h4>${props.task}</h4><p class="muted">no scored episode</p></div>`
  if (error) return html`<div class="plot-card"><h4>${props.task}</h4><${ErrorBox} error=${error} /></div>`
  if (!value) return html`<div class="plot-card"><h4>${props.task}</h4><${Loading} what="trajectories" /></div>`
  const series: Series[] = value.map(t => {
    const v = fromTrajectory(t)
    const model = v.model ?? UNKNOWN_MODEL
    return {
      label: model, color: props.color(model), title: `${t.episode.id} (${model})`,
      points: v.steps.filter(s => s.score && typeof s.score[k] === 'number' && Number.isFinite(s.score[k])).map(s => [s.index, s.score![k]!] as [number, number])
    }
  }).filter(s => s.points.length)
  const baseline = latest.find(e => e.baseline)?.baseline?.[k]
  const maxStep = Math.max(1, ...value.map(t => t.steps.length))
  return html`
    <div class="plot-card" data-task=${props.task}>
      <h4>${props.task} <span class="muted">${k} ${props.metric!.direction === 'maximize' ? '↑' : '↓'}</span></h4>
      <${LinePlot} series=${series} xLabel="step" yLabel=${k} xDomain=${[0, maxStep]} xInteger=${true}
        hline=${baseline !== undefined ? { y: baseline, label: 'baseline' } : undefined} />
    </div>`
}

/**
 * AUP per benchmark run, computed in the page by clients/aup (MLGym's get_ranks.py rules) through aup.ts.
 */
function AupSection (props: { byTask: [string, Episode[]][], taskById: Map<string, TaskSummary>, run: string | null }) {
  const result = useMemo<AupResult | null>(() => {
    const tasks: AupTask[] = []
    const runs = []
    for (const [task, list] of props.byTask) {
      const metric = metricOf(props.taskById.get(task), list)
      if (!metric) continue
      tasks.push({ id: task, metric: metric.name, direction: metric.direction, baseline: list.find(e => e.baseline)?.baseline?.[metric.name] ?? null })
      for (const e of list) if (e.status !== 'running') runs.push({ task, method: episodeModel(e) ?? UNKNOWN_MODEL, scores: e.score })
    }
    return runs.length ? computeAup(tasks, runs) : null
  }, [props.byTask])
  return html`
    <section class="aup" data-aup-source="dashboard">
      <h3>AUP and performance profiles ${props.run ? html`<span class="muted">run <code>${props.run}</code></span>` : html`<span class="muted">all stored episodes as one benchmark</span>`}</h3>
      <p class="muted">Computed as <code>synthgym aup</code> does (clients/aup: MLGym's get_ranks.py; best attempt and last submission, best over runs, the baseline as a method, ε = 0.05, log10 ratios, 500-point grid), over the stored episodes shown.</p>
      ${!result ? html`<p class="muted">No finished episode to rank.</p>` : html`
        <table class="list aup-table">
          <thead><tr><th>method</th><th>Best AUP</th><th>Last AUP</th>${result.tasks.map(t => html`<th>${t} (best)</th>`)}</tr></thead>
          <tbody>${result.methods.map(m => html`<tr data-method=${m}><td>${m}</td><td class="num">${result.best.aup[m]!.toFixed(3)}</td><td class="num">${result.last.aup[m]!.toFixed(3)}</td>
            ${result.tasks.map(t => html`<td class="num">${fmt(result.best.scores[t]?.[m] ?? null)} <span class="muted">r ${fmt(result.best.ratios[t]?.[m] ?? null, 3)}</span></td>`)}</tr>`)}</tbody>
        </table>
        <p class="muted">Methods compared: ${result.methods.join(', ')} · ${result.tasks.length} task${result.tasks.length === 1 ? '' : 's'} · τ max ${result.tauMax}${result.notes.length ? ' · ' + result.notes.map(n => `${n.task}: ${n.note}`).join('; ') : ''}</p>
        <div class="plots">
          ${(['best', 'last'] as const).map(which => html`<div class="plot-card"><h4>Performance profile, ${which === 'best' ? 'best attempt' : 'last submission'}</h4>
            <${LinePlot} xLabel="log10 τ" yLabel="fraction of tasks" yDomain=${[0, 1.02]} xDomain=${[0, result.tauMax]}
              series=${result.methods.map((m, i) => ({ label: m, color: PALETTE[i % PALETTE.length]!, step: true, points: result.tau.map((t, j) => [t, result[which].profile[m]![j]!] as [number, number]) }))} /></div>`)}
        </div>`}
    </section>`
}
