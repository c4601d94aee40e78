// `synthgym generate`: topics → tasks in OUT/tasks (and their micro variants), with progress on stderr, then the
// yield table on stdout and OUT/report.json. `--resume` continues a killed run in the same OUT.
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { validateRunSettings, type SmokeResult } from '../../env-spec/generation.js'
import { GENERATE_DEFAULTS } from './settings.js'
import { hubSettings } from './hub.js'
import { materialiseSettings } from './materialise.js'
import { generate, readArtefact, runPaths, type GenerateOptions } from './pipeline.js'
import { defaultStages } from './stages.js'
import { sandboxFactory } from './sandboxes.js'
import { ENDPOINT_PROFILES, profileName, type EndpointProfileName } from '../../clients/llm/profiles.js'

export const GENERATE_HELP = `synthgym generate --out DIR [--topics 100] [--topics-file F] [--seed 0] [--concurrency 8] [--rounds 3]
                  [--model gpt-5] [--base-url URL] [--api-key K] [--temperature T] [--max-tokens N]
                  [--endpoint-profile auto|${ENDPOINT_PROFILES.join('|')}] [--reasoning-effort E]
                  [--llm-retries ${GENERATE_DEFAULTS.llmRetries}] [--llm-timeout ${GENERATE_DEFAULTS.llmTimeout}] [--proposal-attempts ${GENERATE_DEFAULTS.proposalAttempts}] [--reply-attempts ${GENERATE_DEFAULTS.replyAttempts}]
                  [--hub-url URL] [--datasets-server-url URL] [--hf-token T] [--max-dataset-bytes N] [--cache-dir DIR]
                  [--benchmarks-file F] [--backend local|docker] [--image synthgym/sandbox:latest] [--resume]
                  [--smoke-episodes N --smoke-model M [--smoke-base-url URL] [--smoke-api-key K] [--smoke-steps 10]]

  LLM: any OpenAI-compatible endpoint (OPENAI_BASE_URL, OPENAI_API_KEY when the flags are not given).
  --max-tokens N: completion tokens per reply (reasoning tokens count too); default: the endpoint profile's budget
  (32000 for OpenAI reasoning models, else 16000), cut to what the endpoint's context length (vLLM's max_model_len
  in GET /v1/models) leaves after the prompt.
  --endpoint-profile: what the endpoint takes; auto chooses from the model name and GET /v1/models (openai-reasoning:
  o1/o3/o4/gpt-5*, no temperature, max_completion_tokens; vllm: a server that reports max_model_len). A field the
  endpoint refuses by name is left out from then on, said on stderr and recorded in DIR/run.json (endpoint).
  --reasoning-effort E: reasoning_effort of reasoning models (e.g. minimal|low|medium|high).
  --llm-retries N: retries of one request on 429, 5xx, timeouts, dropped connections (exponential back-off);
  --llm-timeout S: seconds one request may take; --proposal-attempts N: proposals per topic (a Hub or dedup
  rejection goes back with its reason); --reply-attempts N: replies per request (an invalid one goes back).
  Hub: --hub-url (HF_ENDPOINT), --datasets-server-url, --hf-token (HF_TOKEN).
  Writes DIR/tasks/<id>/ and DIR/tasks/<id>Micro/ (serve them: synthgym serve --tasks-dir DIR/tasks), DIR/work/ (one
  folder of artefacts per topic), DIR/run.json and DIR/report.json. Exit 0 when every topic ended (kept or discarded),
  1 when some ended in an error (the LLM API or the Hub kept failing): run again with --resume, which reuses every
  endpoint setting of DIR/run.json (LLM, Hub, smoke; keys are never recorded: give them again) unless a flag overrides it.
  --smoke-episodes N: after the checks, up to N short teacher episodes (--smoke-model, default --model; its endpoint
  --smoke-base-url, default --base-url) run on the task's micro variant through a server of its own; the task is kept
  only if one ends with a valid submission.`

type Flags = Record<string, string | true>

const VALUED = ['--out', '--topics', '--topics-file', '--seed', '--concurrency', '--rounds', '--model', '--base-url', '--api-key',
  '--temperature', '--max-tokens', '--endpoint-profile', '--reasoning-effort', '--hub-url', '--datasets-server-url', '--hf-token', '--max-dataset-bytes', '--cache-dir', '--benchmarks-file',
  '--backend', '--image', '--llm-retries', '--llm-timeout', '--proposal-attempts', '--reply-attempts',
  '--smoke-episodes', '--smoke-model', '--smoke-base-url', '--smoke-api-key', '--smoke-steps']
const BOOLEAN = ['--resume']

export function parseFlags (args: string[]): Flags {
  const flags: Flags = {}
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    const eq = a.indexOf('=')
    const [name, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined]
    if (BOOLEAN.includes(name)) { flags[name] = true; continue }
    if (!VALUED.includes(name)) throw new Error(`unknown argument ${a}; see synthgym generate --help`)
    const v = inline ?? args[++i]
    if (v === undefined) throw new Error(`${name} needs a value`)
    flags[name] = v
  }
  return flags
}

