/**
 * getSpaceCredential at the space host (SPEC §3.1, §3.3, §4.2, §6.1): delegation token + DPoP, the order of
 * checks, token burning, the app gate (#open / #allowList with client attestations verified against
 * devnet-hosted client metadata) and the user gate (public, member list, managing app failing closed).
 */
import { createDpopProof, generateDpopKey } from '../../src/protocol/dpop.js'
import { verifySpaceCredential } from '../../src/protocol/space-credential.js'
import type { Account } from '../../src/devnet/accounts.js'
import {
  exchangeForCredential,
  fetchDelegationToken,
  XrpcCallError,
} from '../../src/devnet/credential-client.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import {
  allowList,
  managingAppPolicy,
  MEMBER_LIST_POLICY,
  OPEN_ACCESS,
  PUBLIC_POLICY,
} from '../../src/devnet/space-config.js'
import { assertValidInput, assertValidOutput, xrpc } from './helpers.js'

let devnet: Devnet
let owner: Account
let member: Account
let stranger: Account
let ownerHost: string

beforeAll(async () => {
  devnet = await startDevnet({
    seed: 'credential',
    spaces: 0,
    writersPerSpace: 3,
    records: 1,
    hosts: 2,
    accounts: 4,
  })
  ;[owner, member, stranger] = devnet.pool as [Account, Account, Account]
  ownerHost = devnet.hostOf(owner.did).origin
})
afterAll(() => devnet.close())

async function createSpace(skey: string, policy: unknown, appAccess: unknown = OPEN_ACCESS): Promise<string> {
  const body = { type: 'com.example.devnet.forum', skey, policy, appAccess }
  assertValidInput('com.atproto.simplespace.createSpace', body)
  const res = await xrpc(ownerHost, 'com.atproto.simplespace.createSpace', {
    body,
    auth: { bearer: owner.accessToken },
  })
  expect(res.status).toBe(200)
  assertValidOutput('com.atproto.simplespace.createSpace', res.body)
  return res.body.uri
}

const pdsOf = (a: Account) => devnet.hostOf(a.did).origin

async function mint(account: Account, space: string, attestation?: string) {
  const dpopKey = await generateDpopKey()
  const token = await fetchDelegationToken(pdsOf(account), account.accessToken, space)
  const credential = await exchangeForCredential({
    spaceHost: ownerHost,
    space,
    delegationToken: token,
    dpopKey,
    ...(attestation ? { clientAttestation: attestation } : {}),
  })
  return { credential, dpopKey, token }
}

async function mintError(account: Account, space: string, attestation?: string): Promise<string> {
  try {
    await mint(account, space, attestation)
  } catch (err) {
    if (err instanceof XrpcCallError) return `${err.status} ${err.error}`
    throw err
  }
  return 'ok'
}

test('public space: anyone gets a credential bound to their DPoP key; it verifies', async () => {
  const space = await createSpace('public', PUBLIC_POLICY)
  const { credential, dpopKey } = await mint(stranger, space)
  const v = await verifySpaceCredential(credential, { resolveKey: (did, kid) => devnetKey(did, kid), space })
  expect(v.jkt).toBe(dpopKey.jkt)
  expect(v.claims.iss).toBe(owner.did)
  expect(v.claims.exp - v.claims.iat!).toBe(7200)
})

async function devnetKey(did: string, keyId: string): Promise<string | null> {
  const doc = await devnet.directory.document(did)
  const vm = doc?.verificationMethod.find((m) => m.id === `${did}${keyId}`)
  return vm ? `did:key:${vm.publicKeyMultibase}` : null
}

test('member-list space: members and the authority pass, others are UserNotAuthorized', async () => {
  const space = await createSpace('members', MEMBER_LIST_POLICY)
  const add = await xrpc(ownerHost, 'com.atproto.simplespace.addMember', {
    body: { space, did: member.did },
    auth: { bearer: owner.accessToken },
  })
  expect(add.status).toBe(200)
  expect(await mintError(member, space)).toBe('ok')
  expect(await mintError(owner, space)).toBe('ok')
  expect(await mintError(stranger, space)).toBe('400 UserNotAuthorized')
})

