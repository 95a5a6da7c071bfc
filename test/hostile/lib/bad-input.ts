/**
 * Bad-input scenarios: a host serves something forged, malformed or endless, and the crawler must reject it
 * with a typed reason and a metric, store nothing of it, and end the job cleanly (dead-lettered with its
 * reason, or — for divergence, which the protocol answers with a full re-sync — recovered from a verified
 * CAR). Two sources of hostility:
 *
 * - devnet's content faults, one writer at a time on a space that is already in sync: the writer gets new
 *   records first, so "nothing stored" is meaningful (the new records must not appear until the fault is
 *   gone), and after the fault is removed the repo must converge to ground truth;
 * - the hostile host (hostile-host.ts), one writer per forgery, crawled from scratch in its own space.
 */
import { expect } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { createServiceAuth } from '../../../src/protocol/service-auth.js'
import { encodeBase64 } from '../../../src/protocol/bytes.js'
import { identityKeyResolver } from '../../../src/acl-filter/key-resolver.js'
import {
  handleNotification,
  NOTIFY_SPACE_DELETED,
  NOTIFY_WRITE,
  type NotifyDeps,
} from '../../../src/crawler/notify-receiver.js'
import { jobId } from '../../../src/crawler/queues.js'
import { TidClock } from '../../../src/devnet/tid.js'
import type { Account } from '../../../src/devnet/accounts.js'
import type { FaultSpec } from '../../../src/devnet/faults.js'
import type { DeadLetter } from '../../../src/crawler/queues.js'
import { bytesEqual } from '../../../src/protocol/bytes.js'
import { lostAndForged, metricSum, waitFor, type Rig } from './rig.js'
import { delta } from './fault-scenarios.js'
import { tally } from './tally.js'
import {
  carReply,
  craftRepo,
  highS,
  recordBytes,
  repoCar,
  withCommit,
  type HostileHost,
  type Reply,
} from './hostile-host.js'
import { VerifiedTokens } from '../../../src/crawler/verified-tokens.js'

const GET_REPO = 'com.atproto.space.getRepo'
const LIST_REPO_OPS = 'com.atproto.space.listRepoOps'
const GET_RECORD = 'com.atproto.space.getRecord'
const POST = 'com.example.devnet.post'

/** Where the typed reason shows: a verification failure reason, or a host error class. */
export type Evidence =
  | { metric: 'spaceview_verification_failures_total'; reason: string }
  | { metric: 'spaceview_host_errors_total'; class: string }
  | { metric: 'spaceview_repo_syncs_total'; outcome: 'failed' | 'rejected' }

export interface DevnetBadInput {
  name: string
  fault: Omit<FaultSpec, 'space' | 'did'>
  /** Which job meets the fault: a full re-sync (getRepo) or an incremental one (listRepoOps). */
  via: 'recovery' | 'sync'
  /** dead: the job used up its attempts; healed: divergence answered by a verified full re-sync. */
  ends: 'dead' | 'healed'
  reason: string
  evidence: Evidence
}

const vf = (reason: string): Evidence => ({ metric: 'spaceview_verification_failures_total', reason })
const he = (cls: string): Evidence => ({ metric: 'spaceview_host_errors_total', class: cls })

