// The server under benchmark, in its own process so that the benchmark's client work does not share its event loop.
// Started by bench/run.ts: `node dist/bench/server.js '<ServerConfig JSON>'`. Logs as `synthgym serve` does off a
// terminal (pino's JSON lines on stdout, info and up) and prints one JSON line ({"url": ..., "pid": ...}, no
// "level") once it listens; shuts down cleanly when its stdin closes or on SIGTERM/SIGINT.
import { startServer } from '../server/server.js'
import type { ServerConfig } from '../server/config.js'

async function main (): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as ServerConfig
  const server = await startServer(config, { logger: true })
  let stopping = false
  const stop = async (): Promise<void> => {
    if (stopping) return
    stopping = true
    try { await server.close() } finally { process.exit(0) }
  }
  process.stdin.on('end', () => { void stop() })
  process.stdin.resume()
  process.once('SIGTERM', () => { void stop() })
  process.once('SIGINT', () => { void stop() })
  process.stdout.write(JSON.stringify({ url: server.url, pid: process.pid }) + '\n')
}

main().catch(e => {
  process.stderr.write(`bench server: ${(e as Error).stack ?? String(e)}\n`)
  process.exit(1)
})
