/**
 * Network fault scenarios run in one process against devnet's run-time fault switches: each scenario owns
 * one space, installs its faults scoped to that space, starts crawling it, waits until the faults have
 * actually fired, clears them, and then requires the merged view of that space to equal ground truth and
 * the metrics to show what happened. Scenarios run one after another on one rig, so metric deltas belong
 * to the scenario that produced them.
 *
 * The HTTP budgets of the rig are tight (seconds, not production's minutes) so a trickling host is cut
 * within a test's patience; the mechanism is the same one production runs with its own budgets.
 */
import { expect } from '@jest/globals'
import type { FaultSpec } from '../../../src/devnet/faults.js'
import type { HttpTimeouts } from '../../../src/crawler/http-client.js'
import { lostAndForged, metricSum, waitFor, type Rig } from './rig.js'
import { tally } from './tally.js'
import { SecretBox } from '../../../src/crawler/secret-box.js'
import { exportDpopKey, generateDpopKey } from '../../../src/protocol/dpop.js'
import { createSpaceCredential } from '../../../src/protocol/space-credential.js'
import { writeRecords } from './bad-input.js'
import { bytesEqual } from '../../../src/protocol/bytes.js'

/** Budgets of the fault rig: a getRepo of a small repo takes milliseconds, a trickle is cut in seconds. */
export const FAULT_RIG_TIMEOUTS: Partial<HttpTimeouts> = {
  connectMs: 2_000,
  headersMs: 3_000,
  bodyIdleMs: 1_000,
  totalMs: 4_000,
}

const REPO_METHODS = [
  'com.atproto.space.getRepo',
  'com.atproto.space.listRepoOps',
  'com.atproto.space.getRecord',
]

export interface MetricExpectation {
  metric: string
  labels?: Record<string, string>
  /** The counter must grow by at least this much during the scenario. */
  atLeast: number
}

export interface FaultScenario {
  name: string
  /** Faults to install (the scenario adds its space to each one's scope). */
  faults: Omit<FaultSpec, 'space'>[]
  /** Clear the faults once they fired this often in total... */
  minFired: number
  /** ...or, when set, once this counter grew by this much (e.g. jobs dead-lettered: the budget is spent). */
  clearWhen?: MetricExpectation
  /** Counters that must show the fault. */
  expect: MetricExpectation[]
}

const DEAD = 'spaceview_job_dead_letters_total'

export const FAULT_SCENARIOS: FaultScenario[] = [
  {
    name: 'host 429 storm (Retry-After)',
    faults: [{ kind: 'rateLimit', probability: 0.6, retryAfterSec: 1 }],
    minFired: 12,
    expect: [{ metric: 'spaceview_host_errors_total', labels: { class: 'http_429' }, atLeast: 1 }],
  },
  {
    name: 'host 5xx storm (500/502/503)',
    faults: [
      { kind: 'serverError', status: 503, probability: 0.3 },
      { kind: 'serverError', status: 502, probability: 0.2 },
      { kind: 'serverError', status: 500, probability: 0.2 },
    ],
    minFired: 12,
    expect: [{ metric: 'spaceview_host_errors_total', labels: { class: 'http_5xx' }, atLeast: 1 }],
  },
  {
    name: 'connection resets (before and mid-body)',
    faults: [
      { kind: 'connectionReset', probability: 0.3 },
      { kind: 'connectionReset', probability: 0.5, afterBytes: 300, methods: REPO_METHODS },
    ],
    minFired: 8,
    expect: [{ metric: 'spaceview_host_errors_total', labels: { class: 'reset' }, atLeast: 1 }],
  },
  {
    name: 'slowloris bodies (trickle past the total budget, stall past the idle budget)',
    faults: [
      { kind: 'slowBody', chunkBytes: 16, intervalMs: 300, probability: 0.5, methods: REPO_METHODS },
      { kind: 'slowBody', chunkBytes: 64, intervalMs: 1_500, probability: 0.3 },
    ],
    minFired: 4,
    expect: [{ metric: 'spaceview_host_errors_total', labels: { class: 'timeout' }, atLeast: 1 }],
  },
  {
    name: 'repo host down longer than the retry budget',
    faults: [{ kind: 'connectionReset', methods: REPO_METHODS }],
    minFired: 1,
    clearWhen: { metric: DEAD, atLeast: 1 },
    expect: [
      { metric: DEAD, atLeast: 1 },
      { metric: 'spaceview_host_errors_total', labels: { class: 'reset' }, atLeast: 1 },
    ],
  },
]

