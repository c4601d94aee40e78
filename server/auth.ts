// Who is asking, and what they may do: API keys (server/keys.ts) or the single --token, scopes by route, a token
// bucket per key. The caller travels with the request in an AsyncLocalStorage down to the environment manager, whose
// one lookup of a live environment (envs.ts `live`) asks `canSee`: so every route and protocol (REST, WebSocket,
// OpenEnv, SWE-ReX, and any route added later) shows a key only its own environments, with no check to forget.
import { AsyncLocalStorage } from 'node:async_hooks'
import { timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { KeyInfo, KeyScope } from '../env-spec/keys.js'
import type { ServerConfig } from './config.js'
import type { KeyStore } from './keys.js'
import { ForbiddenError, RateLimitedError, UnauthorizedError } from './errors.js'

export interface Access {
  /** the key's id; null: no key (a server without keys, the --token, or no caller at all) */
  keyId: string | null
  scopes: KeyScope[]
  /** sees and may do everything (an admin key, the --token, a server without keys) */
  admin: boolean
  /** environments open at once; 0: no per-key limit */
  maxEnvs: number
  /** requests per second and bucket size; rate 0: no limit */
  rate: number
  burst: number
}

const ALL: KeyScope[] = ['envs', 'episodes', 'admin']
/** a server that needs no keys: loopback and none made */
const OPEN: Access = { keyId: null, scopes: ALL, admin: true, maxEnvs: 0, rate: 0, burst: 1 }
/** the --token: one shared secret with every scope and no limits */
const TOKEN: Access = { ...OPEN }
/** no one: a route that needs no key (health) and any work outside a request; sees only environments made without a key */
const NOBODY: Access = { keyId: null, scopes: [], admin: false, maxEnvs: 0, rate: 0, burst: 1 }

const caller = new AsyncLocalStorage<Access>()

/** Runs `fn` (and everything it starts) as `access`. */
export function runAs<T> (access: Access, fn: () => T): T { return caller.run(access, fn) }

/** The caller of the request being served. */
export function currentCaller (): Access { return caller.getStore() ?? NOBODY }

/** Whether the caller may see what `owner` (a key id, or null: made without a key) made. */
export function canSee (owner: string | null): boolean {
  const a = currentCaller()
  return a.admin || a.keyId === owner
}

/** What a route needs: a scope, any valid key, or nothing. */
type Need = KeyScope | 'key' | 'none'

// By route pattern. A route not listed needs admin: a new route stays closed until this table says who may use it.
const ROUTE_SCOPES: [RegExp, Need][] = [
  [/^\/v1\/health$/, 'none'],
  // the dashboard's page and code hold no data: the page asks for a key and sends it with every API call
  [/^\/(ui(\/.*)?)?$/, 'none'],
  [/^\/metrics$/, 'admin'],
  // reloading changes what the server serves
  [/^\/v1\/tasks\/reload$/, 'admin'],
  [/^\/v1\/(tasks|tools|generation)(\/|$)/, 'key'],
  [/^\/v1\/episodes(\/|$)/, 'episodes'],
  [/^\/v1\/(envs|ws)(\/|$)/, 'envs'],
  [/^\/openenv(\/tasks\/:task)?\/(health|schema|metadata)$/, 'key'],
  [/^\/openenv(\/|$)/, 'envs']
]

/** `route`: fastify's pattern (`/v1/envs/:id/step`); undefined when no route matched (a 404 for any valid key). */
export function scopeFor (route: string | undefined): Need {
  if (route === undefined) return 'key'
  return ROUTE_SCOPES.find(([re]) => re.test(route))?.[1] ?? 'admin'
}

const MISSING = 'this server needs an API key: send X-API-Key: <key> or Authorization: Bearer <key> ' +
  '(a WebSocket may put ?api_key=<key> on its URL instead); an admin makes one with `synthgym keys create`'
const INVALID = 'the API key is not one of this server\'s (mistyped, or made for another data dir): send the whole ' +
  'sg_<id>_<secret> that `synthgym keys create` printed, or the --token'

function sameSecret (given: string, want: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(want)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** X-API-Key, else `Authorization: Bearer`, else (a WebSocket upgrade only) `?api_key=` or `?token=`. */
function credential (headers: IncomingHttpHeaders, query: URLSearchParams | null): string | null {
  const key = headers['x-api-key']
  if (typeof key === 'string' && key !== '') return key
  const auth = headers.authorization ?? ''
  if (auth.startsWith('Bearer ')) return auth.slice('Bearer '.length)
  return query?.get('api_key') ?? query?.get('token') ?? null
}

/** Hosts that only this machine reaches. */
export function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  const v4 = host.startsWith('::ffff:') ? host.slice('::ffff:'.length) : host
  if (isIP(v4) === 4) return v4.startsWith('127.')
  return host === '::1'
}

/** How often a server looks for keys revoked by another process (`synthgym keys revoke`): what it holds open ends within this. */
const REVOCATION_CHECK_MS = 250

export class Auth {
  private buckets = new Map<string, { tokens: number, at: number }>()
  /** what each key holds open (sockets, long polls): ended when the key is revoked */
  private holders = new Map<string, Set<(e: UnauthorizedError) => void>>()
  private watching = false

  constructor (readonly keys: KeyStore, private config: Pick<ServerConfig, 'token' | 'keyMaxEnvs' | 'keyRate' | 'keyBurst'>) {}

  /** Keys are needed once one was made here (revoked ones count), or with --token. */
  required (): boolean { return Boolean(this.config.token) || this.keys.any() }

  /**
   * The caller of a request that needs `need` (`what` names it in messages); `query` only for a WebSocket upgrade.
   * Throws UNAUTHORIZED, FORBIDDEN or RATE_LIMITED.
   */
  admit (headers: IncomingHttpHeaders, query: URLSearchParams | null, need: Need, what: string): Access {
    if (!this.required()) return OPEN
    if (need === 'none') return NOBODY
    const given = credential(headers, query)
    if (given === null) throw new UnauthorizedError(MISSING, true)
    const access = this.identify(given)
    if (need !== 'key' && !access.admin && !access.scopes.includes(need)) {
      throw new ForbiddenError(`API key ${access.keyId} has scope ${access.scopes.join(', ')}; ${what} needs scope ${need}: use a key made with --scopes ${need}`)
    }
    this.take(access)
    return access
  }

  /** Throws UNAUTHORIZED when the key of `access` was revoked since it was admitted; returns the key's current limits. */
  stillActive (access: Access): Access {
    if (access.keyId === null) return access
    const key = this.keys.stillActive(access.keyId)
    if (!key) throw new UnauthorizedError(`API key ${access.keyId} was revoked; what it held open ends`)
    return this.access(key)
  }

  /** Before each WebSocket message: the key not revoked since the upgrade, and within its rate. */
  recheck (access: Access): Access {
    const now = this.stillActive(access)
    this.take(now)
    return now
  }

  /**
   * Calls `end` once if the key of `access` is revoked while what it holds is open (within REVOCATION_CHECK_MS, from
   * any process writing the key file); returns the release, for when it ends first. Nothing for a keyless caller.
   */
  hold (access: Access, end: (e: UnauthorizedError) => void): () => void {
    const id = access.keyId
    if (id === null) return () => {}
    // revoked before this look began (the watcher below would not tell)
    try { this.stillActive(access) } catch (e) {
      queueMicrotask(() => end(e as UnauthorizedError))
      return () => {}
    }
    if (!this.watching) {
      this.watching = true
      this.keys.onRevoked(ids => {
        for (const k of ids) {
          for (const fn of this.holders.get(k) ?? []) fn(new UnauthorizedError(`API key ${k} was revoked; what it held open ends`))
          this.holders.delete(k)
        }
      }, REVOCATION_CHECK_MS)
    }
    const set = this.holders.get(id) ?? new Set()
    this.holders.set(id, set)
    set.add(end)
    return () => {
      set.delete(end)
      if (!set.size && this.holders.get(id) === set) this.holders.delete(id)
    }
  }

  private identify (given: string): Access {
    if (this.config.token && sameSecret(given, this.config.token)) return TOKEN
    const v = this.keys.verify(given)
    if (v.ok) return this.access(v.key)
    if (v.reason === 'revoked') throw new UnauthorizedError(`API key ${v.key!.id} was revoked at ${v.key!.revoked_at}; ask an admin for a new one (synthgym keys create)`)
    throw new UnauthorizedError(INVALID)
  }

  /** A key's limits, the server's defaults where it sets none. */
  private access (k: KeyInfo): Access {
    const rate = k.rate ?? this.config.keyRate
    const burst = k.burst ?? this.config.keyBurst
    return {
      keyId: k.id, scopes: k.scopes, admin: k.scopes.includes('admin'), maxEnvs: k.max_envs ?? this.config.keyMaxEnvs,
      rate, burst: burst >= 1 ? burst : Math.max(1, Math.ceil(rate))
    }
  }

  /** The token bucket: `burst` requests at once, refilled at `rate` per second. */
  private take (a: Access): void {
    if (a.keyId === null || a.rate <= 0) return
    const now = performance.now() / 1000
    const b = this.buckets.get(a.keyId) ?? { tokens: a.burst, at: now }
    b.tokens = Math.min(a.burst, b.tokens + (now - b.at) * a.rate)
    b.at = now
    this.buckets.set(a.keyId, b)
    if (b.tokens >= 1) { b.tokens -= 1; return }
    const retry = Math.max(1, Math.ceil((1 - b.tokens) / a.rate))
    throw new RateLimitedError(`API key ${a.keyId} is over its rate of ${a.rate} requests/s (burst ${a.burst}); retry in ${retry} s`, retry)
  }
}

/** A server that others can reach starts only with keys (or the --token) to check. */
export function checkBind (host: string, auth: Auth, dataDir: string): void {
  if (isLoopback(host) || auth.required()) return
  throw new Error(`refusing to serve on ${host} without API keys: anyone who reaches it could run code in its sandboxes. ` +
    `Make a key first (synthgym keys create --name NAME --scopes envs,episodes --data-dir ${dataDir}; it is printed once), ` +
    'then start again; or serve on 127.0.0.1')
}

/** `?api_key=` and `?token=` out of a URL before it is logged. */
export function redactUrl (url: string): string {
  return url.replace(/([?&](?:api_key|token)=)[^&#]*/g, '$1[redacted]')
}

declare module 'fastify' {
  interface FastifyRequest { access: Access }
}

/**
 * Every request: who (UNAUTHORIZED), may they (FORBIDDEN), not too often (RATE_LIMITED, with Retry-After); the
 * request's log lines carry the key's id and the environment's; its handler runs as the caller.
 */
export function installAuth (app: FastifyInstance, auth: Auth): void {
  app.decorateRequest('access', null as unknown as Access)
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url
    const upgrade = req.headers.upgrade?.toLowerCase() === 'websocket'
    try {
      req.access = auth.admit(req.headers, upgrade ? new URL(req.url, 'http://x').searchParams : null, scopeFor(route), `${req.method} ${route ?? req.url.split('?')[0]}`)
    } catch (e) {
      if (e instanceof RateLimitedError) void reply.header('retry-after', String(e.retryAfter))
      throw e
    }
    const params = req.params as { id?: string, env_id?: string } | undefined
    const envId = params?.env_id ?? (route?.startsWith('/v1/envs/:id') ? params?.id : undefined)
    const bindings = { ...(req.access.keyId ? { key_id: req.access.keyId } : {}), ...(envId ? { env_id: envId } : {}) }
    if (Object.keys(bindings).length) req.log = reply.log = req.log.child(bindings)
  })
  app.addHook('preHandler', (req, _reply, done) => { runAs(req.access, () => done()) })
}
