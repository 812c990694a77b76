/**
 * Transactions: what the leader prepares a write request into, and what every replica applies.
 * Schema: proto/txn.proto. The zxid is the Raft index of the entry and is not part of the txn.
 */
import type { AclGrant } from './acl.js';
import type { TreeOp } from './data-tree.js';
import type { LockAcquireRequest } from './lock-types.js';

export type { TreeOp } from './data-tree.js';

/** Lock txns; the owner is the txn's session (required, except for lockWake). See locks.ts. */
export type LockTxnBody =
  /** Acquire (wait: true) or TryAcquire (wait: false). */
  | ({ readonly type: 'lockAcquire' } & LockAcquireRequest)
  | { readonly type: 'lockRelease'; readonly name: string }
  /** Withdraw this session's waiting request (the leader proposes it when a blocking acquire times out or is cancelled). */
  | { readonly type: 'lockCancel'; readonly name: string }
  /** Lift a lock-delay that has passed (the leader proposes it; see `LockTable.locksToWake`). */
  | { readonly type: 'lockWake'; readonly name: string };

/**
 * ACL and quota txns (acl.ts, quotas.ts); each needs `admin` on its path. An empty `grants` list
 * removes the ACL; removing an ACL or quota that is not set is NO_NODE.
 */
export type SecurityTxnBody =
  | { readonly type: 'setAcl'; readonly path: string; readonly grants: readonly AclGrant[] }
  | { readonly type: 'removeAcl'; readonly path: string }
  | { readonly type: 'setQuota'; readonly path: string; readonly maxNodes?: number; readonly maxBytes?: number }
  | { readonly type: 'removeQuota'; readonly path: string };

export type TxnBody =
  | TreeOp
  | { readonly type: 'multi'; readonly ops: readonly TreeOp[] }
  | { readonly type: 'createSession'; readonly sessionId: number; readonly timeoutMs: number }
  /** `expired`: the leader expired it (lock-delays apply); absent or false: the client closed it. */
  | { readonly type: 'closeSession'; readonly sessionId: number; readonly expired?: boolean }
  | LockTxnBody
  | SecurityTxnBody;

export interface Txn {
  /** The leader's wall time (ms) when it prepared the request, decided once: ctime and mtime. */
  readonly timeMs: number;
  /** The session that sent the request; 0 for none. Owns the ephemerals it creates and the locks it acquires. */
  readonly sessionId: number;
  /** The request's sequence number in its session; 0 for none. With `sessionId` it is the request id. */
  readonly seq: number;
  /**
   * The lowest seq of the session the client had no answer to when it sent this (Raft thesis
   * §6.3); absent or 0: not given, read as `seq` (only the latest request is remembered). The
   * outcomes of the session's requests below it are forgotten; a request below it is stale.
   */
  readonly lowestUnansweredSeq?: number;
  /**
   * The authenticated identity that sent the request; absent or empty: trusted (auth is off, or a
   * txn the leader proposes itself), so no permission is checked.
   */
  readonly identity?: string;
  readonly body: TxnBody;
}

/** A request id: the txn is deduplicated by (sessionId, seq). */
export interface RequestId {
  readonly sessionId: number;
  readonly seq: number;
}

/** The request id of a txn, if it carries one. */
export function requestIdOf(txn: Txn): RequestId | undefined {
  return txn.seq > 0 && txn.sessionId > 0 ? { sessionId: txn.sessionId, seq: txn.seq } : undefined;
}
