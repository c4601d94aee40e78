// The scripted LLM of the generation tests: per topic, the proposals it makes (one per proposal request, in
// order) and the breakage of the task code it writes in each round (undefined: working code). It reads what a
// real model would read off the prompts: the topic, the proposal and the data (test/fakes/task-code.ts).
import type { ChatRequest, ScriptedReply } from './fakes/openai.js'
import { filesReply, paramsFromPrompt, taskFiles, type Breakage } from './fakes/task-code.js'

export type ProposalStep = Record<string, unknown> | { raw: ScriptedReply }

export interface TopicPlan {
  proposals: ProposalStep[]
  /** one per round; the last repeats */
  code: Array<Breakage | undefined | { raw: ScriptedReply }>
}

const text = (m: ChatRequest['messages'][number]) => typeof m.content === 'string' ? m.content : ''

/** A proposal of the fake Hub's datasets (test/fakes/hub.ts fixtureDatasets). */
export function proposal (topic: string, o: { dataset: string, target: string, inputs: string[], metric: string, direction: 'maximize' | 'minimize', type: string, id: string }): Record<string, unknown> {
  return {
    topic, title: `${o.id} (${topic})`, task_id: o.id, dataset: o.dataset, config: 'default', splits: ['train'],
    input_columns: o.inputs, target_column: o.target, task_type: o.type, metric: { name: o.metric, direction: o.direction },
    submission_kind: 'CSVSubmissionTasks', learnability: 'the inputs carry signal about the target'
  }
}

export const LANGUAGE = (topic: string, id: string, metric = 'accuracy') => proposal(topic, {
  dataset: 'fixtures/country-names', target: 'language', inputs: ['text'], metric, direction: 'maximize', type: 'text-classification', id
})
export const DIABETES = (topic: string, id: string, metric = 'rmse', direction: 'maximize' | 'minimize' = 'minimize', inputs = ['bmi', 'bp', 'age', 's5']) => proposal(topic, {
  dataset: 'fixtures/diabetes', target: 'progression', inputs, metric, direction, type: 'tabular-regression', id
})
export const IRIS = (topic: string, id: string) => proposal(topic, {
  dataset: 'fixtures/iris', target: 'species', inputs: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'], metric: 'accuracy', direction: 'maximize', type: 'tabular-classification', id
})

/** A script for startFakeOpenAI: proposal and codegen requests told apart by their system prompts. */
export function scriptedLlm (plans: Record<string, TopicPlan>, hooks: { codegen?: (topic: string, round: number) => ScriptedReply | undefined } = {}) {
  const calls = new Map<string, number>()
  const next = (key: string) => { const n = calls.get(key) ?? 0; calls.set(key, n + 1); return n }
  return (req: ChatRequest): ScriptedReply => {
    const system = text(req.messages[0]!)
    const user = text(req.messages[1]!)
    if (system.startsWith('You design machine-learning research tasks')) {
      const topic = /^Topic: (.*)$/m.exec(user)![1]!
      const plan = plans[topic]
      if (!plan) throw new Error(`scripted LLM: no plan for topic ${topic}`)
      const step = plan.proposals[Math.min(next(`p:${topic}`), plan.proposals.length - 1)]!
      return 'raw' in step ? step.raw as ScriptedReply : { content: JSON.stringify(step) }
    }
    if (system.startsWith('You write machine-learning research tasks')) {
      const topic = /\(topic: (.*)\)\.$/m.exec(user)![1]!
      const plan = plans[topic]!
      const round = 1 + req.messages.filter(m => m.role === 'assistant').length
      const hooked = hooks.codegen?.(topic, round)
      if (hooked) return hooked
      const step = plan.code[Math.min(round - 1, plan.code.length - 1)]
      if (step && typeof step === 'object') return step.raw
      return { content: filesReply(taskFiles(paramsFromPrompt(user), step), round === 1 ? 'first version' : `round ${round}: fixed`) }
    }
    throw new Error(`scripted LLM: an unexpected request: ${system.slice(0, 80)}`)
  }
}

/** The requests of one topic, by kind. */
export function requestsOf (requests: ChatRequest[], topic: string, kind: 'proposal' | 'codegen'): ChatRequest[] {
  return requests.filter(r => {
    const system = text(r.messages[0]!)
    const user = text(r.messages[1]!)
    return kind === 'proposal'
      ? system.startsWith('You design') && user.startsWith(`Topic: ${topic}\n`)
      : system.startsWith('You write') && user.includes(`(topic: ${topic}).`)
  })
}

export const lastUser = (r: ChatRequest) => text([...r.messages].reverse().find(m => m.role === 'user')!)
