// A loopback stand-in for the Hugging Face Hub and its dataset viewer, the only other remote service the tests fake.
// It speaks the HTTP API as @huggingface/hub calls it (dataset info at a revision, the tree listing, `resolve` with a
// redirect to a CDN that honours ranges, ETag, X-Repo-Commit, X-Linked-Size) and the viewer's JSON API (/is-valid,
// /splits, /info, /first-rows, /size, /parquet), and serves small real datasets (test/fixtures/hub/README.md) as the
// parquet files of a `refs/convert/parquet` branch, written with hyparquet-writer. Each test sets what goes wrong:
// gated, private, disabled, missing, oversize, no viewer, 429s and ResponseNotReady answers.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { crc32, deflateSync } from 'node:zlib'

// tap's TypeScript loader (a ts-node fork) cannot resolve hyparquet-writer's own imports of "hyparquet/src/*.js" (an
// exports pattern with a suffix); Node's require can (require of an ES module: Node >= 20.19)
const { parquetWriteBuffer } = createRequire(import.meta.url)('hyparquet-writer') as typeof import('hyparquet-writer')

const HERE = dirname(fileURLToPath(import.meta.url))
const FIXTURES = join(HERE, '..', 'fixtures', 'hub')
const BUILTIN = join(HERE, '..', '..', 'tasks', 'builtin')

/** A feature as the viewer writes it: {_type: 'Value', dtype: 'float64'}, {_type: 'ClassLabel', names}, {_type: 'Image'}. */
export type Feature = Record<string, unknown>
/** One row; an Image or Audio cell is {bytes, path} as the Hub's parquet stores it. */
export type Row = Record<string, unknown>

export interface FakeConfig { name: string, features: Record<string, Feature>, splits: Record<string, Row[]> }

export interface FakeDataset {
  id: string
  /** old ids the Hub redirects to this one (a renamed or moved dataset) */
  aliases?: string[]
  license?: string | null
  private?: boolean
  gated?: false | 'auto' | 'manual'
  disabled?: boolean
  /** what /is-valid says of the full viewer (default true) */
  viewer?: boolean
  /** whether the Hub converted it to parquet (default true) */
  parquet?: boolean
  /** bytes /size reports per split instead of the real size of its files (an oversize dataset without the bytes) */
  reportedSplitBytes?: number
  /** rows per parquet file (default 1000) and per row group (default 100) */
  rowsPerFile?: number
  rowGroupSize?: number
  configs: FakeConfig[]
}

/** Answer the next `times` requests whose path matches with `status` (and X-Error-Code `errorCode`). */
export interface Fault {
  server?: 'hub' | 'viewer'
  /** a path prefix ("/splits", "/api/datasets/") or a regular expression tested against path + query */
  match: string | RegExp
  status: number
  errorCode?: string
  retryAfter?: string
  times: number
}

/** A model repository: its files by path (config.json, model.safetensors, vocab.txt...). */
export interface FakeModel { id: string, files: Record<string, Buffer> }

export interface FakeHubOptions {
  /** default: fixtureDatasets() */
  datasets?: FakeDataset[]
  models?: FakeModel[]
  /** tokens that see private datasets */
  tokens?: string[]
  faults?: Fault[]
}

export interface FakeRequest { server: 'hub' | 'viewer', method: string, path: string, query: string, range: string | null, authorization: string | null, status: number }

interface ParquetFile { path: string, bytes: Buffer, etag: string, rows: number }
interface BuiltSplit { rows: Row[], files: ParquetFile[] }
interface BuiltDataset { spec: FakeDataset, sha: string, parquetSha: string, configs: Map<string, { spec: FakeConfig, splits: Map<string, BuiltSplit> }> }

export interface FakeHub {
  /** for hubUrl (@huggingface/hub) */
  hubUrl: string
  /** for datasetsServerUrl */
  datasetsServerUrl: string
  requests: FakeRequest[]
  /** requests whose path (with query) matches */
  count: (match: string | RegExp, server?: 'hub' | 'viewer') => number
  fault: (f: Fault) => void
  /** the built dataset: its commits and the parquet files served (path, bytes, rows) */
  dataset: (id: string) => BuiltDataset | undefined
  close: () => Promise<void>
}

const sha1 = (s: string | Buffer) => createHash('sha1').update(s).digest('hex')
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

// ---- parquet as the Hub's converter writes it ----

