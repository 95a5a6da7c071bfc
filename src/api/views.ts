/**
 * Store rows → lexicon views (dev.spaceview.defs). Pure functions.
 *
 * Invariant: a view carries only what its lexicon defines — record content appears in `recordView` and
 * nowhere else; policy views name the managing app but never list members.
 */
import { readAppAccess, readPolicy } from '../acl-filter/space-policy.js'
import type { Decision } from '../acl-filter/decision.js'
import type { AccessSnapshot, RepoState, StoredRecord } from '../merge/index.js'
import type { SpaceRef } from '../protocol/space-uri.js'
import { once } from './json-body.js'
import type {
  AccessView,
  PolicyView,
  RecordView,
  SpaceView,
  WriterState,
  WriterStatus,
  WritersSummary,
} from './types.js'

export function recordView(r: StoredRecord): RecordView {
  return {
    uri: r.uri,
    cid: r.cid,
    author: r.author,
    collection: r.collection,
    rkey: r.rkey,
    rev: r.rev,
    value: r.value,
    indexedAt: r.indexedAt,
  }
}

/**
 * The views of a page's records. A page from the store's view cache is the same array for every request
 * that hits its entry, so its views are built once and their JSON text is rendered once (json-body.ts).
 */
export function recordViews(records: readonly StoredRecord[]): RecordView[] {
  let views = pageViews.get(records)
  if (views === undefined) {
    views = once(records.map(recordView))
    pageViews.set(records, views)
  }
  return views
}

const pageViews = new WeakMap<readonly StoredRecord[], RecordView[]>()

export function policyView(access: AccessSnapshot | null, managedHere: boolean): PolicyView {
  const policy = readPolicy(access?.policy)
  const view: PolicyView = { kind: policy.kind, appAccess: readAppAccess(access?.appAccess).kind }
  if (policy.kind === 'managingApp') {
    view.managingApp = policy.managingApp
    view.managedHere = managedHere
  }
  return view
}

export function accessView(decision: Extract<Decision, { outcome: 'allow' }>): AccessView {
  return decision.until === undefined
    ? { reason: decision.reason }
    : { reason: decision.reason, until: new Date(decision.until).toISOString() }
}

export function spaceView(
  uri: string,
  ref: SpaceRef,
  decision: Extract<Decision, { outcome: 'allow' }>,
  access: AccessSnapshot | null,
  managedHere: boolean,
): SpaceView {
  return {
    uri,
    authority: ref.did,
    spaceType: ref.type,
    skey: ref.skey,
    access: accessView(decision),
    policy: policyView(access, managedHere),
  }
}

function writerState(r: RepoState): WriterState {
  if (r.hidden) return 'hidden'
  return r.status === 'active' ? 'synced' : r.status
}

export function writerStatus(r: RepoState, now = Date.now()): WriterStatus {
  const view: WriterStatus = {
    did: r.author,
    state: writerState(r),
    accountStatus: r.accountStatus,
    updatedAt: r.updatedAt,
    lagSeconds: Math.max(0, Math.floor((now - Date.parse(r.updatedAt)) / 1000)),
  }
  if (r.rev !== null) view.rev = r.rev
  return view
}

export function summarizeWriters(states: readonly RepoState[]): WritersSummary {
  const summary: WritersSummary = { total: states.length, synced: 0, recovering: 0, failed: 0, hidden: 0 }
  let last = ''
  for (const r of states) {
    const state = writerState(r)
    summary[state]++
    if (state === 'synced' && r.updatedAt > last) last = r.updatedAt
  }
  if (last !== '') summary.lastSyncedAt = last
  return summary
}
