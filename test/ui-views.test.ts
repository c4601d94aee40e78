// The dashboard's failure, runs, playground and live-tail views in headless Chromium (Debian's, via playwright-core)
// against a live test server whose episodes ran through the API on a built-in task (real local sandboxes): a failed
// episode shows red with its failing step; two runs compare task by task, with the AUP synthgym aup gives; the
// playground steps an environment; the live output follows its tail unless the reader scrolled up.
import t from 'tap'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { pageHelpers } from './ui-page.js'
import { testServer, http } from './helpers.js'
import { episodesAupInput } from '../clients/aup/episodes.js'
import { aupResult } from '../server/ui/app/aup.js'
// @ts-expect-error: a plain .mjs build script, no types
import { buildUi } from '../server/ui/build.mjs'

const CHROMIUM = '/usr/bin/chromium'
const ROOT = new URL('..', import.meta.url).pathname
const SHOTS = process.env.SYNTHGYM_UI_SHOTS ?? join(ROOT, '.tap', 'screenshots')
const TASK = 'prisonersDilemma'
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium && process.env.CI === 'true') t.fail(`CI=true but ${CHROMIUM} is missing`)

t.test('failures, runs, playground and the live tail in headless Chromium', { skip: haveChromium ? false : `${CHROMIUM} is missing (apt-get install chromium)` }, async t => {
  await buildUi()
  mkdirSync(SHOTS, { recursive: true })
  const s = await testServer()
  t.teardown(() => s.close())
  /** one episode: create, reset, the actions; returns its id */
  const episode = async (actions: (string | Record<string, unknown>)[], body: Record<string, unknown> = {}) => {
    const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK, max_steps: 10, ...body })).body
    const id = (await http(s.url, 'POST', `/v1/envs/${env.env_id}/reset`)).body.episode_id as string
    for (const a of actions) t.equal((await http(s.url, 'POST', `/v1/envs/${env.env_id}/step`, typeof a === 'string' ? { action: a } : a)).status, 200, String(typeof a === 'string' ? a : a.action))
    await http(s.url, 'DELETE', `/v1/envs/${env.env_id}`)
    return id
  }
  // a failed episode: a command that exits 3 (no text says so), then no submission
  const failed = await episode(['echo fine', "python3 -c 'import sys; sys.exit(3)'", 'skip'])
  // two runs of two models, and an ad-hoc episode (no run)
  await episode(['submit'], { model: 'model-a', meta: { run: 'run-a' } })
  await episode(['submit'], { model: 'model-a', meta: { run: 'run-a' } })
  // with the model call behind it, as the agent harness records one
  const call = {
    model: 'model-b', messages: [{ role: 'user', content: 'go' }], completion: { role: 'assistant', content: 'submit' },
    usage: { prompt_tokens: 120, completion_tokens: 8, total_tokens: 128 }, finish_reason: 'stop', latency_ms: 1500, cost: 0.25
  }
  await episode([{ action: 'submit', model: call }], { model: 'model-b', meta: { run: 'run-b' } })
  await episode(['submit'])

  const browser: Browser = await (await import('playwright-core')).chromium.launch({ executablePath: CHROMIUM })
  t.teardown(() => browser.close())
  const page: Page = await browser.newPage({ viewport: { width: 1440, height: 1000 }, acceptDownloads: true })
  const { problems, text, until, shot } = pageHelpers(page, t, SHOTS)

  await t.test('a failed episode shows red, with its failing step', async t => {
    await page.goto(`${s.url}/ui/episodes/${failed}`)
    await until('article.step h3', /^Step 1 \/ 3$/, 'the episode')
    const badge = page.locator('.traj-head [data-outcome]')
    t.equal(await badge.getAttribute('data-outcome'), 'no_submission')
    t.match(await badge.getAttribute('class'), /outcome-bad/, 'red, not a green "finished"')
    t.match(await text('.traj-head dd.failing'), /^#2$/, 'the failing step, by its exit code')
    t.same(await page.locator('ol.step-list li.err').evaluateAll(els => els.map(e => e.getAttribute('data-step'))), ['2'])
    await page.locator('label.kind', { hasText: 'failing only' }).locator('input').check()
    await until('.filters .count', /^1 of 3 steps$/, 'failing only')
    await page.click('ol.step-list li[data-step="2"]')
    await until('article.step h3', /^Step 2 \/ 3$/, 'the failing step')
    t.match(await text('article.step .step-head'), /exit 3/)
    t.equal(await text('article.step dd.exit-code'), '3')
    await shot('failed-episode')
    await page.goto(`${s.url}/ui/episodes`)
    await page.waitForSelector(`table.episodes tr:has(a[href="/ui/episodes/${failed}"]) [data-outcome="no_submission"].outcome-bad`)
    // the filters list what is present, by category, and apply on change
    t.same(await page.locator('select[name=outcome] optgroup').evaluateAll(els => els.map(e => e.getAttribute('label'))).then(x => x.sort()), ['agent', 'no gain'].concat((await http(s.url, 'GET', '/v1/episodes?outcome=improved')).body.episodes.length ? ['success'] : []).sort())
    await page.selectOption('select[name=outcome]', 'no_submission')
    await until('table.episodes tbody', new RegExp(`^${failed}`), 'filtered on change')
    t.equal(await page.locator('table.episodes tbody tr').count(), 1)
  })

  await t.test('runs: listed, their AUP as synthgym aup\'s, compared task by task', async t => {
    const all = (await http(s.url, 'GET', '/v1/episodes')).body.episodes
    const metric = (await http(s.url, 'GET', `/v1/tasks/${TASK}`)).body.metric
    await page.goto(`${s.url}/ui/runs?a=run-a&b=run-b`)
    await until('.runs .filters .count', new RegExp(`^${all.length} episodes$`), 'all loaded')
    t.match(await text('table.run-list tr[data-run="run-a"]'), /^run-a model-a 1 2 /)
    t.match(await text('table.run-list tr[data-run="(ad hoc)"]'), /in no benchmark/)
    for (const run of ['run-a', 'run-b']) {
      const want = aupResult(episodesAupInput(all, () => metric, { runs: [run] })!)
      const m = run === 'run-a' ? 'model-a' : 'model-b'
      t.equal(await text(`table.run-list tr[data-run="${run}"] td.aup-best`), want.best.aup[m]!.toFixed(3), `${run}: the AUP of synthgym aup's function`)
    }
    const overall = aupResult(episodesAupInput(all, () => metric)!)
    t.same(overall.methods, ['baseline', 'model-a', 'model-b'].sort().filter(x => x !== 'baseline').concat('baseline'), 'no ad-hoc method')
    t.equal(await page.locator('section.aup table.aup-table tbody tr').count(), 3, 'model-a, model-b and the baseline: the ad-hoc episode stays out')
    const scoreOf = (run: string) => all.filter((e: any) => e.meta.run === run).map((e: any) => e.score.at(-1)?.[metric.name])
    const row = await text(`table.compare-runs tr[data-task="${TASK}"]`)
    const a = scoreOf('run-a')
    t.match(row, new RegExp(`^${TASK} ${metric.name} [↑↓] ${String(a[0]).slice(0, 4)}`), 'A: mean ± std over its two repeats')
    t.match(row, /\(n 2\) .* \(n 1\)/)
    // per-model totals, read from the steps on request
    await page.click('button.model-totals')
    t.match(await until('table.model-totals tr[data-model="model-b"]', /model-b/, 'the totals'), /^model-b 1 [01] \/ 1 .*1 120 8 \$0\.25 1\.5 s$/)
    // the CSV of the episodes shown
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('button.csv')])
    const csv = readFileSync((await dl.path())!, 'utf8').trim().split('\r\n')
    t.equal(csv[0], 'episode,run,task,model,status,outcome,exit_status,steps,metric,best,last,baseline,created_at')
    t.equal(csv.length, all.length + 1, 'a line per episode')
    t.ok(csv.some(l => l.startsWith(failed + ',,') && l.includes(',no_submission,')), 'the failed ad-hoc episode, its outcome')
    await page.click(`table.compare-runs tr[data-task="${TASK}"] a.side-by-side-link`)
    await page.waitForSelector('table.compare-steps tbody tr')
    t.equal(await page.locator('.side-by-side dl.facts').count(), 2, 'two episodes side by side')
    t.match(await text('.side-by-side dl.facts[data-side="B"]'), /model model-b/)
    await page.goto(`${s.url}/ui/runs?adhoc=1`)
    await page.waitForSelector('section.aup table.aup-table tbody tr')
    await until('section.aup h3', /ad-hoc episodes$/, 'asked for')
    t.equal(await page.locator('section.aup table.aup-table tbody tr').count(), 4, 'asked: the ad-hoc episodes join as a method')
    await shot('runs-compare')
  })

  await t.test('the playground steps an environment', async t => {
    await page.goto(`${s.url}/ui/playground`)
    await page.waitForSelector('pre.tool-docs')
    t.match(await text('pre.tool-docs'), /validate/, 'the tool docs beside')
    await page.selectOption('select[name=task]', TASK)
    await page.click('button.create')
    const env = await until('code.env-id', /^env-/, 'created')
    await page.click('button.reset')
    await page.waitForSelector('code.episode-id')
    await page.fill('textarea[name=action]', 'echo hello from the playground')
    await page.click('form.send button[type=submit]')
    await until('.turn[data-step="1"] pre.observation', /^hello from the playground$/, 'the observation')
    await page.fill('textarea[name=action]', "python3 -c 'import sys; sys.exit(3)'")
    await page.keyboard.press('Control+Enter')
    await until('.turn[data-step="2"] .result', /exit 3/, 'the exit code')
    const steps = (await http(s.url, 'GET', `/v1/envs/${env}/trajectory`)).body.steps
    t.same(steps.map((x: any) => x.exit_code), [0, 3], 'stepped on the server')
    await shot('playground')
    await page.click('button.close')
    await page.waitForSelector('button.create')
    t.equal((await http(s.url, 'GET', `/v1/envs/${env}`)).status, 404, 'closed')
  })

  await t.test('the live output follows its tail unless the reader scrolled up', async t => {
    const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK })).body.env_id
    await http(s.url, 'POST', `/v1/envs/${env}/reset`)
    await page.goto(`${s.url}/ui/envs/${env}`)
    await until('section.live h3', /waiting for a step/, 'watching')
    const pos = () => page.locator('pre.stream').last().evaluate(el => ({ top: el.scrollTop, bottom: el.scrollHeight - el.scrollTop - el.clientHeight, tall: el.scrollHeight > el.clientHeight }))
    const step = http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'seq 1 200; sleep 4; seq 201 400' })
    await until('pre.stream', /\b200$/, 'the first 200 lines')
    const p = await pos()
    t.ok(p.tall && p.bottom < 8, `at the tail (${JSON.stringify(p)})`)
    await page.locator('pre.stream').last().evaluate(el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')) })
    await until('pre.stream', /\b400$/, 'the rest')
    t.equal((await pos()).top, 0, 'scrolled up: left where the reader is')
    await step
    await page.locator('pre.stream').last().evaluate(el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')) })
    const next = http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'seq 1000 1300' })
    await until('section.live .block:last-of-type pre.stream', /\b1300$/, 'a new step')
    await next
    const q = await pos()
    t.ok(q.bottom < 8, `back at the bottom it follows again (${JSON.stringify(q)})`)
    await http(s.url, 'DELETE', `/v1/envs/${env}`)
  })

  t.same(problems, [], 'no console errors or warnings')
})