export interface ScenarioOutcome {
  injected: number
  lost: number
  forged: number
  evidence: string
}

const EVIDENCE_COUNTERS: Array<[string, string]> = [
  ['spaceview_host_errors_total', 'class'],
  ['spaceview_job_retries_total', 'queue'],
  ['spaceview_job_dead_letters_total', 'queue'],
  ['spaceview_circuit_breaker_transitions_total', 'state'],
  ['spaceview_verification_failures_total', 'reason'],
]

export async function snapshot(rig: Rig): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const [name, label] of EVIDENCE_COUNTERS) {
    const metric = rig.metrics.registry.getSingleMetric(name)
    for (const v of (await metric?.get())?.values ?? []) {
      out.set(`${name.replace(/^spaceview_|_total$/g, '')}{${String(v.labels[label])}}`, v.value)
    }
  }
  return out
}

/** What moved between two snapshots, e.g. "host_errors{http_429}+14 job_retries{repo-sync}+2". */
export function delta(before: Map<string, number>, after: Map<string, number>): string {
  return [...after]
    .filter(([k, v]) => v > (before.get(k) ?? 0))
    .map(([k, v]) => `${k}+${v - (before.get(k) ?? 0)}`)
    .join(' ')
}

export async function runFaultScenario(rig: Rig, space: string, s: FaultScenario): Promise<ScenarioOutcome> {
  const before = await snapshot(rig)
  const base = new Map<string, number>()
  for (const e of [...s.expect, ...(s.clearWhen ? [s.clearWhen] : [])]) {
    base.set(JSON.stringify(e), await metricSum(rig.metrics, e.metric, e.labels))
  }
  const grew = async (e: MetricExpectation) =>
    (await metricSum(rig.metrics, e.metric, e.labels)) - (base.get(JSON.stringify(e)) ?? 0)

  const ids = s.faults.map((f) => rig.devnet.faults.add({ ...f, space } as FaultSpec))
  const fired = () =>
    rig.devnet.faults
      .list()
      .filter((f) => ids.includes(f.id))
      .reduce((n, f) => n + f.fired, 0)
  await rig.addSpace(space)
  await waitFor(`${s.name}: faults firing`, async () =>
    s.clearWhen
      ? fired() >= s.minFired && (await grew(s.clearWhen)) >= s.clearWhen.atLeast
      : fired() >= s.minFired,
  )
  const injected = fired()
  for (const id of ids) rig.devnet.faults.remove(id)

  let outcome = { lost: -1, forged: -1 }
  try {
    await waitFor(
      `${s.name}: merged view equals ground truth after the faults cleared`,
      async () => {
        outcome = await lostAndForged(rig.store, rig.devnet, [space])
        return outcome.lost === 0 && outcome.forged === 0
      },
      60_000,
      500,
    )
  } catch {
    // Reported below through the tally and the assertions, with the counts.
  }
  const evidence = delta(before, await snapshot(rig))
  const shown: Record<string, number> = {}
  for (const e of s.expect) shown[`${e.metric}${JSON.stringify(e.labels ?? {})}`] = await grew(e)
  const survived = outcome.lost === 0 && outcome.forged === 0
  tally({ kind: 'fault', name: s.name, injected, survived, evidence })
  tally({ kind: 'records_lost', name: s.name, count: Math.max(outcome.lost, 0) })
  tally({ kind: 'forged_accepted', name: s.name, count: Math.max(outcome.forged, 0) })

  expect({ lost: outcome.lost, forged: outcome.forged }).toEqual({ lost: 0, forged: 0 })
  for (const e of s.expect) {
    expect({
      [`${e.metric}${JSON.stringify(e.labels ?? {})}`]:
        shown[`${e.metric}${JSON.stringify(e.labels ?? {})}`]! >= e.atLeast,
    }).toEqual({
      [`${e.metric}${JSON.stringify(e.labels ?? {})}`]: true,
    })
  }
  return { injected, ...outcome, evidence }
}

