// Where trajectories for SFT come from, read into one shape: MLGym run directories (`<task>.traj`'s history, the
// conversation the model had, results.json's baseline and, from `synthgym run`, synthgym.json's metric, model and
// tools) or a synthgym server (GET /v1/episodes page by page, then GET /v1/episodes/:id for each). A conversation
// ends before the harness's own steps (its exits and its autosubmission when the steps run out): only real replies.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { SynthgymClient, SynthgymError } from '../client.js'
import { findRunDirs, metricOf, parsePythonJson, readResults, recordedMetric } from '../run-dirs.js'
import { splitReasoning } from '../llm/reasoning.js'
import { validateSftTools, type ChatMessage, type ChatRole, type SftTool, type SftToolCall } from '../../env-spec/sft.js'
import type { Metric } from '../../env-spec/task.js'
import type { Metrics } from '../../env-spec/trajectory.js'
import type { ChatMessage as EndpointMessage, Trajectory } from '../../env-spec/episode.js'
import type { RunMeta } from '../../env-spec/run-dir.js'

/** A message of a source conversation: a reply keeps its reasoning apart until the export places it. */
export type SourceMessage = Omit<ChatMessage, 'reasoning_content'> & { reasoning?: string | null }

export interface SourceEpisode {
  id: string
  source: string
  task: string
  model: string | null
  metric: Metric | null
  /** every evaluation of a submission, in order (validates and the final submit) */
  scores: Metrics[]
  baseline: Metrics | null
  exit_status: string | null
  /** the conversation; null with `error` when it could not be read */
  messages: SourceMessage[] | null
  /** the tools the model was offered (function calling), when recorded */
  tools: SftTool[] | null
  error?: string
}

const ROLES = new Set<string>(['system', 'user', 'assistant'])
/** the harness's exits (MLGym's exit_* actions): no command of the model ran */
const EXIT = /^exit_(context|api|cost|format)$/

/** OpenAI tool calls as a record holds them: arguments as their JSON object when they are one. */
function toolCalls (x: unknown): SftToolCall[] | null {
  if (!Array.isArray(x) || x.length === 0) return null
  return x.map((c: { id?: unknown, function?: { name?: unknown, arguments?: unknown } }) => {
    const raw = c.function?.arguments
    let args: Record<string, unknown> | string = typeof raw === 'string' ? raw : raw && typeof raw === 'object' ? raw as Record<string, unknown> : ''
    if (typeof args === 'string') {
      try {
        const parsed: unknown = JSON.parse(args.trim() === '' ? '{}' : args)
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) args = parsed as Record<string, unknown>
      } catch { /* kept as written */ }
    }
    return { id: String(c.id ?? ''), type: 'function' as const, function: { name: String(c.function?.name ?? ''), arguments: args } }
  })
}

const nonEmpty = (x: unknown): string | null => (typeof x === 'string' && x.trim() !== '' ? x : null)

/**
 * MLGym's history: the entries of the primary agent (the first entry's), demonstrations included, as the model saw
 * them, up to the first reply that is not the model's (an exit_* action, or a step without a model reply: an empty
 * reply, or one without a call in a function-calling episode). In function calling a reply's text is its discussion
 * (`thought` less the reasoning before it), its call is `tool_calls`, and the observation after it a `tool` message.
 */
