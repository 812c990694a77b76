import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/common/errors.js';
import { ConclaveStateMachine, type ApplyResult } from '../../src/state/state-machine.js';
import { stateSnapshotTables } from '../../src/state/state-snapshot.js';
import { decodeMemberAddresses, encodeMemberAddresses } from '../../src/state/members.js';
import { REMEMBERED_PER_SESSION_MAX } from '../../src/state/sessions.js';
import { encodeTxn } from '../../src/state/txn-codec.js';
import type { Txn, TxnBody } from '../../src/state/txn.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const none = new Uint8Array(0);

/** Drives a state machine with consecutive indexes, as Raft would. */
class Driver {
  readonly sm = new ConclaveStateMachine();
  index = 0;
  apply(body: TxnBody, header: Partial<Omit<Txn, 'body'>> = {}): ApplyResult {
    this.index++;
    const txn: Txn = { timeMs: 1000 * this.index, sessionId: 0, seq: 0, ...header, body };
    return this.sm.apply(this.index, encodeTxn(txn));
  }
}

describe('apply', () => {
  it('uses the Raft index as zxid and the txn time as ctime/mtime, and reports change events', () => {
    const d = new Driver();
    const r = d.apply({ type: 'create', path: '/app', data: bytes('v1'), kind: 'persistent' }, { timeMs: 5555 });
    expect(r).toEqual({
      ok: true,
      result: { type: 'create', path: '/app', stat: { czxid: 1, mzxid: 1, pzxid: 1, ctime: 5555, mtime: 5555, version: 0, cversion: 0, ephemeralOwner: 0, dataLength: 2, numChildren: 0 } },
      events: [
        { type: 'created', path: '/app', zxid: 1 },
        { type: 'children', path: '/', zxid: 1 },
      ],
    });
    expect(d.apply({ type: 'set', path: '/app', data: bytes('v2'), version: 0 })).toMatchObject({ ok: true, result: { type: 'set', stat: { mzxid: 2, version: 1 } }, events: [{ type: 'changed', path: '/app', zxid: 2 }] });
    expect(d.apply({ type: 'delete', path: '/app', version: 1 }).events).toEqual([
      { type: 'deleted', path: '/app', zxid: 3 },
      { type: 'children', path: '/', zxid: 3 },
    ]);
    expect(d.sm.lastApplied).toBe(3);
    expect(d.sm.tree.exists('/')).toMatchObject({ cversion: 2, pzxid: 3 });
  });

  it('answers bad input with a typed error, no events, and no change', () => {
    const d = new Driver();
    d.apply({ type: 'create', path: '/a', data: none, kind: 'persistent' });
    const before = d.sm.digest();
    const cases: Array<[TxnBody, string]> = [
      [{ type: 'create', path: '/a/', data: none, kind: 'persistent' }, ErrorCode.BAD_PATH],
      [{ type: 'create', path: '/a', data: none, kind: 'persistent' }, ErrorCode.NODE_EXISTS],
      [{ type: 'create', path: '/x/y', data: none, kind: 'persistent' }, ErrorCode.NO_NODE],
      [{ type: 'set', path: '/a', data: none, version: 4 }, ErrorCode.BAD_VERSION],
      [{ type: 'create', path: '/big', data: new Uint8Array(1024 * 1024 + 1), kind: 'persistent' }, ErrorCode.DATA_TOO_LARGE],
      [{ type: 'create', path: '/e', data: none, kind: 'ephemeral' }, ErrorCode.BAD_ARGUMENTS],
      [{ type: 'delete', path: '/', version: -1 }, ErrorCode.BAD_ARGUMENTS],
    ];
    for (const [body, code] of cases) {
      const r = d.apply(body);
      expect(r.ok ? 'ok' : r.error.code, JSON.stringify(body.type)).toBe(code);
      expect(r.events).toEqual([]);
    }
    expect(d.sm.digest()).toBe(before);
  });

  it('turns garbage bytes into INVALID_ARGUMENT without throwing; an empty entry is a no-op', () => {
    const sm = new ConclaveStateMachine();
    const before = sm.digest();
    const r = sm.apply(1, new Uint8Array([0xff, 0xff, 0xff]));
    expect(r).toMatchObject({ ok: false, error: { code: ErrorCode.INVALID_ARGUMENT }, events: [] });
    expect(sm.apply(2, none)).toEqual({ ok: true, result: { type: 'noop' }, events: [] });
    expect(sm.digest()).toBe(before);
    expect(sm.lastApplied).toBe(2);
  });

  it('refuses to apply an index twice or backwards (a broken shell, not bad input)', () => {
    const sm = new ConclaveStateMachine();
    sm.apply(5, none);
    expect(() => sm.apply(5, none)).toThrow(/assertion failed/);
  });

  it('applies a multi atomically with events in op order, or reports the failing op', () => {
    const d = new Driver();
    const ok = d.apply({
      type: 'multi',
      ops: [
        { type: 'create', path: '/m', data: none, kind: 'persistent' },
        { type: 'create', path: '/m/x', data: none, kind: 'persistent' },
        { type: 'set', path: '/m', data: bytes('1'), version: 0 },
      ],
    });
    expect(ok.ok && ok.result.type).toBe('multi');
    expect(ok.events.map((e) => `${e.type} ${e.path} ${e.zxid}`)).toEqual(['created /m 1', 'children / 1', 'created /m/x 1', 'children /m 1', 'changed /m 1']);
    const before = d.sm.digest();
    const bad = d.apply({ type: 'multi', ops: [{ type: 'delete', path: '/m/x', version: -1 }, { type: 'delete', path: '/m', version: 0 }] });
    expect(bad).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_VERSION, failedIndex: 1 }, events: [] });
    if (!bad.ok) expect(bad.error.results?.map((r) => (r.type === 'error' ? r.error.code : r.type))).toEqual([ErrorCode.RUNTIME_INCONSISTENCY, ErrorCode.BAD_VERSION]);
    expect(d.sm.digest()).toBe(before);
    const tooMany = d.apply({ type: 'multi', ops: Array.from({ length: 129 }, () => ({ type: 'check', path: '/m', version: -1 }) as const) });
    expect(tooMany).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_ARGUMENTS } });
  });
});