test('the delegation token is burned once its DPoP proof verified, not before', async () => {
  const space = await createSpace('burn', MEMBER_LIST_POLICY)
  const url = `${ownerHost}/xrpc/com.atproto.space.getSpaceCredential`
  const dpopKey = await generateDpopKey()
  const post = async (token: string, dpop: string, body: unknown = { space }) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, dpop, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return `${res.status} ${((await res.json()) as { error?: string }).error ?? 'ok'}`
  }
  const token = await fetchDelegationToken(pdsOf(owner), owner.accessToken, space)
  // A proof with ath is refused before the token is consumed...
  const withAth = await createDpopProof(dpopKey, { htm: 'POST', htu: url, credential: token })
  expect(await post(token, withAth)).toBe('401 BadDpopProof')
  // ...so the same token still works, exactly once.
  expect(await post(token, await createDpopProof(dpopKey, { htm: 'POST', htu: url }))).toBe('200 ok')
  expect(await post(token, await createDpopProof(dpopKey, { htm: 'POST', htu: url }))).toBe('401 JwtReplayed')
  // A policy refusal after the proof still burns the token.
  const refused = await fetchDelegationToken(pdsOf(stranger), stranger.accessToken, space)
  expect(await post(refused, await createDpopProof(dpopKey, { htm: 'POST', htu: url }))).toBe(
    '400 UserNotAuthorized',
  )
  expect(await post(refused, await createDpopProof(dpopKey, { htm: 'POST', htu: url }))).toBe(
    '401 JwtReplayed',
  )
  // sub must equal the body's space.
  const other = await createSpace('burn-other', PUBLIC_POLICY)
  const mismatched = await fetchDelegationToken(pdsOf(owner), owner.accessToken, other)
  expect(await post(mismatched, await createDpopProof(dpopKey, { htm: 'POST', htu: url }))).toBe(
    '400 InvalidDelegationToken',
  )
  // Missing proof, and a token presented with the DPoP scheme.
  const fresh = await fetchDelegationToken(pdsOf(owner), owner.accessToken, space)
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${fresh}` },
    body: JSON.stringify({ space }),
  })
  expect(((await res.json()) as { error: string }).error).toBe('MissingDpopProof')
  const dpopScheme = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `DPoP ${fresh}`,
      dpop: await createDpopProof(dpopKey, { htm: 'POST', htu: url }),
    },
    body: JSON.stringify({ space }),
  })
  expect(dpopScheme.status).toBe(400)
})

test('managing-app space: the app decides; errors and malformed answers fail closed', async () => {
  const space = await createSpace('managed', managingAppPolicy(devnet.managingApp.serviceId))
  devnet.managingApp.authorize(space, member.did)
  expect(await mintError(member, space)).toBe('ok')
  expect(await mintError(stranger, space)).toBe('400 UserNotAuthorized')
  expect(await mintError(owner, space)).toBe('ok')
  const last = devnet.managingApp.calls.at(-1)
  expect(last?.user).toBe(stranger.did)
  // A fresh service-auth token per question: a managing app may refuse a replayed jti (spaceview does).
  const jtis = devnet.managingApp.calls.filter((c) => c.space === space).map((c) => c.jti)
  expect(jtis.length).toBe(2)
  expect(new Set(jtis).size).toBe(jtis.length)
  devnet.managingApp.revoke(space, member.did)
  expect(await mintError(member, space)).toBe('400 UserNotAuthorized')
  devnet.managingApp.authorize(space, member.did)
  devnet.managingApp.failWith(space, 'error')
  expect(await mintError(member, space)).toBe('400 UserNotAuthorized')
  devnet.managingApp.failWith(space, 'malformed')
  expect(await mintError(member, space)).toBe('400 UserNotAuthorized')
  devnet.managingApp.failWith(space, undefined)
  const unresolvable = await createSpace(
    'managed-gone',
    managingAppPolicy('did:plc:nosuchmanager222222222222#x'),
  )
  expect(await mintError(member, unresolvable)).toBe('400 UserNotAuthorized')
})

test('allow-list space: attested, allowed clients only; the attested client_id reaches checkUserAccess', async () => {
  const { indexer, other } = devnet.clients
  const space = await createSpace('apps', PUBLIC_POLICY, allowList([indexer.clientId]))
  expect(await mintError(member, space)).toBe('400 AppNotAuthorized')
  expect(await mintError(member, space, await indexer.attest(owner.did))).toBe('ok')
  expect(await mintError(member, space, await other.attest(owner.did))).toBe('400 AppNotAuthorized')
  // jwks_uri clients work too, once allowed.
  const both = await createSpace('apps-both', PUBLIC_POLICY, allowList([indexer.clientId, other.clientId]))
  expect(await mintError(member, both, await other.attest(owner.did))).toBe('ok')
  // Wrong audience, replay, garbage.
  expect(await mintError(member, space, await indexer.attest(member.did))).toBe(
    '400 InvalidClientAttestation',
  )
  const once = await indexer.attest(owner.did)
  expect(await mintError(member, space, once)).toBe('ok')
  expect(await mintError(member, space, once)).toBe('400 InvalidClientAttestation')
  expect(await mintError(member, space, 'not.a.jwt')).toBe('400 InvalidClientAttestation')
  // An attestation is verified even on an #open space.
  const open = await createSpace('apps-open', PUBLIC_POLICY)
  expect(await mintError(member, open, 'not.a.jwt')).toBe('400 InvalidClientAttestation')
  // A managing app sees the attested client id.
  const managed = await createSpace(
    'apps-managed',
    managingAppPolicy(devnet.managingApp.serviceId),
    allowList([indexer.clientId]),
  )
  devnet.managingApp.authorize(managed, member.did)
  expect(await mintError(member, managed, await indexer.attest(owner.did))).toBe('ok')
  expect(devnet.managingApp.calls.at(-1)).toMatchObject({
    space: managed,
    user: member.did,
    clientId: indexer.clientId,
  })
})

test('SpaceNotFound (never created, authority elsewhere) and SpaceDeleted (tombstone)', async () => {
  const never = `at://${owner.did}/space/com.example.devnet.forum/never`
  expect(await mintError(owner, never)).toBe('400 SpaceNotFound')
  const space = await createSpace('doomed', PUBLIC_POLICY)
  const elsewhere = devnet.hosts.find((h) => h.origin !== ownerHost)!.origin
  const token = await fetchDelegationToken(pdsOf(owner), owner.accessToken, space)
  await expect(
    exchangeForCredential({
      spaceHost: elsewhere,
      space,
      delegationToken: token,
      dpopKey: await generateDpopKey(),
    }),
  ).rejects.toMatchObject({ error: 'SpaceNotFound' })
  const del = await xrpc(ownerHost, 'com.atproto.simplespace.deleteSpace', {
    body: { space },
    auth: { bearer: owner.accessToken },
  })
  expect(del.status).toBe(200)
  expect(await mintError(owner, space)).toBe('400 SpaceDeleted')
  // Re-creation yields the same URI and works again.
  expect(await createSpace('doomed', PUBLIC_POLICY)).toBe(space)
  expect(await mintError(owner, space)).toBe('ok')
})

