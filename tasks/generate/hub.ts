// Stage 3 of generation: a proposal's dataset verified on the Hugging Face Hub and its dataset viewer, and pinned to
// one revision of the Hub's parquet conversion. Hub calls go through @huggingface/hub; the viewer, which that package
// lacks, through plain fetch. Both go through one retrying fetch: 429s and the viewer's `500 ResponseNotReady` are
// waited out with backoff. A proposal's own problem is a Rejection (its message goes back to the LLM); the services
// failing is a HubUnavailableError.
import { setTimeout as sleep } from 'node:timers/promises'
import { datasetInfo, listFiles, HubApiError } from '@huggingface/hub'
import {
  validateVerifiedDataset, type Proposal, type Rejection, type TaskType, type VerifiedDataset
} from '../../env-spec/generation.js'
import { ValidationError } from '../../env-spec/validate.js'
import { HubUnavailableError } from '../errors.js'

/** The one table of defaults of the data stages (3: verification, 4: decontamination, 5: materialisation). */
export const HUB_DEFAULTS = {
  hubUrl: 'https://huggingface.co',
  datasetsServerUrl: 'https://datasets-server.huggingface.co',
  /** bytes of parquet files (the proposed splits of the config) a task may download */
  maxDatasetBytes: 2 * 1024 ** 3,
  /** retries of a request answered 429, 5xx (the viewer's ResponseNotReady) or not at all */
  retries: 5,
  /** the first retry's wait; it doubles per retry up to maxBackoffMs (a Retry-After header wins, capped the same) */
  backoffMs: 1000,
  maxBackoffMs: 30_000,
  /** one API request; a file download gets downloadTimeoutMs */
  requestTimeoutMs: 60_000,
  downloadTimeoutMs: 30 * 60_000,
  /** rows a task keeps after subsampling, before its train/validation/test split */
  rowLimit: 10_000,
  /** fewer rows than this (after dropping rows without a target) and the dataset is rejected */
  minRows: 100,
  validationFraction: 0.15,
  testFraction: 0.15,
  /** the micro variant: training rows, and rows of its validation and test files */
  microTrainRows: 300,
  microEvalRows: 100
} as const

export interface HubSettings {
  hubUrl: string
  datasetsServerUrl: string
  /** a Hugging Face token (hf_...), sent to the Hub and the viewer */
  hfToken?: string
  maxDatasetBytes: number
  retries: number
  backoffMs: number
  maxBackoffMs: number
  requestTimeoutMs: number
}

const trimSlash = (u: string) => u.replace(/\/+$/, '')

/** Settings from explicit values, then HF_ENDPOINT and HF_TOKEN (as huggingface_hub reads them), then the defaults. */
export function hubSettings (over: Partial<HubSettings> = {}, env: NodeJS.ProcessEnv = process.env): HubSettings {
  const s: HubSettings = {
    hubUrl: trimSlash(over.hubUrl ?? (env.HF_ENDPOINT || HUB_DEFAULTS.hubUrl)),
    datasetsServerUrl: trimSlash(over.datasetsServerUrl ?? HUB_DEFAULTS.datasetsServerUrl),
    hfToken: over.hfToken ?? (env.HF_TOKEN || undefined),
    maxDatasetBytes: over.maxDatasetBytes ?? HUB_DEFAULTS.maxDatasetBytes,
    retries: over.retries ?? HUB_DEFAULTS.retries,
    backoffMs: over.backoffMs ?? HUB_DEFAULTS.backoffMs,
    maxBackoffMs: over.maxBackoffMs ?? HUB_DEFAULTS.maxBackoffMs,
    requestTimeoutMs: over.requestTimeoutMs ?? HUB_DEFAULTS.requestTimeoutMs
  }
  for (const [field, flag] of [['hubUrl', '--hub-url (HF_ENDPOINT)'], ['datasetsServerUrl', '--datasets-server-url']] as const) {
    if (!/^https?:\/\/[^/]/.test(s[field])) throw new ValidationError(`${flag} must be an http(s) URL, not ${JSON.stringify(s[field])}`, field)
  }
  // @huggingface/hub refuses other tokens with a TypeError deep inside a call; say it here, naming the setting
  if (s.hfToken !== undefined && !s.hfToken.startsWith('hf_')) throw new ValidationError('--hf-token (HF_TOKEN) must be a Hugging Face token, which starts with hf_', 'hfToken')
  for (const field of ['maxDatasetBytes', 'retries', 'backoffMs', 'maxBackoffMs', 'requestTimeoutMs'] as const) {
    if (!Number.isFinite(s[field]) || s[field] < 0) throw new ValidationError(`${field} must be a number >= 0, not ${s[field]}`, field)
  }
  return s
}

