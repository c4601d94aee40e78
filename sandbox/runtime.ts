// Named Python runtimes for sandboxes: `base` (the host's python on the local backend, the default image on docker)
// and `mlgym` (sandbox/runtimes/mlgym.txt). Each comes from ONE requirements list; the local backend gets it as a
// managed venv, built once by `synthgym runtime build <name>` and keyed by a hash of its inputs (the list, the
// python, the package sources and whether CUDA builds are wanted). What the package index lacks is recorded by
// name in the venv's runtime.json, never silently dropped.
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { packageRoot } from './paths.js'
import { RUNTIME_NAMES, type RuntimeName } from '../env-spec/task.js'
import type { Mount } from './types.js'

export { RUNTIME_NAMES, type RuntimeName }

/** Bump when the build procedure changes what a venv holds. */
const RUNTIME_FORMAT = 2
const PYPI = 'https://pypi.org/simple'

/** Where pip looks for packages; named explicitly on every pip command so nothing else is consulted. */
export interface PackageSources { indexUrl: string, extraIndexUrls: string[], findLinks: string[] }

export interface RuntimeRecipe {
  name: RuntimeName
  /** the requirements as pip gets them (extras for CUDA dropped without a GPU) */
  requirements: string[]
  sources: PackageSources
  /** the python the venv is made from, and its version (major.minor.micro) */
  python: string
  pythonVersion: string
  cuda: boolean
  /** 12 hex digits over all of the above */
  hash: string
  /** the venv's directory: <runtimes dir>/<name>-<hash> */
  dir: string
}

/** runtime.json: what a finished build holds. Written last, so its presence means the venv is complete. */
export interface RuntimeManifest {
  name: RuntimeName
  hash: string
  python: string
  sources: PackageSources
  /** requirement → installed version */
  installed: Record<string, string>
  /** requirements the sources do not have, with pip's reason */
  missing: { requirement: string, reason: string }[]
  seconds: number
  builtAt: string
}

export class RuntimeError extends Error {}

/** One requirement per line; comments and blank lines dropped. */
export function parseRequirements (text: string): string[] {
  return text.split('\n').map(l => l.replace(/#.*/, '').trim()).filter(Boolean)
}

/** The project name of a requirement (`transformers[torch]>=4` → transformers), normalised as PEP 503 does. */
export function requirementName (req: string): string {
  return (/^[A-Za-z0-9._-]+/.exec(req)?.[0] ?? req).toLowerCase().replace(/[-_.]+/g, '-')
}

export function runtimeRequirements (name: RuntimeName): string[] {
  if (name === 'base') return []
  return parseRequirements(readFileSync(join(packageRoot(), 'sandbox', 'runtimes', `${name}.txt`), 'utf8'))
}

/** Where built runtimes live: SYNTHGYM_RUNTIME_DIR, else ~/.cache/synthgym/runtimes. */
export function runtimesDir (env: NodeJS.ProcessEnv = process.env): string {
  return env.SYNTHGYM_RUNTIME_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'synthgym', 'runtimes')
}

function pythonOf (env: NodeJS.ProcessEnv): { python: string, version: string } {
  const py = spawnSync(env.SYNTHGYM_PYTHON ?? 'python3', ['-c', 'import sys; print(sys.executable); print("%d.%d.%d" % sys.version_info[:3])'], { encoding: 'utf8' })
  if (py.status !== 0) throw new RuntimeError(`no python3 on this machine (${(py.stderr || py.error?.message || '').trim()}): install Python 3.10+ or set SYNTHGYM_PYTHON`)
  const [python, version] = py.stdout.trim().split('\n') as [string, string]
  return { python, version }
}

/**
 * The package sources the host's pip is configured with: SYNTHGYM_PIP_INDEX_URL, else pip's index-url, else -- where
 * pip names only local `file://` extra indexes (an offline mirror) -- the first of those, else PyPI.
 */
export function packageSources (python: string, env: NodeJS.ProcessEnv = process.env): PackageSources {
  const r = spawnSync(python, ['-m', 'pip', 'config', 'list'], { encoding: 'utf8' })
  const conf = new Map<string, string>()
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^[^.]*\.([a-z-]+)='(.*)'$/.exec(line.trim())
    if (m) conf.set(m[1]!, m[2]!)
  }
  const words = (s: string | undefined) => (s ?? '').split(/\s+/).filter(Boolean)
  let extra = words(conf.get('extra-index-url'))
  let index = env.SYNTHGYM_PIP_INDEX_URL || conf.get('index-url')
  if (!index && extra.length && extra.every(u => u.startsWith('file:'))) { index = extra[0]!; extra = extra.slice(1) }
  return { indexUrl: index ?? PYPI, extraIndexUrls: extra, findLinks: words(conf.get('find-links')) }
}

