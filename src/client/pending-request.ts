/**
 * One operation from the caller's call until it settles: its frame (rebuilt at every send, so a
 * read carries the newest `minZxid` and a write its session and seq), where it is in flight, its
 * deadline and its abort signal.
 */
import type { ConclaveError } from '../common/errors.js';
import { abortReason, unavailable } from './client-errors.js';
import type { Connection } from './connection.js';
import type { WatchEvent } from './types.js';
import type { RequestOp, ResponseFrame, WireEvent } from './wire.js';

/** Reads are retried freely; writes carry a `{ sessionId, seq }` header so a retry is applied once. */
export type RequestKind = 'read' | 'write';

export interface BuildContext {
  /** The newest zxid this client has seen. */
  readonly minZxid: number;
  readonly header: { readonly sessionId: number; readonly seq: number; readonly lowestUnansweredSeq: number };
}

export interface Answer {
  readonly frame: ResponseFrame;
  /** The one-shot watch set by a read asking for one. */
  readonly oneShot?: Promise<WatchEvent>;
}

export interface RequestInit {
  readonly kind: RequestKind;
  readonly op: RequestOp;
  readonly build: (ctx: BuildContext) => object;
  readonly signal?: AbortSignal | undefined;
  /** A read that sets a one-shot watch: its id keeps listening after the answer. */
  readonly oneShot?: boolean;
  /** This request's deadline instead of requestTimeoutMs (a blocking lock acquire waits longer). */
  readonly timeoutMs?: number;
  /**
   * Writes: whether the server remembers its outcome by seq (default true). A lock acquire is not
   * remembered (acquiring again in the same session is harmless), and as it may wait for long it
   * must not hold back what the server may forget of the writes after it.
   */
  readonly remembered?: boolean;
}

export class PendingRequest {
  readonly serial: number;
  readonly kind: RequestKind;
  readonly op: RequestOp;
  readonly build: (ctx: BuildContext) => object;
  readonly oneShot: boolean;
  readonly remembered: boolean;
  readonly promise: Promise<Answer>;
  /** Writes: the seq of every send so far; undefined until sent, or after a refusal that proves it was not applied. */
  seq: number | undefined;
  /** The connection it is in flight on, and the request id there. */
  conn: Connection | undefined;
  id = 0;
  attempts = 0;
  retryTimer: NodeJS.Timeout | undefined;
  /** A one-shot event that raced ahead of the read's own answer. */
  earlyEvent: WireEvent | undefined;
  done = false;
  #resolve!: (a: Answer) => void;
  #reject!: (err: unknown) => void;
  readonly #deadline: NodeJS.Timeout;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;

  /** `onGiveUp` runs when the deadline passes or the signal aborts, so the owner can forget it. */
  constructor(serial: number, init: RequestInit, timeoutMs: number, onGiveUp: (p: PendingRequest) => void) {
    this.serial = serial;
    this.kind = init.kind;
    this.op = init.op;
    this.build = init.build;
    this.oneShot = init.oneShot === true;
    this.remembered = init.kind === 'write' && init.remembered !== false;
    this.promise = new Promise<Answer>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Ref'd on purpose: an awaited operation keeps the process alive until it settles or times out.
    this.#deadline = setTimeout(() => {
      const outcome = this.kind === 'write' && this.seq !== undefined ? '; it may or may not have been applied' : '';
      onGiveUp(this);
      this.fail(unavailable(`${this.op} got no answer within ${timeoutMs} ms (requestTimeoutMs)${outcome}`));
    }, timeoutMs);
    this.#signal = init.signal;
    this.#onAbort = () => {
      onGiveUp(this);
      this.fail(abortReason(this.#signal as AbortSignal));
    };
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  settle(answer: Answer): void {
    if (this.#finish()) this.#resolve(answer);
  }

  fail(err: ConclaveError | unknown): void {
    if (this.#finish()) this.#reject(err);
  }

  #finish(): boolean {
    if (this.done) return false;
    this.done = true;
    clearTimeout(this.#deadline);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    return true;
  }
}
