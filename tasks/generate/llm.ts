// LLM calls of the generation pipeline, through the one LLM client (clients/llm/client.ts) to any OpenAI-compatible
// endpoint: its retries, endpoint profiles and refusals; structured output where the endpoint takes it, else JSON in
// text; reasoning split off before parsing; a reply that is not valid JSON, or not valid against its schema, goes
// back with the errors.
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions'
import { ValidationError } from '../../env-spec/validate.js'
import type { ChatMessage } from '../../env-spec/episode.js'
import type { Tokens } from '../../env-spec/generation.js'
import { LlmClient, type EndpointRecord } from '../../clients/llm/client.js'
import { LlmApiError } from '../../clients/llm/errors.js'
import type { EndpointProfileName } from '../../clients/llm/profiles.js'
import { splitReasoning } from '../../clients/llm/reasoning.js'
import { LlmError } from '../errors.js'
import { GENERATE_DEFAULTS } from './settings.js'

export interface LlmSettings {
  /** default: OPENAI_BASE_URL, else api.openai.com */
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
  /** completion tokens per reply; default: the profile's budget, cut to what the endpoint's context leaves */
  maxTokens?: number
  /** default auto: from the model name and GET /v1/models */
  profile?: EndpointProfileName | 'auto'
  reasoningEffort?: string
}

export type Message = ChatCompletionMessageParam

export interface JsonReply<T> {
  value: T
  tokens: Tokens
  /** replies it took (1 when the first was valid) */
  replies: number
  /** the reply text as the model wrote it (its answer; reasoning split off) */
  text: string
}

/** Thrown when no reply was valid after the allowed attempts; `last` is why the last one was refused. */
export class InvalidReplyError extends Error {
  readonly code = 'INVALID_REPLY'
  constructor (message: string, readonly tokens: Tokens) { super(message) }
}

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

export class Llm {
  readonly client: LlmClient
  readonly model: string
  /** every token this client spent */
  readonly tokens: Tokens = { prompt: 0, completion: 0 }
  /** requests retried after a 429, 5xx or timeout */
  retried = 0

  constructor (s: LlmSettings, onRetry?: (why: string, waitMs: number) => void, onNote?: (line: string) => void) {
    this.model = s.model
    this.client = new LlmClient({
      baseUrl: s.baseUrl ?? process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
      // a missing key is named here with the flag
      apiKey: s.apiKey ?? process.env.OPENAI_API_KEY ?? missingKey(),
      model: s.model,
      profile: s.profile ?? 'auto',
      temperature: s.temperature ?? null,
      topP: null,
      maxTokens: s.maxTokens ?? null,
      fillContext: true,
      reasoningEffort: s.reasoningEffort ?? null,
      tokenData: false,
      retries: s.retries ?? GENERATE_DEFAULTS.llmRetries,
      retryBaseMs: s.backoffMs ?? GENERATE_DEFAULTS.llmBackoffMs,
      retryMaxMs: s.backoffMaxMs ?? GENERATE_DEFAULTS.llmBackoffMaxMs,
      timeoutMs: (s.timeout ?? GENERATE_DEFAULTS.llmTimeout) * 1000
    }, onNote)
    this.client.onRetry = (why, ms) => { this.retried++; onRetry?.(why, ms) }
  }

  /** null until the endpoint has answered a request with response_format (false: it refused structured output) */
  get structured (): boolean | null { return this.client.structured }

  /** The endpoint as the client found it: profile, context length, refused fields. */
  endpoint (): EndpointRecord { return this.client.record() }

  /** One completion, retried on transient failures; the answer (reasoning split off) and the tokens it cost. */
  async complete (messages: Message[], schema?: { name: string, schema: object }): Promise<{ text: string, tokens: Tokens, cut: boolean }> {
    try {
      const r = await this.client.chat(messages as ChatMessage[], schema ? { schema: { name: schema.name, schema: strictSchema(schema.schema) as object } } : {})
      const tokens = { prompt: r.usage?.prompt_tokens ?? 0, completion: r.usage?.completion_tokens ?? 0 }
      this.tokens.prompt += tokens.prompt
      this.tokens.completion += tokens.completion
      return { text: splitReasoning(r.message).content, tokens, cut: r.finish_reason === 'length' }
    } catch (e) {
      if (e instanceof LlmApiError) throw new LlmError(e.message, e.status)
      throw e
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
