/**
 * TypeScript types of the API's lexicons (lexicons/dev/spaceview, and checkUserAccess), written by hand:
 * no lexicon code generator is a declared dependency. `SHAPES` lists, per method and per shared object, each
 * property and whether it is required; `satisfies ShapeOf<T>` makes the compiler hold those lists to the
 * interfaces exactly (same keys, same optionality), and test/api/lexicon-types.test.ts holds them to the
 * lexicon JSON — so types and lexicons cannot drift apart silently.
 *
 * `knownValues` strings are open unions (`KnownOr<...>`): a newer server may send values this client does
 * not know yet.
 */

export type KnownOr<T extends string> = T | (string & NonNullable<unknown>)

export type AccessReason = 'authority' | 'public' | 'member' | 'credential' | 'space_credential'

export interface AccessView {
  reason: KnownOr<AccessReason>
  /** ISO datetime after which the admission must be taken again. */
  until?: string
}

export interface PolicyView {
  kind: KnownOr<'public' | 'memberList' | 'managingApp' | 'unknown'>
  managingApp?: string
  managedHere?: boolean
  appAccess?: KnownOr<'open' | 'allowList' | 'unknown'>
}

export interface WritersSummary {
  total: number
  synced: number
  recovering: number
  failed: number
  hidden: number
  lastSyncedAt?: string
}

export interface SpaceView {
  uri: string
  authority: string
  spaceType: string
  skey: string
  access: AccessView
  policy: PolicyView
  recordCount?: number
  writers?: WritersSummary
}

export type WriterState = 'synced' | 'recovering' | 'failed' | 'hidden'

export interface WriterStatus {
  did: string
  state: KnownOr<WriterState>
  rev?: string
  lagSeconds?: number
  accountStatus: KnownOr<'active' | 'deactivated' | 'takendown' | 'suspended' | 'deleted'>
  updatedAt: string
}

export interface RecordView {
  uri: string
  cid: string
  author: string
  collection: string
  rkey: string
  rev?: string
  value: unknown
  indexedAt: string
}

export interface ListSpacesParams {
  limit?: number
  cursor?: string
}
export interface ListSpacesOutput {
  spaces: SpaceView[]
  cursor?: string
}

export interface GetSpaceParams {
  space: string
}
export type GetSpaceOutput = SpaceView

export interface ListRecordsParams {
  space: string
  collection?: string
  author?: string
  limit?: number
  cursor?: string
  reverse?: boolean
}
export interface ListRecordsOutput {
  records: RecordView[]
  cursor?: string
}

export interface GetRecordParams {
  uri: string
}
export type GetRecordOutput = RecordView

export interface GetSyncStatusParams {
  space: string
  author?: string
  limit?: number
  cursor?: string
}
export interface GetSyncStatusOutput {
  space: string
  writers: WriterStatus[]
  cursor?: string
}

export interface MemberInput {
  space: string
  did: string
}
export type MemberOutput = Record<string, never>

export interface PutDelegationInput {
  space: string
  token: string
  clientAttestation?: string
}
export interface PutDelegationOutput {
  space: string
  credentialExpiresAt: string
}

export interface StartOAuthLoginInput {
  space: string
  identifier: string
}
export interface StartOAuthLoginOutput {
  authorizationUrl: string
}

export interface ListMembersParams {
  space: string
  limit?: number
  cursor?: string
}
export interface ListMembersOutput {
  members: string[]
  cursor?: string
}

export interface ExplainAccessParams {
  space: string
  did: string
}
export interface ExplainStep {
  check: string
  result: string
}
export interface ExplainAccessOutput {
  space: string
  did: string
  outcome: KnownOr<'allow' | 'deny'>
  reason: string
  until?: string
  steps: ExplainStep[]
}

export interface CheckUserAccessParams {
  space: string
  user: string
  clientId?: string
}
export interface CheckUserAccessOutput {
  authorized: boolean
}

/** For each property of T: whether the lexicon must list it as required (optional keys are optional). */
export type ShapeOf<T> = {
  [K in keyof Required<T>]-?: Record<never, never> extends Pick<T, K> ? 'optional' : 'required'
}

export interface MethodShape {
  params?: Record<string, 'optional' | 'required'>
  input?: Record<string, 'optional' | 'required'>
  output?: Record<string, 'optional' | 'required'>
}

const MEMBER_INPUT = { space: 'required', did: 'required' } as const satisfies ShapeOf<MemberInput>

