// Evaluation dispatch as MLGym's four task entrypoints do it: which artefact, which command, how the metrics are read.
// Evaluation runs in a fresh process tree of the sandbox that alone sees the task's secret files, and runs the
// task's pristine evaluation files under import rules the agent's code cannot get in front of
// (tasks/evaluation_runner.py).
import { basename, join } from 'node:path'
import type { Sandbox, Mount } from '../sandbox/types.js'
import { WORKSPACE, AGENT_HOME } from '../sandbox/types.js'
import { packageRoot } from '../sandbox/paths.js'
import { hostPath, type Task } from './registry.js'
import { PyFloat, parsePyJson, type PyValue } from './pyrepr.js'
import { sandboxSettings } from './settings.js'
import { EvaluationFormatError, SubmissionNotFoundError } from './errors.js'

export const SECRET_DIR = `${AGENT_HOME}/secret`
/** where the runner and the task's own copy of its evaluation files sit during an evaluation */
export const EVALUATION_DIR = '/synthgym/evaluation'

export interface Evaluation {
  metrics: Record<string, PyValue>
  submission: string
  output: string
  /** the evaluation command's exit status (MLGym reads only the output; generation's checks want exit 0 too) */
  exitCode: number | null
  /** what was dropped from the metrics (printed with the hidden files mounted), for the agent to read */
  withheld?: string
}

/** The longest metric name that passes while hidden files are mounted (a longer one could spell them out). */
export const MAX_METRIC_NAME = 64

/**
 * While the hidden files were mounted only finite numbers under short names pass to the agent: a string, list,
 * nested dict, boolean or long name could carry the answers. A number still carries a few digits of anything.
 */
function numbersOnly (metrics: Record<string, PyValue>): { metrics: Record<string, PyValue>, withheld?: string } {
  const kept: Record<string, PyValue> = {}
  const dropped: string[] = []
  let long = 0
  for (const [k, v] of Object.entries(metrics)) {
    const n = v instanceof PyFloat ? v.value : v
    if (k.length > MAX_METRIC_NAME) long++
    else if (typeof n === 'number' && Number.isFinite(n)) kept[k] = v
    else dropped.push(`'${k}'`)
  }
  if (dropped.length + long === 0) return { metrics }
  const what = [...dropped, ...(long ? [`${long} with a name over ${MAX_METRIC_NAME} characters`] : [])].join(', ')
  return {
    metrics: kept,
    withheld: `Note: the evaluation read hidden files, so only finite numbers reach you; dropped ${dropped.length + long} other value(s): ${what}.`
  }
}

export function secretMounts (task: Task): Mount[] {
  return (task.spec.secret_files ?? []).map(p => ({ hostPath: hostPath(task, p), path: `${SECRET_DIR}/${basename(p)}`, readOnly: true, secret: true }))
}

/** The host file of an evaluation path: a starter file (or a file inside a starter dir), as MLGym names them. */
function evaluationSource (task: Task, path: string): string {
  const [head, ...rest] = path.split('/')
  const starter = (task.spec.starter_code ?? []).find(s => basename(s) === head)
  return starter ? join(hostPath(task, starter), ...rest) : hostPath(task, path)
}

/** The runner and the task's pristine evaluation files, never the workspace's copies (the agent may edit those). */
export function evaluationMounts (task: Task): Mount[] {
  const files = (task.spec.evaluation_paths ?? ['evaluate.py']).map(p => ({
    hostPath: evaluationSource(task, p), path: `${EVALUATION_DIR}/files/${p}`, readOnly: true
  }))
  return [{ hostPath: join(packageRoot(), 'tasks', 'evaluation_runner.py'), path: `${EVALUATION_DIR}/runner.py`, readOnly: true }, ...files]
}

/**
 * `python -I` on the runner: the agent's modules come last on the path, and not at all when the task has
 * hidden files (then nothing the agent wrote is imported while they are mounted).
 */
function pythonCommand (task: Task, module?: string): string {
  const spec = task.spec
  const script = `${EVALUATION_DIR}/files/${spec.evaluation_paths?.[0] ?? 'evaluate.py'}`
  const mode = spec.secret_files?.length ? 'no-workspace' : 'workspace'
  return `python -I ${module ? `-m ${module} ` : ''}${EVALUATION_DIR}/runner.py ${mode} ${script}`
}

