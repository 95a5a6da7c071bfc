/**
 * Inbound notifications from space hosts: com.atproto.space.notifyWrite and notifySpaceDeleted.
 *
 * The caller must present service auth signed by the space's authority (iss == DID in body.space), with
 * aud == our registered service id and lxm == the method; anything else is refused with 401/400 and a
 * metric. Authorities reuse a notifyWrite token for many notifications: one whose signature verified
 * before skips that check (verified-tokens.ts), never the claims; notifySpaceDeleted is verified in full.
 * A notifyWrite is a hint only: it never carries data into the store. It is skipped when our verified
 * state, as far as this process knows it without a query, already has that (rev, hash); otherwise it
 * enqueues a deduplicated repo sync. A verified notifySpaceDeleted is one of the two signals (with
 * SpaceDeleted at credential renewal) that delete a space's data. Replies are fast; all work is queued.
 */
import { verifyServiceAuth, type SignatureMemo } from '../protocol/service-auth.js'
import { isProtocolError } from '../protocol/errors.js'
import { canonicalSpaceUri, parseSpaceUri } from '../protocol/space-uri.js'
import { assertDid, assertTid } from '../protocol/identifiers.js'
import { bytesEqual, decodeBase64 } from '../protocol/bytes.js'
import type { KeyResolver } from '../protocol/token-claims.js'
import type { Metrics } from '../metrics/metrics.js'
import type { MergeStore } from '../merge/store.js'

export const NOTIFY_WRITE = 'com.atproto.space.notifyWrite'
export const NOTIFY_SPACE_DELETED = 'com.atproto.space.notifySpaceDeleted'
const MAX_BODY = 16 * 1024

export interface NotifyDeps {
  serviceId: string
  resolveKey: KeyResolver
  /** notifyWrite tokens already verified (verified-tokens.ts); absent: every token is verified. */
  verifiedTokens?: SignatureMemo
  store: Pick<MergeStore, 'knownRepoHead'>
  metrics: Metrics
  /** Whether we sync this space at all. */
  isSynced(space: string): Promise<boolean>
  enqueueSync(space: string, repo: string, hintAt: number): Promise<void>
  spaceDeleted(space: string): Promise<void>
}

export interface NotifyReply {
  status: number
  body: Record<string, unknown>
}

const fail = (status: number, error: string, message: string): NotifyReply => ({
  status,
  body: { error, message },
})

export async function handleNotification(
  deps: NotifyDeps,
  nsid: string,
  authorization: string | undefined,
  rawBody: Uint8Array,
): Promise<NotifyReply> {
  const method = nsid === NOTIFY_WRITE ? 'notify_write' : 'notify_space_deleted'
  const reject = (r: NotifyReply) => {
    deps.metrics.notificationsReceived.inc({ method, outcome: 'rejected' })
    return r
  }
  if (rawBody.length > MAX_BODY) return reject(fail(413, 'PayloadTooLarge', `body exceeds ${MAX_BODY} bytes`))
  let body: Record<string, unknown>
  try {
    body = JSON.parse(Buffer.from(rawBody).toString('utf8')) as Record<string, unknown>
    if (!body || typeof body !== 'object') throw new Error()
  } catch {
    return reject(fail(400, 'InvalidRequest', 'body must be a JSON object'))
  }
  let space: string
  try {
    space = canonicalSpaceUri(body.space)
  } catch {
    return reject(fail(400, 'InvalidRequest', 'space must be a space URI'))
  }
  const token = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined
  if (!token) return reject(fail(401, 'AuthMissing', 'service auth (Bearer JWT) is required'))
  try {
    await verifyServiceAuth(token, {
      audience: deps.serviceId,
      lxm: nsid,
      issuer: parseSpaceUri(space).did,
      resolveKey: deps.resolveKey,
      maxLifetimeSec: 300,
      ...(nsid === NOTIFY_WRITE && deps.verifiedTokens ? { signatureMemo: deps.verifiedTokens } : {}),
    })
  } catch (err) {
    if (isProtocolError(err)) return reject(fail(401, 'BadJwt', `service auth rejected: ${err.reason}`))
    throw err
  }
  if (!(await deps.isSynced(space))) {
    // Not a space we sync: acknowledge without acting (a registration may outlive our interest).
    deps.metrics.notificationsReceived.inc({ method, outcome: 'deduplicated' })
    return { status: 200, body: {} }
  }
  if (nsid === NOTIFY_SPACE_DELETED) {
    await deps.spaceDeleted(space)
    deps.metrics.notificationsReceived.inc({ method, outcome: 'accepted' })
    return { status: 200, body: {} }
  }
  const hash =
    typeof (body.hash as { $bytes?: unknown })?.$bytes === 'string'
      ? decodeBase64((body.hash as { $bytes: string }).$bytes)
      : null
  try {
    assertDid(body.repo, 'repo')
    assertTid(body.rev, 'rev')
    if (!hash || hash.length !== 32) throw new Error('hash')
  } catch {
    return reject(fail(400, 'InvalidRequest', 'repo must be a DID, rev a TID and hash 32 bytes'))
  }
  const repo = body.repo as string
  // A cache peek, not a read: most notifications announce a write we do not have yet, and a store query per
  // notification (a space-wide commit lookup on a miss) cost more than the rare duplicate sync it saves.
  const local = deps.store.knownRepoHead(space, repo)
  if (
    local?.rev &&
    local.rev >= (body.rev as string) &&
    local.commitHash &&
    bytesEqual(local.commitHash, hash)
  ) {
    deps.metrics.notificationsReceived.inc({ method, outcome: 'deduplicated' })
    return { status: 200, body: {} }
  }
  await deps.enqueueSync(space, repo, Date.now())
  deps.metrics.notificationsReceived.inc({ method, outcome: 'accepted' })
  return { status: 200, body: {} }
}
