// One function decides what a task's sandbox gets: the task's resources, then an environment's overrides field
// by field, then the defaults below. The environment, the baseline runner and both backends use its answer.
import type { SandboxLimits } from '../sandbox/types.js'
import { SANDBOX_DEFAULTS } from '../sandbox/policy.js'
import type { Task } from './registry.js'

/** The one table of task defaults (MLGym's where it has one). */
export const TASK_DEFAULTS = {
  /** seconds a training command (python, torchrun, ...) may run: MLGym's training_timeout */
  trainingTimeout: 3600,
  /** seconds any other command may run */
  shortTimeout: 25,
  entrypoint: 'CSVSubmissionTasks',
  /** characters of observation kept per step (the rest is cut with a note) */
  outputCap: 100_000,
  /** the `shaped` reward's part for a valid submission; improvement over the baseline earns the rest */
  shapedValidShare: 0.2
} as const

/** What an environment may override (its create body, in the sandbox's units). */
export interface Overrides {
  limits?: { cpus?: number, memoryMb?: number, pids?: number, diskMb?: number, outputCap?: number }
  timeouts?: { short?: number, long?: number, noOutput?: number }
  /** characters of observation kept per step */
  outputCap?: number
}

export interface Settings {
  limits: SandboxLimits
  timeouts: { short: number, long: number, noOutput: number }
  /** the task's explicit opt-in: the sandbox shares the host's network */
  network: boolean
  /** GPUs the task needs (ids come from the allocator) */
  gpus: number
  /** characters of observation kept per step */
  outputCap: number
}

const defined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>

export function sandboxSettings (task: Task, over: Overrides = {}): Settings {
  const res = task.spec.resources ?? {}
  const limits: SandboxLimits = {
    pids: SANDBOX_DEFAULTS.pids,
    ...defined({ cpus: res.cpus, memoryMb: res.memory_mb, pids: res.pids, diskMb: res.disk_mb }),
    ...defined(over.limits ?? {})
  }
  const long = over.timeouts?.long ?? task.spec.training_timeout ?? TASK_DEFAULTS.trainingTimeout
  return {
    limits,
    timeouts: {
      short: over.timeouts?.short ?? task.spec.timeouts?.short ?? TASK_DEFAULTS.shortTimeout,
      long,
      noOutput: over.timeouts?.noOutput ?? task.spec.timeouts?.no_output ?? long
    },
    network: res.network === true,
    gpus: res.gpus ?? 0,
    outputCap: over.outputCap ?? TASK_DEFAULTS.outputCap
  }
}
