/**
 * The space-host side of a devnet host, for spaces whose authority it hosts: getSpaceCredential, listRepos,
 * registerNotify / unregisterNotify, inbound notifyWrite with fan-out, and the com.atproto.simplespace
 * management methods (checkUserAccess is served by managing apps, see managing-app.ts).
 *
 * Invariants (reference behaviour, SPEC §3–§7):
 * - getSpaceCredential order: delegation token + DPoP (token consumed after the proof) → token `sub` ==
 *   body `space` (InvalidDelegationToken) → authority hosted here (SpaceNotFound) → attestation verified if
 *   sent → tombstone (SpaceDeleted) → config (SpaceNotFound) → app gate (AppNotAuthorized) → user gate
 *   (UserNotAuthorized; the authority always passes; managing apps fail closed) → credential bound to the
 *   proof key's jkt.
 * - The writer set only grows while the space exists: a notifyWrite from an admitted writer (iss == repo,
 *   aud == bare authority DID, user gate) records (rev, hash) — last one wins — and is forwarded to every
 *   unexpired registration; refused ones are 403 and go nowhere.
 * - listRepos is DID-ascending; cursor = last DID, only on a full page.
 * - deleteSpace tombstones the space, drops config, members, writers, registrations and the authority's own
 *   repo, then tells the registrations that were live; re-creating yields the same URI and a fresh config.
 */
import { randomBytes } from 'node:crypto'
import { decodeBase64, encodeBase64 } from '../protocol/bytes.js'
import { createSpaceCredential } from '../protocol/space-credential.js'
import { formatSpaceUri, parseSpaceUri } from '../protocol/space-uri.js'
import type { Account } from './accounts.js'
import type { HostContext } from './host.js'
import { NOTIFY_SPACE_DELETED, NOTIFY_WRITE } from './notifier.js'
import {
  parseAppAccess,
  parsePolicy,
  type AppAccess,
  type HostedSpace,
  type Policy,
  type WriterHint,
} from './space-config.js'
import {
  invalidRequest,
  validateInput,
  XrpcError,
  type Schema,
  type XrpcContext,
  type XrpcOutput,
  type XrpcRouter,
} from './xrpc-router.js'

const SPACE_NS = 'com.atproto.space'
const SIMPLE_NS = 'com.atproto.simplespace'
const spaceRef = { type: 'string', format: 'space-ref', required: true } as const

const notFound = (): XrpcError => invalidRequest('Space not found', 'SpaceNotFound')

export class SpaceHost {
  private readonly spaces = new Map<string, HostedSpace>()
  private readonly tombstones = new Map<string, number>()

  constructor(
    private readonly ctx: HostContext,
    router: XrpcRouter,
  ) {
    const add = (
      nsid: string,
      type: 'query' | 'procedure',
      fn: (c: XrpcContext) => Promise<XrpcOutput>,
      params?: Schema,
    ) => router.add({ nsid, type, handler: fn, ...(params ? { params } : {}) })
    add(`${SPACE_NS}.getSpaceCredential`, 'procedure', (c) => this.getSpaceCredential(c))
    add(`${SPACE_NS}.listRepos`, 'query', (c) => this.listRepos(c), {
      space: spaceRef,
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
      cursor: { type: 'string' },
    })
    add(`${SPACE_NS}.registerNotify`, 'procedure', (c) => this.registerNotify(c))
    add(`${SPACE_NS}.unregisterNotify`, 'procedure', (c) => this.unregisterNotify(c))
    add(`${SPACE_NS}.notifyWrite`, 'procedure', (c) => this.notifyWrite(c))
    add(`${SIMPLE_NS}.createSpace`, 'procedure', (c) => this.createSpace(c))
    add(`${SIMPLE_NS}.getSpace`, 'query', (c) => this.getSpace(c), { space: spaceRef })
    add(`${SIMPLE_NS}.updateSpace`, 'procedure', (c) => this.updateSpace(c))
    add(`${SIMPLE_NS}.deleteSpace`, 'procedure', (c) => this.deleteSpace(c))
    add(`${SIMPLE_NS}.addMember`, 'procedure', (c) => this.editMember(c, 'add'))
    add(`${SIMPLE_NS}.removeMember`, 'procedure', (c) => this.editMember(c, 'remove'))
    add(`${SIMPLE_NS}.listMembers`, 'query', (c) => this.listMembers(c), {
      space: spaceRef,
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
      cursor: { type: 'string' },
    })
  }

