/**
 * The API scenario: after a setup backfill, dev.spaceview.listRecords through the ACL (space credential +
 * DPoP per request, credentials obtained through devnet's real flow) at --api-rate for --api-seconds, then
 * the same pages from the same store in the same process without authentication or ACL (the baseline row).
 */
import { type ProfileSummary } from './profile.js'
import { planAclRequests, planPlainRequests, runApiLoad, type ApiRowResult } from './api-load.js'
import {
  clickhouseChart,
  commonBins,
  figure,
  histogramSeries,
  resourceFigures,
  type Figure,
} from './measurements.js'
import type { SpaceviewStats } from './spaceview-process.js'
import { openNetwork, startSpaceview, waitUntil, type RunEnv, type SpaceviewHandle } from './systems.js'
import {
  baseResult,
  finish,
  fmt,
  jobNote,
  profileOf,
  shapeFor,
  spaceviewErrors,
  stopQuietly,
  svRecorder,
  type ScenarioOutput,
  type SvPhase,
} from './scenario-common.js'
import { apiTargets } from './scenario-writes.js'

// ---------------------------------------------------------------------------------------------- api

async function apiRow(
  env: RunEnv,
  sv: SpaceviewHandle,
  label: string,
  url: string,
  plan: () => ReturnType<typeof planAclRequests>,
): Promise<{ row: ApiRowResult; phase: SvPhase }> {
  const requests = plan()
  const rec = svRecorder(env, sv, label)
  await rec.start()
  env.log(`[api] ${label}: ${requests.length} requests at ${env.opts.apiRate}/s`)
  const row = await runApiLoad(url, requests, env.opts.apiRate)
  const phase = await rec.stop()
  return { row, phase }
}

