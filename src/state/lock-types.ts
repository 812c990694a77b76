/**
 * The shapes locks are read and reported in (the table itself is locks.ts): a lock's description,
 * the grants and releases a txn made, and an acquire request and its outcome.
 */
import type { LockKind, LockMode } from './lock-name.js';

export interface LockHolder {
  readonly sessionId: number;
  /** The fencing token: the zxid of the txn that granted it. */
  readonly token: number;
  readonly mode: LockMode;
  /** The granting txn's time. */
  readonly sinceMs: number;
  /** What the holder proclaims (leader election); must not be mutated. */
  readonly value: Uint8Array;
}

export interface LockWaiter {
  readonly sessionId: number;
  readonly mode: LockMode;
  /** The time of the acquire that queued it. */
  readonly sinceMs: number;
  /** The value it will proclaim once granted. */
  readonly value: Uint8Array;
}

export interface LockDescription {
  readonly name: string;
  readonly kind: LockKind;
  /** A semaphore's permits; 1 for the others. */
  readonly permits: number;
  readonly delayMs: number;
  /** Grants are held back until a wake at or after this time; 0 when not blocked. */
  readonly blockedUntilMs: number;
  /** In grant order. */
  readonly holders: readonly LockHolder[];
  /** In arrival order: the head is granted next. */
  readonly waiters: readonly LockWaiter[];
}

export interface LockGrant {
  readonly name: string;
  readonly sessionId: number;
  readonly token: number;
  readonly mode: LockMode;
}

/** `released`: a lockRelease; `closed`/`expired`: the session ended (closeSession, by request or expiry). */
export type LockReleaseReason = 'released' | 'closed' | 'expired';

export interface LockRelease {
  readonly name: string;
  readonly sessionId: number;
  readonly token: number;
  readonly reason: LockReleaseReason;
}

export interface LockAcquireRequest {
  readonly name: string;
  readonly kind: LockKind;
  /** rwlock only (default exclusive); a mutex refuses shared; a semaphore ignores it. */
  readonly mode?: LockMode;
  /** Semaphore only (≥ 1); 0 or 1 for the others. */
  readonly permits?: number;
  /** Queue when the lock cannot be granted now; otherwise answer `granted: false` and change nothing. */
  readonly wait?: boolean;
  readonly delayMs?: number;
  readonly value?: Uint8Array;
}

/** `position`: the number of waiters ahead (0: next in line); only when waiting. */
export interface LockAcquireOutcome {
  readonly granted: boolean;
  readonly token?: number;
  readonly position?: number;
}

/** What a txn did to locks: the grants and releases it made and the locks it changed. */
export class LockChanges {
  readonly grants: LockGrant[] = [];
  readonly releases: LockRelease[] = [];
  /** Locks whose state changed (their mirror nodes must follow), in first-change order. */
  readonly touched = new Set<string>();
}
