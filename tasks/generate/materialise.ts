// Stage 5 of generation: the data of a task, written by trusted code on the host (sandboxes keep network none). The
// verified splits' parquet files are downloaded with @huggingface/hub at the pinned revision of the Hub's parquet
// conversion and cached by dataset and revision; rows are subsampled and split into train/validation/test with a
// seeded RNG; the task gets CSV files (media columns as files, their cells the files' paths), the test targets go to
// a secret file only, and a micro variant (a few hundred training rows) is written beside it.
import { copyFileSync, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve, sep } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { setTimeout as sleep } from 'node:timers/promises'
import { downloadFile, fileDownloadInfo, HubApiError } from '@huggingface/hub'
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet'
import {
  validateMaterialisedData, type MaterialisedData, type MaterialisedFile, type MaterialisedVariant, type Proposal, type Rejection,
  type VerifiedDataset
} from '../../env-spec/generation.js'
import type { DatasetConfig } from '../../env-spec/task.js'
import { ValidationError } from '../../env-spec/validate.js'
import { HubUnavailableError } from '../errors.js'
import { HUB_DEFAULTS, backoff, hubFailure, hubSettings, retryingFetch, type HubSettings } from './hub.js'

export interface MaterialiseSettings extends HubSettings {
  /** where downloaded parquet files are kept: <cacheDir>/datasets/<owner>--<name>/<parquet revision>/<path> */
  cacheDir: string
  seed: number
  rowLimit: number
  minRows: number
  validationFraction: number
  testFraction: number
  microTrainRows: number
  microEvalRows: number
  downloadTimeoutMs: number
}

type Own = 'cacheDir' | 'seed' | 'rowLimit' | 'minRows' | 'validationFraction' | 'testFraction' | 'microTrainRows' | 'microEvalRows' | 'downloadTimeoutMs'

export function materialiseSettings (over: Partial<MaterialiseSettings> & { cacheDir: string }, env: NodeJS.ProcessEnv = process.env): MaterialiseSettings {
  const s: MaterialiseSettings = {
    ...hubSettings(over, env),
    cacheDir: over.cacheDir,
    seed: over.seed ?? 0,
    rowLimit: over.rowLimit ?? HUB_DEFAULTS.rowLimit,
    minRows: over.minRows ?? HUB_DEFAULTS.minRows,
    validationFraction: over.validationFraction ?? HUB_DEFAULTS.validationFraction,
    testFraction: over.testFraction ?? HUB_DEFAULTS.testFraction,
    microTrainRows: over.microTrainRows ?? HUB_DEFAULTS.microTrainRows,
    microEvalRows: over.microEvalRows ?? HUB_DEFAULTS.microEvalRows,
    downloadTimeoutMs: over.downloadTimeoutMs ?? HUB_DEFAULTS.downloadTimeoutMs
  }
  const ints: Own[] = ['seed', 'rowLimit', 'minRows', 'microTrainRows', 'microEvalRows', 'downloadTimeoutMs']
  for (const f of ints) if (!Number.isInteger(s[f]) || (s[f] as number) < 0) throw new ValidationError(`${f} must be an integer >= 0, not ${s[f]}`, f)
  for (const f of ['validationFraction', 'testFraction'] as const) {
    if (!(s[f] > 0 && s[f] < 0.5)) throw new ValidationError(`${f} must be between 0 and 0.5, not ${s[f]}`, f)
  }
  if (s.minRows < 3) throw new ValidationError('minRows must be at least 3 (one row per split)', 'minRows')
  return s
}

export type MaterialiseResult = { ok: true, data: MaterialisedData } | { ok: false, rejection: Rejection }

const reject = (code: string, message: string): MaterialiseResult => ({ ok: false, rejection: { stage: 'materialise', code, message } })

// ---- seeded randomness ----

/** A 32-bit hash of a string (FNV-1a), to derive one RNG stream per purpose from the seed. */
function hash32 (s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}

