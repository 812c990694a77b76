import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/common/errors.js';
import { SeededRng } from '../../src/common/rng.js';
import { stateLimits } from '../../src/state/limits.js';
import { QuotaTable } from '../../src/state/quotas.js';
import { ConclaveStateMachine } from '../../src/state/state-machine.js';
import type { TreeOp } from '../../src/state/txn.js';
import { LockDriver, codeOf } from './lock-driver.js';

const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(7);
const create = (path: string, n = 0, kind: 'persistent' | 'ephemeral' = 'persistent'): TreeOp => ({ type: 'create', path, data: bytes(n), kind });
const del = (path: string): TreeOp => ({ type: 'delete', path, version: -1 });
const set = (path: string, n: number): TreeOp => ({ type: 'set', path, data: bytes(n), version: -1 });

function quota(d: LockDriver, path: string, maxNodes?: number, maxBytes?: number): void {
  const r = d.apply({ type: 'setQuota', path, ...(maxNodes !== undefined ? { maxNodes } : {}), ...(maxBytes !== undefined ? { maxBytes } : {}) });
  expect(r, JSON.stringify(r)).toMatchObject({ ok: true, result: { type: 'setQuota', path } });
}

const usage = (d: LockDriver, path: string): unknown => d.sm.quotas.get(path)?.usage;

/** Every quota's usage equals a recount of its subtree. */
function expectConsistent(sm: ConclaveStateMachine): void {
  for (const q of sm.quotas.list()) expect(q.usage, q.path).toEqual(sm.tree.subtreeSize(q.path));
}

