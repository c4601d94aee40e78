// The environment manager: the one way into live environments for every route and WebSocket op. Capacity,
// episodes in the store, idle reaping, subscribers for streamed output. It throws the errors of its layer (and
// passes on those of the layers below); server/errors.ts turns them into HTTP statuses.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Environment, taskMounts } from '../tasks/environment.js'
import { BaselineCache, type BaselineSite } from '../tasks/baseline.js'
import { repoRoot, taskDescription, type Task, type TaskRegistry } from '../tasks/registry.js'
import { LocalSandbox, localBackendInfo, isolationDifferences } from '../sandbox/local.js'
import type { Sandbox, SandboxOptions } from '../sandbox/types.js'
import type { DockerBackend } from '../sandbox/docker-backend.js'
import { GpuAllocator, detectGpus, type GpuInfo } from '../sandbox/gpus.js'
import { agentHostIds } from '../sandbox/policy.js'
import { BusyError, CapacityError, EngineUnavailableError, SandboxStartError, TimeoutError } from '../sandbox/errors.js'
import { commandDocs, openaiTools, lintMode, toolDefinitions, type ToolProfile } from '../sandbox/tools.js'
import { NotResetError } from '../tasks/errors.js'
import { toMlgymResults, toMlgymTraj } from '../env-spec/trajectory.js'
import { beatsBaseline, type EpisodeBriefPage, type EpisodePage, type ResetResult, type StepResult, type Trajectory } from '../env-spec/episode.js'
import { MAX_EPISODE_WAIT_SECONDS, MAX_EPISODES_WITH_STEPS } from '../env-spec/messages.js'
import type {
  CloseResult, CreateEnvBody, EnvList, EnvState, EnvSummary, EpisodeQuery, EvaluateResult, Health, StepBody, TaskDetail,
  TaskList, TaskSummary, TasksReloadResult, ToolsResult, WatchResult, WsOutputFrame, WsStepResultFrame
} from '../env-spec/messages.js'
import type { FastifyBaseLogger } from 'fastify'
import type { ServerConfig } from './config.js'
import type { EpisodeStore } from './store.js'
import { BackendUnavailableError, CapacityReachedError, EnvClosedError, NotFoundError, toApiError } from './errors.js'
import { canSee, currentCaller } from './auth.js'
import { ServerMetrics } from './metrics.js'
import { sandboxSettings } from '../tasks/settings.js'

/** Where this server's local sandboxes live. */
export function localSandboxDir (config: { dataDir: string }): string { return join(config.dataDir, 'sandboxes') }

const VERSION = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')).version as string

/** Frames for the WebSocket sessions attached to an environment: a step's output as it comes, and its result. */
export type EnvListener = (frame: WsOutputFrame | WsStepResultFrame) => void

/** A read-only follower (WebSocket `watch`, the dashboard): every step's output and result, whoever runs it. */
export type EnvWatcher = (event: { output: string } | { result: StepResult }) => void

/** How much of a running step's output an environment keeps for a watcher that comes in late. */
const WATCH_TAIL = 64 * 1024

export interface LiveEnv {
  id: string
  env: Environment
  task: Task
  episodeId: string | null
  lastUsed: number
  created: number
  backend: 'local' | 'docker'
  /** attached WebSocket sessions: output frames and step results of this env reach all of them */
  listeners: Set<EnvListener>
  /** read-only followers: the output of every step, streamed or not */
  watchers: Set<EnvWatcher>
  /** the running step's output so far (its last WATCH_TAIL characters); '' between steps */
  output: string
  /** the GPU ids the current sandbox holds */
  gpus: string[]
  /** set when the environment is closed: a request still running on it answers ENV_CLOSED and records nothing */
  closed: boolean
  /** the model and labels its episodes are recorded with (POST /v1/envs `model`, `meta`) */
  model: string | null
  meta: Record<string, unknown>
  /** whether the current episode has beaten its baseline yet */
  improved: boolean
  /** the API key that made it (null: made without a key); only it and admins see the environment */
  owner: string | null
  /** the server's logger with env_id, key_id, task and backend bound */
  log: FastifyBaseLogger
}

