#!/usr/bin/env node
// The `synthgym` command: serve, tasks list|show|validate|import|export, demo.
import { existsSync, mkdirSync, readFileSync, writeFileSync, cpSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { loadConfig, importsFile } from './config.js'
import { startServer, loadRegistry } from './server.js'
import { importMlgym, loadTaskDir, toMlgymYaml, taskDescription, hostPath } from '../tasks/registry.js'
import { TaskLoadError } from '../tasks/errors.js'
import { runDemo } from '../clients/demo.js'

const HELP = `synthgym: ML tasks as gym environments over HTTP and WebSocket

usage:
  synthgym serve [--host 127.0.0.1] [--port 8000] [--data-dir .synthgym] [--capacity 512] [--idle-timeout 1800]
                 [--max-steps 50] [--output-cap 100000] [--token T] [--synchronous NORMAL|FULL]
                 [--tasks-dir DIR]... [--mlgym CHECKOUT]...
                 [--backend local|docker] [--image synthgym/sandbox:latest] [--runtime runsc]
                 [--warm-pool N] [--pool-ceiling 16] [--docker-engines JSON|FILE]
                 [--gpus auto|none|0,1] [--gpu-share 1] [--gpu-queue 0]
  synthgym tasks list [--json]                 tasks this server would serve
  synthgym tasks show <id>                     a task's spec and its prompt
  synthgym tasks validate <dir>...             check synthgym task directories (task.yaml)
  synthgym tasks import <mlgym-checkout>       load configs/tasks/*.yaml of an MLGym checkout and serve them from now on
  synthgym tasks export <id> <out-dir>         write a task as MLGym YAML (configs/tasks, configs/datasets, data/<id>)
  synthgym demo [--url http://127.0.0.1:8000]  a scripted agent on a built-in task (starts its own server without --url)
  synthgym image build [--force]               build the Docker sandbox image synthgym/sandbox:latest offline (root, debootstrap)
  synthgym image recipe                        its packages, recipe hash and tag (synthgym image --help: options)

environment: SYNTHGYM_HOST, SYNTHGYM_PORT, SYNTHGYM_DATA_DIR, SYNTHGYM_CAPACITY, SYNTHGYM_IDLE_TIMEOUT,
SYNTHGYM_MAX_STEPS, SYNTHGYM_OUTPUT_CAP, SYNTHGYM_TOKEN, SYNTHGYM_BACKEND, SYNTHGYM_DOCKER_ENGINES, SYNTHGYM_IMAGE,
SYNTHGYM_WARM_POOL, SYNTHGYM_RUNTIME, SYNTHGYM_GPUS, SYNTHGYM_PYTHON (python used in sandboxes),
SYNTHGYM_SANDBOX_BINDS (extra read-only host dirs in local sandboxes, colon-separated)`

/** Where a broken config of an import report is: names are under configs/tasks, a whole checkout is absolute. */
function configPath (checkout: string, file: string): string {
  return isAbsolute(file) ? file : join(checkout, 'configs', 'tasks', file)
}

function take (args: string[], flag: string): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) { out.push(args[i + 1]!); args.splice(i, 2); i-- }
  }
  return out
}

async function main (argv: string[]): Promise<number> {
  const [cmd, ...args] = argv
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') { console.log(HELP); return cmd ? 0 : 1 }
  if (cmd === 'serve') {
    const taskDirs = take(args, '--tasks-dir')
    const mlgym = take(args, '--mlgym')
    const { config, rest } = loadConfig(args)
    if (rest.length) throw new Error(`unknown argument ${rest[0]}; see synthgym --help`)
    const s = await startServer(config, { logger: true, taskDirs, mlgym })
    for (const r of s.imports) for (const e of r.errors) console.error(`mlgym import: ${configPath(r.checkout, e.file)}: ${e.reason}`)
    for (const w of s.warnings) console.error(w)
    console.log(`synthgym serving ${s.manager.tasks.list().length} tasks on ${s.url} (data in ${config.dataDir})`)
    const stop = async () => { await s.close(); process.exit(0) }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    return -1
  }
  if (cmd === 'tasks') return tasks(args)
  if (cmd === 'image') return (await import('../sandbox/image.js')).imageCommand(args)
  if (cmd === 'demo') {
    const url = take(args, '--url')[0]
    const task = take(args, '--task')[0]
    if (url) { await runDemo({ url, task }); return 0 }
    const { config } = loadConfig(['--port', '0', ...args])
    const s = await startServer(config)
    try { await runDemo({ url: s.url, task }) } finally { await s.close() }
    return 0
  }
  throw new Error(`unknown command ${cmd}; see synthgym --help`)
}