export const sourceArgs = (s: PackageSources): string[] =>
  ['--index-url', s.indexUrl, ...s.extraIndexUrls.flatMap(u => ['--extra-index-url', u]), ...s.findLinks.flatMap(f => ['--find-links', f])]

export function hasGpu (): boolean {
  return spawnSync('nvidia-smi', ['-L'], { stdio: 'ignore' }).status === 0
}

/** The recipe of a runtime on this machine: pure but for asking python and pip who they are. */
export function runtimeRecipe (name: RuntimeName, env: NodeJS.ProcessEnv = process.env, cuda = hasGpu()): RuntimeRecipe {
  if (!RUNTIME_NAMES.includes(name)) throw new RuntimeError(`no runtime ${JSON.stringify(name)}; the runtimes are ${RUNTIME_NAMES.join(', ')}`)
  const { python, version } = pythonOf(env)
  const sources = packageSources(python, env)
  // CUDA extras only where a GPU is: the CPU builds come from the same index otherwise
  const requirements = runtimeRequirements(name).map(r => cuda ? r : r.replace(/\[cuda\d*\]/, ''))
  const h = createHash('sha256')
  h.update(JSON.stringify({ format: RUNTIME_FORMAT, name, requirements, sources, version, cuda }))
  const hash = h.digest('hex').slice(0, 12)
  return { name, requirements, sources, python, pythonVersion: version, cuda, hash, dir: join(runtimesDir(env), `${name}-${hash}`) }
}

/** A runtime's compatibility module (sandbox/runtimes/<name>_compat.py), installed beside its packages. */
export function compatFile (name: RuntimeName): string | null {
  const f = join(packageRoot(), 'sandbox', 'runtimes', `${name}_compat.py`)
  return existsSync(f) ? f : null
}

/** Copies the runtime's compatibility module into the venv, loaded at start by a .pth file (refreshed by every build). */
function installCompat (name: RuntimeName, py: string, progress: (l: string) => void): void {
  const compat = compatFile(name)
  if (!compat) return
  const site = spawnSync(py, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).stdout.trim()
  copyFileSync(compat, join(site, `synthgym_${name}_compat.py`))
  writeFileSync(join(site, `synthgym_${name}_compat.pth`), `import synthgym_${name}_compat\n`)
  progress(`installed ${compat} (loaded at start by synthgym_${name}_compat.pth)`)
}

/** The manifest of a built runtime, or null when it is not built (base is always there: the host's python). */
export function builtRuntime (recipe: RuntimeRecipe): RuntimeManifest | null {
  const file = join(recipe.dir, 'runtime.json')
  if (!existsSync(file)) return null
  return JSON.parse(readFileSync(file, 'utf8')) as RuntimeManifest
}

/** The venv's python, bin dir and the sandbox environment that selects it. */
export function runtimeEnv (recipe: RuntimeRecipe): Record<string, string> {
  return { VIRTUAL_ENV: join(recipe.dir, 'venv'), SYNTHGYM_RUNTIME: `${recipe.name}-${recipe.hash}` }
}
export const runtimeBin = (recipe: RuntimeRecipe) => join(recipe.dir, 'venv', 'bin')
export const runtimePython = (recipe: RuntimeRecipe) => join(runtimeBin(recipe), 'python')

