/**
 * DataTree.capture: a snapshot read a chunk at a time while writes go on must hold exactly the
 * tree as it was when the capture began — every write after it (creates, sets, deletes, multis that
 * roll back) invisible, every node present then present once.
 */
import { describe, expect, it } from 'vitest';
import { DataTree, type TreeOp } from '../../src/state/data-tree.js';
import type { ZnodeRecord } from '../../src/state/stat.js';

/** A small deterministic PRNG (mulberry32), so a failure names its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const sorted = (rows: readonly ZnodeRecord[]): ZnodeRecord[] => [...rows].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

/** One random write at `zxid`; failures (a node that exists, a parent with children) are fine. */
function randomWrite(t: DataTree, rnd: () => number, zxid: number): void {
  const paths = ['/a', '/b', '/a/x', '/a/y', '/b/x', '/b/x/deep', '/c'];
  for (let i = 0; i < 40; i++) paths.push(`/n${i}`, `/a/n${i}`);
  const path = paths[Math.floor(rnd() * paths.length)] as string;
  const r = rnd();
  try {
    if (r < 0.3) t.create(path, bytes(`v${zxid}`), 'persistent', {}, zxid, zxid);
    else if (r < 0.55) t.setData(path, bytes(`s${zxid}`), -1, zxid, zxid);
    else if (r < 0.75) t.delete(path, -1, zxid);
    else if (r < 0.85) t.create('/a/seq-', bytes(''), 'persistent', { sequential: true }, zxid, zxid);
    else {
      // A multi that changes things and then fails: everything it did is rolled back.
      const ops: TreeOp[] = [
        { type: 'create', path: `/m${zxid}`, data: bytes('m'), kind: 'persistent' },
        { type: 'set', path, data: bytes('mm'), version: -1 },
        { type: 'delete', path: '/does/not/exist', version: -1 },
      ];
      t.multi(ops, 0, zxid, zxid);
    }
  } catch {
    /* a refused write changes nothing */
  }
}

describe('DataTree.capture', () => {
  it('returns exactly the tree as of its start, while random writes interleave with its chunks', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rnd = prng(seed);
      const t = new DataTree();
      let zxid = 1;
      for (let i = 0; i < 150; i++) randomWrite(t, rnd, zxid++);
      const expected = t.records();
      const capture = t.capture(zxid - 1);
      const got: ZnodeRecord[] = [];
      for (;;) {
        const chunk = capture.next(1 + Math.floor(rnd() * 7));
        if (chunk.length === 0) break;
        got.push(...chunk);
        for (let w = Math.floor(rnd() * 4); w > 0; w--) randomWrite(t, rnd, zxid++);
      }
      capture.end();
      expect(sorted(got), `seed ${seed}`).toEqual(expected);
    }
  });

  it('ends: later writes keep nothing for it, and a new capture replaces an unfinished one', () => {
    const t = new DataTree();
    for (let i = 1; i <= 10; i++) t.create(`/n${i}`, bytes('x'), 'persistent', {}, i, i);
    const first = t.capture(10);
    expect(first.next(3)).toHaveLength(3);
    const second = t.capture(10);
    expect(() => first.next(1)).toThrow(/ended/);
    t.setData('/n1', bytes('changed'), -1, 11, 11);
    const rows = sorted([...second.next(100), ...second.next(100)]);
    expect(rows).toHaveLength(11);
    expect(new TextDecoder().decode(rows.find((r) => r.path === '/n1')?.data)).toBe('x');
    second.end();
    t.setData('/n2', bytes('after'), -1, 12, 12);
    expect(t.capture(12).next(100).find((r) => r.path === '/n2')?.version).toBe(1);
  });
});
