/**
 * All migrations in the order they apply. Append new files here; never edit or renumber an applied one
 * (its version is recorded in schema_migrations and will not run again).
 */
import type { Migration } from '../migrate.js'
import { migration as initial } from './0001_initial.js'
import { migration as compactRecords } from './0002_compact_records.js'

export const MIGRATIONS: readonly Migration[] = [initial, compactRecords]
