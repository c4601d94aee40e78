// Attacks a hostile agent made through the public API (issue "close the holes"), run on the local backend in
// whichever isolation mode this process uses (holes.test.ts: bubblewrap where installed; holes-unshare.test.ts:
// the fallback) and on docker (holes-docker.test.ts). Each reproduces the attack and asserts it fails.
import type { Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { testServer as startTestServer, http, openEnv as open, stepOk as step, tempDir } from './helpers.js'

type Server = Awaited<ReturnType<typeof startTestServer>>

/** The first data line of the digits task's hidden answers: what a leak would show. */
const ANSWERS = readFileSync(new URL('../tasks/builtin/digitsClassification/secret/answers.csv', import.meta.url), 'utf8')
const ANSWER_ROWS = ANSWERS.trim().split('\n').slice(1, 40).join('\n')

/** An argparse.py that, imported by evaluate.py, prints the answers and copies them where the agent can look. */
const SHADOW = `cat > argparse.py <<'EOF'
import glob, shutil, sys
for f in glob.glob('/home/agent/secret/*'):
    print(open(f).read())
    for dst in ('/home/agent/leak.csv', '/home/agent/workspace/leak.csv', '/tmp/leak.csv', '/dev/shm/leak.csv'):
        try: shutil.copy(f, dst)
        except Exception: pass
raise SystemExit(1)
EOF
cp sample_submission.csv submission.csv`

export type Backend = 'local' | 'docker'

/** Host bytes under the agent's home (docker: measured in the container). */
async function written (s: Server, env: string): Promise<number> {
  const sb = s.manager.envs.get(env)!.env.sandbox!
  return (await sb.diskUsageMb!()) * 2 ** 20
}

export function holes (t: Test, isolation: string, backend: Backend = 'local'): void {
  const local = backend === 'local'
  const testServer = (over: Parameters<typeof startTestServer>[0] = {}) =>
    startTestServer({ backend, warmPool: 0, gpus: 'none', ...over })
  t.test(`${isolation}: a module the agent shadows is never imported by evaluation`, async t => {
    const s = await testServer()
    t.teardown(() => s.close())
    const env = await open(s, { task: 'digitsClassification' })
    await step(s, env, SHADOW)
    // numpy.py and a user site-packages .pth: the other ways onto python's path
    await step(s, env, "echo 'import sys; print(open(\"/home/agent/secret/answers.csv\").read())' > numpy.py; " +
      'mkdir -p ~/.local/lib/python3.11/site-packages && cp numpy.py ~/.local/lib/python3.11/site-packages/usercustomize.py')
    const v = await step(s, env, 'validate')
    t.notMatch(v.observation, ANSWER_ROWS.split('\n')[0]!, 'the answers are not in the observation')
    t.match(v.observation, /Evaluation Score: \{'accuracy': 0\.\d+\}/, 'the real evaluation ran and scored the sample')
    const look = await step(s, env, 'cat /home/agent/leak.csv /home/agent/workspace/leak.csv /tmp/leak.csv /dev/shm/leak.csv 2>&1; ls -a /home/agent')
    t.notMatch(look.observation, /^id,label/m, 'nothing the evaluation wrote outlives it')
    t.match(look.observation, /No such file or directory/)
  })

  t.test(`${isolation}: an evaluation that prints no metrics shows only a run without the hidden files`, async t => {
    const s = await testServer()
    t.teardown(() => s.close())
    const env = await open(s, { task: 'digitsClassification' })
    // the workspace copy of evaluate.py is read-only; a task whose copy is writable still runs its pristine one
    await step(s, env, "printf 'id,label\\n1,2\\n' > submission.csv")
    const v = await step(s, env, 'validate')
    t.match(v.observation, /what it printed with them is withheld/)
    t.match(v.observation, /540 test ids have no prediction/, 'the format complaint still reaches the agent')
    t.notMatch(v.observation, ANSWER_ROWS.split('\n')[0]!)
  })

  t.test(`${isolation}: no variable of the server is visible in any process of the sandbox`, async t => {
    process.env.SYNTHGYM_TOKEN = 'tok-host-secret-7f3a'
    process.env.AWS_SECRET_ACCESS_KEY = 'aws-host-secret-91c2'
    const s = await testServer()
    t.teardown(async () => {
      await s.close()
      delete process.env.SYNTHGYM_TOKEN
      delete process.env.AWS_SECRET_ACCESS_KEY
    })
    const env = await open(s, { task: 'prisonersDilemma' })
    const r = await step(s, env, "for f in /proc/[0-9]*/environ; do echo \"== $f\"; tr '\\0' '\\n' < $f 2>&1; done")
    t.notMatch(r.observation, /host-secret/, 'no secret in /proc/*/environ')
    t.match(r.observation, /== \/proc\/1\/environ/, 'pid 1 was looked at')
    t.notMatch(r.observation, /SYNTHGYM_|AWS_/)
    // local: pid 1 is the server's bubblewrap/unshare init; docker's is the container's own init (docker-init,
    // the agent's user, with the sandbox's environment only: checked above)
    if (local) {
      const trace = await step(s, env, 'python3 -c "import ctypes; l = ctypes.CDLL(None); print(\'ptrace\', l.ptrace(16, 1, 0, 0))"')
      t.match(trace.observation, /ptrace -1/, 'pid 1 cannot be ptraced')
    }
  })

  t.test(`${isolation}: the agent is never host root`, async t => {
    const s = await testServer()
    t.teardown(() => s.close())
    const env = await open(s, { task: 'prisonersDilemma' })
    const r = await step(s, env, 'id; touch mine.txt; (exec -a sg-marker-proc sleep 60) & echo started')
    t.match(r.observation, /^uid=1000\(agent\) gid=1000\(mlgym\)/, 'inside: the agent user')
    // local: the unprivileged host id root maps the agent to (or the server's own); docker: the image's user
    const want = !local ? 1000 : process.geteuid!() === 0 ? 101000 : process.geteuid!()
    t.not(want, 0)
    const find = () => readdirSync('/proc').filter(p => /^\d+$/.test(p)).find(p => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sg-marker-proc') } catch { return false }
    })
    // the background job may not have exec'd yet when the step answers: look again for a while (a hang guard)
    let pid = find()
    for (let i = 0; !pid && i < 100; i++) { await new Promise(resolve => setTimeout(resolve, 50)); pid = find() }
    t.ok(pid, 'the agent\'s process is found on the host')
    const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])
    t.equal(uid, want, `the host sees the agent's process as uid ${want}`)
    if (local) t.equal((await http(s.url, 'GET', '/v1/health')).body.backends.local.agent_host_uid, want, 'health says so')
    if (!local) return // a container's files have no host path to look at
    const live = s.manager.envs.get(env)!
    const file = join(live.env.sandbox!.workspaceDir!, 'mine.txt')
    t.equal(statSync(file).uid, want, 'and its files')
    t.equal(statSync(join(live.env.sandbox!.workspaceDir!, 'strategy.py')).uid, want, 'starter files are the agent\'s to edit')
  })

  // a host mount below a read-only bind (a dataset on its own disk) must be read-only inside too
  if (local && process.geteuid!() === 0) t.test(`${isolation}: read-only mounts are read-only all the way down`, async t => {
    const data = tempDir(t, 'sg-submount-')
    chmodSync(data, 0o755)
    mkdirSync(join(data, 'sub'))
    t.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=777', 'tmpfs', join(data, 'sub')]).status, 0)
    t.teardown(() => { spawnSync('umount', ['-l', join(data, 'sub')]) })
    const { LocalSandbox } = await import('../sandbox/local.js')
    const sb = await LocalSandbox.create({ baseDir: tempDir(t, 'sg-sbx-'), mounts: [{ hostPath: data, path: '/home/agent/workspace/data', readOnly: true }] })
    t.teardown(() => sb.close())
    const r = await sb.exec('touch data/x; touch data/sub/x; ls data/sub')
    t.match(r.output, /touch: cannot touch 'data\/x': Read-only file system/)
    t.match(r.output, /touch: cannot touch 'data\/sub\/x': Read-only file system/)
  })

  t.test(`${isolation}: the network opt-in means the host's network, its absence loopback only`, async t => {
    const srv = createServer(c => c.end('hello-from-host\n'))
    await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
    const port = (srv.address() as { port: number }).port
    const s = await testServer()
    t.teardown(async () => { await s.close(); srv.close() })
    const reach = `python3 -c "import socket; s = socket.create_connection(('127.0.0.1', ${port}), 2); print(s.recv(64).decode().strip())" 2>&1 | tail -1`
    const off = await open(s, { task: 'prisonersDilemma' })
    const a = await step(s, off, `${reach}; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '`)
    t.match(a.observation, /Connection refused|Network is unreachable/, 'no way to the host\'s loopback')
    t.match(a.observation, /\nlo$/, 'only its own loopback')
    // a task that opts in: the same built-in with resources.network set
    const task = s.manager.tasks.get('prisonersDilemma')!
    s.manager.tasks.add({ ...task, spec: { ...task.spec, id: 'pdNetwork', resources: { ...task.spec.resources, network: true } } })
    const on = await open(s, { task: 'pdNetwork' })
    const b = await step(s, on, reach)
    t.match(b.observation, /hello-from-host/, 'the opted-in task reaches the host')
  })

  t.test(`${isolation}: the disk limit holds while a step runs`, async t => {
    const s = await testServer()
    t.teardown(() => s.close())
    const env = await open(s, { task: 'prisonersDilemma', limits: { disk_mb: 50 } })
    const one = await step(s, env, 'dd if=/dev/zero of=big bs=1M count=3000 2>/dev/null; echo rc=$?; stat -c %s big')
    t.match(one.observation, /rc=153\n/, 'dd was stopped by the file size limit (SIGXFSZ)')
    t.ok(Number(/rc=153\n(\d+)/.exec(one.observation)?.[1]) <= 50 * 1024 * 1024, 'one file never grows past the limit')
    const env2 = await open(s, { task: 'prisonersDilemma', limits: { disk_mb: 50 } })
    const many = await step(s, env2, 'for i in $(seq 1 400); do head -c 10M /dev/zero > f$i; done; echo wrote-all')
    const used = await written(s, env2)
    t.notMatch(many.observation, /wrote-all/, 'the step was stopped')
    t.match(many.observation, /DISK LIMIT EXCEEDED/)
    t.equal(many.terminated, true)
    // polling: the overshoot is what the agent writes in about one poll interval (0.2 s), far below the 4 GB asked
    t.ok(used < 1024 * 1024 * 1024, `stopped at ${(used / 2 ** 20).toFixed(0)} MiB of 4000 MiB`)
  })

  t.test(`${isolation}: a partial limits body keeps the task's other limits`, async t => {
    const s = await testServer()
    t.teardown(() => s.close())
    const env = await open(s, { task: 'prisonersDilemma', limits: { disk_mb: 5 } })
    const r = await step(s, env, 'ulimit -f')
    const task = s.manager.tasks.get('prisonersDilemma')!.spec
    t.equal(r.observation.trim(), String(5 * 1024), 'the override applies (KiB)')
    const sb = s.manager.envs.get(env)!.env.sandbox!
    if (!local) {
      const host = (await (sb as unknown as { container: { inspect (): Promise<any> } }).container.inspect()).HostConfig
      t.equal(host.PidsLimit, task.resources!.pids)
      t.equal(host.Memory, task.resources!.memory_mb! * 2 ** 20)
      return
    }
    const dir = cgroupDirs().find(d => d.endsWith('/' + sb.id))
    if (dir?.startsWith('/sys/fs/cgroup/pids/')) {
      t.equal(readFileSync(join(dir, 'pids.max'), 'utf8').trim(), String(task.resources!.pids))
      const mem = dir.replace('/pids/', '/memory/')
      t.equal(readFileSync(join(mem, 'memory.limit_in_bytes'), 'utf8').trim(), String(task.resources!.memory_mb! * 2 ** 20))
    } else if (dir) {
      t.equal(readFileSync(join(dir, 'pids.max'), 'utf8').trim(), String(task.resources!.pids))
      t.equal(readFileSync(join(dir, 'memory.max'), 'utf8').trim(), String(task.resources!.memory_mb! * 2 ** 20))
    } else {
      // no writable cgroups: the task's process limit as an rlimit
      t.equal((await step(s, env, 'ulimit -u')).observation.trim(), String(task.resources!.pids))
    }
  })

  // docker's own sweep of a killed server's containers is in docker.test.ts
  if (local) t.test(`${isolation}: sandboxes a killed server left are removed at the next start`, async t => {
    const dataDir = tempDir(t, 'sg-crash-')
    // a real server process on the same data dir, killed with SIGKILL while an environment is open
    const child = spawn(process.execPath, ['dist/server/cli.js', 'serve', '--port', '0', '--data-dir', dataDir], {
      cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'], env: process.env
    })
    // a failure below must not leave it running (its sandbox's mount would keep the temp dir from going)
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
    const url = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout!.on('data', d => { out += d; const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out); if (m) resolve(m[1]!) })
      child.on('exit', () => reject(new Error('server exited: ' + out)))
    })
    // with a disk limit: as root, its home is a mounted file system of its own
    const c = await http(url, 'POST', '/v1/envs', { task: 'prisonersDilemma', limits: { disk_mb: 20 } })
    await http(url, 'POST', `/v1/envs/${c.body.env_id}/reset`)
    await http(url, 'POST', `/v1/envs/${c.body.env_id}/step`, { action: 'sleep 300 & echo bg' })
    const sandboxes = join(dataDir, 'sandboxes')
    t.equal(readdirSync(sandboxes).length, 1, 'the sandbox is on disk')
    // the folder is named by the sandbox id, as are its cgroups; other tests' cgroups come and go meanwhile
    const id = readdirSync(sandboxes)[0]!
    const hadGroup = cgroupDirs().some(d => d.endsWith('/' + id))
    child.kill('SIGKILL')
    await new Promise(resolve => child.once('exit', resolve))
    const again = await testServer({ dataDir })
    t.teardown(() => again.close())
    t.same(readdirSync(sandboxes), [], 'its folder is gone')
    t.notOk(readFileSync('/proc/self/mounts', 'utf8').includes(sandboxes), 'nothing stays mounted there (its disk quota)')
    if (hadGroup) t.notOk(cgroupDirs().some(d => d.endsWith('/' + id)), 'its cgroup is gone')
    t.match(again.warnings.join('\n'), /removed 1 local sandbox/)
  })
}

/**
 * Every sandbox cgroup on this machine (v1: the pids controller's, v2: the unified tree's). Other servers' folders
 * come and go while it looks (test runs beside this one): one gone between two reads counts as empty.
 */
function cgroupDirs (): string[] {
  const dirs = (dir: string) => {
    try { return readdirSync(dir, { withFileTypes: true }).filter(e => e.isDirectory()).map(e => join(dir, e.name)) } catch { return [] }
  }
  return ['/sys/fs/cgroup/pids/synthgym', '/sys/fs/cgroup/synthgym'].flatMap(r => dirs(r).flatMap(dirs))
}
