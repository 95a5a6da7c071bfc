/**
 * Everything a crawler job needs, passed explicitly: processors are plain functions of (context, job
 * data), so the same code runs in one process (npm start) or across many workers.
 */
import type { Logger } from 'pino'
import type { Redis } from 'ioredis'
import type { SyncStore } from '../merge/sync-store.js'
import type { MergeStore } from '../merge/store.js'
import type { SpaceClient } from './space-client.js'
import type { CredentialManager } from './credential-manager.js'
import type { HostResolver } from './host-resolver.js'
import type { HostLimiter } from './host-limiter.js'
import type { HostGate } from './host-gate.js'
import type { SessionStore } from './session-store.js'
import type { Metrics } from '../metrics/metrics.js'

export interface SyncContext {
  /**
   * The in-process MergeStore also lists a space's repo states in pages (one read per sweep instead of one
   * per writer), and knows the heads of the repos it wrote without a read at all; the remote store offers
   * neither yet, and the sweep falls back to per-writer reads.
   */
  store: SyncStore & Partial<Pick<MergeStore, 'listRepoStates' | 'knownRepoHeads'>>
  client: SpaceClient
  creds: CredentialManager
  hosts: HostResolver
  limiter: HostLimiter
  /** This process's slots per host, taken before a lease is asked of the shared limiter. */
  gate: HostGate
  sessions: SessionStore
  redis: Redis
  logger: Logger
  metrics: Metrics
  /** Our registered service id for notifications: did:web:...#atproto_space_syncer ('' = do not register). */
  serviceId: string
  maxCarBytes: number
  /** Page size for listRepoOps / listRepos. */
  pageLimit: number
  /** Cap on the writer set read from one space's listRepos (default MAX_WRITERS_PER_SPACE). */
  maxWritersPerSpace?: number
}
