// The generation pipeline: topics → proposal (LLM) → decontamination → Hub verification → dedup → materialised
// data (trusted code) → task code (LLM) → checks in a sandbox (→ back to the LLM, K rounds) → OUT/tasks/<id>.
// Each stage of a topic ends by writing its schema'd artefact under OUT/work/<slug>/, so a killed run resumes
// (--resume) from the last finished stage of every topic; --concurrency topics are in flight at once.
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import YAML from 'yaml'
import {
  validateCheckRound, validateCodeArtefact, validateGenerationReport, validateMaterialisationArtefact,
  validateProposalArtefact, validateProvenance, validateRunSettings, validateTopicList, validateTopicOutcome,
  type CheckName, type CheckRound, type CodeArtefact, type GenerationReport, type Proposal, type Provenance, type Rejection, type RunSettings, type SmokeResult, type Stage, type StageTimings, type Tokens, validateSmokeResult,
  type Topic, type TopicList, type TopicOutcome, type VerifiedDataset
} from '../../env-spec/generation.js'
import type { Sandbox, SandboxOptions } from '../../sandbox/types.js'
import { LlmError } from '../errors.js'
import { InvalidReplyError, Llm, type LlmSettings, type Message } from './llm.js'
import { proposeTask, type ProposalGate } from './proposal.js'
import { codegenSystemPrompt, codegenUserPrompt, fixPrompt, mergeFiles, requestFiles, writeTaskFiles, type TaskData } from './codegen.js'
import { runChecks } from './checks.js'
import { TaskDedup } from './decontaminate.js'
import { topicList } from './topics.js'
import { buildReport, Progress, reportTable } from './report.js'
import { GENERATE_DEFAULTS, rejection, type VerifyDataset } from './settings.js'

/** The parts that plug in: the Hub, the benchmark list, materialisation, and where sandboxes come from. */
export interface Stages {
  verify: VerifyDataset
  /** a rejection when the dataset is one of the evaluation benchmark's */
  benchmark: (p: Proposal) => Rejection | null
  benchmarkIds: string[]
  /** writes the task's data (both variants) into the two directories; returns its record, or why it cannot */
  materialise: (p: Proposal, d: VerifiedDataset, dirs: { full: string, micro: string }, seed: number) =>
    Promise<{ ok: true, data: Record<string, unknown> } | { ok: false, rejection: Rejection }>
  /** the two variants' data as codegen and the checks read it, from that record */
  taskData: (record: Record<string, unknown>) => { full: TaskData, micro: TaskData }
  makeSandbox: (opts: SandboxOptions) => Promise<Sandbox>
  /** smoke episodes on a task that passed the checks (the micro variant, served); none: the stage is skipped */
  smoke?: (taskDir: string, taskId: string) => Promise<SmokeResult>
}

export interface GenerateOptions {
  out: string
  /** topics to sample (default 100; with a topics file: all of the file's) */
  topics?: number
  topicsFile?: string
  seed?: number
  concurrency?: number
  rounds?: number
  resume?: boolean
  llm: LlmSettings
  backend?: 'local' | 'docker'
  proposalAttempts?: number
  replyAttempts?: number
  /** the run's other endpoints, recorded in run.json for --resume */
  recorded?: Pick<RunSettings, 'hub_url' | 'datasets_server_url' | 'smoke'>
  /** where progress lines go (default stderr) */
  progress?: (line: string) => void
  progressMs?: number
}

/** Files of one run's folder. */
export function runPaths (out: string) {
  const work = (slug: string) => join(out, 'work', slug)
  return {
    run: join(out, 'run.json'),
    topics: join(out, 'topics.json'),
    report: join(out, 'report.json'),
    tasks: join(out, 'tasks'),
    work,
    proposal: (slug: string) => join(work(slug), 'proposal.json'),
    materialisation: (slug: string) => join(work(slug), 'materialisation.json'),
    full: (slug: string) => join(work(slug), 'task'),
    micro: (slug: string) => join(work(slug), 'micro'),
    files: (slug: string, round: number) => join(work(slug), 'rounds', String(round), 'files.json'),
    checks: (slug: string, round: number) => join(work(slug), 'rounds', String(round), 'checks.json'),
    smoke: (slug: string) => join(work(slug), 'smoke.json'),
    smokeTask: (slug: string) => join(work(slug), 'smoke-task'),
    outcome: (slug: string) => join(work(slug), 'outcome.json')
  }
}

