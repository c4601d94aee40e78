// Generation artefacts that cross a boundary: what the LLM proposes (validated before anything trusts it) and what
// the Hub verification records. Pipeline-internal artefacts (provenance, report) join this file beside them.
import { compile } from './validate.js'
import { TASK_ENTRYPOINTS, datasetConfigSchema, type DatasetConfig, type Metric, type TaskEntrypoint } from './task.js'

/** What kind of learning problem a proposal is; decides which column types fit (tasks/generate/hub.ts). */
export type TaskType =
  | 'tabular-classification' | 'tabular-regression'
  | 'text-classification' | 'text-regression'
  | 'image-classification' | 'audio-classification'
  | 'time-series-forecasting'
export const TASK_TYPES: TaskType[] = [
  'tabular-classification', 'tabular-regression', 'text-classification', 'text-regression',
  'image-classification', 'audio-classification', 'time-series-forecasting'
]

/** The LLM's proposal for one topic (stage 2). */
export interface Proposal {
  topic: string
  title: string
  /** becomes the task's id: letters, digits, _ . - */
  task_id: string
  /** Hugging Face dataset id, e.g. "scikit-learn/iris" */
  dataset: string
  /** the dataset viewer's config name ("default" when the dataset has one) */
  config: string
  /** splits of the Hub dataset to draw rows from; our own train/validation/test split is made from them */
  splits: string[]
  input_columns: string[]
  target_column: string
  task_type: TaskType
  metric: Metric
  submission_kind: TaskEntrypoint
  /** why a model can learn the target from the inputs */
  learnability: string
}

const id = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' }
const nonEmpty = { type: 'string', minLength: 1, maxLength: 2000 }

export const proposalSchema = {
  type: 'object', additionalProperties: false,
  required: ['topic', 'title', 'task_id', 'dataset', 'config', 'splits', 'input_columns', 'target_column', 'task_type',
    'metric', 'submission_kind', 'learnability'],
  properties: {
    topic: nonEmpty,
    title: nonEmpty,
    task_id: id,
    // owner/name or a canonical name; no path tricks
    dataset: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$', maxLength: 200 },
    config: { type: 'string', minLength: 1, maxLength: 200 },
    splits: { type: 'array', minItems: 1, maxItems: 8, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 200 } },
    input_columns: { type: 'array', minItems: 1, maxItems: 500, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 200 } },
    target_column: { type: 'string', minLength: 1, maxLength: 200 },
    task_type: { enum: TASK_TYPES },
    metric: {
      type: 'object', required: ['name', 'direction'], additionalProperties: false,
      properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, direction: { enum: ['maximize', 'minimize'] } }
    },
    submission_kind: { enum: TASK_ENTRYPOINTS },
    learnability: nonEmpty
  }
}
export const validateProposal = compile<Proposal>(proposalSchema)

/** A dataset as the Hub verified it (stage 3): everything later stages need, pinned to one revision. */
export interface VerifiedDataset {
  dataset: string
  config: string
  /** the commit sha of the dataset's main branch when it was verified */
  revision: string
  /** the commit sha of the Hub's parquet conversion (`refs/convert/parquet`) the files are downloaded at */
  parquet_revision: string
  license: string | null
  splits: Array<{ name: string, num_rows: number | null }>
  /** column name → the dataset viewer's feature type ("Value(float64)", "ClassLabel", "Image", "Audio", ...) */
  columns: Record<string, string>
  /** class names when the target is a ClassLabel */
  target_names?: string[]
  size_bytes: number | null
  /** parquet files of the Hub's conversion, per split, as paths inside the repo at `refs/convert/parquet` */
  parquet_files: Record<string, string[]>
}

export const verifiedDatasetSchema = {
  type: 'object', additionalProperties: false,
  required: ['dataset', 'config', 'revision', 'parquet_revision', 'license', 'splits', 'columns', 'size_bytes', 'parquet_files'],
  properties: {
    dataset: { type: 'string' }, config: { type: 'string' }, revision: { type: 'string', minLength: 1 },
    parquet_revision: { type: 'string', minLength: 1 },
    license: { type: ['string', 'null'] },
    splits: {
      type: 'array',
      items: { type: 'object', required: ['name', 'num_rows'], additionalProperties: false, properties: { name: { type: 'string' }, num_rows: { type: ['integer', 'null'] } } }
    },
    columns: { type: 'object', additionalProperties: { type: 'string' } },
    target_names: { type: 'array', items: { type: 'string' } },
    size_bytes: { type: ['integer', 'null'] },
    parquet_files: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } }
  }
}
export const validateVerifiedDataset = compile<VerifiedDataset>(verifiedDatasetSchema)

/** A dataset of the evaluation benchmark, which no generated task may use (tasks/generate/decontaminate.ts). */
export interface BenchmarkDataset {
  name: string
  /** the benchmark's tasks that use it */
  tasks: string[]
  /** Hub ids, matched without case */
  ids: string[]
  /** regular expressions matched against the dataset's name (after the owner, any owner) in lower case without
   * punctuation, e.g. "^cifar10(?!0)" for uoft-cs/cifar10, someone/CIFAR-10-C... */
  patterns?: string[]
  /** only these configs of the dataset (a benchmark that is one config of a collection, e.g. GLUE's mnli) */
  configs?: string[]
}

