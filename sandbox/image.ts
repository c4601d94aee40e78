// The default sandbox image, built offline from Debian packages: debootstrap a minimal bookworm with python3 and the
// scientific stack, finish it with sandbox/images/sandbox-rootfs.sh (user agent, cleanup), `docker import` it.
// Tagged synthgym/sandbox:<recipe hash> (cached: an existing tag is not rebuilt) and synthgym/sandbox:latest.
// Its command-line front end is ./image-command.ts.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { delimiter, join, resolve } from 'node:path'
import Docker from 'dockerode'
import { packageRoot } from './paths.js'

export const IMAGE_REPO = 'synthgym/sandbox'
/** What the Docker backend runs when nothing else is asked for. */
export const DEFAULT_IMAGE = `${IMAGE_REPO}:latest`
export const DEBIAN_SUITE = 'bookworm'
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian'

/** Debian packages of the default image (debootstrap --include). */
export const BASE_PACKAGES: readonly string[] = [
  'bash', 'coreutils', 'findutils', 'grep', 'sed', 'procps', 'ca-certificates',
  'python3', 'python-is-python3', 'python3-numpy', 'python3-scipy', 'python3-pandas', 'python3-sklearn',
  'python3-yaml', 'python3-tqdm', 'flake8'
]
/** Added by --with-torch: Debian bookworm's PyTorch 1.13.1, CPU only (no CUDA build in Debian). */
export const TORCH_PACKAGES: readonly string[] = ['python3-torch']

/** Bump when the build procedure in this file changes in a way that changes the image. */
const RECIPE_FORMAT = 1
const DOCKER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export interface ImageRecipeOptions {
  /** add python3-torch (CPU only); tagged synthgym/sandbox:torch instead of :latest */
  withTorch?: boolean
  /** more Debian packages; such an image gets only its hash tag */
  extraPackages?: string[]
}

export interface ImageRecipe {
  /** the Debian packages debootstrap includes, sorted */
  packages: string[]
  /** 12 hex digits of sha256 over suite, variant, architecture, packages and the rootfs script's text */
  hash: string
  /** synthgym/sandbox:<hash> */
  tag: string
  /** the other tags it gets: ['synthgym/sandbox:latest'] for the default recipe, [':torch'] with torch, [] otherwise */
  aliases: string[]
  suite: string
  variant: 'minbase'
  arch: string
  /** host path of the script that finishes the root file system */
  script: string
}

export interface BuildImageOptions extends ImageRecipeOptions {
  /** a dockerode instance or a socket path; default: DOCKER_HOST or /var/run/docker.sock */
  docker?: Docker | string
  /** rebuild even when the hash tag exists */
  force?: boolean
  /** one line per stage (debootstrap, finishing, import, size) */
  onProgress?: (line: string) => void
  /** Debian mirror (not part of the hash); default SYNTHGYM_DEBIAN_MIRROR or http://deb.debian.org/debian */
  mirror?: string
  /** where the temporary root file system goes; default SYNTHGYM_IMAGE_TMPDIR or /var/tmp (needs ~1 GB, not nodev/noexec) */
  workDir?: string
  /** debootstrap's .deb cache (speeds up rebuilds); default /var/cache/synthgym/debootstrap; false: none */
  cacheDir?: string | false
  /** abort the build: child processes are killed and the temporary directory removed */
  signal?: AbortSignal
}

export interface BuildImageResult {
  tag: string
  aliases: string[]
  /** the hash tag already existed; nothing was built */
  cached: boolean
  seconds: number
  id: string
  sizeBytes: number
}

export class ImageBuildError extends Error {}

const repoRoot = packageRoot

/** Host path of the script that turns a debootstrapped directory into the sandbox root file system. */
export function rootfsScript (): string { return join(repoRoot(), 'sandbox', 'images', 'sandbox-rootfs.sh') }

function debianArch (): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', ia32: 'i386', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' }
  return map[process.arch] ?? process.arch
}

const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/

