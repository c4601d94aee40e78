// The typed TypeScript client: HTTP for everything, WebSocket for long steps with streamed output and re-attach.
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import WebSocket from 'ws'
import type {
  CloseResult, CreateEnvBody, EnvState, EnvSummary, EpisodeQuery, ErrorBody, EvaluateResult, Health, TaskDetail, TaskList,
  ToolsResult, WsFrame
} from '../env-spec/messages.js'
import type { EpisodePage, ModelCall, ResetResult, StepResult, Trajectory } from '../env-spec/episode.js'

/** An error answer of the server (`code` as README lists them), or DISCONNECTED for a WebSocket that closed. */
export class SynthgymError extends Error {
  constructor (public code: string, message: string, public status?: number, public field?: string) { super(`${code}: ${message}`) }
}

/** `model`: the model call behind the step, stored with it and returned unchanged with the episode (README). */
export interface StepOptions { response?: string, thought?: string, model?: ModelCall, onOutput?: (chunk: string) => void }

export class SynthgymClient {
  readonly baseUrl: string
  constructor (baseUrl = 'http://127.0.0.1:8000', private opts: { token?: string } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, '')
  }

  /**
   * One request on node's keep-alive agent: node:http rather than fetch, whose Request/Response/stream objects cost
   * more per call than the server's whole step on loopback (issue 18).
   */
  private call<T> (method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {}
    const payload = body === undefined ? undefined : JSON.stringify(body)
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = String(Buffer.byteLength(payload))
    }
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`
    return this.send<T>(new URL(this.baseUrl + path), method, headers, payload, 5)
  }

  /** ENV_ELSEWHERE's 307 is followed to the replica that holds the env, method and body kept (as fetch does). */
  private send<T> (url: URL, method: string, headers: Record<string, string>, payload: string | undefined, hops: number): Promise<T> {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { method, headers }, res => {
        const status = res.statusCode ?? 0
        const to = res.headers.location
        if ((status === 307 || status === 308) && to && hops > 0) {
          res.resume()
          this.send<T>(new URL(to, url), method, headers, payload, hops - 1).then(resolve, reject)
          return
        }
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          let data: T & Partial<ErrorBody>
          try { data = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch (e) {
            reject(new SynthgymError('HTTP_' + status, `not JSON: ${(e as Error).message}`, status)); return
          }
          if (status >= 200 && status < 300) resolve(data)
          else reject(new SynthgymError(data?.error?.code ?? 'HTTP_' + status, data?.error?.message ?? res.statusMessage ?? '', status, data?.error?.field))
        })
      })
      req.on('error', reject)
      req.end(payload)
    })
  }

  health (): Promise<Health> { return this.call('GET', '/v1/health') }
  tasks (): Promise<TaskList> { return this.call('GET', '/v1/tasks') }
  task (id: string): Promise<TaskDetail> { return this.call('GET', `/v1/tasks/${encodeURIComponent(id)}`) }
  tools (profile = 'mlgym'): Promise<ToolsResult> { return this.call('GET', `/v1/tools?profile=${profile}`) }
  createEnv (body: CreateEnvBody): Promise<EnvSummary> { return this.call('POST', '/v1/envs', body) }
  reset (envId: string): Promise<ResetResult> { return this.call('POST', `/v1/envs/${envId}/reset`, {}) }
  step (envId: string, action: string, opts: Omit<StepOptions, 'onOutput'> = {}): Promise<StepResult> {
    return this.call('POST', `/v1/envs/${envId}/step`, { action, ...opts })
  }
  evaluate (envId: string): Promise<EvaluateResult> { return this.call('POST', `/v1/envs/${envId}/evaluate`, {}) }
  trajectory (envId: string): Promise<Trajectory> { return this.call('GET', `/v1/envs/${envId}/trajectory`) }
  closeEnv (envId: string): Promise<CloseResult> { return this.call('DELETE', `/v1/envs/${envId}`) }
  episodes (q: EpisodeQuery = {}): Promise<EpisodePage> {
    const qs = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]))
    return this.call('GET', `/v1/episodes${qs.size ? '?' + qs : ''}`)
  }
  episode (id: string): Promise<Trajectory> { return this.call('GET', `/v1/episodes/${id}`) }

  /** A WebSocket session on the same server. */
  ws (): Promise<WsClient> {
    const url = this.baseUrl.replace(/^http/, 'ws') + '/v1/ws' + (this.opts.token ? `?token=${encodeURIComponent(this.opts.token)}` : '')
    return WsClient.connect(url)
  }
}

interface Waiting { resolve: (v: unknown) => void, reject: (e: Error) => void, onOutput?: (chunk: string) => void }

export class WsClient {
  private nextId = 1
  private waiting = new Map<string | number, Waiting>()
  /** step results of attached environments that no request of this socket is waiting for (after a re-attach) */
  onStepResult?: (envId: string, result: StepResult) => void

  private constructor (private socket: WebSocket) {
    socket.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString()) as WsFrame
      if ('type' in f) {
        if (f.type === 'output') this.waiting.get(f.id)?.onOutput?.(f.data)
        else this.onStepResult?.(f.env_id, f.result)
        return
      }
      if (f.id === null) return // an answer to a message without an id: none of ours
      const w = this.waiting.get(f.id)
      if (!w) return
      this.waiting.delete(f.id)
      if (f.ok) w.resolve(f.result)
      else w.reject(new SynthgymError(f.error.code, f.error.message, undefined, f.error.field))
    })
    socket.on('close', () => {
      for (const w of this.waiting.values()) w.reject(new SynthgymError('DISCONNECTED', 'the WebSocket closed before the answer came; reconnect and attach'))
      this.waiting.clear()
    })
  }

  static connect (url: string): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const s = new WebSocket(url)
      s.once('open', () => resolve(new WsClient(s)))
      s.once('error', reject)
    })
  }

  request<T> (op: string, params: Record<string, unknown> = {}, onOutput?: (chunk: string) => void): Promise<T> {
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, onOutput })
      this.socket.send(JSON.stringify({ id, op, ...params }))
    })
  }

  /**
   * An environment this socket holds: it closes soon after the socket drops (the server's --socket-grace) unless
   * the body says `outlive_socket: true` (to attach to it later, from this process or another).
   */
  create (body: CreateEnvBody): Promise<EnvSummary> { return this.request('create', { ...body }) }
  reset (envId: string): Promise<ResetResult> { return this.request('reset', { env_id: envId }) }
  step (envId: string, action: string, opts: StepOptions = {}): Promise<StepResult> {
    const { onOutput, ...rest } = opts
    return this.request('step', { env_id: envId, action, ...rest, stream: onOutput !== undefined }, onOutput)
  }
  evaluate (envId: string): Promise<EvaluateResult> { return this.request('evaluate', { env_id: envId }) }
  trajectory (envId: string): Promise<Trajectory> { return this.request('trajectory', { env_id: envId }) }
  /**
   * Re-attach to a live environment after a dropped socket: its state, and later step results via onStepResult.
   * One made without outlive_socket must be attached within the server's --socket-grace; this socket holds it then.
   */
  attach (envId: string): Promise<EnvState> { return this.request('attach', { env_id: envId }) }
  closeEnv (envId: string): Promise<CloseResult> { return this.request('close', { env_id: envId }) }
  close (): void { this.socket.close() }
}
