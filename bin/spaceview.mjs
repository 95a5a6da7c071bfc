#!/usr/bin/env node
// spaceview command-line entry. Checks the Node.js major before loading anything from @atproto, then runs
// a process verb (start, api, worker, devnet: dist/workers/*) or an operator verb (src/cli).
import { guardNodeVersion } from '../scripts/node-guard.mjs'

guardNodeVersion()
const PROCESS_VERBS = { start: 'start', api: 'api', worker: 'worker' }
const [verb, ...rest] = process.argv.slice(2)
try {
  if (verb in PROCESS_VERBS) {
    const { run } = await import(`../dist/workers/${PROCESS_VERBS[verb]}.js`)
    // A process verb returns after closing what it opened; exit even if a library keeps a handle open.
    process.exit(await run(rest))
  } else if (verb === 'devnet') {
    const { runDevnetCli } = await import('../dist/src/devnet/cli.js')
    process.exitCode = await runDevnetCli(rest)
  } else {
    const { main } = await import('../dist/src/cli/main.js')
    process.exitCode = await main(process.argv.slice(2))
  }
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('/dist/')) {
    console.error('spaceview is not built yet: run `npm run build` (npm start builds automatically).')
  } else {
    console.error(`spaceview ${verb ?? ''}: ${err?.message ?? err}`)
  }
  process.exitCode = 1
}
