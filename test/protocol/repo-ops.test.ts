import { RepoOpsApplier, parseRepoOp, type RepoOp } from '../../src/protocol/repo-ops.js'
import { parseSignedCommit, verifyCommit } from '../../src/protocol/commit.js'
import { fromHex, toHex } from '../../src/protocol/bytes.js'
import { encodeRecordJson } from '../../src/protocol/record-codec.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import { loadVector } from '../vectors.js'

const v = loadVector('listRepoOps')
const ops: RepoOp[] = v.response.ops.map(parseRepoOp)
const head = parseSignedCommit(v.response.commit)

describe('listRepoOps known answers (shared/spec/vectors/listRepoOps.json)', () => {
  it('head commit verifies', async () => {
    await expect(
      verifyCommit({ commit: head, space: v.params.space, author: v.params.author, didKey: v.params.didKey }),
    ).resolves.toBeUndefined()
  })

  it('digest after every op and every batch', () => {
    const a = new RepoOpsApplier(undefined, undefined)
    for (const step of v.steps) {
      a.apply([parseRepoOp(step.op)])
      expect(toHex(a.digest())).toBe(step.digestAfter)
      if (step.op.value) expect(encodeRecordJson(step.op.value).cid.toString()).toBe(step.op.cid)
      if (step.valueDagCborHex)
        expect(toHex(encodeRecordJson(step.op.value).bytes)).toBe(step.valueDagCborHex)
    }
    const b = new RepoOpsApplier(undefined, undefined)
    for (const batch of v.byRev) {
      b.apply(batch.opIndexes.map((i: number) => ops[i]))
      expect(toHex(b.digest())).toBe(batch.digestAfter)
    }
  })

  it('full response reaches the head hash; net changes are the final repo', () => {
    const a = new RepoOpsApplier(undefined, undefined)
    a.apply(ops)
    const out = a.finish(head)
    expect(toHex(a.digest())).toBe(v.finalDigest)
    expect(out.rev).toBe(head.rev)
    const upserts = out.changes.filter((c) => c.kind === 'upsert').map((c) => `${c.collection}/${c.rkey}`)
    const deletes = out.changes.filter((c) => c.kind === 'delete').map((c) => `${c.collection}/${c.rkey}`)
    expect(upserts.sort()).toEqual(
      [
        'com.example.group.comment/3lenb4ghxc222',
        'com.example.group.post/3lenaytzts222',
        'com.example.group.post/3lenb2navk222',
      ].sort(),
    )
    expect(deletes).toEqual(['com.example.group.post/3lenb44wro222'])
    expect(out.needValues).toEqual([])
  })

  it('resumes from a persisted checkpoint', () => {
    const cp = v.checkpoint
    const a = new RepoOpsApplier(fromHex(cp.stateHex), cp.since)
    a.apply(ops.slice(cp.afterStep + 1))
    const out = a.finish(head)
    expect(toHex(a.digest())).toBe(toHex(head.hash))
    expect(out.changes.every((c) => c.rev > cp.since)).toBe(true)
  })

  it('a missed op is divergence, never accepted', () => {
    const a = new RepoOpsApplier(undefined, undefined)
    a.apply(ops.filter((_, i) => i !== v.missedOp.skippedStep))
    expect(toHex(a.digest())).toBe(v.missedOp.digest)
    expect(() => a.finish(head)).toThrow(expect.objectContaining({ reason: 'ops_hash_mismatch' }))
  })

  it('since ahead of head, rev mismatch and out-of-order ops are divergence', () => {
    const ahead = new RepoOpsApplier(undefined, '3zzzzzzzzzz22')
    expect(() => ahead.finish(head)).toThrow(expect.objectContaining({ reason: 'since_ahead_of_head' }))
    const partial = new RepoOpsApplier(undefined, undefined)
    partial.apply(ops.slice(0, 2))
    expect(() => partial.finish(head)).toThrow(expect.objectContaining({ reason: 'ops_rev_mismatch' }))
    const backwards = new RepoOpsApplier(undefined, undefined)
    expect(() => backwards.apply([ops[2]!, ops[0]!])).toThrow(
      expect.objectContaining({ reason: 'ops_out_of_order' }),
    )
    const stale = new RepoOpsApplier(undefined, ops[1]!.rev)
    expect(() => stale.apply([ops[1]!])).toThrow(expect.objectContaining({ reason: 'ops_out_of_order' }))
  })

  it('an inlined value that does not hash to its CID is not stored but re-fetched', () => {
    const tampered = ops.map((o) =>
      o === ops[1] ? { ...o, value: { ...(o.value as object), text: 'forged' } } : o,
    )
    const a = new RepoOpsApplier(undefined, undefined)
    a.apply(tampered)
    const out = a.finish(head)
    const c = out.changes.find((x) => x.rkey === ops[1]!.rkey)
    expect(c).toMatchObject({ kind: 'upsert', cid: ops[1]!.cid })
    expect(c && 'value' in c ? c.value : undefined).toBeUndefined()
    expect(out.needValues).toEqual([`${ops[1]!.collection}/${ops[1]!.rkey}`])
  })

  it('rejects malformed ops with typed reasons', () => {
    const bad = [
      null,
      { ...v.response.ops[0], rev: 5 },
      { ...v.response.ops[0], collection: 'nope' },
      { ...v.response.ops[0], cid: 'not-a-cid' },
      { ...v.response.ops[0], cid: null, prev: null },
    ]
    for (const b of bad) {
      expect(() => parseRepoOp(b)).toThrow(ProtocolError)
    }
  })
})
