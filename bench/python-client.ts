// The Python client (clients/python) against the raw HTTP call it wraps: a `true` step through
// SynthgymClient.step and the same POST through bare urllib, interleaved in one python process on one environment
// (bench/python-client.py). Target: the client adds under 1 ms at p50.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { packageRoot } from '../sandbox/paths.js'
import type { BenchContext } from './context.js'
import { round3, summarize } from './stats.js'

const run = promisify(execFile)

export async function pythonClientStep (ctx: BenchContext, url: string): Promise<Record<string, unknown>> {
  const { opts: o, report, progress } = ctx
  const S = 'Python client step'
  const root = packageRoot()
  progress(`Python client vs raw urllib step: ${o.warmup} + ${o.iterations} of each, interleaved (${o.stepTask})`)
  const { stdout } = await run(process.env.SYNTHGYM_PYTHON ?? 'python3', [
    join(root, 'bench', 'python-client.py'), join(root, 'clients', 'python'), url, o.stepTask,
    String(o.warmup), String(o.iterations)
  ], { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 })
  const times = JSON.parse(stdout.trim().split('\n').pop()!) as { client: number[], raw: number[] }
  const client = summarize(times.client)
  const raw = summarize(times.raw)
  const diff = round3(client.p50 - raw.p50)
  report.row(S, 'Python client step p50 − raw urllib step p50', diff, 'ms', { below: 1 })
  report.row(S, 'Python client step round trip p50', client.p50, 'ms')
  report.row(S, 'raw urllib step round trip p50 (same env, interleaved)', raw.p50, 'ms')
  return { client_step: client, raw_step: raw, p50_difference: diff }
}
