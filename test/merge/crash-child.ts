// Child process of the crash test: writes batch 1 and waits for it, then starts the large batch 2 and
// reports progress on stdout ("committed", "writing", "done"). The parent SIGKILLs it somewhere in batch 2.
// Usage: node --import tsx test/merge/crash-child.ts <data dir>
import { MergeStore } from '../../src/merge/index.js'
import { CRASH_SPACE, crashJobs, type CrashOp } from './crash-jobs.js'

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: crash-child.ts <data dir>')
const store = await MergeStore.open({
  clickhouse: { transport: 'embedded', path: dir, database: 'crash' },
  // One batch per phase: everything enqueued in the same tick shares one insert.
  batch: { maxRows: 1_000_000, maxDelayMs: 5 },
  readStrategy: 'final',
})
const apply = (op: CrashOp): Promise<unknown> =>
  op.kind === 'update' ? store.applyRepoUpdate(op.u) : store.replaceRepo(op.s)
const { batch1, batch2 } = crashJobs()
await store.upsertSpace(CRASH_SPACE)
await Promise.all(batch1.map(apply))
process.stdout.write('committed\n')
const pending = Promise.all(batch2.map(apply))
process.stdout.write('writing\n')
await pending
process.stdout.write('done\n')
await store.close()
