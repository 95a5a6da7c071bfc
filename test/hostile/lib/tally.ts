/**
 * The hostile suite's scoreboard: every scenario records what it injected or tried and what came of it,
 * and the summary reporter (summary-reporter.js) adds the lines up into the table `npm run test:hostile`
 * ends with.
 *
 * Jest runs test files in worker processes and reporters in the parent, so entries travel through files:
 * one JSON line per entry in the directory named by SPACEVIEW_HOSTILE_TALLY (set by jest.hostile.config.js).
 * Without that variable (the regular `npm test` run) nothing is written: the assertions still hold, only
 * the table is not printed.
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'

export const TALLY_ENV = 'SPACEVIEW_HOSTILE_TALLY'

export type TallyEntry =
  /** A fault injected `injected` times; survived = the merged view equalled ground truth afterwards. */
  | { kind: 'fault'; name: string; injected: number; survived: boolean; evidence: string }
  /** A hostile input; rejected = refused with a typed reason, nothing stored, the job ended cleanly. */
  | { kind: 'bad_input'; name: string; rejected: boolean; reason: string; evidence: string }
  /** Ground-truth records missing (or stale) in the merged view after a scenario converged. */
  | { kind: 'records_lost'; name: string; count: number }
  /** Records in the merged view that no honest host serves (forged, tampered, or from a refused repo). */
  | { kind: 'forged_accepted'; name: string; count: number }
  /** Attack requests against the API, and how many of them returned protected data. */
  | { kind: 'unauthorized_reads'; name: string; attempts: number; count: number }

export function tally(entry: TallyEntry): void {
  const dir = process.env[TALLY_ENV]
  if (!dir) return
  appendFileSync(join(dir, `tally-${process.pid}.jsonl`), `${JSON.stringify(entry)}\n`)
}
