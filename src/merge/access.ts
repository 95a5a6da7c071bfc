/**
 * Access-control snapshots per space epoch: the space's policy and app-access rule and, when known, its
 * member list, as last fetched from the space host. One row per snapshot, so a snapshot replaces the
 * previous one as a whole (a single-row insert is atomic); the newest `fetchedAt` wins. Snapshots belong to
 * an epoch: a re-created space starts without one, and deleting a space purges them (spaces.ts).
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

  async set(
    space: string,
    epoch: number,
    snap: { policy: unknown; appAccess: unknown; members: string[] | null },
    at: Date,
  ): Promise<void> {
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
    const line = [
      tsv(space),
      String(epoch),
      tsv(policy),
      tsv(appAccess),
      members,
      snap.members === null ? '0' : '1',
      tsvTime(at),
    ].join('\t')
    await this.ch.insertTsv(
      this.table,
      ['space', 'epoch', 'policy', 'app_access', 'members', 'members_known', 'fetched_at'],
      tsvBody([line]),
      1,
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
