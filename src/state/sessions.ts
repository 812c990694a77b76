/**
 * The replicated sessions table: which sessions are open, their timeouts, and for each the
 * outcomes of its recent requests, so that a retried request is answered from memory instead of
 * being applied twice (Raft thesis §6.3). A client pipelines its writes, so more than the latest
 * can be unanswered when its connection drops; every request tells the lowest seq it still waits
 * on, and the outcomes below it are forgotten. Expiry itself is decided by the leader and arrives
 * as a closeSession txn; nothing here knows the time.
 */
import { crc32c } from '../common/checksum.js';

/**
 * Outcomes remembered per session at most. A client that never says what it has had answered
 * (or says it wrongly) cannot make a replica remember without bound; the oldest is forgotten
 * first. The SDK keeps far fewer writes in flight than this.
 */
export const REMEMBERED_PER_SESSION_MAX = 4096;

export interface SessionEntry<R> {
  readonly timeoutMs: number;
  /** The identity that opened it (auth on); '' for none. Only it (or root) may use the session. */
  readonly owner: string;
  /** Highest applied request seq of this session; 0 before the first. */
  lastSeq: number;
  /** Requests up to this seq are answered and forgotten: one of them sent again is stale. */
  forgottenThrough: number;
  /** Outcomes of the applied requests above `forgottenThrough`, by seq, ascending. */
  readonly outcomes: Map<number, R>;
}

export class SessionTable<R> {
  readonly #sessions = new Map<number, SessionEntry<R>>();

  /** Opens a session; re-opening an open one keeps its owner and request memory and takes the new timeout. */
  open(sessionId: number, timeoutMs: number, owner = ''): void {
    const prev = this.#sessions.get(sessionId);
    this.#sessions.set(sessionId, {
      timeoutMs,
      owner: prev?.owner ?? owner,
      lastSeq: prev?.lastSeq ?? 0,
      forgottenThrough: prev?.forgottenThrough ?? 0,
      outcomes: prev?.outcomes ?? new Map(),
    });
  }

  /** Forgets a session and its request memory; returns whether it was open. */
  close(sessionId: number): boolean {
    return this.#sessions.delete(sessionId);
  }

  has(sessionId: number): boolean {
    return this.#sessions.has(sessionId);
  }

  get(sessionId: number): Readonly<SessionEntry<R>> | undefined {
    return this.#sessions.get(sessionId);
  }

  /** The remembered outcome of request `seq`, if it was applied and not yet forgotten. */
  outcome(sessionId: number, seq: number): R | undefined {
    return this.#sessions.get(sessionId)?.outcomes.get(seq);
  }

  /** Forgets the outcomes of the session's requests up to `seq` (the client has had their answers). */
  forgetThrough(sessionId: number, seq: number): void {
    const s = this.#sessions.get(sessionId);
    if (s === undefined || seq <= s.forgottenThrough) return;
    s.forgottenThrough = seq;
    // Ascending, so the forgotten ones are at the front.
    for (const k of s.outcomes.keys()) {
      if (k > seq) break;
      s.outcomes.delete(k);
    }
  }

  /** Records the outcome of request `seq` of an open session. */
  remember(sessionId: number, seq: number, result: R): void {
    const s = this.#sessions.get(sessionId);
    if (s === undefined) return;
    const inOrder = seq > s.lastSeq;
    s.outcomes.set(seq, result);
    if (inOrder) s.lastSeq = seq;
    else sortAscending(s.outcomes);
    if (s.outcomes.size > REMEMBERED_PER_SESSION_MAX) {
      const oldest = s.outcomes.keys().next().value as number;
      this.forgetThrough(sessionId, oldest);
    }
  }

  /** Restores a session's request memory from a snapshot (outcomes in any order). */
  restoreMemory(sessionId: number, lastSeq: number, forgottenThrough: number, outcomes: Iterable<readonly [number, R]>): void {
    const s = this.#sessions.get(sessionId);
    if (s === undefined) return;
    s.lastSeq = lastSeq;
    s.forgottenThrough = forgottenThrough;
    for (const [seq, r] of outcomes) s.outcomes.set(seq, r);
    sortAscending(s.outcomes);
  }

  /** Open session ids, ascending. */
  ids(): number[] {
    return [...this.#sessions.keys()].sort((a, b) => a - b);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Order-independent digest; `encode` gives the bytes of a remembered outcome. */
  digest(encode: (r: R) => Uint8Array): number {
    let sum = 0;
    const view = new DataView(new ArrayBuffer(32));
    const seqView = new DataView(new ArrayBuffer(8));
    for (const [id, s] of this.#sessions) {
      view.setFloat64(0, id, true);
      view.setFloat64(8, s.timeoutMs, true);
      view.setFloat64(16, s.lastSeq, true);
      view.setFloat64(24, s.forgottenThrough, true);
      let crc = crc32c(new Uint8Array(view.buffer));
      if (s.owner !== '') crc = crc32c(new TextEncoder().encode(s.owner), crc);
      for (const [seq, r] of s.outcomes) {
        seqView.setFloat64(0, seq, true);
        crc = crc32c(encode(r), crc32c(new Uint8Array(seqView.buffer), crc));
      }
      sum = (sum + crc) % 0x1_0000_0000;
    }
    return sum;
  }
}

/** Re-inserts a map's entries in ascending key order (rare: a request applied after a later one). */
function sortAscending<R>(m: Map<number, R>): void {
  const entries = [...m].sort((a, b) => a[0] - b[0]);
  m.clear();
  for (const [k, v] of entries) m.set(k, v);
}
