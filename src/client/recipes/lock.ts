/**
 * `Lock`: a held grant of a server-side lock (mutex, rwlock side, or semaphore permit), with its
 * fencing token and the deadline until which holding it is safe. Release it with `release()` or
 * `await using`. If the session is lost the grant is gone with it: `lost` is set and `signal`
 * aborts, so work under the lock can stop.
 */
import { ConclaveError, ErrorCode } from '../../common/errors.js';
import type { Client } from '../client.js';
import type { AcquireOptions } from '../lock-calls.js';

export class Lock {
  readonly name: string;
  /** The fencing token: pass it to every resource you write to under this lock. */
  readonly token: number;
  readonly #client: Client;
  readonly #lost = new AbortController();
  #released = false;
  readonly #onLost = (): void => this.#lost.abort(new ConclaveError(ErrorCode.SESSION_EXPIRED, `lock ${this.name} was lost with the session`));

  /** Use `client.lock(...)`. */
  constructor(client: Client, name: string, token: number) {
    this.#client = client;
    this.name = name;
    this.token = token;
    client.on('lost', this.#onLost);
  }

  /** Aborted when the session (and with it the lock) is lost. */
  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  get lost(): boolean {
    return this.#lost.signal.aborted;
  }

  /**
   * The monotonic time (performance.now()) until which this client certainly still holds the lock:
   * while connected, one session timeout after the last answered keep-alive; act on the lock only
   * before it.
   */
  get safeUntil(): number {
    return this.#lost.signal.aborted ? 0 : this.#client.safeUntil;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#client.off('lost', this.#onLost);
    if (this.lost) return;
    await this.#client.releaseLock(this.name);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/** Acquire `name` or throw: UNAVAILABLE (details `timedOut`) when not granted within the timeout. */
export async function lockOrThrow(client: Client, name: string, opts: AcquireOptions): Promise<Lock> {
  const r = await client.acquireLock(name, opts);
  if (!r.granted || r.token === undefined) {
    throw new ConclaveError(ErrorCode.UNAVAILABLE, `lock ${name} was not granted within ${opts.timeoutMs ?? 'the'} ms`, { timedOut: true });
  }
  return new Lock(client, name, r.token);
}

/** One server-side wait is at most this long; longer waits ask again (keeping their place in line). */
export const ACQUIRE_WAIT_MS_MAX = 3_600_000;

/**
 * Acquire `name`, waiting up to `timeoutMs` (undefined: until granted or aborted) in server-side
 * waits of at most an hour each. The session stays in line across them: an acquire by a session
 * already waiting keeps its place.
 */
export async function lockPatiently(client: Client, name: string, opts: Omit<AcquireOptions, 'timeoutMs'>, timeoutMs?: number): Promise<Lock> {
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
  for (;;) {
    opts.signal?.throwIfAborted();
    const left = deadline - performance.now();
    const r = await client.acquireLock(name, { ...opts, timeoutMs: Math.max(0, Math.min(ACQUIRE_WAIT_MS_MAX, Math.floor(left))) });
    if (r.granted && r.token !== undefined) return new Lock(client, name, r.token);
    if (performance.now() >= deadline) throw new ConclaveError(ErrorCode.UNAVAILABLE, `lock ${name} was not granted within ${timeoutMs} ms`, { timedOut: true });
  }
}
