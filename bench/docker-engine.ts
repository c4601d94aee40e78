// The Docker engine side of the docker section: is there one, the docker CLI, a dockerode exec, an env's container,
// the server's warm pool, and the two docker bench servers with what they leave behind.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { PassThrough } from 'node:stream'
import Docker from 'dockerode'
import { SynthgymClient } from '../clients/client.js'
import { dockerMessage } from '../sandbox/docker-engine.js'
import { DEFAULTS, dockerEngines } from '../server/config.js'
import type { ServerConfig } from '../server/config.js'
import type { Progress } from './report.js'
import { startBenchServer, type Server } from './start-server.js'
import { sleep, withTimeout } from './timing.js'

export interface DockerProbe {
  ok: boolean
  /** why not ok */
  reason: string
  socket: string
  docker: Docker | null
  version: string | null
}

/** Runs a command (the docker CLI); rejects with its stderr on a non-zero exit. */
export function command (cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`))
      else resolve(String(stdout))
    })
  })
}

/** Does a Docker engine answer on the server's default engine socket, with the image and the docker CLI there? */
export async function probeDocker (image: string): Promise<DockerProbe> {
  let socket = '/var/run/docker.sock'
  const no = (reason: string, docker: Docker | null = null, version: string | null = null): DockerProbe =>
    ({ ok: false, reason, socket, docker, version })
  try {
    const e = dockerEngines({ ...DEFAULTS })[0]!
    if (!e.socketPath && e.host) { socket = e.host; return no('the default docker engine is not a unix socket') }
    socket = e.socketPath ?? socket
  } catch (e) { return no((e as Error).message) }
  const at = `unix://${socket}`
  const docker = new Docker({ socketPath: socket })
  try { await withTimeout(docker.ping(), 5000, `docker ping on ${at}`) } catch (e) {
    return no(`no Docker engine answers at ${at} (${dockerMessage(e)})`)
  }
  let version: string | null = null
  try { version = (await docker.version()).Version } catch {}
  try { await docker.getImage(image).inspect() } catch (e) {
    const build = 'build it with `synthgym image build`'
    return no(`the engine at ${at} has no image ${image} (${dockerMessage(e)}); ${build}`, docker, version)
  }
  try { await command('docker', ['-H', at, 'version', '--format', '{{.Server.Version}}'], 15_000) } catch (e) {
    return no(`the docker CLI does not work against ${at}: ${(e as Error).message}`, docker, version)
  }
  return { ok: true, reason: '', socket, docker, version }
}

interface WarmPool { last_error?: string, images?: Record<string, { ready: number, starting: number }> }
interface PoolHealth { backends?: { docker?: { warm_pool?: WarmPool } } }

/** Waits until the server's warm pool holds `want` ready sandboxes with none starting; returns the wait in ms. */
export async function waitPool (client: SynthgymClient, want: number, limitMs = 120_000): Promise<number> {
  const t = performance.now()
  for (;;) {
    const wp = (await client.health() as PoolHealth).backends?.docker?.warm_pool
    const imgs = Object.values(wp?.images ?? {})
    const ready = imgs.reduce((a, b) => a + b.ready, 0)
    const starting = imgs.reduce((a, b) => a + b.starting, 0)
    // pools are per setup (image + task files + limits) and start on a setup's first reset: none yet is fine too
    if (starting === 0 && (ready >= want || imgs.length === 0)) return performance.now() - t
    // the pool refills only on a take: nothing starting and too few ready means a start failed, and it stays so
    if (performance.now() - t > limitMs || (starting === 0 && wp?.last_error)) {
      throw new Error(`the warm pool did not fill (waited ${((performance.now() - t) / 1000).toFixed(1)} s, ` +
        `ready ${ready}, starting ${starting}${wp?.last_error ? `, last error: ${wp.last_error}` : ''})`)
    }
    await sleep(25)
  }
}