export function historyMessages (history: unknown): SourceMessage[] {
  if (!Array.isArray(history)) throw new Error('the .traj has no history list')
  const agent = (history[0] as { agent?: unknown } | undefined)?.agent
  const entries = (history as Record<string, unknown>[]).filter(h => h && typeof h === 'object' && ROLES.has(h.role as string) &&
    !(agent !== undefined && h.agent !== undefined && h.agent !== agent))
  const fc = entries.some(h => h.role === 'assistant' && toolCalls(h.tool_calls))
  const out: SourceMessage[] = []
  let answering: string | null = null
  for (const h of entries) {
    const content = typeof h.content === 'string' ? h.content : ''
    if (h.role !== 'assistant') {
      out.push(answering ? { role: 'tool', tool_call_id: answering, content } : { role: h.role as ChatRole, content })
      answering = null
      continue
    }
    const calls = toolCalls(h.tool_calls)
    const action = typeof h.action === 'string' ? h.action.trim() : ''
    if (EXIT.test(action) || (fc ? !calls : content.trim() === '')) break
    const reasoning = nonEmpty(h.reasoning)
    if (calls) {
      // thought = reasoning, a blank line, the discussion (the harness's .traj; the reasoning absent: the discussion)
      const thought = typeof h.thought === 'string' ? h.thought : ''
      const text = reasoning && thought.startsWith(reasoning) ? thought.slice(reasoning.length).replace(/^\n\n/, '') : thought
      out.push({ role: 'assistant', content: text, tool_calls: calls, reasoning })
      answering = calls[0]!.id
    } else out.push({ role: 'assistant', content, reasoning })
  }
  return out
}

function trajFile (dir: string, task: string): string | null {
  const named = join(dir, `${task}.traj`)
  if (existsSync(named)) return named
  const any = readdirSync(dir).filter(n => n.endsWith('.traj')).sort()
  return any.length ? join(dir, any[0]!) : null
}

/** Every run directory under the roots, as episodes, one at a time. */
export function * dirEpisodes (roots: string[], metrics: Record<string, Metric>): Generator<SourceEpisode> {
  for (const r of findRunDirs(roots)) {
    const ep: SourceEpisode = {
      id: basename(r.dir), source: r.dir, task: r.task, model: r.meta?.run.model ?? r.model, metric: metricOf(r.task, metrics, recordedMetric(r)),
      scores: [], baseline: null, exit_status: null, messages: null, tools: null
    }
    try {
      if (r.meta?.tools) ep.tools = validateSftTools(r.meta.tools, 'synthgym.json tools')
      const results = readResults(r.dir)
      ep.baseline = results?.baseline ?? null
      const file = trajFile(r.dir, r.task)
      if (!file) throw new Error(`no ${r.task}.traj in ${r.dir}`)
      const traj = parsePythonJson(readFileSync(file, 'utf8')) as { history?: unknown, info?: { score?: unknown, exit_status?: unknown } }
      const score = Array.isArray(traj.info?.score) ? traj.info.score as Metrics[] : results?.agent ?? []
      ep.scores = score.filter(s => s && typeof s === 'object')
      ep.exit_status = typeof traj.info?.exit_status === 'string' ? traj.info.exit_status : null
      ep.messages = historyMessages(traj.history)
    } catch (e) { ep.error = (e as Error).message }
    yield ep
  }
}

/** What a step may carry of its model call (the agent harness records it; see env-spec/episode.ts). */
interface StepModel { messages?: EndpointMessage[], completion?: unknown }

const textOf = (c: unknown): string | null => {
  if (typeof c === 'string') return c
  if (c && typeof c === 'object' && typeof (c as { content?: unknown }).content === 'string') return (c as { content: string }).content
  return null
}

/**
 * A stored episode as a conversation. When its steps carry the model call (`model.messages`, `model.completion`),
 * the prompt before the first reply (system prompt, demonstrations, task) is taken as sent, each reply as the model
 * returned it (its reasoning apart, its tool calls kept), and each observation as the next call sent it (with the
 * harness's footer; a `tool` message answering the call) when that message holds it; a step without a model call
 * then is the harness's own and ends the conversation. Steps of a client that records no model calls: the task
 * prompt, then per step the response the client sent (or, without one, the action) and the observation. An exit_*
 * action ends it either way.
 */
