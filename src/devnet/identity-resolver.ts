/**
 * How devnet's own services resolve identities: did:plc from the devnet directory (in process, always the
 * current document, so rotations apply at once) and did:web over HTTP — plain http for loopback hosts
 * (`did:web:127.0.0.1%3A8080`), https otherwise — so a syncer under test can publish its own did:web.
 *
 * Service ids follow the reference rules: `did#frag` names the service entry with that id (type not
 * checked); a bare DID names its `#atproto_pds`, which must have type AtprotoPersonalDataServer. Entry ids
 * match in both `#frag` and `did#frag` forms. Keys are looked up by verification-method id the same way.
 */
import type { KeyResolver } from '../protocol/token-claims.js'
import type { DidDirectory, DidDocument } from './did-directory.js'

const LOOPBACK = new Set(['localhost', '127.0.0.1'])

export class IdentityResolver {
  constructor(
    private readonly directory: DidDirectory,
    private readonly timeoutMs = 3000,
  ) {}

  async document(did: string): Promise<DidDocument | null> {
    if (did.startsWith('did:plc:')) return this.directory.document(did)
    if (did.startsWith('did:web:')) return this.fetchDidWeb(did)
    return null
  }

  private async fetchDidWeb(did: string): Promise<DidDocument | null> {
    // Hostname-only did:web (a percent-encoded port allowed); path-form did:web is not used by this protocol.
    const host = decodeURIComponent(did.slice('did:web:'.length))
    if (!/^[a-zA-Z0-9.-]+(:\d+)?$/.test(host)) return null
    const hostname = host.replace(/:\d+$/, '')
    const scheme = LOOPBACK.has(hostname) ? 'http' : 'https'
    try {
      const res = await fetch(`${scheme}://${host}/.well-known/did.json`, {
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      if (!res.ok) return null
      const doc = (await res.json()) as DidDocument
      return doc && doc.id === did ? doc : null
    } catch {
      return null
    }
  }

  /** Key lookup for the protocol token verifiers (`#atproto`, `#atproto_space`, ...). */
  readonly resolveKey: KeyResolver = async (did, keyId) => {
    const doc = await this.document(did)
    const vm = doc ? findById(doc, doc.verificationMethod ?? [], keyId) : undefined
    return vm?.publicKeyMultibase ? `did:key:${vm.publicKeyMultibase}` : null
  }

  /** Resolves a service id (`did` or `did#frag`) to its endpoint URL, or undefined. */
  async serviceEndpoint(serviceId: string): Promise<string | undefined> {
    const hash = serviceId.indexOf('#')
    const did = hash === -1 ? serviceId : serviceId.slice(0, hash)
    const fragment = hash === -1 ? undefined : serviceId.slice(hash + 1)
    const doc = await this.document(did)
    if (!doc) return undefined
    const entry = findById(doc, doc.service ?? [], `#${fragment ?? 'atproto_pds'}`)
    if (!entry || typeof entry.serviceEndpoint !== 'string') return undefined
    if (fragment === undefined && entry.type !== 'AtprotoPersonalDataServer') return undefined
    return /^https?:\/\//.test(entry.serviceEndpoint) ? entry.serviceEndpoint.replace(/\/$/, '') : undefined
  }
}

function findById<T extends { id: string }>(doc: DidDocument, items: T[], id: string): T | undefined {
  return items.find((item) => item.id === id || item.id === `${doc.id}${id}`)
}