function taskSummary (t: Task): TaskSummary {
  const s = t.spec
  return {
    id: s.id, name: s.name, source: t.source, task_entrypoint: s.task_entrypoint ?? 'CSVSubmissionTasks',
    metric: s.metric ?? null, training_timeout: s.training_timeout ?? null, resources: s.resources ?? {}
  }
}

function stateOf (live: LiveEnv): EnvState {
  return { ...envSummary(live), last_step: live.env.steps.at(-1) ?? null }
}

function envSummary (live: LiveEnv): EnvSummary {
  const e = live.env
  return {
    env_id: live.id, task: live.task.spec.id, episode_id: live.episodeId, current_step: e.currentStep, max_steps: e.maxSteps,
    done: e.done, exit_status: e.info.exit_status, score: e.info.score, created_at: new Date(live.created).toISOString(),
    backend: live.backend, gpus: live.gpus, running: e.busy
  }
}

/** Sandbox errors the server answers as they are; anything else from starting a sandbox (ENOENT, EACCES...) is wrapped. */
const SANDBOX_START_ERRORS = [SandboxStartError, CapacityError, EngineUnavailableError, TimeoutError]

async function starting (create: () => Promise<Sandbox>, metrics: ServerMetrics, backend: string): Promise<Sandbox> {
  let sandbox: Sandbox
  try { sandbox = await create() } catch (e) {
    const err = SANDBOX_START_ERRORS.some(C => e instanceof C) ? e : new SandboxStartError(`the sandbox did not start: ${(e as Error)?.message ?? String(e)}`)
    metrics.sandboxFailures.inc({ backend, code: toApiError(err).body.error.code })
    throw err
  }
  metrics.sandboxStarts.inc({ backend })
  return sandbox
}

/** Until the server hands over fastify's logger (startServer), nothing is logged. */
const SILENT: FastifyBaseLogger = {
  level: 'silent', child: () => SILENT, fatal () {}, error () {}, warn () {}, info () {}, debug () {}, trace () {}, silent () {}
}

export class EnvManager {
  readonly envs = new Map<string, LiveEnv>()
  readonly baselines: BaselineCache
  readonly gpus: GpuAllocator
  readonly gpuInfo: { gpus: GpuInfo[], reason: string | null }
  private reaper: NodeJS.Timeout
  /** set by closeAll: requests that still come in are refused */
  closing = false
  readonly metrics: ServerMetrics
  /** fastify's logger (pino), set by startServer; each environment logs through a child of it */
  log: FastifyBaseLogger = SILENT

  constructor (readonly config: ServerConfig, readonly tasks: TaskRegistry, readonly store: EpisodeStore, readonly docker: DockerBackend) {
    this.metrics = new ServerMetrics(this)
    const makeLocal = (opts: SandboxOptions) => LocalSandbox.create({ ...opts, baseDir: localSandboxDir(config), owner: docker.config.serverId })
    // a baseline that trains on GPUs gets them from the same allocator as environments do
    const makeForBaseline = (opts: SandboxOptions, task: Task, site: BaselineSite): Promise<Sandbox> =>
      starting(() => this.withGpus(task, opts, o => site.startsWith('docker:')
        ? this.docker.create({ ...o, image: site.slice('docker:'.length), pooled: false, labels: { 'synthgym.env': 'baseline', 'synthgym.task': task.spec.id } })
        : makeLocal(o)), this.metrics, site.startsWith('docker:') ? 'docker' : 'local')
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
    return opts => {
      const l = live()
      return starting(() => this.withGpus(task, opts, o => {
        l.gpus = o.limits?.gpus ?? []
        return l.backend === 'docker'
          ? this.docker.create({
          ...o, image: body.image, runtime: body.runtime,
          labels: { 'synthgym.env': l.id, 'synthgym.task': task.spec.id },
            envId: l.id
          })
          : this.makeLocal(o)
      }), this.metrics, l.backend)
    }
  }

