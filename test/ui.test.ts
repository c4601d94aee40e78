// The dashboard end to end: the bundle served at /ui by a live test server holding real episodes run through the
// API on built-in tasks (real sandboxes), driven in headless Chromium (Debian's, through playwright-core). Every view
// renders real data; the trajectory viewer pages through a 50-step episode and shows its diff; the live view shows
// a step's output while it runs; a dropped .traj renders (and a trajectory whose steps carry model calls, and a
// generation report); a server with --token asks for it; no console errors. Screenshots of each view go to
// .tap/screenshots (SYNTHGYM_UI_SHOTS to change); SYNTHGYM_UPDATE_DOCS=1 also rewrites docs/dashboard.png.
// Without /usr/bin/chromium the browser tests skip, unless CI=true (then they fail). The server side (the WebSocket
// op watch, the static routes, order=desc, env summaries) is tested here too, browser or not.
import t from 'tap'
import { existsSync, mkdirSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { pageHelpers } from './ui-page.js'
import { testServer, http, tempDir, waitFor, wsSocket } from './helpers.js'
import { startFakeOpenAI } from './fakes/openai.js'
import { fixtureDatasets, startFakeHub } from './fakes/hub.js'
import { IRIS, LANGUAGE, scriptedLlm } from './generate-llm.js'
import { generate } from '../tasks/generate/pipeline.js'
import { defaultStages } from '../tasks/generate/stages.js'
import { hubSettings } from '../tasks/generate/hub.js'
import { materialiseSettings } from '../tasks/generate/materialise.js'
import { LocalSandbox } from '../sandbox/local.js'
import { validateGenerationReport, validateProvenance } from '../env-spec/generation.js'
import { validateEnvList, validateUnwatchResult, validateWatchResult, validateWsFrame } from '../env-spec/messages.js'
import { validateEpisodeBriefPage, validateEpisodePage } from '../env-spec/episode.js'
// @ts-expect-error: a plain .mjs build script, no types
import { buildUi } from '../server/ui/build.mjs'

const CHROMIUM = '/usr/bin/chromium'
const ROOT = new URL('..', import.meta.url).pathname
const SHOTS = process.env.SYNTHGYM_UI_SHOTS ?? join(ROOT, '.tap', 'screenshots')
const TASK = 'prisonersDilemma'
const TICKS = 'for i in 1 2 3; do echo tick$i; sleep 1; done'

await buildUi()

/**
 * A real generation run (scripted LLM, loopback Hub, checks in local sandboxes): one topic kept the first time,
 * one discarded when its baseline crashes. Its OUT/tasks is served beside the built-in tasks.
 */
async function generatedRun (t: Tap.Test): Promise<string> {
  const root = tempDir(t, 'sg-ui-gen-')
  const plans = {
    'language identification of country names': { proposals: [LANGUAGE('language identification of country names', 'countryLanguage')], code: [undefined] },
    'iris species classification': { proposals: [IRIS('iris species classification', 'irisSpecies')], code: ['baseline_crash' as const] }
  }
  const llm = await startFakeOpenAI(scriptedLlm(plans))
  const fakeHub = await startFakeHub({ datasets: fixtureDatasets() })
  t.teardown(async () => { await llm.close(); await fakeHub.close() })
  const topicsFile = join(root, 'topics.txt')
  writeFileSync(topicsFile, Object.keys(plans).join('\n') + '\n')
  const hub = hubSettings({ hubUrl: fakeHub.hubUrl, datasetsServerUrl: fakeHub.datasetsServerUrl, retries: 2, backoffMs: 10, maxBackoffMs: 50 }, {})
  const { seed: _s, ...materialise } = materialiseSettings({ ...hub, cacheDir: join(root, 'cache') }, {})
  const out = join(root, 'run')
  await generate({
    out, topicsFile, concurrency: 1, rounds: 1, proposalAttempts: 2,
    llm: { model: 'fake-model', baseUrl: llm.url, apiKey: 'test', backoffMs: 20, retries: 1 }, progress: () => {}
  }, defaultStages({ hub, materialise, makeSandbox: o => LocalSandbox.create({ ...o, baseDir: join(root, 'sandboxes') }) }))
  return out
}

t.test('WebSocket watch: the output of steps run by anyone, read-only', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body
  const id = env.env_id
  const watcher = await wsSocket(s.url, t)
  const early = await watcher.ask({ id: 'w0', op: 'watch', env_id: id })
  t.equal(early.ok, true, 'an environment not reset yet can be watched')
  t.equal(early.result.episode_id, null)
  await http(s.url, 'POST', `/v1/envs/${id}/reset`)
  const w = await watcher.ask({ id: 'w1', op: 'watch', env_id: id })
  t.doesNotThrow(() => validateWatchResult(w.result, 'watch'))
  t.equal(w.result.running, false)
  t.equal(w.result.output, '')

  // a REST step (no stream of its own) reaches the watcher as it runs, with the watch request's id
  const step = http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'echo one; sleep 1; echo two' })
  let during: any
  for (let i = 0; i < 200 && !during; i++) {
    await new Promise(resolve => setTimeout(resolve, 25))
    if (watcher.frames.some(f => f.type === 'output' && f.data.includes('one'))) {
      // a second watcher that comes in now gets what the running step printed so far
      const late = await wsSocket(s.url, t)
      during = (await late.ask({ id: 'late', op: 'watch', env_id: id })).result
    }
  }
  t.ok(during, 'output came while the step ran')
  t.equal(during.running, true)
  t.match(during.output, /^one/)
  t.notMatch(during.output, /two/)
  const done = await step
  t.equal(done.body.observation, 'one\ntwo')
  // the frames go over the socket, the answer over HTTP: the step's result frame comes after its output frames
  await waitFor('the step result frame', () => watcher.frames.some(f => f.type === 'step_result'))
  const outputs = watcher.frames.filter(f => f.type === 'output')
  t.ok(outputs.length > 0 && outputs.every(f => f.id === 'w1' && f.env_id === id), 'output frames carry the (latest) watch id')
  t.equal(outputs.map(f => f.data).join(''), 'one\ntwo\n')
  const results = watcher.frames.filter(f => f.type === 'step_result')
  t.equal(results.length, 1)
  t.equal(results[0].result.observation, 'one\ntwo')
  for (const f of watcher.frames) t.doesNotThrow(() => validateWsFrame(f, 'frame'))

  // a streamed WebSocket step of another socket reaches it too; its stepper gets its own frames once
  const stepper = await wsSocket(s.url, t)
  const r = await stepper.ask({ id: 'st', op: 'step', env_id: id, action: 'echo three' })
  t.equal(r.result.observation, 'three')
  const own = stepper.frames.filter(f => f.type === 'output')
  t.ok(own.every(f => f.id === 'st'), 'the stepper\'s frames carry its request id')
  t.equal(own.map(f => f.data).join(''), 'three\n', 'once')
  await waitFor('the second step result frame', () => watcher.frames.filter(f => f.type === 'step_result').length >= 2)
  const followed = watcher.frames.filter(f => f.type === 'output').slice(outputs.length)
  t.ok(followed.every(f => f.id === 'w1'))
  t.equal(followed.map(f => f.data).join(''), 'three\n')

  const un = await watcher.ask({ id: 'u', op: 'unwatch', env_id: id })
  t.doesNotThrow(() => validateUnwatchResult(un.result, 'unwatch'))
  const before = watcher.frames.length
  await http(s.url, 'POST', `/v1/envs/${id}/step`, { action: 'echo four' })
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(watcher.frames.length, before, 'nothing after unwatch')
  const missing = await watcher.ask({ id: 'm', op: 'watch', env_id: 'env-nope' })
  t.equal(missing.error.code, 'NOT_FOUND')
  t.equal((await watcher.ask({ id: 'b', op: 'watch' })).error.code, 'VALIDATION_ERROR')
})

