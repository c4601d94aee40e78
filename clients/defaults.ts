// The defaults of the client-side commands, in one table.
import type { SftFormat, SftReasoning, SftTokenizer } from '../env-spec/sft.js'

export const CLIENT_DEFAULTS = {
  /** `synthgym export sft`: the paper's filter (qwen-long digest: keep <= 48K tokens, truncate to 32K) */
  sft: {
    format: 'messages' as SftFormat,
    maxTokens: 48_000,
    truncateTokens: 32_000,
    tokenizer: 'qwen3' as SftTokenizer,
    /** the replies' reasoning, where Qwen3's template renders it */
    reasoning: 'keep' as SftReasoning,
    /** strictly better than the baseline: by more than 0 */
    minImprovement: 0
  }
}
