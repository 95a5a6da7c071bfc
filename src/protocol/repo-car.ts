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
 * no single block may exceed `maxBlockBytes`. Only the index (paths and CIDs) is held in memory.
 */
import { CarBlockIterator } from '@ipld/car'
import { decode as cborgDecode, type TagDecoder } from 'cborg'
import { base32 } from 'multiformats/bases/base32'
import { parseSignedCommit, verifyCommit, type SignedCommit } from './commit.js'
import { bytesEqual } from './bytes.js'
import { ProtocolError } from './errors.js'
import { assertNsid, assertRecordKey } from './identifiers.js'
import { LtHash, pathElement } from './lthash.js'
import { decodeBlock, recordToJson, sha256Bytes } from './record-codec.js'

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
  cidBytes: Uint8Array
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

interface Limits {
  maxBytes: number
  maxBlockBytes: number
  maxIndexBytes: number
}

interface StreamState {
  exceeded: boolean
  /** An error raised by the source itself (network, file): passed through untouched, not a CAR fault. */
  sourceError?: unknown
}

/** Counts bytes as they pass and stops the stream once the cap is exceeded. */
async function* capped(source: AsyncIterable<Uint8Array>, limits: Limits, state: StreamState) {
  let total = 0
  const it = source[Symbol.asyncIterator]()
  for (;;) {
    let r: IteratorResult<Uint8Array>
    try {
      r = await it.next()
    } catch (err) {
      state.sourceError = err
      throw err
    }
    if (r.done) return
    const chunk = r.value
    total += chunk.length
    if (total > limits.maxBytes) {
      state.exceeded = true
      throw new ProtocolError('car_too_large', `CAR exceeds the ${limits.maxBytes}-byte cap`)
    }
    yield chunk
  }
}

function carFailure(err: unknown, capState: StreamState, limits: Limits): Error {
  if (err instanceof ProtocolError) return err
  if (capState.sourceError !== undefined) return capState.sourceError as Error
  if (capState.exceeded) return new ProtocolError('car_too_large', `CAR exceeds the ${limits.maxBytes}-byte cap`)
  const msg = (err as Error)?.message ?? String(err)
  if (/unexpected end|end of data|premature|truncated/i.test(msg)) {
    return new ProtocolError('car_truncated', `CAR ends in the middle of a block: ${msg}`)
  }
  return new ProtocolError('malformed_car', `CAR framing is invalid: ${msg}`)
}

type Block = { cid: { bytes: Uint8Array; toString(): string }; bytes: Uint8Array }

function checkBlock(block: Block, expected: Uint8Array, limits: Limits, what: string): void {
  const cap = what === 'index' ? limits.maxIndexBytes : limits.maxBlockBytes
  if (block.bytes.length > cap) {
    throw new ProtocolError('car_too_large', `${what} block is ${block.bytes.length} bytes (cap ${cap})`)
  }
  if (!bytesEqual(block.cid.bytes, expected)) {
    const reason = what === 'commit' ? 'commit_not_first' : what === 'index' ? 'index_not_second' : 'unexpected_block'
    throw new ProtocolError(reason, `expected the ${what} block, got block ${block.cid.toString()}`)
  }
  // The CAR reader does not hash blocks: a CID names its bytes only after we check it.
  const digest = sha256Bytes(block.bytes)
  if (!bytesEqual(digest, expected.subarray(expected.length - 32)) || !isRecordCidBytes(expected)) {
    throw new ProtocolError('block_cid_mismatch', `${what} block bytes do not hash to ${block.cid.toString()}`)
  }
}

/** CIDv1 (0x01), dag-cbor (0x71), sha2-256 (0x12) with a 32-byte digest (0x20): 36 bytes. */
function isRecordCidBytes(b: Uint8Array): boolean {
  return b.length === 36 && b[0] === 0x01 && b[1] === 0x71 && b[2] === 0x12 && b[3] === 0x20
}

/**
 * The index is decoded with cborg directly, keeping each CID as its raw bytes: building a CID object per
 * entry dominated the cost of large repos. The index's byte encoding is not authenticated (only its
 * entries are, through the LtHash), so only the data-model rules that change the entry set matter:
 * string keys, no duplicates, tag-42 CID values.
 */
const INDEX_TAGS: TagDecoder[] = []
INDEX_TAGS[42] = (bytes: unknown) => {
  if (!(bytes instanceof Uint8Array) || bytes[0] !== 0) throw new Error('tag 42 must wrap 0x00-prefixed CID bytes')
  return { cidBytes: bytes.subarray(1) }
}

function decodeIndex(bytes: Uint8Array): unknown {
  try {
    return cborgDecode(bytes, { tags: INDEX_TAGS, strict: true, rejectDuplicateMapKeys: true, useMaps: false, allowIndefinite: false, allowUndefined: false })
  } catch (err) {
    throw new ProtocolError('malformed_index', `index block is not valid DAG-CBOR: ${(err as Error).message}`)
  }
}

