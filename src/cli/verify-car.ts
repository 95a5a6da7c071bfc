/**
 * `spaceview verify-car`: verifies a getRepo CAR from disk exactly as the crawler does (commit signature
 * and MAC, index vs commit hash, block order and CIDs) and prints a JSON summary. This is how an operator
 * inspects what a misbehaving host served. Exit 0 with the summary, or exit 1 with
 * {"error": <reason>, "message": ...} on stdout.
 */
import { createReadStream } from 'node:fs'
import { canonicalSpaceUri } from '../protocol/space-uri.js'
import { assertDid } from '../protocol/identifiers.js'
import { openRepoCar, DEFAULT_MAX_CAR_BYTES } from '../protocol/repo-car.js'
import { toHex } from '../protocol/bytes.js'
import { ProtocolError } from '../protocol/errors.js'
import { parseCommandArgs, UsageError } from './args.js'

export const VERIFY_CAR_HELP = `Usage: spaceview verify-car <file.car> --space <space-uri> --author <did> --did-key <did:key> [options]

Verifies a permissioned-repo CAR (com.atproto.space.getRepo output) and prints a JSON summary.

Options:
  --space <uri>        space ref: at://{authority}/space/{type}/{skey}
  --author <did>       DID of the repo's author (the repo you asked the host for)
  --did-key <did:key>  the author's #atproto signing key
  --index-only         accept a CAR without record blocks (getRepo?excludeValues=true)
  --max-bytes <n>      refuse CARs larger than n bytes (default ${DEFAULT_MAX_CAR_BYTES})
  --list               include every verified path and CID in the output

Exit status: 0 verified, 1 rejected (JSON {"error", "message"} on stdout), 2 usage error.`

export async function verifyCarCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommandArgs('verify-car', argv, {
    space: { type: 'string' },
    author: { type: 'string' },
    'did-key': { type: 'string' },
    'index-only': { type: 'boolean' },
    'max-bytes': { type: 'string' },
    list: { type: 'boolean' },
  })
  if (values.help) {
    out(VERIFY_CAR_HELP)
    return 0
  }
  const file = positionals[0]
  if (!file || !values.space || !values.author || !values['did-key']) {
    throw new UsageError(`verify-car needs a file, --space, --author and --did-key.\n\n${VERIFY_CAR_HELP}`)
  }
  const maxBytes = values['max-bytes'] ? Number(values['max-bytes']) : undefined
  if (maxBytes !== undefined && !(Number.isInteger(maxBytes) && maxBytes > 0)) {
    throw new UsageError('--max-bytes must be a positive integer')
  }
  try {
    const space = canonicalSpaceUri(values.space)
    assertDid(values.author, '--author')
    const started = performance.now()
    const car = await openRepoCar(createReadStream(file), {
      space,
      author: values.author,
      didKey: values['did-key'],
      expectValues: !values['index-only'],
      decodeValues: false,
      maxBytes,
    })
    const collections: Record<string, number> = {}
    let records = 0
    let recordBytes = 0
    for await (const r of car.records()) {
      records++
      recordBytes += r.bytes.length
      collections[r.collection] = (collections[r.collection] ?? 0) + 1
    }
    const summary: Record<string, unknown> = {
      ok: true,
      space,
      author: values.author,
      rev: car.head.rev,
      commitHash: toHex(car.head.hash),
      commitCid: car.head.commitCid,
      indexEntries: car.head.entries.length,
      records,
      recordBytes,
      collections,
      elapsedMs: Math.round(performance.now() - started),
    }
    if (values.list) summary.entries = car.head.entries.map((e) => ({ path: e.path, cid: e.cid }))
    out(JSON.stringify(summary, null, 2))
    return 0
  } catch (err) {
    if (err instanceof ProtocolError) {
      out(JSON.stringify(err.toJSON()))
      return 1
    }
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      out(JSON.stringify({ error: 'file_not_found', message: `no such file: ${file}` }))
      return 1
    }
    throw err
  }
}
