// The SWE-ReX runtime API (/v1/envs/:id/swerex) over real HTTP against a live server and a real local sandbox.
// SWE-ReX's Python package is not installed here (no PyPI), so its RemoteRuntime cannot run: instead the requests
// below are what RemoteRuntime sends (pydantic `model_dump()` of SWE-ReX 1.4.0's models: every field, defaults
// filled, an X-Request-ID, the X-API-Key header) and the answers are checked against what it parses back
// (BashObservation, CommandResponse, ... and 511 `swerexception` for the exceptions it re-raises by class_path).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { testServer } from './helpers.js'

const TASK = 'prisonersDilemma'

type Rex = (path: string, body?: unknown, opts?: { headers?: Record<string, string>, raw?: string, method?: string }) => Promise<{ status: number, body: any }>

function client (base: string, key?: string): Rex {
  return async (path, body, opts = {}) => {
    const headers: Record<string, string> = { 'x-request-id': randomUUID(), ...(key ? { 'x-api-key': key } : {}), ...opts.headers }
    if (body !== undefined || opts.raw !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(base + path, {
      method: opts.method ?? (path === '/is_alive' || path === '/' ? 'GET' : 'POST'),
      headers,
      body: opts.raw ?? (body === undefined ? undefined : JSON.stringify(body))
    })
    return { status: res.status, body: await res.json() }
  }
}

// what RemoteRuntime posts: model_dump() of SWE-ReX's request models
const createReq = (session: string, over: object = {}) => ({ startup_source: [], session, session_type: 'bash', startup_timeout: 1.0, ...over })
const bash = (command: string, over: object = {}) => ({
  command, session: 'default', timeout: null, is_interactive_command: false, is_interactive_quit: false,
  check: 'raise', error_msg: '', expect: [], action_type: 'bash', ...over
})
const interrupt = (session: string) => ({ session, timeout: 0.2, n_retry: 3, expect: [], action_type: 'bash_interrupt' })
const command = (cmd: string | string[], over: object = {}) => ({
  command: cmd, timeout: null, shell: false, check: false, error_msg: '', env: null, cwd: null, merge_output_streams: false, ...over
})
const obs = (output: string, exitCode: number | null) => ({ output, exit_code: exitCode, failure_reason: '', expect_string: 'SHELLPS1PREFIX', session_type: 'bash' })

async function liveEnv (t: Tap.Test, over: object = {}): Promise<{ base: string, url: string, id: string, close: () => Promise<void> }> {
  const s = await testServer(over)
  t.teardown(() => s.close())
  const auth = (over as { token?: string }).token ? { authorization: `Bearer ${(over as { token: string }).token}` } : {}
  const env = await (await fetch(s.url + '/v1/envs', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ task: TASK }) })).json() as { env_id: string }
  const reset = await fetch(`${s.url}/v1/envs/${env.env_id}/reset`, { method: 'POST', headers: auth })
  if (reset.status !== 200) throw new Error(`reset: ${reset.status} ${await reset.text()}`)
  return { base: `${s.url}/v1/envs/${env.env_id}/swerex`, url: s.url, id: env.env_id, close: s.close }
}

declare namespace Tap { type Test = Parameters<Parameters<typeof t.test>[1]>[0] }

