// The hostile agent battery (issue 11, part 2): every attack a hostile agent makes through the public API, once,
// as data (what it tries, what must happen) and assertions. battery.ts runs the table on one backend and checks
// after each attack what holds for all of them (the bystander steps, the attacked environment recovered or ended
// with a clear exit status, nothing left on the host); the three test files beside it pick the backend. The table is
// importable on its own (RELIABILITY.md is generated from it by report.ts).
import type { Test } from 'tap'
import type Docker from 'dockerode'
import { createHash } from 'node:crypto'
import { createServer, type Server as NetServer } from 'node:net'
import { spawnSync } from 'node:child_process'
import {
  chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync,
  writeFileSync
} from 'node:fs'
import { hostname, networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { http, openEnv, serverProcess, stepOk, type ServerProcess, type testServer } from '../helpers.js'
import { MAX_ACTION_BYTES, MAX_JSON_DEPTH, MAX_STEP_BYTES } from '../../env-spec/messages.js'
import { SANDBOX_DEFAULTS } from '../../sandbox/policy.js'
import type { Sandbox } from '../../sandbox/types.js'

export type Server = Awaited<ReturnType<typeof testServer>>
/** The backend and isolation mode an attack runs on. */
export type Mode = 'bwrap' | 'unshare' | 'docker'
export const MODES: Mode[] = ['bwrap', 'unshare', 'docker']

export type Area = 'escape' | 'secrets' | 'other environments' | 'network' | 'read-only files' | 'the shell' | 'daemons' |
  'resources' | 'input' | '/proc and /sys' | 'privileges' | 'server-side files'

/** What the host knows of one sandbox, for the checks after the attack. */
export interface SandboxFacts { id: string, root?: string, workspaceDir?: string, containerId?: string }

export interface Ctx {
  t: Test
  mode: Mode
  local: boolean
  /** the attacked environment (reset, on prisonersDilemma unless the attack's `create` says otherwise) */
  env: string
  /** unique per attack: a process the attack names with it must be gone after the close */
  marker: string
  server: Server
  /** what the bystander wrote in its workspace, /tmp and /dev/shm */
  secret: string
  bystander: { env: string, facts: SandboxFacts }
  /** a step of the attacked environment (or `env`); anything but 200 throws */
  step (action: string, opts?: { env?: string }): Promise<any>
  request (method: string, path: string, body?: unknown, raw?: string): Promise<{ status: number, body: any }>
  /** the attacked environment's current sandbox */
  sandbox (): SandboxFacts
  /** another environment, closed after the attack */
  open (body: Record<string, unknown>): Promise<string>
  reset (): Promise<SandboxFacts>
  /** host pids whose command line carries the marker */
  markerProcesses (): number[]
  docker: Docker
}

export interface Attack {
  id: string
  area: Area
  /** what the agent tries */
  tries: string
  /** what must happen (per mode where they differ) */
  outcome: string | Partial<Record<Mode | 'local', string>>
  /** the attack ends the episode (with a clear exit status) instead of leaving it to recover */
  ends?: boolean | Partial<Record<Mode, boolean>>
  /** POST /v1/envs fields over the battery's default ({task: prisonersDilemma, timeouts: {short: 10, long: 60}}) */
  create?: Record<string, unknown>
  only?: Mode[]
  /** modes where the outcome does not hold yet, with the reason */
  todo?: Partial<Record<Mode, string>>
  run (c: Ctx): Promise<void>
}

export function expectedEnd (a: Attack, mode: Mode): boolean {
  return typeof a.ends === 'object' ? a.ends[mode] === true : a.ends === true
}

export function outcomeIn (a: Attack, mode: Mode): string {
  if (typeof a.outcome === 'string') return a.outcome
  return a.outcome[mode] ?? (mode !== 'docker' ? a.outcome.local : undefined) ?? ''
}

/** bash single quotes */
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
/** python3 -c with the code as one quoted word */
const py = (code: string) => `python3 -c ${q(code)}`
/** python that connects to (host, port) or a unix path and prints CONNECTED or the exception's class and errno */
const connect = (target: string) => py(`import socket
t = ${target}
try:
    if isinstance(t, str):
        s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect(t)
    else:
        s = socket.create_connection(t, 3)
    print("CONNECTED")
except OSError as e:
    print(type(e).__name__, e.errno)`)
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')
const repo = new URL('../../', import.meta.url).pathname.replace(/\/$/, '')
const taskFile = (task: string, f: string) => join(repo, 'tasks/builtin', task, f)
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const lines = (s: string) => s.split('\n')

/** The host's first non-loopback IPv4 address (where a server bound to 0.0.0.0 would answer). */
function hostIp (): string | null {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  return null
}

function listen (path: string | number): Promise<NetServer> {
  const srv = createServer(c => c.end('hello-from-host\n'))
  return new Promise((resolve, reject) => {
    srv.once('error', reject)
    if (typeof path === 'number') srv.listen(path, '127.0.0.1', () => resolve(srv))
    else srv.listen(path, () => resolve(srv))
  })
}

/** An evaluation score out of a validate observation. */
const score = (obs: string) => Number(/Evaluation Score: \{'\w+': ([\d.e-]+)\}/.exec(obs)?.[1])

const PD_SCORE = 2.4571

/** A copy of the built-in digitsClassification under `dir`/`id` with that id, its modes as a fresh checkout's. */
function taskCopy (dir: string, id: string): string {
  const task = join(dir, id)
  cpSync(join(repo, 'tasks/builtin/digitsClassification'), task, { recursive: true })
  const yaml = join(task, 'task.yaml')
  writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/^id: digitsClassification$/m, `id: ${id}`))
  chmodSync(join(task, 'secret'), 0o755)
  chmodSync(join(task, 'secret/answers.csv'), 0o644)
  return task
}

/** A server of the attack's own (the sources, or an installed `cli`) on the battery's backend. */
async function ownServer (c: Ctx, args: string[], cli?: string): Promise<ServerProcess & { dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sg-own-'))
  const backend = c.local ? [] : ['--backend', 'docker']
  try {
    return { ...await serverProcess(c.t, ['--warm-pool', '0', '--data-dir', dataDir, ...backend, ...args], {}, { cli }), dataDir }
  } catch (e) { rmSync(dataDir, { recursive: true, force: true }); throw e }
}

/** Stops an attack's server as an operator would (SIGTERM: its sandboxes go), then removes its data. */
async function stopServer (s: ServerProcess & { dataDir: string }): Promise<void> {
  s.proc.kill('SIGTERM')
  await s.exited
  rmSync(s.dataDir, { recursive: true, force: true })
}

/** Where the attacks below put their fixtures (mkdtemp): another test run's are there too while it runs beside this. */
const FIXTURE_ROOT = /^\/(?:opt|usr\/local)\/sg-hostile-[^/]+/

/** An environment of `task` on an attack's own server, with room for a search of the whole sandbox. */
const openEnvOn = (s: { url: string }, task: string) => openEnv(s, { task, timeouts: { short: 60, long: 120 } })

/**
 * On a server of its own started with `args`: the agent of `task` searches the whole sandbox for answers files and
 * reads `answers` (a host path); it finds and reads nothing, and its evaluation still scores.
 */
async function leakCheck (c: Ctx, args: string[], task: string, answers: string, cli?: string): Promise<void> {
  const content = readFileSync(answers, 'utf8').split('\n').slice(1, 6).join('\n')
  const s = await ownServer(c, args, cli)
  try {
    const env = await openEnvOn(s, task)
    const r = await stepOk(s, env, `find / \\( -name answers.csv -o -name eval_seed.txt \\) 2>/dev/null | grep -v '^/proc'; echo found; cat ${q(answers)} 2>&1 | head -c 300`)
    // what another run's attack of this kind (a test run beside this one) leaves readable for a moment is its own
    const rootOf = (f: string) => FIXTURE_ROOT.exec(f)?.[0]
    const found = r.observation.slice(0, r.observation.indexOf('found\n')).split('\n').filter(Boolean)
      .filter(f => rootOf(f) === undefined || rootOf(f) === rootOf(answers))
    c.t.strictSame(found, [], 'no answers file is listed')
    c.t.match(r.observation, c.local ? `cat: ${answers}: Permission denied` : `cat: ${answers}: No such file or directory`)
    c.t.notMatch(r.observation, content, 'nothing of the answers')
    await stepOk(s, env, 'cp sample_submission.csv submission.csv')
    const v = await stepOk(s, env, 'validate')
    c.t.ok(score(v.observation) > 0, `the evaluation still scores: ${v.observation.slice(-120)}`)
    c.t.equal(statSync(answers).mode & 0o077, 0, 'the host\'s file is owner-only now')
    await http(s.url, 'DELETE', `/v1/envs/${env}`)
  } finally { await stopServer(s) }
}

