// Prometheus metrics (prom-client) at /metrics, one registry per server: what the manager counts as it goes (steps
// and their latency, sandbox starts and failures, evaluations, store writes) and what is read from it at scrape time
// (environments by state and backend, the GPU queue, warm pools, docker engines); plus HTTP answers by route and the
// process's own (memory, open file descriptors, event loop lag).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { EnvManager, LiveEnv } from './envs.js'

const BACKENDS = ['local', 'docker'] as const
const ENV_STATES = ['created', 'busy', 'ready', 'done'] as const

/** created: never reset; busy: a reset, step or evaluation runs; ready: waits for a step; done: its episode ended. */
export function envState (live: LiveEnv): typeof ENV_STATES[number] {
  if (live.env.busy) return 'busy'
  if (live.env.done) return 'done'
  return live.episodeId ? 'ready' : 'created'
}

export class ServerMetrics {
  readonly registry = new Registry()
  readonly steps: Counter<'backend' | 'outcome'>
  readonly stepSeconds: Histogram<'backend'>
  readonly sandboxStarts: Counter<'backend'>
  readonly sandboxFailures: Counter<'backend' | 'code'>
  readonly evaluations: Counter<'trigger' | 'result'>
  readonly storeWriteSeconds: Histogram<'op'>
  readonly httpRequests: Counter<'method' | 'route' | 'status'>

  constructor (m: EnvManager) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.steps = new Counter({
      name: 'synthgym_steps_total', help: 'Steps taken, by backend and outcome (ok, or the error code answered)', labelNames: ['backend', 'outcome'], registers
    })
    this.stepSeconds = new Histogram({
      name: 'synthgym_step_duration_seconds', help: 'Time from a step request to its recorded result (steps that answered)',
      labelNames: ['backend'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800], registers
    })
    this.sandboxStarts = new Counter({ name: 'synthgym_sandbox_starts_total', help: 'Sandboxes started (episodes and baselines)', labelNames: ['backend'], registers })
    this.sandboxFailures = new Counter({
      name: 'synthgym_sandbox_start_failures_total', help: 'Sandboxes that did not start, by the error code answered', labelNames: ['backend', 'code'], registers
    })
    this.evaluations = new Counter({
      name: 'synthgym_evaluations_total',
      help: 'Evaluations: in a step (validate, submit, autosubmission) that scored, or POST evaluate (scored or failed)',
      labelNames: ['trigger', 'result'], registers
    })
    this.storeWriteSeconds = new Histogram({
      name: 'synthgym_store_write_duration_seconds', help: 'Episode store writes (a step is answered only after its write)',
      labelNames: ['op'], buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1], registers
    })
    this.httpRequests = new Counter({
      name: 'synthgym_http_requests_total', help: 'HTTP answers by route pattern and status (WebSocket upgrades included)',
      labelNames: ['method', 'route', 'status'], registers
    })
    for (const backend of BACKENDS) this.steps.inc({ backend, outcome: 'ok' }, 0)

    new Gauge({
      name: 'synthgym_environments', help: 'Open environments by state (created, busy, ready, done) and backend', labelNames: ['state', 'backend'], registers,
      collect () {
        const n = new Map<string, number>()
        for (const live of m.envs.values()) n.set(`${envState(live)} ${live.backend}`, (n.get(`${envState(live)} ${live.backend}`) ?? 0) + 1)
        for (const state of ENV_STATES) for (const backend of BACKENDS) this.set({ state, backend }, n.get(`${state} ${backend}`) ?? 0)
      }
    })
    new Gauge({ name: 'synthgym_environments_capacity', help: 'Environments this server holds at most (--capacity)', registers, collect () { this.set(m.config.capacity) } })
    new Gauge({
      name: 'synthgym_gpu_queue_depth', help: 'Sandbox starts waiting for a GPU (--gpu-queue bounds it)', registers,
      collect () { this.set(m.gpus.status().waiting) }
    })
    new Gauge({
      name: 'synthgym_gpu_sandboxes', help: 'Sandboxes holding each GPU', labelNames: ['gpu'], registers,
      collect () { for (const g of m.gpus.status().gpus) this.set({ gpu: g.id }, g.in_use) }
    })
    new Gauge({
      name: 'synthgym_warm_pool_sandboxes', help: 'Docker warm pool sandboxes per pool (image and settings) by state (ready, starting)',
      labelNames: ['pool', 'state'], registers,
      collect () {
        this.reset()
        for (const [pool, s] of Object.entries(m.docker.pool.status())) {
          this.set({ pool, state: 'ready' }, s.ready)
          this.set({ pool, state: 'starting' }, s.starting)
        }
      }
    })
    new Gauge({
      name: 'synthgym_docker_engine_up', help: 'Whether each docker engine answers its health check', labelNames: ['engine'], registers,
      collect () { for (const e of m.docker.engines) this.set({ engine: e.name }, e.healthy ? 1 : 0) }
    })
    new Gauge({
      name: 'synthgym_docker_engine_sandboxes', help: 'Sandboxes on each docker engine', labelNames: ['engine'], registers,
      collect () { for (const e of m.docker.engines) this.set({ engine: e.name }, e.sandboxes.size) }
    })
  }

  /** Times one store write; a promise (a store that answers later) is timed until it settles. */
  timeStore<T> (op: string, write: () => T): T {
    const end = this.storeWriteSeconds.startTimer({ op })
    let r: T
    try { r = write() } catch (e) { end(); throw e }
    if (r instanceof Promise) return r.finally(end) as T
    end()
    return r
  }

  async text (): Promise<string> { return this.registry.metrics() }
  get contentType (): string { return this.registry.contentType }
}
