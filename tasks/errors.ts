// The errors of the tasks layer: the environment's refusals, evaluation outcomes, tasks that are not there or do
// not load. Each is a class with a stable `code`; the server maps the classes to HTTP statuses (server/errors.ts).

/** A step after the episode ended (submit, skip, max_steps...): reset to start a new one. */
export class EpisodeFinishedError extends Error { readonly code = 'EPISODE_FINISHED' }

/** A step or evaluation before the first reset. */
export class NotResetError extends Error { readonly code = 'NOT_RESET' }

export class TaskNotFoundError extends Error {
  readonly code = 'NOT_FOUND'
  /** the request field that named it */
  readonly field = 'task'
  constructor (readonly taskId: string) { super(`task ${taskId} does not exist; GET /v1/tasks lists the tasks`) }
}

/** A task directory or config that does not load; `reason` is the problem without the file name. */
export class TaskLoadError extends Error {
  readonly code = 'TASK_INVALID'
  constructor (public file: string, public reason: string) { super(`${file}: ${reason}`) }
}

/** A served task's hidden files (or the sandboxes' folder) lie where every local sandbox sees them: no start. */
export class SecretsExposedError extends Error { readonly code = 'SECRETS_EXPOSED' }

// Evaluation outcomes the environment turns into observations (as MLGym does); never sent as errors.

/** The task's submission artefact is not in the workspace. */
export class SubmissionNotFoundError extends Error { readonly code = 'SUBMISSION_NOT_FOUND' }

/** The evaluation script did not print its metrics as a JSON/Python dict. */
export class EvaluationFormatError extends Error {
  readonly code = 'EVALUATION_FORMAT_ERROR'
  /** what the evaluation printed (the run without hidden files, unless its author asked) */
  constructor (message: string, readonly output = '') { super(message) }
}

// Generation (tasks/generate/): failures of the remote services, not of a proposal. A proposal's own problems are
// Rejections (env-spec/generation.ts), which go back to the LLM; these do not.

/** The LLM API kept failing (429, 5xx, timeouts) past its retries, or refused the request; the topic is retried by --resume. */
export class LlmError extends Error {
  readonly code = 'LLM_ERROR'
  constructor (message: string, readonly status: number | null = null) { super(message) }
}

/** The Hub or the dataset viewer kept failing (network, 5xx, rate limits) after the retries. */
export class HubUnavailableError extends Error {
  readonly code = 'HUB_UNAVAILABLE'
  constructor (readonly service: 'Hub' | 'dataset viewer', readonly url: string, readonly status: number | null, reason: string) {
    const flag = service === 'Hub' ? '--hub-url (HF_ENDPOINT)' : '--datasets-server-url'
    super(`the Hugging Face ${service} failed at ${url}: ${reason}; check ${flag}, --hf-token and the network, or retry later`)
  }
}
