// 4b. Reset from the warm pool (a new env, and a live env whose old container goes first) vs a cold `docker run`
// (target: both warm resets' p50 below 1/5 of the cold run's p50), plus a server without a pool for comparison.
import { performance } from 'node:perf_hooks'
import type Docker from 'dockerode'
import type { SynthgymClient } from '../clients/client.js'
import { newPack } from '../sandbox/archive.js'
import type { BenchContext } from './context.js'
import { command, dockerodeExec, waitPool } from './docker-engine.js'
import { summarize, type Summary } from './stats.js'
import { timeLoop, withTimeout } from './timing.js'

/** What a warm reset is made of, one Docker API call at a time, on scratch containers of the image (no server);
 * they carry `serverId`'s label so that the final sweep finds any left. */
async function dockerBreakdown (docker: Docker, image: string, n: number, serverId: string):
Promise<Record<string, Summary>> {
  const make = async () => {
    const c = await docker.createContainer({
      Image: image,
      Cmd: ['sleep', 'infinity'],
      User: '1000:1000',
      NetworkDisabled: true,
      Labels: { 'synthgym.server': serverId, 'synthgym.bench': '1' },
      HostConfig: { NetworkMode: 'none', Init: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'] }
    })
    await c.start()
    return c
  }
  const c = await make()
  try {
    const put = async () => {
      const pack = newPack()
      pack.entry({ name: 'tmp/bench.txt', mode: 0o644, size: 2 }, 'x\n')
      pack.finalize()
      await c.putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/' })
    }
    const putArchive = summarize(await timeLoop(n, 2, put))
    const update = summarize(await timeLoop(n, 2, async () => { await c.update({ PidsLimit: 1024 }) }))
    const exec = summarize(await timeLoop(n, 2, () => dockerodeExec(c, ['true'])))
    const removeMs: number[] = []
    for (let i = 0; i < Math.min(n, 5); i++) {
      const x = await make()
      const t = performance.now()
      await x.remove({ force: true })
      removeMs.push(performance.now() - t)
    }
    return { put_archive: putArchive, update, exec, remove_force: summarize(removeMs) }
  } finally { await c.remove({ force: true }).catch(() => {}) }
}

/** `client` is the warm-pool server's (id `serverId`), `noPool` the other's; `H` the CLI's `-H unix://SOCKET`. */
export async function dockerResets (ctx: BenchContext, client: SynthgymClient, noPool: SynthgymClient,
  docker: Docker, H: string[], serverId: string): Promise<Record<string, unknown>> {
  const { opts: o, report, progress } = ctx
  const ws = await client.ws()
  const wsCold = await noPool.ws()
  const cold: number[] = []
  const refill: number[] = []
  const perTask: Record<string, unknown> = {}
  const dockerRun = () => command('docker', [...H, 'run', '--rm', '--network', 'none', o.image, 'true'], 60_000)
  const coldRun = async () => {
    refill.push(await waitPool(client, o.warmPool)) // nothing of ours starting in the background while it runs
    const t = performance.now()
    await dockerRun()
    cold.push(performance.now() - t)
  }
  try {
    progress(`docker reset: one untimed cold \`docker run --rm --network none ${o.image} true\``)
    await dockerRun()
    const taskRows: [string, Summary, Summary, number, Summary][] = []
    for (const task of o.dockerResetTasks) {
      // warm-up: the task's baseline is computed (and cached) on the first reset of a task that has none
      const w = await ws.create({ task, backend: 'docker', max_steps: 10 })
      const tw = performance.now()
      await withTimeout(ws.reset(w.env_id), 300_000, `first docker reset of ${task}`)
      const warmup = performance.now() - tw
      await ws.closeEnv(w.env_id)
      progress(`docker reset ${task}: ${o.dockerResets} × (new env reset, live env reset, cold docker run, ` +
        'new env reset without a pool), each after the pool refilled')
      const fresh: number[] = []; const live: number[] = []; const nopool: number[] = []
      for (let i = 0; i < o.dockerResets; i++) {
        const env = await ws.create({ task, backend: 'docker', max_steps: 10 })
        await waitPool(client, o.warmPool)
        let t = performance.now()
        await withTimeout(ws.reset(env.env_id), 60_000, `docker reset of ${task}`)
        fresh.push(performance.now() - t)
        refill.push(await waitPool(client, o.warmPool))
        t = performance.now()
        await withTimeout(ws.reset(env.env_id), 60_000, `docker reset of ${task}`)
        live.push(performance.now() - t)
        await ws.closeEnv(env.env_id)
        await coldRun()
        const e2 = await wsCold.create({ task, backend: 'docker', max_steps: 10 })
        await waitPool(client, o.warmPool)
        t = performance.now()
        await withTimeout(wsCold.reset(e2.env_id), 60_000, `docker reset of ${task} without a pool`)
        nopool.push(performance.now() - t)
        await wsCold.closeEnv(e2.env_id)
      }
      const f = summarize(fresh); const l = summarize(live); const np = summarize(nopool)
      perTask[task] = { first_reset_ms: Math.round(warmup), new_env: f, live_env: l, new_env_no_pool: np }
      taskRows.push([task, f, l, warmup, np])
    }
    progress('docker reset: breakdown: putArchive, update, exec and remove -f on scratch containers of the image')
    await waitPool(client, o.warmPool)
    const b = await dockerBreakdown(docker, o.image, 10, serverId)
    const c = summarize(cold); const r = summarize(refill)
    const S = 'docker reset'
    report.row(S, 'cold `docker run --rm --network none IMAGE true` p50', c.p50, 'ms')
    report.row(S, 'cold `docker run` p90', c.p90, 'ms')
    const target = Number.isFinite(c.p50) ? { below: c.p50 / 5 } : null
    const why = 'target: 1/5 of the cold `docker run` p50'
    for (const [task, f, l, warmup, np] of taskRows) {
      const T = `docker reset ${task}`
      report.row(T, 'new env, from the warm pool, p50', f.p50, 'ms', target, why)
      report.row(T, 'new env, from the warm pool, p90', f.p90, 'ms')
      report.row(T, 'live env (old container removed first) p50', l.p50, 'ms', target, why)
      report.row(T, 'live env (old container removed first) p90', l.p90, 'ms')
      report.row(T, 'new env, server without a warm pool, p50', np.p50, 'ms')
      report.row(T, 'cold `docker run` p50 / new env reset p50', c.p50 / f.p50, 'x')
      report.row(T, 'first reset (untimed warm-up)', warmup, 'ms')
    }
    report.row(S, 'wait for the pool to be full again after a take p50', r.p50, 'ms')
    report.row(S, 'breakdown: putArchive of one small file (running container) p50', b.put_archive!.p50, 'ms')
    report.row(S, 'breakdown: container update (limits) p50', b.update!.p50, 'ms')
    report.row(S, 'breakdown: dockerode exec `true` p50', b.exec!.p50, 'ms')
    report.row(S, 'breakdown: remove -f of a running container p50', b.remove_force!.p50, 'ms')
    return { cold_docker_run: c, pool_refill_wait: r, tasks: perTask, breakdown: b }
  } finally { ws.close(); wsCold.close() }
}
