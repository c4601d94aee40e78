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
// ---------------------------------------------------------------------------------------------------------------
// The pipeline's own artefacts (tasks/generate/pipeline.ts): each stage writes one of these under
// OUT/work/<topic-slug>/, validated on write and on read, so a killed run resumes from what is on disk.

const tokensSchema = {
  type: 'object', required: ['prompt', 'completion'], additionalProperties: false,
  properties: { prompt: { type: 'integer', minimum: 0 }, completion: { type: 'integer', minimum: 0 } }
}
/** LLM tokens spent, as the endpoint's `usage` counted them. */
export interface Tokens { prompt: number, completion: number }

/** One sampled topic (stage 1); `slug` names its work folder. */
export interface Topic { slug: string, area: string, topic: string }
/** OUT/topics.json: the topics of a run, in the order they were sampled. */
export interface TopicList {
  /** 'taxonomy' (the built-in one) or the user's file */
  source: string
  seed: number
  requested: number
  topics: Topic[]
}
const slug = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,95}$' }
export const topicSchema = {
  type: 'object', required: ['slug', 'area', 'topic'], additionalProperties: false,
  properties: { slug, area: { type: 'string', minLength: 1 }, topic: { type: 'string', minLength: 1, maxLength: 500 } }
}
export const topicListSchema = {
  type: 'object', required: ['source', 'seed', 'requested', 'topics'], additionalProperties: false,
  properties: {
    source: { type: 'string', minLength: 1 }, seed: { type: 'integer' }, requested: { type: 'integer', minimum: 1 },
    topics: { type: 'array', items: topicSchema }
  }
}
export const validateTopicList = compile<TopicList>(topicListSchema)

/** Proposal attempts for one topic (stages 2-4): each attempt's proposal and why it was refused, if it was. */
export interface ProposalArtefact {
  status: 'verified' | 'rejected'
  proposal: Proposal | null
  dataset: VerifiedDataset | null
  attempts: Array<{ proposal: Proposal | null, rejection: Rejection | null }>
  /** why the last attempt failed, when none was verified */
  rejection: Rejection | null
  tokens: Tokens
  seconds: number
  /** seconds spent in the Hub verification alone */
  verify_seconds: number
}
const rejectionSchema = {
  type: 'object', required: ['stage', 'code', 'message'], additionalProperties: false,
  properties: { stage: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } }
}
export const proposalArtefactSchema = {
  type: 'object', additionalProperties: false,
  required: ['status', 'proposal', 'dataset', 'attempts', 'rejection', 'tokens', 'seconds', 'verify_seconds'],
  properties: {
    status: { enum: ['verified', 'rejected'] },
    proposal: { anyOf: [{ type: 'null' }, proposalSchema] },
    dataset: { anyOf: [{ type: 'null' }, verifiedDatasetSchema] },
    attempts: {
      type: 'array',
      items: {
        type: 'object', required: ['proposal', 'rejection'], additionalProperties: false,
        properties: { proposal: { anyOf: [{ type: 'null' }, proposalSchema] }, rejection: { anyOf: [{ type: 'null' }, rejectionSchema] } }
      }
    },
    rejection: { anyOf: [{ type: 'null' }, rejectionSchema] },
    tokens: tokensSchema, seconds: { type: 'number', minimum: 0 }, verify_seconds: { type: 'number', minimum: 0 }
  }
}
export const validateProposalArtefact = compile<ProposalArtefact>(proposalArtefactSchema)

/** The files the LLM may write for a task (stage 6); data files come from trusted code, never from the LLM. */
export const TASK_FILE_NAMES = ['task.yaml', 'baseline.py', 'evaluate.py', 'sample_submission.csv'] as const
export type TaskFileName = typeof TASK_FILE_NAMES[number]