describe('quota usage', () => {
  it('counts the subtree, its root node included, in nodes and data bytes; a path that does not exist yet counts 0', () => {
    const d = new LockDriver();
    d.apply(create('/app', 3));
    d.apply(create('/app/a', 2));
    d.apply(create('/apple', 100)); // shares a prefix, not a subtree
    quota(d, '/app', 10);
    expect(usage(d, '/app')).toEqual({ nodes: 2, bytes: 5 });
    quota(d, '/new', 5);
    expect(usage(d, '/new')).toEqual({ nodes: 0, bytes: 0 });
    d.apply(create('/new', 4));
    expect(usage(d, '/new')).toEqual({ nodes: 1, bytes: 4 });
    d.apply(set('/app/a', 7));
    d.apply({ type: 'create', path: '/app/s-', data: bytes(1), kind: 'persistent', sequential: true });
    expect(usage(d, '/app')).toEqual({ nodes: 3, bytes: 11 });
    d.apply(del('/app/a'));
    expect(usage(d, '/app')).toEqual({ nodes: 2, bytes: 4 });
    expect(d.sm.quotas.get('/app')?.limits).toEqual({ maxNodes: 10 });
    expectConsistent(d.sm);
  });

  it('counts in every enclosing quota (nested), never the /conclave lock mirrors', () => {
    const d = new LockDriver();
    d.open(1);
    d.apply(create('/a'));
    d.apply(create('/a/b', 1));
    quota(d, '/', 4);
    quota(d, '/a', 100);
    quota(d, '/a/b', 100, 1000);
    expect(d.sm.quotas.list().map((q) => [q.path, q.usage.nodes])).toEqual([['/', 3], ['/a', 2], ['/a/b', 1]]);
    d.apply(create('/a/b/c', 5));
    expect(d.sm.quotas.list().map((q) => [q.path, q.usage.nodes, q.usage.bytes])).toEqual([['/', 4, 6], ['/a', 3, 6], ['/a/b', 2, 6]]);
    // `/` is at its limit, yet a lock creates /conclave, /conclave/locks and its mirror node.
    expect(codeOf(d.acquire(1, 'm'))).toBe('ok');
    expect(d.sm.tree.exists('/conclave/locks/m')).toBeDefined();
    expect(usage(d, '/')).toEqual({ nodes: 4, bytes: 6 });
    expect(codeOf(d.apply(create('/x')))).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(codeOf(d.release(1, 'm'))).toBe('ok');
    expectConsistent(d.sm);
  });

  it('may be set on a subtree already over it: setting succeeds, growth is refused until it shrinks back under', () => {
    const d = new LockDriver();
    d.apply(create('/app'));
    for (const c of ['a', 'b', 'c']) d.apply(create(`/app/${c}`, 1));
    quota(d, '/app', 2, 3);
    expect(usage(d, '/app')).toEqual({ nodes: 4, bytes: 3 });
    expect(codeOf(d.apply(create('/app/d')))).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(codeOf(d.apply(set('/app/a', 2)))).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(codeOf(d.apply(set('/app/a', 1)))).toBe('ok'); // same size: not growth
    expect(codeOf(d.apply(set('/app/a', 0)))).toBe('ok'); // shrinking is always allowed
    expect(codeOf(d.apply(set('/app/a', 1)))).toBe('ok'); // back to 3 bytes: within maxBytes
    expect(codeOf(d.apply(del('/app/a')))).toBe('ok');
    expect(codeOf(d.apply(del('/app/b')))).toBe('ok');
    expect(codeOf(d.apply(create('/app/d')))).toBe(ErrorCode.QUOTA_EXCEEDED); // 2 nodes: at the limit
    expect(codeOf(d.apply(del('/app/c')))).toBe('ok');
    expect(codeOf(d.apply(create('/app/d', 3)))).toBe('ok');
    expect(usage(d, '/app')).toEqual({ nodes: 2, bytes: 3 });
  });

  it('refuses a create or set past a limit with QUOTA_EXCEEDED naming the quota, its limit and usage, and changes nothing', () => {
    const d = new LockDriver();
    d.apply(create('/app'));
    quota(d, '/', undefined, 1000);
    quota(d, '/app', 3, 10);
    d.apply(create('/app/a', 6));
    const before = d.sm.digest();
    const records = d.sm.tree.records();
    const r = d.apply(create('/app/b', 5));
    expect(r).toMatchObject({
      ok: false,
      error: { code: ErrorCode.QUOTA_EXCEEDED, details: { path: '/app/b', quota: '/app', maxNodes: 3, maxBytes: 10, nodes: 2, bytes: 6 } },
      events: [],
    });
    expect(r.ok ? '' : r.error.message).toBe('QUOTA_EXCEEDED: creating /app/b would take the quota on /app to 11 bytes, past its maxBytes 10 (usage: 2 nodes, 6 bytes)');
    expect(d.apply(set('/app/a', 11))).toMatchObject({ ok: false, error: { code: ErrorCode.QUOTA_EXCEEDED, details: { path: '/app/a', quota: '/app' } } });
    expect(d.sm.digest()).toBe(before);
    expect(d.sm.tree.records()).toEqual(records);
    expect(codeOf(d.apply(create('/app/b', 4)))).toBe('ok'); // exactly at the limit is fine
    expect(d.apply(create('/app/c'))).toMatchObject({ ok: false, error: { code: ErrorCode.QUOTA_EXCEEDED, details: { quota: '/app', nodes: 3 } } });
    // The outer quota refuses too: the innermost that is exceeded is named first.
    expect(d.apply(create('/big', 995))).toMatchObject({ ok: false, error: { details: { quota: '/' } } });
  });

  it('frees room when a session closes and its ephemerals go', () => {
    const d = new LockDriver();
    d.open(1, 2);
    d.apply(create('/svc'));
    quota(d, '/svc', 3);
    expect(codeOf(d.apply(create('/svc/e1', 0, 'ephemeral'), { sessionId: 1 }))).toBe('ok');
    expect(codeOf(d.apply(create('/svc/e2', 0, 'ephemeral'), { sessionId: 1 }))).toBe('ok');
    expect(codeOf(d.apply(create('/svc/f1', 0, 'ephemeral'), { sessionId: 2 }))).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(d.close(1, true)).toMatchObject({ ok: true, result: { deleted: ['/svc/e1', '/svc/e2'] } });
    expect(usage(d, '/svc')).toEqual({ nodes: 1, bytes: 0 });
    expect(codeOf(d.apply(create('/svc/f1', 0, 'ephemeral'), { sessionId: 2 }))).toBe('ok');
    expectConsistent(d.sm);
  });

  it('frees room when a container or TTL node is removed by the delete the leader proposes', () => {
    const d = new LockDriver();
    d.apply(create('/jobs'));
    d.apply({ type: 'create', path: '/jobs/c', data: bytes(0), kind: 'container' });
    d.apply({ type: 'create', path: '/jobs/t', data: bytes(2), kind: 'ttl', ttlMs: 10 });
    d.apply(create('/jobs/c/x'));
    quota(d, '/jobs', 4);
    d.apply(del('/jobs/c/x'));
    expect(d.sm.tree.containerCandidates()).toEqual(['/jobs/c']);
    d.apply(del('/jobs/c'));
    expect(d.sm.tree.ttlCandidates(1_000_000)).toEqual(['/jobs/t']);
    d.apply(del('/jobs/t'));
    expect(usage(d, '/jobs')).toEqual({ nodes: 1, bytes: 0 });
  });
});

