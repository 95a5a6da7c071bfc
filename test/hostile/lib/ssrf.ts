/**
 * SSRF: DID documents and redirects that point the crawler at private, loopback, link-local or metadata
 * addresses. Refused under the production endpoint policy (PUBLIC_ENDPOINTS) before any connection is made.
 *
 * No traffic leaves loopback: every non-loopback target is an IP literal (refused from the URL alone) or a
 * hostname answered by an injected resolver (no DNS query is sent); loopback targets are listeners of this
 * test that count connections, and must count none. The DID documents are real ones served by devnet's
 * directory, which stands in for plc.directory (reached under the devnet policy, as the public directory
 * would be under the production one).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { startDevnet, type Devnet } from '../../../src/devnet/devnet.js'
import { deriveDid } from '../../../src/devnet/seeded.js'
import { HttpClient } from '../../../src/crawler/http-client.js'
import { isHostError } from '../../../src/crawler/host-errors.js'
import { SpaceClient } from '../../../src/crawler/space-client.js'
import { isSpaceCallError } from '../../../src/crawler/space-errors.js'
import { HostResolver } from '../../../src/crawler/host-resolver.js'
import { IdentityResolver } from '../../../src/identity/did-resolver.js'
import { isIdentityError } from '../../../src/identity/identity-error.js'
import { DEVNET_ENDPOINTS, PUBLIC_ENDPOINTS, type LookupAll } from '../../../src/identity/endpoint-guard.js'
import { generateDpopKey } from '../../../src/protocol/dpop.js'
import { tally } from './tally.js'

/** A loopback listener that counts every TCP connection made to it. */
async function countingListener(): Promise<{
  port: number
  connections: () => number
  close(): Promise<void>
}> {
  let n = 0
  const server: Server = createServer((_req, res) => res.end('{}'))
  server.on('connection', () => n++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => n,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Answers from a table and records every name asked: stands in for DNS, so no query leaves the box. */
function tableLookup(table: Record<string, string[]>): LookupAll & { asked: string[] } {
  const asked: string[] = []
  const fn: LookupAll = async (host) => {
    asked.push(host)
    return (table[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
  }
  return Object.assign(fn, { asked })
}

const RESOLVES: Record<string, string[]> = {
  'metadata.attacker.test': ['169.254.169.254'],
  'rebind.attacker.test': ['93.184.216.34', '10.0.0.8'],
  'lan.attacker.test': ['192.168.1.20'],
  'v6local.attacker.test': ['::1'],
  'localhost.attacker.test': ['127.0.0.1'],
}

export function describeSsrf(): void {
  let devnet: Devnet
  let trap: Awaited<ReturnType<typeof countingListener>>
  let lookup: ReturnType<typeof tableLookup>
  let production: SpaceClient
  let hosts: HostResolver

  beforeAll(async () => {
    devnet = await startDevnet({ seed: 'hostile-ssrf', spaces: 0, hosts: 1 })
    trap = await countingListener()
    lookup = tableLookup(RESOLVES)
    production = new SpaceClient({ http: new HttpClient({ policy: PUBLIC_ENDPOINTS, lookup }) })
    // DID documents come from devnet's directory (standing in for the public PLC directory).
    hosts = new HostResolver(
      new IdentityResolver({ http: new HttpClient({ policy: DEVNET_ENDPOINTS }), plcUrl: devnet.plcUrl }),
    )
  }, 60_000)
  afterAll(async () => {
    await trap?.close()
    await devnet?.close()
  })

  const endpoints = (port: () => number): Array<[string, () => string]> => [
    ['loopback IPv4', () => `https://127.0.0.1:${port()}`],
    ['loopback IPv6', () => `https://[::1]:${port()}`],
    ['IPv4-mapped loopback', () => `https://[::ffff:127.0.0.1]:${port()}`],
    ['unspecified 0.0.0.0', () => `https://0.0.0.0:${port()}`],
    ['cloud metadata (link-local)', () => 'https://169.254.169.254'],
    ['link-local IPv6', () => 'https://[fe80::1]'],
    ['private 10/8', () => 'https://10.0.0.7'],
    ['private 192.168/16', () => 'https://192.168.0.1'],
    ['CGNAT 100.64/10', () => 'https://100.64.0.1'],
    ['unique-local IPv6', () => 'https://[fd00::1]'],
    ['hostname resolving to metadata', () => 'https://metadata.attacker.test'],
    ['hostname resolving public + private', () => 'https://rebind.attacker.test'],
    ['hostname resolving to the LAN', () => 'https://lan.attacker.test'],
    ['hostname resolving to ::1', () => `https://v6local.attacker.test:${port()}`],
    ['plain http (production is https only)', () => 'http://pds.attacker.test'],
  ]

  describe('DID documents pointing inside (production policy)', () => {
    it.each(endpoints(() => trap.port))('refuses a PDS at %s before connecting', async (name, endpoint) => {
      const label = `ssrf-${name.replace(/[^a-z0-9]+/gi, '-')}`
      const did = deriveDid(devnet.seed, label)
      devnet.directory.publish(did, label, [
        { id: 'atproto_pds', type: 'AtprotoPersonalDataServer', endpoint: endpoint() },
      ])
      // The document is accepted as a document: the refusal is the client's, at the moment it would connect.
      const { pds } = await hosts.repoHost(did)
      const cred = { credential: 'a.b.c', dpopKey: await generateDpopKey() }
      const space = `at://${did}/space/com.example.devnet.forum/ssrf`
      let kind = 'none'
      let cls = 'none'
      try {
        const body = await production.getRepo(pds, cred, { space, repo: did })
        body.discard()
      } catch (err) {
        if (!isSpaceCallError(err)) throw err
        kind = err.kind
        cls = isHostError(err.cause) ? err.cause.class : 'none'
      }
      const rejected = kind === 'blocked_address' && trap.connections() === 0
      tally({
        kind: 'bad_input',
        name: `DID doc PDS: ${name}`,
        rejected,
        reason: kind,
        evidence: `host error class ${cls}`,
      })
      expect({ kind, cls, connections: trap.connections() }).toEqual({
        kind: 'blocked_address',
        cls: 'blocked_address',
        connections: 0,
      })
    })

    it('refuses DID resolution through a directory or did:web host that resolves inside', async () => {
      const plc = new IdentityResolver({
        http: new HttpClient({ policy: PUBLIC_ENDPOINTS, lookup }),
        plcUrl: 'https://metadata.attacker.test',
      })
      const reasons: string[] = []
      for (const did of [
        deriveDid('x', 'y'),
        'did:web:localhost.attacker.test',
        'did:web:lan.attacker.test',
        'did:web:169.254.169.254',
        'did:web:127.0.0.1',
      ]) {
        try {
          await plc.resolve(did)
          reasons.push('resolved')
        } catch (err) {
          reasons.push(isIdentityError(err) ? err.reason : String(err))
        }
      }
      const rejected = reasons.every((r) => r !== 'resolved')
      tally({
        kind: 'bad_input',
        name: 'DID resolution via inside addresses',
        rejected,
        reason: reasons.join(','),
        evidence: '',
      })
      expect(reasons).not.toContain('resolved')
      expect(
        reasons.filter((r) => r === 'bad_endpoint').length +
          reasons.filter((r) => r === 'invalid_did').length,
      ).toBe(5)
      expect(trap.connections()).toBe(0)
    })
  })

  describe('redirects to inside addresses', () => {
    let redirector: Server
    let origin: string
    let hits = 0
    let location = ''

    beforeAll(async () => {
      redirector = createServer((_req, res) => {
        hits++
        res.writeHead(302, { location }).end()
      })
      await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve))
      origin = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`
    })
    afterAll(async () => {
      redirector.closeAllConnections()
      await new Promise<void>((resolve) => redirector.close(() => resolve()))
    })

    const targets = [
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://[fe80::1]/',
      'http://10.0.0.1/admin',
      'http://100.64.0.1/',
      'http://metadata.attacker.test/',
      'http://lan.attacker.test/',
    ]

    it.each(targets)('is refused when a followed hop points at %s', async (target) => {
      location = target
      const before = hits
      // Even under the devnet policy (loopback allowed) and with redirects explicitly enabled.
      const http = new HttpClient({ policy: DEVNET_ENDPOINTS, lookup })
      let cls = 'none'
      try {
        const res = await http.request({ method: 'GET', url: `${origin}/x`, maxBytes: 1024, maxRedirects: 5 })
        res.body.discard()
      } catch (err) {
        cls = isHostError(err) ? err.class : String(err)
      }
      tally({
        kind: 'bad_input',
        name: `redirect to ${target}`,
        rejected: cls === 'blocked_address',
        reason: cls,
        evidence: '',
      })
      expect({ cls, hops: hits - before }).toEqual({ cls: 'blocked_address', hops: 1 })
    })

    it('is never followed by the space client, nor by DID resolution', async () => {
      location = 'http://169.254.169.254/'
      const client = new SpaceClient({ http: new HttpClient({ policy: DEVNET_ENDPOINTS, lookup }) })
      const cred = { credential: 'a.b.c', dpopKey: await generateDpopKey() }
      const space = `at://${deriveDid('x', 'z')}/space/com.example.devnet.forum/r`
      const kinds: string[] = []
      for (const call of [
        () => client.listRepos(origin, cred, { space }),
        async () => (await client.getRepo(origin, cred, { space, repo: deriveDid('x', 'z') })).discard(),
      ]) {
        try {
          await call()
          kinds.push('followed')
        } catch (err) {
          kinds.push(isSpaceCallError(err) && isHostError(err.cause) ? err.cause.class : String(err))
        }
      }
      const plc = new IdentityResolver({
        http: new HttpClient({ policy: DEVNET_ENDPOINTS, lookup }),
        plcUrl: origin,
      })
      await expect(plc.resolve(deriveDid('x', 'w'))).rejects.toMatchObject({ name: 'IdentityError' })
      tally({
        kind: 'bad_input',
        name: 'redirects from a space host / directory',
        rejected: kinds.every((k) => k === 'redirect'),
        reason: kinds.join(','),
        evidence: '',
      })
      expect(kinds).toEqual(['redirect', 'redirect'])
    })
  })
}
