/**
 * A hostile host on loopback for inputs devnet's fault switches cannot produce: byte-level CAR forgeries
 * (high-S signatures, missing or extra blocks, deeply nested or huge CBOR, invalid UTF-8), listRepos
 * answers that never end or loop, and redirects to internal addresses.
 *
 * It is a real HTTP server speaking com.atproto.space.* well enough to be crawled: it mints a (meaningless)
 * credential, lists its writers and serves each writer's content from a scripted `Responder`. Its DIDs are
 * published in devnet's DID directory (an authority whose space host is this server, and writers whose PDS
 * is this server), and each writer signs with the TEST key the directory publishes for it, so everything
 * that is not deliberately broken verifies.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Secp256k1Keypair } from '@atproto/crypto'
import type { Devnet } from '../../../src/devnet/devnet.js'
import { deriveDid, deriveTestKeypair } from '../../../src/devnet/seeded.js'
import { commitToCbor, createSignedCommit, type SignedCommit } from '../../../src/protocol/commit.js'
import { LtHash, pathElement } from '../../../src/protocol/lthash.js'
import { cidForBlock, encodeBlock, encodeRecordJson, type Cid } from '../../../src/protocol/record-codec.js'
import { encodeBase64 } from '../../../src/protocol/bytes.js'

export type Reply =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { status: number; bytes: Uint8Array; contentType: string; headers?: Record<string, string> }

/** Answers one XRPC call (method NSID, query params); undefined = 404. */
export type Responder = (
  nsid: string,
  params: URLSearchParams,
) => Reply | undefined | Promise<Reply | undefined>

export interface HostileWriter {
  did: string
  keypair: Secp256k1Keypair
  respond: Responder
}

const PDS = 'AtprotoPersonalDataServer'

export class HostileHost {
  readonly writers = new Map<string, HostileWriter>()
  /** The space host's listRepos answer (default: every writer, one page). */
  listRepos: Responder | undefined
  requests = 0

  private constructor(
    private readonly server: Server,
    readonly origin: string,
    private readonly devnet: Devnet,
    readonly authority: string,
    readonly space: string,
  ) {}

