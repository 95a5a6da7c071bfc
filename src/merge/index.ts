/**
 * Public surface of the merge layer: the MergeStore, its configuration and the data shapes. Everything
 * else in src/merge is internal.
 */
export { MergeStore, type BatchStats, type MergeObserver, type OpenOptions, type ReadStats } from './store.js'
export {
  mergeConfigFromEnv,
  DEFAULT_BATCH,
  type BatchConfig,
  type ClickHouseConfig,
  type MergeConfig,
} from './config.js'
export { MergeError, type MergeErrorReason } from './errors.js'
export { renderSchema } from './migrate.js'
export type * from './types.js'
