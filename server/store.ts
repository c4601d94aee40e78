// The episode store (embedded default: one SQLite file). A step is written before it is answered.
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Metrics } from '../env-spec/trajectory.js'
import type { Episode, EpisodeBriefPage, EpisodeInfo, EpisodePage, TrajectoryStep } from '../env-spec/episode.js'
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
    this.stmts = {
      insertEpisode: this.db.prepare(`INSERT INTO episodes (id, env_id, task_id, status, baseline, description, created_at, meta)
        VALUES (@id, @env_id, @task_id, 'running', @baseline, @description, @created_at, @meta)`),
      insertStep: this.db.prepare(`INSERT INTO steps VALUES (@episode_id, @idx, @action, @observation, @response, @thought,
        @state, @execution_time, @reward, @terminated, @truncated, @created_at)`),
      updateEpisode: this.db.prepare(`UPDATE episodes SET steps = @steps, score = @score, exit_status = @exit_status,
        submission = @submission, status = @status, finished_at = @finished_at WHERE id = @id`),
      getEpisode: this.db.prepare('SELECT * FROM episodes WHERE id = ?'),
      getSteps: this.db.prepare('SELECT * FROM steps WHERE episode_id = ? ORDER BY idx'),
      abandon: this.db.prepare(`UPDATE episodes SET status = 'abandoned', finished_at = ? WHERE id = ? AND status = 'running'`),
      abandonAll: this.db.prepare(`UPDATE episodes SET status = 'abandoned', finished_at = ? WHERE status = 'running'`)
    }
  }

  createEpisode (e: { id: string, env_id: string, task_id: string, baseline: Metrics | null, description: string, meta?: Record<string, unknown> }): void {
    this.stmts.insertEpisode.run({ ...e, baseline: e.baseline ? JSON.stringify(e.baseline) : null, created_at: new Date().toISOString(), meta: JSON.stringify(e.meta ?? {}) })
  }

  /** One transaction: the step and the episode's running totals. */
  appendStep (episodeId: string, idx: number, step: TrajectoryStep,
    ep: EpisodeInfo & { done: boolean }): void {
    const now = new Date().toISOString()
    this.db.transaction(() => {
      this.stmts.insertStep.run({
        episode_id: episodeId, idx, action: step.action, observation: step.observation, response: step.response,
        thought: step.thought, state: step.state, execution_time: step.execution_time, reward: step.reward,
        terminated: step.terminated ? 1 : 0, truncated: step.truncated ? 1 : 0, created_at: now
      })
      this.stmts.updateEpisode.run({
        id: episodeId, steps: idx + 1, score: JSON.stringify(ep.score), exit_status: ep.exit_status, submission: ep.submission,
        status: ep.done ? 'finished' : 'running', finished_at: ep.done ? now : null
      })
    })()
  }

  abandon (episodeId: string): void { this.stmts.abandon.run(new Date().toISOString(), episodeId) }
  /** At start: episodes a dead server left running can never finish. */
  abandonRunning (): number { return this.stmts.abandonAll.run(new Date().toISOString()).changes }

  getEpisode (id: string): Episode | undefined {
    const r = this.stmts.getEpisode.get(id) as Record<string, unknown> | undefined
    return r ? rowToEpisode(r) : undefined
  }

  getSteps (episodeId: string): TrajectoryStep[] {
    return (this.stmts.getSteps.all(episodeId) as Record<string, unknown>[]).map(r => ({
      action: r.action as string, observation: r.observation as string, response: r.response as string,
      thought: r.thought as string, state: r.state as string, execution_time: r.execution_time as number,
      reward: r.reward as number, terminated: r.terminated === 1, truncated: r.truncated === 1
    }))
  }

  /**
   * Cursor pagination over `seq`: stable under inserts (`desc`: newest first, a page after the cursor is older).
   * `has_score`: only episodes with at least one evaluation. `description: false`: briefs, without the task prompt.
   */
  listEpisodes (f: EpisodeQuery): EpisodePage | EpisodeBriefPage {
    const where: string[] = []
    const args: unknown[] = []
    if (f.task) { where.push('task_id = ?'); args.push(f.task) }
    if (f.status) { where.push('status = ?'); args.push(f.status) }
    if (f.exit_status) { where.push('exit_status = ?'); args.push(f.exit_status) }
    if (f.has_score) where.push("score != '[]'")
    const desc = f.order === 'desc'
    if (f.cursor) { where.push(desc ? 'seq < ?' : 'seq > ?'); args.push(cursorSeq(f.cursor)) }
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 500)
    const columns = f.description === false ? BRIEF_COLUMNS : '*'
    const rows = this.db.prepare(`SELECT ${columns} FROM episodes ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq ${desc ? 'DESC' : 'ASC'} LIMIT ?`)
      .all(...args, limit + 1) as Record<string, unknown>[]
    const more = rows.length > limit
    const page = rows.slice(0, limit)
    const last = page[page.length - 1]
    return {
      episodes: page.map(rowToEpisode),
      next_cursor: more && last ? Buffer.from(String(last.seq)).toString('base64url') : null
    }
  }

  close (): void { this.db.close() }
}

function cursorSeq (cursor: string): number {
  const seq = Number(Buffer.from(cursor, 'base64url').toString())
  if (!Number.isInteger(seq)) throw new ValidationError('query.cursor is not a cursor of this server: pass the next_cursor of the last page', 'query.cursor')
  return seq
}

const BRIEF_COLUMNS = 'seq, id, env_id, task_id, status, exit_status, submission, score, baseline, steps, created_at, finished_at, meta'

/** A row as an episode; a row read without its description (BRIEF_COLUMNS) as a brief. */
function rowToEpisode (r: Record<string, unknown>): Episode {
  return {
    id: r.id as string, env_id: r.env_id as string, task_id: r.task_id as string,
    status: r.status as Episode['status'], exit_status: (r.exit_status as string) ?? null,
    submission: (r.submission as string) ?? null, score: JSON.parse(r.score as string),
    baseline: r.baseline ? JSON.parse(r.baseline as string) : null, steps: r.steps as number,
    ...('description' in r ? { description: r.description as string } : {}), created_at: r.created_at as string,
    finished_at: (r.finished_at as string) ?? null, meta: JSON.parse(r.meta as string)
  } as Episode
}
