/**
 * dev.spaceview.admin.putDelegation: an app backend hands spaceview a fresh delegation token of a space
 * member (and a client attestation when the space gates on app identity); spaceview exchanges it at once
 * and, if the authority issues a credential, syncs the space (src/crawler/handed-delegation.ts).
 *
 * Invariants: admin-authenticated (constant-time, denied when no admin token is configured) before the
 * input is looked at; the token and attestation must be compact JWSs (400 InvalidRequest otherwise) and are
 * never logged or echoed; an authority refusal is answered 400 with the authority's error name, an
 * unreachable or misbehaving authority 502 UpstreamFailure; nothing is stored unless the exchange succeeded.
 */
import type { MethodConfig } from '@atproto/xrpc-server'
import { InvalidRequestError, UpstreamFailureError, type XRPCError } from '@atproto/xrpc-server'
import type { Logger } from 'pino'
import { SpaceDeletedError } from '../../crawler/credential-manager.js'
import type { HandedDelegation } from '../../crawler/handed-delegation.js'
import { isSpaceCallError, type SpaceCallError } from '../../crawler/space-errors.js'
import { isIdentityError } from '../../identity/identity-error.js'
import { adminAuth } from '../caller-auth.js'
import { invalidRequest } from '../errors.js'
import { spaceParam } from '../space-access.js'
import type { PutDelegationInput, PutDelegationOutput } from '../types.js'

export interface PutDelegationDeps {
  adminToken: string
  logger: Logger
  /** Exchanges the token and syncs the space (acceptHandedDelegation); throws the typed refusals. */
  accept(handed: HandedDelegation): Promise<{ expiresAt: number }>
}

type AdminCredentials = { credentials: 'admin' }

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const ERROR_NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/
/** Kinds that say the authority could not be asked or answered nonsense: not a refusal of the token. */
const UPSTREAM_KINDS: ReadonlySet<SpaceCallError['kind']> = new Set([
  'unavailable',
  'rate_limited',
  'bad_response',
  'blocked_address',
  'aborted',
  'not_supported',
])

function handedInput(body: unknown): HandedDelegation {
  const input = body as PutDelegationInput
  const { uri } = spaceParam(input.space)
  if (!COMPACT_JWS.test(input.token)) throw invalidRequest('token: not a compact JWS delegation token')
  if (input.clientAttestation !== undefined && !COMPACT_JWS.test(input.clientAttestation)) {
    throw invalidRequest('clientAttestation: not a compact JWS client attestation')
  }
  return {
    space: uri,
    delegationToken: input.token,
    ...(input.clientAttestation === undefined ? {} : { clientAttestation: input.clientAttestation }),
  }
}

/** The XRPC answer for a failed exchange, or undefined for errors that are ours (500). */
function refusal(err: unknown): XRPCError | undefined {
  if (err instanceof SpaceDeletedError) {
    return new InvalidRequestError('the space authority reports the space as deleted', 'SpaceDeleted')
  }
  if (isIdentityError(err)) {
    return err.retryable
      ? new UpstreamFailureError(`cannot resolve the space's authority: ${err.reason}`)
      : new InvalidRequestError(`the space's authority has no usable space host (${err.reason})`)
  }
  if (!isSpaceCallError(err)) return undefined
  if (UPSTREAM_KINDS.has(err.kind)) {
    return new UpstreamFailureError(`the space authority did not issue a credential (${err.kind})`)
  }
  const name = err.xrpcError !== undefined && ERROR_NAME.test(err.xrpcError) ? err.xrpcError : undefined
  return new InvalidRequestError(
    `the space authority refused the delegation token (${err.kind}${name ? `, ${name}` : ''})`,
    name,
  )
}

export function putDelegationMethod(deps: PutDelegationDeps): MethodConfig<AdminCredentials> {
  return {
    auth: adminAuth(deps),
    handler: async ({ input }) => {
      const handed = handedInput(input?.body)
      let expiresAt: number
      try {
        ;({ expiresAt } = await deps.accept(handed))
      } catch (err) {
        const answer = refusal(err)
        if (answer === undefined) throw err
        deps.logger.warn({ space: handed.space, error: answer.error }, 'handed delegation refused')
        throw answer
      }
      deps.logger.info({ space: handed.space }, 'handed delegation exchanged; space synced')
      const body: PutDelegationOutput = {
        space: handed.space,
        credentialExpiresAt: new Date(expiresAt * 1000).toISOString(),
      }
      return { encoding: 'application/json', body }
    },
  }
}
