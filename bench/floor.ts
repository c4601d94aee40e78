// The floor of any server between an agent and its shell, on this machine: a WebSocket relay with nothing else (no
// validation, environment, store or metrics) to
// - `raw`: a bare persistent bash (mix.ts's RawShell: MLGym's tools sourced), or
// - `sandbox`: our sandbox's shell, each action run as the environment runs it (its exports and state trailer).
// The realistic mix times both beside the server: the first reads what two more process hops cost here at least, the
// second what any server built on our sandbox costs at least; the server's own layers are the rest.
// Run by bench/mix.ts: `node dist/bench/floor.js <cwd> raw|sandbox`; prints {"port": N} once it listens; ends with
// stdin.
import { join } from 'node:path'
import { WebSocketServer } from 'ws'
import { LocalSandbox } from '../sandbox/local.js'
import { SANDBOX_DEFAULTS } from '../sandbox/policy.js'
import { toolsDir, toolsInitScript } from '../sandbox/tools.js'
import { COMMANDS_DIR } from '../sandbox/types.js'
import { STATE_QUERY, guardMultilineInput } from '../tasks/environment.js'
import { TASK_DEFAULTS } from '../tasks/settings.js'
import { RawShell } from './mix.js'

async function relayTo (cwd: string, mode: string): Promise<{ run: (action: string) => Promise<string>, close: () => Promise<void> }> {
  if (mode === 'raw') {
    const bash = new RawShell(cwd)
    return { run: a => bash.run(a), close: async () => { bash.close() } }
  }
  const sb = await LocalSandbox.create({
    baseDir: join(cwd, 'sandboxes'),
    limits: { pids: SANDBOX_DEFAULTS.pids },
    mounts: [{ hostPath: toolsDir(), path: COMMANDS_DIR, readOnly: true }],
    init: toolsInitScript('mlgym', COMMANDS_DIR)
  })
  return {
    run: async a => (await sb.exec(guardMultilineInput(a), {
      timeout: TASK_DEFAULTS.shortTimeout, noOutputTimeout: TASK_DEFAULTS.shortTimeout, exports: { LAST_ACTION: a }, trailer: STATE_QUERY
    })).output,
    close: () => sb.close()
  }
}

const relay = await relayTo(process.argv[2]!, process.argv[3] ?? 'raw')
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
  process.stdout.write(JSON.stringify({ port: (wss.address() as { port: number }).port }) + '\n')
})
wss.on('connection', socket => socket.on('message', (m: Buffer) => {
  const { id, action } = JSON.parse(m.toString()) as { id: number, action: string }
  void relay.run(action).then(observation => socket.send(JSON.stringify({ id, observation })))
}))
process.stdin.on('end', () => { void relay.close().finally(() => process.exit(0)) })
process.stdin.resume()
