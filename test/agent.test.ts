// The agent harness end to end: scripted replies of a loopback OpenAI-compatible server drive full episodes on a
// built-in task through a real server (real sandbox, WebSocket API): a good episode, format errors re-queried and
// exit_format, the step budget, API errors retried and exit_api, the cost and context limits, function calling,
// token ids and logprobs stored and returned unchanged, the history processor and the prompt framing.
import t, { type Test } from 'tap'
import { testServer } from './helpers.js'
import { startFakeOpenAI, toyTokenId, toyTokens, type ChatRequest, type Script } from './fakes/openai.js'
import { SynthgymClient } from '../clients/client.js'
import { runEpisode, type EpisodeSpec } from '../clients/agent/loop.js'
import { agentSettings, type AgentSettings } from '../clients/agent/settings.js'
import { parseThoughtAction, FormatError } from '../clients/agent/parser.js'
import { lastObservations } from '../clients/agent/history.js'
import { validateMlgymTraj } from '../env-spec/trajectory.js'
import { validateModelCall } from '../env-spec/episode.js'

const TASK = 'prisonersDilemma'
const TIT_FOR_TAT = "cat > strategy.py <<'EOF'\ndef row_strategy(history):\n    return 0 if not history else history[-1][1]\nEOF"
const say = (command: string, thought = 'Next step.') => ({ content: `DISCUSSION\n${thought}\n\`\`\`\n${command}\n\`\`\`` })

const server = await testServer()
t.teardown(() => server.close())
const client = new SynthgymClient(server.url)

/** One episode with a scripted model; the fake's requests and the server's copy of the episode come back too. */
async function episode (t: Test, script: Script, over: Partial<AgentSettings> = {}, spec: Partial<EpisodeSpec> = {}) {
  const fake = await startFakeOpenAI(script)
  t.teardown(() => fake.close())
  const settings = agentSettings({ model: 'fake-teacher', baseUrl: fake.url, apiKey: 'k', retryBaseMs: 5, retryMaxMs: 20, ...over })
  const outcome = await runEpisode(client, settings, { task: TASK, maxSteps: 10, ...spec })
  const stored = await client.episode(outcome.episode_id)
  return { fake, outcome, stored }
}

const lastUser = (r: ChatRequest) => [...r.messages].reverse().find(m => m.role === 'user' || m.role === 'tool')!.content as string

