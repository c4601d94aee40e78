// The docker side of a runtime: an image profile synthgym/sandbox:<name>-<hash> built FROM the default image with
// the same requirements the local venv got (sandbox/runtime.ts). pip in the container cannot reach the host's
// package index (file:// paths, a mirror on loopback, or no network at all: the build runs with network none), so
// the host's pip downloads the wheels from the index it is configured with, and the container installs them from a
// read-only bind with --no-index. Cached by tag: the hash covers the runtime's recipe and the base image's id.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type Docker from 'dockerode'
import { DEFAULT_IMAGE, IMAGE_REPO, checkDocker, dockerClient } from './image.js'
import { buildRuntime, cachedRecipe, compatFile, requirementName, runtimesDir, sourceArgs, type RuntimeName } from './runtime.js'

export class RuntimeImageError extends Error {}

/** Bump when the way the image is built changes. 2: --ignore-installed (Debian's pandas 1.5 built for numpy 1 must not satisfy `pandas`) */
const IMAGE_FORMAT = 2

/** The tag of a runtime's image on top of `baseId` (the default image's id). */
export function runtimeImageTag (name: RuntimeName, baseId: string): string {
  const recipe = cachedRecipe(name)
  const h = createHash('sha256').update(JSON.stringify({ format: IMAGE_FORMAT, runtime: recipe.hash, base: baseId }))
  const compat = compatFile(name)
  if (compat) h.update(readFileSync(compat))
  const hash = h.digest('hex').slice(0, 12)
  return `${IMAGE_REPO}:${name}-${hash}`
}

/** The image a task of this runtime runs in on docker, when its environment names none; null for base or unbuilt. */
export async function runtimeImage (name: RuntimeName | undefined, docker?: Docker | string, base = DEFAULT_IMAGE): Promise<string | null> {
  if (!name || name === 'base') return null
  const d = dockerClient(docker)
  const baseId = await d.getImage(base).inspect().then(i => i.Id, () => null)
  if (!baseId) return null
  const tag = runtimeImageTag(name, baseId)
  return await d.getImage(tag).inspect().then(() => tag, () => null)
}

function run (cmd: string, args: string[], onLine: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const tail: string[] = []
    const data = (b: Buffer) => { for (const l of b.toString().split('\n')) if (l) { tail.push(l); if (tail.length > 30) tail.shift(); onLine(l) } }
    child.stdout.on('data', data)
    child.stderr.on('data', data)
    child.on('error', reject)
    child.on('close', code => code === 0 ? resolve() : reject(new RuntimeImageError(`${cmd} ${args.slice(0, 3).join(' ')} exited with ${code}:\n${tail.join('\n')}`)))
  })
}

export interface BuildRuntimeImageOptions { docker?: Docker | string, base?: string, force?: boolean, onProgress?: (l: string) => void }

/** Builds the runtime's image unless its tag exists. Builds the local venv first: it says what the index lacks. */
export async function buildRuntimeImage (name: RuntimeName, opts: BuildRuntimeImageOptions = {}): Promise<{ tag: string, cached: boolean, seconds: number }> {
  const started = Date.now()
  const progress = opts.onProgress ?? (() => {})
  const d = dockerClient(opts.docker)
  await checkDocker(d)
  const base = opts.base ?? DEFAULT_IMAGE
  const baseId = await d.getImage(base).inspect().then(i => i.Id, () => null)
  if (!baseId) throw new RuntimeImageError(`the base image ${base} is not there: run \`synthgym image build\` first`)
  const tag = runtimeImageTag(name, baseId)
  const seconds = () => Math.round((Date.now() - started) / 100) / 10
  if (!opts.force && await d.getImage(tag).inspect().then(() => true, () => false)) {
    progress(`${tag} exists: cached`)
    return { tag, cached: true, seconds: seconds() }
  }
  const { recipe, manifest } = await buildRuntime(name, { onProgress: progress })
  if (!manifest) throw new RuntimeImageError(`the ${name} runtime has no requirements to install`)
  const wanted = Object.keys(manifest.installed)
  const wheels = join(runtimesDir(), `wheels-${recipe.hash}`)
  if (!existsSync(join(wheels, '.complete'))) {
    rmSync(wheels, { recursive: true, force: true })
    mkdirSync(wheels, { recursive: true })
    progress(`downloading wheels of ${wanted.join(' ')} (and pip) into ${wheels}`)
    // the image's python is Debian bookworm's 3.11 on the host's architecture, as the venv's (checked by the recipe)
    await run(recipe.python, ['-m', 'pip', 'download', '--only-binary=:all:', '--dest', wheels, ...sourceArgs(recipe.sources), 'pip', ...wanted],
      l => { if (/^(Saved|ERROR)/.test(l)) progress(l) })
    writeFileSync(join(wheels, '.complete'), new Date().toISOString())
  }
  const pip = readdirSync(wheels).find(f => /^pip-.*\.whl$/.test(f))
  if (!pip) throw new RuntimeImageError(`no pip wheel in ${wheels}`)
  const compat = compatFile(name)
  const skip = manifest.missing.map(m => requirementName(m.requirement))
  progress(`installing into ${base} with network none (not installed: ${skip.join(', ') || 'nothing'})`)
  const container = await d.createContainer({
    Image: base, User: 'root', NetworkDisabled: true,
    Cmd: ['sh', '-c', [
      `python3 /wheels/${pip}/pip install --no-index --find-links /wheels --break-system-packages --ignore-installed --no-cache-dir --root-user-action=ignore --progress-bar off ${wanted.map(w => `'${w}'`).join(' ')}`,
      // the runtime's compatibility module, as the venv has it (sandbox/runtimes/<name>_compat.py)
      ...(compat ? [`d=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')`, `cp /compat.py "$d/synthgym_${name}_compat.py"`,
        `echo 'import synthgym_${name}_compat' > "$d/synthgym_${name}_compat.pth"`] : [])
    ].join(' && ')],
    HostConfig: { Binds: [`${wheels}:/wheels:ro`, ...(compat ? [`${compat}:/compat.py:ro`] : [])], NetworkMode: 'none' },
    Labels: { 'synthgym.build': tag }
  })
  try {
    await container.start()
    const logs = await container.logs({ follow: true, stdout: true, stderr: true }) as unknown as NodeJS.ReadableStream
    logs.on('data', (b: Buffer) => { for (const l of b.toString().split('\n')) if (/Successfully|ERROR/.test(l)) progress(l.replace(/^[\s\S]{0,8}(Successfully|ERROR)/, '$1').slice(0, 300)) })
    const { StatusCode } = await container.wait() as { StatusCode: number }
    if (StatusCode !== 0) throw new RuntimeImageError(`pip install in the image exited with ${StatusCode}`)
    const [repo, t] = tag.split(':') as [string, string]
    await container.commit({ repo, tag: t, comment: `synthgym ${name} runtime ${recipe.hash} on ${base}` } as {})
  } finally { await container.remove({ force: true }).catch(() => {}) }
  progress(`built ${tag} in ${seconds()} s`)
  return { tag, cached: false, seconds: seconds() }
}