function schemaElement (name: string, f: Feature): Array<Record<string, unknown>> {
  if (f._type === 'Image' || f._type === 'Audio') {
    return [
      { name, repetition_type: 'OPTIONAL', num_children: 2 },
      { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
      { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }
    ]
  }
  if (f._type === 'ClassLabel') return [{ name, type: 'INT64', repetition_type: 'OPTIONAL' }]
  if (f._type !== 'Value') throw new Error(`fake hub: no parquet for feature ${JSON.stringify(f)}`)
  const physical: Record<string, Record<string, unknown>> = {
    float64: { type: 'DOUBLE' }, float32: { type: 'FLOAT' }, int64: { type: 'INT64' }, int32: { type: 'INT32' },
    bool: { type: 'BOOLEAN' }, string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' }
  }
  const p = physical[String(f.dtype)]
  if (!p) throw new Error(`fake hub: no parquet for dtype ${String(f.dtype)}`)
  return [{ name, ...p, repetition_type: 'OPTIONAL' }]
}

function cell (f: Feature, v: unknown): unknown {
  if (v === null || v === undefined) return null
  if (f._type === 'ClassLabel' || (f._type === 'Value' && f.dtype === 'int64')) return BigInt(v as number)
  return v
}

export function toParquet (features: Record<string, Feature>, rows: Row[], rowGroupSize = 100): Buffer {
  const names = Object.keys(features)
  const schema = [{ name: 'schema', num_children: names.length }, ...names.flatMap(n => schemaElement(n, features[n]))]
  const buf = parquetWriteBuffer({
    columnData: names.map(n => ({ name: n, data: rows.map(r => cell(features[n], r[n])) })),
    schema: schema as any,
    rowGroupSize,
    kvMetadata: [{ key: 'huggingface', value: JSON.stringify({ info: { features } }) }]
  })
  return Buffer.from(buf)
}

function build (spec: FakeDataset): BuiltDataset {
  const perFile = spec.rowsPerFile ?? 1000
  const configs = new Map<string, { spec: FakeConfig, splits: Map<string, BuiltSplit> }>()
  const hash = createHash('sha1').update(spec.id)
  for (const c of spec.configs) {
    const splits = new Map<string, BuiltSplit>()
    for (const [split, rows] of Object.entries(c.splits)) {
      const files: ParquetFile[] = []
      for (let i = 0; i * perFile < Math.max(rows.length, 1); i++) {
        const part = rows.slice(i * perFile, (i + 1) * perFile)
        const bytes = toParquet(c.features, part, spec.rowGroupSize)
        hash.update(bytes)
        files.push({ path: `${c.name}/${split}/${String(i).padStart(4, '0')}.parquet`, bytes, etag: sha256(bytes), rows: part.length })
      }
      splits.set(split, { rows, files })
    }
    configs.set(c.name, { spec: c, splits })
  }
  return { spec, sha: sha1(`${spec.id}@main`), parquetSha: hash.digest('hex'), configs }
}

// ---- the fixtures: real data (test/fixtures/hub/README.md) ----

/** A small CSV reader for the fixture files (RFC 4180 quoting, as Python's csv writes it). */
export function parseCsv (text: string): string[][] {
  const out: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++ } else if (ch === '"') quoted = false
      else field += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') { row.push(field); field = '' } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++
      row.push(field); out.push(row); row = []; field = ''
    } else field += ch
  }
  if (field !== '' || row.length) { row.push(field); out.push(row) }
  return out
}

function readTable (file: string): Array<Record<string, string>> {
  const [header, ...rows] = parseCsv(readFileSync(file, 'utf8'))
  return rows.map(r => Object.fromEntries(header.map((h, i) => [h, r[i]])))
}

