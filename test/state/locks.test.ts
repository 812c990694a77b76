import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/common/errors.js';
import type { LockMode } from '../../src/state/lock-name.js';
import { stateLimits, validateStateLimits } from '../../src/state/limits.js';
import { isReservedPath } from '../../src/state/path.js';
import { LockDriver, codeOf } from './lock-driver.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('mutex', () => {
  it('grants in FIFO order; each token is the zxid of the granting txn, so tokens strictly increase', () => {
    const d = new LockDriver();
    d.open(1, 2, 3, 4);
    const first = d.acquire(1, 'm');
    expect(first).toMatchObject({ ok: true, result: { type: 'lockAcquire', name: 'm', granted: true, token: d.index } });
    expect(first.lockGrants).toEqual([{ name: 'm', sessionId: 1, token: d.index, mode: 'exclusive' }]);
    expect([2, 3, 4].map((s) => d.acquire(s, 'm'))).toMatchObject([0, 1, 2].map((position) => ({ ok: true, result: { granted: false, position } })));
    expect(d.waiters('m')).toEqual([2, 3, 4]);
    const tokens = [first.lockGrants?.[0]?.token];
    for (const [holder, next] of [[1, 2], [2, 3], [3, 4]] as const) {
      const r = d.release(holder, 'm');
      expect(r).toMatchObject({ ok: true, result: { type: 'lockRelease', name: 'm' } });
      expect(r.lockReleases).toEqual([{ name: 'm', sessionId: holder, token: tokens[tokens.length - 1], reason: 'released' }]);
      expect(r.lockGrants).toEqual([{ name: 'm', sessionId: next, token: d.index, mode: 'exclusive' }]);
      tokens.push(d.index);
    }
    expect(tokens).toEqual([...tokens].sort((a, b) => (a as number) - (b as number)));
    expect(new Set(tokens).size).toBe(4);
    d.release(4, 'm');
    expect(d.sm.locks.describe('m')).toBeUndefined();
  });

  it('validateFence accepts only the current holder’s token', () => {
    const d = new LockDriver();
    d.open(1, 2);
    const t1 = d.acquire(1, 'm').lockGrants?.[0]?.token as number;
    d.acquire(2, 'm');
    expect(d.sm.locks.validateFence('m', t1)).toBe(true);
    const t2 = d.release(1, 'm').lockGrants?.[0]?.token as number;
    expect(t2).toBeGreaterThan(t1);
    expect(d.sm.locks.validateFence('m', t1)).toBe(false);
    expect(d.sm.locks.validateFence('m', t2)).toBe(true);
    expect(d.sm.locks.validateFence('other', t2)).toBe(false);
  });
});

