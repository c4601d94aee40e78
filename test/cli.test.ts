// The built `synthgym` command (dist/server/cli.js) as a user runs it, with a throwaway SYNTHGYM_DATA_DIR:
// tasks list|import|validate|show|export, --help and unknown commands, exit codes and messages.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { importMlgym, taskDescription } from '../tasks/registry.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CLI = join(ROOT, 'dist', 'server', 'cli.js')
const FIXTURE = join(ROOT, 'test', 'fixtures', 'mlgym')
const BUILTIN_IDS = readdirSync(join(ROOT, 'tasks', 'builtin'))
  .filter(n => existsSync(join(ROOT, 'tasks', 'builtin', n, 'task.yaml')))
  .map(n => YAML.parse(readFileSync(join(ROOT, 'tasks', 'builtin', n, 'task.yaml'), 'utf8')).id as string)
  .sort()
const BROKEN = ['brokenYaml.yaml', 'missingDataset.yaml', 'missingStarter.yaml', 'stagHuntL1.yaml', 'staleEntrypoint.yaml']

// `npm test` builds first; a bare `npx tap test/cli.test.ts` builds here when dist is missing or older than the sources
function newest (dir: string): number {
  if (!existsSync(dir)) return 0
  return Math.max(0, ...readdirSync(dir).map(n => {
    const p = join(dir, n)
    const st = statSync(p)
    return st.isDirectory() ? (n === 'builtin' || n === 'tools' ? 0 : newest(p)) : n.endsWith('.ts') ? st.mtimeMs : 0
  }))
}
const sources = Math.max(...['server', 'tasks', 'env-spec', 'sandbox', 'clients'].map(d => newest(join(ROOT, d))))
if (!existsSync(CLI) || statSync(CLI).mtimeMs < sources) {
  const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' })
  if (b.status !== 0) t.comment(`npm run build exited ${b.status}:\n${b.stdout}${b.stderr}`)
}

function tmp (prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

interface Run { code: number | null, stdout: string, stderr: string }

function cli (dataDir: string, ...args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SYNTHGYM_DATA_DIR: dataDir }
  })
  if (r.error) throw r.error
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** `tasks list` rows: id, entrypoint, metric, source */
function rows (out: string): Map<string, string> {
  return new Map(out.trim().split('\n').filter(Boolean).map(l => [l.split(/\s+/)[0]!, l]))
}

t.test('the CLI is built', async t => { t.ok(existsSync(CLI), `${CLI} exists`) })

