import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../src/cli/main.js'
import { fromHex } from '../../src/protocol/bytes.js'
import { loadVector } from '../vectors.js'
// @ts-expect-error plain ESM helper without types
import { checkNodeVersion } from '../../scripts/node-guard.mjs'

const cars = loadVector('repo-car')
const dir = mkdtempSync(join(tmpdir(), 'spaceview-cli-'))

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = []
  const code = await main(
    argv,
    (s) => lines.push(s),
    (s) => lines.push(s),
  )
  return { code, out: lines.join('\n') }
}

function carFile(name: string): {
  file: string
  params: { space: string; author: string; didKey: string; expectValues: boolean }
} {
  const c = [...cars.positive, ...cars.negative].find((x: { name: string }) => x.name === name)
  const file = join(dir, `${name}.car`)
  writeFileSync(file, fromHex(c.carHex))
  return { file, params: c.params }
}

describe('spaceview verify-car', () => {
  it('prints a summary and exits 0 for a valid CAR', async () => {
    const { file, params } = carFile('full-3-records')
    const r = await run([
      'verify-car',
      file,
      '--space',
      params.space,
      '--author',
      params.author,
      '--did-key',
      params.didKey,
    ])
    expect(r.code).toBe(0)
    const summary = JSON.parse(r.out)
    expect(summary).toMatchObject({ ok: true, rev: '3lenb7yw2s22b', records: 3, indexEntries: 3 })
    expect(summary.commitHash).toBe('f051cf601b816ef93bc8f794b87555b48750984cf540d5938ffc157320e5fb41')
  })

  it('exits 1 with a typed error for a lying CAR', async () => {
    const { file, params } = carFile('index-hash-mismatch')
    const r = await run([
      'verify-car',
      file,
      '--space',
      params.space,
      '--author',
      params.author,
      '--did-key',
      params.didKey,
    ])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.out)).toEqual({ error: 'index_hash_mismatch', message: expect.any(String) })
  })

  it('needs --index-only to accept an index-only CAR', async () => {
    const { file, params } = carFile('index-only')
    const base = [
      'verify-car',
      file,
      '--space',
      params.space,
      '--author',
      params.author,
      '--did-key',
      params.didKey,
    ]
    expect((await run(base)).code).toBe(1)
    expect((await run([...base, '--index-only'])).code).toBe(0)
  })

  it('rejects a malformed space URI and a missing file with typed errors', async () => {
    const { file, params } = carFile('full-3-records')
    const bad = await run([
      'verify-car',
      file,
      '--space',
      'at://nope',
      '--author',
      params.author,
      '--did-key',
      params.didKey,
    ])
    expect(JSON.parse(bad.out).error).toBe('invalid_space_uri')
    const missing = await run([
      'verify-car',
      join(dir, 'nope.car'),
      '--space',
      params.space,
      '--author',
      params.author,
      '--did-key',
      params.didKey,
    ])
    expect(JSON.parse(missing.out).error).toBe('file_not_found')
  })

  it('usage errors exit 2; --help exits 0', async () => {
    expect((await run(['verify-car'])).code).toBe(2)
    expect((await run(['verify-car', '--bogus'])).code).toBe(2)
    const help = await run(['verify-car', '--help'])
    expect(help.code).toBe(0)
    expect(help.out).toMatch(/--did-key/)
    expect((await run(['no-such-verb'])).code).toBe(2)
  })
})

describe('spaceview lthash', () => {
  it('prints the digest of the given elements', async () => {
    const v = loadVector('lthash')
    expect((await run(['lthash'])).out).toBe(v.requiredKnownAnswers.empty)
    expect((await run(['lthash', 'one', 'two'])).out).toBe(v.requiredKnownAnswers['one-two'])
    expect((await run(['lthash', 'one', 'two', '--remove', 'two'])).out).toBe(
      v.cases.find((c: { name: string }) => c.name === 'one-only').digest,
    )
  })
})

describe('Node version guard', () => {
  it('accepts Node 22 and explains anything else', () => {
    expect(checkNodeVersion('22.23.3')).toBeNull()
    expect(checkNodeVersion('20.20.2')).toMatch(/needs Node.js 22.*npm install/s)
    expect(checkNodeVersion('24.0.0')).toMatch(/needs Node.js 22/)
  })
})
