/**
 * The environment variables of the Docker deployment, documented in one list: compose.test.ts checks that
 * every variable docker-compose.yml sets or interpolates and every ENV of the Dockerfile is here, that
 * every entry is used by one of them, and that each one marked as a spaceview setting is read by
 * src/config.ts (so the deployment never sets a variable nobody reads).
 */

export interface EnvVar {
  name: string
  /** Who reads it: spaceview's config loader, an image's own entrypoint, or compose interpolation. */
  readBy: 'spaceview' | 'node' | 'clickhouse image' | 'grafana image' | 'compose'
  /** Default in docker-compose.yml (or in the app when compose passes it through empty). */
  default: string
  description: string
}

export const DEPLOY_ENV_VARS: readonly EnvVar[] = [
  {
    name: 'REDIS_URL',
    readBy: 'spaceview',
    default: 'redis://redis:6379',
    description: 'Redis for BullMQ queues, sessions and caches.',
  },
  {
    name: 'CLICKHOUSE_URL',
    readBy: 'spaceview',
    default: 'http://clickhouse:8123',
    description:
      'ClickHouse server HTTP endpoint; empty selects the embedded engine (chdb) under SPACEVIEW_DATA_DIR.',
  },
  {
    name: 'CLICKHOUSE_USER',
    readBy: 'spaceview',
    default: 'spaceview',
    description: 'ClickHouse user (also creates it in the clickhouse container).',
  },
  {
    name: 'CLICKHOUSE_PASSWORD',
    readBy: 'spaceview',
    default: 'spaceview',
    description:
      'ClickHouse password (also set in the clickhouse container); change it for anything but a trial.',
  },
  {
    name: 'CLICKHOUSE_DATABASE',
    readBy: 'spaceview',
    default: 'spaceview',
    description: 'ClickHouse database (created by the clickhouse container as CLICKHOUSE_DB).',
  },
  {
    name: 'METRICS_PORT',
    readBy: 'spaceview',
    default: '9464',
    description: 'Port of /metrics in every spaceview process; prometheus/prometheus.yml scrapes it.',
  },
  { name: 'LOG_LEVEL', readBy: 'spaceview', default: 'info', description: 'pino log level.' },
  {
    name: 'SPACEVIEW_DATA_DIR',
    readBy: 'spaceview',
    default: '/data (image)',
    description:
      'Where the embedded ClickHouse keeps its files when CLICKHOUSE_URL is empty (a volume in the image).',
  },
  {
    name: 'NODE_ENV',
    readBy: 'node',
    default: 'production (image)',
    description: 'Set by the image so libraries run in production mode.',
  },
  {
    name: 'SPACEVIEW_API_HOST',
    readBy: 'spaceview',
    default: '0.0.0.0',
    description: 'Interface the API binds (all interfaces inside a container).',
  },
  { name: 'SPACEVIEW_API_PORT', readBy: 'spaceview', default: '2590', description: 'Port of the XRPC API.' },
  {
    name: 'SPACEVIEW_SERVICE_DID',
    readBy: 'spaceview',
    default: '(empty)',
    description: "spaceview's service DID (did:web), where hosts deliver notifyWrite.",
  },
  {
    name: 'SPACEVIEW_PUBLIC_URL',
    readBy: 'spaceview',
    default: 'http://localhost:2590',
    description: 'Public origin of the API (the notifyWrite endpoint hosts call).',
  },
  {
    name: 'SPACEVIEW_ADMIN_TOKEN',
    readBy: 'spaceview',
    default: '(empty: admin methods off)',
    description:
      'Bearer token for dev.spaceview.admin.* (managed membership, explainAccess, putDelegation, startOAuthLogin).',
  },
  {
    name: 'SPACEVIEW_SECRETS_KEY',
    readBy: 'spaceview',
    default: '(empty)',
    description:
      'Hex 32-byte key encrypting sessions and credentials in Redis; the same for api and workers.',
  },
  {
    name: 'SPACEVIEW_PLC_URL',
    readBy: 'spaceview',
    default: 'https://plc.directory',
    description: "did:plc directory; devnet's DID directory when running the devnet profile.",
  },
  {
    name: 'SPACEVIEW_ALLOW_PRIVATE_ADDRESSES',
    readBy: 'spaceview',
    default: 'false',
    description: 'Let DID documents point at private addresses: only for devnet on the compose network.',
  },
  {
    name: 'SPACEVIEW_WORKER_CONCURRENCY',
    readBy: 'spaceview',
    default: '64',
    description: 'Jobs one worker process runs at once, per queue.',
  },
  {
    name: 'SPACEVIEW_SYNC_CONCURRENCY',
    readBy: 'spaceview',
    default: '256',
    description: 'Jobs one worker process runs at once on the repo-sync queue (a busy repo keeps its slot).',
  },
  {
    name: 'SPACEVIEW_HOST_CONCURRENCY',
    readBy: 'spaceview',
    default: '4',
    description: 'Concurrent requests to one host.',
  },
  {
    name: 'SPACEVIEW_HOST_RPS',
    readBy: 'spaceview',
    default: '50',
    description: 'Requests per second to one host.',
  },
  {
    name: 'SPACEVIEW_SWEEP_INTERVAL_SEC',
    readBy: 'spaceview',
    default: '300',
    description: 'Seconds between listRepos sweeps of a space (convergence when notifications are lost).',
  },
  {
    name: 'SPACEVIEW_JOB_ATTEMPTS',
    readBy: 'spaceview',
    default: '5',
    description: 'Attempts per job before it goes to the dead-letter queue.',
  },
  {
    name: 'SPACEVIEW_WORKER_QUEUES',
    readBy: 'compose',
    default: 'space-bootstrap,repo-sync,repo-recovery,sweep,notify-renewal',
    description: 'Queues the workers service consumes (its `worker --queues` argument).',
  },
  {
    name: 'CLICKHOUSE_DB',
    readBy: 'clickhouse image',
    default: 'CLICKHOUSE_DATABASE',
    description: 'Database the clickhouse container creates.',
  },
  {
    name: 'CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT',
    readBy: 'clickhouse image',
    default: '1',
    description: 'Lets CLICKHOUSE_USER manage access (create users and grants) in the clickhouse container.',
  },
  {
    name: 'PROMETHEUS_RETENTION',
    readBy: 'compose',
    default: '15d',
    description: 'How long Prometheus keeps samples (its --storage.tsdb.retention.time).',
  },
  { name: 'GRAFANA_ADMIN_USER', readBy: 'compose', default: 'admin', description: 'Grafana admin user.' },
  {
    name: 'GRAFANA_ADMIN_PASSWORD',
    readBy: 'compose',
    default: 'admin',
    description: 'Grafana admin password; change it for anything but a trial.',
  },
  {
    name: 'GF_SECURITY_ADMIN_USER',
    readBy: 'grafana image',
    default: 'GRAFANA_ADMIN_USER',
    description: 'Grafana admin user, from GRAFANA_ADMIN_USER.',
  },
  {
    name: 'GF_SECURITY_ADMIN_PASSWORD',
    readBy: 'grafana image',
    default: 'GRAFANA_ADMIN_PASSWORD',
    description: 'Grafana admin password, from GRAFANA_ADMIN_PASSWORD.',
  },
  {
    name: 'GF_USERS_ALLOW_SIGN_UP',
    readBy: 'grafana image',
    default: 'false',
    description: 'No self sign-up.',
  },
  {
    name: 'GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH',
    readBy: 'grafana image',
    default: 'sync-overview.json',
    description: 'Grafana opens on the sync overview dashboard.',
  },
]