  // ------------------------------------------------------------------------------------ state access

  get(uri: string): HostedSpace | undefined {
    return this.spaces.get(uri)
  }

  isDeleted(uri: string): boolean {
    return this.tombstones.has(uri) && !this.spaces.has(uri)
  }

  /** Live spaces whose authority is `did`. */
  ownedSpaces(did: string): string[] {
    return [...this.spaces.values()].filter((s) => s.authority === did).map((s) => s.uri)
  }

  allSpaces(): IterableIterator<HostedSpace> {
    return this.spaces.values()
  }

  /** The writer's (rev, hash) as the authority believes it (resolving generated hints from the repo). */
  writerHint(space: HostedSpace, did: string): WriterHint | undefined {
    const hint = space.writers.get(did)
    if (hint !== 'generated') return hint
    // What the authority heard when the history was written; later writes announce themselves.
    const repo = this.ctx.findRepo(space.uri, did)
    const hash = repo?.generatedDigest()
    return repo?.history && hash ? { rev: repo.history.lastRev, hash } : undefined
  }

  // ------------------------------------------------------------------------------------ shared checks

  /** The authority must be an account of this host (deactivated or taken down still counts). */
  private authorityHere(uri: string): Account {
    const authority = this.ctx.accounts.get(parseSpaceUri(uri).did)
    if (!authority || authority.host !== this.ctx.index || authority.status === 'deleted') throw notFound()
    return authority
  }

  private active(uri: string): HostedSpace {
    const space = this.spaces.get(uri)
    if (!space) throw notFound()
    return space
  }

  private async owner(c: XrpcContext, uri: string): Promise<Account> {
    const account = await this.ctx.auth.session(c, { active: true })
    if (parseSpaceUri(uri).did !== account.did) throw invalidRequest('Not the space owner', 'NotSpaceOwner')
    return account
  }

  private async credentialFor(c: XrpcContext, uri: string): Promise<void> {
    const auth = await this.ctx.auth.credential(c)
    if (auth.space !== uri)
      throw invalidRequest('Credential is not scoped to this space', 'InvalidCredential')
  }

  /** User gate: the authority always passes; then the space's policy. */
  async authorizeUser(space: HostedSpace, userDid: string, clientId?: string): Promise<boolean> {
    if (userDid === space.authority) return true
    const policy = space.policy
    if (policy.$type === 'com.atproto.simplespace.defs#publicPolicy') return true
    if (policy.$type === 'com.atproto.simplespace.defs#memberListPolicy') return space.members.has(userDid)
    const authority = this.ctx.accounts.require(space.authority)
    const params: Record<string, string> = { space: space.uri, user: userDid }
    if (clientId !== undefined) params['clientId'] = clientId
    return this.ctx.notifier.checkUserAccess(authority, policy.managingApp, params)
  }

  // ------------------------------------------------------------------------------------------ methods

