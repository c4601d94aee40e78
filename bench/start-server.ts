// The server under test: in a child process (bench/server.ts), as a real deployment, or in this process.
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ServerConfig } from '../server/config.js'
import type { Progress } from './report.js'
import { withTimeout } from './timing.js'

export interface Server { url: string, stop: () => Promise<void>, child: ChildProcess | null }

export async function startBenchServer (config: ServerConfig, inProcess: boolean, progress: Progress): Promise<Server> {
  if (inProcess) {
    const { startServer } = await import('../server/server.js')
    const s = await startServer(config, { logger: false })
    return { url: s.url, stop: () => s.close(), child: null }
  }
  const script = fileURLToPath(new URL('./server.js', import.meta.url))
  const child = spawn(process.execPath, [script, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  const url = await withTimeout(new Promise<string>((resolve, reject) => {
    // its log lines (JSON with a level) go on to be read and dropped, as a deployment's log collector would take them
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', l => {
      let line: { url?: string, level?: number }
      try { line = JSON.parse(l) as typeof line } catch { reject(new Error(`bench server said: ${l}`)); return }
      if (line.level === undefined && typeof line.url === 'string') resolve(line.url)
    })
    void exited.then(code => reject(new Error(`the bench server exited with code ${code} before it listened`)))
  }), 30_000, 'starting the bench server')
  // closing its stdin is the child's signal to shut down cleanly
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.stdin!.end()
    const late = new Promise<'late'>(resolve => setTimeout(() => resolve('late'), 30_000).unref())
    if (await Promise.race([exited, late]) === 'late') {
      progress('the bench server did not stop within 30 s; killing it')
      child.kill('SIGKILL')
      await exited
    }
  }
  return { url, stop, child }
}
