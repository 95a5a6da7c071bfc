/**
 * Access-control snapshots per space epoch: the space's policy and app-access rule and, when known, its
 * member list, as last fetched from the space host. One row per snapshot, so a snapshot replaces the
 * previous one as a whole (a row is inserted whole; the snapshots of many spaces share one insert, one
 * part, all visible at once); the newest `fetchedAt` wins. Snapshots belong to an epoch: a re-created space
 * starts without one, and deleting a space purges them (spaces.ts).
 */
import type { ClickHouse } from './clickhouse.js'
import { ensureInput } from './errors.js'
import { tableRef } from './schema.js'
import { SPACE_ACL, SPACES } from './tables.js'
import { isoFromClickHouse, tsv, tsvBody, tsvTime } from './tsv.js'
import type { AccessSnapshot } from './types.js'

const ELEMENT_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\0': '\\0',
}

/**
 * One element of an Array(String) field in TSV: the array parser reads quoted strings itself, so the
 * element is escaped once (quote, backslash, and the TSV separators) and the field is not TSV-escaped again.
 */
function quotedElement(s: string): string {
  return `'${s.replace(/[\\'\t\n\r\0]/g, (c) => ELEMENT_ESCAPES[c]!)}'`
}

/** A checked snapshot: its row's fields from policy to members_known, TSV-encoded. */
export interface PreparedSnapshot {
  tail: string
}

interface AclRow {
  policy: string
  app_access: string
  members: string[]
  members_known: number
  fetched_at: string
}

export class AccessSnapshots {
  private readonly table: string
  private readonly spaces: string

  constructor(private readonly ch: ClickHouse) {
    this.table = tableRef(ch.target, SPACE_ACL.name)
    this.spaces = tableRef(ch.target, SPACES.name)
  }

  private currentEpoch(): string {
    return `(SELECT epoch FROM ${this.spaces} FINAL WHERE space = {space:String} AND status = 'active')`
  }

  /**
   * Checks a snapshot and encodes what of its row does not depend on the epoch; refused (invalid_input) to
   * its caller alone, before it joins a batch.
   */
  prepare(snap: { policy: unknown; appAccess: unknown; members: string[] | null }): PreparedSnapshot {
    const policy = JSON.stringify(snap.policy)
    const appAccess = JSON.stringify(snap.appAccess)
    ensureInput(
      typeof policy === 'string' && typeof appAccess === 'string',
      'policy and appAccess must be JSON values',
    )
    ensureInput(
      snap.members === null ||
        (Array.isArray(snap.members) && snap.members.every((m) => typeof m === 'string')),
      'members must be a list of DIDs or null when unknown',
    )
    const members = `[${(snap.members ?? []).map(quotedElement).join(',')}]`
    return { tail: [tsv(policy), tsv(appAccess), members, snap.members === null ? '0' : '1'].join('\t') }
  }

  /**
   * Stores snapshots, each for its space's `epoch`, in ONE insert (one part: all visible at once). Of two
   * snapshots of one space epoch with the same `at`, the later in `rows` wins.
   */
  async set(
    rows: readonly { space: string; epoch: number; snapshot: PreparedSnapshot; at: Date }[],
  ): Promise<void> {
    if (rows.length === 0) return
    const lines = rows.map((r) => `${tsv(r.space)}\t${r.epoch}\t${r.snapshot.tail}\t${tsvTime(r.at)}`)
    await this.ch.insertTsv(
      this.table,
      ['space', 'epoch', 'policy', 'app_access', 'members', 'members_known', 'fetched_at'],
      tsvBody(lines),
      lines.length,
    )
  }

  async get(space: string): Promise<AccessSnapshot | null> {
    const rows = await this.ch.query<AclRow>(
      `SELECT policy, app_access, members, members_known, fetched_at FROM ${this.table} FINAL
       WHERE space = {space:String} AND epoch = ${this.currentEpoch()}`,
      { space },
    )
    const r = rows[0]
    if (r === undefined) return null
    return {
      policy: JSON.parse(r.policy) as unknown,
      appAccess: JSON.parse(r.app_access) as unknown,
      members: Number(r.members_known) === 1 ? r.members : null,
      fetchedAt: isoFromClickHouse(r.fetched_at),
    }
  }

  /** True/false from the member list; null when there is no snapshot or it has no member list. */
  async isMember(space: string, did: string): Promise<boolean | null> {
    const rows = await this.ch.query<{ known: number; member: number }>(
      `SELECT members_known AS known, has(members, {did:String}) AS member FROM ${this.table} FINAL
       WHERE space = {space:String} AND epoch = ${this.currentEpoch()}`,
      { space, did },
    )
    const r = rows[0]
    if (r === undefined || Number(r.known) !== 1) return null
    return Number(r.member) === 1
  }
}