describe('quotas under a multi', () => {
  function atLimit(): LockDriver {
    const d = new LockDriver();
    d.apply(create('/q'));
    d.apply(create('/q/a'));
    quota(d, '/q', 4);
    return d;
  }

  it('judges the cumulative effect: 3 creates when 2 fit fail as a whole at the third, and nothing changes', () => {
    const d = atLimit();
    const before = d.sm.digest();
    const records = d.sm.tree.records();
    const r = d.apply({ type: 'multi', ops: [create('/q/b'), create('/q/c'), create('/q/d')] });
    expect(r).toMatchObject({ ok: false, error: { code: ErrorCode.QUOTA_EXCEEDED, failedIndex: 2, details: { quota: '/q', maxNodes: 4, nodes: 4 } }, events: [] });
    expect(r.ok ? [] : r.error.results?.map((x) => (x.type === 'error' ? x.error.code : x.type))).toEqual([ErrorCode.RUNTIME_INCONSISTENCY, ErrorCode.RUNTIME_INCONSISTENCY, ErrorCode.QUOTA_EXCEEDED]);
    expect(d.sm.digest()).toBe(before);
    expect(d.sm.tree.records()).toEqual(records);
    expect(usage(d, '/q')).toEqual({ nodes: 2, bytes: 0 });
  });

  it('lets a multi that deletes one and creates one at the limit through, and rolls usage back with a failed multi', () => {
    const d = atLimit();
    d.apply(create('/q/b'));
    d.apply(create('/q/c'));
    expect(codeOf(d.apply(create('/q/d')))).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(codeOf(d.apply({ type: 'multi', ops: [del('/q/b'), create('/q/d', 0)] }))).toBe('ok');
    expect(codeOf(d.apply({ type: 'multi', ops: [create('/q/e'), del('/q/c')] }))).toBe(ErrorCode.QUOTA_EXCEEDED); // order matters
    const before = d.sm.digest();
    const r = d.apply({ type: 'multi', ops: [del('/q/c'), del('/q/d'), create('/q/x', 9), set('/q/a', 5), { type: 'check', path: '/nope', version: -1 }] });
    expect(r).toMatchObject({ ok: false, error: { code: ErrorCode.NO_NODE, failedIndex: 4 } });
    expect(d.sm.digest()).toBe(before);
    expect(usage(d, '/q')).toEqual({ nodes: 4, bytes: 0 });
    expectConsistent(d.sm);
  });
});