function int (flags: Flags, name: string, min = 0): number | undefined {
  const v = flags[name]
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number of at least ${min} (got ${JSON.stringify(v)})`)
  return n
}

const str = (flags: Flags, name: string) => typeof flags[name] === 'string' ? flags[name] as string : undefined

/** What the layer above plugs in: smoke episodes need a server and the agent harness (server/smoke.ts). */
export interface GenerateHooks {
  smoke?: (s: {
    episodes: number, model: string, baseUrl?: string, apiKey?: string, maxSteps: number, backend: 'local' | 'docker',
    endpointProfile?: EndpointProfileName | 'auto', reasoningEffort?: string
  }) =>
    (taskDir: string, taskId: string) => Promise<SmokeResult>
}

export async function generateCommand (args: string[], hooks: GenerateHooks = {}): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) { console.log(GENERATE_HELP); return 0 }
  const flags = parseFlags(args)
  const out = str(flags, '--out')
  if (!out) throw new Error('--out DIR is required (where the tasks, the work folders and report.json go)')
  const backend = str(flags, '--backend') ?? GENERATE_DEFAULTS.backend
  if (backend !== 'local' && backend !== 'docker') throw new Error('--backend must be local or docker')
  const resume = flags['--resume'] === true
  const before = resume ? readArtefact(runPaths(resolve(out)).run, validateRunSettings) : undefined
  // a resumed run goes to the endpoints it started with: a flag overrides, run.json fills in the rest
  const was = before?.llm
  const temperature = str(flags, '--temperature') === undefined ? was?.temperature ?? undefined : Number(flags['--temperature'])
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) throw new Error('--temperature must be a number from 0 to 2')
  const profile = profileName(str(flags, '--endpoint-profile')) ?? profileName(was?.endpoint_profile) ?? 'auto'
  const orNull = <T>(v: T | undefined | null): T | undefined => v ?? undefined

  const hubUrl = str(flags, '--hub-url') ?? before?.hub_url
  const viewerUrl = str(flags, '--datasets-server-url') ?? before?.datasets_server_url
  const hub = hubSettings({
    ...(hubUrl ? { hubUrl } : {}),
    ...(viewerUrl ? { datasetsServerUrl: viewerUrl } : {}),
    ...(str(flags, '--hf-token') ? { hfToken: str(flags, '--hf-token') } : {}),
    ...(int(flags, '--max-dataset-bytes', 1) ? { maxDatasetBytes: int(flags, '--max-dataset-bytes', 1) } : {})
  })
  const { seed: _seed, ...materialise } = materialiseSettings({ ...hub, cacheDir: str(flags, '--cache-dir') ?? join(homedir(), '.cache', 'synthgym') })
  const sandboxes = await sandboxFactory(out, (before?.backend ?? backend) as 'local' | 'docker', str(flags, '--image'))
  const opts: GenerateOptions = {
    out,
    topics: int(flags, '--topics', 1),
    topicsFile: str(flags, '--topics-file'),
    seed: int(flags, '--seed'),
    concurrency: int(flags, '--concurrency', 1),
    rounds: int(flags, '--rounds', 1),
    resume,
    backend: backend as 'local' | 'docker',
    proposalAttempts: int(flags, '--proposal-attempts', 1),
    replyAttempts: int(flags, '--reply-attempts', 1),
    llm: {
      model: str(flags, '--model') ?? before?.model ?? GENERATE_DEFAULTS.model,
      baseUrl: str(flags, '--base-url') ?? orNull(before?.base_url),
      apiKey: str(flags, '--api-key'),
      temperature,
      maxTokens: int(flags, '--max-tokens', 1) ?? orNull(was?.max_tokens),
      profile,
      reasoningEffort: str(flags, '--reasoning-effort') ?? orNull(was?.reasoning_effort),
      retries: int(flags, '--llm-retries') ?? orNull(was?.retries),
      timeout: int(flags, '--llm-timeout', 1) ?? orNull(was?.timeout)
    }
  }
  const smokeEpisodes = int(flags, '--smoke-episodes', 1) ?? before?.smoke?.episodes
  if (smokeEpisodes && !hooks.smoke) throw new Error('--smoke-episodes needs the agent harness: run it through the synthgym command')
  const smokeSettings = smokeEpisodes
    ? {
        episodes: smokeEpisodes,
        model: str(flags, '--smoke-model') ?? before?.smoke?.model ?? opts.llm.model,
        baseUrl: str(flags, '--smoke-base-url') ?? orNull(before?.smoke?.base_url) ?? opts.llm.baseUrl,
        apiKey: str(flags, '--smoke-api-key') ?? opts.llm.apiKey,
        maxSteps: int(flags, '--smoke-steps', 2) ?? before?.smoke?.steps ?? 10,
        backend: (before?.backend ?? backend) as 'local' | 'docker',
        endpointProfile: profileName(str(flags, '--endpoint-profile')) ?? profileName(before?.smoke?.endpoint_profile) ?? 'auto',
        reasoningEffort: opts.llm.reasoningEffort
      }
    : undefined
  opts.recorded = {
    hub_url: hub.hubUrl,
    datasets_server_url: hub.datasetsServerUrl,
    ...(smokeSettings ? { smoke: { episodes: smokeSettings.episodes, model: smokeSettings.model, base_url: smokeSettings.baseUrl ?? null, steps: smokeSettings.maxSteps, endpoint_profile: smokeSettings.endpointProfile } } : {})
  }
  const smoke = smokeSettings && hooks.smoke ? hooks.smoke(smokeSettings) : undefined
  try {
    const stages = defaultStages({ hub, materialise, benchmarksFile: str(flags, '--benchmarks-file'), makeSandbox: sandboxes.makeSandbox })
    const r = await generate(opts, { ...stages, ...(smoke ? { smoke } : {}) })
    console.log(r.table)
    console.log(`\nreport: ${runPaths(resolve(out)).report}; serve the tasks with: synthgym serve --tasks-dir ${runPaths(resolve(out)).tasks}`)
    return r.report.errors ? 1 : 0
  } finally { await sandboxes.close() }
}
