// Live environments of this server: capacity, episodes in the store, idle reaping, subscribers for streamed output.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Environment, taskMounts, type StepResult, type ResetResult } from '../tasks/environment.js'
import { BaselineCache } from '../tasks/baseline.js'
import { taskDescription, type Task, type TaskRegistry } from '../tasks/registry.js'
import { LocalSandbox } from '../sandbox/local.js'
import type { SandboxOptions } from '../sandbox/types.js'
import type { CreateEnvBody } from '../env-spec/messages.js'
import type { EpisodeStore } from './store.js'
import { ApiError } from './errors.js'

export interface ServerConfig {
  host: string
  port: number
  dataDir: string
  /** most environments open at once */
  capacity: number
  /** seconds an environment may sit unused before it is closed */
  idleTimeout: number
  maxSteps: number
  outputCap: number
  token?: string
  synchronous: 'NORMAL' | 'FULL'
}

export interface LiveEnv {
  id: string
  env: Environment
  task: Task
  episodeId: string | null
  lastUsed: number
  created: number
  /** callbacks of attached WebSocket clients: output frames and step results of this env reach all of them */
  listeners: Set<(frame: { type: 'output', id: string | number, data: string } | { type: 'step_result', result: StepResult }) => void>
  closing: boolean
}

export class EnvManager {
  readonly envs = new Map<string, LiveEnv>()
  readonly baselines: BaselineCache
  private reaper: NodeJS.Timeout

  constructor (readonly config: ServerConfig, readonly tasks: TaskRegistry, readonly store: EpisodeStore) {
    const makeSandbox = (opts: SandboxOptions) => LocalSandbox.create({ ...opts, baseDir: join(config.dataDir, 'sandboxes') })
    this.baselines = new BaselineCache(join(config.dataDir, 'baselines'), makeSandbox, task => {
      const r = task.spec.resources ?? {}
      return { mounts: taskMounts(task).mounts, limits: { cpus: r.cpus, memoryMb: r.memory_mb, pids: r.pids ?? 1024 } }
    })
    this.makeSandbox = makeSandbox
    this.reaper = setInterval(() => { void this.reap() }, Math.min(30_000, config.idleTimeout * 1000 / 2)).unref()
  }

  private makeSandbox: (opts: SandboxOptions) => Promise<LocalSandbox>

  create (body: CreateEnvBody): LiveEnv {
    const task = this.tasks.get(body.task)
    if (!task) throw new ApiError(404, 'NOT_FOUND', `task ${body.task} does not exist; GET /v1/tasks lists the tasks`, 'task')
    if (this.envs.size >= this.config.capacity) {
      throw new ApiError(503, 'CAPACITY_REACHED', `this server holds its limit of ${this.config.capacity} environments; close one (DELETE /v1/envs/:id) or retry later`)
    }
    const id = 'env-' + randomBytes(8).toString('hex')
    const env = new Environment(task, {
      makeSandbox: this.makeSandbox,
      baseline: t => this.baselines.get(t),
      maxSteps: body.max_steps ?? this.config.maxSteps,
      reward: body.reward,
      toolProfile: body.tool_profile,
      timeouts: body.timeouts ? { short: body.timeouts.short, long: body.timeouts.long, noOutput: body.timeouts.no_output } : undefined,
      outputCap: body.limits?.output_cap ?? this.config.outputCap,
      limits: body.limits ? { cpus: body.limits.cpus, memoryMb: body.limits.memory_mb, pids: body.limits.pids } : undefined
    })
    const live: LiveEnv = { id, env, task, episodeId: null, lastUsed: Date.now(), created: Date.now(), listeners: new Set(), closing: false }
    this.envs.set(id, live)
    return live
  }

  get (id: string): LiveEnv {
    const live = this.envs.get(id)
    if (!live || live.closing) throw new ApiError(404, 'NOT_FOUND', `environment ${id} does not exist (closed, reaped after ${this.config.idleTimeout} s idle, or never created)`, 'env_id')
    live.lastUsed = Date.now()
    return live
  }

  async reset (live: LiveEnv): Promise<ResetResult & { episode_id: string }> {
    if (live.episodeId) this.store.abandon(live.episodeId)
    const r = await live.env.reset()
    const episodeId = 'ep-' + randomBytes(8).toString('hex')
    live.episodeId = episodeId
    this.store.createEpisode({ id: episodeId, env_id: live.id, task_id: live.task.spec.id, baseline: r.info.baseline, description: taskDescription(live.task.spec) })
    live.lastUsed = Date.now()
    return { ...r, episode_id: episodeId }
  }

  /** Runs the step, stores it, then answers: a step that returned is durable. */
  async step (live: LiveEnv, action: string, opts: { response?: string, thought?: string, onOutput?: (chunk: string) => void }): Promise<StepResult> {
    const r = await live.env.step(action, opts)
    const steps = live.env.steps
    const idx = steps.length - 1
    if (live.episodeId) {
      this.store.appendStep(live.episodeId, idx, steps[idx]!, { ...live.env.info, done: live.env.done })
    }
    live.lastUsed = Date.now()
    for (const l of live.listeners) l({ type: 'step_result', result: r })
    return r
  }

  async close (id: string): Promise<void> {
    const live = this.envs.get(id)
    if (!live) return
    live.closing = true
    this.envs.delete(id)
    if (live.episodeId && !live.env.done) this.store.abandon(live.episodeId)
    await live.env.close()
  }

  private async reap (): Promise<void> {
    const now = Date.now()
    for (const live of [...this.envs.values()]) {
      if (now - live.lastUsed > this.config.idleTimeout * 1000) await this.close(live.id)
    }
  }

  async closeAll (): Promise<void> {
    clearInterval(this.reaper)
    await Promise.all([...this.envs.keys()].map(id => this.close(id)))
  }
}
