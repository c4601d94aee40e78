// Stage 1: the topics of a run, sampled from the built-in taxonomy (taxonomy.yaml) or read from the user's file;
// deterministic under a seed, spread over the areas, never the same topic twice.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import YAML from 'yaml'
import { packageRoot } from '../../sandbox/paths.js'
import type { Topic, TopicList } from '../../env-spec/generation.js'
import { GENERATE_DEFAULTS } from './settings.js'

export const TAXONOMY_FILE = join(packageRoot(), 'tasks', 'generate', 'taxonomy.yaml')

/** area → leaf topics */
export type Taxonomy = Record<string, string[]>

/** mulberry32: a small seeded generator, the same sequence on every machine */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffled<T> (items: T[], random: () => number): T[] {
  const a = [...items]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

const normal = (s: string) => s.trim().replace(/\s+/g, ' ').toLowerCase()

export function slugify (s: string, max = 60): string {
  return s.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, max).replace(/-+$/, '') || 'topic'
}

/** The taxonomy with its duplicates (across areas too, case and spacing aside) dropped, first one kept. */
function dedupe (t: Taxonomy): Taxonomy {
  const seen = new Set<string>()
  const out: Taxonomy = {}
  for (const [area, leaves] of Object.entries(t)) {
    const kept = leaves.map(l => l.trim().replace(/\s+/g, ' ')).filter(l => {
      if (!l || seen.has(normal(l))) return false
      seen.add(normal(l))
      return true
    })
    if (kept.length) out[area] = kept
  }
  return out
}

function parseTaxonomy (text: string, file: string): Taxonomy {
  let raw: unknown
  try { raw = YAML.parse(text) } catch {
    raw = undefined
  }
  if (raw && typeof raw === 'object' && !Array.isArray(raw) && 'areas' in raw) {
    const areas = (raw as { areas: unknown }).areas
    if (!areas || typeof areas !== 'object' || Array.isArray(areas)) throw new Error(`${file}: areas must map each area to a list of topics`)
    const out: Taxonomy = {}
    for (const [area, leaves] of Object.entries(areas)) {
      if (!Array.isArray(leaves) || leaves.some(l => typeof l !== 'string')) throw new Error(`${file}: areas.${area} must be a list of topic strings`)
      out[area] = leaves as string[]
    }
    return dedupe(out)
  }
  if (Array.isArray(raw) && raw.every(l => typeof l === 'string')) return dedupe({ user: raw as string[] })
  // plain text: one topic a line, # comments
  const lines = text.split('\n').map(l => l.replace(/#.*$/, '').trim()).filter(Boolean)
  return dedupe({ user: lines })
}

export function loadTaxonomy (file = TAXONOMY_FILE): Taxonomy {
  let text: string
  try { text = readFileSync(file, 'utf8') } catch (e) { throw new Error(`--topics-file ${file}: ${(e as Error).message}`) }
  const t = parseTaxonomy(text, file)
  if (Object.keys(t).length === 0) throw new Error(`${file}: no topics in it (one topic a line, or areas: {area: [topics]})`)
  return t
}

export function countTopics (t: Taxonomy): number { return Object.values(t).reduce((n, l) => n + l.length, 0) }

/**
 * N topics: areas in a seeded order, each area's leaves shuffled, then one from each area in turn, so a small N
 * still covers many areas. The same seed and taxonomy give the same list.
 */
export function sampleTopics (t: Taxonomy, n: number, seed: number): Topic[] {
  const total = countTopics(t)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--topics must be a whole number of at least 1 (got ${n})`)
  if (n > total) throw new Error(`--topics ${n}: there are only ${total} distinct topics to sample from; ask for at most ${total}, or pass --topics-file with more`)
  const random = seededRandom(seed)
  const queues = shuffled(Object.keys(t).sort(), random).map(area => ({ area, leaves: shuffled(t[area]!, random) }))
  const picked: Array<{ area: string, topic: string }> = []
  while (picked.length < n) {
    for (const q of queues) {
      const topic = q.leaves.shift()
      if (topic !== undefined && picked.length < n) picked.push({ area: q.area, topic })
    }
  }
  return withSlugs(picked)
}

/** Each topic's work folder name: area and topic, made unique with a counter. */
function withSlugs (list: Array<{ area: string, topic: string }>): Topic[] {
  const used = new Set<string>()
  return list.map(({ area, topic }) => {
    const base = `${slugify(area, 24)}-${slugify(topic)}`
    let s = base
    for (let i = 2; used.has(s); i++) s = `${base}-${i}`
    used.add(s)
    return { slug: s, area, topic }
  })
}

/**
 * The run's topic list: from the taxonomy (N sampled), or from the user's file (all of them in the file's order,
 * or N sampled when N is given).
 */
export function topicList (opts: { topics?: number, seed: number, topicsFile?: string }): TopicList {
  if (opts.topicsFile) {
    const t = loadTaxonomy(opts.topicsFile)
    const topics = opts.topics === undefined
      ? withSlugs(Object.entries(t).flatMap(([area, leaves]) => leaves.map(topic => ({ area, topic }))))
      : sampleTopics(t, opts.topics, opts.seed)
    return { source: opts.topicsFile, seed: opts.seed, requested: topics.length, topics }
  }
  const n = opts.topics ?? GENERATE_DEFAULTS.topics
  return { source: 'taxonomy', seed: opts.seed, requested: n, topics: sampleTopics(loadTaxonomy(), n, opts.seed) }
}
