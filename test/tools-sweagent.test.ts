// The sweagent tool profile in a real local sandbox. Every expected text is written from SWE-agent 1.x's documented
// formats (shared/reference/swe-agent.md §1-2): window math int(L - WINDOW/6) clamped to [0, n - WINDOW], scrolls of
// WINDOW - OVERLAP, `N:text` lines and their framing, `{:6}\t` numbering, the 16,000-character clip, error texts.
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalSandbox } from '../sandbox/local.js'
import { actionFromToolCall, commandDocs, openaiTools, toolDefinitions, toolsDir, toolsInitScript } from '../sandbox/tools.js'
import {
  SWEAGENT_PATCH_FILE, SWEAGENT_STATE_FILE, SWEAGENT_SUBMISSION, parseSweagentState, sweagentStateScript
} from '../sandbox/tools/sweagent/profile.js'
import { COMMANDS_DIR, WORKSPACE, type FileEntry } from '../sandbox/types.js'
import { guardMultilineInput } from '../tasks/environment.js'
import { http, onPath, testServer } from './helpers.js'

const WS = WORKSPACE
const lines = (...ls: string[]): string => ls.map(l => l + '\n').join('')
const BIG = Array.from({ length: 2000 }, (_, i) => `line ${i + 1}\n`).join('')
/** `N:line N` for lines from..to of big.txt */
const window = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}:line ${from + i}`)
/** cat -n lines: the number right-aligned in 6 columns, a tab, the text */
const catN = (first: number, ...ls: string[]): string => ls.map((l, i) => `${String(first + i).padStart(6)}\t${l}\n`).join('')
const A_PY = 'def f(x):\n    # add three\n    y = x + 3\n    return y * 2\n'
const CLIP = '<response clipped><NOTE>To save on context only part of this file has been shown to you. You should retry this tool after you have searched inside the file with `grep -n` in order to find the line numbers of what you are looking for.</NOTE>'
const DASHES = '-'.repeat(48)

interface Step { output: string, exitCode: number | null }
type Run = (command: string, trailer?: string) => Promise<Step & { trailer?: string }>

async function sandbox (t: Test, files: Record<string, string>): Promise<Run> {
  const base = mkdtempSync(join(tmpdir(), 'synthgym-swe2-'))
  const entries: FileEntry[] = Object.entries(files).map(([path, data]) => ({ path: `${WS}/${path}`, data }))
  const sb = await LocalSandbox.create({
    baseDir: base,
    mounts: [{ hostPath: toolsDir(), path: COMMANDS_DIR, readOnly: true }],
    files: entries,
    init: toolsInitScript('sweagent', COMMANDS_DIR)
  })
  t.teardown(async () => { await sb.close(); rmSync(base, { recursive: true, force: true }) })
  return async (command, trailer) => {
    const r = await sb.exec(guardMultilineInput(command, 'sweagent'), { timeout: 30, trailer })
    return { output: r.output, exitCode: r.exitCode, trailer: r.trailer }
  }
}

t.test('function-calling tools: SWE-agent\'s shape, one per command', async t => {
  const tools = openaiTools('sweagent')
  t.same(tools.map(x => x.function.name), ['goto', 'open', 'create', 'scroll_up', 'scroll_down', 'find_file', 'search_dir',
    'search_file', 'edit', 'str_replace_editor', 'submit', 'bash'])
  const fn = (n: string) => tools.find(x => x.function.name === n)!.function
  t.same(fn('bash').parameters.required, ['command'])
  t.equal(fn('bash').description, 'runs the given command directly in bash')
  // no arguments: parameters is {"type": "object"} alone; the description is the docstring as written
  t.same(fn('scroll_up'), { name: 'scroll_up', description: 'moves the window up {WINDOW} lines', parameters: { type: 'object' } })
  t.same(fn('submit'), { name: 'submit', description: 'submits the current file', parameters: { type: 'object' } })
  t.same(fn('goto').parameters, { type: 'object', properties: { line_number: { type: 'integer', description: 'the line number to move the window to' } }, required: ['line_number'] })
  t.same(fn('open').parameters.required, ['path'])
  t.same(fn('edit').parameters.required, ['start_line', 'end_line', 'replacement_text'])
  t.match(fn('edit').description, /^Replaces lines <start_line> through <end_line> \(inclusive\) with the given text in the open file\./)
  const sre = fn('str_replace_editor').parameters
  t.same(Object.keys(sre.properties!), ['command', 'path', 'file_text', 'view_range', 'old_str', 'new_str', 'insert_line'])
  t.same(sre.required, ['command', 'path'])
  t.same(sre.properties!.command.enum, ['view', 'create', 'str_replace', 'insert', 'undo_edit'])
  t.same(sre.properties!.view_range.type, 'array')
  t.same(sre.properties!.view_range.items, { type: 'integer' })
  t.equal(sre.properties!.path.enum, undefined)
  t.equal(toolDefinitions('sweagent').find(d => d.name === 'str_replace_editor')!.signature,
    'str_replace_editor <command> <path> [<file_text>] [<view_range>] [<old_str>] [<new_str>] [<insert_line>]')
  t.equal(toolDefinitions('sweagent').find(d => d.name === 'edit')!.end_name, 'end_of_edit')
  // the MLGym profile keeps its shape: properties and required even without arguments
  t.same(openaiTools('mlgym').find(x => x.function.name === 'submit')!.function.parameters, { type: 'object', properties: {}, required: [] })
})

t.test('command docs: generate_command_docs, {WINDOW} filled from the env variables', async t => {
  const docs = commandDocs('sweagent')
  t.ok(docs.startsWith(lines('goto:', '  docstring: moves the window to show <line_number>', '  signature: goto <line_number>', '  arguments:',
    '    - line_number (integer) [required]: the line number to move the window to', '')))
  t.ok(docs.includes(lines('scroll_up:', '  docstring: moves the window up 100 lines', '  signature: scroll_up', '')))
  t.ok(docs.includes('  signature: edit <start_line>:<end_line>\n<replacement_text>\nend_of_edit\n'))
  t.ok(docs.includes('    - view_range (array) [optional]: '))
})

t.test('tool call → command line as SWE-agent\'s function-calling parser renders it', async t => {
  const act = (name: string, args: Record<string, unknown>) => actionFromToolCall(name, args, 'sweagent')
  t.equal(act('open', { path: 'src/marshmallow/fields.py', line_number: 1474 }), 'open "src/marshmallow/fields.py" 1474')
  t.equal(act('open', { path: 'a.py' }), 'open "a.py"', 'a missing optional argument is empty, the line stripped')
  // shlex.quote inside the signature's quotes: SWE-agent's own rendering of a path with a space
  t.equal(act('open', { path: 'my file.py' }), 'open "\'my file.py\'"')
  t.equal(act('goto', { line_number: 7 }), 'goto 7')
  t.equal(act('search_dir', { search_term: "it's" }), 'search_dir \'it\'"\'"\'s\'')
  t.equal(act('str_replace_editor', { command: 'view', path: '/a/b.py', view_range: [3, -1] }), 'str_replace_editor view /a/b.py  --view_range 3 -1')
  t.equal(act('str_replace_editor', { command: 'create', path: '/a/n.py', file_text: 'x = 1\n' }), "str_replace_editor create /a/n.py --file_text 'x = 1\n'")
  t.equal(act('str_replace_editor', { command: 'insert', path: '/a/n.py', insert_line: 0, new_str: 'y' }), 'str_replace_editor insert /a/n.py    --new_str y --insert_line 0')
  // edit has an end_name: its values are not quoted, its text goes between the first line and end_of_edit
  t.equal(act('edit', { start_line: 2, end_line: 3, replacement_text: "x = 'a'" }), "edit 2:3\nx = 'a'\nend_of_edit")
  t.equal(guardMultilineInput(act('edit', { start_line: 2, end_line: 3, replacement_text: 'x' }), 'sweagent'), "edit 2:3 << 'end_of_edit'\nx\nend_of_edit")
  t.equal(act('submit', {}), 'submit')
  t.throws(() => act('goto', {}), /missing required argument "line_number"/)
  t.throws(() => act('goto', { line_number: 1, x: 2 }), /unknown argument "x"/)
  t.throws(() => act('str_replace_editor', { command: 'view', path: '/a', view_range: '1 2' }), /must be an array/)
  t.throws(() => act('edit', { start_line: 1, end_line: 1, replacement_text: 'a\nend_of_edit\nb' }), /must not contain a line "end_of_edit"/)
})

t.test('windowed: window math, framing, registry, errors', async t => {
  const run = await sandbox(t, { 'big.txt': BIG, 'a.py': A_PY, 'empty.txt': '', 'sub/b.txt': 'b\n' })
  const expect = async (command: string, output: string, exitCode = 0, what = command) => {
    const r = await run(command)
    t.equal(r.output, output, what)
    t.equal(r.exitCode, exitCode, `${what}: exit ${exitCode}`)
  }
  await expect('goto 5', lines('No file open. Use the open command first.'), 1)
  await expect('scroll_down', lines('No file open. Use the open command first.'), 1)
  await expect('open', lines('Usage: open "<file>"'), 1)
  await expect('open nope.txt', lines('Error: File nope.txt not found'), 1)
  await expect('open sub', lines('Error: sub is a directory. You can only open files. Use cd or ls to navigate directories.'), 1)
  // open f 1474 with WINDOW=100 shows 1457..1556; the path as typed
  await expect('open big.txt 1474', lines('[File: big.txt (2000 lines total)]', '(1456 more lines above)', ...window(1457, 1556), '(444 more lines below)'))
  // scrolls move by WINDOW - OVERLAP = 98; the path from the registry, absolute
  await expect('scroll_down', lines(`[File: ${WS}/big.txt (2000 lines total)]`, '(1554 more lines above)', ...window(1555, 1654), '(346 more lines below)'))
  await expect('scroll_up', lines(`[File: ${WS}/big.txt (2000 lines total)]`, '(1456 more lines above)', ...window(1457, 1556), '(444 more lines below)'))
  // clamped to n - WINDOW at the bottom, 0 at the top
  await expect('goto 1990', lines(`[File: ${WS}/big.txt (2000 lines total)]`, '(1900 more lines above)', ...window(1901, 2000)))
  await expect('scroll_down', lines(`[File: ${WS}/big.txt (2000 lines total)]`, '(1900 more lines above)', ...window(1901, 2000)))
  await expect('goto 10', lines(`[File: ${WS}/big.txt (2000 lines total)]`, ...window(1, 100), '(1900 more lines below)'))
  // goto 100: int(99 - 16.67) = 82, lines 83..182
  await expect('goto 100', lines(`[File: ${WS}/big.txt (2000 lines total)]`, '(82 more lines above)', ...window(83, 182), '(1818 more lines below)'))
  await expect('open', lines(`[File: ${WS}/big.txt (2000 lines total)]`, '(82 more lines above)', ...window(83, 182), '(1818 more lines below)'), 0, 'open without arguments re-prints the window')
  await expect('goto 1 2', lines('goto allows only one line number at a time.'), 1)
  await expect('goto', lines('Usage: goto <line>'), 1)
  await expect('goto x', lines('Error: x must be a number'), 1)
  await expect('goto 2001', lines('Error: 2001 must be less than or equal to 2000'), 1)
  await expect('open big.txt x', lines('Usage: open "<file>" [<line_number>]', 'Error: <line_number> must be a number'), 1)
  await expect('open big.txt 5000', lines('Warning: <line_number> (5000) is greater than the number of lines in the file (2000)',
    'Warning: Setting <line_number> to 2000', '[File: big.txt (2000 lines total)]', '(1900 more lines above)', ...window(1901, 2000)))
  await expect('open big.txt 0', lines('Warning: <line_number> (0) is less than 1', 'Warning: Setting <line_number> to 1',
    '[File: big.txt (2000 lines total)]', ...window(1, 100), '(1900 more lines below)'))
  // the quirk: open without a line number starts from the FIRST_LINE in the registry, shifted up by 1 + WINDOW/6
  await run('goto 1000')
  t.equal((await run('_read_env FIRST_LINE')).output, '982\n', 'FIRST_LINE is 0-based: int(999 - 100/6)')
  t.match((await run('open big.txt')).output, /^\[File: big.txt \(2000 lines total\)\]\n\(964 more lines above\)\n965:line 965\n/)
  await expect('open empty.txt', lines('[File: empty.txt (0 lines total)]'))
  await expect('create new/dir/n.py', lines('[File: new/dir/n.py (0 lines total)]'))
  t.equal((await run('_read_env CURRENT_FILE')).output, `${WS}/new/dir/n.py\n`, 'the registry holds the absolute path')
  await expect('create a.py', lines("Warning: File 'a.py' already exists."), 1)
  t.equal((await run('_read_env CURRENT_FILE')).output, `${WS}/new/dir/n.py\n`, 'an existing file is not opened')
  // registry precedence: the registry's value, else the environment's
  await run('_write_env WINDOW 10')
  await expect('open big.txt 50', lines('[File: big.txt (2000 lines total)]', '(47 more lines above)', ...window(48, 57), '(1943 more lines below)'))
  await run('printf {} > ~/.swe-agent-env; export WINDOW=20')
  await expect('open big.txt 50', lines('[File: big.txt (2000 lines total)]', '(45 more lines above)', ...window(46, 65), '(1935 more lines below)'))
  // state command
  t.same(parseSweagentState((await run(':', sweagentStateScript)).trailer!), { open_file: `${WS}/big.txt`, working_dir: WS })
  await run('cd sub')
  t.equal((await run(`_state; cat ${SWEAGENT_STATE_FILE}`)).output, `{"open_file": "${WS}/big.txt", "working_dir": "${WS}/sub"}`, '_state writes state.json')
  t.same(parseSweagentState((await run(':', sweagentStateScript)).trailer!), { open_file: `${WS}/big.txt`, working_dir: `${WS}/sub` })
  await run('printf {} > ~/.swe-agent-env')
  t.same(parseSweagentState((await run(':', sweagentStateScript)).trailer!), { open_file: 'n/a', working_dir: `${WS}/sub` })
})

t.test('parseSweagentState: fallbacks for a missing or broken state.json', async t => {
  t.same(parseSweagentState('{}'), { open_file: 'n/a', working_dir: WS })
  t.same(parseSweagentState('not json'), { open_file: 'n/a', working_dir: WS })
  t.same(parseSweagentState('{"open_file": "/x", "working_dir": "/y"}'), { open_file: '/x', working_dir: '/y' })
})

t.test('edit: replaces a line range, lints Python files, rejects new syntax errors', async t => {
  const run = await sandbox(t, { 'a.py': A_PY, 'notes.txt': 'one\ntwo\nthree\n' })
  const edit = (start: number, end: number, text: string) => actionFromToolCall('edit', { start_line: start, end_line: end, replacement_text: text }, 'sweagent')
  t.equal((await run(edit(1, 1, 'x'))).output, lines('No file opened. Use the `open` command first.'))
  await run('open a.py')
  const usage = lines('Usage: edit <start_line>:<end_line>', '<replacement_text>', 'end_of_edit')
  t.equal((await run('edit 3\nx\nend_of_edit')).output, usage)
  t.equal((await run(edit(0, 1, 'x'))).output, usage)
  const original = lines(`[File: ${WS}/a.py (4 lines total)]`, '1:def f(x):', '2:    # add three', '3:    y = x + 3', '4:    return y * 2')
  const bad = await run(edit(4, 4, '        return y * 2'))
  t.equal(bad.output, lines('Your proposed edit has introduced new syntax error(s). Please read this error message carefully and then retry editing the file.',
    '', 'ERRORS:', '- E999 IndentationError: unexpected indent', '', 'This is how your edit would have looked if applied', DASHES) +
    lines(`[File: ${WS}/a.py (4 lines total)]`, '1:def f(x):', '2:    # add three', '3:    y = x + 3', '4:        return y * 2') +
    lines(DASHES, '', 'This is the original code before your edit', DASHES) + original +
    lines(DASHES, '', 'Your changes have NOT been applied. Please fix your edit command and try again.',
      'DO NOT re-run the same failed edit command. Running it again will lead to the same error.'))
  t.equal(bad.exitCode, 1)
  t.equal((await run('cat a.py')).output, A_PY, 'the file is reverted')
  const ok = await run(edit(3, 4, '    y = x + 4\n    z = y\n    return z * 2'))
  t.equal(ok.output, lines('File updated. Please review the changes and make sure they are correct',
    '(correct indentation, no duplicate lines, etc). Edit the file again if necessary.',
    `[File: ${WS}/a.py (5 lines total)]`, '1:def f(x):', '2:    # add three', '3:    y = x + 4', '4:    z = y', '5:    return z * 2'))
  t.equal(ok.exitCode, 0)
  // an error that was there before the edit, below it, is not the edit's
  await run(`printf 'x = (\\n' >> a.py`)
  const shifted = await run(edit(2, 2, '    # add four'))
  t.match(shifted.output, /^File updated\./)
  // a text file is not linted
  await run('open notes.txt')
  t.match((await run(edit(2, 2, '  (unbalanced'))).output, /^File updated\.[^]*\n2:  \(unbalanced\n/)
  t.equal((await run('cat notes.txt')).output, 'one\n  (unbalanced\nthree\n')
})

t.test('search: find_file, search_dir, search_file outputs', async t => {
  const run = await sandbox(t, { 'a.py': A_PY, 'sub/b.py': 'y\n', '.hidden/c.py': 'y\n', 'bin.dat': 'y\u0000\n' })
  const out = async (c: string) => (await run(c)).output
  t.equal(await out('search_dir y'), lines(`Found 3 matches for "y" in ${WS}:`, `${WS}/a.py (2 matches)`, `${WS}/sub/b.py (1 matches)`, `End of matches for "y" in ${WS}`))
  t.equal(await out('search_dir zzz'), lines(`No matches found for "zzz" in ${WS}`))
  t.equal(await out('search_dir y nodir'), lines('Directory nodir not found'))
  t.equal(await out('search_dir'), lines('Usage: search_dir <search_term> [<dir>]'))
  t.equal(await out('search_file y'), lines('No file open. Use the open command first.'))
  t.equal(await out('search_file y a.py'), lines(`Found 2 matches for "y" in ${WS}/a.py:`, 'Line 3:    y = x + 3', 'Line 4:    return y * 2', `End of matches for "y" in ${WS}/a.py`))
  await run('open sub/b.py')
  t.equal(await out('search_file y'), lines(`Found 1 matches for "y" in ${WS}/sub/b.py:`, 'Line 1:y', `End of matches for "y" in ${WS}/sub/b.py`))
  t.equal(await out('search_file zzz'), lines(`No matches found for "zzz" in ${WS}/sub/b.py`))
  t.equal(await out('search_file y nofile.py'), lines('Usage: search_file <search_term> [<file>]', 'Error: File name nofile.py not found. Please provide a valid file name.'))
  t.equal(await out('find_file b.py'), lines(`Found 1 matches for "b.py" in ${WS}:`, `${WS}/sub/b.py`))
  t.equal(await out('find_file c.py'), lines(`Found 1 matches for "c.py" in ${WS}:`, `${WS}/.hidden/c.py`), 'hidden files are found')
  t.equal(await out('find_file "*.txt"'), lines(`No matches found for "*.txt" in ${WS}`))
  t.equal(await out('find_file b.py nodir'), lines('Directory nodir not found'))
  t.equal(await out('find_file'), lines('Usage: find_file <file_name> [<dir>]'))
  t.equal((await run('search_dir zzz; search_file zzz a.py')).exitCode, 0, 'search commands return 0')
})

t.test('str_replace_editor: view, create, str_replace, insert, undo_edit, errors', async t => {
  const long = Array.from({ length: 3000 }, (_, i) => `row ${i + 1}`).join('\n') + '\n'
  const run = await sandbox(t, { 'a.py': A_PY, 'long.txt': long, 'dup.txt': 'x = 1\nx = 1\nend\n', 'tabs.txt': 'a\tb\n', 'd/e.txt': 'e\n', 'd/.h/f.txt': 'f\n' })
  const sre = async (args: Record<string, unknown>) => run(actionFromToolCall('str_replace_editor', args, 'sweagent'))
  const expect = async (args: Record<string, unknown>, output: string, exitCode = 0) => {
    const r = await sre(args)
    t.equal(r.output, output, JSON.stringify(args))
    t.equal(r.exitCode, exitCode, `${JSON.stringify(args)}: exit ${exitCode}`)
  }
  const a = `${WS}/a.py`
  await expect({ command: 'view', path: a }, `Here's the result of running \`cat -n\` on ${a}:\n` +
    catN(1, 'def f(x):', '    # add three', '    y = x + 3', '    return y * 2', ''))
  await expect({ command: 'view', path: a, view_range: [2, 3] }, `Here's the result of running \`cat -n\` on ${a}:\n` + catN(2, '    # add three', '    y = x + 3'))
  await expect({ command: 'view', path: a, view_range: [3, -1] }, `Here's the result of running \`cat -n\` on ${a}:\n` + catN(3, '    y = x + 3', '    return y * 2', ''))
  await expect({ command: 'view', path: `${WS}/tabs.txt` }, `Here's the result of running \`cat -n\` on ${WS}/tabs.txt:\n` + catN(1, 'a       b', ''))
  // the clip: the first 16,000 characters of the file, the note, then numbered
  const clipped = (long.slice(0, 16000) + CLIP).split('\n')
  await expect({ command: 'view', path: `${WS}/long.txt` }, `Here's the result of running \`cat -n\` on ${WS}/long.txt:\n` + catN(1, ...clipped))
  const listing = (await sre({ command: 'view', path: `${WS}/d` })).output
  t.equal(listing.split('\n')[0], `Here's the files and directories up to 2 levels deep in ${WS}/d, excluding hidden items:`)
  t.same(listing.split('\n').slice(1).filter(Boolean).sort(), [`${WS}/d`, `${WS}/d/e.txt`])
  await expect({ command: 'create', path: `${WS}/new.py`, file_text: 'print(1)\n' }, lines(`File created successfully at: ${WS}/new.py`))
  t.equal((await run('cat new.py')).output, 'print(1)\n')
  await expect({ command: 'create', path: `${WS}/new.py`, file_text: 'x' }, lines(`File already exists at: ${WS}/new.py. Cannot overwrite files using command \`create\`.`), 8)
  await expect({ command: 'create', path: `${WS}/other.py` }, lines('Parameter `file_text` is required for command: create'), 1)
  await expect({ command: 'create', path: `${WS}/no/such/x.py`, file_text: 'x' }, lines(`The parent directory ${WS}/no/such does not exist. Please create it first.`), 21)
  await expect({ command: 'str_replace', path: a, old_str: '    y = x + 3', new_str: '    y = x + 4' },
    `The file ${a} has been edited. Here's the result of running \`cat -n\` on a snippet of ${a}:\n` +
    catN(1, 'def f(x):', '    # add three', '    y = x + 4', '    return y * 2', '') +
    lines('Review the changes and make sure they are as expected. Edit the file again if necessary.'))
  await expect({ command: 'str_replace', path: a, old_str: 'nowhere' }, lines(`No replacement was performed, old_str \`nowhere\` did not appear verbatim in ${a}.`), 15)
  await expect({ command: 'str_replace', path: `${WS}/dup.txt`, old_str: 'x = 1', new_str: 'x = 2' },
    lines('No replacement was performed. Multiple occurrences of old_str `x = 1` in lines [1, 2]. Please ensure it is unique'), 16)
  await expect({ command: 'str_replace', path: a, new_str: 'x' }, lines('Parameter `old_str` is required for command: str_replace'), 2)
  // the snippet: 4 lines above the replacement's first line, 4 below its last (new_str's trailing newline counts)
  await expect({ command: 'str_replace', path: `${WS}/long.txt`, old_str: 'row 10\n', new_str: 'row ten\nrow 10.5\n' },
    `The file ${WS}/long.txt has been edited. Here's the result of running \`cat -n\` on a snippet of ${WS}/long.txt:\n` +
    catN(6, 'row 6', 'row 7', 'row 8', 'row 9', 'row ten', 'row 10.5', 'row 11', 'row 12', 'row 13', 'row 14', 'row 15') +
    lines('Review the changes and make sure they are as expected. Edit the file again if necessary.'))
  await expect({ command: 'insert', path: a, insert_line: 1, new_str: '    """doc"""' },
    `The file ${a} has been edited. Here's the result of running \`cat -n\` on a snippet of the edited file:\n` +
    catN(1, 'def f(x):', '    """doc"""', '    # add three', '    y = x + 4', '    return y * 2', '') +
    lines('Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary.'))
  t.equal((await run('cat a.py')).output, 'def f(x):\n    """doc"""\n    # add three\n    y = x + 4\n    return y * 2\n')
  await expect({ command: 'insert', path: a, insert_line: 99, new_str: 'x' }, lines('Invalid `insert_line` parameter: 99. It should be within the range of lines of the file: [0, 6]'), 17)
  await expect({ command: 'insert', path: a, new_str: 'x' }, lines('Parameter `insert_line` is required for command: insert'), 3)
  await expect({ command: 'insert', path: a, insert_line: 0 }, lines('Parameter `new_str` is required for command: insert'), 4)
  await expect({ command: 'undo_edit', path: a }, lines(`No edit history found for ${a}.`), 18)
  await expect({ command: 'view', path: 'a.py' }, lines(`The path a.py is not an absolute path, it should start with \`/\`. Maybe you meant ${WS}/a.py?`), 6)
  await expect({ command: 'view', path: `${WS}/nope.py` }, lines(`The path ${WS}/nope.py does not exist. Please provide a valid path.`), 7)
  await expect({ command: 'str_replace', path: `${WS}/d`, old_str: 'x' }, lines(`The path ${WS}/d is a directory and only the \`view\` command can be used on directories`), 9)
  await expect({ command: 'delete', path: a }, lines('Unrecognized command delete. The allowed commands for the str_replace_editor tool are: "view", "create", "str_replace", "insert", "undo_edit"'), 5)
  t.equal((await sre({ command: 'view', path: `${WS}/d`, view_range: [1, 2] })).exitCode, 10)
  t.equal((await sre({ command: 'view', path: a, view_range: [0, 2] })).exitCode, 12)
  t.equal((await sre({ command: 'view', path: a, view_range: [1, 99] })).exitCode, 13)
  t.equal((await sre({ command: 'view', path: a, view_range: [3, 2] })).exitCode, 14)
  // a value that starts with "-" is a value, not a flag
  await expect({ command: 'str_replace', path: `${WS}/dup.txt`, old_str: 'end', new_str: '-x' }, `The file ${WS}/dup.txt has been edited. Here's the result of running \`cat -n\` on a snippet of ${WS}/dup.txt:\n` +
    catN(1, 'x = 1', 'x = 1', '-x', '') + lines('Review the changes and make sure they are as expected. Edit the file again if necessary.'))
})

