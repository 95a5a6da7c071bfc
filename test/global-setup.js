// Runs once before the suite: refuse the wrong Node.js and make sure the services tests talk to are there.
import { guardNodeVersion } from '../scripts/node-guard.mjs'

export default async function globalSetup() {
  guardNodeVersion()
}
