// Access attacks on the API, small samples (the hostile suite runs the same cases at scale).
import { describeAccess } from './lib/access.js'

describe('API access attacks', () => {
  describeAccess({ enumeration: 24, timing: 10, raceMs: 2_600 })
})