t.test('submit: the marker, and the workspace patch in git diff format against the baseline', async t => {
  const run = await sandbox(t, { 'a.py': A_PY, 'gone.txt': 'bye\n', 'data/train.csv': 'id\n1\n', 'big.bin': 'z'.repeat((1 << 20) + 1) })
  await run(actionFromToolCall('str_replace_editor', { command: 'str_replace', path: `${WS}/a.py`, old_str: 'x + 3', new_str: 'x + 4' }, 'sweagent'))
  await run(actionFromToolCall('str_replace_editor', { command: 'create', path: `${WS}/new.py`, file_text: 'print(1)' }, 'sweagent'))
  await run('rm gone.txt; echo 2 >> data/train.csv; echo more >> big.bin')
  const r = await run('submit')
  t.equal(r.output, '<<SWE_AGENT_SUBMISSION>>\n')
  t.match(r.output, SWEAGENT_SUBMISSION)
  t.equal(r.exitCode, 0)
  const patch = (await run(`cat ${SWEAGENT_PATCH_FILE}`)).output
  const blob = (s: string) => execFileSync('git', ['hash-object', '--stdin'], { input: s, encoding: 'utf8' }).trim().slice(0, 7)
  t.equal(patch, lines(
    'diff --git a/a.py b/a.py', `index ${blob(A_PY)}..${blob(A_PY.replace('x + 3', 'x + 4'))} 100644`, '--- a/a.py', '+++ b/a.py',
    '@@ -1,4 +1,4 @@', ' def f(x):', '     # add three', '-    y = x + 3', '+    y = x + 4', '     return y * 2',
    'diff --git a/gone.txt b/gone.txt', 'deleted file mode 100644', `index ${blob('bye\n')}..0000000`, '--- a/gone.txt', '+++ /dev/null', '@@ -1 +0,0 @@', '-bye',
    'diff --git a/new.py b/new.py', 'new file mode 100644', `index 0000000..${blob('print(1)')}`, '--- /dev/null', '+++ b/new.py', '@@ -0,0 +1 @@', '+print(1)',
    '\\ No newline at end of file'), 'data/ and files over 1 MiB are left out')
})