/** The recipe of an image: what goes in, its content hash and its tags. Pure; needs neither root nor Docker. */
export function imageRecipe (opts: ImageRecipeOptions = {}): ImageRecipe {
  const extra = opts.extraPackages ?? []
  for (const p of extra) if (!PACKAGE_NAME.test(p)) throw new ImageBuildError(`not a Debian package name: ${JSON.stringify(p)}`)
  const packages = [...new Set([...BASE_PACKAGES, ...(opts.withTorch ? TORCH_PACKAGES : []), ...extra])].sort()
  const script = rootfsScript()
  const arch = debianArch()
  const h = createHash('sha256')
  h.update(JSON.stringify({ format: RECIPE_FORMAT, suite: DEBIAN_SUITE, variant: 'minbase', arch, packages, path: DOCKER_PATH }))
  h.update('\0')
  h.update(readFileSync(script))
  const hash = h.digest('hex').slice(0, 12)
  const isDefault = extra.every(p => BASE_PACKAGES.includes(p) || (opts.withTorch && TORCH_PACKAGES.includes(p)))
  const aliases = isDefault ? [`${IMAGE_REPO}:${opts.withTorch ? 'torch' : 'latest'}`] : []
  return { packages, hash, tag: `${IMAGE_REPO}:${hash}`, aliases, suite: DEBIAN_SUITE, variant: 'minbase', arch, script }
}

export function dockerClient (docker?: Docker | string): Docker {
  if (typeof docker === 'string') return new Docker({ socketPath: docker })
  return docker ?? new Docker()
}

function dockerWhere (docker: Docker): string {
  const m = (docker as unknown as { modem?: { socketPath?: string, host?: string, port?: number } }).modem
  return m?.socketPath ? String(m.socketPath) : m?.host ? `${m.host}:${m.port ?? ''}` : 'the default socket'
}

/** Throws a clear error when no Docker engine answers. */
export async function checkDocker (docker: Docker): Promise<void> {
  try {
    await docker.ping()
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    throw new ImageBuildError(`cannot reach a Docker engine at ${dockerWhere(docker)} (${err.code ?? err.message}): start dockerd: ` +
      '`systemctl start docker`, or run `dockerd` as root; or point DOCKER_HOST at a running engine')
  }
}

/** Whether the Docker engine has an image by this name (repo:tag or id). Throws when no engine answers. */
export async function imageExists (tag: string, docker?: Docker | string): Promise<boolean> {
  const d = dockerClient(docker)
  try {
    await d.getImage(tag).inspect()
    return true
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return false
    await checkDocker(d)
    throw e
  }
}

function findExecutable (name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin']
  for (const d of dirs) {
    if (!d) continue
    const p = join(d, name)
    try { if (statSync(p).isFile()) return p } catch {}
  }
  return null
}

/** Mount points at or under dir (deepest first), from /proc/self/mountinfo. */
function mountsUnder (dir: string): string[] {
  let info: string
  try { info = readFileSync('/proc/self/mountinfo', 'utf8') } catch { return [] }
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
  return info.split('\n').map(l => l.split(' ')[4]).filter((p): p is string => !!p).map(unescape)
    .filter(p => p === dir || p.startsWith(dir + '/')).sort((a, b) => b.length - a.length)
}

/** The child process of the current build step, run in its own process group so that stopping it stops its children. */
interface Running { child?: ChildProcess, closed?: Promise<void> }

async function stopRunning (running: Running, signal: NodeJS.Signals): Promise<void> {
  const { child, closed } = running
  const pgid = child?.pid
  if (!pgid) return
  const leaderRunning = child.exitCode === null && child.signalCode === null
  if (!leaderRunning && !groupAlive(pgid)) return
  try { process.kill(-pgid, signal) } catch { child.kill(signal) }
  if (leaderRunning) await Promise.race([closed, new Promise(resolve => setTimeout(resolve, 10_000).unref())])
  // the group's other members (dpkg under debootstrap) may outlive the leader: wait until the group is empty
  for (let i = 0; i < 100 && groupAlive(pgid); i++) await new Promise(resolve => setTimeout(resolve, 100))
}

function groupAlive (pgid: number): boolean {
  try { process.kill(-pgid, 0); return true } catch { return false }
}

