// The keep-checks on the docker backend (`synthgym generate --backend docker`): the same checks, each sandbox a
// container, evaluations in fresh containers; nothing of the run's is left behind. Skips when no engine answers
// (or it lacks the image), unless CI=true (then it fails).
import t from 'tap'
import Docker from 'dockerode'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import { runChecks } from '../tasks/generate/checks.js'
import { codegenUserPrompt } from '../tasks/generate/codegen.js'
import { sandboxFactory } from '../tasks/generate/sandboxes.js'
import type { VerifiedDataset } from '../env-spec/generation.js'
import { paramsFromPrompt, taskFiles } from './fakes/task-code.js'
import { handMadeTask } from './generate-handmade.js'
import { tempDir } from './helpers.js'

t.setTimeout(6 * 60_000)
const SOCK = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock'
const IMAGE = 'synthgym/sandbox:latest'
const docker = new Docker({ socketPath: SOCK })
let problem: string | null = null
try { await docker.ping(); await docker.getImage(IMAGE).inspect() } catch (e) { problem = `no Docker engine with ${IMAGE} on ${SOCK} (${(e as Error).message})` }

if (problem && process.env.CI === 'true') t.fail(`CI=true but ${problem}: run .ci/docker-up first`)
t.test('checks on the docker backend', { skip: problem ?? false }, async t => {
  const root = tempDir(t, 'sg-gen-docker-')
  const out = join(root, 'out')
  const f = await sandboxFactory(out, 'docker', IMAGE)
  const owner = 'gen-' + createHash('sha256').update(resolve(out)).digest('hex').slice(0, 12)
  const h = handMadeTask(join(root, 't'), 'diabetes')
  const d: VerifiedDataset = {
    dataset: h.proposal.dataset, config: 'default', revision: 'r', parquet_revision: 'p', license: null, splits: [{ name: 'train', num_rows: 442 }],
    columns: {}, size_bytes: 1, parquet_files: {}
  }
  const params = paramsFromPrompt(codegenUserPrompt(h.proposal, d, h.full))
  try {
    const good = await runChecks(1, taskFiles(params), h.proposal, h.full, h.micro, { makeSandbox: f.makeSandbox })
    t.same(good.checks.filter(c => !c.ok).map(c => `${c.name}: ${c.message}`), [])
    t.type(good.baseline?.rmse, 'number')
    const bad = await runChecks(1, taskFiles(params, 'lenient_evaluate'), h.proposal, h.full, h.micro, { makeSandbox: f.makeSandbox })
    t.same(bad.checks.filter(c => !c.ok).map(c => c.name), ['malformed_rejected'])
  } finally { await f.close() }
  const left = await docker.listContainers({ all: true, filters: { label: ['synthgym.managed=1', `synthgym.server=${owner}`] } })
  t.equal(left.length, 0, 'no container of the run is left')
})
