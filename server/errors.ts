// The server's own errors, and the one place where any thrown value becomes an HTTP status and the documented
// body `{error: {code, message, field?}}` (REST and WebSocket alike). Errors are told apart by class, never by
// reading a `code` off whatever was thrown: a system error (ENOENT, EACCES) is INTERNAL unless a layer wrapped it.
import { errorCodes, type FastifyError } from 'fastify'
import { ValidationError } from '../env-spec/validate.js'
import { ERROR_STATUS, MAX_ACTION_BYTES, MAX_MODEL_BYTES, type ErrorBody, type ErrorCode } from '../env-spec/messages.js'
import {
  BusyError, CapacityError, EngineUnavailableError, SandboxStartError, ShellClosedError, TimeoutError
} from '../sandbox/errors.js'
import { EpisodeFinishedError, NotResetError, TaskNotFoundError } from '../tasks/errors.js'

/** An environment or episode that is not there (closed, reaped, never made). */
export class NotFoundError extends Error {
  readonly code = 'NOT_FOUND'
  constructor (message: string, readonly field?: string) { super(message) }
}

/** The server holds as many environments, or has fewer GPUs than a task needs. */
export class CapacityReachedError extends Error { readonly code = 'CAPACITY_REACHED' }

/** The backend an environment asks for cannot serve (dockerd down). */
export class BackendUnavailableError extends Error {
  readonly code = 'BACKEND_UNAVAILABLE'
  readonly field = 'backend'
}

/** The environment was closed (DELETE, WebSocket close, idle reaper) while this request ran on it. */
export class EnvClosedError extends Error {
  readonly code = 'ENV_CLOSED'
  constructor (envId: string) {
    super(`environment ${envId} was closed while this request ran; its episode is abandoned and this step not recorded`)
  }
}

export class PayloadTooLargeError extends Error {
  readonly code = 'PAYLOAD_TOO_LARGE'
  constructor (message: string, readonly field?: string) { super(message) }
}

/** No credential (`missing`: SWE-ReX answers it 403 "Not authenticated"), or one this server does not take. */
export class UnauthorizedError extends Error {
  readonly code = 'UNAUTHORIZED'
  constructor (message: string, readonly missing = false) { super(message) }
}

/** A valid key without the scope a route needs. */
export class ForbiddenError extends Error { readonly code = 'FORBIDDEN' }

/** A key over its request rate; `retryAfter`: whole seconds until its bucket holds a request again. */
export class RateLimitedError extends Error {
  readonly code = 'RATE_LIMITED'
  constructor (message: string, readonly retryAfter: number) { super(message) }
}

/** The server is closing: its environments are gone, nothing new is taken. */
export class ShuttingDownError extends Error { readonly code = 'SHUTTING_DOWN' }

/** The environment lives on another replica: the request goes there (307 to `location`). */
export class EnvElsewhereError extends Error {
  readonly code = 'ENV_ELSEWHERE'
  readonly field = 'env_id'
  constructor (message: string, readonly location: string) { super(message) }
}

/** The environment's replica stopped sending heartbeats: the environment is lost with it (for now). */
export class ReplicaGoneError extends Error {
  readonly code = 'REPLICA_GONE'
  readonly field = 'env_id'
}

/** The episode store's disk is full: nothing more can be recorded until space is freed. */
export class StoreFullError extends Error { readonly code = 'STORE_FULL' }

/** The episode store does not answer (PostgreSQL down, the SQLite file unreadable). */
export class StoreUnavailableError extends Error { readonly code = 'STORE_UNAVAILABLE' }

type Coded = Error & { code: ErrorCode, field?: string }

/** Every class whose `code` is sent as it is. */
const KNOWN: (abstract new (...args: never[]) => Coded)[] = [
  NotFoundError, CapacityReachedError, BackendUnavailableError, EnvClosedError, PayloadTooLargeError, UnauthorizedError,
  ForbiddenError, ShuttingDownError, EnvElsewhereError, ReplicaGoneError, StoreFullError, StoreUnavailableError,
  EpisodeFinishedError, NotResetError, TaskNotFoundError,
  BusyError, ShellClosedError, SandboxStartError, TimeoutError, CapacityError, EngineUnavailableError
]

const FASTIFY_ERRORS = Object.values(errorCodes)

function body (code: ErrorCode, message: string, field?: string): ErrorBody {
  return { error: { code, message, ...(field ? { field } : {}) } }
}

/** fastify's own errors (routing, content-type, body parsing): their status, our codes and words. */
function fromFastify (e: FastifyError, bodyLimit: number): { status: number, body: ErrorBody } {
  if (e instanceof errorCodes.FST_ERR_CTP_BODY_TOO_LARGE) {
    const mib = +(bodyLimit / 1024 / 1024).toFixed(2)
    return { status: 413, body: body('PAYLOAD_TOO_LARGE', `the request body is over this route's limit of ${mib} MiB (an action up to ${MAX_ACTION_BYTES / 1024 / 1024} MiB; a step's model data up to ${MAX_MODEL_BYTES / 1024 / 1024} MiB more); write big files in several steps`) }
  }
  if (e instanceof errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE) {
    return { status: 415, body: body('VALIDATION_ERROR', 'send JSON with content-type: application/json', 'content-type') }
  }
  if (e instanceof errorCodes.FST_ERR_CTP_INVALID_JSON_BODY) {
    return { status: 400, body: body('VALIDATION_ERROR', 'body: not valid JSON', 'body') }
  }
  // an id longer than the router takes cannot name anything this server made
  if (e instanceof errorCodes.FST_ERR_MAX_PARAM_LENGTH) {
    return { status: 404, body: body('NOT_FOUND', 'no such resource: ids are at most 100 characters; see README for the API') }
  }
  const status = e.statusCode ?? 500
  if (status === 404) return { status, body: body('NOT_FOUND', e.message) }
  if (status >= 400 && status < 500) return { status, body: body('VALIDATION_ERROR', e.message) }
  return { status: 500, body: body('INTERNAL', e.message) }
}

/** Any thrown value as {status, body}; unknown errors become INTERNAL without leaking a stack. `bodyLimit`: the
 * limit of the route a too-large body was sent to, which the message names. */
export function toApiError (e: unknown, bodyLimit = MAX_ACTION_BYTES): { status: number, body: ErrorBody } {
  if (e instanceof ValidationError) {
    return { status: 400, body: { error: { code: e.code, message: e.message, field: e.field, details: e.details } } }
  }
  if (e instanceof RateLimitedError) {
    return { status: 429, body: { error: { code: e.code, message: e.message, retry_after: e.retryAfter } } }
  }
  if (KNOWN.some(C => e instanceof C)) {
    const err = e as Coded
    const b = body(err.code, err.message, err.field)
    if (e instanceof EnvElsewhereError) b.error.location = e.location
    return { status: ERROR_STATUS[err.code], body: b }
  }
  if (FASTIFY_ERRORS.some(C => e instanceof C)) return fromFastify(e as FastifyError, bodyLimit)
  return { status: 500, body: body('INTERNAL', (e as Error)?.message ?? String(e)) }
}
