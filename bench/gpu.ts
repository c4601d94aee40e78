// The GPU check (run on a machine with an NVIDIA GPU and PyTorch): the torch built-in task's baseline trains on
// CUDA through the server with the GPU the allocator assigned, against the same script run directly; plus the
// step overhead there. Prints a table and writes JSON to --json FILE.
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULTS } from '../server/config.js'
import { startServer } from '../server/server.js'
import { SynthgymClient } from '../clients/client.js'
import { BUILTIN_DIR } from '../tasks/registry.js'
import { ascending, percentile } from './stats.js'

const TASK = 'digitsTorchGpu'
const arg = (name: string) => { const i = process.argv.indexOf(name); return i < 0 ? undefined : process.argv[i + 1] }

/** The baseline run straight on the host, as MLGym's baseline_paths would be. */
function direct (): { seconds: number, output: string } {
  const ws = mkdtempSync(join(tmpdir(), 'sg-gpu-direct-'))
  cpSync(join(BUILTIN_DIR, TASK, 'baseline.py'), join(ws, 'baseline.py'))
  cpSync(join(BUILTIN_DIR, 'digitsClassification', 'data'), join(ws, 'data'), { recursive: true })
  const t0 = performance.now()
  const r = spawnSync(process.env.SYNTHGYM_PYTHON ?? 'python3', ['baseline.py'], { cwd: ws, encoding: 'utf8' })
  return { seconds: (performance.now() - t0) / 1000, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() }
}

/** p50 of `true` over a raw persistent bash pipe. */
async function rawBash (n: number): Promise<number> {
  const p = spawn('bash', ['--noprofile', '--norc', '-s'], { stdio: ['pipe', 'pipe', 'inherit'] })
  let buf = ''
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await new Promise<void>(resolve => {
      const on = (d: Buffer) => { buf += d; if (buf.includes('__M__\n')) { buf = ''; p.stdout.off('data', on); resolve() } }
      p.stdout.on('data', on)
      p.stdin.write('true; echo __M__\n')
    })
    times.push(performance.now() - t0)
  }
  p.kill()
  return percentile(ascending(times), 50)
}

async function main (): Promise<void> {
  const smi = spawnSync('nvidia-smi', ['--query-gpu=index,name,driver_version', '--format=csv,noheader'], { encoding: 'utf8' })
  console.log(`GPUs: ${smi.stdout?.trim() || smi.error?.message}`)
  const d = direct()
  console.log(`direct baseline: ${d.seconds.toFixed(2)} s\n${d.output}`)
  const dataDir = mkdtempSync(join(tmpdir(), 'sg-gpu-'))
  const s = await startServer({ ...DEFAULTS, port: 0, dataDir, gpus: 'auto' })
  const c = new SynthgymClient(s.url)
  const health = await c.health()
  console.log('health.gpus', JSON.stringify(health.gpus), 'local', JSON.stringify((health.backends as Record<string, unknown>).local))
  const ws = await c.ws()
  const env = await ws.create({ task: TASK, max_steps: 1000 })
  let t0 = performance.now()
  const reset = await ws.reset(env.env_id)
  const resetSeconds = (performance.now() - t0) / 1000
  console.log(`reset (computes the baseline on the assigned GPU the first time): ${resetSeconds.toFixed(2)} s, baseline ${JSON.stringify(reset.info.baseline)}`)
  const seen = await ws.step(env.env_id, 'nvidia-smi -L; echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES; python -c "import torch; print(torch.cuda.is_available(), torch.cuda.device_count())"')
  console.log(seen.observation)
  t0 = performance.now()
  const train = await ws.step(env.env_id, 'python baseline.py')
  const trainSeconds = (performance.now() - t0) / 1000
  console.log(`through the server: ${trainSeconds.toFixed(2)} s\n${train.observation}`)
  const v = await ws.step(env.env_id, 'validate')
  console.log(v.observation)
  const times: number[] = []
  for (let i = 0; i < 300; i++) {
    const t = performance.now()
    await ws.step(env.env_id, 'true')
    if (i >= 30) times.push(performance.now() - t)
  }
  const raw = await rawBash(300)
  const sorted = ascending(times)
  const result = {
    gpus: smi.stdout?.trim() ?? null,
    allocator: health.gpus,
    direct_seconds: d.seconds,
    server_seconds: trainSeconds,
    server_over_direct: trainSeconds / d.seconds,
    direct_training_line: /training time: .*/.exec(d.output)?.[0] ?? null,
    server_training_line: /training time: .*/.exec(train.observation)?.[0] ?? null,
    cuda_in_sandbox: seen.observation,
    validate: v.observation,
    step_p50_ms: percentile(sorted, 50),
    step_p90_ms: percentile(sorted, 90),
    raw_bash_p50_ms: raw,
    overhead_p50_ms: percentile(sorted, 50) - raw
  }
  console.log('\n| measure | value |\n|---|---|')
  for (const [k, v] of Object.entries(result)) if (typeof v === 'number') console.log(`| ${k} | ${v.toFixed(3)} |`)
  const out = arg('--json')
  if (out) { mkdirSync(join(out, '..'), { recursive: true }); writeFileSync(out, JSON.stringify(result, null, 2)) }
  ws.close()
  await s.close()
}

main().then(() => process.exit(0), e => { console.error(e); process.exit(1) })
