// GPU allocation over the server's GPUs: whole GPUs by default, or N sandboxes per GPU; when none is free a
// request waits in a bounded queue or is refused at once (CAPACITY_REACHED), as configured.
import { spawnSync } from 'node:child_process'
import { CapacityError } from './errors.js'

export interface GpuInfo { id: string, name: string }

/** GPUs on this machine through nvidia-smi; empty (with the reason) where there are none. */
export function detectGpus (): { gpus: GpuInfo[], reason: string | null } {
  const r = spawnSync('nvidia-smi', ['--query-gpu=index,name', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 })
  if (r.error) return { gpus: [], reason: 'no NVIDIA driver: nvidia-smi is not installed' }
  if (r.status !== 0) return { gpus: [], reason: `nvidia-smi failed: ${(r.stderr || r.stdout).trim()}` }
  const gpus = r.stdout.trim().split('\n').filter(Boolean).map(l => {
    const [id, ...name] = l.split(',')
    return { id: id!.trim(), name: name.join(',').trim() }
  })
  return { gpus, reason: gpus.length ? null : 'nvidia-smi lists no GPUs' }
}

export interface GpuAllocatorOptions {
  /** sandboxes that may share one GPU (1: whole GPUs) */
  perGpu?: number
  /** requests that may wait for a GPU; 0 refuses at once */
  queue?: number
  /** ms a queued request waits before it is refused */
  waitMs?: number
}

interface Waiter { n: number, resolve: (ids: string[]) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }

export class GpuAllocator {
  private used = new Map<string, number>()
  private waiters: Waiter[] = []

  constructor (readonly gpus: string[], private opts: GpuAllocatorOptions = {}) {
    for (const g of gpus) this.used.set(g, 0)
  }

  private get perGpu (): number { return this.opts.perGpu ?? 1 }

  private tryTake (n: number): string[] | null {
    // least-used first, so shared GPUs fill evenly
    const free = this.gpus.filter(g => this.used.get(g)! < this.perGpu).sort((a, b) => this.used.get(a)! - this.used.get(b)!)
    if (free.length < n) return null
    const ids = free.slice(0, n)
    for (const g of ids) this.used.set(g, this.used.get(g)! + 1)
    return ids
  }

  acquire (n: number): Promise<string[]> {
    if (n <= 0) return Promise.resolve([])
    if (n > this.gpus.length) {
      return Promise.reject(new CapacityError(this.gpus.length === 0
        ? `the task asks for ${n} GPU(s) but this server has none (see /v1/health)`
        : `the task asks for ${n} GPUs but this server has only ${this.gpus.length}`))
    }
    const ids = this.tryTake(n)
    if (ids) return Promise.resolve(ids)
    const max = this.opts.queue ?? 0
    if (this.waiters.length >= max) {
      return Promise.reject(new CapacityError(`all ${this.gpus.length} GPU(s) are in use${max ? ` and ${max} requests already wait` : ''}; retry later`))
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        n, resolve, reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter(x => x !== w)
          reject(new CapacityError(`no GPU came free within ${(this.opts.waitMs ?? 600_000) / 1000} s`))
        }, this.opts.waitMs ?? 600_000)
      }
      this.waiters.push(w)
    })
  }

  release (ids: string[]): void {
    for (const g of ids) if (this.used.has(g)) this.used.set(g, Math.max(0, this.used.get(g)! - 1))
    while (this.waiters.length) {
      const w = this.waiters[0]!
      const got = this.tryTake(w.n)
      if (!got) break
      this.waiters.shift()
      clearTimeout(w.timer)
      w.resolve(got)
    }
  }

  status (): { gpus: { id: string, in_use: number, per_gpu: number }[], waiting: number } {
    return { gpus: this.gpus.map(g => ({ id: g, in_use: this.used.get(g)!, per_gpu: this.perGpu })), waiting: this.waiters.length }
  }
}
