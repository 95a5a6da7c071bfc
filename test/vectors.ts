/**
 * Loads the known-answer vectors from ../shared/spec/vectors at test time (they are never copied into
 * this repository). SPACEVIEW_VECTORS overrides the folder.
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

export const VECTORS_DIR = resolve(
  process.env.SPACEVIEW_VECTORS ?? join(process.cwd(), '..', 'shared', 'spec', 'vectors'),
)

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function loadVector(name: 'lthash' | 'commit' | 'repo-car' | 'listRepoOps'): any {
  return JSON.parse(readFileSync(join(VECTORS_DIR, `${name}.json`), 'utf8'))
}
