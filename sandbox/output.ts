// Observation post-processing as MLGym does it (empty lines and progress-bar lines dropped), plus a cap that
// says where it cut.

const TQDM = /(?:.*?:\s*)?(\d+%\|.*?\|.*\[.*?\])/

export interface Processed { text: string, truncated: boolean }

export function postprocess (raw: string, opts: { cap?: number, droppedChars?: number } = {}): Processed {
  // Python's str.splitlines() boundaries, so lines split exactly where MLGym splits them.
  const lines = raw.split(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/).filter(l => l !== '' && !TQDM.test(l))
  let text = lines.join('\n')
  let dropped = opts.droppedChars ?? 0
  if (opts.cap !== undefined && text.length > opts.cap) {
    dropped += text.length - opts.cap
    text = text.slice(0, opts.cap)
  }
  if (dropped > 0) text += `\n[output truncated: ${dropped} more characters were not shown; redirect long output to a file and read it with head, tail or search_file]`
  return { text, truncated: dropped > 0 }
}
