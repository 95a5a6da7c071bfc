/**
 * YAML for the deployment tests, read through python3's PyYAML: package.json has no YAML library and the
 * files under test (compose, Prometheus, Grafana provisioning) are ordinary block YAML with anchors.
 * PyYAML's safe_load is a full YAML 1.1 parser, which is what docker compose and Prometheus accept too.
 */
import { spawnSync } from 'node:child_process'

const LOAD =
  'import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1], encoding="utf-8")), default=str))'
const CANDIDATES = ['python3', '/usr/bin/python3']

let interpreter: string | undefined

/** The first python3 that can `import yaml`. */
function python(): string {
  if (interpreter) return interpreter
  for (const candidate of CANDIDATES) {
    const r = spawnSync(candidate, ['-c', 'import yaml'], { encoding: 'utf8' })
    if (r.status === 0) return (interpreter = candidate)
  }
  throw new Error(
    'No python3 with PyYAML found, and the deployment tests parse YAML with it. ' +
      'Install it: `apt-get install -y python3-yaml` (CI must install it too).',
  )
}

export function loadYaml(file: string): unknown {
  const r = spawnSync(python(), ['-c', LOAD, file], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`YAML parse of ${file} failed:\n${r.stderr}`)
  return JSON.parse(r.stdout)
}
