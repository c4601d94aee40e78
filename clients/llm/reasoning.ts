// A model's reasoning, kept apart from its answer before anything parses the answer. Endpoints put it in three
// places: vLLM's parser in `reasoning` (0.17+) or `reasoning_content` (older), SGLang in `reasoning_content`, and
// a model served without a parser (Qwen3, DeepSeek-R1) inline as `<think>…</think>` at the start of `content`.
import type { ChatMessage } from '../../env-spec/episode.js'

export interface SplitReply {
  /** the reasoning text, or null when the reply carries none */
  reasoning: string | null
  /** the answer with any inline think block removed (what the parsers read) */
  content: string
}

// a leading think block; Qwen3's template may emit only the closing tag when the prompt opened it
const LEADING_THINK = /^\s*(?:<think>)?([\s\S]*?)<\/think>\s*/
// a think block the reply never closed (truncated or still thinking): all of it is reasoning
const OPEN_THINK = /^\s*<think>([\s\S]*)$/

/** Splits a text reply into its reasoning and its answer. */
export function splitThink (text: string): SplitReply {
  const closed = LEADING_THINK.exec(text)
  if (closed) return { reasoning: closed[1].trim(), content: text.slice(closed[0].length) }
  const open = OPEN_THINK.exec(text)
  if (open) return { reasoning: open[1].trim(), content: '' }
  return { reasoning: null, content: text }
}

/** The reasoning and answer of an assistant message, wherever the endpoint put the reasoning. */
export function splitReasoning (message: ChatMessage): SplitReply {
  const text = typeof message.content === 'string' ? message.content : ''
  const inline = splitThink(text)
  const field = [message.reasoning, message.reasoning_content]
    .find((r): r is string => typeof r === 'string' && r.trim() !== '')
  if (field === undefined) return inline
  const reasoning = inline.reasoning === null ? field.trim() : `${field.trim()}\n\n${inline.reasoning}`
  return { reasoning, content: inline.content }
}
