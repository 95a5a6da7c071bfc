/**
 * What every store of this process on one embedded database shares: the exact catalog (catalog.ts), the
 * view cache (view-cache.ts) and the repo commits known exactly (exact-commits.ts). One process holds an
 * embedded data directory, so together the stores of this
 * process see every write to it; sharing these objects lets each store's writes invalidate the others'
 * reads (tests open several stores on one database).
 *
 * Reference-counted: made when the first store opens the database, dropped when the last one closes.
 */
import { resolve } from 'node:path'
import { Catalog } from './catalog.js'
import { ExactCommits } from './exact-commits.js'
import { ViewCache } from './view-cache.js'

export interface DatabaseShared {
  catalog: Catalog
  views: ViewCache
  exact: ExactCommits
}

const held = new Map<string, { shared: DatabaseShared; refs: number }>()

/** The shared objects of embedded database `database` in `path`; call `release` once, when the store closes. */
export function acquireDatabaseShared(
  path: string,
  database: string,
): { shared: DatabaseShared; release: () => void } {
  const key = `${resolve(path)}\n${database}`
  let entry = held.get(key)
  if (entry === undefined) {
    entry = {
      shared: { catalog: new Catalog(true, Infinity), views: new ViewCache(0), exact: new ExactCommits() },
      refs: 0,
    }
    held.set(key, entry)
  }
  entry.refs++
  const mine = entry
  let released = false
  return {
    shared: mine.shared,
    release: () => {
      if (released) return
      released = true
      if (--mine.refs === 0) held.delete(key)
    },
  }
}
