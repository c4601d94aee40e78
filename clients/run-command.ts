// `synthgym run`: parallel agent episodes against a server, written in MLGym's run layout, resumable.
import { parseArgs } from 'node:util'
import { SynthgymClient } from './client.js'
import { REWARD_MODES, type RewardMode } from '../env-spec/messages.js'
import { agentSettings, AGENT_DEFAULTS, DEFAULT_MAX_STEPS, type ResponseMode } from './agent/settings.js'
import { progressLine, resolveTasks, runAll, RunError, type EpisodeRecord } from './runs.js'
import { ENDPOINT_PROFILES, profileName } from './llm/profiles.js'

export const RUN_HELP = `synthgym run: agent episodes in parallel against a server, in MLGym's run layout

usage:
  synthgym run --model M --out DIR (--tasks a,b | --tasks-dir DIR | --suite mlgym) [options]

  --url URL              the synthgym server (SYNTHGYM_URL, http://127.0.0.1:8000); --token T (SYNTHGYM_TOKEN)
  --model M              the model name the endpoint serves
  --base-url U           OpenAI-compatible endpoint ending in /v1 (OPENAI_BASE_URL, https://api.openai.com/v1)
  --api-key K            (OPENAI_API_KEY)
  --strict               with --suite mlgym: fail when a task cannot run on the server, instead of skipping it (named)
  --runs-per-task N      episodes per task (1); run directories end in _run_0 ... _run_N-1
  --concurrency C        episodes at once (4)
  --out DIR              one directory per episode: <task>.traj, results.json, args.yaml, run-*.log
  --max-steps N          the step budget (${DEFAULT_MAX_STEPS}); --reward none|improvement|shaped
  --temperature T (${AGENT_DEFAULTS.temperature})  --top-p P (${AGENT_DEFAULTS.topP})  --max-tokens N (endpoint default)
  --endpoint-profile auto|${ENDPOINT_PROFILES.join('|')}   what the endpoint takes (auto: from the model name and
                         GET /v1/models). openai-reasoning (o1/o3/o4/gpt-5*) sends no temperature/top_p/logprobs and
                         max_completion_tokens; vllm reads max_model_len to fit the completion in the context.
                         A field the endpoint refuses by name is left out from then on (stderr, args.yaml agent.endpoint)
  --reasoning-effort E   reasoning_effort for reasoning models (e.g. minimal|low|medium|high; vLLM: none = no thinking)
  --mode thought_action|function_calling   DISCUSSION + one command block (MLGym), or one tool call per answer
  --token-data           ask for token ids and logprobs (vLLM/SGLang) and store them with each step
  --cost-limit D         dollars per episode ($${AGENT_DEFAULTS.costLimit.toFixed(2)}; 0 none), priced by --price-in/--price-out ($ per 1M tokens)
  --context-tokens N     the model's context; a prompt that would not fit ends with exit_context (0: only the API says)
  --api-retries N (${AGENT_DEFAULTS.apiRetries})  --tool-profile mlgym|sweagent  --backend local|docker

A killed run resumes when started again with the same arguments: finished episodes (results.json) are kept, the
others start over.`

function num (name: string, v: string | undefined, opts: { int?: boolean, min?: number } = {}): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min)) {
    throw new RunError(`--${name} must be ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''} (got ${v})`)
  }
  return n
}

