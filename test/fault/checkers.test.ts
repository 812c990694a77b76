/**
 * Each fault-suite checker, fed a good history (no violation) and bad ones (each caught), so a
 * checker that silently accepts everything fails here.
 */
import { describe, expect, it } from 'vitest';
import type { EventType, HistoryEvent, OpFunction, Value } from '../model/history.js';
import { checkEphemerals } from './checkers/ephemerals.js';
import { checkLocks } from './checkers/locks.js';
import { NS_PER_MS } from './checkers/ops.js';
import { checkRegisters } from './checkers/registers.js';
import { checkSets } from './checkers/sets.js';
import { checkWatches } from './checkers/watches.js';
import { Intervals } from './intervals.js';
import { FENCE_KEY, LOCK_KEY } from './keys.js';

interface Spec {
  readonly p: number;
  readonly f: OpFunction;
  readonly key: string;
  /** invoke and completion times (ms; converted to ns). */
  readonly t: readonly [number, number];
  readonly value?: Value;
  readonly expected?: Value;
  readonly out?: EventType | 'open';
  /** The completion's value (reads: what was read; creates: what was made). */
  readonly result?: Value;
}

/** A history of the given ops, events in time order. */
function history(...specs: Spec[]): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const s of specs) {
    const base = { process: s.p, f: s.f, key: s.key, ...(s.f === 'cas' ? { expected: s.expected ?? null } : {}) };
    const value = s.value ?? null;
    events.push({ ...base, type: 'invoke', value, time: s.t[0] * NS_PER_MS });
    const out = s.out ?? 'ok';
    if (out === 'open') continue;
    events.push({ ...base, type: out, value: out === 'ok' && s.result !== undefined ? s.result : value, time: s.t[1] * NS_PER_MS });
  }
  return events.sort((a, b) => a.time - b.time);
}

describe('registers checker', () => {
  const key = '/fault/reg/g0k0';
  it('accepts a linearizable register and ignores other keys', () => {
    const r = checkRegisters(history({ p: 1, f: 'write', key, t: [0, 1], value: 'a' }, { p: 2, f: 'read', key, t: [2, 3], result: 'a' }, { p: 3, f: 'read', key: '/fault/set/g0', t: [2, 3], result: ['x'] }), 1000);
    expect(r.violations).toEqual([]);
    expect(r.checked).toBe(1);
  });

  it('catches a stale read and shows its window', () => {
    const r = checkRegisters(
      history({ p: 1, f: 'write', key, t: [0, 1], value: 'a' }, { p: 1, f: 'write', key, t: [2, 3], value: 'b' }, { p: 2, f: 'read', key, t: [4, 5], result: 'a' }),
      1000,
    );
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.window.some((e) => e.f === 'read' && e.value === 'a')).toBe(true);
  });
});

describe('sets checker', () => {
  const set = '/fault/set/g0';
  const seq = '/fault/seq/g0';
  it('accepts a set whose reads show every acknowledged element', () => {
    const r = checkSets(
      history(
        { p: 1, f: 'create', key: set, t: [0, 1], value: 'e1-1' },
        { p: 2, f: 'create', key: set, t: [0, 9], value: 'e2-1', out: 'info' },
        { p: 3, f: 'read', key: set, t: [2, 3], result: ['e1-1'] },
        { p: 3, f: 'read', key: set, t: [10, 11], result: ['e1-1', 'e2-1'] },
        { p: 4, f: 'create', key: seq, t: [0, 1], value: 'e4-2', result: 'e4-2-0000000000' },
        { p: 4, f: 'create', key: seq, t: [2, 3], value: 'e4-3', result: 'e4-3-0000000001' },
        { p: 5, f: 'read', key: seq, t: [4, 5], result: ['e4-2-0000000000', 'e4-3-0000000001'] },
      ),
    );
    expect(r.violations).toEqual([]);
  });

  it('catches a lost acknowledged create', () => {
    const r = checkSets(history({ p: 1, f: 'create', key: set, t: [0, 1], value: 'e1-1' }, { p: 3, f: 'read', key: set, t: [2, 3], result: [] }));
    expect(r.violations.map((v) => v.message).join()).toMatch(/lost write/);
  });

  it('catches a phantom, a failed create taking effect, and an element vanishing', () => {
    const r = checkSets(
      history(
        { p: 1, f: 'create', key: set, t: [0, 1], value: 'e1-1', out: 'fail' },
        { p: 2, f: 'create', key: set, t: [0, 1], value: 'e2-1' },
        { p: 3, f: 'read', key: set, t: [2, 3], result: ['e1-1', 'e2-1', 'e9-9'] },
        { p: 3, f: 'read', key: set, t: [4, 5], result: ['e1-1', 'e9-9'] },
      ),
    );
    const messages = r.violations.map((v) => v.message).join('\n');
    expect(messages).toMatch(/no create of e9-9/);
    expect(messages).toMatch(/create of e1-1 failed/);
    expect(messages).toMatch(/no longer shows it/);
  });

  it('catches a sequential create applied twice, a counter given twice, and counters going down', () => {
    const twice = checkSets(history({ p: 1, f: 'create', key: seq, t: [0, 1], value: 'e1-1', result: 'e1-1-0000000003' }, { p: 3, f: 'read', key: seq, t: [2, 3], result: ['e1-1-0000000003', 'e1-1-0000000004'] }));
    expect(twice.violations.map((v) => v.message).join()).toMatch(/appears twice/);
    const shared = checkSets(history({ p: 1, f: 'create', key: seq, t: [0, 1], value: 'e1-1', result: 'e1-1-0000000003' }, { p: 2, f: 'create', key: seq, t: [0, 1], value: 'e2-1', result: 'e2-1-0000000003' }));
    expect(shared.violations.map((v) => v.message).join()).toMatch(/counter 3 was given to both/);
    const down = checkSets(history({ p: 1, f: 'create', key: seq, t: [0, 1], value: 'e1-1', result: 'e1-1-0000000005' }, { p: 2, f: 'create', key: seq, t: [2, 3], value: 'e2-1', result: 'e2-1-0000000004' }));
    expect(down.violations.map((v) => v.message).join()).toMatch(/not above it/);
  });
});

