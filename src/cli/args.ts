/**
 * Minimal flag parsing for the operator CLI, over node:util's parseArgs: typed options, unknown flags
 * rejected with a message naming the command's --help.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nRun \`spaceview ${command} --help\` for usage.`)
  }
}
