/** Token buckets per session: a burst of one second's worth, then the rate; a refusal charges nothing. */
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/security/rate-limiter.js';

describe('rate limiter', () => {
  it('admits a burst of one second of operations, then refuses with the wait until the next', () => {
    let now = 0;
    const rl = new RateLimiter({ opsPerSecond: 10, bytesPerSecond: 0 }, () => now);
    for (let i = 0; i < 10; i++) expect(rl.admit(1, 100).admitted).toBe(true);
    const refused = rl.admit(1, 100);
    expect(refused).toEqual({ admitted: false, reason: 'ops', retryAfterMs: 100 });
    // Another session is not affected.
    expect(rl.admit(2, 100).admitted).toBe(true);
    now = 100;
    expect(rl.admit(1, 100).admitted).toBe(true);
    expect(rl.admit(1, 100).admitted).toBe(false);
  });

  it('limits bytes, and admits a request bigger than a second of bytes once the bucket is full', () => {
    let now = 0;
    const rl = new RateLimiter({ opsPerSecond: 0, bytesPerSecond: 1000 }, () => now);
    expect(rl.admit('host:a', 600).admitted).toBe(true);
    const r = rl.admit('host:a', 600);
    expect(r.admitted).toBe(false);
    if (!r.admitted) expect(r.retryAfterMs).toBe(200);
    now = 200;
    expect(rl.admit('host:a', 600).admitted).toBe(true);
    now = 10_000;
    expect(rl.admit('host:a', 5000).admitted).toBe(true);
    expect(rl.admit('host:a', 1).admitted).toBe(false);
  });

  it('over a long flood admits the configured rate, no more', () => {
    let now = 0;
    const rl = new RateLimiter({ opsPerSecond: 50, bytesPerSecond: 0 }, () => now);
    let admitted = 0;
    for (now = 0; now < 10_000; now += 1) if (rl.admit(7, 10).admitted) admitted++;
    // 10 s at 50/s plus the initial burst of 50.
    expect(admitted).toBeGreaterThanOrEqual(540);
    expect(admitted).toBeLessThanOrEqual(551);
  });

  it('with no limits admits everything and tracks nothing', () => {
    const rl = new RateLimiter({ opsPerSecond: 0, bytesPerSecond: 0 });
    for (let i = 0; i < 1000; i++) expect(rl.admit(i, 10 ** 6).admitted).toBe(true);
    expect(rl.size).toBe(0);
  });
});
