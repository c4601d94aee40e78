// Smoke episodes for generated tasks (`synthgym generate --smoke-episodes N`): a task that passed the
// self-debugging checks is served by a server of its own, and N short teacher episodes run on it through the
// public API, as any harness would. The task is kept only if at least one ends with a valid submission: a task no
// strong model can submit to is broken (Endless Terminals' pass@k check).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SynthgymClient } from '../clients/client.js'
import { runEpisode } from '../clients/agent/loop.js'
import { agentSettings } from '../clients/agent/settings.js'
import type { EndpointProfileName } from '../clients/llm/profiles.js'
import type { SmokeResult } from '../env-spec/generation.js'
import { TaskRegistry, loadTaskDir } from '../tasks/registry.js'
import { DEFAULTS } from './config.js'
import { startServer } from './server.js'

export interface SmokeSettings {
  episodes: number
  model: string
  baseUrl?: string
  apiKey?: string
  /** steps per episode: short, the task only has to be submittable */
  maxSteps: number
  backend: 'local' | 'docker'
  endpointProfile?: EndpointProfileName | 'auto'
  reasoningEffort?: string
}

/** Runs the smoke episodes on the task in `taskDir` (its id `taskId`); an episode counts when a submission scored. */
export function smokeRunner (s: SmokeSettings): (taskDir: string, taskId: string) => Promise<SmokeResult> {
  return async (taskDir, taskId) => {
    const t0 = performance.now()
    const dataDir = mkdtempSync(join(tmpdir(), 'synthgym-smoke-'))
    const registry = new TaskRegistry()
    registry.add(loadTaskDir(taskDir))
    const server = await startServer({ ...DEFAULTS, port: 0, dataDir, backend: s.backend, warmPool: 0, gpus: 'none' }, { registry, logger: false })
    const settings = agentSettings({ model: s.model, baseUrl: s.baseUrl, apiKey: s.apiKey, endpointProfile: s.endpointProfile, reasoningEffort: s.reasoningEffort })
    const episodes: SmokeResult['episodes'] = []
    try {
      const client = new SynthgymClient(server.url)
      for (let i = 0; i < s.episodes; i++) {
        try {
          const o = await runEpisode(client, settings, { task: taskId, maxSteps: s.maxSteps, meta: { smoke: i } })
          // an episode the API ended carries the endpoint's own message into the report
          const status = o.api_error ? `${o.exit_status}: ${o.api_error}`.slice(0, 300) : o.exit_status
          episodes.push({ exit_status: status, valid_submission: o.submission !== null && o.score.length > 0, steps: o.stats.steps })
        } catch (e) {
          episodes.push({ exit_status: `error: ${(e as Error).message}`.slice(0, 300), valid_submission: false, steps: 0 })
        }
        if (episodes.some(e => e.valid_submission)) break // one is enough: the task can be submitted to
      }
    } finally {
      await server.close()
      rmSync(dataDir, { recursive: true, force: true })
    }
    return { model: s.model, asked: s.episodes, episodes, ok: episodes.some(e => e.valid_submission), seconds: (performance.now() - t0) / 1000 }
  }
}
