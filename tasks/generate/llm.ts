// LLM calls of the generation pipeline, through the `openai` package to any OpenAI-compatible endpoint: retries
// with backoff on 429, 5xx, timeouts and dropped connections; structured output where the endpoint takes it, else
// JSON in text; a reply that is not valid JSON, or not valid against its schema, goes back with the errors.
import OpenAI, { APIConnectionError, APIError } from 'openai'
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions'
import { ValidationError } from '../../env-spec/validate.js'
import type { Tokens } from '../../env-spec/generation.js'
import { LlmError } from '../errors.js'
import { GENERATE_DEFAULTS } from './settings.js'

export interface LlmSettings {
  /** default: what the openai package reads (OPENAI_BASE_URL, else api.openai.com) */
  baseUrl?: string
  /** default: OPENAI_API_KEY */
  apiKey?: string
  model: string
  /** left out of the request when unset (some models take only their default) */
  temperature?: number
  /** seconds per request */
  timeout?: number
  retries?: number
  backoffMs?: number
  backoffMaxMs?: number
  maxTokens?: number
}

export type Message = ChatCompletionMessageParam

export interface JsonReply<T> {
  value: T
  tokens: Tokens
  /** replies it took (1 when the first was valid) */
  replies: number
  /** the reply text as the model wrote it */
  text: string
}

/** Thrown when no reply was valid after the allowed attempts; `last` is why the last one was refused. */
export class InvalidReplyError extends Error {
  readonly code = 'INVALID_REPLY'
  constructor (message: string, readonly tokens: Tokens) { super(message) }
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** What OpenAI's strict structured output cannot take; ajv still checks the full schema afterwards. */
const UNSUPPORTED_STRICT = new Set(['minLength', 'maxLength', 'uniqueItems'])
export function strictSchema (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strictSchema)
  if (!schema || typeof schema !== 'object') return schema
  return Object.fromEntries(Object.entries(schema).filter(([k]) => !UNSUPPORTED_STRICT.has(k)).map(([k, v]) => [k, k === 'enum' || k === 'const' ? v : strictSchema(v)]))
}

/** The JSON object in a reply: the whole text, else inside a ```json fence, else from the first { to the last }. */
export function extractJson (text: string): unknown {
  const t = text.trim()
  try { return JSON.parse(t) } catch {}
  const fence = /```(?:json)?\s*\n([\s\S]*?)\n```/.exec(t)
  if (fence) { try { return JSON.parse(fence[1]!) } catch {} }
  const a = t.indexOf('{')
  const b = t.lastIndexOf('}')
  if (a >= 0 && b > a) return JSON.parse(t.slice(a, b + 1))
  return JSON.parse(t) // throws the SyntaxError that goes back to the model
}

function retryAfterMs (e: APIError): number | null {
  const h = e.headers
  const ms = Number(h?.get?.('retry-after-ms'))
  if (Number.isFinite(ms) && ms > 0) return ms
  const s = Number(h?.get?.('retry-after'))
  return Number.isFinite(s) && s > 0 ? s * 1000 : null
}

function retryable (e: unknown): boolean {
  if (e instanceof APIConnectionError) return true // timeouts too (APIConnectionTimeoutError)
  if (e instanceof APIError) return e.status === 408 || e.status === 409 || e.status === 429 || (e.status ?? 0) >= 500
  return false
}

export class Llm {
  readonly client: OpenAI
  readonly model: string
  /** null until the endpoint has answered a request with response_format (false: it answered 400) */
  structured: boolean | null = null
  /** every token this client spent */
  readonly tokens: Tokens = { prompt: 0, completion: 0 }
  /** requests retried after a 429, 5xx or timeout */
  retried = 0

  constructor (private s: LlmSettings, private onRetry?: (why: string, waitMs: number) => void) {
    this.model = s.model
    this.client = new OpenAI({
      ...(s.baseUrl ? { baseURL: s.baseUrl } : {}),
      // the package reads OPENAI_API_KEY itself; a missing key is its error, named here with the flag
      apiKey: s.apiKey ?? process.env.OPENAI_API_KEY ?? missingKey(),
      timeout: (s.timeout ?? GENERATE_DEFAULTS.llmTimeout) * 1000,
      maxRetries: 0 // ours below: counted, and with a backoff the settings decide
    })
  }