export const DEVNET_BAD_INPUTS: DevnetBadInput[] = [
  {
    name: 'forged commit signature (getRepo)',
    fault: { kind: 'forgedSignature', methods: [GET_REPO] },
    via: 'recovery',
    ends: 'dead',
    reason: 'bad_signature',
    evidence: vf('bad_signature'),
  },
  {
    name: 'wrong MAC (getRepo)',
    fault: { kind: 'wrongMac', methods: [GET_REPO] },
    via: 'recovery',
    ends: 'dead',
    reason: 'bad_mac',
    evidence: vf('bad_mac'),
  },
  {
    name: 'index/hash mismatch (getRepo)',
    fault: { kind: 'indexHashMismatch', methods: [GET_REPO] },
    via: 'recovery',
    ends: 'dead',
    reason: 'index_hash_mismatch',
    evidence: vf('index_hash_mismatch'),
  },
  {
    name: 'record block CID mismatch (getRepo)',
    fault: { kind: 'recordCidMismatch', methods: [GET_REPO] },
    via: 'recovery',
    ends: 'dead',
    reason: 'block_cid_mismatch',
    evidence: vf('block_cid_mismatch'),
  },
  {
    name: 'truncated CAR (getRepo)',
    fault: { kind: 'truncatedCar' },
    via: 'recovery',
    ends: 'dead',
    reason: 'car_truncated',
    evidence: vf('car_truncated'),
  },
  {
    name: 'CAR bigger than the byte cap (streamed, no length)',
    fault: { kind: 'oversizedBody', bytes: 1024 * 1024, methods: [GET_REPO] },
    via: 'recovery',
    ends: 'dead',
    reason: 'too_large',
    evidence: he('too_large'),
  },
  {
    name: 'CAR block bigger than the block cap',
    fault: { kind: 'oversizedBody', bytes: 3 * 1024 * 1024, methods: [GET_REPO] },
    via: 'recovery',
    ends: 'dead',
    reason: 'car_too_large',
    evidence: vf('car_too_large'),
  },
  {
    name: 'forged commit signature (listRepoOps)',
    fault: { kind: 'forgedSignature', methods: [LIST_REPO_OPS] },
    via: 'sync',
    ends: 'dead',
    reason: 'bad_signature',
    evidence: vf('bad_signature'),
  },
  {
    name: 'tampered inline value and getRecord (CID mismatch)',
    fault: { kind: 'recordCidMismatch', methods: [LIST_REPO_OPS, GET_RECORD] },
    via: 'sync',
    ends: 'dead',
    reason: 'record_cid_mismatch',
    evidence: vf('record_cid_mismatch'),
  },
  {
    // The gap is the middle op of the batch: with two new ops that is the last one, so the rev check
    // (last op rev != commit rev) fires before the hash check would.
    name: 'oplog gap',
    fault: { kind: 'oplogGap' },
    via: 'sync',
    ends: 'healed',
    reason: 'ops_rev_mismatch',
    evidence: vf('ops_rev_mismatch'),
  },
  {
    name: 'since ahead of head',
    fault: { kind: 'sinceAheadOfHead' },
    via: 'sync',
    ends: 'healed',
    reason: 'since_ahead_of_head',
    evidence: vf('since_ahead_of_head'),
  },
  {
    // devnet's endless cursor ignores `since` and serves the log from the start: the first replayed op is
    // older than our rev, which is refused before the repeated cursor would be. Like the other oplog
    // divergences (gap, since ahead) that ends in a verified recovery from getRepo (README, "How a repo is
    // synced"), not a dead letter.
    name: 'listRepoOps endless cursor (replays the log)',
    fault: { kind: 'endlessCursor', methods: [LIST_REPO_OPS] },
    via: 'sync',
    ends: 'healed',
    reason: 'ops_out_of_order',
    evidence: vf('ops_out_of_order'),
  },
  {
    name: 'oversized JSON (listRepoOps past the 4 MiB cap)',
    fault: { kind: 'oversizedBody', bytes: 5 * 1024 * 1024, methods: [LIST_REPO_OPS] },
    via: 'sync',
    ends: 'dead',
    reason: 'too_large',
    evidence: he('too_large'),
  },
]

const EVIDENCE_COUNTERS: Array<[string, string]> = [
  ['spaceview_host_errors_total', 'class'],
  ['spaceview_verification_failures_total', 'reason'],
  ['spaceview_repo_syncs_total', 'outcome'],
  ['spaceview_job_dead_letters_total', 'queue'],
  ['spaceview_job_retries_total', 'queue'],
]

export async function snapshot(rig: Rig): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const [name, label] of EVIDENCE_COUNTERS) {
    for (const v of (await rig.metrics.registry.getSingleMetric(name)?.get())?.values ?? []) {
      const extra = v.labels.mode ? `,${String(v.labels.mode)}` : ''
      const key = `${name.replace(/^spaceview_|_total$/g, '')}{${String(v.labels[label])}${extra}}`
      out.set(key, (out.get(key) ?? 0) + v.value)
    }
  }
  return out
}

