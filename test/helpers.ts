// Shared test setup: throwaway temp dirs, a real server on loopback with its own data dir, and what this machine has
// installed (so that a test asserts the behaviour of the path in use: bubblewrap or its fallback, flake8 or not).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { startServer, RunningServer } from '../server/server.js'
import type { ServerConfig } from '../server/config.js'

/** A new directory under the temp dir, removed when `t` ends, passed or failed. */
export function tempDir (t: Pick<Test, 'teardown'>, prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

/** A server on loopback with a throwaway data dir; closing the server removes the data dir. */
export async function testServer (over: Partial<ServerConfig> = {}, opts: Parameters<typeof startServer>[1] = {}): Promise<RunningServer & { dataDir: string }> {
  // loaded here, not at the top: a file that only needs tempDir does not load the server (nor sandbox/local.js
  // before it has set SYNTHGYM_ISOLATION)
  const { DEFAULTS } = await import('../server/config.js')
  const { startServer } = await import('../server/server.js')
  // a data dir the caller names is the caller's to remove (a restart on the same dir)
  const dataDir = over.dataDir ?? mkdtempSync(join(tmpdir(), 'sg-test-'))
  const remove = () => { if (!over.dataDir) rmSync(dataDir, { recursive: true, force: true }) }
  let s: RunningServer
  try {
    s = await startServer({ ...DEFAULTS, port: 0, dataDir, ...over }, opts)
  } catch (e) { remove(); throw e }
  return { ...s, dataDir, close: async () => { try { await s.close() } finally { remove() } } }
}

/** Whether `cmd` is on PATH, asked the way a shell finds it (not through the code under test). */
export function onPath (cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

/** The local sandbox's isolation here, as documented: bubblewrap where it is installed, else `unshare`, unless
 * SYNTHGYM_ISOLATION forces one. */
export function isolationHere (): 'bwrap' | 'unshare' {
  const forced = process.env.SYNTHGYM_ISOLATION
  if (forced === 'bwrap' || forced === 'unshare') return forced
  return onPath('bwrap') ? 'bwrap' : 'unshare'
}

export async function http (url: string, method: string, path: string, body?: unknown, raw?: string): Promise<{ status: number, body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {},
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body))
  })
  return { status: res.status, body: await res.json() }
}
