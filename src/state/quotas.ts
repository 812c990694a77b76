/**
 * Quotas (ZooKeeper's count and bytes): a limit on the number of znodes and on the bytes of their
 * data in the subtree at a path, the root node of the subtree included. The path need not exist
 * yet. Quotas nest: every quota enclosing a node counts it. The reserved subtree (`/conclave`, the
 * lock mirrors) is system state: never counted, never refused.
 *
 * Usage is kept incrementally: the tree reports every node linked, unlinked or rewritten
 * (`TreeSizeObserver`), including deletions by a session's end and rollbacks of a multi. A create
 * or a growing set that would take any enclosing quota past a limit is refused with
 * QUOTA_EXCEEDED before the tree changes; inside a multi the ops before it count, so the check is
 * over the multi's cumulative effect. Deletes and shrinking sets are never refused.
 *
 * A quota may be set on a subtree that is already over it: setting succeeds (usage is computed
 * from the tree as it is) and from then on only shrinking is allowed, as in etcd and ZooKeeper's
 * enforced quotas; refusing the set would leave an admin no way to cap a runaway subtree.
 *
 * Snapshot table (see state-snapshot.ts): quotas(path TEXT pk, max_nodes, max_bytes), NULL for
 * no limit. Usage is not stored: restore recounts it from the restored tree, the one truth.
 */
import { crc32c } from '../common/checksum.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { SnapshotRow, SnapshotTableSpec, SnapshotValue } from '../storage/sqlite-snapshot-format.js';
import type { DataTree, TreeSizeObserver } from './data-tree.js';
import { stateLimits, type StateLimits } from './limits.js';
import { isReservedPath, parentPath, validatePath } from './path.js';
import { corrupt, int, text } from './snapshot-cells.js';

/** Absent: no limit on that measure. */
export interface QuotaLimits {
  readonly maxNodes?: number;
  readonly maxBytes?: number;
}

export interface QuotaUsage {
  readonly nodes: number;
  readonly bytes: number;
}

export interface QuotaEntry {
  readonly path: string;
  readonly limits: QuotaLimits;
  readonly usage: QuotaUsage;
}

export const quotasTable: SnapshotTableSpec = {
  name: 'quotas',
  columns: [
    { name: 'path', type: 'TEXT' },
    { name: 'max_nodes', type: 'INTEGER' },
    { name: 'max_bytes', type: 'INTEGER' },
  ],
  primaryKey: ['path'],
};

interface Quota {
  readonly limits: QuotaLimits;
  nodes: number;
  bytes: number;
}

function checkLimit(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `${name} must be a non-negative integer, got ${String(v)}`, { [name]: String(v) });
  return v;
}

/** The limits without absent keys (so equal quotas compare and serialize equal). */
function normalized(l: QuotaLimits): QuotaLimits {
  return { ...(l.maxNodes !== undefined ? { maxNodes: l.maxNodes } : {}), ...(l.maxBytes !== undefined ? { maxBytes: l.maxBytes } : {}) };
}

export class QuotaTable implements TreeSizeObserver {
  readonly limits: Readonly<StateLimits>;
  readonly #quotas = new Map<string, Quota>();

  constructor(limits: Readonly<StateLimits> = stateLimits) {
    this.limits = limits;
  }

  /** Number of paths with a quota. */
  get size(): number {
    return this.#quotas.size;
  }

  /**
   * Sets (replaces) the quota on `path`, its usage counted from `tree` as it is now (possibly
   * already over). Throws BAD_PATH, BAD_ARGUMENTS (a reserved path, no limit given, a limit that is
   * not a non-negative integer) or LIMIT_EXCEEDED (a new path past `quotasMax`), changing nothing.
   */
  set(path: string, limits: QuotaLimits, tree: DataTree): void {
    this.#check(path, limits);
    const { nodes, bytes } = tree.subtreeSize(path);
    this.#quotas.set(path, { limits: normalized(limits), nodes, bytes });
  }

