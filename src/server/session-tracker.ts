/**
 * The leader's session deadlines (model: ZooKeeper's SessionTrackerImpl, etcd's lessor). Only the
 * leader tracks and expires; expiry is proposed as a closeSession txn, so every replica deletes the
 * session's ephemerals in the same committed entry. A new leader starts every session's deadline
 * afresh (a leader change never expires a live session), and a replica that stops leading forgets
 * its deadlines (a stalled ex-leader expires nothing).
 */
export interface SessionClock {
  nowMs(): number;
}

export class SessionTracker {
  readonly #clock: SessionClock;
  readonly #deadlines = new Map<number, number>();
  /** Expiries proposed and not yet applied, so each is proposed once. */
  readonly #expiring = new Set<number>();

  constructor(clock: SessionClock) {
    this.#clock = clock;
  }

  /** A keep-alive (or any request) from the session. */
  touch(sessionId: number, timeoutMs: number): void {
    this.#deadlines.set(sessionId, this.#clock.nowMs() + timeoutMs);
  }

  /**
   * Sessions past their deadline, given the sessions the state holds (id → timeout). Sessions the
   * tracker has not seen yet (we just became leader) get a fresh deadline instead.
   */
  expired(sessions: ReadonlyMap<number, number>): number[] {
    const now = this.#clock.nowMs();
    const out: number[] = [];
    for (const [id, timeoutMs] of sessions) {
      const deadline = this.#deadlines.get(id);
      if (deadline === undefined) this.#deadlines.set(id, now + timeoutMs);
      else if (now > deadline && !this.#expiring.has(id)) {
        this.#expiring.add(id);
        out.push(id);
      }
    }
    for (const id of this.#deadlines.keys()) {
      if (!sessions.has(id)) {
        this.#deadlines.delete(id);
        this.#expiring.delete(id);
      }
    }
    return out;
  }

  /** An expiry proposal failed (lost leadership, say): it may be proposed again. */
  retry(sessionId: number): void {
    this.#expiring.delete(sessionId);
  }

  /** We stopped leading: forget everything; a future term starts afresh. */
  reset(): void {
    this.#deadlines.clear();
    this.#expiring.clear();
  }
}
