/**
 * The repo-host side of com.atproto.space on a devnet host: reads of permissioned repos (getRepo,
 * listRepoOps, getLatestCommit, listRecords, getRecord, listBlobs, getBlob), writes (createRecord,
 * putRecord, deleteRecord, applyWrites), getDelegationToken and listSpaces.
 *
 * Invariants (reference behaviour, see SPEC §4–§5):
 * - Reads take a space credential + DPoP (any repo of that space on this host) or the owner's own session
 *   (own repo only; another DID is RepoNotFound). A credential for another space is 400 InvalidCredential.
 * - Account gating: unknown/deleted account → RepoNotFound; taken down → RepoTakendown; deactivated →
 *   RepoDeactivated (the owner's own session bypasses both).
 * - Every response builds a fresh commit (new ikm) over the current (rev, hash), signed with the author's
 *   current #atproto key; getLatestCommit adds `$type`, listRepoOps and the CAR do not.
 * - listRepoOps: `since` AND `cursor` both bound the page; full page ⇒ cursor, no commit; short page ⇒
 *   commit, no cursor; never-written repo of a hosted account ⇒ `{ops: []}`.
 * - Writes: session of the repo owner (else 403), each non-empty batch is one new rev, and an accepted write
 *   notifies the authority's space host in the background.
 * Content faults (forged signature, wrong MAC, index/hash mismatch, record/CID mismatch, oplog gap, since
 * ahead of head, endless cursor, truncated CAR, expired/wrong-audience delegation tokens) alter one
 * response only.
 */
import { randomBytes } from 'node:crypto'
import { commitToJson, createSignedCommit, type SignedCommit } from '../protocol/commit.js'
import {
  createDelegationToken,
  DELEGATION_TOKEN_LIFETIME_SEC,
  DELEGATION_TOKEN_TYP,
} from '../protocol/delegation-token.js'
import { signJws } from '../protocol/jws.js'
import { encodeRecordJson } from '../protocol/record-codec.js'
import { repoCarBytes, writeRepoCar, type CarRecord } from '../protocol/repo-car-write.js'
import { formatSpaceRecordUri, parseSpaceUri } from '../protocol/space-uri.js'
import type { Account } from './accounts.js'
import { coalescedChunks } from './coalesced-chunks.js'
import { encodeIfPlain } from './fast-cbor.js'
import type { FaultKind, FaultTarget } from './faults.js'
import type { HostContext } from './host.js'
import { PermissionedRepo, type CurrentRecord, type PreparedWrite, type RepoOp } from './permissioned-repo.js'
import { deriveDid } from './seeded.js'
import { tidFromMicros, tidMicros } from './tid.js'
import {
  invalidRequest,
  validateInput,
  XrpcError,
  type Schema,
  type XrpcContext,
  type XrpcOutput,
  type XrpcRouter,
} from './xrpc-router.js'

const NS = 'com.atproto.space'
const MAX_APPLY_WRITES = 200

const spaceParam = { type: 'string', format: 'space-ref', required: true } as const
const repoParam = { type: 'string', format: 'did', required: true } as const
const limit = (max: number, def: number) =>
  ({ type: 'integer', minimum: 1, maximum: max, default: def }) as const

const writeInput: Schema = {
  space: spaceParam,
  repo: repoParam,
  collection: { type: 'string', format: 'nsid', required: true },
  validate: { type: 'boolean' },
}

