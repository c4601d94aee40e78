// The episode store: one interface, two implementations with the same schema and migrations: SQLite (embedded
// default, one file in the data dir: store-sqlite.ts) and PostgreSQL (`--store postgres://...`, shared by several
// replicas: store-postgres.ts). A step is written before it is answered. Beside the episodes the store keeps the
// replicas (public URL, heartbeat) and which replica holds each live environment.
import type { Metrics } from '../env-spec/trajectory.js'
import { ENDED_STATUSES, episodeOutcome, type Episode, type EpisodeOutcome, type EpisodeBriefPage, type EpisodeInfo, type EpisodePage, type ModelCall, type TrajectoryStep } from '../env-spec/episode.js'
import type { CreateEnvBody, EpisodeQuery } from '../env-spec/messages.js'
import { ValidationError } from '../env-spec/validate.js'

export interface NewEpisode {
  id: string
  env_id: string
  task_id: string
  baseline: Metrics | null
  description: string
  meta?: Record<string, unknown>
  model?: string | null
  /** the replica (server id) running it: a restarted replica interrupts only its own */
  server_id: string
  /** the API key whose environment runs it (null: made without a key) */
  key_id?: string | null
}

/** An episode's running totals after a step. `improved`: some score beats the baseline, as the caller decided. */
export interface StepTotals extends EpisodeInfo {
  done: boolean
  improved: boolean
  /** whether held long polls (on every replica) should look again: the episode ended or first beat its baseline */
  notify: boolean
}

/** A live environment as the store knows it: which replica holds it, and what it was created with. */
export interface StoredEnv {
  id: string
  replica_id: string
  task_id: string
  backend: 'local' | 'docker'
  body: CreateEnvBody
  created_at: string
}

/** Where an environment lives: its replica, that replica's public URL and how long ago it last sent a heartbeat. */
export interface EnvLocation { replica_id: string, url: string | null, heartbeat_age_ms: number }

/** A running server as the replicas table has it; `instance` tells two servers in one process apart. */
export interface Replica { id: string, url: string | null, host: string, pid: number, instance: string }

export interface EpisodeStore {
  readonly kind: 'sqlite' | 'postgres'
  /** the file, or the database URL without its password (for messages) */
  readonly where: string
  createEpisode (e: NewEpisode): Promise<void>
  /** One transaction: the step (with the model call behind it, stored as given) and the episode's running totals. */
  appendStep (episodeId: string, idx: number, step: TrajectoryStep, ep: StepTotals): Promise<void>
  /** Whether the episode was running (and is abandoned now: its environment was reset or closed). */
  abandon (episodeId: string): Promise<boolean>
  /** Whether the episode was running (and is interrupted now: the server stopped under it). */
  interrupt (episodeId: string): Promise<boolean>
  /** At start: the episodes a dead server of this id (or of no recorded id) left running; returns their ids. */
  interruptRunning (serverId: string): Promise<string[]>
  getEpisode (id: string): Promise<Episode | undefined>
  getSteps (episodeId: string): Promise<TrajectoryStep[]>
  /**
   * Cursor pagination, stable under inserts: over the order episodes ended when `status` is one an episode ends
   * with (a trainer following `status=finished` sees every episode once, however long it ran), else over creation
   * order. `has_score`: at least one evaluation; `improved`: some score beats the baseline.
   * `desc`: newest first, a page after the cursor is older. `owner`: only the episodes of this API key (null: those
   * made without one). `description: false`: briefs, without the task prompt.
   */
  listEpisodes (f: Omit<EpisodeQuery, 'wait'>, owner?: { keyId: string | null }): Promise<EpisodePage | EpisodeBriefPage>
  /** The API key an episode belongs to (null: none); undefined: no such episode. */
  episodeOwner (id: string): Promise<string | null | undefined>
  /** For /v1/health: the store answers a query. */
  health (): Promise<{ kind: 'sqlite' | 'postgres', ok: boolean, error?: string }>

  /**
   * A replica starts: its row (URL, host, pid) and a first heartbeat. Refused while another live process holds the
   * same id (its heartbeat younger than `staleMs`): two replicas with one id would sweep each other's sandboxes.
   */
  registerReplica (r: Replica, staleMs: number): Promise<void>
  heartbeat (replicaId: string): Promise<void>
  /** A replica stops: its row and its environments' rows go. */
  leave (replicaId: string): Promise<void>
  putEnv (env: StoredEnv): Promise<void>
  dropEnv (envId: string): Promise<void>
  /** the environments a replica held (after a crash: what it left) */
  envsOf (replicaId: string): Promise<StoredEnv[]>
  locateEnv (envId: string): Promise<EnvLocation | undefined>
  /** `cb` runs when another process changed episodes (PostgreSQL: LISTEN/NOTIFY; SQLite has no other process). */
  watch (cb: () => void): void
  close (): Promise<void>
}

