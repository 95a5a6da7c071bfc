import {
  DEVNET_ENDPOINTS,
  EndpointBlockedError,
  PUBLIC_ENDPOINTS,
  checkEndpointUrl,
  resolveEndpointAddress,
  type LookupAll,
} from '../../src/identity/endpoint-guard.js'

/** A resolver that answers from a table; no DNS traffic, no connections. */
function fakeLookup(table: Record<string, string[]>): LookupAll & { calls: string[] } {
  const calls: string[] = []
  const fn = async (host: string) => {
    calls.push(host)
    return (table[host] ?? []).map((address) => ({
      address,
      family: address.includes(':') ? (6 as const) : (4 as const),
    }))
  }
  return Object.assign(fn, { calls })
}

function blocked(fn: () => unknown): EndpointBlockedError {
  try {
    fn()
  } catch (err) {
    if (err instanceof EndpointBlockedError) return err
    throw err
  }
  throw new Error('expected the endpoint to be refused')
}

describe('checkEndpointUrl', () => {
  it.each([
    'https://10.0.0.1/',
    'https://172.16.5.4/',
    'https://192.168.0.10/',
    'https://127.0.0.1/',
    'https://[::1]/',
    'https://[fe80::1]/',
    'https://[fc00::1]/',
    'https://100.64.1.1/',
    'https://169.254.169.254/latest/meta-data',
    'https://[::ffff:10.0.0.1]/',
    'https://0.0.0.0/',
    'https://0x7f.1/',
    'https://2130706433/',
  ])('refuses IP-literal %s under the public policy', (url) => {
    const err = blocked(() => checkEndpointUrl(url, PUBLIC_ENDPOINTS))
    expect(err.reason).toBe('address')
    expect(err.message).toMatch(/refusing to connect/)
  })

  it('accepts a public https endpoint', () => {
    expect(checkEndpointUrl('https://pds.example.net/', PUBLIC_ENDPOINTS).hostname).toBe('pds.example.net')
    expect(checkEndpointUrl('https://8.8.8.8', PUBLIC_ENDPOINTS).hostname).toBe('8.8.8.8')
  })

  it('refuses other schemes, plain http unless allowed, and userinfo', () => {
    expect(blocked(() => checkEndpointUrl('ftp://pds.example.net/', PUBLIC_ENDPOINTS)).reason).toBe('scheme')
    expect(blocked(() => checkEndpointUrl('file:///etc/passwd', DEVNET_ENDPOINTS)).reason).toBe('scheme')
    expect(blocked(() => checkEndpointUrl('http://pds.example.net/', PUBLIC_ENDPOINTS)).reason).toBe('scheme')
    expect(checkEndpointUrl('http://pds.example.net/', DEVNET_ENDPOINTS).protocol).toBe('http:')
    expect(blocked(() => checkEndpointUrl('https://user:pw@pds.example.net/', PUBLIC_ENDPOINTS)).reason).toBe(
      'credentials',
    )
    expect(blocked(() => checkEndpointUrl('not a url', PUBLIC_ENDPOINTS)).reason).toBe('invalid_url')
  })

  it('allows loopback only when configured, and nothing else with it', () => {
    expect(checkEndpointUrl('http://127.0.0.1:2583/', DEVNET_ENDPOINTS).port).toBe('2583')
    expect(checkEndpointUrl('http://[::1]:2583/', DEVNET_ENDPOINTS).port).toBe('2583')
    expect(blocked(() => checkEndpointUrl('http://10.0.0.1/', DEVNET_ENDPOINTS)).category).toBe('private')
    expect(blocked(() => checkEndpointUrl('http://169.254.169.254/', DEVNET_ENDPOINTS)).category).toBe(
      'link_local',
    )
  })
})

describe('resolveEndpointAddress', () => {
  it('refuses a public-looking name that resolves to a private address', async () => {
    const lookup = fakeLookup({ 'pds.evil.test': ['10.0.0.1'] })
    await expect(
      resolveEndpointAddress(new URL('https://pds.evil.test/'), PUBLIC_ENDPOINTS, lookup),
    ).rejects.toMatchObject({ name: 'EndpointBlockedError', reason: 'address', category: 'private' })
  })

  it('refuses a name when any of its addresses is refused', async () => {
    const lookup = fakeLookup({ 'mixed.test': ['8.8.8.8', '::ffff:169.254.169.254'] })
    await expect(
      resolveEndpointAddress(new URL('https://mixed.test/'), PUBLIC_ENDPOINTS, lookup),
    ).rejects.toMatchObject({ category: 'link_local' })
  })

  it('returns the checked address, resolving once', async () => {
    const lookup = fakeLookup({ 'pds.good.test': ['8.8.4.4', '2001:4860:4860::8844'] })
    const addr = await resolveEndpointAddress(new URL('https://pds.good.test/'), PUBLIC_ENDPOINTS, lookup)
    expect(addr).toEqual({ address: '8.8.4.4', family: 4 })
    expect(lookup.calls).toEqual(['pds.good.test'])
  })

  it('skips DNS for IP literals and reports unknown names as ENOTFOUND', async () => {
    const lookup = fakeLookup({})
    await expect(
      resolveEndpointAddress(new URL('http://[::1]:80/'), DEVNET_ENDPOINTS, lookup),
    ).resolves.toEqual({
      address: '::1',
      family: 6,
    })
    expect(lookup.calls).toEqual([])
    await expect(
      resolveEndpointAddress(new URL('https://nowhere.test/'), PUBLIC_ENDPOINTS, lookup),
    ).rejects.toMatchObject({ code: 'ENOTFOUND' })
  })
})
