/**
 * The protocol verifiers' KeyResolver over our DID resolver: the did:key a DID document publishes under a
 * verification-method id, from the cache or (on the verifiers' single retry) freshly resolved.
 *
 * Invariant: a DID that does not resolve, or a document without a usable key, is "no key" (null) — the
 * verifier then refuses the token; only a transient failure (`unreachable`) is thrown, so the request fails
 * closed without the caller being told their token is bad.
 */
import type { DidDocumentView } from '../identity/did-document.js'
import { isIdentityError } from '../identity/identity-error.js'
import type { KeyResolver } from '../protocol/token-claims.js'

/** What we need of the identity resolver (src/identity/did-resolver.ts satisfies it). */
export interface DidDocuments {
  resolve(did: string): Promise<DidDocumentView>
  refresh(did: string): Promise<DidDocumentView>
}

export function identityKeyResolver(identity: DidDocuments): KeyResolver {
  return async (did, keyId, forceRefresh) => {
    try {
      const doc = forceRefresh ? await identity.refresh(did) : await identity.resolve(did)
      return doc.verificationKey(keyId) ?? null
    } catch (err) {
      if (isIdentityError(err) && !err.retryable) return null
      throw err
    }
  }
}
