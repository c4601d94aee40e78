// A materialised task made by hand from the built-in tasks' real data (digits, diabetes), laid out as the
// materialisation stage lays one out: data/{train,validation,test}.csv and secret/answers.csv per variant.
// For testing codegen and the checks without the Hub.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BUILTIN_DIR } from '../tasks/registry.js'
import { parseCsv, writeCsv, type Table } from '../tasks/generate/csv.js'
import type { TaskData } from '../tasks/generate/codegen.js'
import type { Proposal } from '../env-spec/generation.js'

const SOURCES = {
  digits: { task: 'digitsClassification', target: 'label', type: 'tabular-classification', metric: { name: 'accuracy', direction: 'maximize' } },
  diabetes: { task: 'diabetesRegression', target: 'progression', type: 'tabular-regression', metric: { name: 'rmse', direction: 'minimize' } }
} as const

const table = (task: string, p: string) => parseCsv(readFileSync(join(BUILTIN_DIR, task, p), 'utf8'))

function variant (dir: string, name: string, train: Table, test: Table, answers: Table, nTrain: number, nValid: number, nTest: number, target: string): TaskData {
  mkdirSync(join(dir, 'data'), { recursive: true })
  mkdirSync(join(dir, 'secret'), { recursive: true })
  const files = {
    train: { header: train.header, rows: train.rows.slice(0, nTrain) },
    validation: { header: train.header, rows: train.rows.slice(nTrain, nTrain + nValid) },
    test: { header: test.header, rows: test.rows.slice(0, nTest) },
    answers: { header: answers.header, rows: answers.rows.slice(0, nTest) }
  }
  const paths = { train: 'data/train.csv', validation: 'data/validation.csv', test: 'data/test.csv', answers: 'secret/answers.csv' }
  for (const [k, t] of Object.entries(files)) writeFileSync(join(dir, paths[k as keyof typeof paths]), writeCsv(t))
  const f = (k: keyof typeof files) => ({ path: paths[k], rows: files[k].rows.length, columns: files[k].header })
  const description = `${name}: real data from synthgym's built-in tasks. Files: data/train.csv (${nTrain} rows), data/validation.csv (${nValid}), data/test.csv (${nTest}, no ${target}).`
  return {
    dir,
    idColumn: 'id',
    targetColumn: target,
    inputColumns: train.header.filter(c => c !== 'id' && c !== target),
    mediaColumns: [],
    dataPath: 'data',
    train: f('train'), validation: f('validation'), test: f('test'), answers: f('answers'),
    secretFiles: ['secret/answers.csv'],
    dataset: { name, description, data_path: 'data', is_local: true },
    datasetDocs: `${name.toUpperCase()}:\n${description}\n\n`
  }
}

export function handMadeTask (root: string, source: keyof typeof SOURCES, sizes = { micro: 200 }): { full: TaskData, micro: TaskData, proposal: Proposal } {
  const s = SOURCES[source]
  const train = table(s.task, 'data/train.csv')
  const test = table(s.task, 'data/test.csv')
  const answers = table(s.task, 'secret/answers.csv')
  const nValid = Math.floor(train.rows.length / 5)
  const full = variant(join(root, 'task'), source, train, test, answers, train.rows.length - nValid, nValid, test.rows.length, s.target)
  const micro = variant(join(root, 'micro'), source, train, test, answers, sizes.micro, 40, Math.min(100, test.rows.length), s.target)
  const proposal: Proposal = {
    topic: `${source} prediction`, title: `${source} prediction`, task_id: `${source}Generated`, dataset: `fixtures/${source}`,
    config: 'default', splits: ['train'], input_columns: full.inputColumns, target_column: s.target, task_type: s.type,
    metric: { ...s.metric }, submission_kind: 'CSVSubmissionTasks', learnability: 'the features carry the target'
  }
  return { full, micro, proposal }
}
