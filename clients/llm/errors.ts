// The LLM client's errors: each carries the HTTP status and the endpoint's own message, for stderr, the .traj,
// error.txt and the generation report.

export class LlmApiError extends Error {
  constructor (message: string, readonly status: number | null, readonly endpointMessage: string | null) { super(message) }
}

/** The prompt no longer fits the model's context (the endpoint said so, or its context length leaves no room). */
export class ContextLimitError extends LlmApiError {}

/** The API failed and will not be retried: an error retrying cannot fix, or the retries are spent. */
export class ApiFailedError extends LlmApiError {}