t.test('every endpoint: success shapes as RemoteRuntime parses them', async t => {
  const { base, url, id } = await liveEnv(t)
  const rex = client(base)
  t.strictSame(await rex('/'), { status: 200, body: { message: 'hello world' } })
  t.strictSame(await rex('/is_alive'), { status: 200, body: { is_alive: true, message: '' } })
  t.strictSame(await rex('/create_session', createReq('default')), { status: 200, body: { output: '', session_type: 'bash' } })

  // state persists in a session: cwd, exports
  t.strictSame(await rex('/run_in_session', bash('cd /tmp && export FOO=bar')), { status: 200, body: obs('', 0) })
  t.strictSame(await rex('/run_in_session', bash('echo $FOO; pwd')), { status: 200, body: obs('bar\n/tmp\n', 0) })
  t.strictSame(await rex('/run_in_session', bash('false', { check: 'silent' })), { status: 200, body: obs('', 1) })
  t.strictSame(await rex('/run_in_session', bash('echo x; false', { check: 'ignore' })), { status: 200, body: obs('x\n', null) })
  t.strictSame(await rex('/run_in_session', bash("printf '\\033[31mred\\033[0m\\r\\n'")), { status: 200, body: obs('red\n', 0) }, 'ANSI stripped, CRLF → LF')
  t.strictSame(await rex('/run_in_session', interrupt('default')), { status: 200, body: obs('', 0) }, 'an interrupt with nothing running')

  // startup_source is sourced, its output returned
  await rex('/write_file', { content: 'export FROM_RC=1\necho sourced\n', path: '/home/agent/rc.sh' })
  t.strictSame(await rex('/create_session', createReq('second', { startup_source: ['/home/agent/rc.sh'] })), { status: 200, body: { output: 'sourced\n', session_type: 'bash' } })
  t.strictSame(await rex('/run_in_session', bash('echo $FROM_RC $FOO', { session: 'second' })), { status: 200, body: obs('1\n', 0) }, 'sessions are separate shells')
  t.strictSame(await rex('/close_session', { session: 'second', session_type: 'bash' }), { status: 200, body: { session_type: 'bash' } })

  // execute: subprocess.run
  t.strictSame(await rex('/execute', command(['echo', 'a b'])), { status: 200, body: { stdout: 'a b\n', stderr: '', exit_code: 0 } })
  t.strictSame(await rex('/execute', command('echo out; echo err >&2; exit 3', { shell: true })), { status: 200, body: { stdout: 'out\n', stderr: 'err\n', exit_code: 3 } })
  t.strictSame(await rex('/execute', command('echo out; echo err >&2', { shell: true, merge_output_streams: true })), { status: 200, body: { stdout: 'out\nerr\n', stderr: '', exit_code: 0 } })
  t.strictSame(await rex('/execute', command('pwd; echo "$A-$HOME"', { shell: true, cwd: '/tmp', env: { A: 'x' } })), { status: 200, body: { stdout: '/tmp\nx-\n', stderr: '', exit_code: 0 } }, 'cwd; env replaces the environment')
  t.strictSame(await rex('/execute', command('cat', { shell: true, timeout: 10 })), { status: 200, body: { stdout: '', stderr: '', exit_code: 0 } }, 'stdin is /dev/null (SWE-ReX #281)')

  // files: a round trip in the workspace, outside the home, and relative paths from the workspace
  t.strictSame(await rex('/write_file', { content: 'hello\nworld ✓\n', path: '/home/agent/workspace/sub/dir/f.txt' }), { status: 200, body: {} })
  t.strictSame(await rex('/read_file', { path: '/home/agent/workspace/sub/dir/f.txt', encoding: null, errors: null }), { status: 200, body: { content: 'hello\nworld ✓\n' } })
  t.strictSame(await rex('/read_file', { path: 'sub/dir/f.txt', encoding: null, errors: null }), { status: 200, body: { content: 'hello\nworld ✓\n' } })
  t.strictSame(await rex('/run_in_session', bash('cat /home/agent/workspace/sub/dir/f.txt')), { status: 200, body: obs('hello\nworld ✓\n', 0) }, 'the session sees the file')
  t.strictSame(await rex('/read_file', { path: '/etc/passwd', encoding: null, errors: null }).then(r => [r.status, /agent:x:1000/.test(r.body.content)]), [200, true], 'a path outside the home')
  await rex('/execute', command("printf '\\377A' > /home/agent/l1.txt", { shell: true, check: true }))
  t.strictSame((await rex('/read_file', { path: '/home/agent/l1.txt', encoding: 'latin-1', errors: null })).body, { content: 'ÿA' })

  t.strictSame(await rex('/close', undefined), { status: 200, body: {} })
  t.equal((await rex('/run_in_session', bash('true'))).body.swerexception.class_path, 'swerex.exceptions.SessionDoesNotExistError', 'close ends every session')
  t.strictSame(await rex('/create_session', createReq('default')), { status: 200, body: { output: '', session_type: 'bash' } }, 'the runtime serves on after close')

  // none of it is a step of the episode
  const traj = await (await fetch(`${url}/v1/envs/${id}/trajectory`)).json() as { steps: unknown[] }
  t.equal(traj.steps.length, 0, 'SWE-ReX traffic is not recorded as steps')
})

