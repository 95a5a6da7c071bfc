// Full network-fault scenarios: storms, resets, slowloris bodies and an outage longer than the retry budget,
// each on its own space of one devnet, each ending with the merged view equal to ground truth.
import {
  FAULT_RIG_TIMEOUTS,
  FAULT_SCENARIOS,
  runCredentialExpiry,
  runFaultScenario,
} from './lib/fault-scenarios.js'
import { lostAndForged, startRig, waitFor, type Rig } from './lib/rig.js'

let rig: Rig
let spaces: string[]

beforeAll(async () => {
  rig = await startRig({
    seed: 'hostile-faults',
    devnet: { spaces: FAULT_SCENARIOS.length + 1, writersPerSpace: 3, records: 20, hosts: 2 },
    timeouts: FAULT_RIG_TIMEOUTS,
    crawler: { attempts: 3, sweepIntervalSec: 2 },
  })
  spaces = rig.devnet.spaces().map((s) => s.uri)
}, 60_000)
afterAll(async () => rig?.close())

describe('network faults: the merged view equals ground truth once they clear', () => {
  it.each(FAULT_SCENARIOS.map((s, i) => [s.name, i] as const))('%s', async (_name, i) => {
    await runFaultScenario(rig, spaces[i]!, FAULT_SCENARIOS[i]!)
  })
})

describe('credentials', () => {
  it('a credential that expires in the middle of paginating is replaced and the sync re-read', async () => {
    const space = spaces[FAULT_SCENARIOS.length]!
    await rig.addSpace(space)
    await waitFor('backfill', async () => {
      const r = await lostAndForged(rig.store, rig.devnet, [space])
      return r.lost === 0 && r.forged === 0
    })
    await runCredentialExpiry(rig, space)
  })
})
