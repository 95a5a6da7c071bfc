import {
  commitToCbor,
  commitToJson,
  createSignedCommit,
  deriveMacKey,
  encodeCommitContext,
  parseSignedCommit,
  verifyCommit,
  type SignedCommit,
} from '../../src/protocol/commit.js'
import { fromHex, toHex } from '../../src/protocol/bytes.js'
import { cidForBlock, decodeBlock, encodeBlock } from '../../src/protocol/record-codec.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import { Secp256k1Keypair } from '@atproto/crypto'
import { loadVector } from '../vectors.js'

const v = loadVector('commit')

type HexCommit = { ver: number; hash: string; ikm: string; sig: string; mac: string; rev: string }
const fromHexCommit = (c: HexCommit): unknown => ({
  ver: c.ver,
  rev: c.rev,
  hash: fromHex(c.hash),
  ikm: fromHex(c.ikm),
  sig: fromHex(c.sig),
  mac: fromHex(c.mac),
})

async function verifies(ctx: { space: string; author: string; rev: string }, raw: unknown, didKey: string) {
  try {
    const commit = parseSignedCommit(raw)
    await verifyCommit({ commit, space: ctx.space, author: ctx.author, didKey, expectedRev: ctx.rev })
    return 'ok'
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError)
    return (err as ProtocolError).reason
  }
}

describe('signed commit known answers (shared/spec/vectors/commit.json)', () => {
  it.each(v.positive.map((p: { name: string }) => [p.name, p]) as [string, any][])(
    'positive %s',
    async (_n, p) => {
      const ikm = fromHex(p.commit.ikm)
      const ctx = encodeCommitContext({ ...p.ctx, ikm })
      if (p.ctxBytesHex) expect(toHex(ctx)).toBe(p.ctxBytesHex)
      if (p.ctxBytesLength) expect(ctx.length).toBe(p.ctxBytesLength)
      if (p.hkdfKeyHex) expect(toHex(deriveMacKey(ikm, ctx))).toBe(p.hkdfKeyHex)
      if (p.wrongHkdfKeyIfExtractThenExpand_DO_NOT_USE) {
        expect(toHex(deriveMacKey(ikm, ctx))).not.toBe(p.wrongHkdfKeyIfExtractThenExpand_DO_NOT_USE)
      }
      expect(await verifies(p.ctx, fromHexCommit(p.commit), p.didKey)).toBe('ok')
      // JSON (XRPC) form decodes to the same commit and verifies too.
      if (p.commitLexJson) expect(await verifies(p.ctx, p.commitLexJson, p.didKey)).toBe('ok')
      // DAG-CBOR block form: our encoding is byte-identical and has the stated CID.
      const parsed = parseSignedCommit(fromHexCommit(p.commit))
      const block = encodeBlock(commitToCbor(parsed))
      if (p.commitDagCborHex) expect(toHex(block)).toBe(p.commitDagCborHex)
      if (p.commitCid) expect(cidForBlock(block).toString()).toBe(p.commitCid)
      expect(parseSignedCommit(decodeBlock(block, 'malformed_commit', 'commit'))).toEqual(parsed)
      if (p.commitLexJson)
        expect(commitToJson(parsed)).toEqual(
          Object.fromEntries(Object.entries(p.commitLexJson).filter(([k]) => k !== '$type')),
        )
    },
  )

  it.each(v.negative.map((n: { name: string }) => [n.name, n]) as [string, any][])(
    'negative %s is rejected',
    async (_n, n) => {
      const reason = await verifies(n.ctx, fromHexCommit(n.commit), n.didKey)
      expect(reason).not.toBe('ok')
      const expectedStage: Record<string, string[]> = {
        ver: ['unsupported_commit_version'],
        rev: ['rev_mismatch'],
        mac: ['bad_mac'],
        sig: ['bad_signature', 'malformed_commit', 'invalid_did_key'],
      }
      expect(expectedStage[n.failsAtInReferenceOrder]).toContain(reason)
    },
  )
})

describe('createSignedCommit', () => {
  const key = fromHex(v.keys.secp256k1.privateKeyHex) // clearly-labelled test key from the vectors
  const space = 'at://did:plc:spaceauthorityvectors234/space/com.example.group/main'
  const author = 'did:plc:alicevectorstestauthor23'

  it('reproduces the vector bytes with a pinned ikm and verifies', async () => {
    const p = v.positive[0]
    const signer = await Secp256k1Keypair.import(key)
    const c = await createSignedCommit({
      space,
      author,
      rev: p.ctx.rev,
      hash: fromHex(p.hashHex),
      signer,
      ikm: fromHex(p.ikmHex),
    })
    expect(toHex(c.mac)).toBe(p.macHex)
    expect(toHex(c.sig)).toBe(p.sigHex) // RFC 6979 deterministic nonce
    await expect(verifyCommit({ commit: c, space, author, didKey: signer.did() })).resolves.toBeUndefined()
  })

  it('binds the hash through the MAC: any other hash is rejected', async () => {
    const signer = await Secp256k1Keypair.import(key)
    const c = await createSignedCommit({
      space,
      author,
      rev: '3lenb7yw2s22b',
      hash: new Uint8Array(32),
      signer,
    })
    const forged: SignedCommit = { ...c, hash: new Uint8Array(32).fill(1) }
    await expect(verifyCommit({ commit: forged, space, author, didKey: signer.did() })).rejects.toMatchObject(
      { reason: 'bad_mac' },
    )
  })

  it('rejects malformed commits with typed reasons', () => {
    expect(() => parseSignedCommit('x')).toThrow(expect.objectContaining({ reason: 'malformed_commit' }))
    expect(() => parseSignedCommit({ ...(fromHexCommit(v.positive[0].commit) as object), extra: 1 })).toThrow(
      /unexpected field/,
    )
    expect(() =>
      parseSignedCommit({ ...(fromHexCommit(v.positive[0].commit) as object), hash: new Uint8Array(31) }),
    ).toThrow(/32 bytes/)
    expect(() => parseSignedCommit({ ...(fromHexCommit(v.positive[0].commit) as object), rev: '' })).toThrow(
      /rev/,
    )
  })
})
