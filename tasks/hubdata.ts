// Hub data a task's code loads at run time, fetched ahead by trusted code into a Hugging Face cache that sandboxes
// mount read-only and read offline (HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1): sandboxes never reach the network.
// - datasets: each `load_dataset("x")` of the task's files (and each non-local dataset config) is fetched as the Hub's
//   parquet conversion (the dataset viewer's /splits and /info, files through @huggingface/hub, as generation does)
//   and turned by the runtime's own `datasets` into the prepared Arrow cache that `load_dataset` reads offline:
//   <hf>/datasets/<owner>___<name>/<config>/0.0.0/<sha>/<name>-<split>.arrow (tasks/hf_prepare.py);
// - models: each `from_pretrained("x")` that names a Hub model goes into the hub cache's snapshot layout
//   (<hf>/hub/models--<owner>--<name>/snapshots/<sha>/, refs/main), which transformers reads offline.
import { spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { datasetInfo, downloadFile, listFiles, modelInfo, HubApiError } from '@huggingface/hub'
import type { Mount } from '../sandbox/types.js'
import { hubFailure, parquetFilesBySplit, retryingFetch, viewerGet, type HubSettings } from './generate/hub.js'
import { cachedParquetFiles, materialiseSettings } from './generate/materialise.js'
import { hostPath, type Task } from './registry.js'
import { packageRoot } from '../sandbox/paths.js'

/** Where the cache is mounted inside sandboxes. */
export const HF_MOUNT = '/synthgym/hf'

/** The host's cache: SYNTHGYM_HF_CACHE, else <data dir>/hf. */
export function hfCacheDir (dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.SYNTHGYM_HF_CACHE || join(dataDir, 'hf')
}

export interface HubLoads {
  /** dataset names as the task's code passes them to load_dataset */
  datasets: string[]
  /** from_pretrained names that may be Hub models (a local directory the code writes is found out at fetch time) */
  models: string[]
}

function pyFiles (p: string): string[] {
  if (!existsSync(p)) return []
  const st = statSync(p)
  if (st.isFile()) return p.endsWith('.py') ? [p] : []
  return readdirSync(p).flatMap(n => pyFiles(join(p, n)))
}

const LOAD_DATASET = /load_dataset\(\s*["']([^"']+)["']/g
const FROM_PRETRAINED = /from_pretrained\(\s*["']([^"']+)["']/g
/** Names `load_dataset` takes for a packaged builder or a local file, not a Hub dataset. */
const PACKAGED = new Set(['csv', 'json', 'parquet', 'text', 'imagefolder', 'audiofolder', 'arrow', 'pandas', 'webdataset'])

/** The Hub names a task's files load: literal first arguments of load_dataset and from_pretrained. */
export function hubLoads (task: Task): HubLoads {
  const datasets = new Set<string>()
  const models = new Set<string>()
  for (const s of task.spec.starter_code ?? []) {
    for (const f of pyFiles(hostPath(task, s))) {
      const text = readFileSync(f, 'utf8')
      for (const m of text.matchAll(LOAD_DATASET)) if (!PACKAGED.has(m[1]!) && !m[1]!.startsWith('.') && !m[1]!.startsWith('/')) datasets.add(m[1]!)
      for (const m of text.matchAll(FROM_PRETRAINED)) if (!m[1]!.startsWith('.') && !m[1]!.startsWith('/')) models.add(m[1]!)
    }
  }
  for (const d of task.spec.datasets ?? []) if (!d.is_local && /^[\w.-]+\/[\w.-]+$/.test(d.data_path)) datasets.add(d.data_path)
  return { datasets: [...datasets].sort(), models: [...models].sort() }
}

/** What the cache holds of one name: written last, so its presence means the entry is complete. */
interface Entry { kind: 'dataset' | 'model' | 'not-on-hub', name: string, id?: string, sha?: string, splits?: Record<string, number>, files?: string[] }

const safe = (name: string) => name.replace(/\//g, '--')
const entryFile = (hf: string, kind: 'dataset' | 'model', name: string) => join(hf, 'synthgym', `${kind}s`, `${safe(name)}.json`)

function readEntry (hf: string, kind: 'dataset' | 'model', name: string): Entry | null {
  const f = entryFile(hf, kind, name)
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) as Entry : null
}
function writeEntry (hf: string, kind: 'dataset' | 'model', e: Entry): void {
  const f = entryFile(hf, kind, e.name)
  mkdirSync(join(hf, 'synthgym', `${kind}s`), { recursive: true })
  writeFileSync(`${f}.tmp`, JSON.stringify(e, null, 2))
  renameSync(`${f}.tmp`, f)
}

/** The Hub loads of a task that the cache does not hold yet. */
export function missingHubData (task: Task, hf: string): HubLoads {
  const l = hubLoads(task)
  return { datasets: l.datasets.filter(d => !readEntry(hf, 'dataset', d)), models: l.models.filter(m => !readEntry(hf, 'model', m)) }
}

/**
 * Sourced by every bash of the sandbox (BASH_ENV): `datasets` writes lock files and the caches of `.map()` beside
 * the Arrow files it loads, which the read-only mount forbids; so its cache is a writable tree of links to them in
 * the home (the agent's, or an evaluation's own).
 */
const SETUP = `# written by synthgym (tasks/hubdata.ts)
export HF_DATASETS_CACHE="$HOME/.cache/huggingface/datasets"
# (not for root: the backend's own setup commands must not leave the agent a tree it cannot write)
if [ "$(id -u)" != 0 ] && [ ! -e "$HF_DATASETS_CACHE/.synthgym-links" ] && [ -d ${HF_MOUNT}/datasets ]; then
  mkdir -p "$HF_DATASETS_CACHE" && cp -rs ${HF_MOUNT}/datasets/. "$HF_DATASETS_CACHE/" 2>/dev/null
  # the copied dirs keep the mount's modes (read-only on docker): the agent's own tree must be writable
  find "$HF_DATASETS_CACHE" -type d -exec chmod u+w {} + 2>/dev/null; : > "$HF_DATASETS_CACHE/.synthgym-links"
fi
`

/** The cache read-only in the sandbox, and the variables that keep datasets, transformers and huggingface_hub offline. */
export function hubDataSandbox (hf: string): { mounts: Mount[], env: Record<string, string> } {
  mkdirSync(join(hf, 'synthgym'), { recursive: true })
  const setup = join(hf, 'synthgym', 'sandbox-env.sh')
  if (!existsSync(setup) || readFileSync(setup, 'utf8') !== SETUP) writeFileSync(setup, SETUP)
  return {
    mounts: [{ hostPath: hf, path: HF_MOUNT, readOnly: true }],
    env: {
      HF_HOME: HF_MOUNT, HF_HUB_OFFLINE: '1', HF_DATASETS_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', HF_HUB_DISABLE_TELEMETRY: '1',
      // offline, datasets warns on every load that it uses the cache ("Using the latest cached version..."): lines an
      // online run never prints, which would break MLGym's reading of an evaluation's whole output as JSON
      DATASETS_VERBOSITY: 'error',
      BASH_ENV: `${HF_MOUNT}/synthgym/sandbox-env.sh`
    }
  }
}

export interface PrefetchOptions {
  /** the cache directory (host) */
  hf: string
  hub: HubSettings
  /** a python with `datasets` (the mlgym runtime's) that writes the Arrow cache */
  python: string
  onProgress?: (line: string) => void
}

export interface PrefetchReport { datasets: Entry[], models: Entry[] }

/** Fetches what the cache lacks of a task's Hub loads. Already cached names are not asked for again. */
export async function prefetchHubData (task: Task, o: PrefetchOptions): Promise<PrefetchReport> {
  const progress = o.onProgress ?? (() => {})
  const loads = hubLoads(task)
  const report: PrefetchReport = { datasets: [], models: [] }
  for (const name of loads.datasets) {
    const have = readEntry(o.hf, 'dataset', name)
    if (have) { report.datasets.push(have); continue }
    progress(`dataset ${name}: fetching the Hub's parquet conversion`)
    const e = await fetchDataset(name, o)
    writeEntry(o.hf, 'dataset', e)
    progress(`dataset ${name}: ${Object.entries(e.splits ?? {}).map(([s, n]) => `${s} ${n} rows`).join(', ')}`)
    report.datasets.push(e)
  }
  for (const name of loads.models) {
    const have = readEntry(o.hf, 'model', name)
    if (have) { report.models.push(have); continue }
    const e = await fetchModel(name, o)
    writeEntry(o.hf, 'model', e)
    progress(e.kind === 'model' ? `model ${name}: ${e.files!.length} files at ${e.sha}` : `from_pretrained("${name}"): not a Hub model, taken as a local path`)
    report.models.push(e)
  }
  return report
}

function runPython (python: string, script: string, input: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    // offline: the script reads local parquet files only
    const child = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HF_HUB_OFFLINE: '1', HF_DATASETS_OFFLINE: '1' } })
    let out = ''
    let err = ''
    child.stdout.on('data', (b: Buffer) => { out += b.toString() })
    child.stderr.on('data', (b: Buffer) => { err += b.toString() })
    child.on('error', reject)
    child.on('close', code => code === 0 ? resolvePromise(out) : reject(new Error(`${script} failed (${code}): ${err.trim().split('\n').slice(-8).join('\n')}`)))
    child.stdin.end(input)
  })
}

