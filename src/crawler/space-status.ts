/**
 * The crawler's view of each space's lifecycle (bootstrapping, active, needs_authorization, failed,
 * deleted), kept in Redis so every process and `spaceview status` see the same thing. A space whose
 * sessions are all gone is shown as needs_authorization, never silently dropped.
 */
import type { Redis } from 'ioredis'
import type { SpaceStatus } from '../metrics/labels.js'

const KEY = 'sv:space-status'

export interface SpaceStatusEntry {
  status: SpaceStatus
  reason?: string
  at: number
}

export async function setSpaceStatus(
  redis: Redis,
  space: string,
  status: SpaceStatus,
  reason?: string,
): Promise<void> {
  const entry: SpaceStatusEntry = reason
    ? { status, reason: reason.slice(0, 200), at: Date.now() }
    : { status, at: Date.now() }
  await redis.hset(KEY, space, JSON.stringify(entry))
}

export async function getSpaceStatus(redis: Redis, space: string): Promise<SpaceStatusEntry | null> {
  const raw = await redis.hget(KEY, space)
  return raw ? (JSON.parse(raw) as SpaceStatusEntry) : null
}

export async function allSpaceStatuses(redis: Redis): Promise<Record<string, SpaceStatusEntry>> {
  const raw = await redis.hgetall(KEY)
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, JSON.parse(v) as SpaceStatusEntry]))
}
