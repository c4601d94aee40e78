// The floor of any server between an agent and its shell, on this machine: a relay with nothing else (no
// validation, environment, store or metrics), over WebSocket and over HTTP (POST /v1/envs/ID/step, answered
// `{observation}`, so our own client's `step` calls it as it calls the server), to
// - `raw`: a bare persistent bash (mix.ts's RawShell: MLGym's tools sourced), or
// - `sandbox`: our sandbox's shell as the task's environment makes it (mounts, limits, MLGym's tools), each action
//   run as the environment runs it (its timeouts, exports and state trailer).
// The realistic mix times both beside the server: the first reads what two more process hops cost here at least, the
// second what any server built on our sandbox costs at least; the server's own layers are the rest.
// Run by bench/mix.ts: `node dist/bench/floor.js <cwd> raw|sandbox <builtin task>`; prints {"port": N} once it
// listens (WebSocket and HTTP on the one port); ends with stdin.
import { createServer } from 'node:http'
import { join } from 'node:path'
import { WebSocketServer } from 'ws'
import { LocalSandbox } from '../sandbox/local.js'
import { actionExec, envSandboxOptions } from '../tasks/environment.js'
import { loadTaskDir, BUILTIN_DIR } from '../tasks/registry.js'
import { sandboxSettings } from '../tasks/settings.js'
import { RawShell } from './mix.js'

async function relayTo (cwd: string, mode: string, taskId: string):
Promise<{ run: (action: string) => Promise<string>, close: () => Promise<void> }> {
  if (mode === 'raw') {
    const bash = new RawShell(cwd)
    return { run: a => bash.run(a), close: async () => { bash.close() } }
  }
  // the task's sandbox as its environment makes it, without its starter files
  let task
  try { task = loadTaskDir(join(BUILTIN_DIR, taskId)) } catch (e) {
    throw new Error(`the sandboxed floor makes a built-in task's sandbox; ${taskId}: ${(e as Error).message}`)
  }
  const settings = sandboxSettings(task)
  const sb = await LocalSandbox.create({ ...envSandboxOptions(task, settings), baseDir: join(cwd, 'sandboxes') })
  return {
    run: async a => {
      const { command, opts } = actionExec(a, settings.timeouts)
      return (await sb.exec(command, opts)).output
    },
    close: () => sb.close()
  }
}

const [cwd, mode, taskId] = process.argv.slice(2) as [string, string, string]
const relay = await relayTo(cwd, mode, taskId)
// HTTP: any POST's body is `{action}` (a step's), answered `{observation}`; nothing is checked
const http = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const { action } = JSON.parse(Buffer.concat(chunks).toString()) as { action: string }
    void relay.run(action).then(observation => {
      const body = JSON.stringify({ observation })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
    })
  })
})
const wss = new WebSocketServer({ server: http })
http.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (http.address() as { port: number }).port }) + '\n')
})
wss.on('connection', socket => socket.on('message', (m: Buffer) => {
  const { id, action } = JSON.parse(m.toString()) as { id: number, action: string }
  void relay.run(action).then(observation => socket.send(JSON.stringify({ id, observation })))
}))
process.stdin.on('end', () => { void relay.close().finally(() => process.exit(0)) })
process.stdin.resume()
