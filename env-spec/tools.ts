// The agent tool commands as data: each command's definition (from the `# @yaml` block of its tool file in
// sandbox/tools) and how a function call becomes the command line the shell runs. The server derives everything from
// the definitions; GET /v1/tools sends them, so a client (the agent harness) turns tool calls into actions the same way.
import { compile } from './validate.js'

export type ToolProfile = 'mlgym' | 'sweagent'

export interface ToolArgument {
  /** array, enum, items and argument_format only in the sweagent profile (SWE-agent 1.x's argument fields) */
  type: 'string' | 'integer' | 'array'
  description: string
  required: boolean
  enum?: string[]
  /** an array's element schema, e.g. {type: 'integer'} */
  items?: { type: 'string' | 'integer' }
  /** how the value goes into the command line: `--flag {{value}}`, `--flag {{value|join(' ')}}` (default `{{value}}`) */
  argument_format?: string
}

export interface ToolDefinition {
  name: string
  /** as shown in the prompt; a multi-line command's signature spans its text and end lines */
  signature: string
  /** as written in the tool file, `{WINDOW}` etc. not yet filled in */
  docstring: string
  /** in signature order; for a multi-line command the last one is the text between the first line and end_name */
  arguments: Record<string, ToolArgument>
  /** the line that ends a multi-line command (its text goes in as a heredoc) */
  end_name?: string
}

const toolArgumentSchema = {
  type: 'object', required: ['type', 'description', 'required'], additionalProperties: false,
  properties: {
    type: { enum: ['string', 'integer', 'array'] }, description: { type: 'string' }, required: { type: 'boolean' },
    enum: { type: 'array', items: { type: 'string' } },
    items: { type: 'object', required: ['type'], properties: { type: { enum: ['string', 'integer'] } } },
    argument_format: { type: 'string' }
  }
}

export const toolDefinitionSchema = {
  type: 'object', required: ['name', 'signature', 'docstring', 'arguments'], additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 }, signature: { type: 'string' }, docstring: { type: 'string' },
    arguments: { type: 'object', additionalProperties: toolArgumentSchema },
    end_name: { type: 'string' }
  }
}
export const validateToolDefinition = compile<ToolDefinition>(toolDefinitionSchema)

export function shellQuote (value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'"'"'`)}'`
}

/**
 * The command line the shell runs for a function call: `open "train.py" 10`, `edit 3:5\n<text>\nend_of_edit`, or
 * the `bash` tool's command as is. A multi-line command's text loses one trailing newline ("" adds no lines, "\n"
 * one empty line). Throws an Error naming the bad argument on invalid input.
 */
