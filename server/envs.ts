// The environment manager: the one way into live environments for every route and WebSocket op. Capacity,
// episodes in the store, idle reaping, subscribers for streamed output. It throws the errors of its layer (and
// passes on those of the layers below); server/errors.ts turns them into HTTP statuses.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Environment, taskSandbox } from '../tasks/environment.js'
import { hfCacheDir } from '../tasks/hubdata.js'
import { taskStatus } from '../tasks/mlgym-status.js'
import { runtimeImage } from '../sandbox/runtime-image.js'
import { BaselineCache, type BaselineSite } from '../tasks/baseline.js'
import { repoRoot, taskDescription, type Task, type TaskRegistry } from '../tasks/registry.js'
import { LocalSandbox, localBackendInfo, isolationDifferences } from '../sandbox/local.js'
import type { Sandbox, SandboxOptions } from '../sandbox/types.js'
import type { DockerBackend, KeptContainer } from '../sandbox/docker-backend.js'
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
import type { EpisodeStore, StoredEnv } from './store.js'
import {
  BackendUnavailableError, CapacityReachedError, EnvClosedError, EnvElsewhereError, NotFoundError, ReplicaGoneError, ShuttingDownError,
  StoreFullError, StoreUnavailableError, toApiError
} from './errors.js'
import { canSee, currentCaller } from './auth.js'
import { ServerMetrics } from './metrics.js'
import type { Metrics } from '../env-spec/trajectory.js'
import type { Episode } from '../env-spec/episode.js'
import { sandboxSettings } from '../tasks/settings.js'
import { runReports } from '../tasks/generate/report.js'
import type { GenerationReportList } from '../env-spec/generation.js'

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
  /**
   * Store writes not done yet because the store refused them (disk full, database down), oldest first: they go
   * before anything else this environment does, so the store never has a gap, and nothing runs while they cannot.
   */
  unsaved: Array<() => Promise<unknown>>
  flushing: Promise<void> | null
  /** WebSocket sessions holding it (made over /v1/ws without outlive_socket); null: no socket holds it */
  sockets: number | null
  /** the close pending since the last socket holding it dropped (--socket-grace) */
  orphaned: NodeJS.Timeout | null
}

/** The store refused a write for now (full, down): the write waits in `unsaved`, other errors are not retried. */
function storeRefused (e: unknown): e is StoreFullError | StoreUnavailableError {
  return e instanceof StoreFullError || e instanceof StoreUnavailableError
}

