// What every benchmark section is handed: no section reads module-level state.
import type { Options } from './options.js'
import type { Progress, Report } from './report.js'

export interface BenchContext {
  opts: Options
  /** the table the section adds its rows to */
  report: Report
  progress: Progress
  /** this run's temporary directory (removed at the end) */
  dataDir: string
}
