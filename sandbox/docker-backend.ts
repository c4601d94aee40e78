// The docker backend as the server sees it: several engines (placement by free capacity, health checks), a warm
// pool per image, labels on every container, orphans of a dead server swept at start, everything removed at stop.
import { createHash } from 'node:crypto'
import type { SandboxOptions } from './types.js'
import { DockerSandbox, sweepHostDirs } from './docker.js'
import {
  DockerEngine, containersOf, dockerMessage, envOfContainer, removeContainer, sweepOrphans, type DockerEngineConfig
} from './docker-engine.js'
import { WarmPool } from './pool.js'
import { CapacityError, EngineUnavailableError } from './errors.js'

export interface DockerBackendConfig {
  engines: DockerEngineConfig[]
  /** the image used when an environment names none */
  image: string
  serverId: string
  /** started sandboxes kept ready per image (0: no pool) */
  warmPool: number
  /** most warm sandboxes across all images */
  poolCeiling: number
  runtime?: string
  /** seconds between engine health checks */
  checkInterval?: number
}

/**
 * A running container of an earlier server with this id, found at start: its engine, id, sandbox id, and the protocol
 * its shell runs (PROTOCOL_ID of the server that made it).
 */
export interface KeptContainer { engine: string, id: string, sandbox?: string, protocol?: string }

export interface DockerCreateOptions extends SandboxOptions {
  image?: string
  runtime?: string
  labels?: Record<string, string>
}

export class DockerBackend {
  readonly engines: DockerEngine[]
  readonly pool: WarmPool<DockerSandbox>
  /** what each pool key starts: an image with a task's files, limits and tools, ready before any reset asks */
  private setups = new Map<string, DockerCreateOptions & { image: string }>()
  private timer: NodeJS.Timeout | null = null

  constructor (readonly config: DockerBackendConfig) {
    this.engines = config.engines.map(c => new DockerEngine(c))
    this.pool = new WarmPool(key => {
      const o = this.setups.get(key)!
      return DockerSandbox.create(this.pick(), { ...o, serverId: config.serverId, labels: { ...o.labels, 'synthgym.env': 'warm-pool' } })
    }, { size: config.warmPool, ceiling: config.poolCeiling })
  }

  /**
   * Checks the engines and removes what a dead server of this id left behind, but the running containers of the
   * environments in `keep` (to be re-attached: `kept`, by environment id).
   */
  async start (keep: Set<string> = new Set()): Promise<{ swept: number, unavailable: string[], kept: Map<string, KeptContainer> }> {
    let swept = 0
    const kept = new Map<string, KeptContainer>()
    await Promise.all(this.engines.map(e => e.check()))
    for (const e of this.engines.filter(e => e.healthy)) {
      try {
        for (const c of await containersOf(e, this.config.serverId)) {
          const env = envOfContainer(c)
          if (c.State === 'running' && env && keep.has(env) && !kept.has(env)) kept.set(env, {
            engine: e.name, id: c.Id, sandbox: c.Labels['synthgym.sandbox'], protocol: c.Labels['synthgym.protocol']
          })
        }
        swept += await sweepOrphans(e, this.config.serverId, new Set([...kept.values()].filter(k => k.engine === e.name).map(k => k.id)))
      } catch (err) { e.healthy = false; e.error = dockerMessage(err) }
    }
    // the host folders of the containers that went with them (the kept ones' stay)
    await sweepHostDirs(this.config.serverId, new Set([...kept.values()].flatMap(k => k.sandbox ? [k.sandbox] : [])))
    this.timer = setInterval(() => { void this.checkEngines() }, (this.config.checkInterval ?? 5) * 1000)
    this.timer.unref()
    return { swept, unavailable: this.engines.filter(e => !e.healthy).map(e => `${e.name}: ${e.error}`), kept }
  }

  /** A container that outlived its server as a sandbox again (its shell answering), or SandboxStartError. */
  async reattach (k: KeptContainer, opts: DockerCreateOptions): Promise<DockerSandbox> {
    const engine = this.engineNamed(k.engine)
    const o = { ...opts, image: opts.image ?? this.config.image, runtime: opts.runtime ?? this.config.runtime, serverId: this.config.serverId }
    return DockerSandbox.reattach(engine, k.id, o, k.sandbox, k.protocol)
  }

