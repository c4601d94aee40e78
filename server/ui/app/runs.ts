// Runs and benchmarks. A run is what one `synthgym run` invocation, or a client's `meta.run`, made (clients/aup/
// episodes.ts `runOf`); episodes without one are ad hoc and enter no benchmark unless asked. Per run: its outcomes and
// its AUP exactly as `synthgym aup` computes it on the run's directories (the same function); per task and model:
// scores against the baseline, mean ± std over the repeats, a score-over-steps plot; two runs compared task by task;
// per-model totals of tokens, cost, latency and success; CSV of the episodes.
import { useEffect, useMemo, useState } from 'preact/hooks'
import type { EpisodeBrief as Episode, Trajectory, TrajectoryStep } from '../../../env-spec/episode.js'
import type { EpisodeQuery, TaskList } from '../../../env-spec/messages.js'
import type { Metric } from '../../../env-spec/task.js'
import { allEpisodes, get, pool } from './api.js'
import { bestAttemptIndex } from '../../../clients/aup/aup.js'
import { episodesAupInput, meanStd, methodOf, runOf } from '../../../clients/aup/episodes.js'
import { aupResult, type AupResult } from './aup.js'
import { LinePlot, PALETTE, type Series } from './plot.js'
import { fromTrajectory, metricOf, modelCall } from './traj-model.js'
import { ErrorBox, Loading, OutcomeBar, download, fmt, html, improvement, pct, setQuery, toCsv, useLoad, useRoute } from './ui.js'

const UNKNOWN_MODEL = '(model not recorded)'
const AD_HOC = '(ad hoc)'
/** episodes per task whose steps the score-over-steps plot fetches */
const PLOT_EPISODES = 12

/** An episode's best attempt on the metric (MLGym's get_best_attempt), or null. */
function bestOf (e: Episode, metric: Metric | null): number | null {
  if (!metric) return null
  const i = bestAttemptIndex(e.score, metric.name, metric.direction)
  return i < 0 ? null : e.score[i]![metric.name]!
}

const countOutcomes = (eps: Episode[]) => {
  const c: Record<string, number> = {}
  for (const e of eps) if (e.outcome) c[e.outcome] = (c[e.outcome] ?? 0) + 1
  return c
}

function groupBy<T> (xs: T[], key: (x: T) => string): [string, T[]][] {
  const m = new Map<string, T[]>()
  for (const x of xs) { const k = key(x); const l = m.get(k); if (l) l.push(x); else m.set(k, [x]) }
  return [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]))
}

const model = (e: Episode) => methodOf(e, UNKNOWN_MODEL)
const fmtMs = (m: { mean: number, std: number, n: number } | null) => m ? `${fmt(m.mean)} ± ${fmt(m.std, 3)} (n ${m.n})` : '—'

interface Row {
  model: string
  episodes: number
  submitted: number
  best: number | null
  /** the best attempt of each episode over the repeats */
  repeat: { mean: number, std: number, n: number } | null
  meanLast: number | null
}

function rowsFor (eps: Episode[], metric: Metric | null): Row[] {
  return groupBy(eps, model).map(([m, list]) => {
    const k = metric?.name
    const bests = list.map(e => bestOf(e, metric)).filter((x): x is number => x !== null)
    const lasts = k ? list.map(e => e.score.at(-1)?.[k]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x)) : []
    return {
      model: m, episodes: list.length,
      submitted: list.filter(e => e.outcome === 'improved' || e.outcome === 'not_improved').length,
      best: bests.length ? (metric!.direction === 'maximize' ? Math.max(...bests) : Math.min(...bests)) : null,
      repeat: meanStd(bests),
      meanLast: lasts.length ? lasts.reduce((a, b) => a + b, 0) / lasts.length : null
    }
  })
}

function episodesCsv (eps: Episode[], metricFor: (task: string) => Metric | null): string {
  return toCsv([
    ['episode', 'run', 'task', 'model', 'status', 'outcome', 'exit_status', 'steps', 'metric', 'best', 'last', 'baseline', 'created_at'],
    ...eps.map(e => {
      const m = metricFor(e.task_id)
      return [e.id, runOf(e), e.task_id, model(e), e.status, e.outcome, e.exit_status, e.steps, m?.name ?? null,
        bestOf(e, m), m ? e.score.at(-1)?.[m.name] ?? null : null, m ? e.baseline?.[m.name] ?? null : null, e.created_at]
    })
  ])
}

