// The episode store in one SQLite file (the embedded default). Synchronous underneath (better-sqlite3: a step's
// transaction is a few tens of microseconds); the async interface only wraps the answers.
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Episode, EpisodeBriefPage, EpisodePage, TrajectoryStep } from '../env-spec/episode.js'
import type { EpisodeQuery } from '../env-spec/messages.js'
import {
  MIGRATIONS, SCHEMA_VERSION, addedColumn, SQL, SQLITE_DIALECT as D, baseSchema, envArgs, episodeArgs, newerSchemaError, pageQuery,
  replicaInUse, replicaInUseError, rowToEnv, rowToEpisode, rowToLocation, rowToStep, stepArgs, toPage, episodeUpdate,
  type EnvLocation, type EpisodeStore, type NewEpisode, type Replica, type StepTotals, type StoredEnv
} from './store.js'
import { StoreFullError, StoreUnavailableError } from './errors.js'

/**
 * SQLite moves the WAL's pages into the database file (a checkpoint: their writes and two fsyncs, 3-6 ms here)
 * inside the commit that takes the WAL past 1000 pages, so every ~250th step waited for it before its answer. The
 * store checkpoints itself instead, after every CHECKPOINT_STEPS steps (a step writes about 4 pages), once the step
 * that asked has answered (setImmediate); SQLite's own stays as a backstop past CHECKPOINT_BACKSTOP pages (writes
 * that are not steps). On this one connection nothing writes during a checkpoint, so each one empties the WAL.
 */
const CHECKPOINT_STEPS = 200
const CHECKPOINT_BACKSTOP = 4000

export class SqliteStore implements EpisodeStore {
  readonly kind = 'sqlite'
  readonly where: string
  private db: Database.Database
  private stmts
  /** a step and its episode's update, in one transaction (made once: better-sqlite3 builds a wrapper per call) */
  private appendTx: (step: unknown[], update: Database.Statement, args: unknown[]) => void
  /** steps appended since the last checkpoint (see CHECKPOINT_STEPS) */
  private sinceCheckpoint = 0

