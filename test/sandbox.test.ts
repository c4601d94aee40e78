// The local sandbox and the persistent-shell protocol, on a real bash in a real bubblewrap sandbox, or in the
// `unshare` fallback where bubblewrap is not installed (.ci/run runs this file both ways): the same behaviour.
import t from 'tap'
import { chmodSync, writeFileSync, existsSync, linkSync, mkdirSync, rmSync, symlinkSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync, spawn } from 'node:child_process'
import { LocalSandbox, localBackendInfo } from '../sandbox/local.js'
import fc from 'fast-check'
import { isProgressBar, postprocess } from '../sandbox/output.js'
import { ansiQuote, INLINE_MAX, stepInput } from '../sandbox/shell.js'
import { diskQuotaAvailable, hostDiskUsageMb, walkUsageKb } from '../sandbox/disk.js'
import { SANDBOX_DEFAULTS } from '../sandbox/policy.js'
import { isolationHere, tempDir } from './helpers.js'

const base = tempDir(t, 'sg-sbx-test-')
const make = (opts: Parameters<typeof LocalSandbox.create>[0] = {}) => LocalSandbox.create({ baseDir: base, ...opts })

t.test('one persistent shell: cwd, variables and functions persist; exit codes come back', async t => {
  t.equal(localBackendInfo().isolation, isolationHere(), 'bubblewrap where it is installed, else the fallback')
  const sb = await make()
  t.teardown(() => sb.close())
  t.equal((await sb.exec('cd /tmp && export FOO=bar && f() { echo "f:$1"; }')).exitCode, 0)
  const r = await sb.exec('pwd; echo $FOO; f x')
  t.equal(r.output, '/tmp\nbar\nf:x\n')
  t.equal((await sb.exec('false')).exitCode, 1)
  t.equal((await sb.exec('(exit 7)')).exitCode, 7)
  t.equal((await sb.exec('printf no-newline')).output, 'no-newline')
  t.equal((await sb.exec('echo err >&2')).output, 'err\n', 'stderr is merged')
})

t.test('the command runs at the shell\'s top level, around the protocol\'s functions', async t => {
  const sb = await make()
  t.teardown(() => sb.close())
  // not inside a function: declare makes globals, $1 and $# are the shell's, return is refused
  await sb.exec('declare -a arr=(a b); declare n=5')
  const r = await sb.exec('echo "${arr[1]} $n [$1] $#"; return 3')
  t.match(r.output, /^b 5 \[\] 0\nbash: line \d+: return: can only `return' from a function or sourced script\n$/)
  t.equal(r.exitCode, 2)
  // the protocol's loop is not the agent's: a top-level break or continue ends that step only, the shell goes on
  for (const c of ['break', 'continue', 'break 1']) {
    const s = await sb.exec(`echo before; ${c}; echo after`, { trailer: '__sg_st=state' })
    t.same([s.output, s.exitCode, s.restarted, s.trailer], ['before\n', 0, false, 'state'], c)
    t.equal((await sb.exec('echo "${arr[0]} $n"')).output, 'a 5\n', `the shell's state is kept after ${c}`)
  }
  // with xtrace on, the trace of the protocol's own lines is output (as a shell would show it), no marker line
  const traced = await sb.exec('set -x; echo hi', { trailer: '__sg_st=state' })
  const next = await sb.exec('echo again', { trailer: '__sg_st=state' })
  await sb.exec('set +x', { trusted: true })
  for (const x of [traced, next]) t.notMatch(x.output, /^__SYNTHGYM_/m, 'no marker line in the output')
  t.match(next.output, /^\+ eval 'echo again'\n\+\+ echo again\nagain\n/m)
  t.equal(next.trailer, 'state', 'the trailer\'s value is apart from its trace')
  // a command's stdin is empty for good: nothing it runs, in the foreground or in the background, reads the
  // protocol's input (the next step) that way; a command that closes or takes the protocol's fd loses its shell only
  const empty = await sb.exec('read -r x; echo "[$x]"; cat; (cat > bg.txt &); wc -c', { timeout: 10 })
  t.same([empty.output, empty.exitCode, empty.timedOut], ['[]\n0\n', 0, false])
  for (let i = 0; i < 3; i++) t.equal((await sb.exec(`echo step ${i}`)).output, `step ${i}\n`, 'the steps after it arrive whole')
  t.equal((await sb.exec('sleep 0.2; wc -c < bg.txt')).output, '0\n', 'the background reader got nothing either')
  await sb.exec('echo kept > kept.txt')
  for (const c of ['exec 63<&-', 'exec 63</dev/null']) {
    t.equal((await sb.exec(c)).exitCode, 0, `${c}: the step itself ends as usual`)
    // the shell ends when it reads for the next step: that step finds it gone (or going) and starts a fresh one
    t.equal((await sb.exec('true')).restarted, true, `${c}: a fresh shell`)
    t.equal((await sb.exec('cat kept.txt')).output, 'kept\n', `${c}: the workspace is kept`)
  }
  // an agent that removes the protocol's functions loses its shell, not its workspace; nothing of what follows
  // the call (the command, as data) is run as source
  // __sg_n ends each step and reads the next; __sg_k, the check, runs for a command with a reserved word
  for (const [fn, when] of [['__sg_n', 'now'], ['__sg_k', 'next']] as const) {
    await sb.exec('rm -f ran; cd /tmp')
    const gone = await sb.exec(`unset -f ${fn}`)
    const after = await sb.exec('touch ran; if true; then pwd; fi')
    t.equal((when === 'now' ? gone : after).restarted, true, `without ${fn}, a fresh shell`)
    t.equal((await sb.exec('pwd; ls ran 2>/dev/null | wc -l')).output, `/home/agent/workspace\n${when === 'now' ? 1 : 0}\n`)
  }
})