async function fetchDataset (name: string, o: PrefetchOptions): Promise<Entry> {
  const s = o.hub
  const common = { hubUrl: s.hubUrl, fetch: retryingFetch(s, 'Hub'), ...(s.hfToken ? { accessToken: s.hfToken } : {}) }
  let info
  try { info = await datasetInfo({ name, ...common, additionalFields: ['sha'] }) } catch (e) { throw hubFailure(e, `dataset info of ${name}`) }
  // the Hub redirects a moved or unprefixed name (multi_nli → nyu-mll/multi_nli); files and viewer use the real id
  const id = info.name
  const pq = await datasetInfo({ name: id, revision: 'refs/convert/parquet', ...common, additionalFields: ['sha'] }).catch(e => { throw hubFailure(e, `the parquet conversion of ${id}`) })
  const viewerFetch = retryingFetch(s, 'dataset viewer')
  const splits = await viewerGet(s, viewerFetch, '/splits', { dataset: id })
  if (!splits.ok) throw new Error(`the dataset viewer cannot list the splits of ${id} (${splits.status})`)
  const configs = [...new Set((splits.body.splits as Array<{ config: string }>).map(x => x.config))]
  const paths: string[] = []
  for await (const f of listFiles({ repo: { type: 'dataset', name: id }, revision: pq.sha, recursive: true, ...common })) if (f.type === 'file') paths.push(f.path)
  const settings = materialiseSettings({ ...s, cacheDir: join(o.hf, 'synthgym', 'downloads') })
  const counts: Record<string, number> = {}
  // the cache dir is named after the name the code uses (namespace___name, or the bare name)
  const dirName = name.replace('/', '___')
  const short = name.split('/').pop()!
  for (const config of configs) {
    const inf = await viewerGet(s, viewerFetch, '/info', { dataset: id, config })
    const features = inf.ok ? inf.body?.dataset_info?.features ?? null : null
    const bySplit = parquetFilesBySplit(config, paths)
    const v = { dataset: id, parquet_revision: pq.sha } as Parameters<typeof cachedParquetFiles>[0]
    const local: Record<string, string[]> = {}
    for (const [split, files] of Object.entries(bySplit)) local[split] = await cachedParquetFiles(v, files, settings)
    const out = join(o.hf, 'datasets', dirName, config, '0.0.0', info.sha!)
    const tmp = mkdtempSync(join(o.hf, 'synthgym', 'prepare-'))
    try {
      const printed = await runPython(o.python, join(packageRoot(), 'tasks', 'hf_prepare.py'),
        JSON.stringify({ name: short, config, features, splits: local, out, tmp }))
      for (const [split, n] of Object.entries(JSON.parse(printed.trim().split('\n').pop()!) as Record<string, number>)) counts[configs.length > 1 ? `${config}/${split}` : split] = n
    } finally { rmSync(tmp, { recursive: true, force: true }) }
  }
  return { kind: 'dataset', name, id, sha: info.sha!, splits: counts }
}