  /** Removes a container found at start (one not re-attached), as a sandbox's close does (asked again on errors). */
  async removeContainer (k: KeptContainer): Promise<boolean> {
    return removeContainer(this.engineNamed(k.engine), k.id)
  }

  private engineNamed (name: string): DockerEngine {
    const e = this.engines.find(e => e.name === name)
    if (!e) throw new EngineUnavailableError(`no docker engine named ${name}`)
    return e
  }

  /** Sandboxes with the same image, runtime, files, limits and init are interchangeable. */
  private poolKey (o: DockerCreateOptions & { image: string }): string {
    const { labels: _labels, ...rest } = o
    return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16)
  }

  /** An engine that stops answering is taken out; its sandboxes end with the reason. */
  async checkEngines (): Promise<void> {
    await Promise.all(this.engines.map(async e => {
      const was = e.healthy
      await e.check()
      if (was && !e.healthy) {
        await Promise.all([...e.sandboxes].map(s => s.abandon(`the docker engine ${e.name} stopped answering (${e.error})`)))
      }
      // back (dockerd restarted): what it still holds of ours from before (stopped or not) goes
      if (!was && e.healthy) await sweepOrphans(e, this.config.serverId).catch(() => 0)
    }))
  }

  /** The healthy engine with the most free capacity. */
  pick (): DockerEngine {
    const healthy = this.engines.filter(e => e.healthy)
    if (healthy.length === 0) {
      throw new EngineUnavailableError(`no docker engine answers: ${this.engines.map(e => `${e.name}: ${e.error}`).join('; ')}`)
    }
    const best = healthy.sort((a, b) => b.free - a.free)[0]!
    if (best.free <= 0) throw new CapacityError(`every docker engine is full (${healthy.map(e => `${e.name} ${e.capacity}`).join(', ')})`)
    return best
  }

  /**
   * A sandbox for an environment: a warm one with exactly this setup when the pool has one (the first reset of a
   * setup starts its pool), else a new container.
   */
  async create (opts: DockerCreateOptions & { envId?: string, pooled?: boolean }): Promise<DockerSandbox> {
    const { envId, pooled, ...rest } = opts
    const o = { ...rest, image: opts.image ?? this.config.image, runtime: opts.runtime ?? this.config.runtime }
    // only sandboxes that hold nothing of their own (GPUs) and need nothing special (network) can be pooled
    const poolable = pooled !== false && this.config.warmPool > 0 && !(opts.limits?.gpus?.length) && !opts.network
    if (poolable) {
      const key = this.poolKey(o)
      // a pool's sandboxes belong to no one yet: no labels or close hook of the caller that started the pool
      if (!this.setups.has(key)) this.setups.set(key, { ...o, labels: {}, onClose: undefined })
      const warm = this.pool.take(key)
      if (warm?.alive) {
        if (envId) void warm.adopt(envId)
        return warm
      }
      await warm?.close()
    }
    return DockerSandbox.create(this.pick(), { ...o, serverId: this.config.serverId })
  }

  health (): Record<string, unknown> {
    return {
      image: this.config.image,
      runtime: this.config.runtime ?? 'runc',
      engines: this.engines.map(e => ({ name: e.name, healthy: e.healthy, error: e.error, capacity: e.capacity, in_use: e.sandboxes.size })),
      warm_pool: { size: this.config.warmPool, ceiling: this.config.poolCeiling, ...(this.pool.lastError ? { last_error: this.pool.lastError } : {}), images: this.pool.status() }
    }
  }

  /** Every container of this server goes: the pool, live sandboxes, and anything else carrying our label. */
  async shutdown (): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.pool.close()
    await Promise.all(this.engines.flatMap(e => [...e.sandboxes].map(s => s.close())))
    await Promise.all(this.engines.filter(e => e.healthy).map(e => sweepOrphans(e, this.config.serverId).catch(() => 0)))
    await sweepHostDirs(this.config.serverId)
  }
}
