// The dashboard's static files at /ui: the bundle `npm run build` writes to dist/ui (server/ui/build.mjs). Every
// other path under /ui is the page itself (index.html), so deep links (/ui/episodes/<id>) work on reload; the page
// reads only the public API. No CDN: everything it needs is in the bundle.
import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { extname, join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { repoRoot } from '../../tasks/registry.js'
import { NotFoundError } from '../errors.js'

/** Where `npm run build` puts the dashboard. */
export function uiDir (): string { return join(repoRoot(), 'dist', 'ui') }

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png'
}

/** Paths under /ui the page is served for (everything but assets and the API). */
export function isUiUrl (url: string): boolean { return url === '/ui' || url.startsWith('/ui/') || url.startsWith('/ui?') }

export async function registerUi (app: FastifyInstance, dir = uiDir()): Promise<void> {
  const notBuilt = () => new NotFoundError(`the dashboard is not built (no ${join(dir, 'index.html')}); run npm run build`)
  const send = async (reply: FastifyReply, file: string, cache: string) => {
    let body: Buffer
    try { body = await readFile(file) } catch { throw existsSync(join(dir, 'index.html')) ? new NotFoundError(`no dashboard file ${file.slice(dir.length + 1)}`) : notBuilt() }
    return reply.type(TYPES[extname(file)] ?? 'application/octet-stream').header('cache-control', cache).send(body)
  }
  app.get('/', async (_req, reply) => reply.redirect('/ui/'))
  app.get('/ui', async (_req, reply) => reply.redirect('/ui/'))
  // the bundle's names are fixed (app.js, app.css): revalidate rather than cache, so a rebuilt server is seen at once
  app.get<{ Params: { name: string } }>('/ui/assets/:name', async (req, reply) => {
    const name = req.params.name
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new NotFoundError(`no dashboard file ${name}`)
    return send(reply, join(dir, 'assets', name), 'no-cache')
  })
  app.get('/ui/*', async (_req, reply) => send(reply, join(dir, 'index.html'), 'no-cache'))
}
