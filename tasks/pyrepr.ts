// Python's repr of a metrics dict, so observations read exactly as MLGym prints `{metrics}`.
// Numbers keep the int/float kind they had in the JSON text the evaluation printed.

export type PyValue = number | string | boolean | null | PyFloat | PyValue[] | { [k: string]: PyValue }
/** a JSON number written with a '.' or an exponent: Python parses it as float */
export class PyFloat { constructor (public value: number) {} toJSON (): number { return this.value } }

const TAG = '\uE000pyfloat:'

/** JSON.parse that remembers which numbers were floats (float tokens are tagged as strings, then revived). */
export function parsePyJson (text: string): PyValue {
  let out = ''
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (inString) {
      out += c
      if (c === '\\') { out += text[++i] ?? ''; continue }
      if (c === '"') inString = false
      continue
    }
    if (c === '"') { inString = true; out += c; continue }
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
    if (m && (c === '-' || (c >= '0' && c <= '9'))) {
      out += m[1] || m[2] ? `"${TAG}${m[0]}"` : m[0]
      i += m[0].length - 1
      continue
    }
    out += c
  }
  return JSON.parse(out, (_k, v) => typeof v === 'string' && v.startsWith(TAG) ? new PyFloat(Number(v.slice(TAG.length))) : v) as PyValue
}

export function floatRepr (x: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0'
  // JS and Python both print the shortest round-tripping digits; only the layout differs.
  const [mant, expStr] = x.toExponential().split('e') as [string, string]
  const exp = Number(expStr)
  const sign = mant.startsWith('-') ? '-' : ''
  const digits = mant.replace('-', '').replace('.', '')
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`
    const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0')
    const frac = digits.slice(exp + 1)
    return `${sign}${int}.${frac || '0'}`
  }
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits
  return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
}

function strRepr (s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'"
  let out = ''
  for (const ch of s) {
    if (ch === q || ch === '\\') out += '\\' + ch
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) out += '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0')
    else out += ch
  }
  return q + out + q
}

export function pyRepr (v: PyValue | undefined): string {
  if (v === null || v === undefined) return 'None'
  if (v instanceof PyFloat) return floatRepr(v.value)
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : floatRepr(v)
  if (typeof v === 'boolean') return v ? 'True' : 'False'
  if (typeof v === 'string') return strRepr(v)
  if (Array.isArray(v)) return '[' + v.map(pyRepr).join(', ') + ']'
  return '{' + Object.entries(v).map(([k, x]) => `${strRepr(k)}: ${pyRepr(x)}`).join(', ') + '}'
}

/** Plain JSON numbers again (for results.json, the store, the wire). */
export function plain (v: PyValue): unknown {
  return JSON.parse(JSON.stringify(v))
}
