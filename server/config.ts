// Server configuration: flags beat environment variables beat defaults.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'
import type { DockerEngineConfig } from '../sandbox/docker-engine.js'
import { compile } from '../env-spec/validate.js'
import { TASK_DEFAULTS } from '../tasks/settings.js'

export interface ServerConfig {
  host: string
  port: number
  dataDir: string
  /** most environments open at once */
  capacity: number
  /** seconds an environment may sit unused before it is closed */
  idleTimeout: number
  /** seconds an environment made over a WebSocket outlives its socket (unless made with outlive_socket) */
  socketGrace: number
  maxSteps: number
  outputCap: number
  token?: string
  synchronous: 'NORMAL' | 'FULL'
  /** the backend an environment gets when it names none */
  backend: 'local' | 'docker'
  /** JSON list of docker engines, or a file holding it; empty: the local socket */
  dockerEngines: string
  /** the docker image an environment gets when it names none */
  image: string
  /** started docker sandboxes kept ready per image (-1: 2 when the default backend is docker, else 0) */
  warmPool: number
  poolCeiling: number
  /** OCI runtime for docker sandboxes ('' = the engine's default; 'runsc' for gVisor) */
  runtime: string
  /** 'auto' (nvidia-smi), 'none', or a comma-separated list of GPU ids */
  gpus: string
  /** sandboxes per GPU */
  gpuShare: number
  /** requests that may wait for a GPU; 0 refuses at once with CAPACITY_REACHED */
  gpuQueue: number
  /** the episode store: '' (the SQLite file in the data dir), a SQLite file path, or postgres://user:pw@host/db */
  store: string
  /** the URL other replicas send clients to for this server's environments ('' = the address it listens on) */
  publicUrl: string
  /** this replica's id ('' = the one kept in the data dir's server-id file) */
  replicaId: string
  /** seconds between heartbeats in the store; a replica silent for 3 heartbeats is gone */
  heartbeat: number
  /** seconds SIGTERM waits for running steps, resets and evaluations to finish (and be recorded) before closing */
  drainTimeout: number
  /** per API key, where the key sets none: environments open at once, requests per second, burst (0: no limit) */
  keyMaxEnvs: number
  keyRate: number
  keyBurst: number
}

export const DEFAULTS: ServerConfig = {
  host: '127.0.0.1',
  port: 8000,
  dataDir: '.synthgym',
  capacity: 512,
  idleTimeout: 1800,
  socketGrace: 10,
  maxSteps: 50,
  outputCap: TASK_DEFAULTS.outputCap,
  synchronous: 'NORMAL',
  backend: 'local',
  dockerEngines: '',
  image: 'synthgym/sandbox:latest',
  warmPool: -1,
  poolCeiling: 16,
  runtime: '',
  gpus: 'auto',
  gpuShare: 1,
  gpuQueue: 0,
  store: '',
  publicUrl: '',
  replicaId: '',
  heartbeat: 5,
  drainTimeout: 30,
  keyMaxEnvs: 64,
  keyRate: 50,
  keyBurst: 100
}

