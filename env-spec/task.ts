// The task spec: MLGym's TaskConfig + DatasetConfig (same field names and meaning) plus what MLGym keeps in code
// (metric name/direction) and what a server needs (resources, timeouts, secret evaluation files).
import { compile } from './validate.js'

export type TaskEntrypoint = 'CSVSubmissionTasks' | 'ModelSubmissionTasks' | 'LMSubmissionTasks' | 'PythonSubmissionTasks'
export const TASK_ENTRYPOINTS: TaskEntrypoint[] = ['CSVSubmissionTasks', 'ModelSubmissionTasks', 'LMSubmissionTasks', 'PythonSubmissionTasks']

export interface SplitConfig { name: string, file_regex: string }

export interface DatasetConfig {
  name: string
  description: string
  data_path: string
  is_local?: boolean
  train_split?: SplitConfig | null
  valid_split?: SplitConfig | null
  test_split?: SplitConfig | null
}

export interface Metric { name: string, direction: 'maximize' | 'minimize' }

export interface Resources { cpus?: number, memory_mb?: number, pids?: number, gpus?: number, /** MiB the agent may write */ disk_mb?: number, /** network access: off unless a task opts in */ network?: boolean }

export interface TaskSpec {
  id: string
  name: string
  description: string
  dataset_configs?: string[]
  datasets?: DatasetConfig[]
  task_entrypoint?: TaskEntrypoint
  training_timeout?: number | null
  requirements_path?: string | null
  benchmark_name?: string | null
  use_generic_conda?: boolean
  starter_code?: string[]
  baseline_paths?: string[]
  baseline_scores?: Record<string, number>[]
  sample_submission?: string | null
  evaluation_paths?: string[]
  evaluation_read_only?: boolean
  secret_files?: string[]
  memory_path?: string | null
  metric?: Metric
  resources?: Resources
  timeouts?: { short?: number, no_output?: number }
  /** the named Python runtime its code needs (sandbox/runtimes): base (default) or mlgym */
  runtime?: RuntimeName
}

/** The named Python runtimes (sandbox/runtime.ts builds them). */
export const RUNTIME_NAMES = ['base', 'mlgym'] as const
export type RuntimeName = typeof RUNTIME_NAMES[number]

const split = {
  anyOf: [{ type: 'null' }, {
    type: 'object', required: ['name', 'file_regex'], additionalProperties: false,
    properties: { name: { type: 'string' }, file_regex: { type: 'string' } }
  }]
}

export const datasetConfigSchema = {
  type: 'object',
  required: ['name', 'description', 'data_path'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    data_path: { type: 'string', minLength: 1 },
    is_local: { type: 'boolean' },
    train_split: split, valid_split: split, test_split: split
  }
}

const paths = { type: 'array', items: { type: 'string', minLength: 1 } }

/** The limits a task's resources and an environment's limits share: one set of bounds. */
export const limitFields = {
  cpus: { type: 'number', exclusiveMinimum: 0 },
  memory_mb: { type: 'integer', minimum: 64 },
  pids: { type: 'integer', minimum: 16 },
  disk_mb: { type: 'integer', minimum: 1 }
}
const nullableString = { type: ['string', 'null'] }

