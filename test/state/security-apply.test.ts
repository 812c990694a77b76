/** ACLs and quotas through the state machine: txns, their codec, apply-time permission checks, snapshots. */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/common/errors.js';
import { WireWriter } from '../../src/common/protobuf-writer.js';
import { PERMISSIONS, type AclGrant, type Permission } from '../../src/state/acl.js';
import { ConclaveStateMachine } from '../../src/state/state-machine.js';
import { stateSnapshotTables } from '../../src/state/state-snapshot.js';
import { decodeTxn, encodeTxn } from '../../src/state/txn-codec.js';
import type { Txn, TxnBody, TreeOp } from '../../src/state/txn.js';
import { type Applied, LockDriver, codeOf } from './lock-driver.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const none = new Uint8Array(0);
const create = (path: string, extra: Partial<Extract<TreeOp, { type: 'create' }>> = {}): TreeOp => ({ type: 'create', path, data: bytes('d'), kind: 'persistent', ...extra });

/** A driver with /app and /app/x, sessions 1 and 2, and ACLs set by the trusted (identity-less) path. */
function setup(acls: Record<string, AclGrant[]> = {}): LockDriver {
  const d = new LockDriver();
  d.open(1, 2);
  d.apply(create('/app'));
  d.apply(create('/app/x'));
  for (const [path, grants] of Object.entries(acls)) expect(codeOf(d.apply({ type: 'setAcl', path, grants }))).toBe('ok');
  return d;
}

/** Applies as `identity` and checks that a refusal changed nothing at all. */
function as(d: LockDriver, identity: string, body: TxnBody, header: Partial<Omit<Txn, 'body'>> = {}): Applied {
  const digest = d.sm.digest();
  const records = d.sm.tree.records();
  const r = d.apply(body, { ...header, identity });
  if (!r.ok) {
    expect(r.events).toEqual([]);
    expect(d.sm.tree.records()).toEqual(records);
    if (header.seq === undefined) expect(d.sm.digest()).toBe(digest);
  }
  return r;
}

describe('security txns in the codec', () => {
  const samples: Txn[] = [
    { timeMs: 1, sessionId: 3, seq: 4, identity: 'alice@corp', body: { type: 'create', path: '/a', data: none, kind: 'persistent', sequential: false, ttlMs: 0 } },
    { timeMs: 2, sessionId: 0, seq: 0, identity: 'svc:x', body: { type: 'setAcl', path: '/team', grants: [{ identity: '*', perms: ['read'] }, { identity: 'bob', perms: ['read', 'write', 'create', 'delete', 'admin', 'lock'] }, { identity: 'carol', perms: [] }] } },
    { timeMs: 3, sessionId: 0, seq: 0, body: { type: 'setAcl', path: '/', grants: [] } },
    { timeMs: 4, sessionId: 1, seq: 2, body: { type: 'removeAcl', path: '/team' } },
    { timeMs: 5, sessionId: 0, seq: 0, body: { type: 'setQuota', path: '/q', maxNodes: 0 } },
    { timeMs: 6, sessionId: 0, seq: 0, body: { type: 'setQuota', path: '/q', maxBytes: 2 ** 40 } },
    { timeMs: 7, sessionId: 0, seq: 0, body: { type: 'setQuota', path: '/q', maxNodes: 10, maxBytes: 0 } },
    { timeMs: 8, sessionId: 0, seq: 0, identity: 'root', body: { type: 'removeQuota', path: '/q' } },
  ];

  it('round-trip, keeping which quota limits are present (0 included)', () => {
    for (const txn of samples) expect(decodeTxn(encodeTxn(txn)), JSON.stringify(txn.body)).toEqual(txn);
  });

  it('read an empty identity as absent, and unpacked permissions like packed ones', () => {
    expect(decodeTxn(encodeTxn({ ...samples[0]!, identity: '' }))).not.toHaveProperty('identity');
    const grant = new WireWriter().string(1, 'bob').optionalUint(2, 0).optionalUint(2, 5).finish();
    const acl = new WireWriter().string(1, '/p').bytes(2, grant).finish();
    const txn = new WireWriter().uint(1, 9).bytes(21, acl, true).finish();
    expect(decodeTxn(txn).body).toEqual({ type: 'setAcl', path: '/p', grants: [{ identity: 'bob', perms: ['read', 'lock'] }] });
  });

  it('refuse what the schema cannot hold with INVALID_ARGUMENT', () => {
    const bad: unknown[] = [
      { type: 'setAcl', path: '/a', grants: [{ identity: 'a', perms: ['fly'] }] },
      { type: 'setAcl', path: '/a', grants: 'x' },
      { type: 'setQuota', path: '/a', maxNodes: -1 },
    ];
    for (const body of bad) expect(() => encodeTxn({ timeMs: 0, sessionId: 0, seq: 0, body: body as TxnBody })).toThrow(/INVALID_ARGUMENT/);
    const badPerm = new WireWriter().string(1, '/p').message(2, (g) => g.string(1, 'a').bytes(2, Uint8Array.of(6))).finish();
    expect(() => decodeTxn(new WireWriter().bytes(21, badPerm, true).finish())).toThrow(/INVALID_ARGUMENT/);
  });
});