  private async getSpaceCredential(c: XrpcContext): Promise<XrpcOutput> {
    const auth = await this.ctx.auth.delegation(c)
    const input = validateInput<{ space: string; clientAttestation?: string }>(c.body, {
      space: spaceRef,
      clientAttestation: { type: 'string' },
    })
    if (auth.space !== input.space) {
      throw invalidRequest(
        'Delegation token subject does not match requested space',
        'InvalidDelegationToken',
      )
    }
    const authority = this.authorityHere(input.space)
    const spaceDid = authority.did
    const clientId =
      input.clientAttestation !== undefined
        ? await this.ctx.attestations.verify(input.clientAttestation, spaceDid)
        : undefined
    if (this.isDeleted(input.space)) throw invalidRequest('Space has been deleted', 'SpaceDeleted')
    const space = this.active(input.space)
    if (space.appAccess.$type === 'com.atproto.simplespace.defs#allowList') {
      if (clientId === undefined || !space.appAccess.allowed.includes(clientId)) {
        throw invalidRequest('App is not authorized for this space', 'AppNotAuthorized')
      }
    }
    if (!(await this.authorizeUser(space, auth.userDid, clientId))) {
      throw invalidRequest('User is not authorized for this space', 'UserNotAuthorized')
    }
    const target = { host: this.ctx.index, space: space.uri, did: auth.userDid, method: c.nsid }
    const expired = this.ctx.faults.match('expiredTokens', target)
    const credential = await createSpaceCredential({
      keypair: await this.ctx.accounts.keypair(authority),
      space: space.uri,
      jkt: auth.jkt,
      ...(expired ? { now: Date.now() / 1000 - 7300 } : {}),
    })
    return { kind: 'json', body: { credential } }
  }

  private async listRepos(c: XrpcContext): Promise<XrpcOutput> {
    const uri = c.params['space'] as string
    await this.credentialFor(c, uri)
    this.authorityHere(uri)
    const space = this.active(uri)
    const max = c.params['limit'] as number
    const cursor = c.params['cursor'] as string | undefined
    const endless = this.ctx.faults.match('endlessCursor', {
      host: this.ctx.index,
      space: uri,
      method: c.nsid,
    })
    const dids = [...space.writers.keys()].sort().filter((d) => endless || cursor === undefined || d > cursor)
    const repos: unknown[] = []
    for (const did of dids) {
      if (repos.length >= max) break
      const hint = this.writerHint(space, did)
      if (hint) repos.push({ did, rev: hint.rev, hash: { $bytes: encodeBase64(hint.hash) } })
    }
    const last = (repos.at(-1) as { did: string } | undefined)?.did
    const body: Record<string, unknown> = { repos }
    if (endless) body['cursor'] = cursor ?? last ?? 'did:plc:endless'
    else if (repos.length === max && last) body['cursor'] = last
    return { kind: 'json', body }
  }

  private async registerNotify(c: XrpcContext): Promise<XrpcOutput> {
    const auth = await this.ctx.auth.credential(c)
    const input = validateInput<{ space: string; service: string }>(c.body, {
      space: spaceRef,
      service: { type: 'string', required: true },
    })
    if (auth.space !== input.space)
      throw invalidRequest('Credential is not scoped to this space', 'InvalidCredential')
    this.authorityHere(input.space)
    if (!(await this.ctx.resolver.serviceEndpoint(input.service))) {
      throw invalidRequest(
        `Could not resolve a service endpoint for ${input.service}`,
        'ServiceNotResolvable',
      )
    }
    const space = this.active(input.space)
    const expiresAt = Date.now() + this.ctx.registrationTtlSec * 1000
    space.registrations.set(input.service, { expiresAt })
    return { kind: 'json', body: { expiresAt: new Date(expiresAt).toISOString() } }
  }

  private async unregisterNotify(c: XrpcContext): Promise<XrpcOutput> {
    const auth = await this.ctx.auth.credential(c)
    const input = validateInput<{ space: string; service: string }>(c.body, {
      space: spaceRef,
      service: { type: 'string', required: true },
    })
    if (auth.space !== input.space)
      throw invalidRequest('Credential is not scoped to this space', 'InvalidCredential')
    this.authorityHere(input.space)
    this.active(input.space).registrations.delete(input.service)
    return { kind: 'empty' }
  }