t.test('exceptions: 511 swerexception with SWE-ReX class paths and extra_info', async t => {
  const { base } = await liveEnv(t)
  const rex = client(base)
  await rex('/create_session', createReq('default'))
  const exc = (r: { status: number, body: any }) => { t.equal(r.status, 511); t.strictSame(Object.keys(r.body.swerexception).sort(), ['class_path', 'extra_info', 'message', 'traceback']); return r.body.swerexception }

  const syntax = exc(await rex('/run_in_session', bash('echo "unclosed')))
  t.equal(syntax.class_path, 'swerex.exceptions.BashIncorrectSyntaxError')
  t.equal(syntax.extra_info.bash_stdout, '')
  t.match(syntax.extra_info.bash_stderr, /unexpected EOF|unexpected end of file/)
  t.match(syntax.message, /^Error \(exit code 2\) while checking bash command \n'echo "unclosed'\n---- Stderr ----\n/)

  const nonzero = exc(await rex('/run_in_session', bash('echo oops; exit_code_3() { return 3; }; exit_code_3', { error_msg: 'setup failed' })))
  t.equal(nonzero.class_path, 'swerex.exceptions.NonZeroExitCodeError')
  t.equal(nonzero.message, "setup failed: Command 'echo oops; exit_code_3() { return 3; }; exit_code_3' failed with exit code 3. Here is the output:\n'oops\\n'")

  // a timeout: the partial output comes back (SWE-ReX drops it), and the command is interrupted already
  const timeout = exc(await rex('/run_in_session', bash('echo partial; sleep 30; echo never', { timeout: 1 })))
  t.equal(timeout.class_path, 'swerex.exceptions.CommandTimeoutError')
  t.equal(timeout.message, "timeout after 1.0 seconds while running command 'echo partial; sleep 30; echo never'")
  t.match(timeout.extra_info.output, /^partial\n/, 'the output so far (then bash\'s note of the killed job)')
  t.strictSame((await rex('/run_in_session', interrupt('default'))).body, obs('', 0), "SWE-agent's interrupt after a timeout")
  t.strictSame((await rex('/run_in_session', bash('echo after'))).body, obs('after\n', 0), 'the session goes on')

  const exTimeout = exc(await rex('/execute', command('echo so-far; sleep 30', { shell: true, timeout: 1 })))
  t.equal(exTimeout.class_path, 'swerex.exceptions.CommandTimeoutError')
  t.equal(exTimeout.message, 'Timeout (1.0s) exceeded while running command')
  t.equal(exTimeout.extra_info.stdout, 'so-far\n')
  const exCheck = exc(await rex('/execute', command(['sh', '-c', 'echo e >&2; exit 4'], { check: true })))
  t.equal(exCheck.class_path, 'swerex.exceptions.NonZeroExitCodeError')
  t.equal(exCheck.message, "Command ['sh', '-c', 'echo e >&2; exit 4'] failed with exit code 4. Stdout:\n''\nStderr:\n'e\\n'")
  t.equal(exc(await rex('/execute', command('no-such-program-x'))).class_path, 'builtins.FileNotFoundError')

  t.equal(exc(await rex('/run_in_session', bash('true', { session: 'nope' }))).class_path, 'swerex.exceptions.SessionDoesNotExistError')
  t.equal(exc(await rex('/run_in_session', bash('true', { session: 'nope' }))).message, "session 'nope' does not exist")
  t.equal(exc(await rex('/close_session', { session: 'nope', session_type: 'bash' })).class_path, 'swerex.exceptions.SessionDoesNotExistError')
  t.equal(exc(await rex('/create_session', createReq('default'))).class_path, 'swerex.exceptions.SessionExistsError')
  const missing = exc(await rex('/read_file', { path: '/home/agent/nope.txt', encoding: null, errors: null }))
  t.strictSame([missing.class_path, missing.message], ['builtins.FileNotFoundError', "[Errno 2] No such file or directory: '/home/agent/nope.txt'"])
  t.equal(exc(await rex('/read_file', { path: '/nope/x', encoding: null, errors: null })).class_path, 'builtins.FileNotFoundError')
  t.equal(exc(await rex('/write_file', { content: 'x', path: '/usr/x.txt' })).class_path, 'builtins.PermissionError')
})

