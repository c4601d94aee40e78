// A loopback server that speaks OpenAI's chat-completions HTTP API with scripted replies: the only stand-in for a
// model in the tests (the `openai` package is pointed at it by base URL). It also answers as vLLM/SGLang do when asked
// for token ids (`return_token_ids`) and logprobs, with a deterministic toy tokenizer, so trainers' data can be checked.
// Strict profiles enforce what the real endpoints enforce, with their real error bodies, written from
// shared/reference/endpoints-and-trainers.md §1-2 (never from our client): `openai` (reasoning models' parameter
// rules by model name, tool-message pairing) and `vllm` (max_model_len in /v1/models and its context-length 400,
// the qwen3 reasoning parser, old and new error envelopes).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ChatMessage { role: string, content?: string | null | unknown[], tool_calls?: unknown[], tool_call_id?: string, name?: string }
/** The request body as the client sent it (only the fields the fake reads are typed). */
export interface ChatRequest {
  model: string
  messages: ChatMessage[]
  tools?: unknown[]
  response_format?: { type: string, json_schema?: unknown }
  logprobs?: boolean
  return_token_ids?: boolean
  temperature?: number
  max_tokens?: number
  [k: string]: unknown
}

/** One scripted answer. `status` answers with an OpenAI-shaped error instead of a completion. */
export interface ScriptedReply {
  content?: string | null
  tool_calls?: Array<{ name: string, arguments: string, id?: string }>
  finish_reason?: 'stop' | 'length' | 'tool_calls' | 'content_filter'
  status?: number
  message?: string
  headers?: Record<string, string>
  /** added to the server's fixed latency */
  delayMs?: number
  /** never answer: the client's timeout must fire */
  hang?: boolean
  usage?: { prompt_tokens: number, completion_tokens: number }
  /** with `status`: the error's param (OpenAI names the refused field there) */
  param?: string | null
}

/** Called once per request with the request and its 0-based index; a list is replayed in order (the last repeats). */
export type Script = ScriptedReply[] | ((req: ChatRequest, n: number) => ScriptedReply | Promise<ScriptedReply>)

export interface FakeOpenAIOptions {
  /** fixed latency of every completion, in ms */
  latencyMs?: number
  /** answer 400 to any request with `response_format`, as endpoints without structured output do */
  rejectResponseFormat?: boolean
  model?: string
  /** OpenAI's own rules: reasoning models refuse fields by model name; tool messages must pair with tool calls */
  openai?: boolean
  /** a vLLM server: /v1/models with max_model_len, the context-length 400, and its reasoning parser if any */
  vllm?: VllmOptions
}

export interface VllmOptions {
  maxModelLen: number
  /** `--reasoning-parser qwen3`: a leading think block goes to the reasoning field; none: it stays in content */
  reasoningParser?: 'qwen3'
  /** 0.17+ answer `reasoning`; older servers `reasoning_content` */
  reasoningField?: 'reasoning' | 'reasoning_content'
  /** servers before the `{error: {...}}` envelope answered a flat `{object: "error", ...}` */
  flatErrors?: boolean
}

type ErrorBody = { message: string, type: string, param: string | null, code: string | number | null }

// OpenAI reasoning models (reference §1.1): what each model refuses, by name. The texts are the API's.
const unsupportedParameter = (p: string): ErrorBody =>
  ({ message: `Unsupported parameter: '${p}' is not supported with this model.`, type: 'invalid_request_error', param: p, code: 'unsupported_parameter' })
interface ModelRules { refuse: string[], temperatureDefaultOnly: boolean, efforts: string[] }
const O_SERIES = ['low', 'medium', 'high']
const REASONING_RULES: Array<[RegExp, ModelRules]> = [
  [/^o3-mini/, { refuse: ['temperature', 'top_p', 'presence_penalty', 'frequency_penalty', 'max_tokens', 'logprobs', 'top_logprobs'], temperatureDefaultOnly: false, efforts: O_SERIES }],
  [/^(o1|o3|o4-mini)/, { refuse: ['temperature', 'top_p', 'presence_penalty', 'frequency_penalty', 'max_tokens', 'stop', 'logprobs', 'top_logprobs'], temperatureDefaultOnly: false, efforts: O_SERIES }],
  [/^gpt-5\.1/, { refuse: ['top_p', 'max_tokens', 'stop', 'logprobs', 'top_logprobs'], temperatureDefaultOnly: true, efforts: ['none', 'low', 'medium', 'high'] }],
  [/^gpt-5/, { refuse: ['top_p', 'max_tokens', 'stop', 'logprobs', 'top_logprobs'], temperatureDefaultOnly: true, efforts: ['minimal', 'low', 'medium', 'high'] }]
]

