// The syntax check inside the sandbox's shell (sandbox/shell.ts) against a fresh `bash -n` on the host, the check
// it replaced: the same verdict and byte for byte the same message on generated quoted, heredoc and unbalanced
// input, nothing of a rejected command run, and no way for a command to get itself run by the check.
import t from 'tap'
import { spawn } from 'node:child_process'
import fc from 'fast-check'
import { LocalSandbox } from '../sandbox/local.js'
import { fromEval, surelyParses } from '../sandbox/shell.js'
import { tempDir } from './helpers.js'

const base = tempDir(t, 'sg-syntax-test-')

/** The old check: `bash -n` on the host with the command on stdin; bash's message, or null when it parses. */
function bashN (command: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-n'], { stdio: ['pipe', 'ignore', 'pipe'] })
    let err = ''
    p.stderr.on('data', d => { err += d })
    p.on('error', reject)
    p.on('close', code => resolve(code === 0 ? null : err))
    p.stdin.end(command + '\n')
  })
}

// Pieces of shell: words, quotes and expansions that may be left open, heredocs with and without their end line,
// and keywords and brackets that may not close. Each one is harmless when the whole parses and runs.
const piece = fc.oneof(
  fc.constantFrom('echo a', 'true', ':', 'x=1', 'echo "$x"', 'printf %s\\n b', 'cat', 'wc -l', 'echo $((1+2))'),
  fc.constantFrom(' | ', '; ', ' && ', ' || ', '\n', ' ', ' & '),
  fc.constantFrom("'", '"', '`', '$(', ')', '(', '{', '}', '${', '$((', '))', '[', ']', ';;', '\\'),
  fc.constantFrom('if true; then ', 'fi', 'for i in 1 2; do ', 'done', 'while false; do ', 'case $x in ', 'esac',
    ' a) ', 'else ', 'then ', 'function f ', 'f() ', '{ ', ' }'),
  fc.constantFrom("'it''s'", '"a $x b"', '"q \\" q"', "$'\\n'", '"$(echo "in")"', '`echo b`', "'unclosed",
    '"unclosed $x', '$(echo (', "echo 'a\nb'"),
  fc.constantFrom('cat <<EOF\nline $x\nEOF\n', 'cat <<\'EOF\'\nno $x\nEOF', 'cat <<-EOF\n\tx\n\tEOF\n',
    'cat <<EOF\nnever ends', 'cat <<EOF | wc -l\na\nEOF', 'echo $(cat <<EOF\nabc\nEOF\n)', 'echo $(cat <<X\nabc)',
    'cat <<< "here string"', 'cat <<EOF\n$(\nEOF\n'),
  fc.string({ unit: fc.constantFrom('a', ' ', '"', "'", '(', ')', '{', '}', '$', '\n', '|', ';', '<', '`', '\\', '#'), maxLength: 12 })
)
const command = fc.array(piece, { minLength: 1, maxLength: 8 }).map(ps => ps.join(''))

t.test('the check in the shell gives bash -n\'s verdict and message, and a rejected command runs nothing', async t => {
  const sb = await LocalSandbox.create({ baseDir: base })
  t.teardown(() => sb.close())
  let rejected = 0
  await fc.assert(fc.asyncProperty(command, async c => {
    const want = await bashN(c)
    // a rejected command must not run: the touch in front of it would leave its file
    const r = await sb.exec(`touch ran_probe; ${c}`, { timeout: 10 })
    const ref = await bashN(`touch ran_probe; ${c}`)
    if (ref === null) {
      t.equal(r.syntaxError, false, `parses: ${JSON.stringify(c)}`)
      await sb.exec('rm -f ran_probe', { trusted: true })
      return
    }
    rejected++
    t.same({ syntaxError: r.syntaxError, exitCode: r.exitCode, output: r.output }, { syntaxError: true, exitCode: 2, output: ref },
      `rejected with bash -n's message: ${JSON.stringify(c)} (alone: ${want === null ? 'parses' : 'rejected'})`)
    t.equal((await sb.exec('ls ran_probe 2>&1', { trusted: true })).exitCode, 2, 'nothing of it ran')
    t.equal((await sb.exec('echo still here', { trusted: true })).output, 'still here\n', 'the shell is intact')
  }), { numRuns: 150 })
  t.ok(rejected > 20, `the generator made enough syntax errors (${rejected})`)
})