/** Written whole or not at all: a kill mid-write leaves the old file or none, never half of one. */
export function writeArtefact (file: string, value: unknown, validate: (v: unknown, root?: string) => unknown): void {
  validate(value, file)
  mkdirSync(dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n')
  renameSync(tmp, file)
}

/** An artefact of a finished stage, or undefined when the stage has not finished (or its file does not validate). */
export function readArtefact<T> (file: string, validate: (v: unknown, root?: string) => T): T | undefined {
  if (!existsSync(file)) return undefined
  try { return validate(JSON.parse(readFileSync(file, 'utf8')), file) } catch { return undefined }
}

const sum = (a: Tokens, b: Tokens): Tokens => ({ prompt: a.prompt + b.prompt, completion: a.completion + b.completion })
const ZERO: Tokens = { prompt: 0, completion: 0 }

/**
 * The run's claims: one task per (dataset, config, target, metric) (TaskDedup), one topic per task id. A discarded
 * topic gives its claims back for later topics.
 */
class Claims {
  private dedup = new TaskDedup()
  private ids = new Map<string, string>()

  claim (slug: string, p: Proposal, d: VerifiedDataset): Rejection | null {
    const byId = this.ids.get(p.task_id.toLowerCase())
    if (byId && byId !== slug) return rejection('dedup', 'DUPLICATE_TASK_ID', `The task id "${p.task_id}" is taken by another task of this run (topic ${byId}). Choose another task_id.`)
    const taken = this.dedup.claim(p, d.dataset)
    if (taken) return taken
    this.ids.set(p.task_id.toLowerCase(), slug)
    return null
  }

  release (slug: string, p: Proposal, d: VerifiedDataset): void {
    this.dedup.release(p, d.dataset)
    if (this.ids.get(p.task_id.toLowerCase()) === slug) this.ids.delete(p.task_id.toLowerCase())
  }
}

/** Runs `work` over `items` with at most `n` in flight. */
async function pool<T> (items: T[], n: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, async () => {
    while (next < items.length) await work(items[next++]!)
  }))
}

/** The run's settings: a new run writes them, --resume reads them (and refuses what does not match). */
function runSettings (opts: GenerateOptions, paths: ReturnType<typeof runPaths>): { settings: RunSettings, topics: TopicList } {
  const existing = readArtefact(paths.run, validateRunSettings)
  if (opts.resume) {
    const topics = readArtefact(paths.topics, validateTopicList)
    if (!existing || !topics) throw new Error(`--resume: ${opts.out} holds no run to resume (no valid run.json and topics.json); start one without --resume`)
    return { settings: { ...existing, rounds: opts.rounds ?? existing.rounds }, topics }
  }
  if (existing || existsSync(paths.topics)) throw new Error(`${opts.out} already holds a run (run.json); pass --resume to continue it, or choose another --out`)
  const topics = topicList({ topics: opts.topics, seed: opts.seed ?? GENERATE_DEFAULTS.seed, topicsFile: opts.topicsFile })
  const settings: RunSettings = {
    topics_source: topics.source, topics_file: opts.topicsFile ? resolve(opts.topicsFile) : null, requested: topics.requested,
    seed: topics.seed, rounds: opts.rounds ?? GENERATE_DEFAULTS.rounds, model: opts.llm.model, base_url: opts.llm.baseUrl ?? process.env.OPENAI_BASE_URL ?? null,
    backend: opts.backend ?? GENERATE_DEFAULTS.backend, started_at: new Date().toISOString(),
    llm: {
      endpoint_profile: opts.llm.profile ?? 'auto', max_tokens: opts.llm.maxTokens ?? null, temperature: opts.llm.temperature ?? null,
      reasoning_effort: opts.llm.reasoningEffort ?? null, retries: opts.llm.retries ?? null, timeout: opts.llm.timeout ?? null
    },
    ...opts.recorded
  }
  writeArtefact(paths.topics, topics, validateTopicList)
  writeArtefact(paths.run, settings, validateRunSettings)
  return { settings, topics }
}

export interface GenerateResult { report: GenerationReport, table: string, outcomes: TopicOutcome[] }

