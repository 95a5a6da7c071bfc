/**
 * Typed client for the spaceview API, for apps (Node) and for our own CLI and tests. Built on @atproto/xrpc's
 * XrpcClient with our lexicons, so parameters are checked before sending and outputs after receiving.
 *
 * Authentication is per call, because each call needs its own proof: `auth` receives the method, HTTP
 * method and full URL and returns the headers to send —
 *   users:     { authorization: `Bearer ${serviceAuthJwt}` }   (iss = user DID, aud = spaceview's DID,
 *                                                                lxm = the NSID, fresh jti per call)
 *   services:  { authorization: `DPoP ${credential}`, dpop: proof(htm, htu = url, ath) }
 *   admin:     { authorization: `Bearer ${adminToken}` }
 * `delegationToken` (per call) sends the caller's delegation token for the space in X-Space-Delegation,
 * needed where the space authority decides access and the caller holds no live admission.
 * Errors are @atproto/xrpc XRPCErrors (`status`, `error`, `message`).
 */
import { XrpcClient } from '@atproto/xrpc'
import { DELEGATION_HEADER } from '../acl-filter/delegation-header.js'
import { loadLexicons, NSID } from './lexicons.js'
import type {
  CheckUserAccessOutput,
  CheckUserAccessParams,
  ExplainAccessOutput,
  ExplainAccessParams,
  GetRecordOutput,
  GetRecordParams,
  GetSpaceOutput,
  GetSpaceParams,
  GetSyncStatusOutput,
  GetSyncStatusParams,
  ListMembersOutput,
  ListMembersParams,
  ListRecordsOutput,
  ListRecordsParams,
  ListSpacesOutput,
  ListSpacesParams,
  MemberInput,
  MemberOutput,
} from './types.js'

export interface CallInfo {
  nsid: string
  method: 'GET' | 'POST'
  /** Absolute URL of the call without query: the DPoP `htu`. */
  url: string
}

export type AuthHeaders = (call: CallInfo) => Record<string, string> | Promise<Record<string, string>>

export interface SpaceViewClientOptions {
  /** Base URL of the spaceview API. */
  service: string | URL
  auth?: AuthHeaders
  fetch?: typeof globalThis.fetch
}

export interface CallOptions {
  /** The caller's delegation token for the space (sent as X-Space-Delegation). */
  delegationToken?: string
  headers?: Record<string, string>
  signal?: AbortSignal
}

export class SpaceViewClient {
  private readonly xrpc: XrpcClient
  private readonly service: URL

  constructor(private readonly opts: SpaceViewClientOptions) {
    this.service = new URL(opts.service)
    this.xrpc = new XrpcClient(
      { service: this.service, ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }) },
      loadLexicons(),
    )
  }

  private async call<O>(
    nsid: string,
    method: 'GET' | 'POST',
    params: object | undefined,
    body: object | undefined,
    opts: CallOptions,
  ): Promise<O> {
    const url = new URL(`/xrpc/${nsid}`, this.service).href
    const headers: Record<string, string> = {
      ...(await this.opts.auth?.({ nsid, method, url })),
      ...opts.headers,
    }
    if (opts.delegationToken !== undefined) headers[DELEGATION_HEADER] = opts.delegationToken
    const res = await this.xrpc.call(nsid, params as Record<string, unknown> | undefined, body, {
      headers,
      ...(body === undefined ? {} : { encoding: 'application/json' }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    })
    return res.data as O
  }

  listSpaces(params: ListSpacesParams = {}, opts: CallOptions = {}): Promise<ListSpacesOutput> {
    return this.call(NSID.listSpaces, 'GET', params, undefined, opts)
  }

  getSpace(params: GetSpaceParams, opts: CallOptions = {}): Promise<GetSpaceOutput> {
    return this.call(NSID.getSpace, 'GET', params, undefined, opts)
  }

  listRecords(params: ListRecordsParams, opts: CallOptions = {}): Promise<ListRecordsOutput> {
    return this.call(NSID.listRecords, 'GET', params, undefined, opts)
  }

  getRecord(params: GetRecordParams, opts: CallOptions = {}): Promise<GetRecordOutput> {
    return this.call(NSID.getRecord, 'GET', params, undefined, opts)
  }

  getSyncStatus(params: GetSyncStatusParams, opts: CallOptions = {}): Promise<GetSyncStatusOutput> {
    return this.call(NSID.getSyncStatus, 'GET', params, undefined, opts)
  }

  addMember(input: MemberInput, opts: CallOptions = {}): Promise<MemberOutput> {
    return this.call(NSID.addMember, 'POST', undefined, input, opts)
  }

  removeMember(input: MemberInput, opts: CallOptions = {}): Promise<MemberOutput> {
    return this.call(NSID.removeMember, 'POST', undefined, input, opts)
  }

  listMembers(params: ListMembersParams, opts: CallOptions = {}): Promise<ListMembersOutput> {
    return this.call(NSID.listMembers, 'GET', params, undefined, opts)
  }

  explainAccess(params: ExplainAccessParams, opts: CallOptions = {}): Promise<ExplainAccessOutput> {
    return this.call(NSID.explainAccess, 'GET', params, undefined, opts)
  }

  checkUserAccess(params: CheckUserAccessParams, opts: CallOptions = {}): Promise<CheckUserAccessOutput> {
    return this.call(NSID.checkUserAccess, 'GET', params, undefined, opts)
  }
}
