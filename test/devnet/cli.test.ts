/**
 * The devnet command line: flag parsing (values, ranges, unknown flags), --help, and the printed summary
 * (endpoints, indexer credentials, spaces) of a running network.
 */
import { HELP, parseCli, summary } from '../../src/devnet/cli.js'
import { startDevnet } from '../../src/devnet/devnet.js'

test('flags map onto devnet options', () => {
  const cfg = parseCli([
    '--spaces',
    '10000',
    '--writers-per-space',
    '10',
    '--records',
    '100',
    '--hosts',
    '4',
    '--seed',
    's1',
    '--policy',
    'public',
    '--allow-list-fraction',
    '0',
    '--host-port-base',
    '7000',
    '--write-rate',
    '25',
    '--materialize',
    '--json',
    '--registration-ttl',
    '60',
    '--record-cache-mib',
    '64',
  ])
  expect(cfg).toEqual({
    options: {
      seed: 's1',
      policy: 'public',
      spaces: 10000,
      writersPerSpace: 10,
      records: 100,
      hosts: 4,
      allowListFraction: 0,
      registrationTtlSec: 60,
      encodedRecordCacheBytes: 64 * 1024 * 1024,
      hostPorts: [7000, 7001, 7002, 7003],
    },
    writeRate: 25,
    materialize: true,
    showSpaces: 20,
    json: true,
    logLevel: 'info',
  })
  expect(parseCli(['--help'])).toBeNull()
})

test('bad flags fail with a message naming the flag', () => {
  expect(() => parseCli(['--spaces=-1'])).toThrow(/--spaces must be an integer >= 0/)
  expect(() => parseCli(['--records', '1.5'])).toThrow(/--records/)
  expect(() => parseCli(['--policy', 'secret'])).toThrow(/--policy must be one of/)
  expect(() => parseCli(['--allow-list-fraction', '2'])).toThrow(/<= 1/)
  expect(() => parseCli(['--record-cache-mib=-1'])).toThrow(/--record-cache-mib must be a number >= 0/)
  expect(() => parseCli(['--bogus'])).toThrow(/bogus/)
})

test('--help documents every flag', () => {
  for (const flag of [
    '--spaces',
    '--writers-per-space',
    '--records',
    '--hosts',
    '--seed',
    '--write-rate',
    '--materialize',
    '--json',
  ]) {
    expect(HELP).toContain(flag)
  }
})

test('the summary names endpoints, a credential-ready indexer and the spaces', async () => {
  const devnet = await startDevnet({ seed: 'cli', spaces: 3, writersPerSpace: 2, records: 2, hosts: 2 })
  try {
    const s = summary(devnet, { start: 1 }, 2)
    expect(s.endpoints.plcUrl).toBe(devnet.plcUrl)
    expect(s.endpoints.hosts).toEqual(devnet.hosts.map((h) => h.origin))
    expect(s.endpoints.relay).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/xrpc\/com\.atproto\.sync\.subscribeRepos$/)
    expect(s.indexer).toMatchObject({
      did: devnet.indexer.did,
      accessToken: devnet.indexer.accessToken,
      clientId: devnet.clients.indexer.clientId,
    })
    expect((s.indexer.clientKey as { d?: string }).d).toBeDefined()
    expect(s.spaces.total).toBe(3)
    expect(s.spaces.listed).toHaveLength(2)
    expect(s.memory.rssMiB).toBeGreaterThan(0)
  } finally {
    await devnet.close()
  }
})
