/**
 * The `spaceview` command: dispatches to one module per verb. Each verb has --help; usage errors exit 2
 * with a message that names the fix.
 */
import { verifyCarCommand } from './verify-car.js'
import { lthashCommand } from './lthash.js'
import { statusCommand } from './status.js'
import { addSpaceCommand } from './add-space.js'
import { reportCommand } from './report.js'
import { aclExplainCommand } from './acl-explain.js'
import { loadtestCommand } from './loadtest.js'
import { UsageError } from './args.js'

type Verb = { summary: string; run: (argv: string[], out: (s: string) => void) => Promise<number> | number }

const VERBS: Record<string, Verb> = {
  'verify-car': { summary: 'verify a getRepo CAR file and print a JSON summary', run: verifyCarCommand },
  lthash: { summary: 'print the LtHash digest of a set of elements', run: lthashCommand },
  status: {
    summary: 'per space: writers, synced/behind/recovering/failed, last error, lag',
    run: statusCommand,
  },
  'add-space': { summary: "sync a space through a member's session", run: addSpaceCommand },
  acl: { summary: 'acl explain <space> <did>: why a caller is admitted or denied', run: aclExplainCommand },
  report: { summary: "render an HTML page of charts from a running instance's metrics", run: reportCommand },
  loadtest: {
    summary: 'load-test spaceview against devnet next to a sequential baseline (npm run bench)',
    run: loadtestCommand,
  },
}

export function usage(): string {
  const width = Math.max(...Object.keys(VERBS).map((v) => v.length))
  return [
    'Usage: spaceview <command> [options]',
    '',
    'Process commands (run until Ctrl-C):',
    '  start       devnet + workers + API in one process (the demo behind npm start)',
    '  api         the API, notification receivers and /metrics',
    '  worker      crawler workers (any number of processes)',
    '  devnet      a simulated permissioned-data network (TEST KEYS ONLY)',
    '',
    'Operator commands:',
    ...Object.entries(VERBS).map(([name, v]) => `  ${name.padEnd(width)}  ${v.summary}`),
    '',
    "Run `spaceview <command> --help` for a command's options.",
  ].join('\n')
}

export async function main(
  argv: string[],
  out: (s: string) => void = (s) => console.log(s),
  err: (s: string) => void = (s) => console.error(s),
): Promise<number> {
  const [verb, ...rest] = argv
  if (!verb || verb === '--help' || verb === '-h' || verb === 'help') {
    out(usage())
    return verb ? 0 : 2
  }
  const command = VERBS[verb]
  if (!command) {
    err(`spaceview: unknown command "${verb}"\n\n${usage()}`)
    return 2
  }
  try {
    return await command.run(rest, out)
  } catch (e) {
    if (e instanceof UsageError) {
      err(`spaceview ${verb}: ${e.message}`)
      return 2
    }
    throw e
  }
}
