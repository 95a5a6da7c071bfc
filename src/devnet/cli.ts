/**
 * Command line for devnet (`npm run devnet -- <flags>`): parses flags, starts the network, prints what a
 * syncer needs to point at it (endpoints, spaces, a credential-ready indexer account and client key, the
 * admin token) and runs until SIGINT/SIGTERM. Startup time and memory are reported so large runs can be
 * sized.
 *
 * Invariants: unknown flags and bad values fail before anything starts, with a message naming the flag;
 * `--json` prints one machine-readable JSON document on stdout (logs go to stderr).
 */
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { startDevnet, type Devnet, type DevnetOptions } from './devnet.js'
import { DEFAULT_ENCODED_RECORD_CACHE_BYTES } from './encoded-record-cache.js'
import { DEFAULT_NETWORK, POLICY_MODES, type PolicyMode } from './generator.js'

export const HELP = `devnet — a simulated atproto permissioned-data network on 127.0.0.1 (TEST KEYS ONLY)

Usage: npm run devnet -- [flags]

Network shape (same --seed and shape ⇒ same DIDs, keys, records and CIDs):
  --spaces N               spaces to generate (default ${DEFAULT_NETWORK.spaces})
  --writers-per-space W    distinct writers per space; the first is its authority (default ${DEFAULT_NETWORK.writersPerSpace})
  --records R              current records per writer per space (default ${DEFAULT_NETWORK.records})
  --hosts H                PDS-like hosts (default ${DEFAULT_NETWORK.hosts})
  --seed S                 seed for every derived identifier and key (default "devnet")
  --accounts A             account pool size (default min(N·W, 10000), at least W)
  --history-every E        update one record and churn one ghost per E records; 0 = creates only (default ${DEFAULT_NETWORK.historyEvery})
  --batch-size B           ops per generated write batch (default ${DEFAULT_NETWORK.batchSize})
  --policy P               ${POLICY_MODES.join(' | ')} (default ${DEFAULT_NETWORK.policy})
  --allow-list-fraction F  share of spaces gated by an app allow list (default ${DEFAULT_NETWORK.allowListFraction})

Serving:
  --port P                 network server port: DID directory, relay, admin, clients (default: ephemeral)
  --host-port-base P       host i listens on P+i (default: ephemeral)
  --registration-ttl S     registerNotify lifetime in seconds (default 86400)
  --write-rate X           start the write driver at X writes/s
  --materialize            compute every repo's set hash at startup (otherwise lazily) and report the time
  --record-cache-mib M     memory for encoded generated records, reused by getRepo (default ${DEFAULT_ENCODED_RECORD_CACHE_BYTES / 1024 / 1024}; 0 = off)
  --show-spaces K          spaces to list in the summary (default 20)
  --log-level L            pino level for stderr logs (default info; "silent" to mute)
  --json                   print the summary as JSON
  --help                   this text

Auth: reads need a space credential + DPoP (get one with the printed indexer account: getDelegationToken on
its PDS with "Authorization: Bearer <accessToken>", then getSpaceCredential at the space host). Writes and
simplespace management use "Authorization: Bearer <account accessToken>" in place of OAuth.
Admin API: ${'`'}Authorization: Bearer <adminToken>${'`'} on {plcUrl}/admin/… (faults, account status, ground truth).
`

export interface CliConfig {
  options: DevnetOptions
  writeRate?: number
  materialize: boolean
  showSpaces: number
  json: boolean
  logLevel: string
}