export async function generate (opts: GenerateOptions, stages: Stages): Promise<GenerateResult> {
  const out = resolve(opts.out)
  const paths = runPaths(out)
  const started = new Date()
  const t0 = performance.now()
  const { settings, topics } = runSettings({ ...opts, out }, paths)
  // half-copied tasks a killed run left (their names start with a dot, so no server ever served them)
  if (existsSync(paths.tasks)) for (const n of readdirSync(paths.tasks)) if (n.startsWith('.') && n.endsWith('.tmp')) rmSync(join(paths.tasks, n), { recursive: true, force: true })
  const write = opts.progress ?? ((line: string) => process.stderr.write(line + '\n'))
  // what the client learns of the endpoint (a refused field) goes to stderr and into run.json
  // (only once a request has answered, and only when it changed: run.json is otherwise the run's first record)
  let recorded = JSON.stringify(settings.endpoint ?? null)
  const recordEndpoint = () => {
    const endpoint = llm.endpoint()
    if (llm.tokens.prompt + llm.tokens.completion === 0 || JSON.stringify(endpoint) === recorded) return
    recorded = JSON.stringify(endpoint)
    writeArtefact(paths.run, { ...settings, endpoint }, validateRunSettings)
  }
  const llm = new Llm(opts.llm, (why, ms) => write(`LLM request failed (${why}); retrying in ${(ms / 1000).toFixed(1)} s`),
    line => { write(line); recordEndpoint() })

  // what earlier runs of this folder spent and claimed
  const claims = new Claims()
  let resumedTokens = 0
  const finished = new Map<string, TopicOutcome>()
  for (const topic of topics.topics) {
    const o = readArtefact(paths.outcome(topic.slug), validateTopicOutcome)
    if (o && o.status !== 'error') finished.set(topic.slug, o)
    const pa = readArtefact(paths.proposal(topic.slug), validateProposalArtefact)
    if (pa?.status === 'verified' && o?.status !== 'discarded') claims.claim(topic.slug, pa.proposal!, pa.dataset!)
    if (o) resumedTokens += o.tokens.prompt + o.tokens.completion
  }
  const progress = new Progress(topics.topics.length, () => resumedTokens + llm.tokens.prompt + llm.tokens.completion, write, opts.progressMs ?? GENERATE_DEFAULTS.progressMs)
  for (const o of finished.values()) progress.resumed(o)

  const ctx: TopicContext = { paths, settings, stages, llm, claims, progress, opts }
  const outcomes = new Map<string, TopicOutcome>(finished)
  await pool(topics.topics.filter(t => !finished.has(t.slug)), opts.concurrency ?? GENERATE_DEFAULTS.concurrency, async topic => {
    const o = await runTopic(topic, ctx)
    writeArtefact(paths.outcome(topic.slug), o, validateTopicOutcome)
    outcomes.set(topic.slug, o)
    recordEndpoint()
    progress.end(o)
  })

  recordEndpoint()
  const ordered = topics.topics.map(t => outcomes.get(t.slug)!).filter(Boolean)
  const report = buildReport({ out, model: settings.model, topics, outcomes: ordered, startedAt: started, seconds: (performance.now() - t0) / 1000 })
  writeArtefact(paths.report, report, validateGenerationReport)
  return { report, table: reportTable(report), outcomes: ordered }
}

interface TopicContext {
  paths: ReturnType<typeof runPaths>
  settings: RunSettings
  stages: Stages
  llm: Llm
  claims: Claims
  progress: Progress
  opts: GenerateOptions
}

