// Live environments: the list (polled), the streamed output of the step running in one (WebSocket `watch`, read-only:
// whoever runs the steps), and a button to close one.
import { useEffect, useRef, useState } from 'preact/hooks'
import type { EnvList, EnvSummary, Health, WatchResult } from '../../../env-spec/messages.js'
import type { StepResult } from '../../../env-spec/episode.js'
import { api, get, watchEnv } from './api.js'
import { Badge, ErrorBox, Loading, age, fmtMetrics, html, navigate } from './ui.js'

const POLL_MS = 1500

function stateOf (e: EnvSummary): { kind: string, label: string } {
  if (e.running) return { kind: 'running', label: 'running' }
  if (e.done) return { kind: 'finished', label: `done (${e.exit_status ?? '?'})` }
  if (!e.episode_id) return { kind: 'idle', label: 'not reset' }
  return { kind: 'idle', label: 'idle' }
}

export function EnvsPage (props: { id?: string }) {
  const [list, setList] = useState<EnvSummary[] | null>(null)
  const [health, setHealth] = useState<Health | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    let live = true
    let timer: ReturnType<typeof setTimeout>
    const poll = async () => {
      try {
        const r = await get<EnvList>('/envs')
        if (!live) return
        setList(r.envs)
        setError(null)
      } catch (e) { if (live) setError(e) }
      if (live) { setNow(Date.now()); timer = setTimeout(poll, POLL_MS) }
    }
    void poll()
    get<Health>('/health').then(h => { if (live) setHealth(h) }, () => {})
    return () => { live = false; clearTimeout(timer) }
  }, [])
  const selected = props.id ? list?.find(e => e.env_id === props.id) : undefined
  return html`
    <section>
      <h2>Environments</h2>
      ${health ? html`<p class="muted">${health.envs.open} open of ${health.envs.capacity} · default backend ${health.default_backend} ·
        GPUs ${health.gpus.available ? 'available' : `none (${health.gpus.reason ?? 'not found'})`} · server ${health.version}</p>` : null}
      ${error ? html`<${ErrorBox} error=${error} />` : null}
      ${!list ? html`<${Loading} what="environments" />` : html`
        <table class="list envs">
          <thead><tr><th>environment</th><th>task</th><th>backend</th><th>step</th><th>state</th><th>GPU</th><th>age</th><th>episode</th><th>score</th><th></th></tr></thead>
          <tbody>
            ${list.map(e => {
              const st = stateOf(e)
              return html`
                <tr key=${e.env_id} class=${e.env_id === props.id ? 'active' : ''} data-env=${e.env_id}>
                  <td><a href=${'/ui/envs/' + e.env_id}><code>${e.env_id}</code></a></td>
                  <td><a href=${'/ui/tasks/' + encodeURIComponent(e.task)}>${e.task}</a></td>
                  <td>${e.backend}</td>
                  <td class="num">${e.current_step} / ${e.max_steps}</td>
                  <td><${Badge} kind=${st.kind}>${st.label}</${Badge}></td>
                  <td>${e.gpus.length ? e.gpus.join(', ') : '—'}</td>
                  <td>${age(e.created_at, now)}</td>
                  <td>${e.episode_id ? html`<a href=${'/ui/episodes/' + e.episode_id}><code>${e.episode_id}</code></a>` : '—'}</td>
                  <td class="score">${fmtMetrics(e.score.at(-1))}</td>
                  <td><${CloseButton} id=${e.env_id} onClosed=${() => { setList(l => l?.filter(x => x.env_id !== e.env_id) ?? null); if (props.id === e.env_id) navigate('/ui/envs') }} /></td>
                </tr>`
            })}
            ${list.length === 0 ? html`<tr><td colspan="10" class="muted">No environment is open. Agents create them with POST /v1/envs (or the WebSocket op create).</td></tr>` : null}
          </tbody>
        </table>`}
      ${props.id ? (list && !selected
        ? html`<p class="muted">Environment <code>${props.id}</code> is not open (closed, reaped, or never created).</p>`
        : html`<${LiveOutput} key=${props.id} id=${props.id} />`) : list?.length ? html`<p class="muted">Pick an environment to follow its output.</p>` : null}
    </section>`
}