  constructor (file: string, opts: { synchronous?: 'NORMAL' | 'FULL' } = {}) {
    this.where = file
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
    this.db = new Database(file)
    this.db.pragma('journal_mode = WAL')
    // NORMAL in WAL mode: a committed step survives a crash of this process; FULL also survives power loss.
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`)
    this.db.pragma(`wal_autocheckpoint = ${CHECKPOINT_BACKSTOP}`)
    this.db.exec(baseSchema(D))
    this.migrate()
    const p = (sql: string) => this.db.prepare(sql)
    this.stmts = {
      insertEpisode: p(SQL.insertEpisode),
      insertStep: p(SQL.insertStep),
      updateEpisode: p(SQL.updateEpisode),
      updateRunning: p(SQL.updateRunning),
      updateRunningModel: p(SQL.updateRunningModel),
      end: p(SQL.end),
      runningOf: p(SQL.runningOf),
      getEpisode: p(SQL.getEpisode),
      owner: p(SQL.owner),
      getSteps: p(SQL.getSteps),
      getReplica: p(SQL.getReplica),
      upsertReplica: p(SQL.upsertReplica(D)),
      replicaAge: p(SQL.replicaAge(D)),
      heartbeat: p(SQL.heartbeat(D)),
      dropReplicaEnvs: p(SQL.dropReplicaEnvs),
      dropReplica: p(SQL.dropReplica),
      putEnv: p(SQL.putEnv),
      dropEnv: p(SQL.dropEnv),
      envsOf: p(SQL.envsOf),
      locateEnv: p(SQL.locateEnv(D))
    }
    this.appendTx = this.db.transaction((step: unknown[], update: Database.Statement, args: unknown[]) => {
      this.stmts.insertStep.run(...step)
      update.run(...args)
    })
  }

  /** Schema versions in PRAGMA user_version: a file an older server wrote is upgraded in place. */
  private migrate (): void {
    let version = this.db.pragma('user_version', { simple: true }) as number
    if (version > SCHEMA_VERSION) throw newerSchemaError(this.where, version)
    const has = (table: string, column: string) =>
      (this.db.pragma(`table_info(${table})`) as { name: string }[]).some(c => c.name === column)
    // a version 2 without server_id is the other numbering's (key_id): 2 and 3 run again, skipping what is there
    if (version === 2 && !has('episodes', 'server_id')) version = 1
    this.db.transaction(() => {
      for (let v = version; v < SCHEMA_VERSION; v++) {
        for (const statement of MIGRATIONS[v]!(D).split(';')) {
          if (!statement.trim()) continue
          const added = addedColumn(statement)
          if (added && has(...added)) continue
          this.db.exec(statement)
        }
      }
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`)
    })()
  }

  /** Runs `work` with SQLite's errors as the server's: a full disk is STORE_FULL, an I/O failure STORE_UNAVAILABLE. */
  private run<T> (work: () => T): Promise<T> {
    try { return Promise.resolve(work()) } catch (e) { return Promise.reject(storeError(e, this.where)) }
  }

  createEpisode (e: NewEpisode): Promise<void> {
    return this.run(() => { this.stmts.insertEpisode.run(...episodeArgs(e)) })
  }

  appendStep (episodeId: string, idx: number, step: TrajectoryStep, ep: StepTotals): Promise<void> {
    const now = new Date().toISOString()
    const update = episodeUpdate(episodeId, idx, step, ep, now)
    if (++this.sinceCheckpoint >= CHECKPOINT_STEPS) {
      this.sinceCheckpoint = 0
      // a checkpoint that fails (a full disk) leaves the WAL as it is: the next one, or the backstop, tries again
      setImmediate(() => { try { if (this.db.open) this.db.pragma('wal_checkpoint(PASSIVE)') } catch {} })
    }
    return this.run(() => this.appendTx(stepArgs(episodeId, idx, step, now), this.stmts[update.sql], update.args))
  }

  private end (episodeId: string, status: 'abandoned' | 'interrupted'): boolean {
    return this.stmts.end.run(status, status, new Date().toISOString(), status, episodeId).changes > 0
  }

  abandon (episodeId: string): Promise<boolean> { return this.run(() => this.end(episodeId, 'abandoned')) }
  interrupt (episodeId: string): Promise<boolean> { return this.run(() => this.end(episodeId, 'interrupted')) }

  interruptRunning (serverId: string): Promise<string[]> {
    return this.run(() => this.db.transaction(() => {
      const ids = (this.stmts.runningOf.all(serverId) as { id: string }[]).map(r => r.id)
      for (const id of ids) this.end(id, 'interrupted')
      return ids
    })())
  }

  getEpisode (id: string): Promise<Episode | undefined> {
    return this.run(() => {
      const r = this.stmts.getEpisode.get(id) as Record<string, unknown> | undefined
      return r ? rowToEpisode(r) : undefined
    })
  }

  getSteps (episodeId: string): Promise<TrajectoryStep[]> {
    return this.run(() => (this.stmts.getSteps.all(episodeId) as Record<string, unknown>[]).map(rowToStep))
  }

  listEpisodes (f: Omit<EpisodeQuery, 'wait'>, owner?: { keyId: string | null }): Promise<EpisodePage | EpisodeBriefPage> {
    return this.run(() => {
      const q = pageQuery(f, owner)
      return toPage(this.db.prepare(q.sql).all(...q.args) as Record<string, unknown>[], q)
    })
  }

  episodeOwner (id: string): Promise<string | null | undefined> {
    return this.run(() => {
      const r = this.stmts.owner.get(id) as { key_id: string | null } | undefined
      return r ? r.key_id : undefined
    })
  }

  async health (): Promise<{ kind: 'sqlite', ok: boolean, error?: string }> {
    try {
      this.db.prepare('SELECT 1').get()
      return { kind: 'sqlite', ok: true }
    } catch (e) { return { kind: 'sqlite', ok: false, error: (e as Error).message } }
  }

  registerReplica (r: Replica, staleMs: number): Promise<void> {
    return this.run(() => this.db.transaction(() => {
      const row = this.stmts.getReplica.get(r.id) as { url: string | null, host: string, pid: number, instance: string } | undefined
      if (row) {
        const age = Number((this.stmts.replicaAge.get(r.id) as { age: number }).age)
        if (replicaInUse({ ...row, age }, r, staleMs)) throw replicaInUseError(r.id, row.url, row.host, row.pid, age)
      }
      this.stmts.upsertReplica.run(r.id, r.url, r.host, r.pid, r.instance, new Date().toISOString())
    })())
  }

  heartbeat (replicaId: string): Promise<void> { return this.run(() => { this.stmts.heartbeat.run(replicaId) }) }

  leave (replicaId: string): Promise<void> {
    return this.run(() => this.db.transaction(() => {
      this.stmts.dropReplicaEnvs.run(replicaId)
      this.stmts.dropReplica.run(replicaId)
    })())
  }

  putEnv (env: StoredEnv): Promise<void> { return this.run(() => { this.stmts.putEnv.run(...envArgs(env)) }) }
  dropEnv (envId: string): Promise<void> { return this.run(() => { this.stmts.dropEnv.run(envId) }) }

  envsOf (replicaId: string): Promise<StoredEnv[]> {
    return this.run(() => (this.stmts.envsOf.all(replicaId) as Record<string, unknown>[]).map(rowToEnv))
  }

  locateEnv (envId: string): Promise<EnvLocation | undefined> {
    return this.run(() => {
      const r = this.stmts.locateEnv.get(envId) as Record<string, unknown> | undefined
      return r ? rowToLocation(r) : undefined
    })
  }

  /** One file, one server: no other process writes episodes. */
  watch (_cb: () => void): void {}

  async close (): Promise<void> { this.db.close() }
}

function storeError (e: unknown, where: string): unknown {
  const code = (e as { code?: string })?.code ?? ''
  if (code === 'SQLITE_FULL') {
    return new StoreFullError(`the episode store ${where} is out of disk space (${(e as Error).message}); free space on its disk`)
  }
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY') {
    return new StoreUnavailableError(`the episode store ${where} cannot be written (${code}: ${(e as Error).message}); check its disk and permissions`)
  }
  return e
}
