// The Python client (clients/python) against a live server: its unittest suite, run by python3.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { testServer, runProcess } from './helpers.js'

const ROOT = join(import.meta.dirname, '..')
const PY = join(ROOT, 'clients', 'python')
const SUITE = join(PY, 'tests', 'test_client.py')

const run = runProcess

// the system's python3 (stdlib only: Gymnasium's tests skip), and the trainer venv's, which has gymnasium
const VENV_PY = join(ROOT, '.venv-trl', 'bin', 'python')
const pythons: Array<[string, string]> = [['python3', 'python3']]
if (existsSync(VENV_PY)) pythons.push(['the trainer venv (gymnasium)', VENV_PY])
else if (process.env.CI === 'true') t.fail('.venv-trl is missing: .ci/python-venv builds it (CI=true)')

for (const [name, python] of pythons) {
t.test(`python unittest suite of clients/python against a live server: ${name}`, { timeout: 170_000 }, async t => {
  const s = await testServer()
  t.teardown(() => s.close())
  const expected = (readFileSync(SUITE, 'utf8').match(/^\s+def test_\w+\(self\)/gm) ?? []).length
  t.ok(expected >= 13, `the suite defines ${expected} tests`)
  const { code, out } = await run(python, ['-m', 'unittest', 'discover', '-s', join(PY, 'tests'), '-v'], {
    ...process.env,
    SYNTHGYM_URL: s.url,
    PYTHONPATH: PY,
    PYTHONDONTWRITEBYTECODE: '1'
  })
  const ran = /^Ran (\d+) tests? in /m.exec(out)
  t.equal(code, 0, 'unittest exits 0')
  t.ok(ran, 'unittest printed "Ran N tests"')
  t.equal(Number(ran?.[1]), expected, 'every test of the suite ran')
  t.match(out, /^OK( \(skipped=\d+\))?$/m)
  t.notMatch(out, /skipped 'set SYNTHGYM_URL/, 'the suite saw the server')
  if (python !== 'python3') t.notMatch(out, /gymnasium is not installed/, 'Gymnasium\'s tests ran')
  if (code !== 0) t.comment(out)
})
}
