/**
 * Devnet's native signing keys: the same public key, did:key and byte-identical signatures as @atproto/crypto's
 * pure-JS Secp256k1Keypair (RFC 6979, low-S, compact), and signatures that @atproto/crypto verifies.
 */
import { Secp256k1Keypair, verifySignature } from '@atproto/crypto'
import { randomBytes } from 'node:crypto'
import { DEVNET_SIGNER_BACKEND, importTestKeypair } from '../../src/devnet/native-keypair.js'
import { derive } from '../../src/devnet/seeded.js'

test('the native binding loads on this platform (else devnet signs in pure JS, ~50x slower)', () => {
  expect(DEVNET_SIGNER_BACKEND).toBe('libsecp256k1')
})

test('same public key, did:key and byte-identical signatures as the pure-JS keypair', async () => {
  for (let k = 0; k < 8; k++) {
    const secret = derive('native-keypair', k)
    const native = await importTestKeypair(secret)
    const js = await Secp256k1Keypair.import(secret, { exportable: true })
    expect(native).toBeInstanceOf(Secp256k1Keypair)
    expect(native.did()).toBe(js.did())
    expect(Buffer.from(native.publicKeyBytes()).toString('hex')).toBe(
      Buffer.from(js.publicKeyBytes()).toString('hex'),
    )
    expect(native.publicKeyStr()).toBe(js.publicKeyStr())
    expect(native.jwtAlg).toBe('ES256K')
    expect(await native.export()).toEqual(secret)
    for (const msg of [new Uint8Array(0), randomBytes(1), randomBytes(77), randomBytes(4096)]) {
      const sig = await native.sign(msg)
      expect(sig).toHaveLength(64)
      expect(Buffer.from(sig).toString('hex')).toBe(Buffer.from(await js.sign(msg)).toString('hex'))
      // Low-S: @atproto/crypto's strict verification (no malleable signatures) accepts it.
      expect(await verifySignature(native.did(), msg, sig)).toBe(true)
    }
  }
})
