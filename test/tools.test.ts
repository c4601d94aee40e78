// The agent tool commands, run in a real bash. Every expected string is what MLGym's own tools print for the same
// step (checked side by side against MLGym's tools/*.sh while these were written).
import t, { type Test } from 'tap'
import { execFile, execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  actionFromToolCall, commandDocs, lintMode, openaiTools, toolDefinitions, toolsDir, toolsInitScript
} from '../sandbox/tools.js'
import { onPath } from './helpers.js'

const MARK = '@@STEP_DONE@@'
// edit and insert lint with flake8 where it is installed, else with the documented fallback (py_compile); .ci/run
// runs this file both ways
const FLAKE8 = onPath('flake8')
const shq = (s: string): string => `'${s.replaceAll("'", `'"'"'`)}'`
const lines = (...ls: string[]): string => ls.map(l => l + '\n').join('')
// big.txt holds the numbers 1..2500, one a line
const numbered = (from: number, to: number): string => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}:${from + i}\n`).join('')

const SMALL_PY = 'import os\n\n\ndef add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n'
const smallView = (ws: string, line5 = '    return a + b', line1 = 'import os'): string =>
  lines(`[File: ${ws}/small.py (8 lines total)]`, `1:${line1}`, '2:', '3:', '4:def add(a, b):', `5:${line5}`, '6:', '7:', '8:print(add(1, 2))')
const UPDATED = 'File updated. Please review the changes and make sure they are correct (correct indentation, no duplicate lines, etc). Edit the file again if necessary.\n'
const RULE = '-------------------------------------------------'
const SCROLL_WARNING = lines('', 'WARNING: Scrolling many times in a row is very inefficient.',
  'If you know what you are looking for, use `search_file <pattern>` instead.', '')

function workspace (t: Test): { base: string, ws: string } {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'synthgym-tools-')))
  t.teardown(() => rmSync(base, { recursive: true, force: true }))
  const ws = join(base, 'ws')
  mkdirSync(join(ws, 'data', '.hidden'), { recursive: true })
  writeFileSync(join(ws, 'small.py'), SMALL_PY)
  writeFileSync(join(ws, 'big.txt'), Array.from({ length: 2500 }, (_, i) => `${i + 1}\n`).join(''))
  writeFileSync(join(ws, 'notes.txt'), 'alpha\nbeta\ngamma alpha\n')
  writeFileSync(join(ws, 'data', 'train.csv'), 'id,label\n1,alpha\n')
  writeFileSync(join(ws, 'data', '.hidden', 'x.txt'), 'alpha\n')
  writeFileSync(join(ws, 'broken.py'), 'def f():\n    return missing_name\n\n\nprint(f())\n')
  return { base, ws }
}

// What the environment sends for a multi-line command: its first line opens a heredoc (MLGym's guard_multiline_input).
function guard (action: string): string {
  const [first, ...rest] = action.split('\n')
  const def = toolDefinitions('mlgym').find(d => d.name === first.split(' ')[0])
  return def?.end_name !== undefined && rest.length > 0 ? [`${first} << '${def.end_name}'`, ...rest].join('\n') : action
}

// Runs the init script, then each step as the environment would (LAST_ACTION exported after every step), in one bash.
// Returns the init script's output followed by each step's output.
async function session (t: Test, base: string, steps: string[], env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  let script = 'exec 2>&1\n' + toolsInitScript('mlgym', toolsDir()) + `echo ${MARK}\n`
  for (const step of steps) script += `${guard(step)}\nexport LAST_ACTION=${shq(step.trim())}\necho ${MARK}\n`
  const file = join(base, 'steps.sh')
  writeFileSync(file, script)
  const out = await new Promise<string>((resolve, reject) => {
    execFile('bash', [file], { cwd: join(base, 'ws'), env, maxBuffer: 64 << 20 }, (err, stdout) => err ? reject(err) : resolve(stdout))
  })
  const parts = out.split(`${MARK}\n`)
  t.equal(parts.pop(), '', 'nothing after the last step')
  return parts
}

const edit = (start: number, end: number, text: string): string =>
  actionFromToolCall('edit', { start_line: start, end_line: end, replacement_text: text })
const insert = (line: number, text: string): string => actionFromToolCall('insert', { line_number: line, text_to_add: text })

function rejectedEdit (errors: string, after: string, before: string): string {
  return lines('Your proposed edit has introduced new syntax error(s). Please read this error message carefully and then retry editing the file.',
    '', 'ERRORS:', errors, '', 'This is how your edit would have looked if applied', RULE) + after +
    lines(RULE, '', 'This is the original code before your edit', RULE) + before +
    lines(RULE, 'Your changes have NOT been applied. Please fix your edit command and try again.',
      'You either need to 1) Specify the correct start/end line arguments or 2) Correct your edit code.',
      'DO NOT re-run the same failed edit command. Running it again will lead to the same error.')
}

function rejectedInsert (errors: string, after: string, before: string): string {
  return lines('Your proposed insertion has introduced new syntax error(s). Please read this error message carefully and then retry inserting into the file.',
    '', 'ERRORS:', errors, '', 'This is how your insertion would have looked if applied', RULE) + after +
    lines(RULE, '', 'This is the original code before your insertion', RULE) + before +
    lines(RULE, 'Your changes have NOT been applied. Please fix your insert command and try again.',
      'You either need to 1) Specify the correct line number argument or 2) Correct your insertion code.',
      'DO NOT re-run the same failed insert command. Running it again will lead to the same error.')
}

t.test('the init script prints nothing and sets MLGym\'s session variables', async t => {
  const { base } = workspace(t)
  const [init, vars, state, mode] = await session(t, base, ['echo "$WINDOW $OVERLAP $CURRENT_LINE [$CURRENT_FILE] $SEARCH_INDEX"', 'state', '_lint_mode'])
  t.equal(init, '')
  t.equal(vars, '1000 2 0 [] 0\n')
  t.equal(state, `{"open_file": "n/a", "working_dir": "${base}/ws"}\n`)
  t.equal(lintMode(), FLAKE8 ? 'flake8' : 'py_compile', 'lintMode() finds flake8 where the shell does')
  t.equal(mode, lintMode() + '\n', 'the sandbox and lintMode() agree')
})

t.test('open', async t => {
  const { base, ws } = workspace(t)
  const out = await session(t, base, ['open small.py', 'open big.txt', 'open big.txt 1200', 'open big.txt 2400', 'open nope.txt',
    'open data', 'open', 'open small.py x', 'state'])
  t.equal(out[1], smallView(ws), 'whole file')
  t.equal(out[2], `[File: ${ws}/big.txt (2500 lines total)]\n` + numbered(1, 1000) + '(1500 more lines below)\n', 'first window')
  t.equal(out[3], `[File: ${ws}/big.txt (2500 lines total)]\n(1034 more lines above)\n` + numbered(1035, 2034) +
    '(466 more lines below)\n', 'line 1200 a sixth of the way down')
  t.equal(out[4], `[File: ${ws}/big.txt (2500 lines total)]\n(1500 more lines above)\n` + numbered(1501, 2500), 'window kept inside the file')
  t.equal(out[5], 'File nope.txt not found\n')
  t.equal(out[6], 'Error: data is a directory. You can only open files. Use cd or ls to navigate directories.\n')
  t.equal(out[7], 'Usage: open "<file>"\n')
  t.equal(out[8], 'Usage: open "<file>" [<line_number>]\nError: <line_number> must be a number\n')
  t.equal(out[9], `{"open_file": "${ws}/big.txt", "working_dir": "${ws}"}\n`)
})

t.test('goto', async t => {
  const { base, ws } = workspace(t)
  const out = await session(t, base, ['goto 5', 'open big.txt', 'goto 1200', 'goto 3000', 'goto x', 'goto 1 2'])
  t.equal(out[1], 'No file open. Use the open command first.\n')
  t.equal(out[3], `[File: ${ws}/big.txt (2500 lines total)]\n(1034 more lines above)\n` + numbered(1035, 2034) + '(466 more lines below)\n')
  t.equal(out[4], 'Error: <line> must be less than or equal to 2500\n')
  t.equal(out[5], 'Usage: goto <line>\nError: <line> must be a number\n')
  t.equal(out[6], 'goto allows only one line number at a time.\n')
})

t.test('scroll_down and scroll_up, with the warning after three scrolls in a row', async t => {
  const { base, ws } = workspace(t)
  const out = await session(t, base, ['scroll_down', 'open big.txt', 'scroll_down', 'scroll_down', 'scroll_down', 'scroll_up', 'echo hi', 'scroll_up'])
  const head = `[File: ${ws}/big.txt (2500 lines total)]\n`
  t.equal(out[1], 'No file open. Use the open command first.\n')
  t.equal(out[3], head + '(998 more lines above)\n' + numbered(999, 1998) + '(502 more lines below)\n', 'down 998 lines')
  t.equal(out[4], head + '(1500 more lines above)\n' + numbered(1501, 2500), 'second scroll: no warning yet')
  t.equal(out[5], head + '(1500 more lines above)\n' + numbered(1501, 2500) + SCROLL_WARNING, 'third scroll in a row')
  t.equal(out[6], head + '(502 more lines above)\n' + numbered(503, 1502) + '(998 more lines below)\n' + SCROLL_WARNING)
  t.equal(out[8], head + numbered(1, 1000) + '(1500 more lines below)\n', 'another command in between resets the count')
})

t.test('create', async t => {
  const { base, ws } = workspace(t)
  const out = await session(t, base, ['create new.py', 'create small.py', 'create', 'cat -A new.py'])
  t.equal(out[1], `[File: ${ws}/new.py (1 lines total)]\n1:\n`)
  t.equal(out[2], "Error: File 'small.py' already exists.\n" + smallView(ws))
  t.equal(out[3], 'Usage: create <filename>\n')
  t.equal(out[4], '$\n', 'a new file holds one newline')
})

t.test('edit', async t => {
  const { base, ws } = workspace(t)
  const out = await session(t, base, ['edit 1:1\nx\nend_of_edit', 'open notes.txt', edit(2, 2, 'BETA\nDELTA\n'), 'edit 2\nx\nend_of_edit',
    'edit a:2\nx\nend_of_edit', 'edit 1:b\nx\nend_of_edit', edit(1, 4, ''), 'cat notes.txt'])
  t.equal(out[1], 'No file open. Use the `open` command first.\n')
  t.equal(out[3], lines(`[File: ${ws}/notes.txt (4 lines total)]`, '1:alpha', '2:BETA', '3:DELTA', '4:gamma alpha') + UPDATED)
  t.equal(out[4], 'Usage: edit <start_line>:<end_line>\n')
  t.equal(out[5], 'Usage: edit <start_line>:<end_line>\nError: start_line must be a number\n')
  t.equal(out[6], 'Usage: edit <start_line>:<end_line>\nError: end_line must be a number\n')
  t.equal(out[7], lines(`[File: ${ws}/notes.txt (1 lines total)]`, '1:') + UPDATED, 'deleting every line leaves one empty line')
  t.equal(out[8], '\n')
})

t.test('edit of a Python file: new lint errors reject it, old ones do not', async t => {
  const { base, ws } = workspace(t)
  const out = await session(t, base, ['open small.py', edit(5, 5, '    return a - b'), edit(5, 5, '    return (a - b'),
    edit(5, 5, '    return a - c'), 'cat small.py', 'open broken.py', edit(1, 1, 'def f(x):'), 'cat broken.py'])
  t.equal(out[2], smallView(ws, '    return a - b') + UPDATED)
  t.equal(out[3], rejectedEdit("- E999 SyntaxError: '(' was never closed", smallView(ws, '    return (a - b'), smallView(ws, '    return a - b')))
  if (FLAKE8) {
    t.equal(out[4], rejectedEdit("- F821 undefined name 'c'", smallView(ws, '    return a - c'), smallView(ws, '    return a - b')))
    t.equal(out[5], SMALL_PY.replace('a + b', 'a - b'), 'rejected edits leave the file alone')
  } else {
    t.equal(out[4], smallView(ws, '    return a - c') + UPDATED, 'without flake8 an undefined name is not an error')
    t.equal(out[5], SMALL_PY.replace('a + b', 'a - c'), 'only the syntax error was rejected')
  }
  t.equal(out[7], lines(`[File: ${ws}/broken.py (5 lines total)]`, '1:def f(x):', '2:    return missing_name', '3:', '4:', '5:print(f())') + UPDATED,
    'the undefined name was there before the edit')
  t.equal(out[8], 'def f(x):\n    return missing_name\n\n\nprint(f())\n')
})

t.test('insert', async t => {
  const { base, ws } = workspace(t)
  const out = await session(t, base, ['open notes.txt', insert(1, 'inserted'), insert(0, 'first\n'), 'insert x\nx\nend_of_insert', 'cat notes.txt'])
  t.equal(out[2], lines(`[File: ${ws}/notes.txt (4 lines total)]`, '1:alpha', '2:inserted', '3:beta', '4:gamma alpha') + UPDATED)
  t.equal(out[3], lines(`[File: ${ws}/notes.txt (5 lines total)]`, '1:first', '2:alpha', '3:inserted', '4:beta', '5:gamma alpha') + UPDATED)
  t.equal(out[4], 'Usage: insert <line_number>\nError: line_number must be a number\n')
  t.equal(out[5], 'first\nalpha\ninserted\nbeta\ngamma alpha\n')
})

t.test('insert into a Python file', async t => {
  const { base, ws } = workspace(t)
  const out = await session(t, base, ['open small.py', insert(8, 'print(add(3, 4))'), insert(3, 'x = ('), 'open broken.py', insert(0, 'import os')])
  const view9 = lines(`[File: ${ws}/small.py (9 lines total)]`, '1:import os', '2:', '3:', '4:def add(a, b):', '5:    return a + b',
    '6:', '7:', '8:print(add(1, 2))', '9:print(add(3, 4))')
  t.equal(out[2], view9 + UPDATED)
  t.equal(out[3], rejectedInsert("- E999 SyntaxError: '(' was never closed",
    lines(`[File: ${ws}/small.py (10 lines total)]`, '1:import os', '2:', '3:', '4:x = (', '5:def add(a, b):', '6:    return a + b',
      '7:', '8:', '9:print(add(1, 2))', '10:print(add(3, 4))'), view9))
  const broken = ['def f():', '    return missing_name', '', '', 'print(f())']
  const inserted = lines(`[File: ${ws}/broken.py (6 lines total)]`, '1:import os', ...broken.map((l, i) => `${i + 2}:${l}`))
  if (FLAKE8) {
    // MLGym compares insert's older errors without moving them down by the inserted lines, so this one counts as new.
    t.equal(out[5], rejectedInsert("- F821 undefined name 'missing_name'", inserted,
      lines(`[File: ${ws}/broken.py (5 lines total)]`, ...broken.map((l, i) => `${i + 1}:${l}`))))
  } else {
    t.equal(out[5], inserted + UPDATED, 'without flake8 an undefined name is not an error')
  }
})

t.test('search_dir, search_file, find_file', async t => {
  const { base, ws } = workspace(t)
  const out = await session(t, base, ['search_dir alpha', 'search_dir zzz', 'search_dir alpha data', 'search_dir alpha nodir',
    'search_file alpha notes.txt', 'search_file zzz notes.txt', 'search_file alpha', 'search_file alpha nope.txt',
    'find_file train.csv', 'find_file nothing.txt', 'find_file x.txt data'])
  t.equal(out[1], lines(`Found 3 matches for "alpha" in ${ws}:`, `${ws}/data/train.csv (1 matches)`, `${ws}/notes.txt (2 matches)`,
    `End of matches for "alpha" in ${ws}`), 'hidden files skipped')
  t.equal(out[2], `No matches found for "zzz" in ${ws}\n`)
  t.equal(out[3], lines(`Found 1 matches for "alpha" in ${ws}/data:`, `${ws}/data/train.csv (1 matches)`, `End of matches for "alpha" in ${ws}/data`))
  t.equal(out[4], 'Directory nodir not found\n')
  t.equal(out[5], lines(`Found 2 matches for "alpha" in ${ws}/notes.txt:`, 'Line 1:alpha', 'Line 3:gamma alpha', `End of matches for "alpha" in ${ws}/notes.txt`))
  t.equal(out[6], `No matches found for "zzz" in ${ws}/notes.txt\n`)
  t.equal(out[7], 'No file open. Use the open command first.\n')
  t.equal(out[8], 'Usage: search_file <search_term> [<file>]\nError: File name nope.txt not found. Please provide a valid file name.\n')
  t.equal(out[9], `Found 1 matches for "train.csv" in ${ws}:\n${ws}/data/train.csv\n`)
  t.equal(out[10], `No matches found for "nothing.txt" in ${ws}\n`)
  t.equal(out[11], `Found 1 matches for "x.txt" in ${ws}/data:\n${ws}/data/.hidden/x.txt\n`, 'find_file does look in hidden directories')
})

t.test('validate and submit print the markers the environment looks for', async t => {
  const { base } = workspace(t)
  const out = await session(t, base, ['validate', 'submit'])
  t.equal(out[1], '<<VALIDATION||\nvalidating file\n||VALIDATION>>\n')
  t.equal(out[2], '<<SUBMISSION||\nsubmitting file\n||SUBMISSION>>\n')
})

t.test('without flake8 the lint is Python\'s own parse check', async t => {
  const { base, ws } = workspace(t)
  // a PATH with the tools the commands use, but no flake8
  const bin = join(base, 'bin')
  mkdirSync(bin)
  for (const tool of ['bash', 'awk', 'grep', 'head', 'tail', 'realpath', 'wc', 'mktemp', 'cp', 'rm', 'dirname', 'find', 'cut', 'sort', 'uniq', 'sed', 'cat', 'file']) {
    const path = execFileSync('bash', ['-c', `command -v ${tool} || true`], { encoding: 'utf8' }).trim()
    if (path !== '') symlinkSync(path, join(bin, tool))
  }
  symlinkSync(execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim(), join(bin, 'python3'))

  const savedPath = process.env.PATH
  process.env.PATH = bin
  try {
    t.equal(lintMode(), 'py_compile')
  } finally {
    process.env.PATH = savedPath
  }

  const out = await session(t, base, ['_lint_mode', 'open small.py', edit(5, 5, '    return (a - b'), edit(1, 1, '  import os'),
    edit(5, 5, '    return a - c')], { ...process.env, PATH: bin })
  t.equal(out[1], 'py_compile\n')
  t.equal(out[3], rejectedEdit("- E999 SyntaxError: '(' was never closed", smallView(ws, '    return (a - b'), smallView(ws)), 'same message as flake8')
  t.equal(out[4], rejectedEdit('- E999 IndentationError: unexpected indent', smallView(ws, undefined, '  import os'), smallView(ws)))
  t.equal(out[5], smallView(ws, '    return a - c') + UPDATED, 'an undefined name is not a syntax error')
})

t.test('commandDocs is MLGym\'s {command_docs}', async t => {
  const docs = commandDocs('mlgym')
  const names = ['open', 'goto', 'scroll_down', 'scroll_up', 'create', 'search_dir', 'search_file', 'find_file', 'edit', 'insert', 'submit', 'validate']
  t.same(toolDefinitions('mlgym').map(d => d.name), names, 'MLGym\'s order')
  for (const name of names) t.match(docs, new RegExp(`^${name}:\\n  docstring: `, 'm'), name)
  t.ok(docs.startsWith(lines('open:',
    '  docstring: opens the file at the given path in the editor. If line_number is provided, the window will be move to include that line',
    '  signature: open "<path>" [<line_number>]',
    '  arguments:',
    '    - path (string) [required]: the path to the file to open',
    '    - line_number (integer) [optional]: the line number to move the window to (if not provided, the window will start at the top of the file)',
    '')), 'open block')
  t.ok(docs.includes(lines('scroll_down:', '  docstring: moves the window down 1000 lines', '  signature: scroll_down', '')), '{WINDOW} filled in')
  t.ok(docs.includes(lines('edit:',
    '  docstring: replaces lines <start_line> through <end_line> (inclusive) with the given text in the open file. The replacement text is terminated by a line with only end_of_edit on it. All of the <replacement text> will be entered, so make sure your indentation is formatted properly. Python files will be checked for syntax errors after the edit. If the system detects a syntax error, the edit will not be executed. Simply try to edit the file again, but make sure to read the error message and modify the edit command you issue accordingly. Issuing the same command a second time will just lead to the same error message again.',
    '  signature: edit <start_line>:<end_line>', '<replacement_text>', 'end_of_edit',
    '  arguments:',
    '    - start_line (integer) [required]: the line number to start the edit at',
    '    - end_line (integer) [required]: the line number to end the edit at (inclusive)',
    '    - replacement_text (string) [required]: the text to replace the current selection with',
    '')), 'edit block')
  t.ok(docs.endsWith(lines('submit:', '  docstring: submits your current code and terminates the session', '  signature: submit', '',
    'validate:', '  docstring: validates your current submission file and returns the metrics on test set', '  signature: validate', '')))
  t.same(toolDefinitions('mlgym').filter(d => d.end_name !== undefined).map(d => [d.name, d.end_name]), [['edit', 'end_of_edit'], ['insert', 'end_of_insert']])
})

t.test('function-calling descriptions never ask for the end line the server adds (issue 20)', async t => {
  for (const profile of ['mlgym', 'sweagent'] as const) {
    for (const def of toolDefinitions(profile).filter(d => d.end_name !== undefined)) {
      const fn = openaiTools(profile).find(x => x.function.name === def.name)!.function
      t.match(def.docstring, /terminated by a line/, `${profile} ${def.name}: the command docs keep MLGym's text`)
      t.notMatch(fn.description, /terminated/, `${profile} ${def.name}`)
      t.notOk(fn.description.includes(def.end_name!), `${profile} ${def.name}: no ${def.end_name}`)
      t.match(fn.description, new RegExp(`is the ${Object.keys(def.arguments).at(-1)} argument, given as is\\.`))
    }
  }
})