/** The LLM's task-code reply: every file whole, by path. An array, not a map, so strict structured output takes it. */
export interface TaskFilesReply {
  files: Array<{ path: string, content: string }>
  /** what the LLM changed and why (a fix round); kept for the record */
  notes: string
}
export const taskFilesReplySchema = {
  type: 'object', required: ['files', 'notes'], additionalProperties: false,
  properties: {
    files: {
      type: 'array', minItems: 1, maxItems: 16,
      items: {
        type: 'object', required: ['path', 'content'], additionalProperties: false,
        // relative, no '..': the names themselves are checked against TASK_FILE_NAMES with a message saying which
        properties: { path: { type: 'string', minLength: 1, maxLength: 200 }, content: { type: 'string', maxLength: 200_000 } }
      }
    },
    notes: { type: 'string', maxLength: 4000 }
  }
}
export const validateTaskFilesReply = compile<TaskFilesReply>(taskFilesReplySchema)

/** One round's LLM reply on disk: OUT/work/<slug>/rounds/<n>/files.json. */
export interface CodeArtefact { round: number, reply: TaskFilesReply, tokens: Tokens, seconds: number }
export const codeArtefactSchema = {
  type: 'object', required: ['round', 'reply', 'tokens', 'seconds'], additionalProperties: false,
  properties: { round: { type: 'integer', minimum: 1 }, reply: taskFilesReplySchema, tokens: tokensSchema, seconds: { type: 'number', minimum: 0 } }
}
export const validateCodeArtefact = compile<CodeArtefact>(codeArtefactSchema)

/** The keep-checks (stage 7), in the order they run; a task is kept only when every one passes. */
export const CHECK_NAMES = [
  'files', 'spec', 'baseline_runs', 'metric_parses', 'deterministic', 'degenerate_worse', 'headroom',
  'malformed_rejected', 'no_label_leak', 'micro_runs'
] as const
export type CheckName = typeof CHECK_NAMES[number]

/** What one check found; a failure carries what goes back to the LLM (command, exit code, tail of output). */
export interface CheckResult {
  name: CheckName
  ok: boolean
  /** what was checked and, on failure, what is wrong and how to fix it */
  message: string
  command: string | null
  exit_code: number | null
  output_tail: string
  seconds: number
}
export const checkResultSchema = {
  type: 'object', required: ['name', 'ok', 'message', 'command', 'exit_code', 'output_tail', 'seconds'], additionalProperties: false,
  properties: {
    name: { enum: CHECK_NAMES }, ok: { type: 'boolean' }, message: { type: 'string' },
    command: { type: ['string', 'null'] }, exit_code: { type: ['integer', 'null'] }, output_tail: { type: 'string' },
    seconds: { type: 'number', minimum: 0 }
  }
}

/** One round of checks on disk: OUT/work/<slug>/rounds/<n>/checks.json. */
export interface CheckRound {
  round: number
  ok: boolean
  checks: CheckResult[]
  /** the baseline's metrics when its evaluation parsed (the micro variant's in `micro_baseline`) */
  baseline: Record<string, number> | null
  micro_baseline: Record<string, number> | null
  seconds: number
}
const metricsSchema = { anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: { type: 'number' } }] }
export const checkRoundSchema = {
  type: 'object', required: ['round', 'ok', 'checks', 'baseline', 'micro_baseline', 'seconds'], additionalProperties: false,
  properties: {
    round: { type: 'integer', minimum: 1 }, ok: { type: 'boolean' }, checks: { type: 'array', items: checkResultSchema },
    baseline: metricsSchema, micro_baseline: metricsSchema, seconds: { type: 'number', minimum: 0 }
  }
}
export const validateCheckRound = compile<CheckRound>(checkRoundSchema)

/**
 * The stages a topic goes through, in order; the report's yield table has one row each. The benchmark check
 * (decontamination) runs before the Hub is asked; dedup after, on the dataset id the Hub resolved.
 */
export const STAGES = ['topics', 'proposal', 'decontamination', 'verification', 'dedup', 'materialisation', 'codegen', 'checks', 'smoke', 'accept'] as const
export type Stage = typeof STAGES[number]

/** Seconds per stage for one topic. */
export type StageTimings = Partial<Record<Stage, number>>
const timingsSchema = { type: 'object', additionalProperties: false, properties: Object.fromEntries(STAGES.map(s => [s, { type: 'number', minimum: 0 }])) }