test('getDelegationToken refuses deactivated and taken-down accounts; output is lexicon-valid', async () => {
  const space = await createSpace('status', PUBLIC_POLICY)
  const res = await xrpc(pdsOf(member), 'com.atproto.space.getDelegationToken', {
    params: { space },
    auth: { bearer: member.accessToken },
  })
  assertValidOutput('com.atproto.space.getDelegationToken', res.body)
  devnet.setAccountStatus(member.did, 'deactivated')
  const d = await xrpc(pdsOf(member), 'com.atproto.space.getDelegationToken', {
    params: { space },
    auth: { bearer: member.accessToken },
  })
  expect([d.status, d.body.error]).toEqual([401, 'AccountDeactivated'])
  devnet.setAccountStatus(member.did, 'takendown')
  const t = await xrpc(pdsOf(member), 'com.atproto.space.getDelegationToken', {
    params: { space },
    auth: { bearer: member.accessToken },
  })
  expect([t.status, t.body.error]).toEqual([401, 'AccountTakedown'])
  devnet.setAccountStatus(member.did, 'active')
  const bad = await xrpc(pdsOf(member), 'com.atproto.space.getDelegationToken', {
    params: { space },
    auth: { bearer: 'nope' },
  })
  expect([bad.status, bad.body.error]).toEqual([400, 'InvalidToken'])
})

test('getSpaceCredential input and output validate against the lexicon', async () => {
  const space = await createSpace('lexicon', PUBLIC_POLICY)
  const { credential } = await mint(owner, space)
  assertValidOutput('com.atproto.space.getSpaceCredential', { credential })
  assertValidInput('com.atproto.space.getSpaceCredential', { space })
})
