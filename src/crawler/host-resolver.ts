/**
 * Where to send what, from DID documents: a writer's repo host (`#atproto_pds`, type-checked) and its
 * commit signing key (`#atproto`), and a space's host (`#atproto_space_host`, else `#atproto_pds`, per
 * SPEC §2.2). `refresh` re-resolves with the cache bypassed, used once after a signature failure or a
 * RepoNotFound (key rotation, migration).
 */
import { PDS_SERVICE_TYPE } from '../identity/did-document.js'
import type { IdentityResolver } from '../identity/did-resolver.js'

export interface RepoHostInfo {
  pds: string
  didKey: string
}

export class HostResolver {
  constructor(private readonly identity: IdentityResolver) {}

  async repoHost(did: string, refresh = false): Promise<RepoHostInfo> {
    const doc = refresh ? await this.identity.refresh(did) : await this.identity.resolve(did)
    return { pds: doc.serviceEndpoint('atproto_pds', PDS_SERVICE_TYPE), didKey: doc.signingKey() }
  }

  async spaceHost(authority: string): Promise<string> {
    const doc = await this.identity.resolve(authority)
    if (doc.service('atproto_space_host')) return doc.serviceEndpoint('atproto_space_host')
    return doc.serviceEndpoint('atproto_pds', PDS_SERVICE_TYPE)
  }

  async signingKey(did: string, refresh = false): Promise<string> {
    const doc = refresh ? await this.identity.refresh(did) : await this.identity.resolve(did)
    return doc.signingKey()
  }
}
