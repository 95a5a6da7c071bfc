/**
 * Opaque, tamper-evident paging cursors. The store's own cursor (a position) is wrapped with the listing it
 * belongs to and MACed, so a caller can pass back only a cursor we issued for the same listing: an edited
 * cursor, or one from another space, filter or direction, is refused with a clear message before anything
 * is read.
 *
 *   cursor = base64url(JSON [scope, inner]) "." base64url(HMAC-SHA256(key, body)[0..16])
 *
 * Invariants: the key is derived (HKDF-SHA256) from the secrets key, so cursors survive restarts and work
 * across processes; with no secrets key a random per-process key is used (cursors then expire with the
 * process). Comparison is constant-time. A cursor carries positions only, never record data.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'

const MAC_BYTES = 16

export class CursorError extends Error {
  override readonly name = 'CursorError'
}

export class CursorSeal {
  private readonly key: Buffer

  /** `secretsKeyHex`: the deployment's 32-byte secrets key (hex); empty for a per-process key. */
  constructor(secretsKeyHex: string) {
    const ikm = secretsKeyHex === '' ? randomBytes(32) : Buffer.from(secretsKeyHex, 'hex')
    this.key = Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), 'spaceview api cursor v1', 32))
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, MAC_BYTES)
  }

  seal(scope: string, inner: string): string {
    const body = Buffer.from(JSON.stringify([scope, inner])).toString('base64url')
    return `${body}.${this.mac(body).toString('base64url')}`
  }

  /** The inner cursor, if `cursor` was sealed by us for `scope`; otherwise a CursorError. */
  open(scope: string, cursor: string): string {
    const refuse = (): never => {
      throw new CursorError(
        'cursor is malformed or belongs to another listing: pass back the cursor of the previous page unchanged',
      )
    }
    const dot = cursor.indexOf('.')
    if (dot <= 0) return refuse()
    const body = cursor.slice(0, dot)
    // Compared as text, so no two spellings of one MAC both pass.
    const given = Buffer.from(cursor.slice(dot + 1))
    const want = Buffer.from(this.mac(body).toString('base64url'))
    if (given.length !== want.length || !timingSafeEqual(given, want)) return refuse()
    let parsed: unknown
    try {
      parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
    } catch {
      return refuse()
    }
    if (!Array.isArray(parsed) || parsed[0] !== scope || typeof parsed[1] !== 'string') return refuse()
    return parsed[1]
  }
}
