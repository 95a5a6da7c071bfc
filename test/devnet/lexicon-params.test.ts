/**
 * Devnet validates query parameters with compact per-method schemas; this keeps them honest against the
 * upstream lexicons (names, types, required, bounds, defaults, formats) and checks that devnet serves every
 * space / simplespace method a PDS serves (checkUserAccess is the managing app's, notifySpaceDeleted the
 * syncer's).
 */
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { loadLexiconDocs } from './helpers.js'

let devnet: Devnet
beforeAll(async () => {
  devnet = await startDevnet({ seed: 'lexicon-params', spaces: 0, hosts: 1 })
})
afterAll(() => devnet.close())

test('every PDS-served method is routed, with the lexicon kind', () => {
  const defs = new Map(devnet.hosts[0]!.router.definitions().map((d) => [d.nsid, d]))
  for (const doc of loadLexiconDocs()) {
    const main = (doc.defs as any).main
    if (!main || !['query', 'procedure'].includes(main.type)) continue
    if (
      doc.id === 'com.atproto.simplespace.checkUserAccess' ||
      doc.id === 'com.atproto.space.notifySpaceDeleted'
    )
      continue
    expect([doc.id, defs.get(doc.id)?.type]).toEqual([doc.id, main.type])
  }
})

test('query parameter schemas agree with the lexicons', () => {
  const docs = new Map<string, { defs: unknown }>(loadLexiconDocs().map((d) => [d.id, d]))
  for (const def of devnet.hosts[0]!.router.definitions()) {
    if (def.type !== 'query') continue
    const params = ((docs.get(def.nsid)?.defs as any)?.main?.parameters ?? { properties: {} }) as {
      required?: string[]
      properties: Record<string, any>
    }
    expect([def.nsid, Object.keys(def.params ?? {}).sort()]).toEqual([
      def.nsid,
      Object.keys(params.properties).sort(),
    ])
    for (const [name, lex] of Object.entries(params.properties)) {
      const mine = (def.params ?? {})[name] as any
      const want: Record<string, unknown> = {
        type: lex.type,
        required: params.required?.includes(name) ?? false,
      }
      const got: Record<string, unknown> = { type: mine.type, required: mine.required ?? false }
      for (const k of ['format', 'minimum', 'maximum', 'default']) {
        if (lex[k] !== undefined || mine[k] !== undefined) {
          want[k] = lex[k]
          got[k] = mine[k]
        }
      }
      expect([def.nsid, name, got]).toEqual([def.nsid, name, want])
    }
  }
})