t.test('the sandbox: agent user, private workspace, no network, host hidden', async t => {
  const sb = await make()
  t.teardown(() => sb.close())
  t.equal((await sb.exec('id -un; pwd')).output, 'agent\n/home/agent/workspace\n')
  const net = await sb.exec('cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "')
  t.equal(net.output, 'lo\n', 'only loopback')
  t.not((await sb.exec(`ls ${base}`)).exitCode, 0, 'the host folder with other sandboxes is not visible')
  t.not((await sb.exec('touch /usr/x')).exitCode, 0, 'system dirs are read-only')
  // pid 1 is the sandbox's own init (bubblewrap's, or the fallback's bash), not the host's
  t.match((await sb.exec('ps -p 1 -o comm=')).output, /^(bwrap|bash)\n$/, 'its own PID namespace')
  t.match((await sb.exec('ps -e -o pid= | wc -l')).output.trim(), /^[0-9]$/, 'own PID namespace: a handful of processes')
})

t.test('another environment\'s workspace cannot be read', async t => {
  const a = await make()
  const b = await make()
  t.teardown(async () => { await a.close(); await b.close() })
  await a.writeFile('/home/agent/workspace/secret.txt', 'top secret')
  t.equal((await a.exec('cat secret.txt')).output, 'top secret')
  const r = await b.exec(`cat /home/agent/workspace/secret.txt; find / -name secret.txt 2>/dev/null | head -1`)
  t.notMatch(r.output, /top secret/)
  t.notMatch(r.output, /secret\.txt$/m)
})

t.test('syntax errors do not run anything; unterminated heredocs do not hang the shell', async t => {
  const sb = await make()
  t.teardown(() => sb.close())
  const r = await sb.exec('touch ran; echo (')
  t.equal(r.syntaxError, true)
  t.match(r.output, /syntax error/)
  t.equal((await sb.exec('ls ran')).exitCode, 2, 'the valid part did not run either')
  const h = await sb.exec('cat <<EOF\nabc')
  t.match(h.output, /abc/)
  t.equal((await sb.exec('echo ok')).output, 'ok\n')
  // not plain words, so these go through the check
  t.equal((await sb.exec('for f in /; do echo "$f" | wc -c; done')).output, '2\n', 'valid bash passes the check')
  const bad = await sb.exec('if true; then echo "x"')
  t.equal(bad.output, "bash: line 2: syntax error: unexpected end of file\n", 'invalid bash gets bash -n\'s message')
})

