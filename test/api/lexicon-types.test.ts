// The hand-written API types (src/api/types.ts) against the lexicon JSON they describe: every method and
// object definition, every property, and which ones are required. The compiler already holds SHAPES to
// the TypeScript interfaces; this holds SHAPES to the lexicons, so the two cannot drift apart.
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { LEXICON_DIR, loadLexicons, NSID } from '../../src/api/lexicons.js'
import { SHAPES } from '../../src/api/types.js'

type Json = Record<string, unknown>
const docs = loadLexicons()
const byId = new Map<string, { defs: Record<string, Json> }>(
  docs.map((d) => [d.id, d as unknown as { defs: Record<string, Json> }]),
)

function def(ref: string): Json {
  const [id, name = 'main'] = ref.split('#') as [string, string?]
  const found = byId.get(id)?.defs[name]
  if (found === undefined) throw new Error(`no lexicon definition ${ref}`)
  return found
}

/** Property → 'required' | 'optional' of an object schema (following a ref to its object definition). */
function shapeOf(schema: Json, context: string): Record<string, string> {
  if (schema.type === 'ref') {
    const ref = schema.ref as string
    return shapeOf(def(ref.startsWith('#') ? `${context}${ref}` : ref), context)
  }
  const required = new Set((schema.required as string[] | undefined) ?? [])
  const props = Object.keys((schema.properties as Json | undefined) ?? {})
  return Object.fromEntries(props.map((p) => [p, required.has(p) ? 'required' : 'optional']))
}

describe('API lexicons and types', () => {
  it('serve exactly the methods the types describe, and NSID names them all', () => {
    const methods = docs
      .filter((d) => ['query', 'procedure'].includes(String(d.defs.main?.type)))
      .map((d) => d.id)
    expect(methods.sort()).toEqual(Object.keys(SHAPES.methods).sort())
    expect(Object.values(NSID).sort()).toEqual(methods.sort())
  })

  it.each(Object.entries(SHAPES.methods))('%s: params, input and output match', (nsid, shape) => {
    const main = def(nsid)
    if ('params' in shape) expect(shapeOf(main.parameters as Json, nsid)).toEqual(shape.params)
    else expect(shapeOf((main.parameters as Json | undefined) ?? {}, nsid)).toEqual({})
    if ('input' in shape) expect(shapeOf((main.input as Json).schema as Json, nsid)).toEqual(shape.input)
    const output = (main.output as Json).schema as Json
    if ('output' in shape) expect(shapeOf(output, nsid)).toEqual(shape.output)
    else expect(output.type).toBe('ref')
  })

  it('describe every object definition, property by property', () => {
    const objects = docs.flatMap((d) =>
      Object.entries(d.defs)
        .filter(([name, body]) => name !== 'main' && (body as Json).type === 'object')
        .map(([name]) => `${d.id}#${name}`),
    )
    expect(objects.sort()).toEqual(Object.keys(SHAPES.objects).sort())
    for (const [ref, shape] of Object.entries(SHAPES.objects)) {
      expect({ ref, shape: shapeOf(def(ref), ref.split('#')[0] as string) }).toEqual({ ref, shape })
    }
  })

  it('ship checkUserAccess exactly as upstream defines it', () => {
    const upstream = resolve(
      process.env.SPACEVIEW_LEXICONS ?? join(process.cwd(), '..', 'shared', 'spec', 'lexicons'),
      'com/atproto/simplespace/checkUserAccess.json',
    )
    const ours = join(LEXICON_DIR, 'com/atproto/simplespace/checkUserAccess.json')
    expect(readFileSync(ours, 'utf8')).toBe(readFileSync(upstream, 'utf8'))
  })
})
