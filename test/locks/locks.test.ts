/**
 * Locks through the SDK against a real server: blocking FIFO grants with increasing fencing
 * tokens, timeouts that leave the queue, release with the session (and lock-delay after an
 * expiry), rwlocks and semaphores, elections, describe and validateFence, reserved paths.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/common/errors.js';
import type { Client } from '../../src/client/index.js';
import { clientInternals } from '../../src/client/internals.js';
import { Fixture, codeOf, text } from '../client/support.js';
import { until } from '../support/until.js';

const fx = new Fixture();

beforeAll(async () => {
  await fx.startShared(1, ['--session-timeout-min-ms', '500']);
});
afterEach(async () => {
  await fx.cleanUp();
  await fx.heal();
});
afterAll(async () => {
  await fx.stopShared();
});

async function clients(n: number, opts: { sessionTimeoutMs?: number } = {}): Promise<Client[]> {
  return Promise.all(Array.from({ length: n }, () => fx.client(fx.shared, opts)));
}

describe('mutex', () => {
  it('grants in arrival order, blocking server-side, with strictly increasing tokens', async () => {
    const [a, b, c] = await clients(3);
    const first = await a!.lock('m1');
    const order: string[] = [];
    const pb = b!.lock('m1').then((l) => (order.push('b'), l));
    await until('b to queue', async () => (await a!.describeLock('m1')).waiters.length === 1);
    const pc = c!.lock('m1').then((l) => (order.push('c'), l));
    await until('c to queue', async () => (await a!.describeLock('m1')).waiters.length === 2);
    expect(order).toEqual([]);
    await first.release();
    const lb = await pb;
    expect(order).toEqual(['b']);
    await lb.release();
    const lc = await pc;
    expect(order).toEqual(['b', 'c']);
    expect(first.token).toBeLessThan(lb.token);
    expect(lb.token).toBeLessThan(lc.token);
    expect(await a!.validateFence('m1', lc.token)).toBe(true);
    expect(await a!.validateFence('m1', lb.token)).toBe(false);
    const d = await a!.describeLock('m1');
    expect(d).toMatchObject({ exists: true, kind: 'mutex', holders: [{ sessionId: c!.sessionId, token: lc.token }], waiters: [] });
    await lc.release();
    expect((await a!.describeLock('m1')).exists).toBe(false);
  });

  it('times out, leaving the queue, and a try-once acquire never jumps it', async () => {
    const [a, b] = await clients(2);
    const held = await a!.lock('m2');
    expect(await codeOf(b!.lock('m2', { timeoutMs: 300 }))).toBe(ErrorCode.UNAVAILABLE);
    expect((await a!.describeLock('m2')).waiters).toEqual([]);
    expect((await b!.acquireLock('m2', { timeoutMs: 0 })).granted).toBe(false);
    await held.release();
    expect((await b!.acquireLock('m2', { timeoutMs: 0 })).granted).toBe(true);
  });

  it('is released in the entry that ends the holder session, and the next waiter gets it', async () => {
    const [a, b] = await clients(2);
    await a!.lock('m3');
    const waiting = b!.lock('m3');
    await until('b to queue', async () => (await b!.describeLock('m3')).waiters.length === 1);
    await a!.close();
    const lb = await waiting;
    expect((await b!.describeLock('m3')).holders.map((h) => h.sessionId)).toEqual([b!.sessionId]);
    await lb.release();
  });

  it('holds back a lock whose holder expired for its lock-delay, then grants it', async () => {
    const [a, b] = await clients(2, { sessionTimeoutMs: 500 });
    const la = await a!.lock('m4', { delayMs: 1500 });
    const lost = new Promise<void>((resolve) => la.signal.addEventListener('abort', () => resolve()));
    a![clientInternals].pauseKeepAlives(true);
    const waiting = b!.lock('m4', { delayMs: 1500, timeoutMs: 20_000 });
    await until('the holder to expire', async () => (await b!.describeLock('m4')).holders.length === 0, 20_000);
    const blocked = await b!.describeLock('m4');
    expect(blocked.blockedUntilMs).toBeGreaterThan(0);
    expect(blocked.waiters.map((w) => w.sessionId)).toEqual([b!.sessionId]);
    const lb = await waiting;
    expect(Date.now()).toBeGreaterThanOrEqual(blocked.blockedUntilMs ?? 0);
    expect(lb.token).toBeGreaterThan(la.token);
    // The old holder learns it lost the lock with its session at its next keep-alive.
    a![clientInternals].pauseKeepAlives(false);
    await until('the old holder to see its loss', () => la.lost);
    await lost;
    await lb.release();
  });
});

describe('rwlock and semaphore', () => {
  it('lets readers share, makes a writer wait for them, and later readers wait for the writer', async () => {
    const [r1, r2, w, r3] = await clients(4);
    const a = await r1!.lock('rw', { kind: 'rwlock', mode: 'shared' });
    const b = await r2!.lock('rw', { kind: 'rwlock', mode: 'shared' });
    const pw = w!.lock('rw', { kind: 'rwlock', mode: 'exclusive' });
    await until('the writer to queue', async () => (await r1!.describeLock('rw')).waiters.length === 1);
    const pr3 = r3!.lock('rw', { kind: 'rwlock', mode: 'shared' });
    await until('the late reader to queue behind it', async () => (await r1!.describeLock('rw')).waiters.length === 2);
    await a.release();
    await b.release();
    const lw = await pw;
    expect((await r1!.describeLock('rw')).holders.map((h) => h.mode)).toEqual(['exclusive']);
    await lw.release();
    await (await pr3).release();
  });

  it('gives a semaphore to at most its permits at once', async () => {
    const cs = await clients(3);
    const [l1, l2] = await Promise.all([cs[0]!.lock('sem', { kind: 'semaphore', permits: 2 }), cs[1]!.lock('sem', { kind: 'semaphore', permits: 2 })]);
    expect((await cs[2]!.acquireLock('sem', { kind: 'semaphore', permits: 2, timeoutMs: 0 })).granted).toBe(false);
    expect(await codeOf(cs[2]!.lock('sem', { kind: 'mutex', timeoutMs: 0 }))).toBe(ErrorCode.BAD_ARGUMENTS);
    await l1!.release();
    const l3 = await cs[2]!.lock('sem', { kind: 'semaphore', permits: 2 });
    await l2!.release();
    await l3.release();
  });
});

describe('elections', () => {
  it('elect one leader at a time, in order, and observers see each change', async () => {
    const [x, y, obs] = await clients(3);
    const seen: (string | undefined)[] = [];
    const stop = new AbortController();
    const observing = (async () => {
      for await (const leader of obs!.election('e').observe({ signal: stop.signal })) seen.push(leader && text(leader.value));
    })().catch(() => undefined);
    const ex = x!.election('e');
    await ex.campaign('x:8080');
    const ey = y!.election('e');
    const yElected = ey.campaign('y:8080');
    await until('y to queue', async () => (await obs!.describeLock('e')).waiters.length === 1);
    await ex.proclaim('x:9090');
    expect(text((await obs!.election('e').leader())?.value)).toBe('x:9090');
    await ex.resign();
    await yElected;
    await until('the observer to see y', () => seen.includes('y:8080'));
    stop.abort();
    await observing;
    expect(seen.filter((v) => v !== undefined)).toEqual(['x:8080', 'x:9090', 'y:8080']);
    await ey.resign();
  });

  it('an observer that starts under a sitting leader sees it once, then only changes', async () => {
    // The first answer's value and the mirror events' values once compared unequal for the same
    // bytes, so the sitting leader was yielded again on the next change to the lock.
    const [x, y, obs] = await clients(3);
    const ex = x!.election('f');
    await ex.campaign('x');
    const seen: (string | undefined)[] = [];
    const stop = new AbortController();
    const observing = (async () => {
      for await (const leader of obs!.election('f').observe({ signal: stop.signal })) seen.push(leader && text(leader.value));
    })().catch(() => undefined);
    await until('the observer to see x', () => seen.includes('x'));
    // A waiter changes the lock (and its mirror) but not its leader.
    const yElected = y!.election('f').campaign('y');
    await until('y to queue', async () => (await obs!.describeLock('f')).waiters.length === 1);
    await ex.resign();
    const ey = await yElected;
    await until('the observer to see y', () => seen.includes('y'));
    stop.abort();
    await observing;
    expect(seen).toEqual(['x', 'y']);
    await ey.release();
  });
});

describe('the lock mirror and bad requests', () => {
  it('shows locks under /conclave/locks, read-only, and refuses bad names', async () => {
    const [a] = await clients(1);
    const l = await a!.lock('visible', { value: 'me' });
    const doc = JSON.parse(text((await a!.get('/conclave/locks/visible')).data)) as { holders: { token: number }[] };
    expect(doc.holders[0]?.token).toBe(l.token);
    expect(await codeOf(a!.set('/conclave/locks/visible', 'x'))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(await codeOf(a!.create('/conclave/mine'))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(await codeOf(a!.lock('bad/name'))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(await codeOf(a!.lock(''))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(await codeOf(a!.releaseLock('never-held'))).toBe(ErrorCode.NO_NODE);
    await l.release();
  });
});

describe('barriers', () => {
  it('hold waiters until the barrier is removed', async () => {
    const [a, b] = await clients(2);
    const { Barrier } = await import('../../src/client/index.js');
    const barrier = new Barrier(a!, '/gate');
    await barrier.set();
    let passed = false;
    const waiting = new Barrier(b!, '/gate').wait().then(() => (passed = true));
    await b!.sync();
    expect(passed).toBe(false);
    await barrier.remove();
    await waiting;
    expect(passed).toBe(true);
  });

  it('a double barrier lets participants start together and finish together', async () => {
    const cs = await clients(3);
    const { DoubleBarrier } = await import('../../src/client/index.js');
    const entered: number[] = [];
    const bars = cs.map((c, i) => new DoubleBarrier(c, '/race', 3, `p${i}`));
    const first = bars[0]!.enter().then(() => entered.push(0));
    const second = bars[1]!.enter().then(() => entered.push(1));
    await until('two participants to be in', async () => (await cs[0]!.children('/race').catch(() => ({ names: [] }))).names.length === 2);
    expect(entered).toEqual([]);
    await bars[2]!.enter();
    await Promise.all([first, second]);
    expect(entered.sort()).toEqual([0, 1]);
    let left = false;
    const leaving = Promise.all([bars[0]!.leave(), bars[1]!.leave()]).then(() => (left = true));
    await until('two participants to be out', async () => (await cs[0]!.children('/race')).names.length === 1);
    expect(left).toBe(false);
    await bars[2]!.leave();
    await leaving;
    expect(left).toBe(true);
    expect((await cs[0]!.children('/race')).names).toEqual([]);
  });
});