  static async start(devnet: Devnet, label: string): Promise<HostileHost> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const authority = deriveDid(devnet.seed, `hostile-authority:${label}`)
    devnet.directory.publish(authority, `hostile-authority-${label}`, [
      { id: 'atproto_pds', type: PDS, endpoint: origin },
    ])
    const space = `at://${authority}/space/com.example.devnet.forum/${label}`
    const host = new HostileHost(server, origin, devnet, authority, space)
    server.on('request', (req, res) => void host.handle(req, res))
    return host
  }

  /** Publishes a writer whose PDS is this host and whose content `respond` scripts. */
  async addWriter(label: string, respond: Responder): Promise<HostileWriter> {
    const did = deriveDid(this.devnet.seed, `hostile-writer:${label}`)
    const name = `hostile-writer-${label}`
    this.devnet.directory.publish(did, name, [{ id: 'atproto_pds', type: PDS, endpoint: this.origin }])
    // The key the directory publishes for a published DID (see DidDirectory.document).
    const keypair = await deriveTestKeypair(this.devnet.seed, 'service', name)
    const writer = { did, keypair, respond }
    this.writers.set(did, writer)
    return writer
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++
    for await (const _ of req) {
      // Bodies (credential exchange, registerNotify) are not looked at.
    }
    const url = new URL(req.url ?? '/', this.origin)
    const nsid = url.pathname.replace(/^\/xrpc\//, '')
    const params = url.searchParams
    let reply: Reply | undefined
    if (nsid === 'com.atproto.space.getSpaceCredential') {
      const now = Math.floor(Date.now() / 1000)
      const seg = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
      const credential = `${seg({ alg: 'ES256K', typ: 'atproto-space-credential+jwt' })}.${seg({ iat: now, exp: now + 7200 })}.${seg({ sig: 'x' })}`
      reply = { status: 200, json: { credential } }
    } else if (nsid === 'com.atproto.space.listRepos') {
      reply = this.listRepos
        ? await this.listRepos(nsid, params)
        : { status: 200, json: { repos: await Promise.all([...this.writers.values()].map((w) => hint(w))) } }
    } else if (nsid === 'com.atproto.space.registerNotify') {
      reply = { status: 200, json: { expiresAt: new Date(Date.now() + 86_400_000).toISOString() } }
    } else {
      const writer = this.writers.get(params.get('repo') ?? '')
      reply = writer ? await writer.respond(nsid, params) : undefined
    }
    reply ??= { status: 404, json: { error: 'MethodNotImplemented', message: `hostile host has no ${nsid}` } }
    if ('json' in reply) {
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers })
      res.end(JSON.stringify(reply.json))
    } else {
      res.writeHead(reply.status, { 'content-type': reply.contentType, ...reply.headers })
      res.end(reply.bytes)
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

/** A writer-set entry with a hint no local state matches, so the crawler pulls the repo. */
async function hint(w: HostileWriter): Promise<unknown> {
  return { did: w.did, rev: '3lzzzzzzzzz22', hash: { $bytes: encodeBase64(new Uint8Array(32).fill(7)) } }
}

// ------------------------------------------------------------------------------------------ CAR crafting

export interface Block {
  cid: Uint8Array
  bytes: Uint8Array
}

export interface CraftedRepo {
  commit: SignedCommit
  commitBlock: Block
  indexBlock: Block
  records: Array<{ path: string } & Block>
}

function block(bytes: Uint8Array): Block {
  return { cid: cidForBlock(bytes).bytes, bytes }
}

function varint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/**
 * A repo whose commit, index and records all verify, from raw record blocks (any bytes: the CAR names
 * them by their CIDs). `indexPaths` lets a case put keys in the index that are not valid UTF-8.
 */
export async function craftRepo(opts: {
  space: string
  author: string
  keypair: Secp256k1Keypair
  rev: string
  records: Array<{ path: string; bytes: Uint8Array; keyBytes?: Uint8Array }>
}): Promise<CraftedRepo> {
  const records = opts.records.map((r) => ({ path: r.path, ...block(r.bytes), keyBytes: r.keyBytes }))
  const lt = new LtHash()
  for (const r of records) lt.add(pathElement(r.path, cidForBlock(r.bytes).toString()))
  // The index is written by hand so a key can carry arbitrary bytes: map(n) { text key: tag 42 link }.
  const index: number[] = [...mapHead(records.length)]
  for (const r of records) {
    const key = r.keyBytes ?? new TextEncoder().encode(r.path)
    index.push(...textHead(key.length), ...key, 0xd8, 0x2a, 0x58, 0x25, 0x00, ...r.cid)
  }
  const commit = await createSignedCommit({
    space: opts.space,
    author: opts.author,
    rev: opts.rev,
    hash: lt.digest(),
    signer: opts.keypair,
  })
  return {
    commit,
    commitBlock: block(encodeBlock(commitToCbor(commit))),
    indexBlock: block(Uint8Array.from(index)),
    records,
  }
}

function mapHead(n: number): number[] {
  return n < 24 ? [0xa0 | n] : n < 256 ? [0xb8, n] : [0xb9, n >> 8, n & 0xff]
}

function textHead(n: number): number[] {
  return n < 24 ? [0x60 | n] : n < 256 ? [0x78, n] : [0x79, n >> 8, n & 0xff]
}

/** CARv1 bytes: header {version 1, roots [commit, index]}, then the given blocks in order. */
export function carBytes(roots: [Block, Block], blocks: Block[]): Uint8Array {
  const header = encodeBlock({
    version: 1,
    roots: roots.map((b) => cidForBlock(b.bytes)) as Cid[],
  })
  const parts: Uint8Array[] = [Uint8Array.from(varint(header.length)), header]
  for (const b of blocks) parts.push(Uint8Array.from(varint(b.cid.length + b.bytes.length)), b.cid, b.bytes)
  return new Uint8Array(Buffer.concat(parts))
}

export function repoCar(
  repo: CraftedRepo,
  blocks = [repo.commitBlock, repo.indexBlock, ...repo.records],
): Uint8Array {
  return carBytes([repo.commitBlock, repo.indexBlock], blocks)
}

/** The same repo with another commit (e.g. a re-signed or tampered one). */
export function withCommit(repo: CraftedRepo, commit: SignedCommit): CraftedRepo {
  return { ...repo, commit, commitBlock: block(encodeBlock(commitToCbor(commit))) }
}

export const carReply = (bytes: Uint8Array): Reply => ({
  status: 200,
  bytes,
  contentType: 'application/vnd.ipld.car',
})

/** A record block from a JSON-form value (what an honest host stores). */
export function recordBytes(value: object): Uint8Array {
  return encodeRecordJson(value).bytes
}

/** secp256k1 group order: s' = n - s is the high-S twin of a valid low-S signature. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

export function highS(sig: Uint8Array): Uint8Array {
  const s = BigInt(`0x${Buffer.from(sig.subarray(32)).toString('hex')}`)
  const out = Uint8Array.from(sig)
  out.set(Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'), 32)
  return out
}