export function trajectoryMessages (t: Trajectory): SourceMessage[] {
  const models = t.steps.map(s => (s as unknown as { model?: StepModel }).model)
  const first = models.find(m => Array.isArray(m?.messages) && m!.messages!.length)
  const head: SourceMessage[] = []
  if (first) {
    for (const m of first.messages!) {
      if (m.role === 'assistant') break
      const c = textOf(m)
      if (ROLES.has(m.role) && c !== null) head.push({ role: m.role as ChatRole, content: c })
    }
  }
  if (!head.some(m => m.role === 'user')) head.push({ role: 'user', content: t.episode.description })
  const recorded = models.some(m => m?.completion !== undefined)
  const out = [...head]
  for (const [i, s] of t.steps.entries()) {
    if (EXIT.test(s.action.trim())) break
    const model = models[i]
    if (recorded && model?.completion === undefined) break
    if (!model || model.completion === undefined) {
      out.push({ role: 'assistant', content: s.response || s.action }, { role: 'user', content: s.observation })
      continue
    }
    const completion = (typeof model.completion === 'string' ? { role: 'assistant', content: model.completion } : model.completion) as EndpointMessage
    const { reasoning, content } = splitReasoning(completion)
    const calls = toolCalls(completion.tool_calls)
    out.push({ role: 'assistant', content, reasoning, ...(calls ? { tool_calls: calls } : {}) })
    const next = models[i + 1]?.messages
    if (calls) {
      const answer = [...next ?? []].reverse().find(m => m.role === 'tool' && m.tool_call_id === calls[0]!.id)
      out.push({ role: 'tool', tool_call_id: calls[0]!.id, content: textOf(answer) ?? s.observation })
    } else {
      const sent = next?.at(-1)?.role === 'user' ? textOf(next.at(-1)) : null
      out.push({ role: 'user', content: sent !== null && sent.includes(s.observation) ? sent : s.observation })
    }
  }
  return out
}

/** Every finished episode of the server, page by page, one at a time; a task's metric from GET /v1/tasks/:id when it has one. */
export async function * serverEpisodes (url: string, metrics: Record<string, Metric>,
  opts: { token?: string, task?: string, pageSize?: number } = {}): AsyncGenerator<SourceEpisode> {
  const client = new SynthgymClient(url, { token: opts.token })
  const taskMetric = new Map<string, Metric | null>()
  // --metric, the task's own, the one its run recorded (a task no longer served), MLGym's table
  const metricFor = async (task: string, run: RunMeta | null): Promise<Metric | null> => {
    if (metrics[task]) return metrics[task]!
    if (!taskMetric.has(task)) {
      let m: Metric | null = null
      try { m = (await client.task(task)).spec.metric ?? null } catch (e) {
        if (!(e instanceof SynthgymError && e.code === 'NOT_FOUND')) throw e
      }
      taskMetric.set(task, m)
    }
    return metricOf(task, metrics, taskMetric.get(task) ?? (run?.task === task ? run.metric : null))
  }
  const toolsOf = new Map<string, Promise<SftTool[]>>()
  const tools = (profile: 'mlgym' | 'sweagent') => {
    let p = toolsOf.get(profile)
    if (!p) { p = client.tools(profile).then(r => validateSftTools(r.tools, 'GET /v1/tools tools')); toolsOf.set(profile, p) }
    return p
  }
  let cursor: string | undefined
  do {
    const page = await client.episodes({ status: 'finished', task: opts.task, cursor, limit: opts.pageSize ?? 500 })
    for (const e of page.episodes) {
      const run = runMetaOf(e.meta)
      const ep: SourceEpisode = {
        id: e.id, source: url, task: e.task_id, model: e.model ?? (typeof e.meta.model === 'string' ? e.meta.model : null) ?? run?.model ?? null,
        metric: await metricFor(e.task_id, run), scores: e.score, baseline: e.baseline, exit_status: e.exit_status, messages: null, tools: null
      }
      try {
        ep.messages = trajectoryMessages(await client.episode(e.id))
        // the tools of the profile the run used (GET /v1/tools: what the harness offered the model)
        if (ep.messages.some(m => m.tool_calls)) ep.tools = await tools(run?.tool_profile ?? 'mlgym')
      } catch (err) { ep.error = (err as Error).message }
      yield ep
    }
    cursor = page.next_cursor ?? undefined
  } while (cursor)
}

/** The run an episode's meta names (`synthgym run` writes meta.run), when it is one. */
function runMetaOf (meta: Record<string, unknown>): RunMeta | null {
  const r = meta.run
  return r && typeof r === 'object' && typeof (r as RunMeta).name === 'string' && typeof (r as RunMeta).task === 'string' ? r as RunMeta : null
}
