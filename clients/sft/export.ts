// The paper's SFT filter, in order: keep an episode with at least one submission (a validate or the final submit)
// scoring better than the baseline (direction-aware; by more than --min-improvement, or at least as well with
// --allow-ties) and at least one real reply; drop it when its conversation is over --max-tokens; truncate the
// rest to --truncate-tokens. Truncation keeps the prompt (every message before the first reply: system prompt,
// demonstrations, task) and as many whole turns (a reply and the observations after it) from the end as fit,
// dropping the turns in between; only when the prompt and the last reply alone are over the budget are messages
// cut inside: the prompt's longest message first, at its end, with a note saying so (then the next longest, if the
// first cannot take the whole excess); the replies are never cut.
import type { ChatMessage, SftFormat, SftMetadata, SftReasoning, SftRecord, SftTool, ShareGptTurn } from '../../env-spec/sft.js'
import { validateSftRecord } from '../../env-spec/sft.js'
import type { SourceEpisode, SourceMessage } from './sources.js'
import { countAll, type TokenCounter } from './tokens.js'

export type DropReason = 'unreadable' | 'no_metric' | 'no_score' | 'not_better' | 'no_reply' | 'no_tools' | 'sharegpt_tools' |
  'over_max_tokens' | 'untruncatable'

export const DROP_REASONS: Record<DropReason, string> = {
  unreadable: 'the trajectory could not be read',
  no_metric: 'no priority metric is known for the task (pass --metric TASK=METRIC:maximize|minimize)',
  no_score: 'no submission was scored (no valid submission)',
  not_better: 'no scored submission beats the baseline (by more than --min-improvement; --allow-ties keeps ties)',
  no_reply: 'no model reply after the prompt (no model call, or only exits)',
  no_tools: 'function calls, but the tools the model was offered are not recorded',
  sharegpt_tools: 'function calls, which ShareGPT cannot hold (use --format messages)',
  over_max_tokens: 'over --max-tokens',
  untruncatable: 'the prompt and the last reply alone do not fit in --truncate-tokens'
}

export const CUT_NOTE = '\n[... cut here to fit the token budget]'

export interface SftOptions {
  format: SftFormat
  maxTokens: number
  truncateTokens: number
  counter: TokenCounter
  reasoning: SftReasoning
  /** how much better than the baseline the best score must be (metric units); 0: strictly better */
  minImprovement: number
  /** a score equal to baseline + minImprovement counts too (the old rule, with 0) */
  allowTies: boolean
}

/** Whether the best score passes: better than the baseline by more than the margin, direction-aware. */
export function beatsBaseline (best: number, baseline: number, direction: 'maximize' | 'minimize', margin: number, ties: boolean): boolean {
  const gain = direction === 'maximize' ? best - baseline : baseline - best
  return ties ? gain >= margin : gain > margin
}

/**
 * The reasoning where Qwen3's chat template renders it: as `reasoning_content` on the replies after the last user
 * query (the template strips it from earlier ones, so a record never carries what the model is not trained on);
 * none with --reasoning drop.
 */
export function placeReasoning (messages: SourceMessage[], mode: SftReasoning): ChatMessage[] {
  let lastQuery = -1
  // the template's rule: a user message is a query unless it is a <tool_response> passed as user text
  messages.forEach((m, i) => { if (m.role === 'user' && !/^<tool_response>[\s\S]*<\/tool_response>$/.test(m.content)) lastQuery = i })
  return messages.map(({ reasoning, ...m }, i) =>
    (mode === 'keep' && m.role === 'assistant' && i > lastQuery && reasoning ? { ...m, reasoning_content: reasoning } : m))
}

export type Outcome = { kept: true, record: SftRecord } | { kept: false, reason: DropReason, detail: string }

/** The conversation ends with the last reply: observations after it teach nothing. */
export function trimTrailing<M extends { role: string }> (messages: M[]): M[] {
  let end = messages.length
  while (end > 0 && messages[end - 1]!.role !== 'assistant') end--
  return messages.slice(0, end)
}

