// Evaluation dispatch as MLGym's four task entrypoints do it: which artefact, which command, how the metrics are read.
// Evaluation runs in a fresh process tree of the sandbox that alone sees the task's secret files.
import { basename } from 'node:path'
import type { Sandbox, Mount } from '../sandbox/types.js'
import { WORKSPACE, AGENT_HOME } from '../sandbox/types.js'
import { hostPath, type Task } from './registry.js'
import { parsePyJson, type PyValue } from './pyrepr.js'
import { EvaluationFormatError, SubmissionNotFoundError } from './errors.js'

export const SECRET_DIR = `${AGENT_HOME}/secret`

export interface Evaluation {
  metrics: Record<string, PyValue>
  submission: string
  output: string
}

export function secretMounts (task: Task): Mount[] {
  return (task.spec.secret_files ?? []).map(p => ({ hostPath: hostPath(task, p), path: `${SECRET_DIR}/${basename(p)}`, readOnly: true }))
}

function formatError (output: string): EvaluationFormatError {
  return new EvaluationFormatError(`Failed to decode metrics from evaluation script. Output:\n---\n${output}\n---\nPlease make sure the evaluation script prints the metrics in json format.`)
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
}

const NO_SUBMISSION = '__SYNTHGYM_NO_SUBMISSION__'
const SUBMISSION_LINE = '__SYNTHGYM_SUBMISSION__:'

/** One run per evaluation: the artefact check and the evaluation command go together (a docker run is a container). */
export async function evaluate (task: Task, sandbox: Sandbox, opts: EvaluateOptions = {}): Promise<Evaluation> {
  const spec = task.spec
  const evalPath = `${WORKSPACE}/${spec.evaluation_paths?.[0] ?? 'evaluate.py'}`
  const entry = spec.task_entrypoint ?? 'CSVSubmissionTasks'
  const timeout = opts.timeout ?? spec.training_timeout ?? 3600
  let command: string
  let submission = ''
  let firstBraceLine = false
  switch (entry) {
    case 'CSVSubmissionTasks':
      submission = `${WORKSPACE}/submission.csv`
      command = `ls ${WORKSPACE} | grep -qx submission.csv || { echo ${NO_SUBMISSION}; exit 0; }; python ${evalPath} --submission_file ${submission}`
      break
    case 'ModelSubmissionTasks':
      // MLGym passes the first *.yaml that find lists (or an empty string) and never raises
      command = `f=$(find ${WORKSPACE} -type f -name '*.yaml' | head -n 1); echo "${SUBMISSION_LINE}$f"; python ${evalPath} --config_fname "$f"`
      firstBraceLine = true
      break
    case 'LMSubmissionTasks':
      command = `torchrun --nproc_per_node=${opts.gpus ?? 0} --standalone ${evalPath}`
      firstBraceLine = true
      break
    case 'PythonSubmissionTasks':
      submission = `${WORKSPACE}/target.py`
      command = `python ${evalPath}`
      break
  }
  const r = await sandbox.run(command, { timeout, mounts: secretMounts(task), evaluation: true })
  if (r.timedOut) throw new Error(`evaluation ran for more than ${timeout} seconds and was stopped`)
  let output = r.output
  if (output.startsWith(NO_SUBMISSION)) throw new SubmissionNotFoundError('submission.csv not found')
  if (output.startsWith(SUBMISSION_LINE)) {
    const nl = output.indexOf('\n')
    submission = output.slice(SUBMISSION_LINE.length, nl < 0 ? undefined : nl)
    output = nl < 0 ? '' : output.slice(nl + 1)
  }
  return { metrics: metricsFrom(output, firstBraceLine), submission, output }
}