describe('rwlock and semaphore', () => {
  type Step = [op: 'acq' | 'try' | 'rel' | 'cancel', session: number, mode: LockMode, holders: number[], waiters: number[]];
  const cases: Array<[string, Step[]]> = [
    [
      'readers share; a waiting writer blocks later readers (writers are not starved)',
      [
        ['acq', 1, 'shared', [1], []],
        ['acq', 2, 'shared', [1, 2], []],
        ['acq', 3, 'exclusive', [1, 2], [3]],
        ['acq', 4, 'shared', [1, 2], [3, 4]],
        ['try', 5, 'shared', [1, 2], [3, 4]],
        ['rel', 1, 'shared', [2], [3, 4]],
        ['rel', 2, 'shared', [3], [4]],
        ['rel', 3, 'exclusive', [4], []],
      ],
    ],
    [
      'a writer’s release grants every reader up to the next writer, in one txn',
      [
        ['acq', 1, 'exclusive', [1], []],
        ['acq', 2, 'shared', [1], [2]],
        ['acq', 3, 'shared', [1], [2, 3]],
        ['acq', 4, 'exclusive', [1], [2, 3, 4]],
        ['acq', 5, 'shared', [1], [2, 3, 4, 5]],
        ['rel', 1, 'exclusive', [2, 3], [4, 5]],
        ['rel', 3, 'shared', [2], [4, 5]],
        ['rel', 2, 'shared', [4], [5]],
      ],
    ],
    [
      'cancelling the waiting writer at the head lets the readers behind it in',
      [
        ['acq', 1, 'shared', [1], []],
        ['acq', 2, 'exclusive', [1], [2]],
        ['acq', 3, 'shared', [1], [2, 3]],
        ['acq', 4, 'shared', [1], [2, 3, 4]],
        ['cancel', 2, 'exclusive', [1, 3, 4], []],
      ],
    ],
  ];
  it.each(cases)('%s', (_, steps) => {
    const d = new LockDriver();
    d.open(1, 2, 3, 4, 5);
    for (const [op, s, mode, holders, waiters] of steps) {
      const r =
        op === 'rel' ? d.release(s, 'rw') : op === 'cancel' ? d.cancel(s, 'rw') : d.acquire(s, 'rw', { kind: 'rwlock', mode, wait: op === 'acq' });
      expect(r.ok, `${op} ${s}`).toBe(true);
      expect(d.holders('rw').map(([h]) => h), `${op} ${s}`).toEqual(holders);
      expect(d.waiters('rw'), `${op} ${s}`).toEqual(waiters);
      // Every grant of one txn carries that txn's zxid.
      for (const g of r.lockGrants ?? []) expect(g.token).toBe(d.index);
    }
  });

  it('a semaphore grants up to its permits, FIFO beyond', () => {
    const d = new LockDriver();
    d.open(1, 2, 3, 4);
    const sem = { kind: 'semaphore', permits: 2 } as const;
    const z = d.index;
    expect([1, 2, 3, 4].map((s) => d.acquire(s, 'pool', sem).result)).toMatchObject([{ granted: true }, { granted: true }, { granted: false, position: 0 }, { granted: false, position: 1 }]);
    expect(d.holders('pool')).toEqual([
      [1, 'shared', z + 1],
      [2, 'shared', z + 2],
    ]);
    const r = d.release(2, 'pool');
    expect(r.lockGrants).toEqual([{ name: 'pool', sessionId: 3, token: d.index, mode: 'shared' }]);
    expect(d.holders('pool').map(([s]) => s)).toEqual([1, 3]);
    expect(d.waiters('pool')).toEqual([4]);
  });

  it('kind, permits and lock-delay are fixed by the acquire that creates the lock', () => {
    const d = new LockDriver();
    d.open(1, 2);
    d.acquire(1, 'pool', { kind: 'semaphore', permits: 3 });
    d.acquire(1, 'm', { delayMs: 100 });
    for (const [name, req] of [
      ['pool', { kind: 'semaphore', permits: 2 }],
      ['pool', { kind: 'mutex' }],
      ['m', { kind: 'rwlock' }],
      ['m', { delayMs: 0 }],
    ] as const) {
      expect(codeOf(d.acquire(2, name, req)), `${name} ${JSON.stringify(req)}`).toBe(ErrorCode.BAD_ARGUMENTS);
    }
    // Once idle the lock is forgotten, and the next acquire chooses again.
    d.release(1, 'm');
    expect(d.acquire(2, 'm', { kind: 'rwlock', mode: 'shared' }).result).toMatchObject({ granted: true });
  });
});

