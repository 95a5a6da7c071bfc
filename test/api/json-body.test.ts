// json-body.ts: an answer's text is JSON.stringify(lexToJson(body)), and the parts registered as never
// changing (the record views of a cached page) are rendered once.
import { lexToJson, type LexValue } from '@atproto/lexicon'
import { CID } from 'multiformats/cid'
import { jsonBody, once } from '../../src/api/json-body.js'
import { recordView, recordViews } from '../../src/api/views.js'
import type { StoredRecord } from '../../src/merge/index.js'

const cid = CID.parse('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
const plain = (body: object) => JSON.stringify(lexToJson(body as LexValue))

describe('jsonBody', () => {
  it('equals JSON.stringify(lexToJson(body)), with or without registered parts', () => {
    const records = [
      { uri: 'at://a/b/c', value: { text: 'hi', n: 1, nested: [true, null, 'x'] } },
      { uri: 'at://a/b/d', value: { link: { $link: cid.toString() }, emoji: '\u{1F600}', quote: '"\\' } },
    ]
    const bodies: object[] = [
      { records, cursor: 'c1' },
      { records: once([...records]), cursor: 'c2' },
      { records: once([...records]) }, // no cursor
      { records, cursor: undefined, extra: 0 }, // undefined members are left out, as JSON.stringify does
      { ref: cid, bytes: new Uint8Array([1, 2, 3]), list: [cid] }, // data-model values become $link / $bytes
      once({ whole: 'body', records }),
      [],
    ]
    for (const body of bodies) expect(jsonBody(body)).toBe(plain(body))
  })

  it('renders a registered part once, and every answer that carries it reuses the text', () => {
    const views = once([{ text: 'first' }])
    expect(jsonBody({ records: views, cursor: 'a' })).toBe('{"records":[{"text":"first"}],"cursor":"a"}')
    // Registered parts never change; changing one here shows that the second answer reused the text.
    views[0]!.text = 'changed'
    expect(jsonBody({ records: views, cursor: 'b' })).toBe('{"records":[{"text":"first"}],"cursor":"b"}')
    const unregistered = [{ text: 'first' }]
    expect(jsonBody({ records: unregistered })).toBe('{"records":[{"text":"first"}]}')
    unregistered[0]!.text = 'changed'
    expect(jsonBody({ records: unregistered })).toBe('{"records":[{"text":"changed"}]}')
  })
})

describe('recordViews', () => {
  it('builds the views of one page array once, registered for rendering once', () => {
    const page: StoredRecord[] = [
      {
        uri: 'at://did:plc:a/space/x/k/did:plc:a/app.example.post/3k1',
        space: 'at://did:plc:a/space/x/k',
        cid: cid.toString(),
        author: 'did:plc:a',
        collection: 'app.example.post',
        rkey: '3k1',
        rev: '3k2',
        value: { text: 'hi' },
        indexedAt: '2026-01-01T00:00:00.000Z',
      },
    ]
    const views = recordViews(page)
    expect(recordViews(page)).toBe(views) // a cache hit hands the same page: the same views
    expect(recordViews([...page])).not.toBe(views) // another page array: its own views
    expect(views).toEqual(page.map(recordView))
    expect(jsonBody({ records: views })).toBe(plain({ records: page.map(recordView) }))
  })
})
