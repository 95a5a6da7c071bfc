/**
 * The tables of the merge store as runtime code addresses them: name and placement (see schema.ts). Their
 * columns and engines are defined by the migration files; this module only names them, so that queries,
 * inserts and DELETEs agree with the DDL on which table is sharded.
 */

export interface TableRef {
  readonly name: string
  readonly placement: 'sharded' | 'replicated'
}

/** Records and repo commits of every space (one row per record version, one per commit version). */
export const RECORDS = { name: 'records', placement: 'sharded' } as const satisfies TableRef

/** Lifecycle of each space URI: current epoch, active or deleted (tombstone). */
export const SPACES = { name: 'spaces', placement: 'replicated' } as const satisfies TableRef

/** Account status per DID; a non-active account hides the author's records in every space. */
export const ACCOUNTS = { name: 'accounts', placement: 'replicated' } as const satisfies TableRef

/** Last fetched access-control snapshot (policy, app access, members) per space epoch. */
export const SPACE_ACL = { name: 'space_acl', placement: 'sharded' } as const satisfies TableRef

/** Applied migration versions. */
export const SCHEMA_MIGRATIONS = {
  name: 'schema_migrations',
  placement: 'replicated',
} as const satisfies TableRef
