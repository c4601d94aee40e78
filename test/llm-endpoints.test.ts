// Real endpoints' behaviour, through the strict fakes (test/fakes/openai.ts, written from the reference's bodies):
// the one LLM client's profiles, refusals and error bodies; `synthgym run --model gpt-5` with default flags; a
// refused field dropped once and recorded; a refusal that ends every episode (exit non-zero, the endpoint's message
// on stderr, in the .traj and error.txt); Qwen3 thinking in its content and vLLM's reasoning fields.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { runProcess, tempDir, testServer } from './helpers.js'
import { startFakeOpenAI, type ChatRequest, type FakeOpenAIOptions, type Script } from './fakes/openai.js'
import { LlmClient, type LlmSettings } from '../clients/llm/client.js'
import { ApiFailedError, ContextLimitError } from '../clients/llm/errors.js'
import { SynthgymClient } from '../clients/client.js'
import { runEpisode } from '../clients/agent/loop.js'
import { agentSettings } from '../clients/agent/settings.js'
import { validateMlgymTraj } from '../env-spec/trajectory.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const TASK = 'prisonersDilemma'
const server = await testServer()
t.teardown(() => server.close())
const synthgym = new SynthgymClient(server.url)
const say = (command: string, thought = 'Next step.') => `DISCUSSION\n${thought}\n\`\`\`\n${command}\n\`\`\``

async function fake (script: Script, opts: FakeOpenAIOptions = {}) {
  const f = await startFakeOpenAI(script, opts)
  t.teardown(() => f.close())
  return f
}

function client (url: string, over: Partial<LlmSettings> = {}, notes: string[] = []): LlmClient {
  return new LlmClient({
    baseUrl: url, apiKey: 'k', model: 'm', profile: 'auto', temperature: null, topP: null, maxTokens: null, fillContext: false,
    reasoningEffort: null, tokenData: false, retries: 1, retryBaseMs: 5, retryMaxMs: 10, timeoutMs: 10_000, ...over
  }, line => notes.push(line))
}

const hi = [{ role: 'user' as const, content: 'hi' }]

t.test('OpenAI reasoning models: the profile sends only what they take; refused fields are dropped once, with the API\'s own words', async t => {
  const f = await fake([{ content: 'ok' }], { openai: true })
  const auto = client(f.url, { model: 'gpt-5', temperature: 0, topP: 0.95, maxTokens: 300, reasoningEffort: 'low' })
  await auto.chat(hi)
  t.equal(f.requests.length, 1, 'accepted at once')
  t.strictSame(Object.keys(f.requests[0]!).sort(), ['max_completion_tokens', 'messages', 'model', 'reasoning_effort'])
  t.equal((await auto.endpoint()).profile, 'openai-reasoning')

  // a profile that does not know the model: each refusal named by the API is dropped (or moved) once, then it works
  const notes: string[] = []
  const generic = client(f.url, { model: 'gpt-5', profile: 'openai-compatible', temperature: 0, topP: 0.95, maxTokens: 300 }, notes)
  const r = await generic.chat(hi)
  t.equal(r.message.content, 'ok')
  const sent = f.requests.slice(1)
  t.equal(sent.length, 4, 'max_tokens, temperature, top_p refused, then accepted')
  t.equal(sent[3]!.max_completion_tokens, 300, 'max_tokens moved to max_completion_tokens, as the error says')
  t.equal(sent[3]!.temperature, undefined)
  t.equal(sent[3]!.top_p, undefined)
  t.strictSame(Object.keys(generic.record().dropped).sort(), ['max_tokens', 'temperature', 'top_p'])
  t.match(generic.record().dropped.temperature, /Unsupported value: 'temperature' does not support 0 with this model/)
  t.equal(notes.length, 3, 'each said once')
  t.match(notes[1], /refused 'temperature' \(400 Unsupported value/)
  await generic.chat(hi)
  t.equal(f.requests.length, 6, 'later requests leave them out at once')
  t.strictSame(r.sampling, { max_completion_tokens: 300 }, 'the step records what was sent')

  // an effort the model does not take (param "reasoning.effort")
  const effort = client(f.url, { model: 'gpt-5.1', reasoningEffort: 'minimal' }, notes)
  await effort.chat(hi)
  t.ok('reasoning_effort' in effort.record().dropped)
})

t.test('errors: vLLM\'s flat body kept; context length 400; a 4xx that names nothing droppable ends with its message', async t => {
  const flat = await fake([{ status: 400, message: 'Expected 2 messages, got 1' }], { vllm: { maxModelLen: 4096, flatErrors: true } })
  const e = await client(flat.url).chat(hi).catch(x => x)
  t.type(e, ApiFailedError)
  t.match(e.message, /400 Expected 2 messages, got 1/, 'not "400 status code (no body)"')
  t.equal(e.endpointMessage, 'Expected 2 messages, got 1')

  const small = await fake([{ content: 'ok' }], { vllm: { maxModelLen: 64 } })
  const ctx = await client(small.url, { maxTokens: 32 }).chat([{ role: 'user', content: 'word '.repeat(200) }]).catch(x => x)
  t.type(ctx, ContextLimitError)

  const notAboutFormat = await fake([{ status: 400, message: "Invalid value for 'messages': expected an array.", param: 'messages' }, { content: '{}' }])
  const c = client(notAboutFormat.url)
  await t.rejects(c.chat(hi, { schema: { name: 'x', schema: { type: 'object' } } }), { message: /refused the request: 400 Invalid value for 'messages'/ })
  t.equal(notAboutFormat.requests.length, 1, 'not retried, not reshaped')
  t.not(c.structured, false, 'structured output stays on: the error was not about it')

  const noFormat = await fake([{ status: 400, message: "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model. Learn more about supported models at the Structured Outputs guide: https://platform.openai.com/docs/guides/structured-outputs" }, { content: '{}' }])
  const d = client(noFormat.url)
  await d.chat(hi, { schema: { name: 'x', schema: { type: 'object' } } })
  t.equal(d.structured, false, 'an error about response_format (param null, as OpenAI sends it) turns it off')
  t.equal(noFormat.requests[1]!.response_format, undefined)
})

t.test('vLLM: /v1/models max_model_len sizes the completion to what the prompt leaves', async t => {
  const f = await fake(() => ({ content: 'x '.repeat(50) }), { vllm: { maxModelLen: 2048 }, model: 'Qwen/Qwen3-8B' })
  const c = client(f.url, { model: 'Qwen/Qwen3-8B', fillContext: true })
  const r = await c.chat([{ role: 'user', content: 'word '.repeat(300) }])
  t.equal(r.finish_reason, 'stop', 'accepted: prompt + completion fit')
  t.equal((await c.endpoint()).profile, 'vllm')
  t.equal(c.record().context_length, 2048)
  const asked = f.requests[0]!.max_completion_tokens as number
  t.ok(asked > 0 && asked < 2048 - 600, `the budget (${asked}) leaves room for the prompt`)
})

// ---- the agent harness on the strict fakes ----


const cli = (args: string[]) =>
  runProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'cli.ts'), 'run', ...args], { ...process.env, OPENAI_API_KEY: 'sk-test' })

