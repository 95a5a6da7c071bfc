/**
 * SessionStore.hasSpace (real Redis): a yes is remembered in process (every notification asks), a no is
 * asked again, and a space this process removes is forgotten at once.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { SecretBox } from '../../src/crawler/secret-box.js'
import { SessionStore } from '../../src/crawler/session-store.js'

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const space = `at://did:plc:sessions${process.pid}${Date.now()}/space/com.example.test/main`
afterAll(async () => {
  await redis.srem('sv:spaces', space)
  await redis.del(`sv:sessions:${space}`, `sv:sessions-refused:${space}`)
  redis.disconnect()
})

test('a yes is remembered, a no is asked again, a removal here is seen at once', async () => {
  const store = new SessionStore(redis, new SecretBox(randomBytes(32).toString('hex')))
  const other = new SessionStore(redis, new SecretBox(randomBytes(32).toString('hex')))
  expect(await store.hasSpace(space)).toBe(false)
  await other.addSpace(space, { did: 'did:plc:member', accessToken: 'test-token' })
  expect(await store.hasSpace(space)).toBe(true) // a no was not remembered
  // Another process removing it: this one still answers from memory for a few seconds.
  await other.removeSpace(space)
  expect(await store.hasSpace(space)).toBe(true)
  expect(await other.hasSpace(space)).toBe(false)
  // Removed by this process: forgotten at once.
  await other.addSpace(space, { did: 'did:plc:member', accessToken: 'test-token' })
  expect(await store.hasSpace(space)).toBe(true)
  await store.removeSpace(space)
  expect(await store.hasSpace(space)).toBe(false)
})