/**
 * The smoke episodes of a task that passed the checks (`--smoke-episodes`): short teacher episodes through the
 * server; the task is kept when one ends with a valid (scored) submission. They stop at the first that does.
 */
export interface SmokeResult {
  model: string
  /** episodes asked for */
  asked: number
  episodes: Array<{ exit_status: string | null, valid_submission: boolean, steps: number }>
  ok: boolean
  seconds: number
}
export const smokeResultSchema = {
  type: 'object', additionalProperties: false, required: ['model', 'asked', 'episodes', 'ok', 'seconds'],
  properties: {
    model: { type: 'string' }, asked: { type: 'integer', minimum: 1 }, ok: { type: 'boolean' }, seconds: { type: 'number', minimum: 0 },
    episodes: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['exit_status', 'valid_submission', 'steps'],
        properties: { exit_status: { type: ['string', 'null'] }, valid_submission: { type: 'boolean' }, steps: { type: 'integer', minimum: 0 } }
      }
    }
  }
}
export const validateSmokeResult = compile<SmokeResult>(smokeResultSchema)

/** provenance.json beside an accepted task's task.yaml: where it came from and why it was kept. */
export interface Provenance {
  generator: 'synthgym generate'
  /** 'full', or 'micro' (a few hundred training rows, short timeouts) */
  variant: 'full' | 'micro'
  task_id: string
  /** the other variant's id */
  sibling_task_id: string
  topic: Topic
  proposal: Proposal
  dataset: { id: string, config: string, revision: string, license: string | null, splits: string[] }
  rows: Record<string, number>
  model: string
  /** check rounds it took (1: kept first time) */
  rounds: number
  /** the last round's checks, every one passed */
  checks: CheckResult[]
  /** the failed checks of each earlier round */
  history: Array<{ round: number, failed: CheckName[] }>
  baseline: Record<string, number>
  tokens: Tokens
  timings: StageTimings
  seed: number
  created_at: string
  /** the smoke episodes, when the run asked for them */
  smoke?: SmokeResult
}
export const provenanceSchema = {
  type: 'object', additionalProperties: false,
  required: ['generator', 'variant', 'task_id', 'sibling_task_id', 'topic', 'proposal', 'dataset', 'rows', 'model', 'rounds',
    'checks', 'history', 'baseline', 'tokens', 'timings', 'seed', 'created_at'],
  properties: {
    generator: { const: 'synthgym generate' },
    variant: { enum: ['full', 'micro'] },
    task_id: { type: 'string' }, sibling_task_id: { type: 'string' },
    topic: topicSchema, proposal: proposalSchema,
    dataset: {
      type: 'object', required: ['id', 'config', 'revision', 'license', 'splits'], additionalProperties: false,
      properties: { id: { type: 'string' }, config: { type: 'string' }, revision: { type: 'string' }, license: { type: ['string', 'null'] }, splits: { type: 'array', items: { type: 'string' } } }
    },
    rows: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
    model: { type: 'string' },
    rounds: { type: 'integer', minimum: 1 },
    checks: { type: 'array', items: checkResultSchema },
    history: {
      type: 'array',
      items: { type: 'object', required: ['round', 'failed'], additionalProperties: false, properties: { round: { type: 'integer' }, failed: { type: 'array', items: { enum: CHECK_NAMES } } } }
    },
    baseline: { type: 'object', additionalProperties: { type: 'number' } },
    tokens: tokensSchema, timings: timingsSchema, seed: { type: 'integer' }, created_at: { type: 'string' },
    smoke: smokeResultSchema
  }
}
export const validateProvenance = compile<Provenance>(provenanceSchema)