t.test('a trailer runs after the command, what it sets apart, the exit code kept; the exports reach the next command', async t => {
  const sb = await make()
  t.teardown(() => sb.close())
  const r = await sb.exec('cd /tmp; printf out; false', { exports: { X: 'from_exports' }, trailer: 'printf -v __sg_st \'%s|%s\' "$PWD" "${X-unset}"' })
  t.same({ output: r.output, exitCode: r.exitCode, trailer: r.trailer }, { output: 'out', exitCode: 1, trailer: '/tmp|unset' })
  t.equal((await sb.exec('printf %s "$X"; env | grep -c ^X=')).output, 'from_exports1\n', 'exported for the next command')
  // exported values are data: quotes, `$`, backticks, newlines, UTF-8 and a trailing newline arrive unchanged
  const value = 'edit 1:2\nit\'s "quoted" $HOME `date` \\n ✓ é\nend_of_edit\n'
  await sb.exec('readonly RO=1; true', { exports: { LAST_ACTION: value, RO: 'x' } })
  const back = await sb.exec('printf %s "$LAST_ACTION"; env | grep -c ^LAST_ACTION=')
  t.equal(back.output, value + '1\n', 'exported as it was given; a readonly name is left alone, silently')
  // a value that is the command itself crosses the pipe once, and is the command as sent, whatever the command does
  const command = 'printf ran; __sg_cmd=tampered\necho "it\'s $((1 + 1))" | tr 2 3'
  const sent = (c: string, x: Record<string, string>) => stepInput('t', false, c, '', x).toString()
  t.equal(sent(command, { LAST_ACTION: command, X: 'x' }).split(ansiQuote(command)).length, 2, 'sent once')
  const body = 'it\'s "é" $x\n'.repeat(200)
  const long = `cat > f <<'EOF'\n${body}EOF`
  t.ok(Buffer.byteLength(long) > INLINE_MAX)
  t.equal(sent(long, { LAST_ACTION: long }).split(long).length, 2, 'a long one too, as data after the header')
  t.match(sent(long, {}), /^\d{8}[ -~]*__sg_cmd= /, 'the header is ASCII; the long command is not quoted in it')
  // in a UTF-8 locale (`read -N` counts characters there), long values arrive whole: command and exports
  await sb.exec('export LC_ALL=C.UTF-8')
  const wrote = long + '\nwc -c < f'
  const y = 'é'.repeat(600)
  t.equal((await sb.exec(wrote, { exports: { LAST_ACTION: wrote, Y: y } })).output, `${Buffer.byteLength(body)}\n`)
  t.equal((await sb.exec('printf %s "$LAST_ACTION|$Y"; unset LC_ALL')).output, `${wrote}|${y}`)
  t.equal((await sb.exec(command, { exports: { LAST_ACTION: command, X: command + ' ' } })).output, 'ranit\'s 3\n')
  const same = await sb.exec('printf %s "$LAST_ACTION"; printf "|%s" "$X"')
  t.equal(same.output, `${command}|${command} `, 'exported whole, beside one that is not the command')
  // any text, quoted in the header or sent after it as data: the command (exported as itself) and another value
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ maxLength: 40 }).map(x => x.repeat(60))).map(x => x.replace(/\0/g, ''))
  // and a trailer of its own each time, beside exports that are the command alone or not (the header's end is kept
  // for a trailer and exports that repeat: never another's)
  const trailerText = fc.string({ maxLength: 12 }).map(x => x.replace(/\0/g, ''))
  await fc.assert(fc.asyncProperty(text, text, trailerText, fc.boolean(), async (a, b, tr, alone) => {
    const cmd = '#' + a.replace(/\n/g, ' ')
    const r = await sb.exec(cmd, { exports: alone ? { LAST_ACTION: cmd } : { LAST_ACTION: cmd, B: b }, trailer: `__sg_st=${ansiQuote(tr)}` })
    if (r.trailer !== tr) return false
    return (await sb.exec('printf %s "$LAST_ACTION|$B"; B=')).output === `${cmd}|${alone ? '' : b}`
  }), { numRuns: 60 })
  const multi = await sb.exec('echo "a\nb"', { trailer: '__sg_st=$\'one\\ntwo\\n\'' })
  t.same({ output: multi.output, trailer: multi.trailer }, { output: 'a\nb\n', trailer: 'one\ntwo\n' }, 'output untouched')
  // a trailer must print nothing: what it prints is output (no redirection around it), its value still apart
  const printing = await sb.exec('echo a', { trailer: 'echo printed; echo too >&2; __sg_st=v' })
  t.same([printing.output, printing.trailer], ['a\nprinted\ntoo\n', 'v'])
  const bad = await sb.exec('echo (', { trailer: '__sg_st=state' })
  t.equal(bad.syntaxError, true)
  t.equal(bad.trailer, undefined, 'no trailer after a syntax error')
  const gone = await sb.exec('exit 3', { trailer: '__sg_st=state' })
  t.equal(gone.restarted, true)
  t.equal(gone.trailer, undefined, 'nor when the shell died under the command')
  t.equal((await sb.exec('true', { trailer: '__sg_st=$PWD' })).trailer, '/home/agent/workspace', 'the new shell runs it')
})