function run (cmd: string, args: string[], onLine: (l: string) => void): Promise<{ code: number | null, tail: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } })
    const tail: string[] = []
    let partial = ''
    const data = (b: Buffer) => {
      const lines = (partial + b.toString('utf8')).split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) { tail.push(l); if (tail.length > 40) tail.shift(); onLine(l) }
    }
    child.stdout.on('data', data)
    child.stderr.on('data', data)
    child.on('error', reject)
    child.on('close', code => { if (partial) tail.push(partial); resolve({ code, tail: tail.join('\n') }) })
  })
}

/** Which requirements the sources have no release of (asked one name at a time, as `pip index versions` does). */
export async function missingRequirements (recipe: RuntimeRecipe, python: string): Promise<RuntimeManifest['missing']> {
  const checks = recipe.requirements.map(async req => {
    const r = await run(python, ['-m', 'pip', 'index', 'versions', ...sourceArgs(recipe.sources), requirementName(req)], () => {})
    if (r.code === 0) return null
    const line = r.tail.split('\n').find(l => l.startsWith('ERROR:')) ?? r.tail.split('\n').pop() ?? ''
    return { requirement: req, reason: line.replace(/^ERROR:\s*/, '') }
  })
  return (await Promise.all(checks)).filter((x): x is { requirement: string, reason: string } => x !== null)
}

/** Import names of requirements whose module is not their project name. */
const MODULES: Record<string, string> = { 'scikit-learn': 'sklearn', pillow: 'PIL', 'tensorflow-probability': 'tensorflow_probability' }

/** Requirements whose module fails to import in the venv, with the last line of the error. */
async function brokenImports (py: string, reqs: string[]): Promise<RuntimeManifest['missing']> {
  const out: RuntimeManifest['missing'] = []
  for (const req of reqs) {
    const name = requirementName(req)
    const mod = MODULES[name] ?? name.replace(/-/g, '_')
    const r = await run(py, ['-c', `import ${mod}`], () => {})
    if (r.code !== 0) out.push({ requirement: req, reason: r.tail.trim().split('\n').pop() ?? `import ${mod} failed` })
  }
  return out
}

export interface BuildRuntimeOptions { force?: boolean, onProgress?: (line: string) => void, env?: NodeJS.ProcessEnv }
export interface BuildRuntimeResult { recipe: RuntimeRecipe, manifest: RuntimeManifest | null, cached: boolean }

/**
 * Builds the runtime's venv unless runtime.json of its hash exists (then cached). Requirements the sources lack are
 * left out and named in runtime.json; a pip failure otherwise fails the build (and leaves no runtime.json).
 */
