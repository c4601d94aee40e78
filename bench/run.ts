// synthgym benchmarks: step overhead, reset latency, and 256 environments at once, against the targets; and the
// same on the docker backend against `docker exec` and a cold `docker run` (when a Docker engine answers).
//
//   npm run bench                      build, run, print the table, then the results as one JSON line
//   node dist/bench/run.js --json out.json --strict
//
// Progress goes to stderr; the table and (without --json) the JSON line go to stdout. A missed target prints
// MISSED; the exit code is 1 for a missed target only with --strict, and 2 when the benchmark could not run at all.
// Each section lives in its own file (step, mix, openenv, python-client, reset, many, swerex, agent, aup, docker, ui, generate) and adds its rows to one Report.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type Docker from 'dockerode'
import { SynthgymClient } from '../clients/client.js'
import { DEFAULTS } from '../server/config.js'
import type { ServerConfig } from '../server/config.js'
import { aupSection } from './aup.js'
import type { BenchContext } from './context.js'
import { DockerServers, probeDocker } from './docker-engine.js'
import { dockerSection } from './docker.js'
import { manyEnvs } from './many.js'
import { openEnvStep } from './openenv.js'
import { pythonClientStep } from './python-client.js'
import { HELP, parseArgs, type Options } from './options.js'
import { progressTo, Report, startClock, writeReport } from './report.js'
import { resets } from './reset.js'
import { startBenchServer, type Server } from './start-server.js'
import { stepOverhead } from './step.js'
import { mixOverhead, mixThroughput } from './mix.js'
import { swerexSection } from './swerex.js'
import { agentSection } from './agent.js'
import { uiPages } from './ui.js'
import { generateSection } from './generate.js'

async function main (): Promise<number> {
  const clock = startClock()
  const progress = progressTo(clock)
  let parsed: Options | 'help'
  try { parsed = parseArgs(process.argv.slice(2)) } catch (e) { console.error((e as Error).message); return 2 }
  if (parsed === 'help') { console.log(HELP); return 0 }
  const o = parsed
  const dataDir = mkdtempSync(join(tmpdir(), 'synthgym-bench-'))
  const ctx: BenchContext = { opts: o, report: new Report(), progress, dataDir }
  const config: ServerConfig = {
    ...DEFAULTS, port: 0, dataDir, capacity: Math.max(DEFAULTS.capacity, o.envs + 64), idleTimeout: 3600
  }
  const results: Record<string, unknown> = {}
  const failures: string[] = []
  const dockerServers = new DockerServers()
  let server: Server | null = null
  let probeDockerRef: Docker | null = null
  /** a section that threw: an error, and a MISSED row so that the table shows it too */
  const failed = (name: string, e: unknown) => {
    failures.push(`${name}: ${(e as Error).stack ?? String(e)}`)
    ctx.report.row(name, 'benchmark ran', null, 'count', { atLeast: 1 }, (e as Error).message)
  }

  const finish = async (code: number | null): Promise<number> => {
    const ok = writeReport({
      report: ctx.report,
      clock,
      options: { ...o, json: undefined, only: [...o.only] },
      serverMode: o.inProcess ? 'in-process' : 'in a child process',
      dockerVersion: (results.docker as { engine_version?: string } | undefined)?.engine_version,
      results,
      errors: failures,
      json: o.json
    })
    if (code !== null) return code
    return ok || !o.strict ? 0 : 1
  }

  const watchdog = setTimeout(() => {
    failures.push(`the benchmark ran past its budget of ${o.budget} s and was stopped`)
    void finish(1).then(async code => {
      if (server?.child && server.child.exitCode === null) server.child.kill('SIGKILL')
      // the docker servers remove their containers on SIGTERM; whatever they leave, the sweep removes
      await dockerServers.abort()
      if (probeDockerRef) await dockerServers.sweep(probeDockerRef).catch(() => 0)
      rmSync(dataDir, { recursive: true, force: true })
      process.exit(code)
    })
  }, o.budget * 1000)
  watchdog.unref()

  try {
    if (['step', 'mix', 'openenv', 'python', 'reset', 'many', 'swerex', 'agent'].some(k => o.only.has(k))) {
      progress(`starting the server (data in ${dataDir})`)
      try { server = await startBenchServer(config, o.inProcess, progress) } catch (e) {
        failures.push(`the server did not start: ${(e as Error).message}`)
        return await finish(2)
      }
      const url = server.url
      const health = await new SynthgymClient(url).health() as { backends?: { local?: Record<string, unknown> } }
      results.server = {
        url, mode: o.inProcess ? 'in-process' : 'child process', local_backend: health.backends?.local ?? null
      }
      const many = { section: `${o.envs} envs at once`, envs: o.envs, concurrency: o.concurrency, task: o.manyTask }
      // [--only key and results key, name in errors and the table, the section]
      const sections: [string, string, () => Promise<Record<string, unknown>>][] = [
        ['step', 'step overhead', () => stepOverhead(ctx, url)],
        ['mix', 'realistic mix', async () => ({
          overhead: await mixOverhead(ctx, url),
          throughput: await mixThroughput(ctx, url, server?.child?.pid ?? null)
        })],
        ['openenv', 'OpenEnv step', () => openEnvStep(ctx, url)],
        ['python', 'Python client step', () => pythonClientStep(ctx, url)],
        ['reset', 'reset', () => resets(ctx, url)],
        ['many', many.section, () => manyEnvs(ctx, url, many)],
        ['swerex', 'SWE-ReX', () => swerexSection(ctx, url)],
        ['agent', 'agent harness', () => agentSection(ctx, url)]
      ]
      for (const [key, name, run] of sections) {
        if (!o.only.has(key)) continue
        try { results[key] = await run() } catch (e) { failed(name, e) }
      }
      progress('stopping the server')
      await server.stop().catch(e => progress(`stopping the server: ${(e as Error).message}`))
      server = null
    }
    if (o.only.has('aup')) {
      try { results.aup = await aupSection(ctx) } catch (e) { failed('synthgym aup', e) }
    }
    if (o.only.has('docker')) {
      progress('docker: is there an engine?')
      const probe = await probeDocker(o.image)
      probeDockerRef = probe.docker
      if (!probe.ok) {
        if (o.dockerAsked) {
          failures.push(`docker: ${probe.reason}`)
          ctx.report.row('docker', 'benchmark ran', null, 'count', { atLeast: 1 }, probe.reason)
          if (o.only.size === 1) return await finish(2) // nothing could run
        } else {
          progress(`docker: SKIPPED: ${probe.reason}`)
          const r = ctx.report.row('docker', 'SKIPPED (see below the table)', null, 'count', null, probe.reason)
          r.status = 'skipped'
          results.docker = { skipped: probe.reason }
        }
      } else {
        const out: Record<string, unknown> = {}
        results.docker = out
        try { await dockerSection(ctx, probe, dockerServers, out) } catch (e) { failed('docker', e) }
      }
    }
    if (o.only.has('ui')) {
      try { results.ui = await uiPages(ctx) } catch (e) { failed('dashboard', e) }
    }
    if (o.only.has('generate')) {
      try { results.generate = await generateSection(ctx) } catch (e) { failed('generate', e) }
    }
    return await finish(null)
  } finally {
    clearTimeout(watchdog)
    if (server) {
      progress('stopping the server')
      await server.stop().catch(e => progress(`stopping the server: ${(e as Error).message}`))
    }
    rmSync(dataDir, { recursive: true, force: true })
  }
}

main().then(code => { process.exitCode = code }, e => { console.error(e); process.exitCode = 2 })
