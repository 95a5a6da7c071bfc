// The short crawler subset of the hostile suite for `npm test`: one rig (devnet, chdb, Redis DB 15), a reset
// storm, a sample of devnet content faults, the byte-level forgeries of
// the hostile host, and refused notifications. `npm run test:hostile` runs these and many more at scale.
import type { Account } from '../../src/devnet/accounts.js'
import {
  DEVNET_BAD_INPUTS,
  HOSTILE_BAD_INPUTS,
  runDevnetBadInput,
  runHostileBadInputs,
  runNotifyCases,
} from './lib/bad-input.js'
import { FAULT_RIG_TIMEOUTS, FAULT_SCENARIOS, runFaultScenario } from './lib/fault-scenarios.js'
import { HostileHost } from './lib/hostile-host.js'
import { lostAndForged, startRig, waitFor, type Rig } from './lib/rig.js'

const FAULTS = FAULT_SCENARIOS.filter((s) => /resets/.test(s.name))
const BAD = DEVNET_BAD_INPUTS.filter((c) =>
  ['forged commit signature (getRepo)', 'oplog gap'].includes(c.name),
)

let rig: Rig
let faultSpaces: string[]
let badSpace: string
let writers: Account[]

beforeAll(async () => {
  rig = await startRig({
    seed: 'hostile-subset',
    devnet: { spaces: FAULTS.length + 1, writersPerSpace: Math.max(3, BAD.length + 1), records: 8, hosts: 2 },
    timeouts: FAULT_RIG_TIMEOUTS,
    crawler: { attempts: 2, sweepIntervalSec: 2 },
    maxCarBytes: 256 * 1024,
  })
  const spaces = rig.devnet.spaces().map((s) => s.uri)
  badSpace = spaces[0]!
  faultSpaces = spaces.slice(1)
  writers = rig.devnet.space(badSpace)!.writers.map((did) => rig.devnet.accounts.require(did))
  await rig.addSpace(badSpace)
  await waitFor(
    'initial backfill',
    async () => {
      const r = await lostAndForged(rig.store, rig.devnet, [badSpace])
      return r.lost === 0 && r.forged === 0
    },
    60_000,
  )
  // The bad-input cases drive this space's jobs themselves: a periodic sweep would pull the writer's new
  // records through the honest path in the middle of a case and blur what was rejected.
  await rig.crawler.queues.sweep.removeJobScheduler(`sweep:${badSpace}`)
}, 90_000)
afterAll(async () => rig?.close())

describe('network faults (sample)', () => {
  it.each(FAULTS.map((s, i) => [s.name, i] as const))(
    '%s',
    async (_n, i) => {
      await runFaultScenario(rig, faultSpaces[i]!, FAULTS[i]!)
    },
    90_000,
  )
})

describe('bad input (sample)', () => {
  it.each(BAD.map((c, i) => [c.name, i] as const))(
    '%s',
    async (_n, i) => {
      await runDevnetBadInput(rig, badSpace, writers[i]!, BAD[i]!)
    },
    90_000,
  )

  it('byte-level forgeries from a hostile host', async () => {
    const host = await HostileHost.start(rig.devnet, 'subset')
    try {
      await runHostileBadInputs(rig, host, HOSTILE_BAD_INPUTS)
    } finally {
      await host.close()
    }
  }, 90_000)

  it('notifications with bad or missing service auth', async () => {
    const info = rig.devnet.space(badSpace)!
    const writer = writers.find((w) => w.did !== info.authority)!
    await runNotifyCases(rig, badSpace, rig.devnet.accounts.require(info.authority), writer)
  }, 60_000)
})
