/**
 * A byte-bounded LRU cache of the encoded current records of generated repos: for each repo, every
 * generated current record with its DAG-CBOR bytes, CID (string and object), path, JSON value and rev.
 *
 * Why: generated records are computed on demand (record-generator.ts). Serving a 100k-record backfill,
 * devnet spent ~2.6 s re-encoding them (value, canonical CBOR, sha256, base32 CID) and ~0.7 s parsing the
 * CID strings back into objects for the CAR writer, although materializing the repos' set hashes had just
 * encoded every one of them. Devnet shares the machine with the syncer under test, so that CPU came
 * straight out of the measured throughput. A network larger than the budget gains less: a backfill that
 * reads repos in the order they were materialized finds the early ones evicted, and pays what it did
 * before for those.
 *
 * Invariants:
 * - An entry is a pure function of its GeneratedHistory, which is immutable, so an entry is never stale:
 *   writes change only a repo's overlay (permissioned-repo.ts), which readers apply on top of these records,
 *   so nothing here needs invalidating. An entry lists the records twice: by generation index (record i
 *   at index i) and in CAR index order (path length, then bytewise), so getRepo need not sort.
 * - The estimated size of all entries never exceeds the budget: the least recently used repos are evicted
 *   whole; a repo whose records alone exceed the budget is computed but not kept (budget 0 = no caching).
 *   The estimate (`estimateRecordBytes`) is the encoded length plus the JS objects around it, measured for
 *   the generated shapes; it is an approximation of heap use, not an exact count.
 * - Entries and their records are shared between readers: treat them as read-only.
 */
import { decodeCid, type Cid } from '@atproto/lex-data'
import type { GeneratedHistory } from './record-generator.js'

export const DEFAULT_ENCODED_RECORD_CACHE_BYTES = 256 * 1024 * 1024

export interface EncodedCurrentRecord {
  collection: string
  rkey: string
  /** `collection/rkey`: the key of the CAR index. */
  path: string
  bytes: Uint8Array
  cid: string
  /** The same CID as an object, as the CAR writer takes it. */
  cidObject: Cid
  /** JSON (XRPC) form of the value. */
  value: Record<string, unknown>
  /** Rev of the write that produced this version. */
  rev: string
}

/** Every generated current record of a repo, in the two orders readers need. */
export interface EncodedRecords {
  /** Record i at index i. */
  byIndex: readonly EncodedCurrentRecord[]
  /** The same records in CAR index order: path length first, then bytewise (paths are ASCII). */
  byPath: readonly EncodedCurrentRecord[]
}

/**
 * Heap estimate of one cached record: the bytes and the decoded value's strings (each about the encoded
 * length), plus a fixed part for the record object, its other strings, the CID object, the byte arrays'
 * headers and its two list slots. Measured on Node 22: ~1.54 KB for a generated record of ~130 encoded
 * bytes.
 */
export function estimateRecordBytes(bytesLength: number): number {
  return 2 * bytesLength + 1310
}

interface Entry {
  records: EncodedRecords
  bytes: number
}

/** CAR index order (length first, then bytewise) for ASCII paths, which every NSID and record key is. */
export function byPath(a: { path: string }, b: { path: string }): number {
  return a.path.length - b.path.length || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
}

/** Every generated current record of a history, encoded (what a cache miss costs). */
export function encodeCurrentRecords(history: GeneratedHistory): EncodedRecords {
  const out: EncodedCurrentRecord[] = new Array<EncodedCurrentRecord>(history.recordCount)
  for (let i = 0; i < history.recordCount; i++) {
    const r = history.record(i)
    out[i] = {
      collection: r.collection,
      rkey: r.rkey,
      path: `${r.collection}/${r.rkey}`,
      bytes: r.bytes,
      cid: r.cid,
      cidObject: decodeCid(r.cidBytes),
      value: r.value,
      rev: history.lastWriteRev(i),
    }
  }
  return { byIndex: out, byPath: [...out].sort(byPath) }
}

export class EncodedRecordCache {
  /** Insertion order is recency order: the first entry is the least recently used. */
  private readonly entries = new Map<GeneratedHistory, Entry>()
  private total = 0

  constructor(readonly budgetBytes: number = DEFAULT_ENCODED_RECORD_CACHE_BYTES) {
    if (!(budgetBytes >= 0)) throw new RangeError('the encoded-record cache budget must be >= 0 bytes')
  }

  /** Estimated bytes held now (never above the budget). */
  get bytes(): number {
    return this.total
  }

  /** Repos held now. */
  get size(): number {
    return this.entries.size
  }

  /** The cached records of a history, if held (and marks it recently used); never computes. */
  peek(history: GeneratedHistory): EncodedRecords | undefined {
    const entry = this.entries.get(history)
    if (!entry) return undefined
    this.entries.delete(history)
    this.entries.set(history, entry)
    return entry.records
  }

  /** The current records of a history: cached, or encoded now and kept if they fit the budget. */
  records(history: GeneratedHistory): EncodedRecords {
    const hit = this.peek(history)
    if (hit) return hit
    const records = encodeCurrentRecords(history)
    let bytes = 0
    for (const r of records.byIndex) bytes += estimateRecordBytes(r.bytes.length)
    if (this.budgetBytes > 0 && bytes <= this.budgetBytes) {
      for (const [oldest, entry] of this.entries) {
        if (this.total + bytes <= this.budgetBytes) break
        this.entries.delete(oldest)
        this.total -= entry.bytes
      }
      this.entries.set(history, { records, bytes })
      this.total += bytes
    }
    return records
  }
}