  /** Removes the quota on `path`; NO_NODE when there is none. */
  remove(path: string): void {
    validatePath(path, { pathBytesMax: this.limits.pathBytesMax });
    if (!this.#quotas.delete(path)) throw new ConclaveError(ErrorCode.NO_NODE, `no quota is set on ${path}`, { path });
  }

  /** The quota set exactly on `path` and its usage; undefined when none. */
  get(path: string): { readonly limits: QuotaLimits; readonly usage: QuotaUsage } | undefined {
    const q = this.#quotas.get(path);
    return q === undefined ? undefined : { limits: q.limits, usage: { nodes: q.nodes, bytes: q.bytes } };
  }

  /** Every quota with its usage, sorted by path. */
  list(): QuotaEntry[] {
    return [...this.#quotas.keys()].sort().map((path) => ({ path, ...(this.get(path) as { limits: QuotaLimits; usage: QuotaUsage }) }));
  }

  /** Throws QUOTA_EXCEEDED if adding `nodes` and `bytes` at `path` takes an enclosing quota past a limit. */
  admit(path: string, nodes: number, bytes: number): void {
    if (this.#quotas.size === 0 || isReservedPath(path)) return;
    for (let p = path; ; p = parentPath(p)) {
      const q = this.#quotas.get(p);
      if (q !== undefined) {
        const { maxNodes, maxBytes } = q.limits;
        const overNodes = nodes > 0 && maxNodes !== undefined && q.nodes + nodes > maxNodes;
        const overBytes = bytes > 0 && maxBytes !== undefined && q.bytes + bytes > maxBytes;
        if (overNodes || overBytes) {
          const what = overNodes ? `${q.nodes + nodes} nodes, past its maxNodes ${maxNodes}` : `${q.bytes + bytes} bytes, past its maxBytes ${maxBytes}`;
          throw new ConclaveError(ErrorCode.QUOTA_EXCEEDED, `${nodes > 0 ? 'creating' : 'growing'} ${path} would take the quota on ${p} to ${what} (usage: ${q.nodes} nodes, ${q.bytes} bytes)`, {
            path,
            quota: p,
            ...q.limits,
            nodes: q.nodes,
            bytes: q.bytes,
          });
        }
      }
      if (p === '/') return;
    }
  }

  account(path: string, nodes: number, bytes: number): void {
    if (this.#quotas.size === 0 || isReservedPath(path)) return;
    for (let p = path; ; p = parentPath(p)) {
      const q = this.#quotas.get(p);
      if (q !== undefined) {
        q.nodes += nodes;
        q.bytes += bytes;
      }
      if (p === '/') return;
    }
  }

  /** Sum mod 2^32 of a CRC-32C per quota over its path, limits and usage (usage too: replicas must agree on it). */
  digest(): number {
    const enc = new TextEncoder();
    let sum = 0;
    for (const [path, q] of this.#quotas) {
      const text = `${path}\0${q.limits.maxNodes ?? '-'}\0${q.limits.maxBytes ?? '-'}\0${q.nodes}\0${q.bytes}`;
      sum = (sum + crc32c(enc.encode(text))) % 0x1_0000_0000;
    }
    return sum;
  }

  /** Rows of the `quotas` table, sorted by path. */
  rows(): SnapshotRow[] {
    return this.list().map((e) => [e.path, e.limits.maxNodes ?? null, e.limits.maxBytes ?? null]);
  }

  /**
   * Builds a table from `quotas` rows, its usage recounted from `tree` in one pass over the nodes.
   * Throws CORRUPTED on anything `set` would refuse, or a duplicate path.
   */
  static fromRows(rows: Iterable<SnapshotRow>, tree: DataTree, limits: Readonly<StateLimits> = stateLimits): QuotaTable {
    const table = new QuotaTable(limits);
    const limit = (v: SnapshotValue | undefined, what: string): number | undefined => (v === null ? undefined : int(v, what));
    for (const row of rows) {
      if (row.length !== quotasTable.columns.length) throw corrupt(`quota row has ${row.length} cells`);
      const path = text(row[0], 'quota path');
      const quota = { maxNodes: limit(row[1], `max_nodes of quota ${path}`), maxBytes: limit(row[2], `max_bytes of quota ${path}`) };
      if (table.#quotas.has(path)) throw corrupt(`duplicate quota ${JSON.stringify(path)}`);
      try {
        table.#check(path, quota);
      } catch (err: unknown) {
        if (err instanceof ConclaveError) throw corrupt(`quota ${JSON.stringify(path)}: ${err.message}`);
        throw err;
      }
      table.#quotas.set(path, { limits: normalized(quota), nodes: 0, bytes: 0 });
    }
    if (table.#quotas.size > 0) for (const [path, bytes] of tree.sizes()) table.account(path, 1, bytes);
    return table;
  }

  /** What `set` checks before it counts. */
  #check(path: string, limits: QuotaLimits): void {
    validatePath(path, { pathBytesMax: this.limits.pathBytesMax });
    if (isReservedPath(path)) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `${path} is reserved: system nodes have no quota`, { path });
    if (typeof limits !== 'object' || limits === null) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, 'quota limits must be an object', { path });
    const maxNodes = checkLimit('maxNodes', limits.maxNodes);
    const maxBytes = checkLimit('maxBytes', limits.maxBytes);
    if (maxNodes === undefined && maxBytes === undefined) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, 'a quota needs maxNodes or maxBytes (or both)', { path });
    if (!this.#quotas.has(path) && this.#quotas.size >= this.limits.quotasMax) {
      throw new ConclaveError(ErrorCode.LIMIT_EXCEEDED, `at most ${this.limits.quotasMax} paths may have a quota`, { path, max: this.limits.quotasMax });
    }
  }
}
