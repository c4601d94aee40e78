// `synthgym keys create|list|revoke`: the API keys of a data dir (server/keys.ts), written while a server runs or not;
// a running server sees a new or revoked key at its next request.
import { loadConfig, keysFile } from './config.js'
import { KeyStore } from './keys.js'
import { KEY_SCOPES, type KeyInfo, type KeyScope } from '../env-spec/keys.js'

const USAGE = `usage:
  synthgym keys create [--name NAME] [--scopes envs,episodes] [--max-envs N] [--rate R] [--burst B] [--json]
  synthgym keys list [--json]
  synthgym keys revoke <id>
(each takes --data-dir DIR, default SYNTHGYM_DATA_DIR or .synthgym)
scopes: envs (make and drive environments), episodes (read the key's own episodes), admin (everything, /metrics)
limits: --max-envs environments open at once, --rate requests/s, --burst requests at once; 0: no limit; left out:
the server's --key-max-envs, --key-rate, --key-burst`

/** The value of `flag` (removed from args), or undefined. */
function take (args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag)
  if (i < 0) return undefined
  const v = args[i + 1]
  if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value; ${USAGE}`)
  args.splice(i, 2)
  return v
}

function has (args: string[], flag: string): boolean {
  const i = args.indexOf(flag)
  if (i >= 0) args.splice(i, 1)
  return i >= 0
}

function number (flag: string, v: string | undefined, whole: boolean): number | null {
  if (v === undefined) return null
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0 || (whole && !Number.isInteger(n))) throw new Error(`${flag} must be a ${whole ? 'whole ' : ''}number ≥ 0 (got ${JSON.stringify(v)})`)
  return n
}

function scopes (v: string | undefined): KeyScope[] {
  const list = (v ?? 'envs,episodes').split(',').map(s => s.trim()).filter(Boolean)
  const bad = list.find(s => !(KEY_SCOPES as string[]).includes(s))
  if (bad !== undefined || list.length === 0) throw new Error(`--scopes takes ${KEY_SCOPES.join(', ')} (comma-separated); got ${JSON.stringify(v)}`)
  return [...new Set(list)] as KeyScope[]
}

const limit = (name: string, v: number | null) => `${name} ${v === null ? 'default' : v === 0 ? 'unlimited' : v}`

function describe (k: KeyInfo): string {
  return [k.id, k.name || '-', k.scopes.join(','), limit('max-envs', k.max_envs), limit('rate', k.rate), limit('burst', k.burst),
    `created ${k.created_at}`, k.last_used_at ? `used ${k.last_used_at}` : 'never used', k.revoked_at ? `REVOKED ${k.revoked_at}` : 'active'].join('  ')
}

export async function keysCommand (argv: string[]): Promise<number> {
  const { config, rest } = loadConfig(argv)
  const [sub, ...args] = rest
  if (!sub || rest.includes('--help') || rest.includes('-h')) { console.log(USAGE); return sub ? 0 : 1 }
  const run = (work: (keys: KeyStore) => number): number => {
    const keys = new KeyStore(keysFile(config))
    try { return work(keys) } finally { keys.close() }
  }
  const done = (args: string[]) => { if (args.length) throw new Error(`unknown argument ${args[0]}; ${USAGE}`) }
  switch (sub) {
    case 'create': {
      const json = has(args, '--json')
      const k = {
        name: take(args, '--name') ?? '', scopes: scopes(take(args, '--scopes')),
        max_envs: number('--max-envs', take(args, '--max-envs'), true), rate: number('--rate', take(args, '--rate'), false),
        burst: number('--burst', take(args, '--burst'), true)
      }
      if (k.burst === 0) throw new Error('--burst must be at least 1 (leave it out for the server\'s --key-burst)')
      done(args)
      return run(keys => {
        const made = keys.create(k)
        if (json) { console.log(JSON.stringify(made)); return 0 }
        // the key alone on stdout (KEY=$(synthgym keys create ...)); the rest on stderr
        console.log(made.key)
        console.error(`created ${describe(made)}\nthis is the only time the key is shown: the server keeps its sha256 (${keysFile(config)})`)
        return 0
      })
    }
    case 'list': {
      const json = has(args, '--json')
      done(args)
      return run(keys => {
        const all = keys.list()
        if (json) console.log(JSON.stringify(all))
        else if (!all.length) console.error(`no keys in ${keysFile(config)}; make one with synthgym keys create`)
        else for (const k of all) console.log(describe(k))
        return 0
      })
    }
    case 'revoke': {
      const [given, ...more] = args
      if (!given) throw new Error(`revoke needs a key id (synthgym keys list shows them); ${USAGE}`)
      done(more)
      // the id, or the key itself (sg_<id>_...)
      const id = /^(?:sg_)?([0-9a-f]{12})(?:_|$)/.exec(given)?.[1] ?? given
      return run(keys => {
        const k = keys.revoke(id)
        if (!k) { console.error(`synthgym: no key ${id} in ${keysFile(config)} (synthgym keys list shows them)`); return 1 }
        console.log(`revoked ${describe(k)}`)
        return 0
      })
    }
    default: throw new Error(`unknown keys command ${sub}; ${USAGE}`)
  }
}
