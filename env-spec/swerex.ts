// The SWE-ReX runtime API (SWE-agent/SWE-ReX v1.4.0, src/swerex/runtime/abstract.py and server.py), each message
// once: the same field names, defaults and discriminators (`action_type`, `session_type`) as SWE-ReX's pydantic
// models, so that SWE-ReX's own Python `RemoteRuntime` talks to /v1/envs/:id/swerex unchanged. Unknown fields are
// ignored, as pydantic does; defaults are filled in (ajv useDefaults), as pydantic does.
import { compile, ValidationError } from './validate.js'

// ---- requests ----

/** `/create_session` (CreateBashSessionRequest) */
export interface SwerexCreateSession {
  startup_source: string[]
  session: string
  session_type: 'bash'
  startup_timeout: number
}
const createSessionSchema = {
  type: 'object',
  properties: {
    startup_source: { type: 'array', items: { type: 'string' }, default: [] },
    session: { type: 'string', default: 'default' },
    session_type: { const: 'bash', default: 'bash' },
    startup_timeout: { type: 'number', default: 1.0 }
  }
}

/** `/run_in_session`, `action_type: "bash"` (BashAction) */
export interface SwerexBashAction {
  action_type: 'bash'
  command: string
  session: string
  /** seconds; null waits for ever */
  timeout: number | null
  is_interactive_command: boolean
  is_interactive_quit: boolean
  check: 'silent' | 'raise' | 'ignore'
  error_msg: string
  expect: string[]
}
const bashActionSchema = {
  type: 'object', required: ['command'],
  properties: {
    action_type: { const: 'bash' },
    command: { type: 'string' },
    session: { type: 'string', default: 'default' },
    timeout: { type: ['number', 'null'], default: null },
    is_interactive_command: { type: 'boolean', default: false },
    is_interactive_quit: { type: 'boolean', default: false },
    check: { enum: ['silent', 'raise', 'ignore'], default: 'raise' },
    error_msg: { type: 'string', default: '' },
    expect: { type: 'array', items: { type: 'string' }, default: [] }
  }
}

/** `/run_in_session`, `action_type: "bash_interrupt"` (BashInterruptAction) */
export interface SwerexBashInterruptAction {
  action_type: 'bash_interrupt'
  session: string
  timeout: number
  n_retry: number
  expect: string[]
}
const interruptActionSchema = {
  type: 'object',
  properties: {
    action_type: { const: 'bash_interrupt' },
    session: { type: 'string', default: 'default' },
    timeout: { type: 'number', default: 0.2 },
    n_retry: { type: 'integer', default: 3 },
    expect: { type: 'array', items: { type: 'string' }, default: [] }
  }
}

export type SwerexAction = SwerexBashAction | SwerexBashInterruptAction
export const SWEREX_ACTION_TYPES = ['bash', 'bash_interrupt'] as const

/** `/close_session` (CloseBashSessionRequest) */
export interface SwerexCloseSession { session: string, session_type: 'bash' }
const closeSessionSchema = {
  type: 'object',
  properties: { session: { type: 'string', default: 'default' }, session_type: { const: 'bash', default: 'bash' } }
}

/** `/execute` (Command): a one-shot subprocess, as `subprocess.run` */
export interface SwerexCommand {
  command: string | string[]
  timeout: number | null
  shell: boolean
  check: boolean
  error_msg: string
  env: Record<string, string> | null
  cwd: string | null
  merge_output_streams: boolean
}
const commandSchema = {
  type: 'object', required: ['command'],
  properties: {
    command: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    timeout: { type: ['number', 'null'], default: null },
    shell: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    error_msg: { type: 'string', default: '' },
    env: { anyOf: [{ type: 'object', additionalProperties: { type: 'string' } }, { type: 'null' }], default: null },
    cwd: { type: ['string', 'null'], default: null },
    merge_output_streams: { type: 'boolean', default: false }
  }
}

/** `/read_file` (ReadFileRequest); `encoding` and `errors` as Python's `Path.read_text` */
export interface SwerexReadFile { path: string, encoding: string | null, errors: string | null }
const readFileSchema = {
  type: 'object', required: ['path'],
  properties: {
    path: { type: 'string' },
    encoding: { type: ['string', 'null'], default: null },
    errors: { type: ['string', 'null'], default: null }
  }
}

/** `/write_file` (WriteFileRequest); parent dirs are made */
export interface SwerexWriteFile { content: string, path: string }
const writeFileSchema = {
  type: 'object', required: ['content', 'path'],
  properties: { content: { type: 'string' }, path: { type: 'string' } }
}

/** `/upload`: multipart/form-data fields `file`, `target_path`, `unzip` (a form bool) */
export interface SwerexUpload { file: Buffer, filename: string, target_path: string, unzip: boolean }

// ---- responses ----

export interface SwerexIsAlive { is_alive: boolean, message: string }
export interface SwerexCreateSessionResponse { output: string, session_type: 'bash' }
/** BashObservation; `failure_reason` is declared by SWE-ReX and never set, here too */
export interface SwerexObservation {
  output: string
  exit_code: number | null
  failure_reason: string
  expect_string: string
  session_type: 'bash'
}
export interface SwerexCloseSessionResponse { session_type: 'bash' }
export interface SwerexCommandResponse { stdout: string, stderr: string, exit_code: number | null }
export interface SwerexReadFileResponse { content: string }
/** WriteFileResponse, UploadResponse, CloseResponse */
export type SwerexEmpty = Record<string, never>