/** The first rule of OpenAI's that the request breaks, as the API words it; null when it breaks none. */
export function openaiRefusal (body: ChatRequest): ErrorBody | null {
  const rules = REASONING_RULES.find(([re]) => re.test(body.model))?.[1]
  if (rules) {
    if (body.max_tokens !== undefined) {
      return { message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", type: 'invalid_request_error', param: 'max_tokens', code: 'unsupported_parameter' }
    }
    if (body.temperature !== undefined && rules.temperatureDefaultOnly && body.temperature !== 1) {
      return { message: `Unsupported value: 'temperature' does not support ${body.temperature} with this model. Only the default (1) value is supported.`, type: 'invalid_request_error', param: 'temperature', code: 'unsupported_value' }
    }
    for (const p of rules.refuse) {
      if (p === 'temperature' && rules.temperatureDefaultOnly) continue
      if (body[p] !== undefined) return unsupportedParameter(p)
    }
    const effort = body.reasoning_effort
    if (typeof effort === 'string' && !rules.efforts.includes(effort)) {
      const list = rules.efforts.map(e => `'${e}'`)
      return { message: `Unsupported value: '${effort}' is not supported with the '${body.model}' model. Supported values are: ${list.slice(0, -1).join(', ')}, and ${list.at(-1)}.`, type: 'invalid_request_error', param: 'reasoning.effort', code: 'unsupported_value' }
    }
  }
  if (Array.isArray(body.tools) && body.tools.length === 0) {
    return { message: "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.", type: 'invalid_request_error', param: 'tools', code: 'empty_array' }
  }
  // tool messages (reference §1.3): each tool call answered by a following tool message, no tool message unasked
  const open = new Set<string>()
  for (let i = 0; i < body.messages.length; i++) {
    const m = body.messages[i]!
    if (m.role === 'tool') {
      if (!m.tool_call_id || !open.has(m.tool_call_id)) {
        return { message: "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", type: 'invalid_request_error', param: `messages.[${i}].role`, code: null }
      }
      open.delete(m.tool_call_id)
      continue
    }
    if (open.size > 0) {
      return { message: `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...open].join(', ')}`, type: 'invalid_request_error', param: `messages.[${i}].role`, code: null }
    }
    if (m.role === 'assistant') for (const c of (m.tool_calls ?? []) as Array<{ id: string }>) open.add(c.id)
  }
  if (open.size > 0) {
    return { message: `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...open].join(', ')}`, type: 'invalid_request_error', param: `messages.[${body.messages.length}].role`, code: null }
  }
  return null
}

/** vLLM's length check (reference §2.5): prompt + requested completion must fit max_model_len. */
export function vllmRefusal (body: ChatRequest, v: VllmOptions): ErrorBody | null {
  const requested = Number(body.max_completion_tokens ?? body.max_tokens ?? 0)
  const L = v.maxModelLen
  if (requested > L) {
    return { message: `max_completion_tokens=${requested}cannot be greater than max_model_len=max_total_tokens=${L}. Please request fewer output tokens.`, type: 'BadRequestError', param: null, code: 400 }
  }
  const input = toyTokens(promptText(body.messages)).length + (body.tools ? toyTokens(JSON.stringify(body.tools)).length : 0)
  if (input + requested > L) {
    return { message: `You passed ${input} input tokens and requested ${requested} output tokens. However, the model's context length is only ${L} tokens, resulting in a maximum input length of ${L - requested} tokens. Please reduce the length of the input prompt.`, type: 'BadRequestError', param: 'input_tokens', code: 400 }
  }
  return null
}

export interface FakeOpenAI {
  /** base URL for the `openai` package, ending in /v1 */
  url: string
  requests: ChatRequest[]
  close: () => Promise<void>
}

/** Toy tokenizer: words and runs of whitespace; ids are stable hashes. Deterministic, not a real vocabulary. */
export function toyTokens (text: string): string[] { return text.match(/\s+|[^\s]+/g) ?? [] }
export function toyTokenId (token: string): number {
  let h = 2166136261
  for (let i = 0; i < token.length; i++) h = Math.imul(h ^ token.charCodeAt(i), 16777619) >>> 0
  return h % 150000
}
function promptText (messages: ChatMessage[]): string {
  return messages.map(m => `${m.role}: ${typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '')}`).join('\n')
}

export async function startFakeOpenAI (script: Script, opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const requests: ChatRequest[] = []
  let answered = 0
  const hanging = new Set<ServerResponse>()
  const pick = async (req: ChatRequest, n: number): Promise<ScriptedReply> => {
    if (typeof script === 'function') return await script(req, n)
    if (script.length === 0) throw new Error('fake OpenAI: empty script')
    return script[Math.min(n, script.length - 1)]
  }

  const server = createServer((req, res) => { handle(req, res).catch(err => send(res, 500, { error: { message: String(err), type: 'server_error', param: null, code: null } })) })
  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      const id = opts.model ?? 'fake-model'
      const card = opts.vllm
        ? { id, object: 'model', created: 0, owned_by: 'vllm', root: id, parent: null, max_model_len: opts.vllm.maxModelLen, permission: [] }
        : { id, object: 'model', created: 0, owned_by: opts.openai ? 'openai' : 'synthgym-tests' }
      return send(res, 200, { object: 'list', data: [card] })
    }
    if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
      return send(res, 404, { error: { message: `Unknown request URL: ${req.method} ${url.pathname}`, type: 'invalid_request_error', param: null, code: 'unknown_url' } })
    }
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    let body: ChatRequest
    try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch {
      return send(res, 400, { error: { message: 'We could not parse the JSON body of your request.', type: 'invalid_request_error', param: null, code: null } })
    }
    if (!Array.isArray(body.messages) || typeof body.model !== 'string') {
      return send(res, 400, { error: { message: "Missing required parameter: 'messages' or 'model'.", type: 'invalid_request_error', param: 'messages', code: 'missing_required_parameter' } })
    }
    requests.push(body)
    const refused = (opts.openai ? openaiRefusal(body) : null) ?? (opts.vllm ? vllmRefusal(body, opts.vllm) : null)
    if (refused) return sendError(res, 400, refused)
    const n = answered++
    if (opts.rejectResponseFormat && body.response_format) {
      return send(res, 400, { error: { message: "Invalid parameter: 'response_format' is not supported with this model.", type: 'invalid_request_error', param: 'response_format', code: null } })
    }
    const reply = await pick(body, n)
    const wait = (opts.latencyMs ?? 0) + (reply.delayMs ?? 0)
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    if (reply.hang) { hanging.add(res); return }
    if (reply.status && reply.status >= 400) {
      const type = reply.status === 429 ? 'rate_limit_exceeded' : reply.status >= 500 ? 'server_error' : 'invalid_request_error'
      return sendError(res, reply.status, { message: reply.message ?? `scripted ${reply.status}`, type, param: reply.param ?? null, code: type }, reply.headers)
    }
    send(res, 200, completion(body, reply, n), reply.headers)
  }

  function sendError (res: ServerResponse, status: number, e: ErrorBody, headers?: Record<string, string>): void {
    if (opts.vllm?.flatErrors) send(res, status, { object: 'error', ...e }, headers)
    else send(res, status, { error: e }, headers)
  }

  function completion (body: ChatRequest, reply: ScriptedReply, n: number): Record<string, unknown> {
    let content = reply.content ?? null
    let reasoning: string | null = null
    // vLLM's qwen3 parser (reference §2.3): reasoning up to </think>; an unclosed block is all reasoning
    if (opts.vllm?.reasoningParser === 'qwen3' && content !== null) {
      const text = content.replace(/^\s*<think>/, '')
      const end = text.indexOf('</think>')
      if (end >= 0) { reasoning = text.slice(0, end); content = text.slice(end + '</think>'.length).replace(/^\s+/, '') || null } else { reasoning = text; content = null }
    }
    // a completion stops at the budget the request set (vLLM: the context's rest when it set none)
    let finish = reply.finish_reason
    if (opts.vllm && content !== null) {
      const budget = Number(body.max_completion_tokens ?? body.max_tokens ?? opts.vllm.maxModelLen)
      const words = toyTokens(content)
      if (words.length > budget) { content = words.slice(0, budget).join(''); finish = 'length' }
    }
    const toolCalls = reply.tool_calls?.map((t, i) => ({ id: t.id ?? `call_${n}_${i}`, type: 'function', function: { name: t.name, arguments: t.arguments } }))
    const completionText = (content ?? '') + (reply.tool_calls?.map(t => t.name + t.arguments).join('') ?? '')
    const outTokens = toyTokens(completionText)
    const inTokens = toyTokens(promptText(body.messages))
    const choice: Record<string, unknown> = {
      index: 0,
      message: {
        role: 'assistant', content, ...(toolCalls?.length ? { tool_calls: toolCalls } : {}), refusal: null,
        ...(reasoning !== null ? { [opts.vllm?.reasoningField ?? 'reasoning']: reasoning } : {})
      },
      finish_reason: finish ?? (toolCalls?.length ? 'tool_calls' : 'stop'),
      logprobs: body.logprobs
        ? { content: outTokens.map((token, i) => ({ token, logprob: -0.01 * (i + 1), bytes: [...Buffer.from(token)], top_logprobs: [] })) }
        : null
    }
    const out: Record<string, unknown> = {
      id: `chatcmpl-fake-${n}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: body.model,
      choices: [choice],
      usage: {
        prompt_tokens: reply.usage?.prompt_tokens ?? inTokens.length,
        completion_tokens: reply.usage?.completion_tokens ?? outTokens.length,
        total_tokens: (reply.usage?.prompt_tokens ?? inTokens.length) + (reply.usage?.completion_tokens ?? outTokens.length)
      }
    }
    // vLLM's shape for `return_token_ids: true`: prompt ids on the response, completion ids on the choice.
    if (body.return_token_ids) {
      out.prompt_token_ids = inTokens.map(toyTokenId)
      choice.token_ids = outTokens.map(toyTokenId)
    }
    return out
  }

  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: async () => {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

function send (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}
