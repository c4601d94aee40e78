// `synthgym run` as a user runs it (the CLI in a child process) against a real server and a scripted model: MLGym's
// run layout (names, .traj, results.json, args.yaml, logs), the server's own copy, progress, resume after a kill
// without redoing finished episodes, and the ways of naming tasks (--tasks, --tasks-dir, --suite mlgym) and their errors.
import t from 'tap'
import { spawn } from 'node:child_process'
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { tempDir, testServer } from './helpers.js'
import { startFakeOpenAI, type ChatRequest } from './fakes/openai.js'
import { SynthgymClient } from '../clients/client.js'
import { resolveTasks, runDirName } from '../clients/runs.js'
import { validateMlgymResults, validateMlgymTraj } from '../env-spec/trajectory.js'
import { validateRunMetaFile } from '../env-spec/run-dir.js'
import { runOf } from '../server/ui/app/traj-model.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const TASK = 'prisonersDilemma'
const MODEL = 'org/m:1'

/** `synthgym run ...` from the sources; resolves with its exit code and output (the server answers from this process). */
function cli (args: string[], opts: { onSpawn?: (kill: () => void) => void } = {}): Promise<{ code: number | null, signal: string | null, out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'cli.ts'), 'run', ...args], {
      cwd: ROOT, env: { ...process.env, OPENAI_API_KEY: 'sk-test-secret' }, stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    p.stdout.on('data', (d: Buffer) => { out += d.toString() })
    p.stderr.on('data', (d: Buffer) => { out += d.toString() })
    p.on('error', reject)
    p.on('close', (code, signal) => resolve({ code, signal, out }))
    opts.onSpawn?.(() => p.kill('SIGKILL'))
  })
}

/** A model that validates once, then submits: two calls per episode. */
function validateThenSubmit (req: ChatRequest) {
  const answered = req.messages.filter(m => m.role === 'assistant').length
  return { content: `DISCUSSION\nstep ${answered}\n\`\`\`\n${answered === 0 ? 'validate' : 'submit'}\n\`\`\`` }
}

const server = await testServer()
t.teardown(() => server.close())
const client = new SynthgymClient(server.url)

