// Full bad-input scenarios: every devnet content fault against a writer of a space in sync, and every
// byte-level forgery from the hostile host, each rejected with a typed reason and a metric, nothing stored.
import {
  DEVNET_BAD_INPUTS,
  HOSTILE_BAD_INPUTS,
  LIST_REPOS_CASES,
  runDevnetBadInput,
  runHostileBadInputs,
  runListReposCase,
  runNotifyCases,
  runPrivateEndpointCase,
} from './lib/bad-input.js'
import { HostileHost } from './lib/hostile-host.js'
import { lostAndForged, startRig, waitFor, type Rig } from './lib/rig.js'
import type { Account } from '../../src/devnet/accounts.js'

let rig: Rig
let space: string
let writers: Account[]

beforeAll(async () => {
  rig = await startRig({
    seed: 'hostile-bad-input',
    devnet: { spaces: 1, writersPerSpace: DEVNET_BAD_INPUTS.length + 2, records: 8, hosts: 2 },
    crawler: { attempts: 2 },
    // Small enough that a 1 MiB CAR is over the cap; the block cap stays at its 2 MiB default.
    maxCarBytes: 256 * 1024,
  })
  space = rig.devnet.spaces()[0]!.uri
  writers = rig.devnet.space(space)!.writers.map((did) => rig.devnet.accounts.require(did))
  await rig.addSpace(space)
  await waitFor(
    'initial backfill',
    async () => {
      const r = await lostAndForged(rig.store, rig.devnet, [space])
      return r.lost === 0 && r.forged === 0
    },
    150_000,
  )
}, 180_000)
afterAll(async () => rig?.close())

describe('devnet content faults: rejected, nothing stored, converges once the host behaves', () => {
  it.each(DEVNET_BAD_INPUTS.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    await runDevnetBadInput(rig, space, writers[i]!, DEVNET_BAD_INPUTS[i]!)
  })
})

describe('byte-level forgeries from a hostile host', () => {
  it('rejects every forged repo with its reason and stores the honest one', async () => {
    const host = await HostileHost.start(rig.devnet, 'forgeries')
    try {
      await runHostileBadInputs(rig, host, HOSTILE_BAD_INPUTS)
    } finally {
      await host.close()
    }
  })
})

describe('space hosts that page forever', () => {
  it.each(LIST_REPOS_CASES.map((c, i) => [c.name, i] as const))(
    '%s: the bootstrap gives up in bounded time',
    async (_n, i) => {
      // The production cap (MAX_WRITERS_PER_SPACE) scaled down so the test ends in seconds; same code path.
      rig.ctx.maxWritersPerSpace = 5_000
      const host = await HostileHost.start(rig.devnet, `pager${i}`)
      try {
        const requests = await runListReposCase(rig, host, LIST_REPOS_CASES[i]!)
        expect(requests).toBeLessThanOrEqual(2 * 5)
      } finally {
        delete rig.ctx.maxWritersPerSpace
        await host.close()
      }
    },
  )
})

describe('inbound notifications with bad or missing service auth', () => {
  it('refuses each one, counts it, queues nothing', async () => {
    const info = rig.devnet.space(space)!
    const authority = rig.devnet.accounts.require(info.authority)
    const writer = writers.find((w) => w.did !== info.authority)!
    await runNotifyCases(rig, space, authority, writer)
  })
})

describe('DID documents pointing inside, met by the crawler', () => {
  it('refuses the metadata address even in devnet mode and converges once the document is honest', async () => {
    await runPrivateEndpointCase(rig, space, writers[DEVNET_BAD_INPUTS.length]!)
  })
})
