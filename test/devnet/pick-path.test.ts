// PermissionedRepo.pickPath: the write driver's O(1) choice of an existing record, kept in step with writes.
import { PermissionedRepo, type PreparedWrite } from '../../src/devnet/permissioned-repo.js'
import { DEFAULT_SHAPE, GeneratedHistory } from '../../src/devnet/record-generator.js'
import { SeededRandom } from '../../src/devnet/seeded.js'
import { tidFromMicros } from '../../src/devnet/tid.js'

const CID = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'
const history = new GeneratedHistory('pick', 0, 1, { ...DEFAULT_SHAPE, records: 20 }, 1_700_000_000_000_000)

describe('PermissionedRepo.pickPath', () => {
  it('picks only current paths, every one of them, through creates, updates and deletes', () => {
    const repo = new PermissionedRepo('at://did:plc:x/space/com.example.s/k', 'did:plc:author', history)
    const rng = SeededRandom.from('pick-path')
    const seen = new Set<string>()
    // Built from the generated history on first use.
    expect(repo.pickPath(() => 0)).toEqual(repo.paths()[0])
    let micros = 1_900_000_000_000_000
    for (let step = 0; step < 400; step++) {
      const present = repo.paths()
      const roll = rng.next()
      let write: PreparedWrite
      if (roll < 0.4 || present.length === 0) {
        write = {
          action: 'create',
          collection: 'com.example.post',
          rkey: `r${step}`,
          cid: CID,
          bytes: new Uint8Array(),
        }
      } else {
        const victim = repo.pickPath((n) => rng.int(n))!
        write =
          roll < 0.7
            ? {
                action: 'update',
                collection: victim.collection,
                rkey: victim.rkey,
                cid: CID,
                bytes: new Uint8Array(),
              }
            : { action: 'delete', collection: victim.collection, rkey: victim.rkey }
      }
      repo.apply([write], tidFromMicros((micros += 1000)))
      const now = new Set(repo.paths().map((p) => p.path))
      const reachable = new Set<string>()
      for (let i = 0; i < now.size; i++) reachable.add(repo.pickPath(() => i)!.path)
      expect(reachable).toEqual(now) // exactly the current paths, each at one index
      for (const p of reachable) seen.add(p)
    }
    expect(seen.size).toBeGreaterThan(100)
  })

  it('is undefined for an empty repo, and asks for no index', () => {
    const repo = new PermissionedRepo('at://did:plc:x/space/com.example.s/k', 'did:plc:empty')
    expect(
      repo.pickPath(() => {
        throw new Error('no index wanted')
      }),
    ).toBeUndefined()
  })
})
