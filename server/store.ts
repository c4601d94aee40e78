// The episode store (embedded default: one SQLite file). A step is written before it is answered.
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Metrics } from '../env-spec/trajectory.js'
import type { Episode, EpisodeBriefPage, EpisodeInfo, EpisodePage, ModelCall, TrajectoryStep } from '../env-spec/episode.js'
import type { EpisodeQuery } from '../env-spec/messages.js'
import { ValidationError } from '../env-spec/validate.js'

export class EpisodeStore {
  private db: Database.Database
  private stmts

  constructor (file: string, opts: { synchronous?: 'NORMAL' | 'FULL' } = {}) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
    this.db = new Database(file)
    this.db.pragma('journal_mode = WAL')
    // NORMAL in WAL mode: a committed step survives a crash of this process; FULL also survives power loss.
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`)
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS episodes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT UNIQUE NOT NULL, env_id TEXT NOT NULL, task_id TEXT NOT NULL,
        status TEXT NOT NULL, exit_status TEXT, submission TEXT, score TEXT NOT NULL DEFAULT '[]', baseline TEXT,
        steps INTEGER NOT NULL DEFAULT 0, description TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL, finished_at TEXT, meta TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX IF NOT EXISTS episodes_task ON episodes(task_id, status);
      CREATE TABLE IF NOT EXISTS steps (
        episode_id TEXT NOT NULL, idx INTEGER NOT NULL,
        action TEXT NOT NULL, observation TEXT NOT NULL, response TEXT NOT NULL, thought TEXT NOT NULL,
        state TEXT NOT NULL, execution_time REAL NOT NULL, reward REAL NOT NULL,
        terminated INTEGER NOT NULL, truncated INTEGER NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (episode_id, idx)
      );
    `)
    migrate(this.db)
    this.stmts = {
      insertEpisode: this.db.prepare(`INSERT INTO episodes (id, env_id, task_id, status, baseline, description, created_at, meta, model, improved, key_id)
        VALUES (@id, @env_id, @task_id, 'running', @baseline, @description, @created_at, @meta, @model, 0, @key_id)`),
      owner: this.db.prepare('SELECT key_id FROM episodes WHERE id = ?'),
      insertStep: this.db.prepare(`INSERT INTO steps (episode_id, idx, action, observation, response, thought, state, execution_time,
        reward, terminated, truncated, created_at, model) VALUES (@episode_id, @idx, @action, @observation, @response, @thought,
        @state, @execution_time, @reward, @terminated, @truncated, @created_at, @model)`),
      // the first step with model data names the episode's model when its environment did not
      updateEpisode: this.db.prepare(`UPDATE episodes SET steps = @steps, score = @score, exit_status = @exit_status,
        submission = @submission, status = @status, finished_at = @finished_at, improved = @improved, model = COALESCE(model, @model),
        end_seq = CASE WHEN @done THEN ${NEXT_END_SEQ} ELSE NULL END WHERE id = @id`),
      getEpisode: this.db.prepare('SELECT * FROM episodes WHERE id = ?'),
      getSteps: this.db.prepare('SELECT * FROM steps WHERE episode_id = ? ORDER BY idx'),
      abandon: this.db.prepare(`UPDATE episodes SET status = 'abandoned', finished_at = ?, end_seq = ${NEXT_END_SEQ} WHERE id = ? AND status = 'running'`),
      runningIds: this.db.prepare(`SELECT id FROM episodes WHERE status = 'running' ORDER BY seq`)
    }
  }

  createEpisode (e: {
    id: string, env_id: string, task_id: string, baseline: Metrics | null, description: string, meta?: Record<string, unknown>,
    model?: string | null, key_id?: string | null
  }): void {
    this.stmts.insertEpisode.run({
      ...e, baseline: e.baseline ? JSON.stringify(e.baseline) : null, created_at: new Date().toISOString(),
      meta: JSON.stringify(e.meta ?? {}), model: e.model ?? null, key_id: e.key_id ?? null
    })
  }

  /** The API key an episode belongs to (null: none); undefined: no such episode. */
  episodeOwner (id: string): string | null | undefined {
    const r = this.stmts.owner.get(id) as { key_id: string | null } | undefined
    return r ? r.key_id : undefined
  }

  /** For /v1/health: the store answers a query. */
  health (): { kind: 'sqlite', ok: boolean, error?: string } {
    try {
      this.db.prepare('SELECT 1').get()
      return { kind: 'sqlite', ok: true }
    } catch (e) { return { kind: 'sqlite', ok: false, error: (e as Error).message } }
  }

  /**
   * One transaction: the step (with the model call behind it, stored as given) and the episode's running totals.
   * `improved`: whether some score beats the baseline, as the caller (who knows the task's metric) decided.
   */
  appendStep (episodeId: string, idx: number, step: TrajectoryStep,
    ep: EpisodeInfo & { done: boolean, improved: boolean }): void {
    const now = new Date().toISOString()
    this.db.transaction(() => {
      this.stmts.insertStep.run({
        episode_id: episodeId, idx, action: step.action, observation: step.observation, response: step.response,
        thought: step.thought, state: step.state, execution_time: step.execution_time, reward: step.reward,
        terminated: step.terminated ? 1 : 0, truncated: step.truncated ? 1 : 0, created_at: now,
        model: step.model ? JSON.stringify(step.model) : null
      })
      this.stmts.updateEpisode.run({
        id: episodeId, steps: idx + 1, score: JSON.stringify(ep.score), exit_status: ep.exit_status, submission: ep.submission,
        status: ep.done ? 'finished' : 'running', finished_at: ep.done ? now : null, improved: ep.improved ? 1 : 0,
        model: step.model?.model ?? null, done: ep.done ? 1 : 0
      })
    })()
  }

  /** Whether the episode was running (and is abandoned now). */
  abandon (episodeId: string): boolean { return this.stmts.abandon.run(new Date().toISOString(), episodeId).changes > 0 }
  /** At start: episodes a dead server left running can never finish. */
  abandonRunning (): number {
    const ids = this.stmts.runningIds.all() as { id: string }[]
    this.db.transaction(() => { for (const { id } of ids) this.abandon(id) })()
    return ids.length
  }

  getEpisode (id: string): Episode | undefined {
    const r = this.stmts.getEpisode.get(id) as Record<string, unknown> | undefined
    return r ? rowToEpisode(r) : undefined
  }

  getSteps (episodeId: string): TrajectoryStep[] {
    return (this.stmts.getSteps.all(episodeId) as Record<string, unknown>[]).map(r => ({
      action: r.action as string, observation: r.observation as string, response: r.response as string,
      thought: r.thought as string, state: r.state as string, execution_time: r.execution_time as number,
      reward: r.reward as number, terminated: r.terminated === 1, truncated: r.truncated === 1,
      ...(r.model ? { model: JSON.parse(r.model as string) as ModelCall } : {})
    }))
  }

  /**
   * Cursor pagination, stable under inserts: over the order episodes ended when `status` is finished or abandoned (a
   * trainer following `status=finished` sees every episode once, however long it ran), else over creation order;
   * `desc`: newest first, a page after the cursor is older. `has_score`: at least one evaluation; `improved`: some
   * score beats the baseline. `owner`: only the episodes of this API key (null: those made without one).
   * `description: false`: briefs, without the task prompt.
   */
  listEpisodes (f: EpisodeQuery, owner?: { keyId: string | null }): EpisodePage | EpisodeBriefPage {
    const where: string[] = []
    const args: unknown[] = []
    const byEnd = f.status === 'finished' || f.status === 'abandoned'
    const order = byEnd ? 'end_seq' : 'seq'
    if (owner) {
      if (owner.keyId === null) where.push('key_id IS NULL')
      else { where.push('key_id = ?'); args.push(owner.keyId) }
    }
    if (f.task) { where.push('task_id = ?'); args.push(f.task) }
    if (f.status) { where.push('status = ?'); args.push(f.status) }
    if (f.exit_status) { where.push('exit_status = ?'); args.push(f.exit_status) }
    if (f.has_score) where.push("score != '[]'")
    if (f.model) { where.push('model = ?'); args.push(f.model) }
    if (f.improved !== undefined) { where.push('improved = ?'); args.push(f.improved ? 1 : 0) }
    const desc = f.order === 'desc'
    if (f.cursor) { where.push(`${order} ${desc ? '<' : '>'} ?`); args.push(cursorSeq(f.cursor, byEnd)) }
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 500)
    const columns = f.description === false ? BRIEF_COLUMNS : '*'
    const rows = this.db.prepare(`SELECT ${columns} FROM episodes ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ${order} ${desc ? 'DESC' : 'ASC'} LIMIT ?`)
      .all(...args, limit + 1) as Record<string, unknown>[]
    const more = rows.length > limit
    const page = rows.slice(0, limit)
    const last = page[page.length - 1]
    const end = last ? makeCursor(last[order] as number, byEnd) : null
    return { episodes: page.map(rowToEpisode), next_cursor: more ? end : null, end_cursor: end }
  }

  close (): void { this.db.close() }
}