describe('ephemerals checker', () => {
  const path = '/fault/eph/p7';
  const opts = { sessionTimeoutMs: 1000, slackMs: 1000, disturbances: [] as [number, number][], timeBudgetMs: 1000 };
  const life: Spec[] = [
    { p: 7, f: 'create', key: path, t: [0, 10], value: '7#0' },
    { p: 7, f: 'cas', key: path, t: [100, 110], value: '7#1', expected: '7#0' },
    { p: 7, f: 'delete', key: path, t: [500, 500], out: 'info' },
  ];

  it('accepts a node seen while alive and gone after expiry, and a miss after the last proof of life', () => {
    const r = checkEphemerals(
      history(...life, { p: 8, f: 'read', key: path, t: [50, 60], result: '7#0' }, { p: 8, f: 'read', key: path, t: [120, 130], result: null }, { p: 8, f: 'read', key: path, t: [3000, 3010], result: null }),
      opts,
    );
    expect(r.violations).toEqual([]);
  });

  it('catches an ephemeral missing while its session provably lives', () => {
    const r = checkEphemerals(
      history(
        { p: 7, f: 'create', key: path, t: [0, 10], value: '7#0' },
        { p: 8, f: 'read', key: path, t: [20, 30], result: null },
        { p: 7, f: 'cas', key: path, t: [100, 110], value: '7#1', expected: '7#0' },
        { p: 7, f: 'delete', key: path, t: [500, 500], out: 'info' },
      ),
      opts,
    );
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.message).toMatch(/lives until its session ends/);
  });

  it('catches an ephemeral outliving its session, unless the cluster was disturbed', () => {
    const late = history(...life, { p: 8, f: 'read', key: path, t: [3000, 3010], result: '7#1' });
    expect(checkEphemerals(late, opts).violations.map((v) => v.message).join()).toMatch(/still sees the ephemeral/);
    const disturbed = { ...opts, disturbances: [[1000 * NS_PER_MS, 2500 * NS_PER_MS]] as [number, number][] };
    expect(checkEphemerals(late, disturbed).violations).toEqual([]);
  });
});

