// The typed TypeScript client: HTTP for everything, WebSocket for long steps with streamed output and re-attach.
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

  private async call<T> (method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`
    const res = await fetch(this.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    const data = await res.json() as T & Partial<ErrorBody>
    if (!res.ok) throw new SynthgymError(data.error?.code ?? 'HTTP_' + res.status, data.error?.message ?? res.statusText, res.status, data.error?.field)
    return data
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
