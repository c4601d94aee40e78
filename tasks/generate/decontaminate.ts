// Stage 4 of generation: no task on a dataset of the evaluation benchmark (students must never train on their test
// tasks), and at most one task per (dataset, config, target, metric) in a run.
import { readFileSync } from 'node:fs'
import { validateBenchmarkDatasets, type BenchmarkDataset, type Proposal, type Rejection } from '../../env-spec/generation.js'

/** The datasets of MLGym's 13 benchmark tasks (and of titanicSurvival, which MLGym ships too), with the Hub ids and
 * names copies of them go by. Tasks without data (the games, 3-SAT's generated instances, the gymnax environments)
 * are listed by the names that trajectories or instance sets of them are published under. */
export const MLGYM_BENCHMARK_DATASETS: BenchmarkDataset[] = [
  {
    name: 'CIFAR-10', tasks: ['imageClassificationCifar10'],
    ids: ['uoft-cs/cifar10', 'cifar10'],
    // its corrupted and long-tailed variants hold the same test images; CIFAR-100 is another dataset
    patterns: ['^cifar10(?!0)']
  },
  {
    name: 'Fashion-MNIST', tasks: ['imageClassificationFMnist'],
    ids: ['zalando-datasets/fashion_mnist', 'fashion_mnist'],
    patterns: ['^fashionmnist', '^fmnist$']
  },
  {
    name: 'MultiNLI', tasks: ['naturalLanguageInferenceMNLI'],
    ids: ['nyu-mll/multi_nli', 'multi_nli'],
    patterns: ['^multinli', '^mnli']
  },
  {
    name: 'MultiNLI (GLUE)', tasks: ['naturalLanguageInferenceMNLI'],
    ids: ['nyu-mll/glue', 'glue'],
    patterns: ['^glue$'],
    configs: ['mnli', 'mnli_matched', 'mnli_mismatched']
  },
  {
    name: 'MS COCO', tasks: ['imageCaptioningCOCO'],
    ids: ['detection-datasets/coco', 'HuggingFaceM4/COCO', 'yerevann/coco-karpathy', 'shunk031/MSCOCO'],
    patterns: ['^mscoco', '^coco(\\d{4})?$', '^coco(\\d{4})?(captions?|karpathy|detection|instances|panoptic|keypoints|train|val|test)', 'karpathy.*coco', 'coco.*karpathy']
  },
  {
    name: 'FineWeb', tasks: ['languageModelingFineWeb'],
    // MLGym's data is the GPT-2-tokenised 10B-token sample; fineweb-edu is a subset of FineWeb
    ids: ['HuggingFaceFW/fineweb', 'HuggingFaceFW/fineweb-edu', 'kjj0/fineweb10B-gpt2'],
    patterns: ['^fineweb']
  },
  {
    name: 'Kaggle House Prices (Ames housing)', tasks: ['regressionKaggleHousePrice'],
    ids: [],
    patterns: ['^houseprices?(advancedregressiontechniques|kaggle|dataset|data)?$', 'houseprices?advancedregression', 'kaggle.*houseprice', 'houseprice.*kaggle', '^ameshous', '^ames$', '^amesiowa']
  },
  { name: 'Titanic', tasks: ['titanicSurvival'], ids: [], patterns: ['^titanic'] },
  { name: 'MinAtar', tasks: ['rlBreakoutMinAtar'], ids: [], patterns: ['minatar'] },
  { name: 'gymnax environments', tasks: ['rlBreakoutMinAtar', 'rlMetaMazeMisc', 'rlMountainCarContinuous'], ids: [], patterns: ['gymnax', 'metamaze', 'mountaincarcontinuous'] },
  { name: '3-SAT instances', tasks: ['3SATTime'], ids: [], patterns: ['^3sat', '^random3sat'] },
  { name: 'MLGym\'s games', tasks: ['battleOfSexes', 'prisonersDilemma', 'blotto'], ids: [], patterns: ['battleofthesexes', 'battleofsexes', 'prisonersdilemma', 'colonelblotto', '^blotto'] }
]

/** A dataset's name with case and punctuation dropped: "CIFAR-10" and "cifar_10" are both "cifar10". */
export const normaliseName = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '')

