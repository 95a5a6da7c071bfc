/**
 * Identity services: the DID directory resolves through @atproto/identity with `plcUrl`, documents carry
 * `#atproto` (Multikey) and `#atproto_pds`; account status changes and key rotations appear on the
 * subscribeRepos stream as @atproto/sync's Firehose consumes it; the privateEndpoint fault.
 */
import { DidResolver, IdResolver } from '@atproto/identity'
import { Firehose, type Event } from '@atproto/sync'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'

let devnet: Devnet

beforeAll(async () => {
  devnet = await startDevnet({ seed: 'identity', spaces: 1, writersPerSpace: 2, records: 2, hosts: 2 })
})
afterAll(() => devnet.close())

test('DidResolver (plcUrl = devnet) resolves account documents: key, handle, PDS', async () => {
  const resolver = new DidResolver({ plcUrl: devnet.plcUrl, fetch: globalThis.fetch })
  const account = devnet.pool[1]!
  const data = await resolver.resolveAtprotoData(account.did)
  expect(data).toEqual({
    did: account.did,
    signingKey: await devnet.accounts.didKey(account),
    handle: account.handle,
    pds: devnet.hosts[account.host]!.origin,
  })
  const doc = await resolver.resolve(account.did)
  expect(doc?.verificationMethod?.[0]).toMatchObject({ id: `${account.did}#atproto`, type: 'Multikey' })
  expect(doc?.service?.[0]).toMatchObject({ id: '#atproto_pds', type: 'AtprotoPersonalDataServer' })
  expect(await resolver.resolve('did:plc:unknownunknownunknown2222')).toBeNull()
})

test('deterministic: the same seed yields the same DIDs and keys', async () => {
  const again = await startDevnet({ seed: 'identity', spaces: 1, writersPerSpace: 2, records: 2, hosts: 2 })
  try {
    expect(again.pool.map((a) => a.did)).toEqual(devnet.pool.map((a) => a.did))
    expect(await again.accounts.didKey(again.pool[0]!)).toBe(await devnet.accounts.didKey(devnet.pool[0]!))
  } finally {
    await again.close()
  }
})

test('the Firehose consumer sees #account and #identity events, with replay from a cursor', async () => {
  const events: Event[] = []
  const errors: unknown[] = []
  const firehose = new Firehose({
    service: devnet.relayUrl,
    idResolver: new IdResolver({ plcUrl: devnet.plcUrl, fetch: globalThis.fetch }),
    getCursor: () => 0,
    unauthenticatedHandles: true,
    handleEvent: async (evt) => {
      events.push(evt)
    },
    onError: (err) => errors.push(err),
  })
  const did = devnet.pool[0]!.did
  devnet.setAccountStatus(did, 'deactivated')
  const started = firehose.start()
  const oldKey = await devnet.accounts.didKey(devnet.pool[0]!)
  await new Promise((r) => setTimeout(r, 200))
  devnet.setAccountStatus(did, 'takendown')
  const newKey = await devnet.rotateKey(did)
  devnet.setAccountStatus(did, 'active')
  const until = Date.now() + 5000
  while (events.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
  await firehose.destroy()
  await started
  expect(errors).toEqual([])
  expect(events.map((e) => e.event)).toEqual(['account', 'account', 'identity', 'account'])
  expect(events[0]).toMatchObject({ event: 'account', did, active: false, status: 'deactivated', seq: 1 })
  expect(events[1]).toMatchObject({ event: 'account', did, active: false, status: 'takendown' })
  expect(events[3]).toMatchObject({ event: 'account', did, active: true })
  const identity = events[2] as Extract<Event, { event: 'identity' }>
  expect(newKey).not.toBe(oldKey)
  expect(JSON.stringify(identity.didDocument)).toContain(newKey.slice('did:key:'.length))
})

test('a cursor from the future is refused with an error frame', async () => {
  const { WebSocket } = await import('ws')
  const ws = new WebSocket(`${devnet.relayUrl}/xrpc/com.atproto.sync.subscribeRepos?cursor=999999`)
  const data: Buffer = await new Promise((resolve) => ws.once('message', (d: Buffer) => resolve(d)))
  ws.close()
  const { decodeAll } = await import('@atproto/lex-cbor')
  expect([...decodeAll(data)]).toEqual([
    { op: -1 },
    { error: 'FutureCursor', message: 'Cursor in the future.' },
  ])
})

test('privateEndpoint fault: the PDS endpoint of matching DID documents points at a private address', async () => {
  const resolver = new DidResolver({ plcUrl: devnet.plcUrl, fetch: globalThis.fetch })
  const victim = devnet.pool[0]!
  const id = devnet.faults.add({ kind: 'privateEndpoint', did: victim.did })
  expect((await resolver.resolveAtprotoData(victim.did, true)).pds).toBe('http://169.254.169.254')
  expect((await resolver.resolveAtprotoData(devnet.pool[1]!.did, true)).pds).toBe(
    devnet.hosts[devnet.pool[1]!.host]!.origin,
  )
  devnet.faults.remove(id)
  devnet.faults.add({
    kind: 'privateEndpoint',
    host: victim.host,
    endpoint: 'http://10.0.0.7:2583',
    count: 1,
  })
  expect((await resolver.resolveAtprotoData(victim.did, true)).pds).toBe('http://10.0.0.7:2583')
  expect((await resolver.resolveAtprotoData(victim.did, true)).pds).toBe(devnet.hosts[victim.host]!.origin)
})