t.test('timeout interrupts the foreground job and keeps the output so far', async t => {
  const sb = await make()
  t.teardown(() => sb.close())
  const r = await sb.exec('echo started; sleep 30', { timeout: 1 })
  t.equal(r.timedOut, 'timeout')
  t.match(r.output, /^started\n/)
  t.equal(r.restarted, false)
  t.equal((await sb.exec('echo alive')).output, 'alive\n')
  const q = await sb.exec('echo a; sleep 30', { timeout: 20, noOutputTimeout: 1 })
  t.equal(q.timedOut, 'no_output')
  // output now and then keeps it off, however long the command runs
  const ticking = await sb.exec('for i in 1 2 3 4; do echo $i; sleep 0.4; done', { timeout: 20, noOutputTimeout: 1 })
  t.same([ticking.timedOut, ticking.output], [false, '1\n2\n3\n4\n'], 'output resets the no-output timeout')
  const both = await sb.exec('while :; do echo x; sleep 0.2; done', { timeout: 2, noOutputTimeout: 1 })
  t.equal(both.timedOut, 'timeout', 'the timeout still comes to a command that keeps printing')
})

t.test('a stuck shell (builtin loop), exit and exec bash: the shell is replaced, the workspace kept', async t => {
  const sb = await make()
  t.teardown(() => sb.close())
  await sb.exec('echo keep > kept.txt')
  const loop = await sb.exec('while :; do :; done', { timeout: 1 })
  t.equal(loop.timedOut, 'timeout')
  t.equal(loop.restarted, true)
  const ex = await sb.exec('exit 3')
  t.equal(ex.restarted, true)
  const eb = await sb.exec('exec bash')
  t.equal(eb.restarted, true)
  t.equal((await sb.exec('cat kept.txt')).output, 'keep\n')
  t.equal(sb.alive, true)
})

t.test('endless output is capped and says so', async t => {
  const sb = await make({ limits: { outputCap: 10_000 } })
  t.teardown(() => sb.close())
  const r = await sb.exec('yes | head -c 1000000')
  t.equal(r.output.length, 10_000)
  t.equal(r.truncatedChars, 1_000_000 - 10_000)
  const endless = await sb.exec('yes', { timeout: 1 })
  t.equal(endless.timedOut, 'timeout')
  t.equal(endless.output.length, 10_000)
  t.equal((await sb.exec('echo fine')).output, 'fine\n')
})

t.test('limits: a fork storm stays inside the sandbox and can be stopped', async t => {
  const sb = await make({ limits: { pids: 64 } })
  t.teardown(() => sb.close())
  // two seconds of the storm, waited for with builtins: a `sleep` must fork, which the full sandbox refuses, and
  // bash's retries back off past the timeout now and then
  const bomb = await sb.exec('f() { f | f & }; f; s=$SECONDS; while (( SECONDS - s < 2 )); do :; done; echo done', { timeout: 10 })
  t.match(bomb.output, /done/)
  await sb.interrupt()
  t.equal((await sb.exec('echo ok', { timeout: 10 })).output, 'ok\n')
  t.equal((await sb.exec('ps -e -o pid= | wc -l')).output.trim(), '4', 'only init, the shell, ps and wc are left')
})

t.test('`python` is the server\'s python itself, no shell in between, with its packages', async t => {
  const host = execFileSync(process.env.SYNTHGYM_PYTHON ?? 'python3', ['-c', 'import sys; print(sys.prefix)'], { encoding: 'utf8' })
  const { python, pythonVenv } = localBackendInfo()
  const sb = await make()
  t.teardown(() => sb.close())
  for (const name of ['python', 'python3']) {
    const r = await sb.exec(`${name} -c 'import sys; print(sys.executable); print(sys.prefix)'`)
    // a /bin/sh script that exec'd the host's path (one more exec per call) showed that path here; a venv's python
    // keeps that script (test/sandbox-venv.test.ts)
    t.equal(r.output, `${pythonVenv ? python : `/synthgym/bin/${name}`}\n${host}`, name)
  }
})

