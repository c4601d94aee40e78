// The agent harness's settings and the one table of their defaults (MLGym's paper runs where it has them:
// temperature 0, top_p 0.95, $4.00 per episode, 50 steps, 3 format re-queries, 10 API retries).
import type { EndpointProfileName } from '../llm/profiles.js'

export type ResponseMode = 'thought_action' | 'function_calling'

export interface AgentSettings {
  /** an OpenAI-compatible endpoint, ending in /v1 (OpenAI, vLLM, SGLang, OpenRouter...) */
  baseUrl: string
  model: string
  apiKey: string
  temperature: number
  topP: number
  /** max_tokens of each completion; null sends none (the endpoint's default) */
  maxTokens: number | null
  /** what the endpoint takes (clients/llm/profiles.ts); 'auto' chooses from the model name and GET /v1/models */
  endpointProfile: EndpointProfileName | 'auto'
  /** reasoning_effort of reasoning models (OpenAI: minimal|low|medium|high...; vLLM: enable_thinking off at none); null sends none */
  reasoningEffort: string | null
  /** ask for prompt/completion token ids and logprobs (vLLM and SGLang: `return_token_ids`, `logprobs`) */
  tokenData: boolean
  /** DISCUSSION + one fenced command (MLGym), or one OpenAI function call per answer */
  mode: ResponseMode
  /** the tool profile whose commands the agent gets (GET /v1/tools?profile=) */
  toolProfile: 'mlgym' | 'sweagent'
  /** dollars an episode may spend on the model; reaching it ends the episode with exit_cost (0: no limit) */
  costLimit: number
  /** dollars per million prompt / completion tokens, for the cost limit; an endpoint's own `usage.cost` wins */
  pricePerMTokIn: number
  pricePerMTokOut: number
  /** prompt tokens the model takes; a prompt that would not fit ends the episode with exit_context (0: no limit) */
  contextTokens: number
  /** answers that fail to parse in one step before the episode ends with exit_format */
  formatTries: number
  /** API errors (429, 5xx, timeouts, dropped connections) retried per call before exit_api */
  apiRetries: number
  /** first back-off in ms; doubled each retry up to retryMaxMs, with jitter; a Retry-After header wins */
  retryBaseMs: number
  retryMaxMs: number
  /** ms one completion may take before it counts as an API error */
  requestTimeoutMs: number
  /** user messages (observations) the history processor keeps in full: MLGym's Last5Observations */
  keepObservations: number
}

export const AGENT_DEFAULTS: Omit<AgentSettings, 'baseUrl' | 'model' | 'apiKey'> = {
  temperature: 0,
  topP: 0.95,
  maxTokens: null,
  endpointProfile: 'auto',
  reasoningEffort: null,
  tokenData: false,
  mode: 'thought_action',
  toolProfile: 'mlgym',
  costLimit: 4,
  pricePerMTokIn: 0,
  pricePerMTokOut: 0,
  contextTokens: 0,
  formatTries: 3,
  apiRetries: 10,
  retryBaseMs: 1000,
  retryMaxMs: 60_000,
  requestTimeoutMs: 600_000,
  keepObservations: 5
}

/** The episode's step budget when the run names none: the paper's. */
export const DEFAULT_MAX_STEPS = 50

export function agentSettings (over: Partial<AgentSettings> & Pick<AgentSettings, 'model'>): AgentSettings {
  return {
    baseUrl: process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
    apiKey: process.env.OPENAI_API_KEY ?? 'EMPTY',
    ...AGENT_DEFAULTS,
    ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined))
  } as AgentSettings
}
