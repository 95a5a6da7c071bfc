/**
 * What the API reads from the merged view; the MergeStore (src/merge) satisfies it structurally, and tests
 * or benches may pass anything else that keeps the same contract.
 *
 * Contract the API relies on:
 * - Record reads (`listRecords`, `getRecord`, `countRecords`) see only the space's current epoch of an active
 *   space and never records of authors whose account is not active — even if the ACL filter's cached facts
 *   are a second old, a deleted space or a deactivated author is not served.
 * - `listSpaces` pages active spaces by URI ascending: `cursor` is a space URI to resume strictly after, and
 *   the returned cursor (only on a full page) is the URI of the page's last space — so the API may resume
 *   after any space it has looked at. `listRepoStates` pages a space's repos (current epoch) by author DID
 *   ascending, with an opaque cursor returned only on a full page.
 */
import type { AclFacts } from '../acl-filter/acl-filter.js'
import type {
  ListRecordsQuery,
  RecordFilter,
  RecordPage,
  RepoStatePage,
  SpacePage,
  StoredRecord,
} from '../merge/index.js'

export interface SpaceViewReader extends AclFacts {
  listRecords(query: ListRecordsQuery): Promise<RecordPage>
  getRecord(space: string, author: string, collection: string, rkey: string): Promise<StoredRecord | null>
  countRecords(space: string, filter?: RecordFilter): Promise<number>
  listSpaces(opts: { cursor?: string; limit: number }): Promise<SpacePage>
  listRepoStates(
    space: string,
    opts: { author?: string; cursor?: string; limit: number },
  ): Promise<RepoStatePage>
}
