/**
 * The replicated sessions table: which sessions are open, their timeouts, and for each the latest
 * applied request (its seq and outcome), so that a retried request is answered from memory instead
 * of being applied twice (Raft thesis §6.3). Expiry itself is decided by the leader and arrives as
 * a closeSession txn; nothing here knows the time.
 */
import { crc32c } from '../common/checksum.js';

export interface SessionEntry<R> {
  readonly timeoutMs: number;
  /** The identity that opened it (auth on); '' for none. Only it (or root) may use the session. */
  readonly owner: string;
  /** Latest applied request seq of this session; 0 before the first. */
  lastSeq: number;
  /** The outcome of request `lastSeq`. */
  lastResult: R | undefined;
}

export class SessionTable<R> {
  readonly #sessions = new Map<number, SessionEntry<R>>();

  /** Opens a session; re-opening an open one keeps its owner and request memory and takes the new timeout. */
  open(sessionId: number, timeoutMs: number, owner = ''): void {
    const prev = this.#sessions.get(sessionId);
    this.#sessions.set(sessionId, { timeoutMs, owner: prev?.owner ?? owner, lastSeq: prev?.lastSeq ?? 0, lastResult: prev?.lastResult });
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

  /** Records the outcome of request `seq` of an open session. */
  remember(sessionId: number, seq: number, result: R): void {
    const s = this.#sessions.get(sessionId);
    if (s === undefined) return;
    s.lastSeq = seq;
    s.lastResult = result;
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
    const view = new DataView(new ArrayBuffer(24));
    for (const [id, s] of this.#sessions) {
      view.setFloat64(0, id, true);
      view.setFloat64(8, s.timeoutMs, true);
      view.setFloat64(16, s.lastSeq, true);
      let crc = crc32c(new Uint8Array(view.buffer));
      if (s.owner !== '') crc = crc32c(new TextEncoder().encode(s.owner), crc);
      if (s.lastResult !== undefined) crc = crc32c(encode(s.lastResult), crc);
      sum = (sum + crc) % 0x1_0000_0000;
    }
    return sum;
  }
}
