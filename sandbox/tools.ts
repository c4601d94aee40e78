// The agent tool commands installed into every sandbox shell (sandbox/tools/*.sh, MLGym's ACI). Each command is
// defined once, by the `# @yaml` block above its bash function, as MLGym does; everything here derives from those
// blocks: the prompt's command docs, the OpenAI tools array, tool call → command line, the install script.
import { accessSync, constants, readFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { packageRoot } from './paths.js'
import { AGENT_HOME, WORKSPACE } from './types.js'
import { shellQuote, toolCallAction, type ToolArgument, type ToolDefinition, type ToolProfile } from '../env-spec/tools.js'

export type { ToolProfile, ToolArgument, ToolDefinition } from '../env-spec/tools.js'
export interface OpenAITool {
  type: 'function'
  function: {
    name: string
    description: string
    /** SWE-agent's shape leaves out properties and required for a tool without arguments */
    parameters: { type: 'object', properties?: Record<string, OpenAIProperty>, required?: string[] }
  }
}

export interface OpenAIProperty { type: string, description: string, items?: { type: string }, enum?: string[] }

// Tool files sourced into the session, in MLGym's command_files order (which is the order of the command docs).
const PROFILE_FILES: Record<ToolProfile, string[]> = {
  mlgym: ['editor.sh', 'search.sh', 'edit.sh', 'submit.sh'],
  // SWE-agent 1.x's bundles in its configs' order (registry first); see sandbox/tools/sweagent/README.md
  sweagent: ['sweagent/registry.sh', 'sweagent/windowed.sh', 'sweagent/search.sh', 'sweagent/edit_linting.sh',
    'sweagent/edit_anthropic.sh', 'sweagent/submit.sh']
}

// MLGym's agent env_variables: set in the session as `K=V` and filled into docstrings (`{WINDOW}`).
const SESSION_VARIABLES: Record<ToolProfile, Record<string, string>> = {
  mlgym: { WINDOW: '1000', OVERLAP: '2', CURRENT_LINE: '0', CURRENT_FILE: '', SEARCH_RESULTS: '()', SEARCH_FILES: '()', SEARCH_INDEX: '0' },
  // SWE-agent's config env_variables (07.yaml); exported, as SWE-agent exports them
  sweagent: { WINDOW: '100', OVERLAP: '2' }
}

const BASH_TOOL: OpenAITool = {
  type: 'function',
  function: {
    name: 'bash',
    description: 'runs the given command directly in bash',
    parameters: {
      type: 'object',
      properties: { command: { type: 'string', description: 'the bash command to run' } },
      required: ['command']
    }
  }
}

/** Host path of sandbox/tools; works from the sources (tsx) and from dist/. */
export function toolsDir (): string {
  return join(packageRoot(), 'sandbox', 'tools')
}

const definitionCache = new Map<ToolProfile, ToolDefinition[]>()

export function toolDefinitions (profile: ToolProfile): ToolDefinition[] {
  let defs = definitionCache.get(profile)
  if (defs === undefined) {
    defs = PROFILE_FILES[profile].flatMap(file => parseToolFile(readFileSync(join(toolsDir(), file), 'utf8'), file))
    definitionCache.set(profile, defs)
  }
  return defs
}

// Each `# @yaml` comment block documents the `name() {` line right after it.
function parseToolFile (text: string, file: string): ToolDefinition[] {
  const lines = text.split('\n')
  const defs: ToolDefinition[] = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '# @yaml') continue
    const block: string[] = []
    let j = i + 1
    for (; j < lines.length && lines[j].startsWith('#'); j++) block.push(lines[j].replace(/^# ?/, ''))
    const fn = /^(\w+)\(\) \{$/.exec(lines[j] ?? '')
    if (fn === null) throw new Error(`${file}:${j + 1}: a # @yaml block must be followed by the function it documents`)
    defs.push(toDefinition(fn[1], parseYaml(block.join('\n')), `${file}:${i + 1}`))
    i = j
  }
  return defs
}

function toDefinition (name: string, doc: any, where: string): ToolDefinition {
  const bad = (what: string): never => { throw new Error(`${where} (${name}): ${what}`) }
  if (typeof doc?.docstring !== 'string') bad('docstring must be a string')
  const args: Record<string, ToolArgument> = {}
  for (const [arg, spec] of Object.entries<any>(doc.arguments ?? {})) {
    if (!['string', 'integer', 'array'].includes(spec?.type)) bad(`argument ${arg}: type must be string, integer or array`)
    if (typeof spec.description !== 'string') bad(`argument ${arg}: description must be a string`)
    if (typeof spec.required !== 'boolean') bad(`argument ${arg}: required must be true or false`)
    args[arg] = { type: spec.type, description: spec.description, required: spec.required }
    if (spec.type === 'array') {
      if (spec.items?.type !== 'string' && spec.items?.type !== 'integer') bad(`argument ${arg}: an array needs items.type string or integer`)
      args[arg].items = { type: spec.items.type }
    } else if (spec.items !== undefined) bad(`argument ${arg}: items is for arrays`)
    if (spec.enum !== undefined) {
      if (!Array.isArray(spec.enum) || !spec.enum.every((v: unknown) => typeof v === 'string')) bad(`argument ${arg}: enum must be a list of strings`)
      args[arg].enum = spec.enum
    }
    if (spec.argument_format !== undefined) {
      if (typeof spec.argument_format !== 'string' || !/\{\{value(\|join\('[^']*'\))?\}\}/.test(spec.argument_format)) {
        bad(`argument ${arg}: argument_format must hold {{value}} or {{value|join('<sep>')}}`)
      }
      args[arg].argument_format = spec.argument_format
    }
  }
  if (doc.end_name !== undefined && typeof doc.end_name !== 'string') bad('end_name must be a string')
  // MLGym's default signature: the name, then <required> and [<optional>] arguments
  const signature = doc.signature ?? [name, ...Object.entries(args).map(([a, s]) => s.required ? `<${a}>` : `[<${a}>]`)].join(' ')
  if (typeof signature !== 'string') bad('signature must be a string')
  const def: ToolDefinition = { name, signature, docstring: doc.docstring, arguments: args }
  if (doc.end_name !== undefined) def.end_name = doc.end_name
  return def
}

// Python's str.format with the session variables, as MLGym fills docstrings.
function fillDocstring (docstring: string, profile: ToolProfile): string {
  const vars = SESSION_VARIABLES[profile]
  return docstring.replace(/\{(\w+)\}/g, (whole, key: string) => vars[key] ?? whole)
}

/** The `{command_docs}` text of MLGym's system prompt (its ParseCommandDetailed format). */
export function commandDocs (profile: ToolProfile): string {
  let docs = ''
  for (const def of toolDefinitions(profile)) {
    docs += `${def.name}:\n  docstring: ${fillDocstring(def.docstring, profile)}\n  signature: ${def.signature}\n`
    const args = Object.entries(def.arguments)
    if (args.length > 0) {
      docs += '  arguments:\n'
      for (const [arg, spec] of args) {
        docs += `    - ${arg} (${spec.type}) [${spec.required ? 'required' : 'optional'}]: ${spec.description}\n`
      }
    }
    docs += '\n'
  }
  return docs
}

/** OpenAI function-calling `tools`: one function per command, plus `bash` for everything else. */
export function openaiTools (profile: ToolProfile): OpenAITool[] {
  if (profile === 'sweagent') return [...toolDefinitions(profile).map(sweagentTool), BASH_TOOL]
  const tools: OpenAITool[] = toolDefinitions(profile).map(def => {
    const args = Object.entries(def.arguments)
    return {
      type: 'function',
      function: {
        name: def.name,
        description: callDescription(def, fillDocstring(def.docstring, profile)),
        parameters: {
          type: 'object',
          properties: Object.fromEntries(args.map(([arg, spec]) => [arg, { type: spec.type, description: spec.description }])),
          required: args.filter(([, spec]) => spec.required).map(([arg]) => arg)
        }
      }
    }
  })
  return [...tools, BASH_TOOL]
}

// SWE-agent's Command.get_function_calling_tool: the docstring as written, properties with items and enum where the
// argument has them, and parameters {"type": "object"} alone for a tool without arguments.
function sweagentTool (def: ToolDefinition): OpenAITool {
  const args = Object.entries(def.arguments)
  const parameters: OpenAITool['function']['parameters'] = { type: 'object' }
  if (args.length > 0) {
    parameters.properties = Object.fromEntries(args.map(([arg, spec]) => {
      const property: OpenAIProperty = { type: spec.type, description: spec.description }
      if (spec.items !== undefined) property.items = { ...spec.items }
      if (spec.enum !== undefined) property.enum = [...spec.enum]
      return [arg, property]
    }))
    parameters.required = args.filter(([, spec]) => spec.required).map(([arg]) => arg)
  }
  return { type: 'function', function: { name: def.name, description: callDescription(def, def.docstring), parameters } }
}

/**
 * A multi-line command's docstring as a function's description: its text is an argument there, so the sentence that
 * says the text "is terminated by a line with only end_of_edit on it" (true only of the command line) names the
 * argument instead (the server adds the line: toolCallAction).
 */
function callDescription (def: ToolDefinition, docstring: string): string {
  if (def.end_name === undefined) return docstring
  const textArg = Object.keys(def.arguments).at(-1)!
  const end = def.end_name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return docstring.replace(new RegExp(`([^.]*?) is terminated by a line with only ${end} on it\\.`),
    (_, subject: string) => `${subject} is the ${textArg} argument, given as is.`)
}

/**
 * The command line the shell runs for a function call of this profile (env-spec/tools.ts `toolCallAction`, which
 * clients call with the definitions GET /v1/tools gives). Throws an Error naming the bad argument on invalid input.
 */
export function actionFromToolCall (name: string, args: Record<string, unknown>, profile: ToolProfile = 'mlgym'): string {
  return toolCallAction(toolDefinitions(profile), name, args, profile)
}

/**
 * Bash to run once in a fresh session: MLGym's session variables, the tool files sourced from `commandsDir` (where
 * sandbox/tools is visible inside the sandbox), `commandsDir` on PATH. Prints nothing.
 */
export function toolsInitScript (profile: ToolProfile, commandsDir: string, home: string = AGENT_HOME, root: string = WORKSPACE): string {
  const dir = commandsDir.replace(/\/+$/, '')
  if (profile === 'sweagent') return sweagentInitScript(dir, home, root)
  const lines = Object.entries(SESSION_VARIABLES[profile]).map(([key, value]) => `${key}=${value}`)
  for (const file of PROFILE_FILES[profile]) lines.push(`source ${shellQuote(`${dir}/${file}`)}`)
  lines.push(`case ":$PATH:" in *:${shellQuote(dir)}:*) ;; *) export PATH=${shellQuote(dir)}:"$PATH" ;; esac`)
  return lines.join('\n') + '\n'
}

// SWE-agent's install + reset, with /root mapped to `home`: the default and config env variables exported, ROOT the
// workspace, the bundle files sourced, an empty registry and state.json, the workspace baseline for submit.
function sweagentInitScript (dir: string, home: string, root: string): string {
  const exports: Record<string, string> = {
    PAGER: 'cat', MANPAGER: 'cat', LESS: '-R', PIP_PROGRESS_BAR: 'off', TQDM_DISABLE: '1', GIT_PAGER: 'cat',
    ...SESSION_VARIABLES.sweagent,
    ROOT: root,
    SWE_AGENT_HOME: home,
    SWE_AGENT_ENV_FILE: `${home}/.swe-agent-env`
  }
  const lines = [`export ${Object.entries(exports).map(([key, value]) => `${key}=${shellQuote(value)}`).join(' ')}`]
  for (const file of PROFILE_FILES.sweagent) lines.push(`source ${shellQuote(`${dir}/${file}`)}`)
  lines.push(`case ":$PATH:" in *:${shellQuote(dir)}:*) ;; *) export PATH=${shellQuote(dir)}:"$PATH" ;; esac`)
  lines.push('_sweagent_reset > /dev/null 2>&1')
  return lines.join('\n') + '\n'
}

/** The linter edit and insert use on this machine: flake8 when it is on PATH, else Python's compile check. */
export function lintMode (): 'flake8' | 'py_compile' {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    try {
      accessSync(join(dir, 'flake8'), constants.X_OK)
      return 'flake8'
    } catch {}
  }
  return 'py_compile'
}
