// Tar archives for moving files in and out of containers (putArchive / getArchive).
import tar from 'tar-stream'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, posix } from 'node:path'
import type { Readable } from 'node:stream'

/** `groupRead`: read-only for owner and group whatever the host's modes (hidden files, owner-only on the host) */
export interface Owner { uid: number, gid: number, readOnly?: boolean, groupRead?: boolean }

type Pack = ReturnType<typeof tar.pack>

function mode (m: number, o: Owner, dir: boolean): number {
  if (o.groupRead) return dir ? 0o550 : 0o440
  // a read-only copy is root's, read by the agent's uid: what the agent kept to itself (0600) must stay readable
  return o.readOnly ? (m & ~0o222) | (dir ? 0o555 : 0o444) : m
}

/** Adds a host file or directory (recursively) under `name` (a path without leading slash). */
export function addHostPath (pack: Pack, hostPath: string, name: string, owner: Owner): void {
  const st = statSync(hostPath)
  if (st.isDirectory()) {
    pack.entry({ name, type: 'directory', mode: mode(st.mode & 0o7777, owner, true), uid: owner.uid, gid: owner.gid })
    for (const n of readdirSync(hostPath)) addHostPath(pack, join(hostPath, n), posix.join(name, n), owner)
  } else if (st.isFile()) {
    pack.entry({ name, mode: mode(st.mode & 0o7777, owner, false), uid: owner.uid, gid: owner.gid, size: st.size }, readFileSync(hostPath))
  }
}

/** Parent directories of `name` as entries, so the archive can be put at `/`. */
export function addDirs (pack: Pack, dirs: { name: string, owner: Owner, mode?: number }[]): void {
  for (const d of dirs) pack.entry({ name: d.name, type: 'directory', mode: d.mode ?? 0o755, uid: d.owner.uid, gid: d.owner.gid })
}

export function newPack (): Pack { return tar.pack() }

/** The first regular file of a tar stream; one over `cap` bytes (or anything but a regular file) is refused. */
export function firstFile (stream: Readable, cap = Infinity): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const ex = tar.extract()
    let found: Buffer | null = null
    ex.on('entry', (header, body, next) => {
      if (!found && header.type !== 'file') {
        ex.destroy()
        reject(new Error(header.type === 'directory' ? 'is a directory' : 'not a regular file (a FIFO, socket or device is never read)'))
        return
      }
      if (!found && (header.size ?? 0) > cap) {
        ex.destroy()
        reject(new Error(`${header.size} bytes, over the ${cap} bytes one read may take; read it in parts (head, tail, split)`))
        return
      }
      const chunks: Buffer[] = []
      body.on('data', (c: unknown) => { if (!found && header.type === 'file') chunks.push(c as Buffer) })
      body.on('end', () => { if (!found && header.type === 'file') found = Buffer.concat(chunks); next() })
      body.resume()
    })
    ex.on('finish', () => found ? resolve(found) : reject(new Error('no file in the archive')))
    ex.on('error', reject)
    stream.pipe(ex)
  })
}

/** Re-packs a tar stream with every entry owned by `owner` (read-only when asked); paths stay as they are. */
export function repack (stream: Readable, owner: Owner): Pack {
  const ex = tar.extract()
  const out = tar.pack()
  ex.on('entry', (header, body, next) => {
    const h = { ...header, uid: owner.uid, gid: owner.gid, mode: mode(header.mode ?? 0o644, owner, header.type === 'directory') }
    body.pipe(out.entry(h, err => next(err ?? undefined)))
  })
  ex.on('finish', () => out.finalize())
  ex.on('error', e => out.destroy(e))
  stream.pipe(ex)
  return out
}
