// 4a. Steps through the server on a docker env vs `docker exec` of the same on the same container: `true` and a
// realistic action (pipes, `$VAR`, quotes: the syntax check runs), over WS and HTTP, in interleaved rounds. Targets:
// each step's p50 below 1/50 of the CLI's p50 for the same action. Where the time goes: the env's own time per step
// (the trajectory's execution_time: the shell round trip through the attached stream, the state trailer) and the
// rest (client, HTTP or WS, server, the SQLite write).
import type Docker from 'dockerode'
import type { SynthgymClient } from '../clients/client.js'
import type { BenchContext } from './context.js'
import { DISK_LIMIT_MB, stepEnvs } from './envs.js'
import { command, dockerodeExec, envContainer } from './docker-engine.js'
import { round3, summarize, type Summary } from './stats.js'
import { timeLoop, withTimeout } from './timing.js'

/**
 * The realistic action: an agent's line with `$VAR`, `${…}` and both quotes, so it takes the syntax check, made of
 * builtins, so that what it costs is the server's and not a program's start (which `docker exec` pays the same).
 */
export const DOCKER_REALISTIC = 'N=3; X="n=$N in $PWD"; echo "${X^^}" \'it\'"\'"\'s\''
/** the same with a pipe into a program: its fork and exec in the container are reported beside it, without a target */
export const DOCKER_PIPE = 'N=3; echo "n=$N in $PWD" | tr a-z A-Z'