/** The longest start of m's content (plus CUT_NOTE) whose message has at most `max` tokens; null if none has. */
function cutMessage (m: ChatMessage, max: number, count: (m: ChatMessage) => number, c: TokenCounter): ChatMessage | null {
  let n = Math.max(0, max - count({ ...m, content: CUT_NOTE }))
  for (;;) {
    const cut = { ...m, content: c.cut(m.content, n) + CUT_NOTE }
    const over = count(cut) - max
    if (over <= 0) return cut
    if (n === 0) return null
    n = Math.max(0, n - over)
  }
}

export interface Truncated { messages: ChatMessage[], dropped_turns: number, cut_messages: number }

/**
 * See the header: whole middle turns first, a cut inside the prompt only when it must; null when even that fails.
 * Costs are each message's within the conversation (a turn is a reply and the observations after it).
 */
export function truncate (messages: ChatMessage[], budget: number, c: TokenCounter, tools: SftTool[] | null = null): Truncated | null {
  const cost = c.costs({ messages, tools })
  if (cost.reduce((a, b) => a + b, 0) <= budget) return { messages, dropped_turns: 0, cut_messages: 0 }
  const first = messages.findIndex(m => m.role === 'assistant')
  const head = messages.slice(0, first)
  const headCost = cost.slice(0, first).reduce((a, b) => a + b, 0)
  const turns: { start: number, end: number, cost: number }[] = []
  for (let i = first; i < messages.length; i++) {
    if (messages[i]!.role === 'assistant') turns.push({ start: i, end: i + 1, cost: cost[i]! })
    else { const t = turns.at(-1)!; t.end = i + 1; t.cost += cost[i]! }
  }
  let used = headCost
  let from = turns.length
  while (from > 0 && used + turns[from - 1]!.cost <= budget) { from--; used += turns[from]!.cost }
  if (from < turns.length) {
    return { messages: [...head, ...messages.slice(turns[from]!.start)], dropped_turns: from, cut_messages: 0 }
  }
  // not even the last turn fits beside the prompt: cut the prompt's longest messages at their end
  const last = messages.slice(turns.at(-1)!.start)
  const prompt = [...head]
  // a prompt message's cost in the conversation the cut leaves (the tools block stays with the first)
  const costAt = (k: number) => (m: ChatMessage) => c.costs({ messages: [...prompt.slice(0, k), m, ...prompt.slice(k + 1), ...last], tools })[k]!
  const promptCost = c.costs({ messages: [...prompt, ...last], tools }).slice(0, prompt.length)
  const tried = new Set<number>()
  let cuts = 0
  let total = promptCost.reduce((a, b) => a + b, 0) + turns.at(-1)!.cost
  while (total > budget) {
    let k = -1
    for (let i = 0; i < prompt.length; i++) if (!tried.has(i) && (k < 0 || promptCost[i]! > promptCost[k]!)) k = i
    if (k < 0) return null
    tried.add(k)
    const before = promptCost[k]!
    // as much of the excess as this message can take; the rest comes off the next longest
    const least = costAt(k)({ ...prompt[k]!, content: CUT_NOTE })
    if (least >= before) continue // too short to gain anything by a cut and its note
    const m = cutMessage(prompt[k]!, Math.max(least, before - (total - budget)), costAt(k), c)
    if (!m) continue
    prompt[k] = m
    promptCost[k] = costAt(k)(m)
    cuts++
    total += promptCost[k]! - before
  }
  return { messages: [...prompt, ...last], dropped_turns: turns.length - 1, cut_messages: cuts }
}

const SHAREGPT_FROM = { system: 'system', user: 'human', assistant: 'gpt' } as const

/** A reply as ShareGPT text: its reasoning inline, as Qwen3 writes it. */
const shareGptValue = (m: ChatMessage) => (m.reasoning_content ? `<think>\n${m.reasoning_content}\n</think>\n\n${m.content}` : m.content)