function formatError (output: string, withoutSecrets = false): EvaluationFormatError {
  const note = withoutSecrets
    ? 'This task\'s evaluation reads hidden files; what it printed with them is withheld. Output of the same evaluation run without the hidden files:'
    : 'Output:'
  return new EvaluationFormatError(`Failed to decode metrics from evaluation script. ${note}\n---\n${output}\n---\nPlease make sure the evaluation script prints the metrics in json format.`, output)
}

function metricsFrom (output: string, firstBraceLine: boolean): Record<string, PyValue> {
  let text = output
  if (firstBraceLine) {
    const line = output.split('\n').find(l => l.startsWith('{'))
    if (line === undefined) throw formatError(output)
    text = line
  }
  let v: PyValue
  try { v = parsePyJson(text) } catch { throw formatError(output) }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || !('constructor' in v) || v.constructor !== Object) throw formatError(output)
  return v as Record<string, PyValue>
}

export interface EvaluateOptions {
  timeout?: number
  gpus?: number
  /**
   * the caller is the task's author (generation's checks), not an agent: a failed evaluation shows what it printed
   * with the hidden files mounted, so its own traceback can be fixed
   */
  author?: boolean
}

const NO_SUBMISSION = '__SYNTHGYM_NO_SUBMISSION__'
const SUBMISSION_LINE = '__SYNTHGYM_SUBMISSION__:'

/** One run per evaluation: the artefact check and the evaluation command go together (a docker run is a container). */
export async function evaluate (task: Task, sandbox: Sandbox, opts: EvaluateOptions = {}): Promise<Evaluation> {
  const spec = task.spec
  const entry = spec.task_entrypoint
  const timeout = opts.timeout ?? sandboxSettings(task).timeouts.long
  const python = pythonCommand(task)
  let command: string
  let submission = ''
  let firstBraceLine = false
  switch (entry) {
    case 'CSVSubmissionTasks':
      submission = `${WORKSPACE}/submission.csv`
      command = `ls ${WORKSPACE} | grep -qx submission.csv || { echo ${NO_SUBMISSION}; exit 0; }; ${python} --submission_file ${submission}`
      break
    case 'ModelSubmissionTasks':
      // MLGym passes the first *.yaml that find lists (or an empty string) and never raises
      command = `f=$(find ${WORKSPACE} -type f -name '*.yaml' | head -n 1); echo "${SUBMISSION_LINE}$f"; ${python} --config_fname "$f"`
      firstBraceLine = true
      break
    case 'LMSubmissionTasks':
      // torchrun's own module, so its workers start our runner (not a script in the workspace); one process where
      // there is no GPU (MLGym passes its GPU count, 0 on a CPU machine, where torchrun starts nothing)
      command = `${pythonCommand(task, `torch.distributed.run --nproc_per_node=${Math.max(1, opts.gpus ?? 0)} --standalone`)}`
      firstBraceLine = true
      break
    case 'PythonSubmissionTasks':
      submission = `${WORKSPACE}/target.py`
      command = python
      break
  }
  const secrets = secretMounts(task)
  const once = async (withSecrets: boolean) => {
    const r = await sandbox.run(command, { timeout, mounts: [...evaluationMounts(task), ...(withSecrets ? secrets : [])], evaluation: true })
    if (r.timedOut) throw new Error(`evaluation ran for more than ${timeout} seconds and was stopped`)
    let output = r.output
    let artefact = submission
    if (output.startsWith(NO_SUBMISSION)) throw new SubmissionNotFoundError('submission.csv not found')
    if (output.startsWith(SUBMISSION_LINE)) {
      const nl = output.indexOf('\n')
      artefact = output.slice(SUBMISSION_LINE.length, nl < 0 ? undefined : nl)
      output = nl < 0 ? '' : output.slice(nl + 1)
    }
    return { output, artefact, exitCode: r.exitCode }
  }
  const first = await once(true)
  try {
    const all = metricsFrom(first.output, firstBraceLine)
    const { metrics, withheld } = secrets.length && !opts.author ? numbersOnly(all) : { metrics: all }
    return { metrics, submission: first.artefact, output: first.output, exitCode: first.exitCode, ...(withheld ? { withheld } : {}) }
  } catch (e) {
    if (!(e instanceof EvaluationFormatError) || secrets.length === 0) throw e
    if (opts.author) throw formatError(first.output)
  }
  // What printed while the hidden files were mounted is never shown: the agent sees the same evaluation run
  // without them instead (its complaints about the submission's format, then its failure to find the answers).
  const bare = await once(false)
  throw formatError(bare.output, true)
}