export async function runApi(env: RunEnv): Promise<ScenarioOutput> {
  const startedAt = Date.now()
  const shape = shapeFor('api', env.opts)
  const net = await openNetwork(env, shape, 'api')
  const result = baseResult('api', shape, net, startedAt)
  let sv: SpaceviewHandle | undefined
  let acl: { row: ApiRowResult; phase: SvPhase } | undefined
  let plain: { row: ApiRowResult; phase: SvPhase } | undefined
  let profile: ProfileSummary | undefined
  const { opts } = env
  try {
    sv = await startSpaceview(env, net, 'api')
    const handle = sv
    await handle.child.request('expect', { records: net.expected })
    await handle.child.request('addSpaces', { spaces: net.spaces, session: net.session })
    env.log(`[api] setup: spaceview backfills ${fmt(net.expected)} records (not measured)`)
    await waitUntil(
      async () => (await handle.child.request<SpaceviewStats>('stats')).visibility.reachedAt !== null,
      opts.timeoutSec * 1000,
      500,
    )
    // Steady state, as bench:merge reads: the backfill's parts are merged before the window opens.
    const settled = await handle.child.request<number>('settle', { maxSec: 30 })
    result.notes.push(
      `store merges settled ${settled.toFixed(1)} s after the setup backfill, before the API load`,
    )
    const targets = await apiTargets(net, Math.min(20, net.spaces.length))
    const count = Math.round(opts.apiRate * opts.apiSeconds)
    // Probe: one request per target must be admitted, or the row would measure refusals.
    const probe = planAclRequests({
      publicUrl: handle.publicUrl,
      targets,
      count: targets.length,
      rate: 1000,
      limit: opts.apiLimit,
      iatBase: Date.now() / 1000,
    })
    for (const p of probe) {
      const res = await fetch(`${handle.apiUrl}${p.path}`, { headers: p.headers })
      const body = await res.text()
      if (res.status !== 200) result.notes.push(`probe ${res.status}: ${body.slice(0, 200)}`)
    }
    acl = await apiRow(env, handle, 'listRecords with ACL', handle.apiUrl, () =>
      planAclRequests({
        publicUrl: handle.publicUrl,
        targets,
        count,
        rate: opts.apiRate,
        limit: opts.apiLimit,
        iatBase: Date.now() / 1000,
      }),
    )
    await new Promise((r) => setTimeout(r, 1000))
    plain = await apiRow(env, handle, 'same page without ACL', handle.plainUrl, () =>
      planPlainRequests(
        targets.map((t) => t.space),
        count,
        opts.apiLimit,
      ),
    )
    await handle.child.stop()
    profile = profileOf(handle)
    sv = undefined
  } finally {
    await stopQuietly(sv)
    await net.devnet.close()
  }
  result.params = {
    offeredRate: opts.apiRate,
    seconds: opts.apiSeconds,
    limit: opts.apiLimit,
    spacesRead: Math.min(20, net.spaces.length),
  }
  const a = acl?.row
  const b = plain?.row
  const caveat = opts.apiRate < 2000 ? { caveat: `offered ${opts.apiRate} req/s, not 2,000` } : {}
  const fig: Figure[] = [
    figure(
      'api_p50_ms',
      'listRecords p50 (ACL: credential + DPoP; baseline: same page, no ACL)',
      'ms',
      a?.latency.p50,
      b?.latency.p50,
      'lower',
    ),
    figure('api_p95_ms', 'listRecords p95', 'ms', a?.latency.p95, b?.latency.p95, 'lower'),
    figure('api_p99_ms', 'listRecords p99', 'ms', a?.latency.p99, b?.latency.p99, 'lower', {
      target: { op: '<', value: 20, ...caveat },
    }),
    figure('api_max_ms', 'listRecords max', 'ms', a?.latency.max, b?.latency.max, 'lower'),
    figure(
      'api_throughput',
      `listRecords ok/s (offered ${opts.apiRate}/s)`,
      'req/s',
      a?.throughput,
      b?.throughput,
      'higher',
      {
        target: { op: '>=', value: 2000 * 0.98, ...caveat },
        digits: 0,
      },
    ),
    figure('api_errors', 'errors (non-200)', 'requests', a?.errors, b?.errors, 'lower', { digits: 0 }),
    figure('api_dropped', 'dropped (over the in-flight cap)', 'requests', a?.dropped, b?.dropped, 'lower', {
      digits: 0,
    }),
    ...resourceFigures(acl?.phase, plain?.phase, 'spaceview').map((f) => ({
      ...f,
      note: 'spaceview process: ACL row vs no-ACL row',
    })),
  ]
  result.figures.push(...fig)
  if (a) result.latency['listRecords ACL'] = a.latency
  if (b) result.latency['listRecords no ACL'] = b.latency
  if (a)
    result.errors['spaceview (ACL)'] = {
      ...a.errorsByStatus,
      ...(a.dropped ? { dropped: a.dropped } : {}),
      ...spaceviewErrors(acl?.phase),
    }
  if (b)
    result.errors['spaceview (no ACL)'] = {
      ...b.errorsByStatus,
      ...(b.dropped ? { dropped: b.dropped } : {}),
    }
  const [ha, hb] = commonBins(a?.samples ?? [], b?.samples ?? [])
  result.histograms['api_acl'] = ha
  result.histograms['api_no_acl'] = hb
  const perSec = (r: ApiRowResult | undefined, key: 'ok' | 'p99') =>
    (r?.perSecond ?? []).map((p) => ({ t: p.t * 1000, v: key === 'ok' ? p.ok : (p.p99 ?? NaN) / 1000 }))
  result.charts.push(
    {
      title: 'listRecords latency histogram (x: latency)',
      kind: 'latency',
      unit: 'count',
      series: [histogramSeries('with ACL', ha), histogramSeries('no ACL', hb)],
    },
    {
      title: 'listRecords ok/s',
      kind: 'time',
      unit: 'per_second',
      series: [
        { name: 'with ACL', points: perSec(a, 'ok') },
        { name: 'no ACL', points: perSec(b, 'ok') },
      ],
    },
    {
      title: 'listRecords p99 per second',
      kind: 'time',
      unit: 'seconds',
      series: [
        { name: 'with ACL', points: perSec(a, 'p99') },
        { name: 'no ACL', points: perSec(b, 'p99') },
      ],
    },
    clickhouseChart([
      ['with ACL', acl?.phase],
      ['no ACL', plain?.phase],
    ]),
  )
  result.notes.push(jobNote(acl?.phase))
  result.notes.push(
    'the baseline row is the same page from the same store in the same process, without authentication, ACL or lexicon ' +
      'validation; ratios are ACL / no ACL',
    'DPoP proofs are signed before the window (node:crypto) so the load generator spends no CPU signing while it measures',
  )
  const out: ScenarioOutput = { result: finish(result, startedAt, acl?.phase, plain?.phase) }
  if (profile) out.profile = profile
  return out
}
