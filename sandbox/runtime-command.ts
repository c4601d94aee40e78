// `synthgym runtime build|show <name>`: argv and output for ./runtime.ts.
import { RUNTIME_NAMES, buildRuntime, builtRuntime, runtimeRecipe, sourceArgs, type RuntimeName } from './runtime.js'

export const RUNTIME_HELP = `usage:
  synthgym runtime build <${RUNTIME_NAMES.join('|')}> [--force] [--docker]
        make the runtime's venv (local backend) from its requirements list and the package index the host's pip is
        configured with; cached by a hash of its inputs under SYNTHGYM_RUNTIME_DIR (~/.cache/synthgym/runtimes).
        --docker: also the image profile synthgym/sandbox:<name>-<hash> FROM synthgym/sandbox:latest with the same
        packages (wheels downloaded by the host's pip, installed in a container with network none)
  synthgym runtime show <name> [--json]   its requirements, hash, sources, and whether it is built (what is missing)`

export async function runtimeCommand (args: string[]): Promise<number> {
  const [sub, name, ...rest] = args
  if ((sub !== 'build' && sub !== 'show') || !name) { console.error(RUNTIME_HELP); return sub === '--help' ? 0 : 1 }
  if (!(RUNTIME_NAMES as readonly string[]).includes(name)) { console.error(`no runtime ${name}; the runtimes are ${RUNTIME_NAMES.join(', ')}`); return 1 }
  const n = name as RuntimeName
  if (sub === 'show') {
    const recipe = runtimeRecipe(n)
    const manifest = builtRuntime(recipe)
    if (rest.includes('--json')) { console.log(JSON.stringify({ ...recipe, built: manifest }, null, 2)); return 0 }
    console.log([
      `runtime:  ${n}-${recipe.hash}`,
      `dir:      ${recipe.dir}`,
      `built:    ${manifest ? `yes (${manifest.builtAt})` : 'no: synthgym runtime build ' + n}`,
      `python:   ${recipe.python} ${recipe.pythonVersion}`,
      `sources:  ${sourceArgs(recipe.sources).join(' ')}`,
      `requires: ${recipe.requirements.join(' ')}`,
      ...(manifest?.missing.length ? [`missing:  ${manifest.missing.map(m => `${m.requirement} (${m.reason})`).join('; ')}`] : [])
    ].join('\n'))
    return 0
  }
  const r = await buildRuntime(n, { force: rest.includes('--force'), onProgress: l => console.log(l) })
  console.log(`${r.cached ? 'cached' : 'built'}: ${n}-${r.recipe.hash} (${r.recipe.dir})`)
  if (rest.includes('--docker') && n !== 'base') {
    const { buildRuntimeImage } = await import('./runtime-image.js')
    const img = await buildRuntimeImage(n, { force: rest.includes('--force'), onProgress: l => console.log(l) })
    console.log(`${img.cached ? 'cached' : 'built'}: ${img.tag}`)
  }
  return 0
}
