// How much a sandbox has written, measured on the host: `du` of its writable tree (one file system only).
import { spawn } from 'node:child_process'

export function hostDiskUsageMb (dir: string): Promise<number> {
  return new Promise(resolve => {
    const p = spawn('du', ['-skx', dir], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    p.stdout.on('data', d => { out += d })
    p.on('error', () => resolve(0))
    p.on('close', () => resolve((Number(out.split(/\s+/)[0]) || 0) / 1024))
  })
}