/** Opens the store `spec` names: `postgres://...` (or `postgresql://`), else a SQLite file (default `file`). */
export async function openStore (spec: string, file: string, opts: { synchronous?: 'NORMAL' | 'FULL' } = {}): Promise<EpisodeStore> {
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const { PostgresStore } = await import('./store-postgres.js')
    return PostgresStore.open(spec)
  }
  const { SqliteStore } = await import('./store-sqlite.js')
  return new SqliteStore(spec.replace(/^sqlite:/, '') || file, opts)
}

// ---- the schema, once for both databases ----

/** What differs between the two databases' SQL. */
export interface Dialect {
  /** an auto-numbered primary key */
  serial: string
  real: string
  /** milliseconds since the epoch by the database's clock (replicas' clocks may differ; the store's is one) */
  nowMs: string
}

export const SQLITE_DIALECT: Dialect = {
  serial: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  real: 'REAL',
  nowMs: "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
}

export const POSTGRES_DIALECT: Dialect = {
  serial: 'SERIAL PRIMARY KEY',
  real: 'DOUBLE PRECISION',
  nowMs: 'CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)'
}

/** The schema every store starts from (version 0); an older SQLite file already has it. */
export function baseSchema (d: Dialect): string {
  return `
    CREATE TABLE IF NOT EXISTS episodes (
      seq ${d.serial},
      id TEXT UNIQUE NOT NULL, env_id TEXT NOT NULL, task_id TEXT NOT NULL,
      status TEXT NOT NULL, exit_status TEXT, submission TEXT, score TEXT NOT NULL DEFAULT '[]', baseline TEXT,
      steps INTEGER NOT NULL DEFAULT 0, description TEXT NOT NULL DEFAULT '',
      created_at TEXT NOT NULL, finished_at TEXT, meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX IF NOT EXISTS episodes_task ON episodes(task_id, status);
    CREATE TABLE IF NOT EXISTS steps (
      episode_id TEXT NOT NULL, idx INTEGER NOT NULL,
      action TEXT NOT NULL, observation TEXT NOT NULL, response TEXT NOT NULL, thought TEXT NOT NULL,
      state TEXT NOT NULL, execution_time ${d.real} NOT NULL, reward ${d.real} NOT NULL,
      terminated INTEGER NOT NULL, truncated INTEGER NOT NULL, created_at TEXT NOT NULL,
      PRIMARY KEY (episode_id, idx)
    );`
}

/**
 * Schema versions after the first, applied in order to new and old stores alike (SQLite: PRAGMA user_version;
 * PostgreSQL: the schema_version table): a store an older server wrote is upgraded in place when a newer one opens it.
 */
export const MIGRATIONS: Array<(d: Dialect) => string> = [
  // 1: the model call behind each step; the episode's model, whether it beat the baseline, the order episodes ended
  () => `
    ALTER TABLE steps ADD COLUMN model TEXT;
    ALTER TABLE episodes ADD COLUMN model TEXT;
    ALTER TABLE episodes ADD COLUMN improved INTEGER;
    ALTER TABLE episodes ADD COLUMN end_seq INTEGER;
    UPDATE episodes SET end_seq = seq WHERE status != 'running';
    CREATE UNIQUE INDEX IF NOT EXISTS episodes_end ON episodes(end_seq);
    CREATE INDEX IF NOT EXISTS episodes_model ON episodes(model, status);`,
  // 2: which replica runs each episode; the replicas (public URL, heartbeat) and the live environments each holds
  () => `
    ALTER TABLE episodes ADD COLUMN server_id TEXT;
    CREATE INDEX IF NOT EXISTS episodes_server ON episodes(server_id, status);
    CREATE TABLE IF NOT EXISTS replicas (
      id TEXT PRIMARY KEY, url TEXT, host TEXT NOT NULL, pid INTEGER NOT NULL, instance TEXT NOT NULL,
      started_at TEXT NOT NULL, heartbeat_ms BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS envs (
      id TEXT PRIMARY KEY, replica_id TEXT NOT NULL, task_id TEXT NOT NULL, backend TEXT NOT NULL,
      body TEXT NOT NULL, created_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS envs_replica ON envs(replica_id);`,
  // 3: the API key whose environment ran the episode (null: made without a key)
  () => `
    ALTER TABLE episodes ADD COLUMN key_id TEXT;
    CREATE INDEX IF NOT EXISTS episodes_key ON episodes(key_id, seq);`,
  // 4: each step's exit status (null: no command ran, or it timed out); why each episode ended (episodeOutcome;
  // null for episodes ended before this, whose outcome is worked out when read, and not filterable)
  () => `
    ALTER TABLE steps ADD COLUMN exit_code INTEGER;
    ALTER TABLE episodes ADD COLUMN outcome TEXT;
    CREATE INDEX IF NOT EXISTS episodes_outcome ON episodes(outcome, seq);`
]
/** The schema version a store this server opens ends at. */
export const SCHEMA_VERSION = MIGRATIONS.length

