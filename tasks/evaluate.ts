// Evaluation dispatch as MLGym's four task entrypoints do it: which artefact, which command, how the metrics are read.
// Evaluation runs in a fresh process tree of the sandbox that alone sees the task's secret files.
import { existsSync, readdirSync } from 'node:fs'
import { basename } from 'node:path'
import type { Sandbox, Mount } from '../sandbox/types.js'
import { WORKSPACE, AGENT_HOME } from '../sandbox/types.js'
import { hostPath, type Task } from './registry.js'
import { parsePyJson, type PyValue } from './pyrepr.js'

export const SECRET_DIR = `${AGENT_HOME}/secret`

export class SubmissionNotFoundError extends Error {}
export class EvaluationFormatError extends Error {}

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
  /** host path of the workspace, to check for the submission artefact without a round trip */
  workspaceDir?: string
  timeout?: number
  gpus?: number
}

export async function evaluate (task: Task, sandbox: Sandbox, opts: EvaluateOptions = {}): Promise<Evaluation> {
  const spec = task.spec
  const evalPath = `${WORKSPACE}/${spec.evaluation_paths?.[0] ?? 'evaluate.py'}`
  const entry = spec.task_entrypoint ?? 'CSVSubmissionTasks'
  const timeout = opts.timeout ?? spec.training_timeout ?? 3600
  const mounts = secretMounts(task)
  let command: string
  let submission: string
  let firstBraceLine = false
  switch (entry) {
    case 'CSVSubmissionTasks': {
      const present = opts.workspaceDir ? existsSync(`${opts.workspaceDir}/submission.csv`) && readdirSync(opts.workspaceDir).includes('submission.csv')
        : (await sandbox.run(`ls ${WORKSPACE}`, { timeout: 30 })).output.split('\n').includes('submission.csv')
      if (!present) throw new SubmissionNotFoundError('submission.csv not found')
      submission = `${WORKSPACE}/submission.csv`
      command = `python ${evalPath} --submission_file ${submission}`
      break
    }
    case 'ModelSubmissionTasks': {
      const found = await sandbox.run(`find ${WORKSPACE} -type f -name '*.yaml' | head -n 1`, { timeout: 30 })
      submission = found.output.trim().split('\n')[0] ?? ''
      command = `python ${evalPath} --config_fname ${submission}`
      firstBraceLine = true
      break
    }
    case 'LMSubmissionTasks':
      submission = ''
      command = `torchrun --nproc_per_node=${opts.gpus ?? 0} --standalone ${evalPath}`
      firstBraceLine = true
      break
    case 'PythonSubmissionTasks':
      submission = `${WORKSPACE}/target.py`
      command = `python ${evalPath}`
      break
  }
  const r = await sandbox.run(command, { timeout, mounts })
  if (r.timedOut) throw new Error(`evaluation ran for more than ${timeout} seconds and was stopped`)
  return { metrics: metricsFrom(r.output, firstBraceLine), submission, output: r.output }
}
