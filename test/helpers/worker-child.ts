/**
 * `spaceview worker` run from the TypeScript sources, for tests that start (and SIGKILL) real worker
 * processes: the production entry (workers/worker.ts) unchanged, configured by its environment like the
 * deployed one. Usage: `node --import tsx test/helpers/worker-child.ts [--queues q1,q2]` with Node 22
 * (`process.execPath` from a test). It prints "spaceview worker (pid …) on queues: …" once started.
 */
import { run } from '../../workers/worker.js'

process.exitCode = await run(process.argv.slice(2))