export class RepoHost {
  constructor(
    private readonly ctx: HostContext,
    router: XrpcRouter,
    private readonly ownedSpaces: (did: string) => string[],
  ) {
    const read = (nsid: string, params: Schema, fn: (c: XrpcContext) => Promise<XrpcOutput>) =>
      router.add({ nsid: `${NS}.${nsid}`, type: 'query', params, handler: fn })
    const write = (nsid: string, fn: (c: XrpcContext) => Promise<XrpcOutput>) =>
      router.add({ nsid: `${NS}.${nsid}`, type: 'procedure', handler: fn })

    read(
      'getRepo',
      { space: spaceParam, repo: repoParam, excludeValues: { type: 'boolean', default: false } },
      (c) => this.getRepo(c),
    )
    read(
      'listRepoOps',
      {
        space: spaceParam,
        repo: repoParam,
        since: { type: 'string', format: 'tid' },
        limit: limit(1000, 100),
        cursor: { type: 'string' },
        excludeValues: { type: 'boolean', default: false },
      },
      (c) => this.listRepoOps(c),
    )
    read('getLatestCommit', { space: spaceParam, repo: repoParam }, (c) => this.getLatestCommit(c))
    read(
      'listRecords',
      {
        space: spaceParam,
        repo: repoParam,
        collection: { type: 'string', format: 'nsid' },
        limit: limit(1000, 50),
        cursor: { type: 'string' },
        reverse: { type: 'boolean' },
        excludeValues: { type: 'boolean', default: false },
      },
      (c) => this.listRecords(c),
    )
    read(
      'getRecord',
      {
        space: spaceParam,
        repo: repoParam,
        collection: { type: 'string', format: 'nsid', required: true },
        rkey: { type: 'string', format: 'record-key', required: true },
      },
      (c) => this.getRecord(c),
    )
    read(
      'listBlobs',
      {
        space: spaceParam,
        repo: repoParam,
        since: { type: 'string', format: 'tid' },
        limit: limit(1000, 500),
        cursor: { type: 'string' },
      },
      (c) => this.listBlobs(c),
    )
    read(
      'getBlob',
      { space: spaceParam, repo: repoParam, cid: { type: 'string', format: 'cid', required: true } },
      (c) => this.getBlob(c),
    )
    read('getDelegationToken', { space: spaceParam }, (c) => this.getDelegationToken(c))
    read(
      'listSpaces',
      {
        type: { type: 'string', format: 'nsid' },
        did: { type: 'string', format: 'did' },
        limit: limit(100, 50),
        cursor: { type: 'string' },
      },
      (c) => this.listSpaces(c),
    )
    write('createRecord', (c) => this.createRecord(c))
    write('putRecord', (c) => this.putRecord(c))
    write('deleteRecord', (c) => this.deleteRecord(c))
    write('applyWrites', (c) => this.applyWrites(c))
  }

  // ---------------------------------------------------------------------------------------------- reads

  /** Auth, space binding and account availability for a read; returns the repo (if it was ever written). */
  private async openForRead(
    c: XrpcContext,
  ): Promise<{ space: string; did: string; repo?: PermissionedRepo }> {
    const space = c.params['space'] as string
    const did = c.params['repo'] as string
    const auth = await this.ctx.auth.read(c)
    let self = false
    if (auth.kind === 'credential') {
      if (auth.space !== space)
        throw invalidRequest('Credential is not scoped to this space', 'InvalidCredential')
    } else {
      if (auth.account.did !== did)
        throw invalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
      self = true
    }
    const account = this.ctx.accounts.get(did)
    if (!account || account.host !== this.ctx.index || account.status === 'deleted') {
      throw invalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
    }
    if (!self && account.status === 'takendown')
      throw invalidRequest(`Repo has been takendown: ${did}`, 'RepoTakendown')
    if (!self && account.status === 'deactivated') {
      throw invalidRequest(`Repo has been deactivated: ${did}`, 'RepoDeactivated')
    }
    const repo = this.ctx.repos.get(space, did)
    return repo?.exists ? { space, did, repo } : { space, did }
  }

  private fault(kind: FaultKind, c: XrpcContext, space: string, did: string) {
    const target: FaultTarget = { host: this.ctx.index, space, did, method: c.nsid }
    return this.ctx.faults.match(kind, target)
  }

  /** A fresh commit over the repo head, corrupted if a commit fault fires for this request. */
  private async commit(
    c: XrpcContext,
    repo: PermissionedRepo,
    rev = repo.rev as string,
  ): Promise<SignedCommit> {
    const account = this.ctx.accounts.require(repo.did)
    const forged = this.fault('forgedSignature', c, repo.space, repo.did)
    const signer = forged ? this.ctx.forger : await this.ctx.accounts.keypair(account)
    const commit = await createSignedCommit({
      space: repo.space,
      author: repo.did,
      rev,
      hash: repo.digest(),
      signer,
    })
    if (this.fault('wrongMac', c, repo.space, repo.did)) {
      const mac = Uint8Array.from(commit.mac)
      mac[0] = (mac[0] as number) ^ 0xff
      return { ...commit, mac }
    }
    return commit
  }

