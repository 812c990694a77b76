/**
 * The znode tree (ZooKeeper's DataTree, DESIGN §2): pure and deterministic. Every mutator takes the
 * txn's `zxid` and `timeMs`; nothing here reads a clock. A failed operation throws a
 * `ConclaveError` and changes nothing. `multi` applies ops one by one with an undo log and rolls
 * back on the first failure.
 *
 * Removal of containers and TTL nodes is decided by the leader (like ZooKeeper's ContainerManager):
 * the tree only lists the candidates; the leader proposes a delete (with the expected version, so
 * a node that changed in between is kept) and `delete` removes them.
 */
import { assert } from '../common/assert.js';
import { crc32c } from '../common/checksum.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { stateLimits, type StateLimits } from './limits.js';
import { SEQUENTIAL_DIGITS, baseName, isReservedPath, parentPath, sequentialSuffix, validatePath } from './path.js';
import { Znode, isZnodeKind, type Stat, type ZnodeKind, type ZnodeRecord } from './stat.js';

export interface CreateOptions {
  /** The creating session: the owner of an ephemeral node (required for one, ignored otherwise). */
  readonly sessionId?: number;
  /** TTL nodes only: how long the node may stay unchanged and childless. */
  readonly ttlMs?: number;
  /** Append the parent's 10-digit counter (its cversion before this create) to the name. */
  readonly sequential?: boolean;
}

export interface CreateResult {
  /** The actual path, with the sequential suffix when there is one. */
  readonly path: string;
  readonly stat: Stat;
}

export interface ChildrenOptions {
  /** Only names sorting after this one (for paging). */
  readonly after?: string;
  /** At most this many names; capped at `childrenPageMax`. */
  readonly limit?: number;
}

export interface ChildrenResult {
  /** Child names (not paths), sorted by UTF-16 code units. */
  readonly names: readonly string[];
  readonly stat: Stat;
  /** More names follow the last one returned. */
  readonly more: boolean;
}

/** One op of a multi (and the shape the state machine applies single writes in). */
export type TreeOp =
  | { readonly type: 'create'; readonly path: string; readonly data: Uint8Array; readonly kind: ZnodeKind; readonly sequential?: boolean; readonly ttlMs?: number }
  | { readonly type: 'set'; readonly path: string; readonly data: Uint8Array; readonly version: number }
  | { readonly type: 'delete'; readonly path: string; readonly version: number }
  | { readonly type: 'check'; readonly path: string; readonly version: number };

export type TreeOpResult =
  | { readonly type: 'create'; readonly path: string; readonly stat: Stat }
  | { readonly type: 'set'; readonly stat: Stat }
  | { readonly type: 'delete' }
  | { readonly type: 'check' };

export interface OpError {
  readonly code: ErrorCode;
  readonly message: string;
  /** QUOTA_EXCEEDED only: the quota, its limits and its usage (see quotas.ts). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Per-op result of a multi that failed: the failing op's error, RUNTIME_INCONSISTENCY for all others. */
export type MultiOpResult = TreeOpResult | { readonly type: 'error'; readonly error: OpError };

export type MultiResult =
  | { readonly ok: true; readonly results: readonly TreeOpResult[] }
  | { readonly ok: false; readonly failedIndex: number; readonly error: OpError; readonly results: readonly MultiOpResult[] };

/**
 * Told of every change to the number of nodes and bytes of data at a path (quotas.ts keeps its
 * usage this way). The tree calls `admit` before a create or a growing set, once everything else
 * was validated: it may throw (QUOTA_EXCEEDED) to refuse, and the tree changes nothing. It calls
 * `account` when a node is linked, unlinked or its data replaced, and again with the opposite
 * deltas when a multi rolls that back; `account` never throws.
 */
export interface TreeSizeObserver {
  admit(path: string, nodes: number, bytes: number): void;
  account(path: string, nodes: number, bytes: number): void;
}

/** The failure of a multi whose op `index` failed with `error` (every other op: RUNTIME_INCONSISTENCY). */
export function failedMulti(count: number, index: number, error: OpError): MultiResult & { readonly ok: false } {
  const others = { type: 'error', error: { code: ErrorCode.RUNTIME_INCONSISTENCY, message: `op ${index} of the multi failed: ${error.code}` } } as const;
  return { ok: false, failedIndex: index, error, results: Array.from({ length: count }, (_, j) => (j === index ? { type: 'error', error } : others)) };
}

const ROOT = '/';

function fail(code: ErrorCode, message: string, details: Record<string, unknown> = {}): ConclaveError {
  return new ConclaveError(code, message, details);
}

function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= -1;
}