describe('permission checks at apply time', () => {
  it('check nothing for a txn without an identity (auth off, or the leader\'s own txns)', () => {
    const d = setup({ '/': [{ identity: 'nobody', perms: ['read'] }] });
    expect(codeOf(d.apply(create('/app/y')))).toBe('ok');
    expect(codeOf(d.apply({ type: 'setQuota', path: '/app', maxNodes: 9 }))).toBe('ok');
    expect(codeOf(d.acquire(1, 'm'))).toBe('ok');
  });

  it('need create, write, delete and read (check) on the path, for single ops', () => {
    const cases: Array<[TxnBody, Permission]> = [
      [create('/app/new'), 'create'],
      [{ type: 'set', path: '/app/x', data: bytes('v'), version: -1 }, 'write'],
      [{ type: 'delete', path: '/app/x', version: -1 }, 'delete'],
      [{ type: 'check', path: '/app/x', version: -1 }, 'read'],
    ];
    for (const [body, perm] of cases) {
      // Every other permission on / is not enough, nor the right one granted to someone else.
      const d = setup({ '/': [{ identity: 'alice', perms: PERMISSIONS.filter((p) => p !== perm) }], '/app': [{ identity: 'bob', perms: [perm] }] });
      const r = as(d, 'alice', body);
      expect(r).toMatchObject({ ok: false, error: { code: ErrorCode.PERMISSION_DENIED, message: `PERMISSION_DENIED: alice may not ${perm} ${body.type === 'create' ? '/app/new' : '/app/x'}` } });
      expect(codeOf(as(d, 'carol', body))).toBe(ErrorCode.PERMISSION_DENIED);
      expect(codeOf(as(d, 'bob', body)), `${body.type} by bob`).toBe('ok');
    }
  });

  it('grant through *, through an ancestor, and always to root', () => {
    const d = setup({ '/app': [{ identity: '*', perms: ['create'] }] });
    expect(codeOf(as(d, 'anyone', create('/app/x/deep')))).toBe('ok');
    expect(codeOf(as(d, 'anyone', create('/top')))).toBe(ErrorCode.PERMISSION_DENIED);
    expect(codeOf(as(d, 'root', create('/top')))).toBe('ok');
    expect(codeOf(as(d, 'root', { type: 'setAcl', path: '/', grants: [{ identity: 'x', perms: ['admin'] }] }))).toBe('ok');
  });

  it('check a sequential create on the requested prefix', () => {
    const d = setup({ '/app/x': [{ identity: 'alice', perms: ['create'] }] });
    expect(as(d, 'alice', create('/app/x/job-', { sequential: true }))).toMatchObject({ ok: true, result: { path: '/app/x/job-0000000000' } });
    expect(as(d, 'alice', create('/app/job-', { sequential: true }))).toMatchObject({ ok: false, error: { message: 'PERMISSION_DENIED: alice may not create /app/job-' } });
  });

  it('check every op of a multi before applying any: one denied op fails the whole multi at its index', () => {
    const d = setup({ '/app': [{ identity: 'alice', perms: ['create', 'write'] }] });
    const ops: TreeOp[] = [create('/app/a'), { type: 'set', path: '/app/x', data: bytes('v'), version: -1 }, { type: 'delete', path: '/app/x', version: -1 }, create('/app/b')];
    const r = as(d, 'alice', { type: 'multi', ops });
    expect(r).toMatchObject({ ok: false, error: { code: ErrorCode.PERMISSION_DENIED, message: 'PERMISSION_DENIED: alice may not delete /app/x', failedIndex: 2 } });
    expect(r.ok ? [] : r.error.results?.map((x) => (x.type === 'error' ? x.error.code : x.type))).toEqual([
      ErrorCode.RUNTIME_INCONSISTENCY,
      ErrorCode.RUNTIME_INCONSISTENCY,
      ErrorCode.PERMISSION_DENIED,
      ErrorCode.RUNTIME_INCONSISTENCY,
    ]);
    // Permissions come first: an earlier op that would fail on the state does not hide the denial.
    const first = as(d, 'alice', { type: 'multi', ops: [{ type: 'set', path: '/app/x', data: none, version: 99 }, { type: 'check', path: '/app/x', version: -1 }] });
    expect(first).toMatchObject({ ok: false, error: { code: ErrorCode.PERMISSION_DENIED, failedIndex: 1 } });
    expect(as(d, 'alice', { type: 'multi', ops: [create('/app/a'), { type: 'set', path: '/app/x', data: bytes('v'), version: -1 }] })).toMatchObject({ ok: true });
  });

  it('never tell whether a node exists: a denied op gets the same answer for an existing and a missing node', () => {
    const d = setup({ '/': [{ identity: 'alice', perms: ['read'] }] });
    const pairs: Array<[TxnBody, TxnBody]> = [
      [create('/app/x'), create('/app/missing')],
      [{ type: 'delete', path: '/app/x', version: 0 }, { type: 'delete', path: '/app/missing', version: 0 }],
      [{ type: 'set', path: '/app/x', data: none, version: 7 }, { type: 'set', path: '/app/missing', data: none, version: 7 }],
      [create('/app/x/child'), create('/app/missing/child')],
    ];
    for (const [existing, missing] of pairs) {
      const a = as(d, 'alice', existing);
      const b = as(d, 'alice', missing);
      expect(codeOf(a)).toBe(ErrorCode.PERMISSION_DENIED);
      expect(codeOf(b)).toBe(ErrorCode.PERMISSION_DENIED);
      expect(a.ok ? '' : a.error.message.replace('/app/x', '/app/missing')).toBe(b.ok ? '' : b.error.message);
    }
  });

  it('need lock on /conclave/locks/<name> for acquire, release and cancel; lockWake and sessions are not checked', () => {
    const d = setup({ '/conclave/locks/jobs': [{ identity: 'alice', perms: ['lock'] }] });
    const acquire: TxnBody = { type: 'lockAcquire', name: 'jobs', kind: 'mutex', wait: true };
    expect(as(d, 'bob', acquire, { sessionId: 2 })).toMatchObject({ ok: false, error: { message: 'PERMISSION_DENIED: bob may not lock /conclave/locks/jobs' } });
    expect(codeOf(as(d, 'alice', acquire, { sessionId: 1 }))).toBe('ok');
    expect(codeOf(as(d, 'alice', { type: 'lockAcquire', name: 'other', kind: 'mutex', wait: true }, { sessionId: 1 }))).toBe(ErrorCode.PERMISSION_DENIED);
    expect(codeOf(d.acquire(2, 'jobs'))).toBe('ok'); // trusted: queued behind alice
    expect(codeOf(as(d, 'bob', { type: 'lockCancel', name: 'jobs' }, { sessionId: 2 }))).toBe(ErrorCode.PERMISSION_DENIED);
    expect(codeOf(as(d, 'bob', { type: 'lockRelease', name: 'jobs' }, { sessionId: 1 }))).toBe(ErrorCode.PERMISSION_DENIED);
    expect(codeOf(as(d, 'alice', { type: 'lockRelease', name: 'jobs' }, { sessionId: 1 }))).toBe('ok');
    expect(codeOf(as(d, 'nobody', { type: 'lockWake', name: 'jobs' }))).toBe('ok');
    expect(codeOf(as(d, 'nobody', { type: 'createSession', sessionId: 9, timeoutMs: 1000 }))).toBe('ok');
    expect(codeOf(as(d, 'nobody', { type: 'closeSession', sessionId: 9 }))).toBe('ok');
  });

  it('need admin on the path for setAcl, removeAcl, setQuota and removeQuota, so a delegated admin stays in its subtree', () => {
    const d = setup({ '/app': [{ identity: 'alice', perms: ['admin'] }] });
    const grants: AclGrant[] = [{ identity: 'bob', perms: ['create'] }];
    expect(as(d, 'alice', { type: 'setAcl', path: '/app/x', grants })).toMatchObject({ ok: true, result: { type: 'setAcl', path: '/app/x' }, events: [] });
    expect(codeOf(as(d, 'bob', create('/app/x/y')))).toBe('ok');
    expect(as(d, 'alice', { type: 'setAcl', path: '/', grants })).toMatchObject({ ok: false, error: { message: 'PERMISSION_DENIED: alice may not admin /' } });
    expect(codeOf(as(d, 'bob', { type: 'setAcl', path: '/app/x', grants: [{ identity: 'bob', perms: ['admin'] }] }))).toBe(ErrorCode.PERMISSION_DENIED);
    expect(codeOf(as(d, 'alice', { type: 'setQuota', path: '/app/x', maxNodes: 2 }))).toBe('ok');
    expect(codeOf(as(d, 'alice', { type: 'setQuota', path: '/other', maxNodes: 2 }))).toBe(ErrorCode.PERMISSION_DENIED);
    expect(codeOf(as(d, 'bob', { type: 'removeQuota', path: '/app/x' }))).toBe(ErrorCode.PERMISSION_DENIED);
    // Removing what is not set: NO_NODE only for someone allowed to ask.
    expect(codeOf(as(d, 'bob', { type: 'removeAcl', path: '/app/none' }))).toBe(ErrorCode.PERMISSION_DENIED);
    expect(codeOf(as(d, 'alice', { type: 'removeAcl', path: '/app/none' }))).toBe(ErrorCode.NO_NODE);
    expect(codeOf(as(d, 'alice', { type: 'removeQuota', path: '/app/x' }))).toBe('ok');
    expect(codeOf(as(d, 'alice', { type: 'removeAcl', path: '/app/x' }))).toBe('ok');
    expect(codeOf(as(d, 'bob', create('/app/x/z')))).toBe(ErrorCode.PERMISSION_DENIED);
    // A bad path is BAD_PATH for anyone (it says nothing about the state).
    expect(codeOf(as(d, 'bob', { type: 'setAcl', path: '/a//b', grants }))).toBe(ErrorCode.BAD_PATH);
    expect(codeOf(as(d, 'bob', create('/app/')))).toBe(ErrorCode.BAD_PATH);
    expect(as(d, 'root', { type: 'multi', ops: [create('/app/ok'), { type: 'check', path: 'rel', version: -1 }] })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_PATH, failedIndex: 1 } });
    // An admin may remove the very ACL that made it one: then it is an admin there no more.
    expect(codeOf(as(d, 'alice', { type: 'setAcl', path: '/app', grants: [] }))).toBe('ok');
    expect(codeOf(as(d, 'alice', { type: 'setAcl', path: '/app', grants }))).toBe(ErrorCode.PERMISSION_DENIED);
  });

  it('keep dedup as it is: a retried request gets its remembered denial, even once the grant exists', () => {
    const d = setup();
    expect(codeOf(as(d, 'alice', create('/app/r'), { sessionId: 1, seq: 1 }))).toBe(ErrorCode.PERMISSION_DENIED);
    d.apply({ type: 'setAcl', path: '/app', grants: [{ identity: 'alice', perms: ['create'] }] });
    expect(as(d, 'alice', create('/app/r'), { sessionId: 1, seq: 1 })).toMatchObject({ ok: false, error: { code: ErrorCode.PERMISSION_DENIED }, duplicate: true });
    expect(codeOf(as(d, 'alice', create('/app/r'), { sessionId: 1, seq: 2 }))).toBe('ok');
  });

  it('come before the quota check: a denied create is PERMISSION_DENIED even where the quota is full', () => {
    const d = setup({ '/app': [{ identity: 'alice', perms: ['create'] }] });
    d.apply({ type: 'setQuota', path: '/app', maxNodes: 2 });
    expect(codeOf(as(d, 'bob', create('/app/y')))).toBe(ErrorCode.PERMISSION_DENIED);
    expect(codeOf(as(d, 'alice', create('/app/y')))).toBe(ErrorCode.QUOTA_EXCEEDED);
  });
});