describe('sessions', () => {
  it('closing a session deletes its ephemerals in the same txn and forgets it', () => {
    const d = new Driver();
    d.apply({ type: 'createSession', sessionId: 11, timeoutMs: 10_000 });
    d.apply({ type: 'createSession', sessionId: 12, timeoutMs: 10_000 });
    d.apply({ type: 'create', path: '/svc', data: none, kind: 'persistent' });
    d.apply({ type: 'create', path: '/svc/b', data: none, kind: 'ephemeral' }, { sessionId: 11 });
    d.apply({ type: 'create', path: '/svc/a', data: none, kind: 'ephemeral' }, { sessionId: 11 });
    d.apply({ type: 'create', path: '/svc/c', data: none, kind: 'ephemeral' }, { sessionId: 12 });
    expect(d.sm.tree.exists('/svc/a')?.ephemeralOwner).toBe(11);
    const r = d.apply({ type: 'closeSession', sessionId: 11 });
    expect(r).toEqual({
      ok: true,
      result: { type: 'closeSession', sessionId: 11, deleted: ['/svc/a', '/svc/b'] },
      events: [
        { type: 'deleted', path: '/svc/a', zxid: 7 },
        { type: 'children', path: '/svc', zxid: 7 },
        { type: 'deleted', path: '/svc/b', zxid: 7 },
        { type: 'children', path: '/svc', zxid: 7 },
      ],
    });
    expect(d.sm.tree.children('/svc').names).toEqual(['c']);
    expect(d.sm.tree.exists('/svc')).toMatchObject({ cversion: 5, pzxid: 7 });
    expect(d.sm.sessions.ids()).toEqual([12]);
    expect(d.apply({ type: 'closeSession', sessionId: 11 })).toMatchObject({ ok: false, error: { code: ErrorCode.SESSION_EXPIRED } });
  });

  it('refuses any request from an unknown or closed session with SESSION_EXPIRED', () => {
    const d = new Driver();
    expect(d.apply({ type: 'create', path: '/e', data: none, kind: 'ephemeral' }, { sessionId: 99 })).toMatchObject({ ok: false, error: { code: ErrorCode.SESSION_EXPIRED } });
    d.apply({ type: 'createSession', sessionId: 99, timeoutMs: 1 });
    d.apply({ type: 'closeSession', sessionId: 99 });
    expect(d.apply({ type: 'create', path: '/p', data: none, kind: 'persistent' }, { sessionId: 99, seq: 1 })).toMatchObject({ ok: false, error: { code: ErrorCode.SESSION_EXPIRED } });
    expect(d.sm.tree.nodeCount()).toBe(1);
    expect(d.apply({ type: 'createSession', sessionId: 0, timeoutMs: 1 })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_ARGUMENTS } });
  });

  it('answers a retried request from memory instead of applying it twice (Raft thesis §6.3)', () => {
    const d = new Driver();
    d.apply({ type: 'createSession', sessionId: 5, timeoutMs: 1000 });
    const first = d.apply({ type: 'create', path: '/q-', data: none, kind: 'persistent', sequential: true }, { sessionId: 5, seq: 1 });
    expect(first).toMatchObject({ ok: true, result: { path: '/q-0000000000' } });
    const retry = d.apply({ type: 'create', path: '/q-', data: none, kind: 'persistent', sequential: true }, { sessionId: 5, seq: 1 });
    expect(retry).toEqual({ ok: true, result: first.ok ? first.result : undefined, events: [], duplicate: true });
    expect(d.sm.tree.children('/').names).toEqual(['q-0000000000']);

    // A failed request is remembered too: the retry gets the same error.
    const failed = d.apply({ type: 'set', path: '/q-0000000000', data: none, version: 9 }, { sessionId: 5, seq: 2 });
    expect(failed).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_VERSION } });
    d.apply({ type: 'set', path: '/q-0000000000', data: none, version: -1 }); // someone else's write
    expect(d.apply({ type: 'set', path: '/q-0000000000', data: none, version: 9 }, { sessionId: 5, seq: 2 })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_VERSION }, duplicate: true });

    // An older request than the latest is no longer remembered.
    expect(d.apply({ type: 'delete', path: '/q-0000000000', version: -1 }, { sessionId: 5, seq: 1 })).toMatchObject({ ok: false, error: { code: ErrorCode.STALE_REQUEST } });
    expect(d.sm.tree.exists('/q-0000000000')).toBeDefined();
    // Gaps are fine: a request that never committed leaves one.
    expect(d.apply({ type: 'delete', path: '/q-0000000000', version: -1 }, { sessionId: 5, seq: 7 })).toMatchObject({ ok: true });
    expect(d.sm.sessions.get(5)).toMatchObject({ lastSeq: 7 });
    // A request id needs a session.
    expect(d.apply({ type: 'check', path: '/', version: -1 }, { seq: 3 })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_ARGUMENTS } });
  });
});