/** One topic from wherever its artefacts leave it to an outcome; a failure of the LLM API or a service is an 'error'. */
async function runTopic (topic: Topic, ctx: TopicContext): Promise<TopicOutcome> {
  const { paths, stages, llm, progress, settings } = ctx
  const slug = topic.slug
  const timings: StageTimings = {}
  let tokens: Tokens = { ...ZERO }
  let stage: Stage = 'proposal'
  let rounds = 0
  const outcome = (status: TopicOutcome['status'], rej: Rejection | null, ids: { task: string, micro: string } | null = null): TopicOutcome =>
    ({ slug, topic: topic.topic, status, stage, rejection: rej, task_id: ids?.task ?? null, micro_task_id: ids?.micro ?? null, rounds, tokens, timings })
  try {
    // stages 2-4: proposal, decontamination, verification, dedup
    let pa = readArtefact(paths.proposal(slug), validateProposalArtefact)
    if (!pa) {
      const gate: ProposalGate = {
        verify: stages.verify, benchmark: stages.benchmark, benchmarkIds: stages.benchmarkIds,
        claim: (p, d) => ctx.claims.claim(slug, p, d)
      }
      pa = await proposeTask(topic, llm, gate, { attempts: ctx.opts.proposalAttempts, replyAttempts: ctx.opts.replyAttempts })
      writeArtefact(paths.proposal(slug), pa, validateProposalArtefact)
    }
    tokens = sum(tokens, pa.tokens)
    timings.proposal = Math.max(0, pa.seconds - pa.verify_seconds)
    timings.verification = pa.verify_seconds
    if (pa.status === 'rejected') {
      stage = (pa.rejection?.stage as Stage | undefined) ?? 'proposal'
      // the stages before the one that refused it were passed (by its last attempt)
      for (const s of ['proposal', 'decontamination', 'verification', 'dedup'] as const) { if (s === stage) break; progress.pass(s) }
      return outcome('discarded', pa.rejection)
    }
    for (const s of ['proposal', 'decontamination', 'verification', 'dedup'] as const) progress.pass(s)
    const proposal = pa.proposal!
    const dataset = pa.dataset!
    // a topic discarded from here on gives its dataset and task id back to the run
    const discard = (r: Rejection) => { ctx.claims.release(slug, proposal, dataset); return outcome('discarded', r) }

    // stage 5: materialisation, by trusted code
    stage = 'materialisation'
    let ma = readArtefact(paths.materialisation(slug), validateMaterialisationArtefact)
    if (ma && !existsSync(paths.full(slug))) ma = undefined
    if (!ma) {
      const m0 = performance.now()
      rmSync(paths.full(slug), { recursive: true, force: true })
      rmSync(paths.micro(slug), { recursive: true, force: true })
      const m = await stages.materialise(proposal, dataset, { full: paths.full(slug), micro: paths.micro(slug) }, settings.seed)
      timings.materialisation = (performance.now() - m0) / 1000
      if (!m.ok) return discard({ ...m.rejection, stage })
      ma = { seconds: timings.materialisation, data: m.data }
      writeArtefact(paths.materialisation(slug), ma, validateMaterialisationArtefact)
    }
    timings.materialisation = ma.seconds
    const { full, micro } = stages.taskData(ma.data)
    progress.pass('materialisation')

    // stages 6-7: task code, then the checks; each failure goes back to the LLM until the rounds run out
    const messages: Message[] = [
      { role: 'system', content: codegenSystemPrompt() },
      { role: 'user', content: codegenUserPrompt(proposal, dataset, full) }
    ]
    let files: Record<string, string> = {}
    let last: CheckRound | null = null
    const history: Array<{ round: number, failed: CheckName[] }> = []
    timings.codegen = 0
    timings.checks = 0
    for (let round = 1; round <= settings.rounds; round++) {
      stage = 'codegen'
      if (last) messages.push({ role: 'user', content: fixPrompt(last.checks.filter(c => !c.ok)) })
      let code: CodeArtefact | undefined = readArtefact(paths.files(slug, round), validateCodeArtefact)
      if (!code) {
        try { code = await requestFiles(llm, messages, round, ctx.opts.replyAttempts) } catch (e) {
          if (!(e instanceof InvalidReplyError)) throw e
          tokens = sum(tokens, e.tokens)
          return discard(rejection('codegen', 'INVALID_REPLY', e.message))
        }
        writeArtefact(paths.files(slug, round), code, validateCodeArtefact)
      }
      tokens = sum(tokens, code.tokens)
      timings.codegen += code.seconds
      messages.push({ role: 'assistant', content: JSON.stringify(code.reply) })
      files = mergeFiles(files, code.reply)
      if (round === 1) progress.pass('codegen')

      stage = 'checks'
      rounds = round
      let checks = readArtefact(paths.checks(slug, round), validateCheckRound)
      if (!checks) {
        checks = await runChecks(round, files, proposal, full, micro, { makeSandbox: stages.makeSandbox })
        writeArtefact(paths.checks(slug, round), checks, validateCheckRound)
      }
      timings.checks += checks.seconds
      last = checks
      if (checks.ok) break
      history.push({ round, failed: checks.checks.filter(c => !c.ok).map(c => c.name) })
    }
    if (!last?.ok) {
      const failed = last!.checks.filter(c => !c.ok)
      return discard(rejection('checks', failed.map(c => c.name).join('+'),
        `after ${rounds} round${rounds > 1 ? 's' : ''}: ${failed.map(c => `${c.name}: ${c.message}`).join('; ')}`))
    }
    progress.pass('checks')

    // smoke episodes: a teacher must be able to submit to the task (its micro variant, as served, with its baseline)
    let smoke: SmokeResult | undefined
    if (stages.smoke) {
      stage = 'smoke'
      smoke = readArtefact(paths.smoke(slug), validateSmokeResult)
      if (!smoke) {
        const w = writeTaskFiles(files, proposal, micro, 'micro')
        if ('message' in w) throw new Error(`the checked files no longer assemble: ${w.message}`)
        const dir = paths.smokeTask(slug)
        rmSync(dir, { recursive: true, force: true })
        cpSync(micro.dir, dir, { recursive: true })
        const specFile = join(dir, 'task.yaml')
        const spec = YAML.parse(readFileSync(specFile, 'utf8'))
        if (last!.micro_baseline) spec.baseline_scores = [last!.micro_baseline]
        writeFileSync(specFile, YAML.stringify(spec, { lineWidth: 0, indentSeq: false }))
        smoke = await stages.smoke(dir, spec.id)
        rmSync(dir, { recursive: true, force: true })
        writeArtefact(paths.smoke(slug), smoke, validateSmokeResult)
      }
      timings.smoke = smoke.seconds
      if (!smoke.ok) {
        return discard(rejection('smoke', 'NO_VALID_SUBMISSION', `none of ${smoke.episodes.length} smoke episode(s) of ${smoke.model} ended with a valid submission ` +
          `(exit statuses: ${smoke.episodes.map(e => e.exit_status ?? 'none').join(', ')})`))
      }
      progress.pass('smoke')
    }

    // stage 8: accept (the round's files are written again: a resumed run may have reused its checks)
    stage = 'accept'
    const a0 = performance.now()
    for (const [variant, data] of [['full', full], ['micro', micro]] as const) {
      const w = writeTaskFiles(files, proposal, data, variant)
      if ('message' in w) throw new Error(`the accepted files no longer assemble: ${w.message}`)
    }
    const ids = accept({ topic, proposal, dataset, full, micro, last, history, tokens, timings, settings, paths, started: a0, smoke })
    timings.accept = (performance.now() - a0) / 1000
    progress.pass('accept')
    return outcome('accepted', null, ids)
  } catch (e) {
    // the LLM API or the Hub kept failing, or a sandbox did not start: not the proposal's fault, so --resume tries again
    const code = (e as { code?: unknown }).code
    return outcome('error', rejection(stage, e instanceof LlmError ? e.code : typeof code === 'string' ? code : 'INTERNAL', (e as Error).message ?? String(e)))
  }
}

