/**
 * Authority-side verification of client attestations: the `client_id` (the token's `iss`) is fetched as
 * an OAuth client metadata document (redirects are errors), its inline `jwks` or the document at
 * `jwks_uri` supplies the keys, and protocol/client-attestation.ts checks the token (typ, iss == sub,
 * aud == `{spaceDid}#atproto_space_host`, exp, jti, signature) and consumes (client_id, jti).
 *
 * Invariants: metadata and JWKS are cached for an hour, as in the reference; every failure becomes 400
 * InvalidClientAttestation (the reference lets structural errors escape as 500 — devnet reports them as
 * the error a client can act on).
 */
import type { JSONWebKeySet } from 'jose'
import { verifyClientAttestation } from '../protocol/client-attestation.js'
import { parseJws } from '../protocol/jws.js'
import type { ReplayStore } from './replay-store.js'
import { XrpcError } from './xrpc-router.js'

const CACHE_MS = 3_600_000

export class AttestationVerifier {
  private readonly cache = new Map<string, { jwks: JSONWebKeySet; at: number }>()

  constructor(
    private readonly replay: ReplayStore,
    private readonly timeoutMs = 3000,
  ) {}

  private async fetchJson(url: string): Promise<unknown> {
    const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(this.timeoutMs) })
    if (!res.ok) throw new Error(`${url} answered ${res.status}`)
    return res.json()
  }

  private async jwksFor(clientId: string): Promise<JSONWebKeySet> {
    const hit = this.cache.get(clientId)
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.jwks
    const meta = (await this.fetchJson(clientId)) as {
      client_id?: unknown
      jwks?: unknown
      jwks_uri?: unknown
    }
    if (meta.client_id !== clientId)
      throw new Error('client metadata client_id does not match the URL it came from')
    const jwks = (meta.jwks ??
      (typeof meta.jwks_uri === 'string' ? await this.fetchJson(meta.jwks_uri) : undefined)) as
      JSONWebKeySet | undefined
    if (!jwks || !Array.isArray(jwks.keys)) throw new Error('client metadata publishes no jwks or jwks_uri')
    this.cache.set(clientId, { jwks, at: Date.now() })
    return jwks
  }

  /** Verifies an attestation for a space of `spaceDid`; returns the attested client_id. */
  async verify(token: string, spaceDid: string): Promise<string> {
    try {
      const iss = parseJws(token).payload['iss']
      if (typeof iss !== 'string' || !/^https?:\/\//.test(iss))
        throw new Error('"iss" is not a client_id URL')
      const jwks = await this.jwksFor(iss)
      const verified = await verifyClientAttestation(token, {
        jwks,
        spaceDid,
        clientId: iss,
        seen: this.replay.check,
      })
      return verified.clientId
    } catch (err) {
      throw new XrpcError(
        400,
        'InvalidClientAttestation',
        `Invalid client attestation: ${(err as Error).message}`,
      )
    }
  }
}