function evidenceLabels(e: Evidence): Record<string, string> {
  if (e.metric === 'spaceview_verification_failures_total') return { reason: e.reason }
  if (e.metric === 'spaceview_host_errors_total') return { class: e.class }
  return { outcome: e.outcome }
}

async function deadLetters(rig: Rig, repo: string, since: number): Promise<DeadLetter[]> {
  const jobs = await rig.crawler.queues['dead-letter'].getJobs(['waiting', 'prioritized', 'delayed'])
  return jobs
    .map((j) => j.data as DeadLetter)
    .filter((d) => (d.data as { repo?: string }).repo === repo && d.failedAt >= since)
}

/** Creates records through the writer's host (the real write path), so the host's head moves. */
export async function writeRecords(rig: Rig, space: string, account: Account, n: number, tag: string) {
  const host = rig.devnet.hostOf(account.did).origin
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${host}/xrpc/com.atproto.space.createRecord`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        space,
        repo: account.did,
        collection: POST,
        record: { $type: POST, text: `hostile ${tag} ${i}`, createdAt: new Date().toISOString() },
      }),
    })
    expect(res.status).toBe(200)
    await res.body?.cancel()
  }
}

/** Runs one devnet bad input against `writer` of `space` (a space already in sync). */
export async function runDevnetBadInput(rig: Rig, space: string, writer: Account, c: DevnetBadInput) {
  const { devnet, crawler, store } = rig
  const before = await snapshot(rig)
  const evBefore = await metricSum(rig.metrics, c.evidence.metric, evidenceLabels(c.evidence))
  const stateBefore = await store.getRepoState(space, writer.did)
  expect(stateBefore?.rev).toBeTruthy()
  const t0 = Date.now()
  await writeRecords(rig, space, writer, 2, c.name)
  const id = devnet.faults.add({ ...c.fault, space, did: writer.did } as FaultSpec)
  if (c.via === 'recovery') await crawler.enqueueRecovery(space, writer.did, 'manual')
  else await crawler.enqueueSync(space, writer.did, 'manual')

  let ended = false
  let letter: DeadLetter | undefined
  try {
    await waitFor(
      `${c.name}: job ends`,
      async () => {
        if (c.ends === 'dead') {
          letter = (await deadLetters(rig, writer.did, t0))[0]
          return letter !== undefined
        }
        const head = devnet.repoHead(space, writer.did)
        const now = await store.getRepoState(space, writer.did)
        return !!head && now?.rev === head.rev && !!now.commitHash && bytesEqual(now.commitHash, head.hash)
      },
      45_000,
    )
    ended = true
  } catch {
    // Asserted below.
  }
  const grew = (await metricSum(rig.metrics, c.evidence.metric, evidenceLabels(c.evidence))) - evBefore
  const stateAfter = await store.getRepoState(space, writer.did)
  // While the fault is on, nothing the faulty host sent may be in the merged view: the repo is either
  // untouched (dead) or exactly the host's verified head (healed), never something in between.
  const { forged } = await lostAndForged(store, devnet, [space])
  const untouched = stateAfter?.rev === stateBefore?.rev
  devnet.faults.remove(id)
  const evidence = delta(before, await snapshot(rig))
  const rejected = ended && grew >= 1 && forged === 0 && (c.ends === 'healed' || untouched)
  tally({ kind: 'bad_input', name: c.name, rejected, reason: c.reason, evidence })
  tally({ kind: 'forged_accepted', name: c.name, count: forged })

  // Once the host behaves, the repo converges: rejection cost nothing but time.
  await crawler.enqueueSync(space, writer.did, 'manual')
  let lost = -1
  await waitFor(
    `${c.name}: converges after the fault is removed`,
    async () => {
      const r = await lostAndForged(store, devnet, [space])
      lost = r.lost
      return r.lost === 0 && r.forged === 0
    },
    45_000,
    300,
  ).catch(() => undefined)
  tally({ kind: 'records_lost', name: c.name, count: Math.max(lost, 0) })

  expect({ ended, forged, untouched: c.ends === 'healed' || untouched }).toEqual({
    ended: true,
    forged: 0,
    untouched: true,
  })
  expect(grew).toBeGreaterThanOrEqual(1)
  if (letter) expect(letter.reason.length).toBeGreaterThan(0)
  expect(lost).toBe(0)
}

// ----------------------------------------------------------------------------- hostile-host forgeries

export interface HostileBadInput {
  name: string
  reason: string
  evidence: Evidence
  /** The getRepo answer for the writer (`did`, `keypair`, `space` given). */
  getRepo(w: {
    did: string
    keypair: import('@atproto/crypto').Secp256k1Keypair
    space: string
  }): Promise<Reply>
}

const REV = '3lzzzzzzzzz22'
const recs = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({
    path: `${POST}/${tag}${i}`,
    bytes: recordBytes({ $type: POST, text: `forged ${tag} ${i}` }),
  }))

function nested(depth: number): Uint8Array {
  // {"$type": POST, "n": [[[[...0...]]]]}
  const head = recordBytes({ $type: POST, n: 0 })
  const out = new Uint8Array(head.length - 1 + depth + 1)
  out.set(head.subarray(0, head.length - 1))
  out.fill(0x81, head.length - 1, head.length - 1 + depth)
  out[out.length - 1] = 0
  return out
}

export const HOSTILE_BAD_INPUTS: HostileBadInput[] = [
  {
    name: 'high-S commit signature',
    reason: 'bad_signature',
    evidence: vf('bad_signature'),
    async getRepo(w) {
      const repo = await craftRepo({ ...w, author: w.did, rev: REV, records: recs(2, 'h') })
      // Same signature, mirrored: s' = n - s verifies under a lenient verifier, never under ours.
      return carReply(repoCar(withCommit(repo, { ...repo.commit, sig: highS(repo.commit.sig) })))
    },
  },
  {
    name: 'missing record blocks',
    reason: 'missing_records',
    evidence: vf('missing_records'),
    async getRepo(w) {
      const repo = await craftRepo({ ...w, author: w.did, rev: REV, records: recs(3, 'm') })
      return carReply(repoCar(repo, [repo.commitBlock, repo.indexBlock, repo.records[0]!]))
    },
  },
  {
    name: 'extra block after the last record',
    reason: 'unexpected_block',
    evidence: vf('unexpected_block'),
    async getRepo(w) {
      const repo = await craftRepo({ ...w, author: w.did, rev: REV, records: recs(2, 'x') })
      const extra = (await craftRepo({ ...w, author: w.did, rev: REV, records: recs(1, 'y') })).records[0]!
      return carReply(repoCar(repo, [repo.commitBlock, repo.indexBlock, ...repo.records, extra]))
    },
  },
  {
    name: 'deeply nested CBOR record (100k levels)',
    reason: 'malformed_car',
    evidence: vf('malformed_car'),
    async getRepo(w) {
      const records = [{ path: `${POST}/deep`, bytes: nested(100_000) }]
      return carReply(repoCar(await craftRepo({ ...w, author: w.did, rev: REV, records })))
    },
  },
  {
    name: 'huge CBOR record (3 MiB block)',
    reason: 'car_too_large',
    evidence: vf('car_too_large'),
    async getRepo(w) {
      const records = [
        { path: `${POST}/huge`, bytes: recordBytes({ $type: POST, text: 'x'.repeat(3 << 20) }) },
      ]
      return carReply(repoCar(await craftRepo({ ...w, author: w.did, rev: REV, records })))
    },
  },
  {
    name: 'invalid UTF-8 in an index key',
    reason: 'malformed_index',
    evidence: vf('malformed_index'),
    async getRepo(w) {
      const path = `${POST}/bad\u00ff`
      const keyBytes = Uint8Array.from([...new TextEncoder().encode(`${POST}/bad`), 0xff])
      const records = [{ path, keyBytes, bytes: recordBytes({ $type: POST, text: 'utf8' }) }]
      return carReply(repoCar(await craftRepo({ ...w, author: w.did, rev: REV, records })))
    },
  },
  {
    name: 'invalid UTF-8 in a record map key',
    reason: 'malformed_car',
    evidence: vf('malformed_car'),
    async getRepo(w) {
      // {"$type": POST, "\xff": 1}: valid framing, valid CID, a key that is not UTF-8.
      const head = recordBytes({ $type: POST })
      const bytes = Uint8Array.from([0xa2, ...head.subarray(1), 0x61, 0xff, 0x01])
      return carReply(
        repoCar(await craftRepo({ ...w, author: w.did, rev: REV, records: [{ path: `${POST}/u8`, bytes }] })),
      )
    },
  },
  {
    name: 'invalid UTF-8 in a record string value',
    reason: 'malformed_car',
    evidence: vf('malformed_car'),
    async getRepo(w) {
      const head = recordBytes({ $type: POST })
      const bytes = Uint8Array.from([
        0xa2,
        ...head.subarray(1),
        0x64,
        ...new TextEncoder().encode('text'),
        0x62,
        0xc3,
        0x28,
      ])
      return carReply(
        repoCar(await craftRepo({ ...w, author: w.did, rev: REV, records: [{ path: `${POST}/u9`, bytes }] })),
      )
    },
  },
]

/**
 * Crawls the hostile host's space with one writer per forgery plus one honest writer (the control: its
 * records must arrive, so a crawler that stored nothing at all could not pass). Each forged repo must end
 * dead-lettered, marked failed with the expected reason, with nothing stored.
 */
export async function runHostileBadInputs(rig: Rig, host: HostileHost, cases: HostileBadInput[]) {
  const before = await snapshot(rig)
  const t0 = Date.now()
  const writers = new Map<string, HostileBadInput>()
  for (const [i, c] of cases.entries()) {
    const w = await host.addWriter(`case${i}`, async (nsid, params) =>
      nsid === GET_REPO
        ? c.getRepo({
            did: params.get('repo')!,
            keypair: host.writers.get(params.get('repo')!)!.keypair,
            space: host.space,
          })
        : undefined,
    )
    writers.set(w.did, c)
  }
  const control = await host.addWriter('control', async (nsid) => {
    if (nsid !== GET_REPO) return undefined
    const records = recs(3, 'ok')
    return carReply(
      repoCar(
        await craftRepo({
          space: host.space,
          author: control.did,
          keypair: control.keypair,
          rev: REV,
          records,
        }),
      ),
    )
  })
  await rig.addSpace(host.space)

  await waitFor(
    'every forged repo is dead-lettered and the control repo is stored',
    async () => {
      for (const did of writers.keys()) if ((await deadLetters(rig, did, t0)).length === 0) return false
      return (await rig.store.getRepoState(host.space, control.did))?.rev === REV
    },
    90_000,
    300,
  )

  const evidence = delta(before, await snapshot(rig))
  const stored = new Map<string, number>()
  let cursor: string | undefined
  do {
    const page = await rig.store.listRecords({
      space: host.space,
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    })
    for (const r of page.records) stored.set(r.author, (stored.get(r.author) ?? 0) + 1)
    cursor = page.cursor
  } while (cursor)
  const results: Array<{ name: string; reason: string; want: string; stored: number }> = []
  for (const [did, c] of writers) {
    const state = await rig.store.getRepoState(host.space, did)
    const reason = state?.reason ?? '(no state)'
    const n = stored.get(did) ?? 0
    const grew = evidence.includes(`{${c.reason}`)
    const rejected = n === 0 && state?.rev == null && reason.startsWith(c.reason) && grew
    tally({
      kind: 'bad_input',
      name: c.name,
      rejected,
      reason: c.reason,
      evidence: `repo status failed: ${reason}`,
    })
    tally({ kind: 'forged_accepted', name: c.name, count: n })
    results.push({ name: c.name, reason: reason.split(':')[0]!, want: c.reason, stored: n })
  }
  expect(stored.get(control.did)).toBe(3)
  expect(results).toEqual(results.map((r) => ({ ...r, reason: r.want, stored: 0 })))
  return evidence
}

// ------------------------------------------------------------------------ endless and looping listRepos

async function spaceLetters(rig: Rig, space: string, since: number): Promise<DeadLetter[]> {
  const jobs = await rig.crawler.queues['dead-letter'].getJobs(['waiting', 'prioritized', 'delayed'])
  return jobs
    .map((j) => j.data as DeadLetter)
    .filter(
      (d) =>
        d.queue === 'space-bootstrap' &&
        (d.data as { space?: string }).space === space &&
        d.failedAt >= since,
    )
}

let fresh = 0
const freshDid = () =>
  `did:plc:${(fresh++)
    .toString(32)
    .padStart(24, 'a')
    .replace(/[^a-z2-7]/g, 'a')}`

export const LIST_REPOS_CASES: Array<{
  name: string
  reason: string
  message: RegExp
  listRepos: (limit: number, cursor: string | null) => Reply
}> = [
  {
    // Full pages of fresh writers and a fresh cursor each time: only the writer-set cap ends it.
    name: 'listRepos that never ends',
    reason: 'page_limit',
    message: /too many pages/,
    listRepos: (limit) => {
      const repos = Array.from({ length: limit }, () => ({
        did: freshDid(),
        rev: '3lzzzzzzzzz22',
        hash: { $bytes: Buffer.alloc(32, 1).toString('base64') },
      }))
      return { status: 200, json: { repos, cursor: repos.at(-1)!.did } }
    },
  },
  {
    name: 'listRepos cursor that loops (A, B, A, ...)',
    reason: 'cursor_loop',
    message: /cursor/,
    listRepos: (limit, cursor) => {
      const repos = Array.from({ length: limit }, (_, i) => ({
        did: `did:plc:${String(i)
          .padStart(24, 'b')
          .replace(/[^a-z2-7]/g, 'c')}`,
        rev: '3lzzzzzzzzz22',
        hash: { $bytes: Buffer.alloc(32, 1).toString('base64') },
      }))
      return {
        status: 200,
        json: { repos, cursor: cursor === 'did:plc:loopa' ? 'did:plc:loopb' : 'did:plc:loopa' },
      }
    },
  },
]

/** Each case is a hostile space host; its space's bootstrap must end (dead-lettered) in bounded time. */
export async function runListReposCase(rig: Rig, host: HostileHost, c: (typeof LIST_REPOS_CASES)[number]) {
  const before = await snapshot(rig)
  const t0 = Date.now()
  let requests = 0
  host.listRepos = (_nsid, params) => {
    requests++
    return c.listRepos(Number(params.get('limit') ?? 100), params.get('cursor'))
  }
  await rig.addSpace(host.space)
  let letter: DeadLetter | undefined
  await waitFor(
    `${c.name}: bootstrap gives up`,
    async () => {
      letter = (await spaceLetters(rig, host.space, t0))[0]
      return letter !== undefined
    },
    90_000,
    300,
  )
  const evidence = `${delta(before, await snapshot(rig))} listRepos requests=${requests}`
  const { records } = await rig.store.listRecords({ space: host.space, limit: 10 })
  const rejected = c.message.test(letter!.reason) && records.length === 0
  tally({ kind: 'bad_input', name: c.name, rejected, reason: c.reason, evidence })
  tally({ kind: 'forged_accepted', name: c.name, count: records.length })
  expect(letter!.reason).toMatch(c.message)
  expect(records).toEqual([])
  return requests
}

// ---------------------------------------------------------------------------- inbound notifications

/**
 * notifyWrite / notifySpaceDeleted with missing, malformed or wrong service auth, and oversized or broken
 * bodies: refused (4xx), counted as rejected, no job queued, the space untouched. A correctly signed
 * notifyWrite is accepted (the control that shows the refusals are not a broken receiver).
 */
export async function runNotifyCases(rig: Rig, space: string, authority: Account, writer: Account) {
  const { serviceId } = rig.devnet.publishSyncer('http://127.0.0.1:9', 'hostile-syncer')
  const deps: NotifyDeps = {
    serviceId,
    resolveKey: identityKeyResolver(rig.ctx.identity),
    // As in production: notifyWrite signatures that verified once are remembered (verified-tokens.ts).
    verifiedTokens: new VerifiedTokens(),
    store: rig.store,
    metrics: rig.metrics,
    isSynced: (s) => rig.ctx.sessions.hasSpace(s),
    enqueueSync: (s, r, at) => rig.crawler.enqueueSync(s, r, 'notify', at),
    spaceDeleted: (s) => rig.crawler.spaceDeleted(s),
  }
  const clock = new TidClock(3)
  const authKey = await rig.devnet.accounts.keypair(authority)
  const writerKey = await rig.devnet.accounts.keypair(writer)
  const jwt = (o: { iss?: string; key?: typeof authKey; aud?: string; lxm?: string; now?: number }) =>
    createServiceAuth({
      keypair: o.key ?? authKey,
      iss: o.iss ?? authority.did,
      aud: o.aud ?? serviceId,
      lxm: o.lxm ?? NOTIFY_WRITE,
      ...(o.now === undefined ? {} : { now: o.now }),
    })
  const body = (repo: string) =>
    new TextEncoder().encode(
      JSON.stringify({ space, repo, rev: clock.next(), hash: { $bytes: encodeBase64(randomBytes(32)) } }),
    )
  const cases: Array<[string, string, () => Promise<string | undefined>, (repo: string) => Uint8Array]> = [
    ['notifyWrite without Authorization', NOTIFY_WRITE, async () => undefined, body],
    ['notifyWrite with Basic auth', NOTIFY_WRITE, async () => 'Basic dXNlcjpwYXNz', body],
    ['notifyWrite with a garbage Bearer token', NOTIFY_WRITE, async () => 'Bearer not.a.jwt', body],
    [
      'notifyWrite signed by a writer, not the authority',
      NOTIFY_WRITE,
      async () => `Bearer ${await jwt({ iss: writer.did, key: writerKey })}`,
      body,
    ],
    [
      'notifyWrite claiming the authority, signed by another key',
      NOTIFY_WRITE,
      async () => `Bearer ${await jwt({ key: writerKey })}`,
      body,
    ],
    [
      'notifyWrite for another service (aud)',
      NOTIFY_WRITE,
      async () => `Bearer ${await jwt({ aud: 'did:web:other.example#atproto_space_syncer' })}`,
      body,
    ],
    [
      'notifyWrite with another method (lxm)',
      NOTIFY_WRITE,
      async () => `Bearer ${await jwt({ lxm: 'com.atproto.space.getRepo' })}`,
      body,
    ],
    [
      'notifyWrite with an expired token',
      NOTIFY_WRITE,
      async () => `Bearer ${await jwt({ now: Date.now() / 1000 - 600 })}`,
      body,
    ],
    [
      'notifySpaceDeleted signed by a writer',
      NOTIFY_SPACE_DELETED,
      async () => `Bearer ${await jwt({ iss: writer.did, key: writerKey, lxm: NOTIFY_SPACE_DELETED })}`,
      () => new TextEncoder().encode(JSON.stringify({ space })),
    ],
    [
      'notifyWrite with an oversized body',
      NOTIFY_WRITE,
      async () => `Bearer ${await jwt({})}`,
      () => new Uint8Array(64 * 1024).fill(0x20),
    ],
    [
      'notifyWrite with a body that is not JSON',
      NOTIFY_WRITE,
      async () => `Bearer ${await jwt({})}`,
      () => Uint8Array.from([0xff, 0xfe, 0x7b]),
    ],
  ]
  const rejectedBefore = await metricSum(rig.metrics, 'spaceview_notifications_received_total', {
    outcome: 'rejected',
  })
  let n = 0
  for (const [name, nsid, auth, makeBody] of cases) {
    const repo = `did:plc:${randomBytes(15)
      .toString('hex')
      .slice(0, 24)
      .replace(/[^a-z2-7]/g, 'a')}`
    const before = await metricSum(rig.metrics, 'spaceview_notifications_received_total', {
      outcome: 'rejected',
    })
    const reply = await handleNotification(deps, nsid, await auth(), makeBody(repo))
    const counted =
      (await metricSum(rig.metrics, 'spaceview_notifications_received_total', { outcome: 'rejected' })) -
      before
    const queued =
      (await rig.crawler.queues['repo-sync'].getJob(jobId('repo-sync', space, repo))) !== undefined
    const intact = !rig.devnet.isDeleted(space) && (await rig.store.getSpace(space))?.status === 'active'
    const rejected = reply.status >= 400 && reply.status < 500 && counted === 1 && !queued && intact
    tally({
      kind: 'bad_input',
      name,
      rejected,
      reason: `${reply.status} ${String(reply.body.error)}`,
      evidence: `notifications_received{rejected}+${counted}`,
    })
    expect({ name, status: reply.status >= 400 && reply.status < 500, counted, queued, intact }).toEqual({
      name,
      status: true,
      counted: 1,
      queued: false,
      intact: true,
    })
    n++
  }
  expect(
    (await metricSum(rig.metrics, 'spaceview_notifications_received_total', { outcome: 'rejected' })) -
      rejectedBefore,
  ).toBe(n)

  // A genuine notification of the head we already hold is dropped as a duplicate: no job.
  const repo = writer.did
  const held = await rig.store.getRepoState(space, repo)
  expect(held?.rev).toBeTruthy()
  const repeat = new TextEncoder().encode(
    JSON.stringify({ space, repo, rev: held!.rev, hash: { $bytes: encodeBase64(held!.commitHash!) } }),
  )
  const dup = await handleNotification(deps, NOTIFY_WRITE, `Bearer ${await jwt({})}`, repeat)
  expect(dup.status).toBe(200)
  expect(await rig.crawler.queues['repo-sync'].getJob(jobId('repo-sync', space, repo))).toBeUndefined()

  // Control: the same receiver accepts a notification the authority really signed, and queues the pull.
  const ok = await handleNotification(deps, NOTIFY_WRITE, `Bearer ${await jwt({})}`, body(repo))
  expect(ok.status).toBe(200)
  expect(await rig.crawler.queues['repo-sync'].getJob(jobId('repo-sync', space, repo))).toBeDefined()
}

/**
 * A writer's DID document re-pointed at the cloud metadata address (devnet's privateEndpoint fault): even in
 * devnet mode, where loopback is allowed, the crawler refuses it before connecting, dead-letters the job
 * and keeps the repo as it was; once the document is honest again the repo converges.
 */
export async function runPrivateEndpointCase(rig: Rig, space: string, writer: Account) {
  const before = await snapshot(rig)
  const t0 = Date.now()
  const stateBefore = await rig.store.getRepoState(space, writer.did)
  await writeRecords(rig, space, writer, 2, 'private-endpoint')
  const id = rig.devnet.faults.add({ kind: 'privateEndpoint', did: writer.did })
  // What a migration hint (RepoNotFound, #identity) makes the crawler do: re-resolve the author.
  await rig.ctx.identity.refresh(writer.did)
  await rig.crawler.enqueueRecovery(space, writer.did, 'manual')
  let letter: DeadLetter | undefined
  await waitFor(
    'private endpoint: job ends',
    async () => {
      letter = (await deadLetters(rig, writer.did, t0))[0]
      return letter !== undefined
    },
    45_000,
  )
  const evidence = delta(before, await snapshot(rig))
  const untouched = (await rig.store.getRepoState(space, writer.did))?.rev === stateBefore?.rev
  const { forged } = await lostAndForged(rig.store, rig.devnet, [space])
  const rejected = evidence.includes('host_errors{blocked_address}') && untouched && forged === 0
  tally({
    kind: 'bad_input',
    name: 'DID doc re-pointed at 169.254.169.254 (crawler, devnet mode)',
    rejected,
    reason: 'blocked_address',
    evidence,
  })
  tally({ kind: 'forged_accepted', name: 'private endpoint', count: forged })
  expect({ blocked: evidence.includes('host_errors{blocked_address}'), untouched, forged }).toEqual({
    blocked: true,
    untouched: true,
    forged: 0,
  })

  rig.devnet.faults.remove(id)
  // The resolver rate-limits forced refreshes per DID (10 s); wait that out, as a real re-resolution would.
  await new Promise((r) => setTimeout(r, 10_500))
  await rig.ctx.identity.refresh(writer.did)
  await rig.crawler.enqueueSync(space, writer.did, 'manual')
  let lost = -1
  await waitFor(
    'private endpoint: converges',
    async () => {
      const r = await lostAndForged(rig.store, rig.devnet, [space])
      lost = r.lost
      return r.lost === 0 && r.forged === 0
    },
    45_000,
    300,
  ).catch(() => undefined)
  tally({ kind: 'records_lost', name: 'private endpoint', count: Math.max(lost, 0) })
  expect(lost).toBe(0)
}
