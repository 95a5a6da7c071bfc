/**
 * `spaceview acl explain <space> <did>`: tells an operator why a user is admitted to a space or denied,
 * rule by rule, by asking the running API (dev.spaceview.admin.explainAccess, admin token). Nothing is
 * changed and the space authority is not asked. Prints text, or the raw answer with --json.
 */
import { XRPCError } from '@atproto/xrpc'
import { SpaceViewClient } from '../api/client.js'
import { parseCommandArgs, UsageError } from './args.js'

export const ACL_EXPLAIN_HELP = `Usage: spaceview acl explain <space-uri> <did> [options]

Explains, rule by rule, whether the running spaceview API would serve <space-uri> to <did> now.
No delegation token is exchanged and nothing is changed.

Options:
  --url <url>      spaceview API base URL (default $SPACEVIEW_PUBLIC_URL or http://127.0.0.1:2590)
  --token <token>  admin token (default $SPACEVIEW_ADMIN_TOKEN)
  --json           print the API's JSON answer

Exit status: 0 answered (admitted or denied), 1 the API could not answer, 2 usage error.`

export async function aclExplainCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommandArgs('acl', argv, {
    url: { type: 'string' },
    token: { type: 'string' },
    json: { type: 'boolean' },
  })
  if (values.help) {
    out(ACL_EXPLAIN_HELP)
    return 0
  }
  const [sub, space, did] = positionals
  if (sub !== 'explain' || space === undefined || did === undefined || positionals.length !== 3) {
    throw new UsageError(`acl explain needs a space URI and a DID.\n\n${ACL_EXPLAIN_HELP}`)
  }
  const token = values.token ?? process.env.SPACEVIEW_ADMIN_TOKEN ?? ''
  if (token === '')
    throw new UsageError('acl explain needs the admin token: --token or $SPACEVIEW_ADMIN_TOKEN')
  const service = values.url ?? process.env.SPACEVIEW_PUBLIC_URL ?? 'http://127.0.0.1:2590'
  const client = new SpaceViewClient({ service, auth: () => ({ authorization: `Bearer ${token}` }) })
  try {
    const answer = await client.explainAccess({ space, did })
    if (values.json) {
      out(JSON.stringify(answer, null, 2))
      return 0
    }
    out(`${answer.outcome.toUpperCase()} (${answer.reason})${answer.until ? ` until ${answer.until}` : ''}`)
    out(`  space: ${answer.space}`)
    out(`  user:  ${answer.did}`)
    for (const step of answer.steps) out(`  - ${step.check}: ${step.result}`)
    return 0
  } catch (err) {
    if (err instanceof XRPCError) {
      out(JSON.stringify({ error: err.error, message: err.message }))
      return 1
    }
    const message = err instanceof Error ? err.message : String(err)
    out(JSON.stringify({ error: 'unreachable', message: `could not reach ${service}: ${message}` }))
    return 1
  }
}
