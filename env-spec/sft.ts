// One line of the JSONL `synthgym export sft` writes: a successful trajectory as a chat, in OpenAI's `messages`
// shape (roles system/user/assistant) or ShareGPT's `conversations` (from system/human/gpt), with where it came
// from, why it passed the filter and its token count beside it in `metadata` (trainers ignore extra columns).
import { compile } from './validate.js'

export type ChatRole = 'system' | 'user' | 'assistant'
export interface ChatMessage { role: ChatRole, content: string }
export interface ShareGptTurn { from: 'system' | 'human' | 'gpt', value: string }

export type SftFormat = 'messages' | 'sharegpt'
export type SftTokenizer = 'qwen3' | 'o200k' | 'chars'
export const SFT_FORMATS: SftFormat[] = ['messages', 'sharegpt']
export const SFT_TOKENIZERS: SftTokenizer[] = ['qwen3', 'o200k', 'chars']

export interface SftMetadata {
  /** the episode id (server) or the run directory's name */
  id: string
  /** the run directory or the server URL it was read from */
  source: string
  task: string
  /** the model of the run directory's name, or the episode's meta.model; null when unknown */
  model: string | null
  metric: string
  direction: 'maximize' | 'minimize'
  baseline: number | null
  /** the best score among the episode's submissions (the one that passed the filter) */
  best_score: number
  exit_status: string | null
  tokenizer: SftTokenizer
  /** tokens of the conversation as written (see README: per message, the tokenizer's chat framing) */
  tokens: number
  /** tokens before truncation */
  tokens_before: number
  /** whole turns (an assistant message and the observations after it) dropped from the middle to fit */
  dropped_turns: number
  /** messages cut short inside (only when dropping turns was not enough) */
  cut_messages: number
}

export type SftRecord = { messages: ChatMessage[], metadata: SftMetadata } | { conversations: ShareGptTurn[], metadata: SftMetadata }

const metadataSchema = {
  type: 'object', additionalProperties: false,
  required: ['id', 'source', 'task', 'model', 'metric', 'direction', 'baseline', 'best_score', 'exit_status', 'tokenizer',
    'tokens', 'tokens_before', 'dropped_turns', 'cut_messages'],
  properties: {
    id: { type: 'string' }, source: { type: 'string' }, task: { type: 'string' }, model: { type: ['string', 'null'] },
    metric: { type: 'string' }, direction: { enum: ['maximize', 'minimize'] }, baseline: { type: ['number', 'null'] },
    best_score: { type: 'number' }, exit_status: { type: ['string', 'null'] }, tokenizer: { enum: SFT_TOKENIZERS },
    tokens: { type: 'integer', minimum: 0 }, tokens_before: { type: 'integer', minimum: 0 },
    dropped_turns: { type: 'integer', minimum: 0 }, cut_messages: { type: 'integer', minimum: 0 }
  }
}

export const sftRecordSchema = {
  oneOf: [
    {
      type: 'object', additionalProperties: false, required: ['messages', 'metadata'],
      properties: {
        messages: {
          type: 'array', minItems: 2,
          items: {
            type: 'object', additionalProperties: false, required: ['role', 'content'],
            properties: { role: { enum: ['system', 'user', 'assistant'] }, content: { type: 'string' } }
          }
        },
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
