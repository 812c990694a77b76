/**
 * Access control lists, etcd-style: additive and inherited (unlike ZooKeeper's per-node ACLs).
 * An ACL is set on a path, the root of a subtree, which need not exist as a znode. Identity X has
 * permission P on path Q iff X is `root` (the bootstrap superuser), or an ACL set on Q or on any
 * ancestor of Q (`/` included) grants P to X or to `*` (every authenticated identity). Nothing is
 * ever denied by an ACL: a grant only adds. An empty list of grants removes the ACL.
 *
 * Grants are stored normalized: one per identity (duplicates merged), sorted by identity, each
 * with its permissions in `PERMISSIONS` order and none empty. `allowed` runs on every request: it
 * walks the path's ancestors through a Map and tests a bit, scanning nothing else.
 *
 * Snapshot table (see state-snapshot.ts):
 *   acls(path TEXT pk, grants TEXT)   -- JSON [["alice",["read","write"]], ["*",["read"]]]
 */
import { crc32c } from '../common/checksum.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { SnapshotRow, SnapshotTableSpec } from '../storage/sqlite-snapshot-format.js';
import { stateLimits, type StateLimits } from './limits.js';
import { parentPath, validatePath } from './path.js';
import { corrupt, text } from './snapshot-cells.js';

export type Permission = 'read' | 'write' | 'create' | 'delete' | 'admin' | 'lock';
/** Every permission, in their canonical order (also their bit order and proto enum numbers). */
export const PERMISSIONS: readonly Permission[] = ['read', 'write', 'create', 'delete', 'admin', 'lock'];

/** The bootstrap superuser: every permission everywhere, whatever the ACLs say. */
export const ROOT_IDENTITY = 'root';
/** In a grant: every authenticated identity. */
export const ANY_IDENTITY = '*';

export interface AclGrant {
  /** An identity name, or `*` for every authenticated identity. */
  readonly identity: string;
  readonly perms: readonly Permission[];
}

export interface AclEntry {
  readonly path: string;
  readonly grants: readonly AclGrant[];
}

export const aclsTable: SnapshotTableSpec = {
  name: 'acls',
  columns: [
    { name: 'path', type: 'TEXT' },
    { name: 'grants', type: 'TEXT' },
  ],
  primaryKey: ['path'],
};

const IDENTITY = /^[A-Za-z0-9._@:-]+$/;
const ALL_BITS = (1 << PERMISSIONS.length) - 1;

export function isPermission(x: unknown): x is Permission {
  return typeof x === 'string' && (PERMISSIONS as readonly string[]).includes(x);
}

/** Throws BAD_ARGUMENTS unless `identity` is an identity name (`[A-Za-z0-9._@:-]+`, at most `identityBytesMax`). */
export function validateIdentity(identity: unknown, limits: Pick<StateLimits, 'identityBytesMax'> = stateLimits): asserts identity is string {
  const bad = (why: string): ConclaveError =>
    new ConclaveError(ErrorCode.BAD_ARGUMENTS, `identity ${JSON.stringify(String(identity)).slice(0, 80)} ${why}`, { identity: String(identity).slice(0, 300) });
  if (typeof identity !== 'string') throw bad('is not a string');
  if (identity.length === 0) throw bad('is empty');
  if (identity.length > limits.identityBytesMax) throw bad(`is longer than ${limits.identityBytesMax} characters`);
  if (!IDENTITY.test(identity)) throw bad('may hold only A-Z a-z 0-9 . _ @ : -');
}

function bitsOf(perms: readonly Permission[]): number {
  let bits = 0;
  for (const p of perms) bits |= 1 << PERMISSIONS.indexOf(p);
  return bits;
}

function permsOf(bits: number): Permission[] {
  return PERMISSIONS.filter((_, i) => (bits & (1 << i)) !== 0);
}

/**
 * Validates grants and normalizes them into identity → permission bits (empty grants dropped).
 * Throws BAD_ARGUMENTS on a malformed grant, LIMIT_EXCEEDED past `aclGrantsMax`.
 */
