// `synthgym serve` and `synthgym demo`: both start a server (demo only without --url).
import { loadConfig, serveHelp } from './config.js'
import { startServer } from './server.js'
import { configPath } from '../tasks/tasks-command.js'
import { runDemo } from '../clients/demo.js'
import { textLogStream } from './log.js'

/** Remove every `flag value` pair from args (loadConfig rejects flags it does not know); return the values. */
function take (args: string[], flag: string): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) { out.push(args[i + 1]!); args.splice(i, 2); i-- }
  }
  return out
}

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h')

const DEMO_HELP = `usage: synthgym demo [--url URL] [--task ID] [server flags]
a scripted agent on a built-in task, printing every step and the score against the baseline;
without --url it starts a server of its own on a free port (server flags: synthgym serve --help)`

/** `synthgym serve ...`: returns -1, the process lives on until SIGINT or SIGTERM. */
export async function serveCommand (args: string[]): Promise<number> {
  if (wantsHelp(args)) { console.log(serveHelp()); return 0 }
  const taskDirs = take(args, '--tasks-dir')
  const mlgym = take(args, '--mlgym')
  const { config, rest } = loadConfig(args)
  if (rest.length) throw new Error(`unknown argument ${rest[0]}; see synthgym --help`)
  // a person at a terminal reads text; a log collector gets pino's JSON lines
  const logger = process.stdout.isTTY ? { stream: textLogStream(process.stdout) } : true
  const s = await startServer(config, { logger, taskDirs, mlgym })
  for (const r of s.imports) {
    for (const e of r.errors) console.error(`mlgym import: ${configPath(r.checkout, e.file)}: ${e.reason}`)
  }
  for (const w of s.warnings) console.error(w)
  const n = s.manager.tasks.list().length
  console.log(`synthgym serving ${n} tasks on ${s.url} (data in ${config.dataDir})\n` +
    `  API        ${s.url}/v1  (health: ${s.url}/v1/health)\n` +
    `  WebSocket  ${s.url.replace(/^http/, 'ws')}/v1/ws\n` +
    `  dashboard  ${s.url}/ui`)
  const stop = async (signal: NodeJS.Signals) => {
    console.error(`${signal}: refusing new requests, waiting up to ${config.drainTimeout} s for running steps, then stopping (a second ${signal} stops at once)`)
    process.once(signal, () => process.exit(1))
    await s.close()
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return -1
}

/** `synthgym demo ...`: against --url, or a server of its own on a free port. */
export async function demoCommand (args: string[]): Promise<number> {
  if (wantsHelp(args)) { console.log(DEMO_HELP); return 0 }
  const url = take(args, '--url')[0]
  const task = take(args, '--task')[0]
  if (url) { await runDemo({ url, task }); return 0 }
  const { config } = loadConfig(['--port', '0', ...args])
  const s = await startServer(config)
  try { await runDemo({ url: s.url, task }) } finally { await s.close() }
  return 0
}
