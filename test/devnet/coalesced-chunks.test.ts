/**
 * Coalesced response chunks: the same bytes in the same order, in pieces of at least the minimum size
 * (only the last may be shorter), and nothing for an empty stream.
 */
import { randomBytes } from 'node:crypto'
import { coalescedChunks } from '../../src/devnet/coalesced-chunks.js'

async function* source(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const c of chunks) yield c
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = []
  for await (const c of chunks) out.push(Buffer.from(c))
  return out
}

test('same bytes, in pieces of at least the minimum size', async () => {
  const input = Array.from({ length: 300 }, (_, i) => randomBytes(i % 7 === 0 ? 0 : 1 + (i % 97)))
  const pieces = await collect(coalescedChunks(source(input), 1000))
  expect(Buffer.concat(pieces).equals(Buffer.concat(input))).toBe(true)
  expect(pieces.length).toBeGreaterThan(1)
  for (const p of pieces.slice(0, -1)) expect(p.length).toBeGreaterThanOrEqual(1000)
  expect(pieces.at(-1)!.length).toBeGreaterThan(0)
})

test('an empty stream yields nothing; a short one yields one piece', async () => {
  expect(await collect(coalescedChunks(source([])))).toEqual([])
  const short = [Buffer.from('ab'), Buffer.from('cd')]
  expect((await collect(coalescedChunks(source(short)))).map(String)).toEqual(['abcd'])
})