function num(
  flag: string,
  value: string | undefined,
  opts: { int?: boolean; min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  const bad =
    !Number.isFinite(n) ||
    (opts.int && !Number.isInteger(n)) ||
    (opts.min !== undefined && n < opts.min) ||
    (opts.max !== undefined && n > opts.max)
  if (bad) {
    const range = `${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}${opts.max !== undefined ? ` <= ${opts.max}` : ''}`
    throw new Error(`--${flag} must be ${range} (got "${value}")`)
  }
  return n
}

/** Parses argv; returns null when --help was asked for. */
export function parseCli(argv: string[]): CliConfig | null {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      spaces: { type: 'string' },
      'writers-per-space': { type: 'string' },
      records: { type: 'string' },
      hosts: { type: 'string' },
      seed: { type: 'string' },
      accounts: { type: 'string' },
      'history-every': { type: 'string' },
      'batch-size': { type: 'string' },
      policy: { type: 'string' },
      'allow-list-fraction': { type: 'string' },
      port: { type: 'string' },
      'host-port-base': { type: 'string' },
      'registration-ttl': { type: 'string' },
      'write-rate': { type: 'string' },
      materialize: { type: 'boolean' },
      'record-cache-mib': { type: 'string' },
      'show-spaces': { type: 'string' },
      'log-level': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  })
  if (values.help) return null
  const policy = values.policy
  if (policy !== undefined && !POLICY_MODES.includes(policy as PolicyMode)) {
    throw new Error(`--policy must be one of ${POLICY_MODES.join(', ')} (got "${policy}")`)
  }
  const hosts = num('hosts', values.hosts, { int: true, min: 1 })
  const portBase = num('host-port-base', values['host-port-base'], { int: true, min: 1, max: 65535 })
  const options: DevnetOptions = {
    ...(values.seed !== undefined ? { seed: values.seed } : {}),
    ...(policy !== undefined ? { policy: policy as PolicyMode } : {}),
  }
  const set = <K extends keyof DevnetOptions>(key: K, value: DevnetOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value
  }
  set('spaces', num('spaces', values.spaces, { int: true, min: 0 }))
  set('writersPerSpace', num('writers-per-space', values['writers-per-space'], { int: true, min: 1 }))
  set('records', num('records', values.records, { int: true, min: 1 }))
  set('hosts', hosts)
  set('accounts', num('accounts', values.accounts, { int: true, min: 1 }))
  set('historyEvery', num('history-every', values['history-every'], { int: true, min: 0 }))
  set('batchSize', num('batch-size', values['batch-size'], { int: true, min: 1 }))
  set('allowListFraction', num('allow-list-fraction', values['allow-list-fraction'], { min: 0, max: 1 }))
  set('port', num('port', values.port, { int: true, min: 0, max: 65535 }))
  set('registrationTtlSec', num('registration-ttl', values['registration-ttl'], { int: true, min: 1 }))
  const cacheMib = num('record-cache-mib', values['record-cache-mib'], { min: 0 })
  set('encodedRecordCacheBytes', cacheMib === undefined ? undefined : Math.floor(cacheMib * 1024 * 1024))
  if (portBase !== undefined) {
    options.hostPorts = Array.from({ length: hosts ?? DEFAULT_NETWORK.hosts }, (_, i) => portBase + i)
  }
  const writeRate = num('write-rate', values['write-rate'], { min: 0 })
  return {
    options,
    ...(writeRate ? { writeRate } : {}),
    materialize: values.materialize ?? false,
    showSpaces: num('show-spaces', values['show-spaces'], { int: true, min: 0 }) ?? 20,
    json: values.json ?? false,
    logLevel: values['log-level'] ?? 'info',
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024)
}

export interface DevnetSummary {
  seed: string
  shape: { spaces: number; writersPerSpace: number; records: number; hosts: number; accounts: number }
  endpoints: { plcUrl: string; relay: string; admin: string; adminToken: string; hosts: string[] }
  indexer: {
    did: string
    handle: string
    pds: string
    accessToken: string
    clientId: string
    clientKey: unknown
    note: string
  }
  managingApp: string
  spaces: {
    total: number
    listed: Array<{ uri: string; spaceHost: string; policy: string; appAccess: string; writers: number }>
  }
  timing: Record<string, number>
  memory: { rssMiB: number; heapUsedMiB: number }
}

