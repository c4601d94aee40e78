// Starting and stopping a whole server: store, tasks, environments, HTTP/WS.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { openStore, type EpisodeStore } from './store.js'
import { EnvManager, localSandboxDir } from './envs.js'
import { buildApp, type AppOptions } from './app.js'
import { importsFile, keysFile, storeFile, dockerEngines, serverId, type ServerConfig } from './config.js'
import { KeyStore } from './keys.js'
import { Auth, checkBind } from './auth.js'
import { DockerBackend } from '../sandbox/docker-backend.js'
import { releaseLocal, sandboxBinds, sweepLocal } from '../sandbox/local.js'
import { exposedSecrets, protectSecrets, secretsProblem } from '../tasks/secrets.js'
import { SecretsExposedError } from '../tasks/errors.js'
import { TaskRegistry, importMlgym, loadTasksFrom, type ImportReport } from '../tasks/registry.js'

export interface RunningServer {
  app: FastifyInstance
  manager: EnvManager
  store: EpisodeStore
  /** this replica's id (its data dir's server-id, or --replica-id) */
  serverId: string
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

/** A registry read again, less the tasks whose hidden files an agent could read (reported as not loaded). */
function withoutExposed<R extends { registry: TaskRegistry, errors: { file: string, reason: string }[] }> (r: R): R {
  protectSecrets(r.registry.list())
  for (const e of exposedSecrets(r.registry.list(), sandboxBinds())) {
    if (!r.registry.get(e.task)) continue
    r.registry.remove(e.task)
    r.errors.push({ file: e.file, reason: `hidden file of task ${e.task} inside ${e.bind}, which every local sandbox sees: move the task outside it` })
  }
  return r
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
  // no agent may read a served task's hidden files through a folder its sandbox sees
  const exposed = secretsProblem(registry.list(), sandboxBinds(), localSandboxDir(config))
  if (exposed) { keys.close(); throw new SecretsExposedError(exposed) }
  const instance = randomBytes(6).toString('hex')
  let releaseDir: () => void
  try { releaseDir = claimDataDir(config.dataDir, instance) } catch (e) { keys.close(); throw e }
  const id = serverId(config)
  let store: EpisodeStore
  try { store = await openStore(config.store, storeFile(config), { synchronous: config.synchronous }) } catch (e) { releaseDir(); keys.close(); throw e }
  const stale = 3 * config.heartbeat * 1000
  const me = { id, url: config.publicUrl || null, host: hostname(), pid: process.pid, instance }
  const warnings: string[] = errors.map(e => `task not loaded: ${e.file}: ${e.reason}`)
  let watchers: FSWatcher[] = []
  let manager: EnvManager | undefined
  try {
    // first: a second live server with this id would sweep this one's sandboxes (and the other way round)
    await store.registerReplica(me, stale)
    // what a crash of this replica left: the environments it held and the episodes running on them
    const left = await store.envsOf(id)
    const interrupted = (await Promise.all((await store.interruptRunning(id)).map(e => store.getEpisode(e)))).filter(e => e !== undefined)
    if (interrupted.length) warnings.push(`marked ${interrupted.length} episode(s) interrupted: an earlier server with this id stopped under them (their steps so far are kept)`)
    const docker = new DockerBackend({
      engines: dockerEngines(config),
      image: config.image,
      serverId: id,
      warmPool: config.warmPool,
      poolCeiling: config.poolCeiling,
      runtime: config.runtime || undefined
    })
    // containers to re-attach: those of docker environments whose episode was running; the rest are orphans
    const docked = new Set(left.filter(r => r.backend === 'docker').map(r => r.id))
    const started = await docker.start(new Set(interrupted.map(e => e.env_id).filter(e => docked.has(e))))
    if (started.unavailable.length) {
      const msg = `docker backend unavailable (${started.unavailable.join('; ')}); the local backend keeps serving`
      if (config.backend === 'docker') warnings.push(`ERROR: the default backend is docker but ${msg}`)
      else if (config.dockerEngines) warnings.push(msg)
    }
    if (started.swept) warnings.push(`removed ${started.swept} container(s) left by an earlier server with this data dir`)
    const sweptLocal = await sweepLocal(localSandboxDir(config), id)
    if (sweptLocal) warnings.push(`removed ${sweptLocal} local sandbox(es) left by an earlier server with this data dir`)
    manager = new EnvManager(config, registry, store, docker)
    const recovered = await manager.recover(left, interrupted, started.kept)
    if (recovered.reattached.length) warnings.push(`re-attached the running container(s) of ${recovered.reattached.length} environment(s): ${recovered.reattached.join(', ')}`)
    warnings.push(...recovered.problems)
    const mgr = manager
    mgr.authRequired = () => auth.required()
    // a server built on a registry it was given has nothing on disk to read again
    if (!opts.registry) mgr.taskSource = () => withoutExposed(loadRegistry(config, opts))
    watchers = opts.registry ? [] : watchTaskDirs(opts.taskDirs ?? [], () => { try { mgr.reloadTasks() } catch {} })
    const app = await buildApp(manager, { logger: opts.logger, auth })
    manager.log = app.log
    const address = await app.listen({ host: config.host, port: config.port })
    const url = address.replace('[::1]', '127.0.0.1')
    // the URL other replicas send this one's environments to
    await store.registerReplica({ ...me, url: config.publicUrl || url }, stale)
    const beat = setInterval(() => { store.heartbeat(id).catch(() => {}) }, config.heartbeat * 1000).unref()
    const m = manager
    let closed = false
    const close = async () => {
      if (closed) return
      closed = true
      clearInterval(beat)
      for (const w of watchers) w.close()
      await m.closeAll()
      releaseLocal(id)
      await app.close()
      await store.leave(id).catch(() => {})
      await store.close()
      keys.close()
      releaseDir()
    }
    return { app, manager, store, keys, serverId: id, url, imports, warnings, close }
  } catch (e) {
    for (const w of watchers) w.close()
    await manager?.closeAll(0).catch(() => {})
    await store.close().catch(() => {})
    keys.close()
    releaseDir()
    throw e
  }
}

/**
 * One live server per data dir: its start-up sweep removes every sandbox folder there, so a second server on the same
 * dir (a replica with another --replica-id) would remove the first one's. A lock file names the holder (pid, the
 * process's start time, so that a new process with a reused pid is not taken for it, and instance); a holder that
 * died (kill -9) leaves it behind and the next server takes it over. Returns the release.
 */
function claimDataDir (dataDir: string, instance: string): () => void {
  mkdirSync(dataDir, { recursive: true })
  const file = join(dataDir, 'server.lock')
  const mine = `${process.pid} ${startTime(process.pid)} ${instance}`
  let held = ''
  try { held = readFileSync(file, 'utf8').trim() } catch {}
  const [pid, started, other] = held.split(' ')
  const alive = held !== '' && startTime(Number(pid)) === started && (Number(pid) !== process.pid || other !== instance)
  if (alive) throw new Error(`the data dir ${dataDir} is in use by a running server (pid ${pid}): give each server (replica) its own --data-dir`)
  writeFileSync(file, mine)
  return () => { try { if (readFileSync(file, 'utf8') === mine) rmSync(file) } catch {} }
}

/** When process `pid` started (clock ticks since boot, /proc/<pid>/stat field 22), or '' when there is no such process. */
function startTime (pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? ''
  } catch { return '' }
}
