// Environment semantics as MLGym's: every built-in task end to end, the special actions, evaluation errors,
// timeouts, read-only and secret files, baselines computed once and cached.
import t from 'tap'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Environment, guardMultilineInput, type EnvironmentOptions } from '../tasks/environment.js'
import { TaskRegistry, type Task } from '../tasks/registry.js'
import { BaselineCache } from '../tasks/baseline.js'
import { taskMounts } from '../tasks/environment.js'
import { LocalSandbox, localBackendInfo } from '../sandbox/local.js'
import type { SandboxOptions } from '../sandbox/types.js'
import { tempDir } from './helpers.js'

const dir = tempDir(t, 'sg-env-test-')
const registry = TaskRegistry.withBuiltins()
const makeSandbox = (o: SandboxOptions) => LocalSandbox.create({ ...o, baseDir: join(dir, 'sandboxes') })
const baselines = new BaselineCache(join(dir, 'baselines'), o => makeSandbox(o), task => ({ mounts: taskMounts(task).mounts }))

function envFor (id: string, over: Partial<EnvironmentOptions> = {}): Environment {
  const task = registry.get(id)
  if (!task) throw new Error(`no builtin ${id}`)
  return new Environment(task, { makeSandbox, baseline: t => baselines.get(t), maxSteps: 10, ...over })
}

t.test('built-in tasks: at least four, covering MLGym\'s submission kinds', async t => {
  const kinds = new Set(registry.list().filter(x => x.source === 'builtin').map(x => x.spec.task_entrypoint))
  t.ok(registry.list().length >= 4)
  for (const k of ['CSVSubmissionTasks', 'PythonSubmissionTasks', 'ModelSubmissionTasks']) t.ok(kinds.has(k as never), k)
  t.ok(registry.list().some(x => x.spec.metric?.direction === 'minimize' && x.spec.task_entrypoint === 'CSVSubmissionTasks'), 'a lower-is-better CSV task')
})

t.test('digits (CSV): baseline, validate, a better model, submit', async t => {
  const env = envFor('digitsClassification')
  t.teardown(() => env.close())
  const reset = await env.reset()
  t.match(reset.observation, /DIGITS:\n/)
  t.notMatch(reset.observation, /\{dataset_docs\}/)
  const nosub = await env.step('validate')
  t.equal(nosub.observation, 'Submission artefact not found. You have to produce a valid submission artefact as described in the task description to validate your results.')
  t.equal(nosub.terminated, false)
  await env.step('python baseline.py')
  const v = await env.step('validate')
  t.equal(v.observation, "Your code produced a valid submission artefact at /home/agent/workspace/submission.csv.\nBaseline Score: {'accuracy': 0.9055555555555556}\nEvaluation Score: {'accuracy': 0.9055555555555556}")
  t.same(v.info.score, [{ accuracy: 0.9055555555555556 }])
  const ro = await env.step('echo hack >> evaluate.py; touch data/x')
  t.match(ro.observation, /Read-only file system/)
  const secret = await env.step('ls /home/agent/secret; cat /home/agent/secret/answers.csv; find / -name answers.csv 2>/dev/null')
  t.notMatch(secret.observation, /^id,label/m, 'the answers are never visible to the agent')
  t.match(secret.observation, /^ls: cannot access '\/home\/agent\/secret': No such file or directory/, 'not even their names after an evaluation')
  const s = await env.step('submit')
  t.equal(s.observation, 'Exited (submit)')
  t.equal(s.terminated, true)
  t.equal(env.info.exit_status, 'submitted')
  t.equal(env.info.submission, '/home/agent/workspace/submission.csv')
})

t.test('diabetes (CSV, lower is better): baseline computed at first reset and cached', async t => {
  const task = registry.get('diabetesRegression')!
  t.notOk(task.spec.baseline_scores?.length, 'ships without baseline scores')
  const env = envFor('diabetesRegression', { reward: 'improvement' })
  t.teardown(() => env.close())
  const reset = await env.reset()
  t.type(reset.info.baseline?.rmse, 'number')
  t.equal(readdirSync(join(dir, 'baselines')).filter(f => f.startsWith('diabetesRegression-')).length, 1, 'cached on disk')
  const again = await baselines.peek(task)
  t.same(again, reset.info.baseline, 'a second lookup reads the cache')
  await env.step('python baseline.py')
  const v = await env.step('validate')
  t.equal(v.info.metrics?.rmse, reset.info.baseline?.rmse)
  t.equal(v.reward, 0, 'no improvement, no reward')
  // all ten features: a better (lower) rmse gives a positive, direction-aware reward
  await env.step(`sed -i 's/^FEATURES = .*/FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]/' baseline.py`)
  await env.step('python baseline.py')
  const better = await env.step('validate')
  t.ok(better.info.metrics!.rmse < reset.info.baseline!.rmse, 'lower rmse')
  t.ok(better.reward > 0, `reward ${better.reward} > 0`)
})

