/**
 * Streaming verification of a getRepo CAR (CARv1).
 *
 * Layout: header {version: 1, roots: [commitCid, indexCid]}; block 1 = signed commit (cid == roots[0]);
 * block 2 = index, a DAG-CBOR map "{collection}/{rkey}" -> CID (cid == roots[1]); then exactly one record
 * block per index entry, in the order the entries appear in the encoded index (identical records appear
 * once per entry, so blocks are matched to entries by position, never deduplicated).
 *
 * Order of trust: the commit is verified (signature, MAC) before the index is read; the index is folded
 * into a fresh LtHash whose sha256 must equal commit.hash before any record is looked at; every record
 * block must be the next index entry's CID and must hash to it. Only then is a record yielded. A failure
 * at any point throws a ProtocolError and the caller must discard everything yielded so far: the repo as
 * a whole is either verified or failed.
 *
 * Memory is bounded: the source is consumed incrementally, at most `maxBytes` are read in total, and
 * no single block may exceed `maxBlockBytes` (checked from its length prefix, before it is buffered).
 * Only the index (paths and CIDs) is held in memory.
 *
 * Cost: a large repo is dominated by one LtHash expansion per index entry and one sha256 per record; the
 * rest (framing in car-frames.ts, the index decoder below, CIDs kept as bytes) is kept allocation-light
 * so that it stays well below those. Decoding values to JSON (`decodeValues`) is a separate, optional cost.
 */
import { CID } from 'multiformats/cid'
import { bytesEqual, toHex } from './bytes.js'
import { CarFrameReader } from './car-frames.js'
import { parseSignedCommit, verifyCommit, type SignedCommit } from './commit.js'
import { ProtocolError } from './errors.js'
import { assertNsid, assertRecordKey } from './identifiers.js'
import { LtHash, pathElement } from './lthash.js'
import { cidBytesToString, decodeBlock, encodeBlock, recordCidMatches, recordToJson } from './record-codec.js'

export const DEFAULT_MAX_CAR_BYTES = 512 * 1024 * 1024
export const DEFAULT_MAX_BLOCK_BYTES = 2 * 1024 * 1024
/** The index grows with the repo (about 100 bytes an entry): 64 MiB is roughly 600k records. */
export const DEFAULT_MAX_INDEX_BYTES = 64 * 1024 * 1024

export interface RepoCarOptions {
  space: string
  /** The repo DID that was requested (never taken from the CAR). */
  author: string
  /** The author's #atproto signing key as did:key. */
  didKey: string
  /** false permits an index-only CAR (getRepo?excludeValues=true). */
  expectValues: boolean
  /** Decode record values to JSON form (default true); false yields verified bytes only. */
  decodeValues?: boolean
  maxBytes?: number
  /** Cap for the commit and each record block. */
  maxBlockBytes?: number
  /** Cap for the index block, which is held in memory while the records stream. */
  maxIndexBytes?: number
}

export interface IndexEntry {
  path: string
  collection: string
  rkey: string
  cid: string
}

export interface VerifiedRepoHead {
  commit: SignedCommit
  commitCid: string
  rev: string
  /** sha256 of the LtHash state == commit.hash. */
  hash: Uint8Array
  /** The 2048-byte LtHash state of the verified index, to persist. */
  state: Uint8Array
  /** Index entries in CAR order. */
  entries: IndexEntry[]
}

export interface VerifiedRecord {
  path: string
  collection: string
  rkey: string
  cid: string
  /** The verified DAG-CBOR block bytes. */
  bytes: Uint8Array
  /** JSON-form value ({"$link"}, {"$bytes"}), unless decodeValues is false. */
  value?: unknown
}

export interface VerifiedRepoCar {
  head: VerifiedRepoHead
  /** Yields each verified record; completes only when the CAR is fully verified. */
  records(): AsyncGenerator<VerifiedRecord, void, undefined>
}

/** Human-readable form of CID bytes from the CAR, for error messages only. */
function describeCid(cid: Uint8Array): string {
  try {
    return CID.decode(cid).toString()
  } catch {
    return `<invalid CID ${toHex(cid)}>`
  }
}

/**
 * Checks that the reader's current section is the block named by the CID expected[at, at + length) (a
 * header root, or a CID inside the index block) and that its bytes hash to that CID. Returns the block.
 */
function checkBlock(
  reader: CarFrameReader,
  expected: Uint8Array,
  at: number,
  length: number,
  what: string,
): Uint8Array {
  if (!reader.cidEquals(expected, at, length)) {
    const reason =
      what === 'commit' ? 'commit_not_first' : what === 'index' ? 'index_not_second' : 'unexpected_block'
    throw new ProtocolError(reason, `expected the ${what} block, got block ${describeCid(reader.cid())}`)
  }
  // The framing does not hash blocks: a CID names its bytes only after this check. (A record-CID prefix
  // means 36 bytes: a header root is a whole decoded CID, and index CIDs are read as 36 bytes.)
  const bytes = reader.block()
  if (!recordCidMatches(expected, bytes, at)) {
    const cid = describeCid(expected.subarray(at, at + length))
    throw new ProtocolError('block_cid_mismatch', `${what} block bytes do not hash to ${cid}`)
  }
  return bytes
}

