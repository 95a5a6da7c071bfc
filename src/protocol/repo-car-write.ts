/**
 * Writes a getRepo CAR exactly as the reference host lays it out: header {version 1, roots [commit,
 * index]}, the commit block, the index block (map path -> CID, DAG-CBOR canonical key order: shorter key
 * first, then bytewise), then one record block per index entry in that same order (repeated identical
 * records are written once per entry). Used by devnet and by tests and benchmarks to produce CARs that
 * `openRepoCar` must accept; streaming, so large repos never sit in memory as one buffer.
 */
import { CarWriter } from '@ipld/car'
import { CID } from 'multiformats/cid'
import { commitToCbor, type SignedCommit } from './commit.js'
import { type Cid, cidForBlock, encodeBlock } from './record-codec.js'

export interface CarRecord {
  path: string
  cid: Cid
  bytes: Uint8Array
}

/** DAG-CBOR canonical map key order: length first, then bytewise. */
export function compareIndexKeys(a: string, b: string): number {
  const ab = Buffer.from(a)
  const bb = Buffer.from(b)
  return ab.length - bb.length || Buffer.compare(ab, bb)
}

export interface RepoCarInput {
  commit: SignedCommit
  records: CarRecord[]
  /** Only the commit and index blocks (getRepo?excludeValues=true). */
  excludeValues?: boolean
}

/** Yields the CAR in chunks. */
export async function* writeRepoCar(input: RepoCarInput): AsyncGenerator<Uint8Array> {
  const sorted = [...input.records].sort((a, b) => compareIndexKeys(a.path, b.path))
  const index: Record<string, Cid> = {}
  for (const r of sorted) index[r.path] = r.cid
  const commitBytes = encodeBlock(commitToCbor(input.commit))
  const indexBytes = encodeBlock(index)
  const commitCid = CID.decode(cidForBlock(commitBytes).bytes)
  const indexCid = CID.decode(cidForBlock(indexBytes).bytes)
  const { writer, out } = CarWriter.create([commitCid, indexCid])
  const writing = (async () => {
    await writer.put({ cid: commitCid, bytes: commitBytes })
    await writer.put({ cid: indexCid, bytes: indexBytes })
    if (!input.excludeValues) {
      for (const r of sorted) await writer.put({ cid: CID.decode(r.cid.bytes), bytes: r.bytes })
    }
    await writer.close()
  })()
  yield* out
  await writing
}

/** Whole CAR as one buffer (tests and small repos). */
export async function repoCarBytes(input: RepoCarInput): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of writeRepoCar(input)) parts.push(chunk)
  return new Uint8Array(Buffer.concat(parts))
}
