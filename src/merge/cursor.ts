/**
 * Listing cursors. A cursor is the (collection, author, rkey) of the last record of a page: every listing
 * of a space is ordered by that triple (fixed columns just drop out), so one position format serves all
 * filters and both directions, and pages stay stable while records are written — a record is seen at
 * most once per pass, in order. Encoded as base64url JSON so callers treat it as opaque.
 */
import { MergeError } from './errors.js'

export interface CursorPosition {
  collection: string
  author: string
  rkey: string
}

export function encodeCursor(p: CursorPosition): string {
  return Buffer.from(JSON.stringify([p.collection, p.author, p.rkey])).toString('base64url')
}

export function decodeCursor(cursor: string): CursorPosition {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch (err) {
    throw new MergeError(
      'bad_cursor',
      'malformed cursor: pass back the cursor of the previous page unchanged',
      {
        cause: err,
      },
    )
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every((x) => typeof x === 'string')) {
    throw new MergeError(
      'bad_cursor',
      'malformed cursor: pass back the cursor of the previous page unchanged',
    )
  }
  const [collection, author, rkey] = parsed as [string, string, string]
  return { collection, author, rkey }
}
