// How much a sandbox has written, measured on the host: `du` of its writable tree (one file system only); and
// the removal of such a tree, however the agent shaped it.
import { spawn } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { HOST_SPAWN_ENV } from './policy.js'

export function hostDiskUsageMb (dir: string): Promise<number> {
  return new Promise(resolve => {
    const p = spawn('du', ['-skx', dir], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    p.stdout.on('data', d => { out += d })
    p.on('error', () => resolve(0))
    p.on('close', () => resolve((Number(out.split(/\s+/)[0]) || 0) / 1024))
  })
}

/**
 * Removes a tree the agent wrote. Node's recursive rm walks full paths, so a tree deeper than PATH_MAX (a loop of
 * `mkdir d; cd d`) defeats it; GNU rm walks it by directory fds. Never crosses into another file system.
 */
export async function removeTree (dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true })
    return
  } catch {}
  await new Promise<void>(resolve => {
    const p = spawn('rm', ['-rf', '--one-file-system', '--', dir], { stdio: 'ignore', env: HOST_SPAWN_ENV })
    p.on('error', () => resolve())
    p.on('close', () => resolve())
  })
}
