// The floor of any server between an agent and its shell, on this machine: a WebSocket relay to a bare persistent
// bash (mix.ts's RawShell: MLGym's tools sourced), with nothing else: no validation, store, sandbox or protocol. The
// realistic mix times it beside the server, so that its overhead reads against what two more process hops cost here
// at least. Run by bench/mix.ts: `node dist/bench/floor.js <cwd>`; prints {"port": N} once it listens; ends with stdin.
import { WebSocketServer } from 'ws'
import { RawShell } from './mix.js'

const bash = new RawShell(process.argv[2]!)
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
  process.stdout.write(JSON.stringify({ port: (wss.address() as { port: number }).port }) + '\n')
})
wss.on('connection', socket => socket.on('message', (m: Buffer) => {
  const { id, action } = JSON.parse(m.toString()) as { id: number, action: string }
  void bash.run(action).then(observation => socket.send(JSON.stringify({ id, observation })))
}))
process.stdin.on('end', () => { bash.close(); process.exit(0) })
process.stdin.resume()
