/**
 * Our verifier (src/protocol/signature.ts), with each of its backends (libsecp256k1 and OpenSSL for
 * secp256k1, OpenSSL for P-256) and in its off-thread form, must accept exactly what @atproto/crypto's verifySignature accepts for
 * compact signatures: checked as properties over random keys and messages (valid, tampered, wrong key,
 * high-S twin, out-of-range r/s), plus the shapes only ours sees (other lengths, DER) and the did:key
 * decoding rules.
 */
import { randomBytes } from 'node:crypto'
import { P256Keypair, Secp256k1Keypair, parseDidKey, verifySignature, type Keypair } from '@atproto/crypto'
import {
  SECP256K1_BACKEND,
  signingKeyOf,
  verifyDidKeySignature,
  verifyWithKey,
  verifyWithKeyOffThread,
  type SignatureBackend,
} from '../../src/protocol/signature.js'
import { loadVector } from '../vectors.js'

const ORDERS = {
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
  p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
} as const
type Curve = keyof typeof ORDERS

const toBig = (b: Uint8Array): bigint => BigInt('0x' + Buffer.from(b).toString('hex'))
const to32 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex')
const withS = (sig: Uint8Array, s: bigint) => new Uint8Array(Buffer.concat([sig.subarray(0, 32), to32(s)]))
const withR = (sig: Uint8Array, r: bigint) => new Uint8Array(Buffer.concat([to32(r), sig.subarray(32)]))

async function keypair(curve: Curve): Promise<Keypair> {
  return curve === 'secp256k1' ? Secp256k1Keypair.create() : P256Keypair.create()
}

/** @atproto/crypto's answer; a throw (r or s out of range) is "not a signature", as callers treat it. */
async function upstream(didKey: string, data: Uint8Array, sig: Uint8Array, lenient: boolean) {
  try {
    return await verifySignature(didKey, data, sig, { allowMalleableSig: lenient })
  } catch {
    return false
  }
}

const BACKENDS: SignatureBackend[] = ['libsecp256k1', 'openssl']

async function agrees(didKey: string, data: Uint8Array, sig: Uint8Array): Promise<boolean> {
  const strict = verifyDidKeySignature(didKey, data, sig)
  const lenient = verifyDidKeySignature(didKey, data, sig, { allowHighS: true })
  expect(strict).toBe(await upstream(didKey, data, sig, false))
  expect(lenient).toBe(await upstream(didKey, data, sig, true))
  const key = signingKeyOf(didKey)
  for (const backend of BACKENDS) {
    expect(verifyWithKey(key, data, sig, {}, backend)).toBe(strict)
    expect(verifyWithKey(key, data, sig, { allowHighS: true }, backend)).toBe(lenient)
  }
  expect(await verifyWithKeyOffThread(key, data, sig)).toBe(strict)
  expect(await verifyWithKeyOffThread(key, data, sig, { allowHighS: true })).toBe(lenient)
  return strict
}

it('verifies secp256k1 with libsecp256k1 on this platform (its prebuilt binding loads)', () => {
  expect(SECP256K1_BACKEND).toBe('libsecp256k1')
})

describe.each(['secp256k1', 'p256'] as const)('%s: agrees with @atproto/crypto', (curve) => {
  const n = ORDERS[curve]

  it('on valid, tampered, wrong-key and high-S signatures over random keys and messages', async () => {
    for (let i = 0; i < 40; i++) {
      const kp = await keypair(curve)
      const other = await keypair(curve)
      const data = randomBytes(1 + ((i * 37) % 300))
      const sig = await kp.sign(data)
      const didKey = kp.did()
      expect(await agrees(didKey, data, sig)).toBe(true)

      const tampered = Buffer.from(data)
      tampered[i % tampered.length]! ^= 1 << (i % 8)
      expect(await agrees(didKey, tampered, sig)).toBe(false)
      expect(await agrees(other.did(), data, sig)).toBe(false)

      const high = withS(sig, n - toBig(sig.subarray(32)))
      expect(await agrees(didKey, data, high)).toBe(false)
      expect(verifyDidKeySignature(didKey, data, high, { allowHighS: true })).toBe(true)

      const flipped = new Uint8Array(sig)
      flipped[i % 64]! ^= 0x80
      expect(await agrees(didKey, data, flipped)).toBe(false)
    }
  })

  it('on r and s at and beyond the edges of their range', async () => {
    const kp = await keypair(curve)
    const data = randomBytes(32)
    const sig = await kp.sign(data)
    for (const v of [0n, 1n, n / 2n, n / 2n + 1n, n - 1n, n, n + 1n, 2n ** 256n - 1n]) {
      await agrees(kp.did(), data, withS(sig, v))
      await agrees(kp.did(), data, withR(sig, v))
    }
    expect(await agrees(kp.did(), data, new Uint8Array(64))).toBe(false)
  })

  it('rejects every length but 64, including the DER encoding of a valid signature', async () => {
    const kp = await keypair(curve)
    const data = randomBytes(50)
    const sig = await kp.sign(data)
    const der = (b: Uint8Array) => {
      const int = (x: Uint8Array) => {
        let v = Buffer.from(x)
        while (v.length > 1 && v[0] === 0) v = v.subarray(1)
        if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v])
        return Buffer.concat([Buffer.from([2, v.length]), v])
      }
      const body = Buffer.concat([int(b.subarray(0, 32)), int(b.subarray(32))])
      return new Uint8Array(Buffer.concat([Buffer.from([0x30, body.length]), body]))
    }
    for (const bad of [new Uint8Array(0), sig.subarray(0, 63), new Uint8Array([...sig, 0]), der(sig)]) {
      expect(verifyDidKeySignature(kp.did(), data, bad)).toBe(false)
      expect(verifyDidKeySignature(kp.did(), data, bad, { allowHighS: true })).toBe(false)
      expect(await verifyWithKeyOffThread(signingKeyOf(kp.did()), data, bad, { allowHighS: true })).toBe(
        false,
      )
    }
  })
})