/** The benchmark dataset `dataset` (a Hub id, any owner, any case) is a copy of, or null. */
export function benchmarkMatch (dataset: string, config: string | null, benchmarks: BenchmarkDataset[] = MLGYM_BENCHMARK_DATASETS): BenchmarkDataset | null {
  const id = dataset.toLowerCase()
  const name = normaliseName(id.slice(id.indexOf('/') + 1))
  for (const b of benchmarks) {
    const hit = b.ids.some(x => x.toLowerCase() === id) || (b.patterns ?? []).some(re => new RegExp(re).test(name))
    if (!hit) continue
    if (b.configs && (config === null || !b.configs.includes(config.toLowerCase()))) continue
    return b
  }
  return null
}

/** The benchmark list from a JSON file (a setting): an array of BenchmarkDataset. */
export function loadBenchmarkDatasets (file: string): BenchmarkDataset[] {
  let data: unknown
  try { data = JSON.parse(readFileSync(file, 'utf8')) } catch (e) {
    throw new Error(`${file}: not a readable JSON file of benchmark datasets (${(e as Error).message})`)
  }
  const list = validateBenchmarkDatasets(data, file)
  list.forEach((b, i) => (b.patterns ?? []).forEach((re, j) => {
    try { new RegExp(re) } catch (e) { throw new Error(`${file}: [${i}].patterns[${j}] is not a regular expression: ${(e as Error).message}`) }
  }))
  return list
}

/** Rejects a proposal whose dataset is one of the benchmark's. `canonical` is the id the Hub answered with (a renamed
 * dataset redirects), checked too. */
export function decontaminate (p: Pick<Proposal, 'dataset' | 'config'>, benchmarks: BenchmarkDataset[] = MLGYM_BENCHMARK_DATASETS, canonical?: string): Rejection | null {
  for (const id of canonical && canonical !== p.dataset ? [p.dataset, canonical] : [p.dataset]) {
    const b = benchmarkMatch(id, p.config, benchmarks)
    if (!b) continue
    return {
      stage: 'decontaminate',
      code: 'BENCHMARK_DATASET',
      message: `The dataset "${id}" is ${b.name}, a dataset of the evaluation benchmark (task ${b.tasks.join(', ')}); a task on it would train students on their own test tasks. Propose a different dataset, not a copy or variant of ${b.name}.`
    }
  }
  return null
}

type DedupFields = Pick<Proposal, 'dataset' | 'config' | 'target_column' | 'metric'>
type Claimant = DedupFields & Pick<Proposal, 'task_id'>

/** What makes two tasks the same: the dataset (any case), its config, the target and the metric's name. */
export function dedupKey (p: DedupFields, dataset: string = p.dataset): string {
  return JSON.stringify([dataset.toLowerCase(), p.config, p.target_column, normaliseName(p.metric.name)])
}

/** The (dataset, config, target, metric) combinations a run has taken, and by which task. A claim is checked and taken
 * in one synchronous call, so concurrent topics cannot both take one; a discarded task releases its claim. */
export class TaskDedup {
  private readonly taken = new Map<string, string>()

  /** `claimed`: the tasks a resumed run already has (kept, or still in flight). */
  constructor (claimed: Iterable<{ proposal: Claimant, dataset?: string }> = []) {
    for (const c of claimed) this.taken.set(dedupKey(c.proposal, c.dataset), c.proposal.task_id)
  }

  /** Takes the proposal's combination for it, or says which task has it. `dataset`: the verified (canonical) id. */
  claim (p: Claimant, dataset: string = p.dataset): Rejection | null {
    const key = dedupKey(p, dataset)
    const holder = this.taken.get(key)
    if (holder !== undefined && holder !== p.task_id) {
      return {
        stage: 'dedup',
        code: 'DUPLICATE_TASK',
        message: `Task "${holder}" of this run already uses dataset "${dataset}" (config "${p.config}") with target "${p.target_column}" and metric "${p.metric.name}". Propose a different dataset, target column or metric.`
      }
    }
    this.taken.set(key, p.task_id)
    return null
  }

  /** Frees the combination of a task that was discarded, for another topic to use. */
  release (p: Claimant, dataset: string = p.dataset): void {
    const key = dedupKey(p, dataset)
    if (this.taken.get(key) === p.task_id) this.taken.delete(key)
  }

  get size (): number { return this.taken.size }
}