/**
 * Every migration from 2 on is idempotent (a store skips an ADD COLUMN whose column is there; the rest is IF NOT
 * EXISTS): two lines of servers numbered their version 2 differently (one added server_id and the replicas, the
 * other key_id), so a SQLite file at version 2 without server_id is taken as being at 1 and runs 2 and 3 again.
 * (PostgreSQL stores only ever had the first numbering.)
 */
/** The ADD COLUMN statements of a migration: [table, column] each, so a store can skip those already there. */
export function addedColumn (statement: string): [string, string] | undefined {
  const m = /^\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)/i.exec(statement)
  return m ? [m[1]!, m[2]!] : undefined
}

export function newerSchemaError (where: string, version: number): Error {
  return new Error(`the episode store ${where} has schema version ${version}, newer than this server's ${SCHEMA_VERSION}: upgrade synthgym or use another store`)
}

/** The next number in the order episodes ended (in the same statement that ends one: no two share a number). */
export const NEXT_END_SEQ = '(SELECT COALESCE(MAX(end_seq), 0) + 1 FROM episodes)'

// Both databases take the same statements, with `?` placeholders (PostgreSQL's `$n` are put in by its store).
export const SQL = {
  insertEpisode: `INSERT INTO episodes (id, env_id, task_id, status, baseline, description, created_at, meta, model, improved, server_id, key_id)
    VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, 0, ?, ?)`,
  owner: 'SELECT key_id FROM episodes WHERE id = ?',
  insertStep: `INSERT INTO steps (episode_id, idx, action, observation, response, thought, state, execution_time,
    reward, terminated, truncated, created_at, model, exit_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  /** after a step that leaves the episode running: none of the indexed columns (SQLite rewrites an index entry
   * even for an unchanged value: status alone is in three, 15 µs of a 70 µs append) */
  updateRunning: `UPDATE episodes SET steps = ?, score = ?, exit_status = ?, submission = ?, improved = ? WHERE id = ?`,
  /** the same after a step with model data: it names the episode's model when its environment did not */
  updateRunningModel: `UPDATE episodes SET steps = ?, score = ?, exit_status = ?, submission = ?, improved = ?,
    model = COALESCE(model, ?) WHERE id = ?`,
  /** after the step that ends it: its status, outcome and place in the order episodes ended too */
  updateEpisode: `UPDATE episodes SET steps = ?, score = ?, exit_status = ?, submission = ?, status = ?, finished_at = ?,
    improved = ?, model = COALESCE(model, ?), end_seq = CASE WHEN ? = 1 THEN ${NEXT_END_SEQ} ELSE NULL END, outcome = ?
    WHERE id = ?`,
  /** ends a running episode as abandoned or interrupted (an interrupted one says so in its exit status too) */
  end: `UPDATE episodes SET status = ?, outcome = ?, finished_at = ?, end_seq = ${NEXT_END_SEQ},
    exit_status = CASE WHEN ? = 'interrupted' THEN COALESCE(exit_status, 'interrupted') ELSE exit_status END
    WHERE id = ? AND status = 'running'`,
  runningOf: `SELECT id FROM episodes WHERE status = 'running' AND (server_id = ? OR server_id IS NULL) ORDER BY seq`,
  getEpisode: 'SELECT * FROM episodes WHERE id = ?',
  getSteps: 'SELECT * FROM steps WHERE episode_id = ? ORDER BY idx',
  getReplica: 'SELECT id, url, host, pid, instance, heartbeat_ms FROM replicas WHERE id = ?',
  upsertReplica: (d: Dialect) => `INSERT INTO replicas (id, url, host, pid, instance, started_at, heartbeat_ms) VALUES (?, ?, ?, ?, ?, ?, ${d.nowMs})
    ON CONFLICT (id) DO UPDATE SET url = excluded.url, host = excluded.host, pid = excluded.pid, instance = excluded.instance,
    started_at = excluded.started_at, heartbeat_ms = excluded.heartbeat_ms`,
  replicaAge: (d: Dialect) => `SELECT ${d.nowMs} - heartbeat_ms AS age FROM replicas WHERE id = ?`,
  heartbeat: (d: Dialect) => `UPDATE replicas SET heartbeat_ms = ${d.nowMs} WHERE id = ?`,
  dropReplicaEnvs: 'DELETE FROM envs WHERE replica_id = ?',
  dropReplica: 'DELETE FROM replicas WHERE id = ?',
  putEnv: 'INSERT INTO envs (id, replica_id, task_id, backend, body, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  dropEnv: 'DELETE FROM envs WHERE id = ?',
  envsOf: 'SELECT * FROM envs WHERE replica_id = ? ORDER BY created_at',
  locateEnv: (d: Dialect) => `SELECT e.replica_id, r.url, ${d.nowMs} - r.heartbeat_ms AS age
    FROM envs e LEFT JOIN replicas r ON r.id = e.replica_id WHERE e.id = ?`
}

export function episodeArgs (e: NewEpisode): unknown[] {
  return [e.id, e.env_id, e.task_id, e.baseline ? JSON.stringify(e.baseline) : null, e.description, new Date().toISOString(),
    JSON.stringify(e.meta ?? {}), e.model ?? null, e.server_id, e.key_id ?? null]
}

export function stepArgs (episodeId: string, idx: number, step: TrajectoryStep, now: string): unknown[] {
  return [episodeId, idx, step.action, step.observation, step.response, step.thought, step.state, step.execution_time,
    step.reward, step.terminated ? 1 : 0, step.truncated ? 1 : 0, now, step.model ? JSON.stringify(step.model) : null,
    step.exit_code ?? null]
}

/** The episode's update after step `idx`: the statement (SQL's key) and its arguments. */
export function episodeUpdate (episodeId: string, idx: number, step: TrajectoryStep, ep: StepTotals, now: string):
  { sql: 'updateRunning' | 'updateRunningModel' | 'updateEpisode', args: unknown[] } {
  const model = step.model?.model ?? null
  const totals = [idx + 1, JSON.stringify(ep.score), ep.exit_status, ep.submission]
  if (!ep.done && model === null) return { sql: 'updateRunning', args: [...totals, ep.improved ? 1 : 0, episodeId] }
  if (!ep.done) return { sql: 'updateRunningModel', args: [...totals, ep.improved ? 1 : 0, model, episodeId] }
  return {
    sql: 'updateEpisode',
    args: [...totals, 'finished', now, ep.improved ? 1 : 0, model, 1, episodeOutcome({ ...ep, status: 'finished' }),
      episodeId]
  }
}

export function envArgs (e: StoredEnv): unknown[] {
  return [e.id, e.replica_id, e.task_id, e.backend, JSON.stringify(e.body), e.created_at]
}

export function rowToEnv (r: Record<string, unknown>): StoredEnv {
  return {
    id: r.id as string, replica_id: r.replica_id as string, task_id: r.task_id as string,
    backend: r.backend as StoredEnv['backend'], body: JSON.parse(r.body as string), created_at: r.created_at as string
  }
}

export function rowToLocation (r: Record<string, unknown>): EnvLocation {
  // a replica that left (or never wrote its row) is as gone as one that stopped its heartbeat
  return { replica_id: r.replica_id as string, url: (r.url as string) ?? null, heartbeat_age_ms: r.age === null || r.age === undefined ? Infinity : Number(r.age) }
}

/**
 * Whether another live server wrote `row`: its heartbeat is fresh and it ran on another host, or in another live
 * process here, or is another server in this process.
 */
export function replicaInUse (row: { host: string, pid: number, instance: string, age: number }, me: Replica, staleMs: number): boolean {
  if (row.age >= staleMs) return false
  if (row.host !== me.host) return true
  if (row.pid === me.pid) return row.instance !== me.instance
  try { process.kill(row.pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
}

export function replicaInUseError (id: string, url: string | null, host: string, pid: number, age: number): Error {
  return new Error(`replica id ${id} is in use by a running server (${url ?? 'no URL'}, pid ${pid} on ${host}, heartbeat ${Math.round(age)} ms ago): give each replica its own --data-dir (or --replica-id)`)
}

/** A page query: the WHERE clause and arguments of a filter, its order and page size (`?` placeholders). */
export function pageQuery (f: Omit<EpisodeQuery, 'wait'>, owner?: { keyId: string | null }): { sql: string, args: unknown[], order: 'seq' | 'end_seq', byEnd: boolean, limit: number } {
  const where: string[] = []
  const args: unknown[] = []
  const byEnd = f.status !== undefined && ENDED_STATUSES.includes(f.status)
  const order = byEnd ? 'end_seq' : 'seq'
  if (owner) {
    if (owner.keyId === null) where.push('key_id IS NULL')
    else { where.push('key_id = ?'); args.push(owner.keyId) }
  }
  if (f.task) { where.push('task_id = ?'); args.push(f.task) }
  if (f.status) { where.push('status = ?'); args.push(f.status) }
  // `submission_not_found` finds `submission_not_found (submit)` too: the cause in parentheses is a detail
  if (f.exit_status) {
    where.push('(exit_status = ? OR substr(exit_status, 1, ?) = ?)')
    args.push(f.exit_status, f.exit_status.length + 2, f.exit_status + ' (')
  }
  if (f.outcome) { where.push('outcome = ?'); args.push(f.outcome) }
  if (f.has_score) where.push("score != '[]'")
  if (f.model) { where.push('model = ?'); args.push(f.model) }
  if (f.improved !== undefined) { where.push('improved = ?'); args.push(f.improved ? 1 : 0) }
  const desc = f.order === 'desc'
  if (f.cursor) { where.push(`${order} ${desc ? '<' : '>'} ?`); args.push(cursorSeq(f.cursor, byEnd)) }
  const limit = Math.min(Math.max(f.limit ?? 50, 1), 500)
  args.push(limit + 1)
  const columns = f.description === false ? BRIEF_COLUMNS : '*'
  return {
    sql: `SELECT ${columns} FROM episodes ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ${order} ${desc ? 'DESC' : 'ASC'} LIMIT ?`,
    args, order, byEnd, limit
  }
}

/** The page out of `limit + 1` rows. */
export function toPage (rows: Record<string, unknown>[], q: { order: 'seq' | 'end_seq', byEnd: boolean, limit: number }): EpisodePage | EpisodeBriefPage {
  const more = rows.length > q.limit
  const page = rows.slice(0, q.limit)
  const last = page[page.length - 1]
  const end = last ? makeCursor(Number(last[q.order]), q.byEnd) : null
  return { episodes: page.map(rowToEpisode), next_cursor: more ? end : null, end_cursor: end }
}

// Creation-order cursors are the number itself; end-order cursors carry an `e` so one is never read as the other.
function makeCursor (seq: number, byEnd: boolean): string {
  return Buffer.from(`${byEnd ? 'e' : ''}${seq}`).toString('base64url')
}

function cursorSeq (cursor: string, byEnd: boolean): number {
  const text = Buffer.from(cursor, 'base64url').toString()
  const seq = Number(byEnd ? text.replace(/^e/, '') : text)
  if (!Number.isInteger(seq) || text.startsWith('e') !== byEnd) {
    throw new ValidationError(`query.cursor is not a cursor of this query: pass the next_cursor of its last page (status=${ENDED_STATUSES.join(', status=')} page in the order episodes ended, other queries in the order they were created)`, 'query.cursor')
  }
  return seq
}

const BRIEF_COLUMNS = 'seq, end_seq, id, env_id, task_id, status, exit_status, submission, score, baseline, steps, created_at, finished_at, meta, model, improved, outcome'

/** A row as an episode; a row read without its description (BRIEF_COLUMNS) as a brief. */
export function rowToEpisode (r: Record<string, unknown>): Episode {
  const ep = {
    id: r.id as string, env_id: r.env_id as string, task_id: r.task_id as string,
    status: r.status as Episode['status'], exit_status: (r.exit_status as string) ?? null,
    submission: (r.submission as string) ?? null, score: JSON.parse(r.score as string),
    baseline: r.baseline ? JSON.parse(r.baseline as string) : null, steps: r.steps as number,
    ...('description' in r ? { description: r.description as string } : {}), created_at: r.created_at as string,
    finished_at: (r.finished_at as string) ?? null, meta: JSON.parse(r.meta as string),
    model: (r.model as string) ?? null, improved: r.improved === null || r.improved === undefined ? null : r.improved === 1
  } as Episode
  ep.outcome = typeof r.outcome === 'string' ? r.outcome as EpisodeOutcome : episodeOutcome(ep)
  return ep
}

export function rowToStep (r: Record<string, unknown>): TrajectoryStep {
  return {
    action: r.action as string, observation: r.observation as string, response: r.response as string,
    thought: r.thought as string, state: r.state as string, execution_time: r.execution_time as number,
    reward: r.reward as number, terminated: r.terminated === 1, truncated: r.truncated === 1,
    exit_code: typeof r.exit_code === 'number' ? r.exit_code : null,
    ...(r.model ? { model: JSON.parse(r.model as string) as ModelCall } : {})
  }
}
