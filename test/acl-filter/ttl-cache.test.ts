// The ACL filter's fact cache: values live at most ttlMs from their lookup's start, a busy key is
// refreshed in the background past half its life (readers never wait on its expiry), and an
// invalidation discards a refresh in flight.
import { describe, expect, test } from '@jest/globals'
import { TtlCache } from '../../src/acl-filter/ttl-cache.js'

/** Loads whose results the test hands out, one by one. */
function loads() {
  const pending: Array<{ resolve: (v: string) => void; reject: (e: Error) => void }> = []
  let calls = 0
  return {
    load: () =>
      new Promise<string>((resolve, reject) => {
        calls++
        pending.push({ resolve, reject })
      }),
    get calls() {
      return calls
    },
    resolve: (v: string) => pending.shift()!.resolve(v),
    reject: () => pending.shift()!.reject(new Error('store down')),
  }
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms))
const TTL = 400

/** A cache holding 'v1' for key 'k', just looked up, and the loads behind it. */
async function cachedV1() {
  const c = new TtlCache<string>(TTL)
  const l = loads()
  const first = c.get('k', l.load)
  l.resolve('v1')
  await first
  return { c, l }
}

describe('TtlCache', () => {
  test('concurrent callers share one lookup; a young value is reused without one', async () => {
    const c = new TtlCache<string>(TTL)
    const l = loads()
    const both = Promise.all([c.get('k', l.load), c.get('k', l.load)])
    l.resolve('v1')
    expect(await both).toEqual(['v1', 'v1'])
    expect(await c.get('k', l.load)).toBe('v1')
    expect(l.calls).toBe(1)
  })

  test('past half its life a value is still served, while one refresh replaces it', async () => {
    const { c, l } = await cachedV1()
    await sleep(TTL * 0.6)
    // Served at once from the cache, though a refresh starts; a second reader does not start another.
    expect(await c.get('k', l.load)).toBe('v1')
    expect(await c.get('k', l.load)).toBe('v1')
    expect(l.calls).toBe(2)
    l.resolve('v2')
    await sleep(0)
    expect(await c.get('k', l.load)).toBe('v2')
    expect(l.calls).toBe(2)
  })

  test('a value is never served past its life: an idle key is looked up again, and waited for', async () => {
    const { c, l } = await cachedV1()
    await sleep(TTL + 50)
    let settled = false
    const again = c.get('k', l.load).then((v) => {
      settled = true
      return v
    })
    await sleep(10)
    expect(settled).toBe(false) // the expired value was not handed out
    l.resolve('v2')
    expect(await again).toBe('v2')
  })

  test('delete discards a refresh in flight, and a failed refresh keeps the current value', async () => {
    const { c, l } = await cachedV1()
    await sleep(TTL * 0.6)
    expect(await c.get('k', l.load)).toBe('v1') // starts a refresh
    c.delete('k') // e.g. a verified space deletion
    l.resolve('stale')
    await sleep(0)
    const after = c.get('k', l.load)
    l.resolve('fresh')
    expect(await after).toBe('fresh')

    await sleep(TTL * 0.6)
    expect(await c.get('k', l.load)).toBe('fresh') // starts a refresh, which fails
    l.reject()
    await sleep(0)
    expect(await c.get('k', l.load)).toBe('fresh')
  })

  test('a failed lookup is not kept', async () => {
    const c = new TtlCache<string>(TTL)
    const l = loads()
    const first = c.get('k', l.load)
    l.reject()
    await expect(first).rejects.toThrow('store down')
    const second = c.get('k', l.load)
    l.resolve('v1')
    expect(await second).toBe('v1')
  })
})
