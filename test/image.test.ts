// The default sandbox image (sandbox/image.ts): built for real with debootstrap + docker import (cached after the first
// build), then run with network none. Skips when no Docker engine answers, unless CI=true (then it fails).
import t from 'tap'
import Docker from 'dockerode'
import { BASE_PACKAGES, DEFAULT_IMAGE, IMAGE_REPO, buildImage, imageExists, imageRecipe } from '../sandbox/image.js'

// a first build downloads ~170 MB of .debs and takes one to a few minutes
t.setTimeout(20 * 60_000)

t.test('the recipe: packages, a stable hash, tags', async t => {
  const a = imageRecipe()
  t.same(imageRecipe(), a, 'the same recipe twice')
  t.match(a.hash, /^[0-9a-f]{12}$/)
  t.equal(a.tag, `${IMAGE_REPO}:${a.hash}`)
  t.same(a.aliases, [DEFAULT_IMAGE])
  for (const p of ['bash', 'coreutils', 'python3', 'python-is-python3', 'python3-numpy', 'python3-scipy', 'python3-pandas', 'python3-sklearn', 'flake8', 'procps', 'findutils', 'grep', 'sed', 'ca-certificates']) {
    t.ok(a.packages.includes(p), `includes ${p}`)
  }
  t.same(a.packages, [...a.packages].sort(), 'sorted')
  t.notOk(a.packages.includes('python3-torch'), 'no torch by default')

  const torch = imageRecipe({ withTorch: true })
  t.not(torch.hash, a.hash, 'torch changes the hash')
  t.ok(torch.packages.includes('python3-torch'))
  t.same(torch.aliases, [`${IMAGE_REPO}:torch`])

  const extra = imageRecipe({ extraPackages: ['git', 'jq'] })
  t.not(extra.hash, a.hash)
  t.equal(imageRecipe({ extraPackages: ['jq', 'git', 'jq'] }).hash, extra.hash, 'order and duplicates do not matter')
  t.same(extra.aliases, [], 'a custom image gets only its hash tag')
  t.equal(imageRecipe({ extraPackages: [BASE_PACKAGES[0]!] }).hash, a.hash, 'a package already in the base changes nothing')
  t.throws(() => imageRecipe({ extraPackages: ['bad name; rm -rf /'] }), /not a Debian package name/)
})

t.test('a clear error when dockerd is not there', async t => {
  const socket = '/nonexistent/docker.sock'
  await t.rejects(buildImage({ docker: socket }), /cannot reach a Docker engine at \/nonexistent\/docker\.sock \(ENOENT\): start dockerd/)
  await t.rejects(imageExists(DEFAULT_IMAGE, socket), /start dockerd/)
})

const docker = new Docker()
const reachable = await docker.ping().then(() => null, (e: NodeJS.ErrnoException) => e.code ?? e.message)
const ci = process.env.CI === 'true'