describe('acquire is idempotent; TryAcquire changes nothing when refused', () => {
  it('re-acquiring returns the same grant or place in line; a holder’s new value is proclaimed', () => {
    const d = new LockDriver();
    d.open(1, 2, 3);
    const token = d.acquire(1, 'el', { value: bytes('a:1') }).lockGrants?.[0]?.token;
    d.acquire(2, 'el');
    d.acquire(3, 'el');
    const digest = d.sm.digest();
    const again = d.acquire(1, 'el', { value: bytes('a:1') });
    expect(again).toEqual({ ok: true, result: { type: 'lockAcquire', name: 'el', granted: true, token }, events: [] });
    expect(d.acquire(3, 'el', { wait: false })).toEqual({ ok: true, result: { type: 'lockAcquire', name: 'el', granted: false, position: 1 }, events: [] });
    expect(d.sm.digest()).toBe(digest);
    const proclaim = d.acquire(1, 'el', { value: bytes('a:2') });
    expect(proclaim).toMatchObject({ ok: true, result: { granted: true, token }, events: [{ type: 'changed', path: '/conclave/locks/el' }] });
    expect(proclaim.lockGrants).toBeUndefined();
    expect(d.mirror('el')).toMatchObject({ holders: [{ sessionId: 1, token, value: Buffer.from('a:2').toString('base64') }] });
    expect(codeOf(d.acquire(1, 'rw', { kind: 'rwlock', mode: 'shared' }))).toBe('ok');
    expect(codeOf(d.acquire(1, 'rw', { kind: 'rwlock', mode: 'exclusive' }))).toBe(ErrorCode.BAD_ARGUMENTS);
  });

  it('TryAcquire is granted when free and otherwise answers granted: false with no change, never overtaking a waiter', () => {
    const d = new LockDriver();
    d.open(1, 2, 3);
    expect(d.acquire(1, 'm', { wait: false }).result).toMatchObject({ granted: true });
    const digest = d.sm.digest();
    const refused = d.acquire(2, 'm', { wait: false });
    expect(refused).toEqual({ ok: true, result: { type: 'lockAcquire', name: 'm', granted: false }, events: [] });
    expect(d.sm.digest()).toBe(digest);
    // rwlock: readers hold, a writer waits; a reader's try would be compatible with the holders but not fair.
    d.acquire(1, 'rw', { kind: 'rwlock', mode: 'shared' });
    d.acquire(2, 'rw', { kind: 'rwlock', mode: 'exclusive' });
    expect(d.acquire(3, 'rw', { kind: 'rwlock', mode: 'shared', wait: false }).result).toMatchObject({ granted: false });
    expect(d.waiters('rw')).toEqual([2]);
  });
});

describe('cancel and release', () => {
  it('a cancel that lost the race to a grant answers cancelled: false and the grant stands', () => {
    const d = new LockDriver();
    d.open(1, 2, 3);
    d.acquire(1, 'm');
    d.acquire(2, 'm');
    d.acquire(3, 'm');
    expect(d.cancel(3, 'm').result).toEqual({ type: 'lockCancel', name: 'm', cancelled: true });
    expect(d.waiters('m')).toEqual([2]);
    const token = d.release(1, 'm').lockGrants?.[0]?.token;
    const digest = d.sm.digest();
    expect(d.cancel(2, 'm')).toEqual({ ok: true, result: { type: 'lockCancel', name: 'm', cancelled: false }, events: [] });
    expect(d.cancel(3, 'm').result).toMatchObject({ cancelled: false });
    expect(d.cancel(3, 'unknown').result).toMatchObject({ cancelled: false });
    expect(d.sm.digest()).toBe(digest);
    expect(d.holders('m')).toEqual([[2, 'exclusive', token]]);
  });

  it('releasing a lock the session does not hold (a waiter, another session, an unknown lock) is NO_NODE and changes nothing', () => {
    const d = new LockDriver();
    d.open(1, 2, 3);
    d.acquire(1, 'm');
    d.acquire(2, 'm');
    const digest = d.sm.digest();
    for (const [s, name] of [[2, 'm'], [3, 'm'], [1, 'nope']] as const) {
      const r = d.release(s, name);
      expect(codeOf(r)).toBe(ErrorCode.NO_NODE);
      expect(r.events).toEqual([]);
    }
    expect(d.sm.digest()).toBe(digest);
  });
});

