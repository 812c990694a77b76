/**
 * Blocked lock acquires waiting on this replica: each waits for the grant of (lock, session) to be
 * applied. Every replica applies every grant, so a waiter is answered here even if this replica
 * stopped leading meanwhile. A session that ends fails its waiters with SESSION_EXPIRED.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { ConclaveStateMachine, LockDescription, LockGrant } from '../state/index.js';

interface Waiter {
  resolve(token: number): void;
  reject(err: unknown): void;
}

export class LockWaiters {
  readonly #waiting = new Map<string, Set<Waiter>>();

  /** A promise of the grant's token; `cancel` stops waiting (the promise then never settles). */
  wait(name: string, sessionId: number): { granted: Promise<number>; cancel(): void } {
    const key = keyOf(name, sessionId);
    let waiter!: Waiter;
    const granted = new Promise<number>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    // The caller listens only once its acquire is applied; a session that ends before then rejects
    // this promise with no handler yet, and an unhandled rejection would stop the whole replica.
    // Whoever awaits `granted` later still sees the rejection.
    granted.catch(() => undefined);
    let set = this.#waiting.get(key);
    if (!set) this.#waiting.set(key, (set = new Set()));
    set.add(waiter);
    const cancel = (): void => {
      const s = this.#waiting.get(key);
      s?.delete(waiter);
      if (s?.size === 0) this.#waiting.delete(key);
    };
    return { granted, cancel };
  }

  /** Grants applied by one entry. */
  granted(grants: readonly LockGrant[]): void {
    for (const g of grants) {
      const key = keyOf(g.name, g.sessionId);
      const set = this.#waiting.get(key);
      if (!set) continue;
      this.#waiting.delete(key);
      for (const w of set) w.resolve(g.token);
    }
  }

  /** The session ended: nothing it waits for will be granted to it. */
  sessionEnded(sessionId: number): void {
    const suffix = `\0${sessionId}`;
    for (const [key, set] of this.#waiting) {
      if (!key.endsWith(suffix)) continue;
      this.#waiting.delete(key);
      for (const w of set) w.reject(new ConclaveError(ErrorCode.SESSION_EXPIRED, `session ${sessionId} ended while waiting for a lock`));
    }
  }

  get size(): number {
    let n = 0;
    for (const s of this.#waiting.values()) n += s.size;
    return n;
  }
}

function keyOf(name: string, sessionId: number): string {
  return `${name}\0${sessionId}`;
}

/** The lock gauges of a replica's metrics, read from its state machine on scrape. */
export function lockGauges(sm: ConclaveStateMachine): { locks(): number; lockWaiters(): number; lockOldestHolderSeconds(): number } {
  const all = (): LockDescription[] => sm.locks.names().flatMap((n) => sm.locks.describe(n) ?? []);
  return {
    locks: () => sm.locks.size,
    lockWaiters: () => all().reduce((n, l) => n + l.waiters.length, 0),
    lockOldestHolderSeconds: () => {
      const since = all().flatMap((l) => l.holders.map((h) => h.sinceMs));
      return since.length === 0 ? 0 : Math.max(0, (Date.now() - Math.min(...since)) / 1000);
    },
  };
}
