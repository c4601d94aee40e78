// The episode store on PostgreSQL (`--store postgres://...`): the schema and migrations of store.ts, one transaction
// per step (committed before the step is answered), and LISTEN/NOTIFY so that a long poll held by one replica wakes
// when another replica creates or ends an episode.
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import type { Episode, EpisodeBriefPage, EpisodePage, TrajectoryStep } from '../env-spec/episode.js'
import type { EpisodeQuery } from '../env-spec/messages.js'
import {
  MIGRATIONS, POSTGRES_DIALECT as D, SCHEMA_VERSION, SQL, baseSchema, envArgs, episodeArgs, newerSchemaError, pageQuery,
  replicaInUse, replicaInUseError, rowToEnv, rowToEpisode, rowToLocation, rowToStep, stepArgs, toPage, episodeUpdate,
  type EnvLocation, type EpisodeStore, type NewEpisode, type Replica, type StepTotals, type StoredEnv
} from './store.js'
import { StoreFullError, StoreUnavailableError } from './errors.js'

/** the channel every replica listens on; the payload is the notifying store's token */
const CHANNEL = 'synthgym_episodes'
/**
 * Transactions that number episodes (create one, end one) take this lock, so they commit in the order of their
 * numbers: a reader that has seen number n has seen every number below it, and a cursor never skips an episode.
 */
const ORDER_LOCK = 7_340_001
const MIGRATION_LOCK = 7_340_002

type Query = (sql: string, args?: unknown[]) => Promise<Record<string, unknown>[]>

export class PostgresStore implements EpisodeStore {
  readonly kind = 'postgres'
  readonly where: string
  private pool: pg.Pool
  private listener: pg.Client | null = null
  private watchers: (() => void)[] = []
  private closed = false
  /** this store's NOTIFY payload: its own notifications are no news to it (its replica has woken its polls) */
  private readonly token = randomBytes(8).toString('hex')

