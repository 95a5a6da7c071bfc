/**
 * `spaceview add-space`: authorises spaceview to sync a space with a member's session (the member's DID
 * and an access token for their PDS), stored sealed in Redis, and queues the space's bootstrap. The token
 * is read from --token-file or the SPACEVIEW_MEMBER_TOKEN environment variable, never from argv, so it
 * does not end up in shell history or process listings.
 */
import { readFileSync } from 'node:fs'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { loadConfig } from '../config.js'
import { canonicalSpaceUri } from '../protocol/space-uri.js'
import { assertDid } from '../protocol/identifiers.js'
import { SecretBox } from '../crawler/secret-box.js'
import { SessionStore } from '../crawler/session-store.js'
import { jobId } from '../crawler/queues.js'
import { setSpaceStatus } from '../crawler/space-status.js'
import { parseCommandArgs, UsageError } from './args.js'

export const ADD_SPACE_HELP = `Usage: spaceview add-space <space-uri> --did <member-did> [--token-file <file>] [--pds <url>]

Lets spaceview sync a space through a member's session: it mints delegation tokens with the member's
access token (app-password session) to obtain and refresh the space credential. The token comes from
--token-file or SPACEVIEW_MEMBER_TOKEN. Needs REDIS_URL and SPACEVIEW_SECRETS_KEY (as the workers have).`

export async function addSpaceCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommandArgs('add-space', argv, {
    did: { type: 'string' },
    'token-file': { type: 'string' },
    pds: { type: 'string' },
  })
  if (values.help) {
    out(ADD_SPACE_HELP)
    return 0
  }
  const config = loadConfig()
  if (!positionals[0] || !values.did)
    throw new UsageError(`add-space needs a space URI and --did.\n\n${ADD_SPACE_HELP}`)
  const space = canonicalSpaceUri(positionals[0])
  assertDid(values.did, '--did')
  const token = values['token-file']
    ? readFileSync(values['token-file'], 'utf8').trim()
    : process.env.SPACEVIEW_MEMBER_TOKEN
  if (!token) throw new UsageError('give the member access token in --token-file or SPACEVIEW_MEMBER_TOKEN')
  if (!config.secretsKeyHex)
    throw new UsageError('SPACEVIEW_SECRETS_KEY must be set (the same key the workers use)')
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null })
  const queue = new Queue('space-bootstrap', { connection: redis, prefix: 'sv' })
  try {
    await new SessionStore(redis, new SecretBox(config.secretsKeyHex)).addSpace(space, {
      did: values.did,
      accessToken: token,
      ...(values.pds ? { pdsUrl: values.pds } : {}),
    })
    await setSpaceStatus(redis, space, 'bootstrapping')
    await queue.add(
      'bootstrap',
      { space },
      {
        jobId: jobId('space-bootstrap', space),
        attempts: config.jobAttempts,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
      },
    )
    out(`queued ${space}; follow it with \`spaceview status --space ${space}\``)
    return 0
  } finally {
    await queue.close()
    redis.disconnect()
  }
}