function isZxid(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Rows of a tree as of one zxid, taken a chunk at a time (`DataTree.capture`). */
export interface TreeCapture {
  /** Up to `max` more rows; none once every row was returned. */
  next(max: number): ZnodeRecord[];
  /** Stop capturing (writes stop keeping rows for it). Call it when done or abandoned. */
  end(): void;
}

interface CaptureState {
  readonly epoch: number;
  readonly zxid: number;
  readonly entries: IterableIterator<[string, Znode]>;
  /** Rows of nodes changed before the capture reached them, as they were at `zxid`. */
  readonly kept: ZnodeRecord[];
  ended: boolean;
  end(): void;
}

export class DataTree {
  readonly limits: Readonly<StateLimits>;
  readonly #nodes = new Map<string, Znode>();
  readonly #ephemerals = new Map<number, Set<string>>();
  readonly #containers = new Set<string>();
  readonly #ttls = new Set<string>();
  #dataBytes = 0;
  /** Inverse operations of the multi in progress, newest last. */
  #undo: Array<() => void> | undefined;
  /** The capture in progress, if any: writes keep the rows it has not reached yet. */
  #capture: CaptureState | undefined;
  #captures = 0;
  #sizes: TreeSizeObserver | undefined;

  constructor(limits: Readonly<StateLimits> = stateLimits) {
    this.limits = limits;
    this.#nodes.set(ROOT, new Znode(new Uint8Array(0), 'persistent', 0, 0, 0, 0));
  }

  // -------------------------------------------------------------------------------------------
  // Reads.

  /** Throws NO_NODE when absent. The returned data must not be mutated. */
  get(path: string): { readonly data: Uint8Array; readonly stat: Stat } {
    const node = this.#require(path);
    return { data: node.data, stat: node.stat() };
  }

  exists(path: string): Stat | undefined {
    validatePath(path, { pathBytesMax: this.limits.pathBytesMax });
    return this.#nodes.get(path)?.stat();
  }

  children(path: string, opts: ChildrenOptions = {}): ChildrenResult {
    const node = this.#require(path);
    const limit = Math.min(opts.limit ?? this.limits.childrenPageMax, this.limits.childrenPageMax);
    if (!Number.isSafeInteger(limit) || limit <= 0) throw fail(ErrorCode.BAD_ARGUMENTS, `children limit must be a positive integer, got ${String(opts.limit)}`);
    const all = node.sorted();
    let from = 0;
    if (opts.after !== undefined) {
      const after = opts.after;
      let lo = 0;
      let hi = all.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((all[mid] as string) <= after) lo = mid + 1;
        else hi = mid;
      }
      from = lo;
    }
    const names = all.slice(from, from + limit);
    return { names, stat: node.stat(), more: from + limit < all.length };
  }

  /** The stored form of one node, or undefined. */
  record(path: string): ZnodeRecord | undefined {
    return this.#nodes.get(path)?.record(path);
  }

  /** Every node's stored form, sorted by path (parents before children). */
  records(): ZnodeRecord[] {
    return [...this.#nodes.keys()].sort().map((p) => (this.#nodes.get(p) as Znode).record(p));
  }

  /**
   * A point-in-time view of the tree, read a chunk at a time while writes go on (a snapshot is
   * written without stopping the world): before a write changes a node the capture has not reached,
   * the node's row as of now is kept aside. `zxid` is the last applied zxid; nodes created later
   * are not in the view. Rows come in no particular order. One capture at a time: a new one ends
   * the previous one.
   */
  capture(zxid: number): TreeCapture {
    this.#capture?.end();
    const state: CaptureState = { epoch: ++this.#captures, zxid, entries: this.#nodes.entries(), kept: [], ended: false, end: () => undefined };
    state.end = (): void => {
      state.ended = true;
      if (this.#capture === state) this.#capture = undefined;
    };
    this.#capture = state;
    return {
      next: (max: number): ZnodeRecord[] => {
        assert(!state.ended, 'the capture was ended');
        const out: ZnodeRecord[] = [];
        while (out.length < max) {
          const step = state.entries.next();
          if (step.done) break;
          const [path, node] = step.value;
          if (node.capturedIn === state.epoch || node.czxid > state.zxid) continue;
          node.capturedIn = state.epoch;
          out.push(node.record(path));
        }
        while (out.length < max && state.kept.length > 0) out.push(state.kept.pop() as ZnodeRecord);
        return out;
      },
      end: () => state.end(),
    };
  }

  /** About to change `node`: a capture that has not reached it keeps its row as of the capture. */
  #preserve(path: string, node: Znode): void {
    const c = this.#capture;
    if (c === undefined || node.capturedIn === c.epoch || node.czxid > c.zxid) return;
    node.capturedIn = c.epoch;
    c.kept.push(node.record(path));
  }

  /** Paths of the session's ephemeral nodes, sorted. */
  ephemeralsOf(sessionId: number): string[] {
    return [...(this.#ephemerals.get(sessionId) ?? [])].sort();
  }

  /** Sessions that own at least one ephemeral node, ascending. */
  ephemeralOwners(): number[] {
    return [...this.#ephemerals.keys()].sort((a, b) => a - b);
  }

  /** Containers that had children and have none left (ZooKeeper's ContainerManager rule), sorted. */
  containerCandidates(): string[] {
    const out: string[] = [];
    for (const path of this.#containers) {
      const node = this.#nodes.get(path) as Znode;
      if (node.children.size === 0 && node.cversion > 0) out.push(path);
    }
    return out.sort();
  }

  /** TTL nodes with no children whose mtime is more than ttlMs before `nowMs`, sorted. */
  ttlCandidates(nowMs: number): string[] {
    const out: string[] = [];
    for (const path of this.#ttls) {
      const node = this.#nodes.get(path) as Znode;
      if (node.children.size === 0 && nowMs - node.mtime > node.ttlMs) out.push(path);
    }
    return out.sort();
  }

  /** Number of znodes, the root included. */
  nodeCount(): number {
    return this.#nodes.size;
  }

  /** Total bytes of znode data. */
  dataBytes(): number {
    return this.#dataBytes;
  }

  /**
   * Nodes and data bytes of the subtree at `path` (a valid path), the node itself included; zero
   * when it does not exist. The reserved subtree (`/conclave`) is never counted.
   */
  subtreeSize(path: string): { nodes: number; bytes: number } {
    let nodes = 0;
    let bytes = 0;
    const stack = isReservedPath(path) ? [] : [path];
    while (stack.length > 0) {
      const p = stack.pop() as string;
      const node = this.#nodes.get(p);
      if (node === undefined) continue;
      nodes++;
      bytes += node.data.length;
      for (const name of node.children) {
        const child = p === ROOT ? `/${name}` : `${p}/${name}`;
        if (!isReservedPath(child)) stack.push(child);
      }
    }
    return { nodes, bytes };
  }

  /** Every node's path and data length, in no particular order. */
  *sizes(): IterableIterator<[path: string, bytes: number]> {
    for (const [path, node] of this.#nodes) yield [path, node.data.length];
  }

  /** Sets (or with undefined, clears) the one observer of node and byte counts. */
  observeSizes(observer: TreeSizeObserver | undefined): void {
    this.#sizes = observer;
  }

  /**
   * A digest of the whole tree (paths, stats, kinds, TTLs, data): the sum mod 2^32 of a CRC-32C per
   * node, so it does not depend on insertion order (a replica restored from a snapshot agrees).
   */
  digest(): number {
    let sum = 0;
    for (const [path, node] of this.#nodes) sum = (sum + nodeDigest(path, node)) % 0x1_0000_0000;
    return sum;
  }

  // -------------------------------------------------------------------------------------------
  // Writes. Each validates everything before it changes anything.

  create(path: string, data: Uint8Array, kind: ZnodeKind, opts: CreateOptions, zxid: number, timeMs: number): CreateResult {
    checkTxnArgs(zxid, timeMs);
    this.#checkData(data);
    if (!isZnodeKind(kind)) throw fail(ErrorCode.BAD_ARGUMENTS, `unknown znode kind ${String(kind)}`);
    const sequential = opts.sequential === true;
    const sessionId = opts.sessionId ?? 0;
    const ttlMs = opts.ttlMs ?? 0;
    validatePath(path, { allowSequentialPrefix: sequential, pathBytesMax: this.limits.pathBytesMax });
    if (kind === 'ephemeral' && !(Number.isSafeInteger(sessionId) && sessionId > 0)) {
      throw fail(ErrorCode.BAD_ARGUMENTS, 'an ephemeral node needs a session', { path, sessionId });
    }
    if (kind === 'ttl') {
      if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw fail(ErrorCode.BAD_ARGUMENTS, `ttlMs must be a positive integer, got ${String(ttlMs)}`, { path, ttlMs });
    } else if (ttlMs !== 0) {
      throw fail(ErrorCode.BAD_ARGUMENTS, `ttlMs is only for ttl nodes, not ${kind}`, { path, ttlMs });
    }
    if (kind === 'container' && sequential) throw fail(ErrorCode.BAD_ARGUMENTS, 'a container cannot be sequential', { path });
    if (!sequential && path === ROOT) throw fail(ErrorCode.NODE_EXISTS, 'the root always exists', { path });
    const parentName = parentPath(sequential ? path + '0'.repeat(SEQUENTIAL_DIGITS) : path);
    const parent = this.#nodes.get(parentName);
    if (parent === undefined) throw fail(ErrorCode.NO_NODE, `parent ${parentName} does not exist`, { path, parent: parentName });
    let actual = path;
    if (sequential) {
      if (parent.cversion > this.limits.sequentialMax) {
        throw fail(ErrorCode.LIMIT_EXCEEDED, `parent ${parentName} has used all ${this.limits.sequentialMax} sequential names`, { path });
      }
      actual = path + sequentialSuffix(parent.cversion);
    }
    if (this.#nodes.has(actual)) throw fail(ErrorCode.NODE_EXISTS, `${actual} exists`, { path: actual });
    if (parent.kind === 'ephemeral') throw fail(ErrorCode.NO_CHILDREN_FOR_EPHEMERALS, `${parentName} is ephemeral`, { path: actual });
    this.#sizes?.admit(actual, 1, data.length);

    const node = new Znode(new Uint8Array(data), kind, kind === 'ephemeral' ? sessionId : 0, ttlMs, zxid, timeMs);
    this.#link(actual, node, parent, zxid);
    return { path: actual, stat: node.stat() };
  }

  setData(path: string, data: Uint8Array, expectedVersion: number, zxid: number, timeMs: number): Stat {
    checkTxnArgs(zxid, timeMs);
    this.#checkData(data);
    const node = this.#requireVersion(path, expectedVersion);
    const grown = data.length - node.data.length;
    if (grown > 0) this.#sizes?.admit(path, 0, grown);
    const prev = { data: node.data, version: node.version, mzxid: node.mzxid, mtime: node.mtime };
    this.#preserve(path, node);
    node.data = new Uint8Array(data);
    node.version++;
    node.mzxid = zxid;
    node.mtime = timeMs;
    this.#dataBytes += grown;
    this.#sizes?.account(path, 0, grown);
    this.#undo?.push(() => {
      this.#sizes?.account(path, 0, -grown);
      this.#dataBytes -= grown;
      node.data = prev.data;
      node.version = prev.version;
      node.mzxid = prev.mzxid;
      node.mtime = prev.mtime;
    });
    return node.stat();
  }

  delete(path: string, expectedVersion: number, zxid: number): void {
    checkTxnArgs(zxid, 0);
    validatePath(path, { pathBytesMax: this.limits.pathBytesMax });
    if (path === ROOT) throw fail(ErrorCode.BAD_ARGUMENTS, 'the root cannot be deleted', { path });
    const node = this.#requireVersion(path, expectedVersion);
    if (node.children.size > 0) throw fail(ErrorCode.NOT_EMPTY, `${path} has ${node.children.size} children`, { path });
    this.#unlink(path, node, zxid);
  }

  /** Throws NO_NODE or BAD_VERSION; changes nothing. */
  check(path: string, expectedVersion: number): void {
    this.#requireVersion(path, expectedVersion);
  }

  /**
   * Applies one user op; `sessionId` owns ephemeral creates. Throws like the op's method, and
   * BAD_ARGUMENTS for a write at or under the reserved `/conclave` (the state machine writes its
   * mirror nodes there with `create`/`setData`/`delete` directly).
   */
  applyOp(op: TreeOp, sessionId: number, zxid: number, timeMs: number): TreeOpResult {
    if (typeof op !== 'object' || op === null) throw fail(ErrorCode.BAD_ARGUMENTS, 'an op must be an object');
    if (op.type !== 'check') {
      // A sequential create lands at prefix + 10 digits: `/conclave` + digits is an ordinary path.
      const target = op.type === 'create' && op.sequential === true && typeof op.path === 'string' ? op.path + '0'.repeat(SEQUENTIAL_DIGITS) : op.path;
      if (isReservedPath(target)) throw fail(ErrorCode.BAD_ARGUMENTS, `${String(op.path)} is reserved: nothing at or under /conclave can be written by a request`, { path: op.path });
    }
    switch (op.type) {
      case 'create': {
        const r = this.create(op.path, op.data, op.kind, { sessionId, ttlMs: op.ttlMs ?? 0, sequential: op.sequential === true }, zxid, timeMs);
        return { type: 'create', path: r.path, stat: r.stat };
      }
      case 'set':
        return { type: 'set', stat: this.setData(op.path, op.data, op.version, zxid, timeMs) };
      case 'delete':
        this.delete(op.path, op.version, zxid);
        return { type: 'delete' };
      case 'check':
        this.check(op.path, op.version);
        return { type: 'check' };
      default:
        throw fail(ErrorCode.BAD_ARGUMENTS, `unknown op type ${String((op as { type?: unknown }).type)}`);
    }
  }

  /**
   * All or nothing: applies the ops in order (each sees the ones before it, all with the same
   * zxid); on the first failure undoes the ones applied and reports which op failed. More than
   * `multiOpsMax` ops is BAD_ARGUMENTS (thrown; nothing applied). An unexpected exception is
   * rethrown after the rollback.
   */
  multi(ops: readonly TreeOp[], sessionId: number, zxid: number, timeMs: number): MultiResult {
    if (!Array.isArray(ops)) throw fail(ErrorCode.BAD_ARGUMENTS, 'multi ops must be an array');
    if (ops.length > this.limits.multiOpsMax) {
      throw fail(ErrorCode.BAD_ARGUMENTS, `a multi has at most ${this.limits.multiOpsMax} ops, got ${ops.length}`, { ops: ops.length });
    }
    assert(this.#undo === undefined, 'multi is not reentrant');
    const undo: Array<() => void> = [];
    this.#undo = undo;
    const results: TreeOpResult[] = [];
    let committed = false;
    try {
      for (let i = 0; i < ops.length; i++) {
        try {
          results.push(this.applyOp(ops[i] as TreeOp, sessionId, zxid, timeMs));
        } catch (err: unknown) {
          if (!(err instanceof ConclaveError)) throw err;
          this.#rollback(undo);
          committed = true;
          const error = err.code === ErrorCode.QUOTA_EXCEEDED ? { code: err.code, message: err.message, details: err.details } : { code: err.code, message: err.message };
          return failedMulti(ops.length, i, error);
        }
      }
      committed = true;
      return { ok: true, results };
    } finally {
      if (!committed) this.#rollback(undo);
      this.#undo = undefined;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Restore from a snapshot.

  /** Builds a tree from stored records (any order). Throws CORRUPTED on records that cannot form a tree. */
  static fromRecords(records: Iterable<ZnodeRecord>, limits: Readonly<StateLimits> = stateLimits): DataTree {
    const tree = new DataTree(limits);
    const corrupt = (msg: string, path: string): ConclaveError => fail(ErrorCode.CORRUPTED, `snapshot znode ${JSON.stringify(path)}: ${msg}`, { path });
    const nodes = tree.#nodes;
    let sawRoot = false;
    for (const r of records) {
      try {
        validatePath(r.path, { pathBytesMax: limits.pathBytesMax });
      } catch {
        throw corrupt('bad path', String(r.path));
      }
      if (!isZnodeKind(r.kind)) throw corrupt(`unknown kind ${String(r.kind)}`, r.path);
      if (!(r.data instanceof Uint8Array)) throw corrupt('data is not bytes', r.path);
      if (!(isCount(r.czxid) && isCount(r.mzxid) && isCount(r.pzxid) && isCount(r.ctime) && isCount(r.mtime) && isCount(r.version) && isCount(r.cversion) && isCount(r.ephemeralOwner) && isCount(r.ttlMs))) {
        throw corrupt('bad stat field', r.path);
      }
      if ((r.kind === 'ephemeral') !== r.ephemeralOwner > 0) throw corrupt('ephemeral owner does not match kind', r.path);
      if ((r.kind === 'ttl') !== r.ttlMs > 0) throw corrupt('ttl does not match kind', r.path);
      if (r.path === ROOT) {
        if (sawRoot) throw corrupt('duplicate', r.path);
        sawRoot = true;
      } else if (nodes.has(r.path)) throw corrupt('duplicate', r.path);
      // A row's data that owns its whole buffer (as SQLite's are) is kept as it is; a view is copied,
      // so the node does not keep a larger buffer alive. Data is never changed in place.
      const owned = r.data.byteOffset === 0 && r.data.byteLength === r.data.buffer.byteLength;
      const node = new Znode(owned ? r.data : new Uint8Array(r.data), r.kind, r.ephemeralOwner, r.ttlMs, r.czxid, r.ctime);
      node.mzxid = r.mzxid;
      node.pzxid = r.pzxid;
      node.mtime = r.mtime;
      node.version = r.version;
      node.cversion = r.cversion;
      nodes.set(r.path, node);
    }
    for (const [path, node] of nodes) {
      tree.#dataBytes += node.data.length;
      if (path === ROOT) continue;
      const parent = nodes.get(parentPath(path));
      if (parent === undefined) throw corrupt('parent missing', path);
      if (parent.kind === 'ephemeral') throw corrupt('child of an ephemeral', path);
      parent.addChild(baseName(path));
      tree.#index(path, node, true);
    }
    return tree;
  }

  // -------------------------------------------------------------------------------------------

  #checkData(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw fail(ErrorCode.BAD_ARGUMENTS, 'data must be bytes');
    if (data.length > this.limits.znodeDataBytesMax) {
      throw fail(ErrorCode.DATA_TOO_LARGE, `data of ${data.length} bytes exceeds ${this.limits.znodeDataBytesMax}`, { dataLength: data.length });
    }
  }

  #require(path: string): Znode {
    validatePath(path, { pathBytesMax: this.limits.pathBytesMax });
    const node = this.#nodes.get(path);
    if (node === undefined) throw fail(ErrorCode.NO_NODE, `${path} does not exist`, { path });
    return node;
  }

  #requireVersion(path: string, expectedVersion: number): Znode {
    if (!isVersion(expectedVersion)) throw fail(ErrorCode.BAD_ARGUMENTS, `expected version must be an integer ≥ -1, got ${String(expectedVersion)}`, { path });
    const node = this.#require(path);
    if (expectedVersion !== -1 && node.version !== expectedVersion) {
      throw fail(ErrorCode.BAD_VERSION, `${path} is at version ${node.version}, not ${expectedVersion}`, { path, version: node.version, expectedVersion });
    }
    return node;
  }

  #link(path: string, node: Znode, parent: Znode, zxid: number): void {
    const name = baseName(path);
    this.#preserve(parentPath(path), parent);
    const prev = { cversion: parent.cversion, pzxid: parent.pzxid };
    this.#nodes.set(path, node);
    parent.addChild(name);
    parent.cversion++;
    parent.pzxid = zxid;
    this.#dataBytes += node.data.length;
    this.#sizes?.account(path, 1, node.data.length);
    this.#index(path, node, true);
    this.#undo?.push(() => {
      this.#index(path, node, false);
      this.#sizes?.account(path, -1, -node.data.length);
      this.#dataBytes -= node.data.length;
      parent.pzxid = prev.pzxid;
      parent.cversion = prev.cversion;
      parent.deleteChild(name);
      this.#nodes.delete(path);
    });
  }

  #unlink(path: string, node: Znode, zxid: number): void {
    const parent = this.#nodes.get(parentPath(path));
    assert(parent !== undefined, () => `parent of ${path} exists`);
    const name = baseName(path);
    this.#preserve(path, node);
    this.#preserve(parentPath(path), parent);
    const prev = { cversion: parent.cversion, pzxid: parent.pzxid };
    this.#nodes.delete(path);
    parent.deleteChild(name);
    parent.cversion++;
    parent.pzxid = zxid;
    this.#dataBytes -= node.data.length;
    this.#sizes?.account(path, -1, -node.data.length);
    this.#index(path, node, false);
    this.#undo?.push(() => {
      this.#index(path, node, true);
      this.#sizes?.account(path, 1, node.data.length);
      this.#dataBytes += node.data.length;
      parent.pzxid = prev.pzxid;
      parent.cversion = prev.cversion;
      parent.addChild(name);
      this.#nodes.set(path, node);
    });
  }

  #index(path: string, node: Znode, add: boolean): void {
    if (node.kind === 'ephemeral') {
      let owned = this.#ephemerals.get(node.ephemeralOwner);
      if (add) {
        if (owned === undefined) this.#ephemerals.set(node.ephemeralOwner, (owned = new Set()));
        owned.add(path);
      } else if (owned !== undefined) {
        owned.delete(path);
        if (owned.size === 0) this.#ephemerals.delete(node.ephemeralOwner);
      }
    } else if (node.kind === 'container') {
      if (add) this.#containers.add(path);
      else this.#containers.delete(path);
    } else if (node.kind === 'ttl') {
      if (add) this.#ttls.add(path);
      else this.#ttls.delete(path);
    }
  }

  #rollback(undo: Array<() => void>): void {
    while (undo.length > 0) (undo.pop() as () => void)();
  }
}