function tasks (args: string[]): number {
  const [sub, ...rest] = args
  const { config } = loadConfig([])
  switch (sub) {
    case 'list': {
      const { registry, imports } = loadRegistry(config)
      if (rest.includes('--json')) { console.log(JSON.stringify(registry.list().map(t => ({ id: t.spec.id, name: t.spec.name, source: t.source })), null, 2)); return 0 }
      for (const t of registry.list()) {
        const metric = t.spec.metric ? `${t.spec.metric.name} (${t.spec.metric.direction})` : '-'
        console.log(`${t.spec.id.padEnd(34)} ${(t.spec.task_entrypoint ?? 'CSVSubmissionTasks').padEnd(22)} ${metric.padEnd(24)} ${t.source}`)
      }
      for (const r of imports) for (const e of r.errors) console.error(`broken: ${configPath(r.checkout, e.file)}: ${e.reason}`)
      return 0
    }
    case 'show': {
      if (!rest[0]) { console.error('usage: synthgym tasks show <id>'); return 1 }
      const t = loadRegistry(config).registry.get(rest[0])
      if (!t) { console.error(`no task ${rest[0]}; synthgym tasks list shows them`); return 1 }
      console.log(JSON.stringify({ ...t.spec, root: t.root, source: t.source }, null, 2))
      console.log('\n' + taskDescription(t.spec))
      return 0
    }
    case 'validate': {
      if (!rest.length) { console.error('usage: synthgym tasks validate <task-dir>...'); return 1 }
      let bad = 0
      for (const d of rest) {
        try { const t = loadTaskDir(resolve(d)); console.log(`ok: ${t.spec.id} (${d})`) } catch (e) {
          bad++
          console.error(e instanceof TaskLoadError ? `invalid: ${e.message}` : `invalid: ${d}: ${(e as Error).message}`)
        }
      }
      return bad ? 1 : 0
    }
    case 'import': {
      const dir = rest[0]
      if (!dir) { console.error('usage: synthgym tasks import <mlgym-checkout>'); return 1 }
      const report = importMlgym(dir)
      for (const t of report.tasks) console.log(`loaded: ${t.spec.id} (${t.spec.task_entrypoint ?? 'CSVSubmissionTasks'})`)
      for (const e of report.errors) console.error(`broken: ${e.file}: ${e.reason}`)
      if (report.tasks.length) {
        const file = importsFile(config)
        const known: string[] = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : []
        const abs = resolve(dir)
        if (!known.includes(abs)) known.push(abs)
        mkdirSync(dirname(file), { recursive: true })
        writeFileSync(file, JSON.stringify(known, null, 2))
        console.log(`${report.tasks.length} task(s) imported; ${report.errors.length} broken. The server serves them from its next start (${file}).`)
        return 0
      }
      console.error(`nothing imported from ${resolve(dir)}: ${report.errors.length ? 'every task config is broken (see above)' : 'configs/tasks has no *.yaml'}`)
      return 1
    }
    case 'export': {
      const [id, out] = rest
      if (!id || !out) { console.error('usage: synthgym tasks export <id> <out-dir>'); return 1 }
      const t = loadRegistry(config).registry.get(id)
      if (!t) { console.error(`no task ${id}; synthgym tasks list shows them`); return 1 }
      const dataRoot = join(out, 'data', t.spec.id)
      const datasetPaths = (t.spec.datasets ?? []).map(d => `datasets/${d.name.replace(/[^A-Za-z0-9_.-]+/g, '_')}.yaml`)
      // paths in MLGym YAML are relative to the checkout: copy each file under data/<id>/ (a file that is not there,
      // like an unused memory_path, keeps only its new name)
      const rel = (p: string) => {
        const src = hostPath(t, p)
        if (existsSync(src)) cpSync(src, join(dataRoot, basename(p)), { recursive: true })
        return `data/${t.spec.id}/${basename(p)}`
      }
      const relOrNull = (p: string | null | undefined) => p ? rel(p) : p
      mkdirSync(dataRoot, { recursive: true })
      const spec = {
        ...t.spec,
        starter_code: (t.spec.starter_code ?? []).map(rel),
        secret_files: (t.spec.secret_files ?? []).map(rel),
        sample_submission: relOrNull(t.spec.sample_submission),
        requirements_path: relOrNull(t.spec.requirements_path),
        memory_path: relOrNull(t.spec.memory_path),
        datasets: (t.spec.datasets ?? []).map(d => d.is_local ? { ...d, data_path: rel(d.data_path) } : d)
      }
      const y = toMlgymYaml({ ...t, spec }, datasetPaths)
      mkdirSync(join(out, 'configs', 'tasks'), { recursive: true })
      mkdirSync(join(out, 'configs', 'datasets'), { recursive: true })
      writeFileSync(join(out, 'configs', 'tasks', `${t.spec.id}.yaml`), y.task)
      y.datasets.forEach((d, i) => writeFileSync(join(out, 'configs', datasetPaths[i]!), d.yaml))
      console.log(`wrote ${join(out, 'configs', 'tasks', `${t.spec.id}.yaml`)}`)
      return 0
    }
    default:
      console.error('usage: synthgym tasks list|show|validate|import|export; see synthgym --help')
      return 1
  }
}

main(process.argv.slice(2)).then(code => { if (code >= 0) process.exit(code) }, e => {
  console.error(`synthgym: ${(e as Error).message}`)
  process.exit(1)
})
