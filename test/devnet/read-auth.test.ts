/**
 * Credential + DPoP checks on repo-host reads (SPEC §3.2, §3.5): each defect yields the reference's error
 * name and status, and a credential is bound to its space and its DPoP key.
 */
import { createDpopProof, generateDpopKey, type DpopKey } from '../../src/protocol/dpop.js'
import { signJws } from '../../src/protocol/jws.js'
import { createSpaceCredential, SPACE_CREDENTIAL_TYP } from '../../src/protocol/space-credential.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { deriveTestKeypair } from '../../src/devnet/seeded.js'
import { credentialFor } from './helpers.js'

let devnet: Devnet
let space: string
let otherSpace: string
let writer: string
let url: string
let credential: string
let dpopKey: DpopKey

beforeAll(async () => {
  devnet = await startDevnet({
    seed: 'read-auth',
    spaces: 2,
    writersPerSpace: 2,
    records: 5,
    hosts: 1,
    policy: 'public',
  })
  ;[space, otherSpace] = devnet.spaces().map((s) => s.uri) as [string, string]
  writer = devnet.space(space)!.writers[0]!
  url = `${devnet.hostOf(writer).origin}/xrpc/com.atproto.space.getLatestCommit?${new URLSearchParams({ space, repo: writer })}`
  ;({ credential, dpopKey } = await credentialFor(devnet, space))
})
afterAll(() => devnet.close())

async function call(headers: Record<string, string>, target = url): Promise<[number, string | undefined]> {
  const res = await fetch(target, { headers })
  const body = (await res.json()) as { error?: string }
  return [res.status, res.status === 200 ? undefined : body.error]
}

const proof = (opts: Partial<Parameters<typeof createDpopProof>[1]> = {}, key = dpopKey) =>
  createDpopProof(key, { htm: 'GET', htu: url, credential, ...opts })

const authority = () => devnet.accounts.require(devnet.space(space)!.authority)

test('a valid credential with a fresh proof reads', async () => {
  expect(await call({ authorization: `DPoP ${credential}`, dpop: await proof() })).toEqual([200, undefined])
})

test('missing authorization, wrong scheme and missing proof', async () => {
  expect(await call({})).toEqual([401, 'AuthMissing'])
  expect(await call({ authorization: `Bearer ${credential}` })).toEqual([400, 'InvalidToken'])
  expect(await call({ authorization: `DPoP ${credential}` })).toEqual([401, 'MissingDpopProof'])
  expect(await call({ authorization: `Basic abc` })).toEqual([400, 'InvalidToken'])
})

test('proof defects: ath, htu, htm, iat window, replay, key binding', async () => {
  const auth = { authorization: `DPoP ${credential}` }
  const noAth = await createDpopProof(dpopKey, { htm: 'GET', htu: url })
  expect(await call({ ...auth, dpop: noAth })).toEqual([401, 'BadDpopProof'])
  expect(await call({ ...auth, dpop: await proof({ credential: `${credential}x` }) })).toEqual([
    401,
    'BadDpopProof',
  ])
  const otherHost = url.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:1')
  expect(await call({ ...auth, dpop: await proof({ htu: otherHost }) })).toEqual([401, 'BadDpopProof'])
  expect(await call({ ...auth, dpop: await proof({ htm: 'POST' }) })).toEqual([401, 'BadDpopProof'])
  expect(await call({ ...auth, dpop: await proof({ now: Date.now() / 1000 - 120 }) })).toEqual([
    401,
    'DpopProofExpired',
  ])
  expect(await call({ ...auth, dpop: await proof({ now: Date.now() / 1000 + 60 }) })).toEqual([
    401,
    'BadDpopProofSignature',
  ])
  const once = await proof()
  expect(await call({ ...auth, dpop: once })).toEqual([200, undefined])
  expect(await call({ ...auth, dpop: once })).toEqual([401, 'BadDpopProof'])
  const stranger = await generateDpopKey()
  expect(await call({ ...auth, dpop: await proof({}, stranger) })).toEqual([401, 'DpopKeyMismatch'])
})

test('htu is origin + path: the query string is ignored by both sides', async () => {
  // createDpopProof strips the query; the host compares against its own origin + path.
  expect(
    await call({ authorization: `DPoP ${credential}`, dpop: await proof({ htu: `${url}&extra=1` }) }),
  ).toEqual([200, undefined])
})

test('a credential for another space is 400 InvalidCredential', async () => {
  const other = await credentialFor(devnet, otherSpace)
  const dpop = await createDpopProof(other.dpopKey, { htm: 'GET', htu: url, credential: other.credential })
  expect(await call({ authorization: `DPoP ${other.credential}`, dpop })).toEqual([400, 'InvalidCredential'])
})

test('credential defects: expiry, signature, issuer, cnf, typ', async () => {
  const keypair = await devnet.accounts.keypair(authority())
  const now = Math.floor(Date.now() / 1000)
  const tryCred = async (cred: string) =>
    call({
      authorization: `DPoP ${cred}`,
      dpop: await createDpopProof(dpopKey, { htm: 'GET', htu: url, credential: cred }),
    })

  expect(
    await tryCred(await createSpaceCredential({ keypair, space, jkt: dpopKey.jkt, now: now - 7300 })),
  ).toEqual([401, 'JwtExpired'])
  // Within the 5 s skew after exp it is still accepted.
  expect(
    await tryCred(await createSpaceCredential({ keypair, space, jkt: dpopKey.jkt, now: now - 7202 })),
  ).toEqual([200, undefined])
  const forger = await deriveTestKeypair('someone else', 'forger')
  expect(await tryCred(await createSpaceCredential({ keypair: forger, space, jkt: dpopKey.jkt }))).toEqual([
    401,
    'BadJwtSignature',
  ])
  const payload = {
    iss: devnet.indexer.did,
    sub: space,
    cnf: { jkt: dpopKey.jkt },
    iat: now,
    exp: now + 600,
    jti: 'x1',
  }
  const header = { typ: SPACE_CREDENTIAL_TYP, kid: '#atproto' }
  expect(await tryCred(await signJws(header, payload, keypair))).toEqual([401, 'BadJwtIss'])
  const { cnf: _cnf, ...noCnf } = payload
  expect(await tryCred(await signJws(header, { ...noCnf, iss: authority().did }, keypair))).toEqual([
    401,
    'BadJwtCnf',
  ])
  // Another token type in the DPoP scheme is routed to OAuth, which devnet does not have.
  expect(
    await tryCred(await signJws({ ...header, typ: 'at+jwt' }, { ...payload, iss: authority().did }, keypair)),
  ).toEqual([400, 'InvalidToken'])
})

test('a rotated authority key invalidates credentials signed with the old key', async () => {
  const before = await credentialFor(devnet, otherSpace)
  const target = `${devnet.hostOf(devnet.space(otherSpace)!.writers[0]!).origin}/xrpc/com.atproto.space.listRecords?${new URLSearchParams(
    {
      space: otherSpace,
      repo: devnet.space(otherSpace)!.writers[0]!,
    },
  )}`
  const read = async (c: { credential: string; dpopKey: DpopKey }) =>
    call(
      {
        authorization: `DPoP ${c.credential}`,
        dpop: await createDpopProof(c.dpopKey, { htm: 'GET', htu: target, credential: c.credential }),
      },
      target,
    )
  expect(await read(before)).toEqual([200, undefined])
  await devnet.rotateKey(devnet.space(otherSpace)!.authority)
  expect(await read(before)).toEqual([401, 'BadJwtSignature'])
  expect(await read(await credentialFor(devnet, otherSpace))).toEqual([200, undefined])
})
