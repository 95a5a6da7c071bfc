/**
 * The ACL filter: decides whether one caller may read one space now. Default deny.
 *
 * Rules, in order (spec §6.4):
 * 1. The space must be indexed and active: unknown, deleted or tombstoned spaces are never served.
 * 2. A space-credential caller reads exactly the space its credential names (the authority issued it).
 * 3. A user whose account is not active (deactivated, taken down, suspended, deleted) reads nothing.
 * 4. The space's authority DID is always admitted.
 * 5. `#publicPolicy`: every authenticated user.
 * 6. `#managingAppPolicy` naming spaceview: our own member list is the ACL (checked on every request, so a
 *    removal takes effect at once).
 * 7. Otherwise the authority decides: with the caller's delegation token we exchange it at the authority's
 *    getSpaceCredential; success admits for min(admission TTL, credential expiry) and is cached in Redis for
 *    every process; a policy refusal denies and evicts the cached admission; anything else fails closed.
 *    Without a token, a live cached admission admits; otherwise `delegation_required`.
 *
 * Invariants: store facts (space status, access snapshot, account status) are reused for at most
 * `factsTtlMs` (1 s by default) in this process — `invalidate` drops a space's at once (verified deletion);
 * record reads re-check space epoch and author status inside the store query anyway. Every `admit` is counted
 * in `spaceview_acl_decisions_total` and logged with space, caller and reason (never tokens). `explain` and
 * `check` evaluate the same rules without exchanging anything or counting.
 */
import type { Logger } from 'pino'
import type { AccessSnapshot, AccountStatus, SpaceInfo } from '../merge/index.js'
import type { Metrics } from '../metrics/metrics.js'
import { parseSpaceUri } from '../protocol/space-uri.js'
import type { AdmissionCache } from './admission-cache.js'
import { POLICY_REFUSALS, type AuthorityExchange } from './authority-exchange.js'
import type { Caller } from './caller.js'
import { allow, decisionLabels, deny, type Decision, type Explanation, type Step } from './decision.js'
import type { MembershipStore } from './membership-store.js'
import { readAppAccess, readPolicy } from './space-policy.js'
import { TtlCache } from './ttl-cache.js'

export const DEFAULT_FACTS_TTL_MS = 1_000

/** Store facts the filter decides on; the MergeStore satisfies this. */
export interface AclFacts {
  getSpace(space: string): Promise<SpaceInfo | null>
  getAccessSnapshot(space: string): Promise<AccessSnapshot | null>
  getAccountStatus(did: string): Promise<AccountStatus>
}

export interface AclFilterOptions {
  facts: AclFacts
  membership: Pick<MembershipStore, 'has'>
  admissions: AdmissionCache
  exchange: Pick<AuthorityExchange, 'exchange'>
  /** Service ids (`did#fragment`) under which spaceview is a space's managing app. */
  managingAppIds: readonly string[]
  /** Longest an authority-granted admission is honoured without asking again (seconds). */
  admissionTtlSec: number
  factsTtlMs?: number
  metrics: Pick<Metrics, 'aclDecisions'>
  logger: Logger
}

interface SpaceFacts {
  info: SpaceInfo | null
  access: AccessSnapshot | null
}

type Mode = { exchange: false } | { exchange: true; delegationToken?: string | undefined }

const iso = (ms: number): string => new Date(ms).toISOString()

export class AclFilter {
  private readonly spaces: TtlCache<SpaceFacts>
  private readonly statuses: TtlCache<AccountStatus>
  private readonly managingAppIds: ReadonlySet<string>

  constructor(private readonly opts: AclFilterOptions) {
    const ttl = opts.factsTtlMs ?? DEFAULT_FACTS_TTL_MS
    this.spaces = new TtlCache(ttl)
    this.statuses = new TtlCache(ttl)
    this.managingAppIds = new Set(opts.managingAppIds)
  }

  /** Whether spaceview is the managing app this policy names. */
  managesPolicy(policy: unknown): boolean {
    const p = readPolicy(policy)
    return p.kind === 'managingApp' && this.managingAppIds.has(p.managingApp)
  }

  /** Decides, counts and logs; may ask the authority when a delegation token is given. */
  async admit(caller: Caller, space: string, delegationToken?: string): Promise<Decision> {
    const { decision } = await this.evaluate(caller, space, { exchange: true, delegationToken })
    this.record(decision)
    const fields = {
      space,
      caller: caller.kind === 'user' ? caller.did : 'space_credential',
      reason: decision.reason,
    }
    if (decision.outcome === 'allow') this.opts.logger.debug(fields, 'acl allow')
    else this.opts.logger.info(fields, 'acl deny')
    return decision
  }

  /** The same rules without asking the authority and without counting (listings, previews). */
  async check(caller: Caller, space: string): Promise<Decision> {
    return (await this.evaluate(caller, space, { exchange: false })).decision
  }

  /** Operator view: every rule looked at and what it showed (`spaceview acl explain`). */
  explain(space: string, did: string): Promise<Explanation> {
    return this.evaluate({ kind: 'user', did }, space, { exchange: false })
  }