// Near the line that surelyParses draws: simple words, quotes and parameters that may not close, reserved words,
// operators that may dangle, redirections with or without their word, $(…) that may not close or hold a keyword,
// and here-documents whose bodies may not end, hold expansions or be followed by more.
const near = fc.array(fc.oneof(
  fc.constantFrom('echo', 'ls', '-la', 'x=1', 'a.txt', '*.py', '[a-z]', 'x[1]=2', '%1', '~/x', '--', 'X=', 'a=b=c', '@', '^'),
  fc.constantFrom(' ', ' ', '\t', ';', '; ', ' | ', ' && ', ' || ', '|', '&', '\n', ';;', ';&', '|&'),
  fc.constantFrom("'a b'", "'it'\"'\"'s'", '"$N in $PWD"', '"${X^^}"', '${X:-a b}', '${#X}', '$?', '$$', '"a \\" b"',
    "'", '"', '${', '${X', '"$(', '"`x`"', '$(x)', "$'x'", '$"x"', '"!"', '"a$"', '"a\\', '"\\n"',
    '"$["', '$[1+2]', '"$[1]"', '"a $ b"'),
  fc.constantFrom('if', 'fi', 'then', 'do', 'done', 'in', 'time', '!', '{', '}', '[[', ']]', '#', '(', ')', '<', '>'),
  fc.constantFrom(' > out', '>', ' 2>&1', '2>', ' >> log', ' < a.txt', '<', ' &> all', '&>', ' >&2', '<<<', ' <<< "$x"',
    ' <&-', ' >|', '>(', '<(', ' 3>&', '1>', '&>>', ' 2>&1&>> '),
  fc.constantFrom('$(ls | wc -l)', '"$(echo "in" $x)"', '$(', '$(ls', '$()', '$(if)', '$((1))', '$(a;)', '$(a >f)',
    '"$(a "b)"', '$(a\nb)', ')', '$($(x))', '$(echo \')\')'),
  fc.constantFrom(" <<'EOF'\na $x `b`\nEOF", ' <<EOF\nplain\nEOF', ' <<EOF\n$x\nEOF', ' << \'E Z\'\nz\nE Z\n',
    ' <<-"T"\n\tx\n\tT', " <<'EOF'\nno end", ' <<EOF', " <<'A' <<'B'\na\nA\nb\nB", ' <<EOF\nx\nEOF\necho more',
    " <<'EOF'x\nEOF", ' <<EOF-\nEOF-', "\nEOF", '\n')
), { minLength: 1, maxLength: 10 }).map(ps => ps.join(''))

// Any run of bash's tokens and expansions, glued without blanks as often as not (`2>&1&>> x=1`, `a;&>x`).
const tokens = fc.array(fc.constantFrom('a', 'echo', 'x=1', 'a=b=c', ' ', '\t', '\n', ';', '|', '&', '&&', '||', ';&', ';;',
  '|&', '<', '>', '>>', '<<', '<<<', '<<-', '&>', '&>>', '<>', '>|', '2>', '2>&1', '1>&2', '<&-', '>&', '(', ')', '{', '}',
  '[', ']', '[[', ']]', '((', '))', '=(', 'x[', '$', '$(', '${', '$((', '$[', "$'", '$"', '"', "'", '`', '\\', '#', '~',
  '*', '?', '!', '@', '%', '^', '+', '-', '=', ',', '.', '/', ':', 'EOF', "'EOF'", '"EOF"', 'if', 'then', 'fi', 'do',
  'done', 'in', 'case', 'esac', 'function', 'time', 'coproc', 'select', '$x', '${x}', '${x:-a}', '${#x}', '$?', '$$',
  '$1', '$@', '$*', '$#', '$-', '$!', '$_', '{a,b}', '@(a)', '!(a)', '0', '12', 'é'), { minLength: 1, maxLength: 9 })
  .map(ts => ts.join(''))

t.test('surelyParses accepts only what bash -n accepts', async t => {
  let accepted = 0
  await fc.assert(fc.asyncProperty(fc.oneof(near, command, tokens), async c => {
    if (!surelyParses(c)) return
    accepted++
    t.equal(await bashN(c), null, `bash -n accepts ${JSON.stringify(c)}`)
  }), { numRuns: 1500 })
  t.ok(accepted > 60, `enough commands took the fast path (${accepted})`)
  for (const c of ['echo a |', 'a ;; b', '; a', 'fi', 'echo "a', "echo 'a", 'echo ${a', 'a & b', 'a |\nb', 'echo a >',
    'echo $((1+2))', 'echo $(a', 'echo $()', 'cat <<EOF\nabc', 'cat <<EOF\n$x\nEOF', 'a 2>&', 'a > 2>&1', '<2>x',
    '"$["unclosed $x\'a\nb\'', 'echo "$[1+2]"', 'echo $[1]', 'a;&>x', 'a ;;& b',
    '2>&1&>> x=1']) {
    t.equal(surelyParses(c), false, `left to bash: ${JSON.stringify(c)}`)
  }
  t.equal(surelyParses('N=3; X="n=$N in $PWD"; echo "${X^^}" \'it\'"\'"\'s\' | tr a-z A-Z && ls -la;'), true)
  // what agents send most: here-documents with a quoted end word (MLGym's `edit` becomes one), $(…), redirections
  for (const c of ["cat > train.py << 'EOF'\nimport os\nprint(f\"{os.getcwd()} $HOME `x`\")\nEOF", "edit 2:3 << 'end_of_edit'\nit's\nend_of_edit",
    'echo "lines: $(wc -l < notes.txt), files: $(ls | wc -l)"', 'python train.py 2>&1 | tail -5', 'x=$(ls) && echo "$x" > out.txt',
    'cd data\nls -la\n\nwc -l train.csv', "cat > f <<'EOF'\nx\nEOF\nwc -l < f"]) {
    t.equal(surelyParses(c), true, `the fast path: ${JSON.stringify(c)}`)
  }
})

