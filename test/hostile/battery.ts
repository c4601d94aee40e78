// Runs the attack table (attacks.ts) on one backend: one real server per file, a bystander environment opened before
// the first attack, then each attack in its own environment, one after the other. After every attack: the bystander
// still steps, the attacked environment recovered (`echo ok`) or ended with a clear exit status, and once it is
// closed nothing of its sandboxes is left on the host (processes, folders, cgroups, containers).
import type { Test } from 'tap'
import Docker from 'dockerode'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { testServer, http, openEnv, stepOk } from '../helpers.js'
import { ATTACKS, type Attack, type Ctx, type Mode, type SandboxFacts, type Server, eventually, expectedEnd } from './attacks.js'

/** Where the Docker tests find their engine (as test/docker.test.ts). */
export const DOCKER_SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock'

/** The host's processes as {pid, cgroup, cmdline}, read from /proc (a process gone meanwhile is skipped). */
export function hostProcesses (): { pid: number, cgroup: string, cmdline: string }[] {
  const out: { pid: number, cgroup: string, cmdline: string }[] = []
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      out.push({ pid: Number(p), cgroup: readFileSync(`/proc/${p}/cgroup`, 'utf8'), cmdline: readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ') })
    } catch {}
  }
  return out
}

/** Every cgroup folder of a local sandbox (one per controller on v1, one on v2). */
function cgroupDirsOf (sandboxId: string): string[] {
  const roots = ['/sys/fs/cgroup/synthgym', ...['pids', 'memory', 'cpu'].map(c => `/sys/fs/cgroup/${c}/synthgym`)].filter(existsSync)
  return roots.flatMap(r => readdirSync(r).map(o => join(r, o, sandboxId)).filter(existsSync))
}

