// One model call over any OpenAI-compatible endpoint (the `openai` package): the sampling settings, vLLM/SGLang token
// ids and logprobs on request, retries with exponential back-off (Retry-After honoured), the call's cost, and the
// two failures that end an episode: the context is full (exit_context) or the API keeps failing (exit_api).
import OpenAI from 'openai'
import type { ChatMessage, Usage } from '../../env-spec/episode.js'
import type { AgentSettings } from './settings.js'

/** The prompt no longer fits the model's context. */
export class ContextLimitError extends Error {}
/** The API failed and will not be retried (retries spent, or an error retrying cannot fix). */
export class ApiFailedError extends Error {}

export interface ModelReply {
  /** the answer's message exactly as the endpoint returned it (reasoning_content and other extra fields kept) */
  message: ChatMessage
  /** the model the endpoint answered as */
  model: string
  usage: Usage | null
  finish_reason: string | null
  /** ms the successful request took */
  latency_ms: number
  /** ms spent in the API in all, failed attempts and back-off included */
  api_ms: number
  api_retries: number
  /** dollars: the endpoint's `usage.cost` if it sends one, else usage times the settings' prices */
  cost: number
  prompt_token_ids?: number[]
  completion_token_ids?: number[]
  completion_logprobs?: number[]
}

// what an endpoint says when the prompt is too long (OpenAI, vLLM, SGLang, Anthropic-compatible proxies)
const CONTEXT_ERROR = /context[_ ]length|context window|maximum context|prompt is too long|too many tokens|input is too long|reduce the length/i

function isContextError (e: unknown): boolean {
  return e instanceof OpenAI.APIError && (e.status === 400 || e.status === 413 || e.status === 422) &&
    (e.code === 'context_length_exceeded' || CONTEXT_ERROR.test(e.message))
}

function retryable (e: unknown): boolean {
  if (e instanceof OpenAI.APIConnectionError) return true // timeouts and dropped connections too
  if (e instanceof OpenAI.APIError) return e.status === undefined || e.status === 408 || e.status === 409 || e.status === 429 || e.status >= 500
  return false
}

function retryAfterMs (e: unknown): number | null {
  if (!(e instanceof OpenAI.APIError) || !e.headers) return null
  const ms = Number(e.headers.get('retry-after-ms'))
  if (Number.isFinite(ms) && ms >= 0 && e.headers.get('retry-after-ms') !== null) return ms
  const s = e.headers.get('retry-after')
  if (s === null) return null
  const secs = Number(s)
  if (Number.isFinite(secs)) return secs * 1000
  const at = Date.parse(s)
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : null
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** The sampling fields a request sends, as recorded with the step. */
export function samplingOf (s: AgentSettings): Record<string, unknown> {
  return {
    temperature: s.temperature, top_p: s.topP,
    ...(s.maxTokens !== null ? { max_tokens: s.maxTokens } : {}),
    ...(s.tokenData ? { logprobs: true, return_token_ids: true } : {})
  }
}

export class ModelClient {
  private api: OpenAI

  constructor (readonly settings: AgentSettings) {
    // retries are ours: counted, backed off, and turned into exit_api when spent
    this.api = new OpenAI({ baseURL: settings.baseUrl, apiKey: settings.apiKey, maxRetries: 0, timeout: settings.requestTimeoutMs })
  }

  /** Dollars for this usage at the settings' prices, or the endpoint's own figure. */
  costOf (usage: Usage | null): number {
    if (!usage) return 0
    if (typeof usage.cost === 'number' && Number.isFinite(usage.cost)) return usage.cost
    return (usage.prompt_tokens * this.settings.pricePerMTokIn + usage.completion_tokens * this.settings.pricePerMTokOut) / 1e6
  }

  async complete (messages: ChatMessage[], tools?: unknown[]): Promise<ModelReply> {
    const s = this.settings
    const body = {
      model: s.model, messages, ...samplingOf(s),
      ...(tools?.length ? { tools } : {})
    } as unknown as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming
    const began = performance.now()
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now()
      try {
        const res = await this.api.chat.completions.create(body)
        const latency = performance.now() - t0
        return this.reply(res, latency, performance.now() - began, attempt)
      } catch (e) {
        if (isContextError(e)) throw new ContextLimitError(`the prompt does not fit the model's context: ${(e as Error).message}`)
        if (!retryable(e)) throw new ApiFailedError(`the model API refused the request: ${(e as Error).message}`)
        if (attempt >= s.apiRetries) throw new ApiFailedError(`the model API failed ${attempt + 1} times; the last error: ${(e as Error).message}`)
        const backoff = Math.min(s.retryMaxMs, s.retryBaseMs * 2 ** attempt) * (0.5 + Math.random() / 2)
        await sleep(Math.min(s.retryMaxMs, retryAfterMs(e) ?? backoff))
      }
    }
  }

  private reply (res: OpenAI.Chat.Completions.ChatCompletion, latency: number, apiMs: number, retries: number): ModelReply {
    const choice = res.choices?.[0] as (OpenAI.Chat.Completions.ChatCompletion.Choice & { token_ids?: number[], prompt_token_ids?: number[] }) | undefined
    if (!choice) throw new ApiFailedError('the model API answered without a choice')
    const raw = res as OpenAI.Chat.Completions.ChatCompletion & { prompt_token_ids?: number[] }
    const usage = res.usage ? { ...res.usage } as unknown as Usage : null
    const out: ModelReply = {
      message: choice.message as unknown as ChatMessage,
      model: res.model || this.settings.model,
      usage,
      finish_reason: choice.finish_reason ?? null,
      latency_ms: latency,
      api_ms: apiMs,
      api_retries: retries,
      cost: this.costOf(usage)
    }
    // vLLM puts the prompt's ids on the response and the completion's on the choice; SGLang-style servers on the choice
    const promptIds = raw.prompt_token_ids ?? choice.prompt_token_ids
    if (Array.isArray(promptIds)) out.prompt_token_ids = promptIds
    if (Array.isArray(choice.token_ids)) out.completion_token_ids = choice.token_ids
    const lp = choice.logprobs?.content
    if (Array.isArray(lp)) out.completion_logprobs = lp.map(c => c.logprob)
    return out
  }
}