  private async notifyWrite(c: XrpcContext): Promise<XrpcOutput> {
    const auth = await this.ctx.auth.service(c, `${SPACE_NS}.notifyWrite`)
    const input = validateInput<{ space: string; repo: string; rev: string; hash: unknown }>(c.body, {
      space: spaceRef,
      repo: { type: 'string', format: 'did', required: true },
      rev: { type: 'string', format: 'tid', required: true },
      hash: { type: 'object', required: true },
    })
    const hashB64 = (input.hash as { $bytes?: unknown }).$bytes
    const hash = typeof hashB64 === 'string' ? decodeBase64(hashB64) : null
    if (!hash || hash.length !== 32) throw invalidRequest('Input/hash must be 32 bytes ({"$bytes"})')
    if (auth.iss !== input.repo)
      throw new XrpcError(403, 'Forbidden', 'notifyWrite iss does not match claimed writer')
    const ownerDid = parseSpaceUri(input.space).did
    if (auth.aud !== ownerDid)
      throw new XrpcError(403, 'Forbidden', 'notifyWrite aud does not match the space authority')
    const authority = this.ctx.accounts.get(ownerDid)
    // Not this host's space (or already deleted): nothing to maintain, as in the reference.
    if (!authority || authority.host !== this.ctx.index) return { kind: 'empty' }
    const space = this.spaces.get(input.space)
    if (!space) return { kind: 'empty' }
    if (!(await this.authorizeUser(space, input.repo))) {
      throw new XrpcError(403, 'Forbidden', 'notifyWrite writer is not authorized')
    }
    space.writers.set(input.repo, { rev: input.rev, hash })
    this.fanOut(authority, space, {
      space: space.uri,
      repo: input.repo,
      rev: input.rev,
      hash: { $bytes: encodeBase64(hash) },
    })
    const fake = this.ctx.faults.match('fakeNotifications', {
      host: this.ctx.index,
      space: space.uri,
      method: NOTIFY_WRITE,
    })
    if (fake) this.injectFakeNotification(space.uri)
    return { kind: 'empty' }
  }

  private fanOut(
    authority: Account,
    space: HostedSpace,
    body: { space: string; repo: string; rev: string; hash: unknown },
  ) {
    const now = Date.now()
    for (const [service, reg] of space.registrations) {
      if (reg.expiresAt > now) this.ctx.notifier.deliver(authority, service, NOTIFY_WRITE, body)
    }
  }

  /**
   * Sends registered services a notifyWrite for a write that never happened: a writer of the space (or
   * `repo`) at a fresh rev with a random hash. Returns the fabricated notification.
   */
  injectFakeNotification(uri: string, repo?: string): { repo: string; rev: string; hash: Uint8Array } {
    const space = this.active(uri)
    const writers = [...space.writers.keys()]
    const did = repo ?? writers[Math.floor(Math.random() * writers.length)] ?? space.authority
    const rev = this.ctx.clock.next(this.writerHint(space, did)?.rev)
    const hash = new Uint8Array(randomBytes(32))
    const authority = this.ctx.accounts.require(space.authority)
    this.fanOut(authority, space, { space: uri, repo: did, rev, hash: { $bytes: encodeBase64(hash) } })
    return { repo: did, rev, hash }
  }

  private async createSpace(c: XrpcContext): Promise<XrpcOutput> {
    const account = await this.ctx.auth.session(c, { active: true })
    const input = validateInput<{ type: string; skey?: string; policy: unknown; appAccess: unknown }>(
      c.body,
      {
        type: { type: 'string', format: 'nsid', required: true },
        skey: { type: 'string', format: 'record-key', maxLength: 512 },
        policy: { type: 'object', required: true },
        appAccess: { type: 'object', required: true },
      },
    )
    const policy = parsePolicy(input.policy)
    const appAccess = parseAppAccess(input.appAccess)
    const uri = formatSpaceUri({
      did: account.did,
      type: input.type,
      skey: input.skey ?? this.ctx.clock.next(),
    })
    if (this.spaces.has(uri))
      throw invalidRequest('A space with this owner, type and skey already exists', 'SpaceAlreadyExists')
    this.create(uri, policy, appAccess)
    return { kind: 'json', body: { uri } }
  }

