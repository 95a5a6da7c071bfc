/**
 * A did:plc-compatible DID directory: `GET /{did}` answers the current DID document, so
 * `@atproto/identity`'s DidResolver (given `plcUrl`) resolves devnet DIDs exactly as it would against
 * plc.directory.
 *
 * Documents are built on demand from live account state, so a key rotation or a change of host is visible
 * on the next resolution. Each account document carries its signing key as `#atproto` (Multikey,
 * publicKeyMultibase) and its repo host as `#atproto_pds` (type AtprotoPersonalDataServer); as in the
 * reference implementation the authority's PDS is also its space host. Extra DIDs (managing apps, test
 * syncers) can be published with arbitrary service entries.
 *
 * Invariants: `id` equals the requested DID; unknown DIDs are 404; the `privateEndpoint` fault replaces the
 * `#atproto_pds` endpoint of matching accounts with a private address (default link-local metadata IP).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AccountRegistry } from './accounts.js'
import { DEFAULT_PRIVATE_ENDPOINT, type Faults } from './faults.js'
import { deriveTestKeypair } from './seeded.js'

export interface VerificationMethod {
  id: string
  type: string
  controller: string
  publicKeyMultibase: string
}

export interface ServiceEntry {
  id: string
  type: string
  serviceEndpoint: string
}

export interface DidDocument {
  '@context': string[]
  id: string
  alsoKnownAs: string[]
  verificationMethod: VerificationMethod[]
  service: ServiceEntry[]
}

export interface PublishedService {
  /** Fragment without '#', e.g. `atproto_space_syncer`. */
  id: string
  type: string
  endpoint: string
}

interface ExtraDid {
  did: string
  label: string
  services: PublishedService[]
  /** Its TEST key's did:key, derived on first resolution (every notification resolves its target). */
  didKey?: string
}

const CONTEXT = [
  'https://www.w3.org/ns/did/v1',
  'https://w3id.org/security/multikey/v1',
  'https://w3id.org/security/suites/secp256k1-2019/v1',
]

export class DidDirectory {
  private readonly extras = new Map<string, ExtraDid>()

  constructor(
    private readonly seed: string,
    private readonly accounts: AccountRegistry,
    private readonly hostOrigin: (host: number) => string,
    private readonly faults: Faults,
  ) {}

  /** Publishes a non-account DID (a service) with a TEST signing key and the given service entries. */
  publish(did: string, label: string, services: PublishedService[]): void {
    this.extras.set(did, { did, label, services })
  }

  async document(did: string): Promise<DidDocument | null> {
    const account = this.accounts.get(did)
    if (account) {
      const key = await this.accounts.didKey(account)
      const fault = this.faults.match('privateEndpoint', { did, host: account.host })
      const pds = fault ? (fault.endpoint ?? DEFAULT_PRIVATE_ENDPOINT) : this.hostOrigin(account.host)
      return {
        '@context': CONTEXT,
        id: did,
        alsoKnownAs: [`at://${account.handle}`],
        verificationMethod: [atprotoKey(did, key)],
        service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds }],
      }
    }
    const extra = this.extras.get(did)
    if (!extra) return null
    extra.didKey ??= (await deriveTestKeypair(this.seed, 'service', extra.label)).did()
    return {
      '@context': CONTEXT,
      id: did,
      alsoKnownAs: [],
      verificationMethod: [atprotoKey(did, extra.didKey)],
      service: extra.services.map((s) => ({ id: `#${s.id}`, type: s.type, serviceEndpoint: s.endpoint })),
    }
  }

  /** Serves `GET /{did}` (URL-encoded or not), as the PLC directory does. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://directory').pathname
    const did = decodeURIComponent(path.slice(1))
    const doc = req.method === 'GET' ? await this.document(did) : null
    const body = JSON.stringify(doc ?? { message: `DID not registered: ${did}` })
    res.writeHead(doc ? 200 : 404, { 'content-type': 'application/did+ld+json; charset=utf-8' })
    res.end(body)
  }
}

function atprotoKey(did: string, didKey: string): VerificationMethod {
  return {
    id: `${did}#atproto`,
    type: 'Multikey',
    controller: did,
    publicKeyMultibase: didKey.slice('did:key:'.length),
  }
}
