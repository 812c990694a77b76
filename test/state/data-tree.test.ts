/**
 * The znode tree, written as ZooKeeper's documented behaviour (Programmer's Guide: "ZooKeeper Stat
 * Structure", "Sequence Nodes", "Ephemeral Nodes", "Container Nodes", "TTL Nodes", multi).
 */
import { describe, expect, it } from 'vitest';
import { ConclaveError, ErrorCode } from '../../src/common/errors.js';
import { DataTree, type TreeOp } from '../../src/state/data-tree.js';
import { stateLimits } from '../../src/state/limits.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const none = new Uint8Array(0);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err: unknown) {
    if (err instanceof ConclaveError) return err.code;
    throw err;
  }
  return 'no error';
}

/** A tree where /app was created at zxid 1, time 1000. */
function treeWithApp(): DataTree {
  const t = new DataTree();
  t.create('/app', bytes('cfg'), 'persistent', {}, 1, 1000);
  return t;
}

describe('the root', () => {
  it('exists from the start with a zeroed stat and cannot be created or deleted', () => {
    const t = new DataTree();
    expect(t.exists('/')).toEqual({ czxid: 0, mzxid: 0, pzxid: 0, ctime: 0, mtime: 0, version: 0, cversion: 0, ephemeralOwner: 0, dataLength: 0, numChildren: 0 });
    expect(codeOf(() => t.create('/', none, 'persistent', {}, 1, 1))).toBe(ErrorCode.NODE_EXISTS);
    expect(codeOf(() => t.delete('/', -1, 1))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(t.nodeCount()).toBe(1);
  });
});

describe('create', () => {
  it('sets czxid = mzxid = pzxid = zxid, ctime = mtime = time, version = cversion = 0', () => {
    const t = new DataTree();
    const r = t.create('/app', bytes('cfg'), 'persistent', {}, 7, 1234);
    expect(r).toEqual({
      path: '/app',
      stat: { czxid: 7, mzxid: 7, pzxid: 7, ctime: 1234, mtime: 1234, version: 0, cversion: 0, ephemeralOwner: 0, dataLength: 3, numChildren: 0 },
    });
    expect(t.get('/app')).toEqual({ data: bytes('cfg'), stat: r.stat });
  });

  it("bumps the parent's cversion and sets its pzxid, leaving its version and mzxid alone", () => {
    const t = treeWithApp();
    t.create('/app/a', none, 'persistent', {}, 2, 2000);
    t.create('/app/b', none, 'persistent', {}, 3, 3000);
    expect(t.exists('/app')).toMatchObject({ czxid: 1, mzxid: 1, pzxid: 3, mtime: 1000, version: 0, cversion: 2, numChildren: 2 });
    expect(t.exists('/')).toMatchObject({ pzxid: 1, cversion: 1, numChildren: 1 });
  });

  it('fails with NO_NODE when the parent is missing, NODE_EXISTS when the node exists', () => {
    const t = treeWithApp();
    expect(codeOf(() => t.create('/x/y', none, 'persistent', {}, 2, 2))).toBe(ErrorCode.NO_NODE);
    expect(codeOf(() => t.create('/app', none, 'persistent', {}, 2, 2))).toBe(ErrorCode.NODE_EXISTS);
    expect(codeOf(() => t.create('/app/', none, 'persistent', {}, 2, 2))).toBe(ErrorCode.BAD_PATH);
    expect(t.exists('/app')).toMatchObject({ cversion: 0, pzxid: 1 });
  });

  it('refuses data over znodeDataBytesMax with DATA_TOO_LARGE and accepts exactly the limit', () => {
    const t = new DataTree();
    expect(codeOf(() => t.create('/big', new Uint8Array(stateLimits.znodeDataBytesMax + 1), 'persistent', {}, 1, 1))).toBe(ErrorCode.DATA_TOO_LARGE);
    expect(t.exists('/big')).toBeUndefined();
    t.create('/big', new Uint8Array(stateLimits.znodeDataBytesMax), 'persistent', {}, 1, 1);
    expect(t.dataBytes()).toBe(stateLimits.znodeDataBytesMax);
  });

  it('copies the data it is given', () => {
    const t = new DataTree();
    const data = bytes('abc');
    t.create('/a', data, 'persistent', {}, 1, 1);
    data[0] = 0;
    expect(t.get('/a').data).toEqual(bytes('abc'));
  });

  it('checks its arguments: ephemeral needs a session, ttl needs a positive ttlMs and only ttl takes one, no sequential containers', () => {
    const t = new DataTree();
    expect(codeOf(() => t.create('/e', none, 'ephemeral', {}, 1, 1))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(codeOf(() => t.create('/t', none, 'ttl', {}, 1, 1))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(codeOf(() => t.create('/t', none, 'ttl', { ttlMs: -5 }, 1, 1))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(codeOf(() => t.create('/p', none, 'persistent', { ttlMs: 5 }, 1, 1))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(codeOf(() => t.create('/c', none, 'container', { sequential: true }, 1, 1))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(codeOf(() => t.create('/k', none, 'weird' as never, {}, 1, 1))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(t.nodeCount()).toBe(1);
    expect(t.exists('/')).toMatchObject({ cversion: 0 });
  });
});

describe('sequential nodes', () => {
  it("append the parent's cversion before the increment, zero-padded to 10 digits", () => {
    const t = treeWithApp();
    expect(t.create('/app/lock-', none, 'persistent', { sequential: true }, 2, 2).path).toBe('/app/lock-0000000000');
    expect(t.create('/app/lock-', none, 'persistent', { sequential: true }, 3, 3).path).toBe('/app/lock-0000000001');
    t.create('/app/other', none, 'persistent', {}, 4, 4);
    t.delete('/app/other', -1, 5);
    // The counter counts every create and delete of a child, so sequence numbers skip.
    expect(t.create('/app/lock-', none, 'persistent', { sequential: true }, 6, 6).path).toBe('/app/lock-0000000004');
    expect(t.create('/app/', none, 'persistent', { sequential: true }, 7, 7).path).toBe('/app/0000000005');
    expect(t.create('/', none, 'persistent', { sequential: true }, 8, 8).path).toBe('/0000000001');
    expect(t.children('/app').names).toEqual(['0000000005', 'lock-0000000000', 'lock-0000000001', 'lock-0000000004']);
  });

  it('fail with NODE_EXISTS if the generated name is taken', () => {
    const t = new DataTree();
    t.create('/q0000000001', none, 'persistent', {}, 1, 1);
    expect(codeOf(() => t.create('/q', none, 'persistent', { sequential: true }, 2, 2))).toBe(ErrorCode.NODE_EXISTS);
    expect(t.exists('/')).toMatchObject({ cversion: 1, pzxid: 1 });
  });

  it('refuse more names than sequentialMax allows', () => {
    const t = new DataTree({ ...stateLimits, sequentialMax: 1 });
    t.create('/s', none, 'persistent', { sequential: true }, 1, 1);
    t.create('/s', none, 'persistent', { sequential: true }, 2, 2);
    expect(codeOf(() => t.create('/s', none, 'persistent', { sequential: true }, 3, 3))).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(t.nodeCount()).toBe(3);
  });
});

describe('setData', () => {
  it('bumps version and sets mzxid and mtime; czxid, ctime, pzxid and cversion stay', () => {
    const t = treeWithApp();
    expect(t.setData('/app', bytes('v2!'), -1, 5, 5000)).toEqual({
      czxid: 1, mzxid: 5, pzxid: 1, ctime: 1000, mtime: 5000, version: 1, cversion: 0, ephemeralOwner: 0, dataLength: 3, numChildren: 0,
    });
    expect(t.setData('/app', none, 1, 6, 6000)).toMatchObject({ version: 2, mzxid: 6, dataLength: 0 });
    expect(t.get('/app').data).toEqual(none);
  });

  it('fails with BAD_VERSION on a version mismatch and NO_NODE on a missing node, changing nothing', () => {
    const t = treeWithApp();
    const before = t.digest();
    expect(codeOf(() => t.setData('/app', bytes('x'), 3, 2, 2))).toBe(ErrorCode.BAD_VERSION);
    expect(codeOf(() => t.setData('/nope', bytes('x'), -1, 2, 2))).toBe(ErrorCode.NO_NODE);
    expect(codeOf(() => t.setData('/app', bytes('x'), -2, 2, 2))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(codeOf(() => t.setData('/app', new Uint8Array(stateLimits.znodeDataBytesMax + 1), -1, 2, 2))).toBe(ErrorCode.DATA_TOO_LARGE);
    expect(t.digest()).toBe(before);
  });

  it('keeps dataBytes in step', () => {
    const t = treeWithApp();
    t.setData('/app', bytes('longer data'), -1, 2, 2);
    expect(t.dataBytes()).toBe(11);
  });
});

describe('delete', () => {
  it("removes the node and bumps the parent's cversion and pzxid", () => {
    const t = treeWithApp();
    t.create('/app/a', none, 'persistent', {}, 2, 2);
    t.delete('/app/a', 0, 9);
    expect(t.exists('/app/a')).toBeUndefined();
    expect(t.exists('/app')).toMatchObject({ pzxid: 9, cversion: 2, numChildren: 0, mzxid: 1, version: 0 });
  });

  it('checks version before emptiness, as ZooKeeper does: NO_NODE, BAD_VERSION, NOT_EMPTY', () => {
    const t = treeWithApp();
    t.create('/app/a', none, 'persistent', {}, 2, 2);
    expect(codeOf(() => t.delete('/nope', -1, 3))).toBe(ErrorCode.NO_NODE);
    expect(codeOf(() => t.delete('/app', 5, 3))).toBe(ErrorCode.BAD_VERSION);
    expect(codeOf(() => t.delete('/app', 0, 3))).toBe(ErrorCode.NOT_EMPTY);
    expect(codeOf(() => t.delete('/app', -1, 3))).toBe(ErrorCode.NOT_EMPTY);
    expect(t.nodeCount()).toBe(3);
  });
});

describe('check, get, exists, children', () => {
  it('check passes on the right version or -1 and fails with BAD_VERSION or NO_NODE', () => {
    const t = treeWithApp();
    t.check('/app', 0);
    t.check('/app', -1);
    expect(codeOf(() => t.check('/app', 1))).toBe(ErrorCode.BAD_VERSION);
    expect(codeOf(() => t.check('/none', -1))).toBe(ErrorCode.NO_NODE);
  });

  it('get of a missing node is NO_NODE, exists is undefined, bad paths are BAD_PATH', () => {
    const t = new DataTree();
    expect(codeOf(() => t.get('/x'))).toBe(ErrorCode.NO_NODE);
    expect(t.exists('/x')).toBeUndefined();
    expect(codeOf(() => t.exists('x'))).toBe(ErrorCode.BAD_PATH);
    expect(codeOf(() => t.children('/x'))).toBe(ErrorCode.NO_NODE);
  });

  it('children are names, sorted, with the parent stat, paged by childrenPageMax', () => {
    const t = new DataTree({ ...stateLimits, childrenPageMax: 2 });
    for (const [i, n] of ['c', 'a', 'b'].entries()) t.create(`/${n}`, none, 'persistent', {}, i + 1, 1);
    const first = t.children('/');
    expect(first).toEqual({ names: ['a', 'b'], stat: t.exists('/'), more: true });
    expect(t.children('/', { after: 'b' })).toMatchObject({ names: ['c'], more: false });
    expect(t.children('/', { limit: 1 })).toMatchObject({ names: ['a'], more: true });
    expect(t.children('/', { after: 'a', limit: 5 })).toMatchObject({ names: ['b', 'c'], more: false });
    expect(t.exists('/')).toMatchObject({ numChildren: 3, cversion: 3, pzxid: 3 });
  });
});

describe('ephemeral nodes', () => {
  it('record their owner in ephemeralOwner and are indexed by session', () => {
    const t = treeWithApp();
    t.create('/app/e2', none, 'ephemeral', { sessionId: 77 }, 3, 3);
    expect(t.create('/app/e1', none, 'ephemeral', { sessionId: 77 }, 2, 2).stat.ephemeralOwner).toBe(77);
    t.create('/app/f', none, 'ephemeral', { sessionId: 78 }, 4, 4);
    expect(t.ephemeralsOf(77)).toEqual(['/app/e1', '/app/e2']);
    expect(t.ephemeralOwners()).toEqual([77, 78]);
    t.delete('/app/e1', -1, 5);
    t.delete('/app/e2', -1, 6);
    expect(t.ephemeralsOf(77)).toEqual([]);
    expect(t.ephemeralOwners()).toEqual([78]);
  });

  it('may not have children: NO_CHILDREN_FOR_EPHEMERALS (after the NODE_EXISTS check)', () => {
    const t = new DataTree();
    t.create('/e', none, 'ephemeral', { sessionId: 1 }, 1, 1);
    expect(codeOf(() => t.create('/e/child', none, 'persistent', {}, 2, 2))).toBe(ErrorCode.NO_CHILDREN_FOR_EPHEMERALS);
    expect(codeOf(() => t.create('/e/', none, 'persistent', { sequential: true }, 2, 2))).toBe(ErrorCode.NO_CHILDREN_FOR_EPHEMERALS);
    expect(t.exists('/e')).toMatchObject({ cversion: 0, numChildren: 0 });
  });

  it('persistent nodes ignore the session: ephemeralOwner is 0', () => {
    const t = new DataTree();
    expect(t.create('/p', none, 'persistent', { sessionId: 5 }, 1, 1).stat.ephemeralOwner).toBe(0);
    expect(t.ephemeralsOf(5)).toEqual([]);
  });
});

describe('container and TTL nodes', () => {
  it('a container becomes a removal candidate once its last child goes, never before it had one', () => {
    const t = new DataTree();
    t.create('/c', none, 'container', {}, 1, 1);
    expect(t.containerCandidates()).toEqual([]);
    t.create('/c/x', none, 'persistent', {}, 2, 2);
    expect(t.containerCandidates()).toEqual([]);
    t.delete('/c/x', -1, 3);
    expect(t.containerCandidates()).toEqual(['/c']);
    t.delete('/c', -1, 4);
    expect(t.containerCandidates()).toEqual([]);
  });

  it('a TTL node is a candidate when childless and unmodified for more than ttlMs', () => {
    const t = new DataTree();
    t.create('/t', none, 'ttl', { ttlMs: 100 }, 1, 1000);
    expect(t.ttlCandidates(1100)).toEqual([]);
    expect(t.ttlCandidates(1101)).toEqual(['/t']);
    t.setData('/t', bytes('x'), -1, 2, 1050);
    expect(t.ttlCandidates(1101)).toEqual([]);
    t.create('/t/kid', none, 'persistent', {}, 3, 1200);
    expect(t.ttlCandidates(5000)).toEqual([]);
    t.delete('/t/kid', -1, 4);
    expect(t.ttlCandidates(5000)).toEqual(['/t']);
  });
});

describe('multi', () => {
  it('applies every op with one zxid and returns per-op results', () => {
    const t = treeWithApp();
    const ops: TreeOp[] = [
      { type: 'create', path: '/app/a', data: bytes('1'), kind: 'persistent' },
      { type: 'create', path: '/app/a/seq-', data: none, kind: 'ephemeral', sequential: true },
      { type: 'set', path: '/app', data: bytes('new'), version: 0 },
      { type: 'check', path: '/app', version: 1 },
      { type: 'delete', path: '/app/a/seq-0000000000', version: 0 },
    ];
    const r = t.multi(ops, 42, 10, 10_000);
    expect(r).toEqual({
      ok: true,
      results: [
        { type: 'create', path: '/app/a', stat: { czxid: 10, mzxid: 10, pzxid: 10, ctime: 10_000, mtime: 10_000, version: 0, cversion: 0, ephemeralOwner: 0, dataLength: 1, numChildren: 0 } },
        { type: 'create', path: '/app/a/seq-0000000000', stat: { czxid: 10, mzxid: 10, pzxid: 10, ctime: 10_000, mtime: 10_000, version: 0, cversion: 0, ephemeralOwner: 42, dataLength: 0, numChildren: 0 } },
        { type: 'set', stat: { czxid: 1, mzxid: 10, pzxid: 10, ctime: 1000, mtime: 10_000, version: 1, cversion: 1, ephemeralOwner: 0, dataLength: 3, numChildren: 1 } },
        { type: 'check' },
        { type: 'delete' },
      ],
    });
    expect(t.exists('/app/a')).toMatchObject({ cversion: 2, pzxid: 10, numChildren: 0 });
    expect(t.ephemeralsOf(42)).toEqual([]);
  });

  it('is all or nothing: the failing op gets its code, the others RUNTIME_INCONSISTENCY, and the tree is as before', () => {
    const t = treeWithApp();
    t.create('/app/old', bytes('o'), 'ephemeral', { sessionId: 9 }, 2, 2000);
    t.create('/c', none, 'container', {}, 3, 3000);
    const before = { digest: t.digest(), records: t.records(), bytes: t.dataBytes(), count: t.nodeCount() };
    const ops: TreeOp[] = [
      { type: 'create', path: '/app/n', data: bytes('n'), kind: 'ephemeral' },
      { type: 'create', path: '/c/kid', data: none, kind: 'persistent' },
      { type: 'delete', path: '/c/kid', version: -1 },
      { type: 'set', path: '/app', data: bytes('changed'), version: 0 },
      { type: 'delete', path: '/app/old', version: -1 },
      { type: 'create', path: '/t', data: none, kind: 'ttl', ttlMs: 5 },
      { type: 'create', path: '/app/seq', data: none, kind: 'persistent', sequential: true },
      { type: 'check', path: '/app', version: 0 }, // fails: the set above made it 1
      { type: 'create', path: '/never', data: none, kind: 'persistent' },
    ];
    const r = t.multi(ops, 9, 20, 20_000);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failedIndex).toBe(7);
    expect(r.error.code).toBe(ErrorCode.BAD_VERSION);
    expect(r.results.map((x) => (x.type === 'error' ? x.error.code : x.type))).toEqual([
      ...Array(7).fill(ErrorCode.RUNTIME_INCONSISTENCY),
      ErrorCode.BAD_VERSION,
      ErrorCode.RUNTIME_INCONSISTENCY,
    ]);
    expect({ digest: t.digest(), records: t.records(), bytes: t.dataBytes(), count: t.nodeCount() }).toEqual(before);
    expect(t.ephemeralsOf(9)).toEqual(['/app/old']);
    expect(t.containerCandidates()).toEqual([]);
    expect(t.ttlCandidates(1e12)).toEqual([]);
    expect(t.children('/app').names).toEqual(['old']);
    // The counter was rolled back too: the next sequential name is as if the multi never ran.
    expect(t.create('/app/seq', none, 'persistent', { sequential: true }, 21, 1).path).toBe('/app/seq0000000001');
  });

  it('an empty multi succeeds; more than multiOpsMax ops is BAD_ARGUMENTS', () => {
    const t = new DataTree();
    expect(t.multi([], 0, 1, 1)).toEqual({ ok: true, results: [] });
    const ops: TreeOp[] = Array.from({ length: 129 }, (_, i) => ({ type: 'create', path: `/n${i}`, data: none, kind: 'persistent' }));
    expect(codeOf(() => t.multi(ops, 0, 1, 1))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(t.multi(ops.slice(0, 128), 0, 1, 1).ok).toBe(true);
    expect(t.nodeCount()).toBe(129);
  });

  it('a malformed op fails that op with BAD_ARGUMENTS and rolls back', () => {
    const t = new DataTree();
    const r = t.multi([{ type: 'create', path: '/a', data: none, kind: 'persistent' }, { type: 'rename' } as never], 0, 1, 1);
    expect(r).toMatchObject({ ok: false, failedIndex: 1, error: { code: ErrorCode.BAD_ARGUMENTS } });
    expect(t.nodeCount()).toBe(1);
  });
});

describe('digest and restore', () => {
  it('is deterministic, sensitive to every field, and independent of insertion order', () => {
    const a = new DataTree();
    const b = new DataTree();
    a.create('/x', bytes('1'), 'persistent', {}, 1, 1);
    a.create('/y', bytes('2'), 'persistent', {}, 2, 2);
    b.create('/x', bytes('1'), 'persistent', {}, 1, 1);
    b.create('/y', bytes('2'), 'persistent', {}, 2, 2);
    expect(a.digest()).toBe(b.digest());
    b.setData('/y', bytes('2'), -1, 3, 2);
    expect(a.digest()).not.toBe(b.digest());
    const restored = DataTree.fromRecords(a.records().reverse());
    expect(restored.digest()).toBe(a.digest());
    expect(restored.records()).toEqual(a.records());
    expect(restored.dataBytes()).toBe(2);
  });

  it('restores indexes: ephemerals, containers, TTLs, children', () => {
    const t = new DataTree();
    t.create('/c', none, 'container', {}, 1, 1);
    t.create('/c/e', none, 'ephemeral', { sessionId: 3 }, 2, 2);
    t.create('/t', none, 'ttl', { ttlMs: 10 }, 3, 3);
    t.delete('/c/e', -1, 4);
    t.create('/c2', none, 'container', {}, 5, 5);
    t.create('/c2/e', none, 'ephemeral', { sessionId: 3 }, 6, 6);
    const r = DataTree.fromRecords(t.records());
    expect(r.ephemeralsOf(3)).toEqual(['/c2/e']);
    expect(r.containerCandidates()).toEqual(['/c']);
    expect(r.ttlCandidates(100)).toEqual(['/t']);
    expect(r.children('/').names).toEqual(['c', 'c2', 't']);
  });

  it('rejects records that cannot form a tree with CORRUPTED', () => {
    const t = new DataTree();
    t.create('/a', none, 'persistent', {}, 1, 1);
    t.create('/a/b', none, 'persistent', {}, 2, 2);
    const recs = t.records();
    expect(codeOf(() => DataTree.fromRecords(recs.filter((r) => r.path !== '/a')))).toBe(ErrorCode.CORRUPTED);
    expect(codeOf(() => DataTree.fromRecords([...recs, recs[1]!]))).toBe(ErrorCode.CORRUPTED);
    expect(codeOf(() => DataTree.fromRecords([{ ...recs[1]!, kind: 'ephemeral' }]))).toBe(ErrorCode.CORRUPTED);
    expect(codeOf(() => DataTree.fromRecords([{ ...recs[1]!, path: 'nope' }]))).toBe(ErrorCode.CORRUPTED);
  });
});
