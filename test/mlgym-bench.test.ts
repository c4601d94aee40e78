// MLGym's own imageClassificationCifar10, imageClassificationFMnist and naturalLanguageInferenceMNLI (a checkout of
// MLGym at 9d40c1b outside this repository, SYNTHGYM_MLGYM_CHECKOUT, unchanged) run their baseline.py and evaluate.py in local sandboxes without network, in the mlgym
// runtime, reading Hub data that trusted code fetched from the loopback Hub (small real-schema datasets and a tiny
// random BERT under bert-base-uncased) into the offline cache; then validate and submit as an agent would.
// Needs the mlgym runtime (`synthgym runtime build mlgym`): skipped without it, unless CI=true.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { runtimePython } from '../sandbox/runtime.js'
import { LocalSandbox } from '../sandbox/local.js'
import type { Sandbox, SandboxOptions } from '../sandbox/types.js'
import { importMlgym, type Task } from '../tasks/registry.js'
import { hubLoads, missingHubData, prefetchHubData } from '../tasks/hubdata.js'
import { hubSettings } from '../tasks/generate/hub.js'
import { mlgymStatus } from '../tasks/mlgym-status.js'
import { startFakeHub, mlgymDatasets, type FakeModel } from './fakes/hub.js'
import { mlgymCheckout, mlgymDocker, mlgymRuntimeOrSkip, NO_MLGYM_CHECKOUT, skipFile, runMlgymTask, tempDir } from './helpers.js'

const checkout = mlgymCheckout()
if (!checkout) {
  skipFile(t, NO_MLGYM_CHECKOUT)
}
export const MLGYM_CHECKOUT: string = checkout

const recipe = await mlgymRuntimeOrSkip(t)

const dir = tempDir(t, 'sg-mlgym-bench-')

/** A tiny random BERT (2 layers, hidden 32) with a word-piece vocabulary, written by the runtime's transformers. */
function tinyBert (): FakeModel {
  const out = join(dir, 'tiny-bert')
  const script = `
import sys, os
from transformers import BertConfig, BertModel, BertTokenizer
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
words = "the a cat man children my neighbour team woman is not running sleeping eating singing reading working in park outside today".split()
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ";"] + words + [chr(c) for c in range(97, 123)]
with open(os.path.join(out, "vocab.txt"), "w") as f: f.write("\\n".join(vocab) + "\\n")
BertTokenizer(os.path.join(out, "vocab.txt")).save_pretrained(out)
cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=160)
BertModel(cfg).save_pretrained(out)
`
  const r = spawnSync(runtimePython(recipe), ['-c', script, out], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`making the tiny BERT failed: ${r.stderr}`)
  const files: Record<string, Buffer> = {}
  for (const f of readdirSync(out)) files[f] = readFileSync(join(out, f))
  return { id: 'bert-base-uncased', files }
}

const hub = await startFakeHub({ datasets: mlgymDatasets({ train: 200, test: 60 }), models: [tinyBert()] })
t.teardown(() => hub.close())
const hf = join(dir, 'hf')
const settings = hubSettings({ hubUrl: hub.hubUrl, datasetsServerUrl: hub.datasetsServerUrl, retries: 1 })

const report = importMlgym(MLGYM_CHECKOUT)
const byId = (id: string): Task => {
  const task = report.tasks.find(x => x.spec.id === id)
  if (!task) throw new Error(`${id} did not load: ${JSON.stringify(report.errors)}`)
  return task
}
const makeSandbox = async (o: SandboxOptions): Promise<Sandbox> => await LocalSandbox.create({ ...o, baseDir: join(dir, 'sandboxes') })

t.test('the Hub loads are found in MLGym\'s files; imported tasks name the mlgym runtime', async t => {
  t.same(hubLoads(byId('imageClassificationCifar10')), { datasets: ['uoft-cs/cifar10'], models: [] })
  t.same(hubLoads(byId('imageClassificationFMnist')), { datasets: ['zalando-datasets/fashion_mnist'], models: [] })
  const mnli = hubLoads(byId('naturalLanguageInferenceMNLI'))
  t.same(mnli.datasets, ['SetFit/mnli', 'multi_nli', 'nyu-mll/multi_nli'], 'the baseline\'s, the evaluation\'s and the dataset config\'s')
  t.same(mnli.models, ['bert-base-uncased', 'bert_mnli_model'])
  for (const id of ['imageClassificationCifar10', 'imageClassificationFMnist', 'naturalLanguageInferenceMNLI', 'rlBreakoutMinAtar', 'titanicSurvival']) {
    t.equal(byId(id).spec.runtime, 'mlgym', `${id}: its code imports torch, pandas... or it has its own requirements`)
  }
  for (const id of ['battleOfSexes', 'prisonersDilemma', 'blotto']) t.equal(byId(id).spec.runtime, 'base', `${id}: numpy and the standard library`)
})