/** mulberry32: small, fast, and the same numbers on every platform. */
export function seededRandom (seed: number, purpose: string): () => number {
  let a = hash32(`${seed}:${purpose}`)
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `k` of `items` drawn without replacement, in random order (a partial Fisher-Yates shuffle). */
export function sample<T> (items: T[], k: number, rng: () => number): T[] {
  const a = [...items]
  const n = Math.min(k, a.length)
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rng() * (a.length - i))
    const t = a[i]; a[i] = a[j]; a[j] = t
  }
  return a.slice(0, n)
}

// ---- the cache ----

const repoOf = (v: VerifiedDataset) => ({ type: 'dataset' as const, name: v.dataset })

/** Where a parquet file of `v` lives in the cache. Paths come from the Hub's listing: one that would leave the cache
 * is refused. */
export function cachePath (cacheDir: string, v: VerifiedDataset, path: string): string {
  const root = resolve(cacheDir, 'datasets', v.dataset.replace(/\//g, '--'), v.parquet_revision)
  const local = resolve(root, path)
  if (!local.startsWith(root + sep) || /(^|\/)\.\.?(\/|$)/.test(path)) throw new Error(`refusing parquet path ${JSON.stringify(path)} of ${v.dataset}: it leaves the cache`)
  return local
}

const inFlight = new Map<string, Promise<void>>()

async function downloadOnce (v: VerifiedDataset, path: string, local: string, s: MaterialiseSettings): Promise<void> {
  const f = retryingFetch(s, 'Hub', s.downloadTimeoutMs)
  const common = { repo: repoOf(v), path, revision: v.parquet_revision, hubUrl: s.hubUrl, fetch: f, ...(s.hfToken ? { accessToken: s.hfToken } : {}) }
  const where = `${s.hubUrl}/datasets/${v.dataset}/resolve/${v.parquet_revision}/${path}`
  mkdirSync(dirname(local), { recursive: true })
  for (let attempt = 0; ; attempt++) {
    const tmp = `${local}.${process.pid}.${attempt}.incomplete`
    try {
      const info = await fileDownloadInfo(common)
      if (!info) throw new HubUnavailableError('Hub', where, 404, 'the file is not in the parquet conversion at this revision any more')
      // xet off: the plain resolve → CDN path (what the loopback fake speaks, and any Hub mirror)
      const blob = await downloadFile({ ...common, downloadInfo: info, xet: false })
      if (!blob) throw new HubUnavailableError('Hub', where, 404, 'the file vanished while downloading')
      await pipeline(Readable.fromWeb(blob.stream() as unknown as WebReadableStream), createWriteStream(tmp))
      const got = statSync(tmp).size
      if (got !== info.size) throw new HubUnavailableError('Hub', where, null, `downloaded ${got} bytes of ${info.size}`)
      renameSync(tmp, local)
      return
    } catch (e) {
      if (existsSync(tmp)) unlinkSync(tmp)
      // a refusal (401, 403, 404) will not change; a broken stream or a short file may
      const refused = e instanceof HubApiError && e.statusCode >= 400 && e.statusCode < 500 && e.statusCode !== 429
      if (refused || attempt >= s.retries) {
        if (e instanceof HubUnavailableError || e instanceof HubApiError) throw hubFailure(e, `downloading ${path} of ${v.dataset}`)
        throw new HubUnavailableError('Hub', where, null, `downloading ${path} of ${v.dataset}: ${e instanceof Error ? e.message : String(e)}`)
      }
      await sleep(backoff(s, attempt, null))
    }
  }
}

/** The local paths of `paths` (files of `v`'s parquet conversion), downloading the ones the cache lacks. */
export async function cachedParquetFiles (v: VerifiedDataset, paths: string[], s: MaterialiseSettings): Promise<string[]> {
  const out: string[] = []
  for (const path of paths) {
    const local = cachePath(s.cacheDir, v, path)
    if (!existsSync(local)) {
      let p = inFlight.get(local)
      if (!p) {
        p = downloadOnce(v, path, local, s).finally(() => inFlight.delete(local))
        inFlight.set(local, p)
      }
      await p
    }
    out.push(local)
  }
  return out
}

// ---- values ----

const MEDIA = new Set(['Image', 'Audio'])

/** One value as a CSV cell: numbers as JavaScript prints them (they read back exactly), null and NaN empty, nested
 * values as JSON. */
export function csvValue (v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') return Number.isNaN(v) ? '' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : String(v)
  if (typeof v === 'boolean') return v ? 'True' : 'False'
  if (typeof v === 'string') return v
  if (v instanceof Date) return v.toISOString()
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
  return JSON.stringify(v, (_k, x) => typeof x === 'bigint' ? Number(x) : x instanceof Uint8Array ? Buffer.from(x).toString('base64') : x)
}

/** RFC 4180: a field with a comma, quote, line break or edge whitespace is quoted, its quotes doubled. */
export function csvField (s: string): string {
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

const csvLine = (cells: string[]) => cells.map(csvField).join(',') + '\n'

function mediaExtension (bytes: Uint8Array, path: unknown): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 16))
  const ascii = (from: number, to: number) => b.subarray(from, to).toString('latin1')
  if (b[0] === 0x89 && ascii(1, 4) === 'PNG') return '.png'
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return '.jpg'
  if (ascii(0, 4) === 'GIF8') return '.gif'
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return '.webp'
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return '.wav'
  if (ascii(0, 2) === 'BM') return '.bmp'
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return '.tif'
  if (ascii(0, 4) === 'fLaC') return '.flac'
  if (ascii(0, 4) === 'OggS') return '.ogg'
  if (ascii(0, 3) === 'ID3' || (b[0] === 0xff && (b[1] & 0xe0) === 0xe0)) return '.mp3'
  const ext = typeof path === 'string' ? path.match(/\.[A-Za-z0-9]{1,5}$/)?.[0] : undefined
  return ext ? ext.toLowerCase() : '.bin'
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_') || '_'

// ---- reading ----

interface Source { local: string, file: AsyncBuffer, metadata: FileMetaData, start: number, rows: number, groups: Array<{ start: number, rows: number }> }

async function openSources (locals: string[]): Promise<Source[]> {
  const out: Source[] = []
  let start = 0
  for (const local of locals) {
    const file = await asyncBufferFromFile(local)
    const metadata = await parquetMetadataAsync(file)
    let g = 0
    const groups = metadata.row_groups.map(rg => { const x = { start: g, rows: Number(rg.num_rows) }; g += x.rows; return x })
    out.push({ local, file, metadata, start, rows: Number(metadata.num_rows), groups })
    start += Number(metadata.num_rows)
  }
  return out
}

const toPlain = (v: unknown): unknown => typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v

// ---- writing ----

type Split = 'train' | 'validation' | 'test'
interface OutRow { id: number, split: Split, cells: Record<string, string>, target: string, media: Array<{ column: string, rel: string }> }

function writeCsv (dir: string, rel: string, header: string[], rows: string[][]): MaterialisedFile {
  const file = join(dir, rel)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, csvLine(header) + rows.map(csvLine).join(''))
  return { path: rel, rows: rows.length, columns: header }
}