function run (cmd: string, args: string[], opts: { onLine?: (line: string) => void, running: Running, stdout?: 'pipe' }): { child: ChildProcess, done: Promise<void> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' } })
  opts.running.child = child
  opts.running.closed = new Promise(resolve => child.once('close', () => resolve()))
  const tail: string[] = []
  let partial = ''
  const onData = (buf: Buffer) => {
    const lines = (partial + buf.toString('utf8')).split('\n')
    partial = lines.pop() ?? ''
    for (const l of lines.map(l => l.trimEnd())) {
      tail.push(l)
      if (tail.length > 30) tail.shift()
      opts.onLine?.(l)
    }
  }
  child.stderr!.on('data', onData)
  if (opts.stdout !== 'pipe') child.stdout!.on('data', onData)
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', e => reject(new ImageBuildError(`${cmd}: ${e.message}`)))
    child.on('close', (code, sig) => {
      if (partial) { tail.push(partial); opts.onLine?.(partial) }
      if (code === 0 && !groupAlive(child.pid!)) {
        // finished cleanly: forget it, so that nothing later signals a process group id the system may reuse
        if (opts.running.child === child) opts.running.child = undefined
        resolve()
      } else if (code === 0) resolve()
      else reject(new ImageBuildError(`${cmd} ${sig ? `was killed by ${sig}` : `exited with ${code}`}${tail.length ? ':\n  ' + tail.join('\n  ') : ''}`))
    })
  })
  return { child, done }
}

/** debootstrap prints a line per package and stage; pass the stages on and count the packages. */
function debootstrapProgress (progress: (line: string) => void): (line: string) => void {
  let verb = ''
  let count = 0
  const flush = () => { if (count) progress(`debootstrap: ${verb.toLowerCase()} ${count} packages`); count = 0 }
  return line => {
    // per package: "I: Retrieving adduser 3.134", "I: Configuring libc-bin..."; stages: "I: Unpacking required packages..."
    const per = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) (\S+)( \S+)?$/.exec(line)
    if (per && !(per[3] && line.endsWith('...')) && !/^(InRelease|Release|Release\.gpg|Packages)$/.test(per[2]!)) {
      if (per[1] !== verb) { flush(); verb = per[1]! }
      count++
      return
    }
    flush()
    if (/^[IWE]: /.test(line)) progress(`debootstrap: ${line.slice(3)}`)
  }
}

/**
 * Build the image unless its hash tag already exists (then `cached: true`, nothing is done; `force` rebuilds).
 * Needs a reachable Docker engine; building (not the cache check) needs root and debootstrap.
 */