t.test('watching is not use: the idle reaper still closes a watched environment', async t => {
  const s = await testServer({ idleTimeout: 1 })
  t.teardown(() => s.close())
  const id = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
  const watcher = await wsSocket(s.url, t)
  const started = Date.now()
  let watched = 0
  let last: any
  for (let i = 0; i < 40; i++) {
    last = await watcher.ask({ id: `w${i}`, op: 'watch', env_id: id })
    if (!last.ok) break
    watched++
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  t.equal(last.error?.code, 'NOT_FOUND', 'reaped although watched every 0.25 s')
  t.ok(watched >= 4 && Date.now() - started > 1000, `watched ${watched} times past the 1 s idle timeout`)
  t.equal((await http(s.url, 'GET', `/v1/envs/${id}`)).status, 404)
})

t.test('env summaries, episodes newest first, the static routes, the token', async t => {
  const s = await testServer({ token: 'sekret' })
  t.teardown(() => s.close())
  const auth = { authorization: 'Bearer sekret' }
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(s.url + path, { method, headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined })
    return { status: res.status, body: await res.json() }
  }
  const env = (await call('POST', '/v1/envs', { task: TASK })).body
  t.match(env, { backend: 'local', gpus: [], running: false })
  const list = (await call('GET', '/v1/envs')).body
  t.doesNotThrow(() => validateEnvList(list, 'envs'))
  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push((await call('POST', `/v1/envs/${env.env_id}/reset`)).body.episode_id)
  const desc = (await call('GET', '/v1/episodes?order=desc&limit=2')).body
  t.doesNotThrow(() => validateEpisodePage(desc, 'episodes'))
  t.same(desc.episodes.map((e: any) => e.id), [ids[2], ids[1]])
  const older = (await call('GET', `/v1/episodes?order=desc&limit=2&cursor=${desc.next_cursor}`)).body
  t.same(older.episodes.map((e: any) => e.id), [ids[0]])
  t.equal(older.next_cursor, null)
  t.same((await call('GET', '/v1/episodes')).body.episodes.map((e: any) => e.id), ids, 'oldest first by default')
  t.equal((await call('GET', '/v1/episodes?order=sideways')).body.error.field, 'query.order')
  const brief = (await call('GET', '/v1/episodes?description=false&order=desc')).body
  t.doesNotThrow(() => validateEpisodeBriefPage(brief, 'episodes'))
  t.same(brief.episodes.map((e: any) => e.id), [...ids].reverse())
  t.ok(brief.episodes.every((e: any) => !('description' in e)), 'briefs: no task prompt')
  const full = (await call('GET', '/v1/episodes?order=desc')).body.episodes
  t.same(brief.episodes, full.map(({ description: _d, ...e }: any) => e), 'and all else the same')
  t.throws(() => validateEpisodePage(brief, 'episodes'), /description/, 'a brief is not an episode')

  // the page and its code need no token (the page sends it to the API); deep links get the page
  for (const path of ['/ui/', '/ui/episodes/ep-0123', '/ui/tasks/prisonersDilemma?tab=x']) {
    const res = await fetch(s.url + path)
    t.equal(res.status, 200, path)
    t.match(res.headers.get('content-type'), /^text\/html/)
    t.match(await res.text(), /<script type="module" src="\/ui\/assets\/app.js">/)
  }
  const js = await fetch(s.url + '/ui/assets/app.js')
  t.match(js.headers.get('content-type'), /^text\/javascript/)
  t.ok((await js.text()).length > 1000)
  t.match((await fetch(s.url + '/ui/assets/style.css')).headers.get('content-type'), /^text\/css/)
  const missing = await fetch(s.url + '/ui/assets/nope.js')
  t.equal(missing.status, 404)
  t.equal((await missing.json()).error.code, 'NOT_FOUND')
  t.equal((await fetch(s.url + '/ui/assets/..%2F..%2Fpackage.json')).status, 404, 'no way out of the bundle')
  const root = await fetch(s.url + '/', { redirect: 'manual' })
  t.equal(root.status, 302)
  t.equal(root.headers.get('location'), '/ui/')
  t.equal((await fetch(s.url + '/v1/envs')).status, 401, 'the API still wants the token')
})