export async function buildRuntime (name: RuntimeName, opts: BuildRuntimeOptions = {}): Promise<BuildRuntimeResult> {
  const progress = opts.onProgress ?? (() => {})
  const recipe = runtimeRecipe(name, opts.env)
  if (name === 'base') {
    progress('base is the host\'s own python on the local backend (the default image on docker): nothing to build')
    return { recipe, manifest: null, cached: true }
  }
  const have = builtRuntime(recipe)
  if (have && !opts.force) {
    // our own module, not the index's: always the current one
    installCompat(name, join(recipe.dir, 'venv', 'bin', 'python'), progress)
    progress(`${name}-${recipe.hash} is built at ${recipe.dir}: cached (--force rebuilds)`)
    return { recipe, manifest: have, cached: true }
  }
  const started = Date.now()
  rmSync(recipe.dir, { recursive: true, force: true })
  mkdirSync(recipe.dir, { recursive: true })
  const venv = join(recipe.dir, 'venv')
  progress(`building ${name}-${recipe.hash} in ${recipe.dir} from python ${recipe.pythonVersion} (${recipe.python})`)
  progress(`package sources: ${sourceArgs(recipe.sources).join(' ')}`)
  const mk = await run(recipe.python, ['-m', 'venv', venv], progress)
  if (mk.code !== 0) throw new RuntimeError(`python -m venv failed:\n${mk.tail}`)
  const py = join(venv, 'bin', 'python')
  const missing = await missingRequirements(recipe, py)
  for (const m of missing) progress(`not in the package sources: ${m.requirement} (${m.reason})`)
  const wanted = recipe.requirements.filter(r => !missing.some(m => m.requirement === r))
  progress(`pip install ${wanted.join(' ')}`)
  const pip = await run(py, ['-m', 'pip', 'install', '--no-input', '--progress-bar', 'off', ...sourceArgs(recipe.sources), ...wanted],
    l => { if (/^(Successfully|ERROR|Installing)/.test(l)) progress(l) })
  if (pip.code !== 0) throw new RuntimeError(`pip install failed for the ${name} runtime:\n${pip.tail}`)
  // a package the index has may still not work with what else it gave (a torchvision built against CUDA torch
  // beside a CPU torch fails to load its operators, and breaks transformers, which imports it when present)
  const broken = await brokenImports(py, wanted)
  for (const b of broken) {
    progress(`installed but does not import: ${b.requirement} (${b.reason}): uninstalled`)
    await run(py, ['-m', 'pip', 'uninstall', '-y', requirementName(b.requirement)], () => {})
  }
  missing.push(...broken)
  wanted.splice(0, wanted.length, ...wanted.filter(r => !broken.some(b => b.requirement === r)))
  installCompat(name, py, progress)
  const freeze = spawnSync(py, ['-m', 'pip', 'list', '--format', 'json'], { encoding: 'utf8' })
  const versions = new Map((JSON.parse(freeze.stdout || '[]') as { name: string, version: string }[]).map(p => [requirementName(p.name), p.version]))
  const installed = Object.fromEntries(wanted.map(r => [r, versions.get(requirementName(r)) ?? '?']))
  const manifest: RuntimeManifest = {
    name, hash: recipe.hash, python: recipe.python, sources: recipe.sources, installed, missing,
    seconds: Math.round((Date.now() - started) / 100) / 10, builtAt: new Date().toISOString()
  }
  writeFileSync(join(recipe.dir, 'runtime.json.tmp'), JSON.stringify(manifest, null, 2))
  renameSync(join(recipe.dir, 'runtime.json.tmp'), join(recipe.dir, 'runtime.json'))
  progress(`built ${name}-${recipe.hash} in ${manifest.seconds} s; ${missing.length ? `missing: ${missing.map(m => m.requirement).join(', ')}` : 'nothing missing'}`)
  return { recipe, manifest, cached: false }
}

const recipes = new Map<RuntimeName, RuntimeRecipe>()
/** The recipe, asked of python and pip once per process. */
export function cachedRecipe (name: RuntimeName): RuntimeRecipe {
  let r = recipes.get(name)
  if (!r) { r = runtimeRecipe(name); recipes.set(name, r) }
  return r
}

/**
 * What a local sandbox needs to run in a runtime: its venv read-only at the same path (its scripts name it) and
 * first on PATH. Base needs nothing. A runtime that is not built is an error that says how to build it.
 */
export function localRuntime (name: RuntimeName | undefined, path: string): { mounts: Mount[], env: Record<string, string> } {
  if (!name || name === 'base') return { mounts: [], env: {} }
  const recipe = cachedRecipe(name)
  if (!builtRuntime(recipe)) {
    throw new RuntimeError(`the ${name} runtime is not built on this machine (looked for ${recipe.dir}/runtime.json): run \`synthgym runtime build ${name}\` once`)
  }
  return {
    mounts: [{ hostPath: recipe.dir, path: recipe.dir, readOnly: true }],
    env: { ...runtimeEnv(recipe), PATH: `${runtimeBin(recipe)}:${path}` }
  }
}
