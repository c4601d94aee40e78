// Files under a sandbox's home, read and written by the server (root, as a rule) while the agent may be changing
// that very tree. Every component is opened with O_NOFOLLOW relative to the directory opened before it
// (`/proc/self/fd/<dir>/<name>`, an openat), and symbolic links are followed by reading them and resolving their
// text here, inside the home: a link the agent swaps in between a check and an open cannot take the server to a
// host path. FIFOs, sockets and devices are refused at open time (O_NONBLOCK), so none can hang the server.
import { constants } from 'node:fs'
import { open, mkdir, readFile, readdir, readlink, stat, type FileHandle } from 'node:fs/promises'
import { join, posix } from 'node:path'
import { AGENT_HOME } from './types.js'

const { O_RDONLY, O_WRONLY, O_CREAT, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants
const MAX_LINKS = 40

export interface Owner { uid: number, gid: number }

/** A refused path: outside the home through a link, not a regular file, too big. */
export class HomePathError extends Error {
  constructor (message: string, readonly code: string) { super(message) }
}

const at = (dir: FileHandle, name: string) => `/proc/self/fd/${dir.fd}/${name}`

const WORDS: Record<string, string> = {
  ENOENT: 'No such file or directory', EACCES: 'Permission denied', EPERM: 'Operation not permitted', EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory', ENXIO: 'not a regular file (a FIFO, socket or device is never opened)', ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system', ENAMETOOLONG: 'File name too long', EFBIG: 'File too large', EDQUOT: 'Disk quota exceeded'
}

/** A system error as the client's path and its words (never our /proc/self/fd path), its code kept. */
function described (e: unknown, shown: string): Error {
  if (e instanceof HomePathError) return e
  const code = errno(e)
  return code ? new HomePathError(`${shown}: ${WORDS[code] ?? code}`, code) : e as Error
}

function errno (e: unknown): string | undefined { return (e as NodeJS.ErrnoException)?.code }

/**
 * Walks `parts` (relative to `root`) and returns the open parent directory of the last part and that part's
 * name, every link resolved inside the root. `create` makes missing directories, owned by `owner`.
 */
async function walk (root: string, parts: string[], shown: string, create: boolean, owner: Owner | null): Promise<{ dir: FileHandle, name: string, parts: string[] }> {
  let links = 0
  // the parts still to walk; a link met on the way puts its target's parts in front, and the walk starts again
  let rest = [...parts]
  for (;;) {
    let dir = await open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
    const done: string[] = []
    let restart = false
    try {
      while (rest.length > 1) {
        const name = rest[0]!
        let next: FileHandle | null = null
        try { next = await open(at(dir, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW) } catch (e) {
          const code = errno(e)
          if (code === 'ENOENT' && create) {
            await mkdir(at(dir, name), { mode: 0o755 }).catch(err => { if (errno(err) !== 'EEXIST') throw err })
            next = await open(at(dir, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            if (owner) await next.chown(owner.uid, owner.gid)
          } else if (code === 'ELOOP' || code === 'ENOTDIR') {
            const target = await readlink(at(dir, name)).catch(() => null)
            if (target === null) throw new HomePathError(`${shown}: ${[...done, name].join('/')} is not a directory`, 'ENOTDIR')
            if (++links > MAX_LINKS) throw new HomePathError(`${shown}: too many levels of symbolic links`, 'ELOOP')
            rest = resolveLink(done, target, rest.slice(1), shown)
            restart = true
            break
          } else throw e
        }
        await dir.close()
        dir = next!
        done.push(name)
        rest = rest.slice(1)
      }
    } catch (e) { await dir.close(); throw e }
    if (restart) { await dir.close(); continue }
    if (rest.length === 0) { await dir.close(); throw new HomePathError(`${shown}: is the sandbox's home itself`, 'EISDIR') }
    // the last part may itself be a link (to a file or dir inside the home)
    const name = rest[0]!
    const target = await readlink(at(dir, name)).catch(() => null)
    if (target === null) return { dir, name, parts: [...done, name] }
    await dir.close()
    if (++links > MAX_LINKS) throw new HomePathError(`${shown}: too many levels of symbolic links`, 'ELOOP')
    rest = resolveLink(done, target, [], shown)
  }
}

/**
 * The parts a link at `done/<link>` with `target` leads to, then `rest`, relative to the root, which is the
 * sandbox's /home/agent (absolute targets are read as sandbox paths). A link that leaves the root is refused.
 */
function resolveLink (done: string[], target: string, rest: string[], shown: string): string[] {
  const start = target.startsWith('/') ? null : done
  let parts: string[]
  if (start === null) {
    const rel = posix.relative(AGENT_HOME, posix.normalize(target))
    if (rel === '') parts = []
    else if (rel.startsWith('..')) throw new HomePathError(`${shown}: a symbolic link leads outside ${AGENT_HOME}`, 'EACCES')
    else parts = rel.split('/')
  } else parts = [...start]
  for (const p of (start === null ? [] : target.split('/'))) {
    if (p === '' || p === '.') continue
    if (p === '..') {
      if (parts.length === 0) throw new HomePathError(`${shown}: a symbolic link leads outside ${AGENT_HOME}`, 'EACCES')
      parts.pop()
    } else parts.push(p)
  }
  return [...parts, ...rest]
}

export function splitRelative (rel: string): string[] {
  return rel.split('/').filter(p => p !== '' && p !== '.')
}

/** Reads a regular file under `root` (at most `cap` bytes; a bigger one is refused). */
export async function readUnder (root: string, rel: string, shown: string, cap: number): Promise<Buffer> {
  try { return await readIn(root, rel, shown, cap) } catch (e) { throw described(e, shown) }
}

async function readIn (root: string, rel: string, shown: string, cap: number): Promise<Buffer> {
  const { dir, name } = await walk(root, splitRelative(rel), shown, false, null)
  let fh: FileHandle
  try { fh = await open(at(dir, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK) } finally { await dir.close() }
  try {
    const st = await fh.stat()
    if (st.isDirectory()) throw new HomePathError(`${shown}: is a directory`, 'EISDIR')
    if (!st.isFile()) throw new HomePathError(`${shown}: not a regular file (a FIFO, socket or device is never read)`, 'EINVAL')
    if (st.size > cap) throw new HomePathError(`${shown}: ${st.size} bytes, over the ${cap} bytes one read may take; read it in parts (head, tail, split)`, 'EFBIG')
    const buf = Buffer.alloc(st.size)
    let got = 0
    while (got < st.size) {
      const { bytesRead } = await fh.read(buf, got, st.size - got, got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    return buf.subarray(0, got)
  } finally { await fh.close() }
}

/** Writes a regular file under `root` (made, or replaced in place), parents made, everything owned by `owner`. */
export async function writeUnder (root: string, rel: string, shown: string, data: string | Buffer, opts: { mode?: number, owner: Owner | null }): Promise<void> {
  try { await writeIn(root, rel, shown, data, opts) } catch (e) { throw described(e, shown) }
}

async function writeIn (root: string, rel: string, shown: string, data: string | Buffer, opts: { mode?: number, owner: Owner | null }): Promise<void> {
  const { dir, name } = await walk(root, splitRelative(rel), shown, true, opts.owner)
  let fh: FileHandle
  try {
    fh = await open(at(dir, name), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, opts.mode ?? 0o644)
  } catch (e) {
    if (errno(e) === 'ENXIO' || errno(e) === 'EISDIR') throw new HomePathError(`${shown}: not a regular file (a FIFO, socket or directory is never written)`, 'EINVAL')
    throw e
  } finally { await dir.close() }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new HomePathError(`${shown}: not a regular file (a FIFO, socket or device is never written)`, 'EINVAL')
    await fh.truncate(0)
    await fh.writeFile(data)
    if (opts.mode !== undefined) await fh.chmod(opts.mode)
    if (opts.owner) await fh.chown(opts.owner.uid, opts.owner.gid)
  } finally { await fh.close() }
}

/** Copies a trusted host file or tree to `rel` under `root`, as writeUnder does for each file. */
export async function copyUnder (root: string, rel: string, shown: string, hostPath: string, opts: { mode?: number, owner: Owner | null }): Promise<void> {
  const st = await stat(hostPath)
  if (st.isDirectory()) {
    const entries = await readdir(hostPath)
    if (entries.length === 0) await makeDirUnder(root, rel, shown, opts.owner)
    for (const n of entries) await copyUnder(root, posix.join(rel, n), posix.join(shown, n), join(hostPath, n), { owner: opts.owner })
    return
  }
  if (st.isFile()) await writeUnder(root, rel, shown, await readFile(hostPath), { mode: opts.mode ?? (st.mode & 0o777), owner: opts.owner })
}

/** Makes the directory `rel` under `root` and its parents (owned by `owner`), following no link out of it. */
export async function makeDirUnder (root: string, rel: string, shown: string, owner: Owner | null): Promise<void> {
  // the directory is made as the parent of a name that is then never opened
  try {
    const { dir } = await walk(root, [...splitRelative(rel), '.none'], shown, true, owner)
    await dir.close()
  } catch (e) { throw described(e, shown) }
}
