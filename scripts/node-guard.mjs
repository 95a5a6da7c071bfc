// Refuses to run spaceview on a Node.js major other than 22. Current @atproto packages crash on Node 20
// in ways that look unrelated (missing globals deep inside a stack trace), so we stop early and say why.
export const REQUIRED_NODE_MAJOR = 22

export function checkNodeVersion(version = process.versions.node) {
  const major = Number(version.split('.')[0])
  if (major === REQUIRED_NODE_MAJOR) return null
  return (
    `spaceview needs Node.js ${REQUIRED_NODE_MAJOR}.x, but this is Node.js ${version}.\n` +
    `The project installs its own Node ${REQUIRED_NODE_MAJOR} as a dev dependency: run \`npm install\`, then use the ` +
    `npm scripts (npm start, npm test), or put ./node_modules/.bin first on PATH.`
  )
}

export function guardNodeVersion() {
  const problem = checkNodeVersion()
  if (problem) {
    process.stderr.write(problem + '\n')
    process.exit(1)
  }
}