describe('session end', () => {
  it.each([false, true])('closing (expired: %s) releases its locks, drops its waits and grants waiters in the same txn as its ephemerals go', (expired) => {
    const d = new LockDriver();
    d.open(1, 2, 3);
    d.apply({ type: 'create', path: '/e', data: new Uint8Array(0), kind: 'ephemeral' }, { sessionId: 1 });
    const t1 = d.acquire(1, 'a').lockGrants?.[0]?.token;
    d.acquire(2, 'a');
    d.acquire(2, 'b');
    d.acquire(1, 'b');
    d.acquire(3, 'b');
    const r = d.close(1, expired);
    expect(r).toMatchObject({ ok: true, result: { type: 'closeSession', sessionId: 1, deleted: ['/e'] } });
    expect(r.lockReleases).toEqual([{ name: 'a', sessionId: 1, token: t1, reason: expired ? 'expired' : 'closed' }]);
    expect(r.lockGrants).toEqual([{ name: 'a', sessionId: 2, token: d.index, mode: 'exclusive' }]);
    expect(d.waiters('b')).toEqual([3]);
    expect(d.sm.locks.locksOf(1)).toEqual([]);
    expect(r.events.map((e) => `${e.type} ${e.path}`)).toEqual(['deleted /e', 'children /', 'changed /conclave/locks/a', 'changed /conclave/locks/b']);
  });
});

describe('lock-delay', () => {
  it('after a holder expires, the lock grants nothing until a wake at or after timeMs + delayMs', () => {
    const d = new LockDriver();
    d.open(1, 2, 3);
    d.acquire(1, 'm', { delayMs: 5000 });
    d.acquire(2, 'm', { delayMs: 5000 });
    d.timeMs = 10_000;
    const r = d.close(1, true);
    expect(r.lockGrants).toBeUndefined();
    expect(d.sm.locks.describe('m')).toMatchObject({ blockedUntilMs: 15_000, holders: [], waiters: [{ sessionId: 2 }] });
    expect(d.mirror('m')).toMatchObject({ blockedUntilMs: 15_000, holders: [], waiters: [{ sessionId: 2 }] });
    expect(d.sm.locks.nextWakeMs()).toBe(15_000);
    expect(d.sm.locks.locksToWake(14_999)).toEqual([]);
    expect(d.sm.locks.locksToWake(15_000)).toEqual(['m']);
    expect(d.acquire(3, 'm', { delayMs: 5000, wait: false }).result).toMatchObject({ granted: false });
    d.timeMs = 14_999;
    expect(d.wake('m').result).toEqual({ type: 'lockWake', name: 'm', woken: false });
    d.timeMs = 15_000;
    const woken = d.wake('m');
    expect(woken.result).toEqual({ type: 'lockWake', name: 'm', woken: true });
    expect(woken.lockGrants).toEqual([{ name: 'm', sessionId: 2, token: d.index, mode: 'exclusive' }]);
    expect(d.sm.locks.nextWakeMs()).toBeUndefined();
    expect(d.wake('m').result).toMatchObject({ woken: false });
  });

  it('applies only to an expiry of a holder: a client close, or an expired waiter, blocks nothing', () => {
    const d = new LockDriver();
    d.open(1, 2, 3, 4);
    d.acquire(1, 'm', { delayMs: 5000 });
    d.acquire(2, 'm', { delayMs: 5000 });
    d.acquire(3, 'm', { delayMs: 5000 });
    expect(d.close(3, true).lockGrants).toBeUndefined();
    expect(d.close(1, false).lockGrants).toEqual([{ name: 'm', sessionId: 2, token: d.index, mode: 'exclusive' }]);
    expect(d.sm.locks.describe('m')?.blockedUntilMs).toBe(0);
  });

  it('keeps an idle blocked lock (and its mirror) until the wake, then forgets it', () => {
    const d = new LockDriver();
    d.open(1);
    d.acquire(1, 'm', { delayMs: 100 });
    d.close(1, true);
    expect(d.sm.locks.describe('m')).toMatchObject({ holders: [], waiters: [], blockedUntilMs: 1100 });
    expect(d.mirror('m')).toBeDefined();
    d.timeMs = 2000;
    expect(d.wake('m').events.map((e) => `${e.type} ${e.path}`)).toEqual(['deleted /conclave/locks/m', 'children /conclave/locks']);
    expect(d.sm.locks.size).toBe(0);
  });
});

