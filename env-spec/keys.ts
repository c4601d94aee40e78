// API keys as `synthgym keys list --json` and `keys create --json` print them: never the secret, but once at creation.
import { compile } from './validate.js'

/** `envs`: make and drive environments (REST, WebSocket, OpenEnv, SWE-ReX); `episodes`: read the key's stored
 * episodes; `admin`: everything, every key's environments and episodes, and /metrics. */
export type KeyScope = 'envs' | 'episodes' | 'admin'
export const KEY_SCOPES: KeyScope[] = ['envs', 'episodes', 'admin']

export interface KeyInfo {
  /** the key's public id (the `sg_<id>_` part of the key): what logs, metrics and `keys revoke` name */
  id: string
  name: string
  scopes: KeyScope[]
  /** environments open at once; null: the server's --key-max-envs; 0: no per-key limit */
  max_envs: number | null
  /** requests per second (token bucket refill); null: the server's --key-rate; 0: no limit */
  rate: number | null
  /** requests at once above the rate (bucket size); null: the server's --key-burst */
  burst: number | null
  created_at: string
  last_used_at: string | null
  revoked_at: string | null
}

/** What `keys create` answers: the info and the key itself, shown this once (the server keeps only its sha256). */
export interface KeyCreated extends KeyInfo { key: string }

const nullableString = { type: ['string', 'null'] }
const keyInfoProperties = {
  id: { type: 'string', pattern: '^[0-9a-f]{12}$' },
  name: { type: 'string' },
  scopes: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: KEY_SCOPES } },
  max_envs: { type: ['integer', 'null'], minimum: 0 },
  rate: { type: ['number', 'null'], minimum: 0 },
  burst: { type: ['integer', 'null'], minimum: 1 },
  created_at: { type: 'string' },
  last_used_at: nullableString,
  revoked_at: nullableString
}
export const keyInfoSchema = {
  type: 'object', additionalProperties: false, required: Object.keys(keyInfoProperties), properties: keyInfoProperties
}
export const keyCreatedSchema = {
  type: 'object', additionalProperties: false, required: [...Object.keys(keyInfoProperties), 'key'],
  properties: { ...keyInfoProperties, key: { type: 'string', pattern: '^sg_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$' } }
}

export const validateKeyInfo = compile<KeyInfo>(keyInfoSchema)
export const validateKeyList = compile<KeyInfo[]>({ type: 'array', items: keyInfoSchema })
export const validateKeyCreated = compile<KeyCreated>(keyCreatedSchema)