describe('known keys and did:key decoding', () => {
  const v = loadVector('commit')

  it('decodes the vector keys to their curves', () => {
    expect(signingKeyOf(v.keys.secp256k1.didKey).alg).toBe('ES256K')
    expect(signingKeyOf(v.keys.p256.didKey).alg).toBe('ES256')
    expect(signingKeyOf(v.keys.secp256k1.didKey)).toBe(signingKeyOf(v.keys.secp256k1.didKey))
  })

  it.each([
    ['not a did:key', 'did:plc:abc'],
    ['not base58btc', 'did:key:f0123'],
    ['garbage multibase', 'did:key:z111'],
    ['unsupported multicodec (ed25519)', 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'],
  ])('rejects %s as invalid_did_key', (_name, didKey) => {
    expect(() => verifyDidKeySignature(didKey, new Uint8Array(1), new Uint8Array(64))).toThrow(
      expect.objectContaining({ reason: 'invalid_did_key' }),
    )
  })

  it.each(['secp256k1', 'p256'] as const)(
    '%s: decodes compressed and uncompressed did:keys to the point @atproto/crypto decodes, and refuses what it refuses',
    async (curve) => {
      const prefix = curve === 'secp256k1' ? [0xe7, 0x01] : [0x80, 0x24]
      const didKeyOf = (point: Uint8Array) =>
        `did:key:z${base58(Buffer.concat([Buffer.from(prefix), point]))}`
      const upstreamPoint = (didKey: string): Uint8Array | 'refused' => {
        try {
          return parseDidKey(didKey).keyBytes
        } catch {
          return 'refused'
        }
      }
      const oursPoint = (didKey: string): Uint8Array | 'refused' => {
        try {
          return new Uint8Array(signingKeyOf(didKey).point)
        } catch {
          return 'refused'
        }
      }
      for (let i = 0; i < 20; i++) {
        const kp = await keypair(curve)
        const full = upstreamPoint(kp.did()) as Uint8Array
        expect(oursPoint(kp.did())).toEqual(new Uint8Array(full))
        // The same key spelled uncompressed.
        expect(oursPoint(didKeyOf(full))).toEqual(new Uint8Array(full))
        const compressed = Buffer.from(full.subarray(0, 33))
        compressed[0] = 0x02 + (full[64]! & 1)
        const spellings = [
          Buffer.concat([Buffer.from([0x06 + (full[64]! & 1)]), full.subarray(1)]), // hybrid form
          compressed.subarray(0, 32), // truncated
          Buffer.concat([compressed, Buffer.from([0])]), // one byte too many
          Buffer.concat([Buffer.from([0x04]), full.subarray(1, 33), to32(toBig(full.subarray(33)) ^ 1n)]), // y off the curve
          Buffer.concat([Buffer.from([0x05]), compressed.subarray(1)]), // unknown form
        ]
        for (const point of spellings) {
          const didKey = didKeyOf(point)
          expect([oursPoint(didKey), upstreamPoint(didKey)]).toEqual(['refused', 'refused'])
        }
      }
    },
  )

  it('rejects an x coordinate that is not on the curve', () => {
    // secp256k1 multicodec e7 01, compressed prefix 02, x = 5 (x³ + 7 = 132 is not a square mod p).
    const bytes = Buffer.concat([Buffer.from([0xe7, 0x01, 0x02]), to32(5n)])
    const didKey = `did:key:z${base58(bytes)}`
    expect(() => signingKeyOf(didKey)).toThrow(expect.objectContaining({ reason: 'invalid_did_key' }))
  })
})

function base58(bytes: Uint8Array): string {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let n = toBig(bytes)
  let out = ''
  while (n > 0n) {
    out = alphabet[Number(n % 58n)] + out
    n /= 58n
  }
  for (const b of bytes) {
    if (b !== 0) break
    out = '1' + out
  }
  return out
}
