/**
 * Writes into devnet through its real HTTP write path (the writer's session → its host → notifyWrite to
 * the authority → registered syncers), for tests that must choose who writes. Devnet's write driver picks
 * writers itself; a test that scopes a fault to one host needs writes from the other hosts only.
 *
 * Choices come from a small seeded PRNG, so a run is reproducible apart from timing.
 */
import type { Devnet } from '../../src/devnet/devnet.js'

const COLLECTIONS = ['com.example.devnet.post', 'com.example.devnet.comment']

export interface WriteMix {
  /** How many writes (each one HTTP call). */
  count: number
  /** The writers to use (default: every listed, active writer of the space). */
  writers?: string[]
  seed?: number
}

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

async function post(devnet: Devnet, did: string, nsid: string, body: Record<string, unknown>): Promise<void> {
  const account = devnet.accounts.require(did)
  const res = await fetch(`${devnet.hostOf(did).origin}/xrpc/com.atproto.space.${nsid}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${account.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${nsid} by ${did} failed: ${res.status} ${text}`)
}

/** Creates, updates and deletes records (about 50/30/20) in `space`, one HTTP write at a time. */
export async function writeMix(devnet: Devnet, space: string, mix: WriteMix): Promise<void> {
  const rand = prng(mix.seed ?? 1)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  const writers =
    mix.writers ??
    (devnet.space(space)?.writers ?? []).filter((d) => devnet.accounts.get(d)?.status === 'active')
  if (writers.length === 0) throw new Error(`no writer to write into ${space}`)
  for (let i = 0; i < mix.count; i++) {
    const did = pick(writers)
    const existing = devnet.repo(space, did)?.paths() ?? []
    const roll = rand()
    const text = `test write ${i} ${rand().toString(36).slice(2)}`
    if (roll < 0.3 && existing.length > 0) {
      const victim = pick(existing)
      await post(devnet, did, 'putRecord', {
        space,
        repo: did,
        collection: victim.collection,
        rkey: victim.rkey,
        record: { $type: victim.collection, text, createdAt: new Date().toISOString() },
      })
    } else if (roll < 0.5 && existing.length > 0) {
      const victim = pick(existing)
      await post(devnet, did, 'deleteRecord', {
        space,
        repo: did,
        collection: victim.collection,
        rkey: victim.rkey,
      })
    } else {
      const collection = pick(COLLECTIONS)
      await post(devnet, did, 'createRecord', {
        space,
        repo: did,
        collection,
        record: { $type: collection, text, createdAt: new Date().toISOString() },
      })
    }
  }
}
