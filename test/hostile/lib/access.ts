/**
 * Access attacks on the API, beyond test/api/attacker.test.ts (whose harness this reuses, unmodified):
 * mass enumeration of space URIs, timing of forbidden versus missing, DPoP replay and misuse, tokens for
 * another audience, and a removed member racing the admission cache. Every request that returns protected
 * content to a caller who may not read it is an unauthorized read; the tally counts them (must be 0).
 *
 * `size` scales the request counts: the regular suite runs a small sample, the hostile suite a large one.
 */
import { it, expect, beforeAll, afterAll } from '@jest/globals'
import { setTimeout as sleep } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import { NSID } from '../../../src/api/lexicons.js'
import type { Account } from '../../../src/devnet/accounts.js'
import { credentialFetch } from '../../../src/devnet/credential-client.js'
import { managingAppPolicy, MEMBER_LIST_POLICY } from '../../../src/devnet/space-config.js'
import { createDpopProof, generateDpopKey } from '../../../src/protocol/dpop.js'
import { startHarness, type Harness, type Reply } from '../../api/harness.js'
import { tally } from './tally.js'

const SECRET = 'HOSTILE-SECRET'
const POST = 'com.example.forum.post'
const TTL_SEC = 2

/** A reply leaks when it succeeds or carries any protected string. */
function leaks(r: { status: number; text: string }, protectedStrings: string[]): boolean {
  return r.status === 200 || protectedStrings.some((s) => r.text.includes(s))
}