describe('request memory for pipelined writes (Raft thesis §6.3)', () => {
  const put = (d: Driver, seq: number, lowestUnansweredSeq: number | undefined, name = `n${seq}`): ApplyResult =>
    d.apply({ type: 'create', path: `/${name}`, data: none, kind: 'persistent' }, { sessionId: 5, seq, ...(lowestUnansweredSeq !== undefined ? { lowestUnansweredSeq } : {}) });

  it('answers a resend of any write from the lowest unanswered one up from memory', () => {
    const d = new Driver();
    d.apply({ type: 'createSession', sessionId: 5, timeoutMs: 1000 });
    // Five writes in flight at once: each says the client still waits on seq 1.
    const firsts = [1, 2, 3, 4, 5].map((seq) => put(d, seq, 1));
    expect(firsts.every((r) => r.ok)).toBe(true);
    // The connection dropped with all five unanswered: each resend gets its original answer.
    for (const seq of [1, 2, 3, 4, 5]) expect(put(d, seq, 1)).toEqual({ ...firsts[seq - 1], events: [], duplicate: true });
    expect(d.sm.tree.children('/').names).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    // The client has had answers up to 3: those are forgotten, 4 and 5 still remembered.
    expect(put(d, 6, 4)).toMatchObject({ ok: true });
    expect(put(d, 2, 4)).toMatchObject({ ok: false, error: { code: ErrorCode.STALE_REQUEST } });
    expect(put(d, 4, 4)).toMatchObject({ ok: true, duplicate: true });
    expect(d.sm.sessions.get(5)).toMatchObject({ lastSeq: 6, forgottenThrough: 3 });
    expect([...(d.sm.sessions.get(5)?.outcomes.keys() ?? [])]).toEqual([4, 5, 6]);
    // A lowest unanswered seq above the request itself is taken as the request's own.
    expect(put(d, 7, 100)).toMatchObject({ ok: true });
    expect(put(d, 7, 100)).toMatchObject({ ok: true, duplicate: true });
    expect(d.sm.sessions.get(5)).toMatchObject({ forgottenThrough: 6 });
  });

  it('applies a write that never reached the log after a later one was applied, then remembers both', () => {
    const d = new Driver();
    d.apply({ type: 'createSession', sessionId: 5, timeoutMs: 1000 });
    expect(put(d, 1, 1)).toMatchObject({ ok: true });
    expect(put(d, 3, 1)).toMatchObject({ ok: true });
    // Seq 2 was lost on the way (never applied): its resend is applied now, not refused as stale.
    expect(put(d, 2, 1)).toMatchObject({ ok: true, result: { path: '/n2' } });
    expect(put(d, 2, 1)).toMatchObject({ duplicate: true });
    expect(put(d, 3, 1)).toMatchObject({ duplicate: true, result: { path: '/n3' } });
    expect(d.sm.sessions.get(5)).toMatchObject({ lastSeq: 3 });
    expect([...(d.sm.sessions.get(5)?.outcomes.keys() ?? [])]).toEqual([1, 2, 3]);
  });

  it('remembers only the latest for a client that does not say what it waits on', () => {
    const d = new Driver();
    d.apply({ type: 'createSession', sessionId: 5, timeoutMs: 1000 });
    put(d, 1, undefined);
    put(d, 2, undefined);
    expect(put(d, 1, undefined)).toMatchObject({ ok: false, error: { code: ErrorCode.STALE_REQUEST } });
    expect(put(d, 2, undefined)).toMatchObject({ ok: true, duplicate: true });
  });

  it('forgets the oldest outcome beyond the bound, so a client that never acknowledges cannot grow it', () => {
    const d = new Driver();
    d.apply({ type: 'createSession', sessionId: 5, timeoutMs: 1000 });
    for (let seq = 1; seq <= REMEMBERED_PER_SESSION_MAX + 2; seq++) put(d, seq, 1);
    expect(d.sm.sessions.get(5)?.outcomes.size).toBe(REMEMBERED_PER_SESSION_MAX);
    expect(put(d, 2, 1)).toMatchObject({ ok: false, error: { code: ErrorCode.STALE_REQUEST } });
    expect(put(d, 3, 1)).toMatchObject({ ok: true, duplicate: true });
  });

  it('survives a snapshot: the copy answers the same resends the same way and has the same digest', () => {
    const d = new Driver();
    d.apply({ type: 'createSession', sessionId: 5, timeoutMs: 1000 });
    for (const seq of [1, 2, 4, 3, 5]) put(d, seq, 2);
    const rows = d.sm.snapshotRows();
    expect(rows.sessions).toEqual([[5, 1000, 5, expect.any(Uint8Array), '', 1]]);
    expect(rows.sessionOutcomes.map((r) => r.slice(0, 2))).toEqual([[5, 2], [5, 3], [5, 4]]);
    const copy = new Driver();
    copy.sm.restore(rows, d.index);
    copy.index = d.index;
    expect(copy.sm.digest()).toBe(d.sm.digest());
    for (const driver of [d, copy]) {
      expect(put(driver, 3, 2)).toMatchObject({ duplicate: true, result: { path: '/n3' } });
      expect(put(driver, 1, 2)).toMatchObject({ ok: false, error: { code: ErrorCode.STALE_REQUEST } });
    }
    expect(copy.sm.digest()).toBe(d.sm.digest());

    // A v4 row (no forgotten_through, no outcome table) remembered only the latest.
    const v4 = new Driver();
    v4.sm.restore({ ...rows, sessions: rows.sessions.map((r) => r.slice(0, 5)), sessionOutcomes: undefined }, d.index);
    expect(v4.sm.sessions.get(5)).toMatchObject({ lastSeq: 5, forgottenThrough: 4 });

    // Outcome rows that do not fit the session's range are CORRUPTED.
    for (const bad of [[[5, 1, new Uint8Array()]], [[5, 5, new Uint8Array()]], [[6, 3, new Uint8Array()]], [[5, 3]]]) {
      expect(() => new Driver().sm.restore({ ...rows, sessionOutcomes: bad }, d.index)).toThrow(expect.objectContaining({ code: ErrorCode.CORRUPTED }));
    }
  });
});

