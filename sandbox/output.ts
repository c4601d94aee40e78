// Observation post-processing as MLGym does it (empty lines and progress-bar lines dropped), plus a cap that
// says where it cut.

/**
 * Whether a line holds a tqdm bar, as MLGym's `(?:.*?:\s*)?(\d+%\|.*?\|.*\[.*?\])` finds one: a digit, `%|`, a
 * later `|`, then `[` and a later `]`. The earliest of each is the best choice, so one pass decides; the regex
 * backtracks over every start and took minutes on a 300 KB line.
 */
export function isProgressBar (line: string): boolean {
  let p = line.indexOf('%|')
  while (p > 0 && !(line.charCodeAt(p - 1) >= 48 && line.charCodeAt(p - 1) <= 57)) p = line.indexOf('%|', p + 1)
  if (p <= 0) return false
  const bar = line.indexOf('|', p + 2)
  const open = bar < 0 ? -1 : line.indexOf('[', bar + 1)
  return open >= 0 && line.indexOf(']', open + 1) >= 0
}

export interface Processed { text: string, truncated: boolean }

export function postprocess (raw: string, opts: { cap?: number, droppedChars?: number } = {}): Processed {
  // Python's str.splitlines() boundaries, so lines split exactly where MLGym splits them.
  const lines = raw.split(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/).filter(l => l !== '' && !isProgressBar(l))
  let text = lines.join('\n')
  let dropped = opts.droppedChars ?? 0
  if (opts.cap !== undefined && text.length > opts.cap) {
    dropped += text.length - opts.cap
    text = text.slice(0, opts.cap)
  }
  if (dropped > 0) text += `\n[output truncated: ${dropped} more characters were not shown; redirect long output to a file and read it with head, tail or search_file]`
  return { text, truncated: dropped > 0 }
}
