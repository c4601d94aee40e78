// Bundles the dashboard (server/ui/app: preact + htm) into dist/ui with esbuild: index.html, assets/app.js and
// assets/app.css, nothing fetched at run time. `npm run build` runs it after tsc; tests call buildUi() themselves.
//   node server/ui/build.mjs [OUT_DIR]
import { build } from 'esbuild'
import { copyFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')

export async function buildUi (outDir = join(root, 'dist', 'ui')) {
  mkdirSync(join(outDir, 'assets'), { recursive: true })
  await build({
    entryPoints: { app: join(here, 'app', 'main.ts'), style: join(here, 'app', 'style.css') },
    outdir: join(outDir, 'assets'),
    entryNames: '[name]',
    bundle: true,
    minify: true,
    sourcemap: true,
    format: 'esm',
    target: ['es2022'],
    logLevel: 'warning'
  })
  copyFileSync(join(here, 'app', 'index.html'), join(outDir, 'index.html'))
  return outDir
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await buildUi(process.argv[2])
  console.error(`dashboard bundled into ${out}`)
}
