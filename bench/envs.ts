// The environments a section times steps on: one made over the section's socket for its WS steps, one made over
// HTTP for its HTTP steps. A socket that touched an environment gets every other client's step on it as a frame,
// which an HTTP client's step would otherwise pay for here.
import type { SynthgymClient, WsClient } from '../clients/client.js'
import type { CreateEnvBody } from '../env-spec/messages.js'
import { withTimeout } from './timing.js'

/** The disk limit of the envs that time a step under one (MiB). */
export const DISK_LIMIT_MB = 1000

/** Both made and reset (within `ms`, named `what` when they are not); their ids. */
export async function stepEnvs (client: SynthgymClient, ws: WsClient, body: CreateEnvBody, ms: number, what: string):
Promise<{ ws: string, http: string }> {
  const [w, h] = await Promise.all([ws.create(body), client.createEnv(body)])
  await withTimeout(Promise.all([ws.reset(w.env_id), client.reset(h.env_id)]), ms, what)
  return { ws: w.env_id, http: h.env_id }
}
