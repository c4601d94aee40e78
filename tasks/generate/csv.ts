// RFC 4180 CSV, as Python's csv module writes it: what the checks read of the materialised data (ids, targets,
// columns) and the submissions they write. Small files only (a task's test set), all in memory.

export interface Table { header: string[], rows: string[][] }

export function parseCsv (text: string): Table {
  const records: string[][] = []
  let field = ''
  let record: string[] = []
  let quoted = false
  let i = 0
  const end = () => { record.push(field); field = ''; records.push(record); record = [] }
  while (i < text.length) {
    const c = text[i]!
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue }
        quoted = false
      } else field += c
      i++
      continue
    }
    if (c === '"' && field === '') quoted = true
    else if (c === ',') { record.push(field); field = '' } else if (c === '\n') end()
    else if (c === '\r') { if (text[i + 1] !== '\n') end() } else field += c
    i++
  }
  if (field !== '' || record.length) end()
  const [header = [], ...rows] = records.filter(r => !(r.length === 1 && r[0] === ''))
  return { header, rows }
}

const cell = (v: string) => /[",\n\r]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v

export function writeCsv (t: Table): string {
  return [t.header, ...t.rows].map(r => r.map(cell).join(',')).join('\n') + '\n'
}

/** One column's values; throws naming the columns there are when it is missing. */
export function column (t: Table, name: string, file = 'the file'): string[] {
  const i = t.header.indexOf(name)
  if (i < 0) throw new Error(`${file} has no column ${name} (columns: ${t.header.join(', ')})`)
  return t.rows.map(r => r[i] ?? '')
}
