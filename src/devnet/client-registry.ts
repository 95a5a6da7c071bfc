/**
 * OAuth client identities that devnet hosts itself, so `appAccess #allowList` spaces can be exercised end to
 * end: each client has a client metadata document at `{origin}/clients/{name}/client-metadata.json` (its URL
 * is the client_id) publishing its ES256 public key inline (`jwks`) or by reference (`jwks_uri`).
 *
 * Invariants: client keys are TEST KEYS derived from the seed (same seed, same client keys); the private
 * JWK is handed out so a syncer under test can sign its own attestations.
 */
import { createECDH } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { JWK } from 'jose'
import { createClientAttestation } from '../protocol/client-attestation.js'
import { derive } from './seeded.js'

export interface DevnetClient {
  name: string
  clientId: string
  kid: string
  /** TEST KEY: the client's private signing key (ES256). */
  privateJwk: JWK
  publicJwk: JWK
  /** Signs a fresh client attestation for a space of `spaceDid`. */
  attest(spaceDid: string, opts?: { expiresInSec?: number }): Promise<string>
}

export class ClientRegistry {
  private readonly clients = new Map<string, { client: DevnetClient; jwksByReference: boolean }>()

  constructor(
    private readonly seed: string,
    private readonly origin: string,
  ) {}

  register(name: string, opts: { jwksByReference?: boolean } = {}): DevnetClient {
    if (!/^[a-z0-9-]+$/.test(name)) throw new Error('client names are lowercase letters, digits and dashes')
    const ecdh = createECDH('prime256v1')
    ecdh.setPrivateKey(Buffer.from(derive(this.seed, 'client-key', name)))
    const pub = ecdh.getPublicKey()
    const kid = `devnet-${name}-1`
    const publicJwk: JWK = {
      kty: 'EC',
      crv: 'P-256',
      x: pub.subarray(1, 33).toString('base64url'),
      y: pub.subarray(33, 65).toString('base64url'),
      kid,
      alg: 'ES256',
      use: 'sig',
    }
    const privateJwk: JWK = { ...publicJwk, d: ecdh.getPrivateKey().toString('base64url') }
    const clientId = `${this.origin}/clients/${name}/client-metadata.json`
    const client: DevnetClient = {
      name,
      clientId,
      kid,
      privateJwk,
      publicJwk,
      attest: (spaceDid, attestOpts = {}) =>
        createClientAttestation({
          privateKey: privateJwk,
          alg: 'ES256',
          kid,
          clientId,
          spaceDid,
          ...(attestOpts.expiresInSec !== undefined ? { expiresInSec: attestOpts.expiresInSec } : {}),
        }),
    }
    this.clients.set(name, { client, jwksByReference: opts.jwksByReference ?? false })
    return client
  }

  get(name: string): DevnetClient | undefined {
    return this.clients.get(name)?.client
  }

  /** Serves `/clients/{name}/client-metadata.json` and `/clients/{name}/jwks.json`. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const match = /^\/clients\/([a-z0-9-]+)\/(client-metadata|jwks)\.json$/.exec(
      new URL(req.url ?? '/', this.origin).pathname,
    )
    const entry = match ? this.clients.get(match[1] as string) : undefined
    if (!match || !entry) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'NotFound', message: 'no such devnet client' }))
      return
    }
    const { client, jwksByReference } = entry
    const jwks = { keys: [client.publicJwk] }
    const jwksUri = `${this.origin}/clients/${client.name}/jwks.json`
    const body =
      match[2] === 'jwks'
        ? jwks
        : {
            client_id: client.clientId,
            client_name: `devnet ${client.name}`,
            application_type: 'web',
            redirect_uris: [`${this.origin}/clients/${client.name}/callback`],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            scope: 'atproto',
            token_endpoint_auth_method: 'private_key_jwt',
            token_endpoint_auth_signing_alg: 'ES256',
            dpop_bound_access_tokens: true,
            ...(jwksByReference ? { jwks_uri: jwksUri } : { jwks }),
          }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
}