/** True when a decoded string, map key or nested value contains U+FFFD. */
function hasReplacementChar(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\uFFFD')
  if (Array.isArray(value)) return value.some(hasReplacementChar)
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) if (k.includes('\uFFFD') || hasReplacementChar(v)) return true
  }
  return false
}

/**
 * The CBOR decoder replaces invalid UTF-8 in text strings with U+FFFD instead of failing, so a block whose
 * bytes match its CID could still be stored as a value that no longer encodes to those bytes (two different
 * blocks could read as one record). Text must be valid UTF-8 in the data model: a decoded record holding
 * U+FFFD (rare in real text, so the common path costs one walk) must re-encode to exactly its block.
 */
function checkUtf8(value: unknown, bytes: Uint8Array, path: string): void {
  if (!hasReplacementChar(value)) return
  let same = false
  try {
    same = bytesEqual(encodeBlock(value), bytes)
  } catch {
    // Not re-encodable at all: as malformed as a mismatch.
  }
  if (!same) throw new ProtocolError('malformed_car', `record ${path} holds text that is not valid UTF-8`)
}

/** The only DAG-CBOR encoding of a record-CID link: tag 42, 37-byte string, 0x00, CIDv1 dag-cbor sha2-256. */
const LINK_PREFIX = Uint8Array.of(0xd8, 0x2a, 0x58, 0x25, 0x00, 0x01, 0x71, 0x12, 0x20)
const LINK_BYTES = LINK_PREFIX.length + 32

/** True when key bytes[b, bEnd) sorts after key bytes[a, aEnd) (DAG-CBOR: shorter first, then bytewise). */
function keyFollows(bytes: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return bEnd - b > aEnd - a
  for (; a < aEnd; a++, b++) if (bytes[a] !== bytes[b]) return bytes[b]! > bytes[a]!
  return false
}

/**
 * Decodes the index block: a DAG-CBOR map "{collection}/{rkey}" -> CID link, entries in encoded order.
 *
 * A dedicated decoder rather than a general CBOR one: building a 100k-key object and a CID per entry
 * dominated large repos. It accepts exactly what a strict DAG-CBOR decoder (definite lengths, minimal
 * heads, no duplicate keys, no trailing bytes) would, restricted to what a valid index can hold: string
 * keys that are ASCII (NSIDs and record keys are) and values that are record-CID links, for which only
 * one byte encoding exists. The index's byte encoding is not authenticated (only its entries are, through
 * the LtHash), so key order is not required to be canonical; but in canonical order (how conforming hosts
 * write it) no key can repeat, which a comparison with the previous key shows without hashing every key.
 */
function parseIndex(bytes: Uint8Array): { entries: IndexEntry[]; cidOffsets: Int32Array } {
  const keys = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let pos = 0
  /** A definite-length, minimally encoded CBOR head of `major` type at pos; returns its argument. */
  const head = (major: number, what: string): number => {
    const ib = bytes[pos++]
    if (ib === undefined || ib >> 5 !== major)
      throw new ProtocolError('malformed_index', `index ${what} expected`)
    const info = ib & 31
    if (info < 24) return info
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (size === 0 || pos + size > bytes.length) {
      throw new ProtocolError('malformed_index', `index ${what} has an invalid length`)
    }
    let value = 0
    for (let i = 0; i < size; i++) value = value * 256 + bytes[pos++]!
    if (value < (size === 1 ? 24 : 2 ** (4 * size)) || !Number.isSafeInteger(value)) {
      throw new ProtocolError('malformed_index', `index ${what} length is not minimally encoded`)
    }
    return value
  }

  const count = head(5, 'map')
  const entries: IndexEntry[] = []
  // Each entry's CID stays in the index block; only its offset is kept (no view object per entry).
  const cidOffsets = new Int32Array(Math.min(count, Math.floor(bytes.length / LINK_BYTES)))
  // Every key so far, built only once the keys leave canonical order (then duplicates must be looked up).
  let seen: Set<string> | null = null
  let prevKey = -1
  let prevKeyEnd = -1
  // Collections repeat across entries: validate each distinct one once, and share one string for it.
  const collections = new Map<string, string>()
  for (let n = 0; n < count; n++) {
    const keyLength = head(3, 'key')
    const keyEnd = pos + keyLength
    if (keyEnd > bytes.length) throw new ProtocolError('malformed_index', 'index ends inside a key')
    let slash = -1
    let ascii = true
    for (let i = pos; i < keyEnd; i++) {
      const b = bytes[i]!
      if (b >= 0x80) ascii = false
      else if (b === 0x2f && slash < 0) slash = i - pos
    }
    const path = keys.toString('latin1', pos, keyEnd)
    const rkey = path.slice(slash + 1)
    let collection = path.slice(0, slash)
    try {
      if (!ascii || slash < 0) throw new Error()
      const known = collections.get(collection)
      if (known === undefined) {
        assertNsid(collection)
        collections.set(collection, collection)
      } else {
        collection = known
      }
      assertRecordKey(rkey)
    } catch {
      throw new ProtocolError('malformed_index', `index key "${path}" is not {collection}/{rkey}`)
    }
    if (seen === null && prevKey >= 0 && !keyFollows(bytes, prevKey, prevKeyEnd, pos, keyEnd)) {
      seen = new Set(entries.map((e) => e.path))
    }
    if (seen !== null) {
      if (seen.has(path)) throw new ProtocolError('malformed_index', `index repeats the key "${path}"`)
      seen.add(path)
    }
    prevKey = pos
    prevKeyEnd = keyEnd
    pos = keyEnd
    let link = pos + LINK_BYTES <= bytes.length
    for (let i = 0; link && i < LINK_PREFIX.length; i++) link = bytes[pos + i] === LINK_PREFIX[i]
    if (!link) {
      throw new ProtocolError('malformed_index', `index entry ${path} is not a dag-cbor sha2-256 CID link`)
    }
    // Every entry takes at least LINK_BYTES, so cidOffsets has room for all that fit in the block.
    cidOffsets[n] = pos + 5
    entries.push({ path, collection, rkey, cid: cidBytesToString(bytes, pos + 5, 36) })
    pos += LINK_BYTES
  }
  if (pos !== bytes.length) throw new ProtocolError('malformed_index', 'index block has bytes after the map')
  return { entries, cidOffsets }
}