describe('ACLs in the state machine', () => {
  function busy(): LockDriver {
    const d = setup({
      '/': [{ identity: '*', perms: ['read'] }],
      '/app': [{ identity: 'alice', perms: ['admin', 'create'] }],
      '/conclave/locks/m': [{ identity: 'bob', perms: ['lock'] }],
    });
    d.apply({ type: 'setQuota', path: '/app', maxNodes: 5, maxBytes: 100 });
    return d;
  }

  it('are exposed read-only, versioned, and in the digest', () => {
    const d = setup();
    const digest = d.sm.digest();
    const version = d.sm.acls.version;
    d.apply({ type: 'setAcl', path: '/app', grants: [{ identity: 'alice', perms: ['read'] }] });
    expect(d.sm.digest()).not.toBe(digest);
    expect(d.sm.acls.version).toBe(version + 1);
    expect(d.sm.acls.effective('alice', '/app/x')).toEqual(['read']);
    d.apply({ type: 'removeAcl', path: '/app' });
    expect(d.sm.digest()).toBe(digest);
    expect(d.sm.acls.version).toBe(version + 2);
  });

  it('round-trip through snapshotRows and captureSnapshot with the quotas; the version moves on', () => {
    const d = busy();
    const rows = d.sm.snapshotRows();
    expect(rows.acls.map((r) => r[0])).toEqual(['/', '/app', '/conclave/locks/m']);
    const cap = d.sm.captureSnapshot();
    cap.znodes.end();
    expect(cap.rows.acls).toEqual(rows.acls);
    expect(cap.rows.quotas).toEqual(rows.quotas);
    expect(stateSnapshotTables.map((t) => t.name)).toEqual(['znodes', 'sessions', 'members', 'locks', 'acls', 'quotas', 'session_outcomes']);
    for (const t of stateSnapshotTables.slice(4, 6)) expect(rows[t.name as 'acls' | 'quotas'].every((r) => r.length === t.columns.length)).toBe(true);
    const copy = new ConclaveStateMachine();
    copy.apply(1, encodeTxn({ timeMs: 0, sessionId: 0, seq: 0, body: { type: 'setAcl', path: '/z', grants: [{ identity: 'z', perms: ['read'] }] } }));
    const oldVersion = copy.acls.version;
    copy.restore(rows, d.index);
    expect(copy.acls.version).toBeGreaterThan(oldVersion);
    expect(copy.acls.list()).toEqual(d.sm.acls.list());
    expect(copy.digest()).toBe(d.sm.digest());
    for (const sm of [d.sm, copy]) {
      const r = sm.apply(d.index + 1, encodeTxn({ timeMs: 1, sessionId: 1, seq: 0, identity: 'bob', body: { type: 'lockAcquire', name: 'm', kind: 'mutex', wait: true } }));
      expect(codeOf(r)).toBe('ok');
      expect(codeOf(sm.apply(d.index + 2, encodeTxn({ timeMs: 1, sessionId: 0, seq: 0, identity: 'bob', body: create('/app/b') })))).toBe(ErrorCode.PERMISSION_DENIED);
    }
    expect(copy.digest()).toBe(d.sm.digest());
  });

  it('restore as none from a snapshot that predates them; bad acl rows are CORRUPTED and keep the old state', () => {
    const d = busy();
    const { acls: _a, quotas: _q, ...old } = d.sm.snapshotRows();
    const copy = new ConclaveStateMachine();
    copy.restore(old, d.index);
    expect(copy.acls.size).toBe(0);
    expect(copy.quotas.size).toBe(0);
    const target = new ConclaveStateMachine();
    const digest = target.digest();
    const rows = d.sm.snapshotRows();
    for (const acls of [[['/a', '[]']], [['/a', '[["bad id",["read"]]]']], [...rows.acls, rows.acls[0]!]]) {
      expect(() => target.restore({ ...rows, acls }, 9)).toThrow(/CORRUPTED/);
      expect(target.digest()).toBe(digest);
      expect(target.acls.size).toBe(0);
    }
  });
});
