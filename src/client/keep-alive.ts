/**
 * Keep-alives on the current connection, every third of the session timeout. One is in flight at a
 * time; if it is still unanswered when the next is due and nothing at all arrived on the connection
 * meanwhile, the connection is declared dead (a paused or partitioned member does not close its
 * socket). A member that is still sending — events queued ahead of the answer, when this client reads
 * slower than its watches fire — is alive, and the answer is waited for.
 */
import type { ConclaveError } from '../common/errors.js';
import { unavailable } from './client-errors.js';
import type { Connection } from './connection.js';
import { bodyOf, errorOf } from './wire.js';

export interface KeepAliveHooks {
  nextId(): number;
  /** The keep-alive sent at `sentAt` was answered; the server grants `timeoutMs`. */
  answered(conn: Connection, sentAt: number, timeoutMs: number): void;
  /** Refused (SESSION_EXPIRED, NOT_LEADER, ...) or left unanswered. */
  failed(conn: Connection, err: ConclaveError): void;
}

export class KeepAlives {
  /** For tests: skip keep-alives, as a paused process would. */
  paused = false;
  readonly #hooks: KeepAliveHooks;
  #timer: NodeJS.Timeout | undefined;
  #sentAt: number | undefined;

  constructor(hooks: KeepAliveHooks) {
    this.#hooks = hooks;
  }

  start(conn: Connection, sessionId: number, timeoutMs: number): void {
    this.stop();
    const everyMs = Math.max(1, Math.floor(timeoutMs / 3));
    this.#timer = setInterval(() => this.#tick(conn, sessionId, everyMs), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sentAt = undefined;
  }

  #tick(conn: Connection, sessionId: number, everyMs: number): void {
    if (this.paused) return;
    if (this.#sentAt !== undefined) {
      const heardSince = conn.lastFrameAt > performance.now() - everyMs;
      if (performance.now() - this.#sentAt >= everyMs && !heardSince) this.#hooks.failed(conn, unavailable(`${conn.address} left a keep-alive unanswered for ${everyMs} ms`));
      return;
    }
    const id = this.#hooks.nextId();
    const sentAt = performance.now();
    this.#sentAt = sentAt;
    conn.send(id, 'keepAlive', { sessionId }, (frame) => {
      conn.forget(id);
      if (this.#sentAt !== sentAt) return;
      this.#sentAt = undefined;
      if (frame.result === 'error' && frame.error) this.#hooks.failed(conn, errorOf(frame.error));
      else this.#hooks.answered(conn, sentAt, bodyOf<{ timeoutMs: number }>(frame, 'keepAlive').timeoutMs);
    });
  }
}
