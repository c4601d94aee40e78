// The dashboard's shell: navigation, the token form for a server started with --token, the routes, and files
// dropped anywhere on the page.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { getToken, onUnauthorized, setToken } from './api.js'
import { DroppedPage, EpisodesPage, openFiles } from './episodes.js'
import { EnvsPage } from './envs.js'
import { RunsPage } from './runs.js'
import { ComparePage } from './compare.js'
import { PlaygroundPage } from './playground.js'
import { GenerationPage, TaskPage, TasksPage } from './tasks.js'
import { EpisodePage } from './trajectory.js'
import { html, navigate, useRoute } from './ui.js'

const NAV: [string, string][] = [['envs', 'Environments'], ['episodes', 'Episodes'], ['tasks', 'Tasks'], ['runs', 'Runs'], ['playground', 'Playground']]

function TokenForm (props: { onDone: () => void }) {
  const [value, setValue] = useState(getToken())
  return html`
    <form class="token" onSubmit=${(e: Event) => { e.preventDefault(); setToken(value); props.onDone() }}>
      <p>This server asks for a token (<code>synthgym serve --token</code>).</p>
      <input type="password" name="token" placeholder="token" value=${value} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} />
      <button type="submit">Use token</button>
    </form>`
}

function App () {
  const route = useRoute()
  const [needToken, setNeedToken] = useState(false)
  const [generation, setGeneration] = useState(0)
  useEffect(() => {
    const f = () => setNeedToken(true)
    onUnauthorized.add(f)
    return () => { onUnauthorized.delete(f) }
  }, [])
  const [view, id] = route.parts
  let page
  switch (view ?? 'envs') {
    case 'envs': page = html`<${EnvsPage} id=${id} />`; break
    case 'episodes': page = id ? html`<${EpisodePage} id=${id} />` : html`<${EpisodesPage} />`; break
    case 'traj': page = html`<${DroppedPage} />`; break
    case 'tasks': page = id ? html`<${TaskPage} id=${id} />` : html`<${TasksPage} />`; break
    case 'generation': page = html`<${GenerationPage} />`; break
    case 'runs': page = html`<${RunsPage} />`; break
    case 'compare': page = html`<${ComparePage} />`; break
    case 'playground': page = html`<${PlaygroundPage} />`; break
    default: page = html`<p class="error">No page <code>${location.pathname}</code>. <a href="/ui/envs">Environments</a></p>`
  }
  const active = view === 'traj' ? 'episodes' : view === 'generation' ? 'tasks' : view === 'compare' ? 'runs' : view ?? 'envs'
  return html`
    <header class="top">
      <a class="brand" href="/ui/envs">synthgym</a>
      <nav>${NAV.map(([k, label]) => html`<a href=${'/ui/' + k} class=${active === k ? 'active' : ''}>${label}</a>`)}</nav>
    </header>
    ${needToken ? html`<${TokenForm} onDone=${() => { setNeedToken(false); setGeneration(g => g + 1) }} />` : null}
    <main key=${generation}>${page}</main>`
}

// links under /ui stay in the page
document.addEventListener('click', e => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
  const a = (e.target as HTMLElement).closest?.('a')
  const href = a?.getAttribute('href')
  if (!a || !href || !href.startsWith('/ui') || a.target) return
  e.preventDefault()
  navigate(href)
  scrollTo(0, 0)
})

// a trajectory (or generation report) dropped anywhere
document.addEventListener('dragover', e => { e.preventDefault(); document.body.classList.add('dragging') })
document.addEventListener('dragleave', e => { if (!e.relatedTarget) document.body.classList.remove('dragging') })
document.addEventListener('drop', e => {
  e.preventDefault()
  document.body.classList.remove('dragging')
  const files = [...(e.dataTransfer?.files ?? [])]
  if (files.length) void openFiles(files)
})

if (location.pathname === '/ui' || location.pathname === '/ui/') navigate('/ui/envs', { replace: true })
render(html`<${App} />`, document.getElementById('app')!)
