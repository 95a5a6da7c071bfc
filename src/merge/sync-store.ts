/**
 * What the crawler needs from the merged-view store: read a repo's verified state, land verified
 * updates and snapshots, record repo and account status, and space lifecycle. The MergeStore satisfies
 * it in-process; a remote implementation (store-rpc) lets crawler processes that cannot open the
 * embedded engine themselves write through the one process that holds it.
 */
import type { MergeStore } from './store.js'

export type SyncStore = Pick<
  MergeStore,
  | 'getRepoState'
  | 'applyRepoUpdate'
  | 'replaceRepo'
  | 'setRepoStatus'
  | 'setAccountStatus'
  | 'upsertSpace'
  | 'getSpace'
  | 'deleteSpace'
  | 'setAccessSnapshot'
>
