// SSRF refusals under the production endpoint policy (regular suite; the hostile suite runs the same cases).
import { describeSsrf } from './lib/ssrf.js'

describeSsrf()
