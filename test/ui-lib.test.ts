// The dashboard's pure parts, in node: metrics parsed from MLGym's observations, step kinds, the line diff and the
// edited files rebuilt from steps, .traj files read as the viewer reads them, and AUP by MLGym's rules (with the
// reference's Blotto and 3-SAT test vectors).
import t from 'tap'
import fc from 'fast-check'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { diffLines, editedFiles, hunks, parseWindows } from '../server/ui/app/diff.js'
import { evaluationScore, fromFile, heredocWrite, metricOf, modelCall, parsePyMetrics, runOf, stepKind, toSteps } from '../server/ui/app/traj-model.js'
import { computeAup } from '../server/ui/app/aup.js'
import { bestAttemptIndex as bestAttempt } from '../clients/aup/aup.js'

t.test('metrics printed as Python dicts', async t => {
  t.same(parsePyMetrics("{'accuracy': 0.9055555555555556}"), { accuracy: 0.9055555555555556 })
  t.same(parsePyMetrics("{'Time': 16.101, 'Correct': 24000, 'Incorrect': 0}"), { Time: 16.101, Correct: 24000, Incorrect: 0 })
  t.same(parsePyMetrics("{'rmse': 1e-05, 'r2': -0.5}"), { rmse: 1e-05, r2: -0.5 })
  const nan = parsePyMetrics("{'Score': nan, 'x': inf}")!
  t.ok(Number.isNaN(nan.Score) && nan.x === Infinity)
  t.equal(parsePyMetrics('no metrics here'), null)
  const obs = "Your code produced a valid submission artefact at /home/agent/workspace/target.py.\nBaseline Score: {'Score': 2.4571}\nEvaluation Score: {'Score': 2.6}"
  t.same(evaluationScore(obs), { Score: 2.6 })
  t.equal(evaluationScore('Baseline Score: {\'Score\': 2.4571}'), null, 'the baseline line is not an evaluation')
})

t.test('step kinds', async t => {
  const k = (a: string, o = '', tr = false) => stepKind(a, o, tr)
  t.equal(k('validate'), 'validate')
  t.equal(k('submit'), 'submit')
  t.equal(k('ls', 'Exited (max_steps)', true), 'autosubmit')
  t.equal(k('exit_cost', 'Exited (exit_cost)'), 'autosubmit')
  t.equal(k('edit 1:2\nx\nend_of_edit'), 'edit')
  t.equal(k('insert 3\nx\nend_of_insert'), 'edit')
  t.equal(k('create notes.txt'), 'edit')
  t.equal(k("cat > a.py << 'EOF'\nprint(1)\nEOF"), 'edit')
  t.equal(k('open "baseline.py" 30'), 'view')
  t.equal(k('scroll_down'), 'view')
  t.equal(k('search_file accuracy'), 'search')
  t.equal(k('python baseline.py'), 'python')
  t.equal(k('ls -la'), 'bash')
  t.equal(k('skip'), 'exit')
  t.same(heredocWrite("cat << 'EOF' > out/b.txt\none\ntwo\nEOF\n"), { path: 'out/b.txt', append: false, lines: ['one', 'two'] })
  t.same(heredocWrite('cat >> log.txt <<END\nx\nEND'), { path: 'log.txt', append: true, lines: ['x'] })
  t.equal(heredocWrite('cat file.txt'), null)
})

/** The longest common subsequence's length, by the textbook table. */
function lcs (a: string[], b: string[]): number {
  const d = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0))
  for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) d[i]![j] = a[i - 1] === b[j - 1] ? d[i - 1]![j - 1]! + 1 : Math.max(d[i - 1]![j]!, d[i]![j - 1]!)
  return d[a.length]![b.length]!
}

t.test('line diff: a valid edit script of minimal length', async t => {
  t.same(diffLines(['a', 'b', 'c'], ['a', 'x', 'c']), [{ t: '=', a: 0, b: 0 }, { t: '-', a: 1 }, { t: '+', b: 1 }, { t: '=', a: 2, b: 2 }])
  t.same(diffLines([], ['x']), [{ t: '+', b: 0 }])
  t.same(diffLines(['x'], []), [{ t: '-', a: 0 }])
  fc.assert(fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 30 }), fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 30 }), (a, b) => {
    const ops = diffLines(a, b)
    // the ops walk both sides in order and rebuild each
    const left = ops.filter(o => o.t !== '+').map(o => a[(o as { a: number }).a])
    const right = ops.filter(o => o.t !== '-').map(o => b[(o as { b: number }).b])
    for (const o of ops) if (o.t === '=' && a[o.a] !== b[o.b]) return false
    return left.join() === a.join() && right.join() === b.join() && ops.filter(o => o.t === '=').length === lcs(a, b)
  }), { numRuns: 400 })
})

