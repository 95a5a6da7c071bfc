/**
 * The `cursor` parameter of the listing methods: opened with the cursor seal for the listing's scope, so a
 * tampered or foreign cursor is a 400 InvalidRequest naming the parameter, never a read at a forged position.
 */
import type { ApiContext } from './api-context.js'
import { CursorError } from './cursor-seal.js'
import { invalidRequest } from './errors.js'

export function openCursor(ctx: ApiContext, scope: string, cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined
  try {
    return ctx.cursors.open(scope, cursor)
  } catch (err) {
    if (err instanceof CursorError) throw invalidRequest(`cursor: ${err.message}`)
    throw err
  }
}
