// SSRF refusals under the production endpoint policy: DID documents and redirects pointing inside.
import { describeSsrf } from './lib/ssrf.js'

describeSsrf()