/** An 8-bit grayscale PNG. */
/** An 8-bit PNG: grayscale (channels 1) or RGB (channels 3, pixels interleaved). */
export function png (width: number, height: number, pixels: Uint8Array, channels: 1 | 3 = 1): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length)
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data])
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td) >>> 0)
    return Buffer.concat([len, td, crc])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8; ihdr[9] = channels === 3 ? 2 : 0; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0
  const row = width * channels + 1
  const raw = Buffer.alloc(row * height)
  for (let y = 0; y < height; y++) {
    raw[y * row] = 0
    for (let x = 0; x < width * channels; x++) raw[y * row + 1 + x] = pixels[y * width * channels + x]
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

const float = { _type: 'Value', dtype: 'float64' }
const int = { _type: 'Value', dtype: 'int64' }
const labels = (names: string[]) => ({ _type: 'ClassLabel', names })

let fixtures: FakeDataset[] | null = null

/** The datasets the fake serves by default: fixtures/iris, fixtures/wine, fixtures/country-names, fixtures/digits
 * (8x8 PNG images), fixtures/diabetes. Built once per process. */
export function fixtureDatasets (): FakeDataset[] {
  if (fixtures) return fixtures
  const iris = readTable(join(FIXTURES, 'iris.csv'))
  const irisNames = ['setosa', 'versicolor', 'virginica']
  const wine = readTable(join(FIXTURES, 'wine.csv'))
  const wineNames = ['class_0', 'class_1', 'class_2']
  const countries = readTable(join(FIXTURES, 'country_names.csv'))
  const languages = ['de', 'es', 'fr', 'it', 'nl']

  const digitsDir = join(BUILTIN, 'digitsClassification')
  const digitAnswers = new Map(readTable(join(digitsDir, 'secret', 'answers.csv')).map(r => [r.id, r.label]))
  const digit = (r: Record<string, string>, label: string): Row => {
    const px = new Uint8Array(64)
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) px[y * 8 + x] = Math.round(Number(r[`pixel_${y}_${x}`]) * 255 / 16)
    return { image: { bytes: png(8, 8, px), path: `${r.id}.png` }, label: Number(label) }
  }
  const digitsTrain = readTable(join(digitsDir, 'data', 'train.csv')).map(r => digit(r, r.label))
  const digitsTest = readTable(join(digitsDir, 'data', 'test.csv')).map(r => digit(r, digitAnswers.get(r.id)!))

  const diabetesDir = join(BUILTIN, 'diabetesRegression')
  const diabetesAnswers = new Map(readTable(join(diabetesDir, 'secret', 'answers.csv')).map(r => [r.id, r.progression]))
  const diabetesColumns = ['age', 'sex', 'bmi', 'bp', 's1', 's2', 's3', 's4', 's5', 's6']
  const patient = (r: Record<string, string>): Row => ({
    ...Object.fromEntries(diabetesColumns.map(c => [c, Number(r[c])])),
    progression: Number(r.progression ?? diabetesAnswers.get(r.id))
  })

  fixtures = [
    {
      id: 'fixtures/iris', license: 'cc-by-4.0',
      configs: [{
        name: 'default',
        features: { sepal_length: float, sepal_width: float, petal_length: float, petal_width: float, species: labels(irisNames) },
        splits: { train: iris.map(r => ({ sepal_length: Number(r.sepal_length), sepal_width: Number(r.sepal_width), petal_length: Number(r.petal_length), petal_width: Number(r.petal_width), species: irisNames.indexOf(r.species) })) }
      }]
    },
    {
      id: 'fixtures/wine', license: 'cc-by-4.0',
      configs: [{
        name: 'default',
        features: { ...Object.fromEntries(Object.keys(wine[0]).filter(k => k !== 'cultivar').map(k => [k, float])), cultivar: labels(wineNames) },
        splits: { train: wine.map(r => ({ ...Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'cultivar').map(([k, v]) => [k, Number(v)])), cultivar: wineNames.indexOf(r.cultivar) })) }
      }]
    },
    {
      id: 'fixtures/country-names', license: 'lgpl-2.1',
      configs: [{
        name: 'default',
        features: { text: { _type: 'Value', dtype: 'string' }, language: labels(languages) },
        splits: {
          train: countries.filter((_, i) => i % 5 !== 0).map(r => ({ text: r.text, language: languages.indexOf(r.language) })),
          test: countries.filter((_, i) => i % 5 === 0).map(r => ({ text: r.text, language: languages.indexOf(r.language) }))
        }
      }]
    },
    {
      id: 'fixtures/digits', license: 'cc-by-4.0', rowsPerFile: 500,
      configs: [{
        name: 'default',
        features: { image: { _type: 'Image' }, label: labels(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) },
        splits: { train: digitsTrain, test: digitsTest }
      }]
    },
    {
      id: 'fixtures/diabetes', license: null,
      configs: [{
        name: 'default',
        features: { ...Object.fromEntries(diabetesColumns.map(c => [c, c === 'sex' ? int : float])), progression: int },
        splits: {
          train: [...readTable(join(diabetesDir, 'data', 'train.csv')), ...readTable(join(diabetesDir, 'data', 'test.csv'))].map(patient)
        }
      }]
    }
  ]
  return fixtures
}

/** A fixture with some fields changed (gated, private, another id...). */
export function fixture (id: string, over: Partial<FakeDataset> = {}): FakeDataset {
  const d = fixtureDatasets().find(x => x.id === id)
  if (!d) throw new Error(`fake hub: no fixture ${id}`)
  return { ...d, ...over }
}

// ---- the servers ----

