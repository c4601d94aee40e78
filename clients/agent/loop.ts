// The agent loop, MLGym's (mlgym/agent/base.py) over synthgym's WebSocket API as any external harness would run it:
// reset, then per step: limits (cost, context, steps) → model call with format re-queries → the action as a step
// with its model call → the observation with MLGym's footer. It keeps MLGym's full .traj as it goes.
import type { SynthgymClient, WsClient } from '../client.js'
import type { CreateEnvBody, RewardMode, ToolsResult } from '../../env-spec/messages.js'
import type { ChatMessage, ModelAttempt, ModelCall, ResetResult, StepResult } from '../../env-spec/episode.js'
import type { Metrics, MlgymHistoryEntry, MlgymResults, MlgymTraj, MlgymTrajStep } from '../../env-spec/trajectory.js'
import { lastObservations } from './history.js'
import { ApiFailedError, ContextLimitError, ModelClient, type ModelReply } from './model.js'
import { splitReasoning } from '../llm/reasoning.js'
import { FormatError, parseFunctionCall, parseThoughtAction, type Parsed } from './parser.js'
import { systemPrompt, taskMessage, withFooter, type FooterState } from './prompt.js'
import { DEFAULT_MAX_STEPS, type AgentSettings } from './settings.js'

export interface EpisodeSpec {
  task: string
  maxSteps?: number
  reward?: RewardMode
  /** labels stored on the episode (POST /v1/envs meta) */
  meta?: Record<string, unknown>
  /** other POST /v1/envs fields: backend, image, limits, timeouts... */
  env?: Omit<CreateEnvBody, 'task' | 'max_steps' | 'reward' | 'meta' | 'model' | 'tool_profile'>
}

/** What the harness spent; model and env time are apart from the harness's own. */
export interface EpisodeStats {
  steps: number
  api_calls: number
  tokens_sent: number
  tokens_received: number
  cost: number
  format_errors: number
  api_retries: number
  /** ms waiting for the model (retries and back-off included) */
  model_ms: number
  /** ms waiting for the environment's steps */
  env_ms: number
  /** ms of the step loop outside both: prompt building, parsing, bookkeeping */
  harness_ms: number
}

/** After each step: its result, the totals so far, the .traj so far, and where this step's time went (ms). */
export interface StepEvent {
  step: number
  action: string
  result: StepResult
  stats: EpisodeStats
  traj: MlgymTraj
  timing: { model_ms: number, env_ms: number, harness_ms: number }
}

export interface EpisodeOutcome {
  env_id: string
  episode_id: string
  task: string
  exit_status: string | null
  submission: string | null
  score: Metrics[]
  baseline: Metrics | null
  traj: MlgymTraj
  results: MlgymResults
  stats: EpisodeStats
  /** the endpoint's own message when the episode ended exit_api or exit_context */
  api_error?: string
}

export interface RunEpisodeOptions {
  /** a shared model client (its settings win); one is made from `settings` otherwise */
  model?: ModelClient
  /** GET /v1/tools of the settings' profile, when the caller has it already */
  tools?: ToolsResult
  /** a WebSocket session to use (left open); one is opened and closed otherwise */
  ws?: WsClient
  onStep?: (e: StepEvent) => void | Promise<void>
  /** called once the environment exists (e.g. to record its id for a resumed run) */
  onReset?: (r: ResetResult & { env_id: string }) => void | Promise<void>
}

const AGENT = 'primary_0'

/** An exit the harness takes itself; the environment autosubmits on it (MLGym's exit_* actions). */
type Exit = 'exit_cost' | 'exit_context' | 'exit_format' | 'exit_api'

/** What one step's model work came to: an action to run, or an exit (and why), the model call to record. */
interface Decision { parsed: Parsed | null, exit: Exit | null, call: ModelCall | null, reply: ModelReply | null, reasoning?: string | null, error?: string }

function textOf (content: ChatMessage['content']): string {
  return typeof content === 'string' ? content : content === null ? '' : JSON.stringify(content)
}

/** The assistant message as sent back in later prompts: role, text and tool calls only (no endpoint extras). */
function asHistory (m: ChatMessage, keepToolCalls: boolean): ChatMessage {
  const content = typeof m.content === 'string' ? splitReasoning(m).content : m.content ?? null
  return { role: 'assistant', content, ...(keepToolCalls && m.tool_calls?.length ? { tool_calls: m.tool_calls } : {}) }
}

function tokenData (r: ModelReply): Pick<ModelCall, 'prompt_token_ids' | 'completion_token_ids' | 'completion_logprobs'> {
  return {
    ...(r.prompt_token_ids ? { prompt_token_ids: r.prompt_token_ids } : {}),
    ...(r.completion_token_ids ? { completion_token_ids: r.completion_token_ids } : {}),
    ...(r.completion_logprobs ? { completion_logprobs: r.completion_logprobs } : {})
  }
}

