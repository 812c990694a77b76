/**
 * Per-session rate limits: a token bucket for operations and one for request bytes per key (a
 * session id, or the client host for calls without a session), each refilled at its rate and
 * holding at most one second's worth (the burst). A request over either is refused with the time
 * after which it would be admitted, and charges nothing, so a throttled client that retries later
 * is not punished twice. One noisy session cannot take more than its share of the leader.
 */
export interface RateLimits {
  /** Operations per second per key; 0 for no limit. */
  readonly opsPerSecond: number;
  /** Request bytes per second per key; 0 for no limit. */
  readonly bytesPerSecond: number;
}

interface Bucket {
  ops: number;
  bytes: number;
  atMs: number;
}

/** Buckets idle this long are full again and dropped (a new one starts full). */
const IDLE_MS = 2000;
const SWEEP_EVERY = 4096;

export type Throttle = { readonly admitted: true } | { readonly admitted: false; readonly reason: 'ops' | 'bytes'; readonly retryAfterMs: number };

const ADMITTED: Throttle = Object.freeze({ admitted: true });

export class RateLimiter {
  readonly limits: RateLimits;
  readonly #now: () => number;
  readonly #buckets = new Map<string | number, Bucket>();
  #sinceSweep = 0;

  constructor(limits: RateLimits, now: () => number = () => performance.now()) {
    this.limits = limits;
    this.#now = now;
  }

  get enabled(): boolean {
    return this.limits.opsPerSecond > 0 || this.limits.bytesPerSecond > 0;
  }

  /** Admit one operation of `bytes` for `key`, or say how long to wait. */
  admit(key: string | number, bytes: number): Throttle {
    if (!this.enabled) return ADMITTED;
    const { opsPerSecond: opsRate, bytesPerSecond: bytesRate } = this.limits;
    const now = this.#now();
    if (++this.#sinceSweep >= SWEEP_EVERY) this.#sweep(now);
    let b = this.#buckets.get(key);
    if (!b) {
      b = { ops: opsRate, bytes: bytesRate, atMs: now };
      this.#buckets.set(key, b);
    } else {
      const elapsed = (now - b.atMs) / 1000;
      b.ops = Math.min(opsRate, b.ops + elapsed * opsRate);
      b.bytes = Math.min(bytesRate, b.bytes + elapsed * bytesRate);
      b.atMs = now;
    }
    if (opsRate > 0 && b.ops < 1) return { admitted: false, reason: 'ops', retryAfterMs: Math.ceil(((1 - b.ops) / opsRate) * 1000) };
    // A request bigger than a whole second's budget is admitted once the bucket is full (it would never fit otherwise).
    const need = Math.min(bytes, bytesRate);
    if (bytesRate > 0 && b.bytes < need) return { admitted: false, reason: 'bytes', retryAfterMs: Math.ceil(((need - b.bytes) / bytesRate) * 1000) };
    if (opsRate > 0) b.ops -= 1;
    if (bytesRate > 0) b.bytes -= Math.min(bytes, b.bytes);
    return ADMITTED;
  }

  /** Keys tracked now (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    this.#sinceSweep = 0;
    for (const [key, b] of this.#buckets) if (now - b.atMs > IDLE_MS) this.#buckets.delete(key);
  }
}