/** A file's bytes as the Hub and its CDN serve them: whole, or the byte range asked for (206, Content-Range). */
function serveBytes (req: IncomingMessage, res: ServerResponse, bytes: Buffer, extra: Record<string, string>): void {
  const headers = { ...extra, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' }
  const range = typeof req.headers.range === 'string' ? req.headers.range.match(/^bytes=(\d+)-(\d*)$/) : null
  if (range) {
    const start = Number(range[1])
    const end = Math.min(range[2] === '' ? bytes.length - 1 : Number(range[2]), bytes.length - 1)
    if (start > end) { res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }); return void res.end() }
    res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${bytes.length}`, 'content-length': String(end - start + 1) })
    return void res.end(req.method === 'HEAD' ? undefined : bytes.subarray(start, end + 1))
  }
  res.writeHead(200, { ...headers, 'content-length': String(bytes.length) })
  res.end(req.method === 'HEAD' ? undefined : bytes)
}

const builtCache = new WeakMap<FakeDataset, BuiltDataset>()

export async function startFakeHub (opts: FakeHubOptions = {}): Promise<FakeHub> {
  const datasets = new Map<string, BuiltDataset>()
  const renamed = new Map<string, string>()
  for (const d of opts.datasets ?? fixtureDatasets()) {
    let b = builtCache.get(d)
    if (!b) { b = build(d); builtCache.set(d, b) }
    datasets.set(d.id.toLowerCase(), b)
    for (const a of d.aliases ?? []) renamed.set(a.toLowerCase(), d.id)
  }
  const models = new Map((opts.models ?? []).map(mo => [mo.id.toLowerCase(), { spec: mo, sha: sha1(JSON.stringify(Object.keys(mo.files)) + mo.id) }]))
  const tokens = new Set(opts.tokens ?? [])
  const faults = [...(opts.faults ?? [])].map(f => ({ ...f }))
  const requests: FakeRequest[] = []
  const cdn = new Map<string, { file: ParquetFile, commit: string }>()
  for (const d of datasets.values()) for (const c of d.configs.values()) for (const s of c.splits.values()) for (const f of s.files) cdn.set(f.etag, { file: f, commit: d.parquetSha })
  let hubUrl = ''
  let viewerUrl = ''

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers })
    res.end(text)
  }
  const authorized = (req: IncomingMessage) => {
    const a = req.headers.authorization
    return typeof a === 'string' && a.startsWith('Bearer ') && tokens.has(a.slice(7))
  }
  /** the dataset as this request may see it: private ones only with a token */
  const visible = (req: IncomingMessage, id: string): BuiltDataset | undefined => {
    const d = datasets.get(id.toLowerCase())
    if (!d || (d.spec.private && !authorized(req))) return undefined
    return d
  }

  function handler (server: 'hub' | 'viewer', route: (req: IncomingMessage, res: ServerResponse, url: URL) => void) {
    return (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://x')
      const entry: FakeRequest = {
        server, method: req.method ?? 'GET', path: url.pathname, query: url.search, range: (req.headers.range as string | undefined) ?? null,
        authorization: (req.headers.authorization as string | undefined) ?? null, status: 0
      }
      requests.push(entry)
      res.on('finish', () => { entry.status = res.statusCode })
      const target = url.pathname + url.search
      const f = faults.find(x => x.times > 0 && (x.server === undefined || x.server === server) &&
        (typeof x.match === 'string' ? url.pathname.startsWith(x.match) : x.match.test(target)))
      if (f) {
        f.times--
        const message = f.errorCode === 'ResponseNotReady'
          ? 'The server is busier than usual and the response is not ready yet. Please retry later.'
          : f.status === 429 ? 'You have been rate-limited; you can retry this action in a moment.' : `scripted ${f.status}`
        return send(res, f.status, { error: message }, { ...(f.errorCode ? { 'x-error-code': f.errorCode } : {}), ...(f.retryAfter ? { 'retry-after': f.retryAfter } : {}) })
      }
      try { route(req, res, url) } catch (e) { send(res, 500, { error: String(e) }) }
    }
  }

  // -- the Hub --
  const repoNotFound = (res: ServerResponse, status = 404) => send(res, status, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' })
  const revisionOf = (d: BuiltDataset, rev: string): string | null => {
    if (rev === 'main' || rev === 'HEAD' || rev === d.sha) return d.sha
    if ((rev === 'refs/convert/parquet' || rev === d.parquetSha) && d.spec.parquet !== false) return d.parquetSha
    return null
  }
  const parquetFiles = (d: BuiltDataset) => [...d.configs.values()].flatMap(c => [...c.splits.values()].flatMap(s => s.files))

  function hub (req: IncomingMessage, res: ServerResponse, url: URL): void {
    let m: RegExpMatchArray | null
    // a renamed dataset: the Hub redirects its API and file URLs to the new id
    if ((m = url.pathname.match(/^\/(api\/datasets|datasets)\/(.+?)\/(revision|tree|resolve)\/(.*)$/)) && renamed.has(decodeURIComponent(m[2]).toLowerCase())) {
      res.writeHead(307, { location: `/${m[1]}/${renamed.get(decodeURIComponent(m[2]).toLowerCase())}/${m[3]}/${m[4]}${url.search}`, 'content-length': '0' })
      return void res.end()
    }
    if ((m = url.pathname.match(/^\/api\/datasets\/(.+?)\/revision\/([^/]+)$/))) {
      const d = visible(req, decodeURIComponent(m[1]))
      if (!d) return repoNotFound(res, authorized(req) ? 404 : 401)
      const sha = revisionOf(d, decodeURIComponent(m[2]))
      if (!sha) return send(res, 404, { error: `Invalid rev id: ${decodeURIComponent(m[2])}` }, { 'x-error-code': 'RevisionNotFound' })
      const license = d.spec.license ?? null
      const all: Record<string, unknown> = {
        author: d.spec.id.split('/')[0], sha, private: !!d.spec.private, gated: d.spec.gated ?? false, disabled: !!d.spec.disabled,
        downloads: 0, likes: 0, lastModified: '2024-01-01T00:00:00.000Z', createdAt: '2024-01-01T00:00:00.000Z',
        tags: license ? [`license:${license}`] : [], cardData: license ? { license } : {}
      }
      const expand = url.searchParams.getAll('expand')
      const fields = expand.length ? Object.fromEntries(expand.filter(k => k in all).map(k => [k, all[k]])) : all
      return send(res, 200, { _id: sha1(d.spec.id).slice(0, 24), id: d.spec.id, ...fields })
    }
    if ((m = url.pathname.match(/^\/api\/datasets\/(.+?)\/tree\/(refs%2Fconvert%2Fparquet|refs\/convert\/parquet|[^/]+)(\/.*)?$/))) {
      const d = visible(req, decodeURIComponent(m[1]))
      if (!d) return repoNotFound(res, authorized(req) ? 404 : 401)
      const sha = revisionOf(d, decodeURIComponent(m[2]))
      if (!sha) return send(res, 404, { error: 'Invalid rev id' }, { 'x-error-code': 'RevisionNotFound' })
      const prefix = (m[3] ?? '').replace(/^\/+|\/+$/g, '')
      const recursive = url.searchParams.get('recursive') === 'true'
      const files = sha === d.parquetSha
        ? parquetFiles(d).map(f => ({ path: f.path, size: f.bytes.length, oid: sha1(f.bytes), lfs: { oid: f.etag, size: f.bytes.length, pointerSize: 134 } }))
        : [{ path: 'README.md', size: 20, oid: sha1('README') }]
      const under = files.filter(f => prefix === '' || f.path.startsWith(prefix + '/'))
      if (prefix !== '' && under.length === 0) return send(res, 404, { error: `Entry not found: ${prefix}` }, { 'x-error-code': 'EntryNotFound' })
      const entries: unknown[] = []
      const dirs = new Set<string>()
      for (const f of under) {
        const rest = f.path.slice(prefix ? prefix.length + 1 : 0).split('/')
        for (let i = 1; i < rest.length; i++) {
          const dir = [prefix, ...rest.slice(0, i)].filter(Boolean).join('/')
          if ((recursive || i === 1) && !dirs.has(dir)) { dirs.add(dir); entries.push({ type: 'directory', oid: sha1(dir), size: 0, path: dir }) }
        }
        if (recursive || rest.length === 1) entries.push({ type: 'file', ...f })
      }
      return send(res, 200, entries)
    }
    if ((m = url.pathname.match(/^\/datasets\/(.+?)\/resolve\/([^/]+)\/(.+)$/))) {
      const d = visible(req, decodeURIComponent(m[1]))
      if (!d) return repoNotFound(res, authorized(req) ? 404 : 401)
      const sha = revisionOf(d, decodeURIComponent(m[2]))
      if (!sha) return send(res, 404, { error: 'Invalid rev id' }, { 'x-error-code': 'RevisionNotFound' })
      const file = sha === d.parquetSha ? parquetFiles(d).find(f => f.path === decodeURIComponent(m![3])) : undefined
      if (!file) return send(res, 404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' })
      // as the Hub answers for an LFS file: a redirect to the CDN, the file's identity on the redirect
      res.writeHead(302, {
        location: `/cdn/${file.etag}`, 'x-repo-commit': sha, 'x-linked-etag': `"${file.etag}"`, 'x-linked-size': String(file.bytes.length),
        etag: `"${file.etag}"`, 'content-length': '0'
      })
      return void res.end()
    }
    if ((m = url.pathname.match(/^\/cdn\/([0-9a-f]{64})$/))) {
      const hit = cdn.get(m[1])
      if (!hit) return send(res, 404, { error: 'no such object' })
      return serveBytes(req, res, hit.file.bytes, { etag: `"${hit.file.etag}"`, 'x-repo-commit': hit.commit })
    }
    // -- model repositories: info, tree, and resolve (small files answer directly, as the Hub does for non-LFS files)
    if ((m = url.pathname.match(/^\/api\/models\/(.+?)\/(revision|tree)\/([^/]+)$/))) {
      const mo = models.get(decodeURIComponent(m[1]).toLowerCase())
      if (!mo) return repoNotFound(res, authorized(req) ? 404 : 401)
      const rev = decodeURIComponent(m[3])
      if (rev !== 'main' && rev !== 'HEAD' && rev !== mo.sha) return send(res, 404, { error: `Invalid rev id: ${rev}` }, { 'x-error-code': 'RevisionNotFound' })
      const files = Object.entries(mo.spec.files).map(([path, b]) => ({ type: 'file', path, size: b.length, oid: sha1(b) }))
      if (m[2] === 'tree') return send(res, 200, files)
      return send(res, 200, { _id: sha1(mo.spec.id).slice(0, 24), id: mo.spec.id, modelId: mo.spec.id, sha: mo.sha, private: false, gated: false, disabled: false, downloads: 0, likes: 0, tags: [], siblings: files.map(f => ({ rfilename: f.path })) })
    }
    if ((m = url.pathname.match(/^\/(.+?)\/resolve\/([^/]+)\/(.+)$/)) && models.has(decodeURIComponent(m[1]).toLowerCase())) {
      const mo = models.get(decodeURIComponent(m[1]).toLowerCase())!
      const rev = decodeURIComponent(m[2])
      if (rev !== 'main' && rev !== mo.sha) return send(res, 404, { error: 'Invalid rev id' }, { 'x-error-code': 'RevisionNotFound' })
      const bytes = mo.spec.files[decodeURIComponent(m[3])]
      if (!bytes) return send(res, 404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' })
      return serveBytes(req, res, bytes, { etag: `"${sha1(bytes)}"`, 'x-repo-commit': mo.sha })
    }
    send(res, 404, { error: `Sorry, we can't find the page you are looking for: ${url.pathname}` })
  }

  // -- the dataset viewer --
  const viewerNotFound = (res: ServerResponse, what = 'The dataset does not exist, or is not accessible without authentication (private or gated). Please check the spelling of the dataset name or retry with authentication.') =>
    send(res, 404, { error: what }, { 'x-error-code': 'ResponseNotFound' })
  const splitBytes = (d: BuiltDataset, s: BuiltSplit) => d.spec.reportedSplitBytes ?? s.files.reduce((a, f) => a + f.bytes.length, 0)
  const cellJson = (f: Feature, v: unknown) => (f._type === 'Image' && v) ? { src: `${viewerUrl}/assets/fake/image.png`, height: 8, width: 8 } : v

  function viewer (req: IncomingMessage, res: ServerResponse, url: URL): void {
    const q = url.searchParams
    const id = q.get('dataset')
    if (!id) return send(res, 422, { error: "Parameter 'dataset' is required" }, { 'x-error-code': 'MissingRequiredParameter' })
    const d = visible(req, id)
    if (!d || (d.spec.gated && !authorized(req))) return viewerNotFound(res)
    const name = d.spec.id
    const full = d.spec.viewer !== false
    const configName = q.get('config')
    const config = configName === null ? null : d.configs.get(configName)
    if (configName !== null && !config) return viewerNotFound(res, `The config '${configName}' does not exist for dataset '${name}'.`)
    const allConfigs = config ? [config] : [...d.configs.values()]
    switch (url.pathname) {
      case '/is-valid':
        return send(res, 200, { preview: true, viewer: full, search: full, filter: full, statistics: full })
      case '/splits':
        if (!full && d.spec.parquet === false) return viewerNotFound(res, 'The dataset viewer could not convert the dataset.')
        return send(res, 200, { splits: allConfigs.flatMap(c => [...c.splits.keys()].map(split => ({ dataset: name, config: c.spec.name, split }))), pending: [], failed: [] })
      case '/info': {
        const info = (c: typeof allConfigs[number]) => ({
          description: '', citation: '', homepage: '', license: d.spec.license ?? '', features: c.spec.features, builder_name: 'parquet',
          dataset_name: name.split('/').pop(), config_name: c.spec.name, version: { version_str: '0.0.0', major: 0, minor: 0, patch: 0 },
          splits: Object.fromEntries([...c.splits].map(([s, b]) => [s, { name: s, num_bytes: splitBytes(d, b), num_examples: b.rows.length, dataset_name: name.split('/').pop() }])),
          download_size: [...c.splits.values()].reduce((a, b) => a + splitBytes(d, b), 0),
          dataset_size: [...c.splits.values()].reduce((a, b) => a + splitBytes(d, b), 0)
        })
        return send(res, 200, { dataset_info: config ? info(config) : Object.fromEntries(allConfigs.map(c => [c.spec.name, info(c)])), partial: false })
      }
      case '/first-rows': {
        const splitName = q.get('split')
        if (!config || !splitName) return send(res, 422, { error: "Parameters 'config' and 'split' are required" }, { 'x-error-code': 'MissingRequiredParameter' })
        const split = config.splits.get(splitName)
        if (!split) return viewerNotFound(res, `The split '${splitName}' does not exist for the config '${configName}' of the dataset.`)
        const features = Object.entries(config.spec.features)
        return send(res, 200, {
          dataset: name, config: config.spec.name, split: splitName,
          features: features.map(([n, type], i) => ({ feature_idx: i, name: n, type })),
          rows: split.rows.slice(0, 100).map((r, i) => ({ row_idx: i, row: Object.fromEntries(features.map(([n, f]) => [n, cellJson(f, r[n])])), truncated_cells: [] })),
          truncated: split.rows.length > 100
        })
      }
      case '/size': {
        const splits = allConfigs.flatMap(c => [...c.splits].map(([s, b]) => ({
          dataset: name, config: c.spec.name, split: s, num_bytes_parquet_files: splitBytes(d, b), num_bytes_memory: splitBytes(d, b) * 4,
          num_rows: b.rows.length, num_columns: Object.keys(c.spec.features).length, estimated_num_rows: null
        })))
        const sum = (xs: typeof splits, k: 'num_bytes_parquet_files' | 'num_bytes_memory' | 'num_rows') => xs.reduce((a, x) => a + x[k], 0)
        const configs = allConfigs.map(c => {
          const own = splits.filter(x => x.config === c.spec.name)
          return {
            dataset: name, config: c.spec.name, num_bytes_original_files: sum(own, 'num_bytes_parquet_files'), num_bytes_parquet_files: sum(own, 'num_bytes_parquet_files'),
            num_bytes_memory: sum(own, 'num_bytes_memory'), num_rows: sum(own, 'num_rows'), num_columns: Object.keys(c.spec.features).length, estimated_num_rows: null
          }
        })
        const size = config
          ? { config: configs[0], splits }
          : { dataset: { dataset: name, num_bytes_original_files: sum(splits, 'num_bytes_parquet_files'), num_bytes_parquet_files: sum(splits, 'num_bytes_parquet_files'), num_bytes_memory: sum(splits, 'num_bytes_memory'), num_rows: sum(splits, 'num_rows'), estimated_num_rows: null }, configs, splits }
        return send(res, 200, { size, pending: [], failed: [], partial: false })
      }
      case '/parquet':
        if (d.spec.parquet === false) return viewerNotFound(res, 'The parquet conversion of the dataset does not exist.')
        return send(res, 200, {
          parquet_files: allConfigs.flatMap(c => [...c.splits].flatMap(([s, b]) => b.files.map(f => ({
            dataset: name, config: c.spec.name, split: s,
            url: `${hubUrl}/datasets/${name}/resolve/refs%2Fconvert%2Fparquet/${f.path}`, filename: f.path.split('/').pop(), size: f.bytes.length
          })))),
          pending: [], failed: [], partial: false
        })
      default:
        return send(res, 404, { error: 'Not Found' }, { 'x-error-code': 'RouteNotFound' })
    }
  }

  const listen = async (s: Server) => { await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve)); return `http://127.0.0.1:${(s.address() as AddressInfo).port}` }
  const hubServer = createServer(handler('hub', hub))
  const viewerServer = createServer(handler('viewer', viewer))
  hubUrl = await listen(hubServer)
  viewerUrl = await listen(viewerServer)
  const close = (s: Server) => new Promise<void>(resolve => { s.closeAllConnections(); s.close(() => resolve()) })

  return {
    hubUrl,
    datasetsServerUrl: viewerUrl,
    requests,
    count: (match, server) => requests.filter(r => (server === undefined || r.server === server) &&
      (typeof match === 'string' ? r.path.startsWith(match) : match.test(r.path + r.query))).length,
    fault: f => { faults.push({ ...f }) },
    dataset: id => datasets.get(id.toLowerCase()),
    close: async () => { await Promise.all([close(hubServer), close(viewerServer)]) }
  }
}

