// Shared test setup: a real server on loopback with a throwaway data dir.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULTS } from '../server/config.js'
import { startServer, type RunningServer } from '../server/server.js'
import type { ServerConfig } from '../server/config.js'

export async function testServer (over: Partial<ServerConfig> = {}, opts: Parameters<typeof startServer>[1] = {}): Promise<RunningServer & { dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sg-test-'))
  const s = await startServer({ ...DEFAULTS, port: 0, dataDir, ...over }, opts)
  return { ...s, dataDir }
}

export async function http (url: string, method: string, path: string, body?: unknown, raw?: string): Promise<{ status: number, body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {},
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body))
  })
  return { status: res.status, body: await res.json() }
}
