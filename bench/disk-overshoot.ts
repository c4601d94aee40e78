// How far past a 50 MiB disk limit a sandbox gets, per backend and mechanism (the README's figures): three writers
// of 10 MB files (a loop of the shell itself, a background loop after the command returned, a loop in a second
// shell as SWE-ReX's execute runs it), each a few times; the worst is printed. One isolation per run:
//
//   npm run build && node dist/bench/disk-overshoot.js [local|docker] [tries]
//   SYNTHGYM_ISOLATION=unshare ... local      the unshare fallback
//   SYNTHGYM_DISK_QUOTA=watch ...             the always-on watcher alone (as without root or loop devices)
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalSandbox, localBackendInfo } from '../sandbox/local.js'
import { DockerSandbox } from '../sandbox/docker.js'
import { DockerEngine } from '../sandbox/docker-engine.js'
import type { Sandbox } from '../sandbox/types.js'

const LIMIT = 50
const loop = (n: number, pause = '') => `for i in $(seq 1 ${n}); do head -c 10M /dev/zero > w$i 2>/dev/null${pause}; done`

/** The sandbox's use once nothing has been added for a second. */
async function settled (sb: Sandbox): Promise<number> {
  let last = -1
  for (;;) {
    const now = await sb.diskUsageMb!()
    if (now === last) return now
    last = now
    await new Promise(resolve => setTimeout(resolve, 1000))
  }
}

async function main (): Promise<void> {
  const backend = process.argv[2] ?? 'local'
  const tries = Number(process.argv[3] ?? 3)
  const base = mkdtempSync(join(tmpdir(), 'sg-disk-bench-'))
  const engine = backend === 'docker' ? new DockerEngine({ name: 'local' }) : null
  await engine?.check()
  const make = (): Promise<Sandbox> => engine
    ? DockerSandbox.create(engine, { image: 'synthgym/sandbox:latest', serverId: 'disk-bench', limits: { diskMb: LIMIT } })
    : LocalSandbox.create({ baseDir: base, limits: { diskMb: LIMIT } })
  const writers: [string, (sb: Sandbox) => Promise<unknown>][] = [
    ['shell loop', sb => sb.exec(loop(40), { timeout: 60 })],
    ['background loop', sb => sb.exec(`(${loop(30, '; sleep 0.05')}) >/dev/null 2>&1 &`, { timeout: 60 })],
    ['second shell', async sb => { const h = await sb.openShell!(); await h.exec(`( ${loop(20)} )`, { timeout: 60 }); await h.close() }]
  ]
  let mechanism = ''
  const worst: Record<string, number> = {}
  for (let i = 0; i < tries; i++) {
    for (const [name, write] of writers) {
      const sb = await make()
      mechanism = sb.diskQuota ? 'quota' : 'watcher'
      try {
        await write(sb)
        const over = await settled(sb) - LIMIT
        worst[name] = Math.max(worst[name] ?? -Infinity, over)
      } finally { await sb.close() }
    }
  }
  const mode = engine ? 'docker' : localBackendInfo().isolation
  for (const [name, over] of Object.entries(worst)) console.log(`${mode}\t${mechanism}\t${name}\tworst ${over.toFixed(1)} MiB over ${LIMIT} MiB (${tries} tries)`)
  rmSync(base, { recursive: true, force: true })
}

await main()
