// The one LLM client of synthgym (`run`, smoke episodes and `generate`): chat completions over HTTP to any
// OpenAI-compatible endpoint, shaped by its endpoint profile (profiles.ts). Retries with back-off on 408/409/429/
// 5xx, timeouts and dropped connections (Retry-After honoured). A field the endpoint refuses by name is dropped once
// (said through `onNote`, kept in `record()`); structured output falls back to JSON in text only on an error about
// response_format; any other refusal ends with the endpoint's own message.
import type { ChatMessage, Usage } from '../../env-spec/episode.js'
import { ApiFailedError, ContextLimitError } from './errors.js'
import { detectProfile, PROFILES, type EndpointProfileName, type ModelCard } from './profiles.js'

export interface LlmSettings {
  /** ends in /v1 */
  baseUrl: string
  apiKey: string
  model: string
  /** 'auto': from the model name and GET /v1/models */
  profile: EndpointProfileName | 'auto'
  /** null: not sent (the endpoint's default) */
  temperature: number | null
  topP: number | null
  /** completion tokens per reply; null: none sent, unless `fillContext` */
  maxTokens: number | null
  /** with maxTokens null: the profile's budget, cut to what the context leaves */
  fillContext: boolean
  reasoningEffort: string | null
  /** token ids and logprobs (vLLM/SGLang) */
  tokenData: boolean
  retries: number
  retryBaseMs: number
  retryMaxMs: number
  timeoutMs: number
}

export interface LlmReply {
  /** the message exactly as the endpoint returned it (reasoning fields and other extras kept) */
  message: ChatMessage
  model: string
  usage: Usage | null
  finish_reason: string | null
  /** ms the successful request took */
  latency_ms: number
  /** ms in the API in all, failed attempts and back-off included */
  api_ms: number
  api_retries: number
  /** the request's fields other than model, messages, tools and response_format, as sent */
  sampling: Record<string, unknown>
  prompt_token_ids?: number[]
  completion_token_ids?: number[]
  completion_logprobs?: number[]
}

/** What a run records of its endpoint: the profile, the context length, and each field it refused and why. */
export interface EndpointRecord {
  profile: EndpointProfileName
  context_length: number | null
  dropped: Record<string, string>
  structured_output: boolean | null
}

export interface EndpointError { status: number, message: string, param: string | null, code: unknown }

/** The error of an HTTP answer: OpenAI's `{error: {...}}`, vLLM's older flat body, FastAPI's `detail`, or the text. */
export function endpointError (status: number, text: string): EndpointError {
  let j: any
  try { j = JSON.parse(text) } catch { return { status, message: text.trim() || `(an empty ${status} answer)`, param: null, code: null } }
  const e = j?.error !== null && typeof j?.error === 'object' ? j.error : j
  const message = typeof e?.message === 'string' ? e.message
    : typeof j?.error === 'string' ? j.error : j?.detail !== undefined ? JSON.stringify(j.detail) : text
  return { status, message, param: typeof e?.param === 'string' ? e.param : null, code: e?.code ?? null }
}

// what endpoints say when the prompt is too long (OpenAI, vLLM's texts old and new, SGLang, proxies)
const CONTEXT_ERROR = /context[_ ]length|context window|maximum context|prompt is too long|too many tokens|input is too long|reduce the length/i
const isContext = (e: EndpointError) => [400, 413, 422].includes(e.status) && (e.code === 'context_length_exceeded' || CONTEXT_ERROR.test(e.message))
const ABOUT_FORMAT = /response_format|json_schema|json_object|structured output/i
// fields a refusal never drops: without them there is no request
const KEPT = new Set(['model', 'messages', 'tools', 'response_format'])
const retryableStatus = (s: number) => s === 408 || s === 409 || s === 429 || s >= 500

class Transient extends Error {
  constructor (message: string, readonly waitMs: number | null, readonly status: number | null = null, readonly endpointMessage: string | null = null) { super(message) }
}

function retryAfterMs (h: Headers): number | null {
  const ms = h.get('retry-after-ms')
  if (ms !== null && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms)
  const s = h.get('retry-after')
  if (s === null) return null
  if (Number.isFinite(Number(s))) return Number(s) * 1000
  const at = Date.parse(s)
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : null
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const charsOf = (messages: ChatMessage[], tools?: unknown[]) =>
  messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.length : JSON.stringify(m.content ?? '').length) +
    (m.tool_calls ? JSON.stringify(m.tool_calls).length : 0), 0) + (tools ? JSON.stringify(tools).length : 0)

export class LlmClient {
  /** null until an answer told: false after an error about response_format */
  structured: boolean | null = null
  private profile: EndpointProfileName | null = null
  private contextLength: number | null = null
  private detecting: Promise<void> | null = null
  private readonly dropped = new Map<string, string>()
  private maxTokensField: 'max_completion_tokens' | 'max_tokens' | null = null
  // tokens per prompt character: conservative until the endpoint's usage says (BPE is ~0.25-0.35)
  private tokensPerChar = 0.5