t.test('prefetch: each name once, into the offline cache; a local from_pretrained path is not a Hub model', async t => {
  for (const id of ['imageClassificationCifar10', 'imageClassificationFMnist', 'naturalLanguageInferenceMNLI']) {
    const task = byId(id)
    t.ok(missingHubData(task, hf).datasets.length > 0, `${id}: missing before`)
    const r = await prefetchHubData(task, { hf, hub: settings, python: runtimePython(recipe) })
    t.same(missingHubData(task, hf), { datasets: [], models: [] }, `${id}: nothing missing after`)
    if (id === 'naturalLanguageInferenceMNLI') {
      t.same(r.models.map(m => [m.name, m.kind]), [['bert-base-uncased', 'model'], ['bert_mnli_model', 'not-on-hub']])
      t.ok(existsSync(join(hf, 'datasets', 'multi_nli', 'default', '0.0.0')), 'multi_nli cached under the name evaluate.py uses')
    }
  }
  t.ok(existsSync(join(hf, 'datasets', 'uoft-cs___cifar10', 'plain_text', '0.0.0')))
  const before = hub.requests.length
  await prefetchHubData(byId('imageClassificationCifar10'), { hf, hub: settings, python: runtimePython(recipe) })
  t.equal(hub.requests.length, before, 'cached: the Hub is not asked again')
})

const runTask = async (t: Test, id: string, metric: string, make = makeSandbox) => {
  await runMlgymTask(t, byId(id), metric, { make, hf })
}

t.test('imageClassificationCifar10: MLGym\'s baseline.py and evaluate.py, offline, validate and submit', async t => {
  await runTask(t, 'imageClassificationCifar10', 'accuracy')
})
t.test('imageClassificationFMnist: the same', async t => {
  await runTask(t, 'imageClassificationFMnist', 'accuracy')
})
t.test('naturalLanguageInferenceMNLI: BERT from the hub cache, evaluation under torchrun', async t => {
  await runTask(t, 'naturalLanguageInferenceMNLI', 'validation_accuracy')
})

t.test('status names every MLGym-Bench task: runnable ones, and each other one with its reason', async t => {
  const st = mlgymStatus(report, { hf, gpu: false, measured: () => null })
  t.equal(st.length, 13)
  const of = (id: string) => st.find(s => s.id === id)!
  for (const id of ['imageClassificationCifar10', 'imageClassificationFMnist', 'naturalLanguageInferenceMNLI', 'battleOfSexes', 'prisonersDilemma', 'blotto']) {
    t.ok(of(id).runnable, `${id} runnable: ${JSON.stringify(of(id).reasons)}`)
  }
  t.match(of('rlBreakoutMinAtar').reasons, [{ code: 'MISSING_PACKAGES', message: /gymnax.*tensorflow_probability.*dotmap/ }])
  t.match(of('3SATTime').reasons, [{ code: 'MISSING_DATA', message: /dataset\.pkl/ }])
  t.match(of('languageModelingFineWeb').reasons, [{ code: 'MISSING_DATA', message: /kjj0\/fineweb10B-gpt2/ }])
  t.match(of('regressionKaggleHousePrice').reasons, [{ code: 'MISSING_DATA', message: /synthgym mlgym prepare/ }])
})

// the same on the docker backend, in the mlgym runtime's image profile (synthgym runtime build mlgym --docker)
const { make: makeDocker, skip } = await mlgymDocker('sg-test-mlgym-bench')
const docker = { skip }
t.test('docker: imageClassificationCifar10', docker, async t => { await runTask(t, 'imageClassificationCifar10', 'accuracy', makeDocker) })
t.test('docker: imageClassificationFMnist', docker, async t => { await runTask(t, 'imageClassificationFMnist', 'accuracy', makeDocker) })
// torchrun's rendezvous resolves localhost: the container needs its /etc/hosts (NetworkMode none, not NetworkDisabled)
t.test('docker: naturalLanguageInferenceMNLI', docker, async t => {
  await runTask(t, 'naturalLanguageInferenceMNLI', 'validation_accuracy', makeDocker)
})
