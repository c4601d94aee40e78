// MLGym's Last5Observations history processor, applied only to what is sent to the model (the trajectory keeps the
// full history): system and assistant messages stay, so do the first user message (the task) and the last N
// observations; older observations become `Old output omitted (K lines)`.
import type { ChatMessage } from '../../env-spec/episode.js'

/** Observations are user messages after the task, and tool results in function-calling mode. */
const isObservation = (m: ChatMessage, i: number, firstUser: number) => (m.role === 'user' && i !== firstUser) || m.role === 'tool'

function lineCount (content: ChatMessage['content']): number {
  const text = typeof content === 'string' ? content : JSON.stringify(content ?? '')
  return text.split('\n').length
}

export function lastObservations (history: ChatMessage[], keep = 5): ChatMessage[] {
  const firstUser = history.findIndex(m => m.role === 'user')
  const observations: number[] = []
  history.forEach((m, i) => { if (isObservation(m, i, firstUser)) observations.push(i) })
  const omitted = new Set(observations.slice(0, Math.max(0, observations.length - keep)))
  return history.map((m, i) => omitted.has(i) ? { ...m, content: `Old output omitted (${lineCount(m.content)} lines)` } : m)
}
