/**
 * The Docker deployment, validated without a Docker engine: docker-compose.yml parses (and passes
 * `docker compose config` when a compose client is installed), its services, scaling, mounts and
 * environment are consistent and documented, Prometheus scrapes what compose runs, and the commands the
 * image runs name files that the repository or its TypeScript build actually provides.
 *
 * YAML is read with python3's PyYAML (see yaml.ts). The image is approximated by a scratch folder laid
 * out from the Dockerfile's runtime COPY steps around a real `tsc -p tsconfig.build.json` output, and
 * the CLI verbs the services run are started there with --help.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { QUEUE_NAMES } from '../../src/metrics/labels.js'
import { DEPLOY_ENV_VARS } from './env-vars.js'
import { loadYaml } from './yaml.js'

const ROOT = process.cwd()
const SPACEVIEW_SERVICES = ['api', 'workers', 'devnet']

interface Service {
  image?: string
  build?: string | { context: string }
  command?: string[]
  environment?: Record<string, string>
  ports?: string[]
  volumes?: string[]
  depends_on?: string[] | Record<string, { condition: string }>
  profiles?: string[]
  deploy?: { replicas?: number }
  container_name?: string
  healthcheck?: { test: string[] }
}
interface Compose {
  services: Record<string, Service>
  volumes?: Record<string, unknown>
}

const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')
const compose = loadYaml(join(ROOT, 'docker-compose.yml')) as Compose
const services = compose.services
const service = (name: string) => services[name] as Service
const documented = new Map(DEPLOY_ENV_VARS.map((v) => [v.name, v]))

/** The Dockerfile as instructions, continuation lines joined and comments dropped. */
function dockerfile(): Array<{ op: string; args: string; stage: string }> {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
  let stage = ''
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/)
      const args = rest.join(' ')
      if (op.toUpperCase() === 'FROM') stage = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? args
      return { op: op.toUpperCase(), args, stage }
    })
}

describe('docker-compose.yml', () => {
  const client = ['docker compose', 'docker-compose'].find(
    (c) => spawnSync('sh', ['-c', `${c} version`], { encoding: 'utf8' }).status === 0,
  )
  if (!client) {
    console.warn('SKIPPED `docker compose config`: no compose client (apt-get install -y docker-compose).')
  }
  ;(client ? it : it.skip)(
    `passes \`${client ?? 'docker compose'} config\` (schema and interpolation)`,
    () => {
      for (const profile of [[], ['--profile', 'devnet']]) {
        const r = spawnSync('sh', ['-c', `${client} -f docker-compose.yml ${profile.join(' ')} config -q`], {
          cwd: ROOT,
          encoding: 'utf8',
        })
        expect({ profile, status: r.status, stderr: r.stderr }).toEqual({ profile, status: 0, stderr: '' })
      }
    },
  )

  it('runs redis, clickhouse, prometheus, grafana, the API, workers and (optionally) devnet', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['api', 'clickhouse', 'devnet', 'grafana', 'prometheus', 'redis', 'workers'].sort(),
    )
    for (const [name, s] of Object.entries(services)) {
      expect({ name, imageOrBuild: Boolean(s.image || s.build) }).toEqual({ name, imageOrBuild: true })
      if (s.image) expect({ name, tagged: /:[\w.-]+$/.test(s.image) }).toEqual({ name, tagged: true })
    }
    for (const name of SPACEVIEW_SERVICES) {
      expect(service(name)).toMatchObject({ build: '.', image: 'spaceview:local' })
    }
    expect(service('devnet').profiles).toEqual(['devnet'])
    for (const [name, s] of Object.entries(services))
      if (name !== 'devnet') expect(s.profiles).toBeUndefined()
  })

  it('lets workers scale: replicas, no fixed container name, no host ports', () => {
    const workers = service('workers')
    expect(workers.deploy?.replicas).toBeGreaterThanOrEqual(1)
    expect(workers.container_name).toBeUndefined()
    expect(workers.ports).toBeUndefined()
    for (const s of Object.values(services)) expect(s.container_name).toBeUndefined()
  })

  it('depends only on defined services, mounts only existing paths, declares its volumes', () => {
    for (const [name, s] of Object.entries(services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {})
      for (const d of deps)
        expect({ name, dependsOn: d, defined: d in services }).toMatchObject({ defined: true })
      for (const v of s.volumes ?? []) {
        const [source = ''] = v.split(':')
        if (source.startsWith('.'))
          expect({ name, source, exists: existsSync(resolve(ROOT, source)) }).toMatchObject({ exists: true })
        else
          expect({ name, volume: source, declared: source in (compose.volumes ?? {}) }).toMatchObject({
            declared: true,
          })
      }
    }
  })

  it('documents every environment variable it sets or interpolates, and sets none that nothing reads', () => {
    const used = new Set<string>()
    for (const s of Object.values(services)) for (const key of Object.keys(s.environment ?? {})) used.add(key)
    for (const m of composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) used.add(m[1] as string)
    for (const { op, args } of dockerfile()) {
      if (op === 'ENV') for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)) used.add(m[1] as string)
    }
    expect([...used].filter((v) => !documented.has(v)).sort()).toEqual([])
    expect(DEPLOY_ENV_VARS.map((v) => v.name).filter((v) => !used.has(v))).toEqual([])
    for (const v of DEPLOY_ENV_VARS)
      expect({ name: v.name, described: v.description.length > 0 }).toMatchObject({ described: true })

    // Our own processes get only spaceview settings, and src/config.ts reads each of them.
    const config = readFileSync(join(ROOT, 'src', 'config.ts'), 'utf8')
    for (const name of SPACEVIEW_SERVICES) {
      for (const key of Object.keys(service(name).environment ?? {})) {
        expect({ service: name, key, readBy: documented.get(key)?.readBy }).toMatchObject({
          readBy: 'spaceview',
        })
      }
    }
    for (const v of DEPLOY_ENV_VARS.filter((x) => x.readBy === 'spaceview')) {
      expect({ name: v.name, readByConfig: new RegExp(`\\b${v.name}\\b`).test(config) }).toMatchObject({
        readByConfig: true,
      })
    }
  })

  it('gives api and workers the same shared settings', () => {
    const env = (name: string) => service(name).environment ?? {}
    for (const key of [
      'REDIS_URL',
      'CLICKHOUSE_URL',
      'CLICKHOUSE_DATABASE',
      'SPACEVIEW_SECRETS_KEY',
      'SPACEVIEW_ADMIN_TOKEN',
    ]) {
      expect({ key, api: env('api')[key] }).toEqual({ key, api: env('workers')[key] })
    }
    expect(env('api').REDIS_URL).toBe('redis://redis:6379')
    expect(env('api').CLICKHOUSE_URL).toBe('http://clickhouse:8123')
  })
})

