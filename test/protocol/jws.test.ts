import { jwtAlgOfDidKey } from '../../src/protocol/did-key.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import {
  MAX_JWS_LENGTH,
  parseJws,
  peekJwsHeader,
  signJws,
  verifyJwsSignature,
} from '../../src/protocol/jws.js'
import {
  decodePart,
  loadTestKeys,
  outcome,
  tamperPayload,
  toDer,
  toHighS,
  type TestKey,
} from './token-fixtures.js'

const keys = await loadTestKeys()
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')

describe('did:key → JWT alg', () => {
  it('maps the secp256k1 and P-256 test keys', () => {
    expect(jwtAlgOfDidKey(keys.k256.didKey)).toBe('ES256K')
    expect(jwtAlgOfDidKey(keys.p256.didKey)).toBe('ES256')
  })

  it.each([
    ['not a did:key', 'did:plc:abc'],
    ['not base58btc', 'did:key:f0123'],
    ['garbage multibase', 'did:key:z111'],
    ['unsupported multicodec (ed25519)', 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'],
  ])('rejects %s', (_name, didKey) => {
    expect(() => jwtAlgOfDidKey(didKey)).toThrow(expect.objectContaining({ reason: 'invalid_did_key' }))
  })
})

describe.each([['k256'], ['p256']] as const)('JWS with the %s test key', (which) => {
  const key: TestKey = keys[which]

  it('signs and verifies; header alg is the key type', async () => {
    const token = await signJws({ typ: 'x', alg: 'none' }, { hello: 'world' }, key.keypair)
    const jws = parseJws(token)
    expect(jws.header).toEqual({ alg: key.alg, typ: 'x' })
    expect(jws.payload).toEqual({ hello: 'world' })
    expect(jws.signature).toHaveLength(64)
    expect(await verifyJwsSignature(jws, key.didKey)).toBe(true)
    expect(await verifyJwsSignature(jws, key.didKey, 'lenient')).toBe(true)
  })

  it('does not verify under another key of the same type', async () => {
    if (key.alg !== 'ES256K') return
    const token = await signJws({}, { a: 1 }, key.keypair)
    expect(await verifyJwsSignature(parseJws(token), keys.k256Other.didKey)).toBe(false)
  })

  it('rejects a tampered payload', async () => {
    const token = await signJws({}, { a: 1 }, key.keypair)
    const tampered = tamperPayload(token, (p) => (p['a'] = 2))
    expect(await verifyJwsSignature(parseJws(tampered), key.didKey)).toBe(false)
  })

  it('rejects the high-S twin when strict, accepts it when lenient', async () => {
    const token = await signJws({}, { a: 1 }, key.keypair)
    const high = toHighS(token, key.alg)
    expect(high).not.toBe(token)
    expect(await verifyJwsSignature(parseJws(high), key.didKey, 'strict')).toBe(false)
    expect(await verifyJwsSignature(parseJws(high), key.didKey, 'lenient')).toBe(true)
  })

  it('rejects a DER-encoded signature under both policies', async () => {
    const der = toDer(await signJws({}, { a: 1 }, key.keypair))
    for (const policy of ['strict', 'lenient'] as const) {
      expect(await outcome(verifyJwsSignature(parseJws(der), key.didKey, policy))).toBe('bad_token_signature')
    }
  })

  it('rejects a header alg that does not match the key type', async () => {
    const otherAlg = key.alg === 'ES256K' ? 'ES256' : 'ES256K'
    const lying = { jwtAlg: otherAlg, sign: (m: Uint8Array) => key.keypair.sign(m) }
    const token = await signJws({}, { a: 1 }, lying)
    expect(decodePart(token, 0)['alg']).toBe(otherAlg)
    expect(await outcome(verifyJwsSignature(parseJws(token), key.didKey))).toBe('bad_token_alg')
  })
})

describe('JWS parsing', () => {
  const header = b64({ alg: 'ES256K' })
  const payload = b64({ a: 1 })
  const sig = Buffer.alloc(64, 1).toString('base64url')

  it.each([
    ['not a string', 42],
    ['two parts', `${header}.${payload}`],
    ['four parts', `${header}.${payload}.${sig}.x`],
    ['padded base64', `${header}=.${payload}.${sig}`],
    ['standard-alphabet base64', `${header}.${payload}.${sig.replace(/-|_/g, '+')}+/`],
    ['non-canonical base64 (stray low bits)', `${header}.${payload}.${sig.slice(0, -1)}B`],
    ['header that is not JSON', `${Buffer.from('nope').toString('base64url')}.${payload}.${sig}`],
    ['header that is a JSON array', `${b64([1])}.${payload}.${sig}`],
    ['payload that is JSON null', `${header}.${b64(null)}.${sig}`],
    ['invalid UTF-8', `${Buffer.from([0xff, 0xfe]).toString('base64url')}.${payload}.${sig}`],
    ['empty signature', `${header}.${payload}.`],
  ])('rejects %s as malformed_token', (_name, token) => {
    expect(() => parseJws(token)).toThrow(expect.objectContaining({ reason: 'malformed_token' }))
  })

  it('rejects an oversized token before decoding it', () => {
    const big = `${header}.${b64({ pad: 'x'.repeat(MAX_JWS_LENGTH) })}.${sig}`
    let err: unknown
    try {
      parseJws(big)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ProtocolError)
    expect((err as ProtocolError).reason).toBe('malformed_token')
    expect((err as ProtocolError).message).toMatch(/limit/)
    expect((err as ProtocolError).message).not.toContain(header)
  })

  it('peeks at the header only', () => {
    expect(peekJwsHeader(`${b64({ typ: 'dpop+jwt' })}.garbage!.x`)).toEqual({ typ: 'dpop+jwt' })
  })

  it('rejects an unsupported alg before touching the key', async () => {
    const jws = parseJws(`${b64({ alg: 'none' })}.${payload}.${sig}`)
    expect(await outcome(verifyJwsSignature(jws, keys.k256.didKey))).toBe('bad_token_alg')
  })

  it('reports an invalid did:key', async () => {
    const jws = parseJws(`${header}.${payload}.${sig}`)
    expect(await outcome(verifyJwsSignature(jws, 'did:key:zNope'))).toBe('invalid_did_key')
  })

  it('treats an out-of-range signature as not verifying', async () => {
    const jws = parseJws(`${header}.${payload}.${Buffer.alloc(64, 0xff).toString('base64url')}`)
    expect(await verifyJwsSignature(jws, keys.k256.didKey, 'lenient')).toBe(false)
  })
})
