// Stages 2-4 for one topic: the LLM proposes a task on a Hugging Face dataset; the Hub verifies it; a benchmark
// dataset or a duplicate is refused. Each refusal goes back to the LLM with its reason, a bounded number of times.
import {
  proposalSchema, validateProposal, type Proposal, type ProposalArtefact, type Rejection, type Tokens, type Topic,
  type VerifiedDataset
} from '../../env-spec/generation.js'
import { InvalidReplyError, type Llm, type Message } from './llm.js'
import { GENERATE_DEFAULTS, rejection, type VerifyDataset } from './settings.js'

/** What a proposal must get past after the LLM, in this order: the benchmark list, the Hub, the run's earlier claims. */
export interface ProposalGate {
  verify: VerifyDataset
  /** a rejection when the proposal's dataset is one of the evaluation benchmark's */
  benchmark: (p: Proposal) => Rejection | null
  /** reserves the proposal's (dataset, config, target, metric) and task id, or says which task of the run has them */
  claim: (p: Proposal, d: VerifiedDataset) => Rejection | null
  /** dataset ids never to propose, shown to the LLM up front */
  benchmarkIds: string[]
}

export function proposalSystemPrompt (benchmarkIds: string[]): string {
  return `You design machine-learning research tasks for MLGym-style agents. Given a topic, propose ONE task built on a
real, public dataset on the Hugging Face Hub that you are confident exists under exactly the id you give.

Requirements:
- The dataset is public, not gated, and the Hub's dataset viewer can show it (it has a parquet conversion). Prefer small,
  well-known datasets (at most a few hundred MB) with a clear label column.
- config: the dataset viewer's config name ("default" when the dataset has a single config).
- splits: the Hub splits to draw rows from (e.g. ["train"] or ["train", "test"]); the pipeline makes its own seeded
  train/validation/test split from them.
- input_columns: the columns a model may use; target_column: the column to predict (never one of the inputs). Use the
  column names exactly as the dataset viewer shows them.
- task_type: one of tabular-classification, tabular-regression, text-classification, text-regression,
  image-classification, audio-classification, time-series-forecasting; it must fit the column types.
- metric: the main metric and whether higher (maximize) or lower (minimize) is better, e.g. accuracy/maximize,
  macro_f1/maximize, rmse/minimize, mae/minimize, r2/maximize.
- submission_kind: CSVSubmissionTasks (the agent writes submission.csv with one prediction per test row).
- task_id: a short lowerCamelCase id naming the task, e.g. "wineQualityClassification".
- learnability: one or two sentences on why the inputs carry signal about the target.
- Never use these evaluation-benchmark datasets (agents are tested on them): ${benchmarkIds.join(', ')}.

Reply with one JSON object that fits this JSON Schema, and nothing else:
${JSON.stringify(proposalSchema)}`
}

export function proposalUserPrompt (topic: Topic): string {
  return `Topic: ${topic.topic}\nArea: ${topic.area.replace(/_/g, ' ')}\nThe "topic" field of your reply is this topic, verbatim.`
}

function refusal (p: Proposal, r: Rejection): string {
  return `Your proposal (dataset "${p.dataset}", config "${p.config}", target "${p.target_column}") was rejected at the ${r.stage} stage (${r.code}): ${r.message}
Propose again for the same topic: fix what the message names, or choose another dataset.`
}

/** Checks of the proposal itself, before anything is asked of the Hub. */
function ownChecks (p: Proposal): Rejection | null {
  if (p.submission_kind !== 'CSVSubmissionTasks') {
    return rejection('proposal', 'UNSUPPORTED_SUBMISSION_KIND', `submission_kind ${p.submission_kind}: generated data tasks are scored from a CSV of predictions; use CSVSubmissionTasks`)
  }
  if (p.input_columns.includes(p.target_column)) {
    return rejection('proposal', 'TARGET_IN_INPUTS', `the target column ${p.target_column} is also an input column; remove it from input_columns`)
  }
  return null
}

const add = (a: Tokens, b: Tokens) => { a.prompt += b.prompt; a.completion += b.completion }

/**
 * Proposals until one is verified, at most `attempts`; every attempt and its refusal is recorded. An LLM that
 * never replies valid JSON ends the topic here (rejection 'INVALID_REPLY'); an API failure past its retries throws.
 */
export async function proposeTask (topic: Topic, llm: Llm, gate: ProposalGate, opts: { attempts?: number, replyAttempts?: number } = {}): Promise<ProposalArtefact> {
  const started = performance.now()
  const attempts = opts.attempts ?? GENERATE_DEFAULTS.proposalAttempts
  const tokens: Tokens = { prompt: 0, completion: 0 }
  const record: ProposalArtefact['attempts'] = []
  let verifySeconds = 0
  const messages: Message[] = [
    { role: 'system', content: proposalSystemPrompt(gate.benchmarkIds) },
    { role: 'user', content: proposalUserPrompt(topic) }
  ]
  const done = (status: ProposalArtefact['status'], proposal: Proposal | null, dataset: VerifiedDataset | null, last: Rejection | null): ProposalArtefact => ({
    status, proposal, dataset, attempts: record, rejection: last, tokens, seconds: (performance.now() - started) / 1000, verify_seconds: verifySeconds
  })
  let last: Rejection | null = null
  for (let n = 0; n < attempts; n++) {
    let p: Proposal
    try {
      const r = await llm.json(messages, { name: 'proposal', schema: proposalSchema, validate: validateProposal, attempts: opts.replyAttempts })
      add(tokens, r.tokens)
      p = { ...r.value, topic: topic.topic }
      messages.push({ role: 'assistant', content: r.text })
    } catch (e) {
      if (!(e instanceof InvalidReplyError)) throw e
      add(tokens, e.tokens)
      last = rejection('proposal', 'INVALID_REPLY', e.message)
      record.push({ proposal: null, rejection: last })
      return done('rejected', null, null, last)
    }
    // the stage names are the pipeline's (STAGES), whatever a gate calls itself
    let refused = ownChecks(p)
    if (!refused) { const r = gate.benchmark(p); if (r) refused = { ...r, stage: 'decontamination' } }
    let dataset: VerifiedDataset | null = null
    if (!refused) {
      const t0 = performance.now()
      const v = await gate.verify(p)
      verifySeconds += (performance.now() - t0) / 1000
      if (v.ok) dataset = v.dataset
      else refused = { ...v.rejection, stage: 'verification' }
    }
    // the Hub may answer with another id (a renamed dataset redirects): that one must not be a benchmark's either
    if (!refused && dataset && dataset.dataset !== p.dataset) { const r = gate.benchmark({ ...p, dataset: dataset.dataset }); if (r) refused = { ...r, stage: 'decontamination' } }
    if (!refused && dataset) { const r = gate.claim(p, dataset); if (r) refused = { ...r, stage: 'dedup' } }
    record.push({ proposal: p, rejection: refused })
    if (!refused) return done('verified', p, dataset, null)
    last = refused
    messages.push({ role: 'user', content: refusal(p, refused) })
  }
  return done('rejected', null, null, last)
}
