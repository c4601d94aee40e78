// A task made live in a sandbox: reset / step / evaluate with MLGym's semantics and Gymnasium's five return values.
import { basename, join } from 'node:path'
import { existsSync } from 'node:fs'
import type { ExecOptions, Sandbox, SandboxOptions, Mount, FileEntry } from '../sandbox/types.js'
import { WORKSPACE, COMMANDS_DIR } from '../sandbox/types.js'
import { BusyError, ShellClosedError } from '../sandbox/errors.js'
import { postprocess } from '../sandbox/output.js'
import { toolDefinitions, toolsDir, toolsInitScript, type ToolProfile } from '../sandbox/tools.js'
import { SWEAGENT_SUBMISSION, parseSweagentState, sweagentStateScript } from '../sandbox/tools/sweagent/profile.js'
import { hostPath, taskDescription, type Task } from './registry.js'
import { evaluate } from './evaluate.js'
import { hubDataSandbox, hubLoads } from './hubdata.js'
import { EpisodeFinishedError, EvaluationFormatError, NotResetError, SubmissionNotFoundError } from './errors.js'
import { pyRepr, plain, type PyValue } from './pyrepr.js'
import type { Metrics } from '../env-spec/trajectory.js'
import { SANDBOX_DEFAULTS } from '../sandbox/policy.js'
import { sandboxSettings, type Overrides, type Settings } from './settings.js'
import { improvementOver, type EpisodeInfo, type ResetResult, type StepInfo, type StepResult, type TrajectoryStep } from '../env-spec/episode.js'
import type { EvaluateResult, RewardMode } from '../env-spec/messages.js'
import { TASK_DEFAULTS } from './settings.js'

/** What one action came to, before the step is recorded. */
type Outcome = { observation: string, reward: number, terminated: boolean, truncated: boolean, extra: Partial<StepInfo> }

/** How an environment runs; its limits, timeouts and output cap override the task's (tasks/settings.ts). */
export interface EnvironmentOptions extends Overrides {
  makeSandbox: (opts: SandboxOptions) => Promise<Sandbox>
  /** the task's baseline scores (given, cached or computed); null when it has none */
  baseline: (task: Task) => Promise<Metrics | null>
  maxSteps?: number
  /**
   * 'none' as MLGym (always 0); 'improvement': direction-aware improvement over the baseline on each evaluation;
   * 'shaped': what an evaluation adds to the episode's best shaped value (see `shapedValue`)
   */
  reward?: RewardMode
  toolProfile?: ToolProfile
  /** the host's prefetched Hugging Face cache (tasks/hubdata.ts), mounted for tasks that load Hub data */
  hfCache?: string
}

/** Sandbox mounts of a task: the tools, its data and its evaluation files, read-only. */
export function taskMounts (task: Task): { mounts: Mount[], skip: Set<string> } {
  const spec = task.spec
  const mounts: Mount[] = [{ hostPath: toolsDir(), path: COMMANDS_DIR, readOnly: true }]
  const local = (spec.datasets ?? []).filter(d => d.is_local)
  for (const d of local) {
    const path = local.length === 1 ? `${WORKSPACE}/data` : `${WORKSPACE}/data/${basename(d.data_path)}`
    mounts.push({ hostPath: hostPath(task, d.data_path), path, readOnly: true })
  }
  // starter files that are mounted read-only instead of copied
  const skip = new Set<string>()
  if (spec.evaluation_read_only) {
    for (const e of spec.evaluation_paths ?? []) {
      const [head, ...rest] = e.split('/')
      const starter = (spec.starter_code ?? []).find(s => basename(s) === head)
      if (!starter) continue
      const host = join(hostPath(task, starter), ...rest)
      if (!existsSync(host)) continue
      mounts.push({ hostPath: host, path: `${WORKSPACE}/${e}`, readOnly: true })
      if (rest.length === 0) skip.add(starter)
    }
  }
  return { mounts, skip }
}

/**
 * What a task's sandboxes start with: its mounts, its runtime (tasks/registry: spec.runtime), and where its code
 * loads Hub data, the prefetched Hugging Face cache `hf` read-only with the offline switches (tasks/hubdata.ts).
 */