t.test('a good episode: edit, validate, submit; the score is stored; prompts frame every step as MLGym does', async t => {
  const { fake, outcome, stored } = await episode(t, [say(TIT_FOR_TAT, 'Tit for tat.'), say('validate'), say('submit')])
  t.equal(outcome.exit_status, 'submitted')
  t.equal(outcome.score.length, 2, 'the validation and the submission')
  t.ok(outcome.score[1].Score > outcome.baseline!.Score, 'tit for tat beats the baseline')
  t.equal(stored.episode.status, 'finished')
  t.equal(stored.episode.model, 'fake-teacher')
  t.strictSame(stored.episode.score, outcome.score, 'the server stored the same scores')
  t.equal(stored.episode.improved, true)
  t.equal(fake.requests.length, 3, 'one model call per step')

  const tools = await client.tools('mlgym')
  const [first, second] = fake.requests
  t.equal(first.messages[0].role, 'system')
  t.ok((first.messages[0].content as string).includes(tools.command_docs.trimEnd()), 'the system prompt holds the profile\'s command docs')
  t.match(first.messages[0].content, /1000 lines/)
  t.match(first.messages[1].content, /TASK DESCRIPTION:\nYou are going to play the Iterated Prisoner's Dilemma/)
  t.match(first.messages[1].content, /\(Current Step: 0, Remaining Steps: 10\)\n\(Open file: n\/a\)\n\(Current directory: \/home\/agent\/workspace\)\nbash-\$$/)
  const timeout = (await client.task(TASK)).training_timeout
  t.ok((first.messages[1].content as string).includes(`within ${timeout} seconds`), 'the task\'s training timeout in the tips')
  t.equal(first.temperature, 0)
  t.equal(first.top_p, 0.95)
  t.equal(first.model, 'fake-teacher')
  t.equal(second.messages.length, 4)
  t.equal(second.messages[2].role, 'assistant')
  t.equal(second.messages[2].content, say(TIT_FOR_TAT, 'Tit for tat.').content)
  t.equal(lastUser(second), 'Your command ran successfully and did not produce any output.\n(Current Step: 1, Remaining Steps: 9)\n(Open file: n/a)\n(Current directory: /home/agent/workspace)\nbash-$')
  t.match(lastUser(fake.requests[2]), /^Your code produced a valid submission artefact at .*\nBaseline Score: \{'Score': [\d.]+\}\nEvaluation Score: \{'Score': [\d.]+\}\n\(Current Step: 2, Remaining Steps: 8\)/)

  // the model data of every step, as the model saw and answered it
  t.equal(stored.steps.length, 3)
  stored.steps.forEach((st, i) => {
    validateModelCall(st.model)
    t.strictSame(st.model!.messages, fake.requests[i].messages, `step ${i + 1}: the messages sent`)
    t.equal(st.model!.completion.content, [say(TIT_FOR_TAT, 'Tit for tat.'), say('validate'), say('submit')][i].content)
    t.equal(st.model!.finish_reason, 'stop')
    t.ok(st.model!.usage!.prompt_tokens > 0)
    t.type(st.model!.latency_ms, 'number')
  })
  t.equal(stored.steps[0].action, TIT_FOR_TAT)
  t.equal(stored.steps[0].thought, 'DISCUSSION\nTit for tat.')
  t.equal(stored.steps[0].response, say(TIT_FOR_TAT, 'Tit for tat.').content)

  // the harness's own MLGym .traj
  validateMlgymTraj(outcome.traj)
  t.equal(outcome.traj.history[0].role, 'system')
  t.equal(outcome.traj.history.length, 2 + 2 * 3)
  t.equal(outcome.traj.trajectory[1].action, 'validate')
  t.strictSame(JSON.parse(outcome.traj.trajectory[1].state), { open_file: 'n/a', working_dir: '/home/agent/workspace' })
  t.equal(outcome.traj.info.model_stats.api_calls, 3)
  t.equal(outcome.traj.info.model_stats.tokens_sent, fake.requests.length && stored.steps.reduce((n, s) => n + s.model!.usage!.prompt_tokens, 0))
  t.strictSame(outcome.results, { agent: outcome.score, baseline: outcome.baseline })
  t.equal(outcome.stats.steps, 3)
})

t.test('format errors are re-queried with the parser\'s text; three failures in a step end it with exit_format', async t => {
  const none = { content: 'I will just think about it.' }
  const two = { content: 'DISCUSSION\n```\nls\n```\nand\n```\npwd\n```' }
  const ok = await episode(t, [none, two, say('submit')])
  t.equal(ok.outcome.exit_status, 'submitted')
  t.equal(ok.fake.requests.length, 3)
  const retry = ok.fake.requests[1].messages
  t.equal(retry.length, 4, 'the step\'s prompt, the failed answer, the error')
  t.equal(retry[2].role, 'assistant')
  t.equal(retry[2].content, none.content)
  t.match(retry[3].content, /^Your output was not formatted correctly\. You must always include one discussion and one command/)
  t.equal(ok.fake.requests[2].messages[2].content, two.content, 'only the last failure is kept')
  const step = ok.stored.steps[0]
  t.equal(step.action, 'submit')
  t.equal(step.model!.requeries!.length, 2)
  t.strictSame(step.model!.requeries!.map(r => r.completion.content), [none.content, two.content])
  t.match(step.model!.requeries![0].error, /not formatted correctly/)
  t.strictSame(step.model!.messages, ok.fake.requests[2].messages, 'the step\'s messages are those of the answer that parsed')
  t.equal(ok.outcome.stats.format_errors, 2)
  t.equal(ok.outcome.traj.info.model_stats.api_calls, 3)

  const bad = await episode(t, [none])
  t.equal(bad.fake.requests.length, 3, '3 tries')
  t.equal(bad.outcome.exit_status, 'autosubmission (exit_format)')
  t.equal(bad.stored.steps.length, 1)
  t.equal(bad.stored.steps[0].action, 'exit_format')
  t.equal(bad.stored.steps[0].truncated, true)
  t.equal(bad.stored.steps[0].model!.requeries!.length, 2, 'the last failure is the step\'s call, the two before it requeries')
  t.equal(bad.outcome.score.length, 1, 'the autosubmission scored the workspace')
})

t.test('the step budget: the step past it autosubmits without a model call; Last5Observations shortens old outputs', async t => {
  const { fake, outcome, stored } = await episode(t, (_req, n) => say(`echo out-${n}`), {}, { maxSteps: 7 })
  t.equal(fake.requests.length, 7, 'no model call for the step past the budget')
  t.equal(outcome.exit_status, 'autosubmission (max_steps)')
  t.equal(stored.steps.length, 8)
  t.equal(stored.steps[7].truncated, true)
  t.notOk(stored.steps[7].model, 'no model data on the budget step')
  const seventh = fake.requests[6].messages
  const observations = seventh.filter((m, i) => m.role === 'user' && i > 1)
  t.equal(observations.length, 6)
  t.equal(observations[0].content, 'Old output omitted (5 lines)', 'the oldest of six observations is omitted, with its line count')
  t.match(observations[1].content, /^out-1\n\(Current Step: 2, Remaining Steps: 5\)/)
  t.match(observations[5].content, /^out-5\n\(Current Step: 6, Remaining Steps: 1\)/)
  t.match(seventh[1].content, /TASK DESCRIPTION/, 'the task message is always kept')
  t.equal(seventh.filter(m => m.role === 'assistant').length, 6, 'every assistant message is kept')
  t.match(outcome.traj.history[3].content, /^out-0\n/, 'the .traj keeps the full history')
})

t.test('API errors (500, 429 with Retry-After) are retried with back-off; retries spent end the episode with exit_api', async t => {
  const ok = await episode(t, [{ status: 500 }, { status: 429, headers: { 'retry-after': '0' } }, say('submit')])
  t.equal(ok.outcome.exit_status, 'submitted')
  t.equal(ok.fake.requests.length, 3)
  t.equal(ok.stored.steps[0].model!.api_retries, 2)
  t.equal(ok.outcome.stats.api_retries, 2)

  const down = await episode(t, [{ status: 503 }], { apiRetries: 2 })
  t.equal(down.fake.requests.length, 3, 'the call and two retries')
  t.equal(down.outcome.exit_status, 'autosubmission (exit_api)')
  t.equal(down.stored.steps[0].action, 'exit_api')
  t.notOk(down.stored.steps[0].model, 'no completion to record')

  const refused = await episode(t, [{ status: 401, message: 'bad key' }])
  t.equal(refused.fake.requests.length, 1, 'an error a retry cannot fix is not retried')
  t.equal(refused.outcome.exit_status, 'autosubmission (exit_api)')
})

t.test('the cost limit: once the episode has spent it, the next step is exit_cost', async t => {
  const usage = { prompt_tokens: 1000, completion_tokens: 100 }
  const { fake, outcome, stored } = await episode(t, [{ ...say('ls'), usage }, { ...say('pwd'), usage }, { ...say('ls -a'), usage }],
    { pricePerMTokIn: 1000, pricePerMTokOut: 1000, costLimit: 2 })
  t.equal(fake.requests.length, 2, '$1.10 + $1.10 spent: no third call')
  t.equal(outcome.exit_status, 'autosubmission (exit_cost)')
  t.equal(stored.steps.at(-1)!.action, 'exit_cost')
  t.ok(Math.abs(outcome.traj.info.model_stats.total_cost - 2.2) < 1e-9)
  t.ok(Math.abs(stored.steps[0].model!.cost! - 1.1) < 1e-9, 'each step records its cost')
  t.ok(Math.abs(stored.traj.info.model_stats.total_cost - 2.2) < 1e-9, 'the server\'s .traj adds the same up')
})

t.test('the context limit: an endpoint that says the prompt is too long ends the episode with exit_context', async t => {
  const { fake, outcome } = await episode(t, [say('ls'), { status: 400, message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens." }])
  t.equal(fake.requests.length, 2, 'not retried')
  t.equal(outcome.exit_status, 'autosubmission (exit_context)')
  const small = await episode(t, [say('ls')], { contextTokens: 50 })
  t.equal(small.fake.requests.length, 0, 'a prompt estimated over --context-tokens is not sent')
  t.equal(small.outcome.exit_status, 'autosubmission (exit_context)')
})

t.test('function calling: the tools of GET /v1/tools, one call per answer, observations as tool messages', async t => {
  const call = (name: string, args: object) => ({ content: `Calling ${name}.`, tool_calls: [{ name, arguments: JSON.stringify(args) }] })
  const script = [
    { content: 'no call' },
    call('bash', { command: TIT_FOR_TAT }),
    call('open', { path: 'strategy.py' }),
    { content: 'two', tool_calls: [{ name: 'validate', arguments: '{}' }, { name: 'submit', arguments: '{}' }] },
    call('validate', {}),
    call('submit', {})
  ]
  const { fake, outcome, stored } = await episode(t, script, { mode: 'function_calling' })
  t.equal(outcome.exit_status, 'submitted')
  const tools = await client.tools('mlgym')
  t.strictSame(fake.requests[0].tools, tools.tools, 'the profile\'s tools, as the server gives them')
  t.notOk((fake.requests[0].messages[0].content as string).includes('signature:'), 'no command docs in the system prompt: the tools carry them')
  t.match(fake.requests[1].messages.at(-1)!.content, /did not use any tool calls/)
  t.strictSame(stored.steps.map(s => s.action), [TIT_FOR_TAT, 'open "strategy.py"', 'validate', 'submit'])
  const afterOpen = fake.requests[3].messages
  const assistant = afterOpen.at(-2)!
  const tool = afterOpen.at(-1)!
  t.equal(assistant.role, 'assistant')
  t.equal((assistant.tool_calls as any[])[0].function.name, 'open')
  t.equal(tool.role, 'tool')
  t.equal(tool.tool_call_id, (assistant.tool_calls as any[])[0].id)
  t.match(tool.content, /^\[File: \/home\/agent\/workspace\/strategy\.py \(2 lines total\)\]/)
  t.match(fake.requests[4].messages.at(-1)!.content, /exactly ONE function call/, 'two calls in one answer: re-queried')
  t.equal(stored.steps[2].model!.requeries!.length, 1)
  t.equal(stored.steps[1].model!.completion.tool_calls![0].function.name, 'open', 'the completion as returned')
})

t.test('token ids and logprobs: requested, stored with each step and returned unchanged', async t => {
  const replies = [say('ls'), say('submit')]
  const { fake, stored } = await episode(t, replies, { tokenData: true })
  for (const r of fake.requests) {
    t.equal(r.logprobs, true)
    t.equal(r.return_token_ids, true)
  }
  stored.steps.forEach((st, i) => {
    const m = st.model!
    const prompt = fake.requests[i].messages.map(x => `${x.role}: ${typeof x.content === 'string' ? x.content : JSON.stringify(x.content ?? '')}`).join('\n')
    t.strictSame(m.prompt_token_ids, toyTokens(prompt).map(toyTokenId), `step ${i + 1}: prompt ids as the endpoint returned them`)
    const out = toyTokens(replies[i].content)
    t.strictSame(m.completion_token_ids, out.map(toyTokenId))
    t.strictSame(m.completion_logprobs, out.map((_, k) => -0.01 * (k + 1)))
    t.strictSame(m.sampling, { temperature: 0, top_p: 0.95, logprobs: true, return_token_ids: true })
  })
  // the trainer feed gives the same data back
  const page = await client.episodes({ status: 'finished', model: 'fake-teacher', limit: 500 })
  t.ok(page.episodes.some(e => e.id === stored.episode.id))
  const again = await client.episode(stored.episode.id)
  t.strictSame(again.steps.map(s => s.model), stored.steps.map(s => s.model))
})

t.test('the thought/action parser and the history processor on their own', async t => {
  t.strictSame(parseThoughtAction('DISCUSSION\nlook\n```bash\nls -a\n```\n'), { thought: 'DISCUSSION\nlook', action: 'ls -a' })
  // a fenced block inside the command (a markdown file being written) does not end it
  const nested = 'DISCUSSION\nwrite notes\n```\ncat > notes.md <<\'EOF\'\n```python\nx = 1\n```\nEOF\n```'
  t.equal(parseThoughtAction(nested).action, "cat > notes.md <<'EOF'\n```python\nx = 1\n```\nEOF")
  t.throws(() => parseThoughtAction('```\n```'), { reason: 'no_block' }, 'an empty block is no command')
  t.throws(() => parseThoughtAction('```\nls\n```\n```\npwd\n```'), { reason: 'multiple_blocks' })
  t.ok(new FormatError('no_block', 'x') instanceof Error)
  const h = [{ role: 'system' as const, content: 's' }, { role: 'user' as const, content: 'task' },
    ...Array.from({ length: 3 }, (_, i) => [{ role: 'assistant' as const, content: `a${i}` }, { role: 'user' as const, content: `o${i}\nx` }]).flat()]
  const kept = lastObservations(h, 2)
  t.strictSame(kept.map(m => m.content), ['s', 'task', 'a0', 'Old output omitted (2 lines)', 'a1', 'o1\nx', 'a2', 'o2\nx'])
  t.equal(h[3].content, 'o0\nx', 'the history itself is untouched')
})
