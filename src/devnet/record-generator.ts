/**
 * Generated repo history: the records and oplog a permissioned repo was seeded with, computed on demand
 * from (seed, space index, author index, record index) so a 10-million-record network is never held in
 * memory. Nothing here is stored per record; every accessor recomputes.
 *
 * History layout for R records with `historyEvery` = E (E = 0 means creates only), as ops k = 0..N-1:
 *   A  k ∈ [0, R)             create record i = k (version 0)
 *   B  next G = ⌊R/E⌋ ops     create ghost g (a record that is later deleted)
 *   C  next U = ⌊R/E⌋ ops     update record i = (j+1)·E − 1 to version 1
 *   D  next G ops             delete ghost g
 * Ops are grouped into batches of `batchSize`: op k has rev = TID(baseMicros + ⌊k/batchSize⌋) and idx =
 * k mod batchSize, so revs and (rev, idx) order follow k. The current set is exactly the R records (updated
 * ones at version 1); ghosts exist only in the log, which gives syncers stale creates and deletes to handle.
 *
 * Content: record keys are TIDs (clock id 1 for records, 2 for ghosts) so a path maps back to its index;
 * collections and text are chosen by a cheap integer hash; two records in every `duplicateEvery` have
 * identical content (same CID under different paths, to exercise "no dedupe"); every
 * `blobEvery`-th record references a small generated blob (CIDv1 raw).
 */
import { createHash } from 'node:crypto'
import { createCid } from '@atproto/lex-data'
import { blockCidBytes, cidBytesString, encodeFast, type FastValue } from './fast-cbor.js'
import { derive, hashInts } from './seeded.js'
import { tidFromMicros, tidParts } from './tid.js'

export const GENERATED_COLLECTIONS = [
  'com.example.devnet.post',
  'com.example.devnet.post',
  'com.example.devnet.post',
  'com.example.devnet.comment',
  'com.example.devnet.comment',
  'com.example.devnet.reaction',
] as const

const WORDS = (
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa ' +
  'quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber basil cedar dune ember fern ' +
  'granite harbor iris jade kelp lumen moss nectar opal pine quartz reed sage tide umber vale willow'
).split(' ')

const RECORD_CLOCK = 1
const GHOST_CLOCK = 2
const RAW_CODEC = 0x55
const SHA2_256 = 0x12

export interface HistoryShape {
  records: number
  /** Every E-th record is updated once in the history and E-th ghost churn is added; 0 = creates only. */
  historyEvery: number
  batchSize: number
  blobEvery: number
  duplicateEvery: number
}

export const DEFAULT_SHAPE: Omit<HistoryShape, 'records'> = {
  historyEvery: 10,
  batchSize: 10,
  blobEvery: 20,
  duplicateEvery: 25,
}

export interface GeneratedBlob {
  cid: string
  bytes: Uint8Array
  mimeType: string
}

export interface EncodedRecord {
  collection: string
  rkey: string
  /** JSON (XRPC) form of the value. */
  value: Record<string, unknown>
  bytes: Uint8Array
  cid: string
  /** The CID in byte form (36 bytes). */
  cidBytes: Uint8Array
}

export interface HistoryOp {
  rev: string
  idx: number
  collection: string
  rkey: string
  cid: string | null
  prev: string | null
}

/** A record slot of the history: either one of the R records or a ghost. */
type Slot = { kind: 'record' | 'ghost'; n: number }

export class GeneratedHistory {
  readonly opCount: number
  readonly lastRev: string
  private readonly salt: number
  private readonly ghosts: number
  private readonly updates: number

  constructor(
    seed: string,
    readonly spaceIndex: number,
    readonly authorIndex: number,
    readonly shape: HistoryShape,
    /** Microsecond time of the first batch; record keys and timestamps derive from it. */
    readonly baseMicros: number,
  ) {
    const d = derive(seed, 'repo', spaceIndex, authorIndex)
    this.salt = new DataView(d.buffer).getUint32(0)
    const e = shape.historyEvery
    this.ghosts = e > 0 ? Math.floor(shape.records / e) : 0
    this.updates = this.ghosts
    this.opCount = shape.records + 2 * this.ghosts + this.updates
    this.lastRev = this.revOf(this.opCount - 1)
  }

  get recordCount(): number {
    return this.shape.records
  }

  /** The rev of op k (all ops of one batch share it). */
  revOf(k: number): string {
    return tidFromMicros(this.baseMicros + Math.floor(k / this.shape.batchSize))
  }

  private isUpdated(i: number): boolean {
    const e = this.shape.historyEvery
    return e > 0 && i % e === e - 1
  }

  /** The version a record has in the generated current state. */
  finalVersion(i: number): number {
    return this.isUpdated(i) ? 1 : 0
  }

  /** Collection and record key of record i (no encoding). */
  recordPath(i: number): { collection: string; rkey: string } {
    const slot: Slot = { kind: 'record', n: i }
    return { collection: this.collectionOf(slot), rkey: this.rkeyOf(slot) }
  }

  /** Records that share one content (and so one CID) under different paths: two in every `duplicateEvery`. */
  private isDuplicate(slot: Slot): boolean {
    const dup = this.shape.duplicateEvery
    const r = slot.n % dup
    return slot.kind === 'record' && dup > 2 && (r === dup - 2 || r === dup - 3)
  }

