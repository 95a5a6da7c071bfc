// Randomized correctness: sequences of creates/updates/deletes, recoveries, replays, conflicts, status
// changes, hides/unhides and space deletions/re-creations across many authors, applied to the real store
// (embedded ClickHouse) and to the in-memory model; after every step the merged views must be identical,
// under both read strategies. Writes are often issued concurrently so that they share batches.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import type { MergeStore } from '../../src/merge/index.js'
import type {
  AccountStatus,
  RecordKey,
  RecordWrite,
  RepoSnapshot,
  RepoUpdate,
  WriteResult,
} from '../../src/merge/types.js'
import { commit, openStore, prng, SPACE_A, SPACE_B, SPACE_C, tempDir } from './helpers.js'
import { MergeModel, type ModelRecord } from './model.js'

const SPACES = [SPACE_A, SPACE_B, SPACE_C]
const BASE_AUTHORS = [
  'did:plc:alice0000000000000000',
  'did:plc:bob00000000000000000000',
  'did:web:carol.example.com',
  'did:plc:dave',
  'did:plc:erin',
]
const COLLECTIONS = ['app.bsky.feed.post', 'com.example.like']
const RKEYS = ['3kaaa', '3kbbb', '3kccc', 'self', 'a:b~c', '3kddd', '3keee']
const STEPS = 35
const SEEDS = [1, 2, 3]

type Op =
  | { kind: 'update'; u: RepoUpdate }
  | { kind: 'replace'; s: RepoSnapshot }
  | {
      kind: 'status'
      space: string
      author: string
      status: 'active' | 'recovering' | 'failed'
      reason: string
    }

function strip(r: {
  author: string
  collection: string
  rkey: string
  cid: string
  value: unknown
  rev: string
}): ModelRecord {
  return { author: r.author, collection: r.collection, rkey: r.rkey, cid: r.cid, value: r.value, rev: r.rev }
}

