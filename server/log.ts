// The server's log lines: pino's JSON, one line per request; on a terminal the same lines as text a person reads.
import { Writable } from 'node:stream'

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
// fields every line has, or that the text form shows in its own place
const SHOWN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'req', 'res', 'responseTime', 'reqId'])

/**
 * Options of a route an agent calls once a step (or more): its requests that succeed are logged at debug, as a
 * WebSocket step is, so that a run over HTTP neither floods the log nor pays a line a step (0.03–0.04 ms here).
 */
export const PER_STEP = { config: { perStep: true } }

/** Whether a request's route is one of those (PER_STEP). */
export function perStep (config: unknown): boolean {
  return (config as { perStep?: boolean } | undefined)?.perStep === true
}

/** One JSON log line as text: `12:03:04 INFO  POST /v1/envs 201 3.1 ms  env_id=… key_id=…`. */
export function formatLine (line: Record<string, unknown>): string {
  const time = new Date(typeof line.time === 'number' ? line.time : Date.now()).toTimeString().slice(0, 8)
  const level = (LEVELS[line.level as number] ?? String(line.level)).padEnd(5)
  const req = line.req as { method?: string, url?: string } | undefined
  const res = line.res as { statusCode?: number } | undefined
  const what = req?.method
    ? `${req.method} ${req.url ?? ''}${res?.statusCode ? ` ${res.statusCode}` : ''}` +
      (typeof line.responseTime === 'number' ? ` ${line.responseTime.toFixed(1)} ms` : '')
    : String(line.msg ?? '')
  const rest = Object.entries(line).filter(([k]) => !SHOWN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
  const err = line.err as { stack?: string } | undefined
  return [time, level, what, ...rest].join(' ') + (err?.stack ? `\n${err.stack}` : '')
}

/** A stream for pino that writes each JSON line it gets to `out` as text. */
export function textLogStream (out: NodeJS.WritableStream): Writable {
  let partial = ''
  return new Writable({
    write (chunk: Buffer, _enc, done) {
      partial += chunk.toString()
      for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
        const raw = partial.slice(0, nl)
        partial = partial.slice(nl + 1)
        let text = raw
        try { text = formatLine(JSON.parse(raw) as Record<string, unknown>) } catch { /* not JSON: as it came */ }
        out.write(text + '\n')
      }
      done()
    }
  })
}