describe('prometheus scrape targets', () => {
  const prometheus = loadYaml(join(ROOT, 'prometheus', 'prometheus.yml')) as {
    scrape_configs: Array<{
      job_name: string
      static_configs?: Array<{ targets: string[] }>
      dns_sd_configs?: Array<{ names: string[]; type: string; port: number }>
    }>
  }
  const metricsPort = (name: string) => Number(service(name).environment?.METRICS_PORT)

  it('are the api and every workers replica, on their METRICS_PORT', () => {
    const byJob = new Map(prometheus.scrape_configs.map((c) => [c.job_name, c]))
    expect(byJob.get('spaceview-api')?.static_configs).toEqual([{ targets: [`api:${metricsPort('api')}`] }])
    // DNS discovery of the compose service name finds every replica, however many are scaled up.
    expect(byJob.get('spaceview-workers')?.dns_sd_configs).toEqual([
      expect.objectContaining({ names: ['workers'], type: 'A', port: metricsPort('workers') }),
    ])
    for (const c of prometheus.scrape_configs) {
      for (const target of c.static_configs?.flatMap((s) => s.targets) ?? []) {
        const [host = ''] = target.split(':')
        expect({ job: c.job_name, host, known: host === 'localhost' || host in services }).toMatchObject({
          known: true,
        })
      }
      for (const name of c.dns_sd_configs?.flatMap((d) => d.names) ?? []) expect(name in services).toBe(true)
    }
  })

  it('match the healthchecks, which probe the same port', () => {
    for (const name of ['api', 'workers']) {
      expect(service(name).healthcheck?.test.join(' ')).toContain(`127.0.0.1:${metricsPort(name)}/metrics`)
    }
  })

  it('feed the Grafana datasource, which points at the prometheus service', () => {
    const ds = loadYaml(join(ROOT, 'grafana', 'provisioning', 'datasources', 'prometheus.yml')) as {
      datasources: Array<{ url: string }>
    }
    const url = new URL(ds.datasources[0]?.url ?? '')
    expect(url.hostname in services).toBe(true)
    expect(service('prometheus').ports).toContain(`${url.port}:${url.port}`)
    const provider = loadYaml(join(ROOT, 'grafana', 'provisioning', 'dashboards', 'spaceview.yml')) as {
      providers: Array<{ options: { path: string } }>
    }
    const dashboards = provider.providers[0]?.options.path ?? ''
    expect(service('grafana').volumes).toEqual(
      expect.arrayContaining([
        './grafana/provisioning:/etc/grafana/provisioning:ro',
        `./grafana/dashboards:${dashboards}:ro`,
      ]),
    )
    const home = service('grafana').environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? ''
    expect(existsSync(join(ROOT, 'grafana', 'dashboards', home.slice(dashboards.length)))).toBe(true)
    expect(service('prometheus').volumes).toContain('./prometheus:/etc/prometheus:ro')
  })
})