t.test('limits: a memory hog is killed and the shell survives', async t => {
  const sb = await make({ limits: { memoryMb: 256 } })
  t.teardown(() => sb.close())
  const hog = await sb.exec('python3 -c "a = bytearray(600 * 1024 * 1024); print(len(a))"', { timeout: 30 })
  t.not(hog.exitCode, 0, 'the hog did not get its memory')
  t.notMatch(hog.output, /629145600/)
  t.equal((await sb.exec('echo ok', { timeout: 10 })).output, 'ok\n')
})

t.test('limits: a CPU quota holds a busy loop to its share', async t => {
  const sb = await make({ limits: { cpus: 0.25 } })
  t.teardown(() => sb.close())
  const r = await sb.exec('python3 -c "import os, time\nt = time.time()\nwhile time.time() - t < 1.5: pass\nprint(round(os.times().user + os.times().system, 2))"', { timeout: 30 })
  const used = Number(r.output.trim())
  t.ok(used > 0 && used < 0.8, `1.5 s of busy loop used ${used} s of CPU under a 0.25 CPU quota`)
})

t.test('files in and out; one-shot runs see extra mounts the shell does not', async t => {
  const sb = await make()
  t.teardown(() => sb.close())
  await sb.putFiles([{ path: '/home/agent/workspace/a/b.txt', data: 'hello' }])
  t.equal((await sb.exec('cat a/b.txt')).output, 'hello')
  await sb.exec('echo -n from-agent > out.txt')
  t.equal((await sb.readFile('out.txt')).toString(), 'from-agent')
  await t.rejects(sb.readFile('/etc/passwd'), /only paths under \/home\/agent/)
  const host = tempDir(t, 'sg-secret-')
  chmodSync(host, 0o755) // the agent is another host user: task files are readable by others, as with umask 022
  writeFileSync(join(host, 'answers.csv'), '42')
  const r = await sb.run('cat /home/agent/secret/answers.csv', { mounts: [{ hostPath: host, path: '/home/agent/secret' }] })
  t.equal(r.output, '42')
  t.not((await sb.exec('cat /home/agent/secret/answers.csv')).exitCode, 0, 'the shell never sees it')
})

t.test('a disk limit\'s use: a quota\'s read off its file system (what du counts, deleted open files too), else du', async t => {
  const sb = await make({ limits: { diskMb: 50 } })
  t.teardown(() => sb.close())
  const du = () => hostDiskUsageMb(join(sb.root, 'home'))
  if (!diskQuotaAvailable()) {
    // no quota file system without root, loop devices and mkfs.ext4: the home is the host's, and du measures it
    await sb.exec('head -c 3M /dev/zero > g')
    const used = await sb.diskUsageMb()
    t.ok(used >= 3, `${used} MiB`)
    t.equal(used, await du())
    return
  }
  t.ok(await sb.diskUsageMb() < 0.1, 'an empty home takes next to nothing')
  await sb.exec('head -c 12M /dev/zero > f; mkdir d; for i in $(seq 50); do echo $i > d/$i; done')
  const [used, counted] = [await sb.diskUsageMb(), await du()]
  t.ok(used >= 12 && Math.abs(used - counted) < 0.1, `${used} MiB, du says ${counted}`)
  // held open (by the shell itself: a job might open it only after the rm) and deleted: du no longer sees it, but it
  // takes the space still
  await sb.exec('exec 7< f; rm f')
  t.ok(await sb.diskUsageMb() >= 12, 'a deleted file held open')
  await sb.exec('exec 7<&-; rm -r d')
  t.ok(await sb.diskUsageMb() < 0.1, 'all gone')
  // a file system made before the note beside its image (an older server's): du
  rmSync(join(sb.root, 'home.empty'))
  await sb.exec('head -c 3M /dev/zero > g')
  t.equal(await sb.diskUsageMb(), await du())
})

const duKb = (dir: string) => Number(execFileSync('du', ['-skx', dir]).toString().split(/\s+/)[0])