  constructor (readonly settings: LlmSettings, private onNote: (line: string) => void = line => process.stderr.write(`${line}\n`)) {}

  private url (path: string) { return `${this.settings.baseUrl.replace(/\/+$/, '')}${path}` }
  private headers () { return { 'content-type': 'application/json', authorization: `Bearer ${this.settings.apiKey}` } }

  /** The profile, from the settings or the model name and GET /v1/models (whose max_model_len is the context length). */
  async endpoint (): Promise<EndpointRecord> {
    this.detecting ??= this.detect()
    await this.detecting
    return this.record()
  }

  record (): EndpointRecord {
    return { profile: this.profile ?? 'openai-compatible', context_length: this.contextLength, dropped: Object.fromEntries(this.dropped), structured_output: this.structured }
  }

  private async detect (): Promise<void> {
    let card: ModelCard | null = null
    try {
      const r = await fetch(this.url('/models'), { headers: this.headers(), signal: AbortSignal.timeout(Math.min(this.settings.timeoutMs, 30_000)) })
      if (r.ok) {
        const data = ((await r.json()) as { data?: ModelCard[] }).data ?? []
        card = data.find(m => m.id === this.settings.model) ?? (data.length === 1 ? data[0]! : null)
      }
    } catch {} // an endpoint without /v1/models (or one down now) is still usable: the request will tell
    this.profile = this.settings.profile === 'auto' ? detectProfile(this.settings.model, card) : this.settings.profile
    if (typeof card?.max_model_len === 'number' && card.max_model_len > 0) this.contextLength = card.max_model_len
  }

  /** The request body the profile and the refusals so far allow. */
  private body (messages: ChatMessage[], tools: unknown[] | undefined, schema: { name: string, schema: object } | undefined): Record<string, unknown> {
    const s = this.settings
    const p = PROFILES[this.profile!]
    const body: Record<string, unknown> = { model: s.model, messages, ...(tools?.length ? { tools } : {}) }
    if (s.temperature !== null) body.temperature = s.temperature
    if (s.topP !== null) body.top_p = s.topP
    let budget = s.maxTokens ?? (s.fillContext ? p.completionTokens : null)
    if (this.contextLength !== null && budget !== null) {
      // vLLM refuses prompt + completion > max_model_len: the completion gets what the prompt leaves
      const prompt = Math.ceil(charsOf(messages, tools) * this.tokensPerChar) + 64
      const room = this.contextLength - prompt
      if (room < 1) throw new ContextLimitError(`the prompt (about ${prompt} tokens) leaves no room in the model's context of ${this.contextLength} tokens`, null, null)
      budget = Math.min(budget, room)
    }
    if (budget !== null) body[this.maxTokensField ?? p.maxTokensField] = budget
    if (s.reasoningEffort !== null) body.reasoning_effort = s.reasoningEffort
    if (s.tokenData && p.tokenIds) { body.logprobs = true; body.return_token_ids = true }
    if (schema && this.structured !== false) {
      body.response_format = { type: 'json_schema', json_schema: { name: schema.name, schema: schema.schema, strict: true } }
    }
    for (const k of [...p.omit, ...this.dropped.keys()]) delete body[k]
    return body
  }

  /** One completion: retried on transient failures, reshaped after a refused field, else the endpoint's error. */
  async chat (messages: ChatMessage[], opts: { tools?: unknown[], schema?: { name: string, schema: object } } = {}): Promise<LlmReply> {
    await this.endpoint()
    const s = this.settings
    const began = performance.now()
    let reshaped = 0
    let shrunk = 0
    for (let attempt = 0; ;) {
      const body = this.body(messages, opts.tools, opts.schema)
      const t0 = performance.now()
      try {
        const r = await this.post(body)
        if (r.ok) return this.reply(body, await r.json().catch(() => { throw new Transient('the endpoint answered 200 with a body that is not JSON', null) }), messages, opts.tools, performance.now() - t0, performance.now() - began, attempt)
        const text = await r.text()
        const e = endpointError(r.status, text)
        if (retryableStatus(r.status)) throw new Transient(`${r.status} ${e.message}`, retryAfterMs(r.headers), r.status, e.message)
        // our estimate of the prompt was short (code counts more tokens per character than prose): a smaller budget
        if (isContext(e) && this.sized(body) && shrunk < 3) { shrunk++; this.tokensPerChar *= 1.5; continue }
        if (isContext(e)) throw new ContextLimitError(`the prompt does not fit the model's context: ${r.status} ${e.message}`, r.status, e.message)
        if (reshaped < 8 && this.reshape(e, body)) { reshaped++; continue }
        throw new ApiFailedError(`the model API refused the request: ${r.status} ${e.message}`, r.status, e.message)
      } catch (e) {
        if (!(e instanceof Transient)) {
          if (e instanceof ContextLimitError || e instanceof ApiFailedError) throw e
          if (!(e instanceof Error) || !['TypeError', 'TimeoutError', 'AbortError'].includes(e.name)) throw e
        }
        const why = e instanceof Transient ? e.message : e.name === 'TypeError' ? `connection error: ${(e.cause as Error | undefined)?.message ?? e.message}` : `the request timed out after ${s.timeoutMs / 1000} s`
        if (attempt >= s.retries) throw new ApiFailedError(`the model API failed ${attempt + 1} times; the last error: ${why}`, e instanceof Transient ? e.status : null, e instanceof Transient ? e.endpointMessage ?? why : why)
        const backoff = Math.min(s.retryMaxMs, s.retryBaseMs * 2 ** attempt) * (0.5 + Math.random() / 2)
        const wait = Math.min(s.retryMaxMs, (e instanceof Transient ? e.waitMs : null) ?? backoff)
        this.onRetry?.(why, wait)
        attempt++
        await sleep(wait)
      }
    }
  }