describe('Dockerfile and the commands the image runs', () => {
  const steps = dockerfile()
  const stages = [...new Set(steps.map((s) => s.stage))]
  const runtime = stages[stages.length - 1] as string
  const runtimeSteps = steps.filter((s) => s.stage === runtime)
  const scratch = mkdtempSync(join(tmpdir(), 'spaceview-image-'))
  /** The runtime image's /app, laid out from the Dockerfile's runtime COPY steps. */
  const app = join(scratch, 'app')

  beforeAll(() => {
    // The same build as `npm run build`, into the scratch image; tsc emits even with type errors elsewhere.
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')], {
      cwd: ROOT,
    })
    for (const step of runtimeSteps.filter((s) => s.op === 'COPY')) {
      const [source = '', dest = ''] = step.args.split(/\s+/).filter((a) => !a.startsWith('--'))
      const from = source.replace(/^\/app\//, '')
      const to = join(app, dest)
      if (from === 'dist') continue // built above
      if (from === 'node_modules') symlinkSync(join(ROOT, 'node_modules'), to, 'dir')
      else if (existsSync(join(ROOT, from))) cpSync(join(ROOT, from), to, { recursive: true })
      else throw new Error(`Dockerfile copies ${source}, which the repository does not have`)
    }
  }, 240_000)
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))

  it('builds on Node 22 in stages and runs the build', () => {
    const froms = steps.filter((s) => s.op === 'FROM').map((s) => s.args)
    expect(froms.length).toBeGreaterThanOrEqual(2)
    for (const f of froms) expect(f).toMatch(/^node:22-bookworm(-slim)?\b/)
    expect(steps.some((s) => s.op === 'RUN' && s.args.includes('npm run build'))).toBe(true)
    for (const s of steps.filter((x) => x.op === 'COPY' && x.args.includes('--from='))) {
      expect(stages).toContain(/--from=(\S+)/.exec(s.args)?.[1])
    }
    expect(runtimeSteps.find((s) => s.op === 'WORKDIR')?.args).toBe('/app')
  })

  it('keeps local state and dependencies out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')
    for (const entry of ['node_modules', 'dist', '.git', '.data', '.env']) expect(ignored).toContain(entry)
  })

  it('has CMD and compose commands that name files the image contains', () => {
    const cmd = runtimeSteps.find((s) => s.op === 'CMD')
    const commands: Array<[string, string[]]> = [
      ['Dockerfile CMD', JSON.parse(cmd?.args ?? '[]') as string[]],
    ]
    for (const name of SPACEVIEW_SERVICES) commands.push([name, service(name).command ?? []])
    for (const [where, argv] of commands) {
      expect({ where, runtime: argv[0] }).toEqual({ where, runtime: 'node' })
      const script = argv[1] ?? ''
      expect({ where, script, inImage: existsSync(join(app, script)) }).toMatchObject({ inImage: true })
    }
    expect(commands[0]?.[1]).toEqual(service('api').command)
  })

  it('starts the CLI verbs the services run (`--help` in the image layout)', () => {
    const verbs = SPACEVIEW_SERVICES.map((n) => service(n).command ?? [])
      .filter((argv) => argv[1] === 'bin/spaceview.mjs')
      .map((argv) => argv[2] as string)
    expect(verbs.sort()).toEqual(['api', 'worker'])
    for (const verb of verbs) {
      const r = spawnSync(process.execPath, ['bin/spaceview.mjs', verb, '--help'], {
        cwd: app,
        encoding: 'utf8',
        timeout: 30_000,
      })
      expect({ verb, status: r.status, stderr: r.stderr }).toMatchObject({ verb, status: 0 })
      expect(r.stdout).toContain(`spaceview ${verb}`)
    }
  })

  it('runs workers on queues the crawler defines', () => {
    const queuesArg = service('workers').command?.at(-1) ?? ''
    const fallback = /^\$\{SPACEVIEW_WORKER_QUEUES:-(.+)\}$/.exec(queuesArg)?.[1] ?? queuesArg
    expect(fallback.split(',').filter((q) => !(QUEUE_NAMES as readonly string[]).includes(q))).toEqual([])
  })
})
