#!/usr/bin/env node
// spaceview command-line entry. Checks the Node.js major before loading anything from @atproto.
import { guardNodeVersion } from '../scripts/node-guard.mjs'

guardNodeVersion()
const { main } = await import('../dist/src/cli/main.js')
process.exitCode = await main(process.argv.slice(2))