/** Runs the table (or the attacks `only` picks) on `mode`. */
export function battery (t: Test, mode: Mode, only?: (a: Attack) => boolean): void {
  const local = mode !== 'docker'
  const docker = new Docker({ socketPath: DOCKER_SOCKET })
  t.test(`hostile agents: ${only ? ATTACKS.filter(only).length : ATTACKS.length} attacks on ${mode}`, async t => {
    // a variable of the server's that no sandbox process may see (proc-environ)
    process.env.SG_HOSTILE_HOST_SECRET = 'host-secret-' + Math.random().toString(36).slice(2)
    t.teardown(() => { delete process.env.SG_HOSTILE_HOST_SECRET })
    const s: Server = await testServer({ backend: local ? 'local' : 'docker', warmPool: 0, gpus: 'none' })
    const serverId = readFileSync(join(s.dataDir, 'server-id'), 'utf8').trim()
    let closed = false
    t.teardown(async () => { if (!closed) await s.close() })
    // the bystander: opened before any attack, it holds a secret of its own in every place it can write
    const bystander = await openEnv(s, { task: 'prisonersDilemma', max_steps: 100000, timeouts: { short: 20, long: 60 } })
    const secret = `BYSTANDER-SECRET-${Math.random().toString(36).slice(2)}`
    const plant = await stepOk(s, bystander, `echo ${secret} > mine.txt; echo ${secret} > /tmp/mine; echo ${secret} > /dev/shm/mine; echo planted`)
    t.equal(plant.observation, 'planted', 'the bystander planted its secrets')
    const bystanderFacts = facts(s, bystander)
    let n = 0
    for (const attack of ATTACKS) {
      if (attack.only && !attack.only.includes(mode)) continue
      if (only && !only(attack)) continue
      // SG_HOSTILE_ONLY=id,id runs those attacks alone (while working on them)
      if (process.env.SG_HOSTILE_ONLY && !process.env.SG_HOSTILE_ONLY.split(',').includes(attack.id)) continue
      const todo = attack.todo?.[mode]
      await t.test(`${attack.id}: ${attack.tries}`, todo ? { todo } : {}, async t => {
        await runAttack(t, attack)
      })
    }
    await s.close()
    closed = true
    // the server gone: nothing of it on the host
    t.notOk(existsSync(join(s.dataDir, 'sandboxes')) && readdirSync(join(s.dataDir, 'sandboxes')).length > 0, 'no sandbox folder after the server closed')
    if (local) t.same(cgroupDirsOf(bystanderFacts.id), [], 'no cgroup of the bystander')
    if (local) t.same(['pids', 'memory', 'cpu'].map(c => `/sys/fs/cgroup/${c}/synthgym/${serverId}`).filter(existsSync), [], 'the server\'s own cgroup folders are gone')
    else {
      const left = await docker.listContainers({ all: true, filters: { label: [`synthgym.server=${serverId}`] } })
      t.equal(left.length, 0, 'no container of the server after it closed')
    }

    async function runAttack (t: Test, attack: Attack): Promise<void> {
      n++
      const marker = `sg-hostile-${attack.id}-${Math.random().toString(36).slice(2, 8)}`
      const seen: SandboxFacts[] = []
      const opened: string[] = []
      const env = await openEnv(s, { task: 'prisonersDilemma', timeouts: { short: 10, long: 60 }, ...attack.create })
      opened.push(env)
      const record = (id: string) => {
        const f = facts(s, id)
        if (!seen.some(x => x.id === f.id)) seen.push(f)
        return f
      }
      record(env)
      let last: any = null
      const ctx: Ctx = {
        t, mode, local, env, marker, server: s, secret,
        bystander: { env: bystander, facts: bystanderFacts },
        step: async (action, o = {}) => {
          const r = await http(s.url, 'POST', `/v1/envs/${o.env ?? env}/step`, { action })
          if (r.status !== 200) throw new Error(`step ${JSON.stringify(action.slice(0, 80))}: ${r.status} ${JSON.stringify(r.body)}`)
          if ((o.env ?? env) === env) { last = r.body; record(env) }
          return r.body
        },
        request: (method, path, body, raw) => http(s.url, method, path, body, raw),
        sandbox: () => record(env)!,
        open: async body => { const id = await openEnv(s, body); opened.push(id); record(id); return id },
        reset: async () => {
          const r = await http(s.url, 'POST', `/v1/envs/${env}/reset`)
          if (r.status !== 200) throw new Error(`reset: ${JSON.stringify(r.body)}`)
          return record(env)!
        },
        markerProcesses: () => hostProcesses().filter(p => p.cmdline.includes(marker)).map(p => p.pid),
        docker
      }
      try {
        await attack.run(ctx)
      } finally {
        // the bystander, opened before the attack, still steps correctly
        const by = await http(s.url, 'POST', `/v1/envs/${bystander}/step`, { action: `echo bystander-${n}` })
        t.equal(by.status, 200, 'the bystander answers')
        t.equal(by.body?.observation, `bystander-${n}`, 'the bystander steps correctly')
        // the attacked environment recovered, or ended with a clear exit status
        if (expectedEnd(attack, mode)) {
          t.equal(last?.terminated || last?.truncated, true, 'the attack ended the episode')
          t.type(last?.info?.exit_status, 'string', `with an exit status (${last?.info?.exit_status})`)
          const again = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'echo ok' })
          t.equal(again.body?.error?.code, 'EPISODE_FINISHED', 'a further step is refused: the episode is over')
        } else {
          const ok = await http(s.url, 'POST', `/v1/envs/${env}/step`, { action: 'echo ok' })
          t.equal(ok.status, 200, 'the attacked environment answers')
          t.match(ok.body?.observation, /(^|\n)ok$/, 'and recovered: echo ok works')
          t.equal(ok.body?.terminated, false)
        }
        try { record(env) } catch {}
        for (const id of opened) {
          const c = await http(s.url, 'DELETE', `/v1/envs/${id}`)
          t.equal(c.status, 200, 'closed')
        }
        await leftovers(t, seen, marker)
        t.equal((await http(s.url, 'GET', '/v1/health')).status, 200, 'the server is healthy')
      }
    }

    /** Nothing of `sandboxes` on the host once they are closed: processes, folders, cgroups, containers. */
    async function leftovers (t: Test, sandboxes: SandboxFacts[], marker: string): Promise<void> {
      for (const f of sandboxes) {
        if (f.containerId) {
          const id = f.containerId
          t.ok(await eventually(async () => (await docker.listContainers({ all: true, filters: { label: [`synthgym.sandbox=${f.id}`] } })).length === 0 &&
            (await docker.listContainers({ all: true, filters: { label: [`synthgym.sandbox=${f.id}-run`] } })).length === 0,
          // a loaded engine takes its time to remove a container (and its disk quota's mounts): wait, within reason
          60_000), `no container of ${f.id} left`)
          t.ok(await eventually(() => !hostProcesses().some(p => p.cgroup.includes(id))), `no process of container ${id.slice(0, 12)} left`)
        } else {
          t.ok(await eventually(() => !hostProcesses().some(p => p.cgroup.includes(`/${f.id}\n`))), `no process in ${f.id}'s cgroups left`)
          t.ok(await eventually(() => !existsSync(f.root!)), `${f.id}'s folder is gone`)
          t.ok(await eventually(() => cgroupDirsOf(f.id).length === 0), `${f.id}'s cgroups are gone`)
        }
      }
      t.ok(await eventually(() => !hostProcesses().some(p => p.cmdline.includes(marker))), 'no process the attack named is left')
      if (local) {
        const dir = join(s.dataDir, 'sandboxes')
        t.same(readdirSync(dir).filter(d => d !== bystanderFacts.id), [], 'only the bystander\'s sandbox folder is left')
      }
    }
  })
}

/** What the host knows of an environment's current sandbox (the test's own look, not the API). */
function facts (s: Server, env: string): SandboxFacts {
  const sb = s.manager.envs.get(env)?.env.sandbox as unknown as { id: string, root?: string, workspaceDir?: string, container?: { id: string } } | undefined
  if (!sb) throw new Error(`${env} has no sandbox`)
  return { id: sb.id, root: sb.root, workspaceDir: sb.workspaceDir, containerId: sb.container?.id }
}
