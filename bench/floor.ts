// The floor of any server between an agent and its shell, on this machine: a WebSocket relay to a bare persistent
// bash (MLGym's tools sourced), with nothing else: no validation, store, sandbox or protocol. The realistic mix times
// it beside the server, so that its overhead reads against what two more process hops cost here at least.
// Run by bench/mix.ts: `node dist/bench/floor.js <cwd> <PATH>`; prints {"port": N} once it listens; ends with stdin.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { WebSocketServer } from 'ws'
import { toolsDir, toolsInitScript } from '../sandbox/tools.js'
import { guardMultilineInput } from '../tasks/environment.js'

const [cwd, PATH] = process.argv.slice(2)
const marker = `__FLOOR_${randomBytes(6).toString('hex')}__\n`
const bash = spawn('bash', ['--noprofile', '--norc', '-s'], { cwd, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, PATH } })
bash.stdin.write('exec 2>&1\n' + toolsInitScript('mlgym', toolsDir()))
let buf = ''
let waiting: ((out: string) => void) | null = null
bash.stdout.setEncoding('utf8')
bash.stdout.on('data', (d: string) => {
  buf += d
  const at = buf.indexOf(marker)
  if (!waiting || at < 0) return
  const out = buf.slice(0, at)
  buf = ''
  const w = waiting
  waiting = null
  w(out)
})

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
  process.stdout.write(JSON.stringify({ port: (wss.address() as { port: number }).port }) + '\n')
})
wss.on('connection', socket => socket.on('message', (m: Buffer) => {
  const { id, action } = JSON.parse(m.toString()) as { id: number, action: string }
  waiting = observation => socket.send(JSON.stringify({ id, observation }))
  bash.stdin.write(`${guardMultilineInput(action)}\necho ${marker}`)
}))
process.stdin.on('end', () => { bash.kill(); process.exit(0) })
process.stdin.resume()