  private collectionOf(slot: Slot): string {
    if (this.isDuplicate(slot)) return GENERATED_COLLECTIONS[0]
    const c =
      GENERATED_COLLECTIONS[
        hashInts(this.salt, slot.kind === 'record' ? 1 : 2, slot.n) % GENERATED_COLLECTIONS.length
      ]
    return c as string
  }

  private rkeyOf(slot: Slot): string {
    return tidFromMicros(this.baseMicros + slot.n, slot.kind === 'record' ? RECORD_CLOCK : GHOST_CLOCK)
  }

  /** Maps a path back to its record index (current records only; ghosts are never current). */
  indexOf(collection: string, rkey: string): number | undefined {
    let parts: { micros: number; clockId: number }
    try {
      parts = tidParts(rkey)
    } catch {
      return undefined
    }
    const i = parts.micros - this.baseMicros
    if (parts.clockId !== RECORD_CLOCK || i < 0 || i >= this.shape.records) return undefined
    return this.collectionOf({ kind: 'record', n: i }) === collection ? i : undefined
  }

  /** The blob a record version references, if any. */
  blobOf(i: number): GeneratedBlob | undefined {
    const every = this.shape.blobEvery
    if (every <= 0 || i % every !== 0) return undefined
    const len = 64 + (hashInts(this.salt, 3, i) % 192)
    const bytes = new Uint8Array(len)
    for (let off = 0; off < len; off += 4) {
      const word = hashInts(this.salt, 4, i, off)
      for (let b = 0; b < 4 && off + b < len; b++) bytes[off + b] = (word >>> (8 * b)) & 0xff
    }
    const digest = createHash('sha256').update(bytes).digest()
    return {
      cid: createCid(RAW_CODEC, SHA2_256, digest).toString(),
      bytes,
      mimeType: 'application/octet-stream',
    }
  }

  private valueOf(slot: Slot, version: number): Record<string, unknown> {
    const collection = this.collectionOf(slot)
    const createdAt = new Date(Math.floor((this.baseMicros + slot.n * 1000) / 1000)).toISOString()
    if (slot.kind === 'ghost') return { $type: collection, text: `ghost ${slot.n}`, createdAt }
    const i = slot.n
    if (this.isDuplicate(slot) && version === 0) {
      // Identical content under different paths: same CID, one CAR block per path.
      return { $type: collection, text: 'same again', createdAt: '2025-01-01T00:00:00.000Z' }
    }
    const h = hashInts(this.salt, 5, i)
    const count = 3 + (h % 9)
    const words: string[] = []
    for (let w = 0; w < count; w++) words.push(WORDS[hashInts(h, w) % WORDS.length] as string)
    const value: Record<string, unknown> = { $type: collection, text: words.join(' '), createdAt, seq: i }
    if (version > 0) {
      value['text'] = `${value['text']} (edited)`
      value['editedAt'] = new Date(Math.floor(this.baseMicros / 1000) + 3_600_000).toISOString()
    }
    const blob = this.blobOf(i)
    if (blob) {
      value['attachment'] = {
        $type: 'blob',
        ref: { $link: blob.cid },
        mimeType: blob.mimeType,
        size: blob.bytes.length,
      }
    }
    return value
  }

  private encode(slot: Slot, version: number): EncodedRecord {
    const value = this.valueOf(slot, version)
    const bytes = encodeFast(value as FastValue)
    const cidBytes = blockCidBytes(bytes)
    return {
      collection: this.collectionOf(slot),
      rkey: this.rkeyOf(slot),
      value,
      bytes,
      cid: cidBytesString(cidBytes),
      cidBytes,
    }
  }

  /** Record i as it is in the generated current state. */
  record(i: number): EncodedRecord {
    return this.encode({ kind: 'record', n: i }, this.finalVersion(i))
  }

  /** Op k of the generated log. */
  op(k: number): HistoryOp {
    const { records } = this.shape
    const rev = this.revOf(k)
    const idx = k % this.shape.batchSize
    const base = (slot: Slot) => ({ rev, idx, collection: this.collectionOf(slot), rkey: this.rkeyOf(slot) })
    if (k < records) {
      const slot: Slot = { kind: 'record', n: k }
      return { ...base(slot), cid: this.encode(slot, 0).cid, prev: null }
    }
    let j = k - records
    if (j < this.ghosts) {
      const slot: Slot = { kind: 'ghost', n: j }
      return { ...base(slot), cid: this.encode(slot, 0).cid, prev: null }
    }
    j -= this.ghosts
    if (j < this.updates) {
      const slot: Slot = { kind: 'record', n: (j + 1) * this.shape.historyEvery - 1 }
      return { ...base(slot), cid: this.encode(slot, 1).cid, prev: this.encode(slot, 0).cid }
    }
    j -= this.updates
    if (j < this.ghosts) {
      const slot: Slot = { kind: 'ghost', n: j }
      return { ...base(slot), cid: null, prev: this.encode(slot, 0).cid }
    }
    throw new RangeError(`op ${k} is beyond the generated log of ${this.opCount} ops`)
  }

  /** The rev of the op that last wrote record i (for listBlobs `since`). */
  lastWriteRev(i: number): string {
    if (!this.isUpdated(i)) return this.revOf(i)
    const j = (i + 1) / this.shape.historyEvery - 1
    return this.revOf(this.shape.records + this.ghosts + j)
  }
}