  private async getLatestCommit(c: XrpcContext): Promise<XrpcOutput> {
    const { did, repo } = await this.openForRead(c)
    if (!repo) throw invalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
    const commit = commitToJson(await this.commit(c, repo))
    return { kind: 'json', body: { commit: { $type: `${NS}.defs#signedCommit`, ...commit } } }
  }

  private async getRepo(c: XrpcContext): Promise<XrpcOutput> {
    const { space, did, repo } = await this.openForRead(c)
    if (!repo) throw invalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
    const excludeValues = c.params['excludeValues'] === true
    const commit = await this.commit(c, repo)
    let records: CarRecord[] = repo.blocks()
    if (this.fault('indexHashMismatch', c, space, did)) {
      // The index no longer folds to the commit's hash: drop an entry, or invent one in an empty repo.
      records =
        records.length > 0
          ? records.filter((_, i) => i !== records.length >> 1)
          : [{ path: 'com.example.devnet.post/3zzzzzzzzzzzz', ...encodeCid({ text: 'phantom' }) }]
    }
    if (!excludeValues && records.length > 0 && this.fault('recordCidMismatch', c, space, did)) {
      const i = records.length >> 1
      const victim = records[i] as CarRecord
      records[i] = { ...victim, bytes: encodeCid({ text: 'tampered' }).bytes }
    }
    const input = { commit, records, excludeValues }
    const truncated = this.fault('truncatedCar', c, space, did)
    if (truncated) {
      const car = await repoCarBytes(input)
      const keep = Math.min(car.length - 1, truncated.keepBytes ?? car.length >> 1)
      return { kind: 'bytes', body: car.subarray(0, keep), contentType: 'application/vnd.ipld.car' }
    }
    return {
      kind: 'stream',
      body: coalescedChunks(writeRepoCar(input)),
      contentType: 'application/vnd.ipld.car',
    }
  }

  private async listRepoOps(c: XrpcContext): Promise<XrpcOutput> {
    const { space, did, repo } = await this.openForRead(c)
    const since = c.params['since'] as string | undefined
    const max = c.params['limit'] as number
    const rawCursor = c.params['cursor'] as string | undefined
    let cursor: { rev: string; idx: number } | undefined
    if (rawCursor !== undefined) {
      const [rev = '', idxStr = ''] = rawCursor.split('/')
      const idx = parseInt(idxStr, 10)
      if (Number.isNaN(idx)) throw invalidRequest('Malformed cursor', 'MalformedCursor')
      cursor = { rev, idx }
    }
    if (!repo) return { kind: 'json', body: { ops: [] } }

    if (since !== undefined && this.fault('sinceAheadOfHead', c, space, did)) {
      // The host claims a head older than the caller's position (restored backup, reset, migration).
      const older = tidFromMicros(Math.max(0, tidMicros(since) - 1_000_000))
      return { kind: 'json', body: { ops: [], commit: commitToJson(await this.commit(c, repo, older)) } }
    }
    const endless = this.fault('endlessCursor', c, space, did)
    let ops: RepoOp[] = repo.ops(
      endless ? {} : { ...(since ? { since } : {}), ...(cursor ? { cursor } : {}) },
      max,
    )
    const full = ops.length === max || endless !== undefined
    const last = ops.at(-1)
    if (ops.length > 0 && this.fault('oplogGap', c, space, did))
      ops = ops.filter((_, i) => i !== ops.length >> 1)

    const body: Record<string, unknown> = { ops: this.opsJson(c, repo, ops) }
    if (endless) body['cursor'] = rawCursor ?? `${last?.rev ?? repo.rev}/0`
    else if (full && last) body['cursor'] = `${last.rev}/${last.idx}`
    else body['commit'] = commitToJson(await this.commit(c, repo))
    return { kind: 'json', body }
  }

  private opsJson(c: XrpcContext, repo: PermissionedRepo, ops: RepoOp[]): unknown[] {
    const withValues = c.params['excludeValues'] !== true
    const current = new Map<string, CurrentRecord | undefined>()
    let tamper = withValues && this.fault('recordCidMismatch', c, repo.space, repo.did) !== undefined
    return ops.map((op) => {
      const out: Record<string, unknown> = {
        rev: op.rev,
        collection: op.collection,
        rkey: op.rkey,
        cid: op.cid,
        prev: op.prev,
      }
      if (withValues && op.cid !== null) {
        const path = `${op.collection}/${op.rkey}`
        if (!current.has(path)) current.set(path, repo.get(op.collection, op.rkey))
        const rec = current.get(path)
        if (rec && rec.cid === op.cid) {
          out['value'] = tamper ? { ...rec.value, tampered: true } : rec.value
          tamper = false
        }
      }
      return out
    })
  }