export const taskSpecSchema = {
  type: 'object',
  required: ['id', 'name', 'description'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' },
    name: { type: 'string', minLength: 1 },
    description: { type: 'string', minLength: 1 },
    dataset_configs: paths,
    datasets: { type: 'array', items: datasetConfigSchema },
    task_entrypoint: { enum: TASK_ENTRYPOINTS },
    training_timeout: { type: ['integer', 'null'], minimum: 1 },
    requirements_path: nullableString,
    benchmark_name: nullableString,
    use_generic_conda: { type: 'boolean' },
    starter_code: paths,
    baseline_paths: paths,
    baseline_scores: { type: 'array', items: { type: 'object', additionalProperties: { type: 'number' } } },
    sample_submission: nullableString,
    evaluation_paths: paths,
    evaluation_read_only: { type: 'boolean' },
    secret_files: paths,
    memory_path: nullableString,
    metric: {
      type: 'object', required: ['name', 'direction'], additionalProperties: false,
      properties: { name: { type: 'string', minLength: 1 }, direction: { enum: ['maximize', 'minimize'] } }
    },
    resources: {
      type: 'object', additionalProperties: false,
      properties: {
        ...limitFields,
        gpus: { type: 'integer', minimum: 0 },
        network: { type: 'boolean' }
      }
    },
    runtime: { enum: [...RUNTIME_NAMES] },
    timeouts: {
      type: 'object', additionalProperties: false,
      properties: { short: { type: 'number', exclusiveMinimum: 0 }, no_output: { type: 'number', exclusiveMinimum: 0 } }
    }
  }
}

/** MLGym keeps each benchmark task's priority metric in code (mlgym/evaluation/utils.py TASKS): task imports, AUP
 * and the SFT filter get it here. */
export const MLGYM_METRICS: Record<string, Metric> = {
  regressionKaggleHousePrice: { name: 'r2', direction: 'maximize' },
  '3SATTime': { name: 'Time', direction: 'minimize' },
  imageClassificationCifar10: { name: 'accuracy', direction: 'maximize' },
  imageClassificationFMnist: { name: 'accuracy', direction: 'maximize' },
  imageCaptioningCOCO: { name: 'BLEU Score', direction: 'maximize' },
  languageModelingFineWeb: { name: 'val_loss', direction: 'minimize' },
  naturalLanguageInferenceMNLI: { name: 'validation_accuracy', direction: 'maximize' },
  battleOfSexes: { name: 'Score', direction: 'maximize' },
  prisonersDilemma: { name: 'Score', direction: 'maximize' },
  blotto: { name: 'Score', direction: 'maximize' },
  rlBreakoutMinAtar: { name: 'Reward Mean', direction: 'maximize' },
  rlMetaMazeMisc: { name: 'Reward Mean', direction: 'maximize' },
  rlMountainCarContinuous: { name: 'Reward Mean', direction: 'maximize' }
}

export const validateTaskSpec = compile<TaskSpec>(taskSpecSchema)
export const validateDatasetConfig = compile<DatasetConfig>(datasetConfigSchema)

/** Why an MLGym task cannot run here (tasks/mlgym-status.ts). */
export interface MlgymReason {
  code: 'MISSING_DATA' | 'NOT_LOADED' | 'RUNTIME_NOT_BUILT' | 'MISSING_PACKAGES' | 'HUB_DATA_NOT_FETCHED' | 'NEEDS_GPU'
  message: string
}
/** Whether an MLGym task can run on this machine, why not, and its baseline as measured here. */
export interface MlgymStatus {
  id: string
  runnable: boolean
  reasons: MlgymReason[]
  runtime: RuntimeName
  /** seconds MLGym's baseline (training and evaluation) took here, once measured (synthgym mlgym baseline) */
  baseline_seconds: number | null
  /** its scores here, once measured */
  baseline_here: Record<string, number> | null
}
export const MLGYM_REASON_CODES = ['MISSING_DATA', 'NOT_LOADED', 'RUNTIME_NOT_BUILT', 'MISSING_PACKAGES', 'HUB_DATA_NOT_FETCHED', 'NEEDS_GPU'] as const
export const mlgymStatusSchema = {
  type: 'object', additionalProperties: false, required: ['id', 'runnable', 'reasons', 'runtime', 'baseline_seconds', 'baseline_here'],
  properties: {
    id: { type: 'string' },
    runnable: { type: 'boolean' },
    reasons: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['code', 'message'], properties: { code: { enum: [...MLGYM_REASON_CODES] }, message: { type: 'string' } } }
    },
    runtime: { enum: [...RUNTIME_NAMES] },
    baseline_seconds: { type: ['number', 'null'] },
    baseline_here: { anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: { type: 'number' } }] }
  }
}
