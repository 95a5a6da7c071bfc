// The deterministic job list of the crash test, shared by the child that gets killed and the parent
// that replays it: batch 1 is committed before the kill, batch 2 is one large batch the kill interrupts.
import type { RepoSnapshot, RepoUpdate } from '../../src/merge/types.js'
import { commit, SPACE_A } from './helpers.js'

export type CrashOp = { kind: 'update'; u: RepoUpdate } | { kind: 'replace'; s: RepoSnapshot }

export const CRASH_SPACE = SPACE_A
const AUTHORS = Array.from({ length: 12 }, (_, i) => `did:plc:crash${String(i).padStart(4, '0')}`)

function records(author: number, count: number, version: number): RepoSnapshot['records'] {
  return Array.from({ length: count }, (_, i) => ({
    collection: i % 3 === 0 ? 'com.example.like' : 'app.bsky.feed.post',
    rkey: `3k${String(i).padStart(8, '0')}`,
    cid: `bafycrash${author}x${i}v${version}`,
    value: {
      $type: 'app.bsky.feed.post',
      text: `author ${author} record ${i} version ${version}`,
      tags: ['a', 'b'],
    },
  }))
}

export function crashJobs(): { batch1: CrashOp[]; batch2: CrashOp[] } {
  // Batch 1: every author's first full fetch (small).
  const batch1: CrashOp[] = AUTHORS.map((author, a) => ({
    kind: 'replace',
    s: { ...commit(CRASH_SPACE, author, 100), records: records(a, 200, 1) },
  }))
  // Batch 2: a recovery of every author with many more records, then an incremental update on top.
  const batch2: CrashOp[] = []
  AUTHORS.forEach((author, a) => {
    batch2.push({ kind: 'replace', s: { ...commit(CRASH_SPACE, author, 200), records: records(a, 2000, 2) } })
    batch2.push({
      kind: 'update',
      u: {
        ...commit(CRASH_SPACE, author, 201),
        since: commit(CRASH_SPACE, author, 200).rev,
        upserts: [
          { collection: 'app.bsky.feed.post', rkey: 'zzlast', cid: `bafylast${a}`, value: { last: a } },
        ],
        deletes: [{ collection: 'app.bsky.feed.post', rkey: '3k00000001' }],
      },
    })
  })
  return { batch1, batch2 }
}