t.test('hunks: context, numbering, merged neighbours', async t => {
  const a = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`)
  const b = [...a]
  b[4] = 'changed 5'
  b.splice(15, 1)
  const h = hunks(a, b, 3)
  t.equal(h.length, 2, 'two changes 10 lines apart: two hunks')
  t.equal(h[0]!.oldStart, 2)
  t.same(h[0]!.lines.filter(l => l.t !== ' ').map(l => l.t + l.text), ['-line 5', '+changed 5'])
  t.same(h[1]!.lines.filter(l => l.t === '-').map(l => [l.old, l.text]), [[16, 'line 16']])
  const close = [...a]
  close[4] = 'x'
  close[8] = 'y'
  t.equal(hunks(a, close, 3).length, 1, 'changes within twice the context: one hunk')
})

const win = (path: string, lines: string[], start = 1, total = lines.length) =>
  `[File: ${path} (${total} lines total)]\n${start > 1 ? `(${start - 1} more lines above)\n` : ''}${lines.map((l, i) => `${start + i}:${l}`).join('\n')}`

function steps (list: { action: string, observation: string, open?: string }[]) {
  return toSteps(list.map(s => ({ action: s.action, observation: s.observation, state: JSON.stringify({ open_file: s.open ?? 'n/a', working_dir: '/home/agent/workspace' }) })), [])
}

t.test('windows and the files the steps edited', async t => {
  const P = '/home/agent/workspace/train.py'
  t.same(parseWindows(win(P, ['a', '', 'c']) + '\nFile updated. Please review'), [{ path: P, total: 3, start: 1, lines: ['a', '', 'c'] }])
  t.same(parseWindows(win(P, ['x', 'y'], 500, 2000))[0], { path: P, total: 2000, start: 500, lines: ['x', 'y'] })
  const files = editedFiles(steps([
    { action: 'open "train.py"', observation: win(P, ['import numpy', 'lr = 0.1', 'print(lr)']), open: P },
    // a failed edit changes nothing, whatever windows it prints
    { action: 'edit 2:2\nlr = (\nend_of_edit', observation: 'Your proposed edit has introduced new syntax error(s).\n' + win(P, ['import numpy', 'lr = (', 'print(lr)']) + '\nYour changes have NOT been applied. Please fix your edit command and try again.', open: P },
    { action: 'edit 2:2\nlr = 0.01\nepochs = 5\nend_of_edit', observation: win(P, ['import numpy', 'lr = 0.01', 'epochs = 5', 'print(lr)']) + '\nFile updated.', open: P },
    { action: 'create notes.md', observation: win('/home/agent/workspace/notes.md', ['']), open: '/home/agent/workspace/notes.md' },
    { action: 'insert 1\n# notes\nend_of_insert', observation: win('/home/agent/workspace/notes.md', ['', '# notes']) + '\nFile updated.', open: '/home/agent/workspace/notes.md' },
    { action: "cat > run.sh << 'EOF'\npython train.py\nEOF", observation: '' },
    { action: 'open "data.csv"', observation: win('/home/agent/workspace/data.csv', ['a,b']) }
  ]))
  t.same(files.map(f => [f.path, f.status, f.added, f.removed, f.steps]), [
    ['train.py', 'modified', 2, 1, [3]],
    ['notes.md', 'added', 2, 0, [4, 5]],
    ['run.sh', 'unseen', 1, 0, [6]]
  ], 'only what changed; a file only opened is not listed')
  t.same(files[0]!.hunks[0]!.lines.map(l => l.t + l.text), [' import numpy', '-lr = 0.1', '+lr = 0.01', '+epochs = 5', ' print(lr)'])
  // an edit whose observation shows only part of a big file: applied to what was shown in full
  const big = Array.from({ length: 1200 }, (_, i) => `row ${i + 1}`)
  const after = [...big]
  after.splice(599, 1, 'ROW 600')
  const partial = editedFiles(steps([
    { action: 'open "big.py" 600', observation: win('/home/agent/workspace/big.py', big.slice(99, 1099), 100, 1200), open: '/home/agent/workspace/big.py' },
    { action: 'edit 600:600\nROW 600\nend_of_edit', observation: win('/home/agent/workspace/big.py', after.slice(99, 1099), 100, 1200) + '\nFile updated.', open: '/home/agent/workspace/big.py' }
  ]))
  t.equal(partial.length, 1)
  t.equal(partial[0]!.partial, true)
  t.same(partial[0]!.hunks.flatMap(h => h.lines.filter(l => l.t !== ' ').map(l => [l.t, l.old ?? l.new, l.text])), [['-', 600, 'row 600'], ['+', 600, 'ROW 600']], 'line numbers of the window')
})

t.test('trajectory files as the viewer reads them', async t => {
  const traj = {
    environment: 'mlgym_main',
    trajectory: [
      { action: 'validate', observation: "Baseline Score: {'Score': 1.5}\nEvaluation Score: {'Score': 2.0}", response: 'DISCUSSION\nvalidate\n```\nvalidate\n```', state: '{"open_file": "n/a", "working_dir": "/home/agent/workspace"}', thought: 'check', execution_time: 1.2 },
      { action: 'submit', observation: '', response: '', state: '{}', thought: '', execution_time: 0.5 }
    ],
    history: [{ role: 'system', content: 'sys', agent: 'primary_0' }, { role: 'user', content: 'the task', agent: 'primary_0' }],
    info: { model_stats: { total_cost: 0.5, task_cost: 0.5, tokens_sent: 100, tokens_received: 20, api_calls: 2 }, exit_status: 'submitted', submission: '/x', score: [{ Score: 2.0 }, { Score: 2.1 }], summarizer: {} }
  }
  const v = fromFile('blotto.traj', traj)
  t.equal(v.taskId, 'blotto')
  t.equal(v.description, 'the task')
  t.same(v.baseline, { Score: 1.5 }, 'the baseline a validate printed, without results.json')
  t.same(fromFile('blotto.traj', traj, { agent: [], baseline: { Score: 1.4 } }).baseline, { Score: 1.4 }, 'results.json wins')
  t.same(v.steps.map(s => [s.kind, s.score]), [['validate', { Score: 2.0 }], ['submit', { Score: 2.1 }]], 'the submit gets the last score')
  t.equal(v.modelStats?.tokens_sent, 100)
  t.throws(() => fromFile('x.json', { hello: 1 }), /not an MLGym \.traj/)
  t.throws(() => fromFile('x.traj', { trajectory: [{ observation: 'no action' }] }), /trajectory\[0\] has no "action"/)
  const m = modelCall({ model: 'qwen3-8b', usage: { prompt_tokens: 900, completion_tokens: 40 }, finish_reason: 'stop', latency_ms: 812, messages: [{ role: 'user', content: 'hi' }], completion: { role: 'assistant', content: 'ok' }, prompt_token_ids: [1, 2, 3], logprobs: [{}] })
  t.match(m, { model: 'qwen3-8b', promptTokens: 900, completionTokens: 40, totalTokens: 940, latencyMs: 812, completion: 'ok', promptTokenIds: 3, completionTokenIds: null, logprobs: true })
  t.equal(modelCall(undefined), null)
})

// shared/reference/mlgym.md section 4.4: Blotto best-attempt scores of MLGym's published runs
const BLOTTO: Record<string, number> = {
  'claude-35': 0.5756, 'gemini-20-flash': 0.2498, 'gemini-15': 0.249, 'gpt-o1': 0.2481, 'claude-37': 0.2458, 'gemini-25': 0.176,
  gpt4o2: 0.0469, llama3: 0.043, 'llama4-128': 0.0373, deepseek: 0.0245, 'llama4-16': 0.0227, 'o3-mini': -0.2443
}

t.test('AUP in the page is clients/aup: the reference vectors, best over runs, last submission, infeasible', async t => {
  t.equal(bestAttempt([{ s: 1 }, { x: 9 }, { s: 3 }, { s: 3 }], 's', 'maximize'), 2, 'the first strictly best, skipping entries without the metric')
  t.equal(bestAttempt([{ x: 1 }], 's', 'maximize'), -1)
  // Blotto alone: T = 27 gives tau_max = 1.5, as over all 13 tasks; gpt-o1's AUP is 13 times its Blotto contribution
  const runs = Object.entries(BLOTTO).map(([method, s]) => ({ task: 'blotto', method, scores: [{ Score: s }] }))
  const aup = computeAup([{ id: 'blotto', metric: 'Score', direction: 'maximize', baseline: -0.248 }], runs)
  t.equal(aup.tauMax, 1.5)
  t.equal(aup.tau.length, 500)
  t.equal(Number((aup.best.aup['gpt-o1']! / 13).toFixed(5)), 0.08717)
  t.equal(Number((aup.best.aup['claude-35']! / 13).toFixed(5)), 0.11538)
  t.ok(aup.methods.includes('baseline'), 'the baseline is a method')

  const tasks = [
    { id: 'acc', metric: 'acc', direction: 'maximize' as const, baseline: 0.5 },
    { id: 'loss', metric: 'loss', direction: 'minimize' as const, baseline: 2 }
  ]
  const r = computeAup(tasks, [
    { task: 'acc', method: 'a', scores: [{ acc: 0.9 }, { acc: 0.6 }] }, // best attempt 0.9, last 0.6
    { task: 'acc', method: 'a', scores: [{ acc: 0.7 }] },
    { task: 'acc', method: 'b', scores: [{ acc: 0.4 }] }, // below the baseline: infeasible
    { task: 'loss', method: 'a', scores: [] }, // a failed run
    { task: 'loss', method: 'b', scores: [{ loss: 1 }] }
  ])
  t.same(r.tasks, ['acc', 'loss'])
  t.same(r.best.scores.acc, { a: 0.9, b: 0.4, baseline: 0.5 })
  t.same(r.last.scores.acc, { a: 0.7, b: 0.4, baseline: 0.5 }, 'last: the best over runs of each run\'s last score')
  t.equal(r.best.ratios.acc!.a, 1)
  t.equal(r.best.ratios.acc!.b, r.best.ratios.acc!.baseline! * 1.05)
  t.equal(r.best.ratios.loss!.a, 2 * 1.05, 'no usable run: infeasible')
  // acc: a 1, baseline 0.9/0.5 = 1.8 (the worst feasible), b 1.89; loss: b 1, baseline 2, a 2.1 → T 2 and 3, tau_max 0.5
  t.equal(r.tauMax, 0.5)
  // each task adds (tau_max/499)/|P| for every grid point i <= 498 with tau_i >= log10 r (the reference's contribution)
  const step = 0.5 / 499
  const share = (ratio: number) => step / 2 * Array.from({ length: 499 }, (_, i) => i * step).filter(x => x >= Math.log10(ratio)).length
  t.ok(Math.abs(r.best.aup.a! - (share(1) + share(2.1))) < 1e-12, 'a: best on acc, infeasible on loss')
  t.ok(Math.abs(r.best.aup.b! - (share(1.89) + share(1))) < 1e-12, 'b: infeasible on acc, best on loss')
  t.ok(Math.abs(r.best.aup.baseline! - (share(1.8) + share(2))) < 1e-12, 'the baseline')
  t.equal(r.best.profile.a!.length, 500, 'a profile point per grid point')
})

t.test('the page reads only the public API: env-spec types, no server, tasks or sandbox code', async t => {
  const dir = new URL('../server/ui/app/', import.meta.url).pathname
  for (const f of readdirSync(dir).filter(x => x.endsWith('.ts'))) {
    const text = readFileSync(join(dir, f), 'utf8')
    for (const m of text.matchAll(/^import (type )?[^;]*?from '([^']+)'/gms)) {
      const [, isType, from] = m
      if (from!.startsWith('./') || ['preact', 'preact/hooks', 'htm/preact'].includes(from!)) continue
      // the AUP computation is shared with `synthgym aup`: pure functions over plain data, no Node module
      if (from === '../../../clients/aup/aup.js' || from === '../../../clients/aup/episodes.js') continue
      t.ok(from!.startsWith('../../../env-spec/') && isType, `${f}: ${from} (only types of env-spec, which the bundle drops)`)
    }
  }
})

t.test('Runs page: the run and the metric an episode\'s meta.run records (synthgym run)', async t => {
  const run = { name: 'bench-1', dir: 'm__3SATTime__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run_0', index: 0, task: '3SATTime', model: 'm', metric: { name: 'Time', direction: 'minimize' }, mode: 'thought_action', tool_profile: 'mlgym' }
  const ep = (meta: Record<string, unknown>) => ({ meta, task_id: '3SATTime', baseline: { Correct: 1, Time: 16.1 }, score: [] }) as any
  t.equal(runOf(ep({ run })), 'bench-1')
  // an older episode recorded only its directory: its run is the invocation's model and settings
  t.equal(runOf(ep({ run_dir: run.dir, run_index: 0 })), 'm__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents',
    'an older episode\'s directory names its invocation')
  t.strictSame(metricOf(undefined, [ep({}), ep({ run })]), { name: 'Time', direction: 'minimize' }, 'a task no longer served: the run\'s record')
  t.strictSame(metricOf({ metric: { name: 'Correct', direction: 'maximize' } }, [ep({ run })]), { name: 'Correct', direction: 'maximize' }, 'the task\'s own first')
  t.strictSame(metricOf(undefined, [ep({})]), { name: 'Correct', direction: 'maximize' }, 'else the first baseline key, as before')
})
