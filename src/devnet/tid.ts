/**
 * TIDs (timestamp identifiers) for devnet revs and record keys.
 *
 * A TID is 13 characters of base32-sortable ("234567abcdefghijklmnopqrstuvwxyz") encoding a 64-bit value
 * whose top bit is 0, then 53 bits of microseconds since the Unix epoch, then a 10-bit clock id. String
 * order equals numeric order, which is why revs can be compared as strings.
 *
 * Invariants: `TidClock.next` is strictly increasing per clock, even when the wall clock stalls or goes
 * back, and is always greater than the `after` rev it is given (so a repo's revs never regress).
 */
const ALPHABET = '234567abcdefghijklmnopqrstuvwxyz'
const MAX_MICROS = 2 ** 53 - 1

export function tidFromMicros(micros: number, clockId = 0): string {
  if (!Number.isSafeInteger(micros) || micros < 0 || micros > MAX_MICROS) {
    throw new RangeError('TID timestamp must be a non-negative safe integer of microseconds')
  }
  if (!Number.isInteger(clockId) || clockId < 0 || clockId > 1023) {
    throw new RangeError('TID clock id must be an integer in [0, 1023]')
  }
  let value = (BigInt(micros) << 10n) | BigInt(clockId)
  let out = ''
  for (let i = 0; i < 13; i++) {
    out = ALPHABET[Number(value & 31n)] + out
    value >>= 5n
  }
  return out
}

/** The microsecond timestamp and clock id of a TID (throws on anything that is not a TID). */
export function tidParts(tid: string): { micros: number; clockId: number } {
  if (!isTid(tid)) throw new RangeError(`"${tid}" is not a TID`)
  let value = 0n
  for (const ch of tid) value = (value << 5n) | BigInt(ALPHABET.indexOf(ch))
  return { micros: Number(value >> 10n), clockId: Number(value & 1023n) }
}

export function tidMicros(tid: string): number {
  return tidParts(tid).micros
}

export function isTid(value: string): boolean {
  return /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/.test(value)
}

/** Issues monotonic TIDs from the wall clock. */
export class TidClock {
  private last = 0

  constructor(private readonly clockId: number) {}

  /** A fresh TID greater than every TID this clock issued before and greater than `after`. */
  next(after?: string): string {
    let micros = Date.now() * 1000
    if (micros <= this.last) micros = this.last + 1
    if (after !== undefined) {
      const floor = tidMicros(after)
      if (micros <= floor) micros = floor + 1
    }
    this.last = micros
    return tidFromMicros(micros, this.clockId)
  }
}
