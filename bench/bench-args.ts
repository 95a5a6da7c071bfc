/**
 * Command-line flags of the standalone benchmarks (bench:merge, bench:api, bench:protocol): node's
 * parseArgs, plus `--help` that prints the benchmark's usage, and a bad flag that says what is wrong and
 * shows the usage instead of a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

export function benchArgs<O extends NonNullable<ParseArgsConfig['options']>>(usage: string, options: O) {
  const argv = process.argv.slice(2)
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage.trim()}\n`)
    process.exit(0)
  }
  try {
    return parseArgs({ args: argv, options }).values
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage.trim()}\n`)
    process.exit(2)
  }
}