// Every setting once: its flag, its environment variable (where it has one), whether it is a whole number, and what
// it does (for `synthgym serve --help`, in this order).
interface Setting { key: keyof ServerConfig, flag: string, env?: string, numeric?: true, about: string }
const SETTINGS: Setting[] = [
  { key: 'host', flag: '--host', env: 'SYNTHGYM_HOST', about: 'address to listen on' },
  { key: 'port', flag: '--port', env: 'SYNTHGYM_PORT', numeric: true, about: 'port to listen on (0: any free port)' },
  { key: 'dataDir', flag: '--data-dir', env: 'SYNTHGYM_DATA_DIR',
    about: 'episode store, keys, baselines and imports' },
  { key: 'capacity', flag: '--capacity', env: 'SYNTHGYM_CAPACITY', numeric: true,
    about: 'most environments open at once' },
  { key: 'idleTimeout', flag: '--idle-timeout', env: 'SYNTHGYM_IDLE_TIMEOUT', numeric: true,
    about: 'seconds an unused environment stays open' },
  { key: 'socketGrace', flag: '--socket-grace', env: 'SYNTHGYM_SOCKET_GRACE', numeric: true,
    about: 'seconds an environment outlives the WebSocket that made it' },
  { key: 'maxSteps', flag: '--max-steps', env: 'SYNTHGYM_MAX_STEPS', numeric: true,
    about: 'steps per episode when a create names none' },
  { key: 'outputCap', flag: '--output-cap', env: 'SYNTHGYM_OUTPUT_CAP', numeric: true,
    about: 'characters of one observation kept' },
  { key: 'token', flag: '--token', env: 'SYNTHGYM_TOKEN', about: 'one shared bearer token (or use synthgym keys)' },
  { key: 'synchronous', flag: '--synchronous', about: 'SQLite durability: NORMAL, or FULL (fsync per step)' },
  { key: 'backend', flag: '--backend', env: 'SYNTHGYM_BACKEND', about: 'sandbox backend: local or docker' },
  { key: 'dockerEngines', flag: '--docker-engines', env: 'SYNTHGYM_DOCKER_ENGINES',
    about: 'docker engines: a JSON list or a file holding one' },
  { key: 'image', flag: '--image', env: 'SYNTHGYM_IMAGE', about: 'docker image of sandboxes' },
  { key: 'warmPool', flag: '--warm-pool', env: 'SYNTHGYM_WARM_POOL', numeric: true,
    about: 'started docker sandboxes kept ready per image (default 2 on docker, else 0)' },
  { key: 'poolCeiling', flag: '--pool-ceiling', numeric: true, about: 'most warm sandboxes per image' },
  { key: 'runtime', flag: '--runtime', env: 'SYNTHGYM_RUNTIME',
    about: 'OCI runtime for docker sandboxes (runsc: gVisor)' },
  { key: 'gpus', flag: '--gpus', env: 'SYNTHGYM_GPUS', about: 'auto, none, or GPU ids (0,1)' },
  { key: 'gpuShare', flag: '--gpu-share', numeric: true, about: 'sandboxes per GPU' },
  { key: 'gpuQueue', flag: '--gpu-queue', numeric: true, about: 'requests that may wait for a GPU' },
  { key: 'store', flag: '--store', env: 'SYNTHGYM_STORE',
    about: 'episode store: a SQLite file or postgres://user:pw@host/db' },
  { key: 'publicUrl', flag: '--public-url', env: 'SYNTHGYM_PUBLIC_URL', about: 'URL other replicas send clients to' },
  { key: 'replicaId', flag: '--replica-id', env: 'SYNTHGYM_REPLICA_ID', about: 'this replica\'s id' },
  { key: 'heartbeat', flag: '--heartbeat', numeric: true, about: 'seconds between replica heartbeats' },
  { key: 'drainTimeout', flag: '--drain-timeout', env: 'SYNTHGYM_DRAIN_TIMEOUT', numeric: true,
    about: 'seconds SIGTERM waits for running steps' },
  { key: 'keyMaxEnvs', flag: '--key-max-envs', numeric: true,
    about: 'per key without its own limit: environments open' },
  { key: 'keyRate', flag: '--key-rate', numeric: true, about: 'per key: requests per second' },
  { key: 'keyBurst', flag: '--key-burst', numeric: true, about: 'per key: requests at once' }
]
const FLAGS = new Map(SETTINGS.map(s => [s.flag, s]))

/** `synthgym serve --help`: every flag, its environment variable, default and meaning, from SETTINGS. */
export function serveHelp (): string {
  const rows = SETTINGS.map(({ key, flag, env, about }) => {
    const d = DEFAULTS[key]
    const shown = d === undefined || d === '' || d === -1 ? '' : ` (default ${d})`
    return `  ${flag.padEnd(16)} ${about}${shown}${env ? `; env ${env}` : ''}`
  })
  return ['usage: synthgym serve [flags] [--tasks-dir DIR]... [--mlgym CHECKOUT]...',
    '  --tasks-dir DIR   serve the synthgym task directories under DIR too (repeatable)',
    '  --mlgym CHECKOUT  serve an MLGym checkout\'s configs/tasks (repeatable)', ...rows,
    'flags beat environment variables beat defaults; the API is under /v1, the dashboard at /ui'].join('\n')
}