t.test('openaiTools', async t => {
  const tools = openaiTools('mlgym')
  t.equal(tools.length, 13)
  for (const tool of tools) {
    t.equal(tool.type, 'function')
    t.equal(tool.function.parameters.type, 'object')
    t.ok(Array.isArray(tool.function.parameters.required))
    for (const req of tool.function.parameters.required) t.ok(req in tool.function.parameters.properties, `${tool.function.name}.${req}`)
  }
  t.same(tools.find(x => x.function.name === 'edit'), {
    type: 'function',
    function: {
      name: 'edit',
      description: toolDefinitions('mlgym').find(d => d.name === 'edit')!.docstring.replace(
        'The replacement text is terminated by a line with only end_of_edit on it.', 'The replacement text is the replacement_text argument, given as is.'),
      parameters: {
        type: 'object',
        properties: {
          start_line: { type: 'integer', description: 'the line number to start the edit at' },
          end_line: { type: 'integer', description: 'the line number to end the edit at (inclusive)' },
          replacement_text: { type: 'string', description: 'the text to replace the current selection with' }
        },
        required: ['start_line', 'end_line', 'replacement_text']
      }
    }
  })
  t.same(tools.find(x => x.function.name === 'submit')!.function.parameters, { type: 'object', properties: {}, required: [] })
  t.same(tools.find(x => x.function.name === 'open')!.function.parameters.required, ['path'])
  t.same(tools.at(-1)!.function.name, 'bash')
  t.same(tools.at(-1)!.function.parameters.required, ['command'])
  t.equal(tools.find(x => x.function.name === 'scroll_up')!.function.description, 'moves the window down 1000 lines')
})

