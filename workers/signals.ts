/** Resolves on the first SIGINT or SIGTERM, so entry points can close cleanly (jobs finish, store flushes). */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
}