export function taskSandbox (task: Task, hf?: string): Pick<SandboxOptions, 'mounts' | 'env' | 'pythonRuntime'> {
  const { mounts } = taskMounts(task)
  const loads = hubLoads(task)
  const data = hf && (loads.datasets.length || loads.models.length) ? hubDataSandbox(hf) : { mounts: [], env: {} }
  return { mounts: [...mounts, ...data.mounts], env: data.env, ...(task.spec.runtime ? { pythonRuntime: task.spec.runtime } : {}) }
}

/**
 * Checks the sandbox's disk use while a command runs and interrupts the command once it is over the limit:
 * a check after the step alone lets one step write tens of GB first.
 */
function watchDisk (sandbox: Sandbox, limitMb: number): { stop: () => void, peak: () => number } {
  let stopped = false
  let peak = 0
  const poll = async () => {
    while (!stopped) {
      await new Promise(resolve => setTimeout(resolve, SANDBOX_DEFAULTS.diskPollSeconds * 1000))
      if (stopped) return
      const used = await sandbox.diskUsageMb!().catch(() => 0)
      peak = Math.max(peak, used)
      // no grace: the shell's own loop (`for i in ...; do head -c 10M ...; done`) must stop now, not in 3 s
      if (used > limitMb) { await sandbox.interrupt({ grace: 0 }).catch(() => {}); return }
    }
  }
  void poll()
  return { stop: () => { stopped = true }, peak: () => peak }
}

