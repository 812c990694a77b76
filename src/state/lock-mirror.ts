/**
 * Locks are visible in the tree: each lock with holders, waiters or a pending lock-delay is
 * mirrored by a persistent node `/conclave/locks/<name>` whose data is a small JSON document,
 * rewritten in the txn that changes the lock and deleted with it. `/conclave` and
 * `/conclave/locks` are created on first use and kept. So `ls`, `get` and watches show holders and
 * waiters, and the ordinary watch events fire (an election observer watches one node). Requests
 * cannot write there (`isReservedPath`); only this file does, through the tree's own mutators.
 *
 * The document (keys in this order):
 *   {"kind":"mutex","permits":1,"delayMs":0,"blockedUntilMs":0,
 *    "holders":[{"sessionId":7,"token":42,"mode":"exclusive","sinceMs":1700000000000,"value":"<base64>"}],
 *    "waiters":[{"sessionId":9,"mode":"exclusive","sinceMs":1700000000500}]}
 * If that exceeds `znodeDataBytesMax`, it is cut down (values dropped, then the lists emptied) and
 * gains `"truncated":true,"holdersTotal":N,"waitersTotal":M`; `describe` always has the whole truth.
 */
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { DataTree } from './data-tree.js';
import { LOCKS_ROOT, lockNodePath } from './lock-name.js';
import type { LockTable } from './locks.js';
import type { LockDescription } from './lock-types.js';
import { RESERVED_ROOT, parentPath } from './path.js';
import type { ChangeEvent } from './state-machine.js';

const encoder = new TextEncoder();

/** The mirror node's data for a lock, at most `bytesMax` bytes. */
export function mirrorData(d: LockDescription, bytesMax: number): Uint8Array {
  const head = { kind: d.kind, permits: d.permits, delayMs: d.delayMs, blockedUntilMs: d.blockedUntilMs };
  const waiters = d.waiters.map((w) => ({ sessionId: w.sessionId, mode: w.mode, sinceMs: w.sinceMs }));
  const full = encoder.encode(
    JSON.stringify({ ...head, holders: d.holders.map((h) => ({ sessionId: h.sessionId, token: h.token, mode: h.mode, sinceMs: h.sinceMs, value: Buffer.from(h.value).toString('base64') })), waiters }),
  );
  if (full.length <= bytesMax) return full;
  const totals = { truncated: true, holdersTotal: d.holders.length, waitersTotal: d.waiters.length };
  const short = encoder.encode(JSON.stringify({ ...head, holders: d.holders.map((h) => ({ sessionId: h.sessionId, token: h.token, mode: h.mode, sinceMs: h.sinceMs })), waiters: [], ...totals }));
  if (short.length <= bytesMax) return short;
  const bare = encoder.encode(JSON.stringify({ ...head, holders: [], waiters: [], ...totals }));
  return bare.length <= bytesMax ? bare : new Uint8Array(0);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function created(path: string, zxid: number, events: ChangeEvent[]): void {
  events.push({ type: 'created', path, zxid }, { type: 'children', path: parentPath(path), zxid });
}

/**
 * Brings the mirror nodes of `names` in line with the table, appending the change events. The
 * lock txn has already changed the table, so a failure here would leave the two apart: it is an
 * assertion (names are validated to make valid paths, and requests cannot write under /conclave).
 */
export function syncLockMirror(tree: DataTree, locks: LockTable, names: Iterable<string>, zxid: number, timeMs: number, events: ChangeEvent[]): void {
  try {
    for (const name of names) {
      const path = lockNodePath(name);
      const d = locks.describe(name);
      const stat = tree.exists(path);
      if (d === undefined) {
        if (stat === undefined) continue;
        tree.delete(path, -1, zxid);
        events.push({ type: 'deleted', path, zxid }, { type: 'children', path: LOCKS_ROOT, zxid });
        continue;
      }
      const data = mirrorData(d, tree.limits.znodeDataBytesMax);
      if (stat === undefined) {
        for (const dir of [RESERVED_ROOT, LOCKS_ROOT]) {
          if (tree.exists(dir) !== undefined) continue;
          tree.create(dir, new Uint8Array(0), 'persistent', {}, zxid, timeMs);
          created(dir, zxid, events);
        }
        tree.create(path, data, 'persistent', {}, zxid, timeMs);
        created(path, zxid, events);
      } else if (!sameBytes(tree.get(path).data, data)) {
        tree.setData(path, data, -1, zxid, timeMs);
        events.push({ type: 'changed', path, zxid });
      }
    }
  } catch (err: unknown) {
    assert(!(err instanceof ConclaveError), () => `lock mirror: ${(err as Error).message}`);
    throw err;
  }
}

/** Throws CORRUPTED unless the tree under /conclave is exactly the mirror of `locks`. */
export function checkLockMirror(tree: DataTree, locks: LockTable): void {
  const corrupt = (why: string): ConclaveError => new ConclaveError(ErrorCode.CORRUPTED, `snapshot: ${why}`);
  const persistent = (path: string): boolean => tree.record(path)?.kind === 'persistent';
  const root = tree.exists(RESERVED_ROOT);
  const dir = tree.exists(LOCKS_ROOT);
  if (root !== undefined && (!persistent(RESERVED_ROOT) || root.numChildren !== (dir === undefined ? 0 : 1))) throw corrupt(`${RESERVED_ROOT} holds more than the lock mirror`);
  if ((dir?.numChildren ?? 0) !== locks.size || (dir !== undefined && !persistent(LOCKS_ROOT))) throw corrupt(`${LOCKS_ROOT} does not mirror the ${locks.size} locks`);
  for (const name of locks.names()) {
    const path = lockNodePath(name);
    const node = tree.record(path);
    const want = mirrorData(locks.describe(name) as LockDescription, tree.limits.znodeDataBytesMax);
    if (node === undefined || node.kind !== 'persistent' || tree.exists(path)?.numChildren !== 0 || !sameBytes(node.data, want)) throw corrupt(`${path} does not mirror lock ${name}`);
  }
}