export async function runEpisode (server: SynthgymClient, settings: AgentSettings, spec: EpisodeSpec, opts: RunEpisodeOptions = {}): Promise<EpisodeOutcome> {
  const model = opts.model ?? new ModelClient(settings)
  const s = model.settings
  const fc = s.mode === 'function_calling'
  const tools = opts.tools ?? await server.tools(s.toolProfile)
  const task = await server.task(spec.task)
  const ws = opts.ws ?? await server.ws()
  const stats: EpisodeStats = { steps: 0, api_calls: 0, tokens_sent: 0, tokens_received: 0, cost: 0, format_errors: 0, api_retries: 0, model_ms: 0, env_ms: 0, harness_ms: 0 }
  let envId: string | null = null
  try {
    const env = await ws.create({
      ...spec.env, task: spec.task, max_steps: spec.maxSteps ?? DEFAULT_MAX_STEPS, reward: spec.reward, tool_profile: s.toolProfile,
      model: s.model, ...(spec.meta ? { meta: spec.meta } : {}),
      // the loop never re-attaches: a killed harness leaves nothing open past the server's --socket-grace
      outlive_socket: false
    })
    envId = env.env_id
    const reset = await ws.reset(env.env_id)
    await opts.onReset?.({ ...reset, env_id: env.env_id })
    const maxSteps = reset.info.max_steps
    let footer: FooterState = { currentStep: 0, remainingSteps: maxSteps, openFile: 'n/a', workingDir: '/home/agent/workspace' }

    const system = systemPrompt({ commandDocs: tools.command_docs, mode: s.mode })
    const first = taskMessage({ description: reset.observation, trainingTimeout: task.training_timeout ?? 3600, state: footer, mode: s.mode })
    // what the model is shown (before the history processor), and MLGym's unprocessed .traj history
    const history: ChatMessage[] = [{ role: 'system', content: system }, { role: 'user', content: first }]
    const trajHistory: MlgymHistoryEntry[] = [{ role: 'system', content: system, agent: AGENT }, { role: 'user', content: first, agent: AGENT }]
    const trajSteps: MlgymTrajStep[] = []
    let last: StepResult | null = null
    // tokens per character of the last prompt: the context check's estimate of the next one
    let tokensPerChar = 0.25
    let apiError: string | undefined

    const traj = (): MlgymTraj => ({
      environment: 'mlgym_main',
      trajectory: trajSteps,
      history: trajHistory,
      info: {
        model_stats: { total_cost: stats.cost, task_cost: stats.cost, tokens_sent: stats.tokens_sent, tokens_received: stats.tokens_received, api_calls: stats.api_calls },
        exit_status: last?.info.exit_status ?? null, submission: last?.info.submission ?? null, score: last?.info.score ?? [], summarizer: {},
        ...(apiError !== undefined ? { api_error: apiError } : {})
      }
    })

    const count = (r: ModelReply) => {
      stats.api_calls += 1
      stats.tokens_sent += r.usage?.prompt_tokens ?? 0
      stats.tokens_received += r.usage?.completion_tokens ?? 0
      stats.cost += r.cost
      stats.model_ms += r.api_ms
      stats.api_retries += r.api_retries
    }

    const decide = async (): Promise<Decision> => {
      if (s.costLimit > 0 && stats.cost >= s.costLimit) return { parsed: null, exit: 'exit_cost', call: null, reply: null }
      const base = lastObservations(history, s.keepObservations)
      const attempts: Array<{ reply: ModelReply, error: string, sent: ChatMessage[] }> = []
      let sent = base
      for (let tries = 0; tries < s.formatTries; tries++) {
        if (s.contextTokens > 0) {
          const chars = sent.reduce((n, m) => n + textOf(m.content).length + (m.tool_calls ? JSON.stringify(m.tool_calls).length : 0), 0)
          if (chars * tokensPerChar > s.contextTokens) return failed('exit_context')
        }
        if (s.costLimit > 0 && stats.cost >= s.costLimit) return failed('exit_cost')
        let reply: ModelReply
        try { reply = await model.complete(sent, fc ? tools.tools : undefined) } catch (e) {
          if (e instanceof ContextLimitError) return failed('exit_context', e.message)
          if (e instanceof ApiFailedError) return failed('exit_api', e.message)
          throw e
        }
        count(reply)
        const chars = sent.reduce((n, m) => n + textOf(m.content).length, 0)
        if (reply.usage?.prompt_tokens && chars > 0) tokensPerChar = reply.usage.prompt_tokens / chars
        const message = { ...reply.message, content: reply.message.content ?? null }
        // reasoning (a reasoning field, or <think> inline) is never parsed: MLGym's one-block rule is for the answer
        const split = splitReasoning(message)
        try {
          const answer = { ...message, content: split.content }
          const parsed = fc ? parseFunctionCall(answer, tools.definitions, s.toolProfile) : parseThoughtAction(split.content)
          return { parsed, exit: null, call: modelCall(sent, message, reply, attempts), reply, reasoning: split.reasoning }
        } catch (e) {
          if (!(e instanceof FormatError)) throw e
          stats.format_errors += 1
          attempts.push({ reply: { ...reply, message }, error: e.message, sent })
          // MLGym's requery: the step's prompt, the failed answer, the parser's error (only the last failure kept)
          sent = [...base, asHistory(message, false), { role: 'user', content: e.message }]
        }
      }
      return failed('exit_format')

      function failed (exit: Exit, error?: string): Decision {
        // the step records the last answer (if any) as its call, the earlier failures as requeries
        const lastTry = attempts.at(-1)
        if (!lastTry) return { parsed: null, exit, call: null, reply: null, error }
        const reasoning = splitReasoning(lastTry.reply.message).reasoning
        return { parsed: null, exit, call: modelCall(lastTry.sent, lastTry.reply.message, lastTry.reply, attempts.slice(0, -1)), reply: lastTry.reply, reasoning, error }
      }
    }

    const modelCall = (sent: ChatMessage[], message: ChatMessage, reply: ModelReply, failedBefore: Array<{ reply: ModelReply, error: string }>): ModelCall => {
      const requeries: ModelAttempt[] = failedBefore.map(a => ({
        completion: a.reply.message, error: a.error, usage: a.reply.usage, finish_reason: a.reply.finish_reason, latency_ms: a.reply.latency_ms, ...tokenData(a.reply)
      }))
      return {
        model: reply.model, messages: sent, completion: message, usage: reply.usage, finish_reason: reply.finish_reason,
        latency_ms: reply.latency_ms, sampling: reply.sampling, ...tokenData(reply),
        ...(requeries.length ? { requeries } : {}),
        api_retries: reply.api_retries + failedBefore.reduce((n, a) => n + a.reply.api_retries, 0),
        cost: reply.cost + failedBefore.reduce((n, a) => n + a.reply.cost, 0)
      }
    }

    while (true) {
      const t0 = performance.now()
      const modelBefore = stats.model_ms
      let d: Decision
      // the step past the budget only autosubmits: the server ignores its action, so no model call is spent on it
      if (footer.remainingSteps <= 0) d = { parsed: { thought: 'The step budget is spent.', action: 'submit' }, exit: null, call: null, reply: null }
      else d = await decide()
      const action = d.exit ?? d.parsed!.action
      if (d.error !== undefined) apiError = d.error
      const discussion = d.parsed?.thought ?? ''
      const reasoning = d.reasoning ?? null
      // the thought is the reasoning, then the discussion; the response is the answer without the reasoning
      const thought = reasoning !== null ? (discussion ? `${reasoning}\n\n${discussion}` : reasoning) : discussion
      const content = d.call ? (typeof d.call.completion.content === 'string' ? splitReasoning(d.call.completion).content : textOf(d.call.completion.content)) : ''
      // the raw output; in function-calling mode its thought/action rendering (the real message is in `model`)
      const response = d.exit ? content : fc ? `${discussion}\n\n\`\`\`\n${action}\n\`\`\`` : content
      const withReasoning = reasoning !== null ? { reasoning } : {}
      const tEnv = performance.now()
      const r = await ws.step(env.env_id, action, { response, thought, ...(d.call ? { model: d.call } : {}) })
      const envMs = performance.now() - tEnv
      stats.env_ms += envMs
      stats.steps += 1
      last = r
      footer = { currentStep: r.info.current_step, remainingSteps: r.info.max_steps - r.info.current_step, openFile: r.info.state.open_file, workingDir: r.info.state.working_dir }
      const observation = withFooter(r.observation, footer)
      const call = d.call?.completion.tool_calls?.[0]
      if (d.parsed && d.call) {
        if (fc && call) {
          history.push(asHistory(d.call.completion, true), { role: 'tool', tool_call_id: call.id, content: observation })
        } else history.push(asHistory(d.call.completion, false), { role: 'user', content: observation })
      }
      trajSteps.push({
        action, observation: r.observation, response, state: JSON.stringify(r.info.state), thought, execution_time: envMs / 1000,
        exit_code: r.info.exit_code ?? null, ...withReasoning
      })
      trajHistory.push(
        { role: 'assistant', content: response, thought, action, agent: AGENT, ...withReasoning, ...(fc && call ? { tool_calls: [call] } : {}) } as MlgymHistoryEntry,
        { role: 'user', content: observation, agent: AGENT }
      )
      const modelMs = stats.model_ms - modelBefore
      const harnessMs = (performance.now() - t0) - envMs - modelMs
      stats.harness_ms += harnessMs
      await opts.onStep?.({ step: stats.steps, action, result: r, stats: { ...stats }, traj: traj(), timing: { model_ms: modelMs, env_ms: envMs, harness_ms: harnessMs } })
      if (r.terminated || r.truncated) break
    }
    const t = traj()
    return {
      env_id: env.env_id, episode_id: reset.episode_id, task: spec.task,
      exit_status: t.info.exit_status, submission: t.info.submission, score: t.info.score, baseline: reset.info.baseline,
      traj: t, results: { agent: t.info.score, baseline: reset.info.baseline }, stats,
      ...(apiError !== undefined ? { api_error: apiError } : {})
    }
  } finally {
    if (envId) await ws.closeEnv(envId).catch(() => {})
    if (!opts.ws) ws.close()
  }
}