describe('the mirror under /conclave/locks', () => {
  it('is created on first use, follows every change, and is deleted when the lock goes idle', () => {
    const d = new LockDriver();
    d.open(1, 2);
    const first = d.acquire(1, 'job.7', { value: bytes('host-a') });
    const z = d.index;
    expect(first.events).toEqual([
      { type: 'created', path: '/conclave', zxid: z },
      { type: 'children', path: '/', zxid: z },
      { type: 'created', path: '/conclave/locks', zxid: z },
      { type: 'children', path: '/conclave', zxid: z },
      { type: 'created', path: '/conclave/locks/job.7', zxid: z },
      { type: 'children', path: '/conclave/locks', zxid: z },
    ]);
    d.timeMs = 2000;
    expect(d.acquire(2, 'job.7').events).toEqual([{ type: 'changed', path: '/conclave/locks/job.7', zxid: d.index }]);
    expect(new TextDecoder().decode(d.sm.tree.get('/conclave/locks/job.7').data)).toBe(
      `{"kind":"mutex","permits":1,"delayMs":0,"blockedUntilMs":0,"holders":[{"sessionId":1,"token":${z},"mode":"exclusive","sinceMs":1000,"value":"aG9zdC1h"}],` +
        '"waiters":[{"sessionId":2,"mode":"exclusive","sinceMs":2000}]}',
    );
    d.release(1, 'job.7');
    expect(d.mirror('job.7')).toMatchObject({ holders: [{ sessionId: 2, token: d.index, sinceMs: 2000, value: '' }], waiters: [] });
    expect(d.release(2, 'job.7').events.map((e) => `${e.type} ${e.path}`)).toEqual(['deleted /conclave/locks/job.7', 'children /conclave/locks']);
    expect(d.sm.tree.children('/conclave/locks').names).toEqual([]);
  });

  it('is cut down to fit znodeDataBytesMax, and describe still has everything', () => {
    const d = new LockDriver({ znodeDataBytesMax: 400 });
    d.open(1, 2, 3);
    for (const s of [1, 2, 3]) d.acquire(s, 'pool', { kind: 'semaphore', permits: 3, value: new Uint8Array(100).fill(s) });
    const m = d.mirror('pool') as { truncated: boolean; holdersTotal: number; holders: unknown[] };
    expect(m).toMatchObject({ truncated: true, holdersTotal: 3, waitersTotal: 0 });
    expect(m.holders).toHaveLength(3);
    expect(d.sm.tree.get('/conclave/locks/pool').data.length).toBeLessThanOrEqual(400);
    expect(d.sm.locks.describe('pool')?.holders.map((h) => h.value.length)).toEqual([100, 100, 100]);
  });
});

describe('/conclave is reserved', () => {
  const none = new Uint8Array(0);
  it('refuses create, set, delete and multi writes at or under it, and allows reads and checks', () => {
    const d = new LockDriver();
    d.open(1);
    d.acquire(1, 'm');
    const digest = d.sm.digest();
    const writes = [
      { type: 'create', path: '/conclave', data: none, kind: 'persistent' },
      { type: 'create', path: '/conclave/x', data: none, kind: 'persistent' },
      { type: 'create', path: '/conclave/locks/', data: none, kind: 'persistent', sequential: true },
      { type: 'set', path: '/conclave/locks/m', data: bytes('{}'), version: -1 },
      { type: 'delete', path: '/conclave/locks/m', version: -1 },
      { type: 'delete', path: '/conclave/locks', version: -1 },
    ] as const;
    for (const body of writes) {
      const r = d.apply(body, { sessionId: 1 });
      expect(codeOf(r), JSON.stringify(body)).toBe(ErrorCode.BAD_ARGUMENTS);
      expect(r.events).toEqual([]);
    }
    const multi = d.apply({
      type: 'multi',
      ops: [
        { type: 'create', path: '/ok', data: none, kind: 'persistent' },
        { type: 'check', path: '/conclave/locks/m', version: 0 },
        { type: 'set', path: '/conclave/locks/m', data: none, version: -1 },
      ],
    });
    expect(multi).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_ARGUMENTS, failedIndex: 2 } });
    expect(d.sm.digest()).toBe(digest);
    expect(codeOf(d.apply({ type: 'check', path: '/conclave/locks/m', version: 0 }))).toBe('ok');
    // Only the reserved subtree: a sibling name, or a sequential name that merely starts with it, is fine.
    expect(codeOf(d.apply({ type: 'create', path: '/conclaves', data: none, kind: 'persistent' }))).toBe('ok');
    expect(d.apply({ type: 'create', path: '/conclave', data: none, kind: 'persistent', sequential: true }).result).toMatchObject({ path: '/conclave0000000002' });
  });
});

