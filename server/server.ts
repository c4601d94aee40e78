// Starting and stopping a whole server: store, tasks, environments, HTTP/WS.
import { existsSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { EpisodeStore } from './store.js'
import { EnvManager, localSandboxDir } from './envs.js'
import { buildApp, type AppOptions } from './app.js'
import { importsFile, keysFile, storeFile, dockerEngines, serverId, type ServerConfig } from './config.js'
import { KeyStore } from './keys.js'
import { Auth, checkBind } from './auth.js'
import { DockerBackend } from '../sandbox/docker-backend.js'
import { sweepLocal } from '../sandbox/local.js'
import { TaskRegistry, importMlgym, loadTasksFrom, type ImportReport } from '../tasks/registry.js'

export interface RunningServer {
  app: FastifyInstance
  manager: EnvManager
  /** this server's API keys (<data-dir>/keys.db) */
  keys: KeyStore
  url: string
  imports: ImportReport[]
  /** problems found at start that leave the server serving (e.g. dockerd down) */
  warnings: string[]
  close: () => Promise<void>
}

/**
 * Built-ins, then MLGym checkouts recorded by `synthgym tasks import`, then extra task dirs and checkouts. A task
 * dir is one task (it holds task.yaml) or a folder of them (OUT/tasks of `synthgym generate`), whose broken tasks
 * are reported in `errors` and skipped.
 */
export function loadRegistry (config: ServerConfig, extra: { taskDirs?: string[], mlgym?: string[] } = {}): { registry: TaskRegistry, imports: ImportReport[], errors: { file: string, reason: string }[] } {
  const registry = TaskRegistry.withBuiltins()
  const imports: ImportReport[] = []
  const recorded: string[] = existsSync(importsFile(config)) ? JSON.parse(readFileSync(importsFile(config), 'utf8')) : []
  for (const dir of [...recorded, ...(extra.mlgym ?? [])]) {
    const report = importMlgym(dir)
    for (const t of report.tasks) {
      // an imported task takes the id (MLGym's own prisonersDilemma over the built-in one); say so
      const before = registry.get(t.spec.id)
      if (before) report.errors.push({ file: t.spec.id, reason: `replaces the ${before.source} task with the same id` })
      registry.add(t)
    }
    imports.push(report)
  }
  const errors: { file: string, reason: string }[] = []
  for (const d of extra.taskDirs ?? []) {
    const r = loadTasksFrom(d)
    for (const t of r.tasks) registry.add(t)
    errors.push(...r.errors)
  }
  return { registry, imports, errors }
}

/**
 * Watches the folders of tasks among `dirs` (not single task dirs): a task added, replaced or removed there is
 * picked up by `reload` a moment later (events come in bursts while a task is copied in).
 */
function watchTaskDirs (dirs: string[], reload: () => void): FSWatcher[] {
  let timer: NodeJS.Timeout | null = null
  const soon = () => {
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => { timer = null; reload() }, 300)
    timer.unref()
  }
  return dirs.filter(d => existsSync(d) && statSync(d).isDirectory() && !existsSync(`${d}/task.yaml`)).map(d => {
    const w = watch(d, soon)
    w.on('error', () => w.close())
    return w
  })
}

export async function startServer (config: ServerConfig, opts: { logger?: AppOptions['logger'], taskDirs?: string[], mlgym?: string[], registry?: TaskRegistry } = {}): Promise<RunningServer> {
  // first: a server others can reach does not start without keys
  const keys = new KeyStore(keysFile(config))
  const auth = new Auth(keys, config)
  try { checkBind(config.host, auth, config.dataDir) } catch (e) { keys.close(); throw e }
  const { registry, imports, errors } = opts.registry ? { registry: opts.registry, imports: [], errors: [] } : loadRegistry(config, opts)
  const store = new EpisodeStore(storeFile(config), { synchronous: config.synchronous })
  store.abandonRunning()
  const docker = new DockerBackend({
    engines: dockerEngines(config),
    image: config.image,
    serverId: serverId(config),
    warmPool: config.warmPool,
    poolCeiling: config.poolCeiling,
    runtime: config.runtime || undefined
  })
  const warnings: string[] = errors.map(e => `task not loaded: ${e.file}: ${e.reason}`)
  const started = await docker.start()
  if (started.unavailable.length) {
    const msg = `docker backend unavailable (${started.unavailable.join('; ')}); the local backend keeps serving`
    if (config.backend === 'docker') warnings.push(`ERROR: the default backend is docker but ${msg}`)
    else if (config.dockerEngines) warnings.push(msg)
  }
  if (started.swept) warnings.push(`removed ${started.swept} container(s) left by an earlier server with this data dir`)
  const sweptLocal = await sweepLocal(localSandboxDir(config), serverId(config))
  if (sweptLocal) warnings.push(`removed ${sweptLocal} local sandbox(es) left by an earlier server with this data dir`)
  const manager = new EnvManager(config, registry, store, docker)
  manager.authRequired = () => auth.required()
  // a server built on a registry it was given has nothing on disk to read again
  if (!opts.registry) manager.taskSource = () => loadRegistry(config, opts)
  const watchers = opts.registry ? [] : watchTaskDirs(opts.taskDirs ?? [], () => { try { manager.reloadTasks() } catch {} })
  const app = await buildApp(manager, { logger: opts.logger, auth })
  manager.log = app.log
  const address = await app.listen({ host: config.host, port: config.port })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    for (const w of watchers) w.close()
    await manager.closeAll()
    await app.close()
    store.close()
    keys.close()
  }
  return { app, manager, keys, url: address.replace('[::1]', '127.0.0.1'), imports, warnings, close }
}
