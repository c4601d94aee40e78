// Real trainers as the proof (issue 17 §7): episodes run by `synthgym run` with a scripted model on a live server, in
// both response modes, exported by `synthgym export sft` (run dirs and --url), then the Python suite in test/python
// (its own venv, .venv-trl, built by .ci/python-venv from the local package index): every record through the real
// Qwen3 chat template and token counts, TRL's SFTTrainer 2 steps on each file, and GRPOTrainer one step with
// clients/python's environment factory on this server. Each pytest case (source:mode:record and check) is one tap
// assertion, so a failure names the record and the check. Without the venv the Python part skips, unless CI=true.
import t from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir, testServer, runProcess } from './helpers.js'
import { startFakeOpenAI, type ScriptedReply } from './fakes/openai.js'

const ROOT = join(import.meta.dirname, '..')
const VENV = join(ROOT, '.venv-trl')
const PY = join(VENV, 'bin', 'python')
const REQ = join(ROOT, 'test', 'python', 'requirements.txt')
const TASK = 'prisonersDilemma'
const TIT_FOR_TAT = "cat > strategy.py <<'EOF'\ndef row_strategy(history):\n    return 0 if not history else history[-1][1]\nEOF"
// a Qwen3-style reply without a reasoning parser: the thinking stays in the content
const THINK = '<think>\nThe example strategy is random; tit for tat does better against this opponent.\n</think>\n\n'
const say = (command: string, thought: string, think = '') => ({ content: `${think}DISCUSSION\n${thought}\n\`\`\`\n${command}\n\`\`\`` })
const call = (name: string, args: object, content: string, think = ''): ScriptedReply =>
  ({ content: think + content, tool_calls: [{ name, arguments: JSON.stringify(args) }] })
const SCRIPTS: Record<string, ScriptedReply[]> = {
  thought_action: [say(TIT_FOR_TAT, 'Tit for tat.', THINK), say('validate', 'Validate it.'), say('submit', 'It beats the baseline.')],
  function_calling: [call('bash', { command: TIT_FOR_TAT }, 'I write tit for tat.', THINK), call('validate', {}, 'Validate it.'),
    call('submit', {}, 'It beats the baseline.')]
}

const run = runProcess
const synthgym = (...args: string[]) => run(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'cli.ts'), ...args],
  { ...process.env, OPENAI_API_KEY: 'sk-test' })

const ci = process.env.CI === 'true'
const hash = createHash('sha256').update(readFileSync(REQ)).digest('hex')
const stored = existsSync(join(VENV, 'requirements.sha256')) ? readFileSync(join(VENV, 'requirements.sha256'), 'utf8').trim() : null
const venvOk = existsSync(PY) && stored === hash
const why = !existsSync(PY) ? `${VENV} is missing` : `${VENV} was built from other requirements`
if (!venvOk && ci) t.fail(`CI=true but ${why}: .ci/python-venv builds it (.ci/run does)`)

t.test('TRL trains on what synthgym exports, and GRPO steps on its environment', {
  skip: venvOk ? false : `${why} (.ci/python-venv builds it); the trainer tests skip`
}, async t => {
  const server = await testServer()
  t.teardown(() => server.close())
  const dir = tempDir(t, 'sg-trainers-')

  // one episode per mode, each a `synthgym run` of its own scripted model
  const modes: Record<string, string> = {}
  const runs: Record<string, string> = {}
  await Promise.all(Object.entries(SCRIPTS).map(async ([mode, script]) => {
    const fake = await startFakeOpenAI(script)
    t.teardown(() => fake.close())
    const out = join(dir, `runs-${mode}`)
    const r = await synthgym('run', '--url', server.url, '--tasks', TASK, '--model', `teacher-${mode}`, '--base-url', fake.url,
      '--mode', mode, '--max-steps', '10', '--out', out)
    t.equal(r.code, 0, `${mode}: synthgym run exits 0`, { output: r.out })
    t.equal(fake.requests.length, 3, `${mode}: three model calls`)
    for (const name of readdirSync(out)) {
      modes[name] = mode
      modes[JSON.parse(readFileSync(join(out, name, 'episode.json'), 'utf8')).episode_id] = mode
    }
    runs[mode] = out
  }))
  t.equal(Object.keys(modes).length, 4, 'two run dirs and their two server episodes')

  // the exports a user would make: each mode's run dirs, and the server's episodes
  const files: Array<{ path: string, source: string }> = []
  const exportTo = async (source: string, ...args: string[]) => {
    const path = join(dir, `${source}.jsonl`)
    const r = await synthgym('export', 'sft', ...args, '--out', path)
    t.equal(r.code, 0, `export ${source} exits 0`, { output: r.out })
    files.push({ path, source })
    return readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map(l => JSON.parse(l).metadata.id as string)
  }
  for (const mode of Object.keys(SCRIPTS)) t.same(await exportTo(`dirs-${mode}`, runs[mode]).then(ids => ids.map(id => modes[id])), [mode], `dirs-${mode}: its episode kept`)
  t.same((await exportTo('url', '--url', server.url)).map(id => modes[id]).sort(), Object.keys(SCRIPTS).sort(), 'url: both episodes kept')

  const manifest = join(dir, 'manifest.json')
  writeFileSync(manifest, JSON.stringify({ url: server.url, files, modes }))
  const junit = join(dir, 'junit.xml')
  const r = await run(PY, ['-m', 'pytest', join(ROOT, 'test', 'python'), '-q', '-p', 'no:cacheprovider', '--junitxml', junit], {
    ...process.env,
    SYNTHGYM_TRAINER_DATA: manifest,
    PYTHONPATH: join(ROOT, 'clients', 'python'),
    PYTHONDONTWRITEBYTECODE: '1',
    // nothing leaves the machine; caches in the test's directory
    HF_HUB_OFFLINE: '1',
    HF_DATASETS_OFFLINE: '1',
    HF_HOME: join(dir, 'hf'),
    TRL_EXPERIMENTAL_SILENCE: '1',
    TOKENIZERS_PARALLELISM: 'false',
    OMP_NUM_THREADS: '2'
  })
  t.ok(existsSync(junit), 'pytest wrote its report', { output: r.out.slice(-4000) })
  if (!existsSync(junit)) return
  const cases = [...readFileSync(junit, 'utf8').matchAll(/<testcase [^>]*?\sname="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)]
  const records = files.reduce((n, f) => n + readFileSync(f.path, 'utf8').trim().split('\n').filter(Boolean).length, 0)
  t.equal(cases.length, 3 * records + files.length + 1, 'three checks per record, SFT per file, GRPO once')
  for (const [, name, body = ''] of cases) {
    const failure = /<(failure|error) message="([^"]*)"/.exec(body)
    if (/<skipped/.test(body)) t.fail(`${unescape(name)}: skipped`)
    else if (failure) t.fail(`${unescape(name)}: ${unescape(failure[2])}`)
    else t.pass(unescape(name))
  }
  t.equal(r.code, 0, 'pytest exits 0', { output: r.out.slice(-4000) })
})

function unescape (s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#10;/g, '\n').replace(/&amp;/g, '&')
}