describe('snapshots', () => {
  function busy(): LockDriver {
    const d = new LockDriver();
    d.open(1, 2, 3, 4);
    d.acquire(1, 'm', { value: bytes('v1') });
    d.acquire(2, 'm');
    d.acquire(1, 'rw', { kind: 'rwlock', mode: 'shared' });
    d.acquire(3, 'rw', { kind: 'rwlock', mode: 'shared' });
    d.acquire(2, 'rw', { kind: 'rwlock', mode: 'exclusive' });
    d.acquire(4, 'rw', { kind: 'rwlock', mode: 'shared', value: new Uint8Array([0, 255]) });
    d.acquire(3, 'pool', { kind: 'semaphore', permits: 2 });
    d.acquire(4, 'delayed', { delayMs: 500 });
    d.acquire(3, 'delayed', { delayMs: 500 });
    d.close(4, true);
    d.acquire(1, 'x', { value: bytes('seq') }, 7);
    return d;
  }

  it('restore(snapshotRows()) gives the same locks, mirror and digest, and both go on identically', () => {
    const d = busy();
    const rows = d.sm.snapshotRows();
    expect(rows.locks.map((r) => r[0])).toEqual(['delayed', 'm', 'pool', 'rw', 'x']);
    const copy = new LockDriver();
    copy.sm.restore(rows, d.index);
    expect(copy.sm.digest()).toBe(d.sm.digest());
    for (const name of d.sm.locks.names()) expect(copy.sm.locks.describe(name)).toEqual(d.sm.locks.describe(name));
    copy.index = d.index;
    for (const drv of [d, copy]) {
      drv.timeMs = 5000;
      expect(drv.acquire(1, 'x', { value: bytes('seq') }, 7)).toMatchObject({ duplicate: true, result: { granted: true } });
      expect(drv.release(1, 'rw').lockGrants).toBeUndefined();
      expect(drv.release(3, 'rw').lockGrants).toEqual([{ name: 'rw', sessionId: 2, token: drv.index, mode: 'exclusive' }]);
      expect(drv.wake('delayed').lockGrants).toEqual([{ name: 'delayed', sessionId: 3, token: drv.index, mode: 'exclusive' }]);
    }
    expect(copy.sm.digest()).toBe(d.sm.digest());
  });

  it('refuses lock rows that are not a state the locks could reach, with CORRUPTED', () => {
    const d = busy();
    const rows = d.sm.snapshotRows();
    const edit = (name: string, at: number, v: unknown): typeof rows => ({ ...rows, locks: rows.locks.map((r) => (r[0] === name ? r.map((c, i) => (i === at ? v : c)) : r)) as typeof rows.locks });
    const broken = [
      { ...rows, locks: undefined }, // the tree mirrors locks the table lacks
      { ...rows, locks: rows.locks.filter((r) => r[0] !== 'm') },
      edit('m', 1, 'spinlock'),
      edit('m', 2, 2),
      edit('pool', 2, 0),
      edit('m', 5, '[[1,3,"exclusive",1000,""],[3,9,"exclusive",1000,""]]'), // two mutex holders
      edit('m', 5, '[[1,999999,"exclusive",1000,""]]'), // a token from the future
      edit('m', 5, '[[9,3,"exclusive",1000,""]]'), // a session that is not open
      edit('m', 5, '[[1,3,"shared",1000,""]]'),
      edit('m', 5, '[[1,3,"exclusive",1000,"@@"]]'),
      edit('m', 5, 'not json'),
      edit('m', 5, '[]'), // the head waiter should hold it
      edit('m', 6, '[[1,"exclusive",1000,""]]'), // holder and waiter at once
      edit('pool', 5, '[]'), // idle
      edit('m', 3, 10), // the mirror says delayMs 0
      { ...rows, locks: [...rows.locks, rows.locks[0] as (typeof rows.locks)[number]] },
    ];
    for (const [i, b] of broken.entries()) {
      const target = new LockDriver();
      const digest = target.sm.digest();
      expect(() => target.sm.restore(b, d.index), `case ${i}`).toThrow(/CORRUPTED/);
      expect(target.sm.digest()).toBe(digest);
    }
  });
});