function taskSummary (t: Task): TaskSummary {
  const s = t.spec
  return {
    id: s.id, name: s.name, source: t.source, task_entrypoint: s.task_entrypoint ?? 'CSVSubmissionTasks',
    metric: s.metric ?? null, training_timeout: s.training_timeout ?? null, resources: s.resources ?? {},
    generated: t.provenance !== undefined
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
  /** resets, steps and evaluations running now: SIGTERM waits for them (up to --drain-timeout) */
  private inflight = new Set<Promise<unknown>>()
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
      return { ...taskSandbox(task, hfCacheDir(config.dataDir)), limits: s.limits, network: s.network }
    })
    this.makeLocal = makeLocal
    this.gpuInfo = config.gpus === 'auto' ? detectGpus()
      : config.gpus === 'none' || config.gpus === '' ? { gpus: [], reason: 'GPUs turned off (--gpus none)' }
        : { gpus: config.gpus.split(',').map(id => ({ id: id.trim(), name: 'configured' })), reason: null }
    this.gpus = new GpuAllocator(this.gpuInfo.gpus.map(g => g.id), { perGpu: config.gpuShare, queue: config.gpuQueue })
    this.reaper = setInterval(() => { void this.reap() }, Math.min(30_000, config.idleTimeout * 1000 / 2)).unref()
    // another replica created or ended an episode: held long polls look again
    store.watch(() => this.episodesChanged())
  }

  /** this replica's id: its containers, cgroups, episodes and environments carry it */
  get serverId (): string { return this.docker.config.serverId }

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

  /** The image of a docker environment: the one it names, else its task's runtime image (sandbox/runtime-image.ts). */
  private async runtimeImage (task: Task, named: string | undefined): Promise<string | undefined> {
    const rt = task.spec.runtime
    if (named || !rt || rt === 'base') return named
    const image = await runtimeImage(rt)
    if (!image) throw new SandboxStartError(`task ${task.spec.id} runs in the ${rt} runtime, whose docker image is not built: run \`synthgym runtime build ${rt} --docker\` (or name an image)`)
    return image
  }

  /** The sandbox factory of one environment: its backend and image. */
  private sandboxFactory (live: () => LiveEnv, body: CreateEnvBody, task: Task): (opts: SandboxOptions) => Promise<Sandbox> {
    return opts => {
      const l = live()
      return starting(() => this.withGpus(task, opts, o => {
        l.gpus = o.limits?.gpus ?? []
        return l.backend === 'docker'
          ? this.runtimeImage(task, body.image).then(image => this.docker.create({
            ...o, image, runtime: body.runtime,
            labels: { 'synthgym.env': l.id, 'synthgym.task': task.spec.id },
            envId: l.id
          }))
          : this.makeLocal(o)
      }), this.metrics, l.backend)
    }
  }

  async health (): Promise<Health> {
    const local = localBackendInfo()
    const differences = isolationDifferences()
    const lint = lintMode()
    const store = await this.store.health()
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
      ...(t.provenance ? { provenance: t.provenance } : {}),
      ...(t.source.startsWith('mlgym:') ? { mlgym_status: taskStatus(t, { hf: hfCacheDir(this.config.dataDir), gpu: this.gpuInfo.gpus.length > 0, measured: x => this.baselines.measured(x) }) } : {})
    }
  }

  /** The generation runs behind the generated tasks served here, each with its report (GET /v1/generation/reports). */
  generationReports (): GenerationReportList {
    return runReports(this.tasks.list().filter(t => t.provenance).map(t => t.root))
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

  /** `bySocket`: made over a WebSocket, which then holds it (unless the body says outlive_socket). */
  async create (body: CreateEnvBody, opts: { bySocket?: boolean } = {}): Promise<EnvSummary> {
    if (this.closing) throw new ShuttingDownError('the server is shutting down; create the environment once it is back (or on another replica)')
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
    const live = this.build(id, body, task, backend, Date.now(), owner)
    if (opts.bySocket && !body.outlive_socket) live.sockets = 1
    this.envs.set(id, live)
    // the store says which replica holds it: the others send its requests here
    try {
      await this.store.putEnv({ id, replica_id: this.serverId, task_id: task.spec.id, backend, body, created_at: new Date(live.created).toISOString() })
    } catch (e) {
      this.envs.delete(id)
      throw e
    }
    live.log.info('environment created')
    return envSummary(live)
  }

  /** A live environment of `task` (not yet in the map): a new one, or one restored after a crash. */
  private build (id: string, body: CreateEnvBody, task: Task, backend: 'local' | 'docker', created: number, owner: string | null): LiveEnv {
    let live: LiveEnv
    const env = new Environment(task, {
      makeSandbox: this.sandboxFactory(() => live, body, task),
      baseline: t => this.baselines.get(t, backend === 'docker' ? `docker:${body.image ?? this.config.image}` : 'local'),
      maxSteps: body.max_steps ?? this.config.maxSteps,
      reward: body.reward,
      toolProfile: body.tool_profile,
      hfCache: hfCacheDir(this.config.dataDir),
      timeouts: body.timeouts ? { short: body.timeouts.short, long: body.timeouts.long, noOutput: body.timeouts.no_output } : undefined,
      outputCap: body.limits?.output_cap ?? this.config.outputCap,
      limits: body.limits ? { cpus: body.limits.cpus, memoryMb: body.limits.memory_mb, pids: body.limits.pids, diskMb: body.limits.disk_mb } : undefined
    })
    const log = this.log.child({ env_id: id, ...(owner ? { key_id: owner } : {}), task: task.spec.id, backend })
    live = {
      id, env, task, episodeId: null, lastUsed: Date.now(), created, listeners: new Set(), watchers: new Set(),
      output: '', gpus: [], closed: false, backend, model: body.model ?? null, meta: body.meta ?? {}, improved: false, owner, log,
      unsaved: [], flushing: null, sockets: null, orphaned: null
    }
    return live
  }

  /**
   * After a crash: the environments this replica held whose episode was running (`interrupted`, now ended in the
   * store) and whose docker container still runs come back under their ids with that container re-attached: the
   * trajectory is there, the workspace can be evaluated, a step answers EPISODE_FINISHED, a reset starts a new
   * episode. Every other environment the store still lists for this replica is dropped (local sandboxes died
   * with the server and were swept; a container whose shell does not answer is removed). Returns what it did.
   */
  async recover (rows: StoredEnv[], interrupted: Episode[], containers: Map<string, KeptContainer>): Promise<{ reattached: string[], dropped: string[], problems: string[] }> {
    const out = { reattached: [] as string[], dropped: [] as string[], problems: [] as string[] }
    const episodeOf = new Map(interrupted.map(ep => [ep.env_id, ep]))
    for (const row of rows) {
      const c = containers.get(row.id)
      const ep = episodeOf.get(row.id)
      const task = this.tasks.get(row.task_id)
      const drop = async (why?: string) => {
        if (why) out.problems.push(`environment ${row.id}: ${why}`)
        if (c) await this.docker.removeContainer(c).catch(() => {})
        await this.store.dropEnv(row.id)
        out.dropped.push(row.id)
      }
      if (row.backend !== 'docker' || !c || !ep) { await drop(); continue }
      if (!task) { await drop(`its task ${row.task_id} is no longer served; its container was removed`); continue }
      if (task.spec.resources?.gpus) { await drop('it held GPUs, which are not re-attached; its container was removed'); continue }
      // it stays its API key's, as its episode says
      const live = this.build(row.id, row.body, task, 'docker', Date.parse(row.created_at) || Date.now(), (await this.store.episodeOwner(ep.id)) ?? null)
      try {
        const sandbox = await this.docker.reattach(c, {
          ...live.env.sandboxOptions(), image: row.body.image, runtime: row.body.runtime,
          labels: { 'synthgym.env': row.id, 'synthgym.task': task.spec.id }
        })
        // the live environment keeps no copy of the model calls (the store has them)
        const steps = (await this.store.getSteps(ep.id)).map(({ model: _m, ...st }) => st)
        live.env.adopt(sandbox, { steps, info: { score: ep.score, exit_status: ep.exit_status, submission: ep.submission }, baseline: ep.baseline as Metrics | null })
      } catch (e) {
        await drop(`its container could not be re-attached (${(e as Error).message}); it was removed`)
        continue
      }
      live.episodeId = ep.id
      live.improved = ep.improved === true
      this.envs.set(row.id, live)
      out.reattached.push(row.id)
    }
    return out
  }

  /**
   * For an environment this replica does not hold: ENV_ELSEWHERE with the same request's URL on the replica that
   * holds it (`path`: this request's path and query), or REPLICA_GONE when that replica stopped its heartbeat.
   * Returns when no replica holds it (the caller answers NOT_FOUND).
   */
  async whereIs (id: string, path: string): Promise<void> {
    if (this.envs.has(id) || id.length > 100) return
    const at = await this.store.locateEnv(id)
    if (!at || at.replica_id === this.serverId) return
    const stale = 3 * this.config.heartbeat * 1000
    if (at.heartbeat_age_ms > stale || !at.url) {
      const seen = Number.isFinite(at.heartbeat_age_ms) ? `its last heartbeat was ${Math.round(at.heartbeat_age_ms / 1000)} s ago` : 'it has left'
      throw new ReplicaGoneError(`environment ${id} lives on replica ${at.replica_id}${at.url ? ` (${at.url})` : ''}, which does not answer: ${seen}. Its episode is recorded up to its last answered step (GET /v1/episodes); create a new environment`)
    }
    throw new EnvElsewhereError(`environment ${id} lives on replica ${at.replica_id}: send this request to ${at.url}`, at.url.replace(/\/$/, '') + path)
  }

  /** The live environment, or NOT_FOUND (also for another key's: its existence is not told); use keeps it from the reaper. */
  private live (id: string): LiveEnv {
    if (this.closing) throw new ShuttingDownError('the server is shutting down; retry once it is back')
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

  /**
   * A WebSocket session (re-)attaching to `id` holds it too, if sockets hold it at all: a close pending since its
   * last socket dropped is called off. Returns whether the session now holds it.
   */
  holdBySocket (id: string): boolean {
    const live = this.live(id)
    if (live.sockets === null) return false
    live.sockets++
    if (live.orphaned) clearTimeout(live.orphaned)
    live.orphaned = null
    return true
  }

  /** A session holding `id` dropped: with no other, the environment closes --socket-grace seconds later. */
  dropSocket (id: string): void {
    const live = this.envs.get(id)
    if (!live || live.sockets === null) return
    live.sockets = Math.max(0, live.sockets - 1)
    if (live.sockets > 0 || live.orphaned) return
    const grace = this.config.socketGrace
    live.orphaned = setTimeout(() => { void this.shut(live, `its WebSocket dropped ${grace} s ago`) }, grace * 1000)
    live.orphaned.unref()
  }

  /** Output frames and step results of `id` go to `listener` until unsubscribed or the environment closes. */
  subscribe (id: string, listener: EnvListener): void { this.live(id).listeners.add(listener) }
  unsubscribe (id: string, listener: EnvListener): void { this.envs.get(id)?.listeners.delete(listener) }

  /** Runs a reset, step or evaluation: SIGTERM waits for it (up to --drain-timeout) before closing its environment. */
  private track<T> (work: Promise<T>): Promise<T> {
    this.inflight.add(work)
    const done = () => { this.inflight.delete(work) }
    work.then(done, done)
    return work
  }

  /**
   * Writes what `live` holds back (`unsaved`), in order; one write at a time per environment. A write the store
   * refuses for now stays first in line, and the error goes to the caller.
   */
  private flush (live: LiveEnv): Promise<void> {
    if (!live.unsaved.length) return Promise.resolve()
    live.flushing ??= (async () => {
      try {
        while (live.unsaved.length) {
          try { await live.unsaved[0]!() } catch (e) {
            if (!storeRefused(e)) live.unsaved.shift() // a bug, not a full disk: retrying cannot help
            throw e
          }
          live.unsaved.shift()
        }
      } finally { live.flushing = null }
    })()
    return live.flushing
  }

  /** Before an environment does anything: what the store refused earlier goes first; while it cannot, nothing runs. */
  private async ready (live: LiveEnv): Promise<void> {
    if (!live.unsaved.length) return
    const n = live.unsaved.length
    try { await this.flush(live) } catch (e) {
      if (!storeRefused(e)) throw e
      const C = e instanceof StoreFullError ? StoreFullError : StoreUnavailableError
      throw new C(`${n} earlier write(s) of environment ${live.id} are not in the episode store yet, so nothing was run: ${e.message}; retry once it takes writes again`)
    }
  }

  /** `writes` go to the store after what waits already; refused, they wait for the next request (`what` says what was lost for now). */
  private async record (live: LiveEnv, what: string, ...writes: Array<() => Promise<unknown>>): Promise<void> {
    live.unsaved.push(...writes)
    try { await this.flush(live) } catch (e) {
      if (!storeRefused(e)) throw e
      const C = e instanceof StoreFullError ? StoreFullError : StoreUnavailableError
      throw new C(`${what}, but could not be recorded: ${e.message}. It is written before this environment's next step or reset runs, once the store takes writes again`)
    }
  }

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
    return this.track((async () => {
      await this.ready(live)
      let r
      try { r = await live.env.reset() } catch (e) {
        if (live.closed) throw new EnvClosedError(id)
        // a refused reset (a step runs) leaves the episode alone; any other failure has already taken its sandbox
        if (!(e instanceof BusyError) && live.episodeId) await this.end(live.episodeId, 'abandoned').catch(() => {})
        throw e
      }
      if (live.closed) {
        await live.env.close() // the sandbox this reset started after the environment was closed
        throw new EnvClosedError(id)
      }
      const old = live.episodeId
      const episodeId = 'ep-' + randomBytes(8).toString('hex')
      live.episodeId = episodeId
      live.improved = false
      const episode = {
        id: episodeId, env_id: live.id, task_id: live.task.spec.id, baseline: r.info.baseline, description: taskDescription(live.task.spec),
        meta: live.meta, model: live.model, server_id: this.serverId, key_id: live.owner
      }
      await this.record(live, `the reset of environment ${id} started episode ${episodeId}`,
        ...(old ? [() => this.end(old, 'abandoned')] : []),
        async () => {
          await this.metrics.timeStore('create_episode', () => this.store.createEpisode(episode))
          this.episodesChanged()
        })
      live.log.info({ episode_id: episodeId }, 'episode started')
      live.lastUsed = Date.now()
      return { ...r, episode_id: episodeId }
    })())
  }

  /**
   * Runs the step, records it, then answers: a step that returned is durable. With `streamId`, its output goes to
   * the attached sessions as frames carrying that id. A step cut short by a close is not recorded. A step the store
   * refuses (disk full) answers STORE_FULL and is recorded before the environment's next step or reset. The session
   * that asked (`origin`) gets the result as its answer only, not also as a `step_result` frame.
   */
  async step (id: string, body: StepBody, opts: { streamId?: string | number, origin?: EnvListener } = {}):
  Promise<StepResult> {
    const live = this.live(id)
    return this.track((async () => {
      await this.ready(live)
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
      const episodeId = live.episodeId
      if (episodeId) {
        // the model call goes to the store only: the live environment keeps no copy of every prompt
        const step = body.model ? { ...steps.at(-1)!, model: body.model } : steps.at(-1)!
        const idx = steps.length - 1
        const improved = beatsBaseline(env.info.score, env.baselineScores, live.task.spec.metric)
        const totals = { ...env.info, score: [...env.info.score], done: env.done, improved, notify: env.done || improved !== live.improved }
        live.improved = improved
        try {
          await this.record(live, `step ${idx} of episode ${episodeId} ran`, async () => {
            await this.metrics.timeStore('append_step', () => this.store.appendStep(episodeId, idx, step, totals))
            if (totals.notify) this.episodesChanged()
          })
        } catch (e) { throw failed(e) }
      }
      end()
      this.metrics.steps.inc({ backend: live.backend, outcome: 'ok' })
      if (r.info.metrics) this.metrics.evaluations.inc({ trigger: 'step', result: 'scored' })
      live.log.debug({ episode_id: episodeId, step: steps.length - 1, seconds: steps.at(-1)!.execution_time, done: env.done }, 'step')
      if (env.done) live.log.info({ episode_id: episodeId, exit_status: env.info.exit_status }, 'episode finished')
      live.lastUsed = Date.now()
      for (const l of live.listeners) if (l !== opts.origin) l({ type: 'step_result', env_id: id, result: r })
      for (const w of live.watchers) w({ result: r })
      return r
    })())
  }

  /** Scores the workspace now: no step, nothing in the score list. */
  async evaluate (id: string): Promise<EvaluateResult> {
    const live = this.live(id)
    return this.track((async () => {
      let r: EvaluateResult
      try { r = await live.env.evaluateNow() } catch (e) {
        if (live.closed) throw new EnvClosedError(id)
        throw e
      }
      if (live.closed) throw new EnvClosedError(id)
      this.metrics.evaluations.inc({ trigger: 'evaluate', result: r.metrics ? 'scored' : 'failed' })
      return r
    })())
  }

  /** The environment's current episode. */
  async trajectory (id: string): Promise<Trajectory> {
    const live = this.live(id)
    if (!live.episodeId) throw new NotResetError('this environment has no episode yet; reset it first')
    return this.episode(live.episodeId)
  }

  /** A stored episode: a key sees only the episodes of its own environments, an admin every one. */
  async episode (episodeId: string): Promise<Trajectory> {
    const ep = await this.store.getEpisode(episodeId)
    if (!ep || !canSee((await this.store.episodeOwner(episodeId)) ?? null)) throw new NotFoundError(`episode ${episodeId} does not exist`, 'episode_id')
    const steps = await this.store.getSteps(episodeId)
    return { episode: ep, traj: toMlgymTraj(ep, steps), results: toMlgymResults(ep), steps }
  }

  /**
   * A page of stored episodes (a key sees only its own environments' episodes, an admin every one). With `wait`, a
   * page that would be empty is held until an episode that matches appears (episodes are created, end or beat their
   * baseline, here or on another replica: `episodesChanged`) or `wait` seconds pass, or `signal` aborts (the client
   * went away). The store is asked again only on those events, never on a timer.
   */
  async episodes (q: EpisodeQuery, opts: { signal?: AbortSignal } = {}): Promise<EpisodePage | EpisodeBriefPage> {
    const { wait, include_steps: withSteps, ...filters } = q
    const query = withSteps ? { ...filters, limit: Math.min(filters.limit ?? MAX_EPISODES_WITH_STEPS, MAX_EPISODES_WITH_STEPS) } : filters
    const a = currentCaller()
    const owner = a.admin ? undefined : { keyId: a.keyId }
    const page = await this.waitForEpisodes(query, owner, wait, opts.signal)
    if (withSteps) for (const e of page.episodes) e.trajectory = await this.store.getSteps(e.id)
    return page
  }

  private async waitForEpisodes (query: Omit<EpisodeQuery, 'wait'>, owner: { keyId: string | null } | undefined, wait: number | undefined, signal?: AbortSignal): Promise<EpisodePage | EpisodeBriefPage> {
    const first = await this.store.listEpisodes(query, owner)
    if (!wait || first.episodes.length || this.closing || signal?.aborted) return first
    return await new Promise<EpisodePage | EpisodeBriefPage>(resolve => {
      let timer: NodeJS.Timeout | undefined
      let done = false
      const finish = (page: EpisodePage | EpisodeBriefPage) => {
        if (done) return
        done = true
        clearTimeout(timer)
        this.episodeWaiters.delete(check)
        signal?.removeEventListener('abort', onAbort)
        resolve(page)
      }
      // one look at a time; news that comes during a look makes one more
      let looking = false
      let again = false
      const check = () => {
        if (this.closing) { finish(first); return }
        if (looking) { again = true; return }
        looking = true
        void (async () => {
          do {
            again = false
            const page = await this.store.listEpisodes(query, owner).catch(() => null) // the store down: the next news looks again
            if (page?.episodes.length) { finish(page); break }
          } while (again && !done)
          looking = false
        })()
      }
      const onAbort = () => finish(first)
      timer = setTimeout(() => finish(first), Math.min(wait, MAX_EPISODE_WAIT_SECONDS) * 1000)
      signal?.addEventListener('abort', onAbort)
      this.episodeWaiters.add(check)
    })
  }

  /** long polls of GET /v1/episodes waiting for an episode to appear */
  private episodeWaiters = new Set<() => void>()

  /** how many long polls are held now */
  get heldPolls (): number { return this.episodeWaiters.size }

  /** An episode was created, ended or beat its baseline: held long polls look again. */
  private episodesChanged (): void {
    for (const check of [...this.episodeWaiters]) check()
  }

  /** Ends a running episode in the store: `abandoned` (reset, closed) or `interrupted` (the server stops). */
  private async end (episodeId: string, status: 'abandoned' | 'interrupted'): Promise<void> {
    const ended = status === 'abandoned' ? await this.store.abandon(episodeId) : await this.store.interrupt(episodeId)
    if (ended) this.episodesChanged()
  }

  async close (id: string): Promise<CloseResult> {
    await this.shut(this.live(id), 'closed')
    return { env_id: id, closed: true }
  }

  /**
   * Closed first, then gone from the map, its episode ended (`abandoned`, or `interrupted` when the server stops),
   * its sandbox closed: a step still running on it sees `closed` when it returns and neither answers a result nor
   * writes to the store. Writes the store refuses here are dropped: a running episode left in the store is
   * interrupted when this replica starts again.
   */
  private async shut (live: LiveEnv, why: string, status: 'abandoned' | 'interrupted' = 'abandoned'): Promise<void> {
    if (live.closed) return
    live.closed = true
    if (live.orphaned) clearTimeout(live.orphaned)
    this.envs.delete(live.id)
    const closing = live.env.close()
    await this.flush(live).catch(() => {})
    if (live.episodeId && !live.env.done) await this.end(live.episodeId, status).catch(() => {})
    await this.store.dropEnv(live.id).catch(() => {})
    live.log.info({ episode_id: live.episodeId, why }, 'environment closed')
    await closing
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
    try { return await this.track(work()) } finally {
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

  /**
   * SIGTERM: new requests are refused (SHUTTING_DOWN), held long polls answer now, running resets, steps and
   * evaluations get up to `drainMs` to finish and be recorded; then every environment closes (episodes still running
   * are `interrupted`) and this replica's containers go. Returns how many operations were still running at the bound.
   */
  async closeAll (drainMs = this.config.drainTimeout * 1000): Promise<number> {
    this.closing = true
    clearInterval(this.reaper)
    this.episodesChanged() // held long polls answer now: the server is stopping
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<'bound'>(resolve => { timer = setTimeout(() => resolve('bound'), drainMs) })
    const running = [...this.inflight]
    await Promise.race([Promise.allSettled(running), bound])
    clearTimeout(timer)
    const left = this.inflight.size
    await Promise.all([...this.envs.values()].map(live => this.shut(live, 'server shutting down', 'interrupted')))
    await this.docker.shutdown()
    return left
  }
}