describe('snapshots', () => {
  function busy(): Driver {
    const d = new Driver();
    d.apply({ type: 'createSession', sessionId: 1, timeoutMs: 5000 });
    d.apply({ type: 'createSession', sessionId: 2, timeoutMs: 7000 });
    d.apply({ type: 'create', path: '/c', data: none, kind: 'container' });
    d.apply({ type: 'create', path: '/c/e-', data: bytes('me'), kind: 'ephemeral', sequential: true }, { sessionId: 1, seq: 1 });
    d.apply({ type: 'create', path: '/t', data: bytes('ttl'), kind: 'ttl', ttlMs: 100 }, { sessionId: 2, seq: 4 });
    d.apply({ type: 'set', path: '/t', data: bytes('x'), version: 7 }, { sessionId: 2, seq: 5 });
    d.apply({ type: 'create', path: '/\u{1F600}', data: new Uint8Array([0, 1, 2, 255]), kind: 'persistent' });
    return d;
  }

  it('restore(snapshotRows()) gives an identical digest, tree and dedup memory', () => {
    const d = busy();
    const rows = d.sm.snapshotRows();
    expect(rows.znodes.map((r) => r[0])).toEqual(['/', '/c', '/c/e-0000000000', '/t', '/\u{1F600}']);
    expect(rows.znodes.every((r) => r.length === stateSnapshotTables[0]!.columns.length)).toBe(true);
    expect(rows.sessions.map((r) => r.slice(0, 3))).toEqual([[1, 5000, 1], [2, 7000, 5]]);
    const copy = new ConclaveStateMachine();
    copy.restore(rows, d.index);
    expect(copy.digest()).toBe(d.sm.digest());
    expect(copy.lastApplied).toBe(d.index);
    expect(copy.tree.records()).toEqual(d.sm.tree.records());
    expect(copy.tree.ephemeralsOf(1)).toEqual(['/c/e-0000000000']);
    // Both continue identically, including answering a retry from the restored memory.
    for (const sm of [d.sm, copy]) {
      const retry = sm.apply(d.index + 1, encodeTxn({ timeMs: 1, sessionId: 2, seq: 5, body: { type: 'set', path: '/t', data: none, version: 7 } }));
      expect(retry).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_VERSION }, duplicate: true });
      sm.apply(d.index + 2, encodeTxn({ timeMs: 1, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: 1 } }));
    }
    expect(copy.digest()).toBe(d.sm.digest());
    expect(copy.tree.containerCandidates()).toEqual(['/c']);
  });

  it('accepts bigint INTEGER cells, as the SQLite reader may return them', () => {
    const d = busy();
    const rows = d.sm.snapshotRows();
    const big = { znodes: rows.znodes.map((r) => r.map((v) => (typeof v === 'number' ? BigInt(v) : v))), sessions: rows.sessions, members: rows.members };
    const copy = new ConclaveStateMachine();
    copy.restore(big, d.index);
    expect(copy.digest()).toBe(d.sm.digest());
  });

  it('refuses rows that are not a valid state with CORRUPTED and keeps the old state', () => {
    const d = busy();
    const rows = d.sm.snapshotRows();
    const target = new ConclaveStateMachine();
    const digest = target.digest();
    const broken = [
      { znodes: rows.znodes, sessions: rows.sessions.filter((r) => r[0] !== 1), members: [] }, // an ephemeral outlives its session
      { znodes: rows.znodes.map((r) => (r[0] === '/t' ? [...r.slice(0, 10), 'weird', r[11]!] : r)), sessions: rows.sessions, members: [] },
      { znodes: rows.znodes.map((r) => (r[0] === '/t' ? [...r.slice(0, 7), -1, ...r.slice(8)] : r)), sessions: rows.sessions, members: [] },
      { znodes: rows.znodes, sessions: rows.sessions.map((r) => [r[0]!, r[1]!, r[2]!, new Uint8Array([1, 2])]), members: [] },
      { znodes: rows.znodes.slice(0, 1).concat([['/no/parent', null, 0, 0, 0, 0, 0, 0, 0, 0, 'persistent', 0]]), sessions: [], members: [] },
      { znodes: rows.znodes, sessions: rows.sessions, members: [[2, '127.0.0.1:1', '127.0.0.1:2'], [2, 'a', 'b']] },
      { znodes: rows.znodes, sessions: rows.sessions, members: [[3, 7, 'b']] },
    ];
    for (const b of broken) {
      expect(() => target.restore(b, 9)).toThrow(/CORRUPTED/);
      expect(target.digest()).toBe(digest);
      expect(target.lastApplied).toBe(0);
    }
  });
});