/** `H` is the docker CLI's `-H unix://SOCKET`; `serverId` the warm-pool server's, whose container is looked up. */
export async function dockerStep (ctx: BenchContext, client: SynthgymClient, docker: Docker, H: string[],
  serverId: string): Promise<Record<string, unknown>> {
  const { opts: o, report, progress } = ctx
  const S = 'docker step overhead'
  const ws = await client.ws()
  try {
    const envs = await stepEnvs(client, ws, { task: 'prisonersDilemma', backend: 'docker', max_steps: 100_000 }, 120_000,
      'reset for the docker step benchmark')
    // a disk limit: after every step the env measures its use (statfs of its quota, its container's writable layer)
    const limited = await ws.create({ task: 'prisonersDilemma', backend: 'docker', max_steps: 100_000, limits: { disk_mb: DISK_LIMIT_MB } })
    await withTimeout(ws.reset(limited.env_id), 120_000, 'reset of the docker env with a disk limit')
    // `docker exec` runs in the container of the environment the HTTP steps run on
    const c = await envContainer(docker, client, envs.http, serverId)
    progress(`docker step: container ${c.id.slice(0, 12)} (found by ${c.foundBy})`)
    const container = docker.getContainer(c.id)
    const check = (r: { terminated: boolean, truncated: boolean }) => {
      if (r.terminated || r.truncated) throw new Error('the docker step environment ended early')
    }
    const wsStep = (a: string) => async () => { check(await withTimeout(ws.step(envs.ws, a), 30_000, 'ws step')) }
    const httpStep = (a: string) => async () => {
      check(await withTimeout(client.step(envs.http, a), 30_000, 'http step'))
    }
    const cli = (argv: string[]) => async () => { await command('docker', [...H, 'exec', c.id, ...argv], 30_000) }
    const kinds: [string, () => Promise<void>][] = [
      ['ws_true', wsStep('true')],
      ['disk_true', async () => { check(await withTimeout(ws.step(limited.env_id, 'true'), 30_000, 'ws step under a disk limit')) }],
      ['http_true', httpStep('true')],
      ['ws_real', wsStep(DOCKER_REALISTIC)],
      ['http_real', httpStep(DOCKER_REALISTIC)],
      ['cli_true', cli(['true'])],
      ['cli_real', cli(['bash', '-c', DOCKER_REALISTIC])],
      ['http_pipe', httpStep(DOCKER_PIPE)],
      ['cli_pipe', cli(['bash', '-c', DOCKER_PIPE])],
      ['api_true', async () => { await withTimeout(dockerodeExec(container, ['true']), 30_000, 'dockerode exec') }]
    ]
    // warm-up, then rounds that alternate them all so that other load on the machine falls on all of them alike
    const isStep = (k: string) => /^(ws|http|disk)_/.test(k)
    for (const [k, f] of kinds) await timeLoop(0, isStep(k) ? o.warmup : 3, f)
    const rounds = 3
    const steps = Math.ceil(o.dockerSteps / rounds)
    const execs = Math.ceil(o.dockerExecs / rounds)
    const ms: Record<string, number[]> = Object.fromEntries(kinds.map(([k]) => [k, []]))
    const before = {
      ws: (await client.trajectory(envs.ws)).steps.length, http: (await client.trajectory(envs.http)).steps.length
    }
    for (let r = 0; r < rounds; r++) {
      progress(`docker step: round ${r + 1}/${rounds}: ${steps} steps each of \`true\` and the realistic action over ` +
        `WS and HTTP, ${execs} each of \`docker exec\` (CLI) of both, ${execs} dockerode execs`)
      for (const [k, f] of kinds) ms[k]!.push(...await timeLoop(isStep(k) ? steps : execs, 0, f))
    }
    // the env's own time of each timed step, in the order each env ran them, per round: its kinds in `kinds` order
    const inEnv: Record<string, number[]> = {}
    for (const prefix of ['ws', 'http'] as const) {
      const timed = (await client.trajectory(envs[prefix])).steps.slice(before[prefix]).map(s => s.execution_time * 1000)
      const mine = kinds.map(([k]) => k).filter(k => k.startsWith(prefix))
      for (const k of mine) inEnv[k] = []
      for (let r = 0; r < rounds; r++) {
        for (const [i, k] of mine.entries()) {
          const from = (r * mine.length + i) * steps
          inEnv[k]!.push(...timed.slice(from, from + steps))
        }
      }
    }
    await ws.closeEnv(limited.env_id)
    await ws.closeEnv(envs.ws)
    await client.closeEnv(envs.http)
    const s: Record<string, Summary> = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, summarize(v)]))
    const e: Record<string, Summary> = Object.fromEntries(Object.entries(inEnv).map(([k, v]) => [k, summarize(v)]))
    const target = (cliP50: number) => Number.isFinite(cliP50) ? { below: cliP50 / 50 } : null
    const rows: [string, string, string][] = [
      ['ws_true', 'WS step `true`', 'cli_true'], ['http_true', 'HTTP step `true`', 'cli_true'],
      ['ws_real', 'WS step, realistic action', 'cli_real'], ['http_real', 'HTTP step, realistic action', 'cli_real']
    ]
    for (const [k, name, vs] of rows) {
      report.row(S, `${name} p50 (docker env)`, s[k]!.p50, 'ms', target(s[vs]!.p50), `target: 1/50 of the \`docker exec\` (CLI) p50 of the same action`)
      report.row(S, `${name} p99`, s[k]!.p99, 'ms')
      report.row(S, `${name}: in the env (shell round trip + state) p50; the rest is client, ${k.startsWith('ws') ? 'WS' : 'HTTP'}, server, store`,
        e[k]!.p50, 'ms', null, `rest p50 ≈ ${round3(s[k]!.p50 - e[k]!.p50)} ms`)
    }
    report.row(S, `WS step \`true\` under a ${DISK_LIMIT_MB} MiB disk limit p50 (its use measured after each step)`, s.disk_true!.p50, 'ms',
      null, `that − the WS step p50: ${round3(s.disk_true!.p50 - s.ws_true!.p50)} ms`)
    report.row(S, 'HTTP step, the action with a pipe into `tr` p50 (no target: a program starts)', s.http_pipe!.p50, 'ms', null,
      `in the env p50 ${e.http_pipe!.p50} ms; \`docker exec ID bash -c\` of it p50 ${s.cli_pipe!.p50} ms`)
    report.row(S, '`docker exec ID true` (CLI) p50', s.cli_true!.p50, 'ms')
    report.row(S, '`docker exec ID bash -c <realistic action>` (CLI) p50', s.cli_real!.p50, 'ms')
    report.row(S, 'dockerode exec create+start+wait p50', s.api_true!.p50, 'ms')
    report.row(S, '`docker exec` (CLI) p50 / WS step p50, `true`', s.cli_true!.p50 / s.ws_true!.p50, 'x')
    report.row(S, '`docker exec` (CLI) p50 / HTTP step p50, `true`', s.cli_true!.p50 / s.http_true!.p50, 'x')
    report.row(S, '`docker exec` (CLI) p50 / HTTP step p50, realistic', s.cli_real!.p50 / s.http_real!.p50, 'x')
    report.row(S, 'dockerode exec p50 / WS step p50, `true`', s.api_true!.p50 / s.ws_true!.p50, 'x')
    return {
      container: c.id, container_found_by: c.foundBy, realistic_action: DOCKER_REALISTIC, pipe_action: DOCKER_PIPE,
      http_step_pipe: s.http_pipe, docker_exec_cli_pipe: s.cli_pipe,
      ws_step: s.ws_true, ws_step_disk_limit: s.disk_true, http_step: s.http_true, ws_step_realistic: s.ws_real, http_step_realistic: s.http_real,
      in_env: e, docker_exec_cli: s.cli_true, docker_exec_cli_realistic: s.cli_real, dockerode_exec: s.api_true
    }
  } finally { ws.close() }
}
