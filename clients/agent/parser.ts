// Turning a model answer into (thought, action): MLGym's thought/action format (DISCUSSION + exactly one fenced
// command block) and OpenAI function calling (exactly one tool call, mapped to the command line by the tool
// definitions GET /v1/tools gives). A FormatError carries the text the model is re-queried with.
import { toolCallAction, type ToolDefinition, type ToolProfile } from '../../env-spec/tools.js'
import type { ChatMessage } from '../../env-spec/episode.js'

export class FormatError extends Error {
  constructor (readonly reason: 'no_block' | 'multiple_blocks' | 'no_tool_call' | 'multiple_tool_calls' | 'invalid_json' | 'invalid_call', message: string) {
    super(message)
  }
}

export interface Parsed { thought: string, action: string }

const THOUGHT_ACTION_HELP = `Your output was not formatted correctly. You must always include one discussion and one command as part of your response. Make sure you do not have multiple discussion/command tags.
Please make sure your output precisely matches the following format:
DISCUSSION
Discuss here with yourself about what you are planning and what you are going to do in this step.

\`\`\`
command(s) that you're going to run
\`\`\``

/**
 * The fenced blocks at top level: a line starting with ``` opens one; inside, a fence with a language (```python)
 * opens a nested block and a bare ``` closes the innermost. Returns [start, end] line indexes of each fence pair.
 */
function topLevelBlocks (lines: string[]): Array<[number, number]> {
  const blocks: Array<[number, number]> = []
  let open = -1
  let nested = 0
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].trim()
    if (!t.startsWith('```')) continue
    if (open < 0) { open = i; nested = 0; continue }
    if (/^```\S/.test(t)) nested++
    else if (/^```\s*$/.test(t)) {
      if (nested > 0) nested--
      else { blocks.push([open, i]); open = -1 }
    }
  }
  return blocks
}

/** MLGym's thought/action answer: exactly one top-level fenced block is the action, everything else the thought. */
export function parseThoughtAction (content: string): Parsed {
  const lines = content.split('\n')
  const blocks = topLevelBlocks(lines)
  if (blocks.length === 0) throw new FormatError('no_block', THOUGHT_ACTION_HELP)
  if (blocks.length > 1) throw new FormatError('multiple_blocks', THOUGHT_ACTION_HELP)
  const [start, end] = blocks[0]
  const action = lines.slice(start + 1, end).join('\n')
  if (action.trim() === '') throw new FormatError('no_block', THOUGHT_ACTION_HELP)
  const thought = [...lines.slice(0, start), ...lines.slice(end + 1)].join('\n').trim()
  return { thought, action }
}

/** One function call of the answer, turned into its command line; the message's text is the thought. */
export function parseFunctionCall (message: ChatMessage, definitions: ToolDefinition[], profile: ToolProfile): Parsed {
  const calls = message.tool_calls ?? []
  if (calls.length === 0) {
    throw new FormatError('no_tool_call', 'Your last output did not use any tool calls! Please make sure your output includes exactly ONE function call, e.g. the `bash` tool with the command to run.')
  }
  if (calls.length > 1) {
    throw new FormatError('multiple_tool_calls', `Your last output included ${calls.length} function calls. Please make sure your output includes exactly ONE function call; make the next one after you have seen the result of the first.`)
  }
  const fn = calls[0].function
  let args: unknown
  try { args = fn.arguments.trim() === '' ? {} : JSON.parse(fn.arguments) } catch (e) {
    throw new FormatError('invalid_json', `The arguments of your function call are not valid JSON (${(e as Error).message}). Please call the function again with a JSON object as its arguments.`)
  }
  let action: string
  try { action = toolCallAction(definitions, fn.name, args as Record<string, unknown>, profile) } catch (e) {
    throw new FormatError('invalid_call', `Your function call could not be run: ${(e as Error).message}. Please check the tool's name and arguments and call it again.`)
  }
  const thought = typeof message.content === 'string' ? message.content.trim() : ''
  return { thought, action }
}