  /** One completion, retried on transient failures; the text and the tokens it cost. */
  async complete (messages: Message[], schema?: { name: string, schema: object }): Promise<{ text: string, tokens: Tokens, cut: boolean }> {
    const retries = this.s.retries ?? GENERATE_DEFAULTS.llmRetries
    const base = this.s.backoffMs ?? GENERATE_DEFAULTS.llmBackoffMs
    const max = this.s.backoffMaxMs ?? GENERATE_DEFAULTS.llmBackoffMaxMs
    for (let attempt = 0; ; attempt++) {
      const useSchema = schema && this.structured !== false
      try {
        const r = await this.client.chat.completions.create({
          model: this.model,
          messages,
          ...(this.s.temperature !== undefined ? { temperature: this.s.temperature } : {}),
          max_completion_tokens: this.s.maxTokens ?? GENERATE_DEFAULTS.maxTokens,
          ...(useSchema ? { response_format: { type: 'json_schema' as const, json_schema: { name: schema.name, schema: strictSchema(schema.schema) as Record<string, unknown>, strict: true } } } : {})
        })
        if (useSchema) this.structured = true
        const tokens = { prompt: r.usage?.prompt_tokens ?? 0, completion: r.usage?.completion_tokens ?? 0 }
        this.tokens.prompt += tokens.prompt
        this.tokens.completion += tokens.completion
        const choice = r.choices[0]
        return { text: choice?.message?.content ?? '', tokens, cut: choice?.finish_reason === 'length' }
      } catch (e) {
        if (useSchema && e instanceof APIError && e.status === 400) {
          // no structured output here: JSON in text from now on (the prompt carries the schema either way)
          this.structured = false
          attempt--
          continue
        }
        if (!retryable(e) || attempt >= retries) {
          const status = e instanceof APIError ? e.status ?? null : null
          const why = (e as Error).message
          throw new LlmError(retryable(e) ? `the LLM API failed ${attempt + 1} times; last: ${why}` : `the LLM API refused the request: ${why}`, status)
        }
        const wait = Math.min(max, (e instanceof APIError ? retryAfterMs(e) : null) ?? base * 2 ** attempt)
        this.retried++
        this.onRetry?.((e as Error).message, wait)
        await sleep(wait)
      }
    }
  }

  /**
   * A JSON reply valid against `validate`; an invalid one goes back to the model with what is wrong, up to
   * `attempts` replies. `check` may refuse a schema-valid value with a message (e.g. a path outside the task).
   */
  async json<T> (messages: Message[], opts: {
    name: string
    schema: object
    validate: (v: unknown, root?: string) => T
    check?: (v: T) => string | null
    attempts?: number
  }): Promise<JsonReply<T>> {
    const attempts = opts.attempts ?? GENERATE_DEFAULTS.replyAttempts
    const history = [...messages]
    const spent: Tokens = { prompt: 0, completion: 0 }
    let last = ''
    for (let n = 1; n <= attempts; n++) {
      const r = await this.complete(history, { name: opts.name, schema: opts.schema })
      spent.prompt += r.tokens.prompt
      spent.completion += r.tokens.completion
      let problem: string
      try {
        const value = opts.validate(extractJson(r.text), 'reply')
        const refused = opts.check?.(value) ?? null
        if (refused === null) return { value, tokens: spent, replies: n, text: r.text }
        problem = refused
      } catch (e) {
        if (e instanceof SyntaxError) problem = `Your reply is not valid JSON (${e.message})${r.cut ? '; it was cut off at the token limit, so keep it shorter' : ''}.`
        else if (e instanceof ValidationError) problem = `Your reply does not fit the JSON Schema:\n${e.details.map(d => `- ${d.field} ${d.message}`).join('\n')}`
        else throw e
      }
      last = problem
      history.push({ role: 'assistant', content: r.text }, { role: 'user', content: `${problem}\nReply again with the whole JSON object only, fixed.` })
    }
    throw new InvalidReplyError(`no valid reply in ${attempts} attempts; the last: ${last}`, spent)
  }
}

function missingKey (): never {
  throw new LlmError('no API key for the LLM: pass --api-key or set OPENAI_API_KEY (any non-empty value for endpoints without keys, e.g. vLLM)')
}
