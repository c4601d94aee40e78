// The defaults of the client-side commands, in one table.
import type { SftFormat, SftTokenizer } from '../env-spec/sft.js'

export const CLIENT_DEFAULTS = {
  /** `synthgym export sft`: the paper's filter (qwen-long digest: keep <= 48K tokens, truncate to 32K) */
  sft: {
    format: 'messages' as SftFormat,
    maxTokens: 48_000,
    truncateTokens: 32_000,
    tokenizer: 'qwen3' as SftTokenizer
  }
}
