/**
 * Service auth on devnet's notification hops: a host reuses a minted token for the same (issuer key, aud,
 * lxm) for half its lifetime (service auth has no replay rule), never a corrupted one; the receiving space
 * host remembers a token whose signature verified, yet still refuses it once the issuer's key rotated or
 * the token expired.
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Account } from '../../src/devnet/accounts.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { createServiceAuth, verifyServiceAuth } from '../../src/protocol/service-auth.js'
import { credentialFor, xrpc } from './helpers.js'

let devnet: Devnet
let space: string
let spaceHost: string
const received: Array<{ authorization: string; body: string }> = []
const server = createServer((req: IncomingMessage, res) => {
  const parts: Buffer[] = []
  req.on('data', (c: Buffer) => parts.push(c))
  req.on('end', () => {
    received.push({ authorization: req.headers.authorization ?? '', body: Buffer.concat(parts).toString() })
    res.writeHead(200).end()
  })
})
let serviceId = ''

beforeAll(async () => {
  devnet = await startDevnet({
    seed: 'service-auth-reuse',
    spaces: 1,
    writersPerSpace: 3,
    records: 2,
    hosts: 2,
    policy: 'member-list',
    allowListFraction: 0,
  })
  space = devnet.spaces()[0]!.uri
  spaceHost = devnet.hostOf(devnet.space(space)!.authority).origin
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  serviceId = devnet.publishSyncer(`http://127.0.0.1:${(server.address() as AddressInfo).port}`).serviceId
  const reg = await xrpc(spaceHost, 'com.atproto.space.registerNotify', {
    body: { space, service: serviceId },
    auth: await credentialFor(devnet, space),
  })
  expect(reg.status).toBe(200)
})
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await devnet.close()
})

const writer = (): Account => {
  const info = devnet.space(space)!
  return devnet.accounts.require(info.writers.find((d) => d !== info.authority)!)
}

async function write(who: Account, text: string): Promise<void> {
  const res = await xrpc(devnet.hostOf(who.did).origin, 'com.atproto.space.createRecord', {
    body: {
      space,
      repo: who.did,
      collection: 'com.example.devnet.post',
      record: { $type: 'com.example.devnet.post', text },
    },
    auth: { bearer: who.accessToken },
  })
  expect(res.status).toBe(200)
  await devnet.settle()
}

const notifyWrite = (authorization: string, who: Account) => {
  const head = devnet.repoHead(space, who.did)!
  return xrpc(spaceHost, 'com.atproto.space.notifyWrite', {
    body: {
      space,
      repo: who.did,
      rev: head.rev,
      hash: { $bytes: Buffer.from(head.hash).toString('base64') },
    },
    auth: { bearer: authorization },
  })
}

test('notifications to one service reuse one valid token; a corrupted token never takes its place', async () => {
  received.length = 0
  await write(writer(), 'one')
  await write(writer(), 'two')
  expect(received).toHaveLength(2)
  const [a, b] = received.map((r) => r.authorization)
  expect(a).toBe(b)
  const token = a!.replace(/^Bearer /, '')
  const v = await verifyServiceAuth(token, {
    audience: serviceId,
    lxm: 'com.atproto.space.notifyWrite',
    resolveKey: devnet.hosts[0]!.ctx.resolver.resolveKey,
  })
  expect(v.claims.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(30)

  received.length = 0
  const fault = devnet.faults.add({
    kind: 'wrongAudienceTokens',
    space,
    methods: ['com.atproto.space.notifyWrite'],
  })
  try {
    await write(writer(), 'three')
    await write(writer(), 'four')
  } finally {
    devnet.faults.remove(fault)
  }
  // The corrupted hop-1 token is refused by the authority, so nothing reaches the service.
  expect(received).toHaveLength(0)
  await write(writer(), 'five')
  expect(received.map((r) => r.authorization)).toEqual([a])
})

test('a remembered token is refused after the issuer key rotated, and once it expired', async () => {
  const who = writer()
  const authority = devnet.space(space)!.authority
  const token = await createServiceAuth({
    keypair: await devnet.accounts.keypair(who),
    iss: who.did,
    aud: authority,
    lxm: 'com.atproto.space.notifyWrite',
    expiresInSec: 2,
  })
  expect((await notifyWrite(token, who)).status).toBe(200)
  expect((await notifyWrite(token, who)).status).toBe(200) // remembered
  await new Promise((r) => setTimeout(r, 3100))
  const expired = await notifyWrite(token, who)
  expect([expired.status, expired.body?.error]).toEqual([401, 'JwtExpired'])

  const fresh = await createServiceAuth({
    keypair: await devnet.accounts.keypair(who),
    iss: who.did,
    aud: authority,
    lxm: 'com.atproto.space.notifyWrite',
  })
  expect((await notifyWrite(fresh, who)).status).toBe(200)
  await devnet.rotateKey(who.did)
  const rotated = await notifyWrite(fresh, who)
  expect([rotated.status, rotated.body?.error]).toEqual([401, 'BadJwtSignature'])
})