function set (cfg: ServerConfig, { key, numeric }: Setting, value: string, from: string): void {
  if (numeric) {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0) throw new Error(`${from} must be a whole number (got ${JSON.stringify(value)})`)
    if (key === 'heartbeat' && n < 1) throw new Error(`${from} must be at least 1 (seconds)`)
    ;(cfg as unknown as Record<string, unknown>)[key] = n
  } else if (key === 'synchronous') {
    if (value !== 'NORMAL' && value !== 'FULL') throw new Error(`${from} must be NORMAL or FULL`)
    cfg.synchronous = value
  } else if (key === 'replicaId' && value !== '' && !/^[A-Za-z0-9_.-]{1,64}$/.test(value)) {
    throw new Error(`${from} must be 1 to 64 letters, digits, '.', '_' or '-' (it names containers and cgroups)`)
  } else if (key === 'publicUrl' && value !== '' && !/^https?:\/\/[^/]+\/?$/.test(value)) {
    throw new Error(`${from} must be a base URL such as http://10.0.0.5:8000 (got ${JSON.stringify(value)})`)
  } else if (key === 'backend') {
    if (value !== 'local' && value !== 'docker') throw new Error(`${from} must be local or docker`)
    cfg.backend = value
  } else (cfg as unknown as Record<string, unknown>)[key] = value
}

/** Parses the server flags out of argv; returns the config and the arguments it did not know. */
export function loadConfig (argv: string[], env: NodeJS.ProcessEnv = process.env): { config: ServerConfig, rest: string[] } {
  const config = { ...DEFAULTS }
  for (const setting of SETTINGS) {
    const name = setting.env
    if (name && env[name] !== undefined && env[name] !== '') set(config, setting, env[name]!, name)
  }
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const setting = FLAGS.get(flag)
    if (!setting) { rest.push(a); continue }
    const value = inline ?? argv[++i]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    set(config, setting, value, flag)
  }
  config.dataDir = resolve(config.dataDir)
  if (config.warmPool < 0) config.warmPool = config.backend === 'docker' ? 2 : 0
  dockerEngines(config) // fail early on a bad engine list
  return { config, rest }
}

/**
 * The docker engines: a JSON list (inline or a file) of {name, socketPath | host+port+protocol (http, https with
 * ca/cert/key file paths, ssh with username), capacity}; default the local socket.
 */
export function dockerEngines (config: ServerConfig): DockerEngineConfig[] {
  const raw = config.dockerEngines.trim()
  if (!raw) return [{ name: 'local', socketPath: process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock', capacity: 64 }]
  let list: unknown
  try { list = JSON.parse(raw.startsWith('[') ? raw : readFileSync(raw, 'utf8')) } catch (e) {
    throw new Error(`--docker-engines must be a JSON list or a file holding one: ${(e as Error).message}`)
  }
  const engines = validateEngines(list, 'docker_engines')
  return engines.map(e => ({
    ...e,
    ca: e.ca ? readFileSync(e.ca, 'utf8') : undefined,
    cert: e.cert ? readFileSync(e.cert, 'utf8') : undefined,
    key: e.key ? readFileSync(e.key, 'utf8') : undefined
  }))
}

const validateEngines = compile<DockerEngineConfig[]>({
  type: 'array', minItems: 1,
  items: {
    type: 'object', required: ['name'], additionalProperties: false,
    properties: {
      name: { type: 'string', minLength: 1 },
      socketPath: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'integer' },
      protocol: { enum: ['http', 'https', 'ssh'] },
      ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
      username: { type: 'string' },
      capacity: { type: 'integer', minimum: 1 }
    }
  }
})

/**
 * One id per data dir (or --replica-id): containers and cgroups carry it, so a restarted server finds what its dead
 * predecessor left, and never what another replica holds.
 */
export function serverId (config: ServerConfig): string {
  if (config.replicaId) return config.replicaId
  const file = join(config.dataDir, 'server-id')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(config.dataDir, { recursive: true })
  const id = 'sg-' + randomBytes(6).toString('hex')
  writeFileSync(file, id)
  return id
}

export function storeFile (config: ServerConfig): string { return join(config.dataDir, 'episodes.db') }
/** API keys, hashed (server/keys.ts says why beside the episode store and not in it). */
export function keysFile (config: { dataDir: string }): string { return join(config.dataDir, 'keys.db') }
export function importsFile (config: ServerConfig): string { return join(config.dataDir, 'mlgym-imports.json') }
