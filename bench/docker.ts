// 4. The docker backend, side by side with what people compare it against: `docker exec` and a cold `docker run`.
// Two servers with backend docker (one with a warm pool, one without), then 4a step, 4b reset, 4c many envs.
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { DEFAULTS } from '../server/config.js'
import type { ServerConfig } from '../server/config.js'
import type { BenchContext } from './context.js'
import { waitPool, type DockerProbe, type DockerServers } from './docker-engine.js'
import { dockerResets } from './docker-reset.js'
import { dockerStep } from './docker-step.js'
import { manyEnvs } from './many.js'

/** Fills `out` as it goes, so that what was measured before a failure stays in the JSON. `probe` must be ok;
 * `servers` is shared with the caller's watchdog. Throws when containers were left after the servers stopped. */
export async function dockerSection (ctx: BenchContext, probe: DockerProbe, servers: DockerServers,
  out: Record<string, unknown>): Promise<void> {
  const { opts: o, report, progress } = ctx
  const docker = probe.docker!
  const H = ['-H', `unix://${probe.socket}`]
  const dDir = join(ctx.dataDir, 'docker-server')
  const engines = [{ name: 'local', socketPath: probe.socket, capacity: Math.max(64, o.dockerEnvs + o.warmPool + 8) }]
  const config: ServerConfig = {
    ...DEFAULTS,
    port: 0,
    dataDir: dDir,
    idleTimeout: 3600,
    backend: 'docker',
    image: o.image,
    warmPool: o.warmPool,
    poolCeiling: Math.max(DEFAULTS.poolCeiling, o.warmPool),
    capacity: Math.max(DEFAULTS.capacity, o.dockerEnvs + 16),
    dockerEngines: JSON.stringify(engines)
  }
  out.engine = `unix://${probe.socket}`
  out.engine_version = probe.version
  out.image = o.image
  out.warm_pool = o.warmPool
  progress(`docker: starting a server with backend docker, image ${o.image}, warm pool ${o.warmPool} ` +
    `(data in ${dDir}), and one without a warm pool`)
  const t0 = performance.now()
  try {
    const warm = await servers.start(config, o.inProcess, progress)
    const noPoolConfig = { ...config, dataDir: join(ctx.dataDir, 'docker-server-nopool'), warmPool: 0 }
    const cold = await servers.start(noPoolConfig, o.inProcess, progress)
    const firstFill = await waitPool(warm.client, o.warmPool)
    out.server = {
      url: warm.server.url,
      server_id: warm.id,
      start_to_pool_full_ms: Math.round(performance.now() - t0),
      pool_fill_ms: Math.round(firstFill),
      no_pool_server_id: cold.id
    }
    const upS = ((performance.now() - t0) / 1000).toFixed(1)
    progress(`docker: servers up, warm pool of ${o.warmPool} full after ${upS} s`)
    if (o.dockerParts.has('step')) out.step = await dockerStep(ctx, warm.client, docker, H, warm.id)
    if (o.dockerParts.has('reset')) out.reset = await dockerResets(ctx, warm.client, cold.client, docker, H, warm.id)
    if (o.dockerParts.has('many')) {
      out.docker_many = await manyEnvs(ctx, warm.server.url, {
        section: `${o.dockerEnvs} docker envs at once`,
        envs: o.dockerEnvs,
        concurrency: o.dockerConcurrency,
        task: 'prisonersDilemma',
        backend: 'docker'
      })
    }
  } finally {
    progress('docker: stopping the docker servers')
    await servers.stopAll(progress)
    const left = await servers.sweep(docker).catch(() => -1)
    out.containers_left_after_stop = left
    report.row('docker', 'containers left after the servers stopped', left, 'count', null,
      left > 0 ? 'removed by the benchmark' : undefined)
    if (left > 0) {
      throw new Error(`${left} container(s) of the docker bench servers were left after they stopped (removed now)`)
    }
  }
}