describe('request ids', () => {
  it('a retried lock txn is answered from memory: no second grant, no events', () => {
    const d = new LockDriver();
    d.open(1, 2);
    d.acquire(1, 'm', {}, 1);
    const waiting = d.acquire(2, 'm', {}, 1);
    expect(waiting.result).toMatchObject({ granted: false, position: 0 });
    const granted = d.release(1, 'm', 2);
    expect(granted.lockGrants).toHaveLength(1);
    const digest = d.sm.digest();
    // The retry of session 2's acquire reports what it reported then; the server answers the wait from lockGrants.
    expect(d.acquire(2, 'm', {}, 1)).toEqual({ ...waiting, duplicate: true, events: [] });
    const retriedRelease = d.release(1, 'm', 2);
    expect(retriedRelease).toMatchObject({ ok: true, duplicate: true, result: { type: 'lockRelease' } });
    expect(retriedRelease.lockGrants).toBeUndefined();
    expect(d.sm.digest()).toBe(digest);
    expect(codeOf(d.acquire(1, 'm', {}, 1))).toBe(ErrorCode.STALE_REQUEST);
  });
});

describe('bad input', () => {
  it('is refused with a typed error and changes nothing', () => {
    const d = new LockDriver({ lockWaitersMax: 2, locksMax: 3 });
    d.open(1, 2, 3, 4);
    d.acquire(1, 'full');
    d.acquire(2, 'full');
    d.acquire(3, 'full');
    d.acquire(1, 'b');
    const digest = d.sm.digest();
    const acquire = (name: unknown, more: object = {}): unknown => ({ type: 'lockAcquire', name, kind: 'mutex', wait: true, ...more });
    const cases: Array<[string, unknown, number, string]> = [
      ['empty name', acquire(''), 1, ErrorCode.BAD_ARGUMENTS],
      ['name too long', acquire('n'.repeat(257)), 1, ErrorCode.BAD_ARGUMENTS],
      ['slash', acquire('a/b'), 1, ErrorCode.BAD_ARGUMENTS],
      ['space', acquire('a b'), 1, ErrorCode.BAD_ARGUMENTS],
      ['non-ASCII', acquire('lås'), 1, ErrorCode.BAD_ARGUMENTS],
      ['dot', acquire('.'), 1, ErrorCode.BAD_ARGUMENTS],
      ['dot dot', acquire('..'), 1, ErrorCode.BAD_ARGUMENTS],
      ['not a string', acquire(7), 1, ErrorCode.BAD_ARGUMENTS],
      ['unknown kind', acquire('k', { kind: 'spinlock' }), 1, ErrorCode.BAD_ARGUMENTS],
      ['unknown mode', acquire('k', { kind: 'rwlock', mode: 'upgradable' }), 1, ErrorCode.BAD_ARGUMENTS],
      ['shared mutex', acquire('k', { mode: 'shared' }), 1, ErrorCode.BAD_ARGUMENTS],
      ['permits on a mutex', acquire('k', { permits: 2 }), 1, ErrorCode.BAD_ARGUMENTS],
      ['semaphore without permits', acquire('k', { kind: 'semaphore' }), 1, ErrorCode.BAD_ARGUMENTS],
      ['too many permits', acquire('k', { kind: 'semaphore', permits: 1001 }), 1, ErrorCode.LIMIT_EXCEEDED],
      ['fractional permits', acquire('k', { kind: 'semaphore', permits: 1.5 }), 1, ErrorCode.BAD_ARGUMENTS],
      ['negative delay', acquire('k', { delayMs: -1 }), 1, ErrorCode.BAD_ARGUMENTS],
      ['delay too long', acquire('k', { delayMs: 60_001 }), 1, ErrorCode.LIMIT_EXCEEDED],
      ['value too large', acquire('k', { value: new Uint8Array(4097) }), 1, ErrorCode.LIMIT_EXCEEDED],
      ['value not bytes', acquire('k', { value: 'text' }), 1, ErrorCode.BAD_ARGUMENTS],
      ['no session', acquire('k'), 0, ErrorCode.BAD_ARGUMENTS],
      ['closed session', acquire('k'), 99, ErrorCode.SESSION_EXPIRED],
      ['release without a session', { type: 'lockRelease', name: 'b' }, 0, ErrorCode.BAD_ARGUMENTS],
      ['cancel with a bad name', { type: 'lockCancel', name: '' }, 1, ErrorCode.BAD_ARGUMENTS],
      ['wake with a bad name', { type: 'lockWake', name: 'a/b' }, 0, ErrorCode.BAD_ARGUMENTS],
      ['too many waiters', acquire('full'), 4, ErrorCode.LIMIT_EXCEEDED],
    ];
    for (const [what, body, sessionId, code] of cases) {
      const r = d.applyRaw(body, { sessionId });
      expect(codeOf(r), what).toBe(code);
      expect(r.events, what).toEqual([]);
    }
    expect(d.sm.digest()).toBe(digest);
    // locksMax: 3 locks in use at most; a TryAcquire beyond is refused too, but re-using one is fine.
    expect(codeOf(d.acquire(4, 'c'))).toBe('ok');
    expect(codeOf(d.acquire(4, 'd'))).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(codeOf(d.acquire(4, 'b'))).toBe('ok');
  });
});

