// Where trajectories for SFT come from, read into one shape: MLGym run directories (`<task>.traj`'s history, the
// conversation the model had, and results.json's baseline) or a synthgym server (GET /v1/episodes page by page,
// then GET /v1/episodes/:id for each).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { SynthgymClient, SynthgymError } from '../client.js'
import { findRunDirs, metricOf, parsePythonJson, readResults } from '../run-dirs.js'
import type { ChatMessage, ChatRole } from '../../env-spec/sft.js'
import type { Metric } from '../../env-spec/task.js'
import type { Metrics } from '../../env-spec/trajectory.js'
import type { Trajectory } from '../../env-spec/episode.js'

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
  messages: ChatMessage[] | null
  error?: string
}

const ROLES = new Set<string>(['system', 'user', 'assistant'])

/** MLGym's history: the entries of the primary agent (the first entry's), demonstrations included, as the model saw them. */
export function historyMessages (history: unknown): ChatMessage[] {
  if (!Array.isArray(history)) throw new Error('the .traj has no history list')
  const agent = (history[0] as { agent?: unknown } | undefined)?.agent
  const out: ChatMessage[] = []
  for (const h of history as Record<string, unknown>[]) {
    if (!h || typeof h !== 'object' || !ROLES.has(h.role as string)) continue
    if (agent !== undefined && h.agent !== undefined && h.agent !== agent) continue
    out.push({ role: h.role as ChatRole, content: typeof h.content === 'string' ? h.content : '' })
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
      id: basename(r.dir), source: r.dir, task: r.task, model: r.model, metric: metricOf(r.task, metrics),
      scores: [], baseline: null, exit_status: null, messages: null
    }
    try {
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
interface StepModel { messages?: { role?: unknown, content?: unknown }[], completion?: unknown }

const textOf = (c: unknown): string | null => {
  if (typeof c === 'string') return c
  if (c && typeof c === 'object' && typeof (c as { content?: unknown }).content === 'string') return (c as { content: string }).content
  return null
}

/**
 * A stored episode as a conversation. When its steps carry the model call (`model.messages`, `model.completion`),
 * the prompt before the first reply (system prompt, demonstrations, task) is taken as sent, each reply as the model
 * returned it, and each observation as the next call sent it (with the harness's footer) when that message holds
 * it. Otherwise: the task prompt, then per step the response the client sent (or, without one, the action) and
 * the observation.
 */
export function trajectoryMessages (t: Trajectory): ChatMessage[] {
  const models = t.steps.map(s => (s as unknown as { model?: StepModel }).model)
  const first = models.find(m => Array.isArray(m?.messages) && m!.messages!.length)
  const head: ChatMessage[] = []
  if (first) {
    for (const m of first.messages!) {
      if (m.role === 'assistant') break
      const c = textOf(m)
      if (ROLES.has(m.role as string) && c !== null) head.push({ role: m.role as ChatRole, content: c })
    }
  }
  if (!head.some(m => m.role === 'user')) head.push({ role: 'user', content: t.episode.description })
  const out = [...head]
  t.steps.forEach((s, i) => {
    const reply = textOf(models[i]?.completion) ?? (s.response || s.action)
    out.push({ role: 'assistant', content: reply })
    const next = models[i + 1]?.messages?.at(-1)
    const sent = next && next.role === 'user' ? textOf(next) : null
    out.push({ role: 'user', content: sent !== null && sent.includes(s.observation) ? sent : s.observation })
  })
  return out
}

/** Every finished episode of the server, page by page, one at a time; a task's metric from GET /v1/tasks/:id when it has one. */
export async function * serverEpisodes (url: string, metrics: Record<string, Metric>,
  opts: { token?: string, task?: string, pageSize?: number } = {}): AsyncGenerator<SourceEpisode> {
  const client = new SynthgymClient(url, { token: opts.token })
  const taskMetric = new Map<string, Metric | null>()
  const metricFor = async (task: string): Promise<Metric | null> => {
    if (metrics[task]) return metrics[task]!
    if (!taskMetric.has(task)) {
      let m: Metric | null = null
      try { m = (await client.task(task)).spec.metric ?? null } catch (e) {
        if (!(e instanceof SynthgymError && e.code === 'NOT_FOUND')) throw e
      }
      taskMetric.set(task, m ?? metricOf(task, metrics))
    }
    return taskMetric.get(task)!
  }
  let cursor: string | undefined
  do {
    const page = await client.episodes({ status: 'finished', task: opts.task, cursor, limit: opts.pageSize ?? 500 })
    for (const e of page.episodes) {
      const ep: SourceEpisode = {
        id: e.id, source: url, task: e.task_id, model: typeof e.meta.model === 'string' ? e.meta.model : null,
        metric: await metricFor(e.task_id), scores: e.score, baseline: e.baseline, exit_status: e.exit_status, messages: null
      }
      try { ep.messages = trajectoryMessages(await client.episode(e.id)) } catch (err) { ep.error = (err as Error).message }
      yield ep
    }
    cursor = page.next_cursor ?? undefined
  } while (cursor)
}