  health (): Health {
    const local = localBackendInfo()
    const differences = isolationDifferences()
    const lint = lintMode()
    const store = this.store.health()
    const backendUp = this.config.backend === 'local' ? local.isolation !== null && local.python !== null : this.docker.engines.some(e => e.healthy)
    const problems = [
      ...(backendUp ? [] : [`the default backend (${this.config.backend}) cannot start sandboxes: see backends.${this.config.backend}`]),
      ...(store.ok ? [] : [`the episode store does not answer: ${store.error}`])
    ]
    return {
      status: problems.length ? 'degraded' : 'ok',
      ...(problems.length ? { problems } : {}),
      version: VERSION,
      backends: {
        local: {
          available: local.isolation !== null && local.python !== null,
          isolation: local.isolation, limits: local.limits, python: local.python,
          agent_host_uid: agentHostIds()?.uid ?? process.geteuid!(),
          ...(differences.length ? { differences } : {}),
          ...(local.limits === 'none' ? { warning: 'no writable cgroups: memory and process limits fall back to rlimits' } : {})
        },
        docker: { available: this.docker.engines.some(e => e.healthy), ...this.docker.health() }
      },
      lint: lint === 'flake8' ? { mode: 'flake8' } : { mode: 'py_compile', warning: 'flake8 is not installed: edit/insert lint with Python\'s compile check only (apt-get install flake8)' },
      default_backend: this.config.backend,
      gpus: this.gpus.gpus.length
        ? { available: true, ...this.gpus.status() }
        : { available: false, reason: this.gpuInfo.reason ?? 'no GPUs' },
      tasks: this.tasks.list().length,
      envs: { open: this.envs.size, capacity: this.config.capacity },
      store,
      auth: { required: this.authRequired() }
    }
  }

  /** Whether requests need an API key; the app sets it (server/auth.ts). */
  authRequired: () => boolean = () => false

  listTasks (): TaskList { return { tasks: this.tasks.list().map(taskSummary) } }

  async describeTask (id: string): Promise<TaskDetail> {
    const t = this.tasks.require(id)
    return {
      ...taskSummary(t), spec: t.spec, description: taskDescription(t.spec), baseline: (await this.baselines.peek(t)) ?? null,
      ...(t.provenance ? { provenance: t.provenance } : {})
    }
  }

  /** Reads the tasks again (set by the server: the registry as it would load now); null when there is nothing to read. */
  taskSource: (() => { registry: TaskRegistry, errors: { file: string, reason: string }[] }) | null = null

  /**
   * The served tasks as they are on disk now: new ones added, changed ones replaced, vanished ones removed. Live
   * environments keep the task they were created with.
   */
  reloadTasks (): TasksReloadResult {
    if (!this.taskSource) return { added: [], updated: [], removed: [], errors: [], tasks: this.tasks.list().length }
    const { registry, errors } = this.taskSource()
    const fingerprint = (t: Task) => JSON.stringify([t.spec, t.root, t.source, t.provenance ?? null])
    const added: string[] = []
    const updated: string[] = []
    const removed: string[] = []
    for (const t of registry.list()) {
      const before = this.tasks.get(t.spec.id)
      if (!before) { added.push(t.spec.id); this.tasks.add(t) } else if (fingerprint(before) !== fingerprint(t)) { updated.push(t.spec.id); this.tasks.add(t) }
    }
    for (const t of this.tasks.list()) if (!registry.get(t.spec.id)) { removed.push(t.spec.id); this.tasks.remove(t.spec.id) }
    return { added, updated, removed, errors, tasks: this.tasks.list().length }
  }

  tools (profile: ToolProfile): ToolsResult {
    return { profile, command_docs: commandDocs(profile), tools: openaiTools(profile), definitions: toolDefinitions(profile) }
  }