/** Two clicks: the first arms it for a few seconds, so that a stray click does not end an episode. */
function CloseButton (props: { id: string, onClosed: () => void }) {
  const [armed, setArmed] = useState(false)
  const [err, setErr] = useState<string | null>(null)
  useEffect(() => {
    if (!armed) return
    const t = setTimeout(() => setArmed(false), 4000)
    return () => clearTimeout(t)
  }, [armed])
  const click = async () => {
    if (!armed) { setArmed(true); return }
    try { await api('DELETE', `/envs/${props.id}`); props.onClosed() } catch (e) { setErr((e as Error).message); setArmed(false) }
  }
  return html`<button class=${'close' + (armed ? ' armed' : '')} onClick=${click} title=${err ?? 'close this environment (its episode is abandoned unless finished)'}>${armed ? 'Really close?' : 'Close'}</button>`
}

interface Block { output: string, result: StepResult | null }

function LiveOutput (props: { id: string }) {
  const [state, setState] = useState<WatchResult | null>(null)
  const [blocks, setBlocks] = useState<Block[]>([])
  const [error, setError] = useState<string | null>(null)
  const pre = useRef<HTMLPreElement>(null)
  useEffect(() => watchEnv(props.id, {
    onState: s => {
      setState(s)
      // what the running step printed before we came
      setBlocks(s.running ? [{ output: s.output, result: null }] : [])
    },
    onOutput: data => setBlocks(bs => {
      const last = bs.at(-1)
      if (last && !last.result) return [...bs.slice(0, -1), { ...last, output: last.output + data }]
      return [...bs, { output: data, result: null }].slice(-20)
    }),
    onResult: r => setBlocks(bs => {
      const last = bs.at(-1)
      if (last && !last.result) return [...bs.slice(0, -1), { ...last, result: r }]
      return [...bs, { output: '', result: r }].slice(-20)
    }),
    onError: setError
  }), [props.id])
  // follow the tail (the box scrolls inside itself) unless the reader scrolled up; back at the bottom, follow again
  const follow = useRef(true)
  useEffect(() => {
    const el = pre.current
    if (el && follow.current) el.scrollTop = el.scrollHeight
  }, [blocks])
  const onScroll = (e: Event) => {
    const el = e.target as HTMLElement
    follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 8
  }
  const running = blocks.length > 0 && !blocks.at(-1)!.result
  return html`
    <section class="live">
      <h3>Output of <code>${props.id}</code> ${running ? html`<${Badge} kind="running">step running</${Badge}>` : html`<${Badge} kind="idle">waiting for a step</${Badge}>`}</h3>
      ${error ? html`<div class="error">${error}</div>` : null}
      ${state?.last_step && !blocks.length ? html`<div class="last-step"><h4>Last step (${state.current_step})</h4><pre class="action">${state.last_step.action}</pre><pre class="observation">${state.last_step.observation}</pre></div>` : null}
      ${blocks.map((b, i) => html`
        <div class="block" key=${i}>
          <pre class="stream" ref=${i === blocks.length - 1 ? pre : null} onScroll=${i === blocks.length - 1 ? onScroll : null}>${b.output || (b.result ? '' : '…')}</pre>
          ${b.result ? html`<div class="result muted">step ${b.result.info.current_step} done · reward ${b.result.reward}${b.result.terminated ? ' · terminated' : ''}${b.result.truncated ? ' · truncated' : ''}${b.result.info.metrics ? ' · ' + fmtMetrics(b.result.info.metrics) : ''}</div>` : null}
        </div>`)}
    </section>`
}