  /** Counts a decision taken outside `admit` (e.g. a request that failed authentication). */
  record(decision: Decision): void {
    this.opts.metrics.aclDecisions.inc(decisionLabels(decision))
  }

  /** The space's access snapshot as the filter sees it (cached like every store fact). */
  async accessSnapshot(space: string): Promise<AccessSnapshot | null> {
    return (await this.spaceFacts(space)).access
  }

  /** Forgets this process's cached facts of a space (call on its verified deletion). */
  invalidate(space: string): void {
    this.spaces.delete(space)
  }

  private spaceFacts(space: string): Promise<SpaceFacts> {
    return this.spaces.get(space, async () => {
      const [info, access] = await Promise.all([
        this.opts.facts.getSpace(space),
        this.opts.facts.getAccessSnapshot(space),
      ])
      return { info, access }
    })
  }

  private accountStatus(did: string): Promise<AccountStatus> {
    return this.statuses.get(did, () => this.opts.facts.getAccountStatus(did))
  }

  private async evaluate(caller: Caller, space: string, mode: Mode): Promise<Explanation> {
    const steps: Step[] = []
    const done = (decision: Decision): Explanation => ({ decision, steps })
    const ref = parseSpaceUri(space)
    // Independent lookups run together; a credential caller's status is never needed.
    const [{ info, access }, status] = await Promise.all([
      this.spaceFacts(space),
      caller.kind === 'user' ? this.accountStatus(caller.did) : Promise.resolve(undefined),
    ])

    if (info === null || info.status !== 'active') {
      steps.push({
        check: 'space',
        result:
          info === null
            ? 'not indexed by spaceview: nothing to serve'
            : `deleted (epoch ${info.epoch}): never served`,
      })
      return done(deny('space_unavailable'))
    }
    steps.push({ check: 'space', result: `active, epoch ${info.epoch}` })

    if (caller.kind === 'space_credential') {
      if (caller.space !== space) {
        steps.push({
          check: 'space credential',
          result: 'issued for another space: it reads only that space',
        })
        return done(deny('wrong_space'))
      }
      steps.push({
        check: 'space credential',
        result: `issued by the authority for this space, until ${iso(caller.expiresAt)}`,
      })
      return done(allow('space_credential', caller.expiresAt))
    }

    if (status !== 'active') {
      steps.push({ check: 'account status', result: `${status}: inactive accounts read nothing` })
      return done(deny('account_inactive'))
    }
    steps.push({ check: 'account status', result: 'active' })

    if (caller.did === ref.did) {
      steps.push({ check: 'authority', result: 'the caller is the space authority: always admitted' })
      return done(allow('authority'))
    }

    const policy = readPolicy(access?.policy)
    if (policy.kind === 'public') {
      steps.push({ check: 'policy', result: 'publicPolicy: every authenticated user is admitted' })
      return done(allow('public'))
    }
    if (policy.kind === 'managingApp' && this.managingAppIds.has(policy.managingApp)) {
      const member = await this.opts.membership.has(space, caller.did)
      steps.push({
        check: 'policy',
        result: `managingAppPolicy naming spaceview (${policy.managingApp}): our member list decides`,
      })
      steps.push({ check: 'membership', result: member ? 'listed' : 'not listed' })
      return done(member ? allow('member') : deny('not_member'))
    }
    steps.push({
      check: 'policy',
      result:
        access === null
          ? 'no access snapshot fetched yet: the authority decides'
          : `${policy.kind === 'managingApp' ? `managingAppPolicy (${policy.managingApp})` : policy.kind}: the authority decides`,
    })

    if (mode.exchange && mode.delegationToken !== undefined) {
      return done(await this.askAuthority(caller.did, space, info.epoch, mode.delegationToken, access, steps))
    }
    const cached = await this.opts.admissions.get(caller.did, space, info.epoch)
    if (cached !== null) {
      steps.push({
        check: 'cached admission',
        result: `granted by the authority, valid until ${iso(cached)}`,
      })
      return done(allow('credential', cached))
    }
    steps.push({
      check: 'cached admission',
      result:
        'none: the caller must send its delegation token for this space (X-Space-Delegation) to be admitted',
    })
    return done(deny('delegation_required'))
  }

  private async askAuthority(
    did: string,
    space: string,
    epoch: number,
    token: string,
    access: AccessSnapshot | null,
    steps: Step[],
  ): Promise<Decision> {
    const appAccess = readAppAccess(access?.appAccess)
    const result = await this.opts.exchange.exchange(
      space,
      parseSpaceUri(space),
      token,
      appAccess.kind !== 'open',
    )
    if (result.ok) {
      const until = Math.min(Date.now() + this.opts.admissionTtlSec * 1000, result.credentialExpiresAt)
      await this.opts.admissions.put(did, { space, epoch, expiresAt: until })
      steps.push({ check: 'authority', result: `granted a credential: admitted until ${iso(until)}` })
      return allow('credential', until)
    }
    if (POLICY_REFUSALS.has(result.reason)) await this.opts.admissions.evict(did, space)
    steps.push({ check: 'authority', result: result.detail })
    return deny(result.reason)
  }
}