  private async listRecords(c: XrpcContext): Promise<XrpcOutput> {
    const { space, did, repo } = await this.openForRead(c)
    const max = c.params['limit'] as number
    const reverse = c.params['reverse'] === true
    const collection = c.params['collection'] as string | undefined
    const cursor = c.params['cursor'] as string | undefined
    const endless = this.fault('endlessCursor', c, space, did)
    const prefix = `${space}/${did}/`
    let uris = (repo ? repo.paths() : [])
      .filter((p) => collection === undefined || p.collection === collection)
      .map((p) => ({ ...p, uri: prefix + p.path }))
      .sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0))
    if (!reverse) uris.reverse()
    if (cursor !== undefined && !endless)
      uris = uris.filter((u) => (reverse ? u.uri > cursor : u.uri < cursor))
    const page = uris.slice(0, max)
    const excludeValues = c.params['excludeValues'] === true
    let tamper = !excludeValues && this.fault('recordCidMismatch', c, space, did) !== undefined
    const records = page.map((p) => {
      const rec = (repo as PermissionedRepo).get(p.collection, p.rkey) as CurrentRecord
      const out: Record<string, unknown> = { collection: p.collection, rkey: p.rkey, cid: rec.cid }
      if (!excludeValues) out['value'] = tamper ? { ...rec.value, tampered: true } : rec.value
      tamper = false
      return out
    })
    const body: Record<string, unknown> = { records }
    if (endless) body['cursor'] = cursor ?? page.at(-1)?.uri ?? prefix
    else if (page.length === max) body['cursor'] = page.at(-1)?.uri
    return { kind: 'json', body }
  }

  private async getRecord(c: XrpcContext): Promise<XrpcOutput> {
    const { space, did, repo } = await this.openForRead(c)
    const collection = c.params['collection'] as string
    const rkey = c.params['rkey'] as string
    const uri = formatSpaceRecordUri({ ...parseSpaceUri(space), author: did, collection, rkey })
    const rec = repo?.get(collection, rkey)
    if (!rec) throw invalidRequest(`Could not locate record: ${uri}`, 'RecordNotFound')
    const tamper = this.fault('recordCidMismatch', c, space, did)
    return {
      kind: 'json',
      body: { uri, cid: rec.cid, value: tamper ? { ...rec.value, tampered: true } : rec.value },
    }
  }

  private async listBlobs(c: XrpcContext): Promise<XrpcOutput> {
    const { repo } = await this.openForRead(c)
    const max = c.params['limit'] as number
    const cursor = c.params['cursor'] as string | undefined
    const since = c.params['since'] as string | undefined
    const cids = (repo ? repo.blobCids(since) : [])
      .filter((cid) => cursor === undefined || cid > cursor)
      .slice(0, max)
    return { kind: 'json', body: cids.length === max ? { cids, cursor: cids.at(-1) } : { cids } }
  }

  private async getBlob(c: XrpcContext): Promise<XrpcOutput> {
    const { repo } = await this.openForRead(c)
    const cid = c.params['cid'] as string
    const blob = repo?.blob(cid)
    if (!blob) throw invalidRequest(`Blob not found: ${cid}`, 'BlobNotFound')
    return {
      kind: 'bytes',
      body: blob.bytes,
      contentType: blob.mimeType,
      headers: {
        'content-disposition': 'attachment',
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
      },
    }
  }

  // -------------------------------------------------------------------------------- account-side reads

  private async getDelegationToken(c: XrpcContext): Promise<XrpcOutput> {
    const account = await this.ctx.auth.session(c, { active: true })
    const space = c.params['space'] as string
    const target: FaultTarget = { host: this.ctx.index, space, did: account.did, method: c.nsid }
    const keypair = await this.ctx.accounts.keypair(account)
    const now = Date.now() / 1000 - (this.ctx.faults.match('expiredTokens', target) ? 300 : 0)
    let token: string
    if (this.ctx.faults.match('wrongAudienceTokens', target)) {
      const iat = Math.floor(now)
      token = await signJws(
        { typ: DELEGATION_TOKEN_TYP, kid: '#atproto' },
        {
          iss: account.did,
          sub: space,
          aud: `${deriveDid('wrong-audience', space)}#atproto_space_host`,
          iat,
          exp: iat + DELEGATION_TOKEN_LIFETIME_SEC,
          jti: randomBytes(16).toString('hex'),
        },
        keypair,
      )
    } else {
      token = await createDelegationToken({ keypair, iss: account.did, space, now })
    }
    return { kind: 'json', body: { token } }
  }

  private async listSpaces(c: XrpcContext): Promise<XrpcOutput> {
    const account = await this.ctx.auth.session(c)
    const type = c.params['type'] as string | undefined
    const authority = c.params['did'] as string | undefined
    const max = c.params['limit'] as number
    const cursor = c.params['cursor'] as string | undefined
    const all = new Set([...this.ctx.repos.spacesOf(account.did), ...this.ownedSpaces(account.did)])
    const uris = [...all]
      .filter((uri) => {
        const ref = parseSpaceUri(uri)
        return (type === undefined || ref.type === type) && (authority === undefined || ref.did === authority)
      })
      .filter((uri) => cursor === undefined || uri > cursor)
      .sort()
      .slice(0, max)
    const body: Record<string, unknown> = { spaces: uris.map((uri) => ({ uri })) }
    if (uris.length === max) body['cursor'] = uris.at(-1)
    return { kind: 'json', body }
  }

  // ---------------------------------------------------------------------------------------------- writes

  private async writer(c: XrpcContext, repo: string): Promise<Account> {
    const account = await this.ctx.auth.session(c, { active: true })
    if (account.did !== repo) throw new XrpcError(403, 'Forbidden', 'Can only write to your own repo')
    if (account.host !== this.ctx.index) {
      throw invalidRequest('This account is not hosted here; write to its #atproto_pds', 'RepoNotFound')
    }
    return account
  }

  private prepare(collection: string, rkey: string, record: unknown): { cid: string; bytes: Uint8Array } {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw invalidRequest('Record must be an object')
    }
    if (typeof (record as Record<string, unknown>)['$type'] !== 'string') {
      throw invalidRequest('Record/$type must be a string')
    }
    const plain = encodeIfPlain(record)
    if (plain) return plain
    try {
      const { bytes, cid } = encodeRecordJson(record)
      return { bytes, cid: cid.toString() }
    } catch (err) {
      throw invalidRequest(`Invalid record ${collection}/${rkey}: ${(err as Error).message}`)
    }
  }

  /** Applies one batch as the owner; a non-empty batch gets a new rev and notifies the authority. */
  private commitWrites(account: Account, space: string, writes: PreparedWrite[]): void {
    const existing = this.ctx.repos.get(space, account.did)
    const repo = existing ?? new PermissionedRepo(space, account.did)
    const ops = repo.apply(writes, this.ctx.clock.next(repo.rev))
    if (ops.length === 0) return
    if (!existing) this.ctx.repos.add(repo)
    this.ctx.notifier.notifyAuthority(account, space, repo.rev as string, repo.digest())
  }

  private recordUri(space: string, did: string, collection: string, rkey: string): string {
    return formatSpaceRecordUri({ ...parseSpaceUri(space), author: did, collection, rkey })
  }

  private async createRecord(c: XrpcContext): Promise<XrpcOutput> {
    const input = validateInput<{
      space: string
      repo: string
      collection: string
      rkey?: string
      record: unknown
    }>(c.body, {
      ...writeInput,
      rkey: { type: 'string', format: 'record-key', maxLength: 512 },
      record: { type: 'unknown', required: true },
    })
    const account = await this.writer(c, input.repo)
    const rkey = input.rkey ?? this.ctx.clock.next()
    const prepared = this.prepare(input.collection, rkey, input.record)
    this.commitWrites(account, input.space, [
      { action: 'create', collection: input.collection, rkey, ...prepared },
    ])
    return {
      kind: 'json',
      body: {
        uri: this.recordUri(input.space, account.did, input.collection, rkey),
        cid: prepared.cid,
        validationStatus: 'unknown',
      },
    }
  }

  private async putRecord(c: XrpcContext): Promise<XrpcOutput> {
    const input = validateInput<{
      space: string
      repo: string
      collection: string
      rkey: string
      record: unknown
    }>(c.body, {
      ...writeInput,
      rkey: { type: 'string', format: 'record-key', maxLength: 512, required: true },
      record: { type: 'unknown', required: true },
    })
    const account = await this.writer(c, input.repo)
    const prepared = this.prepare(input.collection, input.rkey, input.record)
    const exists =
      this.ctx.repos.get(input.space, account.did)?.currentCid(input.collection, input.rkey) !== undefined
    this.commitWrites(account, input.space, [
      { action: exists ? 'update' : 'create', collection: input.collection, rkey: input.rkey, ...prepared },
    ])
    return {
      kind: 'json',
      body: {
        uri: this.recordUri(input.space, account.did, input.collection, input.rkey),
        cid: prepared.cid,
        validationStatus: 'unknown',
      },
    }
  }

  private async deleteRecord(c: XrpcContext): Promise<XrpcOutput> {
    const input = validateInput<{ space: string; repo: string; collection: string; rkey: string }>(c.body, {
      space: spaceParam,
      repo: repoParam,
      collection: { type: 'string', format: 'nsid', required: true },
      rkey: { type: 'string', format: 'record-key', required: true },
    })
    const account = await this.writer(c, input.repo)
    // Deleting an absent record succeeds without a new rev or a notification.
    if (
      this.ctx.repos.get(input.space, account.did)?.currentCid(input.collection, input.rkey) !== undefined
    ) {
      this.commitWrites(account, input.space, [
        { action: 'delete', collection: input.collection, rkey: input.rkey },
      ])
    }
    return { kind: 'json', body: {} }
  }

  private async applyWrites(c: XrpcContext): Promise<XrpcOutput> {
    const input = validateInput<{ space: string; repo: string; writes: unknown[] }>(c.body, {
      space: spaceParam,
      repo: repoParam,
      validate: { type: 'boolean' },
      writes: { type: 'array', required: true },
    })
    const account = await this.writer(c, input.repo)
    if (input.writes.length > MAX_APPLY_WRITES)
      throw invalidRequest(`Too many writes. Max: ${MAX_APPLY_WRITES}`)
    const prepared: PreparedWrite[] = []
    const results: unknown[] = []
    for (const raw of input.writes) {
      const w = validateInput<{ $type: string; collection: string; rkey?: string; value?: unknown }>(raw, {
        $type: { type: 'string', required: true },
        collection: { type: 'string', format: 'nsid', required: true },
        rkey: { type: 'string', format: 'record-key', maxLength: 512 },
        value: { type: 'unknown' },
      })
      const kind = w.$type.replace(`${NS}.applyWrites`, '')
      if (kind === '#create' || kind === '#update') {
        if (kind === '#update' && w.rkey === undefined)
          throw invalidRequest('Input/writes/update must have the property "rkey"')
        if (w.value === undefined)
          throw invalidRequest(`Input/writes/${kind.slice(1)} must have the property "value"`)
        const rkey = w.rkey ?? this.ctx.clock.next()
        const enc = this.prepare(w.collection, rkey, w.value)
        prepared.push({
          action: kind === '#create' ? 'create' : 'update',
          collection: w.collection,
          rkey,
          ...enc,
        })
        results.push({
          $type: `${NS}.applyWrites${kind}Result`,
          uri: this.recordUri(input.space, account.did, w.collection, rkey),
          cid: enc.cid,
          validationStatus: 'unknown',
        })
      } else if (kind === '#delete') {
        if (w.rkey === undefined) throw invalidRequest('Input/writes/delete must have the property "rkey"')
        prepared.push({ action: 'delete', collection: w.collection, rkey: w.rkey })
        results.push({ $type: `${NS}.applyWrites#deleteResult` })
      } else {
        throw invalidRequest(`Input/writes must be one of #create, #update, #delete (got ${w.$type})`)
      }
    }
    this.commitWrites(account, input.space, prepared)
    return { kind: 'json', body: { results } }
  }
}

/** A record block for fault injection (a phantom index entry or tampered bytes). */
function encodeCid(value: Record<string, unknown>): { cid: CarRecord['cid']; bytes: Uint8Array } {
  return encodeRecordJson({ $type: 'com.example.devnet.post', ...value })
}
