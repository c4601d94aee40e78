// One line of the JSONL `synthgym export sft` writes: a successful trajectory as a chat a trainer takes as is. The
// `messages` shape is TRL's conversational format (OpenAI's roles; function-calling episodes as OpenAI tool
// conversations: `tools`, assistant `tool_calls`, `tool` messages with their `tool_call_id`; reasoning as the
// assistant's `reasoning_content`, which Qwen3's template renders as `<think>`). ShareGPT's `conversations` (from
// system/human/gpt) holds text only. Where a record came from, why it passed the filter and its token count are in
// `metadata` (trainers ignore extra columns).
import { compile } from './validate.js'

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool'
/** `arguments` is the call's JSON object (a string only when the model wrote something that is not one) */
export interface SftToolCall { id: string, type: 'function', function: { name: string, arguments: Record<string, unknown> | string } }
export interface ChatMessage {
  role: ChatRole
  content: string
  /** the reply's reasoning (assistant, --reasoning keep, only where Qwen3's template renders it) */
  reasoning_content?: string
  tool_calls?: SftToolCall[]
  /** the call a `tool` message answers */
  tool_call_id?: string
}
/** An OpenAI function tool, as the model was offered it */
export interface SftTool { type: 'function', function: { name: string, description: string, parameters: Record<string, unknown> } }
export interface ShareGptTurn { from: 'system' | 'human' | 'gpt', value: string }

export type SftFormat = 'messages' | 'sharegpt'
export type SftTokenizer = 'qwen3' | 'o200k' | 'chars'
export type SftReasoning = 'keep' | 'drop'
export const SFT_FORMATS: SftFormat[] = ['messages', 'sharegpt']
export const SFT_TOKENIZERS: SftTokenizer[] = ['qwen3', 'o200k', 'chars']
export const SFT_REASONING: SftReasoning[] = ['keep', 'drop']

export interface SftMetadata {
  /** the episode id (server) or the run directory's name */
  id: string
  /** the run directory or the server URL it was read from */
  source: string
  task: string
  /** the model that ran it (the run's records, the directory's name, or the episode's model); null when unknown */
  model: string | null
  metric: string
  direction: 'maximize' | 'minimize'
  baseline: number | null
  /** the best score among the episode's submissions (the one that passed the filter) */
  best_score: number
  exit_status: string | null
  tokenizer: SftTokenizer
  /** whether the replies' reasoning was kept */
  reasoning: SftReasoning
  /** tokens of the conversation as written, tools included (see README: Qwen3 counts are its chat template's) */
  tokens: number
  /** tokens before truncation */
  tokens_before: number
  /** whole turns (an assistant message and the observations after it) dropped from the middle to fit */
  dropped_turns: number
  /** messages cut short inside (only when dropping turns was not enough) */
  cut_messages: number
}

export type SftRecord =
  | { messages: ChatMessage[], tools?: SftTool[], metadata: SftMetadata }
  | { conversations: ShareGptTurn[], metadata: SftMetadata }

const metadataSchema = {
  type: 'object', additionalProperties: false,
  required: ['id', 'source', 'task', 'model', 'metric', 'direction', 'baseline', 'best_score', 'exit_status', 'tokenizer',
    'reasoning', 'tokens', 'tokens_before', 'dropped_turns', 'cut_messages'],
  properties: {
    id: { type: 'string' }, source: { type: 'string' }, task: { type: 'string' }, model: { type: ['string', 'null'] },
    metric: { type: 'string' }, direction: { enum: ['maximize', 'minimize'] }, baseline: { type: ['number', 'null'] },
    best_score: { type: 'number' }, exit_status: { type: ['string', 'null'] }, tokenizer: { enum: SFT_TOKENIZERS },
    reasoning: { enum: SFT_REASONING },
    tokens: { type: 'integer', minimum: 0 }, tokens_before: { type: 'integer', minimum: 0 },
    dropped_turns: { type: 'integer', minimum: 0 }, cut_messages: { type: 'integer', minimum: 0 }
  }
}

const toolCallSchema = {
  type: 'object', additionalProperties: false, required: ['id', 'type', 'function'],
  properties: {
    id: { type: 'string', minLength: 1 }, type: { const: 'function' },
    function: {
      type: 'object', additionalProperties: false, required: ['name', 'arguments'],
      properties: { name: { type: 'string', minLength: 1 }, arguments: { type: ['object', 'string'] } }
    }
  }
}

export const sftToolSchema = {
  type: 'object', required: ['type', 'function'],
  properties: {
    type: { const: 'function' },
    function: {
      type: 'object', required: ['name', 'description', 'parameters'],
      properties: { name: { type: 'string', minLength: 1 }, description: { type: 'string' }, parameters: { type: 'object' } }
    }
  }
}

// role-specific fields only on their roles (clients/sft/sources.ts writes a tool message only right after the call it answers)
const messageSchema = {
  type: 'object', additionalProperties: false, required: ['role', 'content'],
  properties: {
    role: { enum: ['system', 'user', 'assistant', 'tool'] }, content: { type: 'string' },
    reasoning_content: { type: 'string' },
    tool_calls: { type: 'array', minItems: 1, items: toolCallSchema },
    tool_call_id: { type: 'string', minLength: 1 }
  },
  allOf: [
    { if: { properties: { role: { const: 'tool' } } }, then: { required: ['tool_call_id'] }, else: { not: { required: ['tool_call_id'] } } },
    { if: { properties: { role: { not: { const: 'assistant' } } } }, then: { not: { anyOf: [{ required: ['tool_calls'] }, { required: ['reasoning_content'] }] } } }
  ]
}

export const sftRecordSchema = {
  oneOf: [
    {
      type: 'object', additionalProperties: false, required: ['messages', 'metadata'],
      properties: {
        messages: { type: 'array', minItems: 2, items: messageSchema },
        tools: { type: 'array', minItems: 1, items: sftToolSchema },
        metadata: metadataSchema
      }
    },
    {
      type: 'object', additionalProperties: false, required: ['conversations', 'metadata'],
      properties: {
        conversations: {
          type: 'array', minItems: 2,
          items: {
            type: 'object', additionalProperties: false, required: ['from', 'value'],
            properties: { from: { enum: ['system', 'human', 'gpt'] }, value: { type: 'string' } }
          }
        },
        metadata: metadataSchema
      }
    }
  ]
}

export const validateSftRecord = compile<SftRecord>(sftRecordSchema)

/** The tools of a run (synthgym.json) or of a server's GET /v1/tools, as a record carries them. */
export const validateSftTools = compile<SftTool[]>({ type: 'array', items: sftToolSchema })