/** Weights in formats torch's transformers does not read, left out of the snapshot. */
const SKIP = /(^|\/)(tf_model\.h5|flax_model\.msgpack|rust_model\.ot|model\.onnx|.*\.mlmodel|coreml\/.*|onnx\/.*|openvino\/.*|.*\.gguf)$/

async function fetchModel (name: string, o: PrefetchOptions): Promise<Entry> {
  const s = o.hub
  const common = { hubUrl: s.hubUrl, fetch: retryingFetch(s, 'Hub'), ...(s.hfToken ? { accessToken: s.hfToken } : {}) }
  let info
  try { info = await modelInfo({ name, ...common, additionalFields: ['sha'] }) } catch (e) {
    if (e instanceof HubApiError && (e.statusCode === 404 || e.statusCode === 401)) return { kind: 'not-on-hub', name }
    throw hubFailure(e, `model info of ${name}`)
  }
  const sha = info.sha!
  const repo = { type: 'model' as const, name }
  let files: string[] = []
  for await (const f of listFiles({ repo, revision: sha, recursive: true, ...common })) if (f.type === 'file') files.push(f.path)
  files = files.filter(f => !SKIP.test(f))
  // one copy of the weights: safetensors where the repository has them
  if (files.includes('model.safetensors')) files = files.filter(f => f !== 'pytorch_model.bin')
  const root = join(o.hf, 'hub', `models--${safe(name)}`)
  const snap = join(root, 'snapshots', sha)
  for (const path of files) {
    const dest = resolve(snap, path)
    if (!dest.startsWith(snap + sep)) throw new Error(`refusing model file path ${JSON.stringify(path)} of ${name}`)
    const blob = await downloadFile({ repo, path, revision: sha, ...common, xet: false }).catch(e => { throw hubFailure(e, `downloading ${path} of ${name}`) })
    if (!blob) throw new Error(`${path} of ${name} is not on the Hub at ${sha}`)
    mkdirSync(join(dest, '..'), { recursive: true })
    await pipeline(Readable.fromWeb(blob.stream() as unknown as WebReadableStream), createWriteStream(`${dest}.incomplete`))
    renameSync(`${dest}.incomplete`, dest)
  }
  mkdirSync(join(root, 'refs'), { recursive: true })
  writeFileSync(join(root, 'refs', 'main'), sha)
  return { kind: 'model', name, id: info.name, sha, files }
}