// ---- the retrying fetch ----

export type Service = 'Hub' | 'dataset viewer'

/** Whether an answer is worth asking again: rate limits, the viewer still computing, a gateway's hiccup. */
export function retryable (res: Response): boolean {
  if (res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504) return true
  return res.status === 500 && res.headers.get('x-error-code') === 'ResponseNotReady'
}

export function backoff (s: Pick<HubSettings, 'backoffMs' | 'maxBackoffMs'>, attempt: number, retryAfter: string | null): number {
  const seconds = retryAfter !== null && /^\d+(\.\d+)?$/.test(retryAfter.trim()) ? Number(retryAfter) : null
  const ms = seconds !== null ? seconds * 1000 : s.backoffMs * 2 ** attempt
  return Math.min(ms, s.maxBackoffMs)
}

/** A fetch (for @huggingface/hub's `fetch` parameter and the viewer) that retries what `retryable` says, and network
 * failures, with backoff; the last retryable answer is returned for the caller to judge. */
export function retryingFetch (s: HubSettings, service: Service, timeoutMs: number | null = s.requestTimeoutMs): typeof fetch {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input)
    for (let attempt = 0; ; attempt++) {
      const signals = [init?.signal, timeoutMs === null ? undefined : AbortSignal.timeout(timeoutMs)].filter((x): x is AbortSignal => !!x)
      let res: Response
      try {
        res = await fetch(input, { ...init, signal: signals.length ? AbortSignal.any(signals) : undefined })
      } catch (e) {
        if (init?.signal?.aborted) throw e
        if (attempt < s.retries) { await sleep(backoff(s, attempt, null)); continue }
        const err = e as Error & { cause?: Error }
        throw new HubUnavailableError(service, url, null, err.cause?.message ?? err.message)
      }
      if (attempt >= s.retries || !retryable(res)) return res
      await res.body?.cancel()
      await sleep(backoff(s, attempt, res.headers.get('retry-after')))
    }
  }
}

// ---- the viewer's API ----

export interface ViewerAnswer { ok: boolean, status: number, errorCode: string | null, body: any }

/** One viewer request. A 5xx that names an error of the dataset (X-Error-Code: FeaturesError, DatasetGenerationError...)
 * is the viewer's verdict on the dataset and comes back for a rejection; a rate limit or a 5xx without one (after the
 * retries) is the viewer failing. */
export async function viewerGet (s: HubSettings, f: typeof fetch, path: string, query: Record<string, string>): Promise<ViewerAnswer> {
  const url = `${s.datasetsServerUrl}${path}?${new URLSearchParams(query).toString()}`
  const res = await f(url, { headers: { accept: 'application/json', ...(s.hfToken ? { authorization: `Bearer ${s.hfToken}` } : {}) } })
  const errorCode = res.headers.get('x-error-code')
  const text = await res.text()
  let body: any = null
  try { body = JSON.parse(text) } catch { /* kept null: judged by status below */ }
  const verdict = errorCode !== null && errorCode !== 'UnexpectedApiError'
  if (res.status === 429 || (res.status >= 500 && !verdict)) {
    throw new HubUnavailableError('dataset viewer', url, res.status, `${res.status}${errorCode ? ` ${errorCode}` : ''}${body?.error ? `: ${body.error}` : ''}`)
  }
  if (res.ok && body === null) throw new HubUnavailableError('dataset viewer', url, res.status, 'the answer is not JSON')
  return { ok: res.ok, status: res.status, errorCode, body }
}

/** What the viewer said when it did not answer: its status, error code and message. */
const whyNot = (a: ViewerAnswer) => `${a.status}${a.errorCode ? ` ${a.errorCode}` : ''}${typeof a.body?.error === 'string' ? `: ${a.body.error}` : ''}`

// ---- feature types ----

/** A dataset viewer feature as one short string: Value(float64), ClassLabel, Image, Audio, Sequence(Value(string)),
 * Struct (a dict of features), Array2D(float32)... */