export async function runCommand (args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: {
        url: { type: 'string' }, token: { type: 'string' }, model: { type: 'string' }, 'base-url': { type: 'string' },
        'api-key': { type: 'string' }, tasks: { type: 'string' }, 'tasks-dir': { type: 'string' }, suite: { type: 'string' },
        'runs-per-task': { type: 'string' }, concurrency: { type: 'string' }, out: { type: 'string' },
        'max-steps': { type: 'string' }, reward: { type: 'string' }, temperature: { type: 'string' }, 'top-p': { type: 'string' },
        'max-tokens': { type: 'string' }, mode: { type: 'string' }, 'token-data': { type: 'boolean' }, 'cost-limit': { type: 'string' },
        'price-in': { type: 'string' }, 'price-out': { type: 'string' }, 'context-tokens': { type: 'string' },
        'api-retries': { type: 'string' }, 'endpoint-profile': { type: 'string' }, 'reasoning-effort': { type: 'string' },
        'tool-profile': { type: 'string' }, backend: { type: 'string' }, strict: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (e) {
    console.error(`synthgym run: ${(e as Error).message}\n\n${RUN_HELP}`)
    return 2
  }
  const v = parsed.values
  if (v.help) { console.log(RUN_HELP); return 0 }
  try {
    if (!v.model) throw new RunError('--model is required')
    if (!v.out) throw new RunError('--out is required')
    if (v.suite !== undefined && v.suite !== 'mlgym') throw new RunError(`--suite must be mlgym (got ${v.suite})`)
    if (v.reward !== undefined && !REWARD_MODES.includes(v.reward as RewardMode)) throw new RunError(`--reward must be one of ${REWARD_MODES.join(', ')}`)
    if (v.mode !== undefined && v.mode !== 'thought_action' && v.mode !== 'function_calling') throw new RunError('--mode must be thought_action or function_calling')
    if (v['tool-profile'] !== undefined && v['tool-profile'] !== 'mlgym' && v['tool-profile'] !== 'sweagent') throw new RunError('--tool-profile must be mlgym or sweagent')
    if (v.backend !== undefined && v.backend !== 'local' && v.backend !== 'docker') throw new RunError('--backend must be local or docker')
    let endpointProfile
    try { endpointProfile = profileName(v['endpoint-profile']) } catch (e) { throw new RunError((e as Error).message) }
    const settings = agentSettings({
      endpointProfile,
      reasoningEffort: v['reasoning-effort'],
      model: v.model,
      baseUrl: v['base-url'],
      apiKey: v['api-key'],
      temperature: num('temperature', v.temperature, { min: 0 }),
      topP: num('top-p', v['top-p'], { min: 0 }),
      maxTokens: num('max-tokens', v['max-tokens'], { int: true, min: 1 }),
      mode: v.mode as ResponseMode | undefined,
      tokenData: v['token-data'],
      costLimit: num('cost-limit', v['cost-limit'], { min: 0 }),
      pricePerMTokIn: num('price-in', v['price-in'], { min: 0 }),
      pricePerMTokOut: num('price-out', v['price-out'], { min: 0 }),
      contextTokens: num('context-tokens', v['context-tokens'], { int: true, min: 0 }),
      apiRetries: num('api-retries', v['api-retries'], { int: true, min: 0 }),
      toolProfile: v['tool-profile'] as 'mlgym' | 'sweagent' | undefined
    })
    const server = new SynthgymClient(v.url ?? process.env.SYNTHGYM_URL ?? 'http://127.0.0.1:8000', { token: v.token ?? process.env.SYNTHGYM_TOKEN })
    const tasks = await resolveTasks(server, {
      tasks: v.tasks?.split(',').map(t => t.trim()).filter(Boolean), tasksDir: v['tasks-dir'], suite: v.suite as 'mlgym' | undefined,
      strict: v.strict, onSkip: (id, why) => console.error(`skipped ${id}: ${why}`)
    })
    const plan = {
      tasks, out: v.out, settings,
      runsPerTask: num('runs-per-task', v['runs-per-task'], { int: true, min: 1 }) ?? 1,
      concurrency: num('concurrency', v.concurrency, { int: true, min: 1 }) ?? 4,
      maxSteps: num('max-steps', v['max-steps'], { int: true, min: 1 }) ?? DEFAULT_MAX_STEPS,
      reward: v.reward as RewardMode | undefined,
      agentConfig: settings.mode === 'function_calling' ? 'function_calling' : 'default',
      env: v.backend ? { backend: v.backend as 'local' | 'docker' } : undefined
    }
    const tty = process.stderr.isTTY
    let lastPrint = 0
    const live = new Set<string>()
    let stopping = false
    const stop = () => {
      if (stopping) return
      stopping = true
      console.error(`\nsynthgym run: interrupted; closing ${live.size} environment(s). Run the same command again to resume.`)
      void Promise.all([...live].map(id => server.closeEnv(id).catch(() => {}))).then(() => process.exit(130))
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    console.error(`synthgym run: ${tasks.length} task(s) x ${plan.runsPerTask} run(s) of ${settings.model} via ${settings.baseUrl} against ${server.baseUrl} -> ${plan.out}`)
    const { records, progress } = await runAll(server, plan, {
      live,
      stopping: () => stopping,
      onProgress: p => {
        const now = Date.now()
        if (tty) process.stderr.write(`\r\x1b[2K${progressLine(p)}`)
        else if (now - lastPrint >= 10_000) { lastPrint = now; console.error(progressLine(p)) }
      },
      onEpisode: (r: EpisodeRecord) => {
        if (r.resumed) return
        const line = r.error ? `FAILED ${r.task} run ${r.run}: ${r.error}` : `${r.task} run ${r.run}: ${r.outcome?.exit_status}, score ${JSON.stringify(r.outcome?.score.at(-1) ?? null)} (baseline ${JSON.stringify(r.outcome?.baseline ?? null)})` +
          (r.outcome?.api_error ? `\n  the model API: ${r.outcome.api_error}` : '')
        process.stderr.write(`${tty ? '\r\x1b[2K' : ''}${line}\n`)
      }
    })
    process.removeListener('SIGINT', stop)
    process.removeListener('SIGTERM', stop)
    console.error(`${tty ? '\r\x1b[2K' : ''}${progressLine(progress)}`)
    const failed = records.filter(r => r.error)
    if (failed.length) console.error(`${failed.length} episode(s) failed (error.txt in their directories); run again to retry them`)
    // a run the model API ended everywhere scored nothing: that is a failure, whatever the autosubmissions say
    const ran = records.filter(r => r.outcome)
    if (ran.length > 0 && ran.every(r => r.outcome!.exit_status?.includes('exit_api'))) {
      console.error(`every episode ended exit_api (error.txt in their directories): check --model, --base-url, --endpoint-profile`)
      return 1
    }
    return failed.length ? 1 : 0
  } catch (e) {
    if (e instanceof RunError) { console.error(`synthgym run: ${e.message}`); return 2 }
    throw e
  }
}
