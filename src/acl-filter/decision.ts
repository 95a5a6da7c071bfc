/**
 * ACL decisions: the outcome of admitting one caller to one space, with the reason as a bounded code.
 *
 * Invariants:
 * - A decision is always about one (caller, space) pair; `allow` may carry the instant (ms) after which it
 *   must be taken again (never later than the credential or cached admission that backs it).
 * - Reasons are the metric vocabulary of src/metrics/labels.ts plus `delegation_required`, which is
 *   counted as `not_authorized` until the metric vocabulary has its own value (see `decisionLabels`).
 * - Explanations are human text for operators: they name the rule and the fact that decided it, never a
 *   token, key or record.
 */
import type { AclAllowReason, AclDecision, AclDenyReason } from '../metrics/labels.js'

export type AllowReason = AclAllowReason

/** Deny reasons: the metric vocabulary plus "the authority decides and no delegation token was given". */
export type DenyReason = AclDenyReason | 'delegation_required'

export type Decision =
  { outcome: 'allow'; reason: AllowReason; until?: number } | { outcome: 'deny'; reason: DenyReason }

/** One evaluated rule, for `acl explain` and the explainAccess admin method. */
export interface Step {
  check: string
  result: string
}

export interface Explanation {
  decision: Decision
  steps: Step[]
}

export function allow(reason: AllowReason, until?: number): Decision {
  return until === undefined ? { outcome: 'allow', reason } : { outcome: 'allow', reason, until }
}

export function deny(reason: DenyReason): Decision {
  return { outcome: 'deny', reason }
}

/** Labels of `spaceview_acl_decisions_total` for a decision. */
export function decisionLabels(decision: Decision): AclDecision {
  if (decision.outcome === 'allow') return { outcome: 'allow', reason: decision.reason }
  // Not a refusal by anyone: the caller did not give us the means to ask. Closest existing label.
  const reason = decision.reason === 'delegation_required' ? 'not_authorized' : decision.reason
  return { outcome: 'deny', reason }
}