  create (body: CreateEnvBody): EnvSummary {
    const task = this.tasks.require(body.task)
    if (this.envs.size >= this.config.capacity) {
      throw new CapacityReachedError(`this server holds its limit of ${this.config.capacity} environments; close one (DELETE /v1/envs/:id) or retry later`)
    }
    // the caller's own limit (an API key's --max-envs), counted over what it holds now
    const { keyId: owner, maxEnvs } = currentCaller()
    if (maxEnvs > 0 && [...this.envs.values()].filter(l => l.owner === owner).length >= maxEnvs) {
      throw new CapacityReachedError(`API key ${owner} holds its limit of ${maxEnvs} environments; close one (DELETE /v1/envs/:id) or ask for a key with a higher --max-envs`)
    }
    const id = 'env-' + randomBytes(8).toString('hex')
    const backend = body.backend ?? this.config.backend
    if (backend === 'docker' && !this.docker.engines.some(e => e.healthy)) {
      throw new BackendUnavailableError(`the docker backend is unavailable: ${this.docker.engines.map(e => `${e.name}: ${e.error}`).join('; ')}; use backend "local" or start dockerd`)
    }
    if ((task.spec.resources?.gpus ?? 0) > this.gpus.gpus.length) {
      throw new CapacityReachedError(`task ${task.spec.id} needs ${task.spec.resources!.gpus} GPU(s); this server has ${this.gpus.gpus.length} (${this.gpuInfo.reason ?? 'see /v1/health'})`)
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
    const log = this.log.child({ env_id: id, ...(owner ? { key_id: owner } : {}), task: task.spec.id, backend })
    live = {
      id, env, task, episodeId: null, lastUsed: Date.now(), created: Date.now(), listeners: new Set(), watchers: new Set(),
      output: '', gpus: [], closed: false, backend, model: body.model ?? null, meta: body.meta ?? {}, improved: false, owner, log
    }
    this.envs.set(id, live)
    log.info('environment created')
    return envSummary(live)
  }

  /** The live environment, or NOT_FOUND (also for another key's: its existence is not told); use keeps it from the reaper. */
  private live (id: string): LiveEnv {
    const live = this.envs.get(id)
    if (!live || !canSee(live.owner)) throw this.notFound(id)
    live.lastUsed = Date.now()
    return live
  }

  private notFound (id: string): NotFoundError {
    return new NotFoundError(`environment ${id} does not exist (closed, reaped after ${this.config.idleTimeout} s idle, or never created)`, 'env_id')
  }

  list (): EnvList { return { envs: [...this.envs.values()].filter(l => canSee(l.owner)).map(envSummary) } }
  summary (id: string): EnvSummary { return envSummary(this.live(id)) }

  /** What a (re-)attaching client needs: the summary, whether a step runs now, and the last recorded step. */
  state (id: string): EnvState { return stateOf(this.live(id)) }

  /** Output frames and step results of `id` go to `listener` until unsubscribed or the environment closes. */
  subscribe (id: string, listener: EnvListener): void { this.live(id).listeners.add(listener) }
  unsubscribe (id: string, listener: EnvListener): void { this.envs.get(id)?.listeners.delete(listener) }

  /**
   * Follows `id` read-only: what the running step printed so far, then every step's output and result. Not use:
   * the idle reaper still closes a watched environment nobody steps.
   */
  watch (id: string, watcher: EnvWatcher): WatchResult {
    const live = this.envs.get(id)
    if (!live || !canSee(live.owner)) throw this.notFound(id)
    live.watchers.add(watcher)
    return { ...stateOf(live), output: live.output }
  }
  unwatch (id: string, watcher: EnvWatcher): void { this.envs.get(id)?.watchers.delete(watcher) }

  async reset (id: string): Promise<ResetResult> {
    const live = this.live(id)
    let r
    try { r = await live.env.reset() } catch (e) {
      if (live.closed) throw new EnvClosedError(id)
      // a refused reset (a step runs) leaves the episode alone; any other failure has already taken its sandbox
      if (!(e instanceof BusyError) && live.episodeId) this.abandon(live.episodeId)
      throw e
    }
    if (live.closed) {
      await live.env.close() // the sandbox this reset started after the environment was closed
      throw new EnvClosedError(id)
    }
    if (live.episodeId) this.abandon(live.episodeId)
    const episodeId = 'ep-' + randomBytes(8).toString('hex')
    live.episodeId = episodeId
    live.improved = false
    this.metrics.timeStore('create_episode', () => this.store.createEpisode({
      id: episodeId, env_id: live.id, task_id: live.task.spec.id, baseline: r.info.baseline, description: taskDescription(live.task.spec),
      meta: live.meta, model: live.model, key_id: live.owner
    }))
    this.episodesChanged()
    live.log.info({ episode_id: episodeId }, 'episode started')
    live.lastUsed = Date.now()
    return { ...r, episode_id: episodeId }
  }

  /**
   * Runs the step, records it, then answers: a step that returned is durable. With `streamId`, its output goes to
   * the attached sessions as frames carrying that id. A step cut short by a close is not recorded.
   */
  async step (id: string, body: StepBody, opts: { streamId?: string | number } = {}): Promise<StepResult> {
    const live = this.live(id)
    const { streamId } = opts
    // every step's output is kept (its tail) and goes to the watchers; to the attached sessions only when streamed
    const onOutput = (data: string) => {
      live.output = (live.output + data).slice(-WATCH_TAIL)
      for (const w of live.watchers) w({ output: data })
      if (streamId !== undefined) for (const l of live.listeners) l({ type: 'output', id: streamId, env_id: id, data })
    }
    let r: StepResult
    const end = this.metrics.stepSeconds.startTimer({ backend: live.backend })
    const failed = (e: unknown) => {
      this.metrics.steps.inc({ backend: live.backend, outcome: toApiError(e).body.error.code })
      return e
    }
    // a refused step (one already runs) must not wipe the running one's output
    if (!live.env.busy) live.output = ''
    try { r = await live.env.step(body.action, { response: body.response, thought: body.thought, onOutput }) } catch (e) {
      throw failed(live.closed ? new EnvClosedError(id) : e)
    } finally { if (!live.env.busy) live.output = '' }
    if (live.closed) throw failed(new EnvClosedError(id))
    const env = live.env
    const steps = env.steps
    if (live.episodeId) {
      const episodeId = live.episodeId
      // the model call goes to the store only: the live environment keeps no copy of every prompt
      const step = body.model ? { ...steps.at(-1)!, model: body.model } : steps.at(-1)!
      const improved = beatsBaseline(env.info.score, env.baselineScores, live.task.spec.metric)
      this.metrics.timeStore('append_step', () => this.store.appendStep(episodeId, steps.length - 1, step, { ...env.info, done: env.done, improved }))
      if (env.done || improved !== live.improved) this.episodesChanged()
      live.improved = improved
    }
    end()
    this.metrics.steps.inc({ backend: live.backend, outcome: 'ok' })
    if (r.info.metrics) this.metrics.evaluations.inc({ trigger: 'step', result: 'scored' })
    live.log.debug({ episode_id: live.episodeId, step: steps.length - 1, seconds: steps.at(-1)!.execution_time, done: env.done }, 'step')
    if (env.done) live.log.info({ episode_id: live.episodeId, exit_status: env.info.exit_status }, 'episode finished')
    live.lastUsed = Date.now()
    for (const l of live.listeners) l({ type: 'step_result', env_id: id, result: r })
    for (const w of live.watchers) w({ result: r })
    return r
  }

  /** Scores the workspace now: no step, nothing in the score list. */
  async evaluate (id: string): Promise<EvaluateResult> {
    const live = this.live(id)
    let r: EvaluateResult
    try { r = await live.env.evaluateNow() } catch (e) {
      if (live.closed) throw new EnvClosedError(id)
      throw e
    }
    if (live.closed) throw new EnvClosedError(id)
    this.metrics.evaluations.inc({ trigger: 'evaluate', result: r.metrics ? 'scored' : 'failed' })
    return r
  }

  /** The environment's current episode. */
  trajectory (id: string): Trajectory {
    const live = this.live(id)
    if (!live.episodeId) throw new NotResetError('this environment has no episode yet; reset it first')
    return this.episode(live.episodeId)
  }

  /** A stored episode: a key sees only the episodes of its own environments, an admin every one. */
  episode (episodeId: string): Trajectory {
    const ep = this.store.getEpisode(episodeId)
    if (!ep || !canSee(this.store.episodeOwner(episodeId) ?? null)) throw new NotFoundError(`episode ${episodeId} does not exist`, 'episode_id')
    const steps = this.store.getSteps(episodeId)
    return { episode: ep, traj: toMlgymTraj(ep, steps), results: toMlgymResults(ep), steps }
  }

  /**
   * A page of stored episodes (a key sees only its own environments' episodes, an admin every one). With `wait`, a
   * page that would be empty is held until an episode that matches appears (episodes are created, end or beat their
   * baseline: `episodesChanged`) or `wait` seconds pass, or `signal` aborts (the client went away). The store is asked
   * again only on those events, never on a timer.
   */
  async episodes (q: EpisodeQuery, opts: { signal?: AbortSignal } = {}): Promise<EpisodePage | EpisodeBriefPage> {
    const { wait, include_steps: withSteps, ...filters } = q
    const query = withSteps ? { ...filters, limit: Math.min(filters.limit ?? MAX_EPISODES_WITH_STEPS, MAX_EPISODES_WITH_STEPS) } : filters
    const a = currentCaller()
    const owner = a.admin ? undefined : { keyId: a.keyId }
    const page = await this.waitForEpisodes(query, owner, wait, opts.signal)
    if (withSteps) for (const e of page.episodes) e.trajectory = this.store.getSteps(e.id)
    return page
  }

  private async waitForEpisodes (query: EpisodeQuery, owner: { keyId: string | null } | undefined, wait: number | undefined, signal?: AbortSignal): Promise<EpisodePage | EpisodeBriefPage> {
    const first = this.store.listEpisodes(query, owner)
    if (!wait || first.episodes.length || this.closing || signal?.aborted) return first
    return await new Promise<EpisodePage | EpisodeBriefPage>(resolve => {
      let timer: NodeJS.Timeout | undefined
      const finish = (page: EpisodePage | EpisodeBriefPage) => {
        clearTimeout(timer)
        this.episodeWaiters.delete(check)
        signal?.removeEventListener('abort', onAbort)
        resolve(page)
      }
      const check = () => {
        const page = this.store.listEpisodes(query, owner)
        if (page.episodes.length || this.closing) finish(page)
      }
      const onAbort = () => finish(first)
      timer = setTimeout(() => finish(first), Math.min(wait, MAX_EPISODE_WAIT_SECONDS) * 1000)
      signal?.addEventListener('abort', onAbort)
      this.episodeWaiters.add(check)
    })
  }

  /** long polls of GET /v1/episodes waiting for an episode to appear */
  private episodeWaiters = new Set<() => void>()

  /** An episode was created, ended or beat its baseline: held long polls look again. */
  private episodesChanged (): void {
    for (const check of [...this.episodeWaiters]) check()
  }

  private abandon (episodeId: string): void {
    if (this.store.abandon(episodeId)) this.episodesChanged()
  }

  async close (id: string): Promise<CloseResult> {
    await this.shut(this.live(id), 'closed')
    return { env_id: id, closed: true }
  }

  /**
   * Closed first, then gone from the map, its episode abandoned, its sandbox closed: a step still running on it
   * sees `closed` when it returns and neither answers a result nor writes to the store.
   */
  private async shut (live: LiveEnv, why: string): Promise<void> {
    if (live.closed) return
    live.closed = true
    this.envs.delete(live.id)
    if (live.episodeId && !live.env.done) this.abandon(live.episodeId)
    live.log.info({ episode_id: live.episodeId, why }, 'environment closed')
    await live.env.close()
  }

  /**
   * The sandbox of an environment's current episode, for a protocol that drives it directly (SWE-ReX): nothing done
   * through it is a step, nothing is recorded. NOT_FOUND, or NOT_RESET before the first reset.
   */
  sandboxOf (id: string): Sandbox {
    const live = this.live(id)
    if (!live.env.sandbox) throw new NotResetError('this environment has no sandbox yet; reset it first (POST /v1/envs/:id/reset)')
    return live.env.sandbox
  }

  /** Runs `work` as use of environment `id`: the idle reaper leaves it alone however long `work` runs. */
  async using<T> (id: string, work: () => Promise<T>): Promise<T> {
    const live = this.live(id)
    this.inUse.set(id, (this.inUse.get(id) ?? 0) + 1)
    try { return await work() } finally {
      const n = (this.inUse.get(id) ?? 1) - 1
      if (n > 0) this.inUse.set(id, n); else this.inUse.delete(id)
      live.lastUsed = Date.now()
    }
  }

  /** protocol calls (SWE-ReX) running on each environment */
  private inUse = new Map<string, number>()

  private async reap (): Promise<void> {
    const now = Date.now()
    for (const live of [...this.envs.values()]) {
      // a long step (training) is use, however long it runs; so is a long SWE-ReX command
      if (live.env.busy || this.inUse.has(live.id)) continue
      if (now - live.lastUsed > this.config.idleTimeout * 1000) await this.shut(live, 'reaped (idle)')
    }
  }

  async closeAll (): Promise<void> {
    this.closing = true
    clearInterval(this.reaper)
    this.episodesChanged() // held long polls answer now: the server is stopping
    await Promise.all([...this.envs.values()].map(live => this.shut(live, 'server shutting down')))
    await this.docker.shutdown()
  }
}