/** The next number in the order episodes ended (in the same statement that ends one: no two share a number). */
const NEXT_END_SEQ = '(SELECT COALESCE(MAX(end_seq), 0) + 1 FROM episodes)'

/**
 * Schema versions after the first (PRAGMA user_version), applied in order to new and old files alike: a file an
 * older server wrote is upgraded in place when a newer one opens it.
 */
const MIGRATIONS: Array<(db: Database.Database) => void> = [
  // 1: the model call behind each step; the episode's model, whether it beat the baseline, the order episodes ended
  db => {
    db.exec(`
      ALTER TABLE steps ADD COLUMN model TEXT;
      ALTER TABLE episodes ADD COLUMN model TEXT;
      ALTER TABLE episodes ADD COLUMN improved INTEGER;
      ALTER TABLE episodes ADD COLUMN end_seq INTEGER;
      UPDATE episodes SET end_seq = seq WHERE status != 'running';
      CREATE UNIQUE INDEX IF NOT EXISTS episodes_end ON episodes(end_seq);
      CREATE INDEX IF NOT EXISTS episodes_model ON episodes(model, status);
    `)
  },
  // 2: the API key whose environment ran the episode (null: made without a key)
  db => {
    db.exec(`
      ALTER TABLE episodes ADD COLUMN key_id TEXT;
      CREATE INDEX IF NOT EXISTS episodes_key ON episodes(key_id, seq);
    `)
  }
]