/** OUT/work/<slug>/outcome.json: how a topic ended. 'error' (the LLM API kept failing) is retried by --resume. */
export interface TopicOutcome {
  slug: string
  topic: string
  status: 'accepted' | 'discarded' | 'error'
  /** the stage it ended in */
  stage: Stage
  rejection: Rejection | null
  task_id: string | null
  micro_task_id: string | null
  rounds: number
  tokens: Tokens
  timings: StageTimings
}
export const topicOutcomeSchema = {
  type: 'object', additionalProperties: false,
  required: ['slug', 'topic', 'status', 'stage', 'rejection', 'task_id', 'micro_task_id', 'rounds', 'tokens', 'timings'],
  properties: {
    slug, topic: { type: 'string' }, status: { enum: ['accepted', 'discarded', 'error'] }, stage: { enum: STAGES },
    rejection: { anyOf: [{ type: 'null' }, rejectionSchema] },
    task_id: { type: ['string', 'null'] }, micro_task_id: { type: ['string', 'null'] },
    rounds: { type: 'integer', minimum: 0 }, tokens: tokensSchema, timings: timingsSchema
  }
}
export const validateTopicOutcome = compile<TopicOutcome>(topicOutcomeSchema)

/** OUT/report.json: yield per stage, why topics were discarded, tokens, and the kept tasks. */
export interface GenerationReport {
  out: string
  model: string
  seed: number
  started_at: string
  finished_at: string
  seconds: number
  topics: number
  /** per stage: topics that reached it and topics that got past it */
  stages: Array<{ stage: Stage, entered: number, passed: number }>
  kept: number
  discarded: number
  errors: number
  /** discards (and errors) grouped by stage and code, most frequent first, with one message as an example */
  reasons: Array<{ stage: string, code: string, count: number, example: string }>
  tokens: Tokens & { per_kept_task: number | null }
  tasks: Array<{ task_id: string, micro_task_id: string, topic: string, rounds: number }>
}
export const generationReportSchema = {
  type: 'object', additionalProperties: false,
  required: ['out', 'model', 'seed', 'started_at', 'finished_at', 'seconds', 'topics', 'stages', 'kept', 'discarded', 'errors', 'reasons', 'tokens', 'tasks'],
  properties: {
    out: { type: 'string' }, model: { type: 'string' }, seed: { type: 'integer' }, started_at: { type: 'string' }, finished_at: { type: 'string' },
    seconds: { type: 'number', minimum: 0 }, topics: { type: 'integer', minimum: 0 },
    stages: {
      type: 'array',
      items: { type: 'object', required: ['stage', 'entered', 'passed'], additionalProperties: false, properties: { stage: { enum: STAGES }, entered: { type: 'integer' }, passed: { type: 'integer' } } }
    },
    kept: { type: 'integer' }, discarded: { type: 'integer' }, errors: { type: 'integer' },
    reasons: {
      type: 'array',
      items: { type: 'object', required: ['stage', 'code', 'count', 'example'], additionalProperties: false, properties: { stage: { type: 'string' }, code: { type: 'string' }, count: { type: 'integer' }, example: { type: 'string' } } }
    },
    tokens: {
      type: 'object', required: ['prompt', 'completion', 'per_kept_task'], additionalProperties: false,
      properties: { prompt: { type: 'integer' }, completion: { type: 'integer' }, per_kept_task: { type: ['number', 'null'] } }
    },
    tasks: {
      type: 'array',
      items: {
        type: 'object', required: ['task_id', 'micro_task_id', 'topic', 'rounds'], additionalProperties: false,
        properties: { task_id: { type: 'string' }, micro_task_id: { type: 'string' }, topic: { type: 'string' }, rounds: { type: 'integer' } }
      }
    }
  }
}
export const validateGenerationReport = compile<GenerationReport>(generationReportSchema)

/**
 * GET /v1/generation/reports: the report.json of each generation run whose tasks this server serves (a served
 * OUT/tasks folder's OUT), newest first; a run still going or one whose report does not read is in `errors`.
 */