/** HTTP 511: a runtime exception, re-raised by the client from `class_path` with `extra_info` attached. */
export interface SwerexExceptionBody {
  swerexception: { message: string, class_path: string, traceback: string, extra_info: Record<string, unknown> }
}

/** FastAPI's 422 for a body that does not fit its model (pydantic's error list). */
export interface SwerexValidationBody {
  detail: { type: string, loc: (string | number)[], msg: string, input: unknown }[]
}
/** FastAPI's `{"detail": "..."}` for 401, 403 (auth) and 404. */
export interface SwerexDetailBody { detail: string }

// ---- validation, with pydantic's error list ----

/** A request body that does not fit its model: answered as FastAPI's 422. */
export class SwerexValidationError extends Error {
  constructor (readonly detail: SwerexValidationBody['detail']) { super(detail.map(d => `${d.loc.join('.')}: ${d.msg}`).join('; ')) }
}

function pydanticType (message: string): { type: string, msg: string } {
  if (message === 'is required') return { type: 'missing', msg: 'Field required' }
  const t = /^must be of type (\w+)/.exec(message)?.[1]
  if (t) {
    const name: Record<string, string> = { string: 'string', number: 'float', integer: 'int', boolean: 'bool', array: 'list', object: 'dict' }
    const n = name[t.split(',')[0]!] ?? t
    return { type: `${n}_type`, msg: `Input should be a valid ${n === 'dict' ? 'dictionary' : n === 'bool' ? 'boolean' : n}` }
  }
  if (message.startsWith('must be one of') || message.startsWith('must be equal to constant')) return { type: 'literal_error', msg: `Input should be ${message.replace(/^must be (one of|equal to constant) ?/, '')}` }
  return { type: 'value_error', msg: message }
}

/** Our one ajv (env-spec/validate.ts), its errors told as pydantic tells them. */
function model<T> (schema: object, variant?: string): (body: unknown) => T {
  const check = compile<T>(schema)
  return body => {
    if (body === undefined || body === null) throw new SwerexValidationError([{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }])
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw new SwerexValidationError([{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: body }])
    }
    // defaults are filled into a copy: a 422 shows the body as it came, as pydantic's `input` does
    try { return check(structuredClone(body)) } catch (e) {
      if (!(e instanceof ValidationError)) throw e
      const rows = e.details.length ? e.details : [{ field: e.field, message: e.message }]
      // pydantic reports one row per field; ajv's anyOf adds one per branch and a summary: keep the first per field
      const seen = new Set<string>()
      throw new SwerexValidationError(rows.filter(r => !seen.has(r.field) && seen.add(r.field)).map(r => {
        const path = r.field.split('.').slice(1)
        const { type, msg } = pydanticType(r.message)
        // pydantic's `input` of a missing field is the object it is missing from
        const at = type === 'missing' ? path.slice(0, -1) : path
        const input = at.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], body)
        return { type, loc: ['body', ...(variant ? [variant] : []), ...path], msg, input: input ?? null }
      }))
    }
  }
}

export const validateSwerexCreateSession = model<SwerexCreateSession>(createSessionSchema)
export const validateSwerexCloseSession = model<SwerexCloseSession>(closeSessionSchema)
export const validateSwerexCommand = model<SwerexCommand>(commandSchema)
export const validateSwerexReadFile = model<SwerexReadFile>(readFileSchema)
export const validateSwerexWriteFile = model<SwerexWriteFile>(writeFileSchema)
const bashAction = model<SwerexBashAction>(bashActionSchema, 'bash')
const interruptAction = model<SwerexBashInterruptAction>(interruptActionSchema, 'bash_interrupt')

/** The Action union, discriminated by `action_type` as pydantic does (the tag is required). */
export function validateSwerexAction (body: unknown): SwerexAction {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const tag = (body as { action_type?: unknown }).action_type
    if (tag === 'bash') return bashAction(body)
    if (tag === 'bash_interrupt') return interruptAction(body)
    if (tag === undefined) {
      throw new SwerexValidationError([{ type: 'union_tag_not_found', loc: ['body'], msg: "Unable to extract tag using discriminator 'action_type'", input: body }])
    }
    throw new SwerexValidationError([{
      type: 'union_tag_invalid', loc: ['body'], input: body,
      msg: `Input tag ${JSON.stringify(String(tag)).replace(/^"|"$/g, "'")} found using 'action_type' does not match any of the expected tags: 'bash', 'bash_interrupt'`
    }])
  }
  return bashAction(body) // the missing-body / not-an-object answers
}

/** A form field as FastAPI reads a `bool` (pydantic's lax bool). */
export function formBool (v: string): boolean | null {
  const s = v.trim().toLowerCase()
  if (['1', 'on', 't', 'true', 'y', 'yes'].includes(s)) return true
  if (['0', 'off', 'f', 'false', 'n', 'no'].includes(s)) return false
  return null
}