function grantBits(grants: unknown, limits: Pick<StateLimits, 'aclGrantsMax' | 'identityBytesMax'>): Map<string, number> {
  if (!Array.isArray(grants)) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, 'grants must be an array');
  if (grants.length > limits.aclGrantsMax) {
    throw new ConclaveError(ErrorCode.LIMIT_EXCEEDED, `an ACL has at most ${limits.aclGrantsMax} grants, got ${grants.length}`, { grants: grants.length, max: limits.aclGrantsMax });
  }
  const out = new Map<string, number>();
  for (const g of grants as unknown[]) {
    if (typeof g !== 'object' || g === null) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, 'a grant must be an object');
    const { identity, perms } = g as { identity?: unknown; perms?: unknown };
    if (identity !== ANY_IDENTITY) validateIdentity(identity, limits);
    if (!Array.isArray(perms)) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `the permissions granted to ${identity} must be an array`);
    for (const p of perms as unknown[]) {
      if (!isPermission(p)) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `unknown permission ${JSON.stringify(p)}; known: ${PERMISSIONS.join(', ')}`, { permission: String(p) });
    }
    const bits = (out.get(identity) ?? 0) | bitsOf(perms as Permission[]);
    if (bits !== 0) out.set(identity, bits);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export class AclTable {
  readonly limits: Readonly<StateLimits>;
  /** path → (identity → permission bits), grants sorted by identity. */
  readonly #acls = new Map<string, Map<string, number>>();
  #version = 0;

  constructor(limits: Readonly<StateLimits> = stateLimits) {
    this.limits = limits;
  }

  /** Bumped by every change (and by a restore): a reader may cache decisions until it moves. */
  get version(): number {
    return this.#version;
  }

  /** Number of paths with an ACL. */
  get size(): number {
    return this.#acls.size;
  }

  /**
   * Sets (replaces) the ACL on `path`; an empty list (after dropping empty grants) removes it.
   * Throws BAD_PATH, BAD_ARGUMENTS, or LIMIT_EXCEEDED (too many grants, or a new path past
   * `aclsMax`), changing nothing.
   */
  set(path: string, grants: readonly AclGrant[]): void {
    validatePath(path, { pathBytesMax: this.limits.pathBytesMax });
    const bits = grantBits(grants, this.limits);
    if (bits.size === 0) {
      if (this.#acls.delete(path)) this.#version++;
      return;
    }
    if (!this.#acls.has(path) && this.#acls.size >= this.limits.aclsMax) {
      throw new ConclaveError(ErrorCode.LIMIT_EXCEEDED, `at most ${this.limits.aclsMax} paths may have an ACL`, { path, max: this.limits.aclsMax });
    }
    this.#acls.set(path, bits);
    this.#version++;
  }

  /** Removes the ACL set on `path`; NO_NODE when there is none. */
  remove(path: string): void {
    validatePath(path, { pathBytesMax: this.limits.pathBytesMax });
    if (!this.#acls.delete(path)) throw new ConclaveError(ErrorCode.NO_NODE, `no ACL is set on ${path}`, { path });
    this.#version++;
  }

  /** The ACL set exactly on `path` (not inherited ones), normalized; undefined when none. */
  get(path: string): AclGrant[] | undefined {
    const bits = this.#acls.get(path);
    return bits === undefined ? undefined : [...bits].map(([identity, b]) => ({ identity, perms: permsOf(b) }));
  }

  /** Every ACL, sorted by path. */
  list(): AclEntry[] {
    return [...this.#acls.keys()].sort().map((path) => ({ path, grants: this.get(path) as AclGrant[] }));
  }

  /**
   * Whether `identity` has `perm` on `path` (a valid path; the caller validated it). O(depth):
   * one Map lookup per ancestor.
   */
  allowed(identity: string, perm: Permission, path: string): boolean {
    if (identity === ROOT_IDENTITY) return true;
    if (this.#acls.size === 0) return false;
    const bit = 1 << PERMISSIONS.indexOf(perm);
    return (this.#bits(identity, path, bit) & bit) !== 0;
  }

  /** Every permission `identity` has on `path`, in `PERMISSIONS` order. */
  effective(identity: string, path: string): Permission[] {
    return permsOf(identity === ROOT_IDENTITY ? ALL_BITS : this.#bits(identity, path, ALL_BITS));
  }

  /** The union of the bits granted to `identity` or `*` on `path` and its ancestors; stops early once `want` is covered. */
  #bits(identity: string, path: string, want: number): number {
    let bits = 0;
    for (let p = path; ; p = parentPath(p)) {
      const acl = this.#acls.get(p);
      if (acl !== undefined) {
        bits |= (acl.get(identity) ?? 0) | (acl.get(ANY_IDENTITY) ?? 0);
        if ((bits & want) === want) return bits;
      }
      if (p === '/' || p.length === 0) return bits;
    }
  }

  /** Sum mod 2^32 of a CRC-32C per ACL (path, then each identity and its bits): independent of insertion order. */
  digest(): number {
    const enc = new TextEncoder();
    let sum = 0;
    for (const [path, bits] of this.#acls) {
      const text = [path, ...[...bits].map(([id, b]) => `${id}=${b}`)].join('\0');
      sum = (sum + crc32c(enc.encode(text))) % 0x1_0000_0000;
    }
    return sum;
  }

  /** Rows of the `acls` table, sorted by path. */
  rows(): SnapshotRow[] {
    return this.list().map((e) => [e.path, JSON.stringify(e.grants.map((g) => [g.identity, g.perms]))]);
  }

  /**
   * Builds a table from `acls` rows; throws CORRUPTED on anything `set` would refuse, a duplicate
   * path or an empty ACL. The new table's version is past `versionAfter` (the table it replaces),
   * so a cache keyed by version never mistakes the restored table for the old one.
   */
  static fromRows(rows: Iterable<SnapshotRow>, limits: Readonly<StateLimits> = stateLimits, versionAfter = 0): AclTable {
    const table = new AclTable(limits);
    for (const row of rows) {
      if (row.length !== aclsTable.columns.length) throw corrupt(`acl row has ${row.length} cells`);
      const path = text(row[0], 'acl path');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text(row[1], `grants of acl ${path}`));
      } catch (err: unknown) {
        if (err instanceof ConclaveError) throw err;
        throw corrupt(`grants of acl ${JSON.stringify(path)} are not JSON`);
      }
      if (!Array.isArray(parsed) || parsed.length === 0) throw corrupt(`grants of acl ${JSON.stringify(path)} are not a non-empty list`);
      const grants = (parsed as unknown[]).map((g) => (Array.isArray(g) && g.length === 2 ? { identity: g[0], perms: g[1] } : undefined));
      if (table.#acls.has(path)) throw corrupt(`duplicate acl ${JSON.stringify(path)}`);
      try {
        table.set(path, grants as AclGrant[]);
      } catch (err: unknown) {
        if (err instanceof ConclaveError) throw corrupt(`acl ${JSON.stringify(path)}: ${err.message}`);
        throw err;
      }
      if (!table.#acls.has(path)) throw corrupt(`acl ${JSON.stringify(path)} grants nothing`);
    }
    table.#version = versionAfter + 1;
    return table;
  }
}