// ---- in the browser ----

const ci = process.env.CI === 'true'
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium && ci) t.fail(`CI=true but ${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`)

t.test('the dashboard in headless Chromium', { skip: haveChromium ? false : `${CHROMIUM} is missing (apt-get install chromium); the browser tests skip` }, async t => {
  const { chromium } = await import('playwright-core')
  mkdirSync(SHOTS, { recursive: true })
  const gen = await generatedRun(t)
  const report = validateGenerationReport(JSON.parse(readFileSync(join(gen, 'report.json'), 'utf8')))
  t.same([report.kept, report.discarded], [1, 1], 'the generation run kept one task and discarded one')
  const s = await testServer({}, { taskDirs: [join(gen, 'tasks')] })
  t.teardown(() => s.close())

  // ---- real episodes through the API ----
  // a 50-step episode: open, an edit, a validate, a file created and edited, shell steps, and the submit at step 50
  const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK, max_steps: 50 })).body
  await http(s.url, 'POST', `/v1/envs/${env.env_id}/reset`)
  const actions = [
    'open "strategy.py"',
    'edit 21:25\n    partner_last = history[-1][1]\n    # tit for tat: copy the partner\'s last move\n    return partner_last\nend_of_edit',
    'validate',
    'create notes.md',
    'insert 1\n# what I tried\n- tit for tat\nend_of_insert',
    'search_file "partner_last" strategy.py'
  ]
  while (actions.length < 49) actions.push(`echo marker-${actions.length + 1}; ls | wc -l`)
  actions.push('submit')
  const results: any[] = []
  for (const [i, action] of actions.entries()) {
    const r = await http(s.url, 'POST', `/v1/envs/${env.env_id}/step`, { action, thought: `step ${i + 1}: ${action.split('\n')[0]}` })
    t.equal(r.status, 200, `step ${i + 1}`)
    results.push(r.body)
  }
  t.equal(results.at(-1).info.exit_status, 'submitted')
  const long = (await http(s.url, 'GET', `/v1/envs/${env.env_id}/trajectory`)).body
  t.equal(long.steps.length, 50)
  const longId: string = long.episode.id
  // a short episode on a second task
  const env2 = (await http(s.url, 'POST', '/v1/envs', { task: 'digitsClassification', max_steps: 10 })).body
  await http(s.url, 'POST', `/v1/envs/${env2.env_id}/reset`)
  for (const action of ['python baseline.py', 'validate', 'submit']) t.equal((await http(s.url, 'POST', `/v1/envs/${env2.env_id}/step`, { action })).status, 200, action)
  const short = (await http(s.url, 'GET', `/v1/envs/${env2.env_id}/trajectory`)).body
  await http(s.url, 'DELETE', `/v1/envs/${env.env_id}`)
  await http(s.url, 'DELETE', `/v1/envs/${env2.env_id}`)

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM })
  t.teardown(() => browser.close())
  const page: Page = await browser.newPage({ viewport: { width: 1440, height: 1000 } })
  const { problems, text, until, shot } = pageHelpers(page, t, SHOTS)

  await t.test('Environments: the live list, a running step\'s output, close', async t => {
    const live = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body
    await http(s.url, 'POST', `/v1/envs/${live.env_id}/reset`)
    await page.goto(`${s.url}/ui/envs/${live.env_id}`)
    await until(`tr[data-env="${live.env_id}"]`, new RegExp(`${live.env_id} ${TASK} local 0 / 50 idle`), 'the env row')
    await until('section.live h3', /waiting for a step/, 'the watch began')
    let finished = false
    const step = http(s.url, 'POST', `/v1/envs/${live.env_id}/step`, { action: TICKS }).then(r => { finished = true; return r })
    await until('pre.stream', /tick1/, 'the first tick')
    t.equal(finished, false, 'tick1 is on the page while the step still runs')
    await until(`tr[data-env="${live.env_id}"]`, /running/, 'the list says running')
    await until('pre.stream', /tick2/, 'the second tick')
    await shot('environments')
    t.equal(finished, false, 'tick2 too')
    const r = await step
    t.equal(r.body.observation, 'tick1\ntick2\ntick3')
    await until('.block .result', /step 1 done/, 'the step result')
    t.match(await text('pre.stream'), /tick1 tick2 tick3/)
    await until(`tr[data-env="${live.env_id}"]`, /1 \/ 50 idle/, 'the list caught up')
    await page.click(`tr[data-env="${live.env_id}"] button.close`)
    await until(`tr[data-env="${live.env_id}"] button.close`, /Really close\?/, 'armed')
    t.equal((await http(s.url, 'GET', `/v1/envs/${live.env_id}`)).status, 200, 'one click closes nothing')
    await page.click(`tr[data-env="${live.env_id}"] button.close`)
    await page.waitForSelector(`tr[data-env="${live.env_id}"]`, { state: 'detached' })
    t.equal((await http(s.url, 'GET', `/v1/envs/${live.env_id}`)).status, 404, 'closed on the server')
  })

  await t.test('Trajectory viewer: 50 steps, jumps, search, filters, the diff, deep links', async t => {
    await page.goto(`${s.url}/ui/episodes/${longId}`)
    await until('article.step h3', /^Step 1 \/ 50$/, 'the first step')
    t.match(await text('.traj-head'), new RegExp(`task ${TASK}.*exit submitted.*steps 50`))
    t.match(await text('article.step pre.action'), /^open "strategy.py"$/)
    t.match(await text('article.step pre.thought'), /^step 1: open "strategy.py"$/)
    t.match(await text('article.step dl.facts'), /open file strategy.py directory \/home\/agent\/workspace/)
    for (let n = 2; n <= 50; n++) {
      await page.click('article.step button.next')
      await until('article.step h3', new RegExp(`^Step ${n} / 50$`), `step ${n}`)
      t.equal(await text('article.step pre.action'), actions[n - 1]!.replace(/\s+/g, ' ').trim(), `step ${n}'s action`)
    }
    t.equal(await page.locator('article.step button.next').isDisabled(), true, 'no step after the last')
    t.match(await text('article.step'), /submit/)
    t.match(await text('article.step .step-score'), new RegExp(`Score ${String(long.episode.score.at(-1).Score).slice(0, 5)}`), 'the submission\'s score')
    await page.keyboard.press('ArrowLeft')
    await until('article.step h3', /^Step 49 \/ 50$/, 'back with the arrow key')

    // jumps to the evaluations
    const jumps = await page.locator('.jumps button').allTextContents()
    t.same(jumps.map(j => j.replace(/\s+/g, ' ').trim().split(' ')[0]), ['#3', '#50'])
    await page.click('.jumps button[data-step="3"]')
    await until('article.step h3', /^Step 3 \/ 50$/, 'the validate')
    const validated = long.episode.score[0].Score
    t.match(await text('article.step .step-score'), new RegExp(`Score ${String(validated).slice(0, 5)}`))
    await shot('trajectory')

    // search and filters
    await page.fill('input[name=q]', 'marker-17;')
    await until('.filters .count', /^1 of 50 steps$/, 'one step matches')
    t.same(await page.locator('ol.step-list li').evaluateAll(els => els.map(e => e.getAttribute('data-step'))), ['17'])
    await page.click('ol.step-list li[data-step="17"]')
    await until('article.step h3', /^Step 17 \/ 50$/, 'picked from the list')
    await page.fill('input[name=q]', '')
    await until('.filters .count', /^50 of 50 steps$/, 'search cleared')
    for (const k of ['view', 'search', 'python', 'bash', 'validate', 'submit', 'autosubmit', 'exit']) await page.locator('label.kind', { hasText: new RegExp(`^\\s*${k}\\s*$`) }).locator('input').uncheck()
    await until('.filters .count', /^3 of 50 steps$/, 'edits only')
    t.same(await page.locator('ol.step-list li').evaluateAll(els => els.map(e => e.getAttribute('data-step'))), ['2', '4', '5'])

    // the diff of the edited files
    await page.click('nav.tabs a[data-tab="diff"]')
    await page.waitForSelector('section.file-diff')
    const files = await page.locator('section.file-diff').evaluateAll(els => els.map(e => e.getAttribute('data-path')))
    t.same(files, ['strategy.py', 'notes.md'])
    const strategy = await text('section.file-diff[data-path="strategy.py"]')
    t.match(strategy, /\+ # tit for tat: copy the partner's last move/)
    t.match(strategy, /- if random.random\(\) < 0.6:/)
    t.match(await text('section.file-diff[data-path="notes.md"] h4'), /added\s*\+3 −0 steps 4, 5/)
    await shot('trajectory-diff')

    // deep links survive a reload
    await page.goto(`${s.url}/ui/episodes/${longId}?step=12`)
    await until('article.step h3', /^Step 12 \/ 50$/, 'a deep link to step 12')
    await page.reload()
    await until('article.step h3', /^Step 12 \/ 50$/, 'after a reload')
  })

  await t.test('Episodes list and a dropped .traj file', async t => {
    await page.goto(`${s.url}/ui/episodes`)
    await page.waitForSelector('table.episodes tbody tr')
    const rows = (await page.locator('table.episodes tbody tr td:first-child').allTextContents()).map(r => r.trim())
    const newest = (await http(s.url, 'GET', '/v1/episodes?order=desc')).body.episodes.map((e: any) => e.id)
    t.same(rows, newest, 'newest first, as the API pages them')
    t.ok(rows.indexOf(short.episode.id) < rows.indexOf(longId))
    t.match(await text(`table.episodes tbody tr:nth-child(${rows.indexOf(longId) + 1})`), new RegExp(`${TASK} .*(not_)?improved submitted 50`))
    t.match(await text('p.drop-hint'), /, or pick one\.$/, 'a space before "pick one"')
    await shot('episodes')
    // MLGym's .traj and results.json of the long episode, as `synthgym run` would write them, dropped together
    const dt = await page.evaluateHandle(({ traj, results }) => {
      const d = new DataTransfer()
      d.items.add(new File([traj], `${'prisonersDilemma'}.traj`, { type: 'application/json' }))
      d.items.add(new File([results], 'results.json', { type: 'application/json' }))
      return d
    }, { traj: JSON.stringify(long.traj), results: JSON.stringify(long.results) })
    await page.dispatchEvent('main', 'drop', { dataTransfer: dt })
    await until('.traj-head h2', /^File prisonersDilemma.traj$/, 'the dropped file')
    t.equal(new URL(page.url()).pathname, '/ui/traj')
    t.match(await text('.traj-head'), new RegExp(`baseline Score ${long.results.baseline.Score}`))
    await until('article.step h3', /^Step 1 \/ 50$/, 'its first step')
    t.match(await text('article.step pre.action'), /^open "strategy.py"$/)
    await page.click('.jumps button[data-step="3"]')
    await until('article.step h3', /^Step 3 \/ 50$/, 'its validate')
    await page.click('nav.tabs a[data-tab="diff"]')
    t.same(await page.locator('section.file-diff').evaluateAll(els => els.map(e => e.getAttribute('data-path'))), ['strategy.py', 'notes.md'], 'the same diff from the file')
    await shot('dropped-traj')
    // a trajectory whose steps carry the model call behind them, as the agent harness records it (messages,
    // completion, usage, finish reason, latency, token ids): shown with each step and summed in the header
    const withModel = {
      ...long,
      steps: long.steps.map((st: any, i: number) => ({
        ...st,
        model: {
          model: 'qwen3-8b', messages: [{ role: 'system', content: 'you are an agent' }, { role: 'user', content: `observation ${i}` }],
          completion: { role: 'assistant', content: st.response }, usage: { prompt_tokens: 1000 + i, completion_tokens: 50 },
          finish_reason: 'stop', latency_ms: 800 + i, prompt_token_ids: Array.from({ length: 1000 + i }, (_, k) => k), completion_token_ids: Array.from({ length: 50 }, (_, k) => k)
        }
      }))
    }
    const prompts = withModel.steps.reduce((a: number, st: any) => a + st.model.usage.prompt_tokens, 0)
    const latency = withModel.steps.reduce((a: number, st: any) => a + st.model.latency_ms, 0)
    const modelDt = await page.evaluateHandle(text => { const d = new DataTransfer(); d.items.add(new File([text], 'episode.json')); return d }, JSON.stringify(withModel))
    await page.dispatchEvent('main', 'drop', { dataTransfer: modelDt })
    await until('.traj-head h2', /^File episode.json$/, 'the trajectory with model calls')
    t.match(await text('.traj-head'), new RegExp(`model qwen3-8b .*model calls 50 · ${prompts} prompt \\+ ${50 * 50} completion tokens · ${(latency / 1000).toFixed(1)} s`))
    await page.click('.jumps button[data-step="3"]')
    await until('.model-call', /tokens 1002 prompt \+ 50 completion = 1052 latency 802 ms finish stop token ids 1002 prompt, 50 completion/, 'the model call of step 3')
    await page.click('.model-call summary')
    t.match(await text('.model-call details'), /Messages sent \(2\) system you are an agent user observation 2/)
    await shot('dropped-with-model')
    // the generation run's report.json, dropped (as one from another machine would be)
    const reportDt = await page.evaluateHandle(text => { const d = new DataTransfer(); d.items.add(new File([text], 'report.json')); return d }, JSON.stringify(report))
    await page.dispatchEvent('main', 'drop', { dataTransfer: reportDt })
    await until('section.generation article.report.dropped h3', /^Generation report dropped report.json$/, 'the dropped report')
    t.match(await text('section.generation article.report.dropped table.reasons'), /checks baseline_runs 1/)
    // a file that is no trajectory says so
    const bad = await page.evaluateHandle(() => { const d = new DataTransfer(); d.items.add(new File(['{"hello": 1}'], 'x.json')); return d })
    await page.dispatchEvent('main', 'drop', { dataTransfer: bad })
    await until('.error', /not an MLGym \.traj/, 'the reason')
  })

  await t.test('Tasks: the list, one task with its files and baseline, a deep link', async t => {
    const api = (await http(s.url, 'GET', '/v1/tasks')).body.tasks
    await page.goto(`${s.url}/ui/tasks`)
    await page.waitForSelector('table.tasks')
    const listed = await page.locator('table.tasks tbody tr td:first-child').allTextContents()
    t.same(listed.map(x => x.trim()).sort(), api.map((x: any) => x.id).sort())
    await shot('tasks')
    const detail = (await http(s.url, 'GET', `/v1/tasks/${TASK}`)).body
    await page.goto(`${s.url}/ui/tasks/${TASK}`)
    await until('section.task h2', new RegExp(`Task ${TASK} ${detail.name}`), 'the task page')
    await page.reload()
    await until('section.task h2', new RegExp(`Task ${TASK} ${detail.name}`), 'the task page after a reload')
    t.match(await text('section.task dl.facts'), new RegExp(`baseline Score ${detail.baseline.Score}`))
    t.match(await text('table.files'), /starter code target.py evaluate.py strategy.py/)
    t.match(await text('pre.prompt'), /Iterated Prisoner's Dilemma/)
    await shot('task')
  })

  await t.test('Tasks: a generated task\'s provenance and its run\'s report, from the API', async t => {
    const prov = validateProvenance(JSON.parse(readFileSync(join(gen, 'tasks', 'countryLanguage', 'provenance.json'), 'utf8')))
    await page.goto(`${s.url}/ui/tasks`)
    await page.waitForSelector('table.tasks[data-group="generated"]')
    const generated = await page.locator('table.tasks[data-group="generated"] tbody tr td:first-child').allTextContents()
    t.same(generated.map(x => x.trim()).sort(), ['countryLanguage', 'countryLanguageMicro'])
    await page.goto(`${s.url}/ui/tasks/countryLanguage`)
    await until('section.provenance dl.facts', new RegExp(`topic ${prov.topic.topic}`), 'the provenance')
    const facts = await text('section.provenance dl.facts')
    t.match(facts, new RegExp(`dataset ${prov.dataset.id} config ${prov.dataset.config}`))
    t.match(facts, new RegExp(`revision ${prov.dataset.revision}`))
    t.match(facts, /rounds 1 \(kept first time\)/)
    t.match(facts, /variant full \(the other: countryLanguageMicro\)/)
    const checks = await page.locator('section.provenance table.checks tbody tr').allTextContents()
    t.equal(checks.length, prov.checks.length, 'every check of the last round')
    checks.forEach((c, i) => t.match(c, new RegExp(`^${prov.checks[i]!.name}passed`), prov.checks[i]!.name))
    await shot('task-generated')
    await page.goto(`${s.url}/ui/generation`)
    const served = 'section.generation article.report.served'
    await until(`${served} h3`, new RegExp(`^Generation report ${gen}$`), 'the run\'s report from the API')
    const stages = await page.locator(`${served} table.stages tbody tr`).allTextContents()
    t.same(stages, report.stages.map(x => `${x.stage}${x.entered}${x.passed}${x.entered ? Math.round(100 * x.passed / x.entered) + '%' : '—'}`))
    t.match(await text(`${served} table.reasons`), /checks baseline_runs 1 after 1 rounds?: baseline_runs/)
    t.match(await text(`${served} dl.facts`), /topics 2: kept 1 \(50%\), discarded 1, errors 0/)
    await shot('generation')
  })

  await t.test('Runs: scores against the baseline, score over steps, AUP', async t => {
    await page.goto(`${s.url}/ui/runs`)
    const all = (await http(s.url, 'GET', '/v1/episodes')).body.episodes
    await until('.runs .filters .count', new RegExp(`^${all.length} episodes$`), 'all episodes loaded')
    const row = await text(`table.scores tr[data-task="${TASK}"]`)
    const mine = all.filter((e: any) => e.task_id === TASK)
    const best = Math.max(...long.episode.score.map((x: any) => x.Score))
    const count = (f: (e: any) => boolean) => mine.filter(f).length
    t.match(row, new RegExp(`^${TASK} Score ↑ ${long.episode.baseline.Score} \\(model not recorded\\) ${mine.length} ${count(e => e.outcome === 'improved' || e.outcome === 'not_improved')} ${String(best).slice(0, 5)}`))
    t.match(await text('table.scores tr[data-task="digitsClassification"]'), new RegExp(`accuracy ↑ ${String(short.episode.baseline.accuracy).slice(0, 5)}`))
    await page.waitForSelector(`.plot-card[data-task="${TASK}"] svg g.series path`, { state: 'attached' })
    // one line for the one scored episode, through its two evaluations (steps 3 and 50)
    const d = await page.locator(`.plot-card[data-task="${TASK}"] svg g.series path`).getAttribute('d')
    t.match(d, /^M[\d.]+,[\d.]+L[\d.]+,[\d.]+$/)
    t.equal(await page.locator(`.plot-card[data-task="${TASK}"] svg g.baseline line`).count(), 1)
    await page.waitForSelector('.plot-card[data-task="digitsClassification"] svg g.series', { state: 'attached' })
    await until('section.aup', /No finished episode to rank/, 'episodes of no run are in no benchmark')
    await page.click('input[name=adhoc]')
    await page.waitForSelector('section.aup[data-aup-source="dashboard"] table.aup-table')
    t.equal(await page.locator('section.aup[data-aup-source="dashboard"] table.aup-table tbody tr').count(), 2, 'asked for: the recorded model and the baseline')
    t.equal(await page.locator('section.aup svg g.series').count(), 4, 'two profiles of two methods')
    await shot('runs')
  })

  await t.test('a server with --token: the page asks for it once', async t => {
    const locked = await testServer({ token: 'sekret' })
    t.teardown(() => locked.close())
    const p = await browser.newPage()
    t.teardown(() => p.close())
    await p.goto(`${locked.url}/ui/tasks`)
    await p.waitForSelector('form.token')
    await p.fill('form.token input[name=token]', 'sekret')
    await p.click('form.token button')
    await p.waitForSelector('table.tasks')
    t.equal(await p.locator('form.token').count(), 0)
    await p.goto(`${locked.url}/ui/envs`)
    await p.waitForSelector('table.envs')
    t.equal(await p.locator('form.token').count(), 0, 'kept for the next pages')
  })

  t.same(problems, [], 'no console errors or warnings, no failed requests')
  if (process.env.SYNTHGYM_UPDATE_DOCS === '1') copyFileSync(join(SHOTS, 'trajectory.png'), join(ROOT, 'docs', 'dashboard.png'))
})