describe('merge store vs in-memory model', () => {
  const dir = tempDir()
  let store: MergeStore
  let alt: MergeStore

  beforeAll(async () => {
    store = await openStore(dir.path, { database: 'model', maxDelayMs: 3 })
    // Same database, other read strategy and no state cache: both must give the same view, and the cached
    // repo states of `store` must equal the ones `alt` reads from ClickHouse.
    alt = await openStore(dir.path, {
      database: 'model',
      readStrategy: 'limit-by',
      migrate: false,
      stateCacheMs: 0,
    })
  })
  afterAll(async () => {
    await alt.close()
    await store.close()
    dir.remove()
  })

  for (const seed of SEEDS) {
    test(`seed ${seed}: ${STEPS} random steps`, async () => {
      const rnd = prng(seed)
      const model = new MergeModel()
      // Each seed gets its own spaces and authors (account status is global) so runs do not interact.
      const spaces = SPACES.map((s) => `${s}${seed}`)
      const authors = BASE_AUTHORS.map((a) => `${a}${seed}`)
      let revCounter = 1000
      let clock = 1_000_000
      const history: Op[] = []
      let touched = new Set<string>()
      const outcomes = new Set<string>()

      const value = (): unknown => {
        const n = rnd.int(1000)
        return rnd.chance(0.2)
          ? {
              $type: 'com.example.blob',
              data: { $bytes: Buffer.from([n & 255, 1, 2]).toString('base64') },
              tab: 'a\tb\\c\nd',
            }
          : { $type: 'app.bsky.feed.post', text: `post ${n} ✓ "quoted"`, ref: { $link: `bafyrei${n}` }, n }
      }
      const key = (): RecordKey => ({ collection: rnd.pick(COLLECTIONS), rkey: rnd.pick(RKEYS) })
      const writes = (max: number): RecordWrite[] => {
        const byPath = new Map<string, RecordWrite>()
        for (let i = rnd.int(max + 1); i > 0; i--) {
          const k = key()
          byPath.set(`${k.collection}/${k.rkey}`, { ...k, cid: `bafy${rnd.int(1e6)}`, value: value() })
        }
        return [...byPath.values()]
      }
      const makeUpdate = (space: string, author: string, since: string | null): RepoUpdate => {
        const upserts = writes(4)
        const taken = new Set(upserts.map((w) => `${w.collection}/${w.rkey}`))
        const deletes: RecordKey[] = []
        for (let i = rnd.int(3); i > 0; i--) {
          const k = key()
          const p = `${k.collection}/${k.rkey}`
          if (!taken.has(p)) deletes.push(k)
          taken.add(p)
        }
        return { ...commit(space, author, ++revCounter), since, upserts, deletes }
      }
      const modelApply = (op: Op): WriteResult =>
        op.kind === 'update'
          ? model.applyUpdate(op.u)
          : op.kind === 'replace'
            ? model.replace(op.s)
            : model.setStatus(op.space, op.author, op.status, op.reason)
      const storeApply = (op: Op): Promise<WriteResult> =>
        op.kind === 'update'
          ? store.applyRepoUpdate(op.u)
          : op.kind === 'replace'
            ? store.replaceRepo(op.s)
            : store.setRepoStatus(op.space, op.author, op.status, op.reason)

      /** Issues ops concurrently (one batch, in order) and checks each outcome against the model. */
      const run = async (ops: Op[], what: string): Promise<void> => {
        for (const op of ops) {
          const { space, author } = op.kind === 'update' ? op.u : op.kind === 'replace' ? op.s : op
          touched.add(`${space}\n${author}`)
        }
        const got = await Promise.all(ops.map(storeApply))
        const want = ops.map(modelApply)
        expect({ what, got }).toEqual({ what, got: want })
        for (const r of got) outcomes.add(r.outcome)
        history.push(...ops)
      }

      const randomOp = (): Op => {
        const space = rnd.pick(spaces)
        const author = rnd.pick(authors)
        const r = rnd.next()
        if (r < 0.6)
          return { kind: 'update', u: makeUpdate(space, author, model.repo(space, author)?.rev ?? null) }
        if (r < 0.8)
          return { kind: 'replace', s: { ...commit(space, author, ++revCounter), records: writes(8) } }
        if (r < 0.9) {
          const old = history[rnd.int(history.length)]
          if (old !== undefined) return old // replay: must change nothing
        }
        return {
          kind: 'status',
          space,
          author,
          status: rnd.pick(['active', 'recovering', 'failed'] as const),
          reason: rnd.chance(0.5) ? '' : 'host\tsaid "no"',
        }
      }

      for (const s of spaces) {
        model.upsertSpace(s)
        await store.upsertSpace(s)
      }

      for (let step = 0; step < STEPS; step++) {
        touched = new Set()
        const r = rnd.next()
        let what: string
        if (r < 0.35) {
          what = 'single write'
          await run([randomOp()], what)
        } else if (r < 0.6) {
          what = 'concurrent writes'
          const ops: Op[] = []
          for (let i = 2 + rnd.int(5); i > 0; i--) ops.push(randomOp())
          // A chained pair for one repo inside the same batch: the second builds on the first.
          const space = rnd.pick(spaces)
          const author = rnd.pick(authors)
          const first = makeUpdate(space, author, model.repo(space, author)?.rev ?? null)
          ops.push({ kind: 'update', u: first }, { kind: 'update', u: makeUpdate(space, author, first.rev) })
          await run(ops, what)
        } else if (r < 0.68) {
          what = 'conflicting update'
          const space = rnd.pick(spaces)
          await run(
            [{ kind: 'update', u: makeUpdate(space, rnd.pick(authors), `3lwrong${rnd.int(99)}`) }],
            what,
          )
        } else if (r < 0.73) {
          what = 'forced snapshot with an older rev (migration)'
          const space = rnd.pick(spaces)
          const s: RepoSnapshot = {
            ...commit(space, rnd.pick(authors), rnd.int(500)),
            records: writes(5),
            force: true,
          }
          await run([{ kind: 'replace', s }], what)
        } else if (r < 0.88) {
          const did = rnd.pick(authors)
          const status = rnd.pick<AccountStatus>([
            'active',
            'active',
            'deactivated',
            'takendown',
            'suspended',
            'deleted',
          ])
          // Sometimes an old event arrives late: it must not override the newer one.
          const at = rnd.chance(0.2) ? clock - 1 - rnd.int(100) : ++clock
          what = `account ${did} ${status} at ${at}`
          for (const space of spaces) touched.add(`${space}\n${did}`)
          await store.setAccountStatus(did, status, new Date(at))
          model.setAccount(did, status, at)
        } else if (r < 0.94) {
          const space = rnd.pick(spaces)
          what = `delete ${space}`
          await store.deleteSpace(space)
          model.deleteSpace(space)
        } else {
          const space = rnd.pick(spaces)
          what = `upsert ${space}`
          const info = await store.upsertSpace(space)
          expect(info.epoch).toBe(model.upsertSpace(space))
        }
        await verify(step, what)
      }
      // The sequence exercised every kind of write outcome, not just the happy path.
      expect([...outcomes].sort()).toEqual(expect.arrayContaining(['applied', 'conflict', 'unchanged']))

      async function verify(step: number, what: string): Promise<void> {
        const ctx = `seed ${seed} step ${step} (${what})`
        for (const space of spaces) {
          const filter: { collection?: string; author?: string } = {}
          if (rnd.chance(0.3)) filter.collection = rnd.pick(COLLECTIONS)
          if (rnd.chance(0.3)) filter.author = rnd.pick(authors)
          const reverse = rnd.chance(0.3)
          const limit = 3 + rnd.int(25)
          const reader = rnd.chance(0.5) ? store : alt
          const got: ModelRecord[] = []
          let cursor: string | undefined
          for (let page = 0; page < 100; page++) {
            const res = await reader.listRecords({ space, ...filter, limit, reverse, cursor })
            got.push(...res.records.map(strip))
            expect(res.records.length).toBeLessThanOrEqual(limit)
            cursor = res.cursor
            if (cursor === undefined) break
          }
          const want = model.view(space, filter)
          if (reverse) want.reverse()
          expect({ ctx, space, filter, reverse, records: got }).toEqual({
            ctx,
            space,
            filter,
            reverse,
            records: want,
          })
          expect({ ctx, count: await reader.countRecords(space, filter) }).toEqual({
            ctx,
            count: want.length,
          })

          const k = key()
          const author = rnd.pick(authors)
          const rec = await reader.getRecord(space, author, k.collection, k.rkey)
          const wantRec =
            model.view(space, { author, collection: k.collection }).find((m) => m.rkey === k.rkey) ?? null
          expect({ ctx, rec: rec === null ? null : strip(rec) }).toEqual({ ctx, rec: wantRec })

          // Every repo state would cost a query each; check the repos this step touched plus one more.
          for (const a of new Set(
            [...touched]
              .filter((t) => t.startsWith(`${space}\n`))
              .map((t) => t.slice(space.length + 1))
              .concat(rnd.pick(authors)),
          )) {
            const state = await store.getRepoState(space, a)
            expect({ ctx, a, cached: state }).toEqual({ ctx, a, cached: await alt.getRepoState(space, a) })
            const repo = model.repo(space, a)
            expect({
              ctx,
              a,
              state: state && {
                rev: state.rev,
                generation: state.generation,
                version: state.version,
                status: state.status,
                hidden: state.hidden,
              },
            }).toEqual({
              ctx,
              a,
              state:
                repo === undefined
                  ? null
                  : {
                      rev: repo.rev,
                      generation: repo.generation,
                      version: repo.version,
                      status: repo.status,
                      hidden: model.accountStatus(a) !== 'active',
                    },
            })
          }
        }
      }
    }, 120_000)
  }
})
