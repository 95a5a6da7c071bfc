/**
 * `spaceview lthash`: prints the LtHash digest (hex sha256 of the state) of a set of elements, e.g. the
 * "{collection}/{rkey}/{cid}" strings of a repo, to compare against a commit's hash by hand.
 */
import { LtHash } from '../protocol/lthash.js'
import { toHex } from '../protocol/bytes.js'
import { parseCommandArgs } from './args.js'

export const LTHASH_HELP = `Usage: spaceview lthash [--remove <element>]... [--state] <element>...

Adds each element to an empty LtHash and prints the digest (hex). Elements of a repo are
"{collection}/{rkey}/{cid}". With no elements, prints the empty-set digest.

Options:
  --remove <element>  remove this element after adding the others (repeatable)
  --state             also print the full 2048-byte state (hex)`

export function lthashCommand(argv: string[], out: (s: string) => void): number {
  const { values, positionals } = parseCommandArgs('lthash', argv, {
    remove: { type: 'string', multiple: true },
    state: { type: 'boolean' },
  })
  if (values.help) {
    out(LTHASH_HELP)
    return 0
  }
  const h = new LtHash()
  for (const e of positionals) h.add(e)
  for (const e of values.remove ?? []) h.remove(e)
  out(toHex(h.digest()))
  if (values.state) out(toHex(h.state()))
  return 0
}