export function describeAccess(size: { enumeration: number; timing: number; raceMs: number }): void {
  let h: Harness
  let authority: Account, member: Account, outsider: Account, leaver: Account, managedMember: Account
  let closed: string, other: string, managed: string
  const nowhere = () =>
    `at://did:plc:${randomBytes(12)
      .toString('hex')
      .slice(0, 24)
      .replace(/[^a-z2-7]/g, 'a')}/space/com.example.forum/${randomBytes(4).toString('hex')}`

  beforeAll(async () => {
    h = await startHarness({ admissionTtlSec: TTL_SEC, factsTtlMs: 0 })
    authority = h.account('authority')
    member = h.account('member')
    outsider = h.account('outsider')
    leaver = h.account('leaver')
    managedMember = h.account('managed')
    closed = await h.createSpace(authority, 'closed', MEMBER_LIST_POLICY, [member, leaver])
    other = await h.createSpace(authority, 'other', MEMBER_LIST_POLICY, [member])
    managed = await h.createSpace(authority, 'managed', managingAppPolicy(h.managingAppId))
    for (const space of [closed, other, managed]) {
      await h.writeRecords(space, authority, [
        { collection: POST, rkey: 'a0', value: { $type: POST, text: `${SECRET} ${space}` } },
      ])
    }
  }, 120_000)
  afterAll(async () => h?.close())

  const protectedStrings = () => [SECRET, closed, other, managed]

  it('mass enumeration of space URIs: every probe gets the same refusal, nothing leaks', async () => {
    const probes: string[] = []
    for (let i = 0; i < size.enumeration; i++) {
      const kind = i % 4
      probes.push(
        kind === 0
          ? nowhere()
          : kind === 1
            ? closed
            : kind === 2
              ? `at://${authority.did}/space/com.example.forum/guess${i}`
              : `${closed}/${authority.did}/${POST}/a0`,
      )
    }
    const answers = new Map<string, number>()
    let leaked = 0
    for (const probe of probes) {
      const r = probe.includes(`/${POST}/`)
        ? await h.asUser(outsider, NSID.getRecord, { uri: probe })
        : await h.asUser(outsider, NSID.listRecords, { space: probe })
      if (leaks(r, protectedStrings())) leaked++
      const key = `${r.status} ${r.text}`
      answers.set(key, (answers.get(key) ?? 0) + 1)
    }
    // Unauthenticated probes are refused before any space is looked at.
    for (let i = 0; i < Math.min(20, size.enumeration); i++) {
      const r = await h.get(NSID.listRecords, { space: i % 2 ? closed : nowhere() })
      if (leaks(r, protectedStrings())) leaked++
      expect(r.status).toBe(401)
    }
    tally({
      kind: 'unauthorized_reads',
      name: `enumeration of ${probes.length} space/record URIs`,
      attempts: probes.length + Math.min(20, size.enumeration),
      count: leaked,
    })
    expect(leaked).toBe(0)
    // Space probes and record probes alike get the one answer a missing space gets.
    expect([...answers.keys()].every((k) => k.startsWith('400 '))).toBe(true)
    expect(answers.size).toBe(1)
  })

  it('forbidden and missing spaces take the same time', async () => {
    const time = async (space: string) => {
      const t0 = performance.now()
      const r = await h.asUser(outsider, NSID.listRecords, { space })
      expect(r.status).toBe(400)
      return performance.now() - t0
    }
    const forbidden: number[] = []
    const missing: number[] = []
    for (let i = 0; i < size.timing; i++) {
      // Interleaved, so drift in machine load hits both samples alike.
      forbidden.push(await time(closed))
      missing.push(await time(nowhere()))
    }
    const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)] as number
    const figures = `median forbidden ${q(forbidden, 0.5).toFixed(1)} ms, missing ${q(missing, 0.5).toFixed(1)} ms; p90 ${q(forbidden, 0.9).toFixed(1)} / ${q(missing, 0.9).toFixed(1)} ms`
    tally({
      kind: 'unauthorized_reads',
      name: `timing probe (${figures})`,
      attempts: 2 * size.timing,
      count: 0,
    })
    // Within 10 ms, or 30 % of the medians when a loaded machine stretches every request alike.
    const bound = Math.max(10, 0.3 * Math.max(q(forbidden, 0.5), q(missing, 0.5)))
    expect(Math.abs(q(forbidden, 0.5) - q(missing, 0.5))).toBeLessThan(bound)
  })

  it('DPoP: replayed, re-targeted, re-keyed and unbound proofs are refused', async () => {
    const key = await generateDpopKey()
    const { credential } = await h.devnet.obtainCredential(closed, key, { account: member })
    const url = (space: string) => `${h.api.url}/xrpc/${NSID.listRecords}?space=${encodeURIComponent(space)}`
    const ok = await credentialFetch(url(closed), { credential, dpopKey: key })
    expect(ok.status).toBe(200) // control: the credential itself works
    await ok.body?.cancel()
    const proof = await createDpopProof(key, { htm: 'GET', htu: url(closed), credential })
    const attempts: Array<[string, () => Promise<Response>]> = []
    const first = await fetch(url(closed), { headers: { authorization: `DPoP ${credential}`, dpop: proof } })
    expect(first.status).toBe(200)
    await first.body?.cancel()
    const thief = await generateDpopKey()
    for (let i = 0; i < 5; i++) {
      attempts.push([
        'replay',
        () => fetch(url(closed), { headers: { authorization: `DPoP ${credential}`, dpop: proof } }),
      ])
    }
    attempts.push(
      [
        'other method',
        async () =>
          fetch(`${h.api.url}/xrpc/${NSID.getSpace}?space=${encodeURIComponent(closed)}`, {
            headers: {
              authorization: `DPoP ${credential}`,
              dpop: await createDpopProof(key, { htm: 'GET', htu: url(closed), credential }),
            },
          }),
      ],
      [
        'POST proof on GET',
        async () =>
          fetch(url(closed), {
            headers: {
              authorization: `DPoP ${credential}`,
              dpop: await createDpopProof(key, { htm: 'POST', htu: url(closed), credential }),
            },
          }),
      ],
      [
        'stolen credential, own key',
        async () =>
          fetch(url(closed), {
            headers: {
              authorization: `DPoP ${credential}`,
              dpop: await createDpopProof(thief, { htm: 'GET', htu: url(closed), credential }),
            },
          }),
      ],
      [
        'proof without ath',
        async () =>
          fetch(url(closed), {
            headers: {
              authorization: `DPoP ${credential}`,
              dpop: await createDpopProof(key, { htm: 'GET', htu: url(closed) }),
            },
          }),
      ],
      [
        'proof from the future',
        async () =>
          fetch(url(closed), {
            headers: {
              authorization: `DPoP ${credential}`,
              dpop: await createDpopProof(key, {
                htm: 'GET',
                htu: url(closed),
                credential,
                now: Date.now() / 1000 + 120,
              }),
            },
          }),
      ],
      [
        'stale proof',
        async () =>
          fetch(url(closed), {
            headers: {
              authorization: `DPoP ${credential}`,
              dpop: await createDpopProof(key, {
                htm: 'GET',
                htu: url(closed),
                credential,
                now: Date.now() / 1000 - 600,
              }),
            },
          }),
      ],
      [
        'credential as Bearer',
        async () => fetch(url(closed), { headers: { authorization: `Bearer ${credential}` } }),
      ],
    )
    let leaked = 0
    for (const [name, send] of attempts) {
      const res = await send()
      const r = { status: res.status, text: await res.text() }
      if (leaks(r, [SECRET])) leaked++
      expect({ name, status: r.status >= 400 }).toEqual({ name, status: true })
    }
    tally({
      kind: 'unauthorized_reads',
      name: 'DPoP replay and misuse',
      attempts: attempts.length,
      count: leaked,
    })
    expect(leaked).toBe(0)
  })

  it('tokens for another audience, space or service are refused', async () => {
    const key = await generateDpopKey()
    const { credential } = await h.devnet.obtainCredential(other, key, { account: member })
    const url = (space: string) => `${h.api.url}/xrpc/${NSID.listRecords}?space=${encodeURIComponent(space)}`
    const cases: Array<[string, () => Promise<Reply | { status: number; text: string }>]> = [
      [
        'service auth for another service',
        async () =>
          h.get(
            NSID.listRecords,
            { space: closed },
            {
              authorization: `Bearer ${await h.serviceAuth(member, NSID.listRecords, { aud: 'did:web:other-appview.example' })}`,
            },
          ),
      ],
      [
        'service auth for the authority',
        async () =>
          h.get(
            NSID.listRecords,
            { space: closed },
            {
              authorization: `Bearer ${await h.serviceAuth(outsider, NSID.listRecords, { aud: authority.did })}`,
            },
          ),
      ],
      [
        'service auth for another method',
        async () =>
          h.get(
            NSID.listRecords,
            { space: closed },
            { authorization: `Bearer ${await h.serviceAuth(outsider, NSID.getRecord)}` },
          ),
      ],
      [
        'delegation token for another space',
        async () =>
          h.asUser(
            outsider,
            NSID.listRecords,
            { space: closed },
            { 'x-space-delegation': await h.delegation(member, other) },
          ),
      ],
      [
        "member's delegation token presented by an outsider",
        async () =>
          h.asUser(
            outsider,
            NSID.listRecords,
            { space: closed },
            { 'x-space-delegation': await h.delegation(member, closed) },
          ),
      ],
      [
        'credential for another space',
        async () => {
          const res = await credentialFetch(url(closed), { credential, dpopKey: key })
          return { status: res.status, text: await res.text() }
        },
      ],
    ]
    let leaked = 0
    for (const [name, send] of cases) {
      const r = await send()
      if (leaks(r, [SECRET, closed])) leaked++
      expect({ name, refused: r.status >= 400 }).toEqual({ name, refused: true })
    }
    tally({
      kind: 'unauthorized_reads',
      name: 'tokens from another audience',
      attempts: cases.length,
      count: leaked,
    })
    expect(leaked).toBe(0)
  })

  it('a removed member racing the admission cache is refused once the admission lapses', async () => {
    // Admitted (the authority says yes to a delegation token), then removed at the authority.
    const ok = await h.asUser(
      leaver,
      NSID.listRecords,
      { space: closed },
      { 'x-space-delegation': await h.delegation(leaver, closed) },
    )
    expect(ok.status).toBe(200)
    h.devnet.hosts[authority.host]?.spaceHost.get(closed)?.members.delete(leaver.did)
    const removedAt = Date.now()
    // Bounded staleness is the documented contract: reads may succeed for the admission TTL, never after.
    const deadline = removedAt + TTL_SEC * 1000 + 250
    let late = 0
    let total = 0
    let during = 0
    const racers = Array.from({ length: 4 }, async () => {
      while (Date.now() < removedAt + size.raceMs) {
        const sentAt = Date.now()
        // Half the racers keep presenting a fresh delegation token, asking to be re-admitted.
        const extra: Record<string, string> =
          total % 2 ? { 'x-space-delegation': await h.delegation(leaver, closed) } : {}
        const r = await h.asUser(leaver, NSID.listRecords, { space: closed }, extra)
        total++
        if (leaks(r, [SECRET])) {
          if (sentAt > deadline) late++
          else during++
        }
        await sleep(20)
      }
    })
    await Promise.all(racers)
    tally({
      kind: 'unauthorized_reads',
      name: `removed member racing the cache (${during} reads inside the ${TTL_SEC} s admission TTL)`,
      attempts: total,
      count: late,
    })
    expect(late).toBe(0)
    expect(total).toBeGreaterThan(10)
  })

  it('a member removed from a managed space is refused at once, even under concurrent reads', async () => {
    const admin = { authorization: `Bearer ${h.adminToken}` }
    expect((await h.post(NSID.addMember, { space: managed, did: managedMember.did }, admin)).status).toBe(200)
    expect((await h.asUser(managedMember, NSID.listRecords, { space: managed })).status).toBe(200)
    let removedAt = Infinity
    let late = 0
    let total = 0
    const stopAt = Date.now() + size.raceMs
    const readers = Array.from({ length: 4 }, async () => {
      while (Date.now() < stopAt) {
        const sentAt = Date.now()
        const r = await h.asUser(managedMember, NSID.listRecords, { space: managed })
        total++
        if (sentAt > removedAt && leaks(r, [SECRET])) late++
      }
    })
    await sleep(Math.min(300, size.raceMs / 4))
    expect((await h.post(NSID.removeMember, { space: managed, did: managedMember.did }, admin)).status).toBe(
      200,
    )
    removedAt = Date.now()
    await Promise.all(readers)
    tally({
      kind: 'unauthorized_reads',
      name: 'managed-space member removed under load',
      attempts: total,
      count: late,
    })
    expect(late).toBe(0)
  })
}