interface DocsInput {
  p: Proposal, v: VerifiedDataset, idColumn: string, counts: Record<Split, number>, sourceRows: number, rowLimit: number, seed: number,
  mediaColumns: string[], targetValues: string[] | null
  /** a file of each media column, for the docs' example */
  mediaExample: Record<string, string>
}

/** The dataset's description for `{dataset_docs}`: where it comes from, its columns, its files. */
function describe (d: DocsInput): string {
  const { p, v } = d
  const t = p.target_column
  const lines: string[] = []
  lines.push(`The Hugging Face dataset \`${v.dataset}\` (config \`${v.config}\`, split${p.splits.length > 1 ? 's' : ''} ${p.splits.map(x => `\`${x}\``).join(', ')}; revision ${v.revision.slice(0, 12)}${v.license ? `; license ${v.license}` : ''}). ` +
    `Of its ${d.sourceRows} rows, ${d.counts.train + d.counts.validation + d.counts.test} were ${d.sourceRows > d.rowLimit ? 'sampled at random and ' : ''}split at random (seed ${d.seed}) into training, validation and test rows.`)
  lines.push('Columns:')
  lines.push(`- \`${d.idColumn}\` (integer): the row's id; a submission names the test rows by it.`)
  for (const c of p.input_columns) {
    const type = v.columns[c]
    lines.push(d.mediaColumns.includes(c)
      ? `- \`${c}\` (${type}): the path of the ${type === 'Image' ? 'image' : 'audio'} file, relative to the workspace (e.g. \`${d.mediaExample[c]}\`).`
      : `- \`${c}\` (${type})`)
  }
  let target = `- \`${t}\` (${v.columns[t]}): the target`
  if (v.target_names?.length) target += `, a class index: ${v.target_names.slice(0, 100).map((n, i) => `${i} = ${n}`).join(', ')}${v.target_names.length > 100 ? ', ...' : ''}`
  else if (d.targetValues) target += `, one of ${d.targetValues.map(x => `\`${x}\``).join(', ')}`
  lines.push(target + '.')
  lines.push('Files (in the read-only `data` folder):')
  lines.push(`- \`data/train.csv\`: ${d.counts.train} rows with \`${t}\`.`)
  lines.push(`- \`data/validation.csv\`: ${d.counts.validation} rows with \`${t}\`.`)
  lines.push(`- \`data/test.csv\`: ${d.counts.test} rows to predict, without \`${t}\`.`)
  return lines.join('\n')
}

