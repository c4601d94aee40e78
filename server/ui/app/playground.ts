// The playground (/ui/playground): a person plays the agent through the same API and token as everything else:
// pick a task, create and reset an environment, send actions with the tool docs (GET /v1/tools) beside, read each
// observation, reward, exit code and score, and close it. Every step is stored as an episode like any other.
import { useState } from 'preact/hooks'
import type { ResetResult, StepResult } from '../../../env-spec/episode.js'
import type { CreateEnvBody, TaskList, ToolsResult } from '../../../env-spec/messages.js'
import { api, get } from './api.js'
import { ErrorBox, Loading, fmt, fmtMetrics, html, useLoad } from './ui.js'

interface Turn { action: string, result: StepResult }

export function PlaygroundPage () {
  const tasks = useLoad(() => get<TaskList>('/tasks'), [])
  const [profile, setProfile] = useState<'mlgym' | 'sweagent'>('mlgym')
  const tools = useLoad(() => get<ToolsResult>(`/tools?profile=${profile}`), [profile])
  const [task, setTask] = useState('')
  const [maxSteps, setMaxSteps] = useState(20)
  const [env, setEnv] = useState<string | null>(null)
  const [reset, setReset] = useState<ResetResult | null>(null)
  const [turns, setTurns] = useState<Turn[]>([])
  const [action, setAction] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const chosen = task || tasks.value?.tasks[0]?.id || ''
  const run = async (f: () => Promise<void>) => {
    setBusy(true); setError(null)
    try { await f() } catch (e) { setError(e) } finally { setBusy(false) }
  }
  const create = () => run(async () => {
    const body: CreateEnvBody = { task: chosen, max_steps: maxSteps, tool_profile: profile, meta: { source: 'playground' } }
    const r = await api<{ env_id: string }>('POST', '/envs', body)
    setEnv(r.env_id); setReset(null); setTurns([])
  })
  const doReset = () => run(async () => { setReset(await api<ResetResult>('POST', `/envs/${env}/reset`)); setTurns([]) })
  const send = () => run(async () => {
    const result = await api<StepResult>('POST', `/envs/${env}/step`, { action })
    setTurns(ts => [...ts, { action, result }])
    setAction('')
  })
  const close = () => run(async () => { await api('DELETE', `/envs/${env}`); setEnv(null); setReset(null); setTurns([]) })
  const last = turns.at(-1)?.result
  const over = !!last && (last.terminated || last.truncated)
  return html`
    <section class="playground-page">
      <h2>Playground</h2>
      <p class="muted">Play the agent: each action is one step of a real episode (stored like any other).</p>
      ${tasks.error ? html`<${ErrorBox} error=${tasks.error} />` : !tasks.value ? html`<${Loading} what="tasks" />` : html`
        <div class="filters">
          <select name="task" disabled=${!!env} onChange=${(e: Event) => setTask((e.target as HTMLSelectElement).value)}>
            ${tasks.value.tasks.map(t => html`<option value=${t.id} selected=${t.id === chosen}>${t.id}</option>`)}
          </select>
          <label>max steps <input type="number" name="max_steps" min="1" value=${maxSteps} disabled=${!!env} onInput=${(e: Event) => setMaxSteps(Number((e.target as HTMLInputElement).value) || 1)} /></label>
          <select name="profile" disabled=${!!env} onChange=${(e: Event) => setProfile((e.target as HTMLSelectElement).value as 'mlgym' | 'sweagent')}>
            ${['mlgym', 'sweagent'].map(p => html`<option value=${p} selected=${p === profile}>${p} tools</option>`)}
          </select>
          ${env ? html`<span>environment <a href=${'/ui/envs/' + env}><code class="env-id">${env}</code></a></span>
            <button class="reset" disabled=${busy} onClick=${doReset}>${reset ? 'Reset again' : 'Reset'}</button>
            <button class="close" disabled=${busy} onClick=${close}>Close</button>`
          : html`<button class="create" disabled=${busy || !chosen} onClick=${create}>Create environment</button>`}
        </div>`}
      ${error ? html`<${ErrorBox} error=${error} />` : null}
      <div class="playground">
        <div>
          ${reset ? html`
            <p class="muted">episode <a href=${'/ui/episodes/' + reset.episode_id}><code class="episode-id">${reset.episode_id}</code></a> ·
              baseline ${fmtMetrics(reset.info.baseline)}${reset.info.metric ? ` · metric ${reset.info.metric.name} ${reset.info.metric.direction === 'maximize' ? '↑' : '↓'}` : ''}</p>
            <details><summary>Task prompt</summary><pre class="prompt">${reset.observation}</pre></details>
            ${turns.map((t, i) => html`<div class="turn" data-step=${t.result.info.current_step} key=${i}>
              <pre class="action">${t.action}</pre>
              <pre class="observation">${t.result.observation || '(no output)'}</pre>
              <div class="result muted">step ${t.result.info.current_step} / ${t.result.info.max_steps} · reward ${fmt(t.result.reward)}
                ${t.result.info.exit_code !== undefined ? html` · <span class=${'exit-code' + (t.result.info.exit_code ? ' bad' : '')}>exit ${t.result.info.exit_code}</span>` : null}
                ${t.result.info.metrics ? ' · score ' + fmtMetrics(t.result.info.metrics) : ''}
                ${t.result.terminated ? ' · terminated' : ''}${t.result.truncated ? ' · truncated' : ''}${t.result.info.exit_status ? ' · ' + t.result.info.exit_status : ''}</div>
            </div>`)}
            ${over ? html`<p class="muted ended">The episode is over: reset for another, or close the environment.</p>` : html`
              <form class="send" onSubmit=${(e: Event) => { e.preventDefault(); if (action.trim()) void send() }}>
                <textarea name="action" placeholder="an action, e.g. ls, open \"train.py\", validate, submit" value=${action}
                  onInput=${(e: Event) => setAction((e.target as HTMLTextAreaElement).value)}
                  onKeyDown=${(e: KeyboardEvent) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && action.trim()) { e.preventDefault(); void send() } }} />
                <button type="submit" disabled=${busy || !action.trim()}>${busy ? 'Running…' : 'Send (Ctrl+Enter)'}</button>
              </form>`}`
          : env ? html`<p class="muted">Reset the environment to start an episode.</p>` : html`<p class="muted">Create an environment for a task to begin.</p>`}
        </div>
        <aside>
          <h3>Tools (${profile})</h3>
          ${tools.error ? html`<${ErrorBox} error=${tools.error} />` : !tools.value ? html`<${Loading} what="tool docs" />` : html`<pre class="tool-docs">${tools.value.command_docs}</pre>`}
        </aside>
      </div>
    </section>`
}
