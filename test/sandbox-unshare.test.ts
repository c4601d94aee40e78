// The local backend's fallback where bubblewrap is missing: unshare + pivot_root + no capabilities.
import t from 'tap'
import { tempDir } from './helpers.js'

process.env.SYNTHGYM_ISOLATION = 'unshare'
const { LocalSandbox, localBackendInfo } = await import('../sandbox/local.js')
const base = tempDir(t, 'sg-unshare-test-')

t.test('the unshare fallback isolates like the bubblewrap sandbox', async t => {
  t.equal(localBackendInfo().isolation, 'unshare')
  const sb = await LocalSandbox.create({ baseDir: base, limits: { pids: 64 } })
  t.teardown(() => sb.close())
  t.equal((await sb.exec('cd /tmp && export A=1')).exitCode, 0)
  t.equal((await sb.exec('pwd; echo $A; echo $HOME')).output, '/tmp\n1\n/home/agent\n', 'one persistent shell')
  t.equal((await sb.exec('cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "')).output, 'lo\n', 'no network')
  t.not((await sb.exec(`ls ${base}`)).exitCode, 0, 'the host is out of reach')
  t.not((await sb.exec('touch /usr/x')).exitCode, 0, 'system dirs are read-only')
  t.match((await sb.exec('grep CapEff /proc/self/status')).output, /CapEff:\s+0{16}/, 'no capabilities')
  t.not((await sb.exec('mkdir -p x && chroot x /bin/true')).exitCode, 0, 'no chroot back out')
  t.equal((await sb.exec('python -c "print(6*7)"')).output, '42\n')
  const slow = await sb.exec('sleep 5', { timeout: 1 })
  t.equal(slow.timedOut, 'timeout')
  t.equal((await sb.exec('echo alive')).output, 'alive\n')
  await sb.writeFile('/home/agent/workspace/f.txt', 'hi')
  t.equal((await sb.exec('cat /home/agent/workspace/f.txt')).output, 'hi')
})
