// `synthgym image build|recipe`: argv parsing and output for the image library in ./image.ts.
import { DEBIAN_SUITE, DEFAULT_IMAGE, IMAGE_REPO, buildImage, imageExists, imageRecipe } from './image.js'

export const IMAGE_HELP = `usage:
  synthgym image build [--with-torch] [--package NAME]... [--force] [--mirror URL]
        debootstrap a Debian ${DEBIAN_SUITE} with python3, numpy, scipy, pandas, scikit-learn, flake8 and a user agent
        (uid 1000), docker import it as ${IMAGE_REPO}:<recipe hash> and ${DEFAULT_IMAGE} (--with-torch: :torch).
        Needs root, debootstrap, a Debian mirror and a running dockerd; an existing tag is reused unless --force.
  synthgym image recipe [--with-torch] [--package NAME]... [--json]
        the packages, hash and tag a build would produce, and whether Docker has it`

/** `synthgym image ...` */
export async function imageCommand (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  // asked for, the help goes to stdout (exit 0); a wrong subcommand gets it on stderr (exit 1)
  if (args.some(a => a === '--help' || a === '-h') || sub === 'help') { console.log(IMAGE_HELP); return 0 }
  const flags = new Set<string>()
  const extraPackages: string[] = []
  let mirror: string | undefined
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!
    if (a === '--package' || a === '--mirror') {
      const v = rest[++i]
      if (!v) { console.error(`${a} needs a value\n${IMAGE_HELP}`); return 1 }
      if (a === '--package') extraPackages.push(...v.split(',').filter(Boolean)); else mirror = v
    } else if (['--with-torch', '--force', '--json'].includes(a)) flags.add(a)
    else { console.error(`unknown argument ${a}\n${IMAGE_HELP}`); return 1 }
  }
  const withTorch = flags.has('--with-torch')
  if (sub === 'recipe') {
    const r = imageRecipe({ withTorch, extraPackages })
    let exists: boolean | string
    try { exists = await imageExists(r.tag) } catch (e) { exists = `unknown (${(e as Error).message})` }
    if (flags.has('--json')) { console.log(JSON.stringify({ ...r, exists }, null, 2)); return 0 }
    const also = r.aliases.length ? ` (also ${r.aliases.join(', ')})` : ''
    console.log([
      `tag:      ${r.tag}${also}`,
      `built:    ${exists}`,
      `base:     debian ${r.suite} ${r.variant} ${r.arch}`,
      `packages: ${r.packages.join(' ')}`,
      `script:   ${r.script}`
    ].join('\n'))
    return 0
  }
  if (sub !== 'build') { console.error(IMAGE_HELP); return 1 }
  const abort = new AbortController()
  const stop = () => {
    console.error('interrupted: stopping the build and removing its temporary directory')
    abort.abort()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const r = await buildImage({
      withTorch, extraPackages, mirror, force: flags.has('--force'),
      signal: abort.signal, onProgress: l => console.log(l)
    })
    const size = `${(r.sizeBytes / 1e6).toFixed(0)} MB${r.cached ? '' : `, ${r.seconds} s`}`
    console.log(`${r.cached ? 'cached' : 'built'}: ${[r.tag, ...r.aliases].join(' ')} (${size})`)
    return 0
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}
