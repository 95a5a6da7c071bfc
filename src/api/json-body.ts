/**
 * The JSON text of an XRPC answer: `JSON.stringify(lexToJson(body))`, with the text of shared, immutable
 * parts rendered once.
 *
 * A page the store answers from its exact view cache is the same array of records for every request that
 * hits the cache entry; its views (`views.ts`) are built once per entry and registered here with `once`.
 * Their text is then reused by every answer that carries them, instead of walking and serializing the page
 * again per request (under load, lexToJson's two walks and JSON.stringify of a page cost more of the API's
 * thread than the rest of an authenticated listRecords).
 *
 * Invariants: the text equals `JSON.stringify(lexToJson(body))` for every body (members whose value is
 * undefined are left out, as JSON.stringify leaves them out); a value registered with `once` must never
 * change afterwards (the cache's entries never do); registration holds values weakly, so it keeps nothing
 * alive.
 */
import { lexToJson, type LexValue } from '@atproto/lexicon'

const reusable = new WeakSet<object>()
const texts = new WeakMap<object, string>()

/** Marks `value` as never changing again, so its JSON text is rendered once; returns it. */
export function once<T extends object>(value: T): T {
  reusable.add(value)
  return value
}

function plain(value: unknown): string {
  return JSON.stringify(lexToJson(value as LexValue))
}

function render(value: unknown): string {
  if (value === null || typeof value !== 'object' || !reusable.has(value)) return plain(value)
  let text = texts.get(value)
  if (text === undefined) texts.set(value, (text = plain(value)))
  return text
}

/** The JSON text of `body` (an object: an XRPC JSON answer). */
export function jsonBody(body: object): string {
  if (Array.isArray(body) || reusable.has(body)) return render(body)
  let out = ''
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined) continue
    out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${render(value)}`
  }
  return `{${out}}`
}
