// The real stages plugged into the pipeline: Hub verification (hub.ts), the benchmark list (decontaminate.ts),
// materialisation (materialise.ts), and a sandbox factory for the checks.
import type { MaterialisedData, MaterialisedVariant } from '../../env-spec/generation.js'
import { validateMaterialisedData } from '../../env-spec/generation.js'
import type { Sandbox, SandboxOptions } from '../../sandbox/types.js'
import { verifyDataset, type HubSettings } from './hub.js'
import { MLGYM_BENCHMARK_DATASETS, decontaminate, loadBenchmarkDatasets } from './decontaminate.js'
import { materialise, type MaterialiseSettings } from './materialise.js'
import type { TaskData } from './codegen.js'
import type { Stages } from './pipeline.js'

/** One variant of a materialisation as codegen and the checks read it. */
function variant (m: MaterialisedData, v: MaterialisedVariant): TaskData {
  return {
    dir: v.dir,
    idColumn: m.id_column,
    targetColumn: m.target_column,
    inputColumns: m.input_columns,
    mediaColumns: m.media_columns,
    ...(m.target_names ? { targetNames: m.target_names } : {}),
    dataPath: v.data_path,
    train: v.train, validation: v.validation, test: v.test, answers: v.answers,
    secretFiles: v.secret_files,
    dataset: v.dataset,
    datasetDocs: v.dataset_docs
  }
}

export function taskDataFrom (record: Record<string, unknown>): { full: TaskData, micro: TaskData } {
  const m = validateMaterialisedData(record, 'materialisation')
  return { full: variant(m, m.full), micro: variant(m, m.micro) }
}

export interface StageSettings {
  hub: HubSettings
  /** materialisation's own settings but the seed (the run's) */
  materialise: Omit<MaterialiseSettings, 'seed'>
  /** a JSON file of benchmark datasets to refuse instead of MLGym's (decontaminate.ts) */
  benchmarksFile?: string
  makeSandbox: (opts: SandboxOptions) => Promise<Sandbox>
}

export function defaultStages (s: StageSettings): Stages {
  const benchmarks = s.benchmarksFile ? loadBenchmarkDatasets(s.benchmarksFile) : MLGYM_BENCHMARK_DATASETS
  return {
    verify: p => verifyDataset(p, s.hub),
    benchmark: p => decontaminate(p, benchmarks),
    benchmarkIds: benchmarks.flatMap(b => b.ids.length ? b.ids : [b.name]),
    materialise: async (p, d, dirs, seed) => {
      const r = await materialise(p, d, { dir: dirs.full, microDir: dirs.micro }, { ...s.materialise, seed })
      return r.ok ? { ok: true, data: r.data as unknown as Record<string, unknown> } : r
    },
    taskData: taskDataFrom,
    makeSandbox: s.makeSandbox
  }
}