t.test('--help, no arguments, unknown commands', async t => {
  const data = tmp('sg-cli-')
  for (const flag of ['--help', '-h', 'help']) {
    const h = cli(data, flag)
    t.equal(h.code, 0, `${flag} exits 0`)
    t.match(h.stdout, /^synthgym: /)
    for (const c of ['synthgym serve', 'synthgym tasks list', 'synthgym tasks show <id>', 'synthgym tasks validate <dir>',
      'synthgym tasks import <mlgym-checkout>', 'synthgym tasks export <id> <out-dir>', 'SYNTHGYM_DATA_DIR']) {
      t.ok(h.stdout.includes(c), `${flag} mentions ${c}`)
    }
  }
  const none = cli(data)
  t.equal(none.code, 1, 'no command: the help, exit 1')
  t.match(none.stdout, /usage:/)

  const bad = cli(data, 'frobnicate')
  t.equal(bad.code, 1)
  t.equal(bad.stderr.trim(), 'synthgym: unknown command frobnicate; see synthgym --help')
  const badSub = cli(data, 'tasks', 'frobnicate')
  t.equal(badSub.code, 1)
  t.match(badSub.stderr, /unknown subcommand frobnicate\nusage:\n  synthgym tasks list/)
  const noSub = cli(data, 'tasks')
  t.equal(noSub.code, 1)
  t.match(noSub.stderr, /usage:\n  synthgym tasks list/)
  // every subcommand answers --help with its usage, exit 0, and does nothing else (demo used to run the demo)
  const helps: Array<[string[], RegExp]> = [
    [['serve', '--help'], /usage: synthgym serve[\s\S]*--port\s+port to listen on .*\(default 8000\); env SYNTHGYM_PORT/],
    [['demo', '--help'], /usage: synthgym demo/], [['keys', 'create', '--help'], /synthgym keys create/],
    [['tasks', 'list', '-h'], /synthgym tasks list/], [['run', '--help'], /synthgym run/],
    [['aup', '--help'], /synthgym aup/], [['export', 'sft', '--help'], /synthgym export sft/],
    [['generate', '--help'], /synthgym generate/], [['image', '--help'], /synthgym image build/]
  ]
  for (const [args, usage] of helps) {
    const h = cli(data, ...args)
    t.equal(h.code, 0, `${args.join(' ')} exits 0`)
    t.match(h.stdout, usage, `${args.join(' ')} prints its usage`)
    t.notMatch(h.stdout + h.stderr, /unknown argument|baseline \{|env-[0-9a-f]{8}/, `${args.join(' ')} runs nothing`)
  }
  const badFlag = cli(data, 'serve', '--port', 'eighty')
  t.equal(badFlag.code, 1)
  t.match(badFlag.stderr, /--port must be a whole number \(got "eighty"\)/)
})

t.test('tasks list: the built-in tasks', async t => {
  const data = tmp('sg-cli-')
  t.ok(BUILTIN_IDS.length >= 1)
  const list = cli(data, 'tasks', 'list')
  t.equal(list.code, 0)
  t.equal(list.stderr, '')
  const r = rows(list.stdout)
  t.same([...r.keys()].sort(), BUILTIN_IDS, 'every tasks/builtin/*/task.yaml, nothing else')
  for (const [id, line] of r) t.match(line, /\sbuiltin$/, `${id} is builtin`)
  t.match(r.get('prisonersDilemma'), /^prisonersDilemma\s+PythonSubmissionTasks\s+Score \(maximize\)\s+builtin$/)

  const json = cli(data, 'tasks', 'list', '--json')
  t.equal(json.code, 0)
  const parsed = JSON.parse(json.stdout)
  t.same(parsed.map((x: any) => x.id).sort(), BUILTIN_IDS)
  t.ok(parsed.every((x: any) => x.source === 'builtin' && typeof x.name === 'string'))
})

t.test('tasks import: loaded and broken lines, exit 0, served from then on', async t => {
  const data = tmp('sg-cli-')
  const imp = cli(data, 'tasks', 'import', 'test/fixtures/mlgym')
  t.equal(imp.code, 0, 'exit 0 although some configs are broken')
  t.match(imp.stdout, /^loaded: stagHunt \(PythonSubmissionTasks\)$/m)
  t.match(imp.stdout, /^loaded: regressionTinyHousePrice \(CSVSubmissionTasks\)$/m)
  t.match(imp.stdout, /^2 task\(s\) imported; 5 broken\. The server serves them from its next start/m)
  const broken = imp.stderr.trim().split('\n')
  t.same(broken.map(l => l.split(':')[1]!.trim()).sort(), BROKEN, 'one broken line per broken config, by file name')
  t.match(imp.stderr, /^broken: missingStarter\.yaml: starter_code: data\/missingStarterGame\/strategy\.py does not exist/m)
  t.match(imp.stderr, /^broken: staleEntrypoint\.yaml: task\.task_entrypoint must be one of "CSVSubmissionTasks", .*got "BaseMLTask"$/m)
  t.match(imp.stderr, /^broken: missingDataset\.yaml: dataset_configs: datasets\/housingPrice\.yaml not found/m)
  t.match(imp.stderr, /^broken: brokenYaml\.yaml: not valid YAML: .*line \d+, column \d+$/m)
  t.match(imp.stderr, /^broken: stagHuntL1\.yaml: id stagHunt is already the id of stagHunt\.yaml/m)
  t.same(JSON.parse(readFileSync(join(data, 'mlgym-imports.json'), 'utf8')), [FIXTURE], 'the checkout is recorded, absolute')

  const list = cli(data, 'tasks', 'list')
  t.equal(list.code, 0)
  const r = rows(list.stdout)
  t.same([...r.keys()].sort(), [...BUILTIN_IDS, 'regressionTinyHousePrice', 'stagHunt'].sort())
  t.match(r.get('stagHunt'), new RegExp(`^stagHunt\\s+PythonSubmissionTasks\\s+-\\s+mlgym:${FIXTURE}$`))
  t.match(list.stderr, new RegExp(`^broken: ${FIXTURE}/configs/tasks/staleEntrypoint\\.yaml: `, 'm'), 'list names the broken configs with their path')

  const again = cli(data, 'tasks', 'import', FIXTURE)
  t.equal(again.code, 0)
  t.same(JSON.parse(readFileSync(join(data, 'mlgym-imports.json'), 'utf8')), [FIXTURE], 'importing twice records it once')

  const notCheckout = cli(data, 'tasks', 'import', 'tasks/builtin')
  t.equal(notCheckout.code, 1)
  t.match(notCheckout.stderr, /not an MLGym checkout: configs\/tasks is missing \(pass the root of a clone of facebookresearch\/MLGym/)
  t.match(notCheckout.stderr, /nothing imported from/)
  const missing = cli(data, 'tasks', 'import', '/nonexistent/mlgym')
  t.equal(missing.code, 1)
  t.match(missing.stderr, /the directory does not exist/)
  const usage = cli(data, 'tasks', 'import')
  t.equal(usage.code, 1)
  t.match(usage.stderr, /usage: synthgym tasks import <mlgym-checkout>/)
  t.same(JSON.parse(readFileSync(join(data, 'mlgym-imports.json'), 'utf8')), [FIXTURE], 'failed imports record nothing')
})

t.test('tasks validate: exit codes and messages that name the field and the fix', async t => {
  const data = tmp('sg-cli-')
  const good = cli(data, 'tasks', 'validate', 'tasks/builtin/prisonersDilemma')
  t.equal(good.code, 0)
  t.equal(good.stdout.trim(), 'ok: prisonersDilemma (tasks/builtin/prisonersDilemma)')

  const bad = tmp('sg-cli-bad-')
  writeFileSync(join(bad, 'task.yaml'), YAML.stringify({
    id: 'badTask', name: 'Bad', description: 'd', task_entrypoint: 'BaseMLTask', starter_codes: ['evaluate.py'], training_timeout: 'long'
  }))
  const r = cli(data, 'tasks', 'validate', bad)
  t.equal(r.code, 1)
  t.match(r.stderr, new RegExp(`^invalid: ${bad}/task\\.yaml: `))
  t.match(r.stderr, /task\.task_entrypoint must be one of "CSVSubmissionTasks", "ModelSubmissionTasks", "LMSubmissionTasks", "PythonSubmissionTasks", got "BaseMLTask"/)
  t.match(r.stderr, /task\.starter_codes is not a known field; did you mean starter_code\?/)
  t.match(r.stderr, /task\.training_timeout must be of type integer,null, got "long"/)

  const noFile = tmp('sg-cli-nofile-')
  writeFileSync(join(noFile, 'task.yaml'), 'id: noFile\nname: No file\ndescription: d\nstarter_code: [evaluate.py]\n')
  const nf = cli(data, 'tasks', 'validate', noFile)
  t.equal(nf.code, 1)
  t.match(nf.stderr, /starter_code: evaluate\.py does not exist \(looked for .*evaluate\.py; paths are relative to the task directory/)

  const noName = tmp('sg-cli-noname-')
  writeFileSync(join(noName, 'task.yaml'), 'id: noName\ndescription: d\n')
  t.match(cli(data, 'tasks', 'validate', noName).stderr, /task\.name is required/)

  const mixed = cli(data, 'tasks', 'validate', 'tasks/builtin/prisonersDilemma', bad, '/nonexistent/task')
  t.equal(mixed.code, 1, 'one bad directory fails the run')
  t.match(mixed.stdout, /^ok: prisonersDilemma/m, 'the good one is still reported')
  t.match(mixed.stderr, /^invalid: \/nonexistent\/task: the directory does not exist$/m)

  const checkout = cli(data, 'tasks', 'validate', 'test/fixtures/mlgym')
  t.equal(checkout.code, 1)
  t.match(checkout.stderr, /no task\.yaml in this directory.*this looks like an MLGym checkout: use synthgym tasks import/)
  const usage = cli(data, 'tasks', 'validate')
  t.equal(usage.code, 1)
  t.match(usage.stderr, /usage: synthgym tasks validate <task-dir>/)
})

t.test('tasks show: the spec and the prompt with {dataset_docs} filled in', async t => {
  const data = tmp('sg-cli-')
  const builtin = cli(data, 'tasks', 'show', 'prisonersDilemma')
  t.equal(builtin.code, 0)
  t.match(builtin.stdout, /^\{\n {2}"id": "prisonersDilemma",/)
  t.match(builtin.stdout, /row_strategy\(history\)/)

  t.equal(cli(data, 'tasks', 'import', FIXTURE).code, 0)
  const show = cli(data, 'tasks', 'show', 'regressionTinyHousePrice')
  t.equal(show.code, 0)
  const cut = show.stdout.indexOf('\n}\n')
  const spec = JSON.parse(show.stdout.slice(0, cut + 2))
  t.equal(spec.id, 'regressionTinyHousePrice')
  t.equal(spec.root, FIXTURE)
  t.equal(spec.source, `mlgym:${FIXTURE}`)
  t.same(spec.dataset_configs, ['datasets/tinyHouses.yaml'])
  t.equal(spec.datasets[0].name, 'TinyHouses')
  const task = importMlgym(FIXTURE).tasks.find(x => x.spec.id === 'regressionTinyHousePrice')!
  t.equal(show.stdout.slice(cut + 3), `\n${taskDescription(task.spec)}\n`, 'the prompt follows the spec')
  t.match(show.stdout, /dataset\(s\):\nTINYHOUSES:\nSixty houses/)

  const none = cli(data, 'tasks', 'show', 'noSuchTask')
  t.equal(none.code, 1)
  t.equal(none.stderr.trim(), 'no task noSuchTask; synthgym tasks list shows them')
  const usage = cli(data, 'tasks', 'show')
  t.equal(usage.code, 1)
  t.match(usage.stderr, /usage: synthgym tasks show <id>/)
})

t.test('tasks export: MLGym YAML that importMlgym loads back', async t => {
  const data = tmp('sg-cli-')
  t.equal(cli(data, 'tasks', 'import', FIXTURE).code, 0)
  const out = tmp('sg-cli-export-')
  const original = importMlgym(FIXTURE).tasks.find(x => x.spec.id === 'regressionTinyHousePrice')!

  const ex = cli(data, 'tasks', 'export', 'regressionTinyHousePrice', out)
  t.equal(ex.code, 0, ex.stderr)
  const file = join(out, 'configs', 'tasks', 'regressionTinyHousePrice.yaml')
  t.equal(ex.stdout.trim(), `wrote ${file}`)
  t.ok(existsSync(file))
  const written = YAML.parse(readFileSync(file, 'utf8'))
  t.same(written.dataset_configs, ['datasets/TinyHouses.yaml'])
  t.same(written.starter_code, ['baseline.py', 'evaluate.py', 'sample_submission.csv'].map(f => `data/regressionTinyHousePrice/${f}`))
  t.equal(written.sample_submission, 'data/regressionTinyHousePrice/sample_submission.csv')
  t.match(readFileSync(file, 'utf8'), /^starter_code:\n- data\//m, 'lists written as PyYAML writes them')
  t.ok(existsSync(join(out, 'data', 'regressionTinyHousePrice', 'data', 'train.csv')), 'the local dataset is copied')

  // a built-in task too, into the same checkout
  const ex2 = cli(data, 'tasks', 'export', 'prisonersDilemma', out)
  t.equal(ex2.code, 0, ex2.stderr)

  const back = importMlgym(out)
  t.same(back.errors, [], 'everything exported loads back')
  t.same(back.tasks.map(x => x.spec.id).sort(), ['prisonersDilemma', 'regressionTinyHousePrice'])
  const again = back.tasks.find(x => x.spec.id === 'regressionTinyHousePrice')!
  for (const f of ['name', 'description', 'task_entrypoint', 'training_timeout', 'use_generic_conda', 'baseline_paths',
    'baseline_scores', 'evaluation_paths', 'evaluation_read_only'] as const) {
    t.same(again.spec[f], original.spec[f], `${f} survives the export`)
  }
  t.same(again.spec.datasets!.map(d => ({ ...d, data_path: undefined })), original.spec.datasets!.map(d => ({ ...d, data_path: undefined })))
  t.equal(taskDescription(again.spec), taskDescription(original.spec), 'the same prompt')
  for (const p of again.spec.starter_code!) {
    t.equal(readFileSync(join(out, p), 'utf8'), readFileSync(join(FIXTURE, 'data', 'tinyHousePrice', p.split('/').pop()!), 'utf8'), `${p} is a copy`)
  }
  const pd = back.tasks.find(x => x.spec.id === 'prisonersDilemma')!
  t.same(pd.spec.starter_code, ['target.py', 'evaluate.py', 'strategy.py'].map(f => `data/prisonersDilemma/${f}`))

  const none = cli(data, 'tasks', 'export', 'noSuchTask', join(out, 'none'))
  t.equal(none.code, 1)
  t.equal(none.stderr.trim(), 'no task noSuchTask; synthgym tasks list shows them')
  t.notOk(existsSync(join(out, 'none')), 'a failed export writes nothing')
  const usage = cli(data, 'tasks', 'export', 'stagHunt')
  t.equal(usage.code, 1)
  t.match(usage.stderr, /usage: synthgym tasks export <id> <out-dir>/)
})
