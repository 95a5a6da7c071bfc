// Access attacks on the API, large samples: enumeration, timing, DPoP, audiences, removal races.
import { describeAccess } from './lib/access.js'

describe('API access attacks', () => {
  describeAccess({ enumeration: 400, timing: 60, raceMs: 4_000 })
})