t.test('bad input: FastAPI 422 detail, unknown env 404, not reset', async t => {
  const { base, url } = await liveEnv(t)
  const rex = client(base)
  const wrongTag = await rex('/run_in_session', { action_type: 'python', command: 'x' })
  t.equal(wrongTag.status, 422)
  t.equal(wrongTag.body.detail[0].type, 'union_tag_invalid')
  t.strictSame(wrongTag.body.detail[0].loc, ['body'])
  t.equal((await rex('/run_in_session', { command: 'x' })).body.detail[0].type, 'union_tag_not_found')
  const noCommand = await rex('/run_in_session', { action_type: 'bash', session: 'default' })
  t.equal(noCommand.status, 422)
  t.strictSame(noCommand.body.detail, [{ type: 'missing', loc: ['body', 'bash', 'command'], msg: 'Field required', input: { action_type: 'bash', session: 'default' } }])
  const badSessionType = await rex('/create_session', { session: 'x', session_type: 'zsh' })
  t.equal(badSessionType.status, 422)
  t.equal(badSessionType.body.detail[0].type, 'literal_error')
  t.strictSame(badSessionType.body.detail[0].loc, ['body', 'session_type'])
  const badType = await rex('/execute', { command: 5 })
  t.equal(badType.status, 422)
  t.strictSame(badType.body.detail[0].loc, ['body', 'command'])
  const noFields = await rex('/write_file', { path: '/home/agent/x' })
  t.strictSame(noFields.body.detail, [{ type: 'missing', loc: ['body', 'content'], msg: 'Field required', input: { path: '/home/agent/x' } }])
  for (const path of ['/create_session', '/run_in_session', '/close_session', '/execute', '/read_file', '/write_file']) {
    const empty = await rex(path, undefined, { raw: '' })
    t.strictSame(empty, { status: 422, body: { detail: [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }] } }, `${path}: empty JSON body`)
  }
  const notJson = await rex('/execute', undefined, { raw: '{"command": ' })
  t.equal(notJson.status, 422)
  t.equal(notJson.body.detail[0].type, 'json_invalid')
  t.strictSame(await rex('/no_such_endpoint', {}), { status: 404, body: { detail: 'Not Found' } })

  const ghost = client(`${url}/v1/envs/env-doesnotexist/swerex`)
  const g = await ghost('/is_alive')
  t.equal(g.status, 404)
  t.match(g.body.detail, /does not exist/)
  t.equal((await ghost('/create_session', createReq('default'))).status, 404)

  const fresh = await (await fetch(url + '/v1/envs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: TASK }) })).json() as { env_id: string }
  const notReset = client(`${url}/v1/envs/${fresh.env_id}/swerex`)
  const alive = await notReset('/is_alive')
  t.equal(alive.status, 200)
  t.equal(alive.body.is_alive, false)
  t.match(alive.body.message, /reset/)
  const r = await notReset('/create_session', createReq('default'))
  t.equal(r.status, 511)
  t.equal(r.body.swerexception.class_path, 'swerex.exceptions.DeploymentNotStartedError')
})

t.test('X-API-Key with --token: 403 without it, 401 when wrong, Bearer also taken', async t => {
  const token = 'sg-rex-token'
  const { base } = await liveEnv(t, { token })
  t.strictSame(await client(base)('/is_alive'), { status: 403, body: { detail: 'Not authenticated' } })
  t.strictSame(await client(base, 'wrong')('/is_alive'), { status: 401, body: { detail: 'Invalid API Key' } })
  t.strictSame(await client(base, 'wrong')('/create_session', createReq('default')), { status: 401, body: { detail: 'Invalid API Key' } })
  t.strictSame(await client(base, token)('/is_alive'), { status: 200, body: { is_alive: true, message: '' } })
  t.strictSame(await client(base, undefined)('/is_alive', undefined, { headers: { authorization: `Bearer ${token}` } }), { status: 200, body: { is_alive: true, message: '' } })
  t.equal((await client(base, token)('/create_session', createReq('default'))).status, 200)
})

t.test('a long command in one session blocks neither is_alive nor other sessions nor execute', async t => {
  const { base } = await liveEnv(t)
  const rex = client(base)
  await rex('/create_session', createReq('long'))
  await rex('/create_session', createReq('other'))
  const order: string[] = []
  const long = rex('/run_in_session', bash('sleep 5', { session: 'long' })).then(r => { order.push('long'); return r })
  await new Promise(resolve => setTimeout(resolve, 300)) // the sleep is running
  const alive = await rex('/is_alive'); order.push('is_alive')
  const other = await rex('/run_in_session', bash('echo other', { session: 'other' })); order.push('other')
  const ex = await rex('/execute', command(['echo', 'exec'])); order.push('execute')
  t.strictSame(order, ['is_alive', 'other', 'execute'], 'all answered while the sleep ran')
  t.equal(alive.body.is_alive, true)
  t.strictSame(other.body, obs('other\n', 0))
  t.equal(ex.body.stdout, 'exec\n')
  // an interrupt reaches the running command (it does not queue behind it)
  const stopped = await rex('/run_in_session', interrupt('long'))
  t.strictSame(stopped.body, obs('', 0))
  const l = await long
  t.strictSame(order, ['is_alive', 'other', 'execute', 'long'])
  t.equal(l.status, 511, 'the interrupted command fails its check')
  t.equal(l.body.swerexception.class_path, 'swerex.exceptions.NonZeroExitCodeError')
  // commands sent to one session while it is busy wait their turn, in order
  const a = rex('/run_in_session', bash('sleep 0.5; echo a', { session: 'long' }))
  const b = rex('/run_in_session', bash('echo b', { session: 'long' }))
  t.strictSame([(await a).body.output, (await b).body.output], ['a\n', 'b\n'])
})

t.test('upload: one file, and a zip extracted into target_path (multipart as aiohttp sends it)', async t => {
  const { base } = await liveEnv(t)
  const rex = client(base)
  const post = async (form: FormData) => {
    const res = await fetch(base + '/upload', { method: 'POST', body: form })
    return { status: res.status, body: await res.json() as any }
  }
  const one = new FormData()
  one.append('file', new Blob([Buffer.from('print(1)\n')]), 'x.py')
  one.append('target_path', '/home/agent/workspace/up/x.py')
  one.append('unzip', 'false')
  t.strictSame(await post(one), { status: 200, body: {} })
  t.equal((await rex('/read_file', { path: '/home/agent/workspace/up/x.py', encoding: null, errors: null })).body.content, 'print(1)\n')

  // a directory as RemoteRuntime zips it (shutil.make_archive), made here with python's zipfile
  const zip = spawnSync('python3', ['-c', `import io, sys, zipfile
b = io.BytesIO()
with zipfile.ZipFile(b, 'w') as z:
    z.writestr('a.txt', 'A\\n')
    z.writestr('pkg/b.txt', 'B\\n')
sys.stdout.buffer.write(b.getvalue())`])
  t.equal(zip.status, 0)
  const form = new FormData()
  form.append('file', new Blob([zip.stdout], { type: 'application/zip' }), 'zipped_transfer.zip')
  form.append('target_path', '/home/agent/repo')
  form.append('unzip', 'true')
  t.strictSame(await post(form), { status: 200, body: {} })
  await rex('/create_session', createReq('default'))
  t.strictSame((await rex('/run_in_session', bash('cd /home/agent/repo && cat a.txt pkg/b.txt && ls -A /home/agent | grep -c swerex-transfer', { check: 'silent' }))).body, obs('A\nB\n0\n', 1), 'extracted; no transfer file left')

  const bad = new FormData()
  bad.append('file', new Blob([Buffer.from('not a zip')]), 'z.zip')
  bad.append('target_path', '/home/agent/bad')
  bad.append('unzip', 'true')
  const b = await post(bad)
  t.equal(b.status, 511)
  t.equal(b.body.swerexception.class_path, 'zipfile.BadZipFile')

  const noTarget = new FormData()
  noTarget.append('file', new Blob([Buffer.from('x')]), 'x')
  t.strictSame(await post(noTarget), { status: 422, body: { detail: [{ type: 'missing', loc: ['body', 'target_path'], msg: 'Field required', input: null }] } })
  const badBool = new FormData()
  badBool.append('file', new Blob([Buffer.from('x')]), 'x')
  badBool.append('target_path', '/home/agent/x')
  badBool.append('unzip', 'maybe')
  t.equal((await post(badBool)).body.detail[0].type, 'bool_parsing')
})

t.test('docker backend: sessions are `docker exec` shells in the agent\'s container', async t => {
  const ping = spawnSync('docker', ['image', 'inspect', 'synthgym/sandbox:latest'], { stdio: 'ignore', timeout: 20_000 })
  if (ping.status !== 0) {
    // as docker.test.ts: CI starts the engines (.ci/docker-up), so there a missing one is a failure
    if (process.env.CI === 'true') t.fail('CI=true but no Docker engine with synthgym/sandbox:latest: run .ci/docker-up')
    else t.skip('no Docker engine with synthgym/sandbox:latest here')
    return
  }
  const s = await testServer()
  t.teardown(() => s.close())
  const post = async (path: string, body?: unknown) => {
    const res = await fetch(s.url + path, { method: 'POST', headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined })
    return { status: res.status, body: await res.json() as any }
  }
  const env = await post('/v1/envs', { task: TASK, backend: 'docker', timeouts: { short: 1, long: 1 } })
  t.equal(env.status, 201)
  const reset = await post(`/v1/envs/${env.body.env_id}/reset`)
  t.equal(reset.status, 200, 'reset on docker')
  const rex = client(`${s.url}/v1/envs/${env.body.env_id}/swerex`)
  t.strictSame((await rex('/create_session', createReq('a'))).body, { output: '', session_type: 'bash' })
  await rex('/create_session', createReq('b'))
  // one container: what the agent's step writes to /tmp, a session reads
  await post(`/v1/envs/${env.body.env_id}/step`, { action: 'echo from-agent > /tmp/shared' })
  t.strictSame((await rex('/run_in_session', bash('cat /tmp/shared; whoami', { session: 'a' }))).body, obs('from-agent\nagent\n', 0))
  // session a's sleep outlives a timeout in session b and one in the agent's shell (each kills only its own jobs)
  const order: string[] = []
  // session a waits for a file the test writes once the other two timed out: the order holds however slow the machine
  const long = rex('/run_in_session', bash('until [ -e /tmp/go ]; do sleep 0.1; done; echo done', { session: 'a', timeout: 120 }))
    .then(r => { order.push('a'); return r })
  await new Promise(resolve => setTimeout(resolve, 300))
  const bt = await rex('/run_in_session', bash('echo b-partial; sleep 30', { session: 'b', timeout: 1 }))
  order.push('b')
  t.equal(bt.body.swerexception.class_path, 'swerex.exceptions.CommandTimeoutError')
  t.match(bt.body.swerexception.extra_info.output, /^b-partial\n/)
  const step = await post(`/v1/envs/${env.body.env_id}/step`, { action: 'sleep 30' })
  order.push('step')
  t.equal(step.status, 200)
  await rex('/execute', command(['touch', '/tmp/go']))
  const a = await long
  t.strictSame(order, ['b', 'step', 'a'])
  t.strictSame(a.body, obs('done\n', 0), 'session a was not touched by the other interrupts')
  t.strictSame((await rex('/execute', command(['cat', '/tmp/shared']))).body, { stdout: 'from-agent\n', stderr: '', exit_code: 0 })
  t.strictSame((await rex('/read_file', { path: '/tmp/shared', encoding: null, errors: null })).body, { content: 'from-agent\n' })
})
