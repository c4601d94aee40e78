// Live environments of this server: capacity, episodes in the store, idle reaping, subscribers for streamed output.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Environment, taskMounts, type StepResult, type ResetResult } from '../tasks/environment.js'
import { BaselineCache, type BaselineSite } from '../tasks/baseline.js'
import { taskDescription, type Task, type TaskRegistry } from '../tasks/registry.js'
import { LocalSandbox } from '../sandbox/local.js'
import type { Sandbox, SandboxOptions } from '../sandbox/types.js'
import type { DockerBackend } from '../sandbox/docker-backend.js'
import { GpuAllocator, detectGpus, type GpuInfo } from '../sandbox/gpus.js'
import type { CreateEnvBody } from '../env-spec/messages.js'
import type { EpisodeStore } from './store.js'
import { ApiError } from './errors.js'
import { sandboxSettings } from '../tasks/settings.js'

/** Where this server's local sandboxes live. */
export function localSandboxDir (config: { dataDir: string }): string { return join(config.dataDir, 'sandboxes') }

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
}

export interface LiveEnv {
  id: string
  env: Environment
  task: Task
  episodeId: string | null
  lastUsed: number
  created: number
  backend: 'local' | 'docker'
  /** callbacks of attached WebSocket clients: output frames and step results of this env reach all of them */
  listeners: Set<(frame: { type: 'output', id: string | number, data: string } | { type: 'step_result', result: StepResult }) => void>
  closing: boolean
}

export class EnvManager {
  readonly envs = new Map<string, LiveEnv>()
  readonly baselines: BaselineCache
  readonly gpus: GpuAllocator
  readonly gpuInfo: { gpus: GpuInfo[], reason: string | null }
  private reaper: NodeJS.Timeout

  constructor (readonly config: ServerConfig, readonly tasks: TaskRegistry, readonly store: EpisodeStore, readonly docker: DockerBackend) {
    const makeLocal = (opts: SandboxOptions) => LocalSandbox.create({ ...opts, baseDir: localSandboxDir(config), owner: docker.config.serverId })
    // a baseline that trains on GPUs gets them from the same allocator as environments do
    const makeForBaseline = (opts: SandboxOptions, task: Task, site: BaselineSite): Promise<Sandbox> =>
      this.withGpus(task, opts, o => site.startsWith('docker:')
        ? this.docker.create({ ...o, image: site.slice('docker:'.length), pooled: false, labels: { 'synthgym.env': 'baseline', 'synthgym.task': task.spec.id } })
        : makeLocal(o))
    this.baselines = new BaselineCache(join(config.dataDir, 'baselines'), makeForBaseline, task => {
      const s = sandboxSettings(task)
      return { mounts: taskMounts(task).mounts, limits: s.limits, network: s.network }
    })
    this.makeLocal = makeLocal
    this.gpuInfo = config.gpus === 'auto' ? detectGpus()
      : config.gpus === 'none' || config.gpus === '' ? { gpus: [], reason: 'GPUs turned off (--gpus none)' }
        : { gpus: config.gpus.split(',').map(id => ({ id: id.trim(), name: 'configured' })), reason: null }
    this.gpus = new GpuAllocator(this.gpuInfo.gpus.map(g => g.id), { perGpu: config.gpuShare, queue: config.gpuQueue })
    this.reaper = setInterval(() => { void this.reap() }, Math.min(30_000, config.idleTimeout * 1000 / 2)).unref()
  }

  private makeLocal: (opts: SandboxOptions) => Promise<LocalSandbox>

  /**
   * Creates a sandbox with the GPUs the task asks for; they go back when the sandbox closes (its onClose), or at
   * once when it cannot start.
   */
  private async withGpus (task: Task, opts: SandboxOptions, create: (opts: SandboxOptions) => Promise<Sandbox>): Promise<Sandbox> {
    const ids = await this.gpus.acquire(task.spec.resources?.gpus ?? 0)
    let held = true
    const release = () => { if (held) { held = false; this.gpus.release(ids) } }
    try {
      return await create({ ...opts, limits: { ...opts.limits, ...(ids.length ? { gpus: ids } : {}) }, onClose: release })
    } catch (e) { release(); throw e }
  }

  /** The sandbox factory of one environment: its backend and image. */
  private sandboxFactory (live: () => LiveEnv, body: CreateEnvBody, task: Task): (opts: SandboxOptions) => Promise<Sandbox> {
    return async opts => {
      const l = live()
      const network = task.spec.resources?.network === true
      try {
        return await this.withGpus(task, opts, o => l.backend === 'docker'
          ? this.docker.create({
            ...o, image: body.image, runtime: body.runtime, network,
            labels: { 'synthgym.env': l.id, 'synthgym.task': task.spec.id },
            envId: l.id
          })
          : this.makeLocal({ ...o, network }))
      } catch (e) {
        if ((e as { code?: string }).code) throw e
        throw new ApiError(500, 'SANDBOX_ERROR', (e as Error).message)
      }
    }
  }

  create (body: CreateEnvBody): LiveEnv {
    const task = this.tasks.get(body.task)
    if (!task) throw new ApiError(404, 'NOT_FOUND', `task ${body.task} does not exist; GET /v1/tasks lists the tasks`, 'task')
    if (this.envs.size >= this.config.capacity) {
      throw new ApiError(503, 'CAPACITY_REACHED', `this server holds its limit of ${this.config.capacity} environments; close one (DELETE /v1/envs/:id) or retry later`)
    }
    const id = 'env-' + randomBytes(8).toString('hex')
    const backend = body.backend ?? this.config.backend
    if (backend === 'docker' && !this.docker.engines.some(e => e.healthy)) {
      throw new ApiError(503, 'BACKEND_UNAVAILABLE', `the docker backend is unavailable: ${this.docker.engines.map(e => `${e.name}: ${e.error}`).join('; ')}; use backend "local" or start dockerd`, 'backend')
    }
    if ((task.spec.resources?.gpus ?? 0) > this.gpus.gpus.length) {
      throw new ApiError(503, 'CAPACITY_REACHED', `task ${task.spec.id} needs ${task.spec.resources!.gpus} GPU(s); this server has ${this.gpus.gpus.length} (${this.gpuInfo.reason ?? 'see /v1/health'})`)
    }
    let live: LiveEnv
    const env = new Environment(task, {
      makeSandbox: this.sandboxFactory(() => live, body, task),
      baseline: t => this.baselines.get(t, backend === 'docker' ? `docker:${body.image ?? this.config.image}` : 'local'),
      maxSteps: body.max_steps ?? this.config.maxSteps,
      reward: body.reward,
      toolProfile: body.tool_profile,
      timeouts: body.timeouts ? { short: body.timeouts.short, long: body.timeouts.long, noOutput: body.timeouts.no_output } : undefined,
      outputCap: body.limits?.output_cap ?? this.config.outputCap,
      limits: body.limits ? { cpus: body.limits.cpus, memoryMb: body.limits.memory_mb, pids: body.limits.pids, diskMb: body.limits.disk_mb } : undefined
    })
    live = { id, env, task, episodeId: null, lastUsed: Date.now(), created: Date.now(), listeners: new Set(), closing: false, backend }
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
    await this.docker.shutdown()
  }
}