if (reachable !== null) {
  if (ci) t.fail(`CI=true but no Docker engine answers (${reachable}): start dockerd before the tests`)
  else t.test('image build and run', { skip: `no Docker engine reachable (${reachable}); start dockerd to run these` }, async () => {})
} else {
  const recipe = imageRecipe()
  const canBuild = process.getuid?.() === 0 || await imageExists(recipe.tag, docker)
  if (!canBuild && !ci) {
    t.test('image build and run', { skip: `${recipe.tag} is not built and building needs root: run \`synthgym image build\` as root` }, async () => {})
  } else {
    t.test('builds the image (or finds it cached), then a second build is cached', async t => {
      const lines: string[] = []
      const first = await buildImage({ docker, onProgress: l => { lines.push(l); t.comment(l) } })
      t.equal(first.tag, recipe.tag)
      t.same(first.aliases, [DEFAULT_IMAGE])
      t.ok(first.sizeBytes > 100e6, `a real image (${Math.round(first.sizeBytes / 1e6)} MB)`)
      t.ok(lines.length > 0, 'progress was reported')
      if (!first.cached) t.comment(`built in ${first.seconds} s`)

      const second = await buildImage({ docker })
      t.equal(second.cached, true, 'the second build is cached')
      t.equal(second.id, first.id)
      t.equal(await imageExists(recipe.tag, docker), true)
      t.equal(await imageExists(DEFAULT_IMAGE, docker), true)
      t.equal(await imageExists(`${IMAGE_REPO}:no-such-tag-0000`, docker), false)
      const labels = (await docker.getImage(DEFAULT_IMAGE).inspect()).Config.Labels ?? {}
      t.equal(labels['synthgym.recipe'], recipe.hash, ':latest is this recipe')
    })

    /** Docker's multiplexed log stream (8-byte frame headers: stream, 0, 0, 0, size) to text, stdout and stderr merged. */
    function demux (buf: Buffer): string {
      const parts: Buffer[] = []
      for (let i = 0; i + 8 <= buf.length;) {
        const size = buf.readUInt32BE(i + 4)
        parts.push(buf.subarray(i + 8, i + 8 + size))
        i += 8 + size
      }
      return Buffer.concat(parts).toString('utf8')
    }

    /** Run a bash script in a fresh container (network none) and return its output and exit code. */
    async function runIn (script: string, user?: string): Promise<{ output: string, exitCode: number }> {
      const c = await docker.createContainer({
        Image: DEFAULT_IMAGE,
        Cmd: ['bash', '-c', script],
        User: user,
        Tty: false,
        Labels: { 'synthgym.test': 'image' },
        HostConfig: { NetworkMode: 'none' }
      })
      try {
        await c.start()
        const { StatusCode } = await c.wait()
        const output = demux(await c.logs({ stdout: true, stderr: true, follow: false }))
        return { output, exitCode: StatusCode }
      } finally {
        await c.remove({ force: true })
      }
    }

    t.test('inside: python3 with the scientific stack, python, flake8, bash, user agent', async t => {
      const root = await runIn('id -u agent; id -gn agent; getent group mlgym | cut -d: -f3; stat -c "%u:%g %n" /home/agent/workspace; ' +
        'command -v bash; bash --version | head -1; id -un; pwd')
      t.equal(root.exitCode, 0, root.output)
      t.match(root.output, /^1000\nmlgym\n1000\n1000:1000 \/home\/agent\/workspace\n\/usr\/bin\/bash\nGNU bash, version 5\.[^\n]*\nroot\n\/home\/agent\/workspace\n$/, 'agent is uid 1000 in mlgym (gid 1000), owns the workspace; the default user is root')

      const agent = await runIn([
        'set -e',
        'id -un',
        'python3 -c "import numpy, scipy, pandas, sklearn; from sklearn.linear_model import LogisticRegression; print(\'stack ok\', numpy.__version__)"',
        'python -c "import sys; print(\'python\', sys.version_info[0])"',
        'printf "import os\\nx = 1\\n" > lint_me.py && flake8 lint_me.py || echo "flake8 flagged: $?"',
        'flake8 --version | head -1',
        'ps -o pid= -p $$ > /dev/null && echo ps ok',
        'find . -name lint_me.py | grep -c lint_me',
        'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "'
      ].join('\n'), 'agent')
      t.equal(agent.exitCode, 0, agent.output)
      t.match(agent.output, /^agent\n/m)
      t.match(agent.output, /^stack ok 1\.\d+/m, 'numpy, scipy, pandas, sklearn import')
      t.match(agent.output, /^python 3$/m, '`python` is python3')
      t.match(agent.output, /lint_me\.py:1:1: F401 'os' imported but unused/, 'flake8 lints')
      t.match(agent.output, /^\d+\.\d+\.\d+ \(mccabe/m, 'flake8 --version')
      t.match(agent.output, /^ps ok$/m)
      t.match(agent.output, /^1$/m, 'the agent can write in its workspace')
      t.match(agent.output, /^lo$/m, 'network none: loopback only')
      t.notMatch(agent.output, /^eth/m)
    })
  }
}