describe('helpers for the shell', () => {
  it('isReservedPath covers /conclave and everything under it, nothing else', () => {
    const cases: Array<[unknown, boolean]> = [
      ['/conclave', true],
      ['/conclave/locks', true],
      ['/conclave/locks/m', true],
      ['/conclave/anything/deep', true],
      ['/', false],
      ['/conclaves', false],
      ['/conclave0000000001', false],
      ['/app/conclave', false],
      ['conclave', false],
      [undefined, false],
    ];
    for (const [path, reserved] of cases) expect(isReservedPath(path), String(path)).toBe(reserved);
  });

  it('locksToWake lists every blocked lock whose delay has passed, sorted; nextWakeMs the earliest deadline', () => {
    const d = new LockDriver();
    d.open(1, 2, 3);
    d.acquire(1, 'b', { delayMs: 300 });
    d.acquire(1, 'a', { delayMs: 100 });
    d.acquire(2, 'c', { delayMs: 200 });
    d.close(1, true);
    d.close(2, true);
    expect(d.sm.locks.nextWakeMs()).toBe(1100);
    expect(d.sm.locks.locksToWake(1099)).toEqual([]);
    expect(d.sm.locks.locksToWake(1200)).toEqual(['a', 'c']);
    expect(d.sm.locks.locksToWake(5000)).toEqual(['a', 'b', 'c']);
  });

  it('a waiter ahead that ends lets the compatible ones behind it in, in the close txn', () => {
    const d = new LockDriver();
    d.open(1, 2, 3);
    d.acquire(1, 'rw', { kind: 'rwlock', mode: 'shared' });
    d.acquire(2, 'rw', { kind: 'rwlock', mode: 'exclusive' });
    d.acquire(3, 'rw', { kind: 'rwlock', mode: 'shared' });
    const r = d.close(2, true);
    expect(r.lockReleases).toBeUndefined();
    expect(r.lockGrants).toEqual([{ name: 'rw', sessionId: 3, token: d.index, mode: 'shared' }]);
  });

  it('the state limits leave room for the longest lock name in a mirror path', () => {
    expect(() => validateStateLimits({ ...stateLimits })).not.toThrow();
    expect(() => validateStateLimits({ ...stateLimits, pathBytesMax: 200 })).toThrow(/lockNameBytesMax/);
    expect(() => validateStateLimits({ ...stateLimits, lockWaitersMax: 0 })).toThrow(/lockWaitersMax/);
  });
});
