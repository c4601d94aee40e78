// The local sandbox where the server's python is a venv's: `python` in the sandbox still finds the venv's packages
// (a venv's python run through a link would take its base's).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { tempDir } from './helpers.js'

// not under /tmp: the sandbox has a /tmp of its own over it
const venv = join(tempDir(t, 'sg-venv-', '/var/tmp'), 'venv')
execFileSync('python3', ['-m', 'venv', '--without-pip', venv])
process.env.SYNTHGYM_PYTHON = join(venv, 'bin', 'python')
const { LocalSandbox, localBackendInfo } = await import('../sandbox/local.js')
const base = tempDir(t, 'sg-venv-sbx-')

t.test('a venv\'s python keeps its venv in the sandbox', async t => {
  t.ok(localBackendInfo().pythonVenv, 'the server\'s python is seen as a venv\'s')
  const sb = await LocalSandbox.create({ baseDir: base })
  t.teardown(() => sb.close())
  for (const name of ['python', 'python3']) {
    const r = await sb.exec(`${name} -c 'import sys; print(sys.prefix)'`)
    t.equal(r.output, venv + '\n', name)
  }
})
