// API keys at rest: one SQLite file beside the episode store (<data-dir>/keys.db), holding each key's sha256, never
// the key. Beside and not inside the episode store: episodes.db is what gets copied to trainers and may move to
// PostgreSQL (--store), while credentials stay with the host that checks them; and `synthgym keys` writes here while
// a server runs (WAL), without touching the episode store's schema.
//
// A key is `sg_<id>_<secret>`: 12 hex digits of public id (what listings, logs and `keys revoke` show) and 32 random
// bytes (base64url). A 256-bit random secret needs no slow hash: sha256 of it cannot be searched back.
import Database from 'better-sqlite3'
import { chmodSync, existsSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { KeyCreated, KeyInfo, KeyScope } from '../env-spec/keys.js'

const KEY = /^sg_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/
/** last_used_at is written at most this often per key: a request reads the key, it does not write each time */
const TOUCH_MS = 60_000

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

export interface NewKey { name?: string, scopes: KeyScope[], max_envs?: number | null, rate?: number | null, burst?: number | null }

/** What a presented key turned out to be. */
export type Verified = { ok: true, key: KeyInfo } | { ok: false, reason: 'malformed' | 'unknown' | 'revoked', key?: KeyInfo }

export class KeyStore {
  private db: Database.Database
  private stmts
  private touched = new Map<string, number>()
  /** a key once made turns auth on for good (revoking every key leaves a server closed, not open) */
  private seen = false

  constructor (readonly file: string) {
    mkdirSync(dirname(file), { recursive: true })
    const fresh = !existsSync(file)
    this.db = new Database(file)
    if (fresh) chmodSync(file, 0o600) // hashes only, but still nobody else's business
    this.db.pragma('journal_mode = WAL')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL, scopes TEXT NOT NULL,
        max_envs INTEGER, rate REAL, burst INTEGER,
        created_at TEXT NOT NULL, last_used_at TEXT, revoked_at TEXT
      )
    `)
    this.stmts = {
      insert: this.db.prepare(`INSERT INTO api_keys (id, name, sha256, scopes, max_envs, rate, burst, created_at)
        VALUES (@id, @name, @sha256, @scopes, @max_envs, @rate, @burst, @created_at)`),
      get: this.db.prepare('SELECT * FROM api_keys WHERE id = ?'),
      all: this.db.prepare('SELECT * FROM api_keys ORDER BY created_at, id'),
      any: this.db.prepare('SELECT 1 FROM api_keys LIMIT 1'),
      active: this.db.prepare('SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL'),
      revoke: this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      revoked: this.db.prepare('SELECT id FROM api_keys WHERE revoked_at IS NOT NULL'),
      touch: this.db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?')
    }
  }

  /** A new key; the only time its secret exists outside the caller. */
  create (k: NewKey): KeyCreated {
    const id = randomBytes(6).toString('hex')
    const secret = randomBytes(32)
    const row = {
      id, name: k.name ?? '', sha256: sha256(secret), scopes: JSON.stringify(k.scopes),
      max_envs: k.max_envs ?? null, rate: k.rate ?? null, burst: k.burst ?? null, created_at: new Date().toISOString()
    }
    this.stmts.insert.run(row)
    this.seen = true
    return { ...this.get(id)!, key: `sg_${id}_${secret.toString('base64url')}` }
  }

  get (id: string): KeyInfo | undefined {
    const r = this.stmts.get.get(id) as Record<string, unknown> | undefined
    return r ? info(r) : undefined
  }

  list (): KeyInfo[] { return (this.stmts.all.all() as Record<string, unknown>[]).map(info) }

  /** The key, now revoked; undefined when there is no such key. Revoking twice keeps the first time. */
  revoke (id: string): KeyInfo | undefined {
    this.stmts.revoke.run(new Date().toISOString(), id)
    this.noticeRevocations() // our own write does not change data_version
    return this.get(id)
  }

  /**
   * Calls `fn` with the ids of keys revoked since the last look, in this process or any other writing the file
   * (`synthgym keys revoke`): SQLite's data_version changes when another connection commits, so each look is one
   * pragma until something changed. Checked every `everyMs`; returns the stop.
   */
  onRevoked (fn: (ids: string[]) => void, everyMs: number): () => void {
    this.revokedListeners.add(fn)
    this.knownRevoked ??= new Set(this.revokedIds())
    this.poll ??= setInterval(() => {
      let v: number
      try { v = this.db.pragma('data_version', { simple: true }) as number } catch { return } // closed or busy: next look
      if (v === this.dataVersion) return
      this.dataVersion = v
      this.noticeRevocations()
    }, everyMs).unref()
    return () => {
      this.revokedListeners.delete(fn)
      if (!this.revokedListeners.size && this.poll) { clearInterval(this.poll); this.poll = null }
    }
  }

  private revokedListeners = new Set<(ids: string[]) => void>()
  private knownRevoked: Set<string> | null = null
  private dataVersion = -1
  private poll: NodeJS.Timeout | null = null

  private revokedIds (): string[] { return (this.stmts.revoked.all() as { id: string }[]).map(r => r.id) }

  private noticeRevocations (): void {
    if (!this.knownRevoked) return
    const fresh = this.revokedIds().filter(id => !this.knownRevoked!.has(id))
    if (!fresh.length) return
    for (const id of fresh) this.knownRevoked.add(id)
    for (const fn of [...this.revokedListeners]) fn(fresh)
  }

  /** Whether any key was ever made here (revoked ones count): then every request needs one. */
  any (): boolean {
    if (!this.seen) this.seen = this.stmts.any.get() !== undefined
    return this.seen
  }

  /** Keys not revoked. */
  activeCount (): number { return (this.stmts.active.get() as { n: number }).n }

  /** Checks a presented key against the stored hash (in constant time) and whether it was revoked since. */
  verify (presented: string): Verified {
    const m = KEY.exec(presented)
    if (!m) return { ok: false, reason: 'malformed' }
    const row = this.stmts.get.get(m[1]) as Record<string, unknown> | undefined
    const secret = Buffer.from(m[2]!, 'base64url')
    if (!row || secret.length !== 32) return { ok: false, reason: 'unknown' }
    const want = Buffer.from(row.sha256 as string, 'hex')
    if (!timingSafeEqual(Buffer.from(sha256(secret), 'hex'), want)) return { ok: false, reason: 'unknown' }
    const key = info(row)
    if (key.revoked_at) return { ok: false, reason: 'revoked', key }
    this.touch(key.id)
    return { ok: true, key }
  }

  /** Whether the key is still good (a WebSocket checks before each message: a revoked key stops there). */
  stillActive (id: string): KeyInfo | undefined {
    const k = this.get(id)
    return k && !k.revoked_at ? k : undefined
  }

  private touch (id: string): void {
    const now = Date.now()
    if (now - (this.touched.get(id) ?? 0) < TOUCH_MS) return
    this.touched.set(id, now)
    try { this.stmts.touch.run(new Date(now).toISOString(), id) } catch {} // a busy file (the CLI writing) may skip one
  }

  close (): void {
    if (this.poll) clearInterval(this.poll)
    this.poll = null
    this.db.close()
  }
}

function info (r: Record<string, unknown>): KeyInfo {
  return {
    id: r.id as string, name: r.name as string, scopes: JSON.parse(r.scopes as string),
    max_envs: (r.max_envs as number | null) ?? null, rate: (r.rate as number | null) ?? null, burst: (r.burst as number | null) ?? null,
    created_at: r.created_at as string, last_used_at: (r.last_used_at as string | null) ?? null,
    revoked_at: (r.revoked_at as string | null) ?? null
  }
}