t.test('the patch applies where git applies it, and matches git diff --cached', { skip: !onPath('git') && 'git is not installed' }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'synthgym-swe2-git-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ws = join(dir, 'ws')
  const base = join(dir, 'base')
  mkdirSync(join(ws, 'pkg'), { recursive: true })
  const body = Array.from({ length: 40 }, (_, i) => i === 5 ? 'def helper(a):\n' : `    v${i} = ${i}\n`).join('')
  writeFileSync(join(ws, 'pkg', 'm.py'), body)
  writeFileSync(join(ws, 'keep.txt'), 'same\n')
  const py = join(toolsDir(), 'sweagent', 'lib', 'patch.py')
  execFileSync('python3', [py, 'snapshot', ws, base])
  // git keeps its repository outside the workspace, as the profile's baseline is
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', `--git-dir=${join(dir, 'git')}`, `--work-tree=${ws}`, ...args], { cwd: ws, encoding: 'utf8' })
  git('init', '-q'); git('add', '-A'); git('commit', '-qm', 'base')
  writeFileSync(join(ws, 'pkg', 'm.py'), body.replace('v20 = 20', 'v20 = 21').replace('v30 = 30\n', ''))
  writeFileSync(join(ws, 'added.sh'), '#!/bin/sh\necho hi')
  execFileSync('chmod', ['+x', join(ws, 'added.sh')])
  git('add', '-A')
  const expected = git('diff', '--cached')
  t.match(expected, /@@ -18,7 \+18,7 @@ def helper\(a\):\n/, 'a hunk with git\'s function context')
  t.equal(execFileSync('python3', [py, 'diff', ws, base], { encoding: 'utf8' }), expected)
})

