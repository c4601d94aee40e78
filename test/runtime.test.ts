// Named runtimes: one requirements list each, a hash over what makes the venv (list, python, package sources, CUDA),
// the package sources named explicitly, and a sandbox asking for a runtime that is not built refused with the command
// that builds it. (Building one is exercised by test/mlgym-bench.test.ts, which needs it built.)
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseRequirements, requirementName, runtimeRecipe, sourceArgs } from '../sandbox/runtime.js'

const dir = mkdtempSync(join(tmpdir(), 'sg-runtime-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
// this process's recipes are cached: point it at an empty runtimes dir before any is asked for
process.env.SYNTHGYM_RUNTIME_DIR = dir
const env = { ...process.env, SYNTHGYM_RUNTIME_DIR: dir }

t.test('requirements lists: comments dropped; project names normalised as PEP 503', async t => {
  t.same(parseRequirements('# generic\nnumpy\n\ntransformers[torch]  # models\njax[cuda12]\n'), ['numpy', 'transformers[torch]', 'jax[cuda12]'])
  t.equal(requirementName('tensorflow_probability'), 'tensorflow-probability')
  t.equal(requirementName('transformers[torch]<5'), 'transformers')
})

t.test('the mlgym recipe: MLGym\'s generic list and the tasks\' own, CUDA extras only with a GPU, hashed', async t => {
  const cpu = runtimeRecipe('mlgym', env, false)
  // pandas<3: MLGym's code is pandas 2 (its house-price _generate_split.py fails on pandas 3)
  for (const r of ['numpy', 'pandas<3', 'scipy', 'torch', 'scikit-learn', 'tqdm', 'datasets', 'gymnasium', 'transformers[torch]', 'matplotlib', 'gymnax', 'dotmap', 'tensorflow_probability', 'pycocotools']) {
    t.ok(cpu.requirements.includes(r), r)
  }
  t.ok(cpu.requirements.includes('jax') && !cpu.requirements.includes('jax[cuda12]'), 'no CUDA jax without a GPU')
  const gpu = runtimeRecipe('mlgym', env, true)
  t.ok(gpu.requirements.includes('jax[cuda12]'))
  t.not(gpu.hash, cpu.hash)
  t.equal(runtimeRecipe('mlgym', env, false).hash, cpu.hash, 'the same inputs, the same hash')
  t.equal(cpu.dir, join(dir, `mlgym-${cpu.hash}`))
  const other = runtimeRecipe('mlgym', { ...env, SYNTHGYM_PIP_INDEX_URL: 'https://mirror.example/simple' }, false)
  t.equal(other.sources.indexUrl, 'https://mirror.example/simple')
  t.not(other.hash, cpu.hash, 'other package sources, another venv')
  t.equal(sourceArgs(other.sources)[0], '--index-url', 'sources are passed to pip explicitly')
  t.throws(() => runtimeRecipe('nope' as 'mlgym', env), { message: /no runtime "nope"; the runtimes are base, mlgym/ })
})

t.test('a sandbox asking for a runtime that is not built is refused, saying how to build it', async t => {
  const { LocalSandbox } = await import('../sandbox/local.js')
  await t.rejects(LocalSandbox.create({ pythonRuntime: 'mlgym', baseDir: join(dir, 'sb') }),
    { code: 'SANDBOX_ERROR', message: /the mlgym runtime is not built.*synthgym runtime build mlgym/ })
  const sb = await LocalSandbox.create({ pythonRuntime: 'base', baseDir: join(dir, 'sb') })
  t.teardown(() => sb.close())
  t.equal((await sb.exec('python3 -c "print(1)"')).output.trim(), '1', 'base: the host\'s python, nothing to build')
})