t.test('prisoner\'s dilemma (Python function): validate scores the strategy; skip ends the episode', async t => {
  const env = envFor('prisonersDilemma')
  t.teardown(() => env.close())
  await env.reset()
  const v = await env.step('validate')
  t.match(v.observation, /^Your code produced a valid submission artefact at \/home\/agent\/workspace\/target.py.\nBaseline Score: \{'Score': 2\.\d+\}\nEvaluation Score: \{'Score': 2\.\d+\}$/)
  const broken = await env.step("echo 'def row_strategy(history): return 7' > strategy.py && validate")
  t.match(broken.observation, /^Failed to decode metrics from evaluation script. Output:\n---\n/)
  t.match(broken.observation, /Please make sure the evaluation script prints the metrics in json format\.$/)
  // code the evaluation imports runs with a read-only workspace: nothing it sees can be left for the agent
  await env.step(`printf 'open("/home/agent/workspace/leak.txt", "w").write("x")\\ndef row_strategy(history):\\n    return 0\\n' > strategy.py`)
  const leak = await env.step('validate; ls leak.txt')
  t.match(leak.observation, /Read-only file system/)
  t.equal((await env.step('ls leak.txt')).observation, "ls: cannot access 'leak.txt': No such file or directory")
  const skip = await env.step('skip')
  t.equal(skip.observation, 'Skipped')
  t.equal(skip.terminated, true)
  t.equal(env.info.exit_status, 'skipped')
})

t.test('cart-pole (model file): baseline trains and validates', async t => {
  const env = envFor('rlCartPoleSwingUpModel')
  t.teardown(() => env.close())
  const reset = await env.reset()
  t.type(reset.info.baseline?.['Reward Mean'], 'number')
  const train = await env.step('python src/train.py')
  t.equal(train.info.timed_out, undefined)
  const v = await env.step('validate')
  t.match(v.observation, /^Your code produced a valid submission artefact at \/home\/agent\/workspace\/config.yaml\./)
  t.equal(v.info.metrics?.['Reward Mean'], reset.info.baseline?.['Reward Mean'])
})

t.test('MLGym special actions and the step budget', async t => {
  const env = envFor('prisonersDilemma', { maxSteps: 3 })
  t.teardown(() => env.close())
  await env.reset()
  const bad = await env.step('edit 1:2\nprint(1)')
  t.equal(bad.observation, 'Malformed edit command. Please ensure you use the `end_of_edit` keyword to mark the end of your edit.')
  await env.step('echo two')
  await env.step('echo three')
  const over = await env.step('echo four')
  t.equal(over.observation, 'Exited (max_steps)')
  t.equal(over.truncated, true)
  t.equal(over.terminated, false)
  t.equal(env.info.exit_status, 'autosubmission (max_steps)')
  t.equal(env.info.score.length, 1, 'the autosubmission is scored')
  t.equal(env.steps.map(s => s.action).join('|'), 'edit 1:2\nprint(1)|echo two|echo three|echo four')
  await t.rejects(env.step('ls'), { code: 'EPISODE_FINISHED' })

  const f = envFor('prisonersDilemma')
  t.teardown(() => f.close())
  await f.reset()
  const forfeit = await f.step('exit_forfeit')
  t.equal(forfeit.observation, 'Exited (exit_forfeit)')
  t.equal(f.info.exit_status, 'exit_forfeit')
  await f.reset()
  const cost = await f.step('exit_cost')
  t.equal(cost.observation, 'Exited (exit_cost)')
  t.equal(cost.truncated, true)
  t.equal(f.info.exit_status, 'autosubmission (exit_cost)')

  const d = envFor('digitsClassification')
  t.teardown(() => d.close())
  await d.reset()
  const sub = await d.step('submit')
  t.equal(sub.observation, 'Exited (submit)')
  t.equal(d.info.exit_status, 'submission_not_found (submit)')
  t.same(d.info.score, [], 'no score without a submission')
})

