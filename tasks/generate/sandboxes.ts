// Where the checks' sandboxes come from: the embedded local backend, or docker (one engine, the local socket or
// DOCKER_HOST). Sandboxes a killed run left behind are removed when the same OUT folder runs again; a run that
// ends removes its own cgroup and temp folders.
import { createHash } from 'node:crypto'
import { rmdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { LocalSandbox, releaseLocal, sweepLocal } from '../../sandbox/local.js'
import { DockerBackend } from '../../sandbox/docker-backend.js'
import type { Sandbox, SandboxOptions } from '../../sandbox/types.js'
import { GENERATE_DEFAULTS } from './settings.js'

export interface SandboxFactory {
  makeSandbox: (opts: SandboxOptions) => Promise<Sandbox>
  close: () => Promise<void>
}

export async function sandboxFactory (out: string, backend: 'local' | 'docker', image: string = GENERATE_DEFAULTS.image): Promise<SandboxFactory> {
  // one owner per run folder: a resumed run finds (and removes) what its killed predecessor left
  const owner = 'gen-' + createHash('sha256').update(resolve(out)).digest('hex').slice(0, 12)
  if (backend === 'local') {
    const baseDir = join(tmpdir(), 'synthgym-generate', owner)
    await sweepLocal(baseDir, owner)
    // at the end, the run's own cgroup folders and temp folder go too, once empty (a run left one of each behind)
    const close = async () => { releaseLocal(owner); try { rmdirSync(baseDir) } catch {} }
    return { makeSandbox: o => LocalSandbox.create({ ...o, baseDir, owner }), close }
  }
  const socket = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock'
  const docker = new DockerBackend({ engines: [{ name: 'local', socketPath: socket, capacity: 64 }], image, serverId: owner, warmPool: 0, poolCeiling: 0 })
  const started = await docker.start()
  if (started.unavailable.length) {
    await docker.shutdown()
    throw new Error(`--backend docker: ${started.unavailable.join('; ')} (start dockerd, or use --backend local)`)
  }
  return {
    makeSandbox: o => docker.create({ ...o, image, pooled: false, labels: { 'synthgym.env': 'generate' } }),
    close: () => docker.shutdown()
  }
}