function parseIndex(value: unknown): IndexEntry[] {
  // Collections repeat across entries: validate each distinct one once.
  const validCollections = new Set<string>()
  if (!value || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ProtocolError('malformed_index', 'index must be a map of path -> CID')
  }
  const entries: IndexEntry[] = []
  for (const [path, link] of Object.entries(value as Record<string, unknown>)) {
    const slash = path.indexOf('/')
    const collection = path.slice(0, slash)
    const rkey = path.slice(slash + 1)
    try {
      if (slash < 0) throw new Error()
      if (!validCollections.has(collection)) {
        assertNsid(collection)
        validCollections.add(collection)
      }
      assertRecordKey(rkey)
    } catch {
      throw new ProtocolError('malformed_index', `index key "${path}" is not {collection}/{rkey}`)
    }
    const cidBytes = (link as { cidBytes?: unknown } | null)?.cidBytes
    if (!(cidBytes instanceof Uint8Array) || !isRecordCidBytes(cidBytes)) {
      throw new ProtocolError('malformed_index', `index entry ${path} is not a dag-cbor sha2-256 CID link`)
    }
    entries.push({ path, collection, rkey, cid: base32.encode(cidBytes), cidBytes })
  }
  return entries
}

/**
 * Reads and verifies the header, commit and index; returns the verified head and a generator over the
 * verified records. Throws ProtocolError (stage header/commit/index) before returning.
 */
export async function openRepoCar(source: AsyncIterable<Uint8Array>, opts: RepoCarOptions): Promise<VerifiedRepoCar> {
  const limits: Limits = {
    maxBytes: opts.maxBytes ?? DEFAULT_MAX_CAR_BYTES,
    maxBlockBytes: opts.maxBlockBytes ?? DEFAULT_MAX_BLOCK_BYTES,
    maxIndexBytes: opts.maxIndexBytes ?? DEFAULT_MAX_INDEX_BYTES,
  }
  const capState: StreamState = { exceeded: false }
  let blocks: AsyncIterator<Block>
  let roots: { bytes: Uint8Array }[]
  try {
    const reader = await CarBlockIterator.fromIterable(capped(source, limits, capState))
    if (reader.version !== 1) throw new ProtocolError('bad_car_header', `CAR version ${reader.version}; want 1`)
    roots = await reader.getRoots()
    blocks = reader[Symbol.asyncIterator]() as AsyncIterator<Block>
  } catch (err) {
    const e = carFailure(err, capState, limits)
    throw e instanceof ProtocolError && e.reason === 'malformed_car' ? new ProtocolError('bad_car_header', e.message) : e
  }
  if (roots.length !== 2) {
    throw new ProtocolError('bad_car_header', `CAR header must name 2 roots [commit, index], got ${roots.length}`)
  }
  const [commitRoot, indexRoot] = roots as [{ bytes: Uint8Array }, { bytes: Uint8Array }]

  const next = async (): Promise<Block | null> => {
    try {
      const r = await blocks.next()
      return r.done ? null : r.value
    } catch (err) {
      throw carFailure(err, capState, limits)
    }
  }

  const commitBlock = await next()
  if (!commitBlock) throw new ProtocolError('commit_not_first', 'CAR has no blocks; expected the commit first')
  checkBlock(commitBlock, commitRoot.bytes, limits, 'commit')
  const commit = parseSignedCommit(decodeBlock(commitBlock.bytes, 'malformed_commit', 'commit block'))
  await verifyCommit({ commit, space: opts.space, author: opts.author, didKey: opts.didKey })

  const indexBlock = await next()
  if (!indexBlock) throw new ProtocolError('index_not_second', 'CAR ends after the commit; expected the index')
  checkBlock(indexBlock, indexRoot.bytes, limits, 'index')
  const entries = parseIndex(decodeIndex(indexBlock.bytes))
  const lt = new LtHash()
  for (const e of entries) lt.add(pathElement(e.path, e.cid))
  const hash = lt.digest()
  if (!bytesEqual(hash, commit.hash)) {
    throw new ProtocolError('index_hash_mismatch', 'index does not match the commit hash')
  }

  const head: VerifiedRepoHead = {
    commit,
    commitCid: commitBlock.cid.toString(),
    rev: commit.rev,
    hash,
    state: lt.state(),
    entries,
  }
  const decodeValues = opts.decodeValues ?? true

  async function* records(): AsyncGenerator<VerifiedRecord, void, undefined> {
    let i = 0
    for (;;) {
      const block = await next()
      if (!block) break
      const entry = entries[i]
      if (!entry) {
        throw new ProtocolError('unexpected_block', `CAR has a block after the last index entry: ${block.cid.toString()}`)
      }
      checkBlock(block, entry.cidBytes, limits, `record ${entry.path}`)
      i++
      const rec: VerifiedRecord = { path: entry.path, collection: entry.collection, rkey: entry.rkey, cid: entry.cid, bytes: block.bytes }
      if (decodeValues) rec.value = recordToJson(decodeBlock(block.bytes, 'malformed_car', `record ${entry.path}`))
      yield rec
    }
    const indexOnly = i === 0 && !opts.expectValues
    if (i !== entries.length && !indexOnly) {
      throw new ProtocolError('missing_records', `CAR is missing ${entries.length - i} record(s) named in the index`)
    }
  }

  return { head, records }
}