// ---- MLGym's Hub datasets, small, in their real schemas ----

/** A deterministic generator, so every run serves the same bytes. */
function lcg (seed: number): () => number {
  let x = seed >>> 0
  return () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x / 2 ** 32 }
}

/** An image of class k: its own mean colour per channel plus noise, so a small CNN learns something. */
function classImage (k: number, size: number, channels: 1 | 3, rand: () => number): Buffer {
  const px = new Uint8Array(size * size * channels)
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < channels; c++) {
      const mean = 40 + ((k * (c + 3) * 37) % 180)
      const stripe = (Math.floor(i / size) + k) % 4 === 0 ? 30 : 0
      px[i * channels + c] = Math.max(0, Math.min(255, Math.round(mean + stripe + (rand() - 0.5) * 60)))
    }
  }
  return png(size, size, px, channels)
}

const CIFAR_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
const FMNIST_NAMES = ['T - shirt / top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
const NLI_NAMES = ['entailment', 'neutral', 'contradiction']

function nliRows (n: number, seed: number): Array<{ premise: string, hypothesis: string, label: number }> {
  const rand = lcg(seed)
  const subjects = ['the cat', 'a man', 'the children', 'my neighbour', 'the team', 'a woman']
  const verbs = ['is running', 'is sleeping', 'is eating', 'is singing', 'is reading', 'is working']
  return Array.from({ length: n }, (_, i) => {
    const s = subjects[Math.floor(rand() * subjects.length)]!
    const v = verbs[Math.floor(rand() * verbs.length)]!
    const label = i % 3
    const other = verbs[(verbs.indexOf(v) + 1) % verbs.length]!
    const hypothesis = label === 0 ? `${s} ${v}.` : label === 1 ? `${s} ${v} outside today.` : `${s} is not ${v.replace(/^is /, '')}; ${s} ${other}.`
    return { premise: `${s[0]!.toUpperCase()}${s.slice(1)} ${v} in the park.`, hypothesis, label }
  })
}

/**
 * MLGym's Hub datasets, small: uoft-cs/cifar10 (plain_text: img, label), zalando-datasets/fashion_mnist
 * (fashion_mnist: image, label), nyu-mll/multi_nli (also served as multi_nli, the name MLGym's evaluate.py uses;
 * premise, hypothesis, label) and SetFit/mnli (text1, text2, label, idx, label_text; MLGym's baseline).
 */
export function mlgymDatasets (rows: { train: number, test: number } = { train: 300, test: 100 }): FakeDataset[] {
  const images = (names: string[], size: number, channels: 1 | 3, n: number, seed: number, column: string) => {
    const rand = lcg(seed)
    return Array.from({ length: n }, (_, i) => ({ [column]: { bytes: classImage(i % names.length, size, channels, rand), path: null }, label: i % names.length }))
  }
  const str = { _type: 'Value', dtype: 'string' }
  const setfit = (n: number, seed: number) => nliRows(n, seed).map((r, i) => ({ text1: r.premise, text2: r.hypothesis, label: r.label, idx: i, label_text: NLI_NAMES[r.label]! }))
  return [
    {
      id: 'uoft-cs/cifar10', license: 'unknown', rowsPerFile: 1000,
      configs: [{ name: 'plain_text', features: { img: { _type: 'Image' }, label: labels(CIFAR_NAMES) }, splits: { train: images(CIFAR_NAMES, 32, 3, rows.train, 1, 'img'), test: images(CIFAR_NAMES, 32, 3, rows.test, 2, 'img') } }]
    },
    {
      id: 'zalando-datasets/fashion_mnist', license: 'mit', rowsPerFile: 1000,
      configs: [{ name: 'fashion_mnist', features: { image: { _type: 'Image' }, label: labels(FMNIST_NAMES) }, splits: { train: images(FMNIST_NAMES, 28, 1, rows.train, 3, 'image'), test: images(FMNIST_NAMES, 28, 1, rows.test, 4, 'image') } }]
    },
    {
      id: 'nyu-mll/multi_nli', aliases: ['multi_nli'], license: 'cc-by-3.0',
      configs: [{ name: 'default', features: { premise: str, hypothesis: str, label: labels(NLI_NAMES) }, splits: { train: nliRows(rows.train, 5), validation_matched: nliRows(rows.test, 6), validation_mismatched: nliRows(rows.test, 7) } }]
    },
    {
      id: 'SetFit/mnli', license: null,
      configs: [{ name: 'default', features: { text1: str, text2: str, label: int, idx: int, label_text: str }, splits: { train: setfit(rows.train, 8), validation: setfit(rows.test, 6), test: setfit(rows.test, 9) } }]
    }
  ]
}
