/**
 * Single-use tokens across every API process: the `ReplayCheck` the protocol verifiers call for service-auth
 * JWT jtis and DPoP proof jtis, kept in Redis.
 *
 * Invariants:
 * - One atomic `SET key NX` per use: the first use wins everywhere, a second use (any process) is a replay.
 * - The entry lives until the token can no longer pass its own time checks (`expiresAt`, plus a second for
 *   clock rounding), so memory is bounded by live tokens.
 * - Keys hold a hash of (kind, issuer, jti), never the token: Redis sees no token material.
 * - A Redis failure throws: without the store a replay cannot be ruled out, so the request fails closed.
 */
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { ReplayCheck } from '../protocol/token-claims.js'

export const REPLAY_KEY_PREFIX = 'spaceview:jti:'

export function redisReplayCheck(redis: Redis, prefix = REPLAY_KEY_PREFIX): ReplayCheck {
  return async (entry) => {
    const id = createHash('sha256').update(`${entry.kind}\n${entry.iss}\n${entry.jti}`).digest('base64url')
    const ttlSec = Math.max(1, Math.ceil(entry.expiresAt - Date.now() / 1000) + 1)
    const stored = await redis.set(`${prefix}${id}`, '1', 'EX', ttlSec, 'NX')
    return stored === null
  }
}