/** The schema version a store this server opens ends at. */
export const SCHEMA_VERSION = MIGRATIONS.length

function migrate (db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > MIGRATIONS.length) {
    throw new Error(`the episode store ${db.name} has schema version ${version}, newer than this server's ${MIGRATIONS.length}: upgrade synthgym or use another --data-dir`)
  }
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) MIGRATIONS[v](db)
    db.pragma(`user_version = ${MIGRATIONS.length}`)
  })()
}

// Creation-order cursors are the number itself; end-order cursors carry an `e` so one is never read as the other.
function makeCursor (seq: number, byEnd: boolean): string {
  return Buffer.from(`${byEnd ? 'e' : ''}${seq}`).toString('base64url')
}

function cursorSeq (cursor: string, byEnd: boolean): number {
  const text = Buffer.from(cursor, 'base64url').toString()
  const seq = Number(byEnd ? text.replace(/^e/, '') : text)
  if (!Number.isInteger(seq) || text.startsWith('e') !== byEnd) {
    throw new ValidationError(`query.cursor is not a cursor of this query: pass the next_cursor of its last page (status=finished and status=abandoned page in the order episodes ended, other queries in the order they were created)`, 'query.cursor')
  }
  return seq
}

const BRIEF_COLUMNS = 'seq, end_seq, id, env_id, task_id, status, exit_status, submission, score, baseline, steps, created_at, finished_at, meta, model, improved'

/** A row as an episode; a row read without its description (BRIEF_COLUMNS) as a brief. */
function rowToEpisode (r: Record<string, unknown>): Episode {
  return {
    id: r.id as string, env_id: r.env_id as string, task_id: r.task_id as string,
    status: r.status as Episode['status'], exit_status: (r.exit_status as string) ?? null,
    submission: (r.submission as string) ?? null, score: JSON.parse(r.score as string),
    baseline: r.baseline ? JSON.parse(r.baseline as string) : null, steps: r.steps as number,
    ...('description' in r ? { description: r.description as string } : {}), created_at: r.created_at as string,
    finished_at: (r.finished_at as string) ?? null, meta: JSON.parse(r.meta as string),
    model: (r.model as string) ?? null, improved: r.improved === null || r.improved === undefined ? null : r.improved === 1
  } as Episode
}