/** Why an episode ended under the agent: its sandbox died and could not come back. */
function gone (sandbox: Sandbox): string {
  return `THE SANDBOX IS GONE: ${sandbox.endReason ?? 'its shell could not be restarted'}. The episode has ended; its steps so far are kept.`
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

const patternCache = new Map<ToolProfile, RegExp[]>()
function multilinePatterns (profile: ToolProfile): RegExp[] {
  let p = patternCache.get(profile)
  if (!p) {
    p = toolDefinitions(profile).filter(d => d.end_name)
      .map(d => new RegExp(`^\\s*(${escapeRe(d.name)})\\s*(.*?)^(${escapeRe(d.end_name!)})\\s*$`, 'ms'))
    patternCache.set(profile, p)
  }
  return p
}

/**
 * MLGym's guard_multiline_input: a multi-line command (`edit 3:5` ... `end_of_edit`) becomes a heredoc by adding
 * ` << 'end_of_edit'` to its first line, unless the agent already wrote it.
 */
export function guardMultilineInput (action: string, profile: ToolProfile = 'mlgym'): string {
  // one line (no line break the regexes' ^ sees): nothing to guard, and no regex per step
  if (!/[\n\r\u2028\u2029]/.test(action)) return action.trim() ? action : ''
  const patterns = multilinePatterns(profile)
  const parts: string[] = []
  let rest = action
  while (rest.trim()) {
    const first = patterns.map(p => p.exec(rest)).filter((m): m is RegExpExecArray => m !== null).sort((a, b) => a.index - b.index)[0]
    if (!first) { parts.push(rest); break }
    const pre = rest.slice(0, first.index)
    const match = first[0]
    rest = rest.slice(first.index + match.length)
    if (pre.trim()) parts.push(pre)
    if (!match.trim()) continue
    const eof = first[3]!.trim()
    const firstLine = match.split('\n')[0]!
    parts.push(firstLine.trim().endsWith(`<< '${eof}'`) ? match : match.replace(firstLine, `${firstLine} << '${eof}'`))
  }
  return parts.join('\n')
}

/** MLGym's state command: the open file and the working directory (a trailer: it sets `__sg_st`) */
const STATE_QUERY = `printf -v __sg_st '%s\\n%s' "\${CURRENT_FILE:-n/a}" "$PWD"`
const TRAIN_COMMANDS = ['torchrun', 'python', 'python3', 'accelerate', 'deepspeed']
const EDIT_PATTERN = /^edit\s+(\d+):(\d+)/
const EXIT_ACTIONS = new Set(['exit_context', 'exit_cost', 'exit_error', 'exit_format', 'exit_api'])
const VALIDATION = /<<VALIDATION\|\|(.*?)\|\|VALIDATION>>/s
const SUBMISSION = /<<SUBMISSION\|\|(.*?)\|\|SUBMISSION>>/s
/** What every sandbox of a task's environment starts with (but the starter files, which only a reset copies in). */
export function envSandboxOptions (task: Task, settings: Settings, profile: ToolProfile = 'mlgym', hf?: string):
SandboxOptions {
  return {
    ...taskSandbox(task, hf), limits: settings.limits, network: settings.network, init: toolsInitScript(profile, COMMANDS_DIR)
  }
}

/** The shell's state after a step: MLGym's open file and cwd, or SWE-agent's state.json (its state command). */
function stateQuery (profile?: ToolProfile): string { return profile === 'sweagent' ? sweagentStateScript : STATE_QUERY }

/** How an environment runs an agent's action in its shell: the command and its exec options (but its output's sink). */
export function actionExec (action: string, t: Settings['timeouts'], profile?: ToolProfile):
{ command: string, opts: ExecOptions } {
  const timeout = TRAIN_COMMANDS.some(c => action.includes(c)) ? t.long : t.short
  return {
    command: guardMultilineInput(action, profile),
    opts: { timeout, noOutputTimeout: t.noOutput, exports: { LAST_ACTION: action }, trailer: stateQuery(profile) }
  }
}

// pip's refusal in a sandbox (PEP 668, or no network to download from): say what the agent can do instead
const PIP_REFUSED = /externally-managed-environment|Could not find a version that satisfies|Failed to establish a new connection|No matching distribution found/
const PIP_HINT = '\n(This sandbox has no network: pip cannot download packages here. Use the packages already ' +
  'installed (`python3 -m pip list` shows them); write what is missing yourself.)'

/**
 * The `shaped` reward's value of an episode's scores: 0 with no valid evaluation; otherwise the best over its scores
 * of `v + (1 - v) * clip(improvement, 0, 1)`, with `v` = TASK_DEFAULTS.shapedValidShare (a valid submission's part) and
 * the improvement of `improvementOver` (0 without a baseline). Each evaluation earns what it adds to this value, so
 * an episode's rewards sum to its value and repeating a validation earns nothing.
 */
export function shapedValue (scores: Metrics[], baseline: Metrics | null, metric: Parameters<typeof improvementOver>[2]): number {
  const v = TASK_DEFAULTS.shapedValidShare
  let best = 0
  for (const m of scores) {
    const imp = Math.min(1, Math.max(0, improvementOver(m, baseline, metric) ?? 0))
    best = Math.max(best, v + (1 - v) * imp)
  }
  return best
}

export class Environment {
  sandbox: Sandbox | null = null
  steps: TrajectoryStep[] = []
  info: EpisodeInfo = { score: [], exit_status: null, submission: null }
  currentStep = 0
  done = false
  baselineScores: Metrics | null = null
  busy = false
  /** the state the step's own round trip brought back (its trailer), null when it has to be asked apart */
  private ranState: { open_file: string, working_dir: string } | null = null
  private oomSeen = 0
  readonly maxSteps: number

  /** The task's resources with this environment's overrides, field by field (both fixed for its life). */
  readonly settings: Settings

  constructor (readonly task: Task, private opts: EnvironmentOptions) {
    this.maxSteps = opts.maxSteps ?? 100
    this.settings = sandboxSettings(task, opts)
  }

  get timeouts (): Settings['timeouts'] { return this.settings.timeouts }

  async reset (): Promise<Omit<ResetResult, 'episode_id'>> {
    if (this.busy) throw new BusyError('a step is running in this environment')
    this.busy = true
    try {
      if (this.sandbox) {
        // a GPU goes back only once its sandbox is gone; anything else closes while the new one starts
        const old = this.sandbox
        this.sandbox = null
        if (this.task.spec.resources?.gpus) await old.close()
        else void old.close().catch(() => {})
      }
      this.steps = []
      this.info = { score: [], exit_status: null, submission: null }
      this.currentStep = 0
      this.done = false
      const spec = this.task.spec
      const { skip } = taskMounts(this.task)
      // one after the other: a baseline still to compute may need the same GPU the episode's sandbox will take
      const baseline = await this.opts.baseline(this.task)
      const files: FileEntry[] = (spec.starter_code ?? []).filter(s => !skip.has(s))
        .map(s => ({ path: `${WORKSPACE}/${basename(s)}`, hostPath: hostPath(this.task, s) }))
      const sandbox = await this.opts.makeSandbox({ ...this.sandboxOptions(), files })
      this.sandbox = sandbox
      this.baselineScores = baseline
      this.oomSeen = 0 // a fresh sandbox
      return {
        observation: taskDescription(spec),
        info: {
          task_id: spec.id,
          max_steps: this.maxSteps,
          baseline,
          metric: spec.metric ?? null,
          entrypoint: spec.task_entrypoint
        }
      }
    } finally { this.busy = false }
  }

  /** What every sandbox of this environment starts with (but the starter files, which only a reset copies in). */
  sandboxOptions (): SandboxOptions {
    return envSandboxOptions(this.task, this.settings, this.opts.toolProfile, this.opts.hfCache)
  }

  /**
   * Takes over a sandbox that outlived its server (re-attached after a crash) with the episode it held, which the
   * crash ended: its steps and scores are back, the episode is over (a step answers EPISODE_FINISHED), the workspace
   * can still be evaluated, and a reset starts a new episode in a fresh sandbox.
   */
  adopt (sandbox: Sandbox, ep: { steps: TrajectoryStep[], info: EpisodeInfo, baseline: Metrics | null }): void {
    this.sandbox = sandbox
    this.steps = ep.steps
    this.info = { ...ep.info, score: [...ep.info.score] }
    this.currentStep = ep.steps.length
    this.baselineScores = ep.baseline
    this.done = true
    this.oomSeen = 0
  }

  async step (rawAction: string, opts: { onOutput?: (chunk: string) => void, response?: string, thought?: string } = {}): Promise<StepResult> {
    if (!this.sandbox) throw new NotResetError('call reset before step')
    if (this.done) throw new EpisodeFinishedError(`the episode is over (${this.info.exit_status}); reset to start a new one`)
    if (this.busy) throw new BusyError('a step is already running in this environment')
    this.busy = true
    const started = performance.now()
    try {
      this.ranState = null
      const r = await this.run(rawAction, opts.onOutput)
      const state = this.ranState ?? await this.state()
      const execution_time = (performance.now() - started) / 1000
      this.steps.push({
        action: rawAction, observation: r.observation, response: opts.response ?? rawAction, thought: opts.thought ?? '',
        state: JSON.stringify(state), execution_time, reward: r.reward, terminated: r.terminated, truncated: r.truncated,
        exit_code: r.extra.exit_code ?? null
      })
      if (r.terminated || r.truncated) this.done = true
      return {
        observation: r.observation, reward: r.reward, terminated: r.terminated, truncated: r.truncated,
        info: { ...this.info, score: [...this.info.score], ...r.extra, current_step: this.currentStep, max_steps: this.maxSteps, state }
      }
    } finally { this.busy = false }
  }

  private parseState (output: string): { open_file: string, working_dir: string } {
    if (this.opts.toolProfile === 'sweagent') return parseSweagentState(output)
    const [open_file, working_dir] = output.split('\n')
    return { open_file: open_file || 'n/a', working_dir: working_dir || WORKSPACE }
  }

  /** The state, asked on its own: when the step's own round trip could not bring it (the shell died, a syntax error). */
  private async state (): Promise<{ open_file: string, working_dir: string }> {
    const fallback = { open_file: 'n/a', working_dir: WORKSPACE }
    if (!this.sandbox?.alive) return fallback
    try {
      const r = await this.sandbox.exec(':', { timeout: 5, trusted: true, trailer: stateQuery(this.opts.toolProfile) })
      return r.trailer === undefined ? fallback : this.parseState(r.trailer)
    } catch { return fallback }
  }

  private async run (rawAction: string, onOutput?: (chunk: string) => void): Promise<Outcome> {
    const sandbox = this.sandbox!
    this.currentStep += 1
    const end = (observation: string, terminated: boolean, truncated = false) => ({ observation, reward: 0, terminated, truncated, extra: {} })
    if (this.currentStep > this.maxSteps) return this.evaluateAs('max_steps')
    const action = rawAction.trim()
    if (action === 'skip') { this.info.exit_status = 'skipped'; return end('Skipped', true) }
    if (action === 'exit_forfeit') { this.info.exit_status = action; return end('Exited (exit_forfeit)', true) }
    if (EXIT_ACTIONS.has(action)) return this.evaluateAs(action)
    if (EDIT_PATTERN.test(action) && !action.includes('end_of_edit')) {
      return end('Malformed edit command. Please ensure you use the `end_of_edit` keyword to mark the end of your edit.', false)
    }
    const lost = () => {
      this.info.exit_status = 'early_exit'
      return end(gone(sandbox), true)
    }
    if (!sandbox.alive) return lost()
    const diskMb = this.settings.limits.diskMb
    const disk = diskMb && sandbox.diskUsageMb ? watchDisk(sandbox, diskMb) : null
    // a job an earlier step left (a fork bomb that filled the limit after that step answered) goes before this one runs
    const heldBefore = await sandbox.reapAtProcessLimit?.().catch(() => 0) ?? 0
    const run = actionExec(action, this.timeouts, this.opts.toolProfile)
    let r
    try {
      r = await sandbox.exec(run.command, { ...run.opts, onOutput })
    } catch (err) {
      if (err instanceof ShellClosedError) return lost()
      throw err
    } finally { disk?.stop() }
    if (r.trailer !== undefined) this.ranState = this.parseState(r.trailer)
    const out = postprocess(r.output, { cap: this.settings.outputCap, droppedChars: r.truncatedChars })
    let observation = out.text
    const extra: Partial<StepInfo> = {}
    if (!r.timedOut && !r.restarted && r.exitCode !== null) extra.exit_code = r.exitCode
    if (out.truncated) extra.output_truncated = true
    if (PIP_REFUSED.test(r.output)) observation += PIP_HINT
    if (r.timedOut) {
      extra.timed_out = r.timedOut
      if (r.restarted) observation += '\nEXECUTION TIMED OUT AND INTERRUPT FAILED. RESTARTING PROCESS.'
      else {
        observation += '\nEXECUTION TIMED OUT'
        observation += r.timedOut === 'no_output'
          ? ` BECAUSE NO OUTPUT WAS PRODUCED FOR MORE THAN ${run.opts.noOutputTimeout} SECONDS.\nPLEASE REFINE YOUR RUNNING COMMAND SO IT WILL PRODUCE OUTPUT IN THE SPECIFIED TIME FRAME.`
          : ` BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN ${run.opts.timeout} SECONDS.`
      }
    } else if (r.restarted) {
      observation += '\nCOMMAND FAILED TO EXECUTE. RESTARTING PROCESS.'
    }
    if (r.restarted) {
      extra.shell_restarted = true
      if (!sandbox.alive) {
        this.info.exit_status = 'early_exit'
        observation += '\n' + gone(sandbox)
        return { observation, reward: 0, terminated: true, truncated: false, extra }
      }
      // Unlike MLGym we keep the episode: the workspace is intact, only the shell's state is new.
      observation += '\n(The shell was restarted in the same workspace: the working directory, environment variables and open file were reset.)'
    } else if (!sandbox.alive) {
      // the shell died under the command and could not come back (its container stopped, its engine went away)
      this.info.exit_status = 'early_exit'
      observation += (observation ? '\n' : '') + gone(sandbox)
      return { observation, reward: 0, terminated: true, truncated: false, extra }
    }
    // only a SIGKILLed command (137) can be the kernel's OOM killer at work
    const ooms = r.exitCode === 137 || r.restarted ? await sandbox.oomKills?.() ?? 0 : this.oomSeen
    if (ooms > this.oomSeen) {
      this.oomSeen = ooms
      const mb = this.settings.limits.memoryMb
      observation += `\nA process was killed because the sandbox ran out of memory${mb ? ` (limit ${mb} MiB)` : ''}.`
    }
    // what a step left running at the process limit (a fork bomb) would keep every later command from forking
    const held = Math.max(heldBefore, await sandbox.reapAtProcessLimit?.().catch(() => 0) ?? 0)
    if (held) observation += `\nThe sandbox reached its process limit (${held} of ${this.settings.limits.pids} processes): the processes left running were killed.`
    if (diskMb && sandbox.diskUsageMb) {
      const used = Math.max(disk?.peak() ?? 0, await sandbox.diskUsageMb())
      if (used > diskMb) {
        // nothing is deleted: the files stay for the trajectory's sake, but the episode cannot go on writing
        this.info.exit_status = 'disk_limit_exceeded'
        observation += `\nDISK LIMIT EXCEEDED: the sandbox holds ${used.toFixed(1)} MiB, over its limit of ${diskMb} MiB. The episode has ended.`
        return { observation, reward: 0, terminated: true, truncated: false, extra }
      }
    }
    if (VALIDATION.test(r.output)) return this.evaluateAs('validate')
    const sweagentSubmitted = this.opts.toolProfile === 'sweagent' && SWEAGENT_SUBMISSION.test(r.output)
    if (SUBMISSION.test(r.output) || sweagentSubmitted) return this.evaluateAs('submit')
    return { observation, reward: 0, terminated: false, truncated: false, extra }
  }

  /** MLGym's _evaluate_with_error_handling: validate keeps going; submit ends; anything else autosubmits. */
  private async evaluateAs (action: string): Promise<Outcome> {
    this.ranState = null // asked again after the evaluation
    const terminal = action !== 'validate'
    const truncated = terminal && action !== 'submit'
    const ended = (observation: string) => ({ observation, reward: 0, terminated: terminal && !truncated, truncated, extra: {} })
    try {
      const ev = await this.evaluation(this.sandbox!)
      const metrics = plain(ev.metrics) as Metrics
      const before = this.info.score.slice()
      this.info.score.push(metrics)
      const reward = this.reward(metrics, before)
      const extra = { metrics }
      if (action === 'validate') {
        const base = this.baselineScores ? pyRepr(this.baselineScores as Record<string, PyValue>) : 'NA (no baseline was there)'
        const score = `Your code produced a valid submission artefact at ${ev.submission}.\nBaseline Score: ${base}\nEvaluation Score: ${pyRepr(ev.metrics)}`.trim()
        const observation = ev.withheld ? `${score}\n${ev.withheld}` : score
        return { observation, reward, terminated: false, truncated: false, extra }
      }
      this.info.submission = ev.submission
      this.info.exit_status = action === 'submit' ? 'submitted' : `autosubmission (${action})`
      return { observation: `Exited (${action})`, reward, terminated: !truncated, truncated, extra }
    } catch (e) {
      if (e instanceof SubmissionNotFoundError) {
        if (!terminal) return ended('Submission artefact not found. You have to produce a valid submission artefact as described in the task description to validate your results.')
        this.info.exit_status = `submission_not_found (${action})`
        return ended(`Exited (${action})`)
      }
      if (e instanceof EvaluationFormatError) {
        if (!terminal) return ended(e.message)
        this.info.exit_status = `evaluation_format_error (${action})`
        return ended(`Exited (${action})`)
      }
      if (!terminal) return ended(`Error: ${(e as Error).message}`)
      this.info.exit_status = `${(e as Error).constructor.name}, ${(e as Error).message}, (${action})`
      return ended(`Exited (${action})`)
    }
  }

  /** The task's evaluation of the workspace as it is now (long timeout, the task's GPUs). */
  private evaluation (sandbox: Sandbox): ReturnType<typeof evaluate> {
    return evaluate(this.task, sandbox, { timeout: this.timeouts.long, gpus: this.task.spec.resources?.gpus })
  }

  /** The reward of an evaluation that scored `metrics` after the episode's earlier scores `before`. */
  private reward (metrics: Metrics, before: Metrics[]): number {
    const metric = this.task.spec.metric
    if (this.opts.reward === 'improvement') return improvementOver(metrics, this.baselineScores, metric) ?? 0
    if (this.opts.reward === 'shaped') {
      return shapedValue([...before, metrics], this.baselineScores, metric) - shapedValue(before, this.baselineScores, metric)
    }
    return 0
  }

  /** Evaluate the current workspace now without taking a step or touching the score list. */
  async evaluateNow (): Promise<EvaluateResult> {
    if (!this.sandbox) throw new NotResetError('call reset before evaluate')
    if (this.busy) throw new BusyError('a step is running in this environment')
    this.busy = true
    try {
      const ev = await this.evaluation(this.sandbox)
      return { metrics: plain(ev.metrics) as Metrics, submission: ev.submission, error: null }
    } catch (e) {
      return { metrics: null, submission: null, error: (e as Error).message }
    } finally { this.busy = false }
  }

  async close (): Promise<void> {
    const sb = this.sandbox
    this.sandbox = null
    await sb?.close()
  }
}