describe('watches checker', () => {
  const a = '/fault/watch/w1-1';
  const writes: Spec[] = [
    { p: 1, f: 'create', key: a, t: [0, 1], value: `${a}#0` },
    { p: 1, f: 'write', key: a, t: [2, 3], value: `${a}#1` },
    { p: 1, f: 'delete', key: a, t: [4, 5] },
  ];
  const delivered = (...events: [string, number, string?][]): Spec[] =>
    events.map(([type, zxid, data], i) => ({ p: 9, f: 'read', key: a, t: [10 + i, 10 + i], result: data === undefined ? [type, String(zxid)] : [type, String(zxid), data] }));
  const finalState: Spec = { p: 10, f: 'read', key: '/fault/watch', t: [50, 51], result: [] };

  it('accepts every change delivered once, in order', () => {
    expect(checkWatches(history(...writes, ...delivered(['created', 5, `${a}#0`], ['changed', 6, `${a}#1`], ['deleted', 7]), finalState)).violations).toEqual([]);
  });

  it('catches a gap, a duplicate, disorder and a phantom', () => {
    const gap = checkWatches(history(...writes, ...delivered(['created', 5, `${a}#0`], ['deleted', 7]), finalState));
    expect(gap.violations.map((v) => v.message).join()).toMatch(/never delivered/);
    const dup = checkWatches(history(...writes, ...delivered(['created', 5, `${a}#0`], ['changed', 6, `${a}#1`], ['changed', 6, `${a}#1`], ['deleted', 7]), finalState));
    expect(dup.violations.map((v) => v.message).join()).toMatch(/out of order or repeated/);
    const disorder = checkWatches(history(...writes, ...delivered(['changed', 5, `${a}#1`], ['created', 6, `${a}#0`], ['deleted', 7]), finalState));
    expect(disorder.violations.map((v) => v.message).join()).toMatch(/after the event of a later operation/);
    const phantom = checkWatches(history(...writes, ...delivered(['created', 5, `${a}#0`], ['changed', 6, 'nobody wrote this'], ['changed', 7, `${a}#1`], ['deleted', 8]), finalState));
    expect(phantom.violations.map((v) => v.message).join()).toMatch(/matches no operation/);
  });

  it('catches a last event that disagrees with the final state', () => {
    const r = checkWatches(history(...writes.slice(0, 2), ...delivered(['created', 5, `${a}#0`], ['changed', 6, `${a}#1`]), { ...finalState, result: [`w1-1=${a}#0`] }));
    expect(r.violations.map((v) => v.message).join()).toMatch(/ends with data/);
  });
});

describe('locks checker', () => {
  const grant = (p: number, t: [number, number], token: number): Spec => ({ p, f: 'create', key: LOCK_KEY, t, result: token });
  const step = (p: number, t: [number, number], token: number, name: string, out: EventType = 'ok'): Spec => ({ p, f: 'write', key: FENCE_KEY, t, value: `${token} ${name}`, out });
  const release = (p: number, t: [number, number], token: number, out: EventType = 'ok'): Spec => ({ p, f: 'delete', key: LOCK_KEY, t, value: token, out });

  it('accepts fenced sections in turn', () => {
    const r = checkLocks(
      history(grant(1, [0, 1], 10), step(1, [2, 3], 10, 'enter'), step(1, [4, 5], 10, 'exit'), release(1, [6, 7], 10), grant(2, [0, 8], 12), step(2, [9, 10], 12, 'enter'), release(2, [11, 12], 12), step(1, [13, 14], 10, 'late', 'fail')),
      LOCK_KEY,
      FENCE_KEY,
    );
    expect(r.violations).toEqual([]);
  });

  it('catches overlapping holds, a token reused, and tokens out of grant order', () => {
    const overlap = checkLocks(history(grant(1, [0, 1], 10), grant(2, [0, 2], 12), release(1, [5, 6], 10), release(2, [5, 6], 12)), LOCK_KEY, FENCE_KEY);
    expect(overlap.violations.map((v) => v.message).join()).toMatch(/both held at once/);
    const reused = checkLocks(history(grant(1, [0, 1], 10), release(1, [2, 3], 10, 'info'), grant(2, [0, 4], 10)), LOCK_KEY, FENCE_KEY);
    expect(reused.violations.map((v) => v.message).join()).toMatch(/granted to two workers/);
    const backwards = checkLocks(history(grant(1, [0, 1], 12), release(1, [2, 3], 12, 'info'), grant(2, [4, 5], 10)), LOCK_KEY, FENCE_KEY);
    expect(backwards.violations.map((v) => v.message).join()).toMatch(/yet is smaller/);
  });

  it('catches the resource admitting a fenced-off or older token', () => {
    const fencedOff = checkLocks(history(grant(1, [0, 1], 10), grant(2, [2, 3], 12), step(1, [4, 5], 10, 'work')), LOCK_KEY, FENCE_KEY);
    expect(fencedOff.violations.map((v) => v.message).join()).toMatch(/after token 12 had been granted/);
    const older = checkLocks(history(step(2, [0, 1], 12, 'enter'), step(1, [2, 3], 10, 'enter')), LOCK_KEY, FENCE_KEY);
    expect(older.violations.map((v) => v.message).join()).toMatch(/admitted token 10 after token 12/);
  });
});

describe('Intervals', () => {
  it('merges overlaps and answers containment and the last end before a time', () => {
    const i = new Intervals([
      [10, 20],
      [15, 30],
      [40, 50],
    ]);
    expect([5, 10, 25, 30, 35, 45, 60].map((t) => i.contains(t))).toEqual([false, true, true, true, false, true, false]);
    expect([5, 25, 35, 45, 60].map((t) => i.lastEndBefore(t))).toEqual([undefined, undefined, 30, undefined, 50]);
  });
});
