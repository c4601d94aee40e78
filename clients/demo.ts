// A scripted agent that works a built-in task through the WebSocket API the way an LLM agent would:
// look around, open the baseline, improve it with `edit`, run it, validate, submit.
import { SynthgymClient } from './client.js'

export interface DemoOptions { url: string, task?: string, log?: (line: string) => void }

const TASK = 'digitsClassification'

/** Replaces the nearest-centroid prediction with a 1-nearest-neighbour vote: a real improvement on these digits. */
const KNN = [
  '    # 1-nearest neighbour: the label of the closest training image',
  '    d2 = (X_test ** 2).sum(1)[:, None] - 2 * X_test @ X_train.T + (X_train ** 2).sum(1)[None, :]',
  '    preds = y_train[np.argmin(d2, axis=1)]'
].join('\n')

export async function runDemo (opts: DemoOptions): Promise<{ baseline: number | null, score: number | null, steps: number }> {
  const log = opts.log ?? console.log
  const client = new SynthgymClient(opts.url)
  const ws = await client.ws()
  try {
    const env = await ws.create({ task: opts.task ?? TASK, max_steps: 20 })
    const reset = await ws.reset(env.env_id)
    const metric = reset.info.metric?.name ?? 'accuracy'
    log(`env ${env.env_id}, task ${env.task}, metric ${metric} (${reset.info.metric?.direction ?? 'maximize'}), baseline ${JSON.stringify(reset.info.baseline)}`)
    log('--- task description ---\n' + reset.observation.split('\n').slice(0, 6).join('\n') + '\n...')
    let n = 0
    const step = async (action: string, stream = false) => {
      n += 1
      log(`\n$ [step ${n}] ${action.split('\n')[0]}${action.includes('\n') ? ' ...' : ''}`)
      // a streamed step shows its output as it comes; the observation (post-processed) follows
      const r = await ws.step(env.env_id, action, stream ? { onOutput: chunk => process.stdout.write(chunk) } : {})
      if (stream) log('--- observation ---')
      const obs = r.observation.split('\n')
      log(obs.slice(0, 15).join('\n') + (obs.length > 15 ? `\n... (${obs.length - 15} more lines)` : ''))
      return r
    }
    await step('ls -la')
    await step('open "baseline.py"')
    const found = await step('search_file "dists = "')
    const m = /Line (\d+):/.exec(found.observation)
    if (!m) throw new Error('the demo expected baseline.py to compute `dists = ...`; the built-in task changed')
    const line = Number(m[1])
    await step(`edit ${line}:${line + 1}\n${KNN}\nend_of_edit`)
    await step('python baseline.py', true)
    const v = await step('validate')
    const s = await step('submit')
    const score = s.info.score.at(-1)?.[metric] ?? v.info.score.at(-1)?.[metric] ?? null
    const baseline = reset.info.baseline?.[metric] ?? null
    log(`\nfinal ${metric}: ${score}   baseline ${metric}: ${baseline}   exit status: ${s.info.exit_status}`)
    const traj = await ws.trajectory(env.env_id)
    log(`trajectory stored: ${traj.traj.trajectory.length} steps; results.json ${JSON.stringify(traj.results)}`)
    await ws.closeEnv(env.env_id)
    return { baseline, score, steps: n }
  } finally { ws.close() }
}