t.test('timeouts: short for plain commands, training_timeout for python; MLGym messages', async t => {
  // python sleeps past the short timeout and far below the long one: a loaded machine starts python slowly
  const env = envFor('prisonersDilemma', { timeouts: { short: 1, long: 60, noOutput: 30 } })
  t.teardown(() => env.close())
  await env.reset()
  const short = await env.step('echo before; sleep 5')
  t.match(short.observation, /^before\nbash: line \d+: +\d+ Killed +sleep 5\nEXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 1 SECONDS\.$/)
  t.equal(short.info.timed_out, 'timeout')
  const long = await env.step('python -c "import time; time.sleep(1.5); print(\'trained\')"')
  t.equal(long.observation, 'trained', 'python gets the long timeout')
  const quiet = envFor('prisonersDilemma', { timeouts: { short: 10, long: 10, noOutput: 1 } })
  t.teardown(() => quiet.close())
  await quiet.reset()
  const q = await quiet.step('sleep 3')
  t.match(q.observation, /EXECUTION TIMED OUT BECAUSE NO OUTPUT WAS PRODUCED FOR MORE THAN 1 SECONDS\.\nPLEASE REFINE YOUR RUNNING COMMAND SO IT WILL PRODUCE OUTPUT IN THE SPECIFIED TIME FRAME\.$/)
})

t.test('agent tools through the environment: multi-line edit is guarded as a heredoc', async t => {
  t.equal(guardMultilineInput('edit 1:2\nfoo\nend_of_edit'), "edit 1:2 << 'end_of_edit'\nfoo\nend_of_edit")
  t.equal(guardMultilineInput("edit 1:2 << 'end_of_edit'\nfoo\nend_of_edit"), "edit 1:2 << 'end_of_edit'\nfoo\nend_of_edit")
  t.equal(guardMultilineInput('ls -la'), 'ls -la')
  const env = envFor('prisonersDilemma')
  t.teardown(() => env.close())
  await env.reset()
  await env.step('create notes.py')
  const e = await env.step('edit 1:1\nx = 1\nprint(x)\nend_of_edit')
  t.match(e.observation, /File updated\./)
  t.equal((await env.step('python notes.py')).observation, '1')
  const state = JSON.parse(env.steps[env.steps.length - 1]!.state)
  t.same(state, { open_file: '/home/agent/workspace/notes.py', working_dir: '/home/agent/workspace' })
})

t.test('reset gives a fresh workspace', async t => {
  const env = envFor('prisonersDilemma')
  t.teardown(() => env.close())
  await env.reset()
  await env.step('echo junk > junk.txt; export MINE=1')
  await env.reset()
  const r = await env.step('ls; echo "[$MINE]"')
  t.notMatch(r.observation, /junk/)
  t.match(r.observation, /\[\]$/)
  t.equal(env.steps.length, 1)
})

export type { Task }

t.test('observations name python3 as the agent typed it, and say what pip can do in a sandbox', async t => {
  const env = envFor('digitsClassification')
  t.teardown(() => env.close())
  await env.reset()
  const missing = await env.step('python3 no_such_file.py')
  t.match(missing.observation, /^python3: can't open file '\/home\/agent\/workspace\/no_such_file\.py'/)
  const host = localBackendInfo().python
  if (host) t.notOk(missing.observation.includes(host), 'no host interpreter path')
  const pip = await env.step('python3 -m pip install --no-input --retries 0 --timeout 1 surely-not-installed-pkg 2>&1 | tail -3')
  t.match(pip.observation, /pip cannot download packages here\. Use the packages already installed/)
})

t.test('one shell round trip per step: the state comes back with the command (the trailer)', async t => {
  let execs = 0
  const counting = async (o: SandboxOptions) => {
    const sb = await makeSandbox(o)
    const exec = sb.exec.bind(sb)
    sb.exec = (c, opts) => { execs++; return exec(c, opts) }
    return sb
  }
  const env = envFor('prisonersDilemma', { makeSandbox: counting })
  t.teardown(() => env.close())
  await env.reset()
  execs = 0
  const r = await env.step('mkdir -p sub && cd sub && echo "in $PWD"')
  t.equal(r.observation, 'in /home/agent/workspace/sub')
  t.same(r.info.state, { open_file: 'n/a', working_dir: '/home/agent/workspace/sub' })
  t.equal(execs, 1, 'the action and the state query in one exec')
  execs = 0
  const bad = await env.step('cd .. && echo (')
  t.match(bad.observation, /syntax error/)
  t.same(bad.info.state, { open_file: 'n/a', working_dir: '/home/agent/workspace/sub' }, 'a syntax error asks for the state apart')
  t.equal(execs, 2)
  const exit = await env.step('exit')
  t.same(exit.info.state, { open_file: 'n/a', working_dir: '/home/agent/workspace' }, 'a restarted shell is asked apart')
})
