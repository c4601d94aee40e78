// The agent's model calls: the one LLM client (clients/llm/client.ts) with the agent's settings, plus what an
// episode needs on top: the call's cost, at the endpoint's own `usage.cost` or the settings' prices.
import type { Usage } from '../../env-spec/episode.js'
import { LlmClient, type LlmReply } from '../llm/client.js'
import type { AgentSettings } from './settings.js'

export { ApiFailedError, ContextLimitError } from '../llm/errors.js'

export interface ModelReply extends LlmReply {
  /** dollars: the endpoint's `usage.cost` if it sends one, else usage times the settings' prices */
  cost: number
}

export class ModelClient {
  readonly llm: LlmClient

  constructor (readonly settings: AgentSettings, onNote?: (line: string) => void) {
    this.llm = new LlmClient({
      baseUrl: settings.baseUrl, apiKey: settings.apiKey, model: settings.model, profile: settings.endpointProfile,
      temperature: settings.temperature, topP: settings.topP, maxTokens: settings.maxTokens, fillContext: false,
      reasoningEffort: settings.reasoningEffort, tokenData: settings.tokenData,
      retries: settings.apiRetries, retryBaseMs: settings.retryBaseMs, retryMaxMs: settings.retryMaxMs, timeoutMs: settings.requestTimeoutMs
    }, onNote)
  }

  /** Dollars for this usage at the settings' prices, or the endpoint's own figure. */
  costOf (usage: Usage | null): number {
    if (!usage) return 0
    if (typeof usage.cost === 'number' && Number.isFinite(usage.cost)) return usage.cost
    return (usage.prompt_tokens * this.settings.pricePerMTokIn + usage.completion_tokens * this.settings.pricePerMTokOut) / 1e6
  }

  async complete (messages: Parameters<LlmClient['chat']>[0], tools?: unknown[]): Promise<ModelReply> {
    const r = await this.llm.chat(messages, { tools })
    return { ...r, cost: this.costOf(r.usage) }
  }
}