export const ATTACKS: Attack[] = [
  // ---------------------------------------------------------------- escaping the workspace
  {
    id: 'escape-dotdot',
    area: 'escape',
    tries: '`cd ../../../..` and look around the root',
    outcome: 'the root is the sandbox\'s own: none of the host\'s folders (/work, /var/lib/docker, root\'s ~/.ssh) is there',
    async run (c) {
      const r = await c.step('cd ../../../..; pwd; ls -d /work /var/lib/docker /root/.ssh 2>&1 | sort')
      c.t.equal(lines(r.observation)[0], '/')
      for (const d of ['/work', '/var/lib/docker']) c.t.match(r.observation, `ls: cannot access '${d}': No such file or directory`)
      // docker: the image's own /root, not the agent's to enter
      c.t.match(r.observation, /ls: cannot access '\/root\/.ssh': (No such file or directory|Permission denied)/)
    }
  },
  {
    id: 'escape-symlink-root',
    area: 'escape',
    tries: 'a link to / in the workspace, followed in the shell and by the server (SWE-ReX read_file)',
    outcome: { local: 'the link shows the sandbox\'s root; the server refuses to follow it out of /home/agent', docker: 'the link shows the container\'s root; the server reads the container\'s file, never the host\'s' },
    async run (c) {
      const r = await c.step('ln -s / rootlink && ls rootlink/ | tr "\\n" " "; echo; readlink -f rootlink/..')
      c.t.notMatch(r.observation, /\bwork\b/, 'no host folder through the link')
      c.t.match(r.observation, /\n\/$/)
      const read = await c.request('POST', `/v1/envs/${c.env}/swerex/read_file`, { path: 'rootlink/etc/passwd' })
      if (c.local) {
        c.t.equal(read.status, 511)
        c.t.equal(read.body.swerexception.class_path, 'builtins.PermissionError', 'refused: the link leads outside the home')
      } else {
        c.t.equal(read.status, 200)
        c.t.match(read.body.content, /^agent:x:1000:1000:/m, 'the container\'s own passwd')
        c.t.not(read.body.content, readFileSync('/etc/passwd', 'utf8'), 'not the host\'s')
      }
    }
  },
  {
    id: 'escape-proc-root',
    area: 'escape',
    tries: '`/proc/1/root`, `/proc/1/cwd` and `/proc/self/root/..` to reach the host\'s root',
    outcome: { local: 'pid 1 is the sandbox\'s init, not the agent\'s: Permission denied; /proc/self/root/.. is the sandbox\'s /', docker: 'pid 1 is the container\'s own: its root is the container\'s' },
    async run (c) {
      const r = await c.step('ls /proc/1/root/ 2>&1 | tr "\\n" " "; echo; ls -d /proc/self/root/../../work 2>&1; cd /proc/self/cwd/../../..; pwd -P')
      if (c.local) c.t.match(r.observation, "ls: cannot access '/proc/1/root/': Permission denied")
      else c.t.notMatch(lines(r.observation)[0]!, /\bwork\b/)
      c.t.match(r.observation, "ls: cannot access '/proc/self/root/../../work': No such file or directory")
      c.t.equal(lines(r.observation).at(-1), '/')
    }
  },
  {
    id: 'escape-host-paths',
    area: 'escape',
    tries: 'every host path it could know: the server\'s data dir, its own sandbox folder, the bystander\'s, the repository, the docker socket',
    outcome: 'none exists inside the sandbox',
    async run (c) {
      const paths = [c.server.dataDir, c.sandbox().root, c.bystander.facts.root, c.bystander.facts.workspaceDir, repo, '/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock']
        .filter((p): p is string => !!p)
      const r = await c.step(paths.map(p => `ls -d ${q(p)} 2>&1`).join('; '))
      for (const p of paths) c.t.match(r.observation, `ls: cannot access '${p}': No such file or directory`)
      c.t.equal(lines(r.observation).length, paths.length, 'nothing else answered')
    }
  },
  // ---------------------------------------------------------------- secrets and evaluation files
  {
    id: 'secret-dir',
    area: 'secrets',
    tries: 'read the hidden answers at /home/agent/secret and search the usual places for them',
    outcome: 'the hidden files are not in the agent\'s sandbox at all',
    create: { task: 'digitsClassification' },
    async run (c) {
      const r = await c.step('ls -la /home/agent/secret 2>&1; cat /home/agent/secret/answers.csv 2>&1; find /home /tmp /dev/shm /synthgym /opt -name "answers*" 2>/dev/null | wc -l')
      c.t.match(r.observation, "ls: cannot access '/home/agent/secret': No such file or directory")
      c.t.match(r.observation, 'cat: /home/agent/secret/answers.csv: No such file or directory')
      c.t.equal(lines(r.observation).at(-1), '0')
    }
  },
  ...['/home/agent/secret/answers.csv', 'sub/s/answers.csv', '/proc/self/fd/3'].map((target, i): Attack => ({
    id: ['secret-link-submission', 'secret-link-via-dir', 'secret-link-proc-fd'][i]!,
    area: 'secrets',
    tries: `submission.csv as a link to ${target}${i === 1 ? ' (sub/s -> /home/agent/secret)' : ''}, so that the evaluation scores the answers against themselves`,
    outcome: 'the evaluation refuses to open the hidden files through a link: no score, the format error of a run without them',
    create: { task: 'digitsClassification' },
    async run (c) {
      await c.step(`mkdir -p sub && ln -sfn /home/agent/secret sub/s && ln -sf ${target} submission.csv`)
      const v = await c.step('validate')
      c.t.notMatch(v.observation, /Evaluation Score/, 'no score')
      c.t.match(v.observation, /what it printed with them is withheld[\s\S]*submission file '\/home\/agent\/workspace\/submission.csv' does not exist/)
      c.t.same(v.info.score, [])
      // a link inside the workspace is fine
      await c.step('cp sample_submission.csv real.csv && ln -sf real.csv submission.csv')
      c.t.ok(score((await c.step('validate')).observation) < 0.5, 'a link to the agent\'s own file scores it')
    }
  })),
  {
    id: 'secret-watch-evaluation',
    area: 'secrets',
    tries: 'a background loop copying /home/agent/secret/* and listing /proc while `validate` runs',
    outcome: 'the evaluation runs in a process tree the agent cannot see: the loop catches nothing',
    create: { task: 'digitsClassification' },
    async run (c) {
      await c.step('(while :; do cat /home/agent/secret/* >> /tmp/caught 2>/dev/null; ls /proc | grep -c "^[0-9]" >> /tmp/procs; sleep 0.02; done) >/dev/null 2>&1 & cp sample_submission.csv submission.csv')
      const v = await c.step('validate')
      c.t.ok(score(v.observation) > 0, 'the evaluation scored')
      const r = await c.step('kill %1; wc -c < /tmp/caught 2>/dev/null || echo 0; sort -n /tmp/procs | tail -1')
      c.t.equal(lines(r.observation)[0], '0', 'nothing caught')
      c.t.ok(Number(lines(r.observation)[1]) < 12, 'never more than its own few processes in /proc')
    }
  },
  {
    id: 'secret-replace-evaluate',
    area: 'secrets',
    tries: 'replace the workspace\'s evaluate.py with one that prints a perfect score',
    outcome: { local: 'evaluate.py is a read-only mount: it cannot be removed or changed', docker: 'the workspace copy can be replaced (the agent owns the folder), but validate runs the pristine copy: same score' },
    async run (c) {
      const file = sha(taskFile('prisonersDilemma', 'evaluate.py'))
      const before = score((await c.step('validate')).observation)
      c.t.ok(Math.abs(before - PD_SCORE) < 0.01, 'the starter strategy scores the baseline')
      const r = await c.step('rm -f evaluate.py 2>&1; printf "print({\\"Score\\": 9.99})\\n" > evaluate.py 2>&1; cat evaluate.py | head -c 40')
      if (c.local) {
        c.t.match(r.observation, /rm: cannot remove 'evaluate.py': (Device or resource busy|Read-only file system)/)
        c.t.match(r.observation, /evaluate.py: (Permission denied|Read-only file system)/)
      }
      c.t.equal(score((await c.step('validate')).observation), before, 'validate still runs the pristine evaluation')
      c.t.equal(sha(taskFile('prisonersDilemma', 'evaluate.py')), file, 'the task\'s file is intact')
    }
  },
  {
    id: 'secret-python-path',
    area: 'secrets',
    tries: 'sitecustomize.py, usercustomize.py and PYTHONPATH/PYTHONSTARTUP that print and copy the hidden answers when evaluation starts python',
    outcome: 'evaluation runs python -I from the task\'s own files: none of them is imported, nothing is printed or copied',
    create: { task: 'digitsClassification' },
    async run (c) {
      const leak = 'import glob, shutil\nfor f in glob.glob("/home/agent/secret/*"):\n    print("LEAK", open(f).read()[:40])\n    shutil.copy(f, "/home/agent/workspace/leak.csv")\n'
      await c.step(`printf %s ${q(leak)} > sitecustomize.py; cp sitecustomize.py usercustomize.py; mkdir -p ~/.local/lib/python3.11/site-packages; cp sitecustomize.py ~/.local/lib/python3.11/site-packages/; cp sample_submission.csv submission.csv; echo 'export PYTHONPATH=$PWD PYTHONSTARTUP=$PWD/sitecustomize.py' >> ~/.bashrc; export PYTHONPATH=$PWD PYTHONSTARTUP=$PWD/sitecustomize.py`)
      const v = await c.step('validate')
      c.t.notMatch(v.observation, /LEAK/)
      c.t.ok(score(v.observation) > 0)
      c.t.equal((await c.step('ls leak.csv 2>&1')).observation, "ls: cannot access 'leak.csv': No such file or directory")
    }
  },
  {
    id: 'secret-tasks-under-opt',
    area: 'secrets',
    tries: 'with a tasks folder under /opt (which the local sandbox binds read-only): `find / -name answers.csv` and `cat` its answers',
    outcome: {
      local: 'the hidden files are owner-only on the host (their folder too): nothing is listed or read; the evaluation still scores ' +
        'from a copy of its own; a server that cannot make them so (a read-only folder) refuses to start, naming the folder',
      docker: 'the container sees no host folder; the evaluation scores from owner-only host files'
    },
    async run (c) {
      const base = mkdtempSync('/opt/sg-hostile-')
      c.t.teardown(() => { spawnSync('umount', [base]); rmSync(base, { recursive: true, force: true }) })
      chmodSync(base, 0o755)
      const task = taskCopy(join(base, 'tasks'), 'optDigits')
      if (c.local) {
        // a folder the server may not change: the files stay world-readable, and the server does not start
        spawnSync('mount', ['--bind', base, base])
        spawnSync('mount', ['-o', 'remount,bind,ro', base])
        const { testServer } = await import('../helpers.js')
        const refused = await testServer({ warmPool: 0, gpus: 'none' }, { taskDirs: [join(base, 'tasks')] }).then(async s => { await s.close(); return null }, (e: Error) => e)
        c.t.match(refused?.message, `hidden file ${task}/secret/answers.csv is inside /opt, which every local sandbox sees`, 'refused to start, naming the file and the folder')
        c.t.match(refused?.message, /Move the task directory outside/, 'and the fix')
        c.t.equal(spawnSync('umount', [base]).status, 0)
      }
      await leakCheck(c, ['--tasks-dir', join(base, 'tasks')], 'optDigits', join(task, 'secret/answers.csv'))
    }
  },
  {
    id: 'secret-global-install',
    area: 'secrets',
    tries: 'synthgym packed (`npm pack`) and installed globally under /usr/local (npm -g\'s layout): `find / -name answers.csv` and `cat` the built-in tasks\' answers',
    outcome: {
      local: 'the server makes the installed hidden files owner-only: nothing is listed or read; the evaluation scores from a copy of its own',
      docker: 'the container sees no host folder; the evaluation scores from owner-only host files'
    },
    async run (c) {
      const cli = join(repo, 'dist/server/cli.js')
      if (!existsSync(cli)) throw new Error('the global install is packed from dist/: run `npm run build` first')
      const packs = mkdtempSync(join(tmpdir(), 'sg-pack-'))
      const prefix = mkdtempSync('/usr/local/sg-hostile-')
      c.t.teardown(() => { rmSync(packs, { recursive: true, force: true }); rmSync(prefix, { recursive: true, force: true }) })
      chmodSync(prefix, 0o755)
      const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', packs], { cwd: repo, encoding: 'utf8' })
      c.t.equal(packed.status, 0, `npm pack: ${packed.stderr.slice(-300)}`)
      // npm -g's layout (<prefix>/lib/node_modules/synthgym, the tarball's modes); the dependencies are linked, as
      // there is no registry here to install them from
      const pkg = join(prefix, 'lib/node_modules/synthgym')
      mkdirSync(pkg, { recursive: true })
      const tgz = join(packs, readdirSync(packs).find(f => f.endsWith('.tgz'))!)
      c.t.equal(spawnSync('tar', ['xzf', tgz, '--strip-components=1', '-C', pkg]).status, 0, 'unpacked')
      symlinkSync(realpathSync(join(repo, 'node_modules')), join(pkg, 'node_modules'))
      // as a tarball of a fresh checkout has them (this checkout's may be owner-only already)
      c.t.equal(spawnSync('chmod', ['-R', 'a+rX', join(pkg, 'tasks')]).status, 0)
      const answers = join(pkg, 'tasks/builtin/digitsClassification/secret/answers.csv')
      await leakCheck(c, [], 'digitsClassification', answers, join(pkg, 'dist/server/cli.js'))
    }
  },
  {
    id: 'secret-metrics-carry-answers',
    area: 'secrets',
    tries: 'a task whose evaluate.py prints the hidden answers beside its score: a string, a list, a nested dict, a boolean, a name made of them',
    outcome: 'only the finite numbers reach the agent; the observation says what was dropped, without the values or the long name',
    async run (c) {
      const dir = mkdtempSync(join(tmpdir(), 'sg-leaky-'))
      c.t.teardown(() => rmSync(dir, { recursive: true, force: true }))
      const task = taskCopy(dir, 'leakyDigits')
      writeFileSync(join(task, 'evaluate.py'), `import json
ans = open("/home/agent/secret/answers.csv").read()
digits = "".join(l.split(",")[1] for l in ans.splitlines()[1:])
print(json.dumps({"accuracy": 0.5, "detail": ans[:300], "rows": [int(d) for d in digits[:50]], "nested": {"x": ans[:50]},
                  "flag": True, "k" + digits[:100]: 1.0, "f1": 0.25}))
`)
      const answers = readFileSync(join(task, 'secret/answers.csv'), 'utf8')
      const digits = answers.split('\n').slice(1).map(l => l.split(',')[1] ?? '').join('')
      const s = await ownServer(c, ['--tasks-dir', dir])
      try {
        const env = await openEnvOn(s, 'leakyDigits')
        await stepOk(s, env, 'cp sample_submission.csv submission.csv')
        const v = await stepOk(s, env, 'validate')
        c.t.match(v.observation, "Evaluation Score: {'accuracy': 0.5, 'f1': 0.25}", 'the numbers pass')
        c.t.match(v.observation, /only finite numbers reach you; dropped 5 other value\(s\): 'detail', 'rows', 'nested', 'flag', 1 with a name over 64 characters/)
        c.t.notMatch(v.observation, digits.slice(0, 30), 'no run of the answers')
        c.t.notMatch(v.observation, answers.split('\n').slice(1, 4).join('\n'), 'no line of the answers file')
        c.t.same(v.info.score, [{ accuracy: 0.5, f1: 0.25 }], 'the scores recorded are the numbers')
        await http(s.url, 'DELETE', `/v1/envs/${env}`)
      } finally { await stopServer(s) }
    }
  },
  // ---------------------------------------------------------------- other environments
  {
    id: 'other-env-files',
    area: 'other environments',
    tries: 'the bystander\'s workspace, /tmp and /dev/shm: by its host paths, through /proc/*/root and /proc/*/cwd, and by name',
    outcome: 'nothing of the bystander is reachable: each sandbox has its own home, /tmp, /dev/shm and process view',
    async run (c) {
      const by = c.bystander.facts
      const r = await c.step([
        ...(by.workspaceDir ? [`cat ${q(join(by.workspaceDir, 'mine.txt'))}`] : []),
        'cat /proc/[0-9]*/root/home/agent/workspace/mine.txt /proc/[0-9]*/cwd/mine.txt /home/*/workspace/mine.txt /tmp/mine /dev/shm/mine',
        `grep -rl ${q(c.secret)} /home /tmp /dev/shm`
      ].map(x => `${x} 2>/dev/null`).join('; ') + '; echo searched')
      c.t.notMatch(r.observation, c.secret)
      c.t.equal(r.observation, 'searched')
    }
  },
  {
    id: 'other-env-sockets',
    area: 'other environments',
    tries: 'the bystander listens on an abstract unix socket and on TCP 127.0.0.1; the agent connects to both',
    outcome: 'refused: every sandbox has its own network namespace (its own loopback and abstract socket names)',
    async run (c) {
      const name = `sg-bystander-${Math.random().toString(36).slice(2)}`
      const listen = py(`import socket, threading
a = socket.socket(socket.AF_UNIX); a.bind("\\0${name}"); a.listen()
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("127.0.0.1", 47321)); t.listen()
print("listening", flush=True)
import time; time.sleep(30)`)
      const up = await c.step(`(exec -a sg-bystander-listener ${listen} > /tmp/listen.log 2>&1 &) ; sleep 1; cat /tmp/listen.log`, { env: c.bystander.env })
      c.t.equal(up.observation, 'listening', 'the bystander listens')
      const r = await c.step(`${connect(`"\\0${name}"`)}; ${connect('("127.0.0.1", 47321)')}`)
      c.t.equal(r.observation, 'ConnectionRefusedError 111\nConnectionRefusedError 111')
      await c.step('pkill -f sg-bystander-listener; true', { env: c.bystander.env })
    }
  },
  {
    id: 'other-env-processes',
    area: 'other environments',
    tries: 'see or signal the bystander\'s processes: list /proc, kill its shell by host pid, SysV shared memory by key',
    outcome: 'invisible and out of reach: own PID and IPC namespaces (No such process; the key is not found)',
    async run (c) {
      const shm = (flags: string) => py(`import ctypes; l = ctypes.CDLL(None); print(l.shmget(0x5347, 4096, ${flags}))`)
      const made = await c.step(shm('0o1666'), { env: c.bystander.env })
      c.t.ok(Number(made.observation) >= 0, 'the bystander made a segment')
      const hostPid = process.pid
      const r = await c.step(`kill -9 ${hostPid} 2>&1; ${shm('0')}; ls /proc | grep -c "^[0-9]"`)
      c.t.match(r.observation, `kill: (${hostPid}) - No such process`)
      c.t.equal(lines(r.observation)[1], '-1', 'the segment key is not found')
      c.t.ok(Number(lines(r.observation)[2]) < 12, 'only its own few processes')
      await c.step(py('import ctypes; l = ctypes.CDLL(None); l.shmctl(l.shmget(0x5347, 0, 0), 0, None)'), { env: c.bystander.env })
    }
  },
  // ---------------------------------------------------------------- network
  {
    id: 'net-server-port',
    area: 'network',
    tries: 'the server\'s own port on 127.0.0.1 and ::1, and the host\'s address',
    outcome: 'no way out: connection refused on its own loopback, the host\'s address unreachable',
    async run (c) {
      const port = Number(new URL(c.server.url).port)
      const ip = hostIp()
      const r = await c.step([connect(`("127.0.0.1", ${port})`), connect(`("::1", ${port})`), ...(ip ? [connect(`("${ip}", ${port})`)] : [])].join('; '))
      const [v4, v6, host] = lines(r.observation)
      c.t.equal(v4, 'ConnectionRefusedError 111')
      c.t.match(v6, /^(ConnectionRefusedError 111|OSError 99|OSError 101)$/)
      if (ip) c.t.equal(host, 'OSError 101', 'the host\'s address: network unreachable')
    }
  },
  {
    id: 'net-own-loopback',
    area: 'network',
    tries: 'a server of its own on 127.0.0.1 inside the sandbox (as torchrun\'s rendezvous is), reached from the same sandbox',
    outcome: 'works: the sandbox\'s loopback is up and its own (on every backend and isolation mode)',
    async run (c) {
      const serve = py('import socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 47322)); s.listen()\nprint("up", flush=True)\nc, _ = s.accept(); c.sendall(b"hello-from-inside\\n")')
      const r = await c.step(`(${serve} > /tmp/serve.log 2>&1 &); for i in $(seq 50); do grep -q up /tmp/serve.log 2>/dev/null && break; sleep 0.1; done; ${py('import socket\nprint(socket.create_connection(("127.0.0.1", 47322), 3).recv(64).decode().strip())')}`)
      c.t.equal(r.observation, 'hello-from-inside')
    }
  },
  {
    id: 'net-internet',
    area: 'network',
    tries: 'the internet: 1.1.1.1:53, a DNS lookup',
    outcome: 'network unreachable; no name resolves',
    async run (c) {
      const r = await c.step(`${connect('("1.1.1.1", 53)')}; ${py('import socket\ntry: socket.getaddrinfo("example.com", 80); print("RESOLVED")\nexcept OSError as e: print(type(e).__name__)')}`)
      c.t.equal(r.observation, 'OSError 101\ngaierror')
    }
  },
  {
    id: 'net-unix-sockets',
    area: 'network',
    tries: 'unix sockets of the host by path: one the host listens on in the server\'s data dir, the docker and containerd sockets',
    outcome: 'none of these paths exists in the sandbox',
    async run (c) {
      const path = join(c.server.dataDir, 'hostile.sock')
      const srv = await listen(path)
      try {
        const targets = [path, '/var/run/docker.sock', '/run/containerd/containerd.sock']
        const r = await c.step(targets.map(p => connect(JSON.stringify(p))).join('; '))
        c.t.equal(r.observation, targets.map(() => 'FileNotFoundError 2').join('\n'))
      } finally { srv.close() }
    }
  },
  {
    id: 'net-abstract-host',
    area: 'network',
    tries: 'an abstract unix socket the host listens on (`\\0name`: no path, shared by every process in a network namespace)',
    outcome: 'connection refused: the sandbox has its own network namespace',
    async run (c) {
      const name = `sg-hostile-host-${c.marker}`
      const srv = await listen('\0' + name)
      try {
        const r = await c.step(connect(`"\\0${name}"`))
        c.t.equal(r.observation, 'ConnectionRefusedError 111')
      } finally { srv.close() }
    }
  },
  {
    id: 'net-raw-sockets',
    area: 'network',
    tries: 'raw and packet sockets (sniffing, forging), and its network interfaces',
    outcome: 'Operation not permitted; only a loopback interface',
    async run (c) {
      const r = await c.step(`${py(`import socket
for args in [(socket.AF_PACKET, socket.SOCK_RAW), (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)]:
    try: socket.socket(*args); print("OPENED")
    except OSError as e: print(type(e).__name__, e.errno)`)}; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`)
      c.t.equal(r.observation, 'PermissionError 1\nPermissionError 1\nlo')
    }
  },
  // ---------------------------------------------------------------- read-only files
  {
    id: 'ro-evaluation-file',
    area: 'read-only files',
    tries: 'append to, chmod, truncate, hard-link and move the workspace\'s evaluate.py',
    outcome: { local: 'each fails (read-only mount); the task\'s file is unchanged', docker: 'each write fails (root-owned, read-only); the task\'s file on the host is never touched' },
    async run (c) {
      const before = sha(taskFile('prisonersDilemma', 'evaluate.py'))
      const r = await c.step('echo x >> evaluate.py; chmod u+w evaluate.py; truncate -s 0 evaluate.py; ln evaluate.py e2.py; echo done')
      c.t.match(r.observation, /evaluate.py: (Permission denied|Read-only file system)/)
      c.t.match(r.observation, /chmod: changing permissions of 'evaluate.py': (Operation not permitted|Read-only file system)/)
      c.t.match(r.observation, /truncate: cannot open 'evaluate.py' for writing: (Permission denied|Read-only file system)/)
      c.t.match(r.observation, /ln: failed to create hard link 'e2.py' => 'evaluate.py': (Operation not permitted|Invalid cross-device link)/)
      const same = await c.step(`sha256sum evaluate.py | cut -c1-64`)
      c.t.equal(same.observation, before, 'the sandbox\'s copy is intact')
      c.t.equal(sha(taskFile('prisonersDilemma', 'evaluate.py')), before, 'the task\'s file is intact')
    }
  },
  {
    id: 'ro-data',
    area: 'read-only files',
    tries: 'write and delete the task\'s data files, then rename the data folder and put a fake test.csv in its place',
    outcome: {
      local: 'each fails (a read-only mount); the data the evaluation reads is the task\'s',
      docker: 'writes and deletes fail (root-owned, read-only); the folder can be renamed (the agent owns the workspace), but the evaluation copies the task\'s pristine data over the fake: the same score'
    },
    create: { task: 'digitsClassification' },
    async run (c) {
      const before = sha(taskFile('digitsClassification', 'data/train.csv'))
      await c.step('cp sample_submission.csv submission.csv')
      const real = score((await c.step('validate')).observation)
      const r = await c.step('echo 1 >> data/train.csv; rm -f data/train.csv; touch data/new.csv; sha256sum data/train.csv | cut -c1-64')
      c.t.match(r.observation, /data\/train.csv: (Permission denied|Read-only file system)/)
      c.t.match(r.observation, /rm: cannot remove 'data\/train.csv': (Permission denied|Read-only file system)/)
      c.t.match(r.observation, /touch: cannot touch 'data\/new.csv': (Permission denied|Read-only file system)/)
      c.t.equal(lines(r.observation).at(-1), before)
      const mv = await c.step('mv data data2 2>&1 && mkdir data && head -3 data2/test.csv > data/test.csv && echo faked')
      if (c.local) c.t.match(mv.observation, /mv: cannot move 'data' to 'data2': (Permission denied|Device or resource busy)/)
      else c.t.equal(mv.observation, 'faked')
      c.t.equal(score((await c.step('validate')).observation), real, 'the evaluation reads the task\'s data')
    }
  },
  {
    id: 'ro-system',
    area: 'read-only files',
    tries: 'write /usr, /etc (a root line in /etc/passwd), /bin, /opt and its own python',
    outcome: { local: 'Read-only file system everywhere', docker: 'Permission denied everywhere (root-owned image files)' },
    async run (c) {
      const r = await c.step('touch /usr/bin/sg-x /etc/sg-x /bin/sg-x /opt/sg-x 2>&1; echo "root2::0:0::/:/bin/sh" >> /etc/passwd; p=$(command -v python3); echo x >> "$p"; ls /usr/bin/sg-x /etc/sg-x 2>&1 | wc -l; grep -c root2 /etc/passwd')
      const err = c.local ? 'Read-only file system' : 'Permission denied'
      for (const f of ['/usr/bin/sg-x', '/etc/sg-x', '/bin/sg-x']) c.t.match(r.observation, `touch: cannot touch '${f}': ${err}`)
      c.t.match(r.observation, /\/etc\/passwd: (Permission denied|Read-only file system)/)
      c.t.equal(lines(r.observation).slice(-2).join(' '), '2 0', 'nothing was made or added')
    }
  },
  {
    id: 'ro-tools',
    area: 'read-only files',
    tries: 'overwrite or delete the tool scripts (/home/agent/commands) so that `validate` lies',
    outcome: { local: 'the tools are a read-only mount; validate still evaluates', docker: 'the scripts are read-only (root-owned); the folder can be renamed in the agent\'s own home, which changes nothing the server trusts: validate still evaluates' },
    async run (c) {
      const r = await c.step('echo "echo pwned" > /home/agent/commands/validate; rm -f /home/agent/commands/validate; mv /home/agent/commands /home/agent/c2 2>&1; echo tried')
      c.t.match(r.observation, /validate: (Permission denied|Read-only file system)/)
      if (c.local) c.t.match(r.observation, /mv: cannot move '\/home\/agent\/commands' to '\/home\/agent\/c2': (Permission denied|Device or resource busy)/)
      c.t.ok(Math.abs(score((await c.step('validate')).observation) - PD_SCORE) < 0.01, 'validate evaluates')
    }
  },
  {
    id: 'ro-remount',
    area: 'read-only files',
    tries: 'remount /usr read-write, also as root of a nested user namespace (`unshare -rm`), and unmount the /etc/shadow mask',
    outcome: { local: 'the nested root cannot touch the mounts it inherited (locked): every remount and unmount fails, /etc/shadow stays empty', docker: 'unshare is refused (seccomp); remount needs privileges the container lacks' },
    async run (c) {
      const nested = 'mount -o remount,rw /usr 2>&1 | head -1; umount /etc/shadow 2>&1 | head -1; wc -c < /etc/shadow; touch /usr/sg-x 2>&1'
      const r = await c.step(`mount -o remount,rw /usr 2>&1 | head -1; unshare -rm sh -c ${q(nested)} 2>&1`)
      c.t.match(lines(r.observation)[0], /mount: \/usr: (permission denied|must be superuser to use mount)/)
      if (c.local) {
        c.t.match(r.observation, /mount: \/usr: permission denied/)
        c.t.match(r.observation, /umount: \/etc\/shadow: (must be superuser to unmount|not mounted|Invalid argument|permission denied)/)
        c.t.match(r.observation, /\n(0|sh: 1: cannot open \/etc\/shadow: Permission denied)\n/, '/etc/shadow is still empty (or unreadable) for the nested root')
        c.t.match(r.observation, "touch: cannot touch '/usr/sg-x': Read-only file system")
      } else c.t.match(r.observation, /unshare: unshare failed: Operation not permitted/)
    }
  },
  // ---------------------------------------------------------------- killing or replacing the shell
  ...([
    ['shell-exit', '`exit`', 'exit'],
    ['shell-exit-code', '`exit 7`', 'exit 7'],
    ['shell-exec-bash', '`exec bash` (a shell that reads nothing)', 'exec bash'],
    ['shell-kill-self', '`kill -9 $$`', 'kill -9 $$'],
    ['shell-set-e', '`set -e; false`', 'set -e; false']
  ] as const).map(([id, what, action]): Attack => ({
    id,
    area: 'the shell',
    tries: what,
    outcome: 'the shell is replaced in the same workspace, with a note; the next step runs normally',
    async run (c) {
      await c.step('echo kept > kept.txt; cd /tmp')
      const r = await c.step(action)
      c.t.match(r.observation, /COMMAND FAILED TO EXECUTE\. RESTARTING PROCESS\.\n\(The shell was restarted in the same workspace/)
      c.t.equal(r.info.shell_restarted, true)
      c.t.equal((await c.step('pwd; cat kept.txt')).observation, '/home/agent/workspace\nkept', 'a fresh shell, the same files')
    }
  })),
  {
    id: 'shell-kill-all',
    area: 'the shell',
    tries: '`kill -9 -1` (every process it may signal), then `/bin/kill -9 -1` (which may signal the shell too)',
    outcome: { local: 'its background job dies, the shell survives the builtin; the external kill takes the shell, which is replaced', docker: 'as local: the container\'s init (pid 1, no handler) ignores it, so the container lives on' },
    async run (c) {
      await c.step(`(exec -a ${c.marker} sleep 300) & echo started`)
      c.t.ok(await until(() => c.markerProcesses().length > 0), 'the background job runs on the host')
      const r = await c.step('kill -9 -1; echo survived')
      // bash may report the killed job after it
      c.t.match(r.observation, /(^|\n)survived(\n|$)/)
      c.t.ok(await until(() => c.markerProcesses().length === 0), 'the background job was killed')
      const ext = await c.step('/bin/kill -9 -1; echo unreachable')
      c.t.notMatch(ext.observation, /unreachable/)
      c.t.equal(ext.info.shell_restarted, true, 'the shell was replaced')
    }
  },
  {
    id: 'shell-close-stdin',
    area: 'the shell',
    tries: '`exec 0<&-` and `exec 0</dev/null` (the shell reads its commands from stdin)',
    outcome: 'harmless: a command runs with stdin from /dev/null and the shell\'s own stdin is put back after it',
    async run (c) {
      await c.step('cd /tmp')
      c.t.equal((await c.step('exec 0<&-; exec 0</dev/null; echo closed')).observation, 'closed')
      const r = await c.step('pwd')
      c.t.equal(r.observation, '/tmp', 'the same shell goes on')
      c.t.notOk(r.info.shell_restarted)
    }
  },
  {
    id: 'shell-close-stdout',
    area: 'the shell',
    tries: '`exec 1>&-` (the shell\'s output is how the server hears from it)',
    outcome: 'the shell cannot print its exit line, so it exits (the protocol\'s `|| exit 97`) and is replaced at once; the next step runs normally',
    create: { timeouts: { short: 3 } },
    async run (c) {
      await c.step('echo kept > kept.txt')
      const r = await c.step('exec 1>&-')
      c.t.match(r.observation, /COMMAND FAILED TO EXECUTE\. RESTARTING PROCESS\./)
      c.t.equal(r.info.shell_restarted, true)
      c.t.notOk(r.info.timed_out, 'no wait for the timeout')
      c.t.equal((await c.step('cat kept.txt')).observation, 'kept')
    }
  },
  {
    id: 'shell-stop-self',
    area: 'the shell',
    tries: '`kill -STOP $$`',
    outcome: 'the step times out, the stopped shell is replaced',
    create: { timeouts: { short: 3 } },
    async run (c) {
      const r = await c.step('kill -STOP $$')
      c.t.match(r.observation, /EXECUTION TIMED OUT AND INTERRUPT FAILED\. RESTARTING PROCESS\./)
    }
  },
  {
    id: 'shell-shadow-builtins',
    area: 'the shell',
    tries: 'functions named printf, eval and read (what the shell protocol runs for each command)',
    outcome: 'the end marker never comes: the step times out and the shell is replaced, functions gone',
    create: { timeouts: { short: 3 } },
    async run (c) {
      const r = await c.step('printf() { :; }; eval() { :; }; read() { :; }')
      c.t.match(r.observation, /RESTARTING PROCESS/)
      c.t.equal((await c.step('echo shown')).observation, 'shown')
      c.t.equal((await c.step('type -t printf eval read')).observation, 'builtin\nbuiltin\nbuiltin', 'the new shell has the builtins')
    }
  },
  {
    id: 'shell-signal-pid1',
    area: 'the shell',
    tries: '`kill -TERM 1`, `kill -HUP 1`, `kill -9 1`, `kill -STOP 1`',
    outcome: { local: 'Operation not permitted (the init is not the agent\'s)', docker: 'ignored: the container\'s init has no handler for them, and the kernel drops such signals from inside' },
    async run (c) {
      const r = await c.step('for s in TERM HUP KILL STOP; do kill -$s 1 2>&1; done; sleep 0.5; echo alive')
      if (c.local) c.t.match(r.observation, /(kill: \(1\) - Operation not permitted\n[^\n]*){4}alive$/)
      else c.t.equal(r.observation, 'alive')
      c.t.equal(r.terminated, false)
    }
  },
  {
    id: 'shell-forged-marker',
    area: 'the shell',
    tries: 'print a forged end-of-command marker (the protocol\'s text with a guessed nonce) and go on',
    outcome: 'the forgery is just output: the command runs to its real end',
    async run (c) {
      const r = await c.step('printf "\\n__SYNTHGYM_DONE_0123456789abcdef__:0\\n"; printf "__SYNTHGYM_START_0123456789abcdef__\\n"; echo after')
      c.t.equal(r.observation, '__SYNTHGYM_DONE_0123456789abcdef__:0\n__SYNTHGYM_START_0123456789abcdef__\nafter')
    }
  },
  {
    id: 'shell-keylogger',
    area: 'the shell',
    tries: 'a background job reading the shell\'s stdin (through /proc/<shell>/fd/0), or the protocol\'s input it inherits (fd 63; on docker, the fifo it comes through, /run/synthgym/in), to steal (or eat) the commands that follow',
    outcome: 'the shell\'s stdin is /dev/null: that job reads nothing. One that reads the protocol\'s input (as it could read bash\'s saved copy of stdin before) races the shell for the next command: it runs, or it is eaten, times out and the shell is replaced with the job. It only ever sees its own environment\'s commands',
    create: { timeouts: { short: 3 } },
    async run (c) {
      await c.step('(sleep 0.5; cat /proc/$$/fd/0 > /tmp/keys; wc -c < /tmp/keys > /tmp/n) & echo planted')
      await sleep(1500)
      c.t.equal((await c.step('cat /tmp/n')).observation, '0', 'the shell\'s stdin gave the job nothing')
      // where the shell's input is a fifo (docker), the job opens it by name; else it reads the inherited fd
      await c.step('(sleep 0.5; if [ -p /run/synthgym/in ]; then cat /run/synthgym/in; else cat <&63; fi > /tmp/keys) & echo planted')
      await sleep(1500)
      // two readers block on one stream: which one the kernel wakes is not ours to choose, and the job reads on until
      // it is stopped or the shell is replaced; step until one of the two happened (a command the shell wins stops it)
      let outcome = ''
      for (let i = 0; i < 10 && !outcome; i++) {
        const next = await c.step('pkill -x cat; echo next')
        if (/RESTARTING PROCESS/.test(next.observation)) outcome = 'the job ate a command: it timed out, the shell was replaced'
        else if (next.observation === 'next') outcome = 'the shell won the race and ran the command, which stopped the job'
      }
      c.t.ok(outcome, outcome || 'the job was neither stopped nor did it end the shell in 10 commands')
    }
  },
  // ---------------------------------------------------------------- daemons
  {
    id: 'daemon-setsid-nohup',
    area: 'daemons',
    tries: '`setsid nohup` and a subshell ignoring HUP/TERM, each a `sleep 1000` under the attack\'s name',
    outcome: 'they run while the episode does and are gone when the environment is closed',
    async run (c) {
      await c.step(`setsid nohup bash -c 'exec -a ${c.marker}-a sleep 1000' >/dev/null 2>&1 & (trap "" HUP TERM; exec -a ${c.marker}-b sleep 1000) >/dev/null 2>&1 & disown -a; echo started`)
      c.t.ok(await until(() => c.markerProcesses().length === 2), 'both daemons run on the host')
    }
  },
  {
    id: 'daemon-double-fork',
    area: 'daemons',
    tries: 'a python double fork + setsid that closes its fds and ignores every signal it can',
    outcome: 'gone when the environment is closed',
    async run (c) {
      await c.step(py(`import os, signal
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT): signal.signal(s, signal.SIG_IGN)
        os.closerange(0, 256)
        os.execvp("sleep", ["${c.marker}", "1000"])
    os._exit(0)
os.wait()
print("forked")`))
      c.t.ok(await until(() => c.markerProcesses().length === 1), 'the daemon runs on the host')
    }
  },
  {
    id: 'daemon-survives-restart',
    area: 'daemons',
    tries: 'a daemon, then `exit` (the shell is replaced)',
    outcome: 'the daemon goes with the old shell\'s process tree',
    async run (c) {
      await c.step(`setsid bash -c 'exec -a ${c.marker} sleep 1000' >/dev/null 2>&1 & echo started`)
      c.t.ok(await until(() => c.markerProcesses().length === 1), 'the daemon runs')
      await c.step('exit')
      c.t.ok(await until(() => c.markerProcesses().length === 0), 'it is gone after the restart')
    }
  },
  {
    id: 'daemon-from-evaluation',
    area: 'daemons',
    tries: 'a strategy.py (imported by the evaluation, by design of the task) that starts a detached daemon',
    outcome: 'the evaluation\'s process tree ends with it: the daemon is gone once validate answers',
    async run (c) {
      await c.step(`printf '%s\\n' ${q(`import os\nos.system("setsid sh -c 'exec -a ${c.marker} sleep 1000' >/dev/null 2>&1 &")`)} | cat - strategy.py > s2 && mv s2 strategy.py`)
      const v = await c.step('validate')
      c.t.match(v.observation, /Evaluation Score/)
      c.t.ok(await until(() => c.markerProcesses().length === 0), 'no daemon after the evaluation')
    }
  },
  {
    id: 'daemon-across-reset',
    area: 'daemons',
    tries: 'a daemon, then a reset (a new episode in a new sandbox)',
    outcome: 'the old sandbox, its daemon, folder, cgroups or container, goes',
    async run (c) {
      await c.step(`setsid bash -c 'exec -a ${c.marker} sleep 1000' >/dev/null 2>&1 & echo started`)
      c.t.ok(await until(() => c.markerProcesses().length === 1), 'the daemon runs')
      const old = c.sandbox()
      const now = await c.reset()
      c.t.not(now.id, old.id, 'a new sandbox')
      c.t.ok(await until(() => c.markerProcesses().length === 0), 'the daemon is gone')
      if (old.root) c.t.ok(await until(() => !existsSync(old.root!)), 'the old folder is gone')
    }
  },
  // ---------------------------------------------------------------- resources
  {
    id: 'fork-storm',
    area: 'resources',
    tries: 'a fork bomb (`bomb() { bomb | bomb & }; bomb`) left running in the background, under the task\'s default limits',
    outcome: 'the process limit (256 for this task) holds: the bomb fills it and no more; other environments step meanwhile; the step that ends at the limit, or the next one before it runs, kills what was left (with a note), and commands fork again',
    async run (c) {
      const limit = (await c.request('GET', '/v1/tasks/prisonersDilemma')).body.spec.resources.pids as number
      const note = new RegExp(`The sandbox reached its process limit \\(\\d+ of ${limit} processes\\): the processes left running were killed\\.`)
      const lit = await c.step('(bomb() { bomb | bomb & }; bomb) >/dev/null 2>&1 & echo lit')
      const f = c.sandbox()
      const held = () => (c.local ? pidsCurrent(f.id) : dockerPids(f.containerId!)) ?? 0
      const reapedAtOnce = note.test(lit.observation)
      // the bomb filled the sandbox before the step ended (it was killed then), or fills it now: an event, not a time
      if (!reapedAtOnce) c.t.ok(await until(() => held() >= limit - 2, 600), `the bomb filled the sandbox: ${held()} processes`)
      c.t.ok(held() <= limit, `the sandbox holds ${held()} processes, at most its limit of ${limit}`)
      const by = await c.step('echo during-the-storm', { env: c.bystander.env })
      c.t.equal(by.observation, 'during-the-storm', 'the bystander steps meanwhile')
      // not a builtin: it needs a fork
      const r = await c.step('ls -d /home')
      c.t.match(r.observation, new RegExp(`^/home(\\n${note.source})?$`), 'the command forked and ran')
      c.t.ok(reapedAtOnce || note.test(r.observation), 'the bomb was killed when the step that lit it ended, or before the next one ran')
      c.t.equal((await c.step('ls -d /home')).observation, '/home', 'and the next step is as usual')
    }
  },
  {
    id: 'memory-hog',
    area: 'resources',
    tries: 'allocate 1 GiB in a 256 MiB sandbox',
    outcome: 'the kernel kills that process only, within the sandbox; the observation says so',
    create: { limits: { memory_mb: 256 } },
    async run (c) {
      const r = await c.step(py('b = bytearray(1 << 30); print("allocated")'))
      c.t.notOk(lines(r.observation).includes('allocated'), 'it never got the memory')
      c.t.match(r.observation, /Killed/)
      c.t.match(r.observation, /A process was killed because the sandbox ran out of memory \(limit 256 MiB\)\./)
    }
  },
  {
    id: 'memory-tmpfs',
    area: 'resources',
    tries: 'fill /tmp with 10 MB files in a loop of the shell itself (256 MiB memory, 100 MiB disk)',
    outcome: { local: '/tmp is memory: the shell is killed for it and replaced, with the note', docker: '/tmp is the container\'s disk: the disk limit stops the step and ends the episode' },
    ends: { docker: true },
    create: { limits: { memory_mb: 256, disk_mb: 100 } },
    async run (c) {
      const r = await c.step('for i in $(seq 1 60); do head -c 10M /dev/zero > /tmp/f$i || break; done; echo filled')
      if (c.local) {
        c.t.match(r.observation, /RESTARTING PROCESS/)
        c.t.match(r.observation, /ran out of memory \(limit 256 MiB\)/)
      } else c.t.match(r.observation, /DISK LIMIT EXCEEDED/)
    }
  },
  {
    id: 'disk-one-file',
    area: 'resources',
    tries: '`dd` 500 MB into one file under a 50 MiB disk limit',
    outcome: 'dd is stopped at the limit by SIGXFSZ (File size limit exceeded), or just before it by the disk watcher; holding the limit ends the episode',
    ends: true,
    create: { limits: { disk_mb: 50 } },
    async run (c) {
      const r = await c.step('dd if=/dev/zero of=big bs=1M count=500 2>/dev/null; echo rc=$?')
      // the workspace's own files count too: on a slow machine the watcher sees the sandbox over the limit (and
      // kills dd, 137) before the file itself reaches it (SIGXFSZ, 153)
      c.t.match(r.observation, /rc=(153|137)/)
      // the disk watcher may stop the shell before a `stat` could run: the host looks instead
      const ws = c.sandbox().workspaceDir
      if (ws) c.t.ok(statSync(join(ws, 'big')).size <= 50 * 2 ** 20, 'the file stopped at the limit')
      c.t.match(r.observation, /DISK LIMIT EXCEEDED/)
      c.t.equal(r.info.exit_status, 'disk_limit_exceeded')
    }
  },
  {
    id: 'disk-many-files',
    area: 'resources',
    tries: 'write 10 MB files in a loop under a 50 MiB disk limit (no single file over it)',
    outcome: 'stopped while it runs, the episode ends with disk_limit_exceeded',
    ends: true,
    create: { limits: { disk_mb: 50 } },
    async run (c) {
      const r = await c.step('for i in $(seq 1 400); do head -c 10M /dev/zero > f$i; done; echo wrote-all')
      c.t.notMatch(r.observation, /wrote-all/)
      c.t.match(r.observation, /DISK LIMIT EXCEEDED/)
      c.t.equal(r.info.exit_status, 'disk_limit_exceeded')
    }
  },
  {
    id: 'disk-unzip-bomb',
    area: 'resources',
    tries: 'swerex/upload with unzip=true of a 0.5 MB zip of 12 × 40 MB of zeros under a 50 MiB disk limit',
    outcome: 'refused before anything is written (511 OSError, error.code PAYLOAD_TOO_LARGE, naming the limit); the sandbox holds what it held',
    create: { limits: { disk_mb: 50 } },
    async run (c) {
      const zip = spawnSync('python3', ['-c', `import io, sys, zipfile
b = io.BytesIO()
with zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:
    for i in range(12): z.writestr('z%d' % i, bytes(40 << 20))
sys.stdout.buffer.write(b.getvalue())`], { maxBuffer: 1 << 24 }).stdout
      c.t.ok(zip.length < 1 << 20, `the zip is small (${zip.length} bytes)`)
      const before = await diskUsed(c)
      const r = await upload(c, zip, 'bomb.zip', '/home/agent/workspace/bomb', true)
      c.t.equal(r.status, 511, 'refused')
      c.t.equal(r.body?.swerexception?.class_path, 'builtins.OSError')
      c.t.match(r.body?.swerexception?.message, /No space left on device: the unzipped upload takes 480\.0 MiB, and the sandbox's disk limit of 50 MiB/)
      c.t.equal(r.body?.swerexception?.extra_info?.error?.code, 'PAYLOAD_TOO_LARGE')
      const after = await diskUsed(c)
      c.t.ok(after - before < 1, `nothing stayed (${before.toFixed(1)} → ${after.toFixed(1)} MiB)`)
      // a plain upload over the limit is refused before it is written, too
      const big = await upload(c, Buffer.alloc(60 << 20), 'big.bin', '/home/agent/workspace/big.bin', false)
      c.t.equal(big.status, 511)
      c.t.match(big.body?.swerexception?.message, /disk limit of 50 MiB/)
      c.t.ok(await diskUsed(c) - before < 1, 'and nothing of it stayed')
    }
  },
  {
    id: 'disk-swerex-execute',
    area: 'resources',
    tries: 'swerex/execute of a loop writing 20 × 10 MB under a 50 MiB disk limit (no step)',
    outcome: 'the writes fail at the limit (the quota: No space left on device; without one the watcher kills the loop); the next step ends the episode with disk_limit_exceeded',
    ends: true,
    create: { limits: { disk_mb: 50 } },
    async run (c) {
      const started = Date.now()
      const r = await c.request('POST', `/v1/envs/${c.env}/swerex/execute`,
        { command: 'for i in $(seq 1 20); do head -c 10M /dev/zero > /home/agent/workspace/x$i; done; echo done', shell: true, timeout: 120 })
      c.t.ok(r.status === 200 || r.status === 511, `answered (${r.status})`)
      await heldLimit(c, 50, 200, Date.now() - started)
      const s = await c.step('echo after')
      c.t.match(s.observation, /DISK LIMIT EXCEEDED/)
      c.t.equal(s.info.exit_status, 'disk_limit_exceeded')
    }
  },
  {
    id: 'disk-background-writer',
    area: 'resources',
    tries: 'a step that starts a background writer of 30 × 10 MB and returns at once, under a 50 MiB disk limit',
    outcome: 'the writer is stopped at the limit with no step running (the quota, else the watcher); the next step ends the episode',
    ends: true,
    create: { limits: { disk_mb: 50 } },
    async run (c) {
      const r = await c.step(`bash -c 'for i in $(seq 1 30); do head -c 10M /dev/zero > bg$i; sleep 0.05; done' ${c.marker} >/dev/null 2>&1 & echo started`)
      c.t.match(r.observation, /started/)
      // seen first: the step can answer before its background child has exec'd the marked bash (a run under load
      // took "no marked process" for "the writer ended", then looked at an empty disk); it lives 1.5 s at least
      if (!r.terminated) c.t.ok(await eventually(() => c.markerProcesses().length > 0, 10_000), 'the writer runs')
      c.t.ok(await eventually(() => c.markerProcesses().length === 0, 60_000), 'the writer ended (it met the quota or the watcher)')
      await heldLimit(c, 50, 300)
      // a fast writer may be over the limit already when the step that started it ends (its end checks the disk
      // too): that step or the next ends the episode, never a later one
      const s = r.terminated ? r : await c.step('echo after')
      c.t.match(s.observation, /DISK LIMIT EXCEEDED/)
      c.t.equal(s.info.exit_status, 'disk_limit_exceeded')
    }
  },
  {
    id: 'shm-filler',
    area: 'resources',
    tries: 'write 200 MB to /dev/shm',
    outcome: '/dev/shm holds 64 MiB: No space left on device',
    async run (c) {
      const r = await c.step('head -c 200M /dev/zero > /dev/shm/fill; echo rc=$?; rm -f /dev/shm/fill')
      c.t.match(r.observation, /No space left on device\nrc=1/)
    }
  },
  {
    id: 'endless-output',
    area: 'resources',
    tries: '`yes` in the foreground',
    outcome: 'stopped at the timeout; the observation is cut at the output cap with a note; nothing of it is logged on the host (docker: no log file)',
    create: { timeouts: { short: 3 }, limits: { output_cap: 1000 } },
    async run (c) {
      const r = await c.step('yes')
      c.t.match(r.observation, /^(y\n)+/)
      c.t.match(r.observation, /\[output truncated: \d+ more characters were not shown/)
      c.t.match(r.observation, /EXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 3 SECONDS/)
      c.t.ok(r.observation.length < 1400)
      if (!c.local) {
        const info = await c.docker.getContainer(c.sandbox().containerId!).inspect()
        c.t.equal(info.HostConfig.LogConfig?.Type, 'none', 'the container logs nothing')
        c.t.notOk(info.LogPath && existsSync(info.LogPath), 'no log file on the host')
      }
    }
  },
  {
    id: 'endless-output-background',
    area: 'resources',
    tries: '`yes &` left running between steps',
    outcome: { local: 'between steps the server stops reading: the job blocks on a full pipe; a later step answers, its stale output dropped', docker: 'the server reads the flood on (the attach stream is not paused): a later step answers, its output capped and crowded by the flood; `kill %1` stops it' },
    create: { limits: { output_cap: 2000 } },
    async run (c) {
      await c.step(`(exec -a ${c.marker} yes) & echo started`)
      c.t.ok(await until(() => c.markerProcesses().length === 1))
      if (c.local) {
        // once the pipe is full (a loaded machine may take a while to fill it) the flood stays asleep
        c.t.ok(await until(() => procState(c.markerProcesses()[0]!) === 'S'), 'the flood blocks')
        const states: string[] = []
        for (let i = 0; i < 5; i++) { states.push(procState(c.markerProcesses()[0]!)); await sleep(100) }
        c.t.same(states, ['S', 'S', 'S', 'S', 'S'], 'the flood sleeps on a full pipe between steps')
      }
      // what the step printed may be crowded out by the flood (which keeps the head of the capped output is a race
      // between two writers): that it ran is read back once the flood is stopped
      const r = await c.step('echo between | tee between.txt')
      c.t.ok(r.observation.length < 2400, 'capped')
      await c.step('kill %1; wait')
      c.t.equal((await c.step('cat between.txt')).observation, 'between', 'the step during the flood ran')
    }
  },
  {
    id: 'cpu-hog',
    area: 'resources',
    tries: 'four busy loops in the background',
    outcome: 'held to its CPU quota; other environments step meanwhile',
    async run (c) {
      await c.step('for i in 1 2 3 4; do (while :; do :; done) & done; echo spinning')
      const by = await c.step('echo while-spinning', { env: c.bystander.env })
      c.t.equal(by.observation, 'while-spinning')
    }
  },
  // ---------------------------------------------------------------- input the server must take
  {
    id: 'heredoc-unterminated',
    area: 'input',
    tries: 'a heredoc without its end line',
    outcome: 'bash\'s warning and the text; the shell goes on',
    async run (c) {
      const r = await c.step('cat <<EOF\nhello')
      c.t.match(r.observation, /warning: here-document at line \d+ delimited by end-of-file \(wanted `EOF'\)\nhello$/)
    }
  },
  {
    id: 'nul-in-action',
    area: 'input',
    tries: 'an action with a NUL byte (`echo "a\\0b"`), which bash would cut short',
    outcome: 'refused before it runs, like a syntax error; nothing of it runs',
    async run (c) {
      const r = await c.step('touch ran-before; echo "a\0b" > cut.txt')
      c.t.equal(r.observation, 'bash: the command contains a NUL byte (\\0), which bash cannot take; it was not run')
      c.t.equal((await c.step('ls ran-before cut.txt 2>&1 | wc -l; ls ran-before 2>&1')).observation, "2\nls: cannot access 'ran-before': No such file or directory")
    }
  },
  {
    id: 'binary-output',
    area: 'input',
    tries: 'output with NUL bytes and invalid UTF-8 (`printf "a\\0b\\xff\\xfe\\xc3("`)',
    outcome: 'NUL kept, invalid bytes as U+FFFD; the stored step says the same',
    async run (c) {
      const r = await c.step('printf "a\\0b\\xff\\xfe\\xc3(\\n"')
      c.t.equal(r.observation, 'a\u0000b\ufffd\ufffd\ufffd(')
      const traj = await c.request('GET', `/v1/envs/${c.env}/trajectory`)
      c.t.equal(traj.body.steps.at(-1).observation, r.observation, 'stored as answered')
    }
  },
  {
    id: 'invalid-utf8-body',
    area: 'input',
    tries: 'a body with invalid UTF-8 bytes and lone surrogates in the action, and one that is not JSON',
    outcome: 'the bytes become U+FFFD and the action runs; bad JSON is a 400 VALIDATION_ERROR',
    async run (c) {
      const res = await fetch(`${c.server.url}/v1/envs/${c.env}/step`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: Buffer.concat([Buffer.from('{"action":"echo x'), Buffer.from([0xff, 0xfe]), Buffer.from('y \\ud800"}')])
      })
      c.t.equal(res.status, 200)
      c.t.equal((await res.json() as any).observation, 'x\ufffd\ufffdy \ufffd')
      const bad = await c.request('POST', `/v1/envs/${c.env}/step`, undefined, '{"action": "echo')
      c.t.equal(bad.status, 400)
      c.t.equal(bad.body.error.code, 'VALIDATION_ERROR')
    }
  },
  {
    id: 'giant-action-near-limit',
    area: 'input',
    tries: 'an action just under the 1 MiB limit: a heredoc writing a 1 MiB file',
    outcome: 'it runs within a short timeout and writes every byte',
    create: { timeouts: { short: 10 } },
    async run (c) {
      const body = 'x'.repeat(1024 * 1024 - 200)
      const r = await c.step(`cat > big.txt <<'EOF'\n${body}\nEOF\nwc -c < big.txt`)
      c.t.equal(r.observation, String(body.length + 1))
    }
  },
  {
    id: 'giant-action-over-limit',
    area: 'input',
    tries: 'an action of 1 MiB + 1 byte over HTTP and over WebSocket, a 3 MiB body, and a frame past the step limit',
    outcome: '413 PAYLOAD_TOO_LARGE naming the action (an error frame on the socket, which stays open); ' +
      'the oversized frame closes that socket (1009); the environment steps on',
    async run (c) {
      const over = await c.request('POST', `/v1/envs/${c.env}/step`, { action: 'x'.repeat(MAX_ACTION_BYTES + 1) })
      c.t.equal(over.status, 413)
      c.t.equal(over.body.error.code, 'PAYLOAD_TOO_LARGE')
      c.t.equal(over.body.error.field, 'action')
      const huge = await c.request('POST', `/v1/envs/${c.env}/step`, undefined, JSON.stringify({ action: 'x'.repeat(3 * 1024 * 1024) }))
      c.t.equal(huge.status, 413)
      c.t.equal(huge.body.error.code, 'PAYLOAD_TOO_LARGE')
      const { WebSocket } = await import('ws')
      const ws = new WebSocket(c.server.url.replace('http', 'ws') + '/v1/ws')
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
      const answer = await new Promise<any>(resolve => {
        ws.once('message', data => resolve(JSON.parse(data.toString())))
        ws.send(JSON.stringify({ id: 1, op: 'step', env_id: c.env, action: 'x'.repeat(MAX_ACTION_BYTES + 1) }))
      })
      c.t.equal(answer.error?.code, 'PAYLOAD_TOO_LARGE', 'an oversized action over WebSocket is answered')
      c.t.equal(ws.readyState, WebSocket.OPEN, 'and the socket stays open')
      const code = await new Promise<number>(resolve => {
        ws.once('close', resolve)
        ws.send('x'.repeat(MAX_STEP_BYTES + 1))
      })
      c.t.equal(code, 1009, 'message too big')
    }
  },
  {
    id: 'deep-json',
    area: 'input',
    tries: `JSON nested 5,000 levels deep (and just past the ${MAX_JSON_DEPTH}-level limit) on POST /v1/envs, a step, SWE-ReX execute, OpenEnv step, and both WebSockets`,
    outcome: '400 VALIDATION_ERROR (an error frame on a socket, which stays open) naming the limit; just under the limit is only a schema error; the environment steps on',
    async run (c) {
      const nest = (n: number) => '['.repeat(n) + ']'.repeat(n)
      const limit = new RegExp(`nested more than ${MAX_JSON_DEPTH} levels deep`)
      for (const n of [5000, MAX_JSON_DEPTH + 1]) {
        const create = await c.request('POST', '/v1/envs', undefined, `{"task": "prisonersDilemma", "limits": ${nest(n)}}`)
        c.t.equal(create.status, 400, `POST /v1/envs, ${n} deep`)
        c.t.equal(create.body.error?.code, 'VALIDATION_ERROR')
        c.t.match(create.body.error?.message, limit)
        const step = await c.request('POST', `/v1/envs/${c.env}/step`, undefined, `{"action": "echo hi", "model": ${nest(n)}}`)
        c.t.equal(step.status, 400, 'a step')
        c.t.equal(step.body.error?.code, 'VALIDATION_ERROR')
        const sx = await c.request('POST', `/v1/envs/${c.env}/swerex/execute`, undefined, `{"command": "echo hi", "x": ${nest(n)}}`)
        c.t.equal(sx.status, 400, 'SWE-ReX execute')
        c.t.match(sx.body.detail, limit)
        const oe = await c.request('POST', '/openenv/step', undefined, `{"env_id": "${c.env}", "action": ${nest(n)}}`)
        c.t.equal(oe.status, 400, 'OpenEnv step')
        c.t.match(oe.body.detail?.[0]?.msg, limit)
      }
      // just under the limit it parses, and the schema answers
      const under = await c.request('POST', '/v1/envs', undefined, `{"task": "prisonersDilemma", "limits": ${nest(MAX_JSON_DEPTH - 1)}}`)
      c.t.equal(under.status, 400)
      c.t.notMatch(under.body.error?.message, limit, 'a schema error, not the depth')
      const { WebSocket } = await import('ws')
      for (const [path, frame, code] of [['/v1/ws', `{"id": 1, "op": "step", "env_id": "${c.env}", "action": ${nest(5000)}}`, (a: any) => a.error?.code],
        ['/openenv/ws', `{"type": "step", "data": ${nest(5000)}}`, (a: any) => a.data?.synthgym_code]] as const) {
        const ws = new WebSocket(c.server.url.replace('http', 'ws') + path)
        await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
        const answer = await new Promise<any>(resolve => {
          ws.once('message', data => resolve(JSON.parse(data.toString())))
          ws.send(frame)
        })
        c.t.equal(code(answer), 'VALIDATION_ERROR', `${path}: an error frame`)
        c.t.match(JSON.stringify(answer), limit)
        c.t.equal(ws.readyState, WebSocket.OPEN, 'and the socket stays open')
        ws.close()
      }
    }
  },
  {
    id: 'reload-without-admin',
    area: 'privileges',
    tries: 'POST /v1/tasks/reload (which changes what the server serves) with envs,episodes, episodes-only and envs-only keys',
    outcome: '403 FORBIDDEN naming the admin scope; an admin key reloads',
    async run (c) {
      const { testServer } = await import('../helpers.js')
      const s = await testServer({ warmPool: 0, gpus: 'none' })
      try {
        const as = (key: string) => fetch(s.url + '/v1/tasks/reload', { method: 'POST', headers: { authorization: `Bearer ${key}` } })
          .then(async r => ({ status: r.status, body: await r.json() as any }))
        for (const scopes of [['envs', 'episodes'], ['episodes'], ['envs']] as const) {
          const r = await as(s.keys.create({ scopes: [...scopes] }).key)
          c.t.equal(r.status, 403, `a ${scopes.join(',')} key is refused`)
          c.t.equal(r.body.error?.code, 'FORBIDDEN')
          c.t.match(r.body.error?.message, 'needs scope admin')
        }
        c.t.equal((await as(s.keys.create({ scopes: ['admin'] }).key)).status, 200, 'an admin key reloads')
      } finally { await s.close() }
    }
  },
  {
    id: 'overlong-names',
    area: 'input',
    tries: 'a 300-character file name, then a tree 5000 directories deep (a path of 10 000 characters)',
    outcome: 'File name too long; the deep tree works, is evaluated past, and is removed with the sandbox',
    async run (c) {
      const r = await c.step(`touch ${'a'.repeat(300)} 2>&1; ${py('import os\nfor i in range(5000):\n    os.mkdir("d"); os.chdir("d")\nprint(len(os.getcwd()))')}`)
      c.t.match(r.observation, /File name too long/)
      c.t.equal(lines(r.observation).at(-1), String('/home/agent/workspace'.length + 5000 * 2))
      c.t.match((await c.step('validate')).observation, /Evaluation Score/, 'validate copes with the tree')
    }
  },
  {
    id: 'weird-file-names',
    area: 'input',
    tries: 'files named `-rf`, `$(touch pwned)`, with a newline, with a backslash',
    outcome: 'they are plain names: nothing runs; validate and the tools cope',
    async run (c) {
      const r = await c.step('touch -- -rf \'$(touch pwned)\' "$(printf \'new\\nline\')" \'back\\slash\'; ls | wc -l; search_dir pwned . 2>&1 | tail -1; ls pwned 2>&1')
      c.t.match(r.observation, "ls: cannot access 'pwned': No such file or directory")
      c.t.ok(Math.abs(score((await c.step('validate')).observation) - PD_SCORE) < 0.01)
    }
  },
  // ---------------------------------------------------------------- /proc and /sys
  {
    id: 'proc-environ',
    area: '/proc and /sys',
    tries: 'every /proc/*/environ it can read, for the server\'s variables (a token set on the host)',
    outcome: 'only the sandbox\'s own variables: nothing of the server\'s',
    async run (c) {
      const r = await c.step('for f in /proc/[0-9]*/environ; do tr "\\0" "\\n" < $f 2>/dev/null; done | sort -u')
      c.t.match(r.observation, /^HOME=\/home\/agent$/m)
      c.t.notMatch(r.observation, /SG_HOSTILE_HOST_SECRET|SYNTHGYM_|TAP|NODE/)
    }
  },
  {
    id: 'proc-cmdline',
    area: '/proc and /sys',
    tries: 'the command lines of every process it can see, for the server\'s, and for host paths',
    outcome: 'only the sandbox\'s own processes; no host path or sandbox id (bubblewrap and the unshare init get theirs on a file descriptor)',
    async run (c) {
      const r = await c.step('cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " "')
      c.t.notMatch(r.observation, /\bnode\b|\btap\b/)
      for (const p of [c.server.dataDir, repo, c.sandbox().id]) c.t.notMatch(r.observation, p, `no host path or id (${p})`)
    }
  },
  {
    id: 'inherited-fds',
    area: '/proc and /sys',
    tries: 'descriptors the server inherited (a supervisor\'s pipe, a listening socket) left open in its shell',
    outcome: 'the shell holds its stdio and the protocol\'s input (fd 63) only',
    async run (c) {
      // no pipeline: bash holds a pipe of its own while one starts
      const r = await c.step('ls /proc/$$/fd > /tmp/fds; sort -n /tmp/fds | tr "\\n" " "')
      c.t.equal(r.observation.trim(), '0 1 2 63')
    }
  },
  {
    id: 'proc-kernel',
    area: '/proc and /sys',
    tries: '/proc/kcore, /proc/kmsg, /proc/sysrq-trigger, /proc/sys/kernel, /proc/kallsyms',
    outcome: 'no kernel memory or log; nothing written; symbol addresses hidden',
    async run (c) {
      const r = await c.step('head -c 16 /proc/kcore 2>/dev/null | wc -c; head -c 16 /proc/kmsg 2>/dev/null | wc -c; echo b 2>/dev/null > /proc/sysrq-trigger || echo refused; echo 1 2>/dev/null > /proc/sys/kernel/sysrq || echo refused; head -1 /proc/kallsyms | cut -c1-16')
      c.t.equal(r.observation, '0\n0\nrefused\nrefused\n0000000000000000')
    }
  },
  {
    id: 'sys-cgroups',
    area: '/proc and /sys',
    tries: 'raise its own limits or leave its cgroup through /sys/fs/cgroup',
    outcome: { local: 'there is no /sys in the sandbox; the cgroup keeps its limit', docker: '/sys is read-only; the cgroup keeps its limit' },
    create: { limits: { pids: 100 } },
    async run (c) {
      const r = await c.step('ls /sys 2>&1 | head -1; for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do echo max > $f; done 2>&1 | head -1; echo $$ > /sys/fs/cgroup/pids/cgroup.procs 2>/dev/null || echo refused')
      if (c.local) c.t.match(r.observation, "ls: cannot access '/sys': No such file or directory")
      c.t.match(r.observation, /refused$/)
      const f = c.sandbox()
      if (c.local) {
        const dir = ['pids'].map(x => `/sys/fs/cgroup/${x}/synthgym`).filter(existsSync).flatMap(r => readdirSync(r).map(o => join(r, o, f.id))).find(existsSync)
        if (dir) c.t.equal(readFileSync(join(dir, 'pids.max'), 'utf8').trim(), '100', 'the limit holds')
      } else c.t.equal((await c.docker.getContainer(f.containerId!).inspect()).HostConfig.PidsLimit, 100)
    }
  },
  {
    id: 'ptrace',
    area: '/proc and /sys',
    tries: 'ptrace(PTRACE_ATTACH) pid 1 and the server\'s host pid',
    outcome: { local: 'refused for both (pid 1 is not the agent\'s; the server is not in its namespace)', docker: 'the server is not in its namespace; pid 1 is its own container\'s' },
    async run (c) {
      const r = await c.step(py(`import ctypes
l = ctypes.CDLL(None, use_errno=True)
for pid in (1, ${process.pid}):
    print(l.ptrace(16, pid, 0, 0), ctypes.get_errno())`))
      const [one, host] = lines(r.observation)
      if (c.local) c.t.equal(one, '-1 1', 'pid 1: EPERM')
      c.t.equal(host, '-1 3', 'the server: ESRCH')
    }
  },
  // ---------------------------------------------------------------- privileges
  {
    id: 'mount',
    area: 'privileges',
    tries: 'mount a tmpfs, bind / somewhere, mount a new proc',
    outcome: 'every mount is refused',
    async run (c) {
      const r = await c.step('mkdir -p m; mount -t tmpfs none m 2>&1; mount --bind / m 2>&1; mount -t proc proc m 2>&1; ls m | wc -l')
      c.t.equal(lines(r.observation).filter(l => /^mount: /.test(l)).length, 3, 'three refusals')
      c.t.equal(lines(r.observation).at(-1), '0')
    }
  },
  {
    id: 'unshare-chroot',
    area: 'privileges',
    tries: '`chroot /`, `unshare -r` (a nested user namespace) and what its root can do',
    outcome: { local: 'chroot: Operation not permitted; the nested root is root of nothing: /etc/shadow still empty, /usr still read-only', docker: 'chroot and unshare: Operation not permitted' },
    async run (c) {
      const r = await c.step('chroot / true 2>&1; unshare -r sh -c "id -u; wc -c < /etc/shadow; touch /usr/sg-x" 2>&1')
      c.t.match(r.observation, /chroot: cannot change root directory to '\/': Operation not permitted/)
      if (c.local) c.t.match(r.observation, /\n0\n(0|sh: 1: cannot open \/etc\/shadow: Permission denied)\ntouch: cannot touch '\/usr\/sg-x': Read-only file system/)
      else c.t.match(r.observation, /unshare: unshare failed: Operation not permitted/)
    }
  },
  {
    id: 'setuid-and-caps',
    area: 'privileges',
    tries: 'setuid binaries (su, passwd) and its capabilities',
    outcome: 'no new privileges: setuid is inert, no capability in any set, uid 1000 throughout',
    async run (c) {
      const r = await c.step('grep -E "^(CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs)" /proc/self/status | tr -s "\\t" " "; su -c "id -u" root </dev/null 2>/dev/null; id -u')
      c.t.equal(r.observation, 'CapInh: 0000000000000000\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapAmb: 0000000000000000\nNoNewPrivs: 1\n1000')
    }
  },
  {
    id: 'devices',
    area: 'privileges',
    tries: 'make a block device node, look for disks in /dev',
    outcome: 'mknod: Operation not permitted; no block device in /dev',
    async run (c) {
      const r = await c.step('mknod sda b 8 0 2>&1; find /dev -type b 2>/dev/null | wc -l')
      c.t.match(r.observation, /mknod: sda: Operation not permitted\n0$/)
    }
  },
  {
    id: 'clock-and-hostname',
    area: 'privileges',
    tries: 'set the clock back to 2001 and rename the host',
    outcome: 'both refused; the host\'s clock and name are unchanged',
    async run (c) {
      const name = hostname()
      const r = await c.step('date -s "2001-01-01 00:00:00" >/dev/null 2>&1 || echo no-clock; hostname pwned 2>/dev/null || echo no-name; date +%Y')
      c.t.match(r.observation, /^no-clock\nno-name\n20[2-9]\d$/)
      c.t.ok(new Date().getFullYear() >= 2024, 'the host\'s clock')
      c.t.equal(hostname(), name, 'the host\'s name')
    }
  },
  // ---------------------------------------------------------------- files the server reads and writes for a client
  {
    id: 'server-fifo',
    area: 'server-side files',
    tries: 'a FIFO and a unix socket in the workspace, read and written through SWE-ReX read_file/write_file',
    outcome: 'refused at once as not regular files (the server never blocks on one); other environments step meanwhile',
    async run (c) {
      await c.step(`mkfifo fifo && ${py('import socket; s = socket.socket(socket.AF_UNIX); s.bind("sock")')} && ls -l fifo sock | cut -c1`)
      for (const path of ['fifo', 'sock']) {
        const r = await c.request('POST', `/v1/envs/${c.env}/swerex/read_file`, { path })
        c.t.equal(r.status, 511, `read ${path}: refused`)
        c.t.match(r.body.swerexception.message, c.local ? /not a regular file/ : /not a regular file|no file|socket/)
      }
      const w = await c.request('POST', `/v1/envs/${c.env}/swerex/write_file`, { path: 'fifo', content: 'x' })
      if (c.local) {
        c.t.equal(w.status, 511, 'write fifo: refused')
        c.t.match(w.body.swerexception.message, /not a regular file/)
      } else c.t.equal(w.status, 200, 'docker replaces the FIFO with the file, as tar does')
    }
  },
  {
    id: 'server-sparse-file',
    area: 'server-side files',
    tries: 'a 1.9 GB sparse file (no disk used) read through SWE-ReX read_file',
    outcome: 'refused by size before anything is read into the server',
    async run (c) {
      await c.step('truncate -s 1900M big')
      const r = await c.request('POST', `/v1/envs/${c.env}/swerex/read_file`, { path: 'big' })
      c.t.equal(r.status, 511)
      c.t.match(r.body.swerexception.message, /1992294400 bytes, over the 67108864 bytes one read may take/)
    }
  },
  {
    id: 'server-link-race',
    area: 'server-side files',
    tries: 'swap a folder for a link to a host folder as fast as it can while asking the server, 200 times, to read and write a file inside it',
    outcome: 'never a host file read or written: the server follows no link out of the home, however it is swapped',
    async run (c) {
      const hostDir = join(c.server.dataDir, `race-${c.marker}`)
      const { mkdirSync, writeFileSync, rmSync } = await import('node:fs')
      mkdirSync(hostDir)
      writeFileSync(join(hostDir, 'secret.txt'), 'HOST-FILE')
      try {
        await c.step(`(exec -a ${c.marker} python3 -c ${q(`import os
os.makedirs("real", exist_ok=True); open("real/secret.txt", "w").write("mine")
while True:
    for t in (${JSON.stringify(hostDir)}, "real"):
        try: os.symlink(t, "tmp_d"); os.rename("tmp_d", "d")
        except OSError: pass`)}) >/dev/null 2>&1 & echo racing`)
        // python takes a while to start on a busy machine
        c.t.equal((await c.step('for i in $(seq 100); do [ -e real/secret.txt ] && [ -L d ] && break; sleep 0.1; done; echo ready')).observation, 'ready')
        let leaked = 0
        let mine = 0
        for (let i = 0; i < 200; i++) {
          const r = await c.request('POST', `/v1/envs/${c.env}/swerex/read_file`, { path: 'd/secret.txt' })
          if (r.body?.content === 'HOST-FILE') leaked++
          if (r.body?.content === 'mine') mine++
          await c.request('POST', `/v1/envs/${c.env}/swerex/write_file`, { path: 'd/written.txt', content: 'x' })
        }
        c.t.equal(leaked, 0, 'no host file read')
        c.t.notOk(existsSync(join(hostDir, 'written.txt')), 'no host file written')
        c.t.equal(readdirSync(hostDir).join(), 'secret.txt')
        if (c.local) c.t.ok(mine > 0, `the link inside the home is followed (${mine} of 200)`)
        await c.step('kill %1; wait')
      } finally { rmSync(hostDir, { recursive: true, force: true }) }
    }
  }
]

/** Polls for up to 10 s. */
async function until (check: () => boolean, tries = 100): Promise<boolean> {
  for (let i = 0; i < tries; i++) { if (check()) return true; await sleep(100) }
  return check()
}

function procState (pid: number): string {
  try { return /^\d+ \(.*\) (\w)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1]! } catch { return 'gone' }
}

/** Processes in a local sandbox's pids cgroup (v1 or v2). */
function pidsCurrent (sandboxId: string): number | null {
  for (const root of ['/sys/fs/cgroup/pids/synthgym', '/sys/fs/cgroup/synthgym'].filter(existsSync)) {
    for (const owner of readdirSync(root)) {
      const f = join(root, owner, sandboxId, 'pids.current')
      if (existsSync(f)) return Number(readFileSync(f, 'utf8'))
    }
  }
  return null
}

/** Processes in a container's pids cgroup (cgroupfs driver, v1 or v2). */
function dockerPids (containerId: string): number | null {
  for (const f of [`/sys/fs/cgroup/pids/docker/${containerId}/pids.current`, `/sys/fs/cgroup/docker/${containerId}/pids.current`,
    `/sys/fs/cgroup/system.slice/docker-${containerId}.scope/pids.current`]) {
    if (existsSync(f)) return Number(readFileSync(f, 'utf8'))
  }
  return null
}

/** MiB the attacked environment's sandbox holds, as the server measures it on the host. */
async function diskUsed (c: Ctx): Promise<number> {
  const sb = c.server.manager.envs.get(c.env)?.env.sandbox as Sandbox | undefined
  return sb!.diskUsageMb!()
}

/**
 * The sandbox holds no more than the limit plus what its mechanism lets through: the quota's slack (docker: and the
 * task files' last part MiB, its own layer); with the watcher alone, what a writer gets done between two of its
 * checks, which depends on the machine's speed: there the writer must have been stopped before it wrote `fullMb`.
 */
async function heldLimit (c: Ctx, limitMb: number, fullMb: number, wroteForMs?: number): Promise<void> {
  const sb = c.server.manager.envs.get(c.env)?.env.sandbox as Sandbox | undefined
  const used = await diskUsed(c)
  const over = used - limitMb
  const how = sb?.diskQuota ? 'quota' : 'watcher'
  c.t.comment(`disk overshoot ${c.mode} ${how}: ${over.toFixed(2)} MiB`)
  if (sb?.diskQuota) {
    const allowed = SANDBOX_DEFAULTS.diskSlackMb + 2
    c.t.ok(over <= allowed, `the sandbox holds ${used.toFixed(1)} MiB: at most ${allowed} MiB over its ${limitMb} MiB limit (quota)`)
  } else if (wroteForMs !== undefined && wroteForMs < 3 * SANDBOX_DEFAULTS.diskPollSeconds * 1000) {
    // the watcher's guarantee is one poll: a writer done within three of them (a fast disk) outran it by design
    c.t.comment(`the writer finished in ${wroteForMs} ms, within the watcher's reaction: only the episode's end is asserted`)
  } else c.t.ok(used < fullMb - 5, `the sandbox holds ${used.toFixed(1)} MiB: the watcher stopped the writer before its ${fullMb} MiB`)
}

/** Polls `check` (true: done) every 100 ms for up to `ms`; returns whether it got there. */
export async function eventually (check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() > end) return false
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** POST swerex/upload as SWE-ReX's RemoteRuntime sends it (multipart: file, target_path, unzip). */
async function upload (c: Ctx, data: Buffer, name: string, target: string, unzip: boolean): Promise<{ status: number, body: any }> {
  const form = new FormData()
  form.append('file', new Blob([data]), name)
  form.append('target_path', target)
  form.append('unzip', String(unzip))
  const res = await fetch(`${c.server.url}/v1/envs/${c.env}/swerex/upload`, { method: 'POST', body: form })
  return { status: res.status, body: await res.json() }
}