/** What the CLI prints: everything a syncer under test needs to find and authenticate to the network. */
export function summary(devnet: Devnet, timing: Record<string, number>, showSpaces: number): DevnetSummary {
  const spaces = devnet.spaces()
  const origin = (host: number) => devnet.hosts[host]?.origin ?? ''
  return {
    seed: devnet.seed,
    shape: {
      spaces: devnet.shape.spaces,
      writersPerSpace: devnet.shape.writersPerSpace,
      records: devnet.shape.records,
      hosts: devnet.shape.hosts,
      accounts: devnet.pool.length,
    },
    endpoints: {
      plcUrl: devnet.plcUrl,
      relay: `${devnet.relayUrl}/xrpc/com.atproto.sync.subscribeRepos`,
      admin: devnet.adminUrl,
      adminToken: devnet.adminToken,
      hosts: devnet.hosts.map((h) => h.origin),
    },
    indexer: {
      did: devnet.indexer.did,
      handle: devnet.indexer.handle,
      pds: origin(devnet.indexer.host),
      accessToken: devnet.indexer.accessToken,
      clientId: devnet.clients.indexer.clientId,
      clientKey: devnet.clients.indexer.privateJwk,
      note: 'TEST credentials: admitted to every generated space; attest with clientKey for #allowList spaces',
    },
    managingApp: devnet.managingApp.serviceId,
    spaces: {
      total: spaces.length,
      listed: spaces.slice(0, showSpaces).map((s) => ({
        uri: s.uri,
        spaceHost: origin(s.host),
        policy: s.policy.$type.split('#')[1] ?? s.policy.$type,
        appAccess: s.appAccess.$type.split('#')[1] ?? s.appAccess.$type,
        writers: s.writers.length,
      })),
    },
    timing,
    memory: { rssMiB: mib(process.memoryUsage().rss), heapUsedMiB: mib(process.memoryUsage().heapUsed) },
  }
}

function printText(s: DevnetSummary): string {
  const lines = [
    `devnet seed "${s.seed}": ${s.shape.spaces} spaces × ${s.shape.writersPerSpace} writers × ${s.shape.records} records on ${s.shape.hosts} hosts (${s.shape.accounts} accounts)`,
    '',
    `DID directory (plcUrl)  ${s.endpoints.plcUrl}`,
    `relay (subscribeRepos)  ${s.endpoints.relay}`,
    `admin API               ${s.endpoints.admin}   (Bearer ${s.endpoints.adminToken})`,
    ...s.endpoints.hosts.map((h, i) => `host ${i}`.padEnd(24) + h),
    '',
    'indexer account (TEST credentials, admitted to every generated space):',
    `  did          ${s.indexer.did}`,
    `  pds          ${s.indexer.pds}`,
    `  accessToken  ${s.indexer.accessToken}`,
    `  clientId     ${s.indexer.clientId}`,
    `  clientKey    ${JSON.stringify(s.indexer.clientKey)}`,
    '',
    `spaces (${s.spaces.listed.length} of ${s.spaces.total}):`,
    ...s.spaces.listed.map(
      (x) => `  ${x.uri}  host=${x.spaceHost} policy=${x.policy} app=${x.appAccess} writers=${x.writers}`,
    ),
    '',
    `startup ${Object.entries(s.timing)
      .map(([k, v]) => `${k}=${v}ms`)
      .join(' ')}  rss=${s.memory.rssMiB}MiB heap=${s.memory.heapUsedMiB}MiB`,
  ]
  return lines.join('\n')
}

/** Runs the CLI; resolves with the exit code once the network has been shut down. */
export async function runDevnetCli(argv: string[]): Promise<number> {
  let config: CliConfig | null
  try {
    config = parseCli(argv)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\nRun with --help for usage.\n`)
    return 2
  }
  if (!config) {
    process.stdout.write(HELP)
    return 0
  }
  const logger = pino({ level: config.logLevel }, pino.destination(2))
  const t0 = performance.now()
  const devnet = await startDevnet({ ...config.options, logger })
  const timing: Record<string, number> = { start: Math.round(performance.now() - t0) }
  if (config.materialize) {
    let last = 0
    const { ms } = await devnet.materialize((done, total) => {
      if (performance.now() - last > 5000) {
        last = performance.now()
        logger.info({ done, total }, 'materializing set hashes')
      }
    })
    timing['materialize'] = Math.round(ms)
  }
  const s = summary(devnet, timing, config.showSpaces)
  process.stdout.write(config.json ? `${JSON.stringify(s)}\n` : `${printText(s)}\n`)
  if (config.writeRate) devnet.startWriteDriver({ ratePerSec: config.writeRate })
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  logger.info('shutting devnet down')
  await devnet.close()
  return 0
}
