// The dashboard's only way to the server: its public REST API under /v1 and the WebSocket /v1/ws, with the token
// of a server started with --token (kept in this browser's localStorage, sent as Authorization: Bearer / ?token=).
import type { EpisodeBriefPage } from '../../../env-spec/episode.js'
import type { EpisodeQuery, ErrorBody, WatchResult, WsFrame } from '../../../env-spec/messages.js'
import type { StepResult } from '../../../env-spec/episode.js'

const TOKEN_KEY = 'synthgym.token'

export function getToken (): string { try { return localStorage.getItem(TOKEN_KEY) ?? '' } catch { return '' } }
export function setToken (t: string): void { localStorage.setItem(TOKEN_KEY, t) }

export class ApiError extends Error {
  constructor (readonly code: string, message: string, readonly status: number) { super(message) }
}

/** Listeners for a 401: the shell asks for the token. */
export const onUnauthorized = new Set<() => void>()

export async function api<T> (method: string, path: string, body?: unknown): Promise<T> {
  // env-spec's DASHBOARD_HEADER (the page imports types only): the server logs these polls at debug
  const headers: Record<string, string> = { 'x-synthgym-client': 'dashboard' }
  const token = getToken()
  if (token) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch('/v1' + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  let data: unknown = null
  try { data = text ? JSON.parse(text) : null } catch { throw new ApiError('BAD_ANSWER', `${method} ${path}: not JSON (${res.status})`, res.status) }
  if (!res.ok) {
    const e = (data as ErrorBody | null)?.error
    if (res.status === 401) for (const f of onUnauthorized) f()
    throw new ApiError(e?.code ?? `HTTP_${res.status}`, e?.message ?? res.statusText, res.status)
  }
  return data as T
}

export const get = <T>(path: string) => api<T>('GET', path)

export function query (q: Record<string, string | number | boolean | undefined | null>): string {
  const qs = new URLSearchParams()
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v))
  const s = qs.toString()
  return s ? '?' + s : ''
}

/** A page of episodes for a listing: briefs, without the task prompt that every episode of a task repeats. */
export function episodePage (q: EpisodeQuery): Promise<EpisodeBriefPage> {
  return get<EpisodeBriefPage>('/episodes' + query({ ...q, description: false } as Record<string, string | number | boolean | undefined>))
}

/** Every episode that matches, page by page (500 at a time), handed over as each page arrives. */
export async function allEpisodes (q: EpisodeQuery, onPage: (page: EpisodeBriefPage['episodes'], done: boolean) => void, stop: () => boolean = () => false): Promise<void> {
  let cursor: string | undefined
  for (;;) {
    const page = await episodePage({ ...q, limit: 500, cursor })
    if (stop()) return
    onPage(page.episodes, page.next_cursor === null)
    if (!page.next_cursor) return
    cursor = page.next_cursor
  }
}

/** Runs `fn` over `items`, `n` at a time. */
export async function pool<T, R> (items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i]!) }
  }))
  return out
}

export interface WatchHandlers {
  /** the state when the watch began (and again after a reconnect) */
  onState: (s: WatchResult) => void
  onOutput: (data: string) => void
  onResult: (r: StepResult) => void
  onError: (message: string) => void
}

/**
 * Follows one environment read-only through the WebSocket op `watch`: what the running step printed so far, then
 * every step's output and result, whoever runs them. Reconnects after a dropped socket. Returns the stop function.
 */
export function watchEnv (envId: string, h: WatchHandlers): () => void {
  let stopped = false
  let socket: WebSocket | null = null
  let retry: ReturnType<typeof setTimeout> | null = null
  const connect = () => {
    const token = getToken()
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`
    const ws = new WebSocket(url)
    socket = ws
    const id = `watch-${Date.now()}`
    ws.onopen = () => ws.send(JSON.stringify({ id, op: 'watch', env_id: envId }))
    ws.onmessage = ev => {
      const f = JSON.parse(String(ev.data)) as WsFrame
      if ('type' in f) {
        if (f.type === 'output' && f.id === id) h.onOutput(f.data)
        else if (f.type === 'step_result' && f.env_id === envId) h.onResult(f.result)
      } else if (f.id === id) {
        if (f.ok) h.onState(f.result as WatchResult)
        else { h.onError(`${f.error.code}: ${f.error.message}`); stopped = true; ws.close() }
      }
    }
    ws.onclose = () => {
      if (!stopped) retry = setTimeout(connect, 1000)
    }
  }
  connect()
  return () => {
    stopped = true
    if (retry) clearTimeout(retry)
    socket?.close()
  }
}