t.test('a tree\'s disk use is walked in this process as du counts it, and by du past the walk\'s size', async t => {
  const dir = tempDir(t, 'sg-walk-')
  const outside = tempDir(t, 'sg-walk-out-')
  writeFileSync(join(outside, 'big'), Buffer.alloc(2 ** 20, 1))
  mkdirSync(join(dir, 'a/b/c'), { recursive: true })
  mkdirSync(join(dir, 'empty'))
  writeFileSync(join(dir, 'a/f'), Buffer.alloc(300_000, 1))
  writeFileSync(join(dir, 'a/b/c/g'), 'x')
  linkSync(join(dir, 'a/f'), join(dir, 'a/b/f-again')) // a hard link: counted once
  symlinkSync(outside, join(dir, 'out')) // a link out of the tree: its own size only
  writeFileSync(join(dir, 'sparse'), '')
  truncateSync(join(dir, 'sparse'), 50 * 2 ** 20) // allocated blocks, not its length
  t.equal(walkUsageKb(dir, 100), duKb(dir))
  t.equal(await hostDiskUsageMb(dir), duKb(dir) / 1024)
  for (let i = 0; i < SANDBOX_DEFAULTS.diskWalkEntries; i++) writeFileSync(join(dir, `n${i}`), 'y'.repeat(i))
  t.equal(walkUsageKb(dir, SANDBOX_DEFAULTS.diskWalkEntries), null, 'too many entries to walk here')
  t.equal(await hostDiskUsageMb(dir), duKb(dir) / 1024, 'du measures it')
  t.equal(walkUsageKb(join(dir, 'nothing-here'), 10), null)
})

t.test('attack: a directory swapped for a link out of the tree while its use is walked is not followed', async t => {
  const dir = tempDir(t, 'sg-walk-')
  const outside = tempDir(t, 'sg-walk-out-')
  writeFileSync(join(outside, 'secret-sized'), Buffer.alloc(8 * 2 ** 20, 1))
  mkdirSync(join(dir, 'd'))
  writeFileSync(join(dir, 'd/x'), 'x')
  symlinkSync(outside, join(dir, 'link'))
  // the agent's side: `d` and `link` exchanged (renameat2's RENAME_EXCHANGE, one system call) as fast as it goes
  const swap = spawn('python3', ['-c', `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(${JSON.stringify(dir)})
while True:
    libc.renameat2(-100, b'd', -100, b'link', 2)`], { stdio: 'ignore' })
  t.teardown(() => { swap.kill('SIGKILL') })
  await new Promise(resolve => setTimeout(resolve, 200))
  let most = 0
  let walked = 0
  for (let i = 0; i < 3000; i++) {
    const kb = walkUsageKb(dir, 1000)
    if (kb === null) continue
    walked++
    most = Math.max(most, kb)
  }
  t.ok(walked > 1000, `${walked} walks`)
  t.ok(most < 1024, `at most ${most} KiB counted: never the 8 MiB outside`)
})

t.test('close removes the sandbox folder', async t => {
  const sb = await make()
  const root = sb.root
  t.ok(existsSync(root))
  await sb.close()
  t.notOk(existsSync(root))
})

t.test('output post-processing as MLGym', async t => {
  t.equal(postprocess('a\n\nb\r\n 10%|█         | 1/10 [00:01<00:09,  1.00it/s]\nc\n').text, 'a\nb\nc')
  t.equal(postprocess(' \n').text, ' ', 'whitespace-only lines are not empty lines')
  const capped = postprocess('x'.repeat(50), { cap: 10 })
  t.equal(capped.truncated, true)
  t.match(capped.text, /^x{10}\n\[output truncated: 40 more characters/)
  t.equal(ansiQuote("it's\n"), "$'it\\'s\\n'")
  t.equal(ansiQuote('é\\ ✓\x7f'), "$'\\xc3\\xa9\\\\ \\xe2\\x9c\\x93\\x7f'", 'ASCII only: UTF-8 bytes escaped')
})

t.test('progress-bar lines are the ones MLGym\'s regex finds, in one pass over a long line', async t => {
  const mlgym = /(?:.*?:\s*)?(\d+%\|.*?\|.*\[.*?\])/
  fc.assert(fc.property(fc.array(fc.constantFrom('1', '%', '|', '[', ']', ':', ' ', 'a', '█'), { maxLength: 24 })
    .map(cs => cs.join('')), line => isProgressBar(line) === mlgym.test(line)), { numRuns: 20000 })
  t.ok(isProgressBar('loss: 0.1  40%|████      | 4/10 [00:04<00:06,  1.00it/s]'))
  t.notOk(isProgressBar('100% done | next [x'))
  // the shape that made the regex backtrack for minutes: many bar starts and no closing bracket
  const long = '1%|'.repeat(100_000) + '['
  t.equal(postprocess(long + '\nend').text, long + '\nend')
})
