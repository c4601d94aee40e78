// Endpoint profiles: what each kind of OpenAI-compatible endpoint takes, in one table (facts and sources in
// shared/reference/endpoints-and-trainers.md §1-2). A profile is chosen from the model name and GET /v1/models,
// and `--endpoint-profile` overrides the choice.

export const ENDPOINT_PROFILES = ['openai-reasoning', 'vllm', 'openai-compatible'] as const
export type EndpointProfileName = typeof ENDPOINT_PROFILES[number]

export interface EndpointProfile {
  /** request fields the endpoint refuses with a 400; never sent */
  omit: readonly string[]
  /** the field that bounds a completion */
  maxTokensField: 'max_completion_tokens' | 'max_tokens'
  /** `return_token_ids` and `logprobs` are what --token-data asks for */
  tokenIds: boolean
  /** completion tokens per reply when nothing else sets them (reasoning tokens count against them) */
  completionTokens: number
}

export const PROFILES: Record<EndpointProfileName, EndpointProfile> = {
  // o1/o3/o4-mini, gpt-5*: only the default sampling; max_tokens refused; reasoning counts in max_completion_tokens
  'openai-reasoning': {
    omit: ['temperature', 'top_p', 'presence_penalty', 'frequency_penalty', 'logprobs', 'top_logprobs', 'stop'],
    maxTokensField: 'max_completion_tokens',
    tokenIds: false,
    completionTokens: 32_000
  },
  // vLLM/SGLang: everything is taken; the context length (max_model_len) caps prompt + completion
  vllm: { omit: [], maxTokensField: 'max_completion_tokens', tokenIds: true, completionTokens: 16_000 },
  // anything else: the oldest field names, the widest support
  'openai-compatible': { omit: [], maxTokensField: 'max_tokens', tokenIds: true, completionTokens: 16_000 }
}

/** OpenAI's reasoning models, also behind a provider prefix (openai/gpt-5 on OpenRouter). */
const REASONING_MODEL = /^(?:[\w.-]+\/)?(?:o1|o3|o4|gpt-5)(?:$|[-.])/i

/** The part of a /v1/models entry the choice reads (vLLM's ModelCard has max_model_len). */
export interface ModelCard { id: string, owned_by?: string, max_model_len?: number }

export function detectProfile (model: string, card: ModelCard | null): EndpointProfileName {
  if (REASONING_MODEL.test(model)) return 'openai-reasoning'
  if (card && (typeof card.max_model_len === 'number' || /vllm|sglang/i.test(card.owned_by ?? ''))) return 'vllm'
  return 'openai-compatible'
}

export function profileName (v: string | undefined, flag = '--endpoint-profile'): EndpointProfileName | 'auto' | undefined {
  if (v === undefined) return undefined
  if (v === 'auto' || (ENDPOINT_PROFILES as readonly string[]).includes(v)) return v as EndpointProfileName | 'auto'
  throw new Error(`${flag} must be auto or one of ${ENDPOINT_PROFILES.join(', ')} (got ${v})`)
}