export const SHAPES = {
  methods: {
    'dev.spaceview.listSpaces': {
      params: { limit: 'optional', cursor: 'optional' } satisfies ShapeOf<ListSpacesParams>,
      output: { spaces: 'required', cursor: 'optional' } satisfies ShapeOf<ListSpacesOutput>,
    },
    'dev.spaceview.getSpace': {
      params: { space: 'required' } satisfies ShapeOf<GetSpaceParams>,
    },
    'dev.spaceview.listRecords': {
      params: {
        space: 'required',
        collection: 'optional',
        author: 'optional',
        limit: 'optional',
        cursor: 'optional',
        reverse: 'optional',
      } satisfies ShapeOf<ListRecordsParams>,
      output: { records: 'required', cursor: 'optional' } satisfies ShapeOf<ListRecordsOutput>,
    },
    'dev.spaceview.getRecord': {
      params: { uri: 'required' } satisfies ShapeOf<GetRecordParams>,
    },
    'dev.spaceview.getSyncStatus': {
      params: {
        space: 'required',
        author: 'optional',
        limit: 'optional',
        cursor: 'optional',
      } satisfies ShapeOf<GetSyncStatusParams>,
      output: {
        space: 'required',
        writers: 'required',
        cursor: 'optional',
      } satisfies ShapeOf<GetSyncStatusOutput>,
    },
    'dev.spaceview.admin.addMember': { input: MEMBER_INPUT, output: {} satisfies ShapeOf<MemberOutput> },
    'dev.spaceview.admin.removeMember': { input: MEMBER_INPUT, output: {} satisfies ShapeOf<MemberOutput> },
    'dev.spaceview.admin.putDelegation': {
      input: {
        space: 'required',
        token: 'required',
        clientAttestation: 'optional',
      } satisfies ShapeOf<PutDelegationInput>,
      output: { space: 'required', credentialExpiresAt: 'required' } satisfies ShapeOf<PutDelegationOutput>,
    },
    'dev.spaceview.admin.startOAuthLogin': {
      input: { space: 'required', identifier: 'required' } satisfies ShapeOf<StartOAuthLoginInput>,
      output: { authorizationUrl: 'required' } satisfies ShapeOf<StartOAuthLoginOutput>,
    },
    'dev.spaceview.admin.listMembers': {
      params: {
        space: 'required',
        limit: 'optional',
        cursor: 'optional',
      } satisfies ShapeOf<ListMembersParams>,
      output: { members: 'required', cursor: 'optional' } satisfies ShapeOf<ListMembersOutput>,
    },
    'dev.spaceview.admin.explainAccess': {
      params: { space: 'required', did: 'required' } satisfies ShapeOf<ExplainAccessParams>,
      output: {
        space: 'required',
        did: 'required',
        outcome: 'required',
        reason: 'required',
        until: 'optional',
        steps: 'required',
      } satisfies ShapeOf<ExplainAccessOutput>,
    },
    'com.atproto.simplespace.checkUserAccess': {
      params: {
        space: 'required',
        user: 'required',
        clientId: 'optional',
      } satisfies ShapeOf<CheckUserAccessParams>,
      output: { authorized: 'required' } satisfies ShapeOf<CheckUserAccessOutput>,
    },
  } satisfies Record<string, MethodShape>,
  /** Object definitions, by `nsid#name` (the outputs of getSpace / getRecord are these refs). */
  objects: {
    'dev.spaceview.defs#spaceView': {
      uri: 'required',
      authority: 'required',
      spaceType: 'required',
      skey: 'required',
      access: 'required',
      policy: 'required',
      recordCount: 'optional',
      writers: 'optional',
    } satisfies ShapeOf<SpaceView>,
    'dev.spaceview.defs#accessView': { reason: 'required', until: 'optional' } satisfies ShapeOf<AccessView>,
    'dev.spaceview.defs#policyView': {
      kind: 'required',
      managingApp: 'optional',
      managedHere: 'optional',
      appAccess: 'optional',
    } satisfies ShapeOf<PolicyView>,
    'dev.spaceview.defs#writersSummary': {
      total: 'required',
      synced: 'required',
      recovering: 'required',
      failed: 'required',
      hidden: 'required',
      lastSyncedAt: 'optional',
    } satisfies ShapeOf<WritersSummary>,
    'dev.spaceview.defs#writerStatus': {
      did: 'required',
      state: 'required',
      rev: 'optional',
      lagSeconds: 'optional',
      accountStatus: 'required',
      updatedAt: 'required',
    } satisfies ShapeOf<WriterStatus>,
    'dev.spaceview.defs#recordView': {
      uri: 'required',
      cid: 'required',
      author: 'required',
      collection: 'required',
      rkey: 'required',
      rev: 'optional',
      value: 'required',
      indexedAt: 'required',
    } satisfies ShapeOf<RecordView>,
    'dev.spaceview.admin.explainAccess#step': {
      check: 'required',
      result: 'required',
    } satisfies ShapeOf<ExplainStep>,
  },
} as const
