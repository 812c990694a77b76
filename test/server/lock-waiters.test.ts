import { describe, expect, it } from 'vitest';
import { LockWaiters } from '../../src/server/lock-waiters.js';

describe('LockWaiters', () => {
  it('a session that ends before anyone awaits its wait rejects quietly, and a later await still sees SESSION_EXPIRED', async () => {
    // Found by test/locks/fencing.test.ts: the session expired while the acquire was being proposed,
    // the rejection had no handler yet, and Node stopped the replica for an unhandled rejection.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const waiters = new LockWaiters();
      const { granted } = waiters.wait('jobs', 7);
      waiters.sessionEnded(7);
      // Let the microtask and the unhandled-rejection check run before anyone listens.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      await expect(granted).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
      expect(waiters.size).toBe(0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('answers every waiter of (lock, session) with the grant, and no one else', async () => {
    const waiters = new LockWaiters();
    const a = waiters.wait('jobs', 1);
    const b = waiters.wait('jobs', 1);
    const other = waiters.wait('jobs', 2);
    waiters.granted([{ name: 'jobs', sessionId: 1, token: 42, mode: 'exclusive' }]);
    await expect(a.granted).resolves.toBe(42);
    await expect(b.granted).resolves.toBe(42);
    expect(waiters.size).toBe(1);
    other.cancel();
    expect(waiters.size).toBe(0);
  });
});