/**
 * Reads and verifies the header, commit and index; returns the verified head and a generator over the
 * verified records. Throws ProtocolError (stage header/commit/index) before returning.
 */
export async function openRepoCar(
  source: AsyncIterable<Uint8Array>,
  opts: RepoCarOptions,
): Promise<VerifiedRepoCar> {
  const maxBlockBytes = opts.maxBlockBytes ?? DEFAULT_MAX_BLOCK_BYTES
  const maxIndexBytes = opts.maxIndexBytes ?? DEFAULT_MAX_INDEX_BYTES
  const reader = new CarFrameReader(source, opts.maxBytes ?? DEFAULT_MAX_CAR_BYTES)
  const { roots } = await reader.header(maxBlockBytes)
  if (roots.length !== 2) {
    throw new ProtocolError(
      'bad_car_header',
      `CAR header must name 2 roots [commit, index], got ${roots.length}`,
    )
  }
  const [commitRoot, indexRoot] = roots as [{ bytes: Uint8Array }, { bytes: Uint8Array }]

  if (!(await reader.next(maxBlockBytes))) {
    throw new ProtocolError('commit_not_first', 'CAR has no blocks; expected the commit first')
  }
  const commitBytes = checkBlock(reader, commitRoot.bytes, 0, commitRoot.bytes.length, 'commit')
  const commit = parseSignedCommit(decodeBlock(commitBytes, 'malformed_commit', 'commit block'))
  await verifyCommit({ commit, space: opts.space, author: opts.author, didKey: opts.didKey })

  if (!(await reader.next(maxIndexBytes))) {
    throw new ProtocolError('index_not_second', 'CAR ends after the commit; expected the index')
  }
  const indexBytes = checkBlock(reader, indexRoot.bytes, 0, indexRoot.bytes.length, 'index')
  const { entries, cidOffsets } = parseIndex(indexBytes)
  const lt = new LtHash()
  for (const e of entries) lt.add(pathElement(e.path, e.cid))
  const hash = lt.digest()
  if (!bytesEqual(hash, commit.hash)) {
    throw new ProtocolError('index_hash_mismatch', 'index does not match the commit hash')
  }

  const head: VerifiedRepoHead = {
    commit,
    commitCid: cidBytesToString(commitRoot.bytes),
    rev: commit.rev,
    hash,
    state: lt.state(),
    entries,
  }
  const decodeValues = opts.decodeValues ?? true

  async function* records(): AsyncGenerator<VerifiedRecord, void, undefined> {
    let i = 0
    for (;;) {
      if (!(await reader.next(maxBlockBytes))) break
      const entry = entries[i]
      if (!entry) {
        throw new ProtocolError(
          'unexpected_block',
          `CAR has a block after the last index entry: ${describeCid(reader.cid())}`,
        )
      }
      const bytes = checkBlock(reader, indexBytes, cidOffsets[i]!, 36, `record ${entry.path}`)
      i++
      const rec: VerifiedRecord = {
        path: entry.path,
        collection: entry.collection,
        rkey: entry.rkey,
        cid: entry.cid,
        bytes,
      }
      if (decodeValues) {
        const value = decodeBlock(bytes, 'malformed_car', `record ${entry.path}`)
        checkUtf8(value, bytes, entry.path)
        rec.value = recordToJson(value)
      }
      yield rec
    }
    const indexOnly = i === 0 && !opts.expectValues
    if (i !== entries.length && !indexOnly) {
      throw new ProtocolError(
        'missing_records',
        `CAR is missing ${entries.length - i} record(s) named in the index`,
      )
    }
  }

  return { head, records }
}
