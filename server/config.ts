// Server configuration: flags beat environment variables beat defaults.
import { join, resolve } from 'node:path'
import type { ServerConfig } from './envs.js'

export const DEFAULTS: ServerConfig = {
  host: '127.0.0.1',
  port: 8000,
  dataDir: '.synthgym',
  capacity: 512,
  idleTimeout: 1800,
  maxSteps: 50,
  outputCap: 100_000,
  synchronous: 'NORMAL'
}

const NUMERIC = new Set(['port', 'capacity', 'idleTimeout', 'maxSteps', 'outputCap'])
const FLAGS: Record<string, keyof ServerConfig> = {
  '--host': 'host', '--port': 'port', '--data-dir': 'dataDir', '--capacity': 'capacity', '--idle-timeout': 'idleTimeout',
  '--max-steps': 'maxSteps', '--output-cap': 'outputCap', '--token': 'token', '--synchronous': 'synchronous'
}
const ENV: Record<string, keyof ServerConfig> = {
  SYNTHGYM_HOST: 'host', SYNTHGYM_PORT: 'port', SYNTHGYM_DATA_DIR: 'dataDir', SYNTHGYM_CAPACITY: 'capacity',
  SYNTHGYM_IDLE_TIMEOUT: 'idleTimeout', SYNTHGYM_MAX_STEPS: 'maxSteps', SYNTHGYM_OUTPUT_CAP: 'outputCap', SYNTHGYM_TOKEN: 'token'
}

function set (cfg: ServerConfig, key: keyof ServerConfig, value: string, from: string): void {
  if (NUMERIC.has(key)) {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0) throw new Error(`${from} must be a whole number (got ${JSON.stringify(value)})`)
    ;(cfg as unknown as Record<string, unknown>)[key] = n
  } else if (key === 'synchronous') {
    if (value !== 'NORMAL' && value !== 'FULL') throw new Error(`${from} must be NORMAL or FULL`)
    cfg.synchronous = value
  } else (cfg as unknown as Record<string, unknown>)[key] = value
}

/** Parses the server flags out of argv; returns the config and the arguments it did not know. */
export function loadConfig (argv: string[], env: NodeJS.ProcessEnv = process.env): { config: ServerConfig, rest: string[] } {
  const config = { ...DEFAULTS }
  for (const [name, key] of Object.entries(ENV)) if (env[name] !== undefined && env[name] !== '') set(config, key, env[name]!, name)
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const key = FLAGS[flag]
    if (!key) { rest.push(a); continue }
    const value = inline ?? argv[++i]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    set(config, key, value, flag)
  }
  config.dataDir = resolve(config.dataDir)
  return { config, rest }
}

export function storeFile (config: ServerConfig): string { return join(config.dataDir, 'episodes.db') }
export function importsFile (config: ServerConfig): string { return join(config.dataDir, 'mlgym-imports.json') }