t.test('end to end: a sweagent episode through the server', async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const tools = await http(s.url, 'GET', '/v1/tools?profile=sweagent')
  t.equal(tools.status, 200)
  t.equal(tools.body.profile, 'sweagent')
  t.match(tools.body.command_docs, /^str_replace_editor:$/m)
  t.ok(tools.body.tools.some((x: any) => x.function.name === 'str_replace_editor'))
  t.equal((await http(s.url, 'GET', '/v1/tools?profile=nope')).status, 400)
  const env = await http(s.url, 'POST', '/v1/envs', { task: 'prisonersDilemma', max_steps: 10, tool_profile: 'sweagent' })
  t.equal(env.status, 201)
  const id = env.body.env_id
  t.equal((await http(s.url, 'POST', `/v1/envs/${id}/reset`)).status, 200)
  const step = (action: string) => http(s.url, 'POST', `/v1/envs/${id}/step`, { action })
  const created = await step(actionFromToolCall('str_replace_editor', { command: 'create', path: `${WS}/notes.py`, file_text: 'a = 1\nb = 2\n' }, 'sweagent'))
  t.equal(created.body.observation, `File created successfully at: ${WS}/notes.py`)
  const opened = await step('open notes.py')
  t.equal(opened.body.observation, lines('[File: notes.py (2 lines total)]', '1:a = 1', '2:b = 2').trimEnd())
  const edited = await step(actionFromToolCall('edit', { start_line: 2, end_line: 2, replacement_text: 'b = 3' }, 'sweagent'))
  t.match(edited.body.observation, /^File updated\.[^]*\n2:b = 3$/)
  t.same(edited.body.info.state, { open_file: `${WS}/notes.py`, working_dir: WS }, 'the state comes from state.json')
  // submit in the episode's shell, its marker hidden: the patch holds only the agent's change to the starter files
  const patch = await step(`submit > /dev/null; cat ${SWEAGENT_PATCH_FILE}`)
  t.match(patch.body.observation, /^diff --git a\/notes.py b\/notes.py\nnew file mode 100644\nindex 0000000\.\.[0-9a-f]{7}\n--- \/dev\/null\n\+\+\+ b\/notes.py\n@@ -0,0 \+1,2 @@\n\+a = 1\n\+b = 3$/)
  t.equal(patch.body.terminated, false)
  const sub = await step('submit')
  t.equal(sub.body.terminated, true, 'the marker ends the episode')
  t.equal(sub.body.info.exit_status, 'submitted', 'as a submission')
})
