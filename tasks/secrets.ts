// The hidden files of the served tasks on the host. They are made owner-only, so no agent uid reads them wherever
// the task lives (evaluations get copies of their own: sandbox Mount.secret); and a server refuses them where the
// local sandbox binds them into its view and the agent's uid could still read them (a server that is not root runs
// its agents as its own uid), and refuses a sandbox folder inside such a view.
import { chmodSync, existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { agentHostIds } from '../sandbox/policy.js'
import { hostPath, type Task } from './registry.js'

/** A hidden file inside a folder every local sandbox sees, readable there by the agent's uid. */
export interface ExposedSecret { task: string, file: string, bind: string }

const inside = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith('/') ? dir : dir + '/')
const real = (p: string) => { try { return realpathSync(p) } catch { return p } }

/** The host paths of a task's hidden files, folders with everything below them. */
function secretPaths (task: Task): string[] {
  const walk = (p: string): string[] => {
    if (!existsSync(p)) return []
    return lstatSync(p).isDirectory() ? [p, ...readdirSync(p).flatMap(n => walk(join(p, n)))] : [p]
  }
  return (task.spec.secret_files ?? []).flatMap(p => walk(real(hostPath(task, p))))
}

/**
 * Owner-only modes for every hidden file (0600, folders 0700), and for a folder that holds nothing else (secret/),
 * so that not even its names can be listed. A file the server may not change keeps its mode (exposedSecrets says
 * where that matters).
 */
export function protectSecrets (tasks: Task[]): void {
  for (const task of tasks) {
    const paths = new Set(secretPaths(task))
    const parents = new Set([...paths].map(p => dirname(p)).filter(d => d !== real(task.root) && !paths.has(d)))
    for (const d of parents) if (readdirSync(d).every(n => paths.has(join(d, n)))) paths.add(d)
    for (const p of paths) {
      try {
        const st = statSync(p)
        const want = st.mode & (st.isDirectory() ? 0o700 : 0o600)
        if ((st.mode & 0o777) !== want) chmodSync(p, want)
      } catch {}
    }
  }
}

/** Whether the agent's host ids may read `file` (without root the agent is the server's own uid: it may). */
function agentReads (file: string): boolean {
  const ids = agentHostIds()
  if (!ids) return true
  const st = statSync(file)
  const bit = st.uid === ids.uid ? 0o400 : st.gid === ids.gid ? 0o040 : 0o004
  return (st.mode & bit) !== 0
}

/** The tasks' hidden files an agent could read through the folders in `binds` (after protectSecrets). */
export function exposedSecrets (tasks: Task[], binds: string[]): ExposedSecret[] {
  const dirs = binds.map(real)
  const out: ExposedSecret[] = []
  for (const task of tasks) {
    for (const file of secretPaths(task)) {
      const bind = dirs.find(d => inside(file, d))
      if (bind && !statSync(file).isDirectory() && agentReads(file)) out.push({ task: task.spec.id, file, bind })
    }
  }
  return out
}

/** Why a server must not start with these tasks and its sandboxes in `sandboxDir` (null: nothing exposed). */
export function secretsProblem (tasks: Task[], binds: string[], sandboxDir: string): string | null {
  const dirs = binds.map(real)
  const sandboxes = real(existsSync(sandboxDir) ? sandboxDir : dirname(sandboxDir))
  const holding = dirs.find(d => inside(sandboxes, d))
  if (holding) {
    return `the sandbox folder ${sandboxDir} is inside ${holding}, which every local sandbox sees: agents could read ` +
      'each other\'s files and the hidden files their evaluations get. Give the server a --data-dir outside ' +
      `${binds.join(', ')}`
  }
  protectSecrets(tasks)
  const exposed = exposedSecrets(tasks, binds)
  if (exposed.length === 0) return null
  const e = exposed[0]!
  const more = exposed.length > 1 ? ` (and ${exposed.length - 1} more hidden file(s))` : ''
  const why = agentHostIds() ? 'its mode lets the agent\'s uid read it and the server may not change that'
    : 'a server that is not root runs its agents as its own uid, which reads it'
  return `task ${e.task}'s hidden file ${e.file} is inside ${e.bind}, which every local sandbox sees read-only, and ` +
    `${why}${more}. Move the task directory outside ${binds.join(', ')} (e.g. under /srv or a home folder), or run ` +
    'the server as root (it keeps hidden files owner-only, out of the agents\' uid)'
}