/** Copies both variants into OUT/tasks with the baseline scores and provenance.json; each lands by one rename. */
function accept (a: {
  topic: Topic, proposal: Proposal, dataset: VerifiedDataset, full: TaskData, micro: TaskData, last: CheckRound,
  history: Array<{ round: number, failed: CheckName[] }>, tokens: Tokens, timings: StageTimings, settings: RunSettings,
  paths: ReturnType<typeof runPaths>, started: number, smoke?: SmokeResult
}): { task: string, micro: string } {
  const task = a.proposal.task_id
  const micro = `${task}Micro`
  mkdirSync(a.paths.tasks, { recursive: true })
  for (const [variant, data, id, sibling, baseline] of [
    ['full', a.full, task, micro, a.last.baseline], ['micro', a.micro, micro, task, a.last.micro_baseline]
  ] as const) {
    const tmp = join(a.paths.tasks, `.${id}.${process.pid}.tmp`)
    rmSync(tmp, { recursive: true, force: true })
    cpSync(data.dir, tmp, { recursive: true })
    const specFile = join(tmp, 'task.yaml')
    const spec = YAML.parse(readFileSync(specFile, 'utf8'))
    if (baseline) spec.baseline_scores = [baseline]
    writeFileSync(specFile, YAML.stringify(spec, { lineWidth: 0, indentSeq: false }))
    const provenance: Provenance = {
      generator: 'synthgym generate', variant, task_id: id, sibling_task_id: sibling,
      topic: a.topic, proposal: a.proposal,
      dataset: { id: a.dataset.dataset, config: a.dataset.config, revision: a.dataset.revision, license: a.dataset.license, splits: a.proposal.splits },
      rows: { train: data.train.rows, validation: data.validation.rows, test: data.test.rows },
      model: a.settings.model, rounds: a.last.round, checks: a.last.checks, history: a.history,
      baseline: baseline ?? {}, tokens: a.tokens, timings: { ...a.timings, accept: (performance.now() - a.started) / 1000 },
      seed: a.settings.seed, created_at: new Date().toISOString(), ...(a.smoke ? { smoke: a.smoke } : {})
    }
    writeArtefact(join(tmp, 'provenance.json'), provenance, validateProvenance)
    const dest = join(a.paths.tasks, id)
    rmSync(dest, { recursive: true, force: true })
    renameSync(tmp, dest)
  }
  return { task, micro }
}