export function featureType (f: unknown): string {
  if (Array.isArray(f)) return `Sequence(${featureType(f[0])})`
  if (f === null || typeof f !== 'object') return 'Unknown'
  const o = f as Record<string, unknown>
  switch (o._type) {
    case 'Value': return `Value(${String(o.dtype)})`
    case 'Sequence': case 'List': case 'LargeList': return `Sequence(${featureType(o.feature)})`
    case 'Array2D': case 'Array3D': case 'Array4D': case 'Array5D': return `${o._type}(${String(o.dtype)})`
    case undefined: return 'Struct'
    default: return String(o._type)
  }
}

const INT = /^Value\(u?int(8|16|32|64)\)$/
const FLOAT = /^Value\((float(16|32|64)?|double|halffloat)\)$/
const STRING = /^Value\((large_)?string\)$/
export const isNumeric = (t: string) => INT.test(t) || FLOAT.test(t)
export const isString = (t: string) => STRING.test(t)
/** a column that fits in one CSV cell as it is: any Value but raw bytes, or a class label */
export const isScalar = (t: string) => t === 'ClassLabel' || (t.startsWith('Value(') && !/binary/.test(t))
const isLabel = (t: string) => t === 'ClassLabel' || INT.test(t) || STRING.test(t) || t === 'Value(bool)'
const isNumericSequence = (t: string) => /^Sequence\(Value\((u?int|float|double)/.test(t)

interface TypeRule {
  target: (t: string) => boolean
  targetWants: string
  /** an input column of this kind must be among the inputs */
  needs?: { is: (t: string) => boolean, what: string }
  input: (t: string) => boolean
  inputWants: string
}
const LABEL = 'a class label: ClassLabel, or Value(int*), Value(string) or Value(bool)'
const NUMBER = 'a number: Value(int*) or Value(float*)'
const SCALARS = 'plain values (Value(...) or ClassLabel)'
const TYPE_RULES: Record<TaskType, TypeRule> = {
  'tabular-classification': { target: isLabel, targetWants: LABEL, input: isScalar, inputWants: SCALARS },
  'tabular-regression': { target: isNumeric, targetWants: NUMBER, input: isScalar, inputWants: SCALARS },
  'text-classification': { target: isLabel, targetWants: LABEL, needs: { is: isString, what: 'a text column (Value(string))' }, input: isScalar, inputWants: SCALARS },
  'text-regression': { target: isNumeric, targetWants: NUMBER, needs: { is: isString, what: 'a text column (Value(string))' }, input: isScalar, inputWants: SCALARS },
  'image-classification': { target: isLabel, targetWants: LABEL, needs: { is: t => t === 'Image', what: 'an Image column' }, input: t => t === 'Image' || isScalar(t), inputWants: 'Image columns or plain values' },
  'audio-classification': { target: isLabel, targetWants: LABEL, needs: { is: t => t === 'Audio', what: 'an Audio column' }, input: t => t === 'Audio' || isScalar(t), inputWants: 'Audio columns or plain values' },
  'time-series-forecasting': {
    target: t => isNumeric(t) || isNumericSequence(t), targetWants: `${NUMBER}, or a Sequence of numbers`,
    input: t => isScalar(t) || isNumericSequence(t), inputWants: 'plain values or Sequences of numbers'
  }
}

/** Why the named columns' types do not fit the task type, or null when they do. */
export function typeMisfit (taskType: TaskType, inputs: Array<[string, string]>, target: [string, string]): string | null {
  const rule = TYPE_RULES[taskType]
  const list = (cols: Array<[string, string]>) => cols.map(([n, t]) => `"${n}" (${t})`).join(', ')
  if (!rule.target(target[1])) return `target_column "${target[0]}" is ${target[1]}, but a ${taskType} task needs ${rule.targetWants} as its target`
  if (rule.needs && !inputs.some(([, t]) => rule.needs!.is(t))) return `a ${taskType} task needs ${rule.needs.what} among its input_columns; they are ${list(inputs)}`
  const bad = inputs.filter(([, t]) => !rule.input(t))
  if (bad.length) return `input_columns ${list(bad)} do not fit a ${taskType} task, whose inputs are ${rule.inputWants}`
  return null
}

// ---- verification ----

export type VerifyResult = { ok: true, dataset: VerifiedDataset } | { ok: false, rejection: Rejection }

/** Stable codes of the verification's rejections, for the report's table of discard reasons. */
export const VERIFY_REJECTIONS = {
  DATASET_NOT_FOUND: 'the dataset is not on the Hub, or not visible without a token',
  DATASET_PRIVATE: 'the dataset is private',
  DATASET_GATED: 'the dataset needs an access request',
  DATASET_DISABLED: 'the Hub disabled the dataset',
  VIEWER_UNAVAILABLE: 'the dataset viewer cannot serve the dataset (no parquet conversion)',
  VIEWER_NOT_READY: 'the dataset viewer kept answering ResponseNotReady through all retries',
  CONFIG_NOT_FOUND: 'the proposed config does not exist',
  SPLIT_NOT_FOUND: 'a proposed split does not exist in the config',
  COLUMN_NOT_FOUND: 'a named column does not exist',
  TARGET_IN_INPUTS: 'the target column is also an input column',
  COLUMN_TYPE_MISMATCH: 'the columns\' types do not fit the task type',
  DATASET_TOO_LARGE: 'the proposed splits are over the size limit',
  NO_PARQUET_FILES: 'the Hub\'s parquet conversion lacks files for a proposed split'
} as const
export type VerifyRejectionCode = keyof typeof VERIFY_REJECTIONS

const reject = (code: VerifyRejectionCode, message: string): VerifyResult => ({ ok: false, rejection: { stage: 'verify', code, message } })

const statusOf = (e: unknown): number | null => e instanceof HubApiError ? e.statusCode : null

/** A failure of the Hub as a HubUnavailableError (an unexpected status of @huggingface/hub's calls). */
export function hubFailure (e: unknown, what: string): Error {
  if (e instanceof HubUnavailableError) return e
  if (e instanceof HubApiError) return new HubUnavailableError('Hub', e.url, e.statusCode, `${what}: ${e.message}`)
  return e as Error
}

const quoteList = (xs: string[], max = 30) => xs.slice(0, max).map(x => `"${x}"`).join(', ') + (xs.length > max ? `, ... (${xs.length} in all)` : '')

function licenseOf (cardData: { license?: string | string[] } | undefined, tags: string[] | undefined): string | null {
  const l = cardData?.license
  if (typeof l === 'string' && l) return l
  if (Array.isArray(l) && l.length) return l.join(', ')
  const tag = (tags ?? []).find(t => t.startsWith('license:'))
  return tag ? tag.slice('license:'.length) : null
}

function formatBytes (n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  return `${Math.round(n / 1024)} KiB`
}

/** Parquet files of a config's splits in a listing of `refs/convert/parquet`: `<config>/<split>/NNNN.parquet`, or
 * `<config>/partial-<split>/...` where the Hub converted only the first part of a big split. */
export function parquetFilesBySplit (config: string, paths: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const path of [...paths].sort()) {
    if (!path.startsWith(`${config}/`) || !path.endsWith('.parquet')) continue
    const parts = path.slice(config.length + 1).split('/')
    if (parts.length !== 2 || parts.some(x => x === '' || x === '.' || x === '..')) continue
    const split = parts[0].replace(/^partial-/, '')
    ;(out[split] ??= []).push(path)
  }
  return out
}

/** Verifies a proposal's dataset on the Hub and the dataset viewer, in order: it exists, is public, ungated and not
 * disabled; the viewer serves it; the config and splits exist; the columns exist and their types fit the task type;
 * the splits fit the size limit; the parquet conversion has their files. The first failed check is the rejection. */
export async function verifyDataset (p: Proposal, s: HubSettings): Promise<VerifyResult> {
  const hubFetch = retryingFetch(s, 'Hub')
  const viewerFetch = retryingFetch(s, 'dataset viewer')
  const creds = s.hfToken ? { accessToken: s.hfToken } : {}
  const common = { hubUrl: s.hubUrl, fetch: hubFetch, ...creds }

  let info
  try {
    info = await datasetInfo({ name: p.dataset, ...common, additionalFields: ['sha', 'cardData', 'disabled', 'tags'] })
  } catch (e) {
    const st = statusOf(e)
    if (st === 401 || st === 403 || st === 404) {
      return reject('DATASET_NOT_FOUND', `The dataset "${p.dataset}" does not exist on the Hugging Face Hub, or is not public. Propose a public dataset that exists, by its exact Hub id ("owner/name").`)
    }
    throw hubFailure(e, `dataset info of ${p.dataset}`)
  }
  const id = info.name
  if (info.private) return reject('DATASET_PRIVATE', `The dataset "${id}" is private. Propose a public dataset.`)
  if (info.gated) return reject('DATASET_GATED', `The dataset "${id}" is gated (${info.gated} approval of access requests), so its files cannot be downloaded without an accepted request. Propose an ungated public dataset.`)
  if (info.disabled) return reject('DATASET_DISABLED', `The dataset "${id}" is disabled on the Hub. Propose another dataset.`)
  if (!info.sha) throw new HubUnavailableError('Hub', `${s.hubUrl}/api/datasets/${id}`, 200, 'the dataset info has no sha')
  const license = licenseOf(info.cardData as { license?: string | string[] } | undefined, info.tags)

  const notReady = (what: string) => reject('VIEWER_NOT_READY', `The dataset viewer has not finished processing "${id}" (${what}: ResponseNotReady after ${s.retries} retries). Propose a dataset the viewer already serves.`)

  const valid = await viewerGet(s, viewerFetch, '/is-valid', { dataset: id })
  if (valid.errorCode === 'ResponseNotReady') return notReady('/is-valid')
  if (!valid.ok || valid.body?.viewer !== true) {
    const why = valid.ok ? `it has no parquet conversion${valid.body?.preview ? ', only a preview' : ''}` : whyNot(valid)
    return reject('VIEWER_UNAVAILABLE', `The dataset viewer cannot serve "${id}" (${why}). Propose a dataset whose files the viewer reads (parquet, CSV, JSON, images or audio in a supported layout).`)
  }

  const splitsAnswer = await viewerGet(s, viewerFetch, '/splits', { dataset: id })
  if (splitsAnswer.errorCode === 'ResponseNotReady') return notReady('/splits')
  if (!splitsAnswer.ok) return reject('VIEWER_UNAVAILABLE', `The dataset viewer cannot list the splits of "${id}" (${whyNot(splitsAnswer)}). Propose another dataset.`)
  const entries = (splitsAnswer.body?.splits ?? []) as Array<{ config: string, split: string }>
  const configs = [...new Set(entries.map(e => e.config))]
  if (!configs.includes(p.config)) {
    return reject('CONFIG_NOT_FOUND', `The dataset "${id}" has no config "${p.config}"; its configs are ${quoteList(configs)}. Set config to one of them.`)
  }
  const available = entries.filter(e => e.config === p.config).map(e => e.split)
  const missingSplits = p.splits.filter(x => !available.includes(x))
  if (missingSplits.length) {
    return reject('SPLIT_NOT_FOUND', `The config "${p.config}" of "${id}" has no split ${quoteList(missingSplits)}; its splits are ${quoteList(available)}. Set splits to some of them.`)
  }

  // features from /info; /first-rows of the first split where /info cannot answer
  let features: Record<string, unknown> | null = null
  let featuresError = ''
  let infoSplits: Record<string, { num_examples?: number }> = {}
  const infoAnswer = await viewerGet(s, viewerFetch, '/info', { dataset: id, config: p.config })
  if (infoAnswer.ok && infoAnswer.body?.dataset_info?.features) {
    features = infoAnswer.body.dataset_info.features
    infoSplits = infoAnswer.body.dataset_info.splits ?? {}
  } else {
    const first = await viewerGet(s, viewerFetch, '/first-rows', { dataset: id, config: p.config, split: p.splits[0] })
    if (first.errorCode === 'ResponseNotReady') return notReady('/info and /first-rows')
    if (first.ok && Array.isArray(first.body?.features)) {
      features = Object.fromEntries((first.body.features as Array<{ name: string, type: unknown }>).map(f => [f.name, f.type]))
    } else featuresError = ` (/info: ${whyNot(infoAnswer)}; /first-rows: ${whyNot(first)})`
  }
  if (!features) return reject('VIEWER_UNAVAILABLE', `The dataset viewer cannot tell the columns of "${id}" (config "${p.config}")${featuresError}. Propose another dataset.`)

  const columns = Object.fromEntries(Object.entries(features).map(([k, f]) => [k, featureType(f)]))
  const described = Object.entries(columns).map(([k, t]) => `"${k}" (${t})`)
  const named = [...p.input_columns, p.target_column]
  const missingColumns = named.filter(c => !(c in columns))
  if (missingColumns.length) {
    return reject('COLUMN_NOT_FOUND', `The config "${p.config}" of "${id}" has no column ${quoteList(missingColumns)}; its columns are ${described.slice(0, 60).join(', ')}${described.length > 60 ? `, ... (${described.length} in all)` : ''}. Name input_columns and target_column from these.`)
  }
  if (p.input_columns.includes(p.target_column)) {
    return reject('TARGET_IN_INPUTS', `target_column "${p.target_column}" is also in input_columns; the target must not be an input. Remove it from input_columns.`)
  }
  const misfit = typeMisfit(p.task_type, p.input_columns.map(c => [c, columns[c]]), [p.target_column, columns[p.target_column]])
  if (misfit) return reject('COLUMN_TYPE_MISMATCH', `In "${id}" (config "${p.config}"): ${misfit}. Pick columns whose types fit, or another task_type or dataset. Its columns: ${described.slice(0, 60).join(', ')}.`)
  const targetFeature = features[p.target_column] as { _type?: string, names?: unknown }
  const targetNames = targetFeature?._type === 'ClassLabel' && Array.isArray(targetFeature.names) ? targetFeature.names.map(String) : undefined

  // the size of what would be downloaded: the proposed splits' parquet files
  const tooLarge = (bytes: number) => reject('DATASET_TOO_LARGE', `The splits ${quoteList(p.splits)} of "${id}" (config "${p.config}") are ${formatBytes(bytes)} as parquet, over the limit of ${formatBytes(s.maxDatasetBytes)}. Propose a smaller dataset, config or set of splits.`)
  const sizeAnswer = await viewerGet(s, viewerFetch, '/size', { dataset: id, config: p.config })
  if (sizeAnswer.errorCode === 'ResponseNotReady') return notReady('/size')
  const sizeSplits = ((sizeAnswer.ok ? sizeAnswer.body?.size?.splits : null) ?? []) as Array<{ config: string, split: string, num_rows?: number, num_bytes_parquet_files?: number }>
  const ours = sizeSplits.filter(x => x.config === p.config && p.splits.includes(x.split))
  const viewerBytes = ours.length === p.splits.length && ours.every(x => typeof x.num_bytes_parquet_files === 'number')
    ? ours.reduce((a, x) => a + (x.num_bytes_parquet_files ?? 0), 0)
    : null
  if (viewerBytes !== null && viewerBytes > s.maxDatasetBytes) return tooLarge(viewerBytes)

  // the parquet conversion, pinned to its commit
  let parquetRevision: string
  try {
    const pq = await datasetInfo({ name: id, revision: 'refs/convert/parquet', ...common, additionalFields: ['sha'] })
    if (!pq.sha) throw new HubUnavailableError('Hub', `${s.hubUrl}/api/datasets/${id}/revision/refs%2Fconvert%2Fparquet`, 200, 'the revision info has no sha')
    parquetRevision = pq.sha
  } catch (e) {
    if (statusOf(e) === 404) return reject('NO_PARQUET_FILES', `The Hub has no parquet conversion of "${id}" (no refs/convert/parquet). Propose another dataset.`)
    throw hubFailure(e, `the parquet conversion of ${id}`)
  }
  const sizes = new Map<string, number>()
  try {
    for await (const f of listFiles({ repo: { type: 'dataset', name: id }, revision: parquetRevision, path: p.config, recursive: true, ...common })) {
      if (f.type === 'file') sizes.set(f.path, f.lfs?.size ?? f.size)
    }
  } catch (e) {
    if (statusOf(e) !== 404) throw hubFailure(e, `the parquet files of ${id}`)
  }
  const bySplit = parquetFilesBySplit(p.config, [...sizes.keys()])
  const withoutFiles = p.splits.filter(x => !bySplit[x]?.length)
  if (withoutFiles.length) {
    return reject('NO_PARQUET_FILES', `The Hub's parquet conversion of "${id}" has no files for split ${quoteList(withoutFiles)} of config "${p.config}". Propose other splits or another dataset.`)
  }
  const parquetFiles = Object.fromEntries(p.splits.map(x => [x, bySplit[x]]))
  const listedBytes = Object.values(parquetFiles).flat().reduce((a, f) => a + (sizes.get(f) ?? 0), 0)
  if (listedBytes > s.maxDatasetBytes) return tooLarge(listedBytes)

  const rowsOf = (split: string): number | null => {
    const fromSize = ours.find(x => x.split === split)?.num_rows
    if (typeof fromSize === 'number') return fromSize
    const fromInfo = infoSplits[split]?.num_examples
    return typeof fromInfo === 'number' ? fromInfo : null
  }
  const dataset: VerifiedDataset = {
    dataset: id,
    config: p.config,
    revision: info.sha,
    parquet_revision: parquetRevision,
    license,
    splits: p.splits.map(name => ({ name, num_rows: rowsOf(name) })),
    columns,
    ...(targetNames ? { target_names: targetNames } : {}),
    size_bytes: listedBytes,
    parquet_files: parquetFiles
  }
  return { ok: true, dataset: validateVerifiedDataset(dataset, 'verified') }
}