  /** Whether the request's completion budget was cut to fit the context (so a smaller one may fit). */
  private sized (body: Record<string, unknown>): boolean {
    return this.contextLength !== null && (body.max_completion_tokens !== undefined || body.max_tokens !== undefined)
  }

  /** Told on every retry (generation prints it). */
  onRetry?: (why: string, waitMs: number) => void

  private post (body: Record<string, unknown>): Promise<Response> {
    return fetch(this.url('/chat/completions'), { method: 'POST', headers: this.headers(), body: JSON.stringify(body), signal: AbortSignal.timeout(this.settings.timeoutMs) })
  }

  /** After a refusal: true when the next request differs by what the endpoint named (a field, or structured output). */
  private reshape (e: EndpointError, body: Record<string, unknown>): boolean {
    if (body.response_format !== undefined && (e.param === 'response_format' || ABOUT_FORMAT.test(e.message))) {
      this.structured = false
      this.onNote(`synthgym: ${this.settings.model} at ${this.settings.baseUrl} refused structured output (${e.status} ${e.message}); asking for JSON in the text from now on`)
      return true
    }
    const named = e.param ?? /Unsupported (?:parameter|value): '([\w.]+)'/.exec(e.message)?.[1] ?? null
    if (named === null) return false
    const key = named === 'reasoning.effort' ? 'reasoning_effort' : named
    if (KEPT.has(key) || !(key in body) || this.dropped.has(key)) return false
    this.dropped.set(key, e.message)
    // a refused max_tokens that names its replacement moves the budget there instead of dropping it
    const other = key === 'max_tokens' ? 'max_completion_tokens' : key === 'max_completion_tokens' ? 'max_tokens' : null
    const moved = other !== null && e.message.includes(other)
    if (moved) this.maxTokensField = other as 'max_tokens' | 'max_completion_tokens'
    this.onNote(`synthgym: ${this.settings.model} at ${this.settings.baseUrl} refused '${key}' (${e.status} ${e.message}); ` +
      `${moved ? `sending ${other} instead` : `leaving '${key}' out`} from now on`)
    return true
  }

  private reply (body: Record<string, unknown>, res: any, messages: ChatMessage[], tools: unknown[] | undefined, latency: number, apiMs: number, retries: number): LlmReply {
    const choice = res?.choices?.[0]
    if (!choice?.message) throw new ApiFailedError(`the model API answered without a choice: ${JSON.stringify(res).slice(0, 500)}`, 200, null)
    if (body.response_format !== undefined) this.structured = true
    const usage = res.usage && typeof res.usage.prompt_tokens === 'number' ? { ...res.usage } as Usage : null
    const chars = charsOf(messages, tools)
    if (usage?.prompt_tokens && chars > 0) this.tokensPerChar = Math.max(this.tokensPerChar * 0.5, (usage.prompt_tokens / chars) * 1.1)
    const { model: _m, messages: _msgs, tools: _t, response_format: _rf, ...sampling } = body
    const out: LlmReply = {
      message: choice.message as ChatMessage,
      model: res.model || this.settings.model,
      usage,
      finish_reason: choice.finish_reason ?? null,
      latency_ms: latency,
      api_ms: apiMs,
      api_retries: retries,
      sampling
    }
    // vLLM puts the prompt's ids on the response and the completion's on the choice; SGLang-style servers on the choice
    const promptIds = res.prompt_token_ids ?? choice.prompt_token_ids
    if (Array.isArray(promptIds)) out.prompt_token_ids = promptIds
    if (Array.isArray(choice.token_ids)) out.completion_token_ids = choice.token_ids
    const lp = choice.logprobs?.content
    if (Array.isArray(lp)) out.completion_logprobs = lp.map((c: { logprob: number }) => c.logprob)
    return out
  }
}
