// Topics (stage 1) and the LLM client's own behaviour, against the loopback OpenAI API: retries on 5xx, timeouts and
// 429 (and giving up), replies sent back with their schema errors, structured output falling back to JSON in text.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { countTopics, loadTaxonomy, sampleTopics, topicList } from '../tasks/generate/topics.js'
import { Llm, extractJson, strictSchema } from '../tasks/generate/llm.js'
import { proposalSchema, validateProposal, validateTopicList } from '../env-spec/generation.js'
import { startFakeOpenAI } from './fakes/openai.js'
import { tempDir } from './helpers.js'
import { LANGUAGE } from './generate-llm.js'

const dir = tempDir(t, 'sg-gen-topics-')

t.test('the built-in taxonomy: at least 200 topics over at least 12 areas, no duplicates', async t => {
  const tax = loadTaxonomy()
  t.ok(Object.keys(tax).length >= 12, `${Object.keys(tax).length} areas`)
  t.ok(countTopics(tax) >= 200, `${countTopics(tax)} topics`)
  for (const a of ['vision', 'nlp', 'speech_audio', 'tabular_classification', 'tabular_regression', 'time_series', 'graphs', 'recommendation', 'rl_control', 'game_theory', 'optimisation', 'scientific_ml']) t.ok(tax[a]?.length, a)
  const all = Object.values(tax).flat().map(s => s.toLowerCase())
  t.equal(new Set(all).size, all.length)
})

t.test('sampling: deterministic under the seed, no duplicates, spread over the areas', async t => {
  const tax = loadTaxonomy()
  const a = sampleTopics(tax, 50, 7)
  t.same(sampleTopics(tax, 50, 7), a, 'the same seed, the same topics')
  t.not(JSON.stringify(sampleTopics(tax, 50, 8)), JSON.stringify(a), 'another seed, other topics')
  t.equal(new Set(a.map(x => x.topic)).size, 50)
  t.equal(new Set(a.map(x => x.slug)).size, 50)
  t.equal(new Set(a.slice(0, Object.keys(tax).length).map(x => x.area)).size, Object.keys(tax).length, 'the first ones cover every area')
  const every = sampleTopics(tax, countTopics(tax), 1)
  t.equal(new Set(every.map(x => x.topic)).size, countTopics(tax), 'all of them, once each')
  t.throws(() => sampleTopics(tax, countTopics(tax) + 1, 1), /there are only \d+ distinct topics/)
  t.throws(() => sampleTopics(tax, 0, 1), /at least 1/)
  t.doesNotThrow(() => validateTopicList(topicList({ topics: 10, seed: 3 })))
})

t.test('a topics file: lines (comments, duplicates dropped), or the taxonomy format', async t => {
  const f = join(dir, 'topics.txt')
  writeFileSync(f, '# mine\nprotein folding\n\nProtein  Folding\nchess openings   # the classics\n')
  const l = topicList({ seed: 0, topicsFile: f })
  t.same(l.topics.map(x => x.topic), ['protein folding', 'chess openings'])
  t.same(l.topics.map(x => x.slug), ['user-protein-folding', 'user-chess-openings'])
  const y = join(dir, 'topics.yaml')
  writeFileSync(y, 'areas:\n  bio: [protein folding, gene expression]\n  games: [chess openings]\n')
  t.same(topicList({ seed: 0, topicsFile: y }).topics.map(x => `${x.area}/${x.topic}`), ['bio/protein folding', 'bio/gene expression', 'games/chess openings'])
  t.equal(topicList({ seed: 0, topics: 2, topicsFile: y }).topics.length, 2)
  t.throws(() => topicList({ seed: 0, topicsFile: join(dir, 'none.txt') }), /--topics-file .*none\.txt/)
})

t.test('LLM client: transient failures retried with backoff, then given up', async t => {
  const fake = await startFakeOpenAI([{ status: 500, message: 'upstream' }, { hang: true }, { status: 503 }, { content: '{"a": 1}' }])
  t.teardown(() => fake.close())
  const retries: string[] = []
  const llm = new Llm({ model: 'm', baseUrl: fake.url, apiKey: 'k', timeout: 1, backoffMs: 10, retries: 5 }, why => retries.push(why))
  const r = await llm.complete([{ role: 'user', content: 'hi' }])
  t.equal(r.text, '{"a": 1}')
  t.equal(fake.requests.length, 4)
  t.equal(retries.length, 3)
  t.match(retries[1], /timed out/i, 'a request past its timeout is retried')
  t.ok(llm.tokens.prompt > 0)

  const busy = await startFakeOpenAI([{ status: 429, message: 'slow down' }])
  t.teardown(() => busy.close())
  const gives = new Llm({ model: 'm', baseUrl: busy.url, apiKey: 'k', backoffMs: 1, retries: 2 })
  await t.rejects(gives.complete([{ role: 'user', content: 'hi' }]), { code: 'LLM_ERROR', status: 429, message: /the model API failed 3 times; the last error: 429 slow down/ })
  t.equal(busy.requests.length, 3, 'the first try and two retries')
  const bad = await startFakeOpenAI([{ status: 401, message: 'bad key' }])
  t.teardown(() => bad.close())
  await t.rejects(new Llm({ model: 'm', baseUrl: bad.url, apiKey: 'k', backoffMs: 1 }).complete([{ role: 'user', content: 'x' }]), /refused the request: 401 bad key/)
  t.equal(bad.requests.length, 1, 'a 401 is not retried')
})

t.test('LLM client: an invalid reply goes back with what is wrong; structured output or JSON in text', async t => {
  const good = JSON.stringify(LANGUAGE('a topic', 'x'))
  const fake = await startFakeOpenAI([{ content: '{"title": "only this"}' }, { content: 'Here you go:\n```json\n' + good + '\n```' }])
  t.teardown(() => fake.close())
  const llm = new Llm({ model: 'm', baseUrl: fake.url, apiKey: 'k' })
  const r = await llm.json([{ role: 'user', content: 'propose' }], { name: 'proposal', schema: proposalSchema, validate: validateProposal })
  t.equal(r.replies, 2)
  t.equal(r.value.task_id, 'x')
  const resent = fake.requests[1]!.messages.at(-1)!.content as string
  t.match(resent, /Your reply does not fit the JSON Schema:\n- reply\.topic is required/)
  t.equal(fake.requests[0]!.response_format?.type, 'json_schema')
  t.equal((fake.requests[0]!.response_format?.json_schema as { strict: boolean }).strict, true)
  t.notMatch(JSON.stringify(fake.requests[0]!.response_format), /minLength|uniqueItems/, 'what strict mode cannot take is left out (ajv checks it)')

  const never = await startFakeOpenAI([{ content: 'no JSON here' }], { rejectResponseFormat: true })
  t.teardown(() => never.close())
  const l2 = new Llm({ model: 'm', baseUrl: never.url, apiKey: 'k' })
  await t.rejects(l2.json([{ role: 'user', content: 'propose' }], { name: 'p', schema: proposalSchema, validate: validateProposal, attempts: 2 }), { code: 'INVALID_REPLY', message: /no valid reply in 2 attempts; the last: Your reply is not valid JSON/ })
  t.equal(l2.structured, false)
  t.same(never.requests.map(q => !!q.response_format), [true, false, false], 'one 400 to response_format, then JSON in text')
  t.same(extractJson('```json\n{"a": 2}\n```'), { a: 2 })
  t.same(extractJson('blah {"a": 3} blah'), { a: 3 })
  t.same(strictSchema({ type: 'string', minLength: 1, enum: ['minLength'] }), { type: 'string', enum: ['minLength'] })
})
