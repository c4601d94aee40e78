// Whether each MLGym-Bench task can run here, and if not, exactly why: its local data is missing (and where it comes
// from), its Hub data is not fetched, its runtime is not built or lacks packages, it needs a GPU. `synthgym mlgym
// status`, GET /v1/tasks/:id and `synthgym run --suite mlgym` all read this one answer.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import YAML from 'yaml'
import { MLGYM_METRICS, type MlgymStatus, type MlgymReason } from '../env-spec/task.js'
import { builtRuntime, cachedRecipe, parseRequirements, requirementName, type RuntimeManifest } from '../sandbox/runtime.js'
import { hostPath, type ImportReport, type Task } from './registry.js'
import { missingHubData } from './hubdata.js'

/** The 13 tasks of MLGym-Bench (the ones MLGym's evaluation code gives a metric). */
export const MLGYM_BENCH = Object.keys(MLGYM_METRICS)

/**
 * Local data MLGym does not ship (its .gitignore drops data/**\/data; github.com/facebookresearch/MLGym/issues/24):
 * the files its code reads and where they come from.
 */
export const MLGYM_DATA_SOURCES: Record<string, string> = {
  '3SATTime': 'needs data/3SATTime/data/dataset.pkl (a pickled list of SAT instances); MLGym has not published it nor its generator (MLGym issue #24, unanswered)',
  imageCaptioningCOCO: 'needs data/imageCaptioningCOCO/data/{train_images.parquet,val_images.parquet,train/,val/} built from COCO captions (https://cocodataset.org/#download); MLGym has not published how (issue #24); its baseline also downloads NLTK punkt and torchvision resnet50 weights at run time',
  languageModelingFineWeb: 'needs data/languageModelingFineWeb/data/fineweb10B/fineweb_{train,val}_*.bin: modded-nanogpt GPT-2 token shards from the Hub dataset kjj0/fineweb10B-gpt2 (KellerJordan/modded-nanogpt data/cached_fineweb10B.py; MLGym used about 24 train shards)',
  regressionKaggleHousePrice: 'needs data/regressionKaggleHousePrice/data/{train,validation,test,answer}.csv: run `synthgym mlgym prepare regressionKaggleHousePrice` (MLGym\'s own _helpers/_generate_split.py on its committed Kaggle train.csv)'
}

/**
 * The files of MLGYM_DATA_SOURCES that the task's code reads, under the checkout (`*` in a name: at least one match).
 * A task loads once its data dir exists, and an empty one (a preparation that failed half way) is not runnable.
 */
export const MLGYM_DATA_FILES: Record<string, string[]> = {
  '3SATTime': ['data/3SATTime/data/dataset.pkl'],
  imageCaptioningCOCO: ['train_images.parquet', 'val_images.parquet'].map(f => `data/imageCaptioningCOCO/data/${f}`),
  languageModelingFineWeb: ['train', 'val'].map(s => `data/languageModelingFineWeb/data/fineweb10B/fineweb_${s}_*.bin`),
  regressionKaggleHousePrice: ['train', 'validation', 'test', 'answer'].map(f => `data/regressionKaggleHousePrice/data/${f}.csv`)
}