describe('quota txns', () => {
  it('validate their arguments: BAD_PATH, reserved paths, no limit, negative limits; removing what is not set is NO_NODE', () => {
    const d = new LockDriver({ quotasMax: 2 });
    const before = d.sm.digest();
    expect(codeOf(d.apply({ type: 'setQuota', path: '/a/', maxNodes: 1 }))).toBe(ErrorCode.BAD_PATH);
    expect(codeOf(d.apply({ type: 'setQuota', path: '/conclave/locks', maxNodes: 1 }))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(codeOf(d.apply({ type: 'setQuota', path: '/a' }))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(codeOf(d.applyRaw({ type: 'setQuota', path: '/a', maxNodes: -1 }))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(codeOf(d.applyRaw({ type: 'setQuota', path: '/a', maxNodes: 1, maxBytes: 1.5 }))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(codeOf(d.apply({ type: 'removeQuota', path: '/a' }))).toBe(ErrorCode.NO_NODE);
    expect(codeOf(d.apply({ type: 'removeQuota', path: '//' }))).toBe(ErrorCode.BAD_PATH);
    expect(d.sm.digest()).toBe(before);
    quota(d, '/a', 0); // a limit of 0 is a limit: nothing may be created there
    expect(codeOf(d.apply(create('/a')))).toBe(ErrorCode.QUOTA_EXCEEDED);
    quota(d, '/b', undefined, 0);
    expect(codeOf(d.apply({ type: 'setQuota', path: '/c', maxNodes: 1 }))).toBe(ErrorCode.LIMIT_EXCEEDED);
    quota(d, '/b', 5); // replacing: maxBytes is gone
    expect(d.sm.quotas.get('/b')?.limits).toEqual({ maxNodes: 5 });
    expect(codeOf(d.apply(create('/b', 100)))).toBe('ok');
    expect(d.apply({ type: 'removeQuota', path: '/a' })).toMatchObject({ ok: true, result: { type: 'removeQuota', path: '/a' }, events: [] });
    expect(codeOf(d.apply(create('/a')))).toBe('ok');
    expect(d.sm.quotas.list().map((q) => q.path)).toEqual(['/b']);
  });

  it('are in the digest, limits and usage alike', () => {
    const d = new LockDriver();
    const empty = d.sm.digest();
    quota(d, '/a', 3);
    expect(d.sm.digest()).not.toBe(empty);
    const limitOnly = d.sm.quotas.digest();
    d.apply(create('/a'));
    expect(d.sm.quotas.digest()).not.toBe(limitOnly); // usage moved
    quota(d, '/a', 4);
    const four = d.sm.quotas.digest();
    quota(d, '/a', 3);
    expect(four).not.toBe(d.sm.quotas.digest());
    d.apply(del('/a'));
    expect(d.sm.quotas.digest()).toBe(limitOnly);
    d.apply({ type: 'removeQuota', path: '/a' });
    expect(d.sm.quotas.digest()).toBe(0);
  });
});

describe('quota snapshots', () => {
  function busy(): LockDriver {
    const d = new LockDriver();
    d.open(1);
    d.apply(create('/app', 4));
    d.apply(create('/app/e', 3, 'ephemeral'), { sessionId: 1 });
    d.apply(create('/x'));
    quota(d, '/', 100);
    quota(d, '/app', 3, 10);
    quota(d, '/later', undefined, 5);
    d.acquire(1, 'm');
    return d;
  }

  it('store the limits only; restore recounts usage from the tree, and both replicas go on identically', () => {
    const d = busy();
    const rows = d.sm.snapshotRows();
    expect(rows.quotas).toEqual([
      ['/', 100, null],
      ['/app', 3, 10],
      ['/later', null, 5],
    ]);
    const copy = new ConclaveStateMachine();
    copy.restore(rows, d.index);
    expect(copy.quotas.list()).toEqual(d.sm.quotas.list());
    expect(copy.quotas.get('/')?.usage).toEqual({ nodes: 4, bytes: 7 }); // /conclave not counted
    expect(copy.digest()).toBe(d.sm.digest());
    for (const sm of [d.sm, copy]) {
      const at = d.index + 1;
      expect(sm.applyTxn(at, { timeMs: 1, sessionId: 0, seq: 0, body: create('/app/b', 4) })).toMatchObject({ ok: false, error: { code: ErrorCode.QUOTA_EXCEEDED } });
      expect(sm.applyTxn(at + 1, { timeMs: 1, sessionId: 0, seq: 0, body: create('/app/b', 3) })).toMatchObject({ ok: true });
      sm.applyTxn(at + 2, { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: 1 } });
      expectConsistent(sm);
    }
    expect(copy.digest()).toBe(d.sm.digest());
    expect(copy.quotas.get('/app')?.usage).toEqual({ nodes: 2, bytes: 7 });
  });

  it('captureSnapshot carries the same rows; a snapshot without a quotas table restores with none', () => {
    const d = busy();
    const cap = d.sm.captureSnapshot();
    cap.znodes.end();
    expect(cap.rows.quotas).toEqual(d.sm.snapshotRows().quotas);
    const { quotas: _q, acls: _a, ...old } = d.sm.snapshotRows();
    const copy = new ConclaveStateMachine();
    copy.restore(old, d.index);
    expect(copy.quotas.size).toBe(0);
    expect(codeOf({ ...copy.applyTxn(d.index + 1, { timeMs: 1, sessionId: 0, seq: 0, body: create('/app/b', 100) }), events: [] })).toBe('ok');
  });

  it('refuses quota rows that are not valid with CORRUPTED and keeps the old state', () => {
    const d = busy();
    const rows = d.sm.snapshotRows();
    const target = new ConclaveStateMachine();
    const digest = target.digest();
    for (const quotas of [[['/a', null, null]], [['/a', -1, null]], [['/a', 'x', null]], [['/conclave', 1, null]], [['a/', 1, null]], [['/a', 1]], [...rows.quotas, rows.quotas[0]!]]) {
      expect(() => target.restore({ ...rows, quotas }, 9), JSON.stringify(quotas)).toThrow(/CORRUPTED/);
      expect(target.digest()).toBe(digest);
      expect(target.quotas.size).toBe(0);
    }
    expect(() => QuotaTable.fromRows([['/a', 1, null], ['/b', 1, null]], d.sm.tree, { ...stateLimits, quotasMax: 1 })).toThrow(/CORRUPTED/);
  });
});

describe('quotas under interleaved sessions', () => {
  it('never let usage pass a limit, and always equal a recount, whatever order many sessions write in', () => {
    for (const seed of [1, 2, 3]) {
      const rng = new SeededRng(seed);
      const d = new LockDriver();
      d.apply(create('/shared'));
      d.apply(create('/shared/sub'));
      quota(d, '/shared', 12, 60);
      quota(d, '/shared/sub', 5);
      const open = new Set<number>();
      let nextSession = 1;
      let refused = 0;
      let created = 0;
      for (let step = 0; step < 400; step++) {
        if (open.size < 6 && rng.chance(0.1)) {
          d.open(nextSession);
          open.add(nextSession++);
          continue;
        }
        const sessions = [...open];
        const session = sessions.length > 0 ? rng.pick(sessions) : 0;
        const dir = rng.pick(['/shared', '/shared/sub']);
        const name = `${dir}/n${rng.int(0, 15)}`;
        const roll = rng.next();
        let r;
        if (roll < 0.45) r = d.apply(create(name, rng.int(0, 9), session > 0 && rng.chance(0.5) ? 'ephemeral' : 'persistent'), { sessionId: session });
        else if (roll < 0.6) r = d.apply(set(name, rng.int(0, 12)));
        else if (roll < 0.75) r = d.apply(del(name));
        else if (roll < 0.9) r = d.apply({ type: 'multi', ops: [create(`${name}a`, rng.int(0, 5)), create(`${name}b`, rng.int(0, 5))] }, { sessionId: session });
        else if (session > 0) {
          r = d.close(session, rng.chance(0.5));
          open.delete(session);
        }
        if (r && !r.ok && r.error.code === ErrorCode.QUOTA_EXCEEDED) refused++;
        if (r?.ok && (r.result.type === 'create' || r.result.type === 'multi')) created++;
        const outer = d.sm.quotas.get('/shared')?.usage;
        const inner = d.sm.quotas.get('/shared/sub')?.usage;
        expect(outer!.nodes, `seed ${seed} step ${step}`).toBeLessThanOrEqual(12);
        expect(outer!.bytes, `seed ${seed} step ${step}`).toBeLessThanOrEqual(60);
        expect(inner!.nodes, `seed ${seed} step ${step}`).toBeLessThanOrEqual(5);
        expectConsistent(d.sm);
      }
      expect(refused, `seed ${seed}`).toBeGreaterThan(10);
      expect(created, `seed ${seed}`).toBeGreaterThan(10);
    }
  });
});
