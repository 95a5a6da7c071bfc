/**
 * The index block decoder in repo-car.ts, through openRepoCar: it must accept exactly the indexes a strict
 * DAG-CBOR decoder plus the entry checks accepted (the reference below is the decoder it replaced), keep
 * entries in encoded order, and reject repeated keys whether or not the keys are in canonical order.
 */
import fc from 'fast-check'
import { CarWriter } from '@ipld/car'
import { decode as cborgDecode, type TagDecoder } from 'cborg'
import { CID } from 'multiformats/cid'
import { Secp256k1Keypair } from '@atproto/crypto'
import { isValidNsid, isValidRecordKey } from '@atproto/syntax'
import { createSignedCommit, commitToCbor, type SignedCommit } from '../../src/protocol/commit.js'
import { LtHash, pathElement } from '../../src/protocol/lthash.js'
import {
  cidForBlock,
  cidBytesToString,
  encodeBlock,
  encodeRecordJson,
} from '../../src/protocol/record-codec.js'
import { openRepoCar } from '../../src/protocol/repo-car.js'
import { ProtocolError } from '../../src/protocol/errors.js'

const space = 'at://did:plc:spaceauthorityvectors234/space/com.example.group/main'
const author = 'did:plc:alicevectorstestauthor23'

/** A minimal CBOR head (major type, argument). */
function head(major: number, n: number): number[] {
  const m = major << 5
  if (n < 24) return [m | n]
  if (n < 0x100) return [m | 24, n]
  if (n < 0x10000) return [m | 25, n >> 8, n & 0xff]
  return [m | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
}

function link(cid: Uint8Array): number[] {
  return [0xd8, 0x2a, ...head(2, cid.length + 1), 0x00, ...cid]
}

function encodeIndex(entries: [string, Uint8Array][]): Uint8Array {
  return Uint8Array.from([
    ...head(5, entries.length),
    ...entries.flatMap(([path, cid]) => [
      ...head(3, path.length),
      ...Buffer.from(path, 'latin1'),
      ...link(cid),
    ]),
  ])
}

const INDEX_TAGS: TagDecoder[] = []
INDEX_TAGS[42] = (bytes: unknown) => {
  if (!(bytes instanceof Uint8Array) || bytes[0] !== 0) throw new Error('bad link')
  return { cidBytes: bytes.subarray(1) }
}

/** The previous decoder: cborg in strict DAG-CBOR mode, then the entry checks. null = malformed_index. */
function referenceIndex(bytes: Uint8Array): [string, string][] | null {
  let value: unknown
  try {
    value = cborgDecode(bytes, {
      tags: INDEX_TAGS,
      strict: true,
      rejectDuplicateMapKeys: true,
      useMaps: false,
      allowIndefinite: false,
      allowUndefined: false,
    })
  } catch {
    return null
  }
  if (!value || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) return null
  const out: [string, string][] = []
  for (const [path, v] of Object.entries(value as Record<string, unknown>)) {
    const slash = path.indexOf('/')
    const collection = path.slice(0, slash)
    const rkey = path.slice(slash + 1)
    if (slash < 0 || !isValidNsid(collection) || !isValidRecordKey(rkey) || rkey.length > 512) return null
    const cid = (v as { cidBytes?: unknown } | null)?.cidBytes
    if (!(cid instanceof Uint8Array) || cid.length !== 36 || cid[0] !== 1 || cid[1] !== 0x71) return null
    if (cid[2] !== 0x12 || cid[3] !== 0x20) return null
    out.push([path, cidBytesToString(cid)])
  }
  return out
}

let signer: Secp256k1Keypair
beforeAll(async () => {
  signer = await Secp256k1Keypair.create()
})

async function carWith(
  commit: SignedCommit,
  index: Uint8Array,
  records: Uint8Array[] = [],
): Promise<Uint8Array> {
  const commitBytes = encodeBlock(commitToCbor(commit))
  const commitCid = CID.decode(cidForBlock(commitBytes).bytes)
  const indexCid = CID.decode(cidForBlock(index).bytes)
  const { writer, out } = CarWriter.create([commitCid, indexCid])
  const parts: Uint8Array[] = []
  const reading = (async () => {
    for await (const c of out) parts.push(c)
  })()
  await writer.put({ cid: commitCid, bytes: commitBytes })
  await writer.put({ cid: indexCid, bytes: index })
  for (const r of records) await writer.put({ cid: CID.decode(cidForBlock(r).bytes), bytes: r })
  await writer.close()
  await reading
  return new Uint8Array(Buffer.concat(parts))
}

async function* whole(bytes: Uint8Array) {
  yield bytes
}

async function commitFor(entries: [string, string][]): Promise<SignedCommit> {
  const lt = new LtHash()
  for (const [path, cid] of entries) lt.add(pathElement(path, cid))
  return createSignedCommit({ space, author, rev: '3lenb7yw2s22b', hash: lt.digest(), signer })
}

async function indexOutcome(commit: SignedCommit, index: Uint8Array): Promise<string> {
  try {
    await openRepoCar(whole(await carWith(commit, index)), {
      space,
      author,
      didKey: signer.did(),
      expectValues: false,
    })
    return 'ok'
  } catch (err) {
    if (err instanceof ProtocolError) return err.reason
    throw err
  }
}

const records = ['a', 'b', 'c', 'd'].map((t) => encodeRecordJson({ $type: 'com.example.note', text: t }))
const cidBytes = records.map((r) => r.cid.bytes)
const paths = ['com.example.note/a', 'com.example.note/bb', 'com.example.notes/c', 'com.example.note/d']

describe('index block decoding', () => {
  it('keeps entries in encoded order, canonical or not, and matches records by position', async () => {
    for (const order of [
      [0, 3, 1, 2],
      [2, 1, 3, 0],
    ]) {
      const entries = order.map((i) => [paths[i]!, cidBytes[i]!] as [string, Uint8Array])
      const index = encodeIndex(entries)
      const expected = entries.map(([p, c]) => [p, cidBytesToString(c)] as [string, string])
      expect(referenceIndex(index)).toEqual(expected)
      const commit = await commitFor(expected)
      const car = await carWith(
        commit,
        index,
        order.map((i) => records[i]!.bytes),
      )
      const repo = await openRepoCar(whole(car), { space, author, didKey: signer.did(), expectValues: true })
      expect(repo.head.entries.map((e) => [e.path, e.cid])).toEqual(expected)
      const got: string[] = []
      for await (const r of repo.records()) got.push(`${r.collection}|${r.rkey}|${r.cid}`)
      expect(got).toEqual(
        order.map(
          (i) => `${paths[i]!.split('/')[0]}|${paths[i]!.split('/')[1]}|${cidBytesToString(cidBytes[i]!)}`,
        ),
      )
    }
  })

  it('rejects a repeated key, adjacent in canonical order or after the order breaks', async () => {
    const commit = await commitFor([])
    const adjacent = encodeIndex([
      [paths[0]!, cidBytes[0]!],
      [paths[0]!, cidBytes[1]!],
    ])
    const later = encodeIndex([
      [paths[1]!, cidBytes[1]!],
      [paths[2]!, cidBytes[2]!],
      [paths[0]!, cidBytes[0]!],
      [paths[1]!, cidBytes[3]!],
    ])
    for (const index of [adjacent, later]) {
      expect(referenceIndex(index)).toBeNull()
      expect(await indexOutcome(commit, index)).toBe('malformed_index')
    }
  })

  it('rejects what strict DAG-CBOR rejects, and entries that are not path -> record CID', async () => {
    const commit = await commitFor([])
    const good = encodeIndex([[paths[0]!, cidBytes[0]!]])
    const key = [...head(3, paths[0]!.length), ...Buffer.from(paths[0]!)]
    const cases: [string, Uint8Array][] = [
      ['trailing byte', Uint8Array.from([...good, 0x00])],
      ['non-minimal map head', Uint8Array.from([0xb8, 0x01, ...good.subarray(1)])],
      ['indefinite map', Uint8Array.from([0xbf, ...good.subarray(1), 0xff])],
      [
        'non-minimal key length',
        Uint8Array.from([0xa1, 0x78, paths[0]!.length, ...key.slice(1), ...link(cidBytes[0]!)]),
      ],
      ['not a map', Uint8Array.from([0x80])],
      ['text value', Uint8Array.from([0xa1, ...key, 0x61, 0x78])],
      ['raw-codec CID', encodeIndex([[paths[0]!, Uint8Array.from([1, 0x55, ...cidBytes[0]!.subarray(2)])]])],
      ['no slash', encodeIndex([['com.example.note', cidBytes[0]!]])],
      ['non-ASCII key', encodeIndex([['com.example.note/\u00e9', cidBytes[0]!]])],
      ['bad collection', encodeIndex([['nsid/a', cidBytes[0]!]])],
    ]
    for (const [name, index] of cases) {
      expect([name, referenceIndex(index)]).toEqual([name, null])
      expect([name, await indexOutcome(commit, index)]).toEqual([name, 'malformed_index'])
    }
  })

  it('accepts exactly what the reference decoder accepts, under random corruption', async () => {
    const entries = paths.map((p, i) => [p, cidBytes[i]!] as [string, Uint8Array])
    const base = encodeIndex(entries)
    const commit = await commitFor(entries.map(([p, c]) => [p, cidBytesToString(c)]))
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        async (edits) => {
          const bytes = [...base]
          for (const [at, value, kind] of edits) {
            if (kind === 0) bytes[at % bytes.length] = value
            else if (kind === 1) bytes.splice(at % (bytes.length + 1), 0, value)
            else if (bytes.length > 1) bytes.splice(at % bytes.length, 1)
          }
          const index = Uint8Array.from(bytes)
          const reference = referenceIndex(index)
          const outcome = await indexOutcome(commit, index)
          if (reference === null) expect(outcome).toBe('malformed_index')
          else expect(['ok', 'index_hash_mismatch']).toContain(outcome)
        },
      ),
      { numRuns: 300 },
    )
  })
})
