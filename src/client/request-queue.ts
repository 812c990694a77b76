/**
 * The operations waiting to be sent, in the order they must go: first the writes that were in
 * flight on a lost connection, by seq (the server refuses a seq older than one it has applied),
 * then everything else in call order.
 */
import type { PendingRequest } from './pending-request.js';

export class RequestQueue {
  #resend: PendingRequest[] = [];
  #waiting: PendingRequest[] = [];

  /** A new operation. */
  push(p: PendingRequest): void {
    this.#waiting.push(p);
  }

  /** Back in line, in call order (after a refusal or a retry delay). */
  requeue(p: PendingRequest): void {
    const at = this.#waiting.findIndex((q) => q.serial > p.serial);
    if (at < 0) this.#waiting.push(p);
    else this.#waiting.splice(at, 0, p);
  }

  /** A write that may have been applied: resend it with its seq, before anything else. */
  resend(p: PendingRequest): void {
    this.#resend.push(p);
    this.#resend.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  }

  /** What was in flight on a lost connection. */
  returnInFlight(inFlight: readonly PendingRequest[]): void {
    for (const p of inFlight) {
      if (p.kind === 'write' && p.seq !== undefined) this.#resend.push(p);
      else this.#waiting.push(p);
    }
    this.#resend.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    this.#waiting.sort((a, b) => a.serial - b.serial);
  }

  /** The next operation to send (settled ones are dropped on the way). */
  next(): PendingRequest | undefined {
    for (;;) {
      const p = this.#resend.shift() ?? this.#waiting.shift();
      if (!p || (!p.done && !p.conn)) return p;
    }
  }

  clear(): void {
    this.#resend = [];
    this.#waiting = [];
  }
}