/** The container of an environment: by its `synthgym.env` label, else (a sandbox taken from the warm pool, labelled
 * before it had an env) by the container id Docker writes into the container's /etc/hostname. */
export async function envContainer (docker: Docker,
  client: { step: (envId: string, action: string) => Promise<{ observation: string }> }, envId: string, serverId: string):
Promise<{ id: string, foundBy: string }> {
  const byLabel = await docker.listContainers({ filters: { label: [`synthgym.env=${envId}`] } })
  if (byLabel.length === 1) return { id: byLabel[0]!.Id, foundBy: 'label synthgym.env' }
  const host = (await client.step(envId, 'cat /etc/hostname')).observation.trim()
  const mine = await docker.listContainers({ filters: { label: [`synthgym.server=${serverId}`] } })
  const c = mine.filter(c => host.length >= 12 && c.Id.startsWith(host))
  if (c.length !== 1) {
    throw new Error(`cannot find the container of ${envId}: no synthgym.env label, and its hostname ` +
      `${JSON.stringify(host)} matches ${c.length} container(s) of server ${serverId}`)
  }
  const foundBy = `hostname (no container carries synthgym.env=${envId}: a warm-pool sandbox keeps its creation labels)`
  return { id: c[0]!.Id, foundBy }
}

/** dockerode: exec create + start (attached) + wait for the stream to end + inspect for the exit code. */
export async function dockerodeExec (c: Docker.Container, cmd: string[]): Promise<void> {
  const ex = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true })
  const s = await ex.start({ hijack: true, stdin: false })
  const sink = new PassThrough()
  sink.resume()
  c.modem.demuxStream(s, sink, sink)
  await new Promise(resolve => { s.on('end', resolve); s.on('close', resolve) })
  const info = await ex.inspect()
  if (info.ExitCode !== 0 && info.ExitCode !== null) {
    throw new Error(`dockerode exec ${cmd.join(' ')}: exit ${info.ExitCode}`)
  }
}

/** The docker bench servers of one run (the one with the warm pool first, then one without), so that both the
 * section and the watchdog can stop them and remove what they leave. */
export class DockerServers {
  /** those still running */
  readonly running = new Set<Server>()
  /** their server ids (container label synthgym.server), in start order */
  readonly ids: string[] = []

  async start (config: ServerConfig, inProcess: boolean, progress: Progress):
  Promise<{ server: Server, client: SynthgymClient, id: string }> {
    const server = await startBenchServer(config, inProcess, progress)
    this.running.add(server)
    const id = readFileSync(join(config.dataDir, 'server-id'), 'utf8').trim()
    this.ids.push(id)
    return { server, client: new SynthgymClient(server.url), id }
  }

  /** Stops them one by one, as a clean end does. */
  async stopAll (progress: Progress): Promise<void> {
    for (const s of [...this.running]) {
      await s.stop().catch(e => progress(`stopping a docker server: ${(e as Error).message}`))
      this.running.delete(s)
    }
  }

  /** The watchdog's stop: SIGTERM (a docker server removes its containers on it), SIGKILL after 20 s. */
  async abort (): Promise<void> {
    await Promise.all([...this.running].map(async ds => {
      if (ds.child && ds.child.exitCode === null) {
        ds.child.kill('SIGTERM')
        await Promise.race([new Promise(resolve => ds.child!.once('exit', resolve)), sleep(20_000)])
        if (ds.child.exitCode === null) ds.child.kill('SIGKILL')
      } else if (!ds.child) await withTimeout(ds.stop(), 20_000, 'stopping a docker server').catch(() => {})
    }))
  }

  /** Removes what the servers left (nothing, when they stopped cleanly); returns how many it found. */
  async sweep (docker: Docker): Promise<number> {
    let n = 0
    for (const id of this.ids) {
      const left = await docker.listContainers({ all: true, filters: { label: [`synthgym.server=${id}`] } })
      await Promise.all(left.map(c => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})))
      n += left.length
    }
    return n
  }
}