export function toolCallAction (defs: ToolDefinition[], name: string, args: Record<string, unknown>, profile: ToolProfile = 'mlgym'): string {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new Error(`${name}: arguments must be an object`)
  if (name === 'bash') {
    for (const key of Object.keys(args)) if (key !== 'command') throw new Error(`bash: unknown argument "${key}"`)
    if (typeof args.command !== 'string' || args.command.trim() === '') throw new Error('bash: argument "command" must be a non-empty string')
    return args.command
  }
  const def = defs.find(d => d.name === name)
  if (def === undefined) throw new Error(`unknown tool "${name}"`)
  for (const key of Object.keys(args)) if (!(key in def.arguments)) throw new Error(`${name}: unknown argument "${key}"`)
  if (profile === 'sweagent') return sweagentAction(def, args)

  const names = Object.keys(def.arguments)
  const textArg = def.end_name !== undefined ? names[names.length - 1] : undefined
  const values = new Map<string, string>()
  for (const [arg, spec] of Object.entries(def.arguments)) {
    const value = args[arg]
    if (value === undefined || value === null) {
      if (spec.required) throw new Error(`${name}: missing required argument "${arg}"`)
    } else if (spec.type === 'integer') {
      if (!(Number.isSafeInteger(value) && (value as number) >= 0) && !(typeof value === 'string' && /^\d+$/.test(value))) {
        throw new Error(`${name}: argument "${arg}" must be a non-negative integer`)
      }
      values.set(arg, String(value))
    } else if (typeof value !== 'string') {
      throw new Error(`${name}: argument "${arg}" must be a string`)
    } else if (arg === textArg) {
      if (value.split('\n').some(line => line.trim() === def.end_name)) {
        throw new Error(`${name}: argument "${arg}" must not contain a line "${def.end_name}"`)
      }
      values.set(arg, value)
    } else {
      if (value === '' || value.includes('\n')) throw new Error(`${name}: argument "${arg}" must be a non-empty single line`)
      values.set(arg, value)
    }
  }

  // The first signature line with the values in place: <x> and [<x>] quoted for the shell, "<x>" kept in
  // double quotes where that is safe, as MLGym's demonstrations write it.
  const first = def.signature.split('\n')[0].replace(/(\s*)\[<(\w+)>\]|"<(\w+)>"|<(\w+)>/g,
    (_, space: string | undefined, optional: string | undefined, quoted: string | undefined, plain: string | undefined) => {
      if (optional !== undefined) return values.has(optional) ? space + shellQuote(values.get(optional)!) : ''
      const value = values.get((quoted ?? plain)!) ?? ''
      return quoted !== undefined && /^[^"\\$`!]+$/.test(value) ? `"${value}"` : shellQuote(value)
    })
  if (textArg === undefined) return first
  const text = values.get(textArg)!
  return text === '' ? `${first}\n${def.end_name}` : `${first}\n${text.replace(/\n$/, '')}\n${def.end_name}`
}

/**
 * SWE-agent's FunctionCallingParser: the signature with each <x> / [<x>] replaced by the value, a string value
 * shlex-quoted (not for a multi-line tool), rendered through its argument_format, a missing optional one empty, the
 * whole line stripped. `edit`'s text goes in as it is, between its first line and end_of_edit.
 */
function sweagentAction (def: ToolDefinition, args: Record<string, unknown>): string {
  const name = def.name
  const quote = def.end_name === undefined
  const rendered = new Map<string, string>()
  for (const [arg, spec] of Object.entries(def.arguments)) {
    const value = args[arg]
    if (value === undefined || value === null) {
      if (spec.required) throw new Error(`${name}: missing required argument "${arg}"`)
      rendered.set(arg, '')
      continue
    }
    let text: string
    let items: string[] | undefined
    if (spec.type === 'integer') {
      if (!Number.isSafeInteger(value) && !(typeof value === 'string' && /^-?\d+$/.test(value))) {
        throw new Error(`${name}: argument "${arg}" must be an integer`)
      }
      text = String(value)
    } else if (spec.type === 'array') {
      if (!Array.isArray(value)) throw new Error(`${name}: argument "${arg}" must be an array`)
      for (const v of value) {
        if (spec.items?.type === 'integer' ? !Number.isSafeInteger(v) : typeof v !== 'string') {
          throw new Error(`${name}: argument "${arg}" must be an array of ${spec.items?.type === 'integer' ? 'integers' : 'strings'}`)
        }
      }
      items = value.map(v => String(v))
      text = items.join(' ')
    } else {
      if (typeof value !== 'string') throw new Error(`${name}: argument "${arg}" must be a string`)
      if (!quote && value.split('\n').some(line => line.trim() === def.end_name)) {
        throw new Error(`${name}: argument "${arg}" must not contain a line "${def.end_name}"`)
      }
      text = quote ? shellQuote(value) : value
    }
    const format = spec.argument_format ?? '{{value}}'
    rendered.set(arg, format.replace(/\{\{value(?:\|join\('([^']*)'\))?\}\}/g, (_, sep: string | undefined) =>
      sep !== undefined && items !== undefined ? items.join(sep) : text))
  }
  return def.signature.replace(/\[<(\w+)>\]|<(\w+)>/g, (whole, optional: string | undefined, plain: string | undefined) =>
    rendered.get((optional ?? plain)!) ?? whole).trim()
}