function validateThenSubmit (req: ChatRequest) {
  const answered = req.messages.filter(m => m.role === 'assistant').length
  return { content: say(answered === 0 ? 'validate' : 'submit') }
}

t.test('synthgym run --model gpt-5, default flags: scored episodes against the strict OpenAI fake', async t => {
  const f = await fake(validateThenSubmit, { openai: true, model: 'gpt-5' })
  const out = tempDir(t, 'sg-gpt5-')
  const r = await cli(['--url', server.url, '--tasks', TASK, '--model', 'gpt-5', '--base-url', f.url, '--out', out, '--max-steps', '5', '--max-tokens', '2000'])
  t.equal(r.code, 0, r.out)
  t.match(r.out, /submitted, score/)
  for (const q of f.requests) t.ok(q.temperature === undefined && q.top_p === undefined && q.max_tokens === undefined && q.max_completion_tokens === 2000)
  const [dir] = readdirSync(out)
  const traj = validateMlgymTraj(JSON.parse(readFileSync(join(out, dir!, `${TASK}.traj`), 'utf8')))
  t.equal(traj.info.exit_status, 'submitted')
  t.ok(traj.info.score.length > 0)
  t.equal(parseYaml(readFileSync(join(out, dir!, 'args.yaml'), 'utf8')).agent.endpoint.profile, 'openai-reasoning')
})

t.test('function calling on the strict OpenAI fake: tool messages answer every call', async t => {
  const f = await fake(req => {
    const n = req.messages.filter(m => m.role === 'assistant').length
    return { content: 'I act.', tool_calls: [{ name: n === 0 ? 'validate' : 'submit', arguments: '{}' }] }
  }, { openai: true })
  const o = await runEpisode(synthgym, agentSettings({ model: 'gpt-5-mini', baseUrl: f.url, apiKey: 'k', mode: 'function_calling' }), { task: TASK, maxSteps: 5 })
  t.equal(o.exit_status, 'submitted')
  t.equal(f.requests.length, 2, 'the second request, with its tool message, was accepted')
})

