/**
 * Account status per DID, from the author's host (firehose `#account` events or repo-read errors).
 *
 * A non-active account hides the author's records in every space at once (reads filter on this table), and
 * reactivation shows them again: nothing is deleted for deactivation, takedown or suspension. A deleted
 * account is hidden and then purged from every space (spec §7.4: the host no longer has the data).
 * Rows are ordered by the event time the caller gives, so replaying an older event cannot undo a newer one.
 */
import type { ClickHouse } from './clickhouse.js'
import { deleteFrom, tableRef } from './schema.js'
import { sqlString } from './sql-literal.js'
import { ACCOUNTS, RECORDS } from './tables.js'
import { tsv, tsvBody, tsvTime } from './tsv.js'
import type { AccountStatus } from './types.js'

export const ACCOUNT_STATUSES: readonly AccountStatus[] = [
  'active',
  'deactivated',
  'takendown',
  'suspended',
  'deleted',
]

export class Accounts {
  private readonly table: string

  constructor(private readonly ch: ClickHouse) {
    this.table = tableRef(ch.target, ACCOUNTS.name)
  }

  /**
   * `recorded` runs as soon as the status row is visible, before a deleted account's purge: caches of the
   * hidden accounts must forget them then, since reads that ask ClickHouse already hide the author.
   */
  async setStatus(did: string, status: AccountStatus, at: Date, recorded: () => void): Promise<void> {
    await this.ch.insertTsv(
      this.table,
      ['did', 'status', 'changed_at'],
      tsvBody([`${tsv(did)}\t${status}\t${tsvTime(at)}`]),
      1,
    )
    recorded()
    // Purge only if deletion is the newest status: a replayed old 'deleted' must not wipe a live account.
    if (status === 'deleted' && (await this.status(did)) === 'deleted') {
      await this.ch.command(`${deleteFrom(this.ch.target, RECORDS)} WHERE author = ${sqlString(did)}`)
    }
  }

  /** Statuses of the given DIDs that are not active (absent DIDs are active). */
  async inactive(dids: readonly string[]): Promise<Map<string, AccountStatus>> {
    if (dids.length === 0) return new Map()
    const rows = await this.ch.query<{ did: string; status: AccountStatus }>(
      `SELECT did, status FROM ${this.table} FINAL WHERE did IN {dids:Array(String)} AND status != 'active'`,
      { dids },
    )
    return new Map(rows.map((r) => [r.did, r.status]))
  }

  /**
   * Every account that is not active. Reads already filter on this whole set (record-reader.ts), so it is
   * small enough to hold: hidden accounts are the exception.
   */
  async allInactive(): Promise<Map<string, AccountStatus>> {
    const rows = await this.ch.query<{ did: string; status: AccountStatus }>(
      `SELECT did, status FROM ${this.table} FINAL WHERE status != 'active'`,
    )
    return new Map(rows.map((r) => [r.did, r.status]))
  }

  async status(did: string): Promise<AccountStatus> {
    const rows = await this.ch.query<{ status: AccountStatus }>(
      `SELECT status FROM ${this.table} FINAL WHERE did = {did:String}`,
      { did },
    )
    return rows[0]?.status ?? 'active'
  }
}
