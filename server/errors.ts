// Errors with a stable code; every route and WebSocket answer uses this shape.
import { ValidationError } from '../env-spec/validate.js'

export class ApiError extends Error {
  constructor (public status: number, public code: string, message: string, public field?: string) { super(message) }
}

const BY_CODE: Record<string, number> = {
  VALIDATION_ERROR: 400, NOT_FOUND: 404, EPISODE_FINISHED: 409, BUSY: 409, NOT_RESET: 409, SANDBOX_CLOSED: 409,
  CAPACITY_REACHED: 503, BACKEND_UNAVAILABLE: 503, SANDBOX_ERROR: 500, PAYLOAD_TOO_LARGE: 413, UNAUTHORIZED: 401, TIMEOUT: 504
}

/** Any thrown value as {status, body}; unknown errors become INTERNAL without leaking a stack. */
export function toApiError (e: unknown): { status: number, body: { error: { code: string, message: string, field?: string, details?: unknown } } } {
  if (e instanceof ApiError) return { status: e.status, body: { error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) } } }
  if (e instanceof ValidationError) return { status: 400, body: { error: { code: e.code, message: e.message, field: e.field, details: e.details } } }
  const err = e as { code?: string, message?: string, statusCode?: number }
  if (err?.code && BY_CODE[err.code]) return { status: BY_CODE[err.code]!, body: { error: { code: err.code, message: err.message ?? err.code } } }
  if (err?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE', message: 'the request body is over the 1 MiB limit; send smaller actions (write big files in several steps)' } } }
  if (err?.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (err?.statusCode === 400 && err?.message)) {
    return { status: 400, body: { error: { code: 'VALIDATION_ERROR', message: `body: ${err.message}`, field: 'body' } } }
  }
  if (err?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return { status: 415, body: { error: { code: 'VALIDATION_ERROR', message: 'send JSON with content-type: application/json', field: 'content-type' } } }
  return { status: 500, body: { error: { code: 'INTERNAL', message: err?.message ?? String(e) } } }
}
