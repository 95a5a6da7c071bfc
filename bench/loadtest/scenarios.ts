/**
 * The load-test scenarios. Each one sets up a devnet network, measures spaceview on it, then measures the
 * baseline syncer on the same data (the same network; for scenarios that write, a fresh network from the
 * same seed with the same seeded write driver), and turns both into figures (measurements.ts).
 *
 *   backfill     spaceview and then the baseline sync every space from empty; records/s end to end
 *   incremental  after a backfill (setup, not measured), the write driver writes at --rate for --duration
 *                with notifications on; write → visible latency, then time to converge
 *   notify-lost  the same with every notification dropped (devnet fault): spaceview converges by sweeps,
 *                the baseline by polling every repo in turn
 *   api          listRecords with the ACL (space credential + DPoP per request) at --api-rate, then the
 *                same pages from the same store without the ACL (the baseline row)
 *   mixed        incremental writes with API reads in the middle of the write window
 *
 * Invariants: every wait is bounded (--timeout, --baseline-seconds, the write window), so a scenario ends
 * even when the system under test does not keep up; processes a scenario starts are stopped by it, also
 * on failure; nothing listens beyond 127.0.0.1.
 */ import type { LoadtestScenario } from '../../src/cli/loadtest.js'
import { runApi } from './scenario-api.js'
import { runBackfill } from './scenario-backfill.js'
import type { ScenarioOutput } from './scenario-common.js'
import { runWrites } from './scenario-writes.js'
import type { RunEnv } from './systems.js'

export { DEFAULT_SHAPES, shapeFor, type ScenarioOutput } from './scenario-common.js'

export async function runScenario(name: LoadtestScenario, env: RunEnv): Promise<ScenarioOutput> {
  switch (name) {
    case 'backfill':
      return runBackfill(env)
    case 'incremental':
      return runWrites(env, { label: 'incremental', dropNotifications: false, api: false })
    case 'notify-lost':
      return runWrites(env, { label: 'notify-lost', dropNotifications: true, api: false })
    case 'mixed':
      return runWrites(env, { label: 'mixed', dropNotifications: false, api: true })
    case 'api':
      return runApi(env)
  }
}