export function RunsPage () {
  const route = useRoute()
  const onlyTask = route.query.get('task')
  const runFilter = route.query.get('run')
  const adHoc = route.query.get('adhoc') === '1'
  const [cmpA, cmpB] = [route.query.get('a'), route.query.get('b')]
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
  const taskById = new Map((tasks.value?.tasks ?? []).map(t => [t.id, t]))
  const metricFor = (task: string) => metricOf(taskById.get(task), eps.filter(e => e.task_id === task))
  const runs = useMemo(() => groupBy(eps, e => runOf(e) ?? AD_HOC), [eps])
  const chosen = useMemo(() => runFilter ? eps.filter(e => (runOf(e) ?? AD_HOC) === runFilter) : eps, [eps, runFilter])
  const byTask = useMemo(() => groupBy(chosen, e => e.task_id), [chosen])
  const models = [...new Set(chosen.map(model))].sort()
  const color = (m: string) => PALETTE[models.indexOf(m) % PALETTE.length]!
  const runAup = useMemo(() => done ? new Map(runs.filter(([r]) => r !== AD_HOC).map(([r, list]) => {
    const input = episodesAupInput(list, metricFor)
    return [r, input ? aupResult(input) : null]
  })) : new Map<string, AupResult | null>(), [runs, done, tasks.value])
  if (error) return html`<${ErrorBox} error=${error} />`
  const runNames = runs.map(([r]) => r).filter(r => r !== AD_HOC)
  return html`
    <section class="runs">
      <h2>Runs and benchmarks</h2>
      <div class="filters">
        <span class="muted count">${chosen.length} episode${chosen.length === 1 ? '' : 's'}${done ? '' : ' (loading…)'}</span>
        ${onlyTask ? html`<span>task <code>${onlyTask}</code> <a href="/ui/runs">all tasks</a></span>` : null}
        ${runs.length ? html`<select name="run" onChange=${(e: Event) => setQuery({ run: (e.target as HTMLSelectElement).value || null })}>
          <option value="">all episodes</option>
          ${runs.map(([r]) => html`<option value=${r} selected=${r === runFilter}>${r}</option>`)}
        </select>` : null}
        <label class="kind"><input type="checkbox" name="adhoc" checked=${adHoc} onChange=${() => setQuery({ adhoc: adHoc ? null : '1' })} /> ad-hoc episodes in the AUP</label>
        <button class="csv" disabled=${!chosen.length} onClick=${() => download(`episodes${runFilter ? '-' + runFilter : ''}.csv`, episodesCsv(chosen, metricFor), 'text/csv')}>Download CSV</button>
      </div>
      ${!done && !eps.length ? html`<${Loading} what="episodes" />` : null}
      ${done && !chosen.length ? html`<p class="muted">No episodes stored yet.</p>` : null}
      ${runs.length ? html`
        <h3>Runs</h3>
        <table class="list run-list">
          <thead><tr><th>run</th><th>models</th><th>tasks</th><th>episodes</th><th>outcomes</th><th>Best AUP</th><th>Last AUP</th></tr></thead>
          <tbody>${runs.map(([r, list]) => {
            const a = runAup.get(r)
            const ms = [...new Set(list.map(model))].sort()
            return html`<tr data-run=${r}>
              <td><a href=${'/ui/runs?run=' + encodeURIComponent(r)}>${r}</a></td>
              <td>${ms.join(', ')}</td><td class="num">${new Set(list.map(e => e.task_id)).size}</td><td class="num">${list.length}</td>
              <td><${OutcomeBar} counts=${countOutcomes(list)} /></td>
              ${r === AD_HOC ? html`<td colspan="2" class="muted">in no benchmark${adHoc ? ' (but in the AUP below: asked)' : ''}</td>`
                : html`<td class="num aup-best">${a ? ms.map(m => (a.best.aup[m] ?? 0).toFixed(3)).join(' / ') : '—'}</td>
                  <td class="num aup-last">${a ? ms.map(m => (a.last.aup[m] ?? 0).toFixed(3)).join(' / ') : '—'}</td>`}
            </tr>`
          })}</tbody>
        </table>
        <p class="muted">AUP of each run's model(s) against the baseline, as <code>synthgym aup</code> gives it on that run's directories.</p>
        ${runNames.length >= 2 ? html`<div class="filters compare-pick">Compare
          ${(['a', 'b'] as const).map(k => html`<select name=${'cmp-' + k} onChange=${(e: Event) => setQuery({ [k]: (e.target as HTMLSelectElement).value || null })}>
            <option value="">run ${k.toUpperCase()}</option>
            ${runNames.map(r => html`<option value=${r} selected=${r === (k === 'a' ? cmpA : cmpB)}>${r}</option>`)}
          </select>`)}</div>` : null}
        ${cmpA && cmpB && done ? html`<${CompareRuns} a=${cmpA} b=${cmpB} eps=${eps} metricFor=${metricFor} />` : null}` : null}
      ${byTask.length ? html`
        <h3>Outcomes per model</h3>
        <table class="list outcomes-per-model">
          <thead><tr><th>model</th><th>episodes</th><th>outcomes</th></tr></thead>
          <tbody>${groupBy(chosen, model).map(([m, list]) => html`<tr data-model=${m}><td>${m}</td><td class="num">${list.length}</td><td><${OutcomeBar} counts=${countOutcomes(list)} /></td></tr>`)}</tbody>
        </table>
        <${ModelTotals} eps=${chosen} key=${runFilter ?? ''} />
        <h3>Scores against the baseline</h3>
        <table class="list scores">
          <thead><tr><th>task</th><th>metric</th><th>baseline</th><th>model</th><th>episodes</th><th>submitted</th><th>best score</th><th>vs baseline</th><th>best attempt: mean ± std</th><th>mean last score</th></tr></thead>
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
                  <td>${r.model}</td><td class="num">${r.episodes}</td><td class="num">${r.submitted}</td>
                  <td class="num score">${fmt(r.best)}</td>
                  <td class="num">${pct(improvement(r.best, baseline, metric?.direction ?? null))}</td>
                  <td class="num repeat">${fmtMs(r.repeat)}</td>
                  <td class="num">${fmt(r.meanLast)}</td>
                </tr>`)
            })}
          </tbody>
        </table>
        ${done ? html`<${AupSection} eps=${eps} metricFor=${metricFor} run=${runFilter} adHoc=${adHoc} />` : null}
        <h3>Score over steps</h3>
        <p class="muted">Each line is one episode (its ${PLOT_EPISODES} latest scored ones per task): the score of each evaluation at the step it was made; dashed, the baseline.</p>
        ${done ? html`<div class="plots">
          ${byTask.map(([task, list]) => html`<${ScorePlot} key=${task + (runFilter ?? '')} task=${task} eps=${list} metric=${metricOf(taskById.get(task), list)} color=${color} />`)}
        </div>` : html`<${Loading} what="the episodes first" />`}` : null}
    </section>`
}

/** Two runs task by task: each one's best attempts over its repeats (mean ± std), its best, and the difference. */
function CompareRuns (props: { a: string, b: string, eps: Episode[], metricFor: (t: string) => Metric | null }) {
  const of = (r: string) => props.eps.filter(e => runOf(e) === r && e.status !== 'running')
  const [A, B] = [of(props.a), of(props.b)]
  const taskIds = [...new Set([...A, ...B].map(e => e.task_id))].sort()
  const pickBest = (list: Episode[], m: Metric | null) => {
    let best: Episode | null = null
    for (const e of list) {
      const v = bestOf(e, m)
      if (v !== null && (best === null || (m!.direction === 'maximize' ? v > bestOf(best, m)! : v < bestOf(best, m)!))) best = e
    }
    return best
  }
  return html`
    <table class="list compare-runs" data-a=${props.a} data-b=${props.b}>
      <thead><tr><th>task</th><th>metric</th><th>A ${props.a}: mean ± std</th><th>B ${props.b}: mean ± std</th><th>A best</th><th>B best</th><th>B − A (mean)</th><th>better</th><th></th></tr></thead>
      <tbody>${taskIds.map(task => {
        const m = props.metricFor(task)
        const ta = A.filter(e => e.task_id === task)
        const tb = B.filter(e => e.task_id === task)
        const sa = meanStd(ta.map(e => bestOf(e, m)).filter((x): x is number => x !== null))
        const sb = meanStd(tb.map(e => bestOf(e, m)).filter((x): x is number => x !== null))
        const [ea, eb] = [pickBest(ta, m), pickBest(tb, m)]
        const d = sa && sb ? sb.mean - sa.mean : null
        const better = d === null || d === 0 || !m ? '—' : (m.direction === 'maximize') === (d > 0) ? 'B' : 'A'
        return html`<tr data-task=${task}>
          <td>${task}</td><td>${m ? `${m.name} ${m.direction === 'maximize' ? '↑' : '↓'}` : '—'}</td>
          <td class="num">${fmtMs(sa)}</td><td class="num">${fmtMs(sb)}</td>
          <td class="num">${fmt(ea ? bestOf(ea, m) : null)}</td><td class="num">${fmt(eb ? bestOf(eb, m) : null)}</td>
          <td class="num">${d === null ? '—' : (d > 0 ? '+' : '') + fmt(d)}</td><td class="better">${better}</td>
          <td>${ea && eb ? html`<a class="side-by-side-link" href=${`/ui/compare?a=${ea.id}&b=${eb.id}`}>best episodes side by side</a>` : null}</td>
        </tr>`
      })}</tbody>
    </table>`
}

interface Totals { episodes: number, ended: number, improved: number, calls: number, prompt: number, completion: number, cost: number, latencyMs: number }

/**
 * Per model: tokens, cost and latency summed over the model calls the steps carry (read with include_steps, on
 * request: it reads every step), and success (improved on the baseline) over the ended episodes.
 */
function ModelTotals (props: { eps: Episode[] }) {
  const [totals, setTotals] = useState<Map<string, Totals> | null>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const compute = async () => {
    setBusy(true); setError(null)
    try {
      const ids = new Set(props.eps.map(e => e.id))
      const out = new Map<string, Totals>()
      for (const e of props.eps) {
        const t = out.get(model(e)) ?? { episodes: 0, ended: 0, improved: 0, calls: 0, prompt: 0, completion: 0, cost: 0, latencyMs: 0 }
        t.episodes++
        if (e.outcome) t.ended++
        if (e.outcome === 'improved') t.improved++
        out.set(model(e), t)
      }
      const byId = new Map(props.eps.map(e => [e.id, e]))
      let cursor: string | undefined
      for (;;) {
        const q: EpisodeQuery = { include_steps: true, limit: 50, cursor }
        const page = await get<{ episodes: (Episode & { trajectory?: TrajectoryStep[] })[], next_cursor: string | null }>('/episodes' + qs(q))
        for (const e of page.episodes) {
          if (!ids.has(e.id)) continue
          const t = out.get(model(byId.get(e.id)!))!
          for (const s of e.trajectory ?? []) {
            const m = modelCall(s.model)
            if (!m) continue
            t.calls++
            t.prompt += m.promptTokens ?? 0
            t.completion += m.completionTokens ?? 0
            t.latencyMs += m.latencyMs ?? 0
            t.cost += typeof (s.model as { cost?: unknown } | undefined)?.cost === 'number' ? (s.model as { cost: number }).cost : 0
          }
        }
        if (!page.next_cursor) break
        cursor = page.next_cursor
      }
      setTotals(out)
    } catch (e) { setError(e) } finally { setBusy(false) }
  }
  return html`
    <h3>Per-model totals</h3>
    ${error ? html`<${ErrorBox} error=${error} />` : null}
    ${!totals ? html`<p><button class="model-totals" disabled=${busy} onClick=${compute}>${busy ? 'Reading steps…' : 'Compute tokens, cost and latency'}</button> <span class="muted">reads every step of these episodes</span></p>` : html`
      <table class="list model-totals">
        <thead><tr><th>model</th><th>episodes</th><th>success</th><th>model calls</th><th>prompt tokens</th><th>completion tokens</th><th>cost</th><th>latency</th></tr></thead>
        <tbody>${[...totals.entries()].sort().map(([m, t]) => html`<tr data-model=${m}>
          <td>${m}</td><td class="num">${t.episodes}</td>
          <td class="num">${t.improved} / ${t.ended}${t.ended ? ` (${Math.round(100 * t.improved / t.ended)}%)` : ''}</td>
          <td class="num">${t.calls}</td><td class="num">${t.prompt}</td><td class="num">${t.completion}</td>
          <td class="num">${t.cost ? '$' + fmt(t.cost, 4) : '—'}</td><td class="num">${fmt(t.latencyMs / 1000, 1)} s</td>
        </tr>`)}</tbody>
      </table>`}`
}

const qs = (q: EpisodeQuery) => '?' + new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)])).toString()

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
 * AUP as `synthgym aup` computes it on the run directories of the same episodes (clients/aup/episodes.ts): one run,
 * or every run; ad-hoc episodes only when asked.
 */
function AupSection (props: { eps: Episode[], metricFor: (t: string) => Metric | null, run: string | null, adHoc: boolean }) {
  const result = useMemo<AupResult | null>(() => {
    const input = props.run === AD_HOC
      ? episodesAupInput(props.eps, props.metricFor, { runs: [], adHoc: true })
      : episodesAupInput(props.eps, props.metricFor, { runs: props.run ? [props.run] : undefined, adHoc: props.adHoc })
    return input ? aupResult(input) : null
  }, [props.eps, props.run, props.adHoc])
  return html`
    <section class="aup" data-aup-source="dashboard">
      <h3>AUP and performance profiles ${props.run ? html`<span class="muted">run <code>${props.run}</code></span>` : html`<span class="muted">every run${props.adHoc ? ' and the ad-hoc episodes' : ' (ad-hoc episodes left out)'}</span>`}</h3>
      <p class="muted">Computed as <code>synthgym aup</code> does on these runs' directories (clients/aup: MLGym's get_ranks.py; best attempt and last submission, best over runs, the baseline as a method, ε = 0.05, log10 ratios, 500-point grid).</p>
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