  /** Creates (or re-creates after deletion) a space with an empty writer set and member list. */
  create(uri: string, policy: Policy, appAccess: AppAccess): HostedSpace {
    const ref = parseSpaceUri(uri)
    const space: HostedSpace = {
      uri,
      authority: ref.did,
      type: ref.type,
      skey: ref.skey,
      policy,
      appAccess,
      members: new Set(),
      writers: new Map(),
      registrations: new Map(),
    }
    this.spaces.set(uri, space)
    return space
  }

  private async getSpace(c: XrpcContext): Promise<XrpcOutput> {
    const uri = c.params['space'] as string
    const auth = await this.ctx.auth.read(c)
    if (auth.kind === 'credential' && auth.space !== uri) {
      throw invalidRequest('Credential is not scoped to this space', 'InvalidCredential')
    }
    if (auth.kind === 'session' && auth.account.did !== parseSpaceUri(uri).did) {
      throw invalidRequest('Not the space owner', 'NotSpaceOwner')
    }
    this.authorityHere(uri)
    const space = this.active(uri)
    return { kind: 'json', body: { uri, policy: space.policy, appAccess: space.appAccess } }
  }

  private async updateSpace(c: XrpcContext): Promise<XrpcOutput> {
    const input = validateInput<{ space: string; policy?: unknown; appAccess?: unknown }>(c.body, {
      space: spaceRef,
      policy: { type: 'object' },
      appAccess: { type: 'object' },
    })
    await this.owner(c, input.space)
    const space = this.active(input.space)
    const policy = input.policy !== undefined ? parsePolicy(input.policy) : undefined
    const appAccess = input.appAccess !== undefined ? parseAppAccess(input.appAccess) : undefined
    if (policy) space.policy = policy
    if (appAccess) space.appAccess = appAccess
    return { kind: 'empty' }
  }

  private async deleteSpace(c: XrpcContext): Promise<XrpcOutput> {
    const input = validateInput<{ space: string }>(c.body, { space: spaceRef })
    const owner = await this.owner(c, input.space)
    const space = this.spaces.get(input.space)
    if (!space) {
      if (this.tombstones.has(input.space)) return { kind: 'empty' }
      throw notFound()
    }
    this.deleteNow(owner, space)
    return { kind: 'empty' }
  }

  /** Tombstones a live space and notifies its live registrations (background). */
  deleteNow(owner: Account, space: HostedSpace): void {
    const now = Date.now()
    const live = [...space.registrations].filter(([, reg]) => reg.expiresAt > now).map(([service]) => service)
    this.spaces.delete(space.uri)
    this.tombstones.set(space.uri, now)
    this.ctx.repos.delete(space.uri, owner.did)
    for (const service of live)
      this.ctx.notifier.deliver(owner, service, NOTIFY_SPACE_DELETED, { space: space.uri })
  }

  private async editMember(c: XrpcContext, op: 'add' | 'remove'): Promise<XrpcOutput> {
    const input = validateInput<{ space: string; did: string }>(c.body, {
      space: spaceRef,
      did: { type: 'string', format: 'did', required: true },
    })
    await this.owner(c, input.space)
    const space = this.active(input.space)
    if (op === 'add') space.members.add(input.did)
    else space.members.delete(input.did)
    return { kind: 'empty' }
  }

  private async listMembers(c: XrpcContext): Promise<XrpcOutput> {
    const uri = c.params['space'] as string
    await this.owner(c, uri)
    const space = this.active(uri)
    const cursor = c.params['cursor'] as string | undefined
    const members = [...space.members]
      .sort()
      .filter((d) => cursor === undefined || d > cursor)
      .slice(0, c.params['limit'] as number)
    const body: Record<string, unknown> = { members: members.map((did) => ({ did })) }
    // Unlike every other list, the reference returns a cursor on every non-empty page.
    if (members.length > 0) body['cursor'] = members.at(-1)
    return { kind: 'json', body }
  }
}
