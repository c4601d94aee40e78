// The package root (the folder with package.json), found from this module whether it runs from source or dist/.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let root: string | undefined

export function packageRoot (): string {
  if (root === undefined) {
    let dir = dirname(fileURLToPath(import.meta.url))
    while (!existsSync(join(dir, 'package.json'))) {
      const up = dirname(dir)
      if (up === dir) throw new Error('synthgym: no package.json above ' + fileURLToPath(import.meta.url))
      dir = up
    }
    root = dir
  }
  return root
}
