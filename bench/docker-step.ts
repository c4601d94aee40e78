// 4a. `true` through the server on a docker env vs `docker exec` of it on the same container (target: WS step p50
// below 1/20 of the CLI's p50), in interleaved rounds.
import type Docker from 'dockerode'
import type { SynthgymClient } from '../clients/client.js'
import type { BenchContext } from './context.js'
import { command, dockerodeExec, envContainer } from './docker-engine.js'
import { summarize } from './stats.js'
import { timeLoop, withTimeout } from './timing.js'

/** `H` is the docker CLI's `-H unix://SOCKET`; `serverId` the warm-pool server's, whose container is looked up. */
export async function dockerStep (ctx: BenchContext, client: SynthgymClient, docker: Docker, H: string[],
  serverId: string): Promise<Record<string, unknown>> {
  const { opts: o, report, progress } = ctx
  const S = 'docker step overhead'
  const ws = await client.ws()
  try {
    const env = await ws.create({ task: 'prisonersDilemma', backend: 'docker', max_steps: 100_000 })
    await withTimeout(ws.reset(env.env_id), 120_000, 'reset for the docker step benchmark')
    const c = await envContainer(docker, ws, env.env_id, serverId)
    progress(`docker step: container ${c.id.slice(0, 12)} (found by ${c.foundBy})`)
    const container = docker.getContainer(c.id)
    const wsTrue = async () => {
      const r = await withTimeout(ws.step(env.env_id, 'true'), 30_000, 'ws step')
      if (r.terminated || r.truncated) throw new Error('the docker step environment ended early')
    }
    const cli = async () => { await command('docker', [...H, 'exec', c.id, 'true'], 30_000) }
    const api = async () => { await withTimeout(dockerodeExec(container, ['true']), 30_000, 'dockerode exec') }
    // warm-up, then rounds that alternate the three so that other load on the machine falls on all of them alike
    await timeLoop(0, Math.min(o.warmup, 30), wsTrue)
    await timeLoop(0, 3, cli)
    await timeLoop(0, 3, api)
    const rounds = 3
    const steps = Math.ceil(o.dockerSteps / rounds)
    const execs = Math.ceil(o.dockerExecs / rounds)
    const wsMs: number[] = []; const cliMs: number[] = []; const apiMs: number[] = []
    for (let r = 0; r < rounds; r++) {
      progress(`docker step: round ${r + 1}/${rounds}: ${steps} WS steps, ${execs} \`docker exec\` (CLI), ` +
        `${execs} dockerode execs`)
      wsMs.push(...await timeLoop(steps, 0, wsTrue))
      cliMs.push(...await timeLoop(execs, 0, cli))
      apiMs.push(...await timeLoop(execs, 0, api))
    }
    await ws.closeEnv(env.env_id)
    const w = summarize(wsMs); const cl = summarize(cliMs); const ap = summarize(apiMs)
    const target = Number.isFinite(cl.p50) ? { below: cl.p50 / 20 } : null
    report.row(S, 'WS step round trip p50 (`true`, docker env)', w.p50, 'ms', target,
      'target: 1/20 of the `docker exec` (CLI) p50')
    report.row(S, 'WS step round trip p90', w.p90, 'ms')
    report.row(S, 'WS step round trip p99', w.p99, 'ms')
    report.row(S, '`docker exec ID true` (CLI) p50', cl.p50, 'ms')
    report.row(S, '`docker exec ID true` (CLI) p90', cl.p90, 'ms')
    report.row(S, 'dockerode exec create+start+wait p50', ap.p50, 'ms')
    report.row(S, 'dockerode exec create+start+wait p90', ap.p90, 'ms')
    report.row(S, '`docker exec` (CLI) p50 / WS step p50', cl.p50 / w.p50, 'x')
    report.row(S, 'dockerode exec p50 / WS step p50', ap.p50 / w.p50, 'x')
    return { container: c.id, container_found_by: c.foundBy, ws_step: w, docker_exec_cli: cl, dockerode_exec: ap }
  } finally { ws.close() }
}
