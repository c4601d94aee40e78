// The one table of defaults of `synthgym generate`, and the settings every stage reads (flags fill them in).
import type { Proposal, Rejection, VerifiedDataset } from '../../env-spec/generation.js'

export const GENERATE_DEFAULTS = {
  topics: 100,
  seed: 0,
  /** topics in flight at once (each: its LLM calls, then its own sandbox) */
  concurrency: 8,
  /** check rounds per task: the first files, then a fix after each failure, until this many have run */
  rounds: 3,
  model: 'gpt-5',
  /** proposals per topic: a Hub or dedup rejection goes back to the LLM with its reason until this many were tried */
  proposalAttempts: 3,
  /** replies per LLM request: one that is not valid JSON (or not valid against its schema) is sent back with the errors */
  replyAttempts: 3,
  /** retries of one LLM request on 429, 5xx, timeouts and connection errors, with exponential backoff */
  llmRetries: 6,
  llmBackoffMs: 1000,
  llmBackoffMaxMs: 60_000,
  /** seconds one LLM request may take */
  llmTimeout: 600,
  // completion tokens per reply: --max-tokens, else the endpoint profile's budget cut to what the endpoint's
  // context length (vLLM's max_model_len) leaves after the prompt (clients/llm/profiles.ts)
  backend: 'local' as 'local' | 'docker',
  image: 'synthgym/sandbox:latest',
  /** seconds the generated baseline may train (the task's training_timeout is capped to it) */
  maxTrainingTimeout: 1800,
  /** the micro variant's training_timeout */
  microTrainingTimeout: 120,
  /** the most a generated task may ask of a sandbox */
  maxCpus: 4,
  maxMemoryMb: 8192,
  /** progress lines on stderr at most this often (ms) */
  progressMs: 1000,
  /** rows of the materialised train file shown to the LLM */
  sampleRows: 5
} as const

/** A rejection, by stage and a stable code, with the message that goes back to the LLM. */
export function rejection (stage: string, code: string, message: string): Rejection { return { stage, code, message } }

/** The Hub verification a proposal goes through (tasks/generate/hub.ts). */
export type VerifyDataset = (p: Proposal) => Promise<{ ok: true, dataset: VerifiedDataset } | { ok: false, rejection: Rejection }>