t.test('synthgym run writes MLGym\'s layout, one directory per episode, and the server keeps its own copy', async t => {
  const fake = await startFakeOpenAI(req => validateThenSubmit(req))
  t.teardown(() => fake.close())
  const out = tempDir(t, 'sg-run-')
  const r = await cli(['--url', server.url, '--tasks', TASK, '--model', MODEL, '--base-url', fake.url, '--runs-per-task', '3',
    '--concurrency', '2', '--out', out, '--max-steps', '5', '--temperature', '0.5'])
  t.equal(r.code, 0, r.out)
  t.match(r.out, /3\/3 done · 0 running · 0 failed · 6 steps · [\d.]+k? tokens · \$0\.00 · \dm\d\ds/)
  t.equal(fake.requests.length, 6)
  const names = readdirSync(out).sort()
  t.strictSame(names, [0, 1, 2].map(i => `org-m-1__${TASK}__default__t-0.50__p-0.95__c-4.00__install-0__parallel_agents_run_${i}`))
  t.equal(names[0], runDirName({ model: MODEL, temperature: 0.5, topP: 0.95, costLimit: 4 }, TASK, 0))
  const episodeIds = new Set<string>()
  for (const name of names) {
    const dir = join(out, name)
    const files = readdirSync(dir).sort()
    t.ok(files.includes(`${TASK}.traj`) && files.includes('results.json') && files.includes('args.yaml') && files.includes('synthgym.json'), `${name}: ${files}`)
    t.ok(files.some(f => /^run-\d{12}\.log$/.test(f)), 'MLGym\'s run-<yymmddHHMMSS>.log')
    const traj = validateMlgymTraj(JSON.parse(readFileSync(join(dir, `${TASK}.traj`), 'utf8')))
    const results = validateMlgymResults(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')))
    t.equal(traj.info.exit_status, 'submitted')
    t.strictSame(traj.trajectory.map(s => s.action), ['validate', 'submit'])
    t.equal(results.agent.length, 2)
    t.strictSame(results.agent, traj.info.score)
    // the episode in the server's store is the same episode
    const { episode_id: id } = JSON.parse(readFileSync(join(dir, 'episode.json'), 'utf8'))
    episodeIds.add(id)
    const stored = await client.episode(id)
    t.strictSame(stored.results, results, 'the server\'s results.json is the run\'s')
    t.equal(stored.episode.model, MODEL)
    // one name for the run: synthgym.json's `run` is the stored episode's meta.run, which the dashboard groups by
    const run = validateRunMetaFile(JSON.parse(readFileSync(join(dir, 'synthgym.json'), 'utf8'))).run
    t.strictSame(run, {
      name: basename(out), dir: name, index: names.indexOf(name), task: TASK, model: MODEL,
      metric: { name: 'Score', direction: 'maximize' }, mode: 'thought_action', tool_profile: 'mlgym'
    })
    t.strictSame(stored.episode.meta.run, run)
    t.equal(runOf(stored.episode), basename(out), 'the Runs page lists the run')
    t.equal(stored.steps[0].model?.sampling?.temperature, 0.5)
    const args = readFileSync(join(dir, 'args.yaml'), 'utf8')
    t.notMatch(args, /sk-test-secret/, 'the API key is never written')
    t.equal(parseYaml(args).agent.model, MODEL)
  }
  t.equal(episodeIds.size, 3)
})

t.test('a killed run resumes: finished episodes are kept, the rest start over', async t => {
  // slow answers, one episode at a time: the kill lands in the middle of an episode
  const fake = await startFakeOpenAI(req => ({ ...validateThenSubmit(req), delayMs: 250 }))
  t.teardown(() => fake.close())
  const out = tempDir(t, 'sg-resume-')
  const args = ['--url', server.url, '--tasks', TASK, '--model', MODEL, '--base-url', fake.url, '--runs-per-task', '3', '--concurrency', '1', '--out', out]
  const dirs = [0, 1, 2].map(i => join(out, runDirName({ model: MODEL, temperature: 0, topP: 0.95, costLimit: 4 }, TASK, i)))
  const killed = await cli(args, {
    onSpawn: kill => {
      const watch = setInterval(() => {
        // run 0 finished and run 1 under way (its .traj written after its first step)
        if (existsSync(join(dirs[0], 'results.json')) && existsSync(join(dirs[1], `${TASK}.traj`))) { clearInterval(watch); kill() }
      }, 20)
    }
  })
  t.equal(killed.signal, 'SIGKILL')
  t.ok(existsSync(join(dirs[0], 'results.json')))
  t.notOk(existsSync(join(dirs[1], 'results.json')), 'run 1 was cut off')
  const kept = readFileSync(join(dirs[0], 'results.json'), 'utf8')
  const keptEpisode = readFileSync(join(dirs[0], 'episode.json'), 'utf8')
  const cutEpisode = JSON.parse(readFileSync(join(dirs[1], 'episode.json'), 'utf8')).episode_id
  const before = fake.requests.length

  const again = await cli(args)
  t.equal(again.code, 0, again.out)
  t.match(again.out, /3\/3 done \(1 resumed\)/)
  t.equal(fake.requests.length - before, 4, 'two episodes of two calls: run 0 was not redone')
  t.equal(readFileSync(join(dirs[0], 'results.json'), 'utf8'), kept, 'the finished run is untouched')
  t.equal(readFileSync(join(dirs[0], 'episode.json'), 'utf8'), keptEpisode)
  for (const d of dirs) t.ok(existsSync(join(d, 'results.json')))
  const redone = JSON.parse(readFileSync(join(dirs[1], 'episode.json'), 'utf8')).episode_id
  t.not(redone, cutEpisode, 'the cut-off run started over in a new episode')
  t.equal(JSON.parse(readFileSync(join(dirs[1], `${TASK}.traj`), 'utf8')).trajectory.length, 2, 'its .traj is the new episode\'s alone')

  const third = await cli(args)
  t.equal(third.code, 0)
  t.match(third.out, /3\/3 done \(3 resumed\)/)
  t.equal(fake.requests.length - before, 4, 'nothing left to do')
})

t.test('naming tasks: --tasks-dir reads task ids, --suite mlgym takes the imported MLGym-Bench tasks; clear errors', async t => {
  const dir = tempDir(t, 'sg-taskdir-')
  mkdirSync(join(dir, 'a'))
  writeFileSync(join(dir, 'a', 'task.yaml'), `id: ${TASK}\nname: x\n`)
  mkdirSync(join(dir, 'b'))
  writeFileSync(join(dir, 'b', 'task.yaml'), 'id: notServedHere\nname: y\n')
  await t.rejects(resolveTasks(client, { tasksDir: dir }), /does not serve notServedHere: start it with `synthgym serve --tasks-dir /)
  writeFileSync(join(dir, 'b', 'task.yaml'), 'id: digitsClassification\nname: y\n')
  t.strictSame(await resolveTasks(client, { tasksDir: dir }), [TASK, 'digitsClassification'])
  t.strictSame(await resolveTasks(client, { tasksDir: join(dir, 'a') }), [TASK], 'a task directory itself')
  await t.rejects(resolveTasks(client, { tasks: ['nope'] }), /does not serve nope/)
  await t.rejects(resolveTasks(client, { tasks: [TASK], suite: 'mlgym' }), /one way/)
  await t.rejects(resolveTasks(client, { suite: 'mlgym' }), /serves no MLGym tasks: import a checkout/)

  // an MLGym checkout whose task has a MLGym-Bench id (so MLGym's priority metric): the suite
  const checkout = tempDir(t, 'sg-mlgym-')
  cpSync(join(ROOT, 'test', 'fixtures', 'mlgym'), checkout, { recursive: true })
  const yaml = join(checkout, 'configs', 'tasks', 'stagHunt.yaml')
  writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/^id: stagHunt$/m, 'id: battleOfSexes'))
  const s2 = await testServer({}, { mlgym: [checkout] })
  t.teardown(() => s2.close())
  const c2 = new SynthgymClient(s2.url)
  const tasks = (await c2.tasks()).tasks
  t.ok(tasks.some(x => x.source.startsWith('mlgym:') && x.metric === null), 'the fixture also has MLGym tasks without a benchmark metric')
  t.strictSame(await resolveTasks(c2, { suite: 'mlgym' }), ['battleOfSexes'])

  const usage = await cli(['--url', server.url, '--model', 'm', '--out', dir, '--suite', 'mlgym'])
  t.equal(usage.code, 2)
  t.match(usage.out, /synthgym run: the server at .* serves no MLGym tasks/)
  const noModel = await cli(['--url', server.url, '--tasks', TASK, '--out', dir])
  t.equal(noModel.code, 2)
  t.match(noModel.out, /--model is required/)
})

t.test('what synthgym run writes is what synthgym aup and synthgym export sft read', async t => {
  const fake = await startFakeOpenAI(req => validateThenSubmit(req))
  t.teardown(() => fake.close())
  const out = tempDir(t, 'sg-run-aup-')
  for (const model of ['team/alpha', 'team/beta']) {
    const r = await cli(['--url', server.url, '--tasks', TASK, '--model', model, '--base-url', fake.url, '--runs-per-task', '2',
      '--concurrency', '2', '--out', out, '--max-steps', '5'])
    t.equal(r.code, 0, r.out)
  }
  const { aupReport } = await import('../clients/aup/aup-command.js')
  const report = aupReport([out], { metrics: [`${TASK}=Score:maximize`] })
  t.strictSame(report.methods.slice().sort(), ['baseline', 'team-alpha', 'team-beta'], 'both models and the baseline are compared')
  // each model's task score is the best of its runs' results.json, as read back here independently
  const best = (model: string) => Math.max(...readdirSync(out).filter(d => d.startsWith(model + '__')).flatMap(d =>
    (JSON.parse(readFileSync(join(out, d, 'results.json'), 'utf8')).agent as Array<{ Score: number }>).map(s => s.Score)))
  const task = report.best_attempt.tasks.find(x => x.task === TASK)!
  t.equal(task.scores['team-alpha'], best('team-alpha'))
  t.equal(task.scores['team-beta'], best('team-beta'))
  t.ok(Number.isFinite(report.best_attempt.aup['team-alpha']), 'an AUP for each model')

  const { exportSft } = await import('../clients/sft/sft-command.js')
  const file = join(out, '..', 'sft-' + Date.now() + '.jsonl')
  t.teardown(() => { try { rmSync(file) } catch {} })
  const summary = await exportSft({ dirs: [out], out: file, format: 'messages', maxTokens: 48000, truncateTokens: 32000, tokenizer: 'chars', metrics: [`${TASK}=Score:maximize`] })
  t.equal(summary.read, 4, 'every run directory is read')
  const records = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(l => JSON.parse(l))
  t.equal(records.length, summary.kept)
  for (const r of records) {
    t.equal(r.messages[0].role, 'system')
    t.ok(r.messages.some((m: { role: string, content: string }) => m.role === 'assistant' && /```\nsubmit\n```/.test(m.content)), 'the submit turn is in the conversation')
  }
})

/**
 * MLGym's scripts/count_valid_trajectories.py (facebookresearch/MLGym@9d40c1b, lines 55-62) counts a model's runs of a
 * task as the directories matching Path.glob(f"*{model}__{task}__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run*")
 * that hold results.json; scripts/evaluation/process_results.py (lines 135-144) globs `*{model}*{traj_pattern}*` and reads
 * the first `*.traj`. Path.glob's `*` is any run of characters but '/'.
 */
const mlgymGlob = (pattern: string) => new RegExp('^' + pattern.split('*').map(p => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*') + '$')
const countValid = (dir: string, model: string, task: string) => readdirSync(dir)
  .filter(n => mlgymGlob(`*${model}__${task}__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run*`).test(n))
  .filter(n => existsSync(join(dir, n, 'results.json'))).length

t.test('a task outside MLGym\'s table: MLGym\'s scripts count the runs, aup and export sft take the metric the run recorded', async t => {
  const fake = await startFakeOpenAI(req => validateThenSubmit(req))
  t.teardown(() => fake.close())
  const out = tempDir(t, 'sg-run-own-')
  const DIGITS = 'digitsClassification'
  const r = await cli(['--url', server.url, '--tasks', DIGITS, '--model', 'qwen/q3', '--base-url', fake.url, '--runs-per-task', '2',
    '--concurrency', '2', '--out', out, '--max-steps', '5'])
  t.equal(r.code, 0, r.out)
  t.equal(countValid(out, 'q3', DIGITS), 2, 'count_valid_trajectories.py counts both runs')
  const pattern = `${DIGITS}__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents`
  for (const n of readdirSync(out).filter(n => mlgymGlob(`*q3*${pattern}*`).test(n))) {
    const trajs = readdirSync(join(out, n)).filter(f => f.endsWith('.traj'))
    t.strictSame(trajs, [`${DIGITS}.traj`], 'process_results.py reads the one .traj')
    const traj = JSON.parse(readFileSync(join(out, n, trajs[0]!), 'utf8'))
    t.ok(traj.history.filter((h: { role: string }) => h.role === 'assistant').every((h: { action?: unknown }) => typeof h.action === 'string'))
  }

  const { aupReport } = await import('../clients/aup/aup-command.js')
  const report = aupReport([out])
  t.match(report.tasks.find(x => x.task === DIGITS), { metric: 'accuracy', direction: 'maximize' }, 'no --metric needed')
  const over = aupReport([out], { metrics: [`${DIGITS}=accuracy:minimize`] })
  t.match(over.tasks.find(x => x.task === DIGITS), { direction: 'minimize' }, '--metric overrides the record')
  // MLGym's own run directories (no synthgym.json) and the old names (no __parallel_agents) are still read
  const old = tempDir(t, 'sg-run-old-')
  const first = readdirSync(out)[0]!
  cpSync(join(out, first), join(old, first.replace('__parallel_agents', '')), { recursive: true })
  rmSync(join(old, first.replace('__parallel_agents', ''), 'synthgym.json'))
  t.throws(() => aupReport([old]), /no priority metric is known for digitsClassification/)
  t.match(aupReport([old], { metrics: [`${DIGITS}=accuracy:maximize`] }).tasks, [{ task: DIGITS }])

  const { exportSft } = await import('../clients/sft/sft-command.js')
  const file = join(tempDir(t, 'sg-run-own-sft-'), 'sft.jsonl')
  const s = await exportSft({ dirs: [out], out: file, format: 'messages', maxTokens: 48000, truncateTokens: 32000, tokenizer: 'chars' })
  t.equal(s.read, 2)
  t.notOk(s.dropped.no_metric, 'the export knows the metric too')
})