t.test('actionFromToolCall', async t => {
  t.equal(actionFromToolCall('edit', { start_line: 3, end_line: 5, replacement_text: 'a = 1\n    b = 2\n' }), 'edit 3:5\na = 1\n    b = 2\nend_of_edit')
  t.equal(actionFromToolCall('edit', { start_line: '3', end_line: 5, replacement_text: '' }), 'edit 3:5\nend_of_edit', 'empty text deletes the lines')
  t.equal(actionFromToolCall('insert', { line_number: 0, text_to_add: 'import os' }), 'insert 0\nimport os\nend_of_insert')
  t.equal(actionFromToolCall('bash', { command: 'python train.py --epochs 3' }), 'python train.py --epochs 3')
  t.equal(actionFromToolCall('open', { path: 'train.py' }), 'open "train.py"')
  t.equal(actionFromToolCall('open', { path: 'data/my file.py', line_number: 20 }), 'open "data/my file.py" 20')
  t.equal(actionFromToolCall('open', { path: 'a$b' }), "open 'a$b'")
  t.equal(actionFromToolCall('search_dir', { search_term: "it's here", dir: 'src' }), `search_dir 'it'"'"'s here' src`)
  t.equal(actionFromToolCall('scroll_down', {}), 'scroll_down')
  t.equal(actionFromToolCall('submit', {}), 'submit')
  t.throws(() => actionFromToolCall('edit', { start_line: 3, end_line: 5 }), /replacement_text/)
  t.throws(() => actionFromToolCall('edit', { start_line: -1, end_line: 5, replacement_text: 'x' }), /start_line/)
  t.throws(() => actionFromToolCall('edit', { start_line: 'three', end_line: 5, replacement_text: 'x' }), /start_line/)
  t.throws(() => actionFromToolCall('edit', { start_line: 1, end_line: 1, replacement_text: 'x\nend_of_edit\ny' }), /replacement_text/)
  t.throws(() => actionFromToolCall('open', { path: 'a', lines: 3 }), /lines/)
  t.throws(() => actionFromToolCall('open', { path: 7 }), /path/)
  t.throws(() => actionFromToolCall('bash', {}), /command/)
  t.throws(() => actionFromToolCall('rm_rf', {}), /rm_rf/)
})

t.test('an action from a tool call runs in the shell', async t => {
  const { base, ws } = workspace(t)
  const out = await session(t, base, [actionFromToolCall('open', { path: 'notes.txt' }), edit(1, 1, 'ALPHA\n'), insert(3, 'omega'),
    actionFromToolCall('search_file', { search_term: 'gamma alpha' }), actionFromToolCall('bash', { command: 'cat notes.txt' })])
  t.equal(out[1], lines(`[File: ${ws}/notes.txt (3 lines total)]`, '1:alpha', '2:beta', '3:gamma alpha'))
  t.equal(out[4], lines(`Found 1 matches for "gamma alpha" in ${ws}/notes.txt:`, 'Line 3:gamma alpha', `End of matches for "gamma alpha" in ${ws}/notes.txt`))
  t.equal(out[5], 'ALPHA\nbeta\ngamma alpha\nomega\n')
})
