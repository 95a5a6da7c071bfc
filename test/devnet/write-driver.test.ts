/**
 * The write driver: sustained writes at a target rate through the real HTTP write path, notifications
 * reaching a registered syncer, and a crawl afterwards that reproduces the ground truth exactly.
 */
import { openRepoCar } from '../../src/protocol/repo-car.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { chunks, credentialFor, startSyncer, xrpc } from './helpers.js'

let devnet: Devnet
beforeAll(async () => {
  devnet = await startDevnet({
    seed: 'driver',
    spaces: 3,
    writersPerSpace: 3,
    records: 10,
    hosts: 2,
    policy: 'public',
    allowListFraction: 0,
  })
})
afterAll(() => devnet.close())

test('drives writes at the requested rate; syncers are notified; a crawl matches the ground truth', async () => {
  const space = devnet.spaces()[0]!.uri
  const syncer = await startSyncer(devnet)
  try {
    const auth = await credentialFor(devnet, space)
    const spaceHost = devnet.hostOf(devnet.space(space)!.authority).origin
    await xrpc(spaceHost, 'com.atproto.space.registerNotify', {
      body: { space, service: syncer.serviceId },
      auth,
    })
    const driver = devnet.startWriteDriver({
      ratePerSec: 60,
      durationMs: 1000,
      deleteFraction: 0.3,
      updateFraction: 0.3,
    })
    await driver.done
    await devnet.settle()
    const s = driver.stats
    // Never above the requested rate; how close it gets depends on the CPU left by parallel test workers.
    expect(s.attempted).toBeGreaterThanOrEqual(20)
    expect(s.attempted).toBeLessThanOrEqual(62)
    expect(s.failed).toBe(0)
    expect(s.creates + s.updates + s.deletes + s.batches).toBe(s.attempted)
    expect(s.deletes).toBeGreaterThan(0)
    expect(syncer.received.length).toBeGreaterThan(0)
    expect(syncer.received.every((n) => n.body.space === space && n.rejected === undefined)).toBe(true)

    for (const info of devnet.spaces()) {
      const cred = await credentialFor(devnet, info.uri)
      const crawled: string[] = []
      for (const did of info.writers) {
        const res = await xrpc(devnet.hostOf(did).origin, 'com.atproto.space.getRepo', {
          params: { space: info.uri, repo: did },
          auth: cred,
        })
        const car = await openRepoCar(chunks(res.bytes), {
          space: info.uri,
          author: did,
          didKey: await devnet.accounts.didKey(devnet.accounts.require(did)),
          expectValues: true,
        })
        for await (const r of car.records()) crawled.push(`${info.uri}/${did}/${r.path} ${r.cid}`)
      }
      expect(crawled.sort()).toEqual(devnet.groundTruth(info.uri).map((r) => `${r.uri} ${r.cid}`))
    }
  } finally {
    await syncer.close()
  }
})

test('stop() ends a driver early; maxWrites caps it', async () => {
  const driver = devnet.startWriteDriver({ ratePerSec: 1000, maxWrites: 5 })
  await driver.done
  expect(driver.stats.attempted).toBe(5)
  const endless = devnet.startWriteDriver({ ratePerSec: 20 })
  await new Promise((r) => setTimeout(r, 150))
  await endless.stop()
  const n = endless.stats.attempted
  await new Promise((r) => setTimeout(r, 100))
  expect(endless.stats.attempted).toBe(n)
  expect(devnet.writeDrivers).toEqual([])
})

test('the admin API starts, reports and stops write drivers', async () => {
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${devnet.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${devnet.adminToken}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    return (await res.json()) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  }
  expect(await admin('POST', '/write-driver', { ratePerSec: 50 })).toEqual({ running: 1 })
  await new Promise((r) => setTimeout(r, 200))
  const stats = await admin('GET', '/stats')
  expect(stats.writeDrivers).toHaveLength(1)
  expect(stats.notifications).toMatchObject({ dropped: expect.any(Number) })
  expect(await admin('DELETE', '/write-driver')).toEqual({ running: 0 })
  await devnet.settle()
  expect(devnet.writeDrivers).toEqual([])
})