function isCount(n: unknown): boolean {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function checkTxnArgs(zxid: number, timeMs: number): void {
  if (!isZxid(zxid) || !Number.isSafeInteger(timeMs)) throw fail(ErrorCode.BAD_ARGUMENTS, `bad zxid ${String(zxid)} or time ${String(timeMs)}`);
}

const KIND_BYTE: Readonly<Record<ZnodeKind, number>> = { persistent: 0, ephemeral: 1, container: 2, ttl: 3 };
const encoder = new TextEncoder();
const scratch = new DataView(new ArrayBuffer(9 * 8 + 1));
const scratchBytes = new Uint8Array(scratch.buffer);
/** Paths never hold U+0000, so it ends the path unambiguously. */
const NUL = Uint8Array.of(0);

function nodeDigest(path: string, node: Znode): number {
  const fields = [node.czxid, node.mzxid, node.pzxid, node.ctime, node.mtime, node.version, node.cversion, node.ephemeralOwner, node.ttlMs];
  fields.forEach((v, i) => scratch.setFloat64(i * 8, v, true));
  scratch.setUint8(fields.length * 8, KIND_BYTE[node.kind]);
  let crc = crc32c(encoder.encode(path));
  crc = crc32c(NUL, crc);
  crc = crc32c(scratchBytes, crc);
  return crc32c(node.data, crc);
}