export interface GenerationReportList {
  reports: Array<{ out: string, report: GenerationReport }>
  errors: Array<{ file: string, reason: string }>
}
export const generationReportListSchema = {
  type: 'object', required: ['reports', 'errors'], additionalProperties: false,
  properties: {
    reports: {
      type: 'array',
      items: { type: 'object', required: ['out', 'report'], additionalProperties: false, properties: { out: { type: 'string' }, report: generationReportSchema } }
    },
    errors: {
      type: 'array',
      items: { type: 'object', required: ['file', 'reason'], additionalProperties: false, properties: { file: { type: 'string' }, reason: { type: 'string' } } }
    }
  }
}
export const validateGenerationReportList = compile<GenerationReportList>(generationReportListSchema)

/** OUT/run.json: what a run was started with; --resume continues it with these (never a key or token). */
export interface RunSettings {
  topics_source: string
  topics_file: string | null
  requested: number
  seed: number
  rounds: number
  model: string
  base_url: string | null
  backend: 'local' | 'docker'
  started_at: string
  /** the rest of the run's endpoint settings, reused by --resume (keys are never recorded) */
  llm?: {
    endpoint_profile: string
    max_tokens: number | null
    temperature: number | null
    reasoning_effort: string | null
    retries: number | null
    timeout: number | null
  }
  hub_url?: string
  datasets_server_url?: string
  smoke?: { episodes: number, model: string, base_url: string | null, steps: number, endpoint_profile: string }
  /** the endpoint as the client found it: its profile, context length, and each field it refused (and why) */
  endpoint?: { profile: string, context_length: number | null, dropped: Record<string, string>, structured_output: boolean | null }
}
export const runSettingsSchema = {
  type: 'object', additionalProperties: false,
  required: ['topics_source', 'topics_file', 'requested', 'seed', 'rounds', 'model', 'base_url', 'backend', 'started_at'],
  properties: {
    topics_source: { type: 'string' }, topics_file: { type: ['string', 'null'] }, requested: { type: 'integer', minimum: 1 },
    seed: { type: 'integer' }, rounds: { type: 'integer', minimum: 1 }, model: { type: 'string' }, base_url: { type: ['string', 'null'] },
    backend: { enum: ['local', 'docker'] }, started_at: { type: 'string' },
    llm: {
      type: 'object', additionalProperties: false,
      required: ['endpoint_profile', 'max_tokens', 'temperature', 'reasoning_effort', 'retries', 'timeout'],
      properties: {
        endpoint_profile: { type: 'string' }, max_tokens: { type: ['integer', 'null'], minimum: 1 }, temperature: { type: ['number', 'null'] },
        reasoning_effort: { type: ['string', 'null'] }, retries: { type: ['integer', 'null'], minimum: 0 }, timeout: { type: ['integer', 'null'], minimum: 1 }
      }
    },
    hub_url: { type: 'string' }, datasets_server_url: { type: 'string' },
    smoke: {
      type: 'object', additionalProperties: false, required: ['episodes', 'model', 'base_url', 'steps', 'endpoint_profile'],
      properties: {
        episodes: { type: 'integer', minimum: 1 }, model: { type: 'string' }, base_url: { type: ['string', 'null'] },
        steps: { type: 'integer', minimum: 1 }, endpoint_profile: { type: 'string' }
      }
    },
    endpoint: {
      type: 'object', additionalProperties: false, required: ['profile', 'context_length', 'dropped', 'structured_output'],
      properties: {
        profile: { type: 'string' }, context_length: { type: ['integer', 'null'] },
        dropped: { type: 'object', additionalProperties: { type: 'string' } }, structured_output: { type: ['boolean', 'null'] }
      }
    }
  }
}
export const validateRunSettings = compile<RunSettings>(runSettingsSchema)

/** OUT/work/<slug>/materialisation.json: the materialisation's own record, and how long it took. */
export interface MaterialisationArtefact { seconds: number, data: Record<string, unknown> }
export const materialisationArtefactSchema = {
  type: 'object', required: ['seconds', 'data'], additionalProperties: false,
  properties: { seconds: { type: 'number', minimum: 0 }, data: { type: 'object' } }
}
export const validateMaterialisationArtefact = compile<MaterialisationArtefact>(materialisationArtefactSchema)