/** Empties what a variant's data is written into: a rerun (a resumed pipeline) starts from nothing. */
function clearVariant (dir: string): void {
  rmSync(join(dir, 'data'), { recursive: true, force: true })
  rmSync(join(dir, 'secret', 'answers.csv'), { force: true })
  mkdirSync(join(dir, 'data'), { recursive: true })
}

/** The CSV files of a variant; its media files are in place already, or copied from `mediaFrom` (the full task). */
function writeVariant (dir: string, rows: OutRow[], header: { inputs: string[], id: string, target: string }, docs: DocsInput, mediaFrom: string | null): MaterialisedVariant {
  let media = 0
  for (const r of rows) {
    for (const m of r.media) {
      if (mediaFrom) {
        mkdirSync(dirname(join(dir, m.rel)), { recursive: true })
        copyFileSync(join(mediaFrom, m.rel), join(dir, m.rel))
      }
      media++
    }
  }
  const of = (split: Split) => rows.filter(r => r.split === split)
  const withTarget = [header.id, ...header.inputs, header.target]
  const cells = (r: OutRow, target: boolean) => [String(r.id), ...header.inputs.map(c => r.cells[c]), ...(target ? [r.target] : [])]
  const train = writeCsv(dir, 'data/train.csv', withTarget, of('train').map(r => cells(r, true)))
  const validation = writeCsv(dir, 'data/validation.csv', withTarget, of('validation').map(r => cells(r, true)))
  const test = writeCsv(dir, 'data/test.csv', [header.id, ...header.inputs], of('test').map(r => cells(r, false)))
  const answers = writeCsv(dir, 'secret/answers.csv', [header.id, header.target], of('test').map(r => [String(r.id), r.target]))
  const counts = { train: train.rows, validation: validation.rows, test: test.rows }
  const description = describe({ ...docs, counts })
  const dataset: DatasetConfig = { name: docs.v.dataset, description, data_path: 'data', is_local: true }
  return {
    dir, train, validation, test, answers, media_files: media, data_path: 'data', secret_files: ['secret/answers.csv'], dataset,
    // as MLGym renders {dataset_docs} from a task's datasets (tasks/registry.ts)
    dataset_docs: `${dataset.name.toUpperCase()}:\n${dataset.description}\n\n`
  }
}

/** Writes the data of a verified proposal into `dirs.dir` (the task) and `dirs.microDir` (its micro variant):
 * data/train.csv, data/validation.csv (id, inputs, target), data/test.csv (id, inputs), secret/answers.csv (id, target),
 * and media columns' files under data/<column>/<split>/<id>.<ext>. */
