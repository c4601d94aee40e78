#!/usr/bin/env node
// The `synthgym` command: only dispatch; each subcommand lives beside what it runs.

const HELP = `synthgym: ML tasks as gym environments over HTTP and WebSocket

usage:
  synthgym serve [--host 127.0.0.1] [--port 8000] [--data-dir .synthgym] [--capacity 512] [--idle-timeout 1800] [--socket-grace 10]
                 [--max-steps 50] [--output-cap 100000] [--token T] [--synchronous NORMAL|FULL]
                 [--tasks-dir DIR]... [--mlgym CHECKOUT]...
                 [--backend local|docker] [--image synthgym/sandbox:latest] [--runtime runsc]
                 [--warm-pool N] [--pool-ceiling 16] [--docker-engines JSON|FILE]
                 [--gpus auto|none|0,1] [--gpu-share 1] [--gpu-queue 0]
                 [--store FILE|postgres://user:pw@host/db] [--public-url http://host:port] [--replica-id ID]
                 [--heartbeat 5] [--drain-timeout 30]
                 [--key-max-envs 64] [--key-rate 50] [--key-burst 100]
  synthgym keys create [--name N] [--scopes envs,episodes,admin] [--max-envs N] [--rate R] [--burst B] [--json]
                                               an API key, printed once (the server keeps its sha256)
  synthgym keys list [--json] | revoke <id>    the data dir's keys; a running server sees changes at once
  synthgym tasks list [--json]                 tasks this server would serve
  synthgym tasks show <id>                     a task's spec and its prompt
  synthgym tasks validate <dir>...             check synthgym task directories (task.yaml)
  synthgym tasks import <mlgym-checkout>       load configs/tasks/*.yaml of an MLGym checkout and serve them from now on
  synthgym tasks export <id> <out-dir>         write a task as MLGym YAML (configs/tasks, configs/datasets, data/<id>)
  synthgym generate --out DIR [--topics 100] [--topics-file F] [--seed S] [--concurrency 8] [--rounds 3] [--model M]
                    [--base-url URL] [--api-key K] [--hub-url URL] [--datasets-server-url URL] [--hf-token T]
                    [--backend local|docker] [--resume]    ML topics → verified, self-debugged tasks in DIR/tasks
                                                           (synthgym generate --help: all options)
  synthgym demo [--url http://127.0.0.1:8000]  a scripted agent on a built-in task (starts its own server without --url)
  synthgym run --url URL --model M --out DIR (--tasks a,b | --tasks-dir DIR | --suite mlgym) [--base-url U]
               [--runs-per-task N] [--concurrency C] ...   agent episodes in MLGym's run layout (synthgym run --help)
  synthgym image build [--force]               build the Docker sandbox image synthgym/sandbox:latest offline (root, debootstrap)
  synthgym image recipe                        its packages, recipe hash and tag (synthgym image --help: options)
  synthgym runtime build mlgym [--force]       the ML runtime's venv for local sandboxes (torch, transformers, datasets...), cached
  synthgym mlgym status|fetch|prepare|baseline MLGym-Bench here: what runs, why not; Hub data offline (mlgym --help)
  synthgym runtime show mlgym                  its requirements, hash, package sources and what the index lacks
  synthgym aup DIR... [--models a,b] [--format md|csv|json] [--out DIR]
                                               MLGym's performance profiles and AUP over run directories (aup --help)
  synthgym export sft DIR|--url URL --out FILE.jsonl [--format messages|sharegpt] [--max-tokens 48000]
                      [--truncate-tokens 32000] [--tokenizer qwen3|o200k|chars]
                                               successful trajectories as chat JSONL for SFT (export sft --help)

environment: SYNTHGYM_HOST, SYNTHGYM_PORT, SYNTHGYM_DATA_DIR, SYNTHGYM_CAPACITY, SYNTHGYM_IDLE_TIMEOUT,
SYNTHGYM_MAX_STEPS, SYNTHGYM_OUTPUT_CAP, SYNTHGYM_TOKEN, SYNTHGYM_BACKEND, SYNTHGYM_DOCKER_ENGINES, SYNTHGYM_IMAGE,
SYNTHGYM_WARM_POOL, SYNTHGYM_RUNTIME, SYNTHGYM_GPUS, SYNTHGYM_STORE, SYNTHGYM_PUBLIC_URL, SYNTHGYM_REPLICA_ID,
SYNTHGYM_DRAIN_TIMEOUT, SYNTHGYM_PYTHON (python used in sandboxes),
SYNTHGYM_SANDBOX_BINDS (extra read-only host dirs in local sandboxes, colon-separated)`

/** A subcommand: its exit code, or -1 when the process lives on (a server). */
type Command = (args: string[]) => Promise<number> | number

// imported on use: `--help` loads none of them, `serve` not the image builder
const COMMANDS: Record<string, Command> = {
  serve: async args => (await import('./serve-command.js')).serveCommand(args),
  demo: async args => (await import('./serve-command.js')).demoCommand(args),
  run: async args => (await import('../clients/run-command.js')).runCommand(args),
  image: async args => (await import('../sandbox/image-command.js')).imageCommand(args),
  runtime: async args => (await import('../sandbox/runtime-command.js')).runtimeCommand(args),
  keys: async args => (await import('./keys-command.js')).keysCommand(args),
  aup: async args => (await import('../clients/aup/aup-command.js')).aupCommand(args),
  export: async args => (await import('../clients/sft/sft-command.js')).exportCommand(args),
  generate: async args => (await import('../tasks/generate/generate-command.js'))
    .generateCommand(args, { smoke: (await import('./smoke.js')).smokeRunner }),
  mlgym: async args => {
    const { mlgymCommand } = await import('../tasks/mlgym-command.js')
    const { loadRegistry } = await import('./server.js')
    const { loadConfig } = await import('./config.js')
    const { LocalSandbox } = await import('../sandbox/local.js')
    const { localSandboxDir } = await import('./envs.js')
    const { config } = loadConfig([])
    return mlgymCommand(args, {
      imports: () => loadRegistry(config).imports,
      dataDir: config.dataDir,
      makeLocal: o => LocalSandbox.create({ ...o, baseDir: localSandboxDir(config) })
    })
  },
  tasks: async args => {
    const { tasksCommand } = await import('../tasks/tasks-command.js')
    const { loadRegistry } = await import('./server.js')
    const { loadConfig, importsFile } = await import('./config.js')
    const { config } = loadConfig([])
    return tasksCommand(args, { loadRegistry: () => loadRegistry(config), importsFile: importsFile(config) })
  }
}

async function main (argv: string[]): Promise<number> {
  const [cmd, ...args] = argv
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') { console.log(HELP); return cmd ? 0 : 1 }
  const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined
  if (!command) throw new Error(`unknown command ${cmd}; see synthgym --help`)
  return command(args)
}

main(process.argv.slice(2)).then(code => { if (code >= 0) process.exit(code) }, e => {
  console.error(`synthgym: ${(e as Error).message}`)
  process.exit(1)
})
