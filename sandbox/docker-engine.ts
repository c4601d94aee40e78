// A Docker engine the server places sandboxes on: its connection, health check, deadlines on its calls, and the
// sweep of what a dead server left on it.
import Docker from 'dockerode'
import { TimeoutError } from './errors.js'
import { SANDBOX_DEFAULTS } from './policy.js'
import type { DockerSandbox } from './docker.js'

/** Every container of ours carries it; `synthgym.server` says whose. */
export const LABEL = 'synthgym.managed'

export interface DockerEngineConfig {
  name: string
  /** unix socket (default /var/run/docker.sock when no host is given) */
  socketPath?: string
  host?: string
  port?: number
  protocol?: 'http' | 'https' | 'ssh'
  ca?: string
  cert?: string
  key?: string
  username?: string
  /** most sandboxes this engine takes */
  capacity?: number
}

export class DockerEngine {
  readonly docker: Docker
  readonly sandboxes = new Set<DockerSandbox>()
  healthy = true
  error: string | null = null
  /**
   * the engine refused to bind a quota file system this server mounted: it does not share our mount namespace (a
   * server in a private one, an engine in a container); its sandboxes' disk limits are held by the watcher alone
   */
  quotaUnseen = false
  /** the same for the folder of a sandbox's fifos: its shells speak over the attach stream */
  fifosUnseen = false

  constructor (readonly config: DockerEngineConfig) {
    const c = config
    this.docker = c.host
      ? new Docker({ host: c.host, port: c.port, protocol: c.protocol, ca: c.ca, cert: c.cert, key: c.key, username: c.username })
      : new Docker({ socketPath: c.socketPath ?? '/var/run/docker.sock' })
  }

  get name (): string { return this.config.name }
  get capacity (): number { return this.config.capacity ?? 64 }
  get free (): number { return this.capacity - this.sandboxes.size }

  /** Answers within `ms` or is marked unhealthy with the reason. */
  async check (ms = 5000): Promise<boolean> {
    const ping = () => within(this.docker.ping(), 'a ping', ms, `no answer in ${ms} ms`)
    try {
      // a connection error is tried once more on a fresh connection: a broken keep-alive socket is not a dead
      // engine; no answer within the deadline is (waiting twice would double the time a hung engine holds us)
      await ping().catch(e => !(e instanceof TimeoutError) && (e as { code?: string }).code ? ping() : Promise.reject(e))
      this.healthy = true
      this.error = null
    } catch (e) {
      this.healthy = false
      this.error = dockerMessage(e)
    }
    return this.healthy
  }
}

/** Docker's own error text, without dockerode's "(HTTP code 500) server error -" prefix. */
export function dockerMessage (e: unknown): string {
  const err = e as { json?: { message?: string }, message?: string, code?: string, address?: string }
  if (err?.code === 'ENOENT' || err?.code === 'ECONNREFUSED') return `cannot reach dockerd at ${err.address ?? 'its socket'} (${err.code}); is dockerd running?`
  return err?.json?.message ?? String(err?.message ?? e).replace(/^\(HTTP code \d+\) [a-z ]+ - /, '')
}

/** Docker calls on a step's path get a deadline: an engine that hangs must not hang the step with it. */
export const CALL_TIMEOUT_MS = 30_000
export function within<T> (p: Promise<T>, what: string, ms = CALL_TIMEOUT_MS,
  message = `the docker engine did not answer ${what} within ${ms / 1000} s`): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new TimeoutError(message)), ms) })
  ])
}

/** Every container labelled with this server id, running or not. */
export function containersOf (engine: DockerEngine, serverId: string): Promise<Docker.ContainerInfo[]> {
  return engine.docker.listContainers({ all: true, filters: { label: [`${LABEL}=1`, `synthgym.server=${serverId}`] } })
}

/**
 * The environment a container of ours was made for: its `synthgym.env` label, or for a warm-pool container an
 * environment took, the name it was renamed to. Null for the pool's, baselines' and evaluations' containers.
 */
export function envOfContainer (c: Docker.ContainerInfo): string | null {
  if (c.Labels['synthgym.sandbox']?.endsWith('-run')) return null
  const label = c.Labels['synthgym.env']
  if (label && label !== 'warm-pool' && label !== 'baseline') return label
  const named = c.Names.map(n => /^\/synthgym-(env-[0-9a-f]+)-sbx-/.exec(n)?.[1]).find(Boolean)
  return named ?? null
}

/**
 * Removes a container for good: a removal the engine answers with an error is asked for again
 * (SANDBOX_DEFAULTS.removeTries, waits doubling from removeRetryMs); one it no longer has (404) is done. An engine
 * that does not answer is not asked again (its sandboxes end as it is taken out). False: the container may be there.
 */
export async function removeContainer (engine: DockerEngine, id: string): Promise<boolean> {
  for (let i = 1; ; i++) {
    try {
      await within(engine.docker.getContainer(id).remove({ force: true }), 'a container removal')
      return true
    } catch (e) {
      const status = (e as { statusCode?: number }).statusCode
      if (status === 404) return true
      if (status === undefined || i >= SANDBOX_DEFAULTS.removeTries) return false
    }
    await new Promise(resolve => setTimeout(resolve, SANDBOX_DEFAULTS.removeRetryMs * 2 ** (i - 1)))
  }
}

/**
 * Containers a server left behind (it died, or the engine was unreachable when it removed them): every container
 * labelled with this server id but the live sandboxes' and those in `keep` (container ids about to be re-attached).
 */
export async function sweepOrphans (engine: DockerEngine, serverId: string, keep: Set<string> = new Set()): Promise<number> {
  const list = (await containersOf(engine, serverId)).filter(c => !keep.has(c.Id))
  const mine = new Set([...engine.sandboxes].map(s => s.container?.id))
  const stale = list.filter(c => !mine.has(c.Id))
  return (await Promise.all(stale.map(c => removeContainer(engine, c.Id)))).filter(Boolean).length
}