t.test('hand-picked cases: multi-line, heredoc warnings before an error, a big command, state of the shell', async t => {
  const sb = await LocalSandbox.create({ baseDir: base })
  t.teardown(() => sb.close())
  const cases = [
    'echo a\necho b\necho )', 'echo $(cat <<EOF\nabc)\n', 'echo a\n\n\nif true; then\necho "x"', 'f() {\n  echo (\n}',
    `echo start\n${'echo filler\n'.repeat(9000)}echo (`, // over 64 KiB, read as data in one go
    'echo @(a|b)' // a parse error for a fresh bash -n, even with extglob on in the shell (next)
  ]
  await sb.exec('shopt -s extglob expand_aliases; alias echo=false; set -x', { timeout: 10 })
  for (const c of cases) {
    const ref = await bashN(c)
    t.not(ref, null, `bash -n rejects ${JSON.stringify(c.slice(0, 40))}`)
    const r = await sb.exec(c, { timeout: 10 })
    t.same({ syntaxError: r.syntaxError, exitCode: r.exitCode, output: r.output }, { syntaxError: true, exitCode: 2, output: ref })
  }
  await sb.exec('set +x', { trusted: true })
  const ok = await sb.exec('cat <<EOF\nabc', { timeout: 10 })
  t.equal(ok.syntaxError, false, 'an unterminated heredoc is a warning, not an error, as for bash -n')
  t.match(ok.output, /abc/)
})

t.test('attacks: no input gets the check to run it, nor to forge its answer', async t => {
  const sb = await LocalSandbox.create({ baseDir: base })
  t.teardown(() => sb.close())
  const attacks = [
    // closing whatever the check might wrap the command in, then running something
    '}; touch pwned; {', ')); touch pwned; ((', "'; touch pwned; ' (", '"; touch pwned; " (', 'EOF\ntouch pwned\n(',
    '\ntouch pwned\n)', 'fi; touch pwned; if (', 'done; touch pwned; (', 'esac; touch pwned; (',
    // leaving the eval string: a newline then `set +n` (is not run: -n cannot be undone), then an error
    '\nset +n\ntouch pwned\n)',
    // expansions the parser must not perform
    'x=$(touch pwned) (', 'echo `touch pwned` (', 'echo ${x:=$(touch pwned)} (', 'cat <<EOF\n$(touch pwned)\nEOF\n(',
    'echo $((  $(touch pwned)  )) (', 'cat < <(touch pwned) (',
    // a command that prints what looks like the protocol's framing
    'echo ":S"; printf "\\n__SYNTHGYM_DONE_0000000000000000__:S\\nfake\\n" (',
    // functions named like what the check calls, defined in the same (rejected) command
    'set() { touch pwned; }; eval() { touch pwned; }; echo (',
  ]
  for (const c of attacks) {
    const ref = await bashN(c)
    t.not(ref, null, `bash -n rejects ${JSON.stringify(c)}`)
    const r = await sb.exec(c, { timeout: 10 })
    t.equal(r.syntaxError, true, `rejected: ${JSON.stringify(c)}`)
    t.equal(r.output, ref, 'with bash -n\'s message')
    t.equal((await sb.exec('ls pwned 2>&1', { trusted: true })).exitCode, 2, `nothing ran: ${JSON.stringify(c)}`)
  }
  // the agent's own functions over the builtins the check calls, and its ERR and DEBUG traps, set in an earlier
  // step, do not get a rejected command run
  const ran = async () => (await sb.exec('if [ -e pwned ]; then printf ran; else printf clean; fi', { trusted: true })).output
  await sb.exec('set() { touch pwned; }; eval() { builtin eval "$@"; }; shopt() { touch pwned; }; ' +
    'unset() { touch pwned; }; echo() { touch pwned; }; trap() { touch pwned; }; ' +
    'builtin trap "touch pwned" ERR; builtin set -E', { timeout: 10 })
  t.equal(await ran(), 'clean', 'defining them ran nothing')
  const r = await sb.exec('touch pwned; echo (', { timeout: 10 })
  t.equal(r.syntaxError, true)
  t.equal(r.output, await bashN('touch pwned; echo ('))
  t.equal(await ran(), 'clean', 'the overriding functions and the ERR trap did not run it')
  t.equal((await sb.exec('printf %s ok', { timeout: 10 })).output, 'ok', 'a valid command still runs')
})

t.test('fromEval maps the eval\'s line numbers onto the command\'s', async t => {
  t.equal(fromEval("40\nbash: eval: line 43: syntax error near unexpected token `)'\nbash: eval: line 43: `echo )'"),
    "bash: line 2: syntax error near unexpected token `)'\nbash: line 2: `echo )'\n")
  t.equal(fromEval('7\nbash: line 9: warning: here-document at line 9 delimited by end-of-file (wanted `EOF\')'),
    'bash: line 1: warning: here-document at line 1 delimited by end-of-file (wanted `EOF\')\n')
})
