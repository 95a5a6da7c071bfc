/**
 * The lexicons the API serves: our own `dev.spaceview.*` methods and the upstream
 * `com.atproto.simplespace.checkUserAccess` (served to authorities of spaces spaceview manages), read from
 * the package's `lexicons/` folder, plus the NSIDs as constants.
 *
 * Invariants:
 * - Documents are parsed with @atproto/lexicon's own schema, so a malformed file fails at start-up.
 * - The installed @atproto/lexicon predates permissioned data and does not know the `space-ref` string
 *   format: `normalizeLexicon` drops it (handlers check every space ref with the protocol parser, which is
 *   stricter than a format check would be). Nothing else is changed.
 * - The folder is found by walking up from this module, so it works from src/ (tests, tsx) and dist/.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { lexiconDoc, type LexiconDoc } from '@atproto/lexicon'

export const NSID = {
  listSpaces: 'dev.spaceview.listSpaces',
  getSpace: 'dev.spaceview.getSpace',
  listRecords: 'dev.spaceview.listRecords',
  getRecord: 'dev.spaceview.getRecord',
  getSyncStatus: 'dev.spaceview.getSyncStatus',
  addMember: 'dev.spaceview.admin.addMember',
  removeMember: 'dev.spaceview.admin.removeMember',
  listMembers: 'dev.spaceview.admin.listMembers',
  explainAccess: 'dev.spaceview.admin.explainAccess',
  putDelegation: 'dev.spaceview.admin.putDelegation',
  startOAuthLogin: 'dev.spaceview.admin.startOAuthLogin',
  checkUserAccess: 'com.atproto.simplespace.checkUserAccess',
} as const

/** Root of the spaceview package: the nearest ancestor holding `lexicons/dev/spaceview`. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'lexicons', 'dev', 'spaceview'))) return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find the spaceview lexicons/ folder above src/api')
    dir = parent
  }
}

export const LEXICON_DIR = join(packageRoot(), 'lexicons')

function stripSpaceRef(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripSpaceRef)
  if (node === null || typeof node !== 'object') return node
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === 'format' && value === 'space-ref') continue
    out[key] = stripSpaceRef(value)
  }
  return out
}

/** A lexicon document as JSON, made acceptable to the installed @atproto/lexicon (see header). */
export function normalizeLexicon(json: unknown): LexiconDoc {
  return lexiconDoc.parse(stripSpaceRef(json))
}

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? jsonFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : [],
    )
    .sort()
}

/** Every lexicon document under lexicons/, normalized. */
export function loadLexicons(dir = LEXICON_DIR): LexiconDoc[] {
  return jsonFiles(dir).map((file) => normalizeLexicon(JSON.parse(readFileSync(file, 'utf8'))))
}
