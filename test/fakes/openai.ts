// A loopback server that speaks OpenAI's chat-completions HTTP API with scripted replies: the only stand-in for a
// model in the tests (the `openai` package is pointed at it by base URL). It also answers as vLLM/SGLang do when asked
// for token ids (`return_token_ids`) and logprobs, with a deterministic toy tokenizer, so trainers' data can be checked.
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
}

/** Called once per request with the request and its 0-based index; a list is replayed in order (the last repeats). */
export type Script = ScriptedReply[] | ((req: ChatRequest, n: number) => ScriptedReply | Promise<ScriptedReply>)

export interface FakeOpenAIOptions {
  /** fixed latency of every completion, in ms */
  latencyMs?: number
  /** answer 400 to any request with `response_format`, as endpoints without structured output do */
  rejectResponseFormat?: boolean
  model?: string
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
      return send(res, 200, { object: 'list', data: [{ id: opts.model ?? 'fake-model', object: 'model', created: 0, owned_by: 'synthgym-tests' }] })
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
    const n = requests.length
    requests.push(body)
    if (opts.rejectResponseFormat && body.response_format) {
      return send(res, 400, { error: { message: "Invalid parameter: 'response_format' is not supported with this model.", type: 'invalid_request_error', param: 'response_format', code: null } })
    }
    const reply = await pick(body, n)
    const wait = (opts.latencyMs ?? 0) + (reply.delayMs ?? 0)
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    if (reply.hang) { hanging.add(res); return }
    if (reply.status && reply.status >= 400) {
      const type = reply.status === 429 ? 'rate_limit_exceeded' : reply.status >= 500 ? 'server_error' : 'invalid_request_error'
      return send(res, reply.status, { error: { message: reply.message ?? `scripted ${reply.status}`, type, param: null, code: type } }, reply.headers)
    }
    send(res, 200, completion(body, reply, n), reply.headers)
  }

  function completion (body: ChatRequest, reply: ScriptedReply, n: number): Record<string, unknown> {
    const content = reply.content ?? null
    const toolCalls = reply.tool_calls?.map((t, i) => ({ id: t.id ?? `call_${n}_${i}`, type: 'function', function: { name: t.name, arguments: t.arguments } }))
    const completionText = (content ?? '') + (reply.tool_calls?.map(t => t.name + t.arguments).join('') ?? '')
    const outTokens = toyTokens(completionText)
    const inTokens = toyTokens(promptText(body.messages))
    const choice: Record<string, unknown> = {
      index: 0,
      message: { role: 'assistant', content, ...(toolCalls?.length ? { tool_calls: toolCalls } : {}), refusal: null },
      finish_reason: reply.finish_reason ?? (toolCalls?.length ? 'tool_calls' : 'stop'),
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
