/**
 * Lifecycle of space URIs: active epochs and deletion tombstones.
 *
 * A space URI can be deleted and later re-created (same URI, fresh space). Every stored row carries the
 * epoch it was written in, and reads only see the current epoch of an active space, so a re-created space
 * starts empty even before the old rows are purged — nothing of the old incarnation can come back.
 * Deletion writes the tombstone first (reads go empty at once), then purges every row of all epochs up to
 * the deleted one; the tombstone stays, so a late write for the deleted epoch is refused. Only a verified
 * deletion (notifySpaceDeleted / SpaceDeleted, checked by the caller) may call `delete`.
 */
import type { ClickHouse } from './clickhouse.js'
import { deleteFrom, tableRef } from './schema.js'
import { sqlString } from './sql-literal.js'
import { RECORDS, SPACE_ACL, SPACES } from './tables.js'
import { isoFromClickHouse, tsv, tsvBody, tsvTime } from './tsv.js'
import { ensureInput } from './errors.js'
import type { SpaceInfo, SpacePage } from './types.js'

/** Spaces per lookup query: keeps bound parameters small (HTTP sends them in the URL). */
const PER_QUERY = 1000

interface SpaceRow {
  space: string
  epoch: number | string
  status: 'active' | 'deleted'
  changed_at: string
}

function toInfo(r: SpaceRow): SpaceInfo {
  return {
    space: r.space,
    epoch: Number(r.epoch),
    status: r.status,
    changedAt: isoFromClickHouse(r.changed_at),
  }
}

export class Spaces {
  private readonly table: string

  constructor(private readonly ch: ClickHouse) {
    this.table = tableRef(ch.target, SPACES.name)
  }

  async get(space: string): Promise<SpaceInfo | null> {
    const rows = await this.ch.query<SpaceRow>(
      `SELECT space, epoch, status, changed_at FROM ${this.table} FINAL WHERE space = {space:String}`,
      { space },
    )
    const r = rows[0]
    return r === undefined ? null : toInfo(r)
  }

  /** Current epoch of each of `spaces` that is active (deleted and unknown spaces are absent). */
  async activeEpochs(spaces: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    for (let i = 0; i < spaces.length; i += PER_QUERY) {
      const rows = await this.ch.query<{ space: string; epoch: number | string }>(
        `SELECT space, epoch FROM ${this.table} FINAL WHERE space IN {spaces:Array(String)} AND status = 'active'`,
        { spaces: spaces.slice(i, i + PER_QUERY) },
      )
      for (const r of rows) out.set(r.space, Number(r.epoch))
    }
    return out
  }

  /** Active spaces by URI ascending, resuming strictly after `cursor` (a space URI). */
  async list(opts: { cursor?: string; limit: number }): Promise<SpacePage> {
    ensureInput(
      Number.isInteger(opts.limit) && opts.limit >= 1 && opts.limit <= 1000,
      'limit must be 1..1000',
    )
    const rows = await this.ch.query<SpaceRow>(
      `SELECT space, epoch, status, changed_at FROM ${this.table} FINAL
       WHERE status = 'active' AND space > {cursor:String} ORDER BY space LIMIT {limit:UInt32}`,
      { cursor: opts.cursor ?? '', limit: opts.limit },
    )
    const spaces = rows.map(toInfo)
    const last = spaces[spaces.length - 1]
    return spaces.length === opts.limit && last !== undefined ? { spaces, cursor: last.space } : { spaces }
  }

  /**
   * Makes each of `spaces` active: unchanged if it is, a new epoch if it was deleted (or never seen). The
   * new rows go in ONE insert (one part: all visible at once); `created` says which spaces got a new epoch.
   * A URI listed twice is upserted once.
   */
  async upsert(
    spaces: readonly string[],
    at: Date,
  ): Promise<Map<string, { info: SpaceInfo; created: boolean }>> {
    const unique = [...new Set(spaces)]
    const current = new Map<string, SpaceInfo>()
    for (let i = 0; i < unique.length; i += PER_QUERY) {
      // The store's write lane runs this: on the writer connection (clickhouse.ts queryOnWriter).
      const rows = await this.ch.queryOnWriter<SpaceRow>(
        `SELECT space, epoch, status, changed_at FROM ${this.table} FINAL WHERE space IN {spaces:Array(String)}
         SETTINGS max_threads = 1`,
        { spaces: unique.slice(i, i + PER_QUERY) },
      )
      for (const r of rows) current.set(r.space, toInfo(r))
    }
    const out = new Map<string, { info: SpaceInfo; created: boolean }>()
    const fresh: SpaceInfo[] = []
    for (const space of unique) {
      const cur = current.get(space)
      if (cur?.status === 'active') {
        out.set(space, { info: cur, created: false })
        continue
      }
      const next: SpaceInfo = {
        space,
        epoch: (cur?.epoch ?? 0) + 1,
        status: 'active',
        changedAt: at.toISOString(),
      }
      fresh.push(next)
      out.set(space, { info: next, created: true })
    }
    await this.write(fresh, at)
    return out
  }

  /**
   * Tombstones the space's current epoch and purges all its data; safe to repeat (finishes a purge).
   * `tombstoned` runs as soon as the tombstone is visible, before the purge: caches of the space's epoch
   * must forget it then, since reads that ask ClickHouse already see the space as deleted.
   */
  async delete(space: string, at: Date, tombstoned: () => void): Promise<SpaceInfo> {
    const cur = await this.get(space)
    let tomb: SpaceInfo
    if (cur?.status === 'deleted') {
      tomb = cur
    } else {
      tomb = { space, epoch: cur?.epoch ?? 0, status: 'deleted', changedAt: at.toISOString() }
      await this.write([tomb], at)
    }
    tombstoned()
    const where = `WHERE space = ${sqlString(space)} AND epoch <= ${tomb.epoch}`
    await this.ch.command(`${deleteFrom(this.ch.target, RECORDS)} ${where}`)
    await this.ch.command(`${deleteFrom(this.ch.target, SPACE_ACL)} ${where}`)
    return tomb
  }

  /** Lifecycle rows in one insert (one part). */
  private async write(infos: readonly SpaceInfo[], at: Date): Promise<void> {
    if (infos.length === 0) return
    // version orders one URI's rows by lifecycle: active e1 < deleted e1 < active e2 < ...
    const lines = infos.map((info) => {
      const version = info.epoch * 2 + (info.status === 'deleted' ? 1 : 0)
      return `${tsv(info.space)}\t${info.epoch}\t${info.status}\t${tsvTime(at)}\t${version}`
    })
    await this.ch.insertTsv(
      this.table,
      ['space', 'epoch', 'status', 'changed_at', 'version'],
      tsvBody(lines),
      lines.length,
    )
  }
}
