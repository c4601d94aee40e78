// One ajv instance for every boundary; errors name the field and say how to fix it.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'

// verbose: an error carries its schema, whose `hint` (where one is set) is the message a person needs
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true })
// query strings arrive as text: '20' must pass as an integer, 'true' as a boolean
const coercing = new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: true, verbose: true })

export class ValidationError extends Error {
  code = 'VALIDATION_ERROR' as const
  constructor (message: string, public field: string, public details: { field: string, message: string }[] = []) {
    super(message)
  }
}

function fieldOf (e: ErrorObject, root: string): string {
  let path = e.instancePath.replace(/^\//, '').replace(/\//g, '.')
  if (e.keyword === 'required') path = path ? `${path}.${e.params.missingProperty}` : e.params.missingProperty
  if (e.keyword === 'additionalProperties') path = path ? `${path}.${e.params.additionalProperty}` : e.params.additionalProperty
  return path ? `${root}.${path}` : root
}

function explain (e: ErrorObject): string {
  const hint = (e.parentSchema as { hint?: unknown } | undefined)?.hint
  if (typeof hint === 'string' && e.keyword !== 'type') return hint
  switch (e.keyword) {
    case 'required': return 'is required'
    case 'additionalProperties': return 'is not a known field; remove it (check the spelling)'
    case 'enum': return `must be one of ${(e.params.allowedValues as unknown[]).map(v => JSON.stringify(v)).join(', ')}`
    case 'type': return `must be of type ${e.params.type}`
    default: return e.message ?? 'is invalid'
  }
}

/** A validator; the schema is compiled on its first use (a command that loads env-spec/ pays only for what it checks). */
export function compile<T> (schema: object, opts: { coerce?: boolean } = {}): (data: unknown, root?: string) => T {
  let check: ValidateFunction | undefined
  return (data, root = 'body') => {
    check ??= (opts.coerce ? coercing : ajv).compile(schema)
    if (check(data)) return data as T
    const details = (check.errors ?? []).map(e => ({ field: fieldOf(e, root), message: explain(e) }))
    const first = details[0] ?? { field: root, message: 'is invalid' }
    const more = details.length > 1 ? ` (and ${details.length - 1} more problem${details.length > 2 ? 's' : ''})` : ''
    throw new ValidationError(`${first.field} ${first.message}${more}`, first.field, details)
  }
}
