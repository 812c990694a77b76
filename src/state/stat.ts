/**
 * A znode and its stat, exactly ZooKeeper's fields (no ACLs, so no aversion). `dataLength` and
 * `numChildren` are derived, never stored.
 */

/** persistent, ephemeral (owned by a session, no children), container (removed once emptied), ttl (removed when unchanged and childless for ttlMs). */
export type ZnodeKind = 'persistent' | 'ephemeral' | 'container' | 'ttl';

export const ZNODE_KINDS: readonly ZnodeKind[] = ['persistent', 'ephemeral', 'container', 'ttl'];

export function isZnodeKind(x: unknown): x is ZnodeKind {
  return typeof x === 'string' && (ZNODE_KINDS as readonly string[]).includes(x);
}

export interface Stat {
  /** zxid of the create. */
  readonly czxid: number;
  /** zxid of the last create or setData of this node. */
  readonly mzxid: number;
  /** zxid of the last create or delete of a child (czxid when none). */
  readonly pzxid: number;
  /** Leader's wall time (ms) of the create. */
  readonly ctime: number;
  /** Leader's wall time (ms) of the last create or setData. */
  readonly mtime: number;
  /** Number of setData calls. */
  readonly version: number;
  /** Number of creates and deletes of children; the counter of sequential names. */
  readonly cversion: number;
  /** The owning session of an ephemeral node, else 0. */
  readonly ephemeralOwner: number;
  readonly dataLength: number;
  readonly numChildren: number;
}

/** The stored form of a znode: what a snapshot row holds (the stat minus what is derived). */
export interface ZnodeRecord extends Omit<Stat, 'dataLength' | 'numChildren'> {
  readonly path: string;
  readonly data: Uint8Array;
  readonly kind: ZnodeKind;
  /** TTL nodes only; 0 otherwise. */
  readonly ttlMs: number;
}

/** The children of every leaf: most znodes have none. Never mutated (Znode.addChild allocates a set). */
const NO_CHILDREN: ReadonlySet<string> = new Set<string>();

/** The in-memory znode. Mutated only by `DataTree`. */
export class Znode {
  data: Uint8Array;
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime: number;
  mtime: number;
  version = 0;
  cversion = 0;
  readonly ephemeralOwner: number;
  readonly kind: ZnodeKind;
  readonly ttlMs: number;
  /**
   * Child names, allocated with the first child: an empty Set for each of a million leaves cost
   * ~100 MB and a large share of the GC time of restoring them.
   */
  #children: Set<string> | undefined;
  /** Cache of `children` sorted; dropped on every change. */
  sortedChildren: readonly string[] | undefined;
  /** The tree capture (see `TreeCapture`) that already holds this node's row: it needs no other. */
  capturedIn = 0;

  constructor(data: Uint8Array, kind: ZnodeKind, ephemeralOwner: number, ttlMs: number, zxid: number, timeMs: number) {
    this.data = data;
    this.kind = kind;
    this.ephemeralOwner = ephemeralOwner;
    this.ttlMs = ttlMs;
    this.czxid = this.mzxid = this.pzxid = zxid;
    this.ctime = this.mtime = timeMs;
  }

  get children(): ReadonlySet<string> {
    return this.#children ?? NO_CHILDREN;
  }

  addChild(name: string): void {
    (this.#children ??= new Set()).add(name);
    this.sortedChildren = undefined;
  }

  deleteChild(name: string): void {
    if (this.#children?.delete(name) === true && this.#children.size === 0) this.#children = undefined;
    this.sortedChildren = undefined;
  }

  stat(): Stat {
    return {
      czxid: this.czxid,
      mzxid: this.mzxid,
      pzxid: this.pzxid,
      ctime: this.ctime,
      mtime: this.mtime,
      version: this.version,
      cversion: this.cversion,
      ephemeralOwner: this.ephemeralOwner,
      dataLength: this.data.length,
      numChildren: this.children.size,
    };
  }

  sorted(): readonly string[] {
    this.sortedChildren ??= [...this.children].sort();
    return this.sortedChildren;
  }

  record(path: string): ZnodeRecord {
    return {
      path,
      data: this.data,
      czxid: this.czxid,
      mzxid: this.mzxid,
      pzxid: this.pzxid,
      ctime: this.ctime,
      mtime: this.mtime,
      version: this.version,
      cversion: this.cversion,
      ephemeralOwner: this.ephemeralOwner,
      kind: this.kind,
      ttlMs: this.ttlMs,
    };
  }
}
