// Baseline scores: the task's own when it has them, else computed once by running the baseline in a sandbox and
// cached on disk, keyed by a hash of everything the score depends on.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { Sandbox, SandboxOptions } from '../sandbox/types.js'
import { WORKSPACE } from '../sandbox/types.js'
import { hostPath, type Task } from './registry.js'
import { evaluate } from './evaluate.js'
import { plain } from './pyrepr.js'
import { sandboxSettings } from './settings.js'
import type { Metrics } from '../env-spec/trajectory.js'


function hashPath (h: ReturnType<typeof createHash>, p: string): void {
  if (!existsSync(p)) return
  if (statSync(p).isDirectory()) {
    for (const n of readdirSync(p).sort()) { h.update(n); hashPath(h, join(p, n)) }
  } else h.update(readFileSync(p))
}

const hashes = new WeakMap<Task, string>()

/** Hashed once per loaded task: it reads every starter, secret and data file, too much for each reset. */
export function taskHash (task: Task): string {
  let hash = hashes.get(task)
  if (!hash) { hash = computeHash(task); hashes.set(task, hash) }
  return hash
}

function computeHash (task: Task): string {
  const h = createHash('sha256')
  h.update(JSON.stringify({ ...task.spec, baseline_scores: undefined }))
  for (const p of [...(task.spec.starter_code ?? []), ...(task.spec.secret_files ?? [])]) hashPath(h, hostPath(task, p))
  for (const d of task.spec.datasets ?? []) if (d.is_local) hashPath(h, hostPath(task, d.data_path))
  return h.digest('hex').slice(0, 16)
}

/**
 * Where a baseline runs: 'local', or e.g. 'docker:synthgym/sandbox:latest'. A score is computed where the episodes
 * run, as MLGym runs the baseline in the episode's own container (another image may have other library versions).
 */
export type BaselineSite = string

export class BaselineCache {
  private inflight = new Map<string, Promise<Metrics | null>>()

  constructor (private dir: string,
    private makeSandbox: (opts: SandboxOptions, task: Task, site: BaselineSite) => Promise<Sandbox>,
    private sandboxOptions: (task: Task) => SandboxOptions) {}

  private file (task: Task, site: BaselineSite): string {
    const where = site === 'local' ? '' : '-' + site.replace(/[^A-Za-z0-9._-]+/g, '_')
    return join(this.dir, `${task.spec.id}-${taskHash(task)}${where}.json`)
  }

  /** Cached or given scores without running anything; undefined when they still have to be computed. */
  async peek (task: Task, site: BaselineSite = 'local'): Promise<Metrics | null | undefined> {
    const given = task.spec.baseline_scores?.[0]
    if (given) return given
    if (!(task.spec.baseline_paths?.length)) return null
    try { return JSON.parse(await readFile(this.file(task, site), 'utf8')).scores as Metrics } catch { return undefined }
  }

  /** What a run of the task's own baseline here gave, and how long it took; null before one ran. */
  measured (task: Task, site: BaselineSite = 'local'): { scores: Metrics, seconds: number } | null {
    const f = this.file(task, site)
    if (!existsSync(f)) return null
    const b = JSON.parse(readFileSync(f, 'utf8')) as { scores: Metrics, seconds: number }
    return { scores: b.scores, seconds: b.seconds }
  }

  /** Runs the task's baseline here even where its scores are given (MLGym's published ones), to measure it. */
  async measure (task: Task, site: BaselineSite = 'local', onProgress?: (line: string) => void): Promise<Metrics | null> {
    if (!(task.spec.baseline_paths?.length)) return null
    return this.compute(task, site, onProgress)
  }

  /** Scores for the task, computing them (once, even under concurrent calls) when absent. */
  async get (task: Task, site: BaselineSite = 'local', onProgress?: (line: string) => void): Promise<Metrics | null> {
    const known = await this.peek(task, site)
    if (known !== undefined) return known
    const key = this.file(task, site)
    let p = this.inflight.get(key)
    if (!p) {
      p = this.compute(task, site, onProgress).finally(() => this.inflight.delete(key))
      this.inflight.set(key, p)
    }
    return p
  }

  private async compute (task: Task, site: BaselineSite, onProgress?: (line: string) => void): Promise<Metrics | null> {
    const spec = task.spec
    const baseline = spec.baseline_paths![0]!
    const sandbox = await this.makeSandbox(this.sandboxOptions(task), task, site)
    const started = Date.now()
    try {
      await sandbox.putFiles((spec.starter_code ?? []).map(s => ({ path: `${WORKSPACE}/${basename(s)}`, hostPath: hostPath(task, s) })))
      onProgress?.(`computing the baseline of ${spec.id}: python ${baseline}`)
      const timeout = sandboxSettings(task).timeouts.long
      const cmd = spec.task_entrypoint === 'LMSubmissionTasks'
        ? `torchrun --nproc_per_node=${Math.max(1, spec.resources?.gpus ?? 0)} --standalone ${baseline}` : `python ${baseline}`
      // in the sandbox's own shell, as MLGym does, so what it writes is what gets evaluated
      const run = await sandbox.exec(cmd, { timeout })
      if (run.timedOut || run.exitCode !== 0) {
        throw new Error(`the baseline of ${spec.id} failed (${run.timedOut ? `timed out after ${timeout} s` : `exit ${run.exitCode}`}): ${run.output.slice(-2000)}`)
      }
      const ev = await evaluate(task, sandbox, { timeout })
      const scores = plain(ev.metrics) as Metrics
      await mkdir(this.dir, { recursive: true })
      const file = this.file(task, site)
      await writeFile(file + '.tmp', JSON.stringify({ task: spec.id, site, scores, seconds: (Date.now() - started) / 1000, computed_at: new Date().toISOString() }, null, 2))
      await rename(file + '.tmp', file)
      onProgress?.(`baseline of ${spec.id}: ${JSON.stringify(scores)} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
      return scores
    } finally { await sandbox.close() }
  }
}