/** Whether a file of MLGYM_DATA_FILES is there (the last part of `file` may hold `*`). */
function dataPresent (file: string): boolean {
  const name = basename(file)
  if (!name.includes('*')) return existsSync(file)
  const re = new RegExp('^' + name.split('*').map(p => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$')
  return existsSync(dirname(file)) && readdirSync(dirname(file)).some(n => re.test(n))
}

export interface StatusContext {
  /** the host's Hugging Face cache (tasks/hubdata.ts) */
  hf: string
  /** a run of the task's baseline here (tasks/baseline.ts BaselineCache.measured) */
  measured: (task: Task) => { seconds: number, scores: Record<string, number> } | null
  /** whether this machine has a GPU */
  gpu: boolean
}

/** The id a config file declares (for configs the import could not load). */
function configId (checkout: string, file: string): string | null {
  try {
    const raw = YAML.parse(readFileSync(join(checkout, 'configs', 'tasks', file), 'utf8')) as { id?: unknown }
    return typeof raw?.id === 'string' ? raw.id : null
  } catch { return null }
}

/** MLGym's generic conda env (dockerfiles/generic_conda_requirements.txt), which tasks without their own use. */
const MLGYM_GENERIC = ['numpy', 'pandas', 'scipy', 'torch', 'scikit-learn', 'tqdm', 'datasets', 'gymnasium', 'transformers', 'matplotlib']

/** The requirements a task's code needs: its own requirements.txt, else MLGym's generic list. */
function taskRequirements (task: Task): string[] {
  const s = task.spec
  if (s.use_generic_conda === false && s.requirements_path) {
    const f = hostPath(task, s.requirements_path)
    if (existsSync(f)) return parseRequirements(readFileSync(f, 'utf8'))
  }
  return s.runtime === 'mlgym' ? MLGYM_GENERIC : []
}

/** Python files the task runs need a GPU when they assert one (languageModelingFineWeb: `assert torch.cuda.is_available()`). */
function needsGpu (task: Task): boolean {
  return (task.spec.baseline_paths ?? []).some(b => {
    const starter = (task.spec.starter_code ?? []).find(s => s.endsWith('/' + b.split('/')[0]))
    const f = starter ? join(hostPath(task, starter), ...b.split('/').slice(1)) : null
    return !!f && existsSync(f) && /assert\s+torch\.cuda\.is_available\(\)/.test(readFileSync(f, 'utf8'))
  }) || (task.spec.resources?.gpus ?? 0) > 0
}

/** The status of one loaded task. */
export function taskStatus (task: Task, ctx: StatusContext, manifest?: RuntimeManifest | null): MlgymStatus {
  const reasons: MlgymReason[] = []
  const runtime = task.spec.runtime ?? 'base'
  if (runtime !== 'base') {
    const m = manifest !== undefined ? manifest : builtRuntime(cachedRecipe(runtime))
    if (!m) reasons.push({ code: 'RUNTIME_NOT_BUILT', message: `the ${runtime} runtime is not built: run \`synthgym runtime build ${runtime}\`` })
    else {
      const wanted = new Set(taskRequirements(task).map(requirementName))
      const lacking = m.missing.filter(x => wanted.has(requirementName(x.requirement))).map(x => x.requirement)
      if (lacking.length) reasons.push({ code: 'MISSING_PACKAGES', message: `the package index (${m.sources.indexUrl}) has no ${lacking.join(', ')}; install them from PyPI (pip config set global.index-url https://pypi.org/simple, then synthgym runtime build ${runtime} --force)` })
    }
  }
  const absent = (MLGYM_DATA_FILES[task.spec.id] ?? []).filter(f => !dataPresent(hostPath(task, f)))
  if (absent.length) reasons.push({ code: 'MISSING_DATA', message: MLGYM_DATA_SOURCES[task.spec.id]! })
  const hub = missingHubData(task, ctx.hf)
  if (hub.datasets.length || hub.models.length) {
    reasons.push({ code: 'HUB_DATA_NOT_FETCHED', message: `not fetched yet: ${[...hub.datasets.map(d => `dataset ${d}`), ...hub.models.map(x => `model ${x}`)].join(', ')}: run \`synthgym mlgym fetch ${task.spec.id}\` (needs the Hub; sandboxes stay offline)` })
  }
  if (needsGpu(task) && !ctx.gpu) reasons.push({ code: 'NEEDS_GPU', message: 'its code asserts a CUDA GPU (torch.cuda.is_available()); this machine has none' })
  const measured = ctx.measured(task)
  return { id: task.spec.id, runnable: reasons.length === 0, reasons, runtime, baseline_seconds: measured?.seconds ?? null, baseline_here: measured?.scores ?? null }
}

/** Every MLGym-Bench task of an import: loaded ones by taskStatus, the ones that did not load by their reason. */
export function mlgymStatus (report: ImportReport, ctx: StatusContext): MlgymStatus[] {
  const out: MlgymStatus[] = []
  const loaded = new Map(report.tasks.map(t => [t.spec.id, t]))
  const broken = new Map<string, string>()
  for (const e of report.errors) {
    const id = configId(report.checkout, e.file)
    if (id && !broken.has(id)) broken.set(id, e.reason)
  }
  const manifest = builtRuntime(cachedRecipe('mlgym'))
  for (const id of MLGYM_BENCH) {
    const t = loaded.get(id)
    if (t) { out.push(taskStatus(t, ctx, manifest)); continue }
    const why = broken.get(id)
    const reasons: MlgymReason[] = MLGYM_DATA_SOURCES[id]
      ? [{ code: 'MISSING_DATA', message: MLGYM_DATA_SOURCES[id]! }]
      : [{ code: 'NOT_LOADED', message: why ?? `no config with id ${id} in ${report.checkout}/configs/tasks` }]
    out.push({ id, runnable: false, reasons, runtime: 'mlgym', baseline_seconds: null, baseline_here: null })
  }
  return out
}
