// Generation artefacts that cross a boundary: what the LLM proposes (validated before anything trusts it) and what
// the Hub verification records. Pipeline-internal artefacts (provenance, report) join this file beside them.
import { compile } from './validate.js'
import { TASK_ENTRYPOINTS, type Metric, type TaskEntrypoint } from './task.js'

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
  /** the commit sha the files were resolved at */
  revision: string
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
  required: ['dataset', 'config', 'revision', 'license', 'splits', 'columns', 'size_bytes', 'parquet_files'],
  properties: {
    dataset: { type: 'string' }, config: { type: 'string' }, revision: { type: 'string', minLength: 1 },
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

/** Why a stage refused a proposal: a stable code for the report's table, a message that goes back to the LLM. */
export interface Rejection { stage: string, code: string, message: string }