export async function buildImage (opts: BuildImageOptions = {}): Promise<BuildImageResult> {
  const started = Date.now()
  const seconds = () => Math.round((Date.now() - started) / 100) / 10
  const progress = opts.onProgress ?? (() => {})
  const recipe = imageRecipe(opts)
  const docker = dockerClient(opts.docker)
  await checkDocker(docker)

  const finish = async (cached: boolean): Promise<BuildImageResult> => {
    for (const alias of recipe.aliases) {
      const [repo, tag] = alias.split(':') as [string, string]
      await docker.getImage(recipe.tag).tag({ repo, tag })
    }
    const info = await docker.getImage(recipe.tag).inspect()
    return { tag: recipe.tag, aliases: recipe.aliases, cached, seconds: seconds(), id: info.Id, sizeBytes: info.Size }
  }
  const previous = await docker.getImage(recipe.tag).inspect().then(i => i.Id, () => null)
  if (!opts.force && previous) {
    progress(`${recipe.tag} exists: cached, nothing to build (--force rebuilds)`)
    return await finish(true)
  }

  if (process.platform !== 'linux') throw new ImageBuildError('building the sandbox image needs Linux (debootstrap, chroot)')
  if (process.getuid?.() !== 0) throw new ImageBuildError('building the sandbox image needs root (debootstrap creates device nodes, chroots and chowns): run it as root, e.g. `sudo synthgym image build`')
  const debootstrap = findExecutable('debootstrap')
  if (!debootstrap) throw new ImageBuildError('debootstrap is not installed: `apt-get install debootstrap` (Debian/Ubuntu)')
  const tar = findExecutable('tar')
  if (!tar) throw new ImageBuildError('tar is not installed')

  const mirror = opts.mirror ?? process.env.SYNTHGYM_DEBIAN_MIRROR ?? DEBIAN_MIRROR
  const workDir = resolve(opts.workDir ?? process.env.SYNTHGYM_IMAGE_TMPDIR ?? '/var/tmp')
  const cacheDir = opts.cacheDir === false ? null : resolve(opts.cacheDir ?? process.env.SYNTHGYM_DEBOOTSTRAP_CACHE ?? '/var/cache/synthgym/debootstrap')
  mkdirSync(workDir, { recursive: true })
  if (cacheDir) mkdirSync(cacheDir, { recursive: true })
  const dir = mkdtempSync(join(workDir, 'synthgym-image-'))
  const rootfs = join(dir, 'rootfs')
  mkdirSync(rootfs)

  const running: Running = {}
  const onAbort = () => { void stopRunning(running, 'SIGTERM') }
  opts.signal?.addEventListener('abort', onAbort)
  const aborted = () => { if (opts.signal?.aborted) throw new ImageBuildError('image build aborted') }
  try {
    aborted()
    progress(`building ${recipe.tag}: debootstrap ${recipe.variant} ${recipe.suite}/${recipe.arch} from ${mirror} with ${recipe.packages.length} packages into ${rootfs}`)
    await run(debootstrap, [
      `--variant=${recipe.variant}`, `--include=${recipe.packages.join(',')}`, `--arch=${recipe.arch}`,
      ...(cacheDir ? [`--cache-dir=${cacheDir}`] : []), recipe.suite, rootfs, mirror
    ], { onLine: debootstrapProgress(progress), running }).done
    aborted()
    progress(`finishing the root file system (${recipe.script}) after ${seconds()} s`)
    await run('bash', [recipe.script, rootfs], { onLine: l => { if (l) progress(`rootfs: ${l}`) }, running }).done
    aborted()
    const leftover = mountsUnder(rootfs)
    if (leftover.length) throw new ImageBuildError(`still mounted inside the root file system: ${leftover.join(', ')}`)

    progress(`importing into Docker as ${recipe.tag} after ${seconds()} s`)
    const tarRun = run(tar, ['--numeric-owner', '-C', rootfs, '-cf', '-', '.'], { running, stdout: 'pipe' })
    const importing = docker.importImage(tarRun.child.stdout!, {
      repo: IMAGE_REPO,
      tag: recipe.hash,
      message: `synthgym sandbox image, recipe ${recipe.hash}`,
      changes: [
        `ENV PATH=${DOCKER_PATH}`,
        'ENV LANG=C.UTF-8',
        'WORKDIR /home/agent/workspace',
        'CMD ["/bin/bash"]',
        `LABEL synthgym.recipe=${recipe.hash} synthgym.user=agent synthgym.packages=${recipe.packages.join(',')}`
      ]
    } as {}).then(stream => followProgress(docker, stream))
    const [events] = await Promise.all([importing, tarRun.done])
    const error = events.find(e => e.error || e.errorDetail)
    if (error) throw new ImageBuildError(`docker import failed: ${error.error ?? error.errorDetail?.message}`)
    if (!await imageExists(recipe.tag, docker)) throw new ImageBuildError(`docker import reported success but ${recipe.tag} is not there`)
    const result = await finish(false)
    if (previous && previous !== result.id) {
      // a forced rebuild leaves the old image untagged: remove it unless a container still uses it
      await docker.getImage(previous).remove().then(() => progress(`removed the previous ${recipe.tag} (${previous.slice(7, 19)})`), () => {})
    }
    progress(`built ${recipe.tag}${result.aliases.length ? ` (also ${result.aliases.join(', ')})` : ''}: ${(result.sizeBytes / 1e6).toFixed(0)} MB, ${result.seconds} s`)
    return result
  } catch (e) {
    if (opts.signal?.aborted) throw new ImageBuildError('image build interrupted; nothing was tagged')
    throw e
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
    await stopRunning(running, 'SIGTERM')
    await stopRunning(running, 'SIGKILL')
    await removeBuildDir(dir, progress)
  }
}

interface ProgressEvent { status?: string, error?: string, errorDetail?: { message?: string } }

function followProgress (docker: Docker, stream: NodeJS.ReadableStream): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, res: ProgressEvent[]) => err ? reject(new ImageBuildError(`docker import: ${err.message}`)) : resolve(res))
  })
}

/** Remove the temporary build directory, never across a mount point (debootstrap may leave /proc or a /dev bind). */
async function removeBuildDir (dir: string, progress: (line: string) => void): Promise<void> {
  for (const m of mountsUnder(dir)) {
    await new Promise<void>(resolve => {
      const c = spawn('umount', ['-l', m], { stdio: 'ignore' })
      c.on('error', () => resolve())
      c.on('close', () => resolve())
    })
  }
  const left = mountsUnder(dir)
  if (left.length) {
    progress(`NOT removing ${dir}: still mounted: ${left.join(', ')} (unmount them, then rm -rf ${dir})`)
    return
  }
  rmSync(dir, { recursive: true, force: true })
}
