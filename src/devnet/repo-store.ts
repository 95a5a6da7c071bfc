/**
 * The permissioned repos one host stores, keyed by (space, author DID), with the per-account index that
 * `listSpaces` needs.
 *
 * Invariants: a repo is indexed under its author once it exists (generated, or after its first non-empty
 * write); removing a repo (space deletion of the authority's own repo) drops it from both maps.
 */
import { PermissionedRepo } from './permissioned-repo.js'

const key = (space: string, did: string): string => `${space}\n${did}`

export class RepoStore {
  private readonly repos = new Map<string, PermissionedRepo>()
  private readonly byAccount = new Map<string, Set<string>>()

  get(space: string, did: string): PermissionedRepo | undefined {
    return this.repos.get(key(space, did))
  }

  /** Adds an existing repo (generated, or just written for the first time). */
  add(repo: PermissionedRepo): void {
    this.repos.set(key(repo.space, repo.did), repo)
    let spaces = this.byAccount.get(repo.did)
    if (!spaces) this.byAccount.set(repo.did, (spaces = new Set()))
    spaces.add(repo.space)
  }

  delete(space: string, did: string): void {
    this.repos.delete(key(space, did))
    this.byAccount.get(did)?.delete(space)
  }

  /** Spaces in which `did` holds a repo on this host. */
  spacesOf(did: string): string[] {
    return [...(this.byAccount.get(did) ?? [])]
  }

  values(): IterableIterator<PermissionedRepo> {
    return this.repos.values()
  }
}
