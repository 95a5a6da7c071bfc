/**
 * Entry point of `npm run devnet -- <flags>` (compiled to dist/workers/devnet.js): starts a simulated
 * permissioned-data network on 127.0.0.1 and runs until SIGINT. See src/devnet/cli.ts or `--help`.
 */
import { runDevnetCli } from '../src/devnet/cli.js'

process.exitCode = await runDevnetCli(process.argv.slice(2))