/** One episode through the filter: its record, or why it is dropped. */
export function toRecord (ep: SourceEpisode, o: SftOptions): Outcome {
  const drop = (reason: DropReason, detail: string): Outcome => ({ kept: false, reason, detail })
  if (ep.error || !ep.messages) return drop('unreadable', ep.error ?? 'no conversation')
  // no model reply: nothing to learn, whatever the (autosubmitted) score
  const trimmed = trimTrailing(ep.messages)
  const first = trimmed.findIndex(m => m.role === 'assistant')
  if (first < 1) return drop(first < 0 ? 'no_reply' : 'unreadable', first < 0 ? 'no model reply' : 'the conversation starts with a reply, not a prompt')
  if (!ep.metric) return drop('no_metric', `task ${ep.task}`)
  const { name, direction } = ep.metric
  const scored = ep.scores.map(s => s[name]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
  if (scored.length === 0) return drop('no_score', `no ${name} in ${ep.scores.length} score(s)`)
  const best = direction === 'maximize' ? Math.max(...scored) : Math.min(...scored)
  const b = ep.baseline?.[name]
  const baseline = typeof b === 'number' ? b : null
  if (baseline !== null && !beatsBaseline(best, baseline, direction, o.minImprovement, o.allowTies)) {
    const by = o.minImprovement ? ` by more than ${o.minImprovement}` : ''
    return drop('not_better', `best ${name} ${best} vs baseline ${baseline} (${direction}${by}${o.allowTies ? ', ties kept' : ''})`)
  }
  const calls = trimmed.some(m => m.tool_calls?.length)
  if (calls && o.format === 'sharegpt') return drop('sharegpt_tools', `${trimmed.filter(m => m.tool_calls?.length).length} replies with calls`)
  if (calls && !ep.tools?.length) return drop('no_tools', 'no tools recorded (synthgym.json of synthgym run, or the server\'s GET /v1/tools)')
  const tools = calls ? ep.tools! : null
  const placed = placeReasoning(trimmed, o.reasoning)
  // ShareGPT has no reasoning field: the reasoning goes inline, counted as written
  const messages = o.format === 'sharegpt' ? placed.map(m => ({ role: m.role, content: shareGptValue(m) })) : placed
  const before = countAll(o.counter, { messages, tools })
  if (before > o.maxTokens) return drop('over_max_tokens', `${before} > ${o.maxTokens} ${o.counter.name} tokens`)
  const t = truncate(messages, o.truncateTokens, o.counter, tools)
  if (!t) return drop('untruncatable', `${before} ${o.counter.name} tokens, budget ${o.truncateTokens}`)
  const metadata: SftMetadata = {
    id: ep.id, source: ep.source, task: ep.task, model: ep.model, metric: name, direction, baseline, best_score: best,
    exit_status: ep.exit_status, tokenizer: o.counter.name, reasoning: o.reasoning,
    tokens: countAll(o.counter, { messages: t.messages, tools }), tokens_before: before,
    dropped_turns: t.dropped_turns, cut_messages: t.cut_messages
  }
  const record: SftRecord = o.format === 'sharegpt'
    ? { conversations: t.messages.map((m): ShareGptTurn => ({ from: SHAREGPT_FROM[m.role as keyof typeof SHAREGPT_FROM], value: m.content })), metadata }
    : { messages: t.messages, ...(tools ? { tools } : {}), metadata }
  return { kept: true, record: validateSftRecord(record, 'record') }
}

export interface Summary {
  read: number
  kept: number
  truncated: number
  tokens: number
  dropped: Partial<Record<DropReason, { count: number, examples: string[] }>>
}

export function newSummary (): Summary { return { read: 0, kept: 0, truncated: 0, tokens: 0, dropped: {} } }

export function addOutcome (s: Summary, ep: SourceEpisode, o: Outcome): void {
  s.read++
  if (o.kept) {
    s.kept++
    s.tokens += o.record.metadata.tokens
    if (o.record.metadata.dropped_turns || o.record.metadata.cut_messages) s.truncated++
    return
  }
  const d = s.dropped[o.reason] ?? { count: 0, examples: [] }
  d.count++
  if (d.examples.length < 3) d.examples.push(`${ep.id}: ${o.detail}`)
  s.dropped[o.reason] = d
}

export function formatSummary (s: Summary, tokenizer: string): string {
  const unit = tokenizer === 'chars' ? 'characters' : `${tokenizer} tokens`
  const lines = [`kept ${s.kept} of ${s.read} episodes (${s.tokens} ${unit}, ${s.truncated} truncated)`]
  for (const [reason, d] of Object.entries(s.dropped) as [DropReason, { count: number, examples: string[] }][]) {
    lines.push(`dropped ${d.count}: ${DROP_REASONS[reason]} [${reason}]`)
    for (const e of d.examples) lines.push(`  e.g. ${e}`)
  }
  return lines.join('\n')
}