describe('members', () => {
  it('are replicated from conf change records, kept across a promotion, dropped on removal, and restored from a snapshot', () => {
    const sm = new ConclaveStateMachine();
    const before = sm.digest();
    sm.applyMemberChange(1, { type: 'add', member: { id: 1, peer: '127.0.0.1:4191', client: '127.0.0.1:4181' } });
    sm.applyMemberChange(2, { type: 'add', member: { id: 4, peer: '127.0.0.1:4194', client: '127.0.0.1:4184' } });
    expect(sm.digest()).not.toBe(before);
    sm.applyMemberChange(3, { type: 'add', member: { id: 4, peer: '', client: '' } }); // promotion: no record
    expect(sm.members.get(4)).toEqual({ peer: '127.0.0.1:4194', client: '127.0.0.1:4184' });
    expect(sm.lastApplied).toBe(3);
    const copy = new ConclaveStateMachine();
    copy.restore(sm.snapshotRows(), 3);
    expect(copy.members.list()).toEqual(sm.members.list());
    expect(copy.digest()).toBe(sm.digest());
    sm.applyMemberChange(4, { type: 'remove', id: 1 });
    expect(sm.members.list().map((m) => m.id)).toEqual([4]);
  });

  it('records round-trip through the conf change context', () => {
    const m = { peer: '10.0.0.7:4191', client: 'conclave-2.conclave:4181' };
    expect(decodeMemberAddresses(encodeMemberAddresses(m))).toEqual(m);
    expect(() => decodeMemberAddresses(new Uint8Array([0x0a, 0x02, 0xff, 0xfe]))).toThrow(/UTF-8/);
  });
});

describe('snapshot table specs', () => {
  it('are accepted by the SQLite snapshot store', async () => {
    const { checkTableSpecs } = await import('../../src/storage/sqlite-snapshot-format.js');
    expect(() => checkTableSpecs(stateSnapshotTables)).not.toThrow();
  });
});
