/**
 * Asks a space's authority whether a caller is admitted now, the only protocol-native way (spec §6.4): the
 * caller's own delegation token for the space is exchanged at the authority's getSpaceCredential, with a
 * fresh DPoP key and, where the space gates on app identity, our client attestation. A credential back
 * means "admitted"; it is verified (authority signature, bound to our key, for this space) and then
 * discarded — only its expiry is kept, to bound the admission.
 *
 * Invariants:
 * - Fail closed: anything but a verified credential is a refusal. Explicit policy refusals
 *   (UserNotAuthorized, AppNotAuthorized, NotAuthorized) are reported as such, so the filter evicts any
 *   cached admission; transport failures, timeouts and bad answers are `authority_unreachable`.
 * - The exchange is bounded by `timeoutMs`; the endpoint is the authority's space host from its DID document,
 *   contacted through the guarded HTTP client (no private addresses in production).
 */
import type { SpaceClient } from '../crawler/space-client.js'
import { isSpaceCallError } from '../crawler/space-errors.js'
import { isIdentityError } from '../identity/identity-error.js'
import { generateDpopKey } from '../protocol/dpop.js'
import { isProtocolError } from '../protocol/errors.js'
import { verifySpaceCredential } from '../protocol/space-credential.js'
import type { SpaceRef } from '../protocol/space-uri.js'
import type { KeyResolver } from '../protocol/token-claims.js'
import type { DidDocuments } from './key-resolver.js'

export const DEFAULT_EXCHANGE_TIMEOUT_MS = 5_000

export interface AuthorityExchangeOptions {
  identity: Pick<DidDocuments, 'resolve'>
  client: Pick<SpaceClient, 'getSpaceCredential'>
  resolveKey: KeyResolver
  /** Signs our client attestation for an app-gated space (audience: that authority's space host). */
  clientAttestation?: (spaceDid: string) => Promise<string>
  timeoutMs?: number
}

export type ExchangeRefusal =
  | 'user_not_authorized'
  | 'app_not_authorized'
  | 'not_authorized'
  | 'space_unavailable'
  | 'bad_auth'
  | 'authority_unreachable'

export type ExchangeResult =
  { ok: true; credentialExpiresAt: number } | { ok: false; reason: ExchangeRefusal; detail: string }

/** Refusals that say "this user (or app) may not read the space" — they evict cached admissions. */
export const POLICY_REFUSALS: ReadonlySet<ExchangeRefusal> = new Set([
  'user_not_authorized',
  'app_not_authorized',
  'not_authorized',
])

function refusal(err: unknown): { reason: ExchangeRefusal; detail: string } {
  if (isSpaceCallError(err)) {
    switch (err.kind) {
      case 'user_not_authorized':
      case 'app_not_authorized':
      case 'not_authorized':
        return { reason: err.kind, detail: `the authority refused (${err.xrpcError ?? err.kind})` }
      case 'space_deleted':
      case 'space_not_found':
        return { reason: 'space_unavailable', detail: `the authority answered ${err.xrpcError ?? err.kind}` }
      case 'delegation_rejected':
        return {
          reason: 'bad_auth',
          detail: `the authority rejected the delegation token (${err.xrpcError ?? 'auth'})`,
        }
      default:
        return { reason: 'authority_unreachable', detail: `exchange failed: ${err.kind}` }
    }
  }
  if (isIdentityError(err)) return { reason: 'authority_unreachable', detail: `authority DID: ${err.reason}` }
  if (isProtocolError(err))
    return { reason: 'authority_unreachable', detail: `unusable credential: ${err.reason}` }
  throw err
}

export class AuthorityExchange {
  private readonly timeoutMs: number

  constructor(private readonly opts: AuthorityExchangeOptions) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_EXCHANGE_TIMEOUT_MS
  }

  async exchange(
    space: string,
    ref: SpaceRef,
    delegationToken: string,
    appGated: boolean,
  ): Promise<ExchangeResult> {
    try {
      const host = (await this.opts.identity.resolve(ref.did)).spaceHostEndpoint()
      const dpopKey = await generateDpopKey()
      const args: Parameters<SpaceClient['getSpaceCredential']>[1] = {
        space,
        delegationToken,
        dpopKey,
        signal: AbortSignal.timeout(this.timeoutMs),
      }
      if (appGated && this.opts.clientAttestation !== undefined) {
        args.clientAttestation = await this.opts.clientAttestation(ref.did)
      }
      const credential = await this.opts.client.getSpaceCredential(host, args)
      const verified = await verifySpaceCredential(credential, { resolveKey: this.opts.resolveKey, space })
      if (verified.jkt !== dpopKey.jkt) {
        return { ok: false, reason: 'authority_unreachable', detail: 'credential is bound to another key' }
      }
      return { ok: true, credentialExpiresAt: verified.claims.exp * 1000 }
    } catch (err) {
      return { ok: false, ...refusal(err) }
    }
  }
}
