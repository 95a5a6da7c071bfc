/**
 * Devnet accounts: identity (DID, handle, signing key), hosting (which repo host), status and the devnet
 * session token that stands in for OAuth on write, delegation-token and management calls.
 *
 * Invariants:
 * - DID, handle, session token and every key version derive from (seed, label), so a seed reproduces the
 *   same accounts. Keys are TEST KEYS.
 * - Keypairs are made lazily and kept in a bounded cache: a 10k-account network never holds every key.
 * - `keyVersion` only grows; rotating makes the next version current (old signatures stop verifying, which
 *   is the point of the #identity event that accompanies it).
 */
import type { Secp256k1Keypair } from '@atproto/crypto'
import { derive, deriveDid, deriveTestKeypair } from './seeded.js'

export type AccountStatus = 'active' | 'deactivated' | 'takendown' | 'deleted'

export interface Account {
  readonly index: number
  readonly label: string
  readonly did: string
  readonly handle: string
  /** Index of the repo host that serves this account. */
  host: number
  status: AccountStatus
  keyVersion: number
  /** Devnet session token (Bearer) for this account's own PDS calls. A TEST credential. */
  readonly accessToken: string
}

const KEY_CACHE_LIMIT = 20_000

export class AccountRegistry {
  private readonly byDid = new Map<string, Account>()
  private readonly byToken = new Map<string, Account>()
  private readonly handles = new Map<string, Account>()
  private readonly keys = new Map<string, Promise<Secp256k1Keypair>>()

  constructor(private readonly seed: string) {}

  create(label: string, host: number): Account {
    const did = deriveDid(this.seed, label)
    if (this.byDid.has(did)) throw new Error(`account label "${label}" is already in use`)
    const account: Account = {
      index: this.byDid.size,
      label,
      did,
      handle: `${label.toLowerCase().replace(/[^a-z0-9-]/g, '-')}.devnet.test`,
      host,
      status: 'active',
      keyVersion: 0,
      accessToken: `devnet-session-${Buffer.from(derive(this.seed, 'session', label))
        .toString('hex')
        .slice(0, 40)}`,
    }
    this.byDid.set(did, account)
    this.byToken.set(account.accessToken, account)
    this.handles.set(account.handle, account)
    return account
  }

  get(did: string): Account | undefined {
    return this.byDid.get(did)
  }

  require(did: string): Account {
    const account = this.byDid.get(did)
    if (!account) throw new Error(`no devnet account ${did}`)
    return account
  }

  byHandle(handle: string): Account | undefined {
    return this.handles.get(handle)
  }

  byAccessToken(token: string): Account | undefined {
    return this.byToken.get(token)
  }

  /** The account's current signing keypair (TEST KEY), made on first use. */
  keypair(account: Account): Promise<Secp256k1Keypair> {
    const cacheKey = `${account.did}#${account.keyVersion}`
    let key = this.keys.get(cacheKey)
    if (key) {
      // Refresh recency so hot accounts stay cached.
      this.keys.delete(cacheKey)
    } else {
      key = deriveTestKeypair(this.seed, 'account', account.label, account.keyVersion)
      if (this.keys.size >= KEY_CACHE_LIMIT) {
        const oldest = this.keys.keys().next().value
        if (oldest !== undefined) this.keys.delete(oldest)
      }
    }
    this.keys.set(cacheKey, key)
    return key
  }

  async didKey(account: Account): Promise<string> {
    return (await this.keypair(account)).did()
  }

  /** Makes the next key version current and returns its did:key. */
  async rotateKey(account: Account): Promise<string> {
    account.keyVersion++
    return this.didKey(account)
  }
}