  private constructor (private url: string) {
    this.where = redact(url)
    this.pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000 })
    // an idle connection that died (the database restarted) is replaced at the next query
    this.pool.on('error', () => {})
  }

  static async open (url: string): Promise<PostgresStore> {
    const s = new PostgresStore(url)
    try {
      await s.migrate()
      await s.listen()
    } catch (e) {
      await s.close().catch(() => {})
      throw storeError(e, s.where)
    }
    return s
  }

  /** Schema versions in the schema_version table, one replica at a time (two starting together wait their turn). */
  private async migrate (): Promise<void> {
    await this.tx(async q => {
      await q('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK])
      await q('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)')
      const row = (await q('SELECT version FROM schema_version'))[0]
      let version = row ? Number(row.version) : 0
      if (!row) {
        await q(baseSchema(D))
        await q('INSERT INTO schema_version (version) VALUES (0)')
      }
      if (version > SCHEMA_VERSION) throw newerSchemaError(this.where, version)
      // each migration idempotent, as on SQLite (PostgreSQL has ADD COLUMN IF NOT EXISTS)
      for (; version < SCHEMA_VERSION; version++) await q(MIGRATIONS[version]!(D).replace(/ADD COLUMN (?!IF NOT EXISTS)/gi, 'ADD COLUMN IF NOT EXISTS '))
      await q('UPDATE schema_version SET version = ?', [SCHEMA_VERSION])
    })
  }

  private async listen (): Promise<void> {
    const c = new pg.Client({ connectionString: this.url })
    c.on('error', () => {}) // 'end' follows
    c.on('notification', n => { if (n.payload !== this.token) this.changed() })
    c.on('end', () => {
      if (this.listener !== c) return
      this.listener = null
      if (!this.closed) this.relisten(250)
    })
    try {
      await c.connect()
      await c.query(`LISTEN ${CHANNEL}`)
    } catch (e) { await c.end().catch(() => {}); throw e }
    this.listener = c
  }

  /** The listening connection broke: connect again (backing off), then wake the polls (they may have missed news). */
  private relisten (delay: number): void {
    setTimeout(() => {
      if (this.closed) return
      this.listen().then(() => this.changed(), () => this.relisten(Math.min(delay * 2, 10_000)))
    }, delay).unref()
  }

  private changed (): void { for (const cb of this.watchers) cb() }

  private async tx<T> (work: (q: Query) => Promise<T>): Promise<T> {
    let c: pg.PoolClient
    try { c = await this.pool.connect() } catch (e) { throw storeError(e, this.where) }
    let broken = false
    try {
      await c.query('BEGIN')
      // without arguments a query may hold several statements (the schema)
      const r = await work(async (sql, args) => (args ? await c.query(numbered(sql), args) : await c.query(sql)).rows)
      await c.query('COMMIT')
      return r
    } catch (e) {
      await c.query('ROLLBACK').catch(() => { broken = true })
      throw storeError(e, this.where)
    } finally { c.release(broken) }
  }

  private async query (sql: string, args: unknown[]): Promise<Record<string, unknown>[]> {
    try { return (await this.pool.query(numbered(sql), args)).rows } catch (e) { throw storeError(e, this.where) }
  }

  private notify (q: Query): Promise<unknown> { return q('SELECT pg_notify(?, ?)', [CHANNEL, this.token]) }

  async createEpisode (e: NewEpisode): Promise<void> {
    await this.tx(async q => {
      await q('SELECT pg_advisory_xact_lock(?)', [ORDER_LOCK])
      await q(SQL.insertEpisode, episodeArgs(e))
      await this.notify(q)
    })
  }

  async appendStep (episodeId: string, idx: number, step: TrajectoryStep, ep: StepTotals): Promise<void> {
    const now = new Date().toISOString()
    await this.tx(async q => {
      if (ep.done) await q('SELECT pg_advisory_xact_lock(?)', [ORDER_LOCK])
      await q(SQL.insertStep, stepArgs(episodeId, idx, step, now))
      const update = episodeUpdate(episodeId, idx, step, ep, now)
      await q(SQL[update.sql], update.args)
      if (ep.notify) await this.notify(q)
    })
  }

  private async endEpisodes (ids: string[], status: 'abandoned' | 'interrupted', q: Query): Promise<string[]> {
    await q('SELECT pg_advisory_xact_lock(?)', [ORDER_LOCK])
    const ended: string[] = []
    const now = new Date().toISOString()
    for (const id of ids) {
      if ((await q(SQL.end + ' RETURNING id', [status, status, now, status, id])).length) ended.push(id)
    }
    if (ended.length) await this.notify(q)
    return ended
  }

  async abandon (episodeId: string): Promise<boolean> {
    return (await this.tx(q => this.endEpisodes([episodeId], 'abandoned', q))).length > 0
  }

  async interrupt (episodeId: string): Promise<boolean> {
    return (await this.tx(q => this.endEpisodes([episodeId], 'interrupted', q))).length > 0
  }

  async interruptRunning (serverId: string): Promise<string[]> {
    return this.tx(async q => this.endEpisodes((await q(SQL.runningOf, [serverId])).map(r => r.id as string), 'interrupted', q))
  }

  async getEpisode (id: string): Promise<Episode | undefined> {
    const r = (await this.query(SQL.getEpisode, [id]))[0]
    return r ? rowToEpisode(r) : undefined
  }

  async getSteps (episodeId: string): Promise<TrajectoryStep[]> {
    return (await this.query(SQL.getSteps, [episodeId])).map(rowToStep)
  }

  async listEpisodes (f: Omit<EpisodeQuery, 'wait'>, owner?: { keyId: string | null }): Promise<EpisodePage | EpisodeBriefPage> {
    const q = pageQuery(f, owner)
    return toPage(await this.query(q.sql, q.args), q)
  }

  async episodeOwner (id: string): Promise<string | null | undefined> {
    const r = (await this.query(SQL.owner, [id]))[0]
    return r ? (r.key_id as string | null) : undefined
  }

  async health (): Promise<{ kind: 'postgres', ok: boolean, error?: string }> {
    try {
      await this.pool.query('SELECT 1')
      return { kind: 'postgres', ok: true }
    } catch (e) { return { kind: 'postgres', ok: false, error: (e as Error).message } }
  }

  async registerReplica (r: Replica, staleMs: number): Promise<void> {
    await this.tx(async q => {
      await q('SELECT pg_advisory_xact_lock(?)', [ORDER_LOCK])
      const row = (await q(SQL.getReplica, [r.id]))[0]
      if (row) {
        const age = Number((await q(SQL.replicaAge(D), [r.id]))[0]!.age)
        const seen = { host: row.host as string, pid: Number(row.pid), instance: row.instance as string, age }
        if (replicaInUse(seen, r, staleMs)) throw replicaInUseError(r.id, row.url as string | null, seen.host, seen.pid, age)
      }
      await q(SQL.upsertReplica(D), [r.id, r.url, r.host, r.pid, r.instance, new Date().toISOString()])
    })
  }

  async heartbeat (replicaId: string): Promise<void> { await this.query(SQL.heartbeat(D), [replicaId]) }

  async leave (replicaId: string): Promise<void> {
    await this.tx(async q => {
      await q(SQL.dropReplicaEnvs, [replicaId])
      await q(SQL.dropReplica, [replicaId])
    })
  }

  async putEnv (env: StoredEnv): Promise<void> { await this.query(SQL.putEnv, envArgs(env)) }
  async dropEnv (envId: string): Promise<void> { await this.query(SQL.dropEnv, [envId]) }
  async envsOf (replicaId: string): Promise<StoredEnv[]> { return (await this.query(SQL.envsOf, [replicaId])).map(rowToEnv) }

  async locateEnv (envId: string): Promise<EnvLocation | undefined> {
    const r = (await this.query(SQL.locateEnv(D), [envId]))[0]
    return r ? rowToLocation(r) : undefined
  }

  watch (cb: () => void): void { this.watchers.push(cb) }

  async close (): Promise<void> {
    this.closed = true
    const l = this.listener
    this.listener = null
    await l?.end().catch(() => {})
    await this.pool.end()
  }
}

/** `?` placeholders as PostgreSQL's `$1, $2...` (our statements hold no literal question marks). */
function numbered (sql: string): string {
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}

function redact (url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch { return 'postgres://(unparsable URL)' }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P02', '57P03'])

/** PostgreSQL's errors as the server's: disk_full is STORE_FULL, a lost or refused connection STORE_UNAVAILABLE. */
function storeError (e: unknown, where: string): unknown {
  if (e instanceof StoreFullError || e instanceof StoreUnavailableError) return e
  const code = String((e as { code?: string })?.code ?? '')
  const msg = (e as Error)?.message ?? String(e)
  if (code === '53100') return new StoreFullError(`the episode store ${where} is out of disk space (${msg}); free space on the database's disk`)
  if (UNREACHABLE.has(code) || code.startsWith('08') || /Connection terminated|timeout exceeded when trying to connect/i.test(msg)) {
    return new StoreUnavailableError(`the episode store ${where} does not answer (${code || 'connection'}: ${msg}); is PostgreSQL running and reachable?`)
  }
  return e
}