// ------------------------------------------------------------------- credential expiry mid-pagination

/**
 * The crawler pages through a writer's oplog (small pages, each slowed down by the host) with a credential
 * that expires, by the host's clock, after the first few pages: the host answers 401 JwtExpired mid-way.
 * The crawler must mint a new credential, re-read from its stored rev (never keeping the half-read pages),
 * and land exactly the host's head. The credential is real (signed by the authority, bound to our DPoP
 * key); only its lifetime is short, and we are made to believe it is a normal one — what a host with a
 * clock ahead of ours, or a pagination outliving the refresh margin, looks like.
 */
export async function runCredentialExpiry(rig: Rig, space: string): Promise<void> {
  const info = rig.devnet.space(space)!
  const authority = rig.devnet.accounts.require(info.authority)
  const writer = rig.devnet.accounts.require(info.writers.find((d) => d !== info.authority)!)
  await writeRecords(rig, space, writer, 15, 'expiry')

  const before = await snapshot(rig)
  const refreshes = await metricSum(rig.metrics, 'spaceview_credential_refreshes_total')
  const refused = await metricSum(rig.metrics, 'spaceview_host_errors_total', { class: 'xrpc_error' })
  const dpopKey = await generateDpopKey()
  const now = Math.floor(Date.now() / 1000)
  const credential = await createSpaceCredential({
    keypair: await rig.devnet.accounts.keypair(authority),
    space,
    jkt: dpopKey.jkt,
    now,
    expiresInSec: 1, // the host refuses it from now + 1 + 5 s skew
  })
  await rig.ctx.creds.invalidate(space)
  const key = `sv:cred:${space}`
  const sealed = new SecretBox('11'.repeat(32)).seal(
    JSON.stringify({
      credential,
      jwk: await exportDpopKey(dpopKey),
      spaceHost: rig.devnet.hostOf(authority.did).origin,
      issuedAt: now,
      expiresAt: now + 7200,
    }),
    key,
  )
  await rig.redis.set(key, sealed, 'EX', 7200)

  const pageLimit = rig.ctx.pageLimit
  rig.ctx.pageLimit = 3
  const slow = rig.devnet.faults.add({
    kind: 'latency',
    ms: 1_500,
    space,
    did: writer.did,
    methods: ['com.atproto.space.listRepoOps'],
  })
  try {
    await rig.crawler.enqueueSync(space, writer.did, 'manual')
    await waitFor(
      'writer at head after the credential expired mid-pagination',
      async () => {
        const head = rig.devnet.repoHead(space, writer.did)
        const state = await rig.store.getRepoState(space, writer.did)
        return (
          !!head && state?.rev === head.rev && !!state.commitHash && bytesEqual(state.commitHash, head.hash)
        )
      },
      90_000,
      300,
    )
  } finally {
    rig.devnet.faults.remove(slow)
    rig.ctx.pageLimit = pageLimit
  }
  const { lost, forged } = await lostAndForged(rig.store, rig.devnet, [space])
  const minted = (await metricSum(rig.metrics, 'spaceview_credential_refreshes_total')) - refreshes
  const expired =
    (await metricSum(rig.metrics, 'spaceview_host_errors_total', { class: 'xrpc_error' })) - refused
  const evidence = `${delta(before, await snapshot(rig))} credential_refreshes+${minted}`
  tally({
    kind: 'fault',
    name: 'credential expiry in the middle of paginating',
    injected: expired,
    survived: lost === 0 && forged === 0,
    evidence,
  })
  tally({ kind: 'records_lost', name: 'credential expiry', count: lost })
  tally({ kind: 'forged_accepted', name: 'credential expiry', count: forged })
  expect({ lost, forged }).toEqual({ lost: 0, forged: 0 })
  expect(expired).toBeGreaterThanOrEqual(1)
  expect(minted).toBeGreaterThanOrEqual(1)
}