export const benchmarkDatasetsSchema = {
  type: 'array',
  items: {
    type: 'object', additionalProperties: false, required: ['name', 'tasks', 'ids'],
    properties: {
      name: { type: 'string', minLength: 1 },
      tasks: { type: 'array', items: { type: 'string' } },
      ids: { type: 'array', items: { type: 'string', minLength: 1 } },
      patterns: { type: 'array', items: { type: 'string', minLength: 1 } },
      configs: { type: 'array', items: { type: 'string', minLength: 1 } }
    }
  }
}
export const validateBenchmarkDatasets = compile<BenchmarkDataset[]>(benchmarkDatasetsSchema)

/** Why a stage refused a proposal: a stable code for the report's table, a message that goes back to the LLM. */
export interface Rejection { stage: string, code: string, message: string }

/** One data file a materialisation wrote; `path` is relative to the task directory. */
export interface MaterialisedFile { path: string, rows: number, columns: string[] }

/** The data of one task directory (the full task or its micro variant). */
export interface MaterialisedVariant {
  /** the task directory the paths are relative to */
  dir: string
  train: MaterialisedFile
  validation: MaterialisedFile
  /** the rows to predict, without the target column */
  test: MaterialisedFile
  /** the test rows' ids and targets: a secret file, never in the workspace */
  answers: MaterialisedFile
  /** image/audio files written beside the CSV files */
  media_files: number
  /** the folder the task's dataset lives in (its `data_path`), relative to the task directory */
  data_path: string
  /** for the task's `secret_files` */
  secret_files: string[]
  /** the dataset entry for the task's `datasets` (the registry renders `{dataset_docs}` from it) */
  dataset: DatasetConfig
  /** `{dataset_docs}` as MLGym renders it from `dataset` */
  dataset_docs: string
}

/** What stage 5 (materialisation, by trusted code) wrote for one verified proposal. */
export interface MaterialisedData {
  dataset: string
  config: string
  revision: string
  parquet_revision: string
  seed: number
  /** the column our data files add to name a row (submission and answers join on it) */
  id_column: string
  input_columns: string[]
  target_column: string
  /** every column written, with its dataset viewer type (the id column: Value(int64)) */
  columns: Record<string, string>
  /** input columns written as files (their CSV cell is the file's path relative to the workspace) */
  media_columns: string[]
  target_names?: string[]
  /** rows in the proposed splits of the Hub dataset */
  source_rows: number
  /** sampled rows left out because the target or a media file was missing */
  dropped_rows: number
  full: MaterialisedVariant
  micro: MaterialisedVariant
}

const materialisedFileSchema = {
  type: 'object', additionalProperties: false, required: ['path', 'rows', 'columns'],
  properties: { path: { type: 'string', minLength: 1 }, rows: { type: 'integer', minimum: 0 }, columns: { type: 'array', items: { type: 'string' } } }
}
const materialisedVariantSchema = {
  type: 'object', additionalProperties: false,
  required: ['dir', 'train', 'validation', 'test', 'answers', 'media_files', 'data_path', 'secret_files', 'dataset', 'dataset_docs'],
  properties: {
    dir: { type: 'string', minLength: 1 },
    train: materialisedFileSchema, validation: materialisedFileSchema, test: materialisedFileSchema, answers: materialisedFileSchema,
    media_files: { type: 'integer', minimum: 0 },
    data_path: { type: 'string', minLength: 1 },
    secret_files: { type: 'array', items: { type: 'string', minLength: 1 } },
    dataset: datasetConfigSchema,
    dataset_docs: { type: 'string' }
  }
}
export const materialisedDataSchema = {
  type: 'object', additionalProperties: false,
  required: ['dataset', 'config', 'revision', 'parquet_revision', 'seed', 'id_column', 'input_columns', 'target_column', 'columns',
    'media_columns', 'source_rows', 'dropped_rows', 'full', 'micro'],
  properties: {
    dataset: { type: 'string' }, config: { type: 'string' }, revision: { type: 'string' }, parquet_revision: { type: 'string' },
    seed: { type: 'integer' },
    id_column: { type: 'string', minLength: 1 },
    input_columns: { type: 'array', items: { type: 'string' } },
    target_column: { type: 'string' },
    columns: { type: 'object', additionalProperties: { type: 'string' } },
    media_columns: { type: 'array', items: { type: 'string' } },
    target_names: { type: 'array', items: { type: 'string' } },
    source_rows: { type: 'integer', minimum: 0 },
    dropped_rows: { type: 'integer', minimum: 0 },
    full: materialisedVariantSchema,
    micro: materialisedVariantSchema
  }
}
export const validateMaterialisedData = compile<MaterialisedData>(materialisedDataSchema)