export async function materialise (p: Proposal, v: VerifiedDataset, dirs: { dir: string, microDir: string }, s: MaterialiseSettings): Promise<MaterialiseResult> {
  if (resolve(dirs.dir) === resolve(dirs.microDir)) throw new ValidationError('the micro variant needs its own directory', 'microDir')
  const target = p.target_column
  const inputs = p.input_columns
  for (const c of [...inputs, target]) if (!(c in v.columns)) throw new ValidationError(`column ${c} is not in the verified dataset ${v.dataset}; verify the proposal again`, 'proposal')
  const paths = p.splits.flatMap(split => {
    const files = v.parquet_files[split]
    if (!files?.length) throw new ValidationError(`split ${split} has no parquet files in the verified dataset ${v.dataset}`, 'proposal.splits')
    return files
  })
  const locals = await cachedParquetFiles(v, paths, s)

  let sources: Source[]
  try { sources = await openSources(locals) } catch (e) {
    return reject('PARQUET_UNREADABLE', `The parquet files of "${v.dataset}" cannot be read (${(e as Error).message}). Propose another dataset.`)
  }
  const sourceRows = sources.reduce((a, x) => a + x.rows, 0)

  // pass 1: the target column, to leave out rows without a target (ClassLabel's -1 is "no label", as in GLUE's test splits)
  const classLabel = v.columns[target] === 'ClassLabel'
  const candidates: number[] = []
  try {
    for (const src of sources) {
      // column chunks as they are decoded, not a row object per row: a big split's target column stays small
      const has = new Uint8Array(src.rows)
      await parquetRead({
        file: src.file, metadata: src.metadata, columns: [target], utf8: false,
        onChunk: ({ columnData, rowStart }) => {
          for (let i = 0; i < columnData.length; i++) {
            const x = columnData[i] as unknown
            if (x === null || x === undefined || (typeof x === 'number' && Number.isNaN(x)) || (classLabel && Number(x) < 0)) continue
            has[rowStart + i] = 1
          }
        }
      })
      for (let i = 0; i < src.rows; i++) if (has[i]) candidates.push(src.start + i)
    }
  } catch (e) {
    return reject('PARQUET_UNREADABLE', `The parquet files of "${v.dataset}" cannot be read (${(e as Error).message}). Propose another dataset.`)
  }
  if (candidates.length < s.minRows) {
    return reject('TOO_FEW_ROWS', `The splits ${p.splits.map(x => `"${x}"`).join(', ')} of "${v.dataset}" have ${candidates.length} rows with a "${target}", fewer than the ${s.minRows} a task needs. Propose a larger dataset or more splits.`)
  }

  // the sample, in random order: its position is the row's id; the first rows train, then validation, then test
  const chosen = sample(candidates, s.rowLimit, seededRandom(s.seed, `${v.dataset}/${v.config}/sample`))
  const nTest = Math.max(1, Math.round(chosen.length * s.testFraction))
  const nValidation = Math.max(1, Math.round(chosen.length * s.validationFraction))
  const splitOf = (pos: number): Split => pos < chosen.length - nTest - nValidation ? 'train' : pos < chosen.length - nTest ? 'validation' : 'test'
  const position = new Map(chosen.map((g, i) => [g, i]))

  const mediaColumns = inputs.filter(c => MEDIA.has(v.columns[c]))
  const mediaDir = new Map<string, string>()
  for (const c of mediaColumns) {
    let name = safeName(c)
    while ([...mediaDir.values()].includes(name) || name === 'secret') name = `_${name}`
    mediaDir.set(c, name)
  }
  const taken = new Set([...inputs, target])
  const idColumn = ['id', 'row_id', '_id', '__id'].find(x => !taken.has(x)) ?? '__row_id'

  // pass 2: the chosen rows' inputs and target, row group by row group; media files go straight to the task's data
  clearVariant(dirs.dir)
  clearVariant(dirs.microDir)
  const out: Array<OutRow | undefined> = new Array(chosen.length)
  let dropped = sourceRows - candidates.length
  const wanted = [...new Set([...inputs, target])]
  const ascending = [...chosen].sort((a, b) => a - b)
  let next = 0
  try {
    for (const src of sources) {
      for (const g of src.groups) {
        const lo = src.start + g.start
        const hi = lo + g.rows
        const here: number[] = []
        while (next < ascending.length && ascending[next] < hi) here.push(ascending[next++])
        if (!here.length) continue
        const rows = await parquetReadObjects({ file: src.file, metadata: src.metadata, columns: wanted, rowStart: g.start, rowEnd: g.start + g.rows, utf8: false })
        for (const gi of here) {
          const row = rows[gi - lo] as Record<string, unknown>
          const pos = position.get(gi)!
          const split = splitOf(pos)
          const cells: Record<string, string> = {}
          const media: Array<{ column: string, rel: string, bytes: Uint8Array }> = []
          for (const c of inputs) {
            if (mediaDir.has(c)) {
              const m = row[c] as { bytes?: Uint8Array | null, path?: unknown } | null
              if (!m?.bytes || !(m.bytes instanceof Uint8Array) || m.bytes.byteLength === 0) break
              const rel = `data/${mediaDir.get(c)}/${split}/${pos}${mediaExtension(m.bytes, m.path)}`
              media.push({ column: c, rel, bytes: m.bytes })
              cells[c] = rel
            } else cells[c] = csvValue(toPlain(row[c]))
          }
          if (media.length < mediaDir.size) { dropped++; continue }
          for (const m of media) {
            mkdirSync(dirname(join(dirs.dir, m.rel)), { recursive: true })
            writeFileSync(join(dirs.dir, m.rel), m.bytes)
          }
          out[pos] = { id: pos, split, cells, target: csvValue(toPlain(row[target])), media: media.map(({ column, rel }) => ({ column, rel })) }
        }
      }
    }
  } catch (e) {
    return reject('PARQUET_UNREADABLE', `The parquet files of "${v.dataset}" cannot be read (${(e as Error).message}). Propose another dataset.`)
  }
  const rows = out.filter((r): r is OutRow => r !== undefined)
  const bySplit = (x: Split) => rows.filter(r => r.split === x)
  if (bySplit('train').length === 0 || bySplit('validation').length === 0 || bySplit('test').length === 0) {
    return reject('TOO_FEW_ROWS', `Too few rows of "${v.dataset}" have their ${mediaColumns.join(', ')} files to fill a training, validation and test split. Propose another dataset.`)
  }
  const distinct = [...new Set(rows.map(r => r.target))]
  const targetValues = !v.target_names && v.columns[target] !== 'ClassLabel' && !/int|float|double/.test(v.columns[target]) && distinct.length <= 50
    ? distinct.sort()
    : null

  const header = { inputs, id: idColumn, target }
  const mediaExample = Object.fromEntries(mediaColumns.map(c => [c, rows[0].media.find(m => m.column === c)!.rel]))
  const docs: DocsInput = { p, v, idColumn, counts: { train: 0, validation: 0, test: 0 }, sourceRows, rowLimit: s.rowLimit, seed: s.seed, mediaColumns, targetValues, mediaExample }
  const full = writeVariant(dirs.dir, rows, header, docs, null)
  const micro = [
    ...bySplit('train').slice(0, s.microTrainRows),
    ...bySplit('validation').slice(0, s.microEvalRows),
    ...bySplit('test').slice(0, s.microEvalRows)
  ]
  const microVariant = writeVariant(dirs.microDir, micro, header, docs, dirs.dir)

  const data: MaterialisedData = {
    dataset: v.dataset,
    config: v.config,
    revision: v.revision,
    parquet_revision: v.parquet_revision,
    seed: s.seed,
    id_column: idColumn,
    input_columns: inputs,
    target_column: target,
    columns: { [idColumn]: 'Value(int64)', ...Object.fromEntries(inputs.map(c => [c, v.columns[c]])), [target]: v.columns[target] },
    media_columns: mediaColumns,
    ...(v.target_names ? { target_names: v.target_names } : {}),
    source_rows: sourceRows,
    dropped_rows: dropped,
    full,
    micro: microVariant
  }
  return { ok: true, data: validateMaterialisedData(data, 'materialised') }
}
