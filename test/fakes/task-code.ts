// Task code the scripted LLM sends back: real, working python3 + numpy baselines and evaluation scripts
// (test/fixtures/generate/*), filled in with the names the codegen prompt gives (id, target, metric, hidden file).
// Each breakage is one realistic mistake an LLM makes, which exactly one keep-check should catch.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../../sandbox/paths.js'

// from the repository root, so that the benchmark (run from dist/) finds the templates too
const DIR = join(packageRoot(), 'test', 'fixtures', 'generate')
const read = (n: string) => readFileSync(join(DIR, n), 'utf8')

export interface CodeParams {
  title: string
  id: string
  target: string
  inputs: string[]
  metric: string
  direction: 'maximize' | 'minimize'
  kind: 'classification' | 'regression'
  secret: string
  trainRows: number
}

export type Breakage =
  | 'missing_file' | 'no_dataset_docs' | 'baseline_crash' | 'syntax_error' | 'wrong_metric_key' | 'nondeterministic'
  | 'trivial_baseline' | 'saturated_metric' | 'lenient_evaluate' | 'labels_in_code' | 'micro_fails'

/** What an LLM reads off the codegen prompt (tasks/generate/codegen.ts codegenUserPrompt). */
export function paramsFromPrompt (prompt: string): CodeParams {
  const proposal = JSON.parse(/^Proposal: (.*)$/m.exec(prompt)![1]!)
  const header = /exactly the header `([^`]+)`/.exec(prompt)![1]!.split(',')
  const secret = /Hidden answers \(mounted only while evaluate\.py runs\): \S*\/([^/\s,]+),/.exec(prompt)![1]!
  const rows = Number(/training data: `[^`]+` \((\d+) rows/.exec(prompt)![1])
  return {
    title: proposal.title,
    id: header[0]!,
    target: header[1]!,
    inputs: proposal.input_columns,
    metric: proposal.metric.name,
    direction: proposal.metric.direction,
    kind: String(proposal.task_type).endsWith('regression') ? 'regression' : 'classification',
    secret,
    trainRows: rows
  }
}

function fill (text: string, p: CodeParams): string {
  return text.replaceAll('__ID__', p.id).replaceAll('__TARGET__', p.target).replaceAll('__INPUTS__', JSON.stringify(p.inputs))
    .replaceAll('__METRIC__', p.metric).replaceAll('__KIND__', p.kind).replaceAll('__SECRET__', p.secret)
    .replaceAll('__TITLE__', p.title).replaceAll('__DIRECTION__', p.direction)
    .replaceAll('__DIRECTION_WORD__', p.direction === 'maximize' ? 'higher' : 'lower')
}

function must (text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`task-code fake: ${JSON.stringify(from)} is not in the template`)
  return text.replace(from, to)
}

/** The task's files; `labels` (the hidden test labels) only for the breakage that copies them into the code. */
export function taskFiles (p: CodeParams, breakage?: Breakage, labels: string[] = []): Record<string, string> {
  let baseline = fill(read(p.kind === 'regression' ? 'baseline_regression.py' : 'baseline_classification.py'), p)
  let evaluate = fill(read('evaluate.py'), p)
  let yaml = fill(read('task.yaml'), p)
  switch (breakage) {
    case undefined: break
    case 'missing_file': return { 'task.yaml': yaml, 'baseline.py': baseline }
    case 'no_dataset_docs': yaml = must(yaml, '  {dataset_docs}\n', ''); break
    case 'baseline_crash': baseline = must(baseline, 'def main():\n', 'def main():\n    rows = read("data/training.csv")\n'); break
    case 'syntax_error': evaluate = must(evaluate, 'def main():', 'def main()'); break
    case 'wrong_metric_key': evaluate = must(evaluate, 'print(json.dumps({METRIC: metrics[METRIC], **metrics}))', 'print(json.dumps({"score": metrics[METRIC]}))'); break
    case 'nondeterministic':
      evaluate = must(evaluate, 'import sys\n', 'import sys\nimport random\n')
      evaluate = must(evaluate, 'print(json.dumps({METRIC', 'metrics[METRIC] += random.random() * 1e-3\n    print(json.dumps({METRIC')
      break
    case 'trivial_baseline':
      // the majority class, ties to the smallest name: exactly the constant the degenerate check submits
      baseline = must(baseline, '    pred = [classes[i] for i in dist.argmin(axis=1)]', '    pred = [max(sorted(set(y)), key=y.count)] * len(test)')
      break
    case 'saturated_metric':
      evaluate = must(evaluate, '        metrics = {"accuracy": acc,', '        acc = 1.0 if acc > 0.5 else acc\n        metrics = {"accuracy": acc,')
      break
    case 'lenient_evaluate':
      // reads predictions by position and scores whatever rows there are: wrong columns and missing rows pass
      evaluate = must(evaluate, '    if header != [ID, TARGET]:', '    if False:')
      evaluate = must(evaluate, '    if missing:', '    if False:')
      evaluate = must(evaluate, '    keys = sorted(truth)', '    keys = sorted(k for k in truth if k in preds)')
      break
    case 'labels_in_code':
      baseline = must(baseline, 'ID, TARGET =', `# the answers, for a quick self-check: ${labels.join(', ')}\nID, TARGET =`)
      break
    case 'micro_fails':
      baseline = must(baseline, '    train, test = read("data/train.csv"), read("data/test.csv")\n',
        `    train, test = read("data/train.csv"), read("data/test.csv")\n    if len(train) < ${p.trainRows}:\n        raise SystemExit(f"need at least ${p.trainRows} training rows, got {len(train)}")\n`)
      break
  }
  return { 'task.yaml': yaml, 'baseline.py': baseline, 'evaluate.py': evaluate }
}

/** The JSON reply an LLM sends with these files. */
export function filesReply (files: Record<string, string>, notes = 'first version'): string {
  return JSON.stringify({ files: Object.entries(files).map(([path, content]) => ({ path, content })), notes })
}
