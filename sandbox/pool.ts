// Warm pools: per key (an image and its settings), started sandboxes kept ready so a reset takes one instead of
// starting a container. Refilled in the background; never more than the ceiling across all keys.

export interface Poolable { close (): Promise<void> }

export class WarmPool<S extends Poolable> {
  private ready = new Map<string, S[]>()
  private starting = new Map<string, number>()
  /** keys by last use, oldest first: at the ceiling, the oldest key's ready sandboxes make room */
  private used: string[] = []
  private closed = false
  lastError: string | null = null

  constructor (private create: (key: string) => Promise<S>, private opts: { size: number, ceiling: number }) {}

  private total (): number {
    let n = 0
    for (const l of this.ready.values()) n += l.length
    for (const s of this.starting.values()) n += s
    return n
  }

  /** A ready sandbox for `key`, or undefined; either way the pool refills in the background. */
  take (key: string): S | undefined {
    this.used = [...this.used.filter(k => k !== key), key]
    const s = this.ready.get(key)?.shift()
    this.fill(key)
    return s
  }

  private evictFor (key: string): boolean {
    for (const k of this.used) {
      if (k === key) continue
      const victim = this.ready.get(k)?.shift()
      if (victim) { void victim.close().catch(() => {}); return true }
    }
    return false
  }

  /** Starts sandboxes until `key` has `size` ready or the ceiling is reached. */
  fill (key: string): void {
    if (this.closed) return
    const have = (this.ready.get(key)?.length ?? 0) + (this.starting.get(key) ?? 0)
    let want = this.opts.size - have
    while (want > 0 && this.total() + want > this.opts.ceiling && this.evictFor(key)) { /* made room */ }
    want = Math.min(want, this.opts.ceiling - this.total())
    for (let i = 0; i < want; i++) {
      this.starting.set(key, (this.starting.get(key) ?? 0) + 1)
      this.create(key).then(async s => {
        this.starting.set(key, this.starting.get(key)! - 1)
        if (this.closed) { await s.close(); return }
        const l = this.ready.get(key) ?? []
        l.push(s)
        this.ready.set(key, l)
      }, e => {
        this.starting.set(key, this.starting.get(key)! - 1)
        this.lastError = (e as Error).message // not retried in a loop: the next take() tries again
      })
    }
  }

  /** Resolves when every sandbox being started has started (for tests and benchmarks). */
  async settled (): Promise<void> {
    while ([...this.starting.values()].some(n => n > 0)) await new Promise(resolve => setTimeout(resolve, 20))
  }

  status (): Record<string, { ready: number, starting: number }> {
    const out: Record<string, { ready: number, starting: number }> = {}
    for (const k of new Set([...this.ready.keys(), ...this.starting.keys()])) {
      out[k] = { ready: this.ready.get(k)?.length ?? 0, starting: this.starting.get(k) ?? 0 }
    }
    return out
  }

  async close (): Promise<void> {
    this.closed = true
    const all = [...this.ready.values()].flat()
    this.ready.clear()
    await Promise.all(all.map(s => s.close().catch(() => {})))
  }
}
