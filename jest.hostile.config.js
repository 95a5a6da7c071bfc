// The hostile-network suite (`npm run test:hostile`): faults, bad input and access attacks against the real
// crawler, store and API, all on loopback. Runs test/hostile/*.hostile.ts (the full scenarios; the short
// subset in test/hostile/*.test.ts runs with `npm test`) one file at a time — the scenarios share Redis DB 15,
// kill and restart child processes, and time requests — and ends with the summary table from
// test/hostile/summary-reporter.js, fed through the tally directory created here.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import base from './jest.config.js'

// Workers inherit the environment, so every test file appends its tally lines where the reporter reads them.
if (!process.env.SPACEVIEW_HOSTILE_TALLY) {
  process.env.SPACEVIEW_HOSTILE_TALLY = mkdtempSync(join(tmpdir(), 'spaceview-hostile-tally-'))
  // Ours to remove once the summary is printed (a directory given by the caller is left alone).
  process.env.SPACEVIEW_HOSTILE_TALLY_OWNED = '1'
}

export default {
  ...base,
  testMatch: ['<rootDir>/test/hostile/**/*.hostile.ts'],
  maxWorkers: 1,
  // A scenario waits for convergence after faults clear (bounded inside each test); this is the outer bound.
  testTimeout: 300_000,
  reporters: ['default', '<rootDir>/test/hostile/summary-reporter.js'],
}
