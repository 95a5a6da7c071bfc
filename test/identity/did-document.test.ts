import { P256Keypair, Secp256k1Keypair, parseDidKey } from '@atproto/crypto'
import { base58btc } from 'multiformats/bases/base58'
import type { DidDocument } from '@atproto/identity'
import { DidDocumentView } from '../../src/identity/did-document.js'
import { IdentityError } from '../../src/identity/identity-error.js'

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'

async function multikey(kind: 'k256' | 'p256' = 'k256'): Promise<{ didKey: string; multibase: string }> {
  const kp = kind === 'k256' ? await Secp256k1Keypair.create() : await P256Keypair.create()
  const didKey = kp.did()
  return { didKey, multibase: didKey.slice('did:key:'.length) }
}

function reason(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof IdentityError) return err.reason
    throw err
  }
  return 'ok'
}

describe('DidDocumentView', () => {
  it('reads #atproto and services in both id forms', async () => {
    const key = await multikey()
    const space = await multikey('p256')
    const doc: DidDocument = {
      id: DID,
      verificationMethod: [
        { id: `${DID}#atproto`, type: 'Multikey', controller: DID, publicKeyMultibase: key.multibase },
        { id: '#atproto_space', type: 'Multikey', controller: DID, publicKeyMultibase: space.multibase },
      ],
      service: [
        { id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com' },
        {
          id: `${DID}#atproto_space_syncer`,
          type: 'Whatever',
          serviceEndpoint: 'https://syncer.example.com/',
        },
      ],
    }
    const view = new DidDocumentView(DID, doc)
    expect(view.signingKey()).toBe(key.didKey)
    expect(view.verificationKey('#atproto_space')).toBe(space.didKey)
    expect(view.verificationKey('atproto_other')).toBeUndefined()
    expect(view.pdsEndpoint()).toBe('https://pds.example.com')
    expect(view.serviceEndpoint('#atproto_space_syncer')).toBe('https://syncer.example.com')
    expect(view.service('atproto_space_syncer')?.type).toBe('Whatever')
    // No #atproto_space_host: the space host is the PDS.
    expect(view.spaceHostEndpoint()).toBe('https://pds.example.com')
  })

  it('prefers #atproto_space_host for the space host', () => {
    const view = new DidDocumentView(DID, {
      id: DID,
      service: [
        {
          id: `${DID}#atproto_pds`,
          type: 'AtprotoPersonalDataServer',
          serviceEndpoint: 'https://pds.example.com',
        },
        { id: '#atproto_space_host', type: 'AnyType', serviceEndpoint: 'https://spaces.example.com' },
      ],
    })
    expect(view.spaceHostEndpoint()).toBe('https://spaces.example.com')
  })

  it('does not match ids that belong to another DID', () => {
    const view = new DidDocumentView(DID, {
      id: DID,
      service: [
        {
          id: 'did:plc:someoneelse#atproto_pds',
          type: 'AtprotoPersonalDataServer',
          serviceEndpoint: 'https://x.com',
        },
      ],
    })
    expect(reason(() => view.pdsEndpoint())).toBe('missing_service')
  })

  it('refuses a #atproto_pds of the wrong type', () => {
    const view = new DidDocumentView(DID, {
      id: DID,
      service: [{ id: '#atproto_pds', type: 'NotAPds', serviceEndpoint: 'https://pds.example.com' }],
    })
    expect(reason(() => view.pdsEndpoint())).toBe('wrong_service_type')
    expect(reason(() => view.spaceHostEndpoint())).toBe('wrong_service_type')
  })

  it('reports a missing or unusable #atproto key', () => {
    const none = new DidDocumentView(DID, { id: DID, verificationMethod: [] })
    expect(reason(() => none.signingKey())).toBe('missing_key')
    const garbage = new DidDocumentView(DID, {
      id: DID,
      verificationMethod: [
        { id: '#atproto', type: 'Multikey', controller: DID, publicKeyMultibase: 'zNotAKey' },
      ],
    })
    expect(reason(() => garbage.signingKey())).toBe('bad_key')
    const noMultibase = new DidDocumentView(DID, {
      id: DID,
      verificationMethod: [{ id: '#atproto', type: 'JsonWebKey2020', controller: DID, publicKeyJwk: {} }],
    })
    expect(reason(() => noMultibase.signingKey())).toBe('bad_key')
  })

  it('takes a compressed Multikey as published, and refuses an uncompressed one (as @atproto/identity does) and a point off the curve', async () => {
    const kp = await Secp256k1Keypair.create()
    const view = (publicKeyMultibase: string) =>
      new DidDocumentView(DID, {
        id: DID,
        verificationMethod: [{ id: '#atproto', type: 'Multikey', controller: DID, publicKeyMultibase }],
      })
    expect(view(kp.did().slice('did:key:'.length)).signingKey()).toBe(kp.did())
    const point = parseDidKey(kp.did()).keyBytes // 65 bytes, uncompressed
    const uncompressed = base58btc.encode(Buffer.concat([Buffer.from([0xe7, 0x01]), point]))
    expect(reason(() => view(uncompressed).signingKey())).toBe('bad_key')
    // secp256k1 multicodec, compressed form, x = 5: no point has it (x³ + 7 is not a square mod p).
    const offCurve = Buffer.concat([Buffer.from([0xe7, 0x01, 0x02]), Buffer.alloc(31), Buffer.from([5])])
    expect(reason(() => view(base58btc.encode(offCurve)).signingKey())).toBe('bad_key')
  })

  it.each([
    ['ftp://pds.example.com', 'bad_endpoint'],
    ['https://user:pw@pds.example.com', 'bad_endpoint'],
    ['https://pds.example.com/some/path', 'bad_endpoint'],
    ['https://pds.example.com/?q=1', 'bad_endpoint'],
    ['not a url', 'bad_endpoint'],
  ])('refuses endpoint %s', (endpoint, expected) => {
    const view = new DidDocumentView(DID, {
      id: DID,
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: endpoint }],
    })
    expect(reason(() => view.pdsEndpoint())).toBe(expected)
  })

  it('refuses an object endpoint and a document for another DID', () => {
    const view = new DidDocumentView(DID, {
      id: DID,
      service: [
        { id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: { uri: 'https://x' } },
      ],
    })
    expect(reason(() => view.pdsEndpoint())).toBe('bad_endpoint')
    expect(reason(() => new DidDocumentView(DID, { id: 'did:plc:other' }))).toBe('malformed_document')
  })
})