t.test('a refused field on a model the profile does not know: dropped once, on stderr, in args.yaml', async t => {
  const f = await fake(validateThenSubmit, { openai: true })
  const out = tempDir(t, 'sg-drop-')
  const r = await cli(['--url', server.url, '--tasks', TASK, '--model', 'gpt-5', '--endpoint-profile', 'openai-compatible', '--base-url', f.url,
    '--out', out, '--max-steps', '5', '--runs-per-task', '2', '--concurrency', '1'])
  t.equal(r.code, 0, r.out)
  t.equal(r.out.match(/refused 'temperature'/g)?.length, 1, r.out)
  t.equal(r.out.match(/refused 'top_p'/g)?.length, 1)
  for (const dir of readdirSync(out)) {
    const args = parseYaml(readFileSync(join(out, dir, 'args.yaml'), 'utf8'))
    t.match(args.agent.endpoint.dropped.temperature, /Only the default \(1\) value is supported/)
  }
})

t.test('a refusal that is about no field ends every episode exit_api: the run exits 1 and says the endpoint\'s words', async t => {
  const words = 'The model `gpt-9` does not exist or you do not have access to it.'
  const f = await fake([{ status: 404, message: words }])
  const out = tempDir(t, 'sg-404-')
  const r = await cli(['--url', server.url, '--tasks', TASK, '--model', 'gpt-9', '--base-url', f.url, '--out', out, '--max-steps', '3'])
  t.equal(r.code, 1, r.out)
  t.ok(r.out.includes(words), 'on stderr')
  const [dir] = readdirSync(out)
  const traj = JSON.parse(readFileSync(join(out, dir!, `${TASK}.traj`), 'utf8'))
  t.match(traj.info.exit_status, /exit_api/)
  t.ok(traj.info.api_error.includes(words), 'in the .traj')
  t.ok(readFileSync(join(out, dir!, 'error.txt'), 'utf8').includes(words), 'in error.txt')
})

const QWEN_THINKING = '<think>\nThe strategy could be:\n```python\ndef row_strategy(history):\n    return {0: 1}[0]\n```\n' +
  'and the tests:\n```\npython -c "print(1)"\n```\nBut first just submit the baseline.\n</think>\n\n' + say('submit', 'Submitting the baseline.')

t.test('a Qwen3 student thinking in its content (no reasoning parser) submits; its reasoning is kept apart', async t => {
  const f = await fake([{ content: QWEN_THINKING }], { vllm: { maxModelLen: 32768 }, model: 'Qwen/Qwen3-4B' })
  const o = await runEpisode(synthgym, agentSettings({ model: 'Qwen/Qwen3-4B', baseUrl: f.url, apiKey: 'k' }), { task: TASK, maxSteps: 5 })
  t.equal(o.exit_status, 'submitted')
  t.equal(o.stats.format_errors, 0, 'the blocks inside <think> are not commands')
  const step = o.traj.trajectory[0]!
  t.equal(step.action, 'submit')
  t.match(step.reasoning, /^The strategy could be:\n```python/)
  t.ok(step.thought.startsWith(step.reasoning!) && step.thought.endsWith('\n\nDISCUSSION\nSubmitting the baseline.'), step.thought)
  t.equal(step.response, say('submit', 'Submitting the baseline.'), 'the answer without the think block')
  t.equal(o.traj.history[2]!.reasoning, step.reasoning)
  const stored = await synthgym.episode(o.episode_id)
  t.equal(stored.steps[0]!.model!.completion.content, QWEN_THINKING, 'the model data stays as the endpoint sent it')
})

t.test('vLLM with the qwen3 parser (reasoning_content) in function-calling mode: reasoning in the .traj thought', async t => {
  const f = await fake([{ content: '<think>I will submit {now}.</think>Done.', tool_calls: [{ name: 'submit', arguments: '{}' }] }],
    { vllm: { maxModelLen: 32768, reasoningParser: 'qwen3', reasoningField: 'reasoning_content' }, model: 'Qwen/Qwen3-8B' })
  const o = await runEpisode(synthgym, agentSettings({ model: 'Qwen/Qwen3-8B', baseUrl: f.url, apiKey: 'k', mode: 'function_calling', tokenData: true }), { task: TASK, maxSteps: 5 })
  t.equal(o.exit_status, 'submitted')
  const step = o.traj.trajectory[0]!
  t.equal(step.reasoning, 'I will submit {now}.')
  t.equal(step.thought, 'I will submit {now}.\n\nDone.')
  t.equal(f.requests[0]!.return_token_ids, true, 'the vllm profile asks for token ids')
  const stored = await synthgym.episode(o.episode_id)
  t.equal(stored.steps[0]!.model!.completion.reasoning_content, 'I will submit {now}.')
})
